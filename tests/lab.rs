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
fn down_returns_when_every_daemon_has_exited_and_up_works_right_after() {
    if !require_root("down_returns_when_every_daemon_has_exited_and_up_works_right_after") {
        return;
    }
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
fn the_lab_comes_up_survives_faults_grows_and_goes_away() {
    if !require_root("the_lab_comes_up_survives_faults_grows_and_goes_away") {
        return;
    }
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
    eventually("every node ready", Duration::from_secs(90), || {
        let status: serde_json::Value =
            serde_json::from_str(&lab.ok(&["status", "--json"])).map_err(|e| e.to_string())?;
        let nodes: Vec<&serde_json::Value> = status["clusters"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|c| c["nodes"].as_array().into_iter().flatten())
            .collect();
        if nodes.len() == 6 && nodes.iter().all(|n| n["ready"] == true) {
            Ok(())
        } else {
            Err(format!("{status:#}"))
        }
    });
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
