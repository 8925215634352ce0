//! In-memory devices: two ends connected back to back ([`Pipe::pair`]), or
//! one end wired to itself ([`Pipe::loopback`]). Zero delay, no loss; frames
//! wait in a bounded FIFO per direction and are dropped (and counted) when
//! it is full, like a NIC's ring. Used by tests and the in-memory benchmark;
//! wrap an end in `Impaired` for loss and delay.
//!
//! [`Pipe::pollable_pair`] adds a doorbell per direction (a Unix datagram
//! socket pair): the sender rings it when the receiver's queue goes from
//! empty to non-empty, so each end has an fd that polls readable when a frame
//! waits, and a driver can sleep on it exactly as on a TAP.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::{Device, Medium};

/// Frames a direction holds before dropping: about what a Linux tap queue holds.
pub const DEFAULT_CAPACITY: usize = 1024;

/// What one end of a pipe did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PipeStats {
    /// Frames this end sent that were queued for the other end.
    pub sent: u64,
    /// Frames this end received.
    pub received: u64,
    /// Frames this end sent that found the other end's queue full.
    pub dropped_full: u64,
    /// Frames this end refused to send: longer than `max_frame_len`.
    pub rejected_too_long: u64,
    /// Frames dropped on receive because the caller's buffer was too short.
    pub dropped_short_buffer: u64,
}

/// One direction: a FIFO of frames plus spare buffers, so a steady flow
/// allocates nothing.
#[derive(Debug)]
struct Lane {
    frames: VecDeque<Vec<u8>>,
    spare: Vec<Vec<u8>>,
    capacity: usize,
    /// Rung when `frames` becomes non-empty (pollable pairs only).
    bell: Option<UnixDatagram>,
}

impl Lane {
    fn new(capacity: usize) -> Arc<Mutex<Lane>> {
        Lane::with_bell(capacity, None)
    }

    fn with_bell(capacity: usize, bell: Option<UnixDatagram>) -> Arc<Mutex<Lane>> {
        Arc::new(Mutex::new(Lane {
            frames: VecDeque::new(),
            spare: Vec::new(),
            capacity,
            bell,
        }))
    }
}

/// Locks a lane. A panic elsewhere cannot leave a lane half-updated (each
/// critical section is a push or a pop), so a poisoned lock is still usable.
fn lock(lane: &Mutex<Lane>) -> MutexGuard<'_, Lane> {
    lane.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An in-memory device end. `Send`, so the two ends may live on different threads.
#[derive(Debug)]
pub struct Pipe {
    medium: Medium,
    mtu: usize,
    tx: Arc<Mutex<Lane>>,
    rx: Arc<Mutex<Lane>>,
    /// The receiving side of `rx`'s doorbell (pollable pairs only).
    wake: Option<UnixDatagram>,
    stats: PipeStats,
}

impl Pipe {
    /// Two ends connected back to back: what one sends, the other receives.
    pub fn pair(medium: Medium, mtu: usize) -> (Pipe, Pipe) {
        Pipe::pair_with_capacity(medium, mtu, DEFAULT_CAPACITY)
    }

    /// [`pair`](Pipe::pair) with `capacity` frames per direction (at least 1).
    pub fn pair_with_capacity(medium: Medium, mtu: usize, capacity: usize) -> (Pipe, Pipe) {
        let a_to_b = Lane::new(capacity.max(1));
        let b_to_a = Lane::new(capacity.max(1));
        let end = |tx: &Arc<Mutex<Lane>>, rx: &Arc<Mutex<Lane>>| Pipe {
            medium,
            mtu,
            tx: Arc::clone(tx),
            rx: Arc::clone(rx),
            wake: None,
            stats: PipeStats::default(),
        };
        (end(&a_to_b, &b_to_a), end(&b_to_a, &a_to_b))
    }

    /// [`pair`](Pipe::pair) whose ends have an [`fd`](Device::fd) that polls
    /// readable while frames wait, for drivers that sleep on fds.
    pub fn pollable_pair(medium: Medium, mtu: usize) -> io::Result<(Pipe, Pipe)> {
        let bells = || -> io::Result<(UnixDatagram, UnixDatagram)> {
            let (ring, wake) = UnixDatagram::pair()?;
            ring.set_nonblocking(true)?;
            wake.set_nonblocking(true)?;
            Ok((ring, wake))
        };
        let (ring_b, wake_b) = bells()?;
        let (ring_a, wake_a) = bells()?;
        let a_to_b = Lane::with_bell(DEFAULT_CAPACITY, Some(ring_b));
        let b_to_a = Lane::with_bell(DEFAULT_CAPACITY, Some(ring_a));
        let end = |tx: &Arc<Mutex<Lane>>, rx: &Arc<Mutex<Lane>>, wake| Pipe {
            medium,
            mtu,
            tx: Arc::clone(tx),
            rx: Arc::clone(rx),
            wake: Some(wake),
            stats: PipeStats::default(),
        };
        Ok((end(&a_to_b, &b_to_a, wake_a), end(&b_to_a, &a_to_b, wake_b)))
    }

    /// One end whose sends come back to its own `recv`.
    pub fn loopback(medium: Medium, mtu: usize) -> Pipe {
        let lane = Lane::new(DEFAULT_CAPACITY);
        Pipe {
            medium,
            mtu,
            tx: Arc::clone(&lane),
            rx: lane,
            wake: None,
            stats: PipeStats::default(),
        }
    }

    /// Frames waiting for this end's `recv`.
    pub fn queued(&self) -> usize {
        lock(&self.rx).frames.len()
    }

    pub fn stats(&self) -> PipeStats {
        self.stats
    }
}

impl Device for Pipe {
    fn medium(&self) -> Medium {
        self.medium
    }

    fn mtu(&self) -> usize {
        self.mtu
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let mut lane = lock(&self.rx);
        let mut next = lane.frames.pop_front();
        if next.is_none()
            && let Some(wake) = &self.wake
        {
            // Silence the bell, then look again: a frame queued between
            // the first look and the silencing rang a bell we just ate.
            drop(lane);
            let mut byte = [0u8; 1];
            while wake.recv(&mut byte).is_ok() {}
            lane = lock(&self.rx);
            next = lane.frames.pop_front();
        }
        let Some(frame) = next else {
            return Ok(None);
        };
        let n = frame.len();
        let fits = n <= buf.len();
        if fits {
            buf[..n].copy_from_slice(&frame);
        }
        if lane.spare.len() < lane.capacity {
            lane.spare.push(frame);
        }
        drop(lane);
        if !fits {
            self.stats.dropped_short_buffer += 1;
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("receive buffer of {} bytes for a {n}-byte frame", buf.len()),
            ));
        }
        self.stats.received += 1;
        Ok(Some(n))
    }

    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        if frame.len() > self.max_frame_len() {
            self.stats.rejected_too_long += 1;
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{}-byte frame is longer than the pipe's {} (MTU {})",
                    frame.len(),
                    self.max_frame_len(),
                    self.mtu
                ),
            ));
        }
        let mut lane = lock(&self.tx);
        if lane.frames.len() >= lane.capacity {
            drop(lane);
            self.stats.dropped_full += 1;
            return Ok(());
        }
        let mut buf = lane.spare.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(frame);
        lane.frames.push_back(buf);
        if lane.frames.len() == 1
            && let Some(bell) = &lane.bell
        {
            // A full doorbell (WouldBlock) is already ringing.
            let _ = bell.send(&[1]);
        }
        drop(lane);
        self.stats.sent += 1;
        Ok(())
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.wake.as_ref().map(|w| w.as_fd())
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recv_all(p: &mut Pipe) -> Vec<Vec<u8>> {
        let mut buf = [0u8; 1514];
        let mut out = Vec::new();
        while let Some(n) = p.recv(&mut buf).unwrap() {
            out.push(buf[..n].to_vec());
        }
        out
    }

    #[test]
    fn pair_carries_frames_both_ways_in_order() {
        let (mut a, mut b) = Pipe::pair(Medium::Ethernet, 1500);
        assert_eq!(a.max_frame_len(), 1514);
        a.send(&[1; 60]).unwrap();
        a.send(&[2; 1514]).unwrap();
        b.send(&[3; 42]).unwrap();
        assert_eq!(b.queued(), 2);
        assert_eq!(recv_all(&mut b), vec![vec![1; 60], vec![2; 1514]]);
        assert_eq!(recv_all(&mut a), vec![vec![3; 42]]);
        assert_eq!(a.stats().sent, 2);
        assert_eq!(b.stats().received, 2);
        assert!(a.fd().is_none());
        assert_eq!(a.poll_timeout(), None);
    }

    #[test]
    fn pollable_ends_poll_readable_while_frames_wait() {
        use std::time::Duration;
        let (mut a, mut b) = Pipe::pollable_pair(Medium::Ip, 1500).unwrap();
        let readable = |p: &Pipe| {
            let fd = p.fd().expect("pollable");
            synack_tap::poll::wait_readable([fd], Some(Duration::ZERO)).unwrap()[0]
        };
        assert!(!readable(&b));
        a.send(&[1; 20]).unwrap();
        a.send(&[2; 20]).unwrap();
        assert!(readable(&b));
        assert!(!readable(&a));
        assert_eq!(b.recv(&mut [0; 1500]).unwrap(), Some(20));
        assert_eq!(b.recv(&mut [0; 1500]).unwrap(), Some(20));
        // Found empty: the bell is silenced.
        assert_eq!(b.recv(&mut [0; 1500]).unwrap(), None);
        assert!(!readable(&b));
        b.send(&[3; 20]).unwrap();
        assert!(readable(&a));
        assert_eq!(recv_all(&mut a), vec![vec![3; 20]]);
        assert!(!readable(&a));
    }

    #[test]
    fn loopback_returns_what_it_sends() {
        let mut l = Pipe::loopback(Medium::Ip, 1500);
        assert_eq!(l.max_frame_len(), 1500);
        l.send(b"\x45abc").unwrap();
        assert_eq!(recv_all(&mut l), vec![b"\x45abc".to_vec()]);
    }

    #[test]
    fn full_queue_drops_and_counts() {
        let (mut a, mut b) = Pipe::pair_with_capacity(Medium::Ethernet, 1500, 2);
        for i in 0..5u8 {
            a.send(&[i; 60]).unwrap();
        }
        assert_eq!(a.stats().sent, 2);
        assert_eq!(a.stats().dropped_full, 3);
        assert_eq!(recv_all(&mut b), vec![vec![0; 60], vec![1; 60]]);
    }

    #[test]
    fn oversize_frames_and_short_buffers_are_errors_not_panics() {
        let (mut a, mut b) = Pipe::pair(Medium::Ethernet, 1500);
        let err = a.send(&[0; 1515]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(a.stats().rejected_too_long, 1);
        a.send(&[7; 100]).unwrap();
        a.send(&[8; 10]).unwrap();
        let err = b.recv(&mut [0; 50]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(b.stats().dropped_short_buffer, 1);
        // The short frame behind it is still delivered.
        assert_eq!(recv_all(&mut b), vec![vec![8; 10]]);
    }

    #[test]
    fn ends_work_across_threads() {
        let (mut a, mut b) = Pipe::pair(Medium::Ip, 1500);
        std::thread::spawn(move || a.send(&[9; 20]).unwrap())
            .join()
            .unwrap();
        assert_eq!(recv_all(&mut b), vec![vec![9; 20]]);
    }
}
