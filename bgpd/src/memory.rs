//! `bgpctl show memory`: the process's resident memory, the allocator's
//! view of it and what the RIB holds.

use ferry_control::{Allocator, MemoryReport, RibMemory};

/// The report now, with `rib` the RIB's own count.
pub(crate) fn now(rib: ferry_rib::RibMemory) -> MemoryReport {
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
        rib: RibMemory {
            routes: rib.routes,
            paths: rib.paths,
            table_bytes: rib.table_bytes,
            attribute_sets: rib.attribute_sets,
        },
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
