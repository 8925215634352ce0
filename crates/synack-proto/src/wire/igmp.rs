//! IGMP, the messages a host needs: queries it answers, reports and
//! leaves it sends and hears.
//!
//! Read before touching: RFC 1112 appendix I (IGMPv1: the 8-byte format),
//! RFC 2236 §2 (IGMPv2: the Max Response Time, the Leave Group message,
//! TTL 1 and the Router Alert option on every message), RFC 3376 §4.1 and
//! §7 (an IGMPv3 query is 12 bytes or more; its first 8 read as a version 2
//! query, which is how a version 2 host takes it), RFC 2113 (Router Alert).
//!
//! Every message is checked by the Internet checksum over the whole IGMP
//! message (RFC 2236 §2.3), whatever its length.

use super::WireError;
use super::checksum::{self, Checksum};
use core::net::Ipv4Addr;

/// The fixed part of every IGMP message: type, Max Response Time (or
/// unused), checksum, group address.
pub const HEADER_LEN: usize = 8;

/// The shortest IGMPv3 query (RFC 3376 §4.1): the 8 bytes, then Resv/S/QRV,
/// QQIC and the number of sources.
const V3_QUERY_MIN_LEN: usize = 12;

const TYPE_QUERY: u8 = 0x11;
const TYPE_V1_REPORT: u8 = 0x12;
const TYPE_V2_REPORT: u8 = 0x16;
const TYPE_LEAVE: u8 = 0x17;
const TYPE_V3_REPORT: u8 = 0x22;

/// The IP option every IGMPv2 message carries (RFC 2236 §2, RFC 2113 §2.1):
/// type 148 (copied, class 0, number 20), length 4, value 0 ("routers shall
/// examine this packet").
pub const ROUTER_ALERT: [u8; 4] = [0x94, 0x04, 0x00, 0x00];

/// An IGMP message, as a version 2 host reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgmpRepr {
    /// A Membership Query (RFC 2236 §2.1): a General Query when `group` is
    /// 0.0.0.0, else a Group-Specific one. `max_resp_tenths` is the Max
    /// Response Time in tenths of a second; 0 is a version 1 router's query
    /// (RFC 2236 §4: take it as 10 s, and answer in version 1).
    Query {
        max_resp_tenths: u16,
        group: Ipv4Addr,
    },
    /// A Membership Report, version 1 or 2 (the same meaning to a host:
    /// another member answered for `group`).
    Report { version: u8, group: Ipv4Addr },
    /// A Leave Group message (RFC 2236 §2.1), to 224.0.0.2.
    Leave { group: Ipv4Addr },
}

impl IgmpRepr {
    /// Reads `bytes` (the IP payload), its checksum checked under `checksum`.
    /// A version 3 report (or any other type) is `Unsupported`: a version 2
    /// host ignores it.
    pub fn parse(bytes: &[u8], checksum: Checksum) -> Result<IgmpRepr, WireError> {
        if bytes.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if checksum.is_full() && !checksum::is_valid(checksum::data(bytes)) {
            return Err(WireError::BadChecksum);
        }
        let code = bytes[1];
        let group = Ipv4Addr::new(bytes[4], bytes[5], bytes[6], bytes[7]);
        match bytes[0] {
            TYPE_QUERY if bytes.len() >= V3_QUERY_MIN_LEN => Ok(IgmpRepr::Query {
                max_resp_tenths: v3_max_resp(code),
                group,
            }),
            // RFC 3376 §7.1: 8 bytes is a version 1 (code 0) or version 2
            // query; 9 to 11 bytes is no valid query.
            TYPE_QUERY if bytes.len() == HEADER_LEN => Ok(IgmpRepr::Query {
                max_resp_tenths: u16::from(code),
                group,
            }),
            TYPE_QUERY => Err(WireError::Malformed),
            TYPE_V1_REPORT => Ok(IgmpRepr::Report { version: 1, group }),
            TYPE_V2_REPORT => Ok(IgmpRepr::Report { version: 2, group }),
            TYPE_LEAVE => Ok(IgmpRepr::Leave { group }),
            TYPE_V3_REPORT => Err(WireError::Unsupported),
            _ => Err(WireError::Unsupported),
        }
    }

    /// The message's bytes, checksum filled in. A version 1 report has no
    /// Max Response Time field (RFC 1112: "unused", zero).
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let (kind, code, group) = match *self {
            IgmpRepr::Query {
                max_resp_tenths,
                group,
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
        let sum = checksum::finish(checksum::data(&bytes));
        bytes[2..4].copy_from_slice(&sum.to_be_bytes());
        bytes
    }
}

/// RFC 3376 §4.1.1: a Max Resp Code below 128 is the time itself; above,
/// a floating-point value `(mant | 0x10) << (exp + 3)`, in tenths of a
/// second.
fn v3_max_resp(code: u8) -> u16 {
    if code < 128 {
        return u16::from(code);
    }
    let mant = u16::from(code & 0x0F);
    let exp = u32::from((code >> 4) & 0x07);
    (mant | 0x10) << (exp + 3)
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
            },
            IgmpRepr::Query {
                max_resp_tenths: 10,
                group: GROUP,
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
    fn a_v3_query_reads_as_a_v2_query_with_its_decoded_time() {
        // 12 bytes: Max Resp Code 0x8C = mant 12, exp 0: (12 | 16) << 3 =
        // 224 tenths; S/QRV, QQIC, no sources.
        let mut bytes = [0x11, 0x8C, 0, 0, 0, 0, 0, 0, 0x02, 125, 0, 0];
        let sum = checksum::finish(checksum::data(&bytes));
        bytes[2..4].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(
            IgmpRepr::parse(&bytes, Checksum::Full),
            Ok(IgmpRepr::Query {
                max_resp_tenths: 224,
                group: Ipv4Addr::UNSPECIFIED
            })
        );
        assert_eq!(v3_max_resp(100), 100);
        assert_eq!(v3_max_resp(0xFF), 31 << 10);
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
