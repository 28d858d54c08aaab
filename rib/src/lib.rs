//! `ferry-rib`: the routing information base of Ferry.
//!
//! Pure and synchronous: no I/O, no clock, no threads. The daemon hands it
//! events (a peer came up, an UPDATE arrived, a peer went down, a route is
//! originated) and gets back the UPDATE octets to send, per group of
//! peers, and the best-path changes (for kernel programming on workers).
//!
//! * Adj-RIB-In: every path a peer sent, held per route key, rejected
//!   (looped) paths included so that counters and withdrawals are exact.
//! * Loc-RIB: the best path of each key ([`decision`]), always at index 0.
//! * Route reflection and export rules: [`reflection`].
//! * Adj-RIB-Out: update groups and packing: [`adj_out`].
//! * Attribute sets interned and shared: [`attributes`].

#![forbid(unsafe_code)]

pub mod adj_out;
pub mod attributes;
pub mod backlog;
pub mod decision;
mod export;
pub mod path;
pub mod peer;
pub mod prefix;
pub mod reflection;
pub mod table;

use std::net::IpAddr;

use ferry_wire::{EncodeContext, Family, FamilySet, NextHop, Nlri, PathAttributes, Update};
use rustc_hash::FxHashMap;
use table::{Slot, Table};

use adj_out::{Export, Group, GroupKey};
use attributes::{Attrs, Interner, RouteAttrs};
use decision::{compare, Source};
use path::{Path, Paths};
use peer::{PeerId, PeerInfo, PeerState, Role, LOCAL};
pub use prefix::{PathExtra, RouteKey};
pub use reflection::SpeakerConfig;

/// The paths of one route key; the best, when there is one, first.
#[derive(Clone, Debug)]
pub struct Entry {
    pub paths: Paths,
}

impl Entry {
    /// The best path, if any path is eligible.
    pub fn best(&self) -> Option<&Path> {
        self.paths.first().filter(|p| p.is_eligible())
    }
}

/// A change of best path for one key.
#[derive(Clone, Debug)]
pub struct BestChange {
    pub key: RouteKey,
    pub old: Option<Path>,
    pub new: Option<Path>,
}

/// What one event produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// UPDATE octets to send.
    pub exports: Vec<Export>,
    /// Best-path changes, in the order they happened (one per key).
    pub changes: Vec<BestChange>,
}

/// Per-family totals of the Loc-RIB (Junos `Tot Paths` / `Act Paths`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TableCounts {
    pub paths: u64,
    pub active: u64,
}

/// The size of the RIB (`bgpctl show memory`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RibMemory {
    /// Route keys (prefixes with their RD).
    pub routes: u64,
    /// Paths, every peer's counted.
    pub paths: u64,
    /// Bytes of the route table: its slots (a key and a path each), the
    /// keys kept out of line and the path lists that outgrew their slot.
    pub table_bytes: u64,
    /// Distinct attribute sets the paths share.
    pub attribute_sets: u64,
}

/// The RIB.
pub struct Rib {
    cfg: SpeakerConfig,
    peers: Vec<Option<PeerState>>,
    table: Table<RouteKey, Entry>,
    interner: Interner,
    groups: Vec<Group>,
    totals: [TableCounts; Family::SUPPORTED.len()],
    /// Restarting (RFC 4724 §4.1): End-of-RIB is held back until the
    /// routes of the peers have been received again.
    deferring: bool,
    /// What throttled peers still need ([`backlog`]).
    backlogs: FxHashMap<PeerId, backlog::Backlog>,
}

fn family_index(f: Family) -> Option<usize> {
    Family::SUPPORTED.iter().position(|x| *x == f)
}

/// The changes of one event, one per key: the first old best and the last
/// new best.
#[derive(Default)]
struct ChangeSet {
    index: FxHashMap<RouteKey, usize>,
    list: Vec<BestChange>,
}

impl ChangeSet {
    fn record(&mut self, key: &RouteKey, old: Option<Path>, new: Option<Path>) {
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

    fn into_changes(self) -> Vec<BestChange> {
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
    pub fn new(cfg: SpeakerConfig) -> Rib {
        Rib {
            cfg,
            peers: vec![None],
            table: Table::default(),
            interner: Interner::default(),
            groups: Vec::new(),
            totals: Default::default(),
            deferring: false,
            backlogs: FxHashMap::default(),
        }
    }

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
                .map(|f| (f, adj_out::end_of_rib(f, &key.encode)))
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
        for g in &mut self.groups {
            g.members.retain(|m| *m != id);
        }
        self.groups.retain(|g| !g.members.is_empty());
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

    pub fn config(&self) -> &SpeakerConfig {
        &self.cfg
    }

    /// True when this speaker reflects routes.
    pub fn is_reflector(&self) -> bool {
        self.cfg.cluster_id.is_some()
    }

    pub fn peer(&self, id: PeerId) -> Option<&PeerState> {
        self.peers.get(id as usize).and_then(|p| p.as_ref())
    }

    /// The per-family counters of a peer.
    pub fn counts(&self, id: PeerId, family: Family) -> peer::FamilyCounts {
        self.peer(id)
            .map(|p| p.counters.get(family))
            .unwrap_or_default()
    }

    /// Tot/Act paths of a family.
    pub fn table_counts(&self, family: Family) -> TableCounts {
        family_index(family)
            .map(|i| self.totals[i])
            .unwrap_or_default()
    }

    /// Number of distinct attribute sets held.
    pub fn attribute_sets(&self) -> usize {
        self.interner.len()
    }

    /// Every route key with its paths, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = (&RouteKey, &Entry)> {
        self.table.iter()
    }

    /// How many route keys the table has room for before it grows.
    pub fn capacity(&self) -> usize {
        self.table.capacity()
    }

    /// What the RIB holds and the memory its route table takes.
    pub fn memory(&self) -> RibMemory {
        let mut bytes = self.table.heap_bytes();
        let mut paths = 0;
        for (k, e) in self.table.iter() {
            paths += e.paths.len();
            if !k.is_packed() {
                bytes += std::mem::size_of::<Nlri>();
            }
            bytes += e.paths.heap_bytes();
        }
        RibMemory {
            routes: self.table.len() as u64,
            paths: paths as u64,
            table_bytes: bytes as u64,
            attribute_sets: self.interner.len() as u64,
        }
    }

    /// The paths of one key.
    pub fn lookup(&self, key: &RouteKey) -> Option<&Entry> {
        self.table.get(key)
    }

    fn source<'a>(peers: &'a [Option<PeerState>], id: PeerId) -> Source<'a> {
        Source {
            peer: id,
            state: peers.get(id as usize).and_then(|p| p.as_ref()),
        }
    }

    /// Moves the best eligible path to index 0.
    fn select(peers: &[Option<PeerState>], entry: &mut Entry) {
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

    fn count(&mut self, peer: PeerId, family: Family, f: impl Fn(&mut peer::FamilyCounts)) {
        if let Some(Some(p)) = self.peers.get_mut(peer as usize) {
            if let Some(c) = p.counters.family(family) {
                f(c);
            }
        }
    }

    fn count_best_change(&mut self, family: Family, old: &Option<Path>, new: &Option<Path>) {
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
    fn upsert(&mut self, key: RouteKey, path: Path, changes: &mut ChangeSet) {
        let family = key.family();
        let peer = path.peer();
        let eligible = path.is_eligible();
        let (old_best, replaced, new_best) = match self.table.slot(key.clone()) {
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
    fn remove(&mut self, key: &RouteKey, peer: PeerId, path_id: u32, changes: &mut ChangeSet) {
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
            let only = self.table.remove(key).and_then(|e| e.paths.into_only());
            (only.expect("the key's one path"), None)
        } else {
            let removed = entry.paths.remove(i);
            Rib::select(&self.peers, entry);
            (removed, entry.best().cloned())
        };
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

    /// Registers a peer whose session just became Established and returns
    /// the initial table for it, each family closed by End-of-RIB, all at
    /// once (for tools and tests; the daemon sends it a budget at a time
    /// with [`Rib::peer_up_pending`] and [`Rib::drain`]).
    pub fn peer_up(&mut self, id: PeerId, info: PeerInfo) -> Outcome {
        self.peer_up_pending(id, info);
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

    /// Registers a peer whose session just became Established, its
    /// initial table pending in its backlog ([`Rib::drain`] sends it).
    pub fn peer_up_pending(&mut self, id: PeerId, info: PeerInfo) {
        assert_ne!(id, LOCAL, "peer id 0 is reserved for local routes");
        // A restarting peer keeps its stale paths until its End-of-RIB.
        let mut kept = None;
        if let Some(p) = self.peer(id) {
            if p.restarting {
                kept = Some((p.counters.clone(), p.stale));
                for g in &mut self.groups {
                    g.members.retain(|m| *m != id);
                }
                self.groups.retain(|g| !g.members.is_empty());
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

    /// Unregisters a peer whose session went down: every path it sent is
    /// withdrawn (RFC 4271 §8.2.2).
    pub fn peer_down(&mut self, id: PeerId) -> Outcome {
        if self.peer(id).is_none() {
            return Outcome::default();
        }
        for g in &mut self.groups {
            g.members.retain(|m| *m != id);
        }
        self.groups.retain(|g| !g.members.is_empty());
        self.backlogs.remove(&id);
        let mut held: Vec<(RouteKey, u32)> = Vec::new();
        for (k, e) in self.table.iter() {
            for p in e.paths.iter().filter(|p| p.peer() == id) {
                held.push((k.clone(), p.path_id));
            }
        }
        let mut changes = ChangeSet::default();
        for (k, path_id) in held {
            self.remove(&k, id, path_id, &mut changes);
        }
        // The peer's role decides what its old paths were exported to:
        // compute the withdrawals before forgetting it.
        let out = self.finish(changes);
        self.peers[id as usize] = None;
        self.interner.sweep();
        out
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

    /// RFC 7313 §4 (and RFC 4724 §4.2): marks every path of `family` from
    /// `id` stale, to be refreshed before [`Rib::purge_stale`].
    pub fn mark_stale(&mut self, id: PeerId, family: Family) {
        for (k, e) in self.table.iter_mut() {
            if k.family() == family {
                for p in e.paths.iter_mut().filter(|p| p.peer() == id) {
                    p.set_stale(true);
                }
            }
        }
    }

    /// Withdraws the paths of `family` from `id` that are still stale.
    pub fn purge_stale(&mut self, id: PeerId, family: Family) -> Outcome {
        let stale: Vec<(RouteKey, u32)> = self
            .table
            .iter()
            .filter(|(k, _)| k.family() == family)
            .flat_map(|(k, e)| {
                e.paths
                    .iter()
                    .filter(|p| p.peer() == id && p.is_stale())
                    .map(move |p| (k.clone(), p.path_id))
            })
            .collect();
        let mut changes = ChangeSet::default();
        for (k, path_id) in stale {
            self.remove(&k, id, path_id, &mut changes);
        }
        self.finish(changes)
    }

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
                let (key, _) = prefix::split(&w.nlri);
                self.remove(&key, id, w.path_id.unwrap_or(0), &mut changes);
            }
        }
        if update.is_treat_as_withdraw() {
            if let Some(Some(p)) = self.peers.get_mut(id as usize) {
                p.counters.treat_as_withdraw += 1;
            }
            for a in update.announced() {
                if families.contains(a.nlri.family()) && known(&a.nlri) {
                    let (key, _) = prefix::split(&a.nlri);
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
            let (key, extra) = prefix::split(&a.nlri);
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

    /// Originates a route from this speaker (a worker's pod prefix).
    pub fn originate(&mut self, nlri: &Nlri, path: PathAttributes, next_hop: NextHop) -> Outcome {
        let (key, extra) = prefix::split(nlri);
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
        let (key, _) = prefix::split(nlri);
        let mut changes = ChangeSet::default();
        self.remove(&key, LOCAL, 0, &mut changes);
        self.finish(changes)
    }

    fn finish(&mut self, changes: ChangeSet) -> Outcome {
        // A table three quarters empty (a peer that held most routes went
        // away) gives its memory back, keeping room to double again.
        self.table.shrink_if_sparse();
        let changes = changes.into_changes();
        let exports = self.exports_for(&changes);
        Outcome { exports, changes }
    }

    fn role_of(&self, id: PeerId) -> Option<Role> {
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

/// Convenience for tests and tools: the address-free [`PeerInfo`] of an
/// iBGP peer.
pub fn ibgp_peer(
    role: Role,
    asn: u32,
    router_id: std::net::Ipv4Addr,
    address: IpAddr,
    families: ferry_wire::FamilySet,
) -> PeerInfo {
    PeerInfo {
        role,
        asn,
        router_id,
        address,
        local_address: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        families,
        encode: EncodeContext::default(),
        enhanced_refresh: false,
    }
}
