//! `bgpctl show memory`: the process's resident memory, the allocator's
//! view of it and what the RIB holds.

use ferry_rib::RibMemory;
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

impl MemoryReport {
    pub fn now(rib: RibMemory) -> MemoryReport {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map_or(0, |kib| kib * 1024)
        };
        MemoryReport {
            rss: field("VmRSS:"),
            rss_anonymous: field("RssAnon:"),
            rss_peak: field("VmHWM:"),
            allocator: allocator(),
            rib,
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn allocator() -> Option<Allocator> {
    // SAFETY: mallinfo2 only reads glibc's own bookkeeping.
    let m = unsafe { libc::mallinfo2() };
    Some(Allocator {
        in_use: (m.uordblks + m.hblkhd) as u64,
        free: m.fordblks as u64,
        mapped: m.hblkhd as u64,
    })
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn allocator() -> Option<Allocator> {
    None
}
