//! Progress display for long transfers.
//!
//! Bytes so far, rate and (when the total is known) percentage and ETA, as
//! one line redrawn in place on stderr, at most every
//! [`REDRAW_INTERVAL`]. Only when stderr is a terminal: piped or redirected
//! output gets nothing, so logs and scripts stay clean.
//!
//! ```no_run
//! use synack::progress::Progress;
//! let mut p = Progress::new("upload", Some(50 << 20));
//! for _ in 0..50 {
//!     // ... send 1 MiB ...
//!     p.add(1 << 20);
//! }
//! p.finish();
//! ```
//!
//! The formatting is separate from the clock and the terminal ([`Meter`],
//! [`human_bytes`], [`human_rate`], [`human_duration`]) so it is tested on
//! its own and reused for summaries.

use std::fmt;
use std::io::{self, IsTerminal, Read, Write};
use std::time::{Duration, Instant};

/// Minimum time between two redraws.
pub const REDRAW_INTERVAL: Duration = Duration::from_millis(200);

/// A byte count in binary units with three significant digits:
/// `0 B`, `999 B`, `1.00 KiB`, `12.3 MiB`, `512 GiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    // Move up a unit when the value would print as 1024 or more.
    while v >= 999.5 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{} {}", three_digits(v), UNITS[unit])
}

/// A rate in bytes per second, like [`human_bytes`] with `/s`.
pub fn human_rate(bytes_per_sec: f64) -> String {
    if !bytes_per_sec.is_finite() || bytes_per_sec <= 0.0 {
        return "0 B/s".to_owned();
    }
    format!("{}/s", human_bytes(bytes_per_sec.round() as u64))
}

/// `m:ss`, or `h:mm:ss` from an hour on.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// Three significant digits: 1.23, 12.3, 123.
fn three_digits(v: f64) -> String {
    if v < 9.995 {
        format!("{v:.2}")
    } else if v < 99.95 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

/// The clock-free part of a progress display: counts bytes and decides
/// when to redraw and what.
#[derive(Clone, Debug)]
pub struct Meter {
    label: String,
    total: Option<u64>,
    bytes: u64,
    last_draw: Option<Duration>,
}

impl Meter {
    /// A meter for a transfer of `total` bytes (if known).
    pub fn new(label: impl Into<String>, total: Option<u64>) -> Self {
        Self {
            label: label.into(),
            total,
            bytes: 0,
            last_draw: None,
        }
    }

    /// Bytes counted so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Counts `n` more bytes at `elapsed` since the start; returns the line
    /// to draw when a redraw is due (the first update, then at most every
    /// [`REDRAW_INTERVAL`]).
    pub fn add(&mut self, n: u64, elapsed: Duration) -> Option<String> {
        self.bytes = self.bytes.saturating_add(n);
        let due = self
            .last_draw
            .is_none_or(|t| elapsed.saturating_sub(t) >= REDRAW_INTERVAL);
        if !due {
            return None;
        }
        self.last_draw = Some(elapsed);
        Some(self.line(elapsed))
    }

    /// The status line at `elapsed`.
    pub fn line(&self, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            self.bytes as f64 / secs
        } else {
            0.0
        };
        let mut s = format!("{}  {}", self.label, human_bytes(self.bytes));
        match self.total {
            Some(total) => {
                let pct = if total == 0 {
                    100
                } else {
                    (u128::from(self.bytes.min(total)) * 100 / u128::from(total)) as u64
                };
                let eta = if self.bytes >= total {
                    human_duration(elapsed)
                } else if rate > 0.0 {
                    let left = (total - self.bytes) as f64 / rate;
                    format!(
                        "ETA {}",
                        human_duration(Duration::from_secs_f64(left.min(1e9)))
                    )
                } else {
                    "ETA --:--".to_owned()
                };
                s += &format!(
                    " / {}  {pct:>3}%  {}  {eta}",
                    human_bytes(total),
                    human_rate(rate)
                );
            }
            None => s += &format!("  {}  {}", human_rate(rate), human_duration(elapsed)),
        }
        s
    }
}

/// A progress line on stderr (when it is a terminal), or nothing.
pub struct Progress {
    meter: Meter,
    sink: Option<Box<dyn Write + Send>>,
    start: Instant,
    drawn: bool,
    finished: bool,
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Progress")
            .field("meter", &self.meter)
            .field("visible", &self.sink.is_some())
            .finish()
    }
}

impl Progress {
    /// Draws on stderr if stderr is a terminal; otherwise does nothing.
    pub fn new(label: impl Into<String>, total: Option<u64>) -> Self {
        let sink: Option<Box<dyn Write + Send>> = if io::stderr().is_terminal() {
            Some(Box::new(io::stderr()))
        } else {
            None
        };
        Self::with_sink(label, total, sink)
    }

    /// Always draws, to `out` (for tests, or a terminal opened elsewhere).
    pub fn to_writer(
        label: impl Into<String>,
        total: Option<u64>,
        out: Box<dyn Write + Send>,
    ) -> Self {
        Self::with_sink(label, total, Some(out))
    }

    /// Never draws.
    pub fn hidden() -> Self {
        Self::with_sink("", None, None)
    }

    fn with_sink(
        label: impl Into<String>,
        total: Option<u64>,
        sink: Option<Box<dyn Write + Send>>,
    ) -> Self {
        Self {
            meter: Meter::new(label, total),
            sink,
            start: Instant::now(),
            drawn: false,
            finished: false,
        }
    }

    /// Whether anything is drawn.
    pub fn is_visible(&self) -> bool {
        self.sink.is_some()
    }

    /// Bytes counted so far.
    pub fn bytes(&self) -> u64 {
        self.meter.bytes()
    }

    /// Counts `n` more bytes, redrawing if due.
    pub fn add(&mut self, n: u64) {
        let elapsed = self.start.elapsed();
        if let Some(line) = self.meter.add(n, elapsed) {
            self.draw(&line, false);
        }
    }

    /// Draws the final state and ends the line. Idempotent; also done on drop.
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        if self.sink.is_some() {
            let line = self.meter.line(self.start.elapsed());
            self.draw(&line, true);
        }
    }

    /// `\r`, the line, clear to end of line (`ESC [ K`); a newline at the end.
    fn draw(&mut self, line: &str, last: bool) {
        let Some(out) = self.sink.as_mut() else {
            return;
        };
        let end = if last { "\n" } else { "" };
        // A progress line that cannot be drawn is not worth failing the transfer.
        let _ = write!(out, "\r{line}\x1b[K{end}").and_then(|()| out.flush());
        self.drawn = true;
    }

    /// Wraps a reader or writer so every byte through it is counted here.
    pub fn track<T>(self, inner: T) -> Tracked<T> {
        Tracked {
            inner,
            progress: self,
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if self.drawn {
            self.finish();
        }
    }
}

/// A reader or writer that counts its bytes into a [`Progress`].
#[derive(Debug)]
pub struct Tracked<T> {
    inner: T,
    progress: Progress,
}

impl<T> Tracked<T> {
    /// The progress display.
    pub fn progress(&mut self) -> &mut Progress {
        &mut self.progress
    }

    /// The wrapped stream (the display finishes when dropped).
    pub fn into_inner(self) -> (T, Progress) {
        (self.inner, self.progress)
    }
}

impl<T: Read> Read for Tracked<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.add(n as u64);
        Ok(n)
    }
}

impl<T: Write> Write for Tracked<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.progress.add(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn bytes_in_binary_units_with_three_digits() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1.00 KiB");
        assert_eq!(human_bytes(1536), "1.50 KiB");
        assert_eq!(human_bytes(12_900_000), "12.3 MiB");
        assert_eq!(human_bytes(50 << 20), "50.0 MiB");
        assert_eq!(human_bytes(512 << 30), "512 GiB");
        // 1023.9 KiB would print as "1024 KiB": shown as the next unit.
        assert_eq!(human_bytes(1_048_500), "1.00 MiB");
        assert_eq!(human_bytes(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn rates_and_durations() {
        assert_eq!(human_rate(0.0), "0 B/s");
        assert_eq!(human_rate(f64::NAN), "0 B/s");
        assert_eq!(human_rate(3.25 * 1024.0 * 1024.0), "3.25 MiB/s");
        assert_eq!(human_duration(Duration::from_secs(5)), "0:05");
        assert_eq!(human_duration(Duration::from_secs(754)), "12:34");
        assert_eq!(human_duration(Duration::from_secs(3723)), "1:02:03");
    }

    #[test]
    fn line_with_total_shows_percent_rate_and_eta() {
        let mut m = Meter::new("get", Some(100 << 20));
        m.add(25 << 20, Duration::from_secs(5));
        assert_eq!(
            m.line(Duration::from_secs(5)),
            "get  25.0 MiB / 100 MiB   25%  5.00 MiB/s  ETA 0:15"
        );
    }

    #[test]
    fn line_when_done_shows_elapsed_instead_of_eta() {
        let mut m = Meter::new("get", Some(1000));
        m.add(1000, Duration::from_secs(2));
        assert_eq!(
            m.line(Duration::from_secs(2)),
            "get  1000 B / 1000 B  100%  500 B/s  0:02"
        );
    }

    #[test]
    fn line_without_total_shows_bytes_rate_and_elapsed() {
        let mut m = Meter::new("recv", None);
        m.add(3 << 30, Duration::from_secs(60));
        assert_eq!(
            m.line(Duration::from_secs(60)),
            "recv  3.00 GiB  51.2 MiB/s  1:00"
        );
    }

    #[test]
    fn zero_rate_has_unknown_eta() {
        let m = Meter::new("x", Some(10));
        assert_eq!(
            m.line(Duration::ZERO),
            "x  0 B / 10 B    0%  0 B/s  ETA --:--"
        );
    }

    #[test]
    fn redraws_are_rate_limited() {
        let mut m = Meter::new("x", None);
        assert!(m.add(1, MS(0)).is_some(), "first update draws");
        assert!(m.add(1, MS(100)).is_none());
        assert!(m.add(1, MS(199)).is_none());
        assert!(m.add(1, MS(200)).is_some());
        assert!(m.add(1, MS(399)).is_none());
        assert_eq!(m.bytes(), 5);
    }

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn drawn_lines_redraw_in_place_and_finish_with_newline() {
        let out = Shared::default();
        let mut p = Progress::to_writer("t", Some(10), Box::new(out.clone()));
        p.add(4);
        p.finish();
        p.finish();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(text.starts_with("\rt  4 B / 10 B   40%"), "{text:?}");
        assert_eq!(text.matches('\n').count(), 1, "{text:?}");
        assert!(text.ends_with("\x1b[K\n"), "{text:?}");
    }

    #[test]
    fn tracked_writer_counts_bytes() {
        let mut w = Progress::hidden().track(Vec::new());
        w.write_all(b"hello").unwrap();
        let (inner, p) = w.into_inner();
        assert_eq!(inner, b"hello");
        assert_eq!(p.bytes(), 5);
        assert!(!p.is_visible());
    }

    #[test]
    fn drop_ends_a_drawn_line() {
        let out = Shared::default();
        {
            let mut p = Progress::to_writer("t", None, Box::new(out.clone()));
            p.add(1);
        }
        assert!(out.0.lock().unwrap().ends_with(b"\n"));
    }
}
