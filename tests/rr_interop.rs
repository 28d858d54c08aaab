//! Interop of the Ferry route reflector with FRR and GoBGP, each in its own
//! network namespace on a shared bridge, as in the seed: AS 64512, the
//! reflector 10.10.25.42, workers in 10.10.0.0/16.

use std::time::Duration;

use ferry_tests::{eventually, output, require_root, run, Ferry, Frr, GoBgp, Lan, Netns, Proc};

/// The reflector, with a 30 s hold time for its clients.
fn rr_config() -> String {
    format!("{}hold-time = 30\n", ferry_tests::RR)
}

const FRR_CLIENT: &str = "router bgp 64512
 bgp router-id 10.10.29.243
 no bgp default ipv4-unicast
 neighbor 10.10.25.42 remote-as 64512
 neighbor 10.10.25.42 timers connect 1
 address-family ipv4 vpn
  neighbor 10.10.25.42 activate
  network 10.2.0.0/24 rd 64512:20 label 200
 exit-address-family
 address-family ipv6 vpn
  neighbor 10.10.25.42 activate
 exit-address-family
 address-family l2vpn evpn
  neighbor 10.10.25.42 activate
 exit-address-family
";

/// GoBGP originates every route type; FRR gets each with its attributes
/// intact plus ORIGINATOR_ID and CLUSTER_LIST; FRR's VPNv4 route reaches
/// GoBGP the same way; withdrawals follow. tshark finds nothing malformed
/// in what Ferry sent.
#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn gobgp_and_frr_clients_exchange_every_route_type() {
    require_root("gobgp_and_frr_clients_exchange_every_route_type");
    let dir = tempfile::tempdir().unwrap();
    let lan = Lan::new();
    let rr_ns = Netns::new("frr");
    let gb_ns = Netns::new("fgb");
    let frr_ns = Netns::new("ffr");
    lan.attach(&rr_ns, "eth0", "10.10.25.42/16");
    lan.attach(&gb_ns, "eth0", "10.10.93.12/16");
    lan.attach(&frr_ns, "eth0", "10.10.29.243/16");

    let pcap = dir.path().join("rr.pcap");
    let mut tshark = Proc::spawn(
        "tshark",
        &rr_ns,
        "tshark",
        &[
            "-i",
            "eth0",
            "-f",
            "tcp port 179",
            "-w",
            pcap.to_str().unwrap(),
            "-q",
        ],
        &dir.path().join("tshark.log"),
    );
    eventually("tshark capturing", Duration::from_secs(20), || {
        if tshark.log_text().contains("Capturing on") {
            Ok(())
        } else {
            Err(tshark.log_text())
        }
    });

    let rr = Ferry::start(&rr_ns, dir.path(), "rr", &rr_config());
    let gobgp = GoBgp::start(&gb_ns, dir.path(), "10.10.93.12", &["10.10.25.42"]);
    let frr = Frr::start(&frr_ns, dir.path(), "frr", FRR_CLIENT);
    rr.wait_established(&["10.10.93.12", "10.10.29.243"]);
    gobgp.wait_established();

    let adds: [&[&str]; 6] = [
        &[
            "-a",
            "evpn",
            "add",
            "prefix",
            "1.1.1.0/30",
            "etag",
            "0",
            "rd",
            "10.10.93.12:1",
            "rt",
            "11:11",
            "gw",
            "0.0.0.0",
            "label",
            "10002",
            "encap",
            "vxlan",
            "router-mac",
            "aa:bb:cc:dd:01:01",
            "nexthop",
            "10.10.93.12",
        ],
        &[
            "-a",
            "evpn",
            "add",
            "prefix",
            "abcd::101:100/126",
            "etag",
            "0",
            "rd",
            "10.10.93.12:1",
            "rt",
            "11:11",
            "gw",
            "::",
            "label",
            "10002",
            "encap",
            "vxlan",
            "router-mac",
            "aa:bb:cc:dd:01:01",
            "nexthop",
            "10.10.93.12",
        ],
        &[
            "-a",
            "evpn",
            "add",
            "macadv",
            "aa:bb:cc:dd:01:01",
            "1.1.1.2",
            "esi",
            "0",
            "etag",
            "0",
            "label",
            "10002",
            "rd",
            "10.10.93.12:1",
            "rt",
            "11:11",
            "encap",
            "vxlan",
            "nexthop",
            "10.10.93.12",
        ],
        &[
            "-a",
            "evpn",
            "add",
            "multicast",
            "10.10.93.12",
            "etag",
            "0",
            "rd",
            "10.10.93.12:1",
            "rt",
            "11:11",
            "encap",
            "vxlan",
            "pmsi",
            "ingress-repl",
            "10002",
            "10.10.93.12",
            "nexthop",
            "10.10.93.12",
        ],
        &[
            "-a",
            "vpnv4",
            "add",
            "10.1.0.0/24",
            "label",
            "100",
            "rd",
            "64512:10",
            "rt",
            "64512:10",
            "nexthop",
            "10.10.93.12",
        ],
        &[
            "-a",
            "vpnv6",
            "add",
            "2001:db8:1::/64",
            "label",
            "101",
            "rd",
            "64512:10",
            "rt",
            "64512:10",
            "nexthop",
            "10.10.93.12",
        ],
    ];
    for a in adds {
        let mut args = vec!["global", "rib"];
        args.extend_from_slice(a);
        let out = gobgp.cli(&args);
        assert!(!out.contains("rror"), "gobgp {args:?}: {out}");
    }

    // FRR, on the other side of the reflector.
    let evpn = eventually(
        "the four EVPN routes at FRR",
        Duration::from_secs(20),
        || {
            let t = frr.vtysh("show bgp l2vpn evpn route detail");
            let want = [
                "[5]:[0]:[30]:[1.1.1.0] VNI 10002",
                "[5]:[0]:[126]:[abcd::101:100] VNI 10002",
                "[2]:[0]:[48]:[aa:bb:cc:dd:01:01]:[32]:[1.1.1.2]",
                "[3]:[0]:[32]:[10.10.93.12]",
            ];
            if want.iter().all(|w| t.contains(w)) {
                Ok(t)
            } else {
                Err(t)
            }
        },
    );
    assert_eq!(
        evpn.matches("Route Distinguisher: 10.10.93.12:1").count(),
        1,
        "{evpn}"
    );
    assert_eq!(
        evpn.matches("Originator: 10.10.93.12, Cluster list: 10.10.25.42")
            .count(),
        4,
        "{evpn}"
    );
    assert_eq!(
        evpn.matches("RT:11:11 ET:8 Rmac:aa:bb:cc:dd:01:01").count(),
        2,
        "{evpn}"
    );
    assert!(
        evpn.contains("10.10.93.12 from 10.10.25.42 (10.10.93.12)"),
        "{evpn}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&frr.vtysh("show bgp l2vpn evpn route detail type multicast json"))
            .unwrap();
    let t3 = json["10.10.93.12:1"]["[3]:[0]:[32]:[10.10.93.12]"]["paths"][0][0].clone();
    assert_eq!(t3["originatorId"], "10.10.93.12", "{json}");
    assert_eq!(t3["clusterList"]["list"][0], "10.10.25.42", "{json}");

    let vpn4 = eventually("VPNv4 at FRR", Duration::from_secs(20), || {
        let t = frr.vtysh("show bgp ipv4 vpn 10.1.0.0/24");
        if t.contains("64512:10") && t.contains("Originator: 10.10.93.12") {
            Ok(t)
        } else {
            Err(t)
        }
    });
    assert!(vpn4.contains("Cluster list: 10.10.25.42"), "{vpn4}");
    assert!(vpn4.contains("RT:64512:10"), "{vpn4}");
    assert!(vpn4.contains("Remote label: 100"), "{vpn4}");
    let vpn6 = eventually("VPNv6 at FRR", Duration::from_secs(20), || {
        let t = frr.vtysh("show bgp ipv6 vpn 2001:db8:1::/64");
        if t.contains("Originator: 10.10.93.12") {
            Ok(t)
        } else {
            Err(t)
        }
    });
    assert!(vpn6.contains("Remote label: 101"), "{vpn6}");

    // FRR's own VPNv4 route reaches GoBGP, reflected.
    let rib = eventually(
        "FRR's VPNv4 route at GoBGP",
        Duration::from_secs(20),
        || {
            let r = gobgp.rib("vpnv4");
            if r.contains("10.2.0.0/24") {
                Ok(r)
            } else {
                Err(r)
            }
        },
    );
    assert!(rib.contains("64512:20"), "{rib}");
    assert!(
        rib.contains("\"value\":\"10.10.29.243\""),
        "ORIGINATOR_ID: {rib}"
    );
    assert!(rib.contains("10.10.25.42"), "CLUSTER_LIST: {rib}");

    // The reflector's own view.
    let routes = rr.routes(&["--family", "evpn"]);
    assert_eq!(routes.len(), 4, "{routes:?}");
    assert!(routes
        .iter()
        .all(|r| r["best"] == true && r["from"] == "10.10.93.12"));
    let summary = rr.ctl(&["show", "summary"]).unwrap();
    let evpn_table = summary["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "bgp.evpn.0")
        .unwrap()
        .clone();
    assert_eq!(evpn_table["total-paths"], 4);

    // Withdrawals.
    for a in [
        vec![
            "global",
            "rib",
            "-a",
            "evpn",
            "del",
            "prefix",
            "1.1.1.0/30",
            "etag",
            "0",
            "rd",
            "10.10.93.12:1",
        ],
        vec![
            "global",
            "rib",
            "-a",
            "vpnv4",
            "del",
            "10.1.0.0/24",
            "label",
            "100",
            "rd",
            "64512:10",
        ],
    ] {
        gobgp.cli(&a);
    }
    eventually("withdrawals at FRR", Duration::from_secs(20), || {
        let e = frr.vtysh("show bgp l2vpn evpn route");
        let v = frr.vtysh("show bgp ipv4 vpn");
        if !e.contains("[5]:[0]:[30]:[1.1.1.0]")
            && !v.contains("10.1.0.0/24")
            && e.contains("[5]:[0]:[126]")
        {
            Ok(())
        } else {
            Err(format!("{e}\n{v}"))
        }
    });

    // Everything Ferry sent decodes cleanly in Wireshark's dissector.
    tshark.signal(libc::SIGINT);
    tshark.wait(Duration::from_secs(10));
    let out = output(
        "tshark",
        &[
            "-r",
            pcap.to_str().unwrap(),
            "-Y",
            "ip.src == 10.10.25.42 && bgp.type == 2",
            "-V",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let updates = text.matches("UPDATE Message").count();
    assert!(
        updates >= 6,
        "only {updates} UPDATEs from Ferry in the capture"
    );
    for bad in ["Malformed", "Expert Info (Error", "Expert Info (Warning"] {
        assert!(
            !text.contains(bad),
            "tshark reports {bad:?} in Ferry's UPDATEs:\n{text}"
        );
    }
    drop(frr);
}

fn cluster_config(id: &str, allow: &str, other_rr: &str) -> String {
    format!(
        r#"
router-id = "{id}"
local-as = 64512
cluster-id = "{id}"
[[group]]
name = "workers"
local-address = "{id}"
route-reflector-client = true
allow = ["{allow}"]
[[group]]
name = "inter-cluster"
local-address = "{id}"
neighbors = ["{other_rr}"]
"#
    )
}

/// The seed's inter-cluster design: two Ferry reflectors, each with two
/// clients, joined by iBGP; a route from a client of one cluster reaches
/// both clients of the other, and the reverse, with no loop.
#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn two_clusters_exchange_routes_through_their_reflectors() {
    require_root("two_clusters_exchange_routes_through_their_reflectors");
    let dir = tempfile::tempdir().unwrap();
    let lan = Lan::new();
    let nodes: Vec<(Netns, &str)> = [
        "10.10.25.42",
        "10.10.93.12",
        "10.10.29.243",
        "10.20.63.45",
        "10.20.9.206",
        "10.20.68.97",
    ]
    .into_iter()
    .map(|a| (Netns::new("fc"), a))
    .collect();
    for (ns, a) in &nodes {
        lan.attach(ns, "eth0", &format!("{a}/8"));
    }
    let rr1 = Ferry::start(
        &nodes[0].0,
        dir.path(),
        "rr1",
        &cluster_config("10.10.25.42", "10.10.0.0/16", "10.20.63.45"),
    );
    let rr2 = Ferry::start(
        &nodes[3].0,
        dir.path(),
        "rr2",
        &cluster_config("10.20.63.45", "10.20.0.0/16", "10.10.25.42"),
    );
    let clients: Vec<GoBgp> = [1, 2, 4, 5]
        .into_iter()
        .map(|i| {
            let rr = if i < 3 { "10.10.25.42" } else { "10.20.63.45" };
            GoBgp::start(&nodes[i].0, dir.path(), nodes[i].1, &[rr])
        })
        .collect();
    rr1.wait_established(&["10.10.93.12", "10.10.29.243", "10.20.63.45"]);
    rr2.wait_established(&["10.20.9.206", "10.20.68.97", "10.10.25.42"]);

    // alpine-cluster-1's prefix from a worker of cluster 1, and
    // alpine-cluster-2's from a worker of cluster 2.
    clients[0].cli(&[
        "global",
        "rib",
        "-a",
        "evpn",
        "add",
        "prefix",
        "1.1.1.0/30",
        "etag",
        "0",
        "rd",
        "10.10.93.12:1",
        "rt",
        "11:11",
        "gw",
        "0.0.0.0",
        "label",
        "10002",
        "encap",
        "vxlan",
        "router-mac",
        "aa:bb:cc:dd:01:01",
        "nexthop",
        "10.10.93.12",
    ]);
    clients[2].cli(&[
        "global",
        "rib",
        "-a",
        "evpn",
        "add",
        "prefix",
        "1.2.2.0/30",
        "etag",
        "0",
        "rd",
        "10.20.9.206:1",
        "rt",
        "11:11",
        "gw",
        "0.0.0.0",
        "label",
        "10002",
        "encap",
        "vxlan",
        "router-mac",
        "aa:bb:cc:dd:02:02",
        "nexthop",
        "10.20.9.206",
    ]);

    for (c, want) in [
        (&clients[2], "1.1.1.0"),
        (&clients[3], "1.1.1.0"),
        (&clients[0], "1.2.2.0"),
        (&clients[1], "1.2.2.0"),
    ] {
        let rib = eventually("the other cluster's route", Duration::from_secs(30), || {
            let r = c.rib("evpn");
            if r.contains(want) {
                Ok(r)
            } else {
                Err(r)
            }
        });
        // Two reflections: both cluster ids in CLUSTER_LIST.
        assert!(
            rib.contains("10.10.25.42") && rib.contains("10.20.63.45"),
            "{rib}"
        );
    }
    // The client that sent a route in cluster 2 sees it back neither from
    // its own reflector nor through the other cluster (no loop).
    let own: serde_json::Value = serde_json::from_str(&clients[2].rib("evpn")).unwrap();
    let paths = own["[type:Prefix][rd:10.20.9.206:1][etag:0][prefix:1.2.2.0/30]"]
        .as_array()
        .unwrap();
    assert_eq!(paths.len(), 1, "{own}");
    assert!(
        paths[0].get("neighbor-ip").is_none(),
        "its own route came back: {own}"
    );
    // Each reflector holds exactly one path per route: the loop check
    // (cluster id in CLUSTER_LIST) keeps the returning copy out of use.
    let r1 = rr1.routes(&["--family", "evpn"]);
    let best: Vec<&serde_json::Value> = r1.iter().filter(|r| r["best"] == true).collect();
    assert_eq!(best.len(), 2, "{r1:?}");
    drop(clients);
}

/// ExaBGP and BIRD 2 as clients: their VPN routes are decoded correctly by
/// Ferry, and each gets the other's, reflected. (ExaBGP 4.2 has no way to
/// announce EVPN from its configuration or API, and BIRD 2.0.12 carries no
/// EVPN: both are tested with the VPN families they support.)
#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn exabgp_and_bird_clients_with_vpn_routes() {
    require_root("exabgp_and_bird_clients_with_vpn_routes");
    let dir = tempfile::tempdir().unwrap();
    let lan = Lan::new();
    let rr_ns = Netns::new("frr");
    let exa_ns = Netns::new("fex");
    let bird_ns = Netns::new("fbd");
    lan.attach(&rr_ns, "eth0", "10.10.25.42/16");
    lan.attach(&exa_ns, "eth0", "10.10.30.1/16");
    lan.attach(&bird_ns, "eth0", "10.10.40.1/16");
    let rr = Ferry::start(&rr_ns, dir.path(), "rr", &rr_config());

    let fifo = dir.path().join("exa.fifo");
    run("mkfifo", &[fifo.to_str().unwrap()]);
    let exa_conf = dir.path().join("exa.conf");
    std::fs::write(
        &exa_conf,
        format!(
            "process announce {{\n  run /bin/cat {};\n  encoder text;\n}}\nneighbor 10.10.25.42 {{\n  router-id 10.10.30.1;\n  local-address 10.10.30.1;\n  local-as 64512;\n  peer-as 64512;\n  family {{\n    ipv4 mpls-vpn;\n    ipv6 mpls-vpn;\n  }}\n  api {{\n    processes [ announce ];\n  }}\n}}\n",
            fifo.display()
        ),
    )
    .unwrap();
    let _exa = Proc::spawn(
        "exabgp",
        &exa_ns,
        "env",
        &[
            "exabgp.daemon.daemonize=false",
            "exabgp.daemon.user=root",
            "exabgp.api.cli=false",
            &format!(
                "exabgp.log.destination={}",
                dir.path().join("exa.log").display()
            ),
            "exabgp",
            exa_conf.to_str().unwrap(),
        ],
        &dir.path().join("exa.out"),
    );
    let bird_conf = dir.path().join("bird.conf");
    std::fs::write(
        &bird_conf,
        "router id 10.10.40.1;\nprotocol device { }\nvpn4 table vpntab;\nprotocol static {\n  vpn4 { table vpntab; };\n  route 64512:30 10.3.0.0/24 via 10.10.40.254 mpls 300;\n}\nprotocol bgp ferry {\n  local 10.10.40.1 as 64512;\n  neighbor 10.10.25.42 as 64512;\n  vpn4 mpls { table vpntab; import all; export all; next hop keep; };\n}\n",
    )
    .unwrap();
    let bird_sock = dir.path().join("bird.ctl");
    let _bird = Proc::spawn(
        "bird",
        &bird_ns,
        "bird",
        &[
            "-f",
            "-c",
            bird_conf.to_str().unwrap(),
            "-s",
            bird_sock.to_str().unwrap(),
            "-P",
            dir.path().join("bird.pid").to_str().unwrap(),
        ],
        &dir.path().join("bird.log"),
    );
    rr.wait_established(&["10.10.30.1", "10.10.40.1"]);

    // ExaBGP's API: one line per command, read by its `cat` process.
    let mut api = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    use std::io::Write;
    writeln!(api, "announce route 10.2.0.0/24 rd 64512:20 label 200 next-hop 10.10.30.1 extended-community target:64512:20").unwrap();
    writeln!(api, "announce route 2001:db8:2::/64 rd 64512:20 label 201 next-hop 2001:db8::30:1 extended-community target:64512:20").unwrap();

    let routes = eventually(
        "ExaBGP's and BIRD's routes at Ferry",
        Duration::from_secs(30),
        || {
            let r = rr.routes(&[]);
            if r.len() >= 3 {
                Ok(r)
            } else {
                Err(format!("{r:?}"))
            }
        },
    );
    let find = |p: &str| {
        routes
            .iter()
            .find(|r| r["prefix"] == p)
            .unwrap_or_else(|| panic!("{p} missing: {routes:?}"))
            .clone()
    };
    let exa4 = find("10.2.0.0/24");
    assert_eq!(
        (
            exa4["family"].as_str(),
            exa4["rd"].as_str(),
            exa4["label"].as_u64()
        ),
        (Some("inet-vpn"), Some("64512:20"), Some(200))
    );
    assert_eq!(exa4["next-hop"], "10.10.30.1");
    assert_eq!(exa4["extended-communities"][0], "target:64512:20");
    let exa6 = find("2001:db8:2::/64");
    assert_eq!(
        (exa6["family"].as_str(), exa6["label"].as_u64()),
        (Some("inet6-vpn"), Some(201))
    );
    assert_eq!(exa6["next-hop"], "2001:db8::30:1");
    let bird = find("10.3.0.0/24");
    assert_eq!(
        (
            bird["rd"].as_str(),
            bird["label"].as_u64(),
            bird["from"].as_str()
        ),
        (Some("64512:30"), Some(300), Some("10.10.40.1"))
    );
    // `next hop keep`: the static route's next hop and label travel unchanged.
    assert_eq!(bird["next-hop"], "10.10.40.254");

    // BIRD gets ExaBGP's route through the reflector.
    eventually("ExaBGP's route at BIRD", Duration::from_secs(30), || {
        let out = output(
            "birdc",
            &[
                "-s",
                bird_sock.to_str().unwrap(),
                "show",
                "route",
                "table",
                "vpntab",
                "all",
            ],
        );
        let t = String::from_utf8_lossy(&out.stdout).into_owned();
        if t.contains("64512:20 10.2.0.0/24")
            && t.contains("BGP.originator_id: 10.10.30.1")
            && t.contains("BGP.cluster_list: 10.10.25.42")
        {
            Ok(())
        } else {
            Err(t)
        }
    });
    // And the withdrawal.
    writeln!(
        api,
        "withdraw route 10.2.0.0/24 rd 64512:20 label 200 next-hop 10.10.30.1"
    )
    .unwrap();
    eventually("the withdrawal at BIRD", Duration::from_secs(30), || {
        let out = output(
            "birdc",
            &[
                "-s",
                bird_sock.to_str().unwrap(),
                "show",
                "route",
                "table",
                "vpntab",
            ],
        );
        let t = String::from_utf8_lossy(&out.stdout).into_owned();
        if t.contains("10.2.0.0/24") {
            Err(t)
        } else {
            Ok(())
        }
    });
}

fn worker_config(addr: &str) -> String {
    format!(
        r#"
router-id = "{addr}"
local-as = 64512
vtep-address = "{addr}"
[[group]]
name = "reflectors"
local-address = "{addr}"
neighbors = ["10.10.25.42"]
[[vrf]]
name = "blue"
vni = 10002
route-target = "11:11"
"#
    )
}

const FRR_RR: &str = "router bgp 64512
 bgp router-id 10.10.25.42
 bgp cluster-id 10.10.25.42
 no bgp default ipv4-unicast
 neighbor clients peer-group
 neighbor clients remote-as 64512
 bgp listen range 10.10.0.0/16 peer-group clients
 address-family ipv4 vpn
  neighbor clients activate
  neighbor clients route-reflector-client
 exit-address-family
 address-family ipv6 vpn
  neighbor clients activate
  neighbor clients route-reflector-client
 exit-address-family
 address-family l2vpn evpn
  neighbor clients activate
  neighbor clients route-reflector-client
 exit-address-family
";

/// The reverse of the first test: FRR is the route reflector, two Ferry
/// workers and a GoBGP node its clients. A pod prefix a Ferry worker
/// originates reaches the other worker and GoBGP as a Type-5 route with
/// every attribute; what GoBGP originates (types 2, 3, VPNv4, VPNv6)
/// reaches the Ferry workers decoded correctly; withdrawals follow.
#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn frr_reflector_with_ferry_clients() {
    require_root("frr_reflector_with_ferry_clients");
    let dir = tempfile::tempdir().unwrap();
    let lan = Lan::new();
    let rr_ns = Netns::new("ffr");
    let w1_ns = Netns::new("fw");
    let w2_ns = Netns::new("fw");
    let gb_ns = Netns::new("fgb");
    lan.attach(&rr_ns, "eth0", "10.10.25.42/16");
    lan.attach(&w1_ns, "eth0", "10.10.93.12/16");
    lan.attach(&w2_ns, "eth0", "10.10.29.243/16");
    lan.attach(&gb_ns, "eth0", "10.10.30.1/16");
    let frr = Frr::start(&rr_ns, dir.path(), "frr-rr", FRR_RR);
    let w1 = Ferry::start(&w1_ns, dir.path(), "w1", &worker_config("10.10.93.12"));
    let w2 = Ferry::start(&w2_ns, dir.path(), "w2", &worker_config("10.10.29.243"));
    let gobgp = GoBgp::start(&gb_ns, dir.path(), "10.10.30.1", &["10.10.25.42"]);
    w1.wait_established(&["10.10.25.42"]);
    w2.wait_established(&["10.10.25.42"]);
    gobgp.wait_established();

    // alpine-cluster-1's addresses, attached on worker 1.
    for p in ["1.1.1.2/30", "abcd::101:102/126"] {
        let a = w1.request(serde_json::json!({"command": "attach", "vrf": "blue", "prefix": p}));
        assert_eq!(a["status"], "ok", "{a}");
    }
    let at_w2 = eventually(
        "worker 1's Type-5 routes at worker 2",
        Duration::from_secs(30),
        || {
            let r = w2.routes(&["--family", "evpn"]);
            if r.len() >= 2 {
                Ok(r)
            } else {
                Err(format!("{r:?}"))
            }
        },
    );
    let v4 = at_w2
        .iter()
        .find(|r| r["prefix"] == "1.1.1.0/30")
        .unwrap_or_else(|| panic!("{at_w2:?}"));
    assert_eq!(
        v4["nlri"],
        "type-5 ip-prefix rd 10.10.93.12:1 esi 0 etag 0 prefix 1.1.1.0/30 gw 0.0.0.0 vni 10002"
    );
    assert_eq!(v4["next-hop"], "10.10.93.12");
    assert_eq!(v4["label"], 10002);
    assert_eq!(v4["originator-id"], "10.10.93.12");
    assert_eq!(v4["cluster-list"], serde_json::json!(["10.10.25.42"]));
    assert_eq!(
        v4["extended-communities"],
        serde_json::json!([
            "target:11:11",
            "encap:vxlan",
            "router-mac:02:00:0a:0a:5d:0c"
        ])
    );
    assert!(
        at_w2.iter().any(|r| r["prefix"] == "abcd::101:100/126"),
        "{at_w2:?}"
    );
    let gb = eventually("worker 1's route at GoBGP", Duration::from_secs(30), || {
        let r = gobgp.rib("evpn");
        if r.contains("1.1.1.0/30") {
            Ok(r)
        } else {
            Err(r)
        }
    });
    assert!(
        gb.contains("02:00:0a:0a:5d:0c") && gb.contains("\"label\":10002"),
        "{gb}"
    );
    let detail = frr.vtysh("show bgp l2vpn evpn route detail type prefix");
    assert!(
        detail.contains("[5]:[0]:[30]:[1.1.1.0] VNI 10002"),
        "{detail}"
    );

    // GoBGP's routes of every other type reach the Ferry workers.
    for a in [
        vec![
            "global",
            "rib",
            "-a",
            "evpn",
            "add",
            "macadv",
            "aa:bb:cc:dd:01:01",
            "1.1.1.2",
            "esi",
            "0",
            "etag",
            "0",
            "label",
            "10002",
            "rd",
            "10.10.30.1:1",
            "rt",
            "11:11",
            "encap",
            "vxlan",
            "nexthop",
            "10.10.30.1",
        ],
        vec![
            "global",
            "rib",
            "-a",
            "evpn",
            "add",
            "multicast",
            "10.10.30.1",
            "etag",
            "0",
            "rd",
            "10.10.30.1:1",
            "rt",
            "11:11",
            "encap",
            "vxlan",
            "pmsi",
            "ingress-repl",
            "10002",
            "10.10.30.1",
            "nexthop",
            "10.10.30.1",
        ],
        vec![
            "global",
            "rib",
            "-a",
            "vpnv4",
            "add",
            "10.1.0.0/24",
            "label",
            "100",
            "rd",
            "64512:10",
            "rt",
            "64512:10",
            "nexthop",
            "10.10.30.1",
        ],
        vec![
            "global",
            "rib",
            "-a",
            "vpnv6",
            "add",
            "2001:db8:1::/64",
            "label",
            "101",
            "rd",
            "64512:10",
            "rt",
            "64512:10",
            "nexthop",
            "10.10.30.1",
        ],
    ] {
        gobgp.cli(&a);
    }
    let all = eventually(
        "GoBGP's routes at worker 2",
        Duration::from_secs(30),
        || {
            let r = w2.routes(&[]);
            if r.len() >= 6 {
                Ok(r)
            } else {
                Err(format!("{r:?}"))
            }
        },
    );
    let nlris: Vec<&str> = all.iter().filter_map(|r| r["nlri"].as_str()).collect();
    for want in [
        "type-2 mac-ip rd 10.10.30.1:1 esi 0 etag 0 mac aa:bb:cc:dd:01:01 ip 1.1.1.2 vni 10002",
        "type-3 inclusive-multicast rd 10.10.30.1:1 etag 0 originator 10.10.30.1",
        "64512:10:10.1.0.0/24 label 100",
        "64512:10:2001:db8:1::/64 label 101",
    ] {
        assert!(nlris.contains(&want), "{want} missing from {nlris:?}");
    }
    assert!(
        all.iter()
            .all(|r| r["cluster-list"] == serde_json::json!(["10.10.25.42"])),
        "{all:?}"
    );

    // Detaching withdraws the route everywhere.
    let d =
        w1.request(serde_json::json!({"command": "detach", "vrf": "blue", "prefix": "1.1.1.2/30"}));
    assert_eq!(d["status"], "ok", "{d}");
    eventually(
        "the withdrawal at worker 2",
        Duration::from_secs(30),
        || {
            let r: Vec<_> = w2
                .routes(&["--family", "evpn", "--prefix", "1.1.1.0/30"])
                .into_iter()
                .filter(|r| r["nlri"].as_str().is_some_and(|n| n.starts_with("type-5")))
                .collect();
            if r.is_empty() {
                Ok(())
            } else {
                Err(format!("{r:?}"))
            }
        },
    );
    // An unknown VRF is refused with a message naming it.
    let e = w1
        .request(serde_json::json!({"command": "attach", "vrf": "green", "prefix": "1.1.1.2/30"}));
    assert!(e["message"].as_str().unwrap_or("").contains("green"), "{e}");
}
