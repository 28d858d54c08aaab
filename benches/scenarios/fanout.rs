//! Many sinks: one injector's VPNv4 routes reflected to a thousand
//! clients.

use std::net::Ipv4Addr;

use super::{feed_and_converge, human, sessions, skipped};
use crate::{Bench, Device, Part};

/// The `i`-th fanout sink's address, in [`crate::FANOUT_RANGE`].
fn sink_addr(i: u32) -> Ipv4Addr {
    Ipv4Addr::new(127, 1, (i / 250) as u8, 1 + (i % 250) as u8)
}

pub(crate) fn fanout(b: &mut Bench, device: Device, routes: u32) -> Result<(), String> {
    let n = b.args.extra.fanout_sinks.clamp(1, 250 * 256);
    let name = format!("fanout: {} VPNv4, {n} sinks", human(routes));
    if b.args.skips(device, Part::Fanout) {
        skipped(b, device, name, routes);
        return Ok(());
    }
    let addrs: Vec<Ipv4Addr> = (0..n).map(sink_addr).collect();
    let t = std::time::Instant::now();
    let mut s = sessions(b, device, &addrs, routes, 64 << 10, false)?;
    let setup = t.elapsed().as_secs_f64();
    let (r, (cpu0, idle_rss)) = feed_and_converge(b, &mut s, routes);
    let note = match &r {
        Ok(d) => format!(
            "{:.1} M routes delivered ({:.2} M/s); {n} sessions up in {setup:.1} s; idle RSS {:.1} MiB",
            (routes as u64 * n as u64) as f64 / 1e6,
            (routes as u64 * n as u64) as f64 / 1e6 / d.as_secs_f64(),
            idle_rss as f64 / 1048576.0
        ),
        Err(_) => format!("{n} sessions up in {setup:.1} s"),
    };
    b.record(&name, &mut s.dut, r, routes as u64, (cpu0, idle_rss), &note);
    s.dut.stop();
    Ok(())
}
