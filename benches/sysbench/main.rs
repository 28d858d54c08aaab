//! The side-by-side system benchmark: Ferry's bgpd, FRR's bgpd, GoBGP and
//! BIRD as route reflectors on one machine, fed by the same injector and
//! read by the same sinks.
//!
//! Runs inside a network namespace of its own (`--netns NAME`, which
//! `benches/run` gives: sysbench makes it, enters it and deletes it):
//! the device under test listens on 127.0.0.1:179, sinks connect from
//! 127.0.2.x and injectors from 127.0.3.x. Injectors send UPDATEs encoded
//! before the clock starts; sinks count the NLRI they hold (a bit per
//! route, set by announcements and cleared by withdrawals) with a scanner
//! that reads the NLRI in place, so neither side is the bottleneck.
//! The scenario sets beyond the standard four (a stuck client, a
//! ROUTE-REFRESH storm, 1000 sinks from 127.1.0.0/16) and the relay that
//! measures the harness floor are in `benches/scenarios/`.
//!
//! By concern: `args.rs` (command line and plan), `sessions.rs` (injector
//! and sink sessions), `routes.rs` (the encoded routes), `devices.rs`
//! (starting the devices, /proc readings, the idle worker), `bench.rs`
//! (scenarios 1 to 4, recording a run), `report.rs` (table and plot).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use clap::Parser;
use ferry_netns::Netns;

const DUT: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const LOCAL_AS: u32 = 64512;
const VRFS: u32 = 100;
/// Where the sinks of the fanout run connect from.
const FANOUT_RANGE: &str = "127.1.0.0/16";

mod args;
mod bench;
mod devices;
mod report;
mod routes;
#[path = "../scenarios/mod.rs"]
mod scenarios;
mod sessions;

// At the crate root, where the scenario sets (`benches/scenarios/`) name them.
use args::{Args, Device, Mix, Part, Plan};
use bench::{converge, send_all, Bench, Outcome, SKIPPED};
use devices::{cpu, memory, settings, start, version, worker_idle, Running};
use report::{report, svg};
use routes::{feed, Feed};
use sessions::{connect, connect_sink, keepalives, open_session, Counts, Peer, KEEPALIVE};

/// The TCP buffers of the benchmark's namespace: 61+ sessions over
/// loopback, room for the devices' buffers.
const SYSCTLS: [&str; 2] = [
    "net.ipv4.tcp_rmem=4096 131072 6291456",
    "net.ipv4.tcp_wmem=4096 65536 4194304",
];

/// Makes namespace `name` with [`SYSCTLS`] and moves this process into it,
/// before any thread is started: the devices, the sessions and
/// /proc/net/tcp are all there. The namespace, with whatever still runs
/// in it, is deleted when the value is dropped, or by [`delete_on_signal`].
fn own_namespace(name: &str) -> Result<Netns, String> {
    let ns = Netns::create(name).map_err(|e| e.to_string())?;
    ns.sysctl(&SYSCTLS).map_err(|e| e.to_string())?;
    delete_on_signal(name);
    ns.enter().map_err(|e| e.to_string())?;
    Ok(ns)
}

/// On SIGINT, SIGTERM or SIGHUP, deletes namespace `name` (killing the
/// devices in it) and exits with 128 + the signal. The signals are blocked
/// in this thread and so in every thread started after it, and waited for
/// by a thread of their own; the devices start with them unblocked.
fn delete_on_signal(name: &str) {
    // SAFETY: sigset_t is plain data, set up by sigemptyset before use; the
    // calls get pointers to this local only.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    let name = name.to_string();
    std::thread::spawn(move || {
        let mut sig = 0;
        // SAFETY: sigwait reads the set and writes the signal number, both
        // locals of this thread.
        if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
            return;
        }
        eprintln!("sysbench: signal {sig}: deleting namespace {name} and what runs in it");
        if let Err(e) = Netns::named(&name).delete() {
            eprintln!("sysbench: {e}");
        }
        std::process::exit(128 + sig);
    });
}

type Step = Box<dyn Fn(&mut Bench) -> Result<(), String>>;

fn main() {
    let args = Args::parse();
    if args.relay {
        scenarios::relay::serve();
        return;
    }
    scenarios::raise_nofile();
    if let Some(json) = &args.replot {
        let results: Vec<Outcome> = match std::fs::read_to_string(json)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(r) => r,
            Err(e) => {
                eprintln!("sysbench: {}: {e}", json.display());
                std::process::exit(1);
            }
        };
        let out = json.with_extension("svg");
        if let Err(e) = std::fs::write(&out, svg(&results)) {
            eprintln!("sysbench: {}: {e}", out.display());
            std::process::exit(1);
        }
        println!("{}", out.display());
        return;
    }
    let failed = {
        let _ns = match args.netns.as_deref().map(own_namespace).transpose() {
            Ok(ns) => ns,
            Err(e) => {
                eprintln!("sysbench: {e}");
                std::process::exit(1);
            }
        };
        run(&args)
    };
    if failed {
        std::process::exit(1);
    }
}

/// Runs the benchmark and writes its results; true when a part failed.
fn run(args: &Args) -> bool {
    let plan = Plan::of(args);
    let mut bench = Bench {
        args,
        plan,
        results: Vec::new(),
    };
    let mut versions = BTreeMap::new();
    let mut failed = false;
    let standard = args.scenarios.contains(&scenarios::Set::Standard);
    for &d in &args.devices {
        versions.insert(d, version(d, args));
        eprintln!("== {} ({})", d.name(), versions[&d]);
        if !standard {
            failed |= scenarios::run_sets(&mut bench, d);
            continue;
        }
        let first = if d.evpn() { Mix::Mixed } else { Mix::Vpnv4 };
        let mut steps: Vec<(&str, Mix, Step)> = vec![(
            "scenarios 1, 3, 4",
            first,
            Box::new(move |b: &mut Bench| b.one_injector(d, false)),
        )];
        if bench.plan.many_and_churn {
            steps.push((
                "scenario 2",
                first,
                Box::new(move |b: &mut Bench| b.many_injectors(d)),
            ));
        }
        if d.evpn() && (args.devices.contains(&Device::Bird) || !bench.plan.many_and_churn) {
            steps.push((
                "scenario 1, VPNv4 only",
                Mix::Vpnv4,
                Box::new(move |b: &mut Bench| b.one_injector(d, true)),
            ));
        }
        for (what, mix, step) in steps {
            if args.skips(d, mix.into()) {
                eprintln!("  {what}: {} skipped (--skip)", d.name());
                bench.skipped(d, mix);
                continue;
            }
            if let Err(e) = step(&mut bench) {
                eprintln!("  {what}: {e}");
                failed = true;
            }
        }
        failed |= scenarios::run_sets(&mut bench, d);
    }
    let mut worker = None;
    if standard && args.devices.contains(&Device::Ferry) {
        match worker_idle(args) {
            Ok(w) => {
                eprintln!(
                    "  worker idle              Ferry bgpd   RSS {:.1} MiB ({:.1} MiB anonymous)",
                    w.0 as f64 / 1048576.0,
                    w.1 as f64 / 1048576.0
                );
                worker = Some(w);
            }
            Err(e) => {
                eprintln!("  worker idle: {e}");
                failed = true;
            }
        }
    }
    let results = bench.results;
    let md = report(args, &bench.plan, &results, &versions, worker);
    let size = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{:?}", args.size).to_lowercase());
    let _ = std::fs::create_dir_all(&args.out);
    let write = |name: String, text: &str| {
        let p = args.out.join(name);
        if let Err(e) = std::fs::write(&p, text) {
            eprintln!("sysbench: {}: {e}", p.display());
        }
    };
    write(format!("{size}.md"), &md);
    write(format!("{size}.svg"), &svg(&results));
    write(
        format!("{size}.json"),
        &serde_json::to_string_pretty(&results).unwrap_or_default(),
    );
    println!("{md}");
    println!(
        "Results: {}/{size}.md, {size}.svg, {size}.json",
        args.out.display()
    );
    // Ferry's time for scenario 1 divided into the fastest other device's.
    let s1 = |d: Device| {
        results
            .iter()
            .find(|o| o.device == d && o.scenario == "1 reflect")
            .and_then(|o| o.seconds)
    };
    let s1v4 = |d: Device| {
        results
            .iter()
            .find(|o| o.device == d && o.scenario == "1 reflect (VPNv4 only)")
            .and_then(|o| o.seconds)
    };
    let fastest = |f: &dyn Fn(Device) -> Option<f64>| {
        args.devices
            .iter()
            .filter(|&&d| d != Device::Ferry)
            .filter_map(|&d| f(d).map(|t| (t, d)))
            .min_by(|a, b| a.0.total_cmp(&b.0))
    };
    if let (Some(f), Some((t, d))) = (s1v4(Device::Ferry), fastest(&s1v4)) {
        println!(
            "VPNv4 only (every device): Ferry {f:.2} s, fastest other {} {t:.2} s: {:.2}×",
            d.name(),
            t / f
        );
    }
    match (s1(Device::Ferry), fastest(&s1)) {
        (Some(f), Some((t, d))) => {
            println!(
                "scenario 1: Ferry {f:.2} s, fastest other {} {t:.2} s",
                d.name()
            );
            println!("speedup-vs-fastest-peer: {:.2}", t / f);
        }
        _ => {
            println!("speedup-vs-fastest-peer: n/a");
            failed |= standard;
        }
    }
    failed
}
