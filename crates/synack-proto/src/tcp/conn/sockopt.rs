//! The socket options a connection keeps: the buffer sizes stay inline, the
//! flag options (TCP_NODELAY, TCP_CORK, SO_KEEPALIVE) are bits of the
//! connection's [`Life`] byte, the rest sit in a box allocated only while
//! the application has one of them set (DESIGN.md §4: an idle connection
//! stays small).

use super::{Life, SocketOptions};
use crate::config::CongestionAlgorithm;
use crate::time::Duration;

/// [`SocketOptions`] as a connection stores them: 16 bytes instead of 112
/// (and three bits of [`Life`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ConnOptions {
    /// SO_RCVBUF; see [`SocketOptions::recv_buffer`]. A [`BufferSize`].
    recv_buffer: BufferSize,
    /// SO_SNDBUF; see [`SocketOptions::send_buffer`].
    send_buffer: BufferSize,
    /// Everything else; `None` while all of it is at its default.
    cold: Option<Box<ColdOptions>>,
}

/// An `Option<usize>` buffer size in 4 bytes: `u32::MAX` is `None`, sizes
/// saturate at 4 GiB - 2 (a ring buffer holds at most 4 GiB - 1 anyway).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct BufferSize(u32);

impl Default for BufferSize {
    fn default() -> Self {
        BufferSize::NONE
    }
}

impl BufferSize {
    const NONE: BufferSize = BufferSize(u32::MAX);

    fn new(size: Option<usize>) -> Self {
        match size {
            None => BufferSize::NONE,
            Some(n) => BufferSize(u32::try_from(n).unwrap_or(u32::MAX).min(u32::MAX - 1)),
        }
    }

    fn get(self) -> Option<usize> {
        (self != BufferSize::NONE).then_some(self.0 as usize)
    }
}

/// The options few connections set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ColdOptions {
    pub keep_idle: Option<Duration>,
    pub keep_interval: Option<Duration>,
    pub keep_count: Option<u8>,
    pub user_timeout: Option<Duration>,
    pub linger: Option<Duration>,
    pub congestion: Option<CongestionAlgorithm>,
    /// TCP_MAXSEG; 0: unset. Read when the handshake sets the MSS.
    pub max_segment: u16,
    /// TCP_SYNCNT; 0: unset. Read when a SYN is retransmitted.
    pub syn_retries: u8,
}

impl ConnOptions {
    pub fn new(o: &SocketOptions) -> Self {
        let cold = ColdOptions {
            keep_idle: o.keep_idle,
            keep_interval: o.keep_interval,
            keep_count: o.keep_count,
            user_timeout: o.user_timeout,
            linger: o.linger,
            congestion: o.congestion,
            max_segment: o.max_segment,
            syn_retries: o.syn_retries,
        };
        ConnOptions {
            recv_buffer: BufferSize::new(o.recv_buffer),
            send_buffer: BufferSize::new(o.send_buffer),
            cold: (cold != ColdOptions::default()).then(|| Box::new(cold)),
        }
    }

    /// The options in force, as the application sees them (the flag
    /// options from `life`).
    pub fn get(&self, life: &Life) -> SocketOptions {
        let cold = self.cold();
        SocketOptions {
            nodelay: life.nodelay(),
            cork: life.cork(),
            keepalive: life.keepalive(),
            keep_idle: cold.keep_idle,
            keep_interval: cold.keep_interval,
            keep_count: cold.keep_count,
            user_timeout: cold.user_timeout,
            linger: cold.linger,
            recv_buffer: self.recv_buffer(),
            send_buffer: self.send_buffer(),
            syn_retries: cold.syn_retries,
            max_segment: cold.max_segment,
            congestion: cold.congestion,
        }
    }

    /// TCP_MAXSEG; 0: unset.
    pub fn max_segment(&self) -> u16 {
        self.cold.as_ref().map_or(0, |c| c.max_segment)
    }

    /// TCP_SYNCNT; 0: unset.
    pub fn syn_retries(&self) -> u8 {
        self.cold.as_ref().map_or(0, |c| c.syn_retries)
    }

    /// SO_RCVBUF, if set.
    pub fn recv_buffer(&self) -> Option<usize> {
        self.recv_buffer.get()
    }

    pub fn set_recv_buffer(&mut self, size: usize) {
        self.recv_buffer = BufferSize::new(Some(size));
    }

    /// SO_SNDBUF, if set.
    pub fn send_buffer(&self) -> Option<usize> {
        self.send_buffer.get()
    }

    pub fn set_send_buffer(&mut self, size: usize) {
        self.send_buffer = BufferSize::new(Some(size));
    }

    /// The rarely set options (all `None` unless the application set them).
    pub fn cold(&self) -> ColdOptions {
        self.cold.as_deref().copied().unwrap_or_default()
    }

    /// Changes the rarely set options: the box exists only while one of
    /// them differs from its default.
    pub fn update_cold(&mut self, f: impl FnOnce(&mut ColdOptions)) {
        let mut cold = self.cold();
        f(&mut cold);
        self.cold = (cold != ColdOptions::default()).then(|| Box::new(cold));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flag options as the connection keeps them.
    fn life_of(o: &SocketOptions) -> Life {
        let mut life = Life::default();
        life.set_nodelay(o.nodelay);
        life.set_cork(o.cork);
        life.set_keepalive(o.keepalive);
        life
    }

    #[test]
    fn default_options_allocate_nothing_and_round_trip() {
        let o = SocketOptions {
            nodelay: true,
            keepalive: true,
            recv_buffer: Some(4096),
            ..SocketOptions::default()
        };
        let c = ConnOptions::new(&o);
        assert!(c.cold.is_none());
        assert_eq!(c.get(&life_of(&o)), o);
    }

    #[test]
    fn segment_size_and_syn_count_are_cold_options() {
        let o = SocketOptions {
            cork: true,
            max_segment: 1000,
            syn_retries: 3,
            ..SocketOptions::default()
        };
        let mut c = ConnOptions::new(&o);
        assert!(c.cold.is_some());
        assert_eq!((c.max_segment(), c.syn_retries()), (1000, 3));
        assert_eq!(c.get(&life_of(&o)), o);
        c.update_cold(|c| (c.max_segment, c.syn_retries) = (0, 0));
        assert!(c.cold.is_none());
        assert_eq!((c.max_segment(), c.syn_retries()), (0, 0));
    }

    #[test]
    fn cold_options_are_boxed_while_set_and_freed_when_reset() {
        let o = SocketOptions {
            user_timeout: Some(Duration::from_secs(5)),
            keep_count: Some(3),
            ..SocketOptions::default()
        };
        let mut c = ConnOptions::new(&o);
        assert!(c.cold.is_some());
        assert_eq!(c.get(&life_of(&o)), o);
        c.update_cold(|c| c.user_timeout = None);
        assert!(c.cold.is_some());
        c.update_cold(|c| c.keep_count = None);
        assert!(c.cold.is_none());
        assert_eq!(c.get(&Life::default()), SocketOptions::default());
    }

    #[test]
    fn buffer_sizes_round_trip_in_four_bytes() {
        for size in [None, Some(0), Some(4096), Some(u32::MAX as usize - 2)] {
            assert_eq!(BufferSize::new(size).get(), size);
        }
        let huge = BufferSize::new(Some(u32::MAX as usize + 10)).get();
        assert_eq!(huge, Some(u32::MAX as usize - 1), "saturates, stays set");
    }

    #[test]
    fn inline_part_is_16_bytes() {
        assert!(core::mem::size_of::<ConnOptions>() <= 16);
    }
}
