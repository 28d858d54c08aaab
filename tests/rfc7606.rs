//! Crafted UPDATEs from a raw test peer, one per error case of RFC 7606
//! and RFC 4271 §6: the reflector answers as the RFC says — treat-as-
//! withdraw keeps the session and removes the route, attribute discard
//! keeps both, a session reset sends the right NOTIFICATION — and another
//! peer's route is never touched.

use std::net::Ipv4Addr;
use std::time::Duration;

use ferry_tests::{block_in, raw, require_root, type5_update, Ferry, Lan, Netns, RR};
use ferry_wire::Message;

/// A Type-5 UPDATE with ORIGIN, AS_PATH, extended communities and
/// MP_REACH_NLRI only, encoded.
fn base(prefix: &str, vtep: Ipv4Addr) -> Vec<u8> {
    let mut u = type5_update(prefix, vtep);
    u.attributes.local_pref = None;
    Message::Update(u)
        .to_bytes(&Default::default())
        .unwrap()
        .to_vec()
}

/// Appends raw attribute octets to an encoded UPDATE (no withdrawn
/// routes, no IPv4 NLRI), fixing both lengths.
fn with_attribute(update: &[u8], attr: &[u8]) -> Vec<u8> {
    let mut out = update.to_vec();
    out.extend_from_slice(attr);
    let total = out.len() as u16;
    out[16..18].copy_from_slice(&total.to_be_bytes());
    let alen = u16::from_be_bytes([out[21], out[22]]) + attr.len() as u16;
    out[21..23].copy_from_slice(&alen.to_be_bytes());
    out
}

/// What the RFC says must happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// RFC 7606 treat-as-withdraw: session up, route gone.
    Withdraw,
    /// RFC 7606 attribute discard: session up, route kept.
    Discard,
    /// Session reset with this NOTIFICATION code and subcode.
    Reset(u8, u8),
}

#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn every_error_case_gets_its_rfc_answer() {
    require_root("every_error_case_gets_its_rfc_answer");
    let dir = tempfile::tempdir().unwrap();
    let lan = Lan::new();
    let rr_ns = Netns::new("f7");
    let cl_ns = Netns::new("f7");
    lan.attach(&rr_ns, "eth0", "10.10.25.42/16");
    lan.attach(&cl_ns, "eth0", "10.10.93.12/16");
    cl_ns.addr("eth0", "10.10.93.99/16");
    let rr = Ferry::start(&rr_ns, dir.path(), "rr", RR);
    let ferry = &rr;

    let route = base("1.1.1.0/30", Ipv4Addr::new(10, 10, 93, 12));
    let agg = [0xc0, 7, 8, 0, 0, 0xfc, 0, 10, 10, 93, 12];
    let cases: Vec<(&str, Vec<u8>, Answer)> = vec![
        (
            "ORIGIN value 7 (RFC 7606 §7.1)",
            {
                let mut b = route.clone();
                let at = b.windows(4).position(|w| w == [0x40, 1, 1, 0]).unwrap();
                b[at + 3] = 7;
                b
            },
            Answer::Withdraw,
        ),
        (
            "MED of 3 octets (§7.4)",
            with_attribute(&route, &[0x80, 4, 3, 0, 0, 1]),
            Answer::Withdraw,
        ),
        (
            "LOCAL_PREF of 2 octets (§7.5)",
            with_attribute(&route, &[0x40, 5, 2, 0, 100]),
            Answer::Withdraw,
        ),
        (
            "ATOMIC_AGGREGATE of 1 octet (§7.6)",
            with_attribute(&route, &[0x40, 6, 1, 0]),
            Answer::Discard,
        ),
        (
            "AGGREGATOR of 5 octets (§7.7)",
            with_attribute(&route, &[0xc0, 7, 5, 0, 0, 10, 10, 93]),
            Answer::Discard,
        ),
        (
            "a good AGGREGATOR is kept",
            with_attribute(&route, &agg),
            Answer::Discard,
        ),
        (
            "ORIGINATOR_ID of 3 octets (§7.9)",
            with_attribute(&route, &[0x80, 9, 3, 1, 2, 3]),
            Answer::Withdraw,
        ),
        (
            "CLUSTER_LIST of 5 octets (§7.10)",
            with_attribute(&route, &[0x80, 10, 5, 1, 2, 3, 4, 5]),
            Answer::Withdraw,
        ),
        (
            "COMMUNITIES of 3 octets (§7.8)",
            with_attribute(&route, &[0xc0, 8, 3, 0, 1, 2]),
            Answer::Withdraw,
        ),
        (
            "an unknown optional transitive attribute is kept",
            with_attribute(&route, &[0xc0, 200, 2, 1, 2]),
            Answer::Discard,
        ),
        (
            "an unrecognized well-known attribute (RFC 4271 §6.3)",
            with_attribute(&route, &[0x40, 201, 1, 0]),
            Answer::Reset(3, 2),
        ),
        (
            "attribute length past the end (§4)",
            {
                let mut b = with_attribute(&route, &[0xc0, 200, 2, 1, 2]);
                let n = b.len();
                b[n - 3] = 40;
                b
            },
            Answer::Withdraw,
        ),
        (
            "MP_REACH_NLRI twice (§3.g)",
            {
                // After the 23 octets of header and lengths, the attributes.
                let mut at = 23;
                let attr = loop {
                    let (flags, code) = (route[at], route[at + 1]);
                    let (len, head) = if flags & 0x10 != 0 {
                        (
                            u16::from_be_bytes([route[at + 2], route[at + 3]]) as usize,
                            4,
                        )
                    } else {
                        (route[at + 2] as usize, 3)
                    };
                    if code == 14 {
                        break route[at..at + head + len].to_vec();
                    }
                    at += head + len;
                };
                with_attribute(&route, &attr)
            },
            Answer::Reset(3, 1),
        ),
        (
            "MP_REACH_NLRI with an NLRI running past its end (§7.11)",
            {
                let mut b = route.clone();
                let n = b.len();
                // The route's length octet (RFC 7432 §7): past the attribute.
                let at = b.iter().rposition(|x| *x == 34).unwrap_or(n - 35);
                b[at] = 200;
                b
            },
            Answer::Reset(3, 9),
        ),
        (
            "a bad marker (RFC 4271 §6.1)",
            {
                let mut b = route.clone();
                b[0] = 0;
                b
            },
            Answer::Reset(1, 1),
        ),
        (
            "a message length of 18 (§6.1)",
            {
                let mut b = route.clone();
                b[16..18].copy_from_slice(&18u16.to_be_bytes());
                b
            },
            Answer::Reset(1, 2),
        ),
        (
            "message type 9 (§6.1)",
            {
                let mut b = route.clone();
                b[18] = 9;
                b
            },
            Answer::Reset(1, 3),
        ),
    ];

    let results = block_in(&cl_ns, move || async move {
        let rr = Ipv4Addr::new(10, 10, 25, 42);
        let count = |prefix: &str| {
            ferry
                .routes(&["--family", "evpn", "--prefix", prefix])
                .len()
        };
        // The bystander: another peer with its own route.
        let other = Ipv4Addr::new(10, 10, 93, 99);
        let mut bystander = raw::connect(other, rr, other).await.unwrap();
        bystander
            .send_raw(&base("9.9.9.0/24", other))
            .await
            .unwrap();
        let mut results = Vec::new();
        for (name, bytes, want) in cases {
            let me = Ipv4Addr::new(10, 10, 93, 12);
            let mut s = raw::connect(me, rr, me).await.unwrap();
            s.send_raw(&route).await.unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await;
            let before = count("1.1.1.0/30");
            s.send_raw(&bytes).await.unwrap();
            // A KEEPALIVE round trip tells whether the session lives.
            let mut got = None;
            let deadline = tokio::time::Instant::now() + Duration::from_millis(1500);
            while tokio::time::Instant::now() < deadline {
                match s.recv(Duration::from_millis(300)).await {
                    Ok(Message::Notification(n)) => {
                        got = Some(Answer::Reset(n.code, n.subcode));
                        break;
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break,
                    Err(_) => break,
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            let after = count("1.1.1.0/30");
            let answer = got.unwrap_or(if after == 0 {
                Answer::Withdraw
            } else {
                Answer::Discard
            });
            let bystander_ok = count("9.9.9.0/24") == 1;
            results.push((name, want, answer, before, bystander_ok));
            drop(s);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let _ = bystander.send(&Message::Keepalive).await;
        results
    });
    let mut failures = Vec::new();
    for (name, want, got, before, bystander_ok) in &results {
        eprintln!("{name}: expected {want:?}, got {got:?}");
        if want != got || *before != 1 || !bystander_ok {
            failures.push(format!("{name}: expected {want:?}, got {got:?} (route before: {before}, bystander kept: {bystander_ok})"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
