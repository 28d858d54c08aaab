//! UPDATEs too large for a client: a reflected message grows by
//! ORIGINATOR_ID and CLUSTER_LIST, and a peer with extended messages (RFC
//! 8654) may send 65535 octets to a reflector whose other clients take
//! only 4096. Ferry splits the NLRI over as many UPDATEs as needed, never
//! sends a message longer than the client accepts, and counts the paths
//! whose attributes alone cannot fit. The clients: BIRD 2 and GoBGP
//! (neither announces extended messages) and a raw sink that does.

use std::net::Ipv4Addr;
use std::time::Duration;

use ferry_tests::{
    block_in, encode_extended, eventually, pad_to, raw, require_root, vpnv4_update, with_attribute,
    Bird, Ferry, GoBgp, Lan, Netns, RR,
};
use ferry_wire::message::Capability;
use ferry_wire::{Message, Nlri, Open};

const RR_ADDR: Ipv4Addr = Ipv4Addr::new(10, 10, 25, 42);

/// `count` consecutive /24s from `first`.
fn prefixes(first: Ipv4Addr, count: u32) -> Vec<ipnet::Ipv4Net> {
    (0..count)
        .map(|i| ipnet::Ipv4Net::new(Ipv4Addr::from(u32::from(first) + (i << 8)), 24).unwrap())
        .collect()
}

/// BIRD's networks of table vpntab, per route distinguisher.
fn bird_networks(bird: &Bird, rd: &str) -> usize {
    bird.birdc(&["show", "route", "table", "vpntab"])
        .lines()
        .filter(|l| l.split_whitespace().next() == Some(rd))
        .count()
}

/// GoBGP's VPNv4 routes per route distinguisher (`RD:prefix` keys).
fn gobgp_networks(gobgp: &GoBgp, rd: &str) -> usize {
    let rib: serde_json::Value =
        serde_json::from_str(&gobgp.rib("vpnv4")).unwrap_or(serde_json::Value::Null);
    rib.as_object()
        .map(|m| {
            m.keys()
                .filter(|k| k.starts_with(&format!("{rd}:")))
                .count()
        })
        .unwrap_or(0)
}

/// What an extended-message sink client got: every message decoded, the
/// longest one, and the VPN NLRI per RD.
#[derive(Debug, Default)]
struct Sink {
    messages: usize,
    longest: usize,
    nlri: std::collections::HashMap<String, usize>,
    error: Option<String>,
}

#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn oversize_updates_are_split_or_held_back_per_client() {
    require_root("oversize_updates_are_split_or_held_back_per_client");
    const A: u32 = 260;
    const BIG: u32 = 4300;
    let dir = tempfile::tempdir().unwrap();
    let lan = Lan::new();
    let rr_ns = Netns::new("fhc");
    let cl_ns = Netns::new("fhc");
    let bird_ns = Netns::new("fhc");
    lan.attach(&rr_ns, "eth0", "10.10.25.42/16");
    lan.attach(&cl_ns, "eth0", "10.10.93.12/16");
    cl_ns.addr("eth0", "10.10.93.77/16");
    lan.attach(&bird_ns, "eth0", "10.10.40.1/16");
    let gobgp_ns = Netns::new("fhc");
    lan.attach(&gobgp_ns, "eth0", "10.10.60.1/16");
    let rr = Ferry::start(&rr_ns, dir.path(), "rr", RR);
    // GoBGP without extended messages: a wrapped or oversize length resets it.
    let gobgp = GoBgp::start(&gobgp_ns, dir.path(), "10.10.60.1", &["10.10.25.42"]);
    let bird = Bird::start(
        &bird_ns,
        dir.path(),
        "router id 10.10.40.1;\nprotocol device { }\nprotocol direct { ipv4; }\nvpn4 table vpntab;\nprotocol bgp ferry {\n  local 10.10.40.1 as 64512;\n  neighbor 10.10.25.42 as 64512;\n  vpn4 mpls { table vpntab; import all; export none; next hop keep; };\n}\n",
    );
    rr.wait_established(&["10.10.40.1", "10.10.60.1"]);
    gobgp.wait_established();
    for client in ["10.10.40.1", "10.10.60.1"] {
        let caps = rr.neighbor(client).unwrap()["peer-capabilities"].to_string();
        assert!(
            !caps.contains("extended-message"),
            "{client} announced extended messages: {caps}"
        );
    }

    let (inj, sink_addr) = (Ipv4Addr::new(10, 10, 93, 12), Ipv4Addr::new(10, 10, 93, 77));
    let extended = |me: Ipv4Addr| {
        let mut caps = raw::capabilities(64512);
        caps.push(Capability::ExtendedMessage);
        Open::new(64512, 90, me, caps)
    };
    block_in(&cl_ns, || async {
        let mut s = raw::connect_with(sink_addr, RR_ADDR, extended(sink_addr))
            .await
            .unwrap();
        assert!(s.extended_message);
        let sink = tokio::spawn(async move {
            let mut got = Sink::default();
            let end = tokio::time::Instant::now() + Duration::from_secs(15);
            while tokio::time::Instant::now() < end {
                if got.nlri.values().sum::<usize>() == (A + BIG + 1) as usize {
                    break;
                }
                match s.recv_raw(Duration::from_millis(500)).await {
                    Ok(m) => {
                        got.messages += 1;
                        got.longest = got.longest.max(m.len());
                        match Message::decode(&m, &s.decode_context()) {
                            Ok(Message::Update(u)) => {
                                for e in u.announced() {
                                    if let Nlri::Vpn(v) = &e.nlri {
                                        *got.nlri.entry(v.rd.to_string()).or_default() += 1;
                                    }
                                }
                            }
                            Ok(_) => {}
                            Err(e) => {
                                got.error = Some(format!("message {}: {e}", got.messages));
                                break;
                            }
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(e) => {
                        got.error = Some(e.to_string());
                        break;
                    }
                }
            }
            got
        });
        let mut i = raw::connect_with(inj, RR_ADDR, extended(inj))
            .await
            .unwrap();
        assert!(i.extended_message);
        // (a) 4096 octets exactly: legal for every client, 4110 reflected.
        let a = encode_extended(vpnv4_update(
            inj,
            "64512:1",
            prefixes(Ipv4Addr::new(10, 1, 0, 0), A),
        ));
        i.send_raw(&pad_to(&a, 4096)).await.unwrap();
        // (b) one path whose 1100 communities alone take 4400 octets.
        let b = encode_extended(vpnv4_update(
            inj,
            "64512:3",
            prefixes(Ipv4Addr::new(10, 3, 0, 0), 1),
        ));
        let mut communities = vec![0xd0, 8];
        communities.extend_from_slice(&4400u16.to_be_bytes());
        for n in 0..1100u32 {
            communities.extend_from_slice(&((64512 << 16) | n).to_be_bytes());
        }
        i.send_raw(&with_attribute(&b, &communities)).await.unwrap();
        // (c) 65535 octets: 4300 NLRI.
        let c = encode_extended(vpnv4_update(
            inj,
            "64512:2",
            prefixes(Ipv4Addr::new(10, 64, 0, 0), BIG),
        ));
        i.send_raw(&pad_to(&c, 65535)).await.unwrap();
        let got = sink.await.unwrap();
        eprintln!(
            "sink: {} messages, longest {}, {:?}",
            got.messages, got.longest, got.nlri
        );
        assert_eq!(got.error, None, "{got:?}");
        assert!(got.longest <= 65535);
        assert_eq!(got.nlri.get("64512:1"), Some(&(A as usize)), "{got:?}");
        assert_eq!(got.nlri.get("64512:2"), Some(&(BIG as usize)), "{got:?}");
        assert_eq!(got.nlri.get("64512:3"), Some(&1), "{got:?}");
        // BIRD, with the injector still connected.
        let got = eventually("the routes at BIRD", Duration::from_secs(30), || {
            let (a, big) = (
                bird_networks(&bird, "64512:1"),
                bird_networks(&bird, "64512:2"),
            );
            if a == A as usize && big == BIG as usize {
                Ok((a, big))
            } else {
                let all = bird.birdc(&["show", "route", "table", "vpntab", "all"]);
                let proto = bird.birdc(&["show", "protocols", "all", "ferry"]);
                Err(format!(
                    "{a} of {A} and {big} of {BIG}; BIRD:\n{}\n{}\nFerry log:\n{}",
                    all.chars().take(1500).collect::<String>(),
                    proto,
                    rr.proc.log_text().chars().take(3000).collect::<String>()
                ))
            }
        });
        eprintln!("BIRD: {got:?}");
        let got = eventually("the routes at GoBGP", Duration::from_secs(30), || {
            let (a, big) = (
                gobgp_networks(&gobgp, "64512:1"),
                gobgp_networks(&gobgp, "64512:2"),
            );
            if a == A as usize && big == BIG as usize {
                Ok((a, big))
            } else {
                Err(format!(
                    "{a} of {A} and {big} of {BIG}; GoBGP: {}",
                    gobgp.cli(&["neighbor", "10.10.25.42"])
                ))
            }
        });
        eprintln!("GoBGP: {got:?}");
        assert_eq!(
            gobgp_networks(&gobgp, "64512:3"),
            0,
            "the oversize path reached GoBGP"
        );
        assert_eq!(
            bird_networks(&bird, "64512:3"),
            0,
            "the oversize path reached BIRD"
        );
        drop(i);
    });

    let protocols = bird.birdc(&["show", "protocols", "all", "ferry"]);
    assert!(protocols.contains("Established"), "{protocols}");
    assert!(!protocols.contains("Bad message length"), "{protocols}");
    let neighbor = gobgp.cli(&["neighbor", "10.10.25.42"]);
    assert!(
        neighbor.to_lowercase().contains("bgp state = established"),
        "{neighbor}"
    );
    for client in ["10.10.40.1", "10.10.60.1"] {
        let n = rr.neighbor(client).unwrap();
        assert_eq!(n["state"], "Established", "{n}");
        assert_eq!(n["flaps"], 0, "{n}");
        assert!(
            n["oversize-paths-not-sent"].as_u64().unwrap_or(0) >= 1,
            "show neighbor {client}: {n}"
        );
    }
}
