//! Loc-RIB: the paths of every route key, the best first, and the
//! changes of best path one event makes. The comparison itself is
//! [`crate::decision`]; this file stores paths, keeps the counters and
//! the per-peer index in step, and originates local routes.

use ferry_wire::{Family, NextHop, Nlri, PathAttributes};
use rustc_hash::FxHashMap;

use crate::attributes::RouteAttrs;
use crate::decision::{compare, Source};
use crate::groups::GroupKey;
use crate::path::{Path, Paths};
use crate::peer::{self, PeerId, PeerState, Role, LOCAL};
use crate::table::{Slot, Table};
use crate::{family_index, reflection, route_key, BestChange, Entry, Outcome, Rib, RouteKey};

/// The changes of one event, one per key: the first old best and the last
/// new best.
#[derive(Default)]
pub(crate) struct ChangeSet {
    index: FxHashMap<RouteKey, usize>,
    list: Vec<BestChange>,
}

impl ChangeSet {
    pub(crate) fn record(&mut self, key: &RouteKey, old: Option<Path>, new: Option<Path>) {
        if let Some(&i) = self.index.get(key) {
            self.list[i].new = new;
        } else {
            self.index.insert(key.clone(), self.list.len());
            self.list.push(BestChange {
                key: key.clone(),
                old,
                new,
            });
        }
    }

    pub(crate) fn into_changes(self) -> Vec<BestChange> {
        self.list
            .into_iter()
            .filter(|c| match (&c.old, &c.new) {
                (Some(a), Some(b)) => !a.same(b),
                (None, None) => false,
                _ => true,
            })
            .collect()
    }
}

impl Rib {
    pub(crate) fn source<'a>(peers: &'a [Option<PeerState>], id: PeerId) -> Source<'a> {
        Source {
            peer: id,
            state: peers.get(id as usize).and_then(|p| p.as_ref()),
        }
    }

    /// Moves the best eligible path to index 0.
    pub(crate) fn select(peers: &[Option<PeerState>], entry: &mut Entry) {
        let mut best: Option<usize> = None;
        for (i, p) in entry.paths.iter().enumerate() {
            if !p.is_eligible() {
                continue;
            }
            best = match best {
                None => Some(i),
                Some(b) => {
                    let pb = &entry.paths[b];
                    let better = compare(
                        p,
                        &Rib::source(peers, p.peer()),
                        pb,
                        &Rib::source(peers, pb.peer()),
                    )
                    .is_lt();
                    Some(if better { i } else { b })
                }
            };
        }
        match best {
            Some(b) if b != 0 => entry.paths.swap(0, b),
            None => {
                // Keep an ineligible path out of the best slot's meaning:
                // `best()` checks eligibility.
            }
            _ => {}
        }
    }

    pub(crate) fn count(
        &mut self,
        peer: PeerId,
        family: Family,
        f: impl Fn(&mut peer::FamilyCounts),
    ) {
        if let Some(Some(p)) = self.peers.get_mut(peer as usize) {
            if let Some(c) = p.counters.family(family) {
                f(c);
            }
        }
    }

    pub(crate) fn count_best_change(
        &mut self,
        family: Family,
        old: &Option<Path>,
        new: &Option<Path>,
    ) {
        if let Some(o) = old {
            self.count(o.peer(), family, |c| c.active = c.active.saturating_sub(1));
        }
        if let Some(n) = new {
            self.count(n.peer(), family, |c| c.active += 1);
        }
        if let Some(i) = family_index(family) {
            match (old.is_some(), new.is_some()) {
                (false, true) => self.totals[i].active += 1,
                (true, false) => self.totals[i].active = self.totals[i].active.saturating_sub(1),
                _ => {}
            }
        }
    }

    /// Adds or replaces the path of (`path.peer()`, `path.path_id`) for
    /// `key`.
    pub(crate) fn upsert(&mut self, key: RouteKey, path: Path, changes: &mut ChangeSet) {
        let family = key.family();
        let peer = path.peer();
        let eligible = path.is_eligible();
        let (pos, slot) = self.table.positioned_slot(key.clone());
        let (old_best, replaced, new_best) = match slot {
            Slot::Vacant(v) => {
                let entry = v.insert(Entry {
                    paths: Paths::one(path),
                });
                (None, None, entry.best().cloned())
            }
            Slot::Occupied(entry) => {
                let old_best = entry.best().cloned();
                let mut replaced: Option<Path> = None;
                if let Some(i) = entry.paths.iter().position(|p| p.same_origin(&path)) {
                    replaced = Some(std::mem::replace(&mut entry.paths[i], path));
                } else {
                    entry.paths.push(path);
                }
                Rib::select(&self.peers, entry);
                (old_best, replaced, entry.best().cloned())
            }
        };
        match &replaced {
            None => {
                self.index.added(peer, pos);
                self.count(peer, family, |c| {
                    c.received += 1;
                    if eligible {
                        c.accepted += 1;
                    }
                });
                if let Some(i) = family_index(family) {
                    self.totals[i].paths += 1;
                }
            }
            Some(old) => {
                let was = old.is_eligible();
                self.count(peer, family, |c| {
                    if was && !eligible {
                        c.accepted = c.accepted.saturating_sub(1);
                    } else if !was && eligible {
                        c.accepted += 1;
                    }
                });
            }
        }
        if let Some(old) = replaced {
            self.interner.release(old.attrs);
        }
        let changed = match (&old_best, &new_best) {
            (Some(a), Some(b)) => !a.same(b),
            (None, None) => false,
            _ => true,
        };
        if changed {
            self.count_best_change(family, &old_best, &new_best);
            changes.record(&key, old_best, new_best);
        }
    }

    /// Removes the path of (`peer`, `path_id`) for `key`, if held.
    pub(crate) fn remove(
        &mut self,
        key: &RouteKey,
        peer: PeerId,
        path_id: u32,
        changes: &mut ChangeSet,
    ) {
        let family = key.family();
        let Some(entry) = self.table.get_mut(key) else {
            return;
        };
        let Some(i) = entry
            .paths
            .iter()
            .position(|p| p.peer() == peer && p.path_id == path_id)
        else {
            return;
        };
        let old_best = entry.best().cloned();
        let (removed, new_best) = if entry.paths.len() == 1 {
            let (e, moved) = self.table.remove_moving(key).expect("the key is held");
            if let Some(pos) = moved {
                self.moved_to(pos);
            }
            (e.paths.into_only().expect("the key's one path"), None)
        } else {
            let removed = entry.paths.remove(i);
            Rib::select(&self.peers, entry);
            (removed, entry.best().cloned())
        };
        self.index.removed(peer);
        self.tidy_index(peer);
        let eligible = removed.is_eligible();
        self.count(peer, family, |c| {
            c.received = c.received.saturating_sub(1);
            if eligible {
                c.accepted = c.accepted.saturating_sub(1);
            }
        });
        if let Some(i) = family_index(family) {
            self.totals[i].paths = self.totals[i].paths.saturating_sub(1);
        }
        self.interner.release(removed.attrs);
        let changed = match (&old_best, &new_best) {
            (Some(a), Some(b)) => !a.same(b),
            (None, None) => false,
            _ => true,
        };
        if changed {
            self.count_best_change(family, &old_best, &new_best);
            changes.record(key, old_best, new_best);
        }
    }

    /// Originates a route from this speaker (a worker's pod prefix).
    pub fn originate(&mut self, nlri: &Nlri, path: PathAttributes, next_hop: NextHop) -> Outcome {
        let (key, extra) = route_key::split(nlri);
        let attrs = self.interner.intern(RouteAttrs {
            path,
            next_hop,
            extra,
        });
        let mut changes = ChangeSet::default();
        self.upsert(key, Path::new(LOCAL, 0, attrs, true), &mut changes);
        self.finish(changes)
    }

    /// Withdraws a route this speaker originated.
    pub fn withdraw_originated(&mut self, nlri: &Nlri) -> Outcome {
        let (key, _) = route_key::split(nlri);
        let mut changes = ChangeSet::default();
        self.remove(&key, LOCAL, 0, &mut changes);
        self.finish(changes)
    }

    /// The entry now at `pos` was moved there: the index of each of its
    /// peers learns the new position.
    fn moved_to(&mut self, pos: u32) {
        let table = &self.table;
        let Some((_, entry)) = table.get_at(pos) else {
            return;
        };
        for p in entry.paths.iter() {
            let peer = p.peer();
            self.index.moved(peer, pos);
            if self.index.is_loose(peer) {
                self.index.compact(peer, |q| holds(table, q, peer));
            }
        }
    }

    /// Compacts the index of `peer` when it holds more than twice what it
    /// needs.
    pub(crate) fn tidy_index(&mut self, peer: PeerId) {
        if self.index.is_loose(peer) {
            let table = &self.table;
            self.index.compact(peer, |pos| holds(table, pos, peer));
        }
    }

    /// The route keys and path identifiers of the paths of `peer` that
    /// `keep` selects, in table order, from the per-peer index.
    pub(crate) fn paths_of(
        &mut self,
        peer: PeerId,
        keep: impl Fn(&RouteKey, &Path) -> bool,
    ) -> Vec<(RouteKey, u32)> {
        let table = &self.table;
        let positions = self.index.positions(peer, |pos| holds(table, pos, peer));
        let mut out = Vec::new();
        for &pos in positions {
            let Some((k, e)) = table.get_at(pos) else {
                continue;
            };
            for p in e.paths.iter().filter(|p| p.peer() == peer && keep(k, p)) {
                out.push((k.clone(), p.path_id));
            }
        }
        out
    }

    pub(crate) fn finish(&mut self, changes: ChangeSet) -> Outcome {
        // A table three quarters empty (a peer that held most routes went
        // away) gives its memory back, keeping room to double again.
        self.table.shrink_if_sparse();
        let changes = changes.into_changes();
        let exports = self.exports_for(&changes);
        Outcome { exports, changes }
    }

    pub(crate) fn role_of(&self, id: PeerId) -> Option<Role> {
        self.peer(id).map(|p| p.info.role)
    }

    /// Whether `path` may go to a peer of `group` other than its source.
    pub(crate) fn exportable(&self, path: &Path, group: &GroupKey) -> bool {
        let src_role = if path.peer() == LOCAL {
            None
        } else {
            match self.role_of(path.peer()) {
                Some(r) => Some(r),
                None => return false,
            }
        };
        reflection::may_export(src_role, group.role, self.is_reflector())
    }
}

/// True when the entry at `pos` has a path of `peer`.
pub(crate) fn holds(table: &Table<RouteKey, Entry>, pos: u32, peer: PeerId) -> bool {
    table
        .get_at(pos)
        .is_some_and(|(_, e)| e.paths.iter().any(|p| p.peer() == peer))
}
