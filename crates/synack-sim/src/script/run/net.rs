//! The stack under test on a virtual clock: frames in, frames out, timers.
//!
//! The script's clock and synack's are the same: the script starts at
//! [`Instant::ZERO`]. Every packet synack sends is stamped with the virtual
//! time it left and queued until a `>` line claims it, as packetdrill's
//! sniffer queues what the tun device delivers.

use std::collections::VecDeque;

use synack_proto::stack::{Event, IfaceId, RxOffload, Stack};
use synack_proto::{Duration, Instant};

use super::frames::Sent;

/// The most frames one input may make synack send before the runner calls
/// it a livelock (a window of 64 KiB at MSS 48 is ~1,400 segments).
const MAX_FRAMES_PER_INPUT: usize = 100_000;

/// A packet synack sent, with when.
#[derive(Clone, Debug)]
pub struct Captured {
    pub at: Instant,
    pub packet: Sent,
}

/// The stack, its clock and what it sent.
pub struct Net {
    pub stack: Stack,
    pub now: Instant,
    /// Packets not yet claimed by a `>` line, oldest first.
    pub sent: VecDeque<Captured>,
    /// Events for the socket layer, oldest first.
    pub events: VecDeque<Event>,
    /// A packet synack sent that does not parse: the run fails on it.
    pub malformed: Option<(Instant, String)>,
    buf: Vec<u8>,
}

impl core::fmt::Debug for Net {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Net")
            .field("now", &self.now)
            .field("sent", &self.sent.len())
            .finish_non_exhaustive()
    }
}

impl Net {
    pub fn new(stack: Stack) -> Net {
        Net {
            stack,
            now: Instant::ZERO,
            sent: VecDeque::new(),
            events: VecDeque::new(),
            malformed: None,
            // Room for a 64 KiB IP packet: synack never sends more than its MTU.
            buf: vec![0; 65_536],
        }
    }

    /// Collects what the stack sent and raised after an input or command.
    pub fn drain(&mut self) -> Result<(), String> {
        let mut frames = 0;
        while let Some(n) = self.stack.poll_transmit(self.now, &mut self.buf) {
            frames += 1;
            if frames > MAX_FRAMES_PER_INPUT {
                return Err(format!(
                    "synack sent more than {MAX_FRAMES_PER_INPUT} packets at {} without time moving",
                    self.now
                ));
            }
            match Sent::parse(&self.buf[..n]) {
                Ok(packet) => self.sent.push_back(Captured {
                    at: self.now,
                    packet,
                }),
                Err(e) => {
                    self.malformed.get_or_insert((self.now, e));
                }
            }
        }
        while let Some(e) = self.stack.poll_event() {
            self.events.push_back(e);
        }
        Ok(())
    }

    /// Injects a frame now; with `gso_size`, as a GRO super-packet of
    /// segments of that size (its checksum is complete, so still checked).
    pub fn inject(&mut self, frame: &[u8], gso_size: Option<u16>) -> Result<(), String> {
        let rx = RxOffload {
            csum_trusted: false,
            gso_size,
        };
        self.stack.handle_frame_rx(self.now, IfaceId(0), frame, rx);
        self.drain()
    }

    /// The next time the stack wants `handle_timeout`, if any.
    pub fn next_timer(&self) -> Option<Instant> {
        self.stack.poll_timeout()
    }

    /// Fires the stack's next timer if it is due at or before `limit`,
    /// moving the clock to it; returns whether one fired.
    pub fn fire_next_timer(&mut self, limit: Instant) -> Result<bool, String> {
        match self.next_timer() {
            Some(t) if t <= limit => {
                self.now = self.now.max(t);
                self.stack.handle_timeout(self.now);
                self.drain()?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Moves the clock to `t` (never backwards) without firing timers.
    pub fn set_clock(&mut self, t: Instant) {
        self.now = self.now.max(t);
    }

    pub fn since_start(&self) -> Duration {
        self.now.saturating_duration_since(Instant::ZERO)
    }
}
