//! Path MTU discovery for datagram sockets, UDP's and ping's (RFC 1191;
//! Linux's IP_MTU_DISCOVER and IP_MTU): the path MTU a datagram to a
//! destination meets, what a "fragmentation needed" quoting one of their
//! datagrams teaches, and where a datagram without DF is cut.
//!
//! The path MTU is the route's interface MTU, lowered by what a report
//! taught for the destination (`ip::pmtu::PathMtuCache`, shared with TCP's
//! connections). Each socket's [`PmtuDiscovery`] mode turns it into DF or
//! a refusal as the datagram is sent (`udp_send_impl`, `ping_send_impl`);
//! a datagram without DF leaves in fragments of the path MTU
//! (`transmit_datagram`), as Linux's `ip_fragment` cuts to the route's.

use core::net::Ipv4Addr;

use super::Stack;
use crate::ip::icmp::{self, IcmpErrorKind, TransportError};
use crate::ip::pmtu::PmtuDiscovery;

impl Stack {
    /// The path MTU to `dst` and the MTU of the link the route leaves by,
    /// or `None` without a route.
    pub(super) fn path_and_link_mtu(&self, dst: Ipv4Addr) -> Option<(u16, u16)> {
        let hop = self.hop_to(dst)?;
        let link = u16::try_from(self.iface_mtu(hop.iface)).unwrap_or(u16::MAX);
        Some((self.learned_mtu(dst, link), link))
    }

    /// `link`, lowered by what a report taught for `dst`.
    pub(super) fn learned_mtu(&self, dst: Ipv4Addr, link: u16) -> u16 {
        if self.path_mtus.is_empty() {
            return link;
        }
        self.path_mtus
            .peek(self.now, dst)
            .map_or(link, |m| m.min(link))
    }

    /// The path MTU to `dst` as a datagram socket meets it (what `ip route
    /// get` shows as the route's mtu, a learned one included); `None`
    /// without a route.
    pub fn path_mtu(&self, dst: Ipv4Addr) -> Option<u16> {
        self.path_and_link_mtu(dst).map(|(path, _)| path)
    }

    /// The MTU of the link the route to `dst` leaves by (what `Probe`
    /// bounds a datagram by); `None` without a route.
    pub fn link_mtu(&self, dst: Ipv4Addr) -> Option<u16> {
        self.path_and_link_mtu(dst).map(|(_, link)| link)
    }

    /// DF for a datagram of `len` bytes to `via` (its first hop) under
    /// `mode`, or the MTU it exceeds when the mode refuses it. A group's
    /// datagram that leaves by interface `multicast_if` (IP_MULTICAST_IF),
    /// whatever the routes say, takes that interface's MTU as its path's,
    /// as the route Linux builds for it.
    pub(super) fn datagram_dont_fragment(
        &self,
        mode: PmtuDiscovery,
        (via, multicast_if): (Ipv4Addr, Option<usize>),
        len: usize,
    ) -> Result<bool, u16> {
        if mode == PmtuDiscovery::Dont {
            return Ok(false);
        }
        let mtus = match multicast_if {
            Some(iface) => {
                let mtu = u16::try_from(self.iface_mtu(iface)).unwrap_or(u16::MAX);
                Some((mtu, mtu))
            }
            None => self.path_and_link_mtu(via),
        };
        // No route: the datagram is lost on its way out (`OutNoRoutes`),
        // whatever its DF says.
        let Some((path, link)) = mtus else {
            return Ok(false);
        };
        mode.dont_fragment(len, path, link)
    }

    /// RFC 1191 §5: a "fragmentation needed" quoting a datagram one of our
    /// sockets sent lowers the path MTU to its destination (validated as
    /// TCP's: not at or above the quoted datagram's size, never below
    /// `route.min_pmtu`), whatever the socket's mode, as Linux's
    /// `ipv4_sk_update_pmtu`. The caller has found the socket.
    pub(super) fn learn_datagram_pmtu(&mut self, err: &TransportError<'_>) {
        let IcmpErrorKind::FragNeeded { next_hop_mtu } = err.error.kind else {
            return;
        };
        let dst = err.quoted.dst_addr;
        let Some((current, _)) = self.path_and_link_mtu(dst) else {
            return;
        };
        let quoted_len = err
            .quoted
            .payload_len
            .saturating_add(u16::from(crate::wire::ipv4::HEADER_LEN as u8));
        let min_pmtu = self.env.config.route_min_pmtu;
        if let Some(update) = icmp::pmtu_update(next_hop_mtu, quoted_len, current, min_pmtu) {
            let expires = self.env.config.route_mtu_expires;
            self.path_mtus.learn(self.now, dst, update.mtu, expires);
        }
    }
}
