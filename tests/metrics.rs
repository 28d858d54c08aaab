//! `http-listen`: `/metrics` follows a session's life (up, prefixes,
//! messages, down, reloads) and passes `promtool check metrics`; `/readyz`
//! of a worker says 503 with the reason while it has no reflector and 200
//! within seconds of the reflector starting.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use ferry_tests::{
    eventually, http_get, in_netns, raw, require_root, sample, type5_update, Ferry, Lan, Netns, RR,
};
use ferry_wire::{Family, Message, Update};

const RR_ADDR: Ipv4Addr = Ipv4Addr::new(10, 10, 25, 42);
const RR_HTTP: &str = "10.10.25.42:9179";

/// The reflector of [`RR`] serving HTTP, with a configured, passive
/// client 10.10.1.3 in group "static" beside the dynamic range.
fn rr_config() -> String {
    format!(
        "http-listen = \"{RR_HTTP}\"\n{RR}\n[[group]]\nname = \"static\"\nlocal-address = \"10.10.25.42\"\nroute-reflector-client = true\npassive = true\nneighbors = [\"10.10.1.3\"]\n"
    )
}

/// A client session from `local`: sends `updates` and End-of-RIB (EVPN),
/// then holds the session (KEEPALIVE every 5 s) until `stop`, and closes
/// the connection.
fn client(
    local: Ipv4Addr,
    updates: Vec<Update>,
    stop: Arc<AtomicBool>,
    ready: mpsc::Sender<Result<(), String>>,
) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut s = match raw::connect(local, RR_ADDR, local).await {
            Ok(s) => s,
            Err(e) => {
                let _ = ready.send(Err(e.to_string()));
                return Err(e.to_string());
            }
        };
        for u in updates {
            s.send(&Message::Update(u))
                .await
                .map_err(|e| e.to_string())?;
        }
        s.send(&Message::Update(Update::end_of_rib(Family::EVPN)))
            .await
            .map_err(|e| e.to_string())?;
        let _ = ready.send(Ok(()));
        let mut last = Instant::now();
        while !stop.load(Ordering::SeqCst) {
            if last.elapsed() > Duration::from_secs(5) {
                s.send(&Message::Keepalive)
                    .await
                    .map_err(|e| e.to_string())?;
                last = Instant::now();
            }
            match s.recv(Duration::from_millis(200)).await {
                Ok(Message::Notification(n)) => return Err(format!("NOTIFICATION {n}")),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => return Err(format!("session ended: {e}")),
            }
        }
        Ok(())
    })
}

fn metrics(ns: &Netns, addr: &str) -> String {
    match http_get(ns, addr, "/metrics") {
        Ok((200, body)) => body,
        other => panic!("GET /metrics: {other:?}"),
    }
}

/// Waits until every `(series, value)` holds in `/metrics`.
fn wait_metrics(ns: &Netns, rr: &Ferry, what: &str, want: &[(&str, f64)]) -> String {
    eventually(what, Duration::from_secs(20), || {
        let text = metrics(ns, RR_HTTP);
        let wrong: Vec<String> = want
            .iter()
            .filter(|(s, v)| sample(&text, s) != Some(*v))
            .map(|(s, v)| format!("{s} = {:?}, want {v}", sample(&text, s)))
            .collect();
        if wrong.is_empty() {
            Ok(text)
        } else {
            Err(format!(
                "{}\n--- metrics\n{text}\n--- log\n{}",
                wrong.join("\n"),
                rr.proc.log_text()
            ))
        }
    })
}

/// `promtool check metrics` on `text`: Ok, or its complaints.
fn promtool_check(text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!("promtool: {e} (Debian's prometheus package ships it; tests/run installs it)")
        })?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn metrics_follow_a_sessions_life() {
    require_root("metrics_follow_a_sessions_life");
    let dir = tempfile::tempdir().unwrap();
    let lan = Lan::new();
    let rr_ns = Netns::new("fml");
    let cl_ns = Netns::new("fmc");
    lan.attach(&rr_ns, "eth0", "10.10.25.42/16");
    lan.attach(&cl_ns, "eth0", "10.10.1.1/16");
    cl_ns.addr("eth0", "10.10.1.3/16");
    let rr = Ferry::start(&rr_ns, dir.path(), "rr", &rr_config());

    // Before any session: the configured peer is down, the dynamic range
    // has no series.
    let text = wait_metrics(
        &rr_ns,
        &rr,
        "the configured peer down",
        &[
            (
                r#"ferry_bgp_session_up{peer="10.10.1.3",group="static"}"#,
                0.0,
            ),
            (r#"ferry_bgp_session_flaps_total{peer="10.10.1.3"}"#, 0.0),
            (r#"ferry_config_last_reload_successful"#, 1.0),
            (r#"ferry_core_up"#, 1.0),
        ],
    );
    assert!(!text.contains("10.10.1.1"), "{text}");
    assert!(text.contains(r#"ferry_build_info{version=""#), "{text}");
    for name in [
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(
            sample(&text, name).is_some_and(|v| v > 0.0),
            "{name}: {text}"
        );
    }
    assert!(
        sample(&text, "process_cpu_seconds_total").is_some_and(|v| v >= 0.0),
        "{text}"
    );
    promtool_check(&text).expect("promtool check metrics (no session)");

    let stop_a = Arc::new(AtomicBool::new(false));
    let stop_b = Arc::new(AtomicBool::new(false));
    let a_addr = Ipv4Addr::new(10, 10, 1, 1);
    let b_addr = Ipv4Addr::new(10, 10, 1, 3);
    std::thread::scope(|scope| {
        let (ready_a, ready_a_rx) = mpsc::channel();
        let stop = stop_a.clone();
        let a = scope.spawn(|| {
            let updates = ["10.1.0.0/24", "10.1.1.0/24", "10.1.2.0/24"]
                .iter()
                .map(|p| type5_update(p, a_addr))
                .collect();
            in_netns(&cl_ns, move || client(a_addr, updates, stop, ready_a))
        });
        let checks = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let r = ready_a_rx.recv_timeout(Duration::from_secs(30));
            assert!(matches!(r, Ok(Ok(()))), "client A: {r:?}");
            // Up, its messages and prefixes counted.
            wait_metrics(
                &rr_ns,
                &rr,
                "client A up with 3 prefixes",
                &[
                    (
                        r#"ferry_bgp_session_up{peer="10.10.1.1",group="workers"}"#,
                        1.0,
                    ),
                    (
                        r#"ferry_bgp_messages_received_total{peer="10.10.1.1",type="open"}"#,
                        1.0,
                    ),
                    (
                        r#"ferry_bgp_messages_received_total{peer="10.10.1.1",type="update"}"#,
                        4.0,
                    ),
                    (
                        r#"ferry_bgp_messages_received_total{peer="10.10.1.1",type="notification"}"#,
                        0.0,
                    ),
                    (
                        r#"ferry_bgp_messages_sent_total{peer="10.10.1.1",type="open"}"#,
                        1.0,
                    ),
                    (
                        r#"ferry_bgp_prefixes_received{peer="10.10.1.1",family="evpn"}"#,
                        3.0,
                    ),
                    (
                        r#"ferry_bgp_prefixes_accepted{peer="10.10.1.1",family="evpn"}"#,
                        3.0,
                    ),
                    (
                        r#"ferry_bgp_prefixes_advertised{peer="10.10.1.1",family="evpn"}"#,
                        0.0,
                    ),
                    (r#"ferry_rib_routes{family="evpn"}"#, 3.0),
                    (r#"ferry_rib_paths{family="evpn"}"#, 3.0),
                ],
            );

            // A second client, configured: it is advertised A's prefixes.
            let (ready_b, ready_b_rx) = mpsc::channel();
            let stop = stop_b.clone();
            let b =
                scope.spawn(|| in_netns(&cl_ns, move || client(b_addr, Vec::new(), stop, ready_b)));
            let r = ready_b_rx.recv_timeout(Duration::from_secs(30));
            assert!(matches!(r, Ok(Ok(()))), "client B: {r:?}");
            let text = wait_metrics(
                &rr_ns,
                &rr,
                "client B up and sent A's prefixes",
                &[
                    (
                        r#"ferry_bgp_session_up{peer="10.10.1.3",group="static"}"#,
                        1.0,
                    ),
                    (
                        r#"ferry_bgp_prefixes_advertised{peer="10.10.1.3",family="evpn"}"#,
                        3.0,
                    ),
                    (
                        r#"ferry_bgp_prefixes_received{peer="10.10.1.3",family="evpn"}"#,
                        0.0,
                    ),
                    (r#"ferry_bgp_output_queue_bytes{peer="10.10.1.3"}"#, 0.0),
                ],
            );
            let sent = sample(
                &text,
                r#"ferry_bgp_messages_sent_total{peer="10.10.1.3",type="update"}"#,
            );
            assert!(
                sent.is_some_and(|n| n >= 1.0),
                "A's prefixes: {sent:?}\n{text}"
            );
            promtool_check(&text).expect("promtool check metrics (two sessions)");

            // A goes: a dynamic peer is forgotten, its series with it, and
            // its routes leave the RIB.
            stop_a.store(true, Ordering::SeqCst);
            let text = wait_metrics(
                &rr_ns,
                &rr,
                "client A gone",
                &[
                    (r#"ferry_rib_routes{family="evpn"}"#, 0.0),
                    (
                        r#"ferry_bgp_prefixes_advertised{peer="10.10.1.3",family="evpn"}"#,
                        0.0,
                    ),
                ],
            );
            eventually("client A's series gone", Duration::from_secs(10), || {
                let text = metrics(&rr_ns, RR_HTTP);
                if text.contains("\"10.10.1.1\"") {
                    Err(text)
                } else {
                    Ok(())
                }
            });
            drop(text);

            // B goes: a configured peer stays, down, with one flap.
            stop_b.store(true, Ordering::SeqCst);
            wait_metrics(
                &rr_ns,
                &rr,
                "client B down",
                &[
                    (
                        r#"ferry_bgp_session_up{peer="10.10.1.3",group="static"}"#,
                        0.0,
                    ),
                    (r#"ferry_bgp_session_flaps_total{peer="10.10.1.3"}"#, 1.0),
                ],
            );
            let _ = b.join();

            // Reloads: one applied, one rejected.
            rr.ctl(&["reload"]).expect("reload of the same file");
            wait_metrics(
                &rr_ns,
                &rr,
                "a successful reload",
                &[
                    (r#"ferry_config_reloads_total{result="success"}"#, 1.0),
                    (r#"ferry_config_reloads_total{result="failure"}"#, 0.0),
                    (r#"ferry_config_last_reload_successful"#, 1.0),
                ],
            );
            rr.rewrite(&rr_config().replace("local-as = 64512", "local-as = \"x\""));
            assert!(rr.ctl(&["reload"]).is_err(), "an invalid file is rejected");
            let text = wait_metrics(
                &rr_ns,
                &rr,
                "a rejected reload",
                &[
                    (r#"ferry_config_reloads_total{result="success"}"#, 1.0),
                    (r#"ferry_config_reloads_total{result="failure"}"#, 1.0),
                    (r#"ferry_config_last_reload_successful"#, 0.0),
                ],
            );
            promtool_check(&text).expect("promtool check metrics (after the sessions)");
        }));
        stop_a.store(true, Ordering::SeqCst);
        stop_b.store(true, Ordering::SeqCst);
        let _ = a.join();
        if let Err(p) = checks {
            std::panic::resume_unwind(p);
        }
    });

    // The other endpoints, and anything else.
    assert_eq!(http_get(&rr_ns, RR_HTTP, "/livez").map(|r| r.0), Ok(200));
    assert_eq!(
        http_get(&rr_ns, RR_HTTP, "/readyz"),
        Ok((200, "ready\n".to_string()))
    );
    assert_eq!(http_get(&rr_ns, RR_HTTP, "/nothing").map(|r| r.0), Ok(404));
}

const WORKER: &str = "10.10.93.12";
const WORKER_HTTP: &str = "10.10.93.12:9179";

/// The worker, graceful restart on (the default): both speakers start as
/// restarting ones (RFC 4724 §4.1); each sets the Restart State bit, so
/// neither waits for the other's End-of-RIB (no wait for the 60 s
/// deferral limit).
fn worker_config() -> String {
    format!(
        r#"http-listen = "{WORKER_HTTP}"
router-id = "{WORKER}"
local-as = 64512
connect-retry = 1
[[group]]
name = "reflectors"
local-address = "{WORKER}"
neighbors = ["10.10.25.42"]
families = ["evpn"]
"#
    )
}

fn readyz(ns: &Netns) -> (u16, String) {
    http_get(ns, WORKER_HTTP, "/readyz").unwrap_or_else(|e| (0, e))
}

#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn a_worker_is_ready_only_with_its_reflector() {
    require_root("a_worker_is_ready_only_with_its_reflector");
    let dir = tempfile::tempdir().unwrap();
    let lan = Lan::new();
    let rr_ns = Netns::new("frr");
    let w_ns = Netns::new("frw");
    lan.attach(&rr_ns, "eth0", "10.10.25.42/16");
    lan.attach(&w_ns, "eth0", &format!("{WORKER}/16"));
    let worker = Ferry::start(&w_ns, dir.path(), "worker", &worker_config());

    // No reflector: not ready, and the reason says so; alive all the same.
    let body = eventually(
        "worker /readyz 503",
        Duration::from_secs(10),
        || match readyz(&w_ns) {
            (503, body) => Ok(body),
            other => Err(format!("{other:?}\n{}", worker.proc.log_text())),
        },
    );
    assert!(
        body.lines()
            .any(|l| l.starts_with("no Established session with a route reflector (10.10.25.42 ")),
        "{body}"
    );
    assert!(
        body.contains("kernel not in sync: routes from before the start are kept until End-of-RIB"),
        "{body}"
    );
    assert_eq!(http_get(&w_ns, WORKER_HTTP, "/livez").map(|r| r.0), Ok(200));
    let text = match http_get(&w_ns, WORKER_HTTP, "/metrics") {
        Ok((200, t)) => t,
        other => panic!("{other:?}"),
    };
    assert_eq!(sample(&text, "ferry_ready"), Some(0.0), "{text}");
    assert_eq!(sample(&text, "ferry_kernel_in_sync"), Some(0.0), "{text}");
    assert_eq!(
        sample(
            &text,
            r#"ferry_bgp_session_up{peer="10.10.25.42",group="reflectors"}"#
        ),
        Some(0.0),
        "{text}"
    );
    promtool_check(&text).expect("promtool check metrics (worker)");

    // The reflector starts: ready within seconds.
    let rr_conf = format!("http-listen = \"{RR_HTTP}\"\n{RR}families = [\"evpn\"]\n");
    let mut rr = Ferry::start(&rr_ns, dir.path(), "rr", &rr_conf);
    let started = Instant::now();
    eventually(
        "worker /readyz 200",
        Duration::from_secs(20),
        || match readyz(&w_ns) {
            (200, body) if body == "ready\n" => Ok(()),
            other => Err(format!(
                "{other:?}\n--- worker\n{}\n--- rr\n{}",
                worker.proc.log_text(),
                rr.proc.log_text()
            )),
        },
    );
    eprintln!(
        "worker ready {:?} after the reflector started",
        started.elapsed()
    );
    assert_eq!(
        http_get(&rr_ns, RR_HTTP, "/readyz"),
        Ok((200, "ready\n".to_string()))
    );
    let text = match http_get(&w_ns, WORKER_HTTP, "/metrics") {
        Ok((200, t)) => t,
        other => panic!("{other:?}"),
    };
    assert_eq!(sample(&text, "ferry_ready"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "ferry_kernel_in_sync"), Some(1.0), "{text}");

    // The reflector stops: not ready again.
    rr.proc.signal(libc::SIGTERM);
    assert!(
        rr.proc.wait(Duration::from_secs(10)).is_some(),
        "rr did not stop"
    );
    let body = eventually(
        "worker /readyz 503 again",
        Duration::from_secs(10),
        || match readyz(&w_ns) {
            (503, body) => Ok(body),
            other => Err(format!("{other:?}")),
        },
    );
    assert!(
        body.starts_with("no Established session with a route reflector (10.10.25.42 "),
        "{body}"
    );
}

/// `--log-format json` (and `log-format = "json"`): one JSON object per
/// line with timestamp, level, target and fields (the message among them).
#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let port = 20000 + std::process::id() % 20000;
    let conf = dir.path().join("rr.toml");
    let socket = dir.path().join("rr.sock");
    for (args, in_file) in [(vec!["--log-format", "json"], false), (vec![], true)] {
        let _ = std::fs::remove_file(&socket);
        std::fs::write(
            &conf,
            format!(
                "{}control-socket = \"{}\"\nlisten-address = \"127.0.0.1\"\nlisten-port = {port}\n{RR}",
                if in_file { "log-format = \"json\"\n" } else { "" },
                socket.display()
            ),
        )
        .unwrap();
        let log = dir.path().join("rr.log");
        let mut child = Command::new(ferry_tests::bin("bgpd"))
            .args(["--config", conf.to_str().unwrap()])
            .args(&args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let text = eventually("bgpd started", Duration::from_secs(10), || {
            let t = std::fs::read_to_string(&log).unwrap_or_default();
            if t.contains("bgpd started") {
                Ok(t)
            } else {
                Err(t)
            }
        });
        // SAFETY: SIGTERM to the child this test started, by its PID.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        let _ = child.wait();
        let mut started = false;
        for line in text.lines() {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
            for key in ["timestamp", "level", "target", "fields"] {
                assert!(v.get(key).is_some(), "{key} missing: {line}");
            }
            if v["fields"]["message"] == "bgpd started" {
                started = true;
                assert_eq!(v["level"], "INFO", "{line}");
                assert_eq!(v["fields"]["local_as"], 64512, "{line}");
                assert_eq!(v["fields"]["reflector"], true, "{line}");
            }
        }
        assert!(started, "{text}");
    }
}
