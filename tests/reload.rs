//! A reload that changes what the daemon was started with (`local-as`):
//! nothing is applied until a restart, sessions stay up, new dynamic
//! clients are still accepted with the running AS, and the reload answer,
//! `show summary` and the log say a restart is pending.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use ferry_tests::raw;
use ferry_tests::{
    bin, block_in, eventually, in_netns, output, require_root, Ferry, Lan, Netns, Proc, RR,
};
use ferry_wire::Message;

const RR_ID: Ipv4Addr = Ipv4Addr::new(10, 10, 25, 42);

/// Holds one Established session from `local` until `stop`, sending a
/// KEEPALIVE every 5 s; Err names the NOTIFICATION or the close that ended
/// it early. `ready` gets the outcome of the OPEN exchange.
fn hold_session(
    local: Ipv4Addr,
    stop: Arc<AtomicBool>,
    ready: mpsc::Sender<Result<(), String>>,
) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut s = match raw::connect(local, RR_ID, local).await {
            Ok(s) => {
                let _ = ready.send(Ok(()));
                s
            }
            Err(e) => {
                let _ = ready.send(Err(e.to_string()));
                return Err(e.to_string());
            }
        };
        let mut last_keepalive = Instant::now();
        while !stop.load(Ordering::SeqCst) {
            if last_keepalive.elapsed() > Duration::from_secs(5) {
                s.send(&Message::Keepalive)
                    .await
                    .map_err(|e| e.to_string())?;
                last_keepalive = Instant::now();
            }
            match s.recv(Duration::from_millis(500)).await {
                Ok(Message::Notification(n)) => return Err(format!("NOTIFICATION {n}")),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => return Err(format!("session ended: {e}")),
            }
        }
        Ok(())
    })
}

/// One OPEN exchange from `local` as AS 64512: Ok when it reaches
/// Established, Err with the NOTIFICATION otherwise.
fn connect_once(ns: &Netns, local: Ipv4Addr) -> Result<(), String> {
    block_in(ns, move || async move {
        raw::connect(local, RR_ID, local)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    })
}

fn with_local_as(asn: u32) -> String {
    RR.replace("local-as = 64512", &format!("local-as = {asn}"))
}

fn flaps(rr: &Ferry, addr: &str) -> (String, u64) {
    rr.sessions()
        .into_iter()
        .find(|s| s.0 == addr)
        .map(|s| (s.1, s.2))
        .unwrap_or_default()
}

fn bgpctl_text(rr: &Ferry, args: &[&str]) -> String {
    let mut full = vec!["-s", rr.socket.to_str().unwrap()];
    full.extend_from_slice(args);
    let out = output(bin("bgpctl").to_str().unwrap(), &full);
    assert!(out.status.success(), "bgpctl {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn a_changed_local_as_waits_for_a_restart() {
    require_root("a_changed_local_as_waits_for_a_restart");
    let dir = tempfile::tempdir().unwrap();
    let lan = Lan::new();
    let rr_ns = Netns::new("frl");
    let cl_ns = Netns::new("fcl");
    lan.attach(&rr_ns, "eth0", "10.10.25.42/16");
    lan.attach(&cl_ns, "eth0", "10.10.1.1/16");
    cl_ns.addr("eth0", "10.10.1.2/16");
    cl_ns.addr("eth0", "10.10.1.3/16");
    let mut rr = Ferry::start(&rr_ns, dir.path(), "rr", RR);
    let pending = serde_json::json!(["local-as 64513 (running 64512)"]);

    let stop = Arc::new(AtomicBool::new(false));
    let held = std::thread::scope(|scope| {
        let (ready_tx, ready_rx) = mpsc::channel();
        let stop_held = stop.clone();
        let holder = scope.spawn(|| {
            in_netns(&cl_ns, move || {
                hold_session(Ipv4Addr::new(10, 10, 1, 1), stop_held, ready_tx)
            })
        });
        let ready = ready_rx.recv_timeout(Duration::from_secs(30));
        let checks = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            assert!(matches!(ready, Ok(Ok(()))), "first client: {ready:?}");
            rr.wait_established(&["10.10.1.1"]);
            let (_, flaps_before) = flaps(&rr, "10.10.1.1");

            // The new AS is reported pending, not applied.
            rr.rewrite(&with_local_as(64513));
            let report = rr.ctl(&["reload"]).unwrap();
            assert_eq!(report["restart-pending"], pending, "{report}");
            assert_eq!(report["changed"], serde_json::json!([]), "{report}");
            assert_eq!(report["removed"], serde_json::json!([]), "{report}");
            let text = bgpctl_text(&rr, &["reload"]);
            assert!(
                text.contains("Restart pending: local-as 64513 (running 64512)\n"),
                "{text}"
            );
            let s = rr.ctl(&["show", "summary"]).unwrap();
            assert_eq!(s["local-as"], 64512, "{s}");
            assert_eq!(s["router-id"], "10.10.25.42", "{s}");
            assert_eq!(s["restart-pending"], pending, "{s}");
            let text = bgpctl_text(&rr, &["show", "summary"]);
            let lines: Vec<&str> = text.lines().collect();
            assert!(
                lines[0].starts_with("Router ID: 10.10.25.42  Local AS: 64512"),
                "{text}"
            );
            assert_eq!(
                lines[1], "Restart pending: local-as 64513 (running 64512)",
                "{text}"
            );
            let log = rr.proc.log_text();
            assert!(
                log.contains("local-as 64513 (running 64512)")
                    && log.contains("until bgpd restarts"),
                "{log}"
            );

            // The session stays up; a new dynamic client with the running
            // AS comes up.
            std::thread::sleep(Duration::from_secs(3));
            assert_eq!(
                flaps(&rr, "10.10.1.1"),
                ("Established".to_string(), flaps_before),
                "{}",
                rr.proc.log_text()
            );
            connect_once(&cl_ns, Ipv4Addr::new(10, 10, 1, 2))
                .expect("a new client with the running AS 64512 is Established");

            // The file back at the running value: nothing pending.
            rr.rewrite(RR);
            let report = rr.ctl(&["reload"]).unwrap();
            assert_eq!(report["restart-pending"], serde_json::json!([]), "{report}");
            let s = rr.ctl(&["show", "summary"]).unwrap();
            assert_eq!(s["restart-pending"], serde_json::json!([]), "{s}");
            assert!(!bgpctl_text(&rr, &["show", "summary"]).contains("Restart pending"));
            assert_eq!(
                flaps(&rr, "10.10.1.1"),
                ("Established".to_string(), flaps_before)
            );
        }));
        stop.store(true, Ordering::SeqCst);
        let held = holder.join().expect("session holder");
        if let Err(p) = checks {
            std::panic::resume_unwind(p);
        }
        held
    });
    // No NOTIFICATION, no close: the session ran through both reloads.
    held.expect("the first client's session");

    // A restart with 64513 in the file: the new AS is in force.
    rr.rewrite(&with_local_as(64513));
    rr.proc.signal(libc::SIGTERM);
    assert!(
        rr.proc.wait(Duration::from_secs(10)).is_some(),
        "bgpd did not stop"
    );
    let restarted = Proc::spawn(
        "rr-restarted",
        &rr_ns,
        bin("bgpd").to_str().unwrap(),
        &["--config", rr.config.to_str().unwrap(), "--log", "info"],
        &dir.path().join("rr-restarted.log"),
    );
    rr.proc = restarted;
    let s = eventually("the restarted bgpd", Duration::from_secs(10), || {
        rr.ctl(&["show", "summary"])
    });
    assert_eq!(s["local-as"], 64513, "{s}");
    assert_eq!(s["restart-pending"], serde_json::json!([]), "{s}");
    // A client of AS 64512 is now an external speaker in an internal group.
    let e = connect_once(&cl_ns, Ipv4Addr::new(10, 10, 1, 3))
        .expect_err("AS 64512 refused after the restart");
    assert!(e.contains("Bad Peer AS") || e.contains("2/2"), "{e}");
}
