//! The neighbour registry: every neighbour the daemon knows, configured
//! or accepted from an allow range, with what `show summary`, `show
//! neighbor` and `/metrics` read about it (shared between its session and
//! writer tasks, which update it, and the core, the control socket and
//! the HTTP listener, which read it) and its session's command queue.
//!
//! The daemon alone adds and removes entries (a session started, stopped,
//! a dynamic one forgotten). The core keeps, for the sessions it exports
//! to, only their RIB ids and writers (`core::sessions`); the RIB their
//! routing state.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use dashmap::DashMap;
use ferry_wire::Family;

use crate::config::NeighborConfig;
use crate::fsm::State;
use crate::negotiate::Negotiated;
use crate::session::PeerCommand;
use tokio::sync::mpsc;

/// Counters and state of one peer.
#[derive(Debug)]
pub struct PeerStatus {
    pub config: Mutex<NeighborConfig>,
    pub in_messages: AtomicU64,
    pub out_messages: AtomicU64,
    /// Messages queued for the peer, not yet written.
    pub out_queue: AtomicU64,
    pub flaps: AtomicU64,
    /// Paths not sent to the peer because their attributes alone do not
    /// fit in one message of its maximum size (4096 octets, or 65535 with
    /// RFC 8654 extended messages), counted each time one is left out
    /// since the daemon started.
    pub oversize_paths_not_sent: AtomicU64,
    /// Octets queued for the peer, not yet written.
    pub out_queue_bytes: AtomicU64,
    /// Messages received and sent, by type ([`MESSAGE_TYPES`] order).
    pub received_by_type: [AtomicU64; 5],
    pub sent_by_type: [AtomicU64; 5],
    /// The families the peer sent End-of-RIB for on this session, as bits
    /// of their index in [`Family::SUPPORTED`].
    pub end_of_rib: AtomicU64,
    /// Sessions dropped because the peer read nothing for the
    /// SendHoldTime (RFC 9687).
    pub send_hold_timer_expired: AtomicU64,
    /// Output flow control: the core stopped queuing UPDATEs to the peer
    /// and waits for the writer to say it is below the low-water mark.
    pub xoff: AtomicBool,
    /// While the writer has output to write: when it last made progress
    /// (a write accepted by the socket, or output arriving while idle).
    /// `None` while it has nothing to write. On tokio's clock, which the
    /// session's timers run on (and which the tests can pause).
    pub write_progress: Mutex<Option<tokio::time::Instant>>,
    pub detail: Mutex<StatusDetail>,
}

/// The BGP message types by code 1..=5, as the metrics name them.
pub const MESSAGE_TYPES: [&str; 5] = [
    "open",
    "update",
    "notification",
    "keepalive",
    "route-refresh",
];

/// The index in [`MESSAGE_TYPES`] of a whole message (header included).
fn type_index(message: &[u8]) -> Option<usize> {
    match message.get(18) {
        Some(t @ 1..=5) => Some(*t as usize - 1),
        _ => None,
    }
}

/// The parts that change together.
#[derive(Clone, Debug)]
pub struct StatusDetail {
    pub state: State,
    pub last_change: Instant,
    pub last_error: Option<String>,
    pub negotiated: Option<Negotiated>,
    pub local_address: Option<IpAddr>,
}

impl PeerStatus {
    pub fn new(config: NeighborConfig) -> PeerStatus {
        PeerStatus {
            config: Mutex::new(config),
            in_messages: AtomicU64::new(0),
            out_messages: AtomicU64::new(0),
            out_queue: AtomicU64::new(0),
            flaps: AtomicU64::new(0),
            oversize_paths_not_sent: AtomicU64::new(0),
            out_queue_bytes: AtomicU64::new(0),
            received_by_type: Default::default(),
            sent_by_type: Default::default(),
            end_of_rib: AtomicU64::new(0),
            send_hold_timer_expired: AtomicU64::new(0),
            xoff: AtomicBool::new(false),
            write_progress: Mutex::new(None),
            detail: Mutex::new(StatusDetail {
                state: State::Idle,
                last_change: Instant::now(),
                last_error: None,
                negotiated: None,
                local_address: None,
            }),
        }
    }

    pub fn detail(&self) -> StatusDetail {
        self.detail
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn config(&self) -> NeighborConfig {
        self.config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn update(&self, f: impl FnOnce(&mut StatusDetail)) {
        let mut d = self.detail.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut d);
    }

    /// Counts a message read from the peer.
    pub fn received(&self, message: &[u8]) {
        self.in_messages.fetch_add(1, Ordering::Relaxed);
        if let Some(i) = type_index(message) {
            self.received_by_type[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts messages queued for the writer.
    pub fn queued(&self, messages: &[bytes::Bytes]) {
        let octets: usize = messages.iter().map(|m| m.len()).sum();
        self.out_queue
            .fetch_add(messages.len() as u64, Ordering::Relaxed);
        self.out_queue_bytes
            .fetch_add(octets as u64, Ordering::Relaxed);
    }

    /// Counts a message written to the peer; `queued` says it came from
    /// the queue (rather than jumping it, as a closing NOTIFICATION does).
    pub fn sent(&self, message: &[u8], queued: bool) {
        self.out_messages.fetch_add(1, Ordering::Relaxed);
        if let Some(i) = type_index(message) {
            self.sent_by_type[i].fetch_add(1, Ordering::Relaxed);
        }
        if queued {
            self.dequeued(message);
        }
    }

    /// Takes a queued message off the counts without sending it.
    pub fn dequeued(&self, message: &[u8]) {
        let _ = self
            .out_queue
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |q| {
                Some(q.saturating_sub(1))
            });
        let _ = self
            .out_queue_bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |q| {
                Some(q.saturating_sub(message.len() as u64))
            });
    }

    /// The writer stopped: nothing is queued any more.
    pub fn queue_cleared(&self) {
        self.out_queue.store(0, Ordering::Relaxed);
        self.out_queue_bytes.store(0, Ordering::Relaxed);
    }

    /// The writer made progress (`busy`: it still has output to write) or
    /// has nothing left to write (`!busy`).
    pub fn write_progress(&self, busy: bool) {
        let mut p = self
            .write_progress
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *p = busy.then(tokio::time::Instant::now);
    }

    /// The writer has output again after being idle: the send hold timer
    /// counts from now, not from the last write.
    pub fn write_pending(&self) {
        let mut p = self
            .write_progress
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if p.is_none() {
            *p = Some(tokio::time::Instant::now());
        }
    }

    /// Since when output has been waiting without any progress, if it is.
    pub fn stalled_since(&self) -> Option<tokio::time::Instant> {
        *self
            .write_progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Records the peer's End-of-RIB for `family`.
    pub fn end_of_rib_received(&self, family: Family) {
        if let Some(i) = Family::SUPPORTED.iter().position(|f| *f == family) {
            self.end_of_rib.fetch_or(1 << i, Ordering::Relaxed);
        }
    }

    /// True when the peer sent End-of-RIB for `family` on this session.
    pub fn has_end_of_rib(&self, family: Family) -> bool {
        Family::SUPPORTED
            .iter()
            .position(|f| *f == family)
            .is_some_and(|i| self.end_of_rib.load(Ordering::Relaxed) & (1 << i) != 0)
    }

    /// Records a state change; leaving Established counts a flap.
    pub fn set_state(&self, state: State) {
        let mut d = self.detail.lock().unwrap_or_else(|e| e.into_inner());
        if d.state == state {
            return;
        }
        let up_down = (d.state == State::Established) != (state == State::Established);
        if d.state == State::Established {
            self.flaps.fetch_add(1, Ordering::Relaxed);
            self.end_of_rib.store(0, Ordering::Relaxed);
        }
        if up_down {
            d.last_change = Instant::now();
        }
        d.state = state;
        if state != State::Established && state != State::OpenConfirm {
            d.negotiated = None;
        }
    }
}

/// One neighbour of the registry. It reads as its [`PeerStatus`].
#[derive(Clone, Debug)]
pub struct Neighbor {
    pub status: Arc<PeerStatus>,
    /// Orders to its session task (a connection accepted for it, stop,
    /// prefix limit, BFD Down): see [`crate::session::order`].
    pub commands: mpsc::Sender<PeerCommand>,
}

impl std::ops::Deref for Neighbor {
    type Target = PeerStatus;
    fn deref(&self) -> &PeerStatus {
        &self.status
    }
}

/// The neighbour registry, by address.
pub type PeerTable = Arc<DashMap<IpAddr, Neighbor>>;
