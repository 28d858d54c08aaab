//! One BFD session in Asynchronous mode (RFC 5880 §6.8): the state
//! machine of §6.8.6, the timers of §6.8.2–§6.8.4 and the Poll Sequence
//! of §6.5, as a pure value: time comes in as an argument, packets to send
//! and state changes come out. No I/O, like the BGP [`crate::fsm`].
//!
//! ```text
//!                             +--+
//!                             |  | UP, ADMIN DOWN, TIMER
//!                             |  V
//!                     DOWN  +------+  INIT
//!              +------------|      |------------+
//!              |            | DOWN |            |
//!              |  +-------->|      |<--------+  |
//!              |  |         +------+         |  |
//!              |  |                          |  |
//!              |  |               ADMIN DOWN,|  |
//!              |  |ADMIN DOWN,          DOWN,|  |
//!              |  |TIMER                TIMER|  |
//!              V  |                          |  V
//!            +------+                      +------+
//!       +----|      |                      |      |----+
//!   DOWN|    | INIT |--------------------->|  UP  |    |INIT, UP
//!       +--->|      | INIT, UP             |      |<---+
//!            +------+                      +------+
//! ```
//!
//! Not implemented: Demand mode, the Echo function and authentication
//! (Ferry sends Required Min Echo RX 0 and never sets D or A).

use std::time::{Duration, Instant};

use super::packet::{ControlPacket, Diagnostic, State};

/// While a session is not Up it transmits no faster than once a second
/// (§6.8.3).
const SLOW_TX_US: u32 = 1_000_000;

/// The configured timers of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timers {
    /// Desired Min TX and Required Min RX, in microseconds.
    pub min_interval_us: u32,
    /// Detect Mult.
    pub multiplier: u8,
}

/// What the session asks its owner to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Transmit this packet now.
    Send(ControlPacket),
    /// The session changed state.
    Changed {
        from: State,
        to: State,
        diagnostic: Diagnostic,
    },
}

/// The state variables of §6.8.1 and the two timers.
#[derive(Clone, Debug)]
pub struct Session {
    pub local_discriminator: u32,
    pub remote_discriminator: u32,
    pub state: State,
    pub remote_state: State,
    pub diagnostic: Diagnostic,
    pub timers: Timers,
    /// The remote's Required Min RX (µs); 1 until a packet arrives.
    pub remote_min_rx_us: u32,
    /// The remote's Desired Min TX (µs).
    pub remote_desired_min_tx_us: u32,
    pub remote_multiplier: u8,
    /// The remote's C bit, as last received.
    pub remote_control_plane_independent: bool,
    /// A Poll Sequence of ours awaits its Final.
    poll: bool,
    next_tx: Instant,
    detect_deadline: Option<Instant>,
    rng: u64,
}

impl Session {
    /// A new session in state Down, transmitting at once.
    pub fn new(local_discriminator: u32, timers: Timers, now: Instant) -> Session {
        Session {
            local_discriminator,
            remote_discriminator: 0,
            state: State::Down,
            remote_state: State::Down,
            diagnostic: Diagnostic::None,
            timers,
            remote_min_rx_us: 1,
            remote_desired_min_tx_us: 0,
            remote_multiplier: 0,
            remote_control_plane_independent: false,
            poll: false,
            next_tx: now,
            detect_deadline: None,
            rng: u64::from(local_discriminator) | 1 << 40,
        }
    }

    /// bfd.DesiredMinTxInterval as in force now (µs).
    pub fn desired_min_tx_us(&self) -> u32 {
        if self.state == State::Up {
            self.timers.min_interval_us
        } else {
            self.timers.min_interval_us.max(SLOW_TX_US)
        }
    }

    /// The interval between our packets (§6.8.7), µs.
    pub fn tx_interval_us(&self) -> u32 {
        self.desired_min_tx_us().max(self.remote_min_rx_us)
    }

    /// The receive interval agreed with the peer (§6.8.4), µs.
    pub fn rx_interval_us(&self) -> u32 {
        self.timers
            .min_interval_us
            .max(self.remote_desired_min_tx_us)
    }

    /// The Detection Time in Asynchronous mode (§6.8.4): the remote's
    /// Detect Mult times the agreed receive interval.
    pub fn detection_time(&self) -> Duration {
        Duration::from_micros(u64::from(self.remote_multiplier) * u64::from(self.rx_interval_us()))
    }

    /// When [`Session::tick`] next has something to do.
    pub fn next_deadline(&self) -> Instant {
        match self.detect_deadline {
            Some(d) => d.min(self.next_tx),
            None => self.next_tx,
        }
    }

    /// Takes the session administratively down (the neighbour is being
    /// removed, or bgpd stops) and returns the packet that tells the
    /// peer, which then must not take it for a path failure (RFC 5880
    /// §6.8.16, RFC 5882 §3.2).
    pub fn admin_down(&mut self) -> ControlPacket {
        self.state = State::AdminDown;
        self.diagnostic = Diagnostic::AdministrativelyDown;
        self.poll = false;
        self.packet(false)
    }

    fn packet(&self, fin: bool) -> ControlPacket {
        ControlPacket {
            diagnostic: self.diagnostic,
            state: self.state,
            poll: self.poll && !fin,
            fin,
            // Ferry's BFD runs inside bgpd and shares its fate.
            control_plane_independent: false,
            demand: false,
            detect_mult: self.timers.multiplier,
            my_discriminator: self.local_discriminator,
            your_discriminator: self.remote_discriminator,
            desired_min_tx: self.desired_min_tx_us(),
            required_min_rx: self.timers.min_interval_us,
            required_min_echo_rx: 0,
        }
    }

    /// The next transmission: 75–100 % of the interval, 75–90 % with a
    /// Detect Mult of 1 (§6.8.7).
    fn schedule_tx(&mut self, now: Instant) {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let span = if self.timers.multiplier == 1 { 15 } else { 25 };
        let percent = 75 + self.rng % (span + 1);
        let us = u64::from(self.tx_interval_us()) * percent / 100;
        self.next_tx = now + Duration::from_micros(us.max(1));
    }

    fn set_state(&mut self, to: State, diagnostic: Diagnostic, out: &mut Vec<Output>) {
        let from = self.state;
        if from == to {
            return;
        }
        self.state = to;
        self.diagnostic = diagnostic;
        if to == State::Up {
            // Desired Min TX drops from the slow-start second to the
            // configured interval: a Poll Sequence announces it (§6.8.3).
            // A faster rate may be used at once.
            self.poll = true;
        }
        if from == State::Up {
            self.poll = false;
        }
        out.push(Output::Changed {
            from,
            to,
            diagnostic,
        });
    }

    /// A packet for this session arrived (it passed
    /// [`ControlPacket::decode`] and the discriminator lookup).
    pub fn receive(&mut self, p: &ControlPacket, now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        self.remote_discriminator = p.my_discriminator;
        self.remote_state = p.state;
        self.remote_min_rx_us = p.required_min_rx;
        self.remote_desired_min_tx_us = p.desired_min_tx;
        self.remote_multiplier = p.detect_mult;
        self.remote_control_plane_independent = p.control_plane_independent;
        if p.fin {
            self.poll = false;
        }
        let before = self.state;
        match (self.state, p.state) {
            (State::AdminDown, _) => return out,
            (State::Down, State::AdminDown) => {}
            (_, State::AdminDown) => self.set_state(
                State::Down,
                Diagnostic::NeighborSignaledSessionDown,
                &mut out,
            ),
            (State::Down, State::Down) => self.set_state(State::Init, Diagnostic::None, &mut out),
            (State::Down, State::Init) => self.set_state(State::Up, Diagnostic::None, &mut out),
            (State::Init, State::Init | State::Up) => {
                self.set_state(State::Up, Diagnostic::None, &mut out)
            }
            (State::Up, State::Down) => self.set_state(
                State::Down,
                Diagnostic::NeighborSignaledSessionDown,
                &mut out,
            ),
            _ => {}
        }
        self.detect_deadline = Some(now + self.detection_time());
        // The interval may have shrunk (the peer lowered its Required Min
        // RX, or we went Up): the next packet is due no later than one
        // new interval from now, or the peer's detection time runs out.
        if self.next_tx > now + Duration::from_micros(u64::from(self.tx_interval_us())) {
            self.schedule_tx(now);
        }
        if p.poll {
            // §6.8.6: answer a Poll with a Final as soon as practicable.
            out.push(Output::Send(self.packet(true)));
        } else if before != self.state {
            // Tell the peer at once rather than at the next interval.
            out.push(Output::Send(self.packet(false)));
            self.schedule_tx(now);
        }
        out
    }

    /// Time passed: the Detection Time may have expired (§6.8.4), a
    /// periodic packet may be due (§6.8.7).
    pub fn tick(&mut self, now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        if let Some(d) = self.detect_deadline {
            if now >= d {
                self.detect_deadline = None;
                if matches!(self.state, State::Init | State::Up) {
                    self.set_state(
                        State::Down,
                        Diagnostic::ControlDetectionTimeExpired,
                        &mut out,
                    );
                    // §6.8.1: bfd.RemoteDiscr is zeroed when the Detection
                    // Time expires.
                    self.remote_discriminator = 0;
                    self.remote_state = State::Down;
                    self.remote_min_rx_us = 1;
                    self.next_tx = now;
                }
            }
        }
        if now >= self.next_tx {
            // §6.8.7: no periodic packets while the remote asks for none.
            if self.remote_min_rx_us != 0 {
                out.push(Output::Send(self.packet(false)));
            }
            self.schedule_tx(now);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timers = Timers {
        min_interval_us: 100_000,
        multiplier: 3,
    };

    fn sent(out: &[Output]) -> Vec<ControlPacket> {
        out.iter()
            .filter_map(|o| match o {
                Output::Send(p) => Some(*p),
                _ => None,
            })
            .collect()
    }

    fn changes(out: &[Output]) -> Vec<(State, State)> {
        out.iter()
            .filter_map(|o| match o {
                Output::Changed { from, to, .. } => Some((*from, *to)),
                _ => None,
            })
            .collect()
    }

    /// Two sessions exchanging every packet: the three-way handshake.
    #[test]
    fn two_sessions_come_up() {
        let t0 = Instant::now();
        let mut a = Session::new(1, T, t0);
        let mut b = Session::new(2, T, t0);
        let pa = sent(&a.tick(t0));
        assert_eq!(pa.len(), 1);
        assert_eq!(pa[0].state, State::Down);
        assert_eq!(pa[0].your_discriminator, 0);
        assert_eq!(pa[0].desired_min_tx, 1_000_000, "slow start while Down");
        assert!(!pa[0].control_plane_independent);
        let ob = b.receive(&pa[0], t0);
        assert_eq!(changes(&ob), vec![(State::Down, State::Init)]);
        let pb = sent(&ob);
        assert_eq!(pb[0].state, State::Init);
        assert_eq!(pb[0].your_discriminator, 1);
        let oa = a.receive(&pb[0], t0);
        assert_eq!(changes(&oa), vec![(State::Down, State::Up)]);
        let pa = sent(&oa);
        assert!(pa[0].poll, "going Up starts a Poll Sequence");
        assert_eq!(pa[0].desired_min_tx, 100_000);
        let ob = b.receive(&pa[0], t0);
        assert_eq!(changes(&ob), vec![(State::Init, State::Up)]);
        let fin = sent(&ob);
        assert!(
            fin[0].fin && !fin[0].poll,
            "a Poll is answered with a Final"
        );
        a.receive(&fin[0], t0);
        assert!(!a.poll);
        assert_eq!(a.tx_interval_us(), 100_000);
        // 3 × 100 ms once both are fast.
        assert_eq!(a.detection_time(), Duration::from_millis(300));
    }

    fn up_pair(t0: Instant) -> (Session, Session) {
        let mut a = Session::new(1, T, t0);
        let mut b = Session::new(2, T, t0);
        let mut to_b = sent(&a.tick(t0));
        for _ in 0..6 {
            if a.state == State::Up && b.state == State::Up {
                break;
            }
            let mut to_a = Vec::new();
            for p in to_b.drain(..) {
                to_a.extend(sent(&b.receive(&p, t0)));
            }
            for p in to_a {
                to_b.extend(sent(&a.receive(&p, t0)));
            }
        }
        assert_eq!((a.state, b.state), (State::Up, State::Up));
        (a, b)
    }

    /// The peer asked for packets once a second while it was not Up and
    /// then for 100 ms: the next packet is within 100 ms, not a second.
    #[test]
    fn a_lowered_required_min_rx_takes_effect_at_once() {
        let t0 = Instant::now();
        let (mut a, b) = up_pair(t0);
        let mut slow = b.packet(false);
        slow.required_min_rx = 1_000_000;
        a.receive(&slow, t0);
        // The packet after a slow one is a second away.
        a.next_tx = t0 + Duration::from_secs(1);
        let mut fast = slow;
        fast.required_min_rx = 100_000;
        a.receive(&fast, t0);
        assert!(a.next_tx <= t0 + Duration::from_millis(100));
    }

    #[test]
    fn detection_time_expiry_takes_it_down() {
        let t0 = Instant::now();
        let (mut a, _b) = up_pair(t0);
        // Nothing received for 3 × 100 ms.
        assert!(changes(&a.tick(t0 + Duration::from_millis(299))).is_empty());
        let out = a.tick(t0 + Duration::from_millis(300));
        assert_eq!(changes(&out), vec![(State::Up, State::Down)]);
        assert_eq!(a.diagnostic, Diagnostic::ControlDetectionTimeExpired);
        assert_eq!(a.remote_discriminator, 0);
        let p = sent(&out);
        assert_eq!(p[0].state, State::Down);
        assert_eq!(p[0].diagnostic, Diagnostic::ControlDetectionTimeExpired);
        // Back to slow start.
        assert_eq!(p[0].desired_min_tx, 1_000_000);
    }

    #[test]
    fn the_peer_signals_down_and_admin_down() {
        let t0 = Instant::now();
        let (mut a, b) = up_pair(t0);
        let mut p = b.packet(false);
        p.state = State::Down;
        let out = a.receive(&p, t0);
        assert_eq!(changes(&out), vec![(State::Up, State::Down)]);
        assert_eq!(a.diagnostic, Diagnostic::NeighborSignaledSessionDown);
        let (mut a, b) = up_pair(t0);
        let mut p = b.packet(false);
        p.state = State::AdminDown;
        assert_eq!(changes(&a.receive(&p, t0)), vec![(State::Up, State::Down)]);
        // AdminDown while Down changes nothing.
        assert!(changes(&a.receive(&p, t0)).is_empty());
    }

    /// Taking a session down on purpose tells the peer AdminDown with
    /// diagnostic 7, and the peer records that it was the remote's doing.
    #[test]
    fn admin_down_is_signalled_and_recognised() {
        let t0 = Instant::now();
        let (mut a, mut b) = up_pair(t0);
        let p = b.admin_down();
        assert_eq!(p.state, State::AdminDown);
        assert_eq!(p.diagnostic, Diagnostic::AdministrativelyDown);
        assert_eq!(p.your_discriminator, b.remote_discriminator);
        assert_eq!(changes(&a.receive(&p, t0)), vec![(State::Up, State::Down)]);
        assert_eq!(a.remote_state, State::AdminDown);
        // Once AdminDown, received packets change nothing (§6.8.6).
        let q = a.packet(false);
        assert!(changes(&b.receive(&q, t0)).is_empty());
        assert_eq!(b.state, State::AdminDown);
    }

    #[test]
    fn init_does_not_go_up_on_down() {
        let t0 = Instant::now();
        let mut a = Session::new(1, T, t0);
        let mut p = Session::new(9, T, t0).packet(false);
        a.receive(&p, t0);
        assert_eq!(a.state, State::Init);
        p.your_discriminator = 1;
        assert!(changes(&a.receive(&p, t0)).is_empty());
        assert_eq!(a.state, State::Init);
        // Init times out too.
        let out = a.tick(t0 + Duration::from_secs(4));
        assert_eq!(changes(&out), vec![(State::Init, State::Down)]);
    }

    #[test]
    fn transmits_with_jitter_and_the_slower_of_the_two_rates() {
        let t0 = Instant::now();
        let (mut a, b) = up_pair(t0);
        let mut p = b.packet(false);
        p.required_min_rx = 500_000;
        a.receive(&p, t0);
        assert_eq!(a.tx_interval_us(), 500_000);
        let mut now = t0 + Duration::from_millis(200);
        a.receive(&p, now);
        a.tick(now);
        for _ in 0..50 {
            let gap = a.next_tx - now;
            assert!(gap >= Duration::from_millis(375) && gap <= Duration::from_millis(500));
            now = a.next_tx;
            // Keep the detection timer fed.
            a.receive(&p, now);
            assert_eq!(sent(&a.tick(now)).len(), 1);
        }
        // A remote asking for no packets gets none.
        p.required_min_rx = 0;
        a.receive(&p, now);
        let later = a.next_tx;
        a.receive(&p, later);
        assert!(sent(&a.tick(later)).is_empty());
    }
}
