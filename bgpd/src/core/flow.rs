//! Output flow control in the core (XON/XOFF per peer).
//!
//! An UPDATE batch goes to a peer's writer while fewer than
//! [`HIGH_WATER`] octets wait there. Past it the peer is throttled (XOFF):
//! its update group's batches keep flowing to the other members, and for
//! it the RIB records the keys of the routes they were about
//! (`Rib::defer`). When its writer falls below [`LOW_WATER`] it says XON
//! and the core drains the backlog — the routes' state now, encoded for
//! that peer, and any whole table still pending — a budget at a time. A
//! new session's table and a ROUTE-REFRESH answer take the same way, so
//! no peer ever has more than about [`HIGH_WATER`] octets encoded for it.

use ferry_rib::groups::Export;
use ferry_rib::peer::PeerId;
use ferry_rib::Outcome;
use ferry_wire::Family;
use tracing::debug;

use super::Core;
use crate::session::HIGH_WATER;
#[cfg(doc)]
use crate::session::LOW_WATER;

impl Core {
    /// Queues each export to its peers, or, for a throttled peer, records
    /// the routes that changed in its backlog.
    pub(super) fn queue_exports(&mut self, out: &mut Outcome) {
        let mut deferred: Vec<PeerId> = Vec::new();
        for Export {
            peers,
            messages,
            not_sent,
        } in std::mem::take(&mut out.exports)
        {
            let (late, now): (Vec<PeerId>, Vec<PeerId>) = peers
                .into_iter()
                .partition(|p| self.sessions.is_throttled(*p));
            if !not_sent.is_empty() && !now.is_empty() {
                self.count_not_sent(&now, &not_sent);
            }
            for p in now {
                self.queue(p, messages.clone());
            }
            deferred.extend(late);
        }
        for p in deferred {
            self.rib.defer(p, out.changes.iter().map(|c| &c.key));
        }
    }

    /// Queues messages that must reach the peer whatever its backlog
    /// (End-of-RIB at the end of the selection deferral).
    pub(super) fn queue_markers(&mut self, out: Outcome) {
        for e in out.exports {
            for p in e.peers {
                if let Some(w) = self.sessions.writer(p) {
                    w.send(e.messages.clone());
                }
            }
        }
    }

    /// Queues to one peer and throttles it once past the high-water mark.
    fn queue(&mut self, p: PeerId, messages: Vec<bytes::Bytes>) {
        let Some(w) = self.sessions.writer(p) else {
            return;
        };
        if !w.send(messages) {
            debug!(peer = ?self.sessions.addr(p), "writer gone; session closing");
            return;
        }
        if w.queued_octets() >= HIGH_WATER && w.throttle() {
            self.sessions.set_throttled(p, true);
        }
    }

    /// XON, a new session or a ROUTE-REFRESH: sends the peer what its
    /// backlog holds, until it is empty or the writer is full again.
    pub(super) fn resume(&mut self, p: PeerId) {
        self.sessions.set_throttled(p, false);
        loop {
            let Some(w) = self.sessions.writer(p) else {
                return;
            };
            let queued = w.queued_octets();
            if queued >= HIGH_WATER {
                if w.throttle() {
                    self.sessions.set_throttled(p, true);
                    return;
                }
                continue;
            }
            let d = self.rib.drain(p, (HIGH_WATER - queued) as usize);
            if !d.messages.is_empty() {
                if let Some(w) = self.sessions.writer(p) {
                    if !w.send(d.messages) {
                        return;
                    }
                }
            }
            if !d.not_sent.is_empty() {
                self.count_not_sent(&[p], &d.not_sent);
            }
            if d.done {
                return;
            }
        }
    }

    /// A ROUTE-REFRESH request: the table is pending (once, however many
    /// requests arrive before it is out) and sent as the budget allows.
    pub(super) fn refresh(&mut self, p: PeerId, family: Family) {
        if self.rib.request_refresh(p, family) {
            debug!(peer = ?self.sessions.addr(p), %family, "ROUTE-REFRESH coalesced with one still pending");
        }
        if !self.sessions.is_throttled(p) {
            self.resume(p);
        }
    }
}
