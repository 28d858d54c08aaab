//! A client that stops reading, and a ROUTE-REFRESH storm from one: the
//! device's memory with it against the same run without it, and the
//! convergence of the clients that do read.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::{feed_and_converge, ferry_neighbor, human, sessions, skipped};
use crate::{memory, Bench, Device, Part};

/// What the extra client does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slow {
    /// Not there.
    Absent,
    /// Completes OPEN, sends KEEPALIVEs, never reads.
    Stuck,
    /// The same, and sends ROUTE-REFRESH messages once the sinks converged.
    Storm(u32),
}

/// ROUTE-REFRESH for VPNv4 (AFI 1, SAFI 128).
const REFRESH_VPNV4: [u8; 23] = {
    let mut m = [0xffu8; 23];
    m[16] = 0;
    m[17] = 23;
    m[18] = 5;
    m[19] = 0;
    m[20] = 1;
    m[21] = 0;
    m[22] = 128;
    m
};

/// `routes` VPNv4 to the sinks without, then with, a stuck client.
pub(super) fn stuck(b: &mut Bench, device: Device, routes: u32) -> Result<(), String> {
    let sinks = b.args.sinks.unwrap_or(4);
    let base = format!("stuck: {} VPNv4, {sinks} sinks", human(routes));
    let with = format!("{base} + 1 stuck client");
    without_and_with(b, device, routes, Part::Stuck, Slow::Stuck, (base, with))
}

/// `routes` VPNv4 to the sinks alone, then with a non-reading client that
/// sends the storm once the sinks converged.
pub(super) fn storm(b: &mut Bench, device: Device, routes: u32) -> Result<(), String> {
    let sinks = b.args.sinks.unwrap_or(4);
    let n = b.args.extra.storm_refreshes;
    let base = format!("storm: {} VPNv4, {sinks} sinks", human(routes));
    let with = format!("{base} + {n} ROUTE-REFRESH from a non-reading client");
    without_and_with(b, device, routes, Part::Storm, Slow::Storm(n), (base, with))
}

/// The run `base` without the slow client, then the run `with` with it as
/// `slow`; two skipped rows instead when `--skip` leaves out `part`.
fn without_and_with(
    b: &mut Bench,
    device: Device,
    routes: u32,
    part: Part,
    slow: Slow,
    (base, with): (String, String),
) -> Result<(), String> {
    if b.args.skips(device, part) {
        skipped(b, device, base, routes);
        skipped(b, device, with, routes);
        return Ok(());
    }
    run(b, device, routes, Slow::Absent, &base)?;
    run(b, device, routes, slow, &with)
}

fn run(b: &mut Bench, device: Device, routes: u32, slow: Slow, name: &str) -> Result<(), String> {
    let sinks = b.args.sinks.unwrap_or(4);
    let addrs: Vec<Ipv4Addr> = (0..sinks)
        .map(|i| Ipv4Addr::new(127, 0, 2, 1 + i as u8))
        .collect();
    let mut s = sessions(b, device, &addrs, routes, 1 << 18, slow != Slow::Absent)?;
    let (r, (cpu0, idle_rss)) = feed_and_converge(b, &mut s, routes);
    let pid = s.dut.pid();
    let mut notes = Vec::new();
    if let (Slow::Storm(n), Some(p), true) = (slow, &s.slow, r.is_ok()) {
        let (before, _) = memory(pid);
        let burst: Vec<u8> = (0..n).flat_map(|_| REFRESH_VPNV4).collect();
        p.send(&burst).map_err(|e| format!("ROUTE-REFRESH: {e}"))?;
        // Sample while the device works on the storm: the highest RSS seen.
        let mut high = before;
        let until = std::time::Instant::now() + Duration::from_secs_f64(b.args.extra.storm_wait);
        while std::time::Instant::now() < until {
            high = high.max(memory(pid).0);
            std::thread::sleep(Duration::from_millis(20));
        }
        notes.push(format!(
            "RSS before the storm {:.1} MiB, highest during it {:.1} MiB",
            before as f64 / 1048576.0,
            high as f64 / 1048576.0
        ));
    }
    if let Some(p) = &s.slow {
        let n = ferry_neighbor(b, &s.dut, p.addr);
        if !n.is_empty() {
            notes.push(n);
        }
        if !s.dut.alive() {
            notes.push("the device exited".into());
        }
    }
    b.record(
        name,
        &mut s.dut,
        r,
        routes as u64,
        (cpu0, idle_rss),
        &notes.join("; "),
    );
    s.dut.stop();
    Ok(())
}
