//! The route reflector daemon's life: many dynamic clients, reload without
//! disturbing other sessions, a rejected configuration, and a clean
//! shutdown with Cease.

use std::net::Ipv4Addr;
use std::time::Duration;

use ferry_tests::raw;
use ferry_tests::{
    block_in, eventually, output, require_root, run, type5_update, Ferry, GoBgp, Lan, Netns, RR,
};
use ferry_wire::iana::notification::{cease, CEASE};
use ferry_wire::Message;

/// 200 worker nodes connect from the allow range; all come up, and a route
/// from one of them reaches the 199 others.
#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn two_hundred_dynamic_clients() {
    require_root("two_hundred_dynamic_clients");
    const N: u8 = 200;
    let dir = tempfile::tempdir().unwrap();
    let lan = Lan::new();
    let rr_ns = Netns::new("frr");
    let cl_ns = Netns::new("fcl");
    lan.attach(&rr_ns, "eth0", "10.10.25.42/16");
    lan.attach(&cl_ns, "eth0", "10.10.1.1/16");
    let batch = dir.path().join("addrs");
    let lines: String = (2..=N)
        .map(|i| format!("addr add 10.10.1.{i}/16 dev eth0\n"))
        .collect();
    std::fs::write(&batch, lines).unwrap();
    cl_ns.exec_ok(&["ip", "-batch", batch.to_str().unwrap()]);
    let rr = Ferry::start(&rr_ns, dir.path(), "rr", RR);

    let socket = rr.socket.clone();
    let bgpctl = ferry_tests::bin("bgpctl");
    let show = move |what: &str, json: bool| -> String {
        let mut args = vec!["-s", socket.to_str().unwrap(), "show", what];
        if json {
            args.push("--json");
        }
        let out = std::process::Command::new(&bgpctl)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "bgpctl show {what}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let (received, s, memory, memory_text) = block_in(&cl_ns, move || async move {
        let mut tasks = Vec::new();
        for i in 1..=N {
            tasks.push(tokio::spawn(async move {
                let addr = Ipv4Addr::new(10, 10, 1, i);
                raw::connect(addr, Ipv4Addr::new(10, 10, 25, 42), addr).await
            }));
        }
        let mut sessions = Vec::new();
        for t in tasks {
            sessions.push(t.await.unwrap().expect("session up"));
        }
        // Worker 1 announces alpine-cluster-1's prefix.
        let u = type5_update("1.1.1.0/30", Ipv4Addr::new(10, 10, 1, 1));
        sessions[0].send(&Message::Update(u)).await.unwrap();
        let mut got = 0;
        for s in sessions.iter_mut().skip(1) {
            loop {
                match s.recv(Duration::from_secs(20)).await {
                    Ok(Message::Update(u))
                        if u.announced()
                            .any(|e| e.nlri.to_string().contains("1.1.1.0/30")) =>
                    {
                        assert_eq!(
                            u.attributes.originator_id,
                            Some(Ipv4Addr::new(10, 10, 1, 1))
                        );
                        got += 1;
                        break;
                    }
                    Ok(_) => continue,
                    Err(e) => panic!("waiting for the reflected route: {e}"),
                }
            }
        }
        // Read the reflector's summary while every session is up.
        let summary: serde_json::Value = serde_json::from_str(&show("summary", true)).unwrap();
        let memory: serde_json::Value = serde_json::from_str(&show("memory", true)).unwrap();
        (got, summary, memory, show("memory", false))
    });
    assert_eq!(received, N as usize - 1);
    assert_eq!(s["peers"], N as u64, "{s}");
    assert_eq!(s["down-peers"], 0);
    drop(rr);
    assert_eq!(s["unconfigured-peers"], N as u64);

    // `show memory`: the one route, its one path and attribute set, and
    // the process's resident memory as the kernel counts it.
    assert_eq!(memory["rib"]["routes"], 1, "{memory}");
    assert_eq!(memory["rib"]["paths"], 1, "{memory}");
    assert_eq!(memory["rib"]["attribute-sets"], 1, "{memory}");
    assert!(
        memory["rib"]["table-bytes"].as_u64().unwrap() > 0,
        "{memory}"
    );
    let rss = memory["rss"].as_u64().unwrap();
    let anon = memory["rss-anonymous"].as_u64().unwrap();
    assert!(
        anon > 0 && anon < rss && rss <= memory["rss-peak"].as_u64().unwrap(),
        "{memory}"
    );
    assert!(
        memory["allocator"]["in-use"].as_u64().unwrap() > 0,
        "{memory}"
    );
    assert!(
        memory_text.contains("Route table:     1 routes, 1 paths"),
        "{memory_text}"
    );
}

fn static_config(neighbors: &[&str], hold: u16) -> String {
    let list: Vec<String> = neighbors.iter().map(|n| format!("\"{n}\"")).collect();
    format!(
        "router-id = \"10.10.25.42\"\nlocal-as = 64512\ncluster-id = \"10.10.25.42\"\n[[group]]\nname = \"workers\"\nlocal-address = \"10.10.25.42\"\nroute-reflector-client = true\nhold-time = {hold}\nneighbors = [{}]\n",
        list.join(", ")
    )
}

fn session<'a>(
    s: &'a [(String, String, u64, u64)],
    addr: &str,
) -> Option<&'a (String, String, u64, u64)> {
    s.iter().find(|x| x.0 == addr)
}

/// `bgpctl reload` and SIGHUP: added neighbours come up, removed ones are
/// closed, changed ones reset, the others are not touched; an invalid file
/// is refused and the running configuration keeps working.
#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn reload_touches_only_what_changed() {
    require_root("reload_touches_only_what_changed");
    let dir = tempfile::tempdir().unwrap();
    let lan = Lan::new();
    let rr_ns = Netns::new("frr");
    let a_ns = Netns::new("fa");
    let b_ns = Netns::new("fb");
    let c_ns = Netns::new("fc");
    lan.attach(&rr_ns, "eth0", "10.10.25.42/16");
    lan.attach(&a_ns, "eth0", "10.10.0.1/16");
    lan.attach(&b_ns, "eth0", "10.10.0.2/16");
    lan.attach(&c_ns, "eth0", "10.10.0.3/16");
    let rr = Ferry::start(
        &rr_ns,
        dir.path(),
        "rr",
        &static_config(&["10.10.0.1", "10.10.0.2"], 90),
    );
    let a = GoBgp::start(&a_ns, dir.path(), "10.10.0.1", &["10.10.25.42"]);
    let b = GoBgp::start(&b_ns, dir.path(), "10.10.0.2", &["10.10.25.42"]);
    let c = GoBgp::start(&c_ns, dir.path(), "10.10.0.3", &["10.10.25.42"]);
    rr.wait_established(&["10.10.0.1", "10.10.0.2"]);
    std::thread::sleep(Duration::from_secs(2));
    let before = rr.sessions();
    let a_up_for = session(&before, "10.10.0.1").unwrap().3;

    // Remove B, add C, keep A.
    rr.rewrite(&static_config(&["10.10.0.1", "10.10.0.3"], 90));
    let report = rr.ctl(&["reload"]).unwrap();
    assert_eq!(
        report["added"],
        serde_json::json!(["10.10.0.3"]),
        "{report}"
    );
    assert_eq!(
        report["removed"],
        serde_json::json!(["10.10.0.2"]),
        "{report}"
    );
    assert_eq!(report["unchanged"], 1);
    rr.wait_established(&["10.10.0.1", "10.10.0.3"]);
    eventually(
        "B's session closed by the reflector",
        Duration::from_secs(10),
        || {
            let n = b.cli(&["neighbor"]);
            if n.contains("Establ") {
                Err(n)
            } else {
                Ok(())
            }
        },
    );
    let after = rr.sessions();
    assert!(session(&after, "10.10.0.2").is_none(), "{after:?}");
    let a_after = session(&after, "10.10.0.1").unwrap();
    assert_eq!(
        (a_after.1.as_str(), a_after.2),
        ("Established", 0),
        "A flapped: {after:?}"
    );
    assert!(
        a_after.3 >= a_up_for,
        "A's session was reset: {before:?} -> {after:?}"
    );
    assert!(a.cli(&["neighbor"]).contains("Establ"));

    // SIGHUP with a changed hold time: both remaining sessions reset once.
    rr.rewrite(&static_config(&["10.10.0.1", "10.10.0.3"], 30));
    rr.proc.signal(libc::SIGHUP);
    eventually(
        "sessions reset with the new hold time",
        Duration::from_secs(30),
        || {
            let d = rr
                .ctl(&["show", "neighbor", "10.10.0.3"])
                .map_err(|e| e.to_string())?;
            if d[0]["hold-time"] == 30 && d[0]["state"] == "Established" {
                Ok(())
            } else {
                Err(d.to_string())
            }
        },
    );

    // An invalid file is refused with file, key and value; nothing changes.
    std::fs::write(&rr.config, "router-id = \"10.10.25.42\"\nlocal-as = 64512\n[[group]]\nname = \"workers\"\nneighbors = [\"10.10.0.300\"]\n").unwrap();
    let out = output(
        ferry_tests::bin("bgpctl").to_str().unwrap(),
        &["-s", rr.socket.to_str().unwrap(), "reload"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rr.toml")
            && err.contains("group[0].neighbors[0]")
            && err.contains("10.10.0.300"),
        "{err}"
    );
    std::thread::sleep(Duration::from_secs(1));
    rr.wait_established(&["10.10.0.1", "10.10.0.3"]);
    drop((a, b, c));
}

/// SIGTERM: every peer gets Cease / Administrative Shutdown, bgpd exits 0
/// and removes its control socket.
#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn sigterm_sends_cease_and_exits_cleanly() {
    require_root("sigterm_sends_cease_and_exits_cleanly");
    let dir = tempfile::tempdir().unwrap();
    let lan = Lan::new();
    let rr_ns = Netns::new("frr");
    let cl_ns = Netns::new("fcl");
    lan.attach(&rr_ns, "eth0", "10.10.25.42/16");
    lan.attach(&cl_ns, "eth0", "10.10.93.12/16");
    let mut rr = Ferry::start(&rr_ns, dir.path(), "rr", RR);
    let pid = rr.proc.pid();
    let notification = block_in(&cl_ns, move || async move {
        let me = Ipv4Addr::new(10, 10, 93, 12);
        let mut s = raw::connect(me, Ipv4Addr::new(10, 10, 25, 42), me)
            .await
            .unwrap();
        // SAFETY: SIGTERM to the bgpd this test started.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        loop {
            match s.recv(Duration::from_secs(10)).await.unwrap() {
                Message::Notification(n) => return n,
                _ => continue,
            }
        }
    });
    assert_eq!(
        (notification.code, notification.subcode),
        (CEASE, cease::ADMINISTRATIVE_SHUTDOWN)
    );
    let status = rr.proc.wait(Duration::from_secs(10)).expect("bgpd exits");
    assert!(status.success(), "{status:?}\n{}", rr.proc.log_text());
    assert!(!rr.socket.exists());
    assert!(rr.proc.log_text().contains("session Established"));
    let _ = run("true", &[]);
}

/// A malformed UPDATE gets the RFC's answer on a live session: an
/// undefined ORIGIN is treat-as-withdraw (the session stays, the route is
/// gone, `show neighbor` shows the error); a bad marker resets with 1/1.
#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn malformed_updates_get_the_rfc_answer() {
    require_root("malformed_updates_get_the_rfc_answer");
    let dir = tempfile::tempdir().unwrap();
    let lan = Lan::new();
    let rr_ns = Netns::new("frr");
    let cl_ns = Netns::new("fcl");
    lan.attach(&rr_ns, "eth0", "10.10.25.42/16");
    lan.attach(&cl_ns, "eth0", "10.10.93.12/16");
    lan.attach(&cl_ns, "eth1", "10.10.93.13/16");
    let rr = Ferry::start(&rr_ns, dir.path(), "rr", RR);
    let ferry = &rr;
    let neighbor = || -> serde_json::Value {
        ferry
            .ctl(&["show", "neighbor", "10.10.93.12"])
            .unwrap_or_default()
    };
    let (paths_before, paths_after, code, n) = block_in(&cl_ns, move || async move {
        let me = Ipv4Addr::new(10, 10, 93, 12);
        let rr = Ipv4Addr::new(10, 10, 25, 42);
        let mut s = raw::connect(me, rr, me).await.unwrap();
        let good = Message::Update(type5_update("1.1.1.0/30", me))
            .to_bytes(&Default::default())
            .unwrap();
        s.send_raw(&good).await.unwrap();
        let count = || {
            ferry
                .ctl(&["show", "route", "--family", "evpn"])
                .unwrap()
                .as_array()
                .unwrap()
                .len()
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = count();
        // The same UPDATE with ORIGIN value 7 (RFC 7606 §7.1).
        let mut bad = good.to_vec();
        let at = bad
            .windows(4)
            .position(|w| w == [0x40, 1, 1, 0])
            .expect("ORIGIN attribute");
        bad[at + 3] = 7;
        s.send_raw(&bad).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = count();
        // The session is still up: a KEEPALIVE round trip works.
        s.send(&Message::Keepalive).await.unwrap();
        // A second session, then a bad marker on it.
        let me2 = Ipv4Addr::new(10, 10, 93, 13);
        let mut s2 = raw::connect(me2, rr, me2).await.unwrap();
        let mut marker = Message::Keepalive
            .to_bytes(&Default::default())
            .unwrap()
            .to_vec();
        marker[0] = 0;
        s2.send_raw(&marker).await.unwrap();
        let code = loop {
            match s2.recv(Duration::from_secs(10)).await.unwrap() {
                Message::Notification(n) => break (n.code, n.subcode),
                _ => continue,
            }
        };
        let n = neighbor();
        (before, after, code, n)
    });
    assert_eq!((paths_before, paths_after), (1, 0));
    assert_eq!(code, (1, 1));
    assert_eq!(n[0]["state"], "Established", "{n}");
    assert_eq!(n[0]["treat-as-withdraw"], 1, "{n}");
    assert!(
        n[0]["last-error"].as_str().unwrap_or("").contains("ORIGIN"),
        "{n}"
    );
}

/// A client sends a legal 4096-octet UPDATE; reflected, ORIGINATOR_ID and
/// CLUSTER_LIST make it too large for a client without the extended
/// message capability (RFC 8654). That client is not sent the path (no
/// oversize message, no reset) and `show neighbor` counts it; a client
/// with extended messages gets it. In the same run: a Type-5 prefix with
/// host bits is the prefix (RFC 4271 §4.3), and an EVPN route of unknown
/// type 77 beside it is dropped (RFC 7606 §5.4).
/// What `sess` is sent in the next two seconds: (length, what it says).
async fn collect(sess: &mut raw::Session, extended: bool) -> Vec<(usize, String)> {
    let ctx = ferry_wire::DecodeContext {
        extended_message: extended,
        ..Default::default()
    };
    let mut out = Vec::new();
    let end = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Some(left) = end.checked_duration_since(tokio::time::Instant::now()) {
        let Ok(m) = sess.recv_raw(left).await else {
            break;
        };
        let text = match Message::decode(&m, &ctx) {
            Ok(Message::Update(u)) => u
                .announced()
                .map(|e| e.nlri.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            Ok(other) => other.to_string(),
            Err(e) => format!("undecodable: {e}"),
        };
        out.push((m.len(), text));
    }
    out
}

#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn paths_too_large_for_a_client_are_not_sent_and_counted() {
    use ferry_wire::attribute::Community;
    use ferry_wire::message::Capability;
    use ferry_wire::nlri::evpn::EvpnRoute;
    use ferry_wire::{EncodeContext, NlriEntry};

    require_root("paths_too_large_for_a_client_are_not_sent_and_counted");
    let dir = tempfile::tempdir().unwrap();
    let lan = Lan::new();
    let rr_ns = Netns::new("frr");
    let cl_ns = Netns::new("fcl");
    lan.attach(&rr_ns, "eth0", "10.10.25.42/16");
    lan.attach(&cl_ns, "eth0", "10.10.93.12/16");
    cl_ns.addr("eth0", "10.10.93.13/16");
    cl_ns.addr("eth0", "10.10.93.14/16");
    let rr = Ferry::start(&rr_ns, dir.path(), "rr", RR);
    let socket = rr.socket.clone();
    let (small, large, shown) = block_in(&cl_ns, move || async move {
        let rr = Ipv4Addr::new(10, 10, 25, 42);
        let (src, small, large) = (
            Ipv4Addr::new(10, 10, 93, 12),
            Ipv4Addr::new(10, 10, 93, 13),
            Ipv4Addr::new(10, 10, 93, 14),
        );
        let extended = |id| {
            let mut caps = raw::capabilities(64512);
            caps.push(Capability::ExtendedMessage);
            ferry_wire::message::Open::new(64512, 90, id, caps)
        };
        let mut to_small = raw::connect(small, rr, small).await.unwrap();
        let mut to_large = raw::connect_with(large, rr, extended(large)).await.unwrap();
        let mut s = raw::connect_with(src, rr, extended(src)).await.unwrap();
        // 1.1.1.0/30 with communities up to 4096 octets as sent.
        let mut big = type5_update("1.1.1.0/30", src);
        let ctx = EncodeContext::default();
        while Message::Update(big.clone())
            .to_bytes(&ctx)
            .is_ok_and(|b| b.len() + 4 <= 4096)
        {
            let n = big.attributes.communities.len() as u32;
            big.attributes.communities.push(Community(0xfc00_0000 + n));
        }
        let big = Message::Update(big).to_bytes(&ctx).unwrap();
        assert!(big.len() > 4090 && big.len() <= 4096, "{}", big.len());
        s.send_raw(&big).await.unwrap();
        // 9.9.2.77/24 beside an EVPN route of type 77.
        let mut odd = type5_update("9.9.2.0/24", src);
        let reach = odd.mp_reach.as_mut().unwrap();
        if let ferry_wire::Nlri::Evpn(EvpnRoute::IpPrefix(r)) = &mut reach.nlri[0].nlri {
            r.prefix =
                ipnet::IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::new(9, 9, 2, 77), 24).unwrap());
        }
        reach
            .nlri
            .push(NlriEntry::new(ferry_wire::Nlri::Evpn(EvpnRoute::Unknown {
                route_type: 77,
                value: vec![1, 2, 3, 4, 5],
            })));
        s.send(&Message::Update(odd)).await.unwrap();
        let small = collect(&mut to_small, false).await;
        let large = collect(&mut to_large, true).await;
        // Both sessions are still up.
        to_small.send(&Message::Keepalive).await.unwrap();
        to_large.send(&Message::Keepalive).await.unwrap();
        // Asked while the (dynamic) sessions are up.
        let bgpctl = |args: &[&str]| {
            let mut full = vec!["-s", socket.to_str().unwrap()];
            full.extend_from_slice(args);
            let out = output(ferry_tests::bin("bgpctl").to_str().unwrap(), &full);
            String::from_utf8_lossy(&out.stdout).to_string()
        };
        let shown = [
            bgpctl(&["--json", "show", "neighbor", "10.10.93.13"]),
            bgpctl(&["--json", "show", "neighbor", "10.10.93.14"]),
            bgpctl(&["show", "neighbor", "10.10.93.13"]),
            bgpctl(&["--json", "show", "route", "--family", "evpn"]),
        ];
        (small, large, shown)
    });
    let all = |v: &[(usize, String)]| {
        v.iter()
            .map(|(_, t)| t.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    };
    assert!(small.iter().all(|(len, _)| *len <= 4096), "{small:?}");
    assert!(!all(&small).contains("1.1.1.0/30"), "{}", all(&small));
    assert!(all(&small).contains("prefix 9.9.2.0/24"), "{}", all(&small));
    assert!(!all(&small).contains("NOTIFICATION"), "{}", all(&small));
    assert!(all(&large).contains("prefix 1.1.1.0/30"), "{}", all(&large));
    assert!(all(&large).contains("prefix 9.9.2.0/24"), "{}", all(&large));
    for v in [&small, &large] {
        assert!(!all(v).contains("type-77"), "{}", all(v));
        assert!(!all(v).contains("9.9.2.77"), "{}", all(v));
    }
    let json = |t: &str| serde_json::from_str::<serde_json::Value>(t).unwrap_or_default();
    let n = json(&shown[0]);
    assert_eq!(n[0]["state"], "Established", "{n}");
    assert_eq!(n[0]["oversize-paths-not-sent"], 1, "{n}");
    let n = json(&shown[1]);
    assert_eq!(n[0]["oversize-paths-not-sent"], 0, "{n}");
    let text = &shown[2];
    assert!(
        text.contains("\n  Paths not sent (too large for the peer): 1\n"),
        "{text}"
    );
    let evpn = json(&shown[3]);
    let prefixes: Vec<&str> = evpn
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["prefix"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(prefixes.len(), 2, "{evpn}");
    assert!(prefixes.contains(&"9.9.2.0/24"), "{prefixes:?}");
    assert!(rr.proc.log_text().contains("paths not sent"));
}

/// A client whose reflector is not listening yet (restarting, or started
/// later) reaches it seconds after it listens: a failed connection goes
/// back to Idle and starts again after a short back-off, not a whole
/// 30-second ConnectRetryTimer later.
#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn a_client_reaches_a_reflector_that_starts_late() {
    require_root("a_client_reaches_a_reflector_that_starts_late");
    let dir = tempfile::tempdir().unwrap();
    let lan = Lan::new();
    let rr_ns = Netns::new("frl");
    let cl_ns = Netns::new("fcl");
    lan.attach(&rr_ns, "eth0", "10.10.25.42/16");
    lan.attach(&cl_ns, "eth0", "10.10.1.1/16");
    let client = Ferry::start(
        &cl_ns,
        dir.path(),
        "client",
        r#"
router-id = "10.10.1.1"
local-as = 64512
[[group]]
name = "reflectors"
local-address = "10.10.1.1"
neighbors = ["10.10.25.42"]
"#,
    );
    // Several refused connections (nothing listens on the reflector yet).
    std::thread::sleep(Duration::from_secs(4));
    let started = std::time::Instant::now();
    let rr = Ferry::start(&rr_ns, dir.path(), "rr", RR);
    eventually(
        "the client's session to the late reflector",
        Duration::from_secs(20),
        || {
            let s = client.sessions();
            if s.iter()
                .any(|(a, st, _, _)| a == "10.10.25.42" && st == "Established")
            {
                Ok(())
            } else {
                Err(format!("{s:?}\n{}", client.proc.log_text()))
            }
        },
    );
    eprintln!(
        "Established {} ms after the reflector started",
        started.elapsed().as_millis()
    );
    rr.wait_established(&["10.10.1.1"]);
}
