//! Memory of the route reflector RIB: resident bytes per path after
//! loading routes, measured from /proc/self/statm.
//!
//! `cargo run --release -p ferry-benches --bin rib-memory [ROUTES]`

use ferry_benches::{reflector, type5, updates, vpnv4};
use ferry_wire::Family;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let half = n / 2;
    let evpn = updates(Family::EVPN, half, 100, type5);
    let vpn = updates(Family::VPNV4, half, 100, vpnv4);
    let mut rib = reflector(50);
    let before = rss_bytes();
    for u in evpn.iter().chain(vpn.iter()) {
        // Exports are produced (and dropped) as the daemon would send them.
        drop(rib.receive(1, u));
    }
    drop(evpn);
    drop(vpn);
    let after = rss_bytes();
    let paths = rib.table_counts(Family::EVPN).paths + rib.table_counts(Family::VPNV4).paths;
    println!(
        "paths {paths}  attribute sets {}  rss growth {:.1} MiB  bytes/path {:.0}",
        rib.attribute_sets(),
        (after.saturating_sub(before)) as f64 / 1048576.0,
        after.saturating_sub(before) as f64 / paths as f64
    );
}
