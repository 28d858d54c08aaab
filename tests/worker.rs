//! The worker role end to end: a Ferry route reflector, two Ferry workers
//! and pods attached by running the `ferry` CNI plugin exactly as a
//! runtime does (environment and standard input). Pods of one VRF on
//! different nodes reach each other over VXLAN, forwarded by the kernel;
//! VRFs are isolated; deleting a pod withdraws its route; a worker bgpd
//! killed and restarted reconciles its kernel state.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ferry_tests::{eventually, require_root, Ferry, Netns};

#[path = "pod_site.rs"]
mod pod_site;

use pod_site::{gateway, site, worker_config, Site, N1, RR};

/// The seed's NetworkAttachmentDefinition config with `"type": "ferry"`
/// and the pod's cni-args as Multus passes them (`args.cni`).
fn netconf(vrf: &str, vni: u32, rt: &str, socket: &str, mac: &str, v4: &str, v6: &str) -> String {
    let gw4 = gateway(v4);
    let gw6 = gateway(v6);
    format!(
        r#"{{"cniVersion":"0.4.0","name":"{vrf}-net","type":"ferry",
  "args":{{"applyGroups":"evpn-type5","vxlanVNI":"{vni}","vrfName":"{vrf}","vrfTarget":"{rt}",
    "cni":{{"mac":"{mac}","dataplane":"linux",
      "ipConfig":{{"ipv4":{{"address":"{v4}","gateway":"{gw4}","routes":["1.0.0.0/8"]}},
                  "ipv6":{{"address":"{v6}","gateway":"{gw6}","routes":["abcd::/64"]}}}}}}}},
  "kubeConfig":"/etc/kubernetes/kubelet.conf","bgpdSocket":"{socket}"}}"#
    )
}

/// Runs the plugin in `node` as a runtime does: success, and the JSON it
/// printed.
fn cni(
    node: &Netns,
    command: &str,
    container: &str,
    pod: &Netns,
    conf: &str,
) -> (bool, serde_json::Value) {
    let r = pod_site::cni(node, command, container, pod, conf);
    (r.ok, r.out)
}

/// Whether `to` answers: three echo requests 0.2 s apart, one reply is
/// enough (a machine under load may lose one).
fn pings(from: &Netns, to: &str) -> bool {
    let mut args = vec!["ping", "-c", "3", "-i", "0.2", "-W", "1"];
    if to.contains(':') {
        args.insert(1, "-6");
    }
    args.push(to);
    from.exec(&args).status.success()
}

fn kernel_table(node: &Netns, table: u32, v6: bool) -> String {
    let fam = if v6 { "-6" } else { "-4" };
    node.exec_ok(&["ip", fam, "route", "show", "table", &table.to_string()])
}

/// alpine-cluster-1 on node 1 and a peer on node 2, in VRF blue: their
/// network namespaces and the `ferry` network configurations that attach
/// them.
fn blue_pods(s: &Site) -> (Netns, Netns, String, String) {
    let pod = |node: &Ferry, mac, v4, v6| {
        let socket = node.socket.to_str().unwrap().to_string();
        let conf = netconf("blue", 10002, "11:11", &socket, mac, v4, v6);
        (Netns::new("fp"), conf)
    };
    let (p1, c1) = pod(
        &s.n1,
        "aa:bb:cc:dd:01:01",
        "1.1.1.2/30",
        "abcd::1.1.1.2/126",
    );
    let (p2, c2) = pod(
        &s.n2,
        "aa:bb:cc:dd:02:02",
        "1.2.2.2/30",
        "abcd::1.2.2.2/126",
    );
    (p1, p2, c1, c2)
}

#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn pods_in_a_vrf_reach_each_other_across_nodes_and_vrfs_are_isolated() {
    require_root("pods_in_a_vrf_reach_each_other_across_nodes_and_vrfs_are_isolated");
    let s = site();
    let (n1ns, n2ns) = (&s.nodes[1], &s.nodes[2]);
    let sock1 = s.n1.socket.to_str().unwrap().to_string();
    let sock2 = s.n2.socket.to_str().unwrap().to_string();
    let (p1, p2, c1, c2) = blue_pods(&s);
    let (ok, res) = cni(n1ns, "ADD", "pod-one", &p1, &c1);
    assert!(ok, "{res}");
    let added_one = res.clone();
    assert_eq!(res["cniVersion"], "0.4.0");
    assert_eq!(res["ips"][0]["address"], "1.1.1.2/30");
    assert_eq!(res["ips"][0]["version"], "4");
    assert_eq!(res["interfaces"][1]["mac"], "aa:bb:cc:dd:01:01");
    let (ok, res) = cni(n2ns, "ADD", "pod-two", &p2, &c2);
    assert!(ok, "{res}");
    // The pod's own side is what the cni-args say.
    let link = p1.exec_ok(&["ip", "-o", "link", "show", "net1"]);
    assert!(link.contains("aa:bb:cc:dd:01:01"), "{link}");
    let routes = p1.exec_ok(&["ip", "route"]);
    assert!(
        routes.contains("1.0.0.0/8 via 1.1.1.1 dev net1"),
        "{routes}"
    );

    eventually(
        "blue pods ping across nodes",
        Duration::from_secs(20),
        || {
            if pings(&p1, "1.2.2.2") {
                Ok(())
            } else {
                Err(kernel_table(n1ns, 1_010_002, false))
            }
        },
    );
    assert!(pings(&p2, "1.1.1.2"));
    eventually("blue pods ping over IPv6", Duration::from_secs(10), || {
        if pings(&p1, "abcd::1.2.2.2") {
            Ok(())
        } else {
            Err(kernel_table(n1ns, 1_010_002, true))
        }
    });
    // The kernel state of the imported route, as the issue describes it.
    let t = kernel_table(n1ns, 1_010_002, false);
    assert!(
        t.contains("1.2.2.0/30 via 10.10.29.243 dev br-10002 proto 199 onlink"),
        "{t}"
    );
    let neigh = n1ns.exec_ok(&["ip", "neigh", "show", "dev", "br-10002"]);
    assert!(
        neigh.contains("10.10.29.243 lladdr 02:00:0a:0a:1d:f3 PERMANENT"),
        "{neigh}"
    );
    let fdb = n1ns.exec_ok(&["bridge", "fdb", "show", "dev", "vx-10002"]);
    assert!(
        fdb.contains("02:00:0a:0a:1d:f3 dst 10.10.29.243 self permanent"),
        "{fdb}"
    );
    let vx = n1ns.exec_ok(&["ip", "-d", "link", "show", "vx-10002"]);
    assert!(
        vx.contains("vxlan id 10002 local 10.10.93.12")
            && vx.contains("dstport 4789")
            && vx.contains("nolearning"),
        "{vx}"
    );
    let br = n1ns.exec_ok(&["ip", "link", "show", "br-10002"]);
    assert!(br.contains("02:00:0a:0a:5d:0c"), "{br}");

    // `bgpctl show vrf` and `show route table`.
    let vrfs = s.n1.ctl(&["show", "vrf"]).unwrap();
    assert_eq!(vrfs[0]["name"], "blue");
    assert_eq!(vrfs[0]["source"], "cni");
    let backend = vrfs[0]["backend"].as_str().unwrap().to_string();
    if let Ok(want) = std::env::var("FERRY_EXPECT_BACKEND") {
        assert_eq!(backend, want);
    }
    assert_eq!(vrfs[0]["installed"], 2);
    let table = s.n1.ctl(&["show", "route", "table", "blue"]).unwrap();
    let kernel: Vec<&str> = table["kernel"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["prefix"].as_str().unwrap())
        .collect();
    for p in [
        "1.1.1.0/30",
        "1.2.2.0/30",
        "abcd::101:100/126",
        "abcd::102:200/126",
    ] {
        assert!(kernel.contains(&p), "{p} not in {kernel:?}");
    }

    // VRF red on the same nodes, with blue's pod address on node 1.
    let p3 = Netns::new("fp");
    let p4 = Netns::new("fp");
    let c3 = netconf(
        "red",
        20002,
        "22:22",
        &sock1,
        "aa:bb:cc:dd:03:03",
        "1.1.1.2/30",
        "abcd::1.1.1.2/126",
    );
    let c4 = netconf(
        "red",
        20002,
        "22:22",
        &sock2,
        "aa:bb:cc:dd:04:04",
        "1.3.3.2/30",
        "abcd::1.3.3.2/126",
    );
    let (ok, res) = cni(n1ns, "ADD", "pod-three", &p3, &c3);
    assert!(ok, "{res}");
    let (ok, res) = cni(n2ns, "ADD", "pod-four", &p4, &c4);
    assert!(ok, "{res}");
    eventually(
        "red pods ping across nodes",
        Duration::from_secs(20),
        || {
            if pings(&p3, "1.3.3.2") {
                Ok(())
            } else {
                Err(kernel_table(n1ns, 1_020_002, false))
            }
        },
    );
    assert!(pings(&p4, "1.1.1.2"), "red reaches its own 1.1.1.2");
    assert!(
        pings(&p1, "1.2.2.2"),
        "blue still works with the same address in red"
    );
    assert!(pings(&p4, "abcd::1.1.1.2"));
    // Red reaches no address of blue: pods, nor gateways.
    for addr in ["1.2.2.2", "1.2.2.1", "abcd::1.2.2.2", "abcd::1.2.2.1"] {
        assert!(!pings(&p3, addr), "red pod reached blue's {addr}");
    }
    for addr in ["1.3.3.2", "1.3.3.1"] {
        assert!(!pings(&p1, addr), "blue pod reached red's {addr}");
    }

    // A conflicting request is refused and leaves nothing behind.
    let p5 = Netns::new("fp");
    let bad = netconf(
        "blue",
        30003,
        "11:11",
        &sock1,
        "aa:bb:cc:dd:05:05",
        "1.5.5.2/30",
        "abcd::1.5.5.2/126",
    );
    let links_before = n1ns.exec_ok(&["ip", "-o", "link"]).lines().count();
    let (ok, res) = cni(n1ns, "ADD", "pod-five", &p5, &bad);
    assert!(!ok);
    let msg = res["msg"].as_str().unwrap();
    assert!(
        msg.contains("blue") && msg.contains("10002") && msg.contains("30003"),
        "{msg}"
    );
    assert_eq!(
        n1ns.exec_ok(&["ip", "-o", "link"]).lines().count(),
        links_before
    );
    assert!(!p5.exec_ok(&["ip", "-o", "link"]).contains("net1"));

    // CHECK passes for an attached pod, given ADD's result.
    let mut checked: serde_json::Value = serde_json::from_str(&c1).unwrap();
    checked["prevResult"] = added_one;
    let (ok, res) = cni(n1ns, "CHECK", "pod-one", &p1, &checked.to_string());
    assert!(ok, "{res}");

    // Deleting pod two withdraws its route from node 1's kernel.
    let start = Instant::now();
    let (ok, res) = cni(n2ns, "DEL", "pod-two", &p2, &c2);
    assert!(ok, "{res}");
    eventually(
        "pod two's route gone from node 1",
        Duration::from_secs(10),
        || {
            let t = kernel_table(n1ns, 1_010_002, false);
            if t.contains("1.2.2.0/30") {
                Err(t)
            } else {
                Ok(())
            }
        },
    );
    eprintln!(
        "route withdrawn from the remote kernel {} ms after CNI DEL",
        start.elapsed().as_millis()
    );
    assert!(!p2.exec_ok(&["ip", "-o", "link"]).contains("net1"));
    let rules = n2ns.exec_ok(&["ip", "rule"]);
    if backend == "rule-table" {
        assert_eq!(
            rules.matches("lookup 1010002").count(),
            1,
            "only br-10002's rule is left: {rules}"
        );
    } else {
        assert!(!rules.contains("proto 199"), "{rules}");
        let vrf = n2ns.exec_ok(&["ip", "-d", "link", "show", "vrf-blue"]);
        assert!(vrf.contains("vrf table 1010002"), "{vrf}");
    }
    // DEL again is fine.
    let (ok, res) = cni(n2ns, "DEL", "pod-two", &p2, &c2);
    assert!(ok, "{res}");
    drop((s.lan, s.rr, s.dir));
}

#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn a_restarted_worker_reconciles_and_keeps_forwarding() {
    require_root("a_restarted_worker_reconciles_and_keeps_forwarding");
    let mut s = site();
    let (n1ns, n2ns) = (&s.nodes[1], &s.nodes[2]);
    let (p1, p2, c1, c2) = blue_pods(&s);
    assert!(cni(n1ns, "ADD", "pod-one", &p1, &c1).0);
    assert!(cni(n2ns, "ADD", "pod-two", &p2, &c2).0);
    eventually("pods ping", Duration::from_secs(20), || {
        if pings(&p1, "1.2.2.2") {
            Ok(())
        } else {
            Err(kernel_table(n1ns, 1_010_002, false))
        }
    });
    let before = (
        kernel_table(n1ns, 1_010_002, false),
        kernel_table(n1ns, 1_010_002, true),
        n1ns.exec_ok(&["ip", "neigh", "show", "dev", "br-10002"]),
        n1ns.exec_ok(&["bridge", "fdb", "show", "dev", "vx-10002"]),
        n1ns.exec_ok(&["ip", "rule"]),
    );
    // Something stale that Ferry owns: a device of a VRF that is gone.
    n1ns.exec_ok(&["ip", "link", "add", "br-777", "type", "bridge"]);
    // Something Ferry does not own, in the VRF's table: left alone.
    n1ns.exec_ok(&[
        "ip",
        "route",
        "add",
        "9.9.9.0/24",
        "dev",
        "lo",
        "table",
        "1010002",
    ]);

    // Pings from node 2's pod while node 1's bgpd is killed and restarted.
    let ping = Command::new("ip")
        .args([
            "netns", "exec", &p2.name, "ping", "-i", "0.1", "-c", "100", "-W", "1", "1.1.1.2",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    s.n1.proc.signal(libc::SIGKILL);
    s.n1.proc.wait(Duration::from_secs(5));
    let _ = std::fs::remove_file(&s.n1.socket);
    let n1 = Ferry::start(n1ns, s.dir.path(), "n1", &worker_config(N1));
    n1.wait_established(&[RR]);
    let out = ping.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let summary = text
        .lines()
        .find(|l| l.contains("packet loss"))
        .unwrap_or("")
        .to_string();
    eprintln!("pings during the worker restart: {summary}");
    assert!(summary.contains("received"), "{text}");

    eventually(
        "the same kernel state after the restart",
        Duration::from_secs(20),
        || {
            let after = (
                kernel_table(n1ns, 1_010_002, false).replace("9.9.9.0/24 dev lo scope link \n", ""),
                kernel_table(n1ns, 1_010_002, true),
                n1ns.exec_ok(&["ip", "neigh", "show", "dev", "br-10002"]),
                n1ns.exec_ok(&["bridge", "fdb", "show", "dev", "vx-10002"]),
                n1ns.exec_ok(&["ip", "rule"]),
            );
            if after == before {
                Ok(())
            } else {
                Err(format!("before {before:?}\nafter {after:?}"))
            }
        },
    );
    assert!(
        n1ns.exec(&["ip", "link", "show", "br-777"])
            .stdout
            .is_empty(),
        "stale device removed"
    );
    assert!(
        kernel_table(n1ns, 1_010_002, false).contains("9.9.9.0/24 dev lo"),
        "foreign route kept"
    );
    assert!(pings(&p1, "1.2.2.2"));
    assert!(pings(&p2, "1.1.1.2"));
    let vrfs = n1.ctl(&["show", "vrf", "blue"]).unwrap();
    assert_eq!(vrfs[0]["pods"], serde_json::json!(["pod-one/net1"]));
    s.n1 = n1;
}

/// The VRF-device backend, on a kernel that has VRF devices: this test
/// boots Debian's kernel under QEMU with virtme-ng (the host's files seen
/// from the guest) and runs the end-to-end test above inside it.
#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn vrf_device_backend_in_a_virtual_machine() {
    require_root("vrf_device_backend_in_a_virtual_machine");
    let vng = std::path::Path::new("/opt/vng/bin/vng");
    let kernel = std::fs::read_dir("/boot").ok().and_then(|d| {
        d.filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n.starts_with("vmlinuz-") && n.ends_with("-amd64") && !n.contains("cloud")
                })
            })
            .max()
    });
    let (true, Some(kernel)) = (vng.exists(), kernel) else {
        panic!(
            "virtme-ng (/opt/vng) or a Debian kernel in /boot is missing: tests/run installs them"
        );
    };
    let me = std::env::current_exe().unwrap();
    let script = format!(
        "modprobe vrf && FERRY_EXPECT_BACKEND=vrf-device {} --exact pods_in_a_vrf_reach_each_other_across_nodes_and_vrfs_are_isolated --include-ignored --test-threads 1 2>&1",
        me.display()
    );
    let out = Command::new(vng)
        .args([
            "--run",
            kernel.to_str().unwrap(),
            "--disable-kvm",
            "--memory",
            "2G",
            "--cpus",
            "2",
            "--exec",
            &script,
        ])
        .env(
            "PATH",
            format!("/opt/vng/bin:{}", std::env::var("PATH").unwrap_or_default()),
        )
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("test result: ok. 1 passed"), "{text}");
}

/// Everything Ferry could leak on a node: links, routes of every table,
/// neighbour and FDB entries, rules.
fn kernel_objects(node: &Netns) -> Vec<String> {
    let list = |args: &[&str]| {
        let mut v: Vec<String> = node.exec_ok(args).lines().map(str::to_string).collect();
        v.sort();
        v
    };
    [
        list(&["ip", "-o", "link"]),
        list(&["ip", "-4", "route", "show", "table", "all"]),
        list(&["ip", "-6", "route", "show", "table", "all"]),
        list(&["ip", "neigh", "show", "nud", "permanent"]),
        list(&["bridge", "fdb", "show"]),
        list(&["ip", "rule"]),
    ]
    .concat()
    .into_iter()
    // The kernel's own objects (link-local addresses after DAD, IPv6
    // multicast FDB entries) come and go on their own.
    .filter(|l| !l.contains("proto kernel") && !l.starts_with("33:33:"))
    // Counters and link states change; the objects are what matters.
    .map(|l| {
        l.split(" link/")
            .next()
            .unwrap_or("")
            .replace("state UP", "")
            .replace("state DOWN", "")
    })
    .collect()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// 1000 attach/detach cycles through the CNI on one node while another
/// node's pod comes and goes (routes churn into the first node's kernel):
/// no kernel object is leaked and bgpd's memory stays flat.
#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn a_thousand_pod_cycles_leak_nothing() {
    require_root("a_thousand_pod_cycles_leak_nothing");
    let s = site();
    let (n1ns, n2ns) = (&s.nodes[1], &s.nodes[2]);
    let sock1 = s.n1.socket.to_str().unwrap().to_string();
    let sock2 = s.n2.socket.to_str().unwrap().to_string();
    let pod = Netns::new("fp");
    let churn = Netns::new("fp");
    let conf = |i: u32| {
        netconf(
            "blue",
            10002,
            "11:11",
            &sock1,
            "aa:bb:cc:dd:01:01",
            &format!("1.1.{}.2/30", i % 60 * 4),
            &format!("abcd::1.1.{}.2/126", i % 60 * 4),
        )
    };
    let churn_conf = netconf(
        "blue",
        10002,
        "11:11",
        &sock2,
        "aa:bb:cc:dd:02:02",
        "1.2.2.2/30",
        "abcd::1.2.2.2/126",
    );
    // Warm up: one cycle of each, so that the VRF exists on both nodes.
    assert!(cni(n1ns, "ADD", "soak", &pod, &conf(0)).0);
    assert!(cni(n1ns, "DEL", "soak", &pod, &conf(0)).0);
    assert!(cni(n2ns, "ADD", "churn", &churn, &churn_conf).0);
    assert!(cni(n2ns, "DEL", "churn", &churn, &churn_conf).0);
    // The kernel's own IPv6 link-local addresses come after DAD: wait
    // until the node is still.
    let mut before = kernel_objects(n1ns);
    for _ in 0..10 {
        std::thread::sleep(Duration::from_secs(1));
        let now = kernel_objects(n1ns);
        if now == before {
            break;
        }
        before = now;
    }
    let rss_before = rss_kib(s.n1.proc.pid());
    let start = Instant::now();
    for i in 0..soak_cycles() {
        if i % 10 == 0 {
            let cmd = if i % 20 == 0 { "ADD" } else { "DEL" };
            let (ok, res) = cni(n2ns, cmd, "churn", &churn, &churn_conf);
            assert!(ok, "churn {cmd} {i}: {res}");
        }
        let (ok, res) = cni(n1ns, "ADD", "soak", &pod, &conf(i));
        assert!(ok, "ADD {i}: {res}");
        let (ok, res) = cni(n1ns, "DEL", "soak", &pod, &conf(i));
        assert!(ok, "DEL {i}: {res}");
    }
    assert!(cni(n2ns, "DEL", "churn", &churn, &churn_conf).0);
    let elapsed = start.elapsed();
    let after = eventually(
        "the node's kernel back to where it was",
        Duration::from_secs(10),
        || {
            let now = kernel_objects(n1ns);
            if now == before {
                Ok(now)
            } else {
                let gone: Vec<&String> = before.iter().filter(|l| !now.contains(l)).collect();
                let new: Vec<&String> = now.iter().filter(|l| !before.contains(l)).collect();
                Err(format!("gone {gone:#?}\nnew {new:#?}"))
            }
        },
    );
    let rss_after = rss_kib(s.n1.proc.pid());
    eprintln!(
        "{} attach/detach cycles in {:.1} s; {} kernel objects (links, routes, neighbours, FDB entries, rules) before and {} after, the same; bgpd RSS {rss_before} KiB -> {rss_after} KiB",
        soak_cycles(),
        elapsed.as_secs_f64(),
        before.len(),
        after.len()
    );
    assert!(
        rss_after < rss_before + 4096,
        "bgpd grew from {rss_before} KiB to {rss_after} KiB"
    );
}

fn soak_cycles() -> u32 {
    std::env::var("FERRY_SOAK_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}
