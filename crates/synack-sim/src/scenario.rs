//! Scenario helpers for pair tests: two [`StackNode`]s on one link (IP
//! medium, or Ethernet with ARP), and bounded runs until a condition holds.
//!
//! ```
//! use synack_proto::{Config, Duration, Instant};
//! use synack_proto::stack::ConnectOptions;
//! use synack_proto::tcp::TcpState;
//! use synack_sim::LinkConfig;
//! use synack_sim::scenario::{Pair, CLIENT, SERVER};
//!
//! let mut pair = Pair::new(7, Config::default(), Config::default(),
//!                          LinkConfig::new().delay(Duration::from_millis(10)));
//! pair.server().tcp_listen(SERVER_ADDR, 8).unwrap();
//! # use synack_sim::scenario::SERVER_ADDR;
//! let now = pair.now();
//! let c = pair.client().tcp_connect(now, SERVER_ADDR, ConnectOptions::default()).unwrap();
//! pair.run_until(|p| p.client_ref().tcp_state(c) == TcpState::Established,
//!                Instant::from_secs(5)).unwrap();
//! # let _ = (CLIENT, SERVER);
//! ```

use core::net::{Ipv4Addr, SocketAddrV4};

use synack_proto::stack::{ConnHandle, Interface};
use synack_proto::tcp::TcpState;
use synack_proto::tcp::conn::RecvError;
use synack_proto::wire::EthernetAddress;
use synack_proto::{Config, Duration, Instant, Stack};

use crate::apps::{BulkReceiver, BulkSender, Finish, Pattern};
use crate::link::LinkConfig;
use crate::node::{NodeId, PortId};
use crate::stack_node::StackNode;
use crate::world::{LinkId, SimError, World};

/// The client's address in pair scenarios (RFC 5737 TEST-NET-1).
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The server's address.
pub const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// The port pair scenarios listen on.
pub const SERVER_PORT: u16 = 80;
/// `SERVER:SERVER_PORT`.
pub const SERVER_ADDR: SocketAddrV4 = SocketAddrV4::new(SERVER, SERVER_PORT);

/// The client's Ethernet address in Ethernet pairs (locally administered).
pub const CLIENT_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x01]);
/// The server's Ethernet address.
pub const SERVER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x02]);

/// One of the pair's hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    Client,
    Server,
}

/// Two stacks on one link: client (node A) and server (node B).
#[derive(Debug)]
pub struct Pair {
    pub world: World,
    pub client: NodeId,
    pub server: NodeId,
    pub link: LinkId,
}

impl Pair {
    /// A client and a server stack (seeds derived from the world seed unless
    /// the configs set one) joined by `link` in both directions; the link is
    /// made an IP-medium link (no layer-2 header).
    pub fn new(seed: u64, client: Config, server: Config, link: LinkConfig) -> Pair {
        Pair::with_nodes(seed, StackNode::new, StackNode::new, client, server, link)
    }

    /// Like [`Pair::new`], with the nodes built by the given functions (to
    /// give them applications).
    pub fn with_nodes(
        seed: u64,
        client_node: impl FnOnce(Stack) -> StackNode,
        server_node: impl FnOnce(Stack) -> StackNode,
        client: Config,
        server: Config,
        link: LinkConfig,
    ) -> Pair {
        let ifaces = (Interface::ip(CLIENT, 24), Interface::ip(SERVER, 24));
        Pair::build(
            seed,
            client_node,
            server_node,
            (client, server),
            ifaces,
            link.l2_header_len(0),
        )
    }

    /// A bulk transfer: the client sends `bytes` of `pattern` to a
    /// [`BulkReceiver`] on the server ([`SERVER_ADDR`]) and closes.
    pub fn bulk(
        seed: u64,
        bytes: u64,
        pattern: Pattern,
        client: Config,
        server: Config,
        link: LinkConfig,
    ) -> Pair {
        Pair::bulk_then(seed, bytes, pattern, Finish::Close, client, server, link)
    }

    /// [`Pair::bulk`], the client ending as `finish` says once everything
    /// is queued ([`Finish::Nothing`] keeps the connection to inspect).
    pub fn bulk_then(
        seed: u64,
        bytes: u64,
        pattern: Pattern,
        finish: Finish,
        client: Config,
        server: Config,
        link: LinkConfig,
    ) -> Pair {
        Pair::with_nodes(
            seed,
            |s| StackNode::with_app(s, BulkSender::new(SERVER_ADDR, bytes, pattern, finish)),
            |s| StackNode::with_app(s, BulkReceiver::new(SERVER_ADDR, pattern)),
            client,
            server,
            link,
        )
    }

    /// The server's [`BulkReceiver`] (a pair made by [`Pair::bulk`]).
    ///
    /// # Panics
    /// If the server runs another application.
    pub fn bulk_receiver(&self) -> &BulkReceiver {
        self.world
            .node::<StackNode>(self.server)
            .app::<BulkReceiver>()
            .expect("the server runs a BulkReceiver")
    }

    /// Like [`Pair::new`] on an Ethernet link: the hosts have Ethernet
    /// interfaces ([`CLIENT_MAC`], [`SERVER_MAC`]), announce themselves with
    /// gratuitous ARP and resolve each other with ARP.
    pub fn ethernet(seed: u64, client: Config, server: Config, link: LinkConfig) -> Pair {
        Pair::ethernet_with_nodes(seed, StackNode::new, StackNode::new, client, server, link)
    }

    /// [`Pair::ethernet`] with the nodes built by the given functions.
    pub fn ethernet_with_nodes(
        seed: u64,
        client_node: impl FnOnce(Stack) -> StackNode,
        server_node: impl FnOnce(Stack) -> StackNode,
        client: Config,
        server: Config,
        link: LinkConfig,
    ) -> Pair {
        let ifaces = (
            Interface::ethernet(CLIENT_MAC, CLIENT, 24),
            Interface::ethernet(SERVER_MAC, SERVER, 24),
        );
        Pair::build(
            seed,
            client_node,
            server_node,
            (client, server),
            ifaces,
            link.l2_header_len(14),
        )
    }

    fn build(
        seed: u64,
        client_node: impl FnOnce(Stack) -> StackNode,
        server_node: impl FnOnce(Stack) -> StackNode,
        (mut client, mut server): (Config, Config),
        (client_iface, server_iface): (Interface, Interface),
        link: LinkConfig,
    ) -> Pair {
        let mut world = World::new(seed);
        if client.seed == 0 {
            client.seed = world.derive_seed(1);
        }
        if server.seed == 0 {
            server.seed = world.derive_seed(2);
        }
        let a = client_node(Stack::new(client, client_iface));
        let b = server_node(Stack::new(server, server_iface));
        let client = world.add_node(a);
        let server = world.add_node(b);
        let link = world
            .connect(client, PortId(0), server, PortId(0), link)
            .expect("fresh nodes have free ports");
        Pair {
            world,
            client,
            server,
            link,
        }
    }

    pub fn now(&self) -> Instant {
        self.world.now()
    }

    /// The client's stack, to issue commands (the world polls it afterwards).
    pub fn client(&mut self) -> &mut Stack {
        &mut self.world.node_mut::<StackNode>(self.client).stack
    }

    pub fn server(&mut self) -> &mut Stack {
        &mut self.world.node_mut::<StackNode>(self.server).stack
    }

    pub fn client_ref(&self) -> &Stack {
        &self.world.node::<StackNode>(self.client).stack
    }

    pub fn server_ref(&self) -> &Stack {
        &self.world.node::<StackNode>(self.server).stack
    }

    pub fn client_node(&mut self) -> &mut StackNode {
        self.world.node_mut::<StackNode>(self.client)
    }

    pub fn server_node(&mut self) -> &mut StackNode {
        self.world.node_mut::<StackNode>(self.server)
    }

    /// Runs until `done(self)` holds, at most until `deadline`; returns the
    /// time it first held.
    pub fn run_until(
        &mut self,
        mut done: impl FnMut(&Pair) -> bool,
        deadline: Instant,
    ) -> Result<Instant, SimError> {
        loop {
            if done(self) {
                return Ok(self.now());
            }
            match self.world.next_event_time()? {
                None => return Err(SimError::Stalled { at: self.now() }),
                Some(t) if t <= deadline => {
                    self.world.step()?;
                }
                Some(_) => {
                    self.world.run_until(deadline)?;
                    return Err(SimError::Deadline { at: deadline });
                }
            }
        }
    }

    /// The stack of `side`.
    pub fn stack(&mut self, side: Side) -> &mut Stack {
        match side {
            Side::Client => self.client(),
            Side::Server => self.server(),
        }
    }

    pub fn stack_ref(&self, side: Side) -> &Stack {
        match side {
            Side::Client => self.client_ref(),
            Side::Server => self.server_ref(),
        }
    }

    /// Runs until `conn` on `side` is ESTABLISHED (or past it), at most
    /// until `deadline`.
    pub fn run_until_established(
        &mut self,
        side: Side,
        conn: ConnHandle,
        deadline: Instant,
    ) -> Result<Instant, SimError> {
        self.run_until(
            |p| {
                let state = p.stack_ref(side).tcp_state(conn);
                state.is_synchronized() || state == TcpState::Closed
            },
            deadline,
        )
        .and_then(|t| match self.stack_ref(side).tcp_state(conn) {
            TcpState::Closed => Err(SimError::Stalled { at: t }),
            _ => Ok(t),
        })
    }

    /// Runs, reading from `conn` on `side`, until `n` bytes arrived (or the
    /// stream ended), at most until `deadline`; returns what was read.
    pub fn recv_exact(
        &mut self,
        side: Side,
        conn: ConnHandle,
        n: usize,
        deadline: Instant,
    ) -> Result<Vec<u8>, SimError> {
        let mut got = Vec::with_capacity(n);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let now = self.now();
            loop {
                let want = (n - got.len()).min(buf.len());
                if want == 0 {
                    return Ok(got);
                }
                match self.stack(side).tcp_recv(now, conn, &mut buf[..want]) {
                    Ok(0) => return Ok(got),
                    Ok(k) => got.extend_from_slice(&buf[..k]),
                    Err(RecvError::WouldBlock) => break,
                    Err(_) => return Ok(got),
                }
            }
            match self.world.next_event_time()? {
                None => return Err(SimError::Stalled { at: now }),
                Some(t) if t <= deadline => {
                    self.world.step()?;
                }
                Some(_) => return Err(SimError::Deadline { at: deadline }),
            }
        }
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) -> Result<(), SimError> {
        self.world.run_for(d)
    }
}
