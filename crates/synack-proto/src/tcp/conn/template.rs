//! A new connection's start: what the stack's configuration alone decides
//! is worked out once per stack ([`ConnTemplate`], kept in [`Env`]) and
//! copied into each connection, instead of being derived from the
//! configuration again at every `connect` and every SYN a listener takes
//! (the clamps, conversions and divisions of the negotiated options, the
//! RTO, congestion control and loss recovery's settings).

use core::net::SocketAddrV4;

use super::ack::AckState;
use super::options::Negotiated;
use super::sockopt::ConnOptions;
use super::{ConnParams, Core, Counters, Env, Life, Pending, XmitState, rtt_config};
use crate::config::{Config, SysctlError};
use crate::tcp::congestion::Congestion;
use crate::tcp::congestion::hystart::Detect;
use crate::tcp::recovery::{LossRecovery, RecoveryConfig};
use crate::tcp::rtt::RttEstimator;
use crate::tcp::timer::TimerTable;
use crate::tcp::timestamps::TsClock;
use crate::time::Instant;

/// The parts of a new [`Core`] that depend on the configuration and on
/// the two socket options that change them (TCP_MAXSEG, TCP_CONGESTION),
/// as [`ConnTemplate::new`] makes them with both options unset.
///
/// `Env`'s configuration is crate-only and changes only through
/// [`Env::set_sysctl`], which remakes the template (the stack's
/// `Stack::config` is the public view). A debug build keeps the
/// configuration the template was made from and checks at every
/// connection that it still holds.
#[derive(Clone, Debug)]
pub(crate) struct ConnTemplate {
    neg: Negotiated,
    rtt: RttEstimator,
    cc: CongestionStart,
    recovery: RecoveryConfig,
    ack: AckState,
    #[cfg(debug_assertions)]
    built_from: Config,
}

/// A new connection's congestion controller, as its constructor's
/// arguments: built in place from them (a few stores), where cloning a
/// made controller was an out-of-line call (`Congestion` owns boxes, so
/// its `Clone` is derived, not a copy).
#[derive(Clone, Copy, Debug)]
struct CongestionStart {
    algorithm: crate::config::CongestionAlgorithm,
    mss: u32,
    init_cwnd: u32,
    detect: Detect,
}

impl CongestionStart {
    fn new(
        config: &Config,
        congestion: Option<crate::config::CongestionAlgorithm>,
        neg: &Negotiated,
    ) -> Self {
        CongestionStart {
            algorithm: congestion.unwrap_or(config.tcp_congestion_control),
            mss: neg.default_send_mss(),
            init_cwnd: config.tcp_init_cwnd,
            detect: Detect::from_bits(config.tcp_hystart_detect),
        }
    }

    #[inline(always)]
    fn make(self) -> Congestion {
        let mut cc = Congestion::new(self.algorithm, self.mss, self.init_cwnd);
        cc.set_hystart_detect(self.detect);
        cc
    }
}

impl Default for ConnTemplate {
    fn default() -> Self {
        ConnTemplate::new(&Config::default())
    }
}

impl ConnTemplate {
    pub(crate) fn new(config: &Config) -> Self {
        let (neg, cc, ack) = derived(config, None, 0, None);
        ConnTemplate {
            neg,
            rtt: RttEstimator::new(rtt_config(config)),
            cc,
            recovery: RecoveryConfig::from_config(config),
            ack,
            #[cfg(debug_assertions)]
            built_from: config.clone(),
        }
    }
}

impl Env {
    /// Changes one setting by its sysctl name ([`Config::set_sysctl`], the
    /// one way the stack's configuration changes while it runs) and makes
    /// the connection template again from the changed configuration.
    pub fn set_sysctl(&mut self, name: &str, value: &str) -> Result<(), SysctlError> {
        let changed = self.config.set_sysctl(name, value);
        self.template = ConnTemplate::new(&self.config);
        self.memory.set_limits(self.config.tcp_mem);
        changed
    }
}

/// The negotiated options, congestion control and ACK state a connection
/// starts with under `config`, with the socket's congestion control and
/// MSS clamp (0: none), on a route of `route_mtu` if it is not the
/// configured MTU.
fn derived(
    config: &Config,
    congestion: Option<crate::config::CongestionAlgorithm>,
    max_segment: u16,
    route_mtu: Option<u16>,
) -> (Negotiated, CongestionStart, AckState) {
    let mut neg = Negotiated::ours(config);
    if let Some(mtu) = route_mtu {
        neg.use_route_mtu(mtu);
    }
    neg.clamp_mss(max_segment);
    let cc = CongestionStart::new(config, congestion, &neg);
    let ack = AckState::new(config.tcp_delack_min, neg.initial_rcv_mss());
    (neg, cc, ack)
}

impl Core {
    /// A connection's shared part before its handshake. Inline in both
    /// callers (`connect`, `accept_syn`): built where the connection is,
    /// not copied there.
    #[inline(always)]
    pub(super) fn new(
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        params: &ConnParams,
        env: &Env,
    ) -> Self {
        let t = &env.template;
        #[cfg(debug_assertions)]
        debug_assert!(
            t.built_from == env.config,
            "Env::config changed after its connection template was made"
        );
        let socket = &params.socket;
        let (neg, cc, ack) =
            if socket.max_segment == 0 && socket.congestion.is_none() && params.route_mtu.is_none()
            {
                (t.neg, t.cc, t.ack)
            } else {
                derived(
                    &env.config,
                    socket.congestion,
                    socket.max_segment,
                    params.route_mtu,
                )
            };
        let cc = cc.make();
        Core {
            local,
            remote,
            neg,
            timers: TimerTable::new(),
            rtt: t.rtt.clone(),
            cc,
            recovery: LossRecovery::new(params.iss, t.recovery),
            ts_clock: TsClock::new(params.ts_offset),
            ts_recent: None,
            ack,
            xmit: XmitState::new(now),
            socket: ConnOptions::new(socket),
            pending: Pending::default(),
            life: {
                let mut life = Life::default();
                life.set_readable_armed(true);
                life.set_sndbuf_locked(socket.send_buffer.is_some());
                life.set_nodelay(socket.nodelay);
                life.set_cork(socket.cork);
                life.set_keepalive(socket.keepalive);
                life
            },
            counters: Counters::default(),
            passive_open: false,
            rare: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SeqNum;
    use crate::config::CongestionAlgorithm;
    use crate::tcp::conn::recv::RecvHalf;
    use crate::tcp::conn::send::SendHalf;
    use crate::tcp::conn::{
        Connection, MAX_OUT_OF_ORDER_RANGES, SocketOptions, State, SynReceived, SynSent,
    };
    use crate::tcp::ecn::{self, EcnState};
    use crate::tcp::state::TcpState;
    use crate::tcp::timestamps::TsRecent;
    use crate::time::Duration;
    use crate::wire::TcpRepr;
    use crate::wire::tcp::{TcpFlags, TcpOptions, TcpTimestamp};
    use core::net::Ipv4Addr;

    /// `Core::new` as it was before the template: everything derived from
    /// `config` at every connection. The reference the template is
    /// checked against.
    fn reference(
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        params: &ConnParams,
        config: &Config,
    ) -> Core {
        let mut neg = Negotiated::ours(config);
        if let Some(mtu) = params.route_mtu {
            neg.use_route_mtu(mtu);
        }
        neg.clamp_mss(params.socket.max_segment);
        let rtt = RttEstimator::new(rtt_config(config));
        Core {
            local,
            remote,
            neg,
            timers: TimerTable::new(),
            rtt,
            cc: {
                let mut cc = Congestion::new(
                    params
                        .socket
                        .congestion
                        .unwrap_or(config.tcp_congestion_control),
                    neg.default_send_mss(),
                    config.tcp_init_cwnd,
                );
                cc.set_hystart_detect(Detect::from_bits(config.tcp_hystart_detect));
                cc
            },
            recovery: LossRecovery::new(params.iss, RecoveryConfig::from_config(config)),
            ts_clock: TsClock::new(params.ts_offset),
            ts_recent: None,
            ack: AckState::new(config.tcp_delack_min, neg.initial_rcv_mss()),
            xmit: XmitState::new(now),
            socket: ConnOptions::new(&params.socket),
            pending: Pending::default(),
            life: {
                let mut life = Life::default();
                life.set_readable_armed(true);
                life.set_sndbuf_locked(params.socket.send_buffer.is_some());
                life.set_nodelay(params.socket.nodelay);
                life.set_cork(params.socket.cork);
                life.set_keepalive(params.socket.keepalive);
                life
            },
            counters: Counters::default(),
            passive_open: false,
            rare: None,
        }
    }

    /// The test connection's two ends (TEST-NET addresses).
    fn ends() -> (SocketAddrV4, SocketAddrV4) {
        (
            SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 80),
            SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 7), 4000),
        )
    }

    /// Configurations that change every input of the template.
    fn configs() -> Vec<Config> {
        let base = Config::default();
        let mut out = vec![base.clone()];
        for i in 0..8u32 {
            let on = |bit: u32| i & (1 << bit) != 0;
            out.push(Config {
                tcp_sack: !on(0),
                tcp_timestamps: !on(1),
                tcp_window_scaling: !on(2),
                tcp_ecn: if on(0) { 1 } else { 0 },
                mtu: if on(1) { 9000 } else { 576 },
                tcp_rto_initial: Duration::from_millis(200 + u64::from(i) * 700),
                tcp_rto_max: Duration::from_secs(if on(2) { 1 } else { 60 }),
                tcp_delack_min: Duration::from_millis(u64::from(i) * 10),
                tcp_delack_max: Duration::from_millis(100 + u64::from(i) * 50_000),
                tcp_congestion_control: if on(0) {
                    CongestionAlgorithm::Reno
                } else {
                    CongestionAlgorithm::Cubic
                },
                tcp_init_cwnd: 1 + i * 7,
                tcp_hystart_detect: (i % 4) as u8,
                tcp_reordering: i * 100,
                tcp_recovery_rack: on(1),
                tcp_early_retrans: (i % 5) as u8,
                tcp_frto: (i % 3) as u8,
                ..base.clone()
            });
        }
        out
    }

    /// Socket options: the template's case (neither TCP_MAXSEG nor
    /// TCP_CONGESTION) and each way out of it.
    fn sockets() -> Vec<SocketOptions> {
        let mut out = Vec::new();
        for max_segment in [0, 88, 536, 1400, 9000] {
            for congestion in [
                None,
                Some(CongestionAlgorithm::Reno),
                Some(CongestionAlgorithm::Cubic),
            ] {
                out.push(SocketOptions {
                    max_segment,
                    congestion,
                    nodelay: max_segment == 536,
                    send_buffer: (max_segment == 88).then_some(10_000),
                    ..SocketOptions::default()
                });
            }
        }
        out
    }

    #[test]
    fn a_connection_starts_as_the_configuration_derived_it() {
        let (local, remote) = ends();
        let now = Instant::from_micros(123_456_789);
        for config in configs() {
            let env = Env::new(config.clone());
            // The configured MTU's route, and the loopback's.
            for (socket, route_mtu) in sockets()
                .into_iter()
                .flat_map(|s| [(s, None), (s, Some(65_535))])
            {
                let params = ConnParams {
                    iss: SeqNum(0x8000_0001),
                    ts_offset: 77,
                    socket,
                    route_mtu,
                };
                let made = Core::new(now, local, remote, &params, &env);
                let want = reference(now, local, remote, &params, &config);
                // `Core` has no `PartialEq`; its `Debug` shows every field.
                assert_eq!(
                    format!("{made:?}"),
                    format!("{want:?}"),
                    "{socket:?} {route_mtu:?}"
                );
            }
        }
    }

    #[test]
    fn the_default_environment_has_the_default_configurations_template() {
        let env = Env::default();
        let t = &env.template;
        let fresh = ConnTemplate::new(&env.config);
        assert_eq!(format!("{t:?}"), format!("{fresh:?}"));
    }

    #[test]
    fn a_sysctl_change_reaches_the_next_connections_template() {
        let mut env = Env::new(Config::default());
        env.set_sysctl("net.ipv4.tcp_timestamps", "0").unwrap();
        env.set_sysctl("net.ipv4.tcp_congestion_control", "reno")
            .unwrap();
        assert!(env.set_sysctl("net.ipv4.tcp_nonsense", "1").is_err());
        let (local, remote) = ends();
        let params = ConnParams {
            iss: SeqNum(9),
            ts_offset: 3,
            socket: SocketOptions::default(),
            route_mtu: None,
        };
        let made = Core::new(Instant::ZERO, local, remote, &params, &env);
        let want = reference(Instant::ZERO, local, remote, &params, &env.config);
        assert_eq!(format!("{made:?}"), format!("{want:?}"));
        assert!(
            matches!(made.cc, Congestion::Reno(_)),
            "the sysctl reached it"
        );
    }

    /// `Connection::connect` as it was before `Connection::open`: its own
    /// copy of the set-up. The reference the shared open is checked against.
    fn reference_connect(
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        params: &ConnParams,
        env: &mut Env,
    ) -> Connection {
        let mut core = Core::new(now, local, remote, params, env);
        let snd = SendHalf::new(params.iss, core.send_buffer_limit(&env.config));
        core.pending.set_syn(true);
        env.stats.tcp.active_opens += 1;
        env.state_changed(TcpState::Closed, TcpState::SynSent);
        Connection {
            state: State::SynSent(SynSent { snd }),
            core,
        }
    }

    /// `Connection::accept_syn` as it was before `Connection::open`.
    fn reference_accept_syn(
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        syn: &TcpRepr<'_>,
        params: &ConnParams,
        env: &mut Env,
    ) -> Connection {
        let mut core = Core::new(now, local, remote, params, env);
        core.neg.answer_syn(&syn.options, &env.config);
        core.neg.ecn = EcnState::agreed(ecn::accept_syn(&env.config, syn.flags, env.rx_ecn()));
        core.neg.clamp_mss(core.socket.max_segment());
        if let Some(ts) = syn.options.timestamp.filter(|_| core.neg.ts_ok()) {
            core.ts_recent = Some(TsRecent::new(ts.tsval, now));
        }
        let mut snd = SendHalf::new(params.iss, core.send_buffer_limit(&env.config));
        core.apply_negotiated(&mut snd);
        snd.set_window(u32::from(syn.window));
        snd.wl1 = syn.seq;
        snd.wl2 = params.iss;
        let rcv = RecvHalf::new(
            syn.seq,
            core.recv_buffer_limit(&env.config),
            core.neg.rcv_wscale(),
            MAX_OUT_OF_ORDER_RANGES,
        );
        core.pending.set_syn(true);
        core.xmit.last_recv = now;
        core.passive_open = true;
        env.stats.tcp.passive_opens += 1;
        env.state_changed(TcpState::Listen, TcpState::SynReceived);
        Connection {
            state: State::SynReceived(SynReceived { snd, rcv }),
            core,
        }
    }

    /// SYNs that change every input of a passive open: each option there
    /// or not, ECN-setup or not, windows and sequence numbers.
    fn syns() -> Vec<TcpRepr<'static>> {
        (0..32u32)
            .map(|i| {
                let on = |bit: u32| i & (1 << bit) != 0;
                TcpRepr {
                    src_port: 4000,
                    dst_port: 80,
                    seq: SeqNum(0xffff_fff0u32.wrapping_add(i.wrapping_mul(0x1234_5678))),
                    ack: None,
                    flags: if on(4) {
                        TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR
                    } else {
                        TcpFlags::SYN
                    },
                    window: 1000 + (i as u16) * 2_000,
                    urgent: 0,
                    options: TcpOptions {
                        mss: on(0).then_some(500 + (i as u16) * 300),
                        window_scale: on(1).then_some((i % 15) as u8),
                        sack_permitted: on(2),
                        timestamp: on(3).then_some(TcpTimestamp {
                            tsval: i * 77,
                            tsecr: 0,
                        }),
                        ..TcpOptions::default()
                    },
                    payload: &[],
                }
            })
            .collect()
    }

    #[test]
    fn the_shared_open_builds_what_connect_and_accept_syn_built() {
        let (local, remote) = ends();
        let now = Instant::from_micros(987_654_321);
        let show = |c: &Connection| format!("{:?} {:?}", c.state, c.core);
        for config in configs() {
            for socket in sockets().into_iter().step_by(4) {
                let params = ConnParams {
                    iss: SeqNum(0x7fff_fff0),
                    ts_offset: 5,
                    socket,
                    route_mtu: None,
                };
                let (mut env, mut want_env) = (Env::new(config.clone()), Env::new(config.clone()));
                let made = Connection::connect(now, local, remote, &params, &mut env);
                let want = reference_connect(now, local, remote, &params, &mut want_env);
                assert_eq!(show(&made), show(&want), "{socket:?}");
                for syn in syns() {
                    let made = Connection::accept_syn(now, local, remote, &syn, &params, &mut env);
                    let want =
                        reference_accept_syn(now, local, remote, &syn, &params, &mut want_env);
                    assert_eq!(show(&made), show(&want), "{socket:?} {syn:?}");
                }
                // The counters and the state changes each open reported.
                assert_eq!(env.stats, want_env.stats);
                assert_eq!(
                    format!("{:?}", env.events),
                    format!("{:?}", want_env.events)
                );
            }
        }
    }

    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "connection template")]
    fn a_configuration_changed_behind_the_template_is_caught() {
        let mut env = Env::new(Config::default());
        env.config.tcp_init_cwnd += 1;
        let (local, remote) = ends();
        let params = ConnParams {
            iss: SeqNum(1),
            ts_offset: 0,
            socket: SocketOptions::default(),
            route_mtu: None,
        };
        let _ = Core::new(Instant::ZERO, local, remote, &params, &env);
    }
}
