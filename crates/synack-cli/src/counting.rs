//! Byte counters shared by connection threads, and the progress line that
//! shows them on a terminal (nothing when stderr is piped).

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use synack::progress::{Progress, REDRAW_INTERVAL};

/// Bytes moved, counted from any thread.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn add(&self, n: usize) {
        self.0.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Bytes read and written through [`Counted`] streams.
#[derive(Debug, Default)]
pub struct Traffic {
    pub read: Counter,
    pub written: Counter,
}

impl Traffic {
    pub fn total(&self) -> u64 {
        self.read.get() + self.written.get()
    }
}

/// A stream whose reads and writes are added to a [`Traffic`].
#[derive(Debug)]
pub struct Counted<S> {
    pub inner: S,
    pub traffic: Arc<Traffic>,
}

impl<S: Read> Read for Counted<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.traffic.read.add(n);
        Ok(n)
    }
}

impl<S: Write> Write for Counted<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.traffic.written.add(n);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A progress line fed from a [`Traffic`] by its own thread, on a terminal only.
#[derive(Debug)]
pub struct ProgressLine {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ProgressLine {
    pub fn start(label: &str, traffic: Arc<Traffic>) -> ProgressLine {
        let stop = Arc::new(AtomicBool::new(false));
        let mut progress = Progress::new(label, None);
        let thread = progress.is_visible().then(|| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut shown = 0;
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(REDRAW_INTERVAL.max(Duration::from_millis(100)));
                    let now = traffic.total();
                    progress.add(now - shown);
                    shown = now;
                }
                progress.add(traffic.total() - shown);
                progress.finish();
            })
        });
        ProgressLine { stop, thread }
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
