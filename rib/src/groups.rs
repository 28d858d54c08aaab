//! Update groups: peers that are treated alike (same role, same
//! negotiated encoding and families) and receive the same octets.
//!
//! Ferry keeps no per-peer copy of what it advertised. A change is turned
//! into octets once per group and the same buffers go to every member,
//! except the member the path came from, which gets its own messages.
//! What a peer holds is always derivable from the Loc-RIB and the export
//! rules, so nothing is stored per peer ([`crate::Rib::advertised_to`]).
//!
//! A peer joins its group when it comes up and is queued its initial
//! table; a ROUTE-REFRESH queues one family again ([`crate::backlog`]).

use std::net::IpAddr;

use bytes::Bytes;
use ferry_wire::{EncodeContext, Family, FamilySet, Nlri};

use crate::peer::{PeerId, PeerInfo, PeerState, Role, LOCAL};
use crate::{Outcome, Rib};

/// Peers that receive identical UPDATEs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GroupKey {
    pub role: Role,
    pub encode: EncodeContext,
    pub families: FamilySet,
    /// Our session address, for eBGP next-hop-self.
    pub local_address: Option<IpAddr>,
}

impl GroupKey {
    pub fn of(info: &PeerInfo) -> GroupKey {
        GroupKey {
            role: info.role,
            encode: info.encode,
            families: info.families,
            local_address: (info.role == Role::External).then_some(info.local_address),
        }
    }
}

/// An update group.
#[derive(Clone, Debug)]
pub struct Group {
    pub key: GroupKey,
    pub members: Vec<PeerId>,
}

/// Messages to send, the same octets to each listed peer.
#[derive(Clone, Debug, Default)]
pub struct Export {
    pub peers: Vec<PeerId>,
    pub messages: Vec<Bytes>,
    /// Routes each listed peer should have been sent but was not: their
    /// attributes alone do not fit in one message of the peer's maximum
    /// size. A peer that held an older path of one of them is sent its
    /// withdrawal in `messages`.
    pub not_sent: Vec<Nlri>,
}

impl Export {
    /// The number of messages.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

impl Rib {
    /// Takes `id` out of its update group, dropping groups left empty.
    pub(crate) fn leave_groups(&mut self, id: PeerId) {
        for g in &mut self.groups {
            g.members.retain(|m| *m != id);
        }
        self.groups.retain(|g| !g.members.is_empty());
    }

    /// Everything pending for `id`, drained at once into an outcome for
    /// that peer alone.
    fn drain_now(&mut self, id: PeerId) -> Outcome {
        let d = self.drain(id, usize::MAX);
        Outcome {
            exports: vec![Export {
                peers: vec![id],
                messages: d.messages,
                not_sent: d.not_sent,
            }],
            changes: Vec::new(),
        }
    }

    /// Registers a peer whose session just became Established and returns
    /// the initial table for it, each family closed by End-of-RIB, all at
    /// once (for tools and tests; the daemon sends it a budget at a time
    /// with [`Rib::peer_up_pending`] and [`Rib::drain`]).
    pub fn peer_up(&mut self, id: PeerId, info: PeerInfo) -> Outcome {
        self.peer_up_pending(id, info);
        self.drain_now(id)
    }

    /// Registers a peer whose session just became Established, its
    /// initial table pending in its backlog ([`Rib::drain`] sends it).
    pub fn peer_up_pending(&mut self, id: PeerId, info: PeerInfo) {
        assert_ne!(id, LOCAL, "peer id 0 is reserved for local routes");
        // A restarting peer keeps its stale paths until its End-of-RIB.
        let mut kept = None;
        if let Some(p) = self.peer(id) {
            if p.restarting {
                kept = Some((p.counters.clone(), p.stale));
                self.leave_groups(id);
            } else {
                self.peer_down(id);
            }
        }
        let idx = id as usize;
        if self.peers.len() <= idx {
            self.peers.resize_with(idx + 1, || None);
        }
        let key = GroupKey::of(&info);
        let (counters, stale) = kept.unwrap_or_default();
        self.peers[idx] = Some(PeerState {
            info,
            counters,
            restarting: false,
            stale,
        });
        match self.groups.iter_mut().find(|g| g.key == key) {
            Some(g) => g.members.push(id),
            None => self.groups.push(Group {
                key,
                members: vec![id],
            }),
        }
        self.queue_initial_tables(id);
    }

    /// Answers a ROUTE-REFRESH (RFC 2918 §4): the whole Adj-RIB-Out of
    /// `family` again — between Beginning- and End-of-Route-Refresh when
    /// enhanced route refresh was negotiated (RFC 7313 §4), else closed by
    /// End-of-RIB — all at once, with anything else pending for the peer
    /// (the daemon uses [`Rib::request_refresh`] and [`Rib::drain`]).
    pub fn route_refresh(&mut self, id: PeerId, family: Family) -> Outcome {
        if self.peer(id).is_none() {
            return Outcome::default();
        }
        self.request_refresh(id, family);
        self.drain_now(id)
    }
}
