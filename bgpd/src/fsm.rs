//! The BGP finite state machine of RFC 4271 §8, pure: `(state, event) ->
//! (state, actions)`. The session task turns actions into I/O and timers
//! and feeds back events; nothing here blocks or reads a clock.
//!
//! ```text
//!            ManualStart / AutomaticStart            (passive start)
//!   Idle ──────────────────────────────▶ Connect ◀───────▶ Active
//!    ▲                                      │ Tcp_CR_Acked /  │ TcpConnectionConfirmed
//!    │ errors, NOTIFICATION,                │ Confirmed       │
//!    │ hold timer, stop                     ▼                 ▼
//!    ├──────────────────────────────────  OpenSent ◀──────────┘
//!    │                                      │ BGPOpen (valid): send KEEPALIVE
//!    │                                      ▼
//!    ├──────────────────────────────────  OpenConfirm
//!    │                                      │ KeepAliveMsg
//!    │                                      ▼
//!    └──────────────────────────────────  Established  (UPDATE, KEEPALIVE,
//!                                                       ROUTE-REFRESH)
//! ```
//!
//! Optional session attributes of RFC 4271 §8.1.1 that Ferry does not
//! implement: DelayOpen, DampPeerOscillations, SendNOTIFICATIONwithoutOPEN
//! and CollisionDetectEstablishedState (a connection that collides with an
//! Established session is always refused).

use std::fmt;

use ferry_wire::iana::notification::{self as code, cease, fsm as fsm_sub};
use ferry_wire::{
    DecodeContext, EncodeContext, Message, MessageError, Notification, Open, RouteRefresh, Update,
};

use crate::negotiate::{negotiate, LocalParams, Negotiated};

/// The six states of RFC 4271 §8.2.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

impl State {
    /// The RFC 4271 name.
    pub fn name(self) -> &'static str {
        match self {
            State::Idle => "Idle",
            State::Connect => "Connect",
            State::Active => "Active",
            State::OpenSent => "OpenSent",
            State::OpenConfirm => "OpenConfirm",
            State::Established => "Established",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The events of RFC 4271 §8.1 that Ferry raises (numbers as in the RFC).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// 1 / 3: start, connecting out.
    Start,
    /// 4 / 5: start, waiting for the peer to connect.
    StartPassive,
    /// 2: ManualStop (administrative shutdown).
    ManualStop,
    /// 8: AutomaticStop (peer de-configured and similar), with the Cease
    /// subcode to send.
    AutomaticStop(u8),
    /// 9
    ConnectRetryTimerExpires,
    /// 10
    HoldTimerExpires,
    /// 11
    KeepaliveTimerExpires,
    /// RFC 9687 SendHoldTimer_Expires: nothing could be written to the
    /// peer for the SendHoldTime.
    SendHoldTimerExpires,
    /// 16: our connection attempt succeeded.
    TcpCrAcked,
    /// 17: the peer's connection was accepted.
    TcpConnectionConfirmed,
    /// 18
    TcpConnectionFails,
    /// 19
    BgpOpen(Box<Open>),
    /// 21 / 22 / 28: a message the decoder rejected (header, OPEN or
    /// UPDATE error), with its NOTIFICATION.
    MessageError(MessageError),
    /// 23: this connection lost a collision (RFC 4271 §6.8).
    OpenCollisionDump,
    /// 24 / 25
    NotifMsg(Notification),
    /// 26
    KeepAliveMsg,
    /// 27
    UpdateMsg(Box<Update>),
    /// ROUTE-REFRESH (RFC 2918), handled like an UPDATE for the FSM.
    RouteRefreshMsg(RouteRefresh),
}

impl Event {
    /// The event a whole received message raises: the message, or the
    /// error the decoder found in it.
    pub fn from_message(msg: &[u8], ctx: &DecodeContext) -> Event {
        match Message::decode(msg, ctx) {
            Ok(Message::Open(o)) => Event::BgpOpen(Box::new(o)),
            Ok(Message::Update(u)) => Event::UpdateMsg(Box::new(u)),
            Ok(Message::Keepalive) => Event::KeepAliveMsg,
            Ok(Message::Notification(n)) => Event::NotifMsg(n),
            Ok(Message::RouteRefresh(r)) => Event::RouteRefreshMsg(r),
            Err(e) => Event::MessageError(e),
        }
    }
}

/// What the session task must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    InitiateConnect,
    DropConnection,
    SendOpen(Box<Open>),
    SendKeepalive,
    SendNotification(Notification),
    StartConnectRetryTimer,
    StopConnectRetryTimer,
    /// (Re)start the hold timer with this many seconds; 0 stops it.
    StartHoldTimer(u16),
    /// (Re)start the keepalive timer; 0 stops it.
    StartKeepaliveTimer(u16),
    /// The session is up with these parameters.
    Established(Box<Negotiated>),
    /// The session left Established; with `graceful`, the peer's routes
    /// are kept as stale (RFC 4724 §4.2, RFC 8538).
    SessionDown {
        reason: String,
        graceful: Option<crate::negotiate::GracefulRestart>,
    },
    DeliverUpdate(Box<Update>),
    DeliverRouteRefresh(RouteRefresh),
    /// Record the error shown by `show neighbor`.
    RecordError(String),
}

/// RFC 4271 §8.2.2: the hold timer while waiting for OPEN ("a large value,
/// 4 minutes is suggested").
pub const OPEN_HOLD_TIME: u16 = 240;

/// The FSM of one peer.
#[derive(Clone, Debug)]
pub struct Fsm {
    state: State,
    local: LocalParams,
    negotiated: Option<Negotiated>,
    connect_retry_counter: u32,
    /// How the peer reads the messages of the last actions returned.
    send_context: EncodeContext,
}

impl Fsm {
    pub fn new(local: LocalParams) -> Fsm {
        Fsm {
            state: State::Idle,
            local,
            negotiated: None,
            connect_retry_counter: 0,
            send_context: EncodeContext::default(),
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    pub fn connect_retry_counter(&self) -> u32 {
        self.connect_retry_counter
    }

    pub fn local(&self) -> &LocalParams {
        &self.local
    }

    /// How to read what the peer sends now: as negotiated, or before
    /// OPEN (4096-octet messages).
    pub fn receive_context(&self) -> DecodeContext {
        self.negotiated
            .as_ref()
            .map_or_else(DecodeContext::default, Negotiated::decode_context)
    }

    /// How to encode the messages of the actions the last [`Fsm::handle`]
    /// returned: the context negotiated on that connection (kept for the
    /// NOTIFICATION that closes it, although the FSM is Idle by then), or
    /// the pre-OPEN one (4096-octet messages).
    pub fn send_context(&self) -> EncodeContext {
        self.send_context
    }

    /// Handles one event, returning what to do.
    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        let was = self.state;
        let received = match &event {
            Event::NotifMsg(n) => Some((n.code, n.subcode)),
            _ => None,
        };
        let mut actions = Vec::new();
        self.send_context = self
            .negotiated
            .as_ref()
            .map_or_else(EncodeContext::default, Negotiated::encode_context);
        self.step(event, &mut actions);
        if let Some(n) = &self.negotiated {
            self.send_context = n.encode_context();
        }
        if was == State::Established && self.state != State::Established {
            let reason = actions
                .iter()
                .find_map(|a| match a {
                    Action::RecordError(e) => Some(e.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| "session closed".to_string());
            let sent = actions.iter().find_map(|a| match a {
                Action::SendNotification(n) => Some((n.code, n.subcode)),
                _ => None,
            });
            let graceful = self
                .negotiated
                .as_ref()
                .and_then(|n| n.graceful_restart)
                .filter(|gr| !gr.families.is_empty())
                .filter(|gr| match received.or(sent) {
                    // RFC 4724 §4.2: the transport failed.
                    None => true,
                    // RFC 8538 §4: any NOTIFICATION but Hard Reset.
                    Some((code, subcode)) => {
                        gr.notification && !(code == code::CEASE && subcode == cease::HARD_RESET)
                    }
                });
            actions.push(Action::SessionDown { reason, graceful });
        }
        if self.state == State::Idle {
            self.negotiated = None;
        }
        actions
    }

    fn enter_idle(&mut self, actions: &mut Vec<Action>) {
        actions.push(Action::StopConnectRetryTimer);
        actions.push(Action::StartHoldTimer(0));
        actions.push(Action::StartKeepaliveTimer(0));
        actions.push(Action::DropConnection);
        self.connect_retry_counter += 1;
        self.state = State::Idle;
    }

    fn notify_and_idle(&mut self, n: Notification, actions: &mut Vec<Action>) {
        actions.push(Action::RecordError(format!("sent {n}")));
        actions.push(Action::SendNotification(n));
        self.enter_idle(actions);
    }

    fn fsm_error(&mut self, actions: &mut Vec<Action>) {
        let sub = match self.state {
            State::OpenSent => fsm_sub::UNEXPECTED_IN_OPENSENT,
            State::OpenConfirm => fsm_sub::UNEXPECTED_IN_OPENCONFIRM,
            State::Established => fsm_sub::UNEXPECTED_IN_ESTABLISHED,
            _ => fsm_sub::UNSPECIFIED,
        };
        self.notify_and_idle(Notification::new(code::FSM_ERROR, sub, Vec::new()), actions);
    }

    fn step(&mut self, event: Event, actions: &mut Vec<Action>) {
        use State::*;
        match (self.state, event) {
            // ---- Idle: only a start does anything (RFC 4271 §8.2.2) ----
            (Idle, Event::Start) => {
                self.connect_retry_counter = 0;
                actions.push(Action::StartConnectRetryTimer);
                actions.push(Action::InitiateConnect);
                self.state = Connect;
            }
            (Idle, Event::StartPassive) => {
                self.connect_retry_counter = 0;
                actions.push(Action::StartConnectRetryTimer);
                self.state = Active;
            }
            (Idle, _) => {}

            // ---- stops, from any other state ----
            (Connect | Active, Event::ManualStop | Event::AutomaticStop(_)) => {
                self.enter_idle(actions);
                self.connect_retry_counter = 0;
            }
            (OpenSent | OpenConfirm | Established, Event::ManualStop) => {
                let n = Notification::new(code::CEASE, cease::ADMINISTRATIVE_SHUTDOWN, Vec::new());
                self.notify_and_idle(n, actions);
                self.connect_retry_counter = 0;
            }
            (OpenSent | OpenConfirm | Established, Event::AutomaticStop(sub)) => {
                // RFC 8538 §3: a reset meant to flush the peer's routes is
                // a Hard Reset whose data is the encapsulated NOTIFICATION:
                // its Error Code and Error Subcode (FRR 8.4 aborts on a
                // Hard Reset with the subcode alone).
                let n = if self
                    .negotiated
                    .as_ref()
                    .and_then(|n| n.graceful_restart)
                    .is_some_and(|gr| gr.notification)
                {
                    Notification::new(code::CEASE, cease::HARD_RESET, vec![code::CEASE, sub])
                } else {
                    Notification::new(code::CEASE, sub, Vec::new())
                };
                self.notify_and_idle(n, actions);
            }

            // ---- Connect ----
            (Connect, Event::ConnectRetryTimerExpires) => {
                actions.push(Action::DropConnection);
                actions.push(Action::StartConnectRetryTimer);
                actions.push(Action::InitiateConnect);
            }
            (Connect | Active, Event::TcpCrAcked | Event::TcpConnectionConfirmed) => {
                actions.push(Action::StopConnectRetryTimer);
                actions.push(Action::SendOpen(Box::new(self.local.open())));
                actions.push(Action::StartHoldTimer(OPEN_HOLD_TIME));
                self.state = OpenSent;
            }
            (Connect, Event::TcpConnectionFails) => {
                // RFC 4271 §8.2.2, Connect state, Event 18 without a
                // DelayOpenTimer: back to Idle. The session starts again
                // after its back-off (1 s, 2 s, 4 s, … up to the
                // connect-retry time), so a peer that is restarting is
                // reached again seconds after it listens, not a whole
                // ConnectRetryTimer later.
                self.enter_idle(actions);
            }

            // ---- Active ----
            (Active, Event::ConnectRetryTimerExpires) => {
                actions.push(Action::StartConnectRetryTimer);
                actions.push(Action::InitiateConnect);
                self.state = Connect;
            }
            (Active, Event::TcpConnectionFails) => {
                self.enter_idle(actions);
            }
            (Connect | Active, Event::MessageError(e)) => {
                actions.push(Action::RecordError(e.to_string()));
                self.enter_idle(actions);
            }
            (Connect | Active, _) => {
                // Any other event (a message before OPEN was sent, a
                // stray timer): FSM error, back to Idle without NOTIFICATION.
                self.enter_idle(actions);
            }

            // ---- OpenSent ----
            (OpenSent, Event::BgpOpen(open)) => match negotiate(&self.local, &open) {
                Ok(n) => {
                    actions.push(Action::StopConnectRetryTimer);
                    actions.push(Action::SendKeepalive);
                    actions.push(Action::StartKeepaliveTimer(n.keepalive));
                    actions.push(Action::StartHoldTimer(n.hold_time));
                    self.negotiated = Some(n);
                    self.state = OpenConfirm;
                }
                Err(e) => {
                    actions.push(Action::RecordError(e.to_string()));
                    self.notify_and_idle(Notification::from(&e), actions);
                }
            },
            (OpenSent, Event::TcpConnectionFails) => {
                actions.push(Action::DropConnection);
                actions.push(Action::StartConnectRetryTimer);
                actions.push(Action::StartHoldTimer(0));
                self.state = Active;
            }

            // ---- OpenConfirm ----
            (OpenConfirm, Event::KeepAliveMsg) => {
                match self.negotiated.clone() {
                    Some(n) => {
                        actions.push(Action::StartHoldTimer(n.hold_time));
                        actions.push(Action::Established(Box::new(n)));
                        self.state = Established;
                    }
                    // OpenConfirm is entered with the OPEN negotiated;
                    // never reached, answered as an FSM error if it were.
                    None => self.fsm_error(actions),
                }
            }

            // ---- OpenConfirm and Established: keepalives ----
            (OpenConfirm | Established, Event::KeepaliveTimerExpires) => {
                actions.push(Action::SendKeepalive);
                let ka = self.negotiated.as_ref().map_or(0, |n| n.keepalive);
                actions.push(Action::StartKeepaliveTimer(ka));
            }

            // ---- Established ----
            (Established, Event::KeepAliveMsg) => {
                let hold = self.negotiated.as_ref().map_or(0, |n| n.hold_time);
                actions.push(Action::StartHoldTimer(hold));
            }
            (Established, Event::UpdateMsg(u)) => {
                let hold = self.negotiated.as_ref().map_or(0, |n| n.hold_time);
                actions.push(Action::StartHoldTimer(hold));
                actions.push(Action::DeliverUpdate(u));
            }
            (Established, Event::RouteRefreshMsg(r)) => {
                let hold = self.negotiated.as_ref().map_or(0, |n| n.hold_time);
                actions.push(Action::StartHoldTimer(hold));
                actions.push(Action::DeliverRouteRefresh(r));
            }

            // ---- common to OpenSent, OpenConfirm, Established ----
            (OpenSent | OpenConfirm | Established, Event::HoldTimerExpires) => {
                let n = Notification::new(code::HOLD_TIMER_EXPIRED, 0, Vec::new());
                self.notify_and_idle(n, actions);
            }
            // RFC 9687 §4.3: the NOTIFICATION is sent (best effort: the
            // peer is not reading) and the session closed.
            (Established, Event::SendHoldTimerExpires) => {
                let n = Notification::new(code::SEND_HOLD_TIMER_EXPIRED, 0, Vec::new());
                self.notify_and_idle(n, actions);
            }
            (OpenSent | OpenConfirm | Established, Event::MessageError(e)) => {
                actions.push(Action::RecordError(e.to_string()));
                self.notify_and_idle(Notification::from(&e), actions);
            }
            (OpenSent | OpenConfirm | Established, Event::OpenCollisionDump) => {
                let n = Notification::new(
                    code::CEASE,
                    cease::CONNECTION_COLLISION_RESOLUTION,
                    Vec::new(),
                );
                self.notify_and_idle(n, actions);
            }
            (OpenConfirm | Established, Event::TcpConnectionFails) => {
                actions.push(Action::RecordError("connection closed by peer".into()));
                self.enter_idle(actions);
            }
            (OpenSent | OpenConfirm | Established, Event::NotifMsg(n)) => {
                actions.push(Action::RecordError(format!("received {n}")));
                self.enter_idle(actions);
            }
            (OpenSent | OpenConfirm | Established, _) => self.fsm_error(actions),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_wire::message::Capability;
    use ferry_wire::{Family, FamilySet};
    use std::net::Ipv4Addr;

    fn fsm() -> Fsm {
        Fsm::new(LocalParams {
            asn: 64512,
            router_id: Ipv4Addr::new(10, 10, 25, 42),
            hold_time: 90,
            families: FamilySet::from_iter([Family::EVPN]),
            peer_as: 64512,
            graceful_restart_time: None,
        })
    }

    fn peer_open() -> Box<Open> {
        Box::new(Open::new(
            64512,
            90,
            Ipv4Addr::new(10, 10, 93, 12),
            vec![Capability::Multiprotocol {
                family: Family::EVPN,
            }],
        ))
    }

    fn establish(f: &mut Fsm) {
        f.handle(Event::Start);
        f.handle(Event::TcpCrAcked);
        f.handle(Event::BgpOpen(peer_open()));
        let a = f.handle(Event::KeepAliveMsg);
        assert!(a.iter().any(|a| matches!(a, Action::Established(_))));
        assert_eq!(f.state(), State::Established);
    }

    #[test]
    fn active_open_reaches_established() {
        let mut f = fsm();
        assert_eq!(
            f.handle(Event::Start),
            vec![Action::StartConnectRetryTimer, Action::InitiateConnect]
        );
        assert_eq!(f.state(), State::Connect);
        let a = f.handle(Event::TcpCrAcked);
        assert!(matches!(a[1], Action::SendOpen(_)));
        assert_eq!(a[2], Action::StartHoldTimer(OPEN_HOLD_TIME));
        assert_eq!(f.state(), State::OpenSent);
        let a = f.handle(Event::BgpOpen(peer_open()));
        assert!(a.contains(&Action::SendKeepalive));
        assert!(a.contains(&Action::StartKeepaliveTimer(30)));
        assert_eq!(f.state(), State::OpenConfirm);
        f.handle(Event::KeepAliveMsg);
        assert_eq!(f.state(), State::Established);
    }

    #[test]
    fn passive_start_waits_in_active() {
        let mut f = fsm();
        f.handle(Event::StartPassive);
        assert_eq!(f.state(), State::Active);
        f.handle(Event::TcpConnectionConfirmed);
        assert_eq!(f.state(), State::OpenSent);
    }

    #[test]
    fn connect_failure_goes_to_idle_and_starts_again() {
        let mut f = fsm();
        f.handle(Event::Start);
        let a = f.handle(Event::TcpConnectionFails);
        assert!(a.contains(&Action::StopConnectRetryTimer));
        assert!(a.contains(&Action::DropConnection));
        assert_eq!(f.state(), State::Idle);
        let a = f.handle(Event::Start);
        assert!(a.contains(&Action::InitiateConnect));
        assert_eq!(f.state(), State::Connect);
    }

    #[test]
    fn bad_open_sends_its_notification() {
        let mut f = fsm();
        f.handle(Event::Start);
        f.handle(Event::TcpCrAcked);
        let bad = Box::new(Open::new(65000, 90, Ipv4Addr::new(1, 1, 1, 1), vec![]));
        let a = f.handle(Event::BgpOpen(bad));
        assert!(a
            .iter()
            .any(|a| matches!(a, Action::SendNotification(n) if n.code == 2 && n.subcode == 2)));
        assert_eq!(f.state(), State::Idle);
    }

    #[test]
    fn hold_timer_expiry_sends_code_4_and_reports_down() {
        let mut f = fsm();
        establish(&mut f);
        let a = f.handle(Event::HoldTimerExpires);
        assert!(a
            .iter()
            .any(|a| matches!(a, Action::SendNotification(n) if n.code == 4)));
        assert!(a.iter().any(|a| matches!(a, Action::SessionDown { .. })));
        assert_eq!(f.state(), State::Idle);
    }

    #[test]
    fn send_hold_timer_expiry_sends_code_8_and_reports_down() {
        let mut f = fsm();
        establish(&mut f);
        let a = f.handle(Event::SendHoldTimerExpires);
        assert!(a
            .iter()
            .any(|a| matches!(a, Action::SendNotification(n) if n.code == 8 && n.subcode == 0)));
        assert!(a.iter().any(|a| matches!(a, Action::SessionDown { .. })));
        assert_eq!(f.state(), State::Idle);
    }

    #[test]
    fn unexpected_messages_are_fsm_errors_with_the_state_subcode() {
        let mut f = fsm();
        f.handle(Event::Start);
        f.handle(Event::TcpCrAcked);
        let a = f.handle(Event::KeepAliveMsg);
        assert!(a
            .iter()
            .any(|a| matches!(a, Action::SendNotification(n) if n.code == 5 && n.subcode == 1)));
        let mut f = fsm();
        establish(&mut f);
        let a = f.handle(Event::BgpOpen(peer_open()));
        assert!(a
            .iter()
            .any(|a| matches!(a, Action::SendNotification(n) if n.code == 5 && n.subcode == 3)));
    }

    #[test]
    fn updates_are_delivered_only_when_established() {
        let mut f = fsm();
        establish(&mut f);
        let a = f.handle(Event::UpdateMsg(Box::default()));
        assert!(a.iter().any(|a| matches!(a, Action::DeliverUpdate(_))));
        assert_eq!(f.state(), State::Established);
    }

    #[test]
    fn manual_stop_sends_administrative_shutdown() {
        let mut f = fsm();
        establish(&mut f);
        let a = f.handle(Event::ManualStop);
        assert!(a
            .iter()
            .any(|a| matches!(a, Action::SendNotification(n) if n.code == 6 && n.subcode == 2)));
        assert_eq!(f.state(), State::Idle);
    }

    #[test]
    fn notification_from_peer_closes_without_answer() {
        let mut f = fsm();
        establish(&mut f);
        let a = f.handle(Event::NotifMsg(Notification::new(6, 2, vec![])));
        assert!(!a.iter().any(|a| matches!(a, Action::SendNotification(_))));
        assert_eq!(f.state(), State::Idle);
    }
}
