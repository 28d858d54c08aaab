//! Output flow control: what a peer that reads slowly still needs, kept as
//! route keys rather than as messages.
//!
//! The daemon gives each peer a bounded budget of queued octets. A peer
//! over it is throttled: its group's UPDATEs are not queued to it and the
//! keys of the routes they were about go into its [`Backlog`] instead — a
//! set, so a route that changes a thousand times while the peer does not
//! read is one entry, and what it is sent later is the route's state at
//! that time, not its history. Whole tables (the initial table of a new
//! session, a ROUTE-REFRESH) are a [`Dump`]: a family and a cursor over
//! the Loc-RIB in key order, encoded a budget's worth at a time; a second
//! ROUTE-REFRESH for a family already pending is coalesced into it.
//!
//! [`Rib::drain`] turns a backlog back into UPDATEs, at most about a
//! budget's worth per call: the current state of each pending key for
//! that peer (its group's export of the best path, or a withdrawal), then
//! the pending dumps, each closed by its End-of-RIB (or End-of-RIB-Refresh)
//! after its last route. Memory is a key per route the peer lags on and a
//! cursor per family, never a copy of the messages.

use bytes::Bytes;
use ferry_wire::message::RefreshSubtype;
use ferry_wire::{EncodeContext, Family, FamilySet, Message, Nlri, RouteRefresh};
use rustc_hash::FxHashSet;

use crate::export::AttrCache;
use crate::groups::GroupKey;
use crate::packing::{self, pack, Action, EncodedAttrs};
use crate::peer::PeerId;
use crate::{route_key, Rib, RouteKey};

/// What a peer still needs to be sent.
#[derive(Debug, Default)]
pub struct Backlog {
    /// Routes whose current state the peer must be sent.
    keys: FxHashSet<RouteKey>,
    /// Whole families to send, in the order they were asked for.
    dumps: Vec<Dump>,
    /// Pending keys at which the next [`Rib::resync`] is due: twice what
    /// the last one left (withdrawn routes stay keys), so that a backlog
    /// of withdrawals is not scanned again at every change.
    resync_at: usize,
}

/// A family's whole table, being sent in key order.
#[derive(Debug)]
struct Dump {
    family: Family,
    /// The last key sent; `None` before the first.
    after: Option<RouteKey>,
    /// The opening marker (Beginning-of-Route-Refresh) is out.
    started: bool,
    kind: DumpKind,
    /// Routes the peer is not to have are withdrawn as the cursor passes
    /// them (a resynchronisation: the peer may hold older paths of any
    /// route of the family).
    withdraw: bool,
}

impl Dump {
    fn new(family: Family, kind: DumpKind) -> Dump {
        Dump {
            family,
            after: None,
            started: false,
            kind,
            withdraw: kind == DumpKind::Resync,
        }
    }

    /// Whether the cursor has yet to reach `key`, and will send the peer
    /// its state then: a route the peer may hold an older path of needs a
    /// dump that withdraws.
    fn covers(&self, key: &RouteKey) -> bool {
        let ahead = self.after.as_ref().is_none_or(|a| key > a);
        ahead
            && (self.withdraw || matches!(self.kind, DumpKind::Initial | DumpKind::InitialDeferred))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DumpKind {
    /// The table of a new session, closed by End-of-RIB.
    Initial,
    /// The table of a new session while End-of-RIB is held back (RFC 4724
    /// §4.1 selection deferral): [`Rib::end_deferral`] turns it into
    /// [`DumpKind::Initial`] if it is still being sent.
    InitialDeferred,
    /// A ROUTE-REFRESH answer (RFC 2918), closed by End-of-RIB.
    Refresh,
    /// An enhanced ROUTE-REFRESH answer (RFC 7313 §4), between
    /// Beginning- and End-of-Route-Refresh.
    EnhancedRefresh,
    /// A backlog grown past [`RESYNC_KEYS`] keys, turned into a pass over
    /// the family's table: no marker at its end.
    Resync,
}

/// Pending keys past which a peer's backlog becomes a pass over the table
/// (a cursor per family) plus the keys the pass cannot cover: withdrawn
/// routes and those behind the cursor. So a peer that lags on a whole
/// table costs a cursor, not a key per route.
pub const RESYNC_KEYS: usize = 8192;

impl Backlog {
    /// Route keys pending.
    pub fn routes(&self) -> usize {
        self.keys.len()
    }

    /// Families whose whole table is pending.
    pub fn tables(&self) -> usize {
        self.dumps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.dumps.is_empty()
    }
}

/// UPDATEs drained from a backlog.
#[derive(Debug, Default)]
pub struct Drained {
    pub messages: Vec<Bytes>,
    /// Routes the peer should have had but whose attributes alone do not
    /// fit a message it accepts (what it held of them is withdrawn).
    pub not_sent: Vec<Nlri>,
    /// Nothing is left pending.
    pub done: bool,
}

impl Drained {
    pub fn octets(&self) -> usize {
        self.messages.iter().map(|m| m.len()).sum()
    }
}

/// Routes encoded per step when nothing tells better: a step's output is
/// measured and the next step sized to what is left of the budget.
const FIRST_STEP: usize = 512;
/// The most routes encoded in one step (one table walk for a dump).
const MAX_STEP: usize = 65_536;
/// Routes decoded and packed at a time within a step.
const ENCODE_PART: usize = 4096;

fn marker(family: Family, subtype: RefreshSubtype, ctx: &EncodeContext) -> Bytes {
    Message::RouteRefresh(RouteRefresh { family, subtype })
        .to_bytes(ctx)
        .expect("ROUTE-REFRESH fits")
}

/// Sizes the next step from the octets per route seen so far.
fn step(budget: usize, octets: usize, routes: usize) -> usize {
    if routes == 0 || octets == 0 {
        return FIRST_STEP;
    }
    let per_route = octets.div_ceil(routes).max(1);
    (budget.saturating_sub(octets) / per_route + 1).clamp(64, MAX_STEP)
}

impl Rib {
    /// The backlog of a peer, if it has one.
    pub fn backlog(&self, id: PeerId) -> Option<&Backlog> {
        self.backlogs.get(&id).filter(|b| !b.is_empty())
    }

    /// True when `id` has routes or tables pending.
    pub fn has_backlog(&self, id: PeerId) -> bool {
        self.backlog(id).is_some()
    }

    /// Records that `id` was not sent what changed for `keys`: their state
    /// at the time of [`Rib::drain`] is what it will be sent. Keys of
    /// families the peer does not carry are ignored; a key already pending
    /// stays one entry.
    pub fn defer<'k>(&mut self, id: PeerId, keys: impl IntoIterator<Item = &'k RouteKey>) {
        let Some(families) = self.peer(id).map(|p| p.info.families) else {
            return;
        };
        let b = self.backlogs.entry(id).or_default();
        for k in keys {
            if !families.contains(k.family()) || b.keys.contains(k) {
                continue;
            }
            let in_table = self.table.get(k).is_some();
            if in_table
                && b.dumps
                    .iter()
                    .any(|d| d.family == k.family() && d.covers(k))
            {
                continue;
            }
            b.keys.insert(k.clone());
        }
        if b.keys.len() > RESYNC_KEYS.max(b.resync_at) {
            let mut b = self.backlogs.remove(&id).unwrap_or_default();
            self.resync(&mut b);
            self.backlogs.insert(id, b);
        }
    }

    /// Turns a large backlog into a pass over the table of each family it
    /// holds keys of, keeping only the keys that pass cannot cover.
    fn resync(&self, b: &mut Backlog) {
        let mut families = FamilySet::default();
        for k in &b.keys {
            families.insert(k.family());
        }
        for family in families.iter() {
            if !b.dumps.iter().any(|d| d.family == family) {
                b.dumps.push(Dump::new(family, DumpKind::Resync));
            } else if let Some(d) = b.dumps.iter_mut().find(|d| d.family == family) {
                // A table under way withdraws too from now on: keys ahead
                // of its cursor are left to it.
                d.withdraw = true;
            }
        }
        let table = &self.table;
        let dumps = &b.dumps;
        let before = b.keys.len();
        b.keys.retain(|k| {
            table.get(k).is_none() || !dumps.iter().any(|d| d.family == k.family() && d.covers(k))
        });
        if b.keys.len() < before / 4 {
            b.keys.shrink_to_fit();
        }
        b.resync_at = b.keys.len() * 2;
    }

    /// Queues the whole table of each family of a peer that just came up
    /// (its initial UPDATEs), each closed by End-of-RIB unless the
    /// selection deferral holds it back.
    pub(crate) fn queue_initial_tables(&mut self, id: PeerId) {
        let Some(families) = self.peer(id).map(|p| p.info.families) else {
            return;
        };
        let kind = if self.deferring {
            DumpKind::InitialDeferred
        } else {
            DumpKind::Initial
        };
        let b = self.backlogs.entry(id).or_default();
        *b = Backlog::default();
        for family in families.iter() {
            b.dumps.push(Dump::new(family, kind));
        }
    }

    /// Asks for the whole Adj-RIB-Out of `family` to be sent to `id` again
    /// (ROUTE-REFRESH, RFC 2918 §4). Returns true when it was coalesced
    /// with a request for the same family still pending: the table is then
    /// sent once, from its start again if it was under way.
    pub fn request_refresh(&mut self, id: PeerId, family: Family) -> bool {
        let Some(p) = self.peer(id) else {
            return false;
        };
        if !p.info.families.contains(family) {
            return false;
        }
        let kind = if p.info.enhanced_refresh {
            DumpKind::EnhancedRefresh
        } else {
            DumpKind::Refresh
        };
        let b = self.backlogs.entry(id).or_default();
        let coalesced = match b.dumps.iter_mut().find(|d| d.family == family) {
            Some(d) => {
                // Everything from the start again: the peer may have
                // asked because it dropped what it had read so far.
                d.after = None;
                if d.kind != DumpKind::InitialDeferred {
                    d.kind = kind;
                }
                true
            }
            None => {
                b.dumps.push(Dump::new(family, kind));
                false
            }
        };
        if let Some(Some(p)) = self.peers.get_mut(id as usize) {
            if coalesced {
                p.counters.refresh_coalesced += 1;
            }
        }
        coalesced
    }

    /// The selection deferral ended while `id` was still being sent its
    /// initial table of `family`: End-of-RIB follows that table. Returns
    /// false when no such table is pending (End-of-RIB can go now).
    pub(crate) fn end_of_rib_after_dump(&mut self, id: PeerId, family: Family) -> bool {
        let Some(b) = self.backlogs.get_mut(&id) else {
            return false;
        };
        match b.dumps.iter_mut().find(|d| d.family == family) {
            Some(d) => {
                if d.kind == DumpKind::InitialDeferred {
                    d.kind = DumpKind::Initial;
                }
                true
            }
            None => false,
        }
    }

    /// Encodes what `id` still needs, stopping once about `budget` octets
    /// are out (at least one step is always made). A peer without a
    /// backlog gets nothing and `done`.
    pub fn drain(&mut self, id: PeerId, budget: usize) -> Drained {
        let mut out = Drained::default();
        let Some(mut b) = self.backlogs.remove(&id) else {
            out.done = true;
            return out;
        };
        let Some(gk) = self.peer(id).map(|p| GroupKey::of(&p.info)) else {
            out.done = true;
            return out;
        };
        let mut octets = 0usize;
        let mut routes = 0usize;
        while !b.keys.is_empty() && (routes == 0 || octets < budget) {
            let n = step(budget, octets, routes);
            let batch: Vec<RouteKey> = if n >= b.keys.len() {
                b.keys.drain().collect()
            } else {
                let batch: Vec<RouteKey> = b.keys.iter().take(n).cloned().collect();
                for k in &batch {
                    b.keys.remove(k);
                }
                batch
            };
            routes += batch.len();
            let before = out.messages.len();
            self.encode_current(id, &gk, &batch, true, &mut out);
            octets += out.messages[before..]
                .iter()
                .map(|m| m.len())
                .sum::<usize>();
        }
        while let Some(d) = b.dumps.first_mut() {
            if routes > 0 && octets >= budget {
                break;
            }
            if !d.started {
                d.started = true;
                if d.kind == DumpKind::EnhancedRefresh {
                    let m = marker(d.family, RefreshSubtype::BeginningOfRefresh, &gk.encode);
                    octets += m.len();
                    out.messages.push(m);
                }
            }
            let n = step(budget, octets, routes);
            let (chunk, last) = self.next_keys(d.family, d.after.as_ref(), n);
            routes += chunk.len().max(1);
            d.after = chunk.last().cloned().or(d.after.take());
            let before = out.messages.len();
            self.encode_current(id, &gk, &chunk, d.withdraw, &mut out);
            octets += out.messages[before..]
                .iter()
                .map(|m| m.len())
                .sum::<usize>();
            if last {
                let close = match d.kind {
                    DumpKind::Initial | DumpKind::Refresh => {
                        Some(packing::end_of_rib(d.family, &gk.encode))
                    }
                    DumpKind::EnhancedRefresh => {
                        Some(marker(d.family, RefreshSubtype::EndOfRefresh, &gk.encode))
                    }
                    DumpKind::InitialDeferred | DumpKind::Resync => None,
                };
                if let Some(m) = close {
                    octets += m.len();
                    out.messages.push(m);
                }
                b.dumps.remove(0);
            }
        }
        out.done = b.is_empty();
        if !out.done {
            self.backlogs.insert(id, b);
        }
        out
    }

    /// Up to `n` keys of `family` after `after` in key order, with the
    /// largest of them last; and whether they are the last ones. One walk
    /// of the table, keeping the `n` smallest keys seen in a heap: memory
    /// for `n` keys, whatever the size of the table.
    fn next_keys(
        &self,
        family: Family,
        after: Option<&RouteKey>,
        n: usize,
    ) -> (Vec<RouteKey>, bool) {
        let n = n.max(1);
        let mut heap: std::collections::BinaryHeap<&RouteKey> =
            std::collections::BinaryHeap::with_capacity(n + 1);
        let mut more = false;
        for k in self.table.keys() {
            if k.family() != family || after.is_some_and(|a| k <= a) {
                continue;
            }
            if heap.len() < n {
                heap.push(k);
            } else if heap.peek().is_some_and(|top| k < *top) {
                heap.pop();
                heap.push(k);
                more = true;
            } else {
                more = true;
            }
        }
        // Ascending: the largest, the cursor, last.
        let keys: Vec<RouteKey> = heap.into_sorted_vec().into_iter().cloned().collect();
        (keys, !more)
    }

    /// Appends to `out` the UPDATEs that give `id` the current state of
    /// `keys`: the best path as its group exports it, or (with `withdraw`)
    /// a withdrawal when it is to have none.
    fn encode_current(
        &self,
        id: PeerId,
        gk: &GroupKey,
        keys: &[RouteKey],
        withdraw: bool,
        out: &mut Drained,
    ) {
        let mut cache = AttrCache::default();
        let mut encoded: Vec<EncodedAttrs> = Vec::new();
        // A part of the step at a time: the decoded NLRI and actions of a
        // whole step (up to MAX_STEP routes, some 200 octets each) would
        // be the largest allocation of a drain, well above the octets it
        // produces.
        for part in keys.chunks(ENCODE_PART) {
            let mut plan: Vec<(usize, Option<(usize, Nlri)>)> = Vec::with_capacity(part.len());
            for (i, key) in part.iter().enumerate() {
                let family = key.family();
                if !gk.families.contains(family) {
                    continue;
                }
                let best = self
                    .table
                    .get(key)
                    .and_then(|e| e.best())
                    .filter(|b| b.peer() != id && self.exportable(b, gk));
                match best {
                    Some(best) => {
                        let idx = cache.index(self, best, family, gk, &mut encoded);
                        let nlri = route_key::join(key, &best.attrs.extra);
                        if encoded[idx].fits(&nlri, &gk.encode) {
                            plan.push((i, Some((idx, nlri))));
                        } else {
                            // Not sent; in an update, what the peer held of
                            // the route is withdrawn.
                            out.not_sent.push(nlri);
                            if withdraw {
                                plan.push((i, None));
                            }
                        }
                    }
                    None if withdraw => plan.push((i, None)),
                    None => {}
                }
            }
            let actions: Vec<Action> = plan
                .into_iter()
                .map(|(i, a)| match a {
                    Some((idx, nlri)) => Action::Announce {
                        nlri,
                        attrs: &encoded[idx],
                        attrs_index: idx,
                    },
                    None => Action::Withdraw {
                        nlri: route_key::withdrawal(&part[i]),
                    },
                })
                .collect();
            let packed = pack(&actions, &gk.encode);
            out.not_sent.extend(packed.not_sent);
            out.messages.extend(packed.messages);
        }
    }
}
