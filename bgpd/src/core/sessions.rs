//! The sessions the core exports to: for each Established (or gracefully
//! restarting) neighbour, the RIB's [`PeerId`] by address and back, its
//! writer and its output state.
//!
//! Who owns what: the neighbour registry ([`crate::peer_status::PeerTable`],
//! the daemon's) holds every neighbour the daemon knows, with its status
//! and its session's command queue; this table, the core's, holds only the
//! sessions it exports to, under the id the RIB knows them by; the RIB
//! holds their routing state (Adj-RIB-In, export state, backlog) under the
//! same id. An id is freed when the session's routes are gone, and reused.

use std::collections::HashMap;
use std::net::IpAddr;

use ferry_rib::peer::{PeerId, LOCAL};
use ferry_wire::FamilySet;

use crate::session::WriterHandle;

/// One session the core exports to.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) addr: IpAddr,
    /// `None` while the peer restarts (graceful restart): its routes are
    /// kept, nothing is sent.
    pub(crate) writer: Option<WriterHandle>,
    /// Past its writer's high-water mark, waiting for XON
    /// ([`super::flow`]).
    pub(crate) throttled: bool,
    /// Families whose prefix limit was already reported on this session.
    pub(crate) limit_warned: FamilySet,
}

/// The core's sessions, by id and by address.
#[derive(Debug)]
pub(crate) struct Sessions {
    by_id: HashMap<PeerId, Session>,
    by_addr: HashMap<IpAddr, PeerId>,
    free_ids: Vec<PeerId>,
    next_id: PeerId,
}

impl Default for Sessions {
    fn default() -> Sessions {
        Sessions {
            by_id: HashMap::new(),
            by_addr: HashMap::new(),
            free_ids: Vec::new(),
            next_id: LOCAL + 1,
        }
    }
}

impl Sessions {
    /// The id of the session with this neighbour.
    pub(crate) fn id(&self, addr: &IpAddr) -> Option<PeerId> {
        self.by_addr.get(addr).copied()
    }

    /// The address of the neighbour with this id.
    pub(crate) fn addr(&self, id: PeerId) -> Option<IpAddr> {
        self.by_id.get(&id).map(|s| s.addr)
    }

    pub(crate) fn get_mut(&mut self, id: PeerId) -> Option<&mut Session> {
        self.by_id.get_mut(&id)
    }

    /// The writer of a session that is up.
    pub(crate) fn writer(&self, id: PeerId) -> Option<&WriterHandle> {
        self.by_id.get(&id).and_then(|s| s.writer.as_ref())
    }

    pub(crate) fn is_throttled(&self, id: PeerId) -> bool {
        self.by_id.get(&id).is_some_and(|s| s.throttled)
    }

    pub(crate) fn set_throttled(&mut self, id: PeerId, throttled: bool) {
        if let Some(s) = self.by_id.get_mut(&id) {
            s.throttled = throttled;
        }
    }

    /// Every session, as (address, id).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (IpAddr, PeerId)> + '_ {
        self.by_addr.iter().map(|(a, id)| (*a, *id))
    }

    /// A session comes up under `id` (a new one from [`Sessions::allocate`],
    /// or a restarting peer's own).
    pub(crate) fn up(&mut self, id: PeerId, addr: IpAddr, writer: WriterHandle) {
        self.by_addr.insert(addr, id);
        self.by_id.insert(
            id,
            Session {
                addr,
                writer: Some(writer),
                throttled: false,
                limit_warned: FamilySet::EMPTY,
            },
        );
    }

    /// A fresh id.
    pub(crate) fn allocate(&mut self) -> PeerId {
        self.free_ids.pop().unwrap_or_else(|| {
            self.next_id += 1;
            self.next_id - 1
        })
    }

    /// The session is gone and so are its routes: its id is free.
    pub(crate) fn remove(&mut self, id: PeerId) {
        if let Some(s) = self.by_id.remove(&id) {
            self.by_addr.remove(&s.addr);
        }
        self.free_ids.push(id);
    }
}
