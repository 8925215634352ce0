//! [`StackNode`]: a synack [`Stack`] as a simulated host, with an optional
//! application ([`App`]) that reacts to the stack's events.
//!
//! The node's ports are the stack's interfaces: [`PortId`]`(n)` is
//! [`IfaceId`]`(n)`. An Ethernet interface speaks Ethernet frames (the
//! link's default `l2_header_len` of 14), an IP-medium one bare IPv4
//! packets (connect it with `LinkConfig::l2_header_len(0)`). After every
//! input the node drains the stack's events into its application, which
//! may issue commands (send, read, close); the world then drains the
//! stack's output.

use core::any::Any;
use core::fmt;

use synack_proto::stack::{Event, IfaceId};
use synack_proto::{Instant, Stack};

use crate::node::{Node, PortId};

/// Application logic running on a [`StackNode`].
pub trait App: Any {
    /// Called for each event the stack raised.
    fn on_event(&mut self, now: Instant, stack: &mut Stack, event: &Event);

    /// Called after every input, once the events were handled (and once at
    /// the start): a place to connect, keep sending, or close.
    fn poll(&mut self, now: Instant, stack: &mut Stack) {
        let _ = (now, stack);
    }

    /// When the application wants [`App::on_timeout`].
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// The time asked for by [`App::poll_timeout`] has come.
    fn on_timeout(&mut self, now: Instant, stack: &mut Stack) {
        let _ = (now, stack);
    }
}

/// A host running one [`Stack`].
pub struct StackNode {
    pub stack: Stack,
    app: Option<Box<dyn App>>,
    /// Every event the stack raised, with its time, if `keep_events`.
    pub events: Vec<(Instant, Event)>,
    keep_events: bool,
    started: bool,
}

impl fmt::Debug for StackNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StackNode")
            .field("stack", &self.stack)
            .field("events", &self.events.len())
            .finish_non_exhaustive()
    }
}

impl StackNode {
    /// A host without an application: drive its stack through
    /// [`World::node_mut`](crate::World::node_mut).
    pub fn new(stack: Stack) -> Self {
        StackNode {
            stack,
            app: None,
            events: Vec::new(),
            keep_events: false,
            started: false,
        }
    }

    /// A host running `app`.
    pub fn with_app(stack: Stack, app: impl App) -> Self {
        StackNode {
            app: Some(Box::new(app)),
            ..StackNode::new(stack)
        }
    }

    /// Keep every event in [`StackNode::events`] (for tests and diagrams).
    pub fn keeping_events(mut self) -> Self {
        self.keep_events = true;
        self
    }

    /// The application, as its concrete type.
    pub fn app<T: App>(&self) -> Option<&T> {
        let app: &dyn Any = self.app.as_deref()?;
        app.downcast_ref()
    }

    pub fn app_mut<T: App>(&mut self) -> Option<&mut T> {
        let app: &mut dyn Any = self.app.as_deref_mut()?;
        app.downcast_mut()
    }

    /// Events kept so far, drained.
    pub fn take_events(&mut self) -> Vec<(Instant, Event)> {
        core::mem::take(&mut self.events)
    }

    /// Hands the stack's events to the application, then polls it. Returns
    /// whether anything happened (so output may be pending).
    fn run_app(&mut self, now: Instant) -> bool {
        let mut any = false;
        while let Some(event) = self.stack.poll_event() {
            any = true;
            if let Some(app) = self.app.as_deref_mut() {
                app.on_event(now, &mut self.stack, &event);
            }
            if self.keep_events {
                self.events.push((now, event));
            }
        }
        if let Some(app) = self.app.as_deref_mut() {
            app.poll(now, &mut self.stack);
            self.started = true;
        }
        any
    }
}

impl Node for StackNode {
    fn handle_frame(&mut self, now: Instant, port: PortId, frame: &[u8]) {
        self.stack.handle_frame_on(now, IfaceId(port.0), frame);
        self.run_app(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(PortId, usize)> {
        if !self.started {
            self.run_app(now);
        }
        loop {
            if let Some((iface, n)) = self.stack.poll_transmit_on(now, buf) {
                return Some((PortId(iface.0), n));
            }
            // Sending may have raised events (a trace, a close); the
            // application's answer may send more.
            if !self.run_app(now) {
                check_buffer_memory(&self.stack);
                return None;
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let app = self.app.as_deref().and_then(App::poll_timeout);
        match (self.stack.poll_timeout(), app) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.stack.handle_timeout(now);
        if let Some(app) = self.app.as_deref_mut()
            && app.poll_timeout().is_some_and(|t| t <= now)
        {
            app.on_timeout(now, &mut self.stack);
        }
        self.run_app(now);
    }
}

/// Every simulated stack checks, each time it has nothing left to send, that
/// its buffer memory counter (`tcp_mem`'s, charged after each call into a
/// connection) is the sum of what its connections hold: in debug builds
/// (the tests) and while it has few connections, so that large scenarios
/// stay linear.
fn check_buffer_memory(stack: &Stack) {
    if cfg!(debug_assertions) && stack.connection_count().0 <= 64 {
        assert_eq!(
            stack.buffer_memory(),
            stack.buffer_memory_scan(),
            "the buffer memory counter drifted from the connections' sum"
        );
    }
}
