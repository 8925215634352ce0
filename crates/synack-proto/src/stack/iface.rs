//! Interfaces and routes: a host's addresses, masks and media, and where a
//! datagram to some destination goes next.
//!
//! Read first: RFC 1122 §3.3.1 (a host sends on-link destinations directly,
//! others through a gateway), §3.3.4.2-3 (multihoming: any of our addresses
//! is accepted on any interface, the weak end system model Linux uses; new
//! flows take the route's source address), RFC 950 §2.1 ("same subnet" by
//! masking), RFC 1812 §5.2.4.3 (longest match).
//!
//! Each interface address adds its connected route. An IP-medium interface
//! (a TUN) is point-to-point: the first one also gets the default route
//! through itself, as `ip route add default dev tun0` would give it, so a
//! TUN host reaches everything without configuration. An Ethernet host
//! reaches other subnets through a gateway ([`Stack::set_default_gateway`],
//! [`Stack::add_route`]). Datagrams to our own addresses and to
//! 127.0.0.0/8 go to the loopback (`loopback.rs`), as Linux's `local`
//! routes send them to `lo`: a new flow to one of our addresses takes that
//! address as its source, one to 127/8 takes 127.0.0.1.

use core::net::Ipv4Addr;

use super::loopback::LOOPBACK;
use super::{Interface, Medium, Stack};
use crate::ip::arp::{ArpCache, ArpConfig, ArpStats};
use crate::ip::route::{Route, RouteError};
use crate::ip::{IfaceId, Ipv4Cidr};
use crate::wire::ethernet::EthernetAddress;

/// One interface with its state.
#[derive(Debug)]
pub(super) struct Iface {
    pub config: Interface,
    pub cidr: Ipv4Cidr,
    /// Ethernet interfaces resolve next hops.
    pub arp: Option<ArpCache>,
    /// A gratuitous ARP is owed (RFC 5227 §3): the interface just came up.
    pub announce: bool,
    /// Send-side offloads its device does (off unless the driver says).
    pub offloads: super::Offloads,
}

impl Iface {
    pub fn mac(&self) -> Option<EthernetAddress> {
        self.config.mac()
    }
}

/// [`Stack::is_host_addr`] over the interfaces alone, for a caller that
/// holds another part of the stack mutably.
pub(super) fn is_host_addr_of(ifaces: &[Iface], ip: Ipv4Addr) -> bool {
    ip.is_loopback() || ifaces.iter().any(|i| i.config.addr == ip)
}

/// Where a datagram goes next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Hop {
    /// Index into `Stack::ifaces`, or [`LOOPBACK`].
    pub iface: usize,
    /// The address to resolve on the link.
    pub next_hop: Ipv4Addr,
    /// The source address for a new flow (RFC 1122 §3.3.4.3).
    pub src: Ipv4Addr,
    /// A broadcast or multicast destination: no ARP, a group address.
    pub link_broadcast: bool,
}

impl Stack {
    /// Adds an interface with its address, mask and medium, and its
    /// connected route; returns its id (the driver's port number for it).
    /// An Ethernet interface announces itself with a gratuitous ARP.
    pub fn add_interface(&mut self, iface: Interface) -> IfaceId {
        let id = IfaceId(u16::try_from(self.ifaces.len()).unwrap_or(u16::MAX));
        let cidr = iface.cidr();
        // Two interfaces on one subnet: the first keeps the connected route.
        self.forget_hops();
        // A datagram's addresses may mean something else now.
        self.rx_addrs_last = None;
        let _ = self.routes.add_connected(id, cidr);
        let configured = self.env.config.mtu;
        self.own_mtus |= iface.mtu.is_some_and(|m| usize::from(m) != configured);
        let arp = match iface.medium {
            Medium::Ethernet(_) => Some(ArpCache::new(
                ArpConfig::from_config(&self.env.config),
                self.arp_key,
            )),
            Medium::Ip => {
                let first_tun = !self.ifaces.iter().any(|i| i.config.medium == Medium::Ip);
                if first_tun {
                    let default = Ipv4Cidr::new(Ipv4Addr::UNSPECIFIED, 0)
                        .unwrap_or(Ipv4Cidr::host(Ipv4Addr::UNSPECIFIED));
                    let _ = self.routes.add_device(default, id, Some(iface.addr));
                }
                None
            }
        };
        let announce = arp.is_some();
        self.arp_ifaces |= announce;
        self.slow_timers_changed();
        self.ifaces.push(Iface {
            config: iface,
            cidr,
            arp,
            announce,
            offloads: super::Offloads::default(),
        });
        id
    }

    /// The first interface.
    pub fn interface(&self) -> &Interface {
        &self.ifaces[0].config
    }

    /// Every interface with its id.
    pub fn interfaces(&self) -> impl Iterator<Item = (IfaceId, &Interface)> + '_ {
        self.ifaces
            .iter()
            .enumerate()
            .map(|(i, f)| (IfaceId(i as u16), &f.config))
    }

    /// Whether `ip` is one of our interfaces' addresses.
    pub fn is_local_addr(&self, ip: Ipv4Addr) -> bool {
        self.ifaces.iter().any(|i| i.config.addr == ip)
    }

    /// Whether a datagram to `ip` stays in this host (the loopback): one of
    /// our addresses or 127.0.0.0/8 (Linux's `local` routes; RFC 1122
    /// §3.2.1.3 (g)). What sockets may bind.
    pub fn is_host_addr(&self, ip: Ipv4Addr) -> bool {
        is_host_addr_of(&self.ifaces, ip)
    }

    /// Adds a route to `dest` through `gateway`, which must be on-link
    /// (`ip route add dest via gateway`).
    pub fn add_route(&mut self, dest: Ipv4Cidr, gateway: Ipv4Addr) -> Result<(), RouteError> {
        self.forget_hops();
        self.forget_redirect(dest);
        self.routes.add_gateway(dest, gateway)
    }

    /// Adds an on-link route to `dest` through `iface` (`ip route add dest
    /// dev iface`).
    pub fn add_device_route(&mut self, dest: Ipv4Cidr, iface: IfaceId) -> Result<(), RouteError> {
        let src = self
            .ifaces
            .get(usize::from(iface.0))
            .map(|i| i.config.addr)
            .ok_or(RouteError::NotFound)?;
        self.forget_hops();
        self.forget_redirect(dest);
        self.routes.add_device(dest, iface, Some(src))
    }

    /// Sets the default route through `gateway` (on-link), replacing any.
    pub fn set_default_gateway(&mut self, gateway: Ipv4Addr) -> Result<(), RouteError> {
        self.forget_hops();
        self.routes.set_default_gateway(gateway)
    }

    /// Removes the route to exactly `dest`.
    pub fn remove_route(&mut self, dest: Ipv4Cidr) -> Result<usize, RouteError> {
        self.forget_hops();
        self.forget_redirect(dest);
        self.routes.remove(dest)
    }

    /// Every route, longest prefix first (`ip route`).
    pub fn routes(&self) -> Vec<Route> {
        self.routes.routes()
    }

    /// The route a datagram to `dst` takes (longest-prefix match).
    pub fn route(&self, dst: Ipv4Addr) -> Option<Route> {
        self.routes.lookup(dst)
    }

    /// The ARP cache counters of an Ethernet interface.
    pub fn arp_stats(&self, iface: IfaceId) -> Option<&ArpStats> {
        self.ifaces
            .get(usize::from(iface.0))?
            .arp
            .as_ref()
            .map(ArpCache::stats)
    }

    /// The ARP cache of an Ethernet interface (`ip neigh`): each address
    /// with its hardware address once known.
    pub fn arp_entries(&self, iface: IfaceId) -> Vec<(Ipv4Addr, Option<EthernetAddress>)> {
        self.ifaces
            .get(usize::from(iface.0))
            .and_then(|i| i.arp.as_ref())
            .map(|arp| arp.entries().collect())
            .unwrap_or_default()
    }

    /// Every Ethernet interface's neighbours as `ip neigh` shows them: the
    /// interface, the address, its hardware address once known and its
    /// state; by interface, then address.
    pub fn neighbours(&self) -> Vec<(IfaceId, crate::ip::Neighbour)> {
        let mut all: Vec<(IfaceId, crate::ip::Neighbour)> = Vec::new();
        for (i, iface) in self.ifaces.iter().enumerate() {
            let Some(arp) = iface.arp.as_ref() else {
                continue;
            };
            let id = IfaceId(u16::try_from(i).unwrap_or(u16::MAX));
            all.extend(arp.neighbours(self.now).map(|n| (id, n)));
        }
        all.sort_by_key(|(id, n)| (id.0, n.ip));
        all
    }

    /// Adds a permanent ARP entry (`ip neigh add ... nud permanent`).
    pub fn add_arp_entry(&mut self, iface: IfaceId, ip: Ipv4Addr, mac: EthernetAddress) -> bool {
        match self
            .ifaces
            .get_mut(usize::from(iface.0))
            .and_then(|i| i.arp.as_mut())
        {
            Some(arp) => {
                arp.insert_permanent(ip, mac);
                true
            }
            None => false,
        }
    }

    /// The MTU of interface `iface` (the loopback's too): its own, or the
    /// configured one.
    pub(super) fn iface_mtu(&self, iface: usize) -> usize {
        if iface == super::loopback::LOOPBACK {
            return usize::from(super::loopback::LOOPBACK_MTU);
        }
        self.ifaces
            .get(iface)
            .and_then(|i| i.config.mtu)
            .map_or(self.env.config.mtu, usize::from)
    }

    /// A new connection's route MTU when it is not the configured one
    /// (`ConnParams::route_mtu`), its route leaving by `iface`: the
    /// loopback's, or an interface's own. Interfaces of their own MTU are
    /// rare: without one, a compare.
    #[inline]
    pub(super) fn conn_route_mtu(&self, iface: usize) -> Option<u16> {
        if iface == super::loopback::LOOPBACK {
            return Some(super::loopback::LOOPBACK_MTU);
        }
        if !self.own_mtus {
            return None;
        }
        self.own_route_mtu(iface)
    }

    /// [`Stack::conn_route_mtu`] with interfaces of their own MTU.
    #[cold]
    #[inline(never)]
    pub(super) fn own_route_mtu(&self, iface: usize) -> Option<u16> {
        let mtu = self.iface_mtu(iface);
        (mtu != self.env.config.mtu).then(|| u16::try_from(mtu).unwrap_or(u16::MAX))
    }

    /// Where a datagram to `dst` goes: the route's interface and next hop;
    /// a limited broadcast goes out of the first interface.
    /// Every data segment asks (the destination rarely changes between
    /// two asks), so the last answer is kept until a route or an interface
    /// changes.
    #[inline]
    pub(super) fn hop_to(&self, dst: Ipv4Addr) -> Option<Hop> {
        if let Some((last, hop)) = self.hop_last.get()
            && last == dst
        {
            return hop;
        }
        let hop = self.find_hop(dst);
        self.hop_last.set(Some((dst, hop)));
        hop
    }

    /// [`Stack::hop_to`] without the memory.
    fn find_hop(&self, dst: Ipv4Addr) -> Option<Hop> {
        if dst.is_broadcast() {
            let iface = self.ifaces.first()?;
            return Some(Hop {
                iface: 0,
                next_hop: dst,
                src: iface.config.addr,
                link_broadcast: true,
            });
        }
        if self.is_host_addr(dst) {
            let src = if dst.is_loopback() {
                Ipv4Addr::LOCALHOST
            } else {
                dst
            };
            return Some(Hop {
                iface: LOOPBACK,
                next_hop: dst,
                src,
                link_broadcast: false,
            });
        }
        let route = self.routes.lookup(dst)?;
        let index = usize::from(route.iface.0);
        let iface = self.ifaces.get(index)?;
        Some(Hop {
            iface: index,
            next_hop: route.next_hop.addr(),
            src: route.src_hint.unwrap_or(iface.config.addr),
            link_broadcast: dst.is_multicast() || iface.cidr.is_directed_broadcast(dst),
        })
    }

    /// The source address for a new flow to `dst` (RFC 1122 §3.3.4.3).
    pub(super) fn source_for(&self, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        self.hop_to(dst).map(|h| h.src)
    }
}
