//! Hostile peers and clients: what a misbehaving or malicious neighbour,
//! or a crowd of control-socket clients, may send, and the answer Ferry's
//! route reflector must give — the RFC's NOTIFICATION, a session closed in
//! time, nothing left behind — without disturbing anybody else.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ferry_tests::{
    bin, block_in, encode_extended, eventually, output, raw, require_root, type5_update,
    vpnv4_update, with_attribute, Ferry, Lan, Netns, RR,
};
use ferry_wire::message::Capability;
use ferry_wire::nlri::evpn::{EvpnRoute, IpPrefixRoute};
use ferry_wire::{Message, MpUnreachNlri, Nlri, NlriEntry, Open, Update};

const RR_ADDR: Ipv4Addr = Ipv4Addr::new(10, 10, 25, 42);

/// A reflector at 10.10.25.42 and a client namespace holding `clients`
/// (all on 10.10.0.0/16), removed on drop in this order.
struct Bed {
    rr: Ferry,
    cl: Netns,
    rr_ns: Netns,
    _lan: Lan,
    dir: tempfile::TempDir,
}

impl Bed {
    fn new(prefix: &str, config: &str, clients: &[&str]) -> Bed {
        let dir = tempfile::tempdir().unwrap();
        let lan = Lan::new();
        let rr_ns = Netns::new(prefix);
        let cl = Netns::new(prefix);
        lan.attach(&rr_ns, "eth0", "10.10.25.42/16");
        lan.attach(&cl, "eth0", &format!("{}/16", clients[0]));
        for c in &clients[1..] {
            cl.addr("eth0", &format!("{c}/16"));
        }
        let rr = Ferry::start(&rr_ns, dir.path(), "rr", config);
        Bed {
            rr,
            cl,
            rr_ns,
            _lan: lan,
            dir,
        }
    }

    /// The neighbour's `state` in `show neighbor`, `None` when not listed
    /// (the error printed).
    fn state(&self, addr: &str) -> Option<String> {
        match self.rr.neighbor(addr) {
            Ok(n) => n["state"].as_str().map(str::to_string),
            Err(e) => {
                eprintln!("show neighbor {addr}: {}", e.trim());
                None
            }
        }
    }
}

/// The end of bgpd's log, long lines cut (some hold 64 KiB of hex).
fn log_tail(f: &Ferry) -> String {
    let log = f.proc.log_text();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(15)..]
        .iter()
        .map(|l| l.chars().take(300).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// The OPEN of [`raw::connect`] plus the extended message capability.
fn open_extended(me: Ipv4Addr, hold: u16) -> Open {
    let mut caps = raw::capabilities(64512);
    caps.push(Capability::ExtendedMessage);
    Open::new(64512, hold, me, caps)
}

/// Type-5 routes as (RD, prefix).
type Routes = Vec<(String, String)>;

/// The Type-5 routes an UPDATE announces and withdraws.
fn type5s(u: &Update) -> (Routes, Routes) {
    let key = |e: &NlriEntry| match &e.nlri {
        Nlri::Evpn(EvpnRoute::IpPrefix(IpPrefixRoute { rd, prefix, .. })) => {
            Some((rd.to_string(), prefix.to_string()))
        }
        _ => None,
    };
    (
        u.announced().filter_map(key).collect(),
        u.withdrawn_all().filter_map(key).collect(),
    )
}

/// RFC 8654 §3 and RFC 4271 §6.3: a 65535-octet UPDATE with an
/// unrecognized well-known attribute gets UPDATE Message Error /
/// Unrecognized Well-known Attribute, its data cut to fit one message; the
/// session ends, its routes are withdrawn from the others, the daemon
/// lives and the same address can come back.
#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn extended_update_with_unknown_well_known_attribute_resets_that_session() {
    require_root("extended_update_with_unknown_well_known_attribute_resets_that_session");
    let bed = Bed::new("fh1", RR, &["10.10.93.12", "10.10.93.99"]);
    let (hostile, other) = (ip("10.10.93.12"), ip("10.10.93.99"));
    block_in(&bed.cl, || async {
        let mut bystander = raw::connect(other, RR_ADDR, other).await.unwrap();
        let mut s = raw::connect_with(hostile, RR_ADDR, open_extended(hostile, 90))
            .await
            .unwrap();
        assert!(s.extended_message, "extended message not negotiated");
        s.send(&Message::Update(type5_update("1.1.1.0/30", hostile)))
            .await
            .unwrap();
        let rd = format!("{hostile}:1");
        let seen = |u: &Update, withdrawn: bool| {
            let (a, w) = type5s(u);
            let list = if withdrawn { w } else { a };
            list.contains(&(rd.clone(), "1.1.1.0/30".to_string()))
        };
        loop {
            match bystander.recv(Duration::from_secs(10)).await.unwrap() {
                Message::Update(u) if seen(&u, false) => break,
                _ => {}
            }
        }
        // Well-known flags (optional bit clear), extended length, type 200.
        let base = encode_extended(type5_update("2.2.2.0/24", hostile));
        let n = 65535 - base.len() - 4;
        let mut attr = vec![0x50, 200];
        attr.extend_from_slice(&(n as u16).to_be_bytes());
        attr.resize(4 + n, 0xa5);
        let evil = with_attribute(&base, &attr);
        assert_eq!(evil.len(), 65535);
        s.send_raw(&evil).await.unwrap();
        let answer = s
            .recv_raw(Duration::from_secs(5))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "no NOTIFICATION for the unrecognized well-known attribute: {e}\n{}",
                    log_tail(&bed.rr)
                )
            });
        let len = u16::from_be_bytes([answer[16], answer[17]]) as usize;
        assert_eq!(len, answer.len());
        match Message::decode(&answer, &s.decode_context()) {
            Ok(Message::Notification(n)) => {
                assert_eq!((n.code, n.subcode), (3, 2), "{n}");
                assert!(n.data.len() >= 2 && n.data[1] == 200, "data {:?}", &n.data);
            }
            other => panic!("expected a NOTIFICATION, got {other:?}"),
        }
        // Nothing follows it but the end of the connection.
        let end = s.recv_raw(Duration::from_secs(5)).await;
        assert!(
            matches!(&end, Err(e) if e.kind() != std::io::ErrorKind::TimedOut),
            "after the NOTIFICATION: {end:?}"
        );
        // The bystander loses the hostile peer's route.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            assert!(
                Instant::now() < deadline,
                "the hostile peer's route was not withdrawn from the bystander"
            );
            match bystander.recv(Duration::from_secs(1)).await {
                Ok(Message::Update(u)) if seen(&u, true) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => panic!("bystander session: {e}"),
            }
        }
        assert_ne!(
            bed.state("10.10.93.12").as_deref(),
            Some("Established"),
            "the hostile peer is still Established"
        );
        // The same address may connect again.
        let again = raw::connect(hostile, RR_ADDR, hostile).await;
        assert!(again.is_ok(), "reconnecting: {:?}", again.err());
        bed.rr.wait_established(&["10.10.93.12", "10.10.93.99"]);
        drop(again);
    });
    let mut rr = bed.rr;
    assert!(rr.proc.alive(), "bgpd died: {}", log_tail(&rr));
}

/// The sockets of `ns` in state ESTABLISHED towards `addr`.
fn established_to(ns: &Netns, addr: &str) -> String {
    let out = ns.exec(&["ss", "-Htn", "state", "established", "dst", addr]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// RFC 4271 §6.5: a client that stops reading and sending while the
/// reflector has 200 000 routes to write to it is closed when its hold
/// time (3 s) expires, even though the reflector's writes are blocked.
#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn hold_timer_expires_on_a_client_that_stopped_reading() {
    require_root("hold_timer_expires_on_a_client_that_stopped_reading");
    const ROUTES: u32 = 200_000;
    let bed = Bed::new("fh3", RR, &["10.10.93.12", "10.10.93.50"]);
    let (injector, stuck) = (ip("10.10.93.12"), ip("10.10.93.50"));
    block_in(&bed.cl, || async {
        let mut inj = raw::connect_with(injector, RR_ADDR, open_extended(injector, 90))
            .await
            .unwrap();
        let all: Vec<ipnet::Ipv4Net> = (0..ROUTES)
            .map(|i| ipnet::Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + i), 32).unwrap())
            .collect();
        for chunk in all.chunks(3000) {
            let u = vpnv4_update(injector, "64512:1", chunk.iter().copied());
            inj.send_raw(&encode_extended(u)).await.unwrap();
        }
        eventually(
            "the 200 000 routes in the RIB",
            Duration::from_secs(120),
            || {
                let s = bed.rr.ctl(&["show", "summary"]).unwrap_or_default();
                let paths: u64 = s["tables"]
                    .as_array()
                    .map(|t| t.iter().filter_map(|t| t["total-paths"].as_u64()).sum())
                    .unwrap_or(0);
                if paths >= ROUTES as u64 {
                    Ok(())
                } else {
                    Err(format!("{paths} paths"))
                }
            },
        );
        let mut s = raw::tcp(stuck, RR_ADDR, Some(4096)).await.unwrap();
        let open = Open::new(64512, 3, stuck, raw::capabilities(64512));
        s.handshake(&open).await.unwrap().expect("session up");
        let up = Instant::now();
        // From here the client neither reads nor sends.
        let mut closed = None;
        while up.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let sockets = established_to(&bed.rr_ns, "10.10.93.50");
            let state = bed.state("10.10.93.50");
            if sockets.is_empty() && state.as_deref() != Some("Established") {
                closed = Some(up.elapsed());
                break;
            }
        }
        let closed = closed.unwrap_or_else(|| {
            panic!(
                "5 s after Established (hold time 3 s) the client is still up: socket {:?}, state {:?}",
                established_to(&bed.rr_ns, "10.10.93.50"),
                bed.state("10.10.93.50")
            )
        });
        eprintln!("closed {closed:?} after Established");
        // What was queued drains, then the end of the connection.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            assert!(Instant::now() < deadline, "the client's socket never ended");
            match s.recv_raw(Duration::from_secs(5)).await {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    panic!("the socket is open but silent")
                }
                Err(_) => break,
            }
        }
        drop(inj);
    });
}

/// Dynamic neighbours that connect and go away before their OPEN (or in
/// the middle of it) leave nothing behind: no neighbour entry, and the
/// reflector never dials them.
#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn dynamic_neighbours_that_vanish_in_opensent_leave_nothing() {
    require_root("dynamic_neighbours_that_vanish_in_opensent_leave_nothing");
    const N: u8 = 200;
    let bed = Bed::new("fh4", RR, &["10.10.2.1"]);
    let batch = bed.dir.path().join("addrs");
    let lines: String = (2..=N)
        .map(|i| format!("addr add 10.10.2.{i}/16 dev eth0\n"))
        .collect();
    std::fs::write(&batch, lines).unwrap();
    bed.cl.exec_ok(&["ip", "-batch", batch.to_str().unwrap()]);
    let dialed = block_in(&bed.cl, || async {
        // Anything the reflector dials towards these addresses lands here.
        let listener = tokio::net::TcpListener::bind("0.0.0.0:179").await.unwrap();
        let from = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = from.clone();
        let counter = tokio::spawn(async move {
            while let Ok((_, peer)) = listener.accept().await {
                seen.lock().unwrap().push(peer);
            }
        });
        let open = Message::Open(Open::new(64512, 90, RR_ADDR, raw::capabilities(64512)))
            .to_bytes(&Default::default())
            .unwrap();
        let mut tasks = Vec::new();
        for i in 1..=N {
            let partial = open[..24].to_vec();
            tasks.push(tokio::spawn(async move {
                let me = Ipv4Addr::new(10, 10, 2, i);
                let mut s = raw::tcp(me, RR_ADDR, None).await.unwrap();
                // Ferry's OPEN: it is in OpenSent now.
                let _ = s.recv_raw(Duration::from_secs(5)).await;
                if i % 2 == 0 {
                    s.send_raw(&partial).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
        counter.abort();
        let dialed = from.lock().unwrap().clone();
        dialed
    });
    let listed: Vec<_> = bed
        .rr
        .sessions()
        .into_iter()
        .filter(|(a, ..)| a.starts_with("10.10.2."))
        .collect();
    assert!(
        listed.is_empty() && dialed.is_empty(),
        "{} vanished neighbours still listed, e.g. {:?}; the reflector dialed {} times, e.g. {:?}",
        listed.len(),
        &listed[..listed.len().min(3)],
        dialed.len(),
        &dialed[..dialed.len().min(3)]
    );
}

/// Type-5 routes collected by `s` for `wait`: (RD, prefix) announced and
/// withdrawn, in order.
async fn collect_type5(s: &mut raw::Session, wait: Duration) -> (Routes, Routes) {
    let (mut ann, mut wd) = (Vec::new(), Vec::new());
    let end = Instant::now() + wait;
    while Instant::now() < end {
        match s.recv(Duration::from_millis(200)).await {
            Ok(Message::Update(u)) => {
                let (a, w) = type5s(&u);
                ann.extend(a);
                wd.extend(w);
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("client session: {e}"),
        }
    }
    (ann, wd)
}

/// RFC 9136 §3.1: a Type-5 prefix with host bits set (9.9.2.77/24) is the
/// route 9.9.2.0/24: stored, shown and reflected as such, and withdrawn by
/// the same form from the same peer only.
#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn evpn_type5_prefix_with_host_bits_is_normalised() {
    require_root("evpn_type5_prefix_with_host_bits_is_normalised");
    let bed = Bed::new("fh5", RR, &["10.10.93.12", "10.10.93.13", "10.10.93.14"]);
    let (a, b, c) = (ip("10.10.93.12"), ip("10.10.93.13"), ip("10.10.93.14"));
    block_in(&bed.cl, || async {
        let mut client = raw::connect(c, RR_ADDR, c).await.unwrap();
        let mut pa = raw::connect(a, RR_ADDR, a).await.unwrap();
        let mut pb = raw::connect(b, RR_ADDR, b).await.unwrap();
        pa.send(&Message::Update(type5_update("9.9.2.77/24", a)))
            .await
            .unwrap();
        pb.send(&Message::Update(type5_update("9.9.2.0/24", b)))
            .await
            .unwrap();
        let (mut ann, _) = collect_type5(&mut client, Duration::from_secs(3)).await;
        ann.sort();
        ann.dedup();
        let want = vec![
            (format!("{a}:1"), "9.9.2.0/24".to_string()),
            (format!("{b}:1"), "9.9.2.0/24".to_string()),
        ];
        assert_eq!(ann, want, "what the client received");
        let routes = bed.rr.routes(&["--family", "evpn"]);
        let prefixes: Vec<&str> = routes.iter().filter_map(|r| r["prefix"].as_str()).collect();
        assert_eq!(prefixes, ["9.9.2.0/24", "9.9.2.0/24"], "{routes:?}");
        // The withdrawal in the form it was announced.
        let announced = type5_update("9.9.2.77/24", a).mp_reach.unwrap();
        let withdraw = Update {
            mp_unreach: Some(MpUnreachNlri {
                family: announced.family,
                withdrawn: announced.nlri,
                undecoded: Vec::new(),
            }),
            ..Default::default()
        };
        pa.send(&Message::Update(withdraw)).await.unwrap();
        let (ann, wd) = collect_type5(&mut client, Duration::from_secs(3)).await;
        assert!(ann.is_empty(), "announced after the withdrawal: {ann:?}");
        assert_eq!(wd, [(format!("{a}:1"), "9.9.2.0/24".to_string())]);
        let routes = bed.rr.routes(&["--family", "evpn"]);
        assert_eq!(routes.len(), 1, "{routes:?}");
        assert_eq!(routes[0]["from"], "10.10.93.13", "{routes:?}");
        assert_eq!(routes[0]["prefix"], "9.9.2.0/24", "{routes:?}");
        drop((pa, pb));
    });
}

/// `local-as` cannot change under running sessions: reload keeps them,
/// reports the change as waiting for a restart, and the daemon goes on
/// with the AS it runs.
#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn reload_of_local_as_waits_for_a_restart() {
    require_root("reload_of_local_as_waits_for_a_restart");
    let bed = Bed::new("fh6", RR, &["10.10.93.12", "10.10.93.13"]);
    let (a, b) = (ip("10.10.93.12"), ip("10.10.93.13"));
    block_in(&bed.cl, || async {
        let mut s = raw::connect(a, RR_ADDR, a).await.unwrap();
        bed.rr.wait_established(&["10.10.93.12"]);
        let flaps = bed.rr.neighbor("10.10.93.12").unwrap()["flaps"].clone();
        bed.rr
            .rewrite(&RR.replace("local-as = 64512", "local-as = 64513"));
        let report = bed.rr.ctl(&["reload"]);
        let report = report.unwrap_or_else(|e| panic!("reload: {e}"));
        let pending = report["restart-pending"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            pending.iter().any(|p| p
                .as_str()
                .is_some_and(|p| p.contains("local-as 64513 (running 64512)"))),
            "reload answer: {report}"
        );
        // The session stays: no NOTIFICATION, no end, within 3 s.
        let end = Instant::now() + Duration::from_secs(3);
        while Instant::now() < end {
            match s.recv(Duration::from_millis(300)).await {
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Ok(Message::Keepalive) | Ok(Message::Update(_)) => {}
                other => panic!("after the reload the client got {other:?}"),
            }
        }
        let n = bed.rr.neighbor("10.10.93.12").unwrap();
        assert_eq!(n["state"], "Established", "{n}");
        assert_eq!(n["flaps"], flaps, "{n}");
        let summary = bed.rr.ctl(&["show", "summary"]).unwrap();
        assert_eq!(summary["local-as"], 64512, "{summary}");
        assert!(
            summary["restart-pending"]
                .as_array()
                .is_some_and(|a| !a.is_empty()),
            "summary without restart-pending: {summary}"
        );
        let late = raw::connect(b, RR_ADDR, b).await;
        assert!(late.is_ok(), "a new client as AS 64512: {:?}", late.err());
        drop((s, late));
    });
}

/// RFC 7432 §7: an EVPN route type the reflector does not know is not
/// passed on; the known route of the same UPDATE is.
#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn unknown_evpn_route_type_is_not_reflected() {
    require_root("unknown_evpn_route_type_is_not_reflected");
    let bed = Bed::new("fh7", RR, &["10.10.93.12", "10.10.93.14"]);
    let (a, c) = (ip("10.10.93.12"), ip("10.10.93.14"));
    let marker = [0xde, 0xad, 0xbe, 0xef, 0x77, 0x77, 0x77, 0x77];
    block_in(&bed.cl, || async {
        let mut client = raw::connect(c, RR_ADDR, c).await.unwrap();
        let mut pa = raw::connect(a, RR_ADDR, a).await.unwrap();
        let mut u = type5_update("5.5.5.0/24", a);
        let reach = u.mp_reach.as_mut().unwrap();
        reach.nlri.insert(
            0,
            NlriEntry::new(Nlri::Evpn(EvpnRoute::Unknown {
                route_type: 77,
                value: marker.to_vec(),
            })),
        );
        pa.send(&Message::Update(u)).await.unwrap();
        let (mut known, mut unknown) = (false, false);
        let end = Instant::now() + Duration::from_secs(3);
        while Instant::now() < end {
            match client.recv_raw(Duration::from_millis(200)).await {
                Ok(m) => {
                    unknown |= m.windows(marker.len()).any(|w| w == marker);
                    if let Ok(Message::Update(u)) = Message::decode(&m, &client.decode_context()) {
                        known |= type5s(&u).0.iter().any(|(_, p)| p == "5.5.5.0/24");
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => panic!("client session: {e}"),
            }
        }
        assert!(known, "the Type-5 route of the UPDATE was not reflected");
        assert!(!unknown, "the route of type 77 was reflected");
        drop(pa);
    });
}

/// RFC 6793 §4.1 and RFC 4271 §6.2: an OPEN whose My AS contradicts its
/// 4-octet AS capability, or with two different 4-octet AS capabilities,
/// is refused with OPEN Message Error / Bad Peer AS.
#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn open_with_contradicting_as_numbers_is_refused() {
    require_root("open_with_contradicting_as_numbers_is_refused");
    let bed = Bed::new("fh8", RR, &["10.10.93.12"]);
    let me = ip("10.10.93.12");
    let mut mismatch = Open::new(64512, 90, me, raw::capabilities(64512));
    mismatch.my_as = 65000;
    let mut twice = raw::capabilities(64512);
    twice.push(Capability::FourOctetAs { asn: 64513 });
    let twice = Open::new(64512, 90, me, twice);
    let mut results = Vec::new();
    for (what, open) in [
        ("My AS 65000, 4-octet AS 64512", mismatch),
        ("4-octet AS 64512 and 64513", twice),
    ] {
        let got = block_in(&bed.cl, || async {
            let mut s = raw::tcp(me, RR_ADDR, None).await.unwrap();
            match s.handshake(&open).await {
                Ok(Ok(_)) => "Established".to_string(),
                Ok(Err(n)) => format!("{}/{}", n.code, n.subcode),
                Err(e) => format!("no NOTIFICATION: {e}"),
            }
        });
        results.push(format!("{what}: {got}"));
    }
    assert_eq!(
        results,
        [
            "My AS 65000, 4-octet AS 64512: 2/2",
            "4-octet AS 64512 and 64513: 2/2"
        ]
    );
}

/// `bgpd --check` refuses what cannot work, naming file, key and value.
#[test]
fn check_refuses_contradictions_naming_key_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let vrfs = format!(
        "{RR}[[vrf]]\nname = \"a\"\nvni = 1\nroute-target = \"1:1\"\n[[vrf]]\nname = \"b\"\nvni = 2\nroute-target = \"1:2\"\ntable = 1000001\n"
    );
    let cases: Vec<(&str, String, &[&str])> = vec![
        ("vrf-table", vrfs, &["vrf[1].table", "1000001"]),
        (
            "upper-case",
            RR.replace("local-as =", "LOCAL-AS ="),
            &["LOCAL-AS"],
        ),
        (
            "string-as",
            RR.replace("local-as = 64512", "local-as = \"64512\""),
            &["local-as", "64512"],
        ),
        (
            "host-bits",
            RR.replace("10.10.0.0/16", "10.1.2.3/8"),
            &["allow", "10.1.2.3/8"],
        ),
        (
            "self-neighbor",
            RR.replace(
                "allow = [\"10.10.0.0/16\"]",
                "neighbors = [\"10.10.25.42\"]",
            ),
            &["neighbors", "10.10.25.42"],
        ),
    ];
    let mut failures = Vec::new();
    for (name, text, words) in cases {
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        let out = output(
            bin("bgpd").to_str().unwrap(),
            &["--check", path.to_str().unwrap()],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            failures.push(format!(
                "{name}: accepted ({})",
                String::from_utf8_lossy(&out.stdout).trim()
            ));
            continue;
        }
        for w in std::iter::once(path.to_str().unwrap()).chain(words.iter().copied()) {
            if !err.contains(w) {
                failures.push(format!("{name}: {w:?} missing from {err}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// 3000 control-socket clients that connect and say nothing neither stop
/// `bgpctl` from being answered nor stay connected for ever.
#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn idle_control_socket_clients_are_dropped() {
    require_root("idle_control_socket_clients_are_dropped");
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    const N: usize = 3000;
    let bed = Bed::new("fh9", RR, &["10.10.93.12"]);
    let path = std::ffi::CString::new(bed.rr.socket.to_str().unwrap()).unwrap();
    let (mut open, mut refused) = (Vec::new(), 0);
    for _ in 0..N {
        // SAFETY: plain socket(2)/connect(2) on a sockaddr_un we fill in;
        // the descriptor is owned at once.
        unsafe {
            let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0);
            assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
            let fd = OwnedFd::from_raw_fd(fd);
            let mut addr: libc::sockaddr_un = std::mem::zeroed();
            addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
            for (d, s) in addr.sun_path.iter_mut().zip(path.as_bytes()) {
                *d = *s as libc::c_char;
            }
            let rc = libc::connect(
                fd.as_raw_fd(),
                &addr as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
            );
            if rc == 0 {
                open.push(fd);
            } else {
                refused += 1;
            }
        }
    }
    eprintln!("{} connected, {refused} refused", open.len());
    let t = Instant::now();
    let s = bed
        .rr
        .ctl_within(&["show", "summary"], Duration::from_secs(5));
    assert!(s.is_ok(), "with {N} idle clients: {s:?}");
    eprintln!("show summary answered in {:?}", t.elapsed());
    // Within 15 s every idle client has been closed.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        open.retain(|fd| {
            let mut b = [0u8; 64];
            // SAFETY: read(2) into a local buffer on a descriptor we own.
            let n = unsafe { libc::read(fd.as_raw_fd(), b.as_mut_ptr().cast(), b.len()) };
            n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock
        });
        if open.is_empty() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        open.is_empty(),
        "{} idle clients still connected after 15 s",
        open.len()
    );
    let mut rr = bed.rr;
    assert!(rr.proc.alive(), "bgpd died: {}", log_tail(&rr));
}

/// One address opening hundreds of connections at once: its session takes
/// a bounded number of them, the rest are closed, bgpd stays small, and
/// another client's session is not disturbed; afterwards that address
/// comes up normally.
#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn a_connection_flood_from_one_address_is_bounded() {
    require_root("a_connection_flood_from_one_address_is_bounded");
    let mut bed = Bed::new("fh9", RR, &["10.10.3.1", "10.10.4.1"]);
    let rss_before = bed.rr.proc.rss_kib();
    let (steady_up, flood_done) = block_in(&bed.cl, || async {
        let me = Ipv4Addr::new(10, 10, 4, 1);
        let mut steady = raw::connect(me, RR_ADDR, me).await.unwrap();
        steady.send(&Message::Keepalive).await.unwrap();
        let flooder = Ipv4Addr::new(10, 10, 3, 1);
        let mut held = Vec::new();
        for _ in 0..400 {
            if let Ok(s) = raw::tcp(flooder, RR_ADDR, None).await {
                held.push(s);
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let flood_done = held.len();
        drop(held);
        // The steady client still gets its KEEPALIVEs and no NOTIFICATION.
        steady.send(&Message::Keepalive).await.unwrap();
        let up = match steady.recv(Duration::from_secs(40)).await {
            Ok(Message::Notification(n)) => {
                eprintln!("steady client: {n}");
                false
            }
            Ok(_) => true,
            Err(e) => {
                eprintln!("steady client: {e}");
                false
            }
        };
        // Seen from the reflector, while the client is still connected.
        let up = up && bed.state("10.10.4.1").as_deref() == Some("Established");
        (up, flood_done)
    });
    assert!(flood_done > 0, "no connection of the flood was accepted");
    assert!(steady_up, "the other client's session was disturbed");
    assert!(bed.rr.proc.alive(), "bgpd died: {}", log_tail(&bed.rr));
    let rss_after = bed.rr.proc.rss_kib();
    eprintln!("flood of {flood_done} connections: RSS {rss_before} -> {rss_after} KiB");
    assert!(
        rss_after < rss_before + 64 * 1024,
        "RSS {rss_before} -> {rss_after} KiB"
    );
    // The flooding address may still peer.
    let ok = block_in(&bed.cl, || async {
        let me = Ipv4Addr::new(10, 10, 3, 1);
        for _ in 0..20 {
            if raw::connect(me, RR_ADDR, me).await.is_ok() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        false
    });
    assert!(
        ok,
        "the address could not peer after its flood: {}",
        log_tail(&bed.rr)
    );
}
