//! The socket options a connection keeps: the few that most connections
//! set or the fast path reads stay inline, the rest sit in a box allocated
//! only while the application has one of them set (DESIGN.md §4: an idle
//! connection stays small).

use super::SocketOptions;
use crate::config::CongestionAlgorithm;
use crate::time::Duration;

/// [`SocketOptions`] as a connection stores them: 24 bytes instead of 112.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ConnOptions {
    /// SO_RCVBUF; see [`SocketOptions::recv_buffer`]. A [`BufferSize`].
    recv_buffer: BufferSize,
    /// SO_SNDBUF; see [`SocketOptions::send_buffer`].
    send_buffer: BufferSize,
    /// Everything else; `None` while all of it is at its default.
    cold: Option<Box<ColdOptions>>,
    /// TCP_MAXSEG; 0: unset.
    pub max_segment: u16,
    /// TCP_SYNCNT; 0: unset.
    pub syn_retries: u8,
    pub nodelay: bool,
    pub cork: bool,
    pub keepalive: bool,
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
        };
        ConnOptions {
            recv_buffer: BufferSize::new(o.recv_buffer),
            send_buffer: BufferSize::new(o.send_buffer),
            cold: (cold != ColdOptions::default()).then(|| Box::new(cold)),
            max_segment: o.max_segment,
            syn_retries: o.syn_retries,
            nodelay: o.nodelay,
            cork: o.cork,
            keepalive: o.keepalive,
        }
    }

    /// The options in force, as the application sees them.
    pub fn get(&self) -> SocketOptions {
        let cold = self.cold();
        SocketOptions {
            nodelay: self.nodelay,
            cork: self.cork,
            keepalive: self.keepalive,
            keep_idle: cold.keep_idle,
            keep_interval: cold.keep_interval,
            keep_count: cold.keep_count,
            user_timeout: cold.user_timeout,
            linger: cold.linger,
            recv_buffer: self.recv_buffer(),
            send_buffer: self.send_buffer(),
            syn_retries: self.syn_retries,
            max_segment: self.max_segment,
            congestion: cold.congestion,
        }
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

    #[test]
    fn default_options_allocate_nothing_and_round_trip() {
        let o = SocketOptions {
            nodelay: true,
            recv_buffer: Some(4096),
            max_segment: 1000,
            ..SocketOptions::default()
        };
        let c = ConnOptions::new(&o);
        assert!(c.cold.is_none());
        assert_eq!(c.get(), o);
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
        assert_eq!(c.get(), o);
        c.update_cold(|c| c.user_timeout = None);
        assert!(c.cold.is_some());
        c.update_cold(|c| c.keep_count = None);
        assert!(c.cold.is_none());
        assert_eq!(c.get(), SocketOptions::default());
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
    fn inline_part_is_24_bytes() {
        assert!(core::mem::size_of::<ConnOptions>() <= 24);
    }
}
