//! `show memory`: the process's resident memory, the allocator's view of
//! it and what the RIB holds.

use serde::{Deserialize, Serialize};

/// The memory report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct MemoryReport {
    /// Resident set size (bytes).
    pub rss: u64,
    /// Its anonymous part: the heap and stacks, not the mapped program.
    pub rss_anonymous: u64,
    /// The highest resident set size since the start.
    pub rss_peak: u64,
    /// The allocator's view, when it can tell (glibc).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocator: Option<Allocator>,
    pub rib: RibMemory,
}

/// What the C allocator has handed out and what it holds free.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Allocator {
    /// Bytes in allocated blocks.
    pub in_use: u64,
    /// Bytes in free blocks the allocator keeps (not all of it resident).
    pub free: u64,
    /// Bytes in blocks mapped on their own (large allocations).
    pub mapped: u64,
}

/// What the RIB holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
