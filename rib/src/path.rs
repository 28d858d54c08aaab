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
