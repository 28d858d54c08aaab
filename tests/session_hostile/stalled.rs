//! A peer that stops reading and sending while the reflector's writer
//! is in the middle of its queued UPDATEs.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ferry_tests::{require_root, Ferry, Lan, Netns, RR};
use ferry_wire::{EncodeContext, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{alive, establish, route, spawn_in, state_of};

/// Sockets of the namespace to `addr` (`ss -Htn`, any state).
fn sockets_to(ns: &Netns, addr: &str) -> Vec<String> {
    let out = ns.exec(&["ss", "-Htna", "dst", addr]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

pub(crate) fn hold_timer_resets_a_peer_that_stopped_reading() {
    require_root("hold_timer_resets_a_peer_that_stopped_reading");
    let dir = tempfile::tempdir().unwrap();
    let lan = Lan::new();
    let rr_ns = Netns::new("fs");
    let cl_ns = Netns::new("fs");
    lan.attach(&rr_ns, "eth0", "10.10.25.42/16");
    lan.attach(&cl_ns, "eth0", "10.10.93.12/16");
    cl_ns.addr("eth0", "10.10.93.99/16");
    // Small send buffers on the reflector's side: a few thousand routes
    // fill them.
    rr_ns.exec_ok(&["sysctl", "-qw", "net.ipv4.tcp_wmem=4096 16384 65536"]);
    let rr = Ferry::start(&rr_ns, dir.path(), "rr", &format!("{RR}hold-time = 3\n"));
    let stalled = Ipv4Addr::new(10, 10, 93, 12);
    let feeder_addr = Ipv4Addr::new(10, 10, 93, 99);
    let (tx, rx) = std::sync::mpsc::channel::<Result<Instant, String>>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let worker = spawn_in(&cl_ns, move || async move {
        // The feeder keeps its session (hold 3 s) with KEEPALIVEs
        // and reads everything.
        let mut feeder = match establish(feeder_addr, 90, false, None).await {
            Ok(p) => p,
            Err(e) => {
                let _ = tx.send(Err(format!("feeder: {e}")));
                return;
            }
        };
        let mut batch = Vec::new();
        for i in 0..6000u32 {
            let prefix = format!("20.{}.{}.0/24", i / 256, i % 256);
            batch.extend_from_slice(&route(&prefix, feeder_addr));
        }
        if let Err(e) = feeder.send_raw(&batch).await {
            let _ = tx.send(Err(format!("feeder: {e}")));
            return;
        }
        let keep = tokio::spawn(async move {
            let mut stop_rx = stop_rx;
            let (mut read, mut write) = feeder.stream.into_split();
            let keepalive = Message::Keepalive
                .to_bytes(&EncodeContext::default())
                .unwrap();
            let mut tick = tokio::time::interval(Duration::from_millis(700));
            let mut sink = vec![0u8; 64 * 1024];
            loop {
                tokio::select! {
                    _ = &mut stop_rx => break,
                    _ = tick.tick() => {
                        if write.write_all(&keepalive).await.is_err() {
                            break;
                        }
                    }
                    r = read.read(&mut sink) => {
                        if !matches!(r, Ok(n) if n > 0) {
                            break;
                        }
                    }
                }
            }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        // The stalled peer: a 4 KiB receive window, then it
        // neither reads nor sends after its KEEPALIVE.
        let p = match establish(stalled, 90, false, Some(4096)).await {
            Ok(p) => p,
            Err(e) => {
                let _ = tx.send(Err(format!("stalled peer: {e}")));
                return;
            }
        };
        let last_sent = Instant::now();
        let _ = tx.send(Ok(last_sent));
        // Hold the socket without touching it until told.
        tokio::time::sleep(Duration::from_secs(8)).await;
        // What it can read now: the queued UPDATEs, then the end
        // (RST or EOF) — never a connection that stays open.
        let mut p = p;
        let mut end = None;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::time::Instant::now() < deadline {
            match p.recv_raw(Duration::from_secs(2)).await {
                Ok(_) => {}
                Err(e) => {
                    end = Some(e);
                    break;
                }
            }
        }
        let _ = tx.send(match end {
            Some(e) if e.kind() != std::io::ErrorKind::TimedOut => Ok(Instant::now()),
            other => Err(format!(
                "the stalled peer's connection stayed open: {other:?}"
            )),
        });
        let _ = stop_tx.send(());
        let _ = keep.await;
    });
    let last_sent = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => panic!("{e}\n{}", rr.proc.log_text()),
        Err(_) => panic!("raw peers stopped\n{}", rr.proc.log_text()),
    };
    // The queue towards the stalled peer is stuck: bgpd's socket holds
    // unsent octets.
    std::thread::sleep(Duration::from_millis(1500));
    let before = sockets_to(&rr_ns, "10.10.93.12");
    assert!(
        !before.is_empty(),
        "no socket to the stalled peer before its hold time"
    );
    // Hold time 3 s, then at most 1 s to try the NOTIFICATION and reset.
    let gone = loop {
        let now = sockets_to(&rr_ns, "10.10.93.12");
        if now.is_empty() {
            break last_sent.elapsed();
        }
        if last_sent.elapsed() > Duration::from_secs(5) {
            panic!(
                "sockets to the stalled peer {:?} after the hold time + 2 s: {now:?}\nbefore: {before:?}\n{}",
                last_sent.elapsed(),
                rr.proc.log_text()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    eprintln!(
        "socket to the stalled peer gone {gone:?} after its last message; before: {before:?}"
    );
    assert!(
        gone >= Duration::from_millis(2500),
        "closed before the hold time: {gone:?}"
    );
    // The feeder was never disturbed, and the reflector still serves.
    assert_eq!(state_of(&rr, "10.10.93.99").as_deref(), Some("Established"));
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => panic!("{e}"),
        Err(_) => panic!("the stalled peer never saw the end"),
    }
    worker.join().unwrap();
    assert!(alive(&rr), "bgpd died:\n{}", rr.proc.log_text());
}
