//! One path: who sent it, with which attributes, and its state bits.

use crate::attributes::Attrs;
use crate::peer::PeerId;

const INELIGIBLE: u32 = 1 << 31;
const STALE: u32 = 1 << 30;
const PEER_MASK: u32 = !(INELIGIBLE | STALE);

/// A path in the RIB: 16 octets, the attributes shared.
#[derive(Clone, Debug)]
pub struct Path {
    pub attrs: Attrs,
    /// The source peer in the low 30 bits, then the stale and ineligible
    /// bits.
    peer_bits: u32,
    /// The ADD-PATH identifier the peer gave (0 without ADD-PATH).
    pub path_id: u32,
}

impl Path {
    pub fn new(peer: PeerId, path_id: u32, attrs: Attrs, eligible: bool) -> Path {
        let mut peer_bits = peer & PEER_MASK;
        if !eligible {
            peer_bits |= INELIGIBLE;
        }
        Path {
            attrs,
            peer_bits,
            path_id,
        }
    }

    pub fn peer(&self) -> PeerId {
        self.peer_bits & PEER_MASK
    }

    /// False when the path was rejected (a loop, RFC 4456 §8 / RFC 4271
    /// §9.1.2): held in the Adj-RIB-In, never selected.
    pub fn is_eligible(&self) -> bool {
        self.peer_bits & INELIGIBLE == 0
    }

    /// True while the path waits to be refreshed after its peer restarted
    /// (RFC 4724 §4.2).
    pub fn is_stale(&self) -> bool {
        self.peer_bits & STALE != 0
    }

    pub fn set_stale(&mut self, stale: bool) {
        if stale {
            self.peer_bits |= STALE;
        } else {
            self.peer_bits &= !STALE;
        }
    }

    /// Same source, same path identifier.
    pub fn same_origin(&self, other: &Path) -> bool {
        self.peer() == other.peer() && self.path_id == other.path_id
    }

    /// Same source and identifier, same attributes: nothing to re-advertise.
    pub fn same(&self, other: &Path) -> bool {
        self.same_origin(other) && self.attrs.ptr_eq(&other.attrs)
    }
}

/// The paths of one route key: never empty, one path held inline (the
/// common case: a route reflector hears most routes from one client), more
/// in a vector of their own. 16 octets in the table.
#[derive(Clone, Debug)]
pub struct Paths(Repr);

#[derive(Clone, Debug)]
enum Repr {
    One(Path),
    /// Two or more. Boxed: a vector beside the inline path would make
    /// every table slot 8 octets larger.
    #[allow(clippy::box_collection)]
    Many(Box<Vec<Path>>),
}

impl Paths {
    pub fn one(path: Path) -> Paths {
        Paths(Repr::One(path))
    }

    pub fn push(&mut self, path: Path) {
        match &mut self.0 {
            Repr::One(first) => self.0 = Repr::Many(Box::new(vec![first.clone(), path])),
            Repr::Many(v) => v.push(path),
        }
    }

    /// Removes the path at `i` of two or more (a key losing its only path
    /// leaves the table instead).
    ///
    /// # Panics
    /// When there is only one path.
    pub fn remove(&mut self, i: usize) -> Path {
        let Repr::Many(v) = &mut self.0 else {
            panic!("removing the only path of a route key");
        };
        let removed = v.remove(i);
        if v.len() == 1 {
            let only = v.pop().expect("one path left");
            self.0 = Repr::One(only);
        }
        removed
    }

    /// The only path, when there is just one.
    pub fn into_only(self) -> Option<Path> {
        match self.0 {
            Repr::One(p) => Some(p),
            Repr::Many(_) => None,
        }
    }

    /// Heap bytes held beyond the table slot.
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            Repr::One(_) => 0,
            Repr::Many(v) => {
                std::mem::size_of::<Vec<Path>>() + v.capacity() * std::mem::size_of::<Path>()
            }
        }
    }
}

impl std::ops::Deref for Paths {
    type Target = [Path];
    fn deref(&self) -> &[Path] {
        match &self.0 {
            Repr::One(p) => std::slice::from_ref(p),
            Repr::Many(v) => v,
        }
    }
}

impl std::ops::DerefMut for Paths {
    fn deref_mut(&mut self) -> &mut [Path] {
        match &mut self.0 {
            Repr::One(p) => std::slice::from_mut(p),
            Repr::Many(v) => v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::{Interner, RouteAttrs};
    use crate::route_key::PathExtra;
    use ferry_wire::{NextHop, PathAttributes};

    fn path(peer: PeerId) -> Path {
        let attrs = Interner::default().intern(RouteAttrs {
            path: PathAttributes::default(),
            next_hop: NextHop::Raw(Vec::new()),
            extra: PathExtra::None,
        });
        Path::new(peer, 0, attrs, true)
    }

    fn peers(p: &Paths) -> Vec<PeerId> {
        p.iter().map(Path::peer).collect()
    }

    #[test]
    fn paths_grow_and_shrink_back_to_one_inline() {
        let mut p = Paths::one(path(1));
        assert_eq!(p.heap_bytes(), 0);
        p.push(path(2));
        p.push(path(3));
        assert_eq!(peers(&p), [1, 2, 3]);
        assert!(p.heap_bytes() > 0);
        p.swap(0, 2);
        assert_eq!(p.remove(1).peer(), 2);
        assert_eq!(peers(&p), [3, 1]);
        assert_eq!(p.remove(0).peer(), 3);
        assert_eq!(p.heap_bytes(), 0);
        assert_eq!(p.into_only().map(|p| p.peer()), Some(1));
    }
}
