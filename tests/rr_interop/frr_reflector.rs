//! FRR as the route reflector, with two Ferry workers and a GoBGP node as
//! its clients.

use std::time::Duration;

use ferry_tests::{eventually, require_root, Ferry, Frr, GoBgp, Lan, Netns};

use super::{every_type_but_5, gobgp_rib, gobgp_rib_with};

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

pub(crate) fn frr_reflector_with_ferry_clients() {
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
    let gb = gobgp_rib_with(
        &gobgp,
        "evpn",
        "1.1.1.0/30",
        30,
        "worker 1's route at GoBGP",
    );
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
    for a in every_type_but_5("10.10.30.1") {
        gobgp_rib(&gobgp, &a);
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
