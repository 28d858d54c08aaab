//! What `show summary` and `show neighbor` read about each peer, shared
//! between the session tasks that update it and the control socket.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use dashmap::DashMap;

use crate::config::NeighborConfig;
use crate::fsm::State;
use crate::negotiate::Negotiated;

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
    pub detail: Mutex<StatusDetail>,
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

    /// Records a state change; leaving Established counts a flap.
    pub fn set_state(&self, state: State) {
        let mut d = self.detail.lock().unwrap_or_else(|e| e.into_inner());
        if d.state == state {
            return;
        }
        let up_down = (d.state == State::Established) != (state == State::Established);
        if d.state == State::Established {
            self.flaps.fetch_add(1, Ordering::Relaxed);
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

/// Every peer the daemon knows, configured or dynamic, by address.
pub type PeerTable = Arc<DashMap<IpAddr, Arc<PeerStatus>>>;
