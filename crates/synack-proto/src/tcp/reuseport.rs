//! A SO_REUSEPORT group's selection program: the application's own rule for
//! which member of a group takes a connection, in place of the hash (Linux's
//! SO_ATTACH_REUSEPORT_CBPF and SO_ATTACH_REUSEPORT_EBPF, `reuseport_select_sock`
//! running the group's program).
//!
//! Linux runs a BPF program over the segment; here it is a Rust function
//! over what such a program reads of a TCP segment for no connection: its
//! addresses and ports, the hash the group would pick by, and the group's
//! size. It answers a member's index, in the order the members joined; an
//! answer past the group, or none, leaves the pick to the hash, as Linux
//! falls back when a program's index is out of range. Like Linux's, it
//! runs on every segment that finds the group, a SYN cookie's ACK as well
//! as its SYN: a program that does not pick a 4-tuple's member the same way
//! each time breaks such handshakes, as it would on Linux. It belongs to the
//! group, whichever member set it, and goes when the last member does.

use core::fmt;
use core::net::SocketAddrV4;
use std::sync::Arc;

/// What a selection program sees of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReuseportContext {
    /// The segment's destination: the group's address (the segment's own,
    /// for a group on 0.0.0.0).
    pub local: SocketAddrV4,
    /// Its source.
    pub remote: SocketAddrV4,
    /// The keyed hash of the 4-tuple the stack picks by without a program
    /// (Linux's `skb->hash` to a BPF program).
    pub hash: u32,
    /// How many listeners the group has.
    pub members: usize,
}

/// The function behind a [`ReuseportSelect`].
type SelectFn = dyn Fn(&ReuseportContext) -> Option<usize> + Send + Sync;

/// A group's selection program (see the module).
#[derive(Clone)]
pub struct ReuseportSelect(Arc<SelectFn>);

impl ReuseportSelect {
    /// A program from `select`, which answers the index of the member to
    /// take the segment.
    pub fn new(
        select: impl Fn(&ReuseportContext) -> Option<usize> + Send + Sync + 'static,
    ) -> ReuseportSelect {
        ReuseportSelect(Arc::new(select))
    }

    /// The member it picks, if it is one of the group's.
    pub fn select(&self, ctx: &ReuseportContext) -> Option<usize> {
        (self.0)(ctx).filter(|&i| i < ctx.members)
    }
}

impl fmt::Debug for ReuseportSelect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReuseportSelect(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    #[test]
    fn an_answer_past_the_group_is_no_answer() {
        let by_port = ReuseportSelect::new(|c| Some(usize::from(c.remote.port() % 4)));
        let ctx = |port, members| ReuseportContext {
            local: SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 80),
            remote: SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), port),
            hash: 7,
            members,
        };
        assert_eq!(by_port.select(&ctx(40_001, 3)), Some(1));
        assert_eq!(by_port.select(&ctx(40_003, 3)), None, "index 3 of 3");
        assert_eq!(by_port.select(&ctx(40_003, 4)), Some(3));
        assert_eq!(format!("{by_port:?}"), "ReuseportSelect(..)");
    }
}
