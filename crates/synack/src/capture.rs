//! `Capture<D>`: writes every frame a device sends or receives to a pcap
//! file that Wireshark and tcpdump open.
//!
//! Format: classic libpcap, written little-endian (magic 0xa1b2c3d4 read in
//! that order, version 2.4, microsecond timestamps), link type 1 (Ethernet)
//! or 101 (raw IP) from the device's medium, snapshot length 262144 so 64 KiB
//! GSO super-segments are kept whole. The bytes come from
//! `synack_proto::wire::pcap`'s encoders.
//!
//! Timestamps: the wall-clock time when the capture was created plus the
//! monotonic time elapsed since, in microseconds. They never go backwards
//! (a wall-clock step does not show) and still line up roughly with other
//! captures of the same traffic.
//!
//! A write error (disk full, closed pipe) stops the capture, not the link:
//! the device keeps working, [`Capture::error`] returns the error.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::fd::BorrowedFd;
use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::device::{Device, Medium};
use synack_proto::Instant as ProtoInstant;
use synack_proto::wire::pcap::{self, LinkType};

/// Bytes of a frame kept in the capture (tcpdump's default).
pub const SNAPLEN: u32 = 262_144;

/// What a capture wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Records written.
    pub frames: u64,
    /// Frames cut to the snapshot length.
    pub truncated: u64,
    /// Frames not written because the capture had stopped on an error.
    pub missed: u64,
}

/// A device that records its traffic to `W`.
#[derive(Debug)]
pub struct Capture<D, W: Write> {
    inner: D,
    out: Option<W>,
    origin: Instant,
    origin_unix_micros: u64,
    stats: CaptureStats,
    error: Option<io::Error>,
}

impl<D: Device> Capture<D, BufWriter<File>> {
    /// Captures to a new file at `path` (truncating an existing one).
    pub fn create(inner: D, path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref();
        let file = File::create(path).map_err(|e| {
            io::Error::new(e.kind(), format!("creating pcap {}: {e}", path.display()))
        })?;
        Capture::new(inner, BufWriter::new(file))
    }
}

impl<D: Device, W: Write> Capture<D, W> {
    /// Captures to `out`, timestamps starting at the current wall-clock time.
    pub fn new(inner: D, out: W) -> io::Result<Self> {
        // A clock before 1970 is a broken clock; start at zero then.
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        Capture::with_origin(inner, out, Instant::now(), unix)
    }

    /// Captures to `out`; a frame at `origin` is stamped `origin_unix_micros`
    /// (microseconds since 1970). For reproducible files and tests.
    pub fn with_origin(
        inner: D,
        mut out: W,
        origin: Instant,
        origin_unix_micros: u64,
    ) -> io::Result<Self> {
        out.write_all(&pcap::global_header(
            LinkType::from_u32(inner.medium().pcap_link_type()),
            SNAPLEN,
        ))
        .map_err(|e| io::Error::new(e.kind(), format!("writing pcap header: {e}")))?;
        Ok(Capture {
            inner,
            out: Some(out),
            origin,
            origin_unix_micros,
            stats: CaptureStats::default(),
            error: None,
        })
    }

    fn record(&mut self, now: Instant, frame: &[u8]) {
        let Some(out) = self.out.as_mut() else {
            self.stats.missed += 1;
            return;
        };
        let elapsed = u64::try_from(now.saturating_duration_since(self.origin).as_micros())
            .unwrap_or(u64::MAX);
        let orig_len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        let incl_len = orig_len.min(SNAPLEN);
        let header = pcap::record_header(
            ProtoInstant::from_micros(self.origin_unix_micros.saturating_add(elapsed)),
            incl_len,
            orig_len,
        );
        let result = out
            .write_all(&header)
            .and_then(|()| out.write_all(&frame[..incl_len as usize]));
        match result {
            Ok(()) => {
                self.stats.frames += 1;
                if incl_len < orig_len {
                    self.stats.truncated += 1;
                }
            }
            Err(e) => {
                self.stats.missed += 1;
                self.error = Some(io::Error::new(e.kind(), format!("writing pcap: {e}")));
                self.out = None;
            }
        }
    }

    /// `Device::send` at time `now`: sends, then records the frame if it went out.
    pub fn send_at(&mut self, now: Instant, frame: &[u8]) -> io::Result<()> {
        self.inner.send(frame)?;
        self.record(now, frame);
        Ok(())
    }

    /// `Device::recv` at time `now`: receives, and records what came.
    pub fn recv_at(&mut self, now: Instant, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let n = self.inner.recv(buf)?;
        if let Some(n) = n {
            self.record(now, &buf[..n]);
        }
        Ok(n)
    }

    /// The write error that stopped the capture, if any.
    pub fn error(&self) -> Option<&io::Error> {
        self.error.as_ref()
    }

    pub fn stats(&self) -> CaptureStats {
        self.stats
    }

    /// Flushes buffered records to the writer.
    pub fn flush(&mut self) -> io::Result<()> {
        match self.out.as_mut() {
            Some(out) => out.flush(),
            None => Ok(()),
        }
    }

    pub fn inner(&self) -> &D {
        &self.inner
    }

    pub fn inner_mut(&mut self) -> &mut D {
        &mut self.inner
    }

    /// The device and the writer (`None` if the capture stopped on an
    /// error). Flush first if `W` buffers.
    pub fn into_parts(self) -> (D, Option<W>) {
        (self.inner, self.out)
    }
}

impl<D: Device, W: Write> Device for Capture<D, W> {
    fn medium(&self) -> Medium {
        self.inner.medium()
    }

    fn mtu(&self) -> usize {
        self.inner.mtu()
    }

    fn max_frame_len(&self) -> usize {
        self.inner.max_frame_len()
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        self.recv_at(Instant::now(), buf)
    }

    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        self.send_at(Instant::now(), frame)
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.inner.fd()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }

    fn flush(&mut self) -> io::Result<()> {
        Capture::flush(self)?;
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::Pipe;
    use std::time::Duration;

    // 2023-11-14T22:13:20.250000Z
    const ORIGIN_UNIX: u64 = 1_700_000_000_250_000;

    #[test]
    fn global_header_bytes_for_ethernet_and_raw_ip() {
        let (a, _b) = Pipe::pair(Medium::Ethernet, 1500);
        let cap = Capture::with_origin(a, Vec::new(), Instant::now(), ORIGIN_UNIX).unwrap();
        let (_, out) = cap.into_parts();
        #[rustfmt::skip]
        let want = [
            0xd4, 0xc3, 0xb2, 0xa1, // magic 0xa1b2c3d4, little-endian
            0x02, 0x00, 0x04, 0x00, // version 2.4
            0, 0, 0, 0,             // thiszone
            0, 0, 0, 0,             // sigfigs
            0x00, 0x00, 0x04, 0x00, // snaplen 262144
            0x01, 0x00, 0x00, 0x00, // LINKTYPE_ETHERNET
        ];
        assert_eq!(out.unwrap(), want);

        let (a, _b) = Pipe::pair(Medium::Ip, 1500);
        let (_, out) = Capture::with_origin(a, Vec::new(), Instant::now(), 0)
            .unwrap()
            .into_parts();
        assert_eq!(out.unwrap()[20..24], [101, 0, 0, 0]); // LINKTYPE_RAW
    }

    #[test]
    fn records_both_directions_with_timestamps_and_lengths() {
        let (a, mut b) = Pipe::pair(Medium::Ethernet, 1500);
        let t0 = Instant::now();
        let mut cap = Capture::with_origin(a, Vec::new(), t0, ORIGIN_UNIX).unwrap();
        cap.send_at(t0 + Duration::from_micros(1_500_000), &[0x11; 60])
            .unwrap();
        b.send(&[0x22; 42]).unwrap();
        let mut buf = [0u8; 1514];
        assert_eq!(
            cap.recv_at(t0 + Duration::from_millis(2_750), &mut buf)
                .unwrap(),
            Some(42)
        );
        // Nothing more: nothing recorded.
        assert_eq!(
            cap.recv_at(t0 + Duration::from_secs(3), &mut buf).unwrap(),
            None
        );
        assert_eq!(cap.stats().frames, 2);
        let (_, out) = cap.into_parts();
        let out = out.unwrap();
        assert_eq!(out.len(), 24 + 16 + 60 + 16 + 42);
        // 1_700_000_000.25 s + 1.5 s = 1_700_000_001 s + 750_000 µs.
        #[rustfmt::skip]
        let first = [
            0x01, 0xf1, 0x53, 0x65, // ts_sec 1_700_000_001
            0xb0, 0x71, 0x0b, 0x00, // ts_usec 750_000
            60, 0, 0, 0,            // incl_len
            60, 0, 0, 0,            // orig_len
        ];
        assert_eq!(out[24..40], first);
        assert_eq!(out[40..100], [0x11; 60]);
        // + 2.75 s = 1_700_000_003 s + 0 µs.
        assert_eq!(out[100..104], 1_700_000_003u32.to_le_bytes());
        assert_eq!(out[104..108], [0, 0, 0, 0]);
        assert_eq!(out[108..116], [42, 0, 0, 0, 42, 0, 0, 0]);
        assert_eq!(out[116..], [0x22; 42]);
        // The frame also reached the other end.
        assert_eq!(b.recv(&mut buf).unwrap(), Some(60));
    }

    #[test]
    fn frames_longer_than_the_snapshot_are_cut_and_counted() {
        let big = 300_000;
        let (a, _b) = Pipe::pair(Medium::Ip, big);
        let t0 = Instant::now();
        let mut cap = Capture::with_origin(a, Vec::new(), t0, 0).unwrap();
        cap.send_at(t0, &vec![0x5a; big]).unwrap();
        assert_eq!(cap.stats().truncated, 1);
        let (_, out) = cap.into_parts();
        let out = out.unwrap();
        assert_eq!(out[24 + 8..24 + 12], SNAPLEN.to_le_bytes());
        assert_eq!(out[24 + 12..24 + 16], (big as u32).to_le_bytes());
        assert_eq!(out.len(), 24 + 16 + SNAPLEN as usize);
    }

    /// Accepts `room` bytes, then fails like a full disk.
    struct Full {
        room: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failing_writer_stops_the_capture_not_the_link() {
        let (a, mut b) = Pipe::pair(Medium::Ethernet, 1500);
        let t0 = Instant::now();
        let mut cap = Capture::with_origin(a, Full { room: 24 + 16 + 60 }, t0, 0).unwrap();
        cap.send_at(t0, &[1; 60]).unwrap();
        assert!(cap.error().is_none());
        cap.send_at(t0, &[2; 60]).unwrap();
        cap.send_at(t0, &[3; 60]).unwrap();
        let err = cap.error().expect("capture error kept");
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        assert!(err.to_string().starts_with("writing pcap: "));
        assert_eq!(
            cap.stats(),
            CaptureStats {
                frames: 1,
                truncated: 0,
                missed: 2
            }
        );
        let mut buf = [0u8; 1514];
        for want in 1..=3u8 {
            assert_eq!(b.recv(&mut buf).unwrap(), Some(60));
            assert_eq!(buf[0], want);
        }
        assert!(cap.into_parts().1.is_none());
    }

    #[test]
    fn failed_sends_are_not_recorded() {
        let (a, _b) = Pipe::pair(Medium::Ethernet, 1500);
        let t0 = Instant::now();
        let mut cap = Capture::with_origin(a, Vec::new(), t0, 0).unwrap();
        assert!(cap.send_at(t0, &[0; 2000]).is_err());
        assert_eq!(cap.stats().frames, 0);
        assert_eq!(cap.into_parts().1.unwrap().len(), 24);
    }
}
