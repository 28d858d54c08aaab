//! The scenario sets beyond the standard four: a client that stops
//! reading, a ROUTE-REFRESH storm from such a client, many sinks, and the
//! relay that gives the harness floor. Each row reports the time to
//! converge at the reading sinks and the device's RSS and peak.

pub(crate) mod fanout;
pub(crate) mod relay;
mod stuck;

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::ValueEnum;

use super::{
    connect_sink, converge, cpu, feed, keepalives, memory, open_session, send_all, start, Bench,
    Counts, Device, Outcome, Part, Peer, Running, SKIPPED, VRFS,
};

/// The scenario sets `--scenarios` chooses from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Set {
    /// Scenarios 1-4 of `--size`.
    Standard,
    /// VPNv4 to the sinks with and without one client that never reads.
    Stuck,
    /// VPNv4 to the sinks with and without a non-reading client that sends
    /// a burst of ROUTE-REFRESH.
    Storm,
    /// VPNv4 to many sinks (1000 by default).
    Fanout,
}

/// The sizes of the scenario sets.
#[derive(clap::Args)]
pub(crate) struct Options {
    /// Routes (VPNv4) of the stuck-client runs, one pair of runs each.
    #[arg(long, value_delimiter = ',', default_values_t = [100_000u32, 1_000_000])]
    pub stuck_routes: Vec<u32>,
    /// Routes (VPNv4) of the ROUTE-REFRESH storm runs.
    #[arg(long, default_value_t = 100_000)]
    pub storm_routes: u32,
    /// ROUTE-REFRESH messages (AFI 1, SAFI 128) of the storm.
    #[arg(long, default_value_t = 40)]
    pub storm_refreshes: u32,
    /// Seconds between the storm and the RSS reading.
    #[arg(long, default_value_t = 5.0)]
    pub storm_wait: f64,
    /// Sink clients of the fanout run.
    #[arg(long, default_value_t = 1000)]
    pub fanout_sinks: u32,
    /// Routes (VPNv4) of the fanout run.
    #[arg(long, default_value_t = 100_000)]
    pub fanout_routes: u32,
}

/// Where the non-reading client of the stuck and storm runs connects from.
const SLOW_CLIENT: Ipv4Addr = Ipv4Addr::new(127, 0, 2, 240);

/// Its receive buffer (the kernel doubles it): a few messages at most.
const SLOW_RCVBUF: usize = 4096;

/// Runs the sets of `--scenarios` other than the standard one on `device`;
/// true when one failed.
pub(crate) fn run_sets(b: &mut Bench, device: Device) -> bool {
    let mut failed = false;
    let sets = b.args.scenarios.clone();
    for set in sets {
        let (part, runs): (Part, Vec<u32>) = match set {
            Set::Standard => continue,
            Set::Stuck => (Part::Stuck, b.args.extra.stuck_routes.clone()),
            Set::Storm => (Part::Storm, vec![b.args.extra.storm_routes]),
            Set::Fanout => (Part::Fanout, vec![b.args.extra.fanout_routes]),
        };
        if device == Device::Relay && part != Part::Fanout {
            // A relay has no flow control of its own to show: it would
            // stall every sink behind the stuck one.
            eprintln!("  {set:?}: not run on the relay");
            continue;
        }
        for routes in runs {
            let routes = round(routes);
            let r = match set {
                Set::Stuck => stuck::stuck(b, device, routes),
                Set::Storm => stuck::storm(b, device, routes),
                _ => fanout::fanout(b, device, routes),
            };
            if let Err(e) = r {
                eprintln!("  {set:?}: {e}");
                failed = true;
            }
        }
    }
    failed
}

/// A multiple of the VRFs: every VRF gets its share.
fn round(n: u32) -> u32 {
    (n / VRFS).max(1) * VRFS
}

/// 1M, 100k, 2500.
pub(crate) fn human(n: u32) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1000 && n % 1000 == 0 => format!("{}k", n / 1000),
        n => n.to_string(),
    }
}

/// Text for the results' head, one paragraph per set run.
pub(crate) fn describe(a: &super::Args) -> String {
    let x = &a.extra;
    let sinks = a.sinks.unwrap_or(4);
    let mut out = String::new();
    for set in &a.scenarios {
        let text = match set {
            Set::Standard => continue,
            Set::Stuck => format!(
                "**stuck**: {} VPNv4 routes from one injector to {sinks} sinks, run twice: without and with one more client \
                 ({SLOW_CLIENT}) that completes OPEN, sends KEEPALIVEs and never reads (SO_RCVBUF {SLOW_RCVBUF}). \
                 Time: the {sinks} reading sinks' convergence; RSS once they converged (plus `--settle`).",
                x.stuck_routes.iter().map(|&n| human(round(n))).collect::<Vec<_>>().join(" and ")
            ),
            Set::Storm => format!(
                "**storm**: {} VPNv4 routes to {sinks} sinks, run twice: alone, and with a non-reading client (as in stuck) that \
                 sends {} ROUTE-REFRESH (AFI 1, SAFI 128) once the sinks converged; RSS {:.0} s after the storm.",
                human(round(x.storm_routes)),
                x.storm_refreshes,
                x.storm_wait
            ),
            Set::Fanout => format!(
                "**fanout**: {} VPNv4 routes from one injector to {} sinks (from {}); time until every sink holds every route. \
                 The sinks count NLRI in place (a bit per route), reading into 64 KiB buffers.",
                human(round(x.fanout_routes)),
                x.fanout_sinks,
                super::FANOUT_RANGE
            ),
        };
        out.push_str(&text);
        out.push_str("\n\n");
    }
    out
}

/// Raises the soft limit of open files to the hard one: a thousand
/// sessions need a thousand sockets here and at the device (which
/// inherits the limit).
pub(crate) fn raise_nofile() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// A device with its sessions up: reading sinks, perhaps one client that
/// does not read, and one injector.
pub(crate) struct Sessions {
    pub dut: Running,
    pub sinks: Vec<Arc<Peer>>,
    pub slow: Option<Arc<Peer>>,
    pub injector: Arc<Peer>,
    /// Every session, for the keepalive thread.
    _all: Arc<Mutex<Vec<Arc<Peer>>>>,
}

/// Starts `device` and opens its sessions: sinks from `sink_addrs` (in
/// parallel, 8 at a time), reading into `buf`-octet buffers and counting
/// `n4` VPNv4 routes; the slow client when `slow`; then the injector.
pub(crate) fn sessions(
    b: &Bench,
    device: Device,
    sink_addrs: &[Ipv4Addr],
    n4: u32,
    buf: usize,
    slow: bool,
) -> Result<Sessions, String> {
    let dut = start(device, b.args)?;
    let lanes = 8.min(sink_addrs.len().max(1));
    let mut sinks: Vec<Option<Arc<Peer>>> = vec![None; sink_addrs.len()];
    let mut err = None;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..lanes)
            .map(|lane| {
                s.spawn(move || {
                    let mut got = Vec::new();
                    for (i, &a) in sink_addrs.iter().enumerate().skip(lane).step_by(lanes) {
                        got.push((i, connect_sink(a, false, 0, n4, buf)?));
                    }
                    Ok::<_, String>(got)
                })
            })
            .collect();
        for h in handles {
            match h.join().expect("connect thread") {
                Ok(got) => got.into_iter().for_each(|(i, p)| sinks[i] = Some(p)),
                Err(e) => err = Some(e),
            }
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    let sinks: Vec<Arc<Peer>> = sinks.into_iter().flatten().collect();
    let slow = if slow {
        let stream = open_session(SLOW_CLIENT, false, Some(SLOW_RCVBUF))?;
        Some(Arc::new(Peer {
            addr: SLOW_CLIENT,
            stream,
            write: Mutex::new(()),
            counts: Arc::new(Counts::default()),
        }))
    } else {
        None
    };
    let injector = super::connect(Ipv4Addr::new(127, 0, 3, 1), false, 0, n4)?;
    let all = Arc::new(Mutex::new(
        sinks
            .iter()
            .chain(&slow)
            .chain(std::iter::once(&injector))
            .cloned()
            .collect(),
    ));
    keepalives(&all);
    // Let the device finish setting the sessions up.
    std::thread::sleep(Duration::from_secs(if sink_addrs.len() > 100 {
        3
    } else {
        1
    }));
    Ok(Sessions {
        dut,
        sinks,
        slow,
        injector,
        _all: all,
    })
}

/// Sends `routes` VPNv4 routes (every VRF's share) from the injector of
/// `s` and waits, at most `--timeout`, until every sink holds them: the
/// time it took, and the device's CPU seconds and RSS before the routes
/// were sent (for [`Bench::record`]).
pub(crate) fn feed_and_converge(
    b: &Bench,
    s: &mut Sessions,
    routes: u32,
) -> (Result<Duration, (String, u64)>, (f64, u64)) {
    let f = feed(s.injector.addr, 0..VRFS, 0, routes);
    let pid = s.dut.pid();
    let (idle_rss, _) = memory(pid);
    let cpu0 = cpu(pid);
    let sender = send_all(&s.injector, &f.announce);
    let r = converge(
        &mut s.dut,
        &s.sinks,
        (0, routes as u64),
        Duration::from_secs(b.args.timeout),
    );
    let _ = sender.join();
    (r, (cpu0, idle_rss))
}

/// A row saying that `device` was left out of `scenario` (`--skip`).
pub(crate) fn skipped(b: &mut Bench, device: Device, scenario: String, routes: u32) {
    b.results.push(Outcome {
        scenario,
        device,
        routes: routes as u64,
        seconds: None,
        reached: 0,
        cpu_seconds: 0.0,
        peak_rss: 0,
        rss: 0,
        bytes_per_path: None,
        note: SKIPPED.into(),
    });
}

/// Ferry's view of the session from `addr` (`bgpctl --json show
/// neighbor`: out-queue-octets, output-throttled, pending routes and
/// tables, refreshes coalesced), when bgpctl is next to bgpd.
pub(crate) fn ferry_neighbor(b: &Bench, dut: &Running, addr: Ipv4Addr) -> String {
    if dut.device != Device::Ferry {
        return String::new();
    }
    let bgpctl = b.args.ferry_bgpd.with_file_name("bgpctl");
    let Ok(out) = std::process::Command::new(&bgpctl)
        .arg("--socket")
        .arg(dut.dir.join("bgpd.sock"))
        .args(["--json", "show", "neighbor"])
        .output()
    else {
        return String::new();
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
        return String::new();
    };
    let list = v.as_array().cloned().unwrap_or_default();
    let Some(n) = list
        .iter()
        .find(|n| n.get("address").and_then(|a| a.as_str()) == Some(&addr.to_string()))
    else {
        return String::new();
    };
    let f = |k: &str| {
        n.get(k)
            .map(|v| v.to_string())
            .unwrap_or_else(|| "?".into())
    };
    format!(
        "slow client: out-queue-octets {}, output-throttled {}, pending-routes {}, pending-tables {}, route-refresh-coalesced {}",
        f("out-queue-octets"),
        f("output-throttled"),
        f("pending-routes"),
        f("pending-tables"),
        f("route-refresh-coalesced")
    )
}
