//! `ferry-lab` end to end: up, verify, faults with the ping loss measured
//! and recovery asserted, a third cluster joined with a reload, down.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use ferry_tests::{bin, bin_dir, eventually, require_root, unique};

struct LabRun {
    name: String,
    state: tempfile::TempDir,
}

impl LabRun {
    fn cmd(&self, args: &[&str]) -> Output {
        Command::new(bin("ferry-lab"))
            .args(["--name", &self.name, "--state-dir"])
            .arg(self.state.path().join("lab"))
            .arg("--bin-dir")
            .arg(bin_dir())
            .args(args)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "ferry-lab {args:?}: {text}");
        text
    }

    fn pod_ns(&self, pod: &str) -> String {
        format!("{}-pod-{pod}", self.name)
    }

    fn ping_ok(&self, pod: &str, to: &str) -> bool {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.pod_ns(pod),
                "ping",
                "-c",
                "1",
                "-W",
                "1",
                to,
            ])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// Pings every 100 ms from `pod` to `to` while `fault` runs, and
    /// afterwards until `total` pings were sent; returns (sent, received).
    fn loss_during(&self, pod: &str, to: &str, total: u32, fault: impl FnOnce()) -> (u32, u32) {
        let ping = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.pod_ns(pod),
                "ping",
                "-i",
                "0.01",
                "-W",
                "1",
                "-c",
            ])
            .arg(total.to_string())
            .arg(to)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        fault();
        let out = ping.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find(|l| l.contains("packets transmitted"))
            .unwrap_or("");
        let nums: Vec<u32> = line
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|s| s.parse().ok())
            .collect();
        (
            nums.first().copied().unwrap_or(0),
            nums.get(1).copied().unwrap_or(0),
        )
    }

    fn recovered(&self, what: &str) {
        let t0 = Instant::now();
        eventually(what, Duration::from_secs(60), || {
            if self.ping_ok("alpine-cluster-1", "1.2.2.2")
                && self.ping_ok("alpine-cluster-2", "1.1.1.2")
            {
                Ok(())
            } else {
                Err("pings fail".to_string())
            }
        });
        eventually(&format!("{what}: verify"), Duration::from_secs(60), || {
            let out = self.cmd(&["verify"]);
            if out.status.success() {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&out.stdout).into_owned())
            }
        });
        eprintln!("{what}: recovered in {} ms", t0.elapsed().as_millis());
    }
}

impl Drop for LabRun {
    fn drop(&mut self) {
        let _ = self.cmd(&["down"]);
    }
}

/// Each PID is gone: not running, not even a zombie `ps` still lists
/// (the daemons' parent is init here, which reaps them).
fn assert_exited(pids: &[u64]) {
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
        assert!(
            stat.is_err(),
            "bgpd {pid} is still there after down: {stat:?}"
        );
    }
}

fn daemon_pids(lab: &LabRun) -> Vec<u64> {
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(lab.state.path().join("lab/state.json")).unwrap(),
    )
    .unwrap();
    state["daemons"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|v| v.as_u64())
        .collect()
}

#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn down_returns_when_every_daemon_has_exited_and_up_works_right_after() {
    require_root("down_returns_when_every_daemon_has_exited_and_up_works_right_after");
    let lab = LabRun {
        name: unique("fd"),
        state: tempfile::tempdir().unwrap(),
    };
    for round in 0..3 {
        let up = lab.ok(&["up"]);
        assert!(up.contains("lab up in"), "round {round}: {up}");
        let verify = lab.ok(&["verify"]);
        assert!(verify.contains("0 failed"), "round {round}: {verify}");
        let pids = daemon_pids(&lab);
        assert_eq!(pids.len(), 6, "round {round}");
        let down = lab.ok(&["down"]);
        assert!(down.contains("nothing of lab"), "round {round}: {down}");
        // Checked the moment `down` returns, not some time later.
        assert_exited(&pids);
        assert!(!lab.state.path().join("lab").exists());
    }
}

const THIRD: &str = "
  - name: us-east-1
    region: us-east-1
    vpc: 10.30.0.0/16
    master: 10.30.1.10
    workers: [10.30.2.20]
";

#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn the_lab_comes_up_survives_faults_grows_and_goes_away() {
    require_root("the_lab_comes_up_survives_faults_grows_and_goes_away");
    let lab = LabRun {
        name: unique("fl"),
        state: tempfile::tempdir().unwrap(),
    };
    let start = Instant::now();
    let up = lab.ok(&["up"]);
    eprintln!("ferry-lab up: {:.2} s\n{up}", start.elapsed().as_secs_f64());
    assert!(up.contains("lab up in"), "{up}");
    let verify = lab.ok(&["verify"]);
    assert!(verify.contains("0 failed"), "{verify}");
    assert!(
        verify.contains("red-cluster-2 isolated from alpine-cluster-1"),
        "{verify}"
    );
    // A second `up` changes nothing.
    let again = lab.ok(&["up"]);
    assert!(
        !again.contains("started") && again.matches("(running)").count() == 6,
        "{again}"
    );
    let status: serde_json::Value = serde_json::from_str(&lab.ok(&["status", "--json"])).unwrap();
    assert_eq!(status["clusters"].as_array().unwrap().len(), 2);
    assert_eq!(status["peerings"][0]["state"], "up");
    // Every bgpd serves /readyz on 9179 in its namespace; status shows it.
    // A worker's End-of-RIB may wait for the reflector's selection
    // deferral (at most 60 s).
    lab.all_ready(6);
    let text = lab.ok(&["status"]);
    assert_eq!(text.matches(" ready\n").count(), 6, "{text}");

    // Graceful restart keeps forwarding across restarts: not one of the
    // pings sent every 10 ms may be lost.
    let mut report = Vec::new();
    let (sent, got) = lab.loss_during("alpine-cluster-1", "1.2.2.2", 600, || {
        lab.ok(&["restart", "us-west-1-master"]);
    });
    report.push(format!(
        "restart of the cluster 1 route reflector: {} of {sent} pings lost",
        sent - got
    ));
    assert_eq!(sent, got, "pings lost across the route reflector restart");
    lab.recovered("after the route reflector restart");

    let (sent, got) = lab.loss_during("alpine-cluster-1", "1.2.2.2", 600, || {
        lab.ok(&["restart", "us-west-1-worker1", "--kill"]);
    });
    report.push(format!(
        "kill and restart of a worker's bgpd: {} of {sent} pings lost",
        sent - got
    ));
    assert_eq!(sent, got, "pings lost across the worker restart");
    lab.recovered("after the worker restart");

    let (sent, got) = lab.loss_during("alpine-cluster-1", "1.2.2.2", 900, || {
        lab.ok(&["restart", "us-west-1-master"]);
        std::thread::sleep(Duration::from_secs(2));
        lab.ok(&["restart", "us-west-2-master"]);
    });
    report.push(format!(
        "restart of both route reflectors, one after the other: {} of {sent} pings lost",
        sent - got
    ));
    assert_eq!(
        sent, got,
        "pings lost across the restart of both reflectors"
    );
    lab.recovered("after both reflectors restarted");

    let (sent, got) = lab.loss_during("alpine-cluster-1", "1.2.2.2", 600, || {
        lab.ok(&["peering", "us-west-1", "us-west-2", "down"]);
        std::thread::sleep(Duration::from_secs(2));
        lab.ok(&["peering", "us-west-1", "us-west-2", "up"]);
    });
    report.push(format!(
        "VPC peering cut for 2 s: {} of {sent} pings lost",
        sent - got
    ));
    assert!(
        sent - got >= 10,
        "the cut must be visible: {sent} sent, {got} received"
    );
    lab.recovered("after the peering is restored");

    // A third cluster: one more entry in the topology, the reflectors
    // reload their mesh, and a pod there is reached.
    let seed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../lab/seed.yaml"))
            .unwrap();
    let three = seed
        .replace("peerings:\n", &format!("{}peerings:\n", THIRD.trim_start_matches('\n')))
        .replace(
            "  - [us-west-1, us-west-2]\n",
            "  - [us-west-1, us-west-2]\n  - [us-west-1, us-east-1]\n  - [us-west-2, us-east-1]\n",
        )
        .replace(
            "checks:\n",
            "  - name: alpine-cluster-3\n    cluster: us-east-1\n    nad: blue-net\n    mac: aa:bb:cc:dd:04:04\n    ipv4: {address: 1.2.5.2/30, gateway: 1.2.5.1, routes: [1.0.0.0/8]}\nchecks:\n",
        );
    let file = lab.state.path().join("three.yaml");
    std::fs::write(&file, three).unwrap();
    let grown = lab.ok(&["up", "-f", file.to_str().unwrap()]);
    assert!(grown.contains("reloaded"), "{grown}");
    eventually(
        "a pod in the third cluster",
        Duration::from_secs(60),
        || {
            if lab.ping_ok("alpine-cluster-1", "1.2.5.2") {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&lab.cmd(&["status"]).stdout).into_owned())
            }
        },
    );
    lab.recovered("with three clusters");

    let pids = daemon_pids(&lab);
    assert_eq!(pids.len(), 8);
    let down = lab.ok(&["down"]);
    assert!(down.contains("nothing of lab"), "{down}");
    let left = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert!(
        !left.contains(&format!("{}-", lab.name)),
        "namespaces left: {left}"
    );
    assert_exited(&pids);
    assert!(!lab.state.path().join("lab").exists());
    eprintln!("fault report:\n  {}", report.join("\n  "));
}

impl LabRun {
    /// `bgpctl --json ARGS…` on a node, parsed.
    fn bgpctl_json(&self, node: &str, args: &[&str]) -> Result<serde_json::Value, String> {
        let mut all = vec!["bgpctl", node, "--", "--json"];
        all.extend_from_slice(args);
        let out = self.cmd(&all);
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
    }

    /// EVPN routes for `prefix` in a node's RIB.
    fn evpn_routes(&self, node: &str, prefix: &str) -> usize {
        self.bgpctl_json(
            node,
            &["show", "route", "--family", "evpn", "--prefix", prefix],
        )
        .ok()
        .and_then(|v| v.as_array().map(Vec::len))
        .unwrap_or(0)
    }

    /// Waits until every node's bgpd answers /readyz with ready.
    fn all_ready(&self, count: usize) {
        eventually("every node ready", Duration::from_secs(90), || {
            let status: serde_json::Value =
                serde_json::from_str(&self.ok(&["status", "--json"])).map_err(|e| e.to_string())?;
            let nodes: Vec<&serde_json::Value> = status["clusters"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|c| c["nodes"].as_array().into_iter().flatten())
                .collect();
            if nodes.len() == count && nodes.iter().all(|n| n["ready"] == true) {
                Ok(())
            } else {
                Err(format!("{status:#}"))
            }
        });
    }
}

const WORKERS: [&str; 4] = [
    "us-west-1-worker1",
    "us-west-1-worker2",
    "us-west-2-worker1",
    "us-west-2-worker2",
];

#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn two_reflectors_per_cluster_lose_nothing_when_one_in_each_dies() {
    require_root("two_reflectors_per_cluster_lose_nothing_when_one_in_each_dies");
    let lab = LabRun {
        name: unique("fr"),
        state: tempfile::tempdir().unwrap(),
    };
    let topology = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lab/redundant-reflectors.yaml");
    let up = lab.ok(&["up", "-f", topology.to_str().unwrap()]);
    assert!(up.contains("lab up in"), "{up}");
    let verify = lab.ok(&["verify"]);
    assert!(verify.contains("0 failed"), "{verify}");
    // Every worker has a BGP session and a BFD session Up with both
    // reflectors of its cluster; each reflector one with each worker and
    // with both reflectors of the other cluster.
    for w in WORKERS {
        eventually(
            &format!("{w}: two BFD sessions Up"),
            Duration::from_secs(30),
            || {
                let v = lab.bgpctl_json(w, &["show", "bfd", "session"])?;
                let up = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|s| s["state"] == "Up")
                    .count();
                if up == 2 {
                    Ok(())
                } else {
                    Err(format!("{v:#}"))
                }
            },
        );
    }
    for m in ["us-west-1-master", "us-west-1-master2"] {
        let v = lab.bgpctl_json(m, &["show", "summary"]).unwrap();
        let established = v["neighbors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|n| n["state"] == "Established")
            .count();
        assert_eq!(established, 4, "{m}: {v:#}");
    }
    lab.all_ready(8);
    let mut report = Vec::new();

    // One reflector in each cluster dies: BFD takes its sessions down in
    // 300 ms, the other reflector carries every route, and forwarding
    // never stops.
    let (sent, got) = lab.loss_during("alpine-cluster-1", "1.2.2.2", 1000, || {
        lab.ok(&["stop", "--kill", "us-west-1-master"]);
        lab.ok(&["stop", "--kill", "us-west-2-master2"]);
    });
    report.push(format!(
        "SIGKILL of one reflector in each cluster: {} of {sent} pings (every 10 ms) lost",
        sent - got
    ));
    assert!(sent >= 1000, "{sent} pings sent");
    assert_eq!(sent, got, "pings lost when one reflector per cluster died");
    let verify = lab.ok(&["verify"]);
    assert!(verify.contains("0 failed"), "{verify}");
    assert!(
        verify.contains("us-west-1-master sessions") && verify.contains("not checked"),
        "{verify}"
    );

    // A pod attached while they are down is reached from the other cluster.
    let seed = std::fs::read_to_string(&topology).unwrap();
    let grown = seed.replace(
        "checks:\n",
        "  - name: alpine-late\n    cluster: us-west-1\n    nad: blue-net\n    worker: 1\n    mac: aa:bb:cc:dd:05:05\n    ipv4: {address: 1.1.4.2/30, gateway: 1.1.4.1, routes: [1.0.0.0/8]}\nchecks:\n",
    );
    let file = lab.state.path().join("grown.yaml");
    std::fs::write(&file, grown).unwrap();
    let t0 = Instant::now();
    let out = lab.ok(&["up", "-f", file.to_str().unwrap()]);
    assert!(out.contains("left down"), "{out}");
    let after_up = t0.elapsed();
    let mut reached = None;
    while t0.elapsed() < Duration::from_secs(30) {
        let ok = Command::new("ip")
            .args([
                "netns",
                "exec",
                &lab.pod_ns("alpine-cluster-2"),
                "ping",
                "-c",
                "1",
                "-W",
                "0.2",
                "1.1.4.2",
            ])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            reached = Some(t0.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let reached = reached.expect("the pod attached with one reflector per cluster down is reached");
    report.push(format!(
        "pod attached with one reflector per cluster down: reached from the other cluster {} ms after `up` began ({} ms after it returned)",
        reached.as_millis(),
        reached.saturating_sub(after_up).as_millis()
    ));
    assert!(
        reached.saturating_sub(after_up) < Duration::from_secs(5),
        "{report:?}"
    );

    lab.ok(&["start", "us-west-1-master"]);
    lab.ok(&["start", "us-west-2-master2"]);
    lab.recovered("with both reflectors back");
    lab.all_ready(8);

    // A reflector stopped on purpose (SIGTERM, restarted at once) says so
    // with BFD AdminDown: its clients take no path failure from it.
    let (sent, got) = lab.loss_during("alpine-cluster-1", "1.2.2.2", 600, || {
        lab.ok(&["restart", "us-west-1-master"]);
    });
    report.push(format!(
        "restart (SIGTERM) of a reflector: {} of {sent} pings lost",
        sent - got
    ));
    assert_eq!(sent, got, "pings lost across a reflector restart");
    let worker_log = lab.state.path().join("lab/us-west-1-worker1.log");
    eventually(
        "the worker saw BFD AdminDown",
        Duration::from_secs(10),
        || {
            let log = std::fs::read_to_string(&worker_log).map_err(|e| e.to_string())?;
            if log.contains("took it administratively down") {
                Ok(())
            } else {
                Err(log.lines().rev().take(20).collect::<Vec<_>>().join("\n"))
            }
        },
    );
    lab.recovered("after a reflector restart");
    lab.all_ready(8);

    // The underlay of the worker holding alpine-cluster-1 dies: BFD tells
    // both reflectors within 300 ms and its routes leave the other cluster.
    let remote = "us-west-2-worker1";
    eventually(
        "the route to alpine-cluster-1",
        Duration::from_secs(30),
        || match lab.evpn_routes(remote, "1.1.1.0/30") {
            0 => Err("no route".into()),
            _ => Ok(()),
        },
    );
    let t0 = Instant::now();
    lab.ok(&["underlay", "us-west-1-worker1", "down"]);
    let mut gone = None;
    while t0.elapsed() < Duration::from_secs(30) {
        if lab.evpn_routes(remote, "1.1.1.0/30") == 0 {
            gone = Some(t0.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let gone = gone.expect("the dead worker's routes are withdrawn in the other cluster");
    report.push(format!(
        "underlay of a worker cut: its routes withdrawn in the other cluster in {} ms",
        gone.as_millis()
    ));
    assert!(gone < Duration::from_secs(3), "{report:?}");
    lab.ok(&["underlay", "us-west-1-worker1", "up"]);
    lab.recovered("with the worker's underlay back");
    eprintln!("redundant reflectors report:\n  {}", report.join("\n  "));
}
