//! Graceful restart (RFC 4724) and the stale paths of enhanced route
//! refresh (RFC 7313): a restarting peer's paths kept stale until its
//! End-of-RIB, and this speaker's own selection deferral while it
//! restarts.

use ferry_wire::{Family, FamilySet};

use crate::groups::{Export, GroupKey};
use crate::loc_rib::ChangeSet;
use crate::packing;
use crate::peer::PeerId;
use crate::{Outcome, Rib};

impl Rib {
    /// Holds back End-of-RIB after the initial tables (a restarting
    /// speaker's selection deferral, RFC 4724 §4.1).
    pub fn set_deferring(&mut self, on: bool) {
        self.deferring = on;
    }

    pub fn is_deferring(&self) -> bool {
        self.deferring
    }

    /// Ends the deferral: End-of-RIB of every family to every peer, or,
    /// to a peer still being sent its initial table of a family, after it.
    pub fn end_deferral(&mut self) -> Outcome {
        self.deferring = false;
        let mut exports = Vec::new();
        let groups: Vec<(GroupKey, Vec<PeerId>)> = self
            .groups
            .iter()
            .map(|g| (g.key, g.members.clone()))
            .collect();
        for (key, members) in groups {
            let markers: Vec<(Family, bytes::Bytes)> = key
                .families
                .iter()
                .map(|f| (f, packing::end_of_rib(f, &key.encode)))
                .collect();
            for m in members {
                if self.peer(m).is_none_or(|p| p.restarting) {
                    continue;
                }
                let messages: Vec<bytes::Bytes> = markers
                    .iter()
                    .filter(|(f, _)| !self.end_of_rib_after_dump(m, *f))
                    .map(|(_, b)| b.clone())
                    .collect();
                if !messages.is_empty() {
                    exports.push(Export {
                        peers: vec![m],
                        messages,
                        not_sent: Vec::new(),
                    });
                }
            }
        }
        Outcome {
            exports,
            changes: Vec::new(),
        }
    }

    /// RFC 4724 §4.2, the helper: the session of `id` went down while
    /// graceful restart was negotiated. Its paths of `keep` stay, marked
    /// stale (still used); those of other families are withdrawn; it gets
    /// no updates until it is up again.
    pub fn peer_restarting(&mut self, id: PeerId, keep: FamilySet) -> Outcome {
        let Some(state) = self.peer(id) else {
            return Outcome::default();
        };
        let families = state.info.families;
        self.leave_groups(id);
        self.backlogs.remove(&id);
        let mut out = Outcome::default();
        for f in families.iter() {
            if keep.contains(f) {
                self.mark_stale(id, f);
            } else {
                self.mark_stale(id, f);
                let o = self.purge_stale(id, f);
                out.exports.extend(o.exports);
                out.changes.extend(o.changes);
            }
        }
        if let Some(Some(p)) = self.peers.get_mut(id as usize) {
            p.restarting = true;
            p.stale = keep;
        }
        out
    }

    /// True while `id` is down and restarting.
    pub fn is_restarting(&self, id: PeerId) -> bool {
        self.peer(id).is_some_and(|p| p.restarting)
    }

    /// End-of-RIB from `id` for `family`: its paths still stale are gone
    /// (RFC 4724 §4.2).
    pub fn end_of_rib(&mut self, id: PeerId, family: Family) -> Outcome {
        let stale = self.peer(id).is_some_and(|p| p.stale.contains(family));
        if !stale {
            return Outcome::default();
        }
        if let Some(Some(p)) = self.peers.get_mut(id as usize) {
            p.stale.remove(family);
        }
        self.purge_stale(id, family)
    }

    /// RFC 7313 §4 (and RFC 4724 §4.2): marks every path of `family` from
    /// `id` stale, to be refreshed before [`Rib::purge_stale`].
    pub fn mark_stale(&mut self, id: PeerId, family: Family) {
        let table = &mut self.table;
        let positions = {
            let t = &*table;
            self.index
                .positions(id, |pos| crate::loc_rib::holds(t, pos, id))
        };
        for &pos in positions {
            let Some((k, e)) = table.get_at_mut(pos) else {
                continue;
            };
            if k.family() == family {
                for p in e.paths.iter_mut().filter(|p| p.peer() == id) {
                    p.set_stale(true);
                }
            }
        }
    }

    /// Withdraws the paths of `family` from `id` that are still stale.
    pub fn purge_stale(&mut self, id: PeerId, family: Family) -> Outcome {
        let stale = self.paths_of(id, |k, p| k.family() == family && p.is_stale());
        let mut changes = ChangeSet::default();
        for (k, path_id) in stale {
            self.remove(&k, id, path_id, &mut changes);
        }
        self.finish(changes)
    }
}
