//! BFD interop: Ferry's BFD (100 ms × 3) with FRR's bfdd and with BIRD's
//! BFD, each peer in its own network namespace on a shared bridge. The
//! sessions come Up; dropping only the peer's BFD packets (UDP 3784,
//! iptables in Ferry's namespace, TCP 179 untouched) takes the BGP session down with
//! Cease / BFD Down within a detection time, and the peer's routes go at
//! once although graceful restart was negotiated.

use std::time::{Duration, Instant};

use ferry_tests::{eventually, require_root, Bird, Ferry, Frr, Lan, Netns};

const FERRY: &str = "10.77.0.1";

fn ferry_config(peer: &str, families: &str) -> String {
    format!(
        "router-id = \"{FERRY}\"
local-as = 64512
cluster-id = \"{FERRY}\"
graceful-restart-time = 120
[[group]]
name = \"peers\"
neighbors = [\"{peer}\"]
route-reflector-client = true
families = [{families}]
connect-retry = 1
[group.bfd-liveness-detection]
minimum-interval = 100
multiplier = 3
"
    )
}

/// FRR's bfdd: a static peer for Ferry, 100 ms x 3 (without zebra, FRR's
/// bgpd cannot register its neighbours with bfdd itself).
const FRR_BFDD: &str = "bfd
 peer 10.77.0.1
  receive-interval 100
  transmit-interval 100
  detect-multiplier 3
 !
!
";

/// FRR's bgpd at 10.77.0.2: VPNv4 with Ferry, announcing 10.99.0.0/24,
/// with graceful restart when `graceful_restart`.
fn frr_bgpd(graceful_restart: bool) -> String {
    let gr = if graceful_restart {
        " bgp graceful-restart\n bgp graceful-restart preserve-fw-state\n"
    } else {
        ""
    };
    format!(
        "router bgp 64512
 bgp router-id 10.77.0.2
{gr} no bgp default ipv4-unicast
 neighbor 10.77.0.1 remote-as 64512
 neighbor 10.77.0.1 timers connect 1
 address-family ipv4 vpn
  neighbor 10.77.0.1 activate
  network 10.99.0.0/24 rd 64512:20 label 200
 exit-address-family
"
    )
}

/// Ferry and one BFD peer, each in a network namespace of its own on a
/// shared bridge: Ferry at [`FERRY`]/24, the peer beside it.
struct Pair {
    // Dropped in this order: the namespaces, the bridge, the directory.
    peer_ns: Netns,
    ferry_ns: Netns,
    _lan: Lan,
    dir: tempfile::TempDir,
}

impl Pair {
    /// The namespaces (named from `prefixes`: Ferry's, the peer's) and
    /// Ferry, started with `peer` as its neighbour for `families`.
    fn start(prefixes: (&str, &str), peer: &str, families: &str) -> (Pair, Ferry) {
        let dir = tempfile::tempdir().unwrap();
        let lan = Lan::new();
        let ferry_ns = Netns::new(prefixes.0);
        let peer_ns = Netns::new(prefixes.1);
        lan.attach(&ferry_ns, "eth0", &format!("{FERRY}/24"));
        lan.attach(&peer_ns, "eth0", &format!("{peer}/24"));
        let f = Ferry::start(
            &ferry_ns,
            dir.path(),
            "ferry",
            &ferry_config(peer, families),
        );
        let pair = Pair {
            peer_ns,
            ferry_ns,
            _lan: lan,
            dir,
        };
        (pair, f)
    }

    /// The FRR tests' pair: FRR at 10.77.0.2, Ferry's VPNv4 neighbour.
    fn with_frr(prefixes: (&str, &str)) -> (Pair, Ferry) {
        Pair::start(prefixes, "10.77.0.2", "\"inet-vpn\"")
    }

    /// FRR's bgpd ([`frr_bgpd`]) and bfdd ([`FRR_BFDD`]) in the peer's
    /// namespace.
    fn start_frr(&self, graceful_restart: bool) -> Frr<'_> {
        let frr = Frr::start(
            &self.peer_ns,
            self.dir.path(),
            "frr",
            &frr_bgpd(graceful_restart),
        );
        frr.start_bfdd(FRR_BFDD);
        frr
    }
}

/// `show bfd session --json`'s session with `peer`.
fn bfd_session(f: &Ferry, peer: &str) -> Result<serde_json::Value, String> {
    let v = f.ctl(&["show", "bfd", "session"])?;
    v.as_array()
        .and_then(|a| a.iter().find(|s| s["address"] == peer).cloned())
        .ok_or_else(|| format!("no BFD session with {peer}: {v}"))
}

fn established(f: &Ferry, peer: &str) -> bool {
    f.sessions()
        .iter()
        .any(|(a, st, _, _)| a == peer && st == "Established")
}

fn has_route(f: &Ferry, prefix: &str) -> bool {
    f.routes(&[]).iter().any(|r| {
        r["prefix"].as_str().is_some_and(|p| p.contains(prefix))
            || r["nlri"].as_str().is_some_and(|p| p.contains(prefix))
    })
}

/// Waits for BGP Established, BFD Up and `prefix` received; drops BFD to
/// and from `peer`; returns how long until the BGP session left
/// Established and until `prefix` was gone.
fn bfd_loss_takes_bgp_down(
    ferry_ns: &Netns,
    f: &Ferry,
    peer: &str,
    prefix: &str,
    peer_view: &dyn Fn() -> String,
) -> Duration {
    f.wait_established(&[peer]);
    let s = eventually("BFD Up", Duration::from_secs(30), || {
        let s = bfd_session(f, peer)?;
        if s["state"] == "Up" {
            Ok(s)
        } else {
            Err(format!("{s}\npeer: {}", peer_view()))
        }
    });
    assert_eq!(s["multihop"], false);
    assert_eq!(s["multiplier"], 3);
    assert_eq!(s["transmit-interval-ms"], 100, "{s}");
    assert_eq!(s["detection-time-ms"], 300, "{s}");
    assert_eq!(s["flaps"], 0, "{s}");
    eventually("the peer's route", Duration::from_secs(30), || {
        if has_route(f, prefix) {
            Ok(())
        } else {
            Err(format!("{:?}", f.routes(&[])))
        }
    });
    let n = f.neighbor(peer).unwrap();
    assert!(
        n["peer-capabilities"].to_string().contains("graceful"),
        "graceful restart negotiated: {n}"
    );
    // Stable for a few detection times before the cut.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(bfd_session(f, peer).unwrap()["flaps"], 0);

    let start = Instant::now();
    // Only what the peer sends is dropped, so that Ferry's BFD is the
    // one that notices (the peer learns it from Ferry's Down packets).
    let rule = [
        "INPUT", "-s", peer, "-p", "udp", "--dport", "3784", "-j", "DROP",
    ];
    ferry_ns.exec_ok(&[&["iptables", "-A"][..], &rule[..]].concat());
    let mut bgp_down = None;
    let mut route_gone = None;
    while start.elapsed() < Duration::from_secs(10) && (bgp_down.is_none() || route_gone.is_none())
    {
        if bgp_down.is_none() && !established(f, peer) {
            bgp_down = Some(start.elapsed());
        }
        if route_gone.is_none() && !has_route(f, prefix) {
            route_gone = Some(start.elapsed());
        }
    }
    let bgp_down = bgp_down.expect("BGP session still Established 10 s after BFD was cut");
    let route_gone = route_gone.expect("route still there 10 s after BFD was cut");
    println!(
        "BFD 100 ms x 3 with {peer}: BGP session down after {} ms, its routes gone after {} ms",
        bgp_down.as_millis(),
        route_gone.as_millis()
    );
    assert!(bgp_down < Duration::from_secs(3), "{bgp_down:?}");
    assert!(route_gone < Duration::from_secs(3), "{route_gone:?}");
    let n = f.neighbor(peer).unwrap();
    assert!(
        f.proc.log_text().contains("BFD Down: closing the session"),
        "{n}"
    );
    let s = bfd_session(f, peer).unwrap();
    assert_eq!(s["state"], "Down", "{s}");
    assert_eq!(s["flaps"], 1, "{s}");
    assert_eq!(s["local-diagnostic"], "Control Detection Time Expired");

    // BFD back: the session comes Up again and BGP re-establishes.
    ferry_ns.exec_ok(&[&["iptables", "-D"][..], &rule[..]].concat());
    eventually("BFD Up again", Duration::from_secs(30), || {
        let s = bfd_session(f, peer)?;
        (s["state"] == "Up").then_some(()).ok_or(s.to_string())
    });
    eventually("BGP Established again", Duration::from_secs(60), || {
        if established(f, peer) {
            Ok(())
        } else {
            Err(format!("{:?}\npeer: {}", f.neighbor(peer), peer_view()))
        }
    });
    bgp_down
}

#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn frr_bfdd_session_and_bfd_loss_takes_bgp_down() {
    require_root("frr_bfdd_session_and_bfd_loss_takes_bgp_down");
    let (pair, f) = Pair::with_frr(("fbf", "fbr"));
    let frr = pair.start_frr(false);
    eventually("bfdd sees the session Up", Duration::from_secs(30), || {
        let out = frr.vtysh("show bfd peers");
        if out.contains("Status: up") {
            Ok(())
        } else {
            Err(out)
        }
    });
    bfd_loss_takes_bgp_down(&pair.ferry_ns, &f, "10.77.0.2", "10.99.0.0/24", &|| {
        format!(
            "{}\n{}",
            frr.vtysh("show bgp neighbor 10.77.0.1"),
            pair.peer_ns.exec(&["ss", "-tlnp"]).stdout.escape_ascii()
        )
    });
    // FRR saw the Cease with subcode 10 (RFC 9384).
    let n = frr.vtysh("show bgp neighbor 10.77.0.1");
    println!(
        "FRR: {}",
        n.lines()
            .filter(|l| l.contains("reset") || l.contains("Cease"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
}

#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn bird_bfd_session_and_bfd_loss_takes_bgp_down() {
    require_root("bird_bfd_session_and_bfd_loss_takes_bgp_down");
    let (pair, f) = Pair::start(("fbf", "fbb"), "10.77.0.3", "\"inet\"");
    let dir = &pair.dir;
    let bird = Bird::start(
        &pair.peer_ns,
        dir.path(),
        "router id 10.77.0.3;
protocol device {}
protocol bfd {
  interface \"*\" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; };
}
protocol static { ipv4; route 10.98.0.0/24 blackhole; }
protocol bgp ferry {
  local 10.77.0.3 as 64512;
  neighbor 10.77.0.1 as 64512;
  direct;
  bfd on;
  graceful restart on;
  connect retry time 1;
  ipv4 { import all; export all; next hop self; };
}
",
    );
    bfd_loss_takes_bgp_down(&pair.ferry_ns, &f, "10.77.0.3", "10.98.0.0/24", &|| {
        bird.birdc(&["show", "bfd", "sessions"])
    });
    let out = bird.birdc(&["show", "protocols", "all", "ferry"]);
    println!(
        "BIRD: {}",
        out.lines()
            .filter(|l| l.contains("error") || l.contains("BFD") || l.contains("State"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
}

/// FRR's bgpd dies while its bfdd goes on: BFD stays Up, so the session
/// loss is a control-plane restart, and graceful restart keeps FRR's
/// routes until its bgpd is back (RFC 5882 §4.3.2). Ferry's own BFD
/// session never flaps.
#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn frr_bgpd_restart_with_bfd_up_keeps_its_routes_by_graceful_restart() {
    require_root("frr_bgpd_restart_with_bfd_up_keeps_its_routes_by_graceful_restart");
    let (pair, f) = Pair::with_frr(("fbg", "fbh"));
    let frr = pair.start_frr(true);
    f.wait_established(&["10.77.0.2"]);
    eventually("BFD Up", Duration::from_secs(30), || {
        let s = bfd_session(&f, "10.77.0.2")?;
        (s["state"] == "Up").then_some(()).ok_or(s.to_string())
    });
    eventually("FRR's route", Duration::from_secs(30), || {
        has_route(&f, "10.99.0.0/24")
            .then_some(())
            .ok_or(format!("{:?}", f.routes(&[])))
    });

    frr.kill_bgpd();
    eventually("the BGP session down", Duration::from_secs(10), || {
        (!established(&f, "10.77.0.2"))
            .then_some(())
            .ok_or("still Established".to_string())
    });
    // Several detection times later: BFD Up, the route kept (stale).
    std::thread::sleep(Duration::from_secs(2));
    let s = bfd_session(&f, "10.77.0.2").unwrap();
    assert_eq!(s["state"], "Up", "{s}");
    assert_eq!(s["flaps"], 0, "{s}");
    assert!(
        has_route(&f, "10.99.0.0/24"),
        "graceful restart keeps the route while FRR's bgpd restarts: {:?}",
        f.routes(&[])
    );
    assert!(!f.proc.log_text().contains("BFD Down: closing the session"));

    frr.start_bgpd();
    f.wait_established(&["10.77.0.2"]);
    eventually("the route refreshed", Duration::from_secs(30), || {
        has_route(&f, "10.99.0.0/24")
            .then_some(())
            .ok_or(format!("{:?}", f.routes(&[])))
    });
    assert_eq!(bfd_session(&f, "10.77.0.2").unwrap()["flaps"], 0);
}
