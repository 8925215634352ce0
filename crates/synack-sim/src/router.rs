//! [`Router`]: a node that forwards bare IPv4 packets between its ports by
//! destination address, so several hosts can share a bottleneck link.
//!
//! It is deliberately simple: a static table of prefixes (longest match
//! wins), no TTL, no ICMP, no queue of its own (frames go out at once; the
//! outgoing link's drop-tail queue is the bottleneck's buffer, as in a real
//! router whose egress interface is the slow one). Frames it cannot route
//! (no match, not IPv4) are dropped and counted.

use std::collections::VecDeque;
use std::net::Ipv4Addr;

use synack_proto::Instant;

use crate::node::{Node, PortId};

/// A static IPv4 router (IP medium: frames are bare IPv4 packets).
#[derive(Debug, Default)]
pub struct Router {
    /// (network, prefix length, port), longest prefixes first.
    routes: Vec<(u32, u8, PortId)>,
    out: VecDeque<(PortId, Vec<u8>)>,
    /// Frames forwarded and frames dropped for want of a route.
    pub forwarded: u64,
    pub unroutable: u64,
}

impl Router {
    pub fn new() -> Self {
        Router::default()
    }

    /// Sends packets for `addr/prefix_len` out of `port`.
    pub fn route(mut self, addr: Ipv4Addr, prefix_len: u8, port: PortId) -> Self {
        self.add_route(addr, prefix_len, port);
        self
    }

    pub fn add_route(&mut self, addr: Ipv4Addr, prefix_len: u8, port: PortId) {
        let prefix_len = prefix_len.min(32);
        let network = u32::from(addr) & mask(prefix_len);
        self.routes.push((network, prefix_len, port));
        self.routes.sort_by_key(|r| core::cmp::Reverse(r.1));
    }

    fn lookup(&self, dst: Ipv4Addr) -> Option<PortId> {
        let dst = u32::from(dst);
        self.routes
            .iter()
            .find(|(net, len, _)| dst & mask(*len) == *net)
            .map(|&(_, _, port)| port)
    }
}

fn mask(prefix_len: u8) -> u32 {
    if prefix_len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix_len))
    }
}

impl Node for Router {
    fn handle_frame(&mut self, _now: Instant, _port: PortId, frame: &[u8]) {
        let dst = match frame {
            [v, ..] if v >> 4 == 4 && frame.len() >= 20 => {
                Ipv4Addr::new(frame[16], frame[17], frame[18], frame[19])
            }
            _ => {
                self.unroutable += 1;
                return;
            }
        };
        match self.lookup(dst) {
            Some(port) => {
                self.forwarded += 1;
                self.out.push_back((port, frame.to_vec()));
            }
            None => self.unroutable += 1,
        }
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<(PortId, usize)> {
        let (port, frame) = self.out.pop_front()?;
        let n = frame.len().min(buf.len());
        buf[..n].copy_from_slice(&frame[..n]);
        Some((port, n))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn handle_timeout(&mut self, _now: Instant) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(dst: [u8; 4]) -> Vec<u8> {
        let mut p = vec![0u8; 20];
        p[0] = 0x45;
        p[16..20].copy_from_slice(&dst);
        p
    }

    #[test]
    fn the_longest_prefix_wins_and_unknown_destinations_are_dropped() {
        let mut r = Router::new()
            .route(Ipv4Addr::new(192, 0, 2, 0), 24, PortId(0))
            .route(Ipv4Addr::new(192, 0, 2, 7), 32, PortId(3));
        let mut buf = [0u8; 64];
        r.handle_frame(Instant::ZERO, PortId(1), &packet([192, 0, 2, 7]));
        assert_eq!(
            r.poll_transmit(Instant::ZERO, &mut buf),
            Some((PortId(3), 20))
        );
        r.handle_frame(Instant::ZERO, PortId(1), &packet([192, 0, 2, 8]));
        assert_eq!(
            r.poll_transmit(Instant::ZERO, &mut buf),
            Some((PortId(0), 20))
        );
        r.handle_frame(Instant::ZERO, PortId(1), &packet([203, 0, 113, 1]));
        r.handle_frame(Instant::ZERO, PortId(1), &[0x60, 0, 0]);
        assert_eq!(r.poll_transmit(Instant::ZERO, &mut buf), None);
        assert_eq!((r.forwarded, r.unroutable), (2, 2));
    }
}
