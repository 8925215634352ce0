//! Writing pcap files: a thin `std::io::Write` wrapper over the sans-IO
//! encoders in [`synack_proto::wire::pcap`]. Generic over the writer so the
//! runtime can reuse it for captures on a real device.

use std::cell::RefCell;
use std::io::{self, Write};
use std::rc::Rc;

use synack_proto::Instant;
pub use synack_proto::wire::pcap::LinkType;
use synack_proto::wire::pcap::{global_header, record_header};

/// Snap length used when none is given: every frame a link can carry fits.
pub const DEFAULT_SNAPLEN: u32 = 262_144;

/// A classic pcap file being written (microsecond timestamps, little-endian).
#[derive(Debug)]
pub struct PcapFile<W: Write> {
    out: W,
    link_type: LinkType,
    snaplen: u32,
    records: u64,
}

impl<W: Write> PcapFile<W> {
    /// Writes the global header to `out`. Frames longer than `snaplen` are cut
    /// to it (their original length is kept in the record).
    pub fn new(mut out: W, link_type: LinkType, snaplen: u32) -> io::Result<Self> {
        out.write_all(&global_header(link_type, snaplen))?;
        Ok(PcapFile {
            out,
            link_type,
            snaplen,
            records: 0,
        })
    }

    /// Appends one record. `ts` counts from the Unix epoch in the file, so a
    /// simulation's zero shows as 1970-01-01 00:00:00.
    pub fn write_frame(&mut self, ts: Instant, frame: &[u8]) -> io::Result<()> {
        let orig = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        let cap = orig.min(self.snaplen);
        self.out.write_all(&record_header(ts, cap, orig))?;
        // cap <= frame.len(), so the slice is in bounds.
        self.out.write_all(&frame[..cap as usize])?;
        self.records += 1;
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn link_type(&self) -> LinkType {
        self.link_type
    }

    pub fn snaplen(&self) -> u32 {
        self.snaplen
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// The writer back, without flushing it.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// An in-memory `Write` whose clones share one buffer: hand one clone to a
/// capture and read the bytes through another.
#[derive(Clone, Debug, Default)]
pub struct SharedBuf(Rc<RefCell<Vec<u8>>>);

impl SharedBuf {
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of everything written so far.
    pub fn contents(&self) -> Vec<u8> {
        self.0.borrow().clone()
    }

    pub fn len(&self) -> usize {
        self.0.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.borrow().is_empty()
    }
}

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synack_proto::wire::pcap::{PcapReader, PcapRecord};

    #[test]
    fn file_reads_back_and_cuts_at_snaplen() {
        let buf = SharedBuf::new();
        let mut file = PcapFile::new(buf.clone(), LinkType::Raw, 4).unwrap();
        file.write_frame(Instant::from_micros(7), b"ab").unwrap();
        file.write_frame(Instant::from_micros(2_000_001), b"abcdefgh")
            .unwrap();
        assert_eq!(file.records(), 2);
        let bytes = buf.contents();
        let reader = PcapReader::new(&bytes).unwrap();
        assert_eq!((reader.link_type(), reader.snaplen()), (LinkType::Raw, 4));
        let recs: Vec<_> = reader.map(Result::unwrap).collect();
        assert_eq!(
            recs,
            vec![
                PcapRecord {
                    ts_micros: 7,
                    orig_len: 2,
                    data: b"ab"
                },
                PcapRecord {
                    ts_micros: 2_000_001,
                    orig_len: 8,
                    data: b"abcd"
                },
            ]
        );
    }
}
