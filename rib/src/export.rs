//! Turning best-path changes, and a peer's whole table, into UPDATEs for
//! each update group; a peer's derived Adj-RIB-Out.

use ferry_wire::{Family, Nlri};
use rustc_hash::FxHashMap;

use crate::groups::{Export, GroupKey};
use crate::packing::{pack, Action, EncodedAttrs};
use crate::path::Path;
use crate::peer::{PeerId, LOCAL};
use crate::{family_index, reflection, route_key, BestChange, Rib, RouteKey};

impl Rib {
    /// Turns best-path changes into UPDATEs for every group.
    pub(crate) fn exports_for(&self, changes: &[BestChange]) -> Vec<Export> {
        let mut exports = Vec::new();
        if changes.is_empty() {
            return exports;
        }
        for group in &self.groups {
            let gk = &group.key;
            let mut cache = AttrCache::default();
            // Members that are the source of a new best path get messages
            // of their own.
            let mut special: Vec<PeerId> = Vec::new();
            for c in changes {
                if let Some(n) = &c.new {
                    if group.members.contains(&n.peer()) && !special.contains(&n.peer()) {
                        special.push(n.peer());
                    }
                }
            }
            let mut encoded: Vec<EncodedAttrs> = Vec::new();
            let mut plan: Vec<(usize, Planned)> = Vec::new(); // change index, what to send
            for (i, c) in changes.iter().enumerate() {
                let family = c.key.family();
                if !gk.families.contains(family) {
                    continue;
                }
                let new_ok = c.new.as_ref().filter(|p| self.exportable(p, gk));
                let old_ok = c.old.as_ref().is_some_and(|p| self.exportable(p, gk));
                if let Some(p) = new_ok {
                    let idx = cache.index(self, p, family, gk, &mut encoded);
                    let nlri = route_key::join(&c.key, &p.attrs.extra);
                    if encoded[idx].fits(&nlri, &gk.encode) {
                        plan.push((i, Planned::Announce(idx, nlri)));
                    } else {
                        plan.push((i, Planned::TooLarge(nlri)));
                    }
                } else if old_ok {
                    plan.push((i, Planned::Withdraw));
                }
            }
            let actions_for = |member: Option<PeerId>| -> (Vec<Action>, Vec<Nlri>) {
                let mut actions = Vec::with_capacity(plan.len());
                let mut not_sent = Vec::new();
                for (i, planned) in &plan {
                    let c = &changes[*i];
                    let from_member =
                        member.is_some() && c.new.as_ref().map(|p| p.peer()) == member;
                    match planned {
                        Planned::Announce(idx, nlri) if !from_member => {
                            actions.push(Action::Announce {
                                nlri: nlri.clone(),
                                attrs: &encoded[*idx],
                                attrs_index: *idx,
                            })
                        }
                        _ => {
                            // A path too large for the peer is not sent;
                            // what it held of the route is withdrawn, so
                            // that it keeps no stale path.
                            if let (Planned::TooLarge(nlri), false) = (planned, from_member) {
                                not_sent.push(nlri.clone());
                            }
                            // The member never got a path it sent itself.
                            let old_from_member =
                                member.is_some() && c.old.as_ref().map(|p| p.peer()) == member;
                            let old_ok = c.old.as_ref().is_some_and(|p| self.exportable(p, gk));
                            if old_ok && !old_from_member {
                                actions.push(Action::Withdraw {
                                    nlri: route_key::withdrawal(&c.key),
                                });
                            }
                        }
                    }
                }
                (actions, not_sent)
            };
            let generic: Vec<PeerId> = group
                .members
                .iter()
                .copied()
                .filter(|m| !special.contains(m))
                .collect();
            let export = |peers: Vec<PeerId>, (actions, mut not_sent): (Vec<Action>, Vec<Nlri>)| {
                let packed = pack(&actions, &gk.encode);
                not_sent.extend(packed.not_sent);
                Export {
                    peers,
                    messages: packed.messages,
                    not_sent,
                }
            };
            if !generic.is_empty() && !plan.is_empty() {
                let e = export(generic, actions_for(None));
                if !e.messages.is_empty() || !e.not_sent.is_empty() {
                    exports.push(e);
                }
            }
            for m in special {
                let e = export(vec![m], actions_for(Some(m)));
                if !e.messages.is_empty() || !e.not_sent.is_empty() {
                    exports.push(e);
                }
            }
        }
        exports
    }

    /// The best paths a peer is sent (its Adj-RIB-Out, derived).
    pub fn advertised_to(&self, id: PeerId) -> Vec<(&RouteKey, &Path)> {
        let Some(state) = self.peer(id) else {
            return Vec::new();
        };
        let gk = GroupKey::of(&state.info);
        let mut cache = AttrCache::default();
        let mut encoded: Vec<EncodedAttrs> = Vec::new();
        let mut out = Vec::new();
        for (k, e) in self.table.iter() {
            let Some(best) = e.best() else { continue };
            let ok =
                gk.families.contains(k.family()) && best.peer() != id && self.exportable(best, &gk);
            if !ok {
                continue;
            }
            // A path too large for the peer is not advertised to it.
            let idx = cache.index(self, best, k.family(), &gk, &mut encoded);
            if encoded[idx].fits(&route_key::join(k, &best.attrs.extra), &gk.encode) {
                out.push((k, best));
            }
        }
        out
    }

    /// How many best paths each Established peer is sent, per family: its
    /// derived Adj-RIB-Out counted, with one walk of the table per update
    /// group (a member is sent what its group is, less its own paths).
    pub fn advertised_counts(&self) -> Vec<(PeerId, Family, u64)> {
        const N: usize = Family::SUPPORTED.len();
        let mut out = Vec::new();
        for group in &self.groups {
            let gk = &group.key;
            let mut total = [0u64; N];
            let mut own: FxHashMap<PeerId, [u64; N]> = FxHashMap::default();
            for (key, entry) in self.table.iter() {
                let family = key.family();
                let Some(i) = family_index(family) else {
                    continue;
                };
                if !gk.families.contains(family) {
                    continue;
                }
                let Some(best) = entry.best() else { continue };
                if !self.exportable(best, gk) {
                    continue;
                }
                total[i] += 1;
                if group.members.contains(&best.peer()) {
                    own.entry(best.peer()).or_insert([0; N])[i] += 1;
                }
            }
            for m in &group.members {
                for (i, f) in Family::SUPPORTED.iter().enumerate() {
                    if gk.families.contains(*f) {
                        let mine = own.get(m).map_or(0, |c| c[i]);
                        out.push((*m, *f, total[i] - mine));
                    }
                }
            }
        }
        out
    }
}

/// What one best-path change sends to a group.
enum Planned {
    /// The new path, with its exported attribute set.
    Announce(usize, Nlri),
    /// The new path does not fit the group's maximum message size: not
    /// sent, and a withdrawal of the old path when the peers had one.
    TooLarge(Nlri),
    /// A withdrawal.
    Withdraw,
}

/// Exported attribute sets encoded during one event, keyed by the shared
/// set, the source (its router id ends up in ORIGINATOR_ID) and the family.
#[derive(Default)]
pub(crate) struct AttrCache {
    index: FxHashMap<(usize, PeerId, Family), usize>,
}

impl AttrCache {
    pub(crate) fn index(
        &mut self,
        rib: &Rib,
        path: &Path,
        family: Family,
        gk: &GroupKey,
        encoded: &mut Vec<EncodedAttrs>,
    ) -> usize {
        let key = (path.attrs.id(), path.peer(), family);
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        let source = if path.peer() == LOCAL {
            None
        } else {
            rib.peer(path.peer())
        };
        let exported = reflection::export_attrs(
            &path.attrs,
            family,
            source,
            gk.role,
            gk.local_address,
            &rib.cfg,
        );
        encoded.push(EncodedAttrs::new(&exported, family, &gk.encode));
        let i = encoded.len() - 1;
        self.index.insert(key, i);
        i
    }
}
