//! The attribute sets routes share, interned so that a route reflector
//! holding many routes with few distinct attribute sets stores each set
//! once.
//!
//! A [`RouteAttrs`] is everything about a path that is not its key: the
//! path attributes, the next hop (from MP_REACH_NLRI or NEXT_HOP), and the
//! NLRI fields that are not part of the route key (labels, ESI, gateway;
//! see [`crate::route_key`]). Routes of one VRF sent by one node differ only
//! in their keys, so they all point at one interned set.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use ferry_wire::{NextHop, PathAttributes};
use rustc_hash::FxHashSet;

use crate::route_key::PathExtra;

/// The shared part of a path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RouteAttrs {
    pub path: PathAttributes,
    pub next_hop: NextHop,
    pub extra: PathExtra,
}

/// An interned, shared attribute set. Equality is by content; the
/// interner guarantees that equal sets share one allocation, so
/// [`Attrs::ptr_eq`] is the fast test.
#[derive(Clone, Debug)]
pub struct Attrs(Arc<RouteAttrs>);

impl Attrs {
    pub fn ptr_eq(&self, other: &Attrs) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// An address identifying this set while it lives (for caches).
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }
}

impl std::ops::Deref for Attrs {
    type Target = RouteAttrs;
    fn deref(&self) -> &RouteAttrs {
        &self.0
    }
}

impl PartialEq for Attrs {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}
impl Eq for Attrs {}

impl Hash for Attrs {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state)
    }
}

impl std::borrow::Borrow<RouteAttrs> for Attrs {
    fn borrow(&self) -> &RouteAttrs {
        &self.0
    }
}

/// The set of live attribute sets.
#[derive(Default)]
pub struct Interner {
    sets: FxHashSet<Attrs>,
    /// Sets released since the last sweep; swept when this grows large.
    released: usize,
}

impl Interner {
    /// The shared copy of `attrs`, inserting it when new.
    pub fn intern(&mut self, attrs: RouteAttrs) -> Attrs {
        if let Some(a) = self.sets.get(&attrs) {
            return a.clone();
        }
        let a = Attrs(Arc::new(attrs));
        self.sets.insert(a.clone());
        a
    }

    /// Notes that a path dropped its reference; sets nobody else holds are
    /// freed in batches.
    pub fn release(&mut self, attrs: Attrs) {
        drop(attrs);
        self.released += 1;
        if self.released > 1024 && self.released > self.sets.len() / 2 {
            self.sweep();
        }
    }

    /// Frees every set only the interner holds.
    pub fn sweep(&mut self) {
        self.sets.retain(|a| Arc::strong_count(&a.0) > 1);
        self.released = 0;
    }

    /// The number of sets some path still uses (released ones waiting for
    /// the next sweep are not counted).
    pub fn len(&self) -> usize {
        self.sets
            .iter()
            .filter(|a| Arc::strong_count(&a.0) > 1)
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
