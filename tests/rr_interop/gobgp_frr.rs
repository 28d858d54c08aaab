//! GoBGP and FRR as clients of the Ferry reflector, every route type
//! both ways, and tshark's dissector over what Ferry sent.

use std::time::Duration;

use ferry_tests::{eventually, output, require_root, Ferry, Frr, GoBgp, Lan, Netns, Proc};

use super::{every_type_but_5, gobgp_rib, gobgp_rib_with, rr_config, type5, words, RMAC};

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

pub(crate) fn gobgp_and_frr_clients_exchange_every_route_type() {
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

    let node = "10.10.93.12";
    let adds = [
        type5(node, "1.1.1.0/30", "0.0.0.0", RMAC),
        type5(node, "abcd::101:100/126", "::", RMAC),
    ]
    .into_iter()
    .chain(every_type_but_5(node));
    for a in adds {
        let out = gobgp_rib(&gobgp, &a);
        assert!(!out.contains("rror"), "gobgp global rib {a:?}: {out}");
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
    let rib = gobgp_rib_with(
        &gobgp,
        "vpnv4",
        "10.2.0.0/24",
        20,
        "FRR's VPNv4 route at GoBGP",
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
        "-a evpn del prefix 1.1.1.0/30 etag 0 rd 10.10.93.12:1",
        "-a vpnv4 del 10.1.0.0/24 label 100 rd 64512:10",
    ] {
        gobgp_rib(&gobgp, &words(a));
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
