//! ICMP redirects into the routing table: a gateway that forwarded one of
//! our datagrams to another gateway on our own link tells us to send such
//! datagrams there directly.
//!
//! Read first: RFC 792 (the Redirect message), RFC 1122 §3.2.2.2 (a host
//! "MUST update its routing information" on a Redirect, and "SHOULD
//! silently discard" one whose new gateway is not on the link it came
//! through, or whose source is not the current first hop for the
//! destination), §3.3.1.2 (a network redirect is taken as a host redirect:
//! the host does not know the mask meant), RFC 1812 §5.2.7.2 (routers send
//! host redirects only).
//!
//! As Linux (`__ip_do_redirect`), with `accept_redirects` (on for a host)
//! and `secure_redirects` (on: the new gateway must be one the routing
//! table already has): the redirect must quote a datagram from one of our
//! addresses, come from the gateway our route for its destination uses,
//! and name another unicast host on that route's link. It installs a host
//! route (the destination's /32) through the new gateway, where Linux keeps
//! a route cache exception, for `route.gc_timeout` (300 s, the exception's
//! lifetime; a new redirect for it starts it again); at most
//! [`MAX_REDIRECTED`] such routes, the oldest dropped first, and never over
//! a route the user set for exactly that destination. Anything else is
//! ignored, counted only as the ICMP message it is (`InRedirects`).

use core::net::Ipv4Addr;

use super::Stack;
use crate::ip::Ipv4Cidr;
use crate::ip::icmp::Redirect;
use crate::ip::route::NextHop;
use crate::time::Instant;

/// Most destinations routed by redirects.
pub(super) const MAX_REDIRECTED: usize = 1024;

impl Stack {
    /// A redirect from `from` (the ICMP message's source). Rare: cold.
    #[cold]
    #[inline(never)]
    pub(super) fn handle_redirect(&mut self, from: Ipv4Addr, redirect: &Redirect) {
        let dst = redirect.quoted.dst_addr;
        let gateway = redirect.gateway;
        if !self.accepts_redirect(from, redirect) {
            return;
        }
        let host = Ipv4Cidr::host(dst);
        if self.redirected.iter().any(|&(d, _)| d == dst) {
            // An earlier redirect's route: this one replaces it.
            self.redirected.retain(|&(d, _)| d != dst);
            let _ = self.routes.remove(host);
        }
        // A route the user set for exactly this destination stays: the
        // table refuses a second one (`RouteError::Exists`).
        if self.routes.add_gateway(host, gateway).is_err() {
            return;
        }
        // Every route lives as long: the queue is in the order they expire.
        let expires = self.now + self.env.config.route_gc_timeout;
        self.redirected.push_back((dst, expires));
        if self.redirected.len() > MAX_REDIRECTED
            && let Some((oldest, _)) = self.redirected.pop_front()
        {
            let _ = self.routes.remove(Ipv4Cidr::host(oldest));
        }
        self.forget_hops();
        self.slow_timers_changed();
    }

    /// The routes redirects made whose time is up go (Linux: the expired
    /// exception is no longer found); datagrams to their destinations
    /// follow the table's other routes again.
    pub(super) fn redirect_timeouts(&mut self, now: Instant) {
        let mut expired = false;
        while let Some(&(dst, expires)) = self.redirected.front()
            && expires <= now
        {
            self.redirected.pop_front();
            let _ = self.routes.remove(Ipv4Cidr::host(dst));
            expired = true;
        }
        if expired {
            self.forget_hops();
            self.slow_timers_changed();
        }
    }

    /// The user set or removed the route to exactly `dest`: if a redirect
    /// had made it, it is the user's now.
    pub(super) fn forget_redirect(&mut self, dest: Ipv4Cidr) {
        if dest.prefix_len() == 32 {
            self.redirected.retain(|&(d, _)| d != dest.addr());
            self.slow_timers_changed();
        }
    }

    /// RFC 1122 §3.2.2.2's checks, and Linux's.
    fn accepts_redirect(&self, from: Ipv4Addr, redirect: &Redirect) -> bool {
        let config = &self.env.config;
        let (dst, gateway) = (redirect.quoted.dst_addr, redirect.gateway);
        if !config.accept_redirects || !self.is_local_addr(redirect.quoted.src_addr) {
            return false;
        }
        // From the gateway our route to the destination goes through.
        let Some(hop) = self.hop_to(dst) else {
            return false;
        };
        let Some(iface) = self.ifaces.get(hop.iface) else {
            return false;
        };
        if hop.next_hop == dst || hop.next_hop != from {
            return false;
        }
        // To another unicast host on that link.
        let link = iface.cidr;
        let host_on_link = link.contains(gateway)
            && gateway != link.network()
            && !link.is_directed_broadcast(gateway)
            && !gateway.is_multicast()
            && !gateway.is_broadcast();
        if !host_on_link || gateway == from || self.is_local_addr(gateway) {
            return false;
        }
        // `secure_redirects`: one of the gateways the table already uses.
        !config.secure_redirects
            || self
                .routes
                .routes()
                .iter()
                .any(|r| r.next_hop == NextHop::Gateway(gateway))
    }
}
