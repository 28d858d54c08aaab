//! Session security: TCP MD5 signatures (RFC 2385) against FRR, and GTSM
//! (RFC 5082).

use std::net::Ipv4Addr;
use std::time::Duration;

use ferry_tests::{block_in, eventually, raw, require_root, Ferry, Frr, Lan, Netns};

fn rr_config(extra: &str) -> String {
    format!("{}families = [\"evpn\"]\n{extra}\n", ferry_tests::RR)
}

fn frr(addr: &str, password: &str) -> String {
    format!(
        "router bgp 64512
 bgp router-id {addr}
 no bgp default ipv4-unicast
 neighbor 10.10.25.42 remote-as 64512
 neighbor 10.10.25.42 update-source {addr}
 neighbor 10.10.25.42 password {password}
 neighbor 10.10.25.42 timers connect 1
 address-family l2vpn evpn
  neighbor 10.10.25.42 activate
 exit-address-family
"
    )
}

#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn tcp_md5_lets_the_right_key_in_and_nothing_else() {
    require_root("tcp_md5_lets_the_right_key_in_and_nothing_else");
    let dir = tempfile::tempdir().unwrap();
    let lan = Lan::new();
    let rr_ns = Netns::new("fs");
    let good_ns = Netns::new("fs");
    let bad_ns = Netns::new("fs");
    lan.attach(&rr_ns, "eth0", "10.10.25.42/16");
    lan.attach(&good_ns, "eth0", "10.10.93.12/16");
    lan.attach(&bad_ns, "eth0", "10.10.29.243/16");
    let rr = Ferry::start(
        &rr_ns,
        dir.path(),
        "rr",
        &rr_config("authentication-key = \"s3cret-key\""),
    );
    let _good = Frr::start(
        &good_ns,
        dir.path(),
        "good",
        &frr("10.10.93.12", "s3cret-key"),
    );
    let _bad = Frr::start(
        &bad_ns,
        dir.path(),
        "bad",
        &frr("10.10.29.243", "wrong-key"),
    );
    rr.wait_established(&["10.10.93.12"]);
    // Without the key no segment is even accepted: the wrong-key peer
    // never shows up, however long it tries.
    std::thread::sleep(Duration::from_secs(8));
    let sessions = rr.sessions();
    assert!(
        sessions.iter().all(|(a, ..)| a != "10.10.29.243"),
        "{sessions:?}"
    );
    // A client without MD5 is not accepted either.
    assert!(
        !session_from(&lan_client(&lan)),
        "a session without MD5 came up"
    );
}

/// Whether a raw client at 10.10.30.1 in `ns` gets a session with the
/// reflector within 5 s.
fn session_from(ns: &Netns) -> bool {
    let r = block_in(ns, || async {
        tokio::time::timeout(
            Duration::from_secs(5),
            raw::connect(
                Ipv4Addr::new(10, 10, 30, 1),
                Ipv4Addr::new(10, 10, 25, 42),
                Ipv4Addr::new(10, 10, 30, 1),
            ),
        )
        .await
    });
    matches!(r, Ok(Ok(_)))
}

/// A namespace on the LAN at 10.10.30.1 (kept alive by a leaked handle
/// for the duration of the test process: the LAN's drop removes its link).
fn lan_client(lan: &Lan) -> Netns {
    let ns = Netns::new("fs");
    lan.attach(&ns, "eth0", "10.10.30.1/16");
    ns
}

#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn gtsm_accepts_only_neighbours_one_hop_away_sending_ttl_255() {
    require_root("gtsm_accepts_only_neighbours_one_hop_away_sending_ttl_255");
    let dir = tempfile::tempdir().unwrap();
    let lan = Lan::new();
    let rr_ns = Netns::new("fs");
    let w_ns = Netns::new("fs");
    lan.attach(&rr_ns, "eth0", "10.10.25.42/16");
    lan.attach(&w_ns, "eth0", "10.10.93.12/16");
    let rr = Ferry::start(&rr_ns, dir.path(), "rr", &rr_config("ttl-security = 1"));
    let worker = r#"
router-id = "10.10.93.12"
local-as = 64512
kernel-sync = false
[[group]]
name = "reflectors"
local-address = "10.10.93.12"
neighbors = ["10.10.25.42"]
families = ["evpn"]
ttl-security = 1
"#;
    let w = Ferry::start(&w_ns, dir.path(), "w", worker);
    rr.wait_established(&["10.10.93.12"]);
    w.wait_established(&["10.10.25.42"]);
    // An ordinary client sends with TTL 64: its segments are dropped.
    let client = lan_client(&lan);
    assert!(
        !session_from(&client),
        "a client sending TTL 64 got a session"
    );
    eventually(
        "the client is not Established",
        Duration::from_secs(1),
        || {
            if rr
                .sessions()
                .iter()
                .any(|(a, s, ..)| a == "10.10.30.1" && s == "Established")
            {
                Err("established".to_string())
            } else {
                Ok(())
            }
        },
    );
}

/// A raw client announcing `n` Type-5 routes, then waiting for what comes.
fn announce(ns: &Netns, me: Ipv4Addr, n: u8) -> Option<(u8, u8)> {
    block_in(ns, move || async move {
        let rr = Ipv4Addr::new(10, 10, 25, 42);
        // The reflector may not have seen the previous connection from
        // this address end yet (an Established session keeps a new
        // connection out, RFC 4271 §6.8): try again, as a peer's
        // connect-retry would.
        let mut tries = 0;
        let mut s = loop {
            match raw::connect(me, rr, me).await {
                Ok(s) => break s,
                Err(e) if tries < 20 => {
                    tries += 1;
                    eprintln!("connect from {me}: {e}; again");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => panic!("connect from {me}: {e}"),
            }
        };
        for i in 0..n {
            let u = ferry_wire::Update {
                attributes: ferry_wire::PathAttributes {
                    origin: Some(ferry_wire::Origin::Igp),
                    as_path: Some(Default::default()),
                    ..Default::default()
                },
                mp_reach: Some(ferry_wire::MpReachNlri {
                    family: ferry_wire::Family::VPNV4,
                    next_hop: ferry_wire::NextHop::Ipv4(me),
                    nlri: vec![ferry_wire::NlriEntry::new(ferry_wire::Nlri::Vpn(
                        ferry_wire::VpnPrefix {
                            labels: ferry_wire::LabelStack::single(ferry_wire::Label::mpls(100)),
                            rd: format!("{me}:1").parse().unwrap(),
                            prefix: format!("10.{i}.0.0/16").parse().unwrap(),
                        },
                    ))],
                    undecoded: Vec::new(),
                }),
                ..Default::default()
            };
            s.send(&ferry_wire::Message::Update(u)).await.unwrap();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while tokio::time::Instant::now() < deadline {
            match s.recv(Duration::from_millis(500)).await {
                Ok(ferry_wire::Message::Notification(n)) => return Some((n.code, n.subcode)),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return None,
            }
        }
        None
    })
}

#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn prefix_limits_warn_or_tear_down() {
    require_root("prefix_limits_warn_or_tear_down");
    let dir = tempfile::tempdir().unwrap();
    let lan = Lan::new();
    let rr_ns = Netns::new("fs");
    let cl_ns = Netns::new("fs");
    lan.attach(&rr_ns, "eth0", "10.10.25.42/16");
    lan.attach(&cl_ns, "eth0", "10.10.93.12/16");
    cl_ns.addr("eth0", "10.10.94.12/16");
    let config = r#"
router-id = "10.10.25.42"
local-as = 64512
cluster-id = "10.10.25.42"
[[group]]
name = "strict"
local-address = "10.10.25.42"
route-reflector-client = true
allow = ["10.10.93.0/24"]
[group.prefix-limit.inet-vpn]
maximum = 2
teardown = true
[[group]]
name = "lenient"
local-address = "10.10.25.42"
route-reflector-client = true
allow = ["10.10.94.0/24"]
[group.prefix-limit.inet-vpn]
maximum = 2
"#;
    let rr = Ferry::start(&rr_ns, dir.path(), "rr", config);
    // Within the limit: nothing happens.
    assert_eq!(announce(&cl_ns, Ipv4Addr::new(10, 10, 93, 12), 2), None);
    // Past it: Cease / Maximum Number of Prefixes Reached (RFC 4486).
    assert_eq!(
        announce(&cl_ns, Ipv4Addr::new(10, 10, 93, 12), 3),
        Some((6, 1))
    );
    // Warn-only: the session stays and `show neighbor` says why.
    let lenient = Ipv4Addr::new(10, 10, 94, 12);
    assert_eq!(announce(&cl_ns, lenient, 3), None);
    let log = rr.proc.log_text();
    assert!(
        log.contains("prefix limit passed (warning only)") && log.contains("10.10.94.12"),
        "{log}"
    );
    assert!(
        log.contains("prefix limit reached: closing the session"),
        "{log}"
    );
}
