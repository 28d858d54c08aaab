//! Adj-RIB-In: what each peer sent. UPDATEs are applied here (families
//! not negotiated ignored, RFC 7606 treat-as-withdraw), and a peer going
//! down takes every path it sent with it.

use ferry_wire::{Family, NextHop, Nlri, Update};

use crate::attributes::{Attrs, RouteAttrs};
use crate::loc_rib::ChangeSet;
use crate::path::Path;
use crate::peer::PeerId;
use crate::{reflection, route_key, Outcome, PathExtra, Rib};

impl Rib {
    /// Applies an UPDATE received from peer `id`. NLRI of families not
    /// negotiated with the peer are ignored (RFC 4760 §7); an UPDATE that
    /// RFC 7606 marks treat-as-withdraw withdraws everything it announces.
    pub fn receive(&mut self, id: PeerId, update: &Update) -> Outcome {
        let Some(state) = self.peer(id) else {
            return Outcome::default();
        };
        let role = state.info.role;
        let families = state.info.families;
        let mut changes = ChangeSet::default();

        // The decoder drops EVPN routes of unknown types (RFC 7606 §5.4);
        // an UPDATE built in code may still hold some: never stored.
        let known = |n: &Nlri| !matches!(n, Nlri::Evpn(ferry_wire::EvpnRoute::Unknown { .. }));
        for w in update.withdrawn_all() {
            if families.contains(w.nlri.family()) && known(&w.nlri) {
                let (key, _) = route_key::split(&w.nlri);
                self.remove(&key, id, w.path_id.unwrap_or(0), &mut changes);
            }
        }
        if update.is_treat_as_withdraw() {
            if let Some(Some(p)) = self.peers.get_mut(id as usize) {
                p.counters.treat_as_withdraw += 1;
            }
            for a in update.announced() {
                if families.contains(a.nlri.family()) && known(&a.nlri) {
                    let (key, _) = route_key::split(&a.nlri);
                    self.remove(&key, id, a.path_id.unwrap_or(0), &mut changes);
                }
            }
            return self.finish(changes);
        }

        let mut path_attrs = update.attributes.clone();
        reflection::sanitize_received(&mut path_attrs, role);
        let eligible = !reflection::is_loop(&path_attrs, role, &self.cfg);
        let v4_next_hop = path_attrs
            .next_hop
            .map(NextHop::Ipv4)
            .unwrap_or(NextHop::Raw(Vec::new()));
        let mp_next_hop = update.mp_reach.as_ref().map(|r| r.next_hop.clone());

        let mut last: Option<(PathExtra, bool, Attrs)> = None;
        for a in update.announced() {
            let family = a.nlri.family();
            if !families.contains(family) || !known(&a.nlri) {
                continue;
            }
            let is_v4 = family == Family::IPV4_UNICAST;
            let (key, extra) = route_key::split(&a.nlri);
            let attrs = match &last {
                Some((e, v4, attrs)) if *e == extra && *v4 == is_v4 => attrs.clone(),
                _ => {
                    let next_hop = if is_v4 {
                        v4_next_hop.clone()
                    } else {
                        mp_next_hop.clone().unwrap_or(NextHop::Raw(Vec::new()))
                    };
                    let attrs = self.interner.intern(RouteAttrs {
                        path: path_attrs.clone(),
                        next_hop,
                        extra,
                    });
                    last = Some((extra, is_v4, attrs.clone()));
                    attrs
                }
            };
            let path = Path::new(id, a.path_id.unwrap_or(0), attrs, eligible);
            self.upsert(key, path, &mut changes);
        }
        self.finish(changes)
    }

    /// Unregisters a peer whose session went down: every path it sent is
    /// withdrawn (RFC 4271 §8.2.2).
    pub fn peer_down(&mut self, id: PeerId) -> Outcome {
        if self.peer(id).is_none() {
            return Outcome::default();
        }
        self.leave_groups(id);
        self.backlogs.remove(&id);
        let held = self.paths_of(id, |_, _| true);
        self.index.suspend(id);
        let mut changes = ChangeSet::default();
        for (k, path_id) in held {
            self.remove(&k, id, path_id, &mut changes);
        }
        // The peer's role decides what its old paths were exported to:
        // compute the withdrawals before forgetting it.
        let out = self.finish(changes);
        self.peers[id as usize] = None;
        self.index.clear(id);
        self.interner.sweep();
        out
    }
}
