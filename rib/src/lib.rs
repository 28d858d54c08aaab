//! `ferry-rib`: the routing information base of Ferry.
//!
//! Pure and synchronous: no I/O, no clock, no threads. The daemon hands it
//! events (a peer came up, an UPDATE arrived, a peer went down, a route is
//! originated) and gets back the UPDATE octets to send, per group of
//! peers, and the best-path changes (for kernel programming on workers).
//!
//! Where each concern lives:
//!
//! | Concern | File |
//! |---|---|
//! | [`Rib`], its constructor, read-only views, memory | `lib.rs` |
//! | Adj-RIB-In: receiving UPDATEs, treat-as-withdraw, peer down | [`adj_rib_in`] |
//! | Loc-RIB: storing paths, best-path selection, change sets, origination | [`loc_rib`] (rules in [`decision`]) |
//! | Graceful restart: restarting peers, stale paths, End-of-RIB, deferral | [`graceful_restart`] |
//! | Per-peer index of table positions (peer down, stale marking) | [`peer_index`] |
//! | Update groups, peer up, route refresh | [`groups`] |
//! | Best-path changes turned into UPDATEs per group; derived Adj-RIB-Out | `export.rs` |
//! | Packing NLRI into UPDATEs (framing is in `ferry_wire`) | [`packing`] |
//! | Output flow control: what a throttled peer still needs | [`backlog`] |
//! | Route reflection and export rules | [`reflection`] |
//! | Route keys, packed; NLRI split into key and per-path fields | [`route_key`] |
//! | The chunked route table | [`table`] |
//! | Paths, attribute sets interned and shared | [`path`], [`attributes`] |
//!
//! Every path a peer sent is held per route key, rejected (looped) paths
//! included so that counters and withdrawals are exact; the best path of
//! each key is always at index 0.

#![forbid(unsafe_code)]

pub mod adj_rib_in;
pub mod attributes;
pub mod backlog;
pub mod decision;
mod export;
pub mod graceful_restart;
pub mod groups;
pub mod loc_rib;
pub mod packing;
pub mod path;
pub mod peer;
pub mod peer_index;
pub mod reflection;
pub mod route_key;
pub mod table;

use std::net::IpAddr;

use ferry_wire::{EncodeContext, Family, Nlri};
use rustc_hash::FxHashMap;
use table::Table;

use attributes::Interner;
use groups::{Export, Group};
use path::{Path, Paths};
use peer::{PeerId, PeerInfo, PeerState, Role};
use peer_index::PeerIndex;
pub use reflection::SpeakerConfig;
pub use route_key::{PathExtra, RouteKey};

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
    /// keys kept out of line, the path lists that outgrew their slot and
    /// the per-peer index of table positions.
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
    /// Where each peer's paths are in `table` ([`peer_index`]).
    index: PeerIndex,
}

pub(crate) fn family_index(f: Family) -> Option<usize> {
    Family::SUPPORTED.iter().position(|x| *x == f)
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
            index: PeerIndex::default(),
        }
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
        let mut bytes = self.table.heap_bytes() + self.index.heap_bytes();
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
