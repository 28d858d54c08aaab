//! The per-peer index: for each peer, the table positions of the route
//! keys it has paths for, so that a peer going down and stale marking
//! (graceful restart, enhanced route refresh) visit that peer's routes
//! only, not the whole table.
//!
//! A removal from the table moves its last entry into the hole
//! ([`crate::table`]), so a position does not stay with its key. The
//! index is therefore kept as a superset, checked against the table when
//! used:
//!
//! * a path added pushes its position on its peer's list;
//! * an entry moved pushes its new position on the list of every peer
//!   with a path in it;
//! * a path removed only lowers its peer's count of paths.
//!
//! Invariant: every path in the table has its position on its peer's
//! list. A list that grows past twice its peer's paths is compacted:
//! positions no longer holding a path of the peer dropped, the rest
//! sorted (table order) and deduplicated. A compaction costs a sort of
//! the list and happens only after the list has doubled, so its cost per
//! event stays small.
//!
//! Memory: 4 octets a path, up to twice that with the vector's room to
//! grow and the positions a compaction has not yet dropped (measured with
//! `rib-memory` at a million paths from one peer: about 4 octets a path,
//! 57 → 62 resident octets a path). Keys instead of positions would cost
//! 32 octets a path; a scan of the whole table, as before, costs nothing
//! at rest but visits every route for each peer that goes down.

use crate::peer::PeerId;

/// Lists shorter than this are not compacted (a few stale positions
/// cost less than sorting).
const MIN_COMPACT: usize = 64;

/// Table positions per peer (see the module documentation).
#[derive(Default)]
pub struct PeerIndex {
    lists: Vec<PeerList>,
}

#[derive(Default)]
struct PeerList {
    /// A superset of the positions of the peer's paths.
    positions: Vec<u32>,
    /// The peer's paths in the table.
    paths: usize,
    /// The peer is going down: its paths are being removed, the list is
    /// neither kept nor used until [`PeerIndex::clear`].
    suspended: bool,
}

impl PeerList {
    fn is_loose(&self) -> bool {
        !self.suspended && self.positions.len() > MIN_COMPACT.max(2 * self.paths)
    }

    fn compact(&mut self, holds: impl FnMut(u32) -> bool) {
        let mut holds = holds;
        self.positions.retain(|&p| holds(p));
        self.positions.sort_unstable();
        self.positions.dedup();
        // Give memory back after the peer lost most of its routes.
        if self.positions.capacity() > MIN_COMPACT.max(2 * self.positions.len()) {
            self.positions.shrink_to_fit();
        }
    }
}

impl PeerIndex {
    fn list(&mut self, peer: PeerId) -> &mut PeerList {
        let i = peer as usize;
        if self.lists.len() <= i {
            self.lists.resize_with(i + 1, PeerList::default);
        }
        &mut self.lists[i]
    }

    /// A path of `peer` was added at `pos`.
    pub fn added(&mut self, peer: PeerId, pos: u32) {
        let l = self.list(peer);
        l.positions.push(pos);
        l.paths += 1;
    }

    /// A path of `peer` was removed.
    pub fn removed(&mut self, peer: PeerId) {
        let l = self.list(peer);
        l.paths = l.paths.saturating_sub(1);
    }

    /// The entry holding a path of `peer` moved to `pos`.
    pub fn moved(&mut self, peer: PeerId, pos: u32) {
        let l = self.list(peer);
        if !l.suspended {
            l.positions.push(pos);
        }
    }

    /// `peer` is going down: every path of it is about to be removed, so
    /// its list is dropped now rather than kept up to date meanwhile.
    pub fn suspend(&mut self, peer: PeerId) {
        let l = self.list(peer);
        *l = PeerList::default();
        l.suspended = true;
    }

    /// True when the list of `peer` holds more than twice the positions it
    /// needs.
    pub fn is_loose(&self, peer: PeerId) -> bool {
        self.lists
            .get(peer as usize)
            .is_some_and(PeerList::is_loose)
    }

    /// Compacts the list of `peer`: `holds(pos)` tells whether the entry
    /// at `pos` has a path of the peer.
    pub fn compact(&mut self, peer: PeerId, holds: impl FnMut(u32) -> bool) {
        if let Some(l) = self.lists.get_mut(peer as usize) {
            l.compact(holds);
        }
    }

    /// The positions of the paths of `peer`, compacted first: sorted,
    /// each once, each holding a path of the peer.
    pub fn positions(&mut self, peer: PeerId, holds: impl FnMut(u32) -> bool) -> &[u32] {
        match self.lists.get_mut(peer as usize) {
            Some(l) => {
                l.compact(holds);
                &l.positions
            }
            None => &[],
        }
    }

    /// Forgets `peer` (it went down; it holds no path), ending a
    /// suspension.
    pub fn clear(&mut self, peer: PeerId) {
        if let Some(l) = self.lists.get_mut(peer as usize) {
            *l = PeerList::default();
        }
    }

    /// Heap bytes of the index.
    pub fn heap_bytes(&self) -> usize {
        self.lists.capacity() * std::mem::size_of::<PeerList>()
            + self
                .lists
                .iter()
                .map(|l| l.positions.capacity() * std::mem::size_of::<u32>())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compaction_keeps_exactly_the_positions_that_hold_and_sorts_them() {
        let mut ix = PeerIndex::default();
        for pos in (0..200u32).rev() {
            ix.added(3, pos);
        }
        // Half the paths go; their positions now hold other peers' paths.
        for _ in 0..100 {
            ix.removed(3);
        }
        ix.moved(3, 150);
        assert!(ix.is_loose(3));
        let held = ix.positions(3, |p| p % 2 == 0).to_vec();
        assert_eq!(held, (0..200u32).step_by(2).collect::<Vec<_>>());
        assert!(!ix.is_loose(3));
        assert!(ix.positions(9, |_| true).is_empty());
        ix.clear(3);
        assert!(ix.positions(3, |_| true).is_empty());
    }
}
