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
    /// Bytes of IP options the stack writes on every segment (IP_OPTIONS,
    /// or a passive open's answer to its SYN's: `stack::tcp_ip_options`),
    /// at most 40; Linux's `icsk_ext_hdr_len`. The send MSS makes room.
    pub ip_options: u8,
    /// SO_OOBINLINE.
    pub oob_inline: bool,
    /// Every segment carries the MD5 signature option (RFC 2385): its 20
    /// bytes count beside `ip_options` (the bit the output path reads is
    /// `Negotiated`'s).
    pub md5: bool,
    /// TCP_LINGER2.
    pub linger2: Linger2,
    /// TCP_DEFER_ACCEPT, in SYN-ACK retransmissions (0: off).
    pub defer_accept: u8,
    /// A passive open's bare ACK was dropped for TCP_DEFER_ACCEPT (Linux's
    /// request sock `acked`): its state, kept with the option it follows.
    pub defer_acked: bool,
    /// SO_RCVLOWAT; 0 or 1: unset (1), kept only above 1.
    pub recv_lowat: u32,
    /// TCP_NOTSENT_LOWAT; 0: unset (`tcp_notsent_lowat`). Set on the
    /// connection (or inherited from its listener), never through
    /// [`SocketOptions`], whose 128 bytes every connection copies.
    pub notsent_lowat: u32,
    /// TCP_WINDOW_CLAMP: the most the receive window offers; 0: unset.
    /// Set as TCP_NOTSENT_LOWAT is, never through [`SocketOptions`].
    pub window_clamp: u32,
}

/// TCP_DEFER_ACCEPT's seconds as SYN-ACK retransmissions (Linux
/// `secs_to_retrans` with a 1 s initial timeout doubling to 120 s): the
/// fewest whose backoffs add up to `secs`; 0 stays off.
pub fn defer_accept_retransmits(secs: u32) -> u8 {
    if secs == 0 {
        return 0;
    }
    let (mut retransmits, mut timeout, mut period) = (1u8, 1u32, 1u32);
    while secs > period && retransmits < u8::MAX {
        retransmits += 1;
        timeout = (timeout * 2).min(120);
        period += timeout;
    }
    retransmits
}

/// What `getsockopt(TCP_DEFER_ACCEPT)` reads back: the seconds the
/// retransmissions' backoffs add up to (Linux `retrans_to_secs`).
pub fn defer_accept_secs(retransmits: u8) -> u32 {
    let (mut timeout, mut period) = (1u32, 0u32);
    for i in 0..retransmits {
        if i > 0 {
            timeout = (timeout * 2).min(120);
        }
        period += timeout;
    }
    period
}

/// TCP_LINGER2: how long an orphaned connection waits in FIN-WAIT-2 for
/// the peer's FIN (Linux `tp->linger2`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Linger2 {
    /// `tcp_fin_timeout` (Linux's 0).
    #[default]
    Default,
    /// No wait (Linux's negative values): `close` in FIN-WAIT-2 resets
    /// the connection (`TCPAbortOnLinger`), and an orphan reaching
    /// FIN-WAIT-2 goes at once (`TCPAbortOnData`).
    Abort,
    /// This long; at most [`MAX_LINGER2`].
    Timeout(Duration),
}

/// Linux TCP_FIN_TIMEOUT_MAX: the longest TCP_LINGER2.
pub const MAX_LINGER2: Duration = Duration::from_secs(120);

impl Linger2 {
    /// As Linux keeps what the application set: a zero timeout is the
    /// default, a longer one than [`MAX_LINGER2`] is cut to it.
    pub fn normalized(self) -> Linger2 {
        match self {
            Linger2::Timeout(d) if d.is_zero() => Linger2::Default,
            Linger2::Timeout(d) => Linger2::Timeout(d.min(MAX_LINGER2)),
            other => other,
        }
    }
}

/// The rare options as `o` sets them.
fn cold_of(o: &SocketOptions) -> ColdOptions {
    ColdOptions {
        keep_idle: o.keep_idle,
        keep_interval: o.keep_interval,
        keep_count: o.keep_count,
        user_timeout: o.user_timeout,
        linger: o.linger,
        congestion: o.congestion,
        max_segment: o.max_segment,
        syn_retries: o.syn_retries,
        ip_options: 0,
        oob_inline: o.oob_inline,
        md5: false,
        linger2: o.linger2,
        defer_accept: o.defer_accept,
        defer_acked: false,
        recv_lowat: o.recv_lowat,
        notsent_lowat: 0,
        window_clamp: 0,
    }
}

/// The box for the rare options some of which `o` sets: out of line, so
/// that [`ConnOptions::new`] is inline and its common case has no call.
#[cold]
#[inline(never)]
fn boxed_cold(o: &SocketOptions) -> Option<Box<ColdOptions>> {
    Some(Box::new(cold_of(o)))
}

/// Whether `cold_of(o)` differs from `ColdOptions::default()` (all `None`
/// and zero), read field by field without a short circuit: one test of
/// the lot instead of a branch per field.
#[inline]
fn any_cold_set(o: &SocketOptions) -> bool {
    o.keep_idle.is_some()
        | o.keep_interval.is_some()
        | o.keep_count.is_some()
        | o.user_timeout.is_some()
        | o.linger.is_some()
        | o.congestion.is_some()
        | (o.max_segment != 0)
        | (o.syn_retries != 0)
        | o.oob_inline
        | (o.linger2 != Linger2::Default)
        | (o.defer_accept != 0)
        | (o.recv_lowat > 1)
}

impl ConnOptions {
    /// Every connection is made with this (twice a handshake): the rare
    /// options are tested where they are, and copied into a box only when
    /// one is set (building the copy first and comparing it with the
    /// default cost about 35 instructions a connection).
    #[inline]
    pub fn new(o: &SocketOptions) -> Self {
        ConnOptions {
            recv_buffer: BufferSize::new(o.recv_buffer),
            send_buffer: BufferSize::new(o.send_buffer),
            cold: if any_cold_set(o) { boxed_cold(o) } else { None },
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
            oob_inline: cold.oob_inline,
            linger2: cold.linger2,
            defer_accept: cold.defer_accept,
            recv_lowat: cold.recv_lowat,
        }
    }

    /// SO_RCVLOWAT: the bytes a read waits for (1 unless set).
    #[inline]
    pub fn recv_lowat(&self) -> u32 {
        self.cold.as_ref().map_or(1, |c| c.recv_lowat.max(1))
    }

    /// TCP_WINDOW_CLAMP as set (0: unset).
    #[inline]
    pub fn window_clamp(&self) -> u32 {
        self.cold.as_ref().map_or(0, |c| c.window_clamp)
    }

    /// TCP_NOTSENT_LOWAT as set (0: unset, `tcp_notsent_lowat` applies).
    #[inline]
    pub fn notsent_lowat(&self) -> u32 {
        self.cold.as_ref().map_or(0, |c| c.notsent_lowat)
    }

    /// TCP_DEFER_ACCEPT in SYN-ACK retransmissions, and whether a bare ACK
    /// was dropped for it.
    pub fn defer_accept(&self) -> (u8, bool) {
        self.cold
            .as_ref()
            .map_or((0, false), |c| (c.defer_accept, c.defer_acked))
    }

    /// Whether a passive open's bare ACK is dropped after `retransmits`
    /// SYN-ACK retransmissions (Linux `tcp_check_req`); notes it if so.
    #[inline]
    pub fn defers_accept(&mut self, retransmits: u8) -> bool {
        match self.cold.as_deref_mut() {
            Some(c) if c.defer_accept > retransmits => {
                c.defer_acked = true;
                true
            }
            _ => false,
        }
    }

    /// TCP_MAXSEG; 0: unset.
    pub fn max_segment(&self) -> u16 {
        self.cold.as_ref().map_or(0, |c| c.max_segment)
    }

    /// Bytes of IP options on every segment (0: none).
    pub fn ip_options_len(&self) -> u8 {
        self.cold.as_ref().map_or(0, |c| c.ip_options)
    }

    /// Bytes every segment carries past the timestamp option: IP options
    /// and the MD5 signature option (RFC 2385).
    pub fn extra_header_len(&self) -> u8 {
        self.cold.as_ref().map_or(0, |c| {
            let md5 = if c.md5 {
                crate::tcp::md5::MD5_OPTION_LEN as u8
            } else {
                0
            };
            c.ip_options + md5
        })
    }

    /// SO_OOBINLINE.
    pub fn oob_inline(&self) -> bool {
        self.cold.as_ref().is_some_and(|c| c.oob_inline)
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

    /// `any_cold_set` against the comparison it replaced: every subset of
    /// the rare options set (each alone, and every mix) boxes exactly when
    /// the copy differs from the default.
    #[test]
    fn the_rare_options_box_as_the_default_comparison_said() {
        for mask in 0u16..4096 {
            let on = |bit: u16| mask & (1 << bit) != 0;
            let o = SocketOptions {
                keep_idle: on(0).then_some(Duration::from_secs(7)),
                keep_interval: on(1).then_some(Duration::ZERO),
                keep_count: on(2).then_some(0),
                user_timeout: on(3).then_some(Duration::from_millis(1)),
                linger: on(4).then_some(Duration::ZERO),
                congestion: on(5).then_some(CongestionAlgorithm::Reno),
                max_segment: if on(6) { 536 } else { 0 },
                syn_retries: u8::from(on(7)),
                oob_inline: on(8),
                linger2: if on(9) {
                    Linger2::Abort
                } else {
                    Linger2::Default
                },
                defer_accept: u8::from(on(10)) * 3,
                recv_lowat: if on(11) { 100 } else { 0 },
                ..SocketOptions::default()
            };
            let differs = cold_of(&o) != ColdOptions::default();
            assert_eq!(any_cold_set(&o), differs, "mask {mask:#010b}");
            assert_eq!(differs, mask != 0);
            let c = ConnOptions::new(&o);
            assert_eq!(c.cold.is_some(), differs);
            assert_eq!(c.cold(), cold_of(&o));
            assert_eq!(c.get(&life_of(&o)), o);
        }
    }

    /// Linux's conversions: 1 s is one retransmission, 3 s two (1 + 2),
    /// 7 s three, 8 s four (read back as 15); 0 is off.
    #[test]
    fn defer_accept_seconds_convert_as_linux() {
        let cases = [
            (0, 0, 0),
            (1, 1, 1),
            (2, 2, 3),
            (3, 2, 3),
            (7, 3, 7),
            (8, 4, 15),
            (30, 5, 31),
        ];
        for (secs, retransmits, back) in cases {
            assert_eq!(defer_accept_retransmits(secs), retransmits, "{secs} s");
            assert_eq!(defer_accept_secs(retransmits), back, "{retransmits}");
        }
        assert_eq!(defer_accept_secs(8), 1 + 2 + 4 + 8 + 16 + 32 + 64 + 120);
    }

    #[test]
    fn inline_part_is_16_bytes() {
        assert!(core::mem::size_of::<ConnOptions>() <= 16);
    }
}
