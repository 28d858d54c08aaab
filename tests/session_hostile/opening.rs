//! Peers that leave while the session opens, and OPENs whose AS fields
//! disagree.

use std::net::Ipv4Addr;
use std::time::Duration;

use ferry_tests::{block_in, eventually, raw, require_root, Ferry, Lan, Netns, RR};
use ferry_wire::message::Capability;
use ferry_wire::{Family, Message, Open};

use super::{alive, establish, recv, state_of, worker_open, RR_ADDR};

pub(crate) fn dynamic_neighbors_that_leave_early_are_forgotten_and_never_dialled() {
    require_root("dynamic_neighbors_that_leave_early_are_forgotten_and_never_dialled");
    let dir = tempfile::tempdir().unwrap();
    let lan = Lan::new();
    let rr_ns = Netns::new("fd");
    let cl_ns = Netns::new("fd");
    lan.attach(&rr_ns, "eth0", "10.10.25.42/16");
    lan.attach(&cl_ns, "eth0", "10.10.93.10/16");
    let addrs: Vec<Ipv4Addr> = (100..120).map(|i| Ipv4Addr::new(10, 10, 93, i)).collect();
    for a in &addrs {
        cl_ns.addr("eth0", &format!("{a}/16"));
    }
    // A connect-retry of 1 s: a peer that were to be redialled would be
    // within the test's few seconds.
    let rr = Ferry::start(
        &rr_ns,
        dir.path(),
        "rr",
        &format!("{RR}connect-retry = 1\n"),
    );
    let list = addrs.clone();
    let dials = block_in(&cl_ns, move || async move {
        // Listen on :179 in the peers' namespace to catch any dial.
        let listener = tokio::net::TcpListener::bind("0.0.0.0:179").await.unwrap();
        let (done_tx, mut done) = tokio::sync::oneshot::channel::<()>();
        let counter = tokio::spawn(async move {
            let mut from = Vec::new();
            loop {
                tokio::select! {
                    _ = &mut done => break,
                    a = listener.accept() => match a {
                        Ok((_s, peer)) => from.push(peer),
                        Err(_) => break,
                    },
                }
            }
            from
        });
        // 400 connections: half close at once, half after their OPEN
        // (bgpd in OpenSent, or OpenConfirm), from 20 addresses.
        for round in 0..20 {
            for (i, a) in list.iter().enumerate() {
                let Ok(mut p) = raw::tcp(*a, RR_ADDR, None).await else {
                    continue;
                };
                if (round + i) % 2 == 0 {
                    let _ = p.send(&Message::Open(worker_open(*a, 90, false))).await;
                    let _ = p.recv_raw(Duration::from_millis(200)).await;
                }
                drop(p);
            }
        }
        // Connect-retry is 1 s: a redial would come within 4 s.
        tokio::time::sleep(Duration::from_secs(4)).await;
        let _ = done_tx.send(());
        counter.await.unwrap()
    });
    assert!(
        dials.is_empty(),
        "bgpd dialled allow-range addresses: {dials:?}"
    );
    eventually(
        "early-leaving dynamic neighbours forgotten",
        Duration::from_secs(10),
        || {
            let left: Vec<_> = rr
                .sessions()
                .into_iter()
                .filter(|(a, ..)| a.starts_with("10.10.93."))
                .collect();
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("{} still listed: {left:?}", left.len()))
            }
        },
    );
    // One that reaches Established and then goes is forgotten too.
    let a = addrs[0];
    block_in(&cl_ns, move || async move {
        let p = establish(a, 90, false, None).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        drop(p);
    });
    eventually(
        "the Established dynamic neighbour forgotten",
        Duration::from_secs(10),
        || match state_of(&rr, &a.to_string()) {
            None => Ok(()),
            Some(s) => Err(s),
        },
    );
    assert!(alive(&rr), "bgpd died:\n{}", rr.proc.log_text());
}

pub(crate) fn open_with_disagreeing_as_fields_gets_bad_peer_as() {
    require_root("open_with_disagreeing_as_fields_gets_bad_peer_as");
    let dir = tempfile::tempdir().unwrap();
    let lan = Lan::new();
    let rr_ns = Netns::new("fa");
    let cl_ns = Netns::new("fa");
    lan.attach(&rr_ns, "eth0", "10.10.25.42/16");
    lan.attach(&cl_ns, "eth0", "10.10.93.12/16");
    // The group expects AS 65000 (eBGP) so that My AS 65000 alone would
    // pass; the capability says 64512.
    let rr = Ferry::start(
        &rr_ns,
        dir.path(),
        "rr",
        r#"
router-id = "10.10.25.42"
local-as = 64512
[[group]]
name = "edge"
type = "external"
local-address = "10.10.25.42"
peer-as = 65000
allow = ["10.10.0.0/16"]
"#,
    );
    let me = Ipv4Addr::new(10, 10, 93, 12);
    let answers = block_in(&cl_ns, move || async move {
        let cases: Vec<(&str, Vec<Capability>)> = vec![
            (
                "My AS 65000, 4-octet AS 64512",
                vec![Capability::FourOctetAs { asn: 64512 }],
            ),
            (
                "two 4-octet AS capabilities, 65000 and 64512",
                vec![
                    Capability::FourOctetAs { asn: 65000 },
                    Capability::FourOctetAs { asn: 64512 },
                ],
            ),
            (
                "agreeing fields (control)",
                vec![Capability::FourOctetAs { asn: 65000 }],
            ),
        ];
        let mut out = Vec::new();
        for (name, mut caps) in cases {
            caps.push(Capability::Multiprotocol {
                family: Family::EVPN,
            });
            let mut p = raw::tcp(me, RR_ADDR, None).await.unwrap();
            p.send(&Message::Open(Open::new(65000, 90, me, caps)))
                .await
                .unwrap();
            let mut got = None;
            for _ in 0..4 {
                match recv(&mut p, Duration::from_secs(3)).await {
                    Ok(Message::Notification(n)) => {
                        got = Some((n.code, n.subcode));
                        break;
                    }
                    Ok(Message::Open(_)) => {
                        let _ = p.send(&Message::Keepalive).await;
                    }
                    Ok(Message::Keepalive) => break,
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            out.push((name, got));
            drop(p);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        out
    });
    eprintln!("{answers:?}");
    assert_eq!(answers[0].1, Some((2, 2)), "{}", answers[0].0);
    assert_eq!(answers[1].1, Some((2, 2)), "{}", answers[1].0);
    assert_eq!(answers[2].1, None, "{}", answers[2].0);
    let log = rr.proc.log_text();
    assert!(log.contains("disagrees with the 4-octet AS"), "{log}");
}
