//! `ferry-lab`: the seed's two-region, two-cluster topology on one Linux
//! machine, in network namespaces, with Ferry's bgpd on every node and pods
//! attached by the ferry CNI plugin.

mod lab;
mod topology;

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use lab::{nodes, ping, Lab};
use topology::{gateway_of, Topology};

#[derive(Parser)]
#[command(
    name = "ferry-lab",
    version,
    about = "The seed's multi-cluster topology on one machine"
)]
struct Cli {
    /// Prefix of the lab's namespaces (several labs can run side by side).
    #[arg(long, global = true, default_value = "fl")]
    name: String,
    /// Where the lab keeps its state, configurations and logs
    /// (default /run/ferry-lab/NAME).
    #[arg(long, global = true)]
    state_dir: Option<PathBuf>,
    /// Where bgpd, bgpctl and ferry are (default: beside ferry-lab).
    #[arg(long, global = true)]
    bin_dir: Option<PathBuf>,
    /// Print JSON (status).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create (or complete) the lab: namespaces, links, daemons, pods.
    Up {
        /// A topology file (YAML); default: the seed.
        #[arg(short = 'f', long)]
        file: Option<PathBuf>,
    },
    /// Check sessions, reachability and isolation; exit 1 on any failure.
    Verify,
    /// Draw the lab: clusters, nodes, sessions, pods.
    Status,
    /// Run a command in a node's or pod's namespace.
    Exec {
        target: String,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Run bgpctl against a node's bgpd.
    Bgpctl {
        node: String,
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Restart a node's bgpd (`--kill`: SIGKILL instead of SIGTERM).
    Restart {
        node: String,
        #[arg(long)]
        kill: bool,
    },
    /// Stop a node's bgpd and keep it down (`up` leaves it stopped) until
    /// `ferry-lab start` (`--kill`: SIGKILL, as a node dying would).
    Stop {
        node: String,
        #[arg(long)]
        kill: bool,
    },
    /// Start the bgpd of a node `ferry-lab stop` took down.
    Start { node: String },
    /// Kill or restore a node's underlay: its link to the VPC goes down
    /// (every packet to and from the node is lost) or up again.
    Underlay {
        node: String,
        #[arg(value_parser = ["up", "down"])]
        state: String,
    },
    /// Cut or restore the VPC peering between two clusters.
    Peering {
        a: String,
        b: String,
        #[arg(value_parser = ["up", "down"])]
        state: String,
    },
    /// Remove everything the lab made.
    Down,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ferry-lab: {e}");
            ExitCode::FAILURE
        }
    }
}

fn preflight(pings: bool) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("the lab makes network namespaces: run it as root (sudo)".into());
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Err("`ip` (iproute2) is missing: apt-get install iproute2".into());
    }
    // verify and up's reachability step ping between pods.
    if pings && Command::new("ping").arg("-V").output().is_err() {
        return Err("`ping` is missing: apt-get install iputils-ping (lab/up installs it)".into());
    }
    Ok(())
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    let dir = cli
        .state_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("/run/ferry-lab").join(&cli.name));
    let bin_dir = match &cli.bin_dir {
        Some(d) => d.clone(),
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .parent()
            .map(PathBuf::from)
            .ok_or("cannot find the binaries' directory")?,
    };
    let mut lab = Lab::open(&cli.name, &dir, &bin_dir)?;
    match cli.command {
        Cmd::Up { file } => {
            preflight(true)?;
            for b in ["bgpd", "bgpctl", "ferry"] {
                if !bin_dir.join(b).exists() {
                    return Err(format!(
                        "{} is missing: build with `cargo build --release --bins`, or give --bin-dir",
                        bin_dir.join(b).display()
                    ));
                }
            }
            let t = match file {
                Some(f) => {
                    let text =
                        std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
                    topology::parse(&text, &f.display().to_string())?
                }
                None => Topology::seed(),
            };
            up(&mut lab, &t)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Verify => {
            preflight(true)?;
            let t = lab
                .state
                .topology
                .clone()
                .ok_or("no lab is up (ferry-lab up)")?;
            Ok(if verify(&lab, &t) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Cmd::Status => {
            let t = lab
                .state
                .topology
                .clone()
                .ok_or("no lab is up (ferry-lab up)")?;
            status(&lab, &t, cli.json);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Exec { target, command } => {
            let ns = lab
                .namespace_of(&target)
                .ok_or_else(|| format!("no node or pod {target:?}"))?;
            let st = ferry_netns::Netns::named(&ns)
                .command(&command[0])
                .args(&command[1..])
                .status()
                .map_err(|e| e.to_string())?;
            Ok(ExitCode::from(st.code().unwrap_or(1) as u8))
        }
        Cmd::Bgpctl { node, args } => {
            let st = Command::new(bin_dir.join("bgpctl"))
                .arg("-s")
                .arg(lab.socket(&node))
                .args(&args)
                .status()
                .map_err(|e| e.to_string())?;
            Ok(ExitCode::from(st.code().unwrap_or(1) as u8))
        }
        Cmd::Restart { node, kill } => {
            preflight(false)?;
            let n = lab.node(&node)?;
            if lab.state.held.contains(&n.name) {
                return Err(format!(
                    "{} was stopped by `ferry-lab stop`: `ferry-lab start {}`",
                    n.name, n.name
                ));
            }
            let start = Instant::now();
            lab.stop_daemon(&n.name, kill)?;
            lab.start_daemon(&n)?;
            println!(
                "restarted bgpd of {} in {} ms",
                n.name,
                start.elapsed().as_millis()
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Stop { node, kill } => {
            preflight(false)?;
            let n = lab.node(&node)?;
            lab.state.held.insert(n.name.clone());
            lab.stop_daemon(&n.name, kill)?;
            println!(
                "stopped bgpd of {}; it stays down until `ferry-lab start {}`",
                n.name, n.name
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Start { node } => {
            preflight(false)?;
            let n = lab.node(&node)?;
            let t = lab
                .state
                .topology
                .clone()
                .ok_or("no lab is up (ferry-lab up)")?;
            lab.state.held.remove(&n.name);
            lab.save()?;
            let what = lab.ensure_daemon(&t, &n)?;
            println!("bgpd of {}: {what}", n.name);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Underlay { node, state } => {
            preflight(false)?;
            let n = lab.node(&node)?;
            let vpc = lab.vpc_ns(&n.cluster);
            ferry_netns::Netns::named(&vpc)
                .ip(&["link", "set", "dev", &n.port, &state])
                .map_err(|e| e.detail().to_string())?;
            println!("underlay of {}: {state}", n.name);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Peering { a, b, state } => {
            preflight(false)?;
            let t = lab
                .state
                .topology
                .clone()
                .ok_or("no lab is up (ferry-lab up)")?;
            let index = t
                .peerings
                .iter()
                .position(|(x, y)| (x == &a && y == &b) || (x == &b && y == &a))
                .ok_or_else(|| format!("no peering between {a} and {b}"))?;
            let (ca, cb) = (&t.peerings[index].0, &t.peerings[index].1);
            lab.set_peering(
                index,
                t.cluster(ca).expect("a"),
                t.cluster(cb).expect("b"),
                state == "up",
            )?;
            println!("peering {ca} <-> {cb}: {state}");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Down => {
            preflight(false)?;
            let done = lab.down()?;
            println!(
                "removed {} objects; nothing of lab {:?} is left",
                done.len(),
                cli.name
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn step<T>(what: &str, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    let t = Instant::now();
    let r = f();
    let ms = t.elapsed().as_millis();
    match &r {
        Ok(_) => println!("  {what:<52} {ms:>6} ms"),
        Err(e) => println!("  {what:<52} FAILED: {e}"),
    }
    r
}

fn up(lab: &mut Lab, t: &Topology) -> Result<(), String> {
    let start = Instant::now();
    println!(
        "ferry-lab up: topology {:?} ({} clusters)",
        t.name,
        t.clusters.len()
    );
    lab.state.topology = Some(t.clone());
    lab.save()?;
    for c in &t.clusters {
        step(&format!("VPC {} ({})", c.name, c.vpc), || lab.ensure_vpc(c))?;
    }
    for (i, (a, b)) in t.peerings.iter().enumerate() {
        let (ca, cb) = (t.cluster(a).expect("a"), t.cluster(b).expect("b"));
        step(&format!("VPC peering {a} <-> {b}"), || {
            lab.ensure_peering(i, ca, cb)
        })?;
    }
    let all = nodes(t);
    for n in &all {
        let c = t.cluster(&n.cluster).expect("cluster");
        step(&format!("node {} ({})", n.name, n.address), || {
            lab.ensure_node(n, c)
        })?;
    }
    // Reflectors first, so that workers find them.
    for n in all
        .iter()
        .filter(|n| n.master)
        .chain(all.iter().filter(|n| !n.master))
    {
        let what = step(&format!("bgpd on {}", n.name), || lab.ensure_daemon(t, n))?;
        if what != "started" {
            println!("    ({what})");
        }
    }
    step("route reflector sessions Established", || {
        wait(Duration::from_secs(60), || {
            sessions_down(lab, t).map(|d| d.is_empty())
        })
    })?;
    for p in &t.pods {
        step(&format!("pod {} (CNI ADD, {})", p.name, p.nad), || {
            lab.ensure_pod(t, p)
        })?;
    }
    step("pods reach each other", || {
        wait(Duration::from_secs(60), || {
            Ok(t.checks.reach.iter().all(|(a, b)| {
                let (pa, pb) = (t.pod(a).expect("a"), t.pod(b).expect("b"));
                pod_addresses(pb)
                    .first()
                    .is_none_or(|x| ping(&lab.pod_ns(&pa.name), *x))
            }))
        })
    })?;
    println!(
        "lab up in {:.1} s — `ferry-lab verify`, `ferry-lab status`, `ferry-lab down`",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn wait(timeout: Duration, mut f: impl FnMut() -> Result<bool, String>) -> Result<(), String> {
    let start = Instant::now();
    loop {
        match f() {
            Ok(true) => return Ok(()),
            Ok(false) | Err(_) if start.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(100))
            }
            Ok(false) => return Err(format!("not after {} s", timeout.as_secs())),
            Err(e) => return Err(e),
        }
    }
}

/// The route reflectors not held down by `ferry-lab stop`.
fn running_reflectors(lab: &Lab, t: &Topology) -> Vec<lab::Node> {
    nodes(t)
        .into_iter()
        .filter(|n| n.master && !lab.state.held.contains(&n.name))
        .collect()
}

/// Addresses of the nodes held down by `ferry-lab stop`.
fn held_addresses(lab: &Lab, t: &Topology) -> Vec<String> {
    nodes(t)
        .into_iter()
        .filter(|n| lab.state.held.contains(&n.name))
        .map(|n| n.address.to_string())
        .collect()
}

/// Sessions a reflector has when the lab is whole: one per worker of its
/// cluster and one per reflector of every other cluster (those held down
/// by `ferry-lab stop` not counted).
fn expected_sessions(lab: &Lab, t: &Topology, n: &lab::Node) -> usize {
    let held = held_addresses(lab, t);
    let workers = t.cluster(&n.cluster).map_or(0, |c| {
        c.workers
            .iter()
            .filter(|w| !held.contains(&w.to_string()))
            .count()
    });
    let other_reflectors: usize = t
        .clusters
        .iter()
        .filter(|c| c.name != n.cluster)
        .flat_map(|c| c.reflectors())
        .filter(|r| !held.contains(&r.to_string()))
        .count();
    workers + other_reflectors
}

/// Sessions of the route reflectors that are not Established.
fn sessions_down(lab: &Lab, t: &Topology) -> Result<Vec<String>, String> {
    let mut down = Vec::new();
    for n in running_reflectors(lab, t) {
        let s = lab.bgpctl(&n.name, &["--json", "show", "summary"])?;
        let v: serde_json::Value = serde_json::from_str(&s).map_err(|e| e.to_string())?;
        let neighbors = v["neighbors"].as_array().cloned().unwrap_or_default();
        let expected = expected_sessions(lab, t, &n);
        let up = neighbors
            .iter()
            .filter(|x| x["state"] == "Established")
            .count();
        if up < expected {
            down.push(format!("{}: {up}/{expected} Established", n.name));
        }
    }
    Ok(down)
}

fn pod_addresses(p: &topology::Pod) -> Vec<IpAddr> {
    [&p.ipv4, &p.ipv6]
        .into_iter()
        .flatten()
        .map(|c| c.address.addr())
        .collect()
}

fn verify(lab: &Lab, t: &Topology) -> bool {
    let mut rows: Vec<(String, bool, String)> = Vec::new();
    let held = held_addresses(lab, t);
    for name in &lab.state.held {
        rows.push((
            format!("{name} sessions"),
            true,
            "bgpd stopped by `ferry-lab stop`: not checked".into(),
        ));
    }
    for n in running_reflectors(lab, t).iter() {
        let r = lab
            .bgpctl(&n.name, &["--json", "show", "summary"])
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).map_err(|e| e.to_string()));
        let (ok, detail) = match r {
            Ok(v) => {
                let ns: Vec<serde_json::Value> = v["neighbors"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|x| !held.iter().any(|h| x["address"] == h.as_str()))
                    .collect();
                let bad: Vec<String> = ns
                    .iter()
                    .filter(|x| x["state"] != "Established")
                    .map(|x| {
                        format!(
                            "{} {}",
                            x["address"].as_str().unwrap_or("?"),
                            x["state"].as_str().unwrap_or("?")
                        )
                    })
                    .collect();
                let expected = expected_sessions(lab, t, n);
                (
                    bad.is_empty() && ns.len() >= expected,
                    if bad.is_empty() {
                        format!("{} Established", ns.len())
                    } else {
                        bad.join(", ")
                    },
                )
            }
            Err(e) => (false, e),
        };
        rows.push((format!("{} sessions", n.name), ok, detail));
    }
    for (a, b) in &t.checks.reach {
        let (pa, pb) = (t.pod(a).expect("a"), t.pod(b).expect("b"));
        for (from, to) in [(pa, pb), (pb, pa)] {
            for (fam, mine, theirs) in [
                ("IPv4", &from.ipv4, &to.ipv4),
                ("IPv6", &from.ipv6, &to.ipv6),
            ] {
                if let (Some(_), Some(dst)) = (mine, theirs) {
                    let ok = (0..3).any(|_| ping(&lab.pod_ns(&from.name), dst.address.addr()));
                    rows.push((
                        format!("ping {} -> {} {fam}", from.name, to.name),
                        ok,
                        dst.address.addr().to_string(),
                    ));
                }
            }
        }
    }
    for (a, b) in &t.checks.isolated {
        let (pa, pb) = (t.pod(a).expect("a"), t.pod(b).expect("b"));
        let mut targets = pod_addresses(pb);
        targets.extend(
            [&pb.ipv4, &pb.ipv6]
                .into_iter()
                .flatten()
                .filter_map(|c| c.gateway),
        );
        let own_family: Vec<IpAddr> = targets
            .into_iter()
            .filter(|x| pod_addresses(pa).iter().any(|m| m.is_ipv4() == x.is_ipv4()))
            .collect();
        let reached: Vec<String> = own_family
            .iter()
            .filter(|x| ping(&lab.pod_ns(&pa.name), **x))
            .map(|x| x.to_string())
            .collect();
        rows.push((
            format!("{} isolated from {}", pa.name, pb.name),
            reached.is_empty(),
            if reached.is_empty() {
                format!("{} addresses unreachable", own_family.len())
            } else {
                format!("reached {}", reached.join(", "))
            },
        ));
    }
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(10);
    println!("{:<width$}  {:<6}  detail", "check", "result");
    for (what, ok, detail) in &rows {
        println!(
            "{what:<width$}  {:<6}  {detail}",
            if *ok { "PASS" } else { "FAIL" }
        );
    }
    let failed = rows.iter().filter(|r| !r.1).count();
    println!("{} checks, {} failed", rows.len(), failed);
    failed == 0
}

fn status(lab: &Lab, t: &Topology, json: bool) {
    let mut clusters = Vec::new();
    for c in &t.clusters {
        let mut ns = Vec::new();
        for n in nodes(t).into_iter().filter(|n| n.cluster == c.name) {
            let running = lab.daemon_running(&n.name);
            let (ready, reasons) = match lab.readiness(&n) {
                Ok((ready, reasons)) => (serde_json::json!(ready), reasons),
                Err(e) => (serde_json::Value::Null, vec![format!("no answer: {e}")]),
            };
            let sessions: Vec<serde_json::Value> = lab
                .bgpctl(&n.name, &["--json", "show", "summary"])
                .ok()
                .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
                .and_then(|v| v["neighbors"].as_array().cloned())
                .unwrap_or_default()
                .into_iter()
                .map(|x| serde_json::json!({"peer": x["address"], "state": x["state"]}))
                .collect();
            let pods: Vec<serde_json::Value> = t
                .pods
                .iter()
                .filter(|p| p.cluster == c.name && !n.master && format!("{}-worker{}", c.name, p.worker + 1) == n.name)
                .map(|p| {
                    serde_json::json!({"name": p.name, "vrf": t.nad(&p.nad).map(|x| x.vrf.clone()),
                        "addresses": pod_addresses(p).iter().map(|a| a.to_string()).collect::<Vec<_>>()})
                })
                .collect();
            ns.push(serde_json::json!({"name": n.name, "role": if n.master {"route-reflector"} else {"worker"},
                "address": n.address.to_string(), "bgpd": if running {"running"} else if lab.state.held.contains(&n.name) {"stopped"} else {"down"},
                "ready": ready, "not-ready": reasons,
                "sessions": sessions, "pods": pods}));
        }
        clusters.push(serde_json::json!({"name": c.name, "vpc": c.vpc.to_string(), "router": gateway_of(&c.vpc).to_string(), "nodes": ns}));
    }
    let peerings: Vec<serde_json::Value> = t
        .peerings
        .iter()
        .enumerate()
        .map(|(i, (a, b))| {
            let up = ferry_netns::Netns::named(&lab.vpc_ns(a))
                .ip(&["link", "show", &format!("p{i}")])
                .is_ok_and(|out| out.contains(",UP"));
            serde_json::json!({"a": a, "b": b, "state": if up {"up"} else {"down"}})
        })
        .collect();
    let v = serde_json::json!({"name": lab.prefix, "topology": t.name, "clusters": clusters, "peerings": peerings});
    if json {
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return;
    }
    for c in v["clusters"].as_array().into_iter().flatten() {
        println!(
            "┌─ cluster {}  VPC {}  router {}",
            c["name"].as_str().unwrap_or(""),
            c["vpc"].as_str().unwrap_or(""),
            c["router"].as_str().unwrap_or("")
        );
        for n in c["nodes"].as_array().into_iter().flatten() {
            let ready = match n["ready"].as_bool() {
                Some(true) => "ready",
                Some(false) => "NOT READY",
                None => "readiness unknown",
            };
            println!(
                "│  {:<22} {:<15} {:<16} bgpd {:<7} {ready}",
                n["name"].as_str().unwrap_or(""),
                n["address"].as_str().unwrap_or(""),
                n["role"].as_str().unwrap_or(""),
                n["bgpd"].as_str().unwrap_or("")
            );
            for r in n["not-ready"].as_array().into_iter().flatten() {
                println!("│     ├─ not ready: {}", r.as_str().unwrap_or(""));
            }
            for s in n["sessions"].as_array().into_iter().flatten() {
                println!(
                    "│     ├─ session {:<15} {}",
                    s["peer"].as_str().unwrap_or(""),
                    s["state"].as_str().unwrap_or("")
                );
            }
            for p in n["pods"].as_array().into_iter().flatten() {
                let addrs: Vec<&str> = p["addresses"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str())
                    .collect();
                println!(
                    "│     └─ pod {:<20} vrf {:<6} {}",
                    p["name"].as_str().unwrap_or(""),
                    p["vrf"].as_str().unwrap_or(""),
                    addrs.join(" ")
                );
            }
        }
        println!("└─");
    }
    for p in &peerings {
        println!(
            "VPC peering {} <-> {}: {}",
            p["a"].as_str().unwrap_or(""),
            p["b"].as_str().unwrap_or(""),
            p["state"].as_str().unwrap_or("")
        );
    }
}
