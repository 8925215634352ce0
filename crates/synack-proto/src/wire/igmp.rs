//! IGMP, the messages a host needs: queries it answers, reports and
//! leaves it sends and hears.
//!
//! Read before touching: RFC 1112 appendix I (IGMPv1: the 8-byte format),
//! RFC 2236 §2 (IGMPv2: the Max Response Time, the Leave Group message,
//! TTL 1 and the Router Alert option on every message), RFC 3376 §4.1 (the
//! version 3 query: 12 bytes and its sources; its first 8 read as a version
//! 2 query), §4.1.1 and §4.1.7 (the Max Resp Code and QQIC in their
//! floating-point form), §4.2 (the version 3 report: group records, to
//! 224.0.0.22), §7.1 (how a message's length tells the query versions
//! apart), RFC 2113 (Router Alert).
//!
//! Every message is checked by the Internet checksum over the whole IGMP
//! message (RFC 2236 §2.3, RFC 3376 §4.1.2), whatever its length.

use super::WireError;
use super::checksum::{self, Checksum};
use core::net::Ipv4Addr;

/// The fixed part of every IGMP message: type, Max Response Time (or
/// unused), checksum, group address.
pub const HEADER_LEN: usize = 8;

/// The shortest IGMPv3 query (RFC 3376 §4.1): the 8 bytes, then Resv/S/QRV,
/// QQIC and the number of sources.
const V3_QUERY_MIN_LEN: usize = 12;

/// A version 3 report's fixed part (RFC 3376 §4.2): type, reserved,
/// checksum, reserved, number of group records.
pub const V3_REPORT_HEADER_LEN: usize = 8;

/// A group record's fixed part (RFC 3376 §4.2.4): record type, aux data
/// length, number of sources, multicast address.
pub const GROUP_RECORD_HEADER_LEN: usize = 8;

const TYPE_QUERY: u8 = 0x11;
const TYPE_V1_REPORT: u8 = 0x12;
const TYPE_V2_REPORT: u8 = 0x16;
const TYPE_LEAVE: u8 = 0x17;
const TYPE_V3_REPORT: u8 = 0x22;

/// The IP option every IGMPv2 message carries (RFC 2236 §2, RFC 2113 §2.1):
/// type 148 (copied, class 0, number 20), length 4, value 0 ("routers shall
/// examine this packet").
pub const ROUTER_ALERT: [u8; 4] = [0x94, 0x04, 0x00, 0x00];

/// An IGMP message, as a host reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgmpRepr<'a> {
    /// A Membership Query (RFC 2236 §2.1, RFC 3376 §4.1): a General Query
    /// when `group` is 0.0.0.0, else a Group-Specific one (or, in version
    /// 3, Group-and-Source-Specific when it names sources).
    /// `max_resp_tenths` is the Max Response Time in tenths of a second,
    /// decoded; 0 in an 8-byte query is a version 1 router's (RFC 2236 §4:
    /// take it as 10 s, and answer in version 1). `v3` holds a version 3
    /// query's own fields (RFC 3376 §7.1: 12 bytes or more).
    Query {
        max_resp_tenths: u16,
        group: Ipv4Addr,
        v3: Option<V3Query<'a>>,
    },
    /// A Membership Report, version 1 or 2 (the same meaning to a host:
    /// another member answered for `group`).
    Report { version: u8, group: Ipv4Addr },
    /// A Leave Group message (RFC 2236 §2.1), to 224.0.0.2.
    Leave { group: Ipv4Addr },
}

/// What a version 3 query adds (RFC 3376 §4.1.5-4.1.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V3Query<'a> {
    /// The Querier's Robustness Variable (QRV), 0 when it is above 7.
    pub robustness: u8,
    /// The Querier's Query Interval, in seconds (QQIC decoded).
    pub query_interval_secs: u16,
    /// The sources, 4 bytes each (checked against the count).
    sources: &'a [u8],
}

impl<'a> V3Query<'a> {
    /// The query's source addresses (none for a General or Group-Specific
    /// query).
    pub fn sources(&self) -> impl ExactSizeIterator<Item = Ipv4Addr> + 'a {
        self.sources
            .chunks_exact(4)
            .map(|a| Ipv4Addr::new(a[0], a[1], a[2], a[3]))
    }

    /// Whether it names sources (a Group-and-Source-Specific query).
    pub fn has_sources(&self) -> bool {
        !self.sources.is_empty()
    }
}

impl<'a> IgmpRepr<'a> {
    /// Reads `bytes` (the IP payload), its checksum checked under `checksum`.
    /// A version 3 report (or any other type) is `Unsupported`: a host
    /// takes no action on another host's version 3 report (RFC 3376 §5),
    /// and [`parse_v3_report`] reads one.
    pub fn parse(bytes: &'a [u8], checksum: Checksum) -> Result<IgmpRepr<'a>, WireError> {
        if bytes.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if checksum.is_full() && !checksum::is_valid(checksum::data(bytes)) {
            return Err(WireError::BadChecksum);
        }
        let code = bytes[1];
        let group = addr_at(bytes, 4);
        match bytes[0] {
            TYPE_QUERY if bytes.len() >= V3_QUERY_MIN_LEN => {
                let count = usize::from(u16::from_be_bytes([bytes[10], bytes[11]]));
                // RFC 3376 §4.1.8: N sources follow; a longer message is
                // read up to them (§7.1: "ignore ... extra data").
                let sources = bytes
                    .get(V3_QUERY_MIN_LEN..V3_QUERY_MIN_LEN + 4 * count)
                    .ok_or(WireError::Truncated)?;
                Ok(IgmpRepr::Query {
                    max_resp_tenths: time_code(code),
                    group,
                    v3: Some(V3Query {
                        robustness: bytes[8] & 0x07,
                        query_interval_secs: time_code(bytes[9]),
                        sources,
                    }),
                })
            }
            // RFC 3376 §7.1: 8 bytes is a version 1 (code 0) or version 2
            // query; 9 to 11 bytes is no valid query.
            TYPE_QUERY if bytes.len() == HEADER_LEN => Ok(IgmpRepr::Query {
                max_resp_tenths: u16::from(code),
                group,
                v3: None,
            }),
            TYPE_QUERY => Err(WireError::Malformed),
            TYPE_V1_REPORT => Ok(IgmpRepr::Report { version: 1, group }),
            TYPE_V2_REPORT => Ok(IgmpRepr::Report { version: 2, group }),
            TYPE_LEAVE => Ok(IgmpRepr::Leave { group }),
            TYPE_V3_REPORT => Err(WireError::Unsupported),
            _ => Err(WireError::Unsupported),
        }
    }

    /// The 8-byte form of a version 1 or 2 message, checksum filled in (a
    /// version 3 query's own fields are left out: [`v3_query_bytes`] writes
    /// one). A version 1 report has no Max Response Time field (RFC 1112:
    /// "unused", zero).
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let (kind, code, group) = match *self {
            IgmpRepr::Query {
                max_resp_tenths,
                group,
                ..
            } => (
                TYPE_QUERY,
                u8::try_from(max_resp_tenths).unwrap_or(u8::MAX),
                group,
            ),
            IgmpRepr::Report { version: 1, group } => (TYPE_V1_REPORT, 0, group),
            IgmpRepr::Report { group, .. } => (TYPE_V2_REPORT, 0, group),
            IgmpRepr::Leave { group } => (TYPE_LEAVE, 0, group),
        };
        let g = group.octets();
        let mut bytes = [kind, code, 0, 0, g[0], g[1], g[2], g[3]];
        fill_checksum(&mut bytes);
        bytes
    }
}

/// A version 3 query's bytes (RFC 3376 §4.1), as a querier sends it: the
/// times in their codes ([`encode_time_code`]), the S flag clear.
pub fn v3_query_bytes(
    max_resp_tenths: u16,
    group: Ipv4Addr,
    robustness: u8,
    query_interval_secs: u16,
    sources: &[Ipv4Addr],
) -> Vec<u8> {
    let mut bytes = vec![TYPE_QUERY, encode_time_code(max_resp_tenths), 0, 0];
    bytes.extend_from_slice(&group.octets());
    bytes.push(robustness.min(7));
    bytes.push(encode_time_code(query_interval_secs));
    bytes.extend_from_slice(&(sources.len() as u16).to_be_bytes());
    for s in sources {
        bytes.extend_from_slice(&s.octets());
    }
    fill_checksum(&mut bytes);
    bytes
}

/// RFC 3376 §4.2.12: what a group record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordType {
    /// MODE_IS_INCLUDE, a Current-State Record.
    ModeIsInclude = 1,
    /// MODE_IS_EXCLUDE, a Current-State Record.
    ModeIsExclude = 2,
    /// CHANGE_TO_INCLUDE_MODE, a Filter-Mode-Change Record.
    ChangeToInclude = 3,
    /// CHANGE_TO_EXCLUDE_MODE, a Filter-Mode-Change Record.
    ChangeToExclude = 4,
    /// ALLOW_NEW_SOURCES, a Source-List-Change Record.
    AllowNewSources = 5,
    /// BLOCK_OLD_SOURCES, a Source-List-Change Record.
    BlockOldSources = 6,
}

impl RecordType {
    fn from_u8(v: u8) -> Option<RecordType> {
        Some(match v {
            1 => RecordType::ModeIsInclude,
            2 => RecordType::ModeIsExclude,
            3 => RecordType::ChangeToInclude,
            4 => RecordType::ChangeToExclude,
            5 => RecordType::AllowNewSources,
            6 => RecordType::BlockOldSources,
            _ => return None,
        })
    }

    /// Whether the record's sources are ones the host excludes
    /// (MODE_IS_EXCLUDE, CHANGE_TO_EXCLUDE_MODE): RFC 3376 §4.2.16 lets
    /// such a list be cut short when it does not fit, where another
    /// record's is split over several records.
    pub fn lists_excluded(self) -> bool {
        matches!(
            self,
            RecordType::ModeIsExclude | RecordType::ChangeToExclude
        )
    }
}

/// A version 3 report's group record (RFC 3376 §4.2.4), without auxiliary
/// data (a host sends none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord {
    pub kind: RecordType,
    pub group: Ipv4Addr,
    pub sources: Vec<Ipv4Addr>,
}

impl GroupRecord {
    /// Its length on the wire.
    pub fn wire_len(&self) -> usize {
        GROUP_RECORD_HEADER_LEN + 4 * self.sources.len()
    }
}

/// A version 3 Membership Report holding `records` (RFC 3376 §4.2), checksum
/// filled in. The caller keeps it within the link's MTU.
pub fn v3_report_bytes(records: &[GroupRecord]) -> Vec<u8> {
    let len = V3_REPORT_HEADER_LEN + records.iter().map(GroupRecord::wire_len).sum::<usize>();
    let mut bytes = Vec::with_capacity(len);
    bytes.extend_from_slice(&[TYPE_V3_REPORT, 0, 0, 0, 0, 0]);
    bytes.extend_from_slice(&(records.len() as u16).to_be_bytes());
    for r in records {
        bytes.extend_from_slice(&[r.kind as u8, 0]);
        bytes.extend_from_slice(&(r.sources.len() as u16).to_be_bytes());
        bytes.extend_from_slice(&r.group.octets());
        for s in &r.sources {
            bytes.extend_from_slice(&s.octets());
        }
    }
    fill_checksum(&mut bytes);
    bytes
}

/// Reads a version 3 Membership Report's records (RFC 3376 §4.2), skipping
/// each record's auxiliary data (§4.2.6). An unknown record type is
/// `Malformed` (§4.2.12: hosts send only types 1 to 6).
pub fn parse_v3_report(bytes: &[u8], checksum: Checksum) -> Result<Vec<GroupRecord>, WireError> {
    if bytes.len() < V3_REPORT_HEADER_LEN {
        return Err(WireError::Truncated);
    }
    if bytes[0] != TYPE_V3_REPORT {
        return Err(WireError::Unsupported);
    }
    if checksum.is_full() && !checksum::is_valid(checksum::data(bytes)) {
        return Err(WireError::BadChecksum);
    }
    let count = usize::from(u16::from_be_bytes([bytes[6], bytes[7]]));
    let mut rest = &bytes[V3_REPORT_HEADER_LEN..];
    let mut records = Vec::new();
    for _ in 0..count {
        if rest.len() < GROUP_RECORD_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let kind = RecordType::from_u8(rest[0]).ok_or(WireError::Malformed)?;
        let aux = 4 * usize::from(rest[1]);
        let n = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let group = addr_at(rest, 4);
        let end = GROUP_RECORD_HEADER_LEN + 4 * n + aux;
        let record = rest.get(..end).ok_or(WireError::Truncated)?;
        let sources = record[GROUP_RECORD_HEADER_LEN..GROUP_RECORD_HEADER_LEN + 4 * n]
            .chunks_exact(4)
            .map(|a| Ipv4Addr::new(a[0], a[1], a[2], a[3]))
            .collect();
        records.push(GroupRecord {
            kind,
            group,
            sources,
        });
        rest = &rest[end..];
    }
    Ok(records)
}

fn addr_at(bytes: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3])
}

/// Writes the Internet checksum of `bytes` (whose checksum field, bytes 2
/// and 3, is zero) into it.
fn fill_checksum(bytes: &mut [u8]) {
    let sum = checksum::finish(checksum::data(bytes));
    bytes[2..4].copy_from_slice(&sum.to_be_bytes());
}

/// RFC 3376 §4.1.1 and §4.1.7: a Max Resp Code or QQIC below 128 is the
/// value itself; above, a floating-point value `(mant | 0x10) << (exp + 3)`.
fn time_code(code: u8) -> u16 {
    if code < 128 {
        return u16::from(code);
    }
    let mant = u16::from(code & 0x0F);
    let exp = u32::from((code >> 4) & 0x07);
    (mant | 0x10) << (exp + 3)
}

/// The code `time_code` reads as `value`, or as the largest value below
/// it that the floating-point form holds (31,744 at most).
pub fn encode_time_code(value: u16) -> u8 {
    if value < 128 {
        return value as u8;
    }
    // The exponent that puts the mantissa with its implied bit in 0x10..=0x1F.
    let exp = (15 - value.leading_zeros()).saturating_sub(7).min(7);
    let mant = ((value >> (exp + 3)).min(0x1F) & 0x0F) as u8;
    0x80 | ((exp as u8) << 4) | mant
}

#[cfg(test)]
mod tests {
    use super::*;

    const GROUP: Ipv4Addr = Ipv4Addr::new(239, 1, 2, 3);

    #[test]
    fn messages_round_trip_with_their_checksums() {
        for repr in [
            IgmpRepr::Query {
                max_resp_tenths: 100,
                group: Ipv4Addr::UNSPECIFIED,
                v3: None,
            },
            IgmpRepr::Query {
                max_resp_tenths: 10,
                group: GROUP,
                v3: None,
            },
            IgmpRepr::Report {
                version: 1,
                group: GROUP,
            },
            IgmpRepr::Report {
                version: 2,
                group: GROUP,
            },
            IgmpRepr::Leave { group: GROUP },
        ] {
            let bytes = repr.to_bytes();
            assert!(checksum::is_valid(checksum::data(&bytes)), "{repr:?}");
            assert_eq!(IgmpRepr::parse(&bytes, Checksum::Full), Ok(repr));
        }
    }

    #[test]
    fn a_v2_report_is_the_rfc_2236_layout() {
        // Type 0x16, Max Resp Time 0, checksum, group.
        let bytes = IgmpRepr::Report {
            version: 2,
            group: GROUP,
        }
        .to_bytes();
        assert_eq!(bytes[0], 0x16);
        assert_eq!(bytes[1], 0);
        assert_eq!(&bytes[4..], &[239, 1, 2, 3]);
        // 0x1600 + 0xef01 + 0x0203 = 0x10704 -> 0x0705; complement 0xf8fa.
        assert_eq!(&bytes[2..4], &[0xf8, 0xfa]);
    }

    #[test]
    fn a_v3_query_reads_with_its_decoded_times_and_sources() {
        // 12 bytes: Max Resp Code 0x8C = mant 12, exp 0: (12 | 16) << 3 =
        // 224 tenths; S clear, QRV 2, QQIC 125, no sources.
        let mut bytes = [0x11, 0x8C, 0, 0, 0, 0, 0, 0, 0x02, 125, 0, 0];
        fill_checksum(&mut bytes);
        let Ok(IgmpRepr::Query {
            max_resp_tenths: 224,
            group: Ipv4Addr::UNSPECIFIED,
            v3: Some(v3),
        }) = IgmpRepr::parse(&bytes, Checksum::Full)
        else {
            panic!("{:?}", IgmpRepr::parse(&bytes, Checksum::Full));
        };
        assert_eq!((v3.robustness, v3.query_interval_secs), (2, 125));
        assert!(!v3.has_sources());
        assert_eq!(time_code(100), 100);
        assert_eq!(time_code(0xFF), 31 << 10);
        // A Group-and-Source-Specific query, written by the helper: its
        // sources come back, and a count beyond the bytes is Truncated.
        let s1 = Ipv4Addr::new(192, 0, 2, 7);
        let s2 = Ipv4Addr::new(198, 51, 100, 9);
        let q = v3_query_bytes(10, GROUP, 3, 60, &[s1, s2]);
        assert_eq!(q.len(), 20);
        let Ok(IgmpRepr::Query {
            max_resp_tenths: 10,
            group: GROUP,
            v3: Some(v3),
        }) = IgmpRepr::parse(&q, Checksum::Full)
        else {
            panic!("{:?}", IgmpRepr::parse(&q, Checksum::Full));
        };
        assert_eq!(v3.sources().collect::<Vec<_>>(), [s1, s2]);
        assert_eq!((v3.robustness, v3.query_interval_secs), (3, 60));
        let mut short = q[..16].to_vec();
        short[2..4].copy_from_slice(&[0, 0]);
        fill_checksum(&mut short);
        assert_eq!(
            IgmpRepr::parse(&short, Checksum::Full),
            Err(WireError::Truncated)
        );
    }

    #[test]
    fn time_codes_encode_to_what_they_decode_to() {
        for v in 0..=u16::MAX {
            let back = time_code(encode_time_code(v));
            assert!(back <= v, "{v} -> {back}");
            // Exact below 128; otherwise within one step of the mantissa.
            if v < 128 {
                assert_eq!(back, v);
            } else if v <= 31 << 10 {
                let step = 1u16 << ((15 - v.leading_zeros()).saturating_sub(4));
                assert!(v - back < step, "{v} -> {back}");
            }
        }
        assert_eq!(encode_time_code(224), 0x8C);
        assert_eq!(encode_time_code(u16::MAX), 0xFF);
    }

    #[test]
    fn a_v3_report_is_the_rfc_3376_layout_and_reads_back() {
        let s1 = Ipv4Addr::new(192, 0, 2, 7);
        let records = [
            GroupRecord {
                kind: RecordType::AllowNewSources,
                group: GROUP,
                sources: vec![s1],
            },
            GroupRecord {
                kind: RecordType::ChangeToExclude,
                group: Ipv4Addr::new(239, 9, 9, 9),
                sources: vec![],
            },
        ];
        let bytes = v3_report_bytes(&records);
        assert_eq!(bytes.len(), 8 + 12 + 8);
        // Type 0x22, reserved, checksum, reserved, 2 records.
        assert_eq!(&bytes[..2], &[0x22, 0]);
        assert_eq!(&bytes[4..8], &[0, 0, 0, 2]);
        // ALLOW_NEW_SOURCES, no aux data, 1 source, the group, the source.
        assert_eq!(&bytes[8..20], &[5, 0, 0, 1, 239, 1, 2, 3, 192, 0, 2, 7]);
        assert_eq!(&bytes[20..28], &[4, 0, 0, 0, 239, 9, 9, 9]);
        assert!(checksum::is_valid(checksum::data(&bytes)));
        assert_eq!(
            parse_v3_report(&bytes, Checksum::Full),
            Ok(records.to_vec())
        );
        // A host takes no version 3 report as a message of its own.
        assert_eq!(
            IgmpRepr::parse(&bytes, Checksum::Full),
            Err(WireError::Unsupported)
        );
        // Auxiliary data is skipped; a record past the end is Truncated,
        // an unknown record type Malformed.
        let mut aux = bytes[..20].to_vec();
        aux[7] = 1;
        aux[9] = 1;
        aux.extend_from_slice(&[0xAA; 4]);
        aux[2..4].copy_from_slice(&[0, 0]);
        fill_checksum(&mut aux);
        assert_eq!(
            parse_v3_report(&aux, Checksum::Full),
            Ok(records[..1].to_vec())
        );
        let mut cut = bytes[..24].to_vec();
        cut[2..4].copy_from_slice(&[0, 0]);
        fill_checksum(&mut cut);
        assert_eq!(
            parse_v3_report(&cut, Checksum::Full),
            Err(WireError::Truncated)
        );
        let mut odd = bytes.clone();
        odd[8] = 7;
        odd[2..4].copy_from_slice(&[0, 0]);
        fill_checksum(&mut odd);
        assert_eq!(
            parse_v3_report(&odd, Checksum::Full),
            Err(WireError::Malformed)
        );
        let mut bad = bytes;
        bad[9] ^= 1;
        assert_eq!(
            parse_v3_report(&bad, Checksum::Full),
            Err(WireError::BadChecksum)
        );
    }

    #[test]
    fn bad_input_is_an_error() {
        let good = IgmpRepr::Leave { group: GROUP }.to_bytes();
        assert_eq!(
            IgmpRepr::parse(&good[..7], Checksum::Full),
            Err(WireError::Truncated)
        );
        let mut bad = good;
        bad[7] ^= 1;
        assert_eq!(
            IgmpRepr::parse(&bad, Checksum::Full),
            Err(WireError::BadChecksum)
        );
        // A query of 10 bytes is neither version.
        let mut odd = [0u8; 10];
        odd[0] = 0x11;
        let sum = checksum::finish(checksum::data(&odd));
        odd[2..4].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(
            IgmpRepr::parse(&odd, Checksum::Full),
            Err(WireError::Malformed)
        );
        let mut v3 = [0u8; 8];
        v3[0] = 0x22;
        let sum = checksum::finish(checksum::data(&v3));
        v3[2..4].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(
            IgmpRepr::parse(&v3, Checksum::Full),
            Err(WireError::Unsupported)
        );
    }
}
