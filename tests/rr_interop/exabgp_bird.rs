//! ExaBGP and BIRD 2 as clients of the Ferry reflector, with the VPN
//! families they carry.

use std::time::Duration;

use ferry_tests::{eventually, require_root, run, Bird, Ferry, Lan, Netns, Proc};

use super::rr_config;

pub(crate) fn exabgp_and_bird_clients_with_vpn_routes() {
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
    let bird_peer = Bird::start(
        &bird_ns,
        dir.path(),
        "router id 10.10.40.1;\nprotocol device { }\nvpn4 table vpntab;\nprotocol static {\n  vpn4 { table vpntab; };\n  route 64512:30 10.3.0.0/24 via 10.10.40.254 mpls 300;\n}\nprotocol bgp ferry {\n  local 10.10.40.1 as 64512;\n  neighbor 10.10.25.42 as 64512;\n  vpn4 mpls { table vpntab; import all; export all; next hop keep; };\n}\n",
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
    // `birdc show route table vpntab`, with `more` words.
    let vpntab = |more: &[&str]| {
        bird_peer.birdc(&[&["show", "route", "table", "vpntab"][..], more].concat())
    };
    eventually("ExaBGP's route at BIRD", Duration::from_secs(30), || {
        let t = vpntab(&["all"]);
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
        let t = vpntab(&[]);
        if t.contains("10.2.0.0/24") {
            Err(t)
        } else {
            Ok(())
        }
    });
}
