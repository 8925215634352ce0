//! Loose and strict source routes (RFC 791 §3.1 "Loose Source and Record
//! Route", "Strict Source and Record Route"; RFC 1122 §3.2.1.8(c): a host
//! "MUST support originating a source route and MUST be able to act as the
//! final destination of a source route", and the return route "MUST be
//! reversed").
//!
//! On the wire a route is the option's kind, length, a pointer to the next
//! slot (4 for the first), then four-octet slots: the hops still to visit
//! from the pointer on, and before it the hops already visited, each
//! recorded by the module that sent the datagram on (its own address on
//! the way out). The datagram's destination is the hop it is travelling
//! to; the last slot is the final destination.
//!
//! Applications write a route as Linux's IP_OPTIONS takes it: the hops in
//! order, the first of them where the datagram goes first (it becomes the
//! IP destination), the final destination left to the stack, which writes
//! it into the last slot (Linux's `ip_options_compile` for a user's option
//! and `ip_options_build`). So the option keeps its length: `[kind, 3 + 4n,
//! 4, h1, ..., hn]` leaves for `h1` as `[kind, 3 + 4n, 4, h2, ..., hn,
//! destination]`. IP_RETOPTS hands back a received route reversed in that
//! same form, so it is sent back as it came.

use core::net::Ipv4Addr;

use super::{MAX_LEN, Options, kind};

/// The most slots a route holds: 40 octets of options, 3 of them the
/// option's own.
const MAX_HOPS: usize = (MAX_LEN - 3) / 4;

/// What a source route asks of this host, its datagram here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtUs {
    /// The route ends here (its pointer is past its length, or every hop
    /// left is one of our addresses): this host is its final destination.
    Done,
    /// The next hop is elsewhere: the datagram is for forwarding.
    Forward(Ipv4Addr),
}

/// RFC 791: the hops from the pointer on that are this host's own are
/// passed at once (Linux's `ip_options_rcv_srr` does the same); the first
/// that is not decides. `found.source_route` must be set.
pub fn at_us(area: &[u8], found: &Options, is_ours: impl Fn(Ipv4Addr) -> bool) -> AtUs {
    let Some(start) = found.source_route else {
        return AtUs::Done;
    };
    match next_elsewhere(option(area, start), is_ours) {
        Some((_, hop)) => AtUs::Forward(hop),
        None => AtUs::Done,
    }
}

/// RFC 791: a route that goes on past this host (`at_us` says `Forward`)
/// is passed on: its next hop that is not one of ours becomes the
/// destination, this host's address on the way out to it (`me_towards`
/// the hop) is recorded in its slot, and the pointer moves past it
/// (Linux's `ip_forward_options`). Returns the next hop, and whether the
/// route is strict (that hop must then be on the link); `None` when the
/// route ends here.
pub fn pass_on(
    area: &mut [u8],
    found: &Options,
    is_ours: impl Fn(Ipv4Addr) -> bool,
    me_towards: impl FnOnce(Ipv4Addr) -> Ipv4Addr,
) -> Option<(Ipv4Addr, bool)> {
    let start = usize::from(found.source_route?);
    let end = start + usize::from(area[start + 1]);
    let option = &mut area[start..end];
    let (pointer, hop) = next_elsewhere(option, is_ours)?;
    option[pointer - 1..pointer + 3].copy_from_slice(&me_towards(hop).octets());
    option[2] = (pointer + 4) as u8;
    Some((hop, option[0] == kind::STRICT_SOURCE_ROUTE))
}

/// The first hop from a route option's pointer on that is not one of
/// ours, and the pointer naming its slot.
fn next_elsewhere(option: &[u8], is_ours: impl Fn(Ipv4Addr) -> bool) -> Option<(usize, Ipv4Addr)> {
    let mut pointer = usize::from(option[2]);
    while pointer + 3 <= option.len() {
        let hop = slot(option, pointer);
        if !is_ours(hop) {
            return Some((pointer, hop));
        }
        pointer += 4;
    }
    None
}

/// The way back along a source route that ended at this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReturnRoute {
    kind: u8,
    /// The hops back, the first one first.
    hops: [Ipv4Addr; MAX_HOPS],
    len: u8,
}

impl ReturnRoute {
    /// RFC 1122 §3.2.1.8(c): the recorded hops of the route in `area`
    /// (`found.source_route`), reversed, for a reply to `src`: the last hop
    /// recorded is the reply's first. A first hop recorded as `src` itself
    /// is left out (RFC 1812 §5.2.4.1: the sender cannot be a hop of its own
    /// route), and so is any hop that is this host. `None` when no hop is
    /// left: the reply goes straight back.
    pub fn reversed(
        area: &[u8],
        found: &Options,
        src: Ipv4Addr,
        is_ours: impl Fn(Ipv4Addr) -> bool,
    ) -> Option<ReturnRoute> {
        let option = option(area, found.source_route?);
        // The slots before the pointer (all of them once it is past the end).
        let recorded = (usize::from(option[2]).min(option.len() + 1) - 4) / 4;
        let mut route = ReturnRoute {
            kind: option[0],
            hops: [Ipv4Addr::UNSPECIFIED; MAX_HOPS],
            len: 0,
        };
        for i in (0..recorded).rev() {
            let hop = slot(option, 4 + 4 * i);
            if is_ours(hop) || (i == 0 && hop == src) {
                continue;
            }
            route.hops[usize::from(route.len)] = hop;
            route.len += 1;
        }
        (route.len > 0).then_some(route)
    }

    /// The hop the reply goes to first (its IP destination).
    pub fn first_hop(&self) -> Ipv4Addr {
        self.hops[0]
    }

    /// Whether it is a strict route.
    pub fn is_strict(&self) -> bool {
        self.kind == kind::STRICT_SOURCE_ROUTE
    }

    fn hops(&self) -> &[Ipv4Addr] {
        &self.hops[..usize::from(self.len)]
    }

    /// The option's length, either form.
    pub fn option_len(&self) -> usize {
        3 + 4 * usize::from(self.len)
    }

    /// As an application sets it (IP_OPTIONS, and what IP_RETOPTS hands
    /// back): `[kind, len, 4, hops...]`. Returns its length.
    pub fn write_as_set(&self, out: &mut [u8]) -> usize {
        self.write(self.hops().iter().copied(), out)
    }

    /// As it leaves for [`Self::first_hop`] towards `dst`: the other hops,
    /// then `dst` in the last slot. Returns its length.
    pub fn write_on_wire(&self, dst: Ipv4Addr, out: &mut [u8]) -> usize {
        let rest = self.hops()[1..].iter().copied();
        self.write(rest.chain(core::iter::once(dst)), out)
    }

    fn write(&self, slots: impl Iterator<Item = Ipv4Addr>, out: &mut [u8]) -> usize {
        let len = self.option_len();
        out[..3].copy_from_slice(&[self.kind, len as u8, 4]);
        for (i, hop) in slots.enumerate() {
            out[3 + 4 * i..7 + 4 * i].copy_from_slice(&hop.octets());
        }
        len
    }
}

/// A route option as an application set it ([`ReturnRoute::write_as_set`]'s
/// form), for sending: its first hop, and the option rewritten in `area`
/// to its wire form with the last slot left for the destination
/// ([`fill_destination`]). `None` unless its pointer is 4 and it holds at
/// least one whole hop (Linux's `ip_options_compile` refuses the rest).
pub(super) fn prepare_for_sending(option: &mut [u8]) -> Option<Ipv4Addr> {
    let len = option.len();
    if option[2] != 4 || len < 7 || !(len - 3).is_multiple_of(4) {
        return None;
    }
    let first = slot(option, 4);
    option.copy_within(7..len, 3);
    Some(first)
}

/// Writes `dst` into the last slot of a route option prepared by
/// [`prepare_for_sending`].
pub(super) fn fill_destination(option: &mut [u8], dst: Ipv4Addr) {
    let len = option.len();
    option[len - 4..].copy_from_slice(&dst.octets());
}

/// A loose route option with `pointer` and `slots`, unpadded (tests build
/// routes as received or as set with it).
#[cfg(test)]
pub(crate) fn loose(pointer: u8, slots: &[Ipv4Addr]) -> Vec<u8> {
    let mut o = vec![kind::LOOSE_SOURCE_ROUTE, 3 + 4 * slots.len() as u8, pointer];
    for s in slots {
        o.extend_from_slice(&s.octets());
    }
    o
}

/// The option that starts at `start` in a checked area.
fn option(area: &[u8], start: u8) -> &[u8] {
    let start = usize::from(start);
    &area[start..start + usize::from(area[start + 1])]
}

/// The address in the slot a pointer value names (RFC 791 counts from 1).
fn slot(option: &[u8], pointer: usize) -> Ipv4Addr {
    let s = &option[pointer - 1..pointer + 3];
    Ipv4Addr::new(s[0], s[1], s[2], s[3])
}
