//! Sessions against hostile and odd peers, as root in network namespaces:
//! raw speakers that send a 65535-octet UPDATE with an unrecognised
//! well-known attribute, stop reading, connect and leave during OpenSent,
//! send OPENs whose AS fields disagree, and control-socket clients that
//! never ask anything. The reflector answers as the RFCs say, stays up,
//! forgets what is gone and keeps serving everyone else.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ferry_tests::{eventually, in_netns, require_root, type5_update, Ferry, Lan, Netns, RR};
use ferry_wire::message::Capability;
use ferry_wire::{frame_length, DecodeContext, EncodeContext, Family, Message, Open};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const RR_ADDR: Ipv4Addr = Ipv4Addr::new(10, 10, 25, 42);

/// A raw speaker: sends what it is told, reads whole messages.
struct Peer {
    stream: TcpStream,
    buf: BytesMut,
    /// Extended messages negotiated (both sides announced them).
    extended: bool,
}

/// Connects from `local` to the reflector, optionally with a small
/// receive buffer (set before the connection, so the window stays small).
async fn dial(local: Ipv4Addr, rcvbuf: Option<u32>) -> std::io::Result<Peer> {
    let socket = TcpSocket::new_v4()?;
    if let Some(size) = rcvbuf {
        socket.set_recv_buffer_size(size)?;
    }
    socket.bind(SocketAddr::new(IpAddr::V4(local), 0))?;
    let stream = socket
        .connect(SocketAddr::new(IpAddr::V4(RR_ADDR), 179))
        .await?;
    Ok(Peer {
        stream,
        buf: BytesMut::new(),
        extended: false,
    })
}

/// The OPEN of a worker of AS 64512 (EVPN), with Extended Message when
/// `extended`.
fn worker_open(router_id: Ipv4Addr, hold: u16, extended: bool) -> Open {
    let mut caps = vec![
        Capability::Multiprotocol {
            family: Family::EVPN,
        },
        Capability::FourOctetAs { asn: 64512 },
    ];
    if extended {
        caps.push(Capability::ExtendedMessage);
    }
    Open::new(64512, hold, router_id, caps)
}

impl Peer {
    /// Dials and completes the OPEN exchange.
    async fn establish(
        local: Ipv4Addr,
        hold: u16,
        extended: bool,
        rcvbuf: Option<u32>,
    ) -> std::io::Result<Peer> {
        let mut p = dial(local, rcvbuf).await?;
        p.send(&Message::Open(worker_open(local, hold, extended)))
            .await?;
        loop {
            match p.recv(Duration::from_secs(10)).await? {
                Message::Open(o) => {
                    p.extended = extended
                        && o.capabilities()
                            .any(|c| matches!(c, Capability::ExtendedMessage));
                    p.send(&Message::Keepalive).await?;
                }
                Message::Keepalive => return Ok(p),
                Message::Notification(n) => return Err(std::io::Error::other(n.to_string())),
                _ => {}
            }
        }
    }

    fn max(&self) -> usize {
        if self.extended {
            65535
        } else {
            4096
        }
    }

    async fn send(&mut self, m: &Message) -> std::io::Result<()> {
        let ctx = EncodeContext {
            extended_message: self.extended,
            ..EncodeContext::default()
        };
        let b = m.to_bytes(&ctx).map_err(std::io::Error::other)?;
        self.stream.write_all(&b).await
    }

    async fn send_raw(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(b).await
    }

    /// The next whole message, undecoded; framed at 65535 octets so that
    /// a message too long for the session is seen, not refused.
    async fn recv_raw(&mut self, timeout: Duration) -> std::io::Result<Bytes> {
        tokio::time::timeout(timeout, async {
            loop {
                if let Some(len) = frame_length(&self.buf, 65535).map_err(std::io::Error::other)? {
                    return Ok(self.buf.split_to(len).freeze());
                }
                if self.stream.read_buf(&mut self.buf).await? == 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "closed",
                    ));
                }
            }
        })
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no message"))?
    }

    async fn recv(&mut self, timeout: Duration) -> std::io::Result<Message> {
        let raw = self.recv_raw(timeout).await?;
        let ctx = DecodeContext {
            extended_message: true,
            ..DecodeContext::default()
        };
        Message::decode(&raw, &ctx).map_err(std::io::Error::other)
    }

    /// Reads until a NOTIFICATION (returned raw) or the end.
    async fn notification(&mut self, timeout: Duration) -> Option<Bytes> {
        let end = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < end {
            match self.recv_raw(Duration::from_millis(500)).await {
                Ok(raw) if raw[18] == 3 => return Some(raw),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return None,
            }
        }
        None
    }
}

/// Runs `f` on a new thread inside the namespace called `ns`, without
/// waiting for it (unlike `ferry_tests::in_netns`).
fn spawn_in<T: Send + 'static>(
    ns: &Netns,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let path = format!("/var/run/netns/{}", ns.name);
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // SAFETY: setns(2) on a namespace file we opened, for this thread only.
        let rc = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// An encoded UPDATE for one Type-5 route.
fn route(prefix: &str, vtep: Ipv4Addr) -> Vec<u8> {
    Message::Update(type5_update(prefix, vtep))
        .to_bytes(&EncodeContext::default())
        .unwrap()
        .to_vec()
}

/// `update` with one more path attribute: flags 0x50 (transitive,
/// extended length, well-known), type 201, as long as makes the whole
/// UPDATE `total` octets.
fn with_big_well_known_attribute(update: &[u8], total: usize) -> Vec<u8> {
    let value_len = total - update.len() - 4;
    let mut out = update.to_vec();
    out.extend_from_slice(&[0x50, 201]);
    out.extend_from_slice(&(value_len as u16).to_be_bytes());
    out.resize(total, 0x5a);
    out[16..18].copy_from_slice(&(total as u16).to_be_bytes());
    let alen = u16::from_be_bytes([out[21], out[22]]) as usize + 4 + value_len;
    out[21..23].copy_from_slice(&(alen as u16).to_be_bytes());
    out
}

/// True while bgpd runs (not exited, not a zombie).
fn alive(rr: &Ferry) -> bool {
    std::fs::read_to_string(format!("/proc/{}/stat", rr.proc.pid()))
        .ok()
        .and_then(|st| {
            st.rsplit(')')
                .next()
                .map(|rest| rest.trim_start().to_string())
        })
        .is_some_and(|rest| !rest.starts_with('Z'))
}

/// The state `show summary` gives `addr`, if it lists it.
fn state_of(rr: &Ferry, addr: &str) -> Option<String> {
    rr.sessions()
        .into_iter()
        .find(|(a, ..)| a == addr)
        .map(|(_, s, ..)| s)
}

fn route_count(rr: &Ferry, prefix: &str) -> usize {
    rr.routes(&["--family", "evpn", "--prefix", prefix]).len()
}

/// Item: a 65535-octet UPDATE with an unrecognised well-known attribute
/// on a session with Extended Message.
#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn oversize_attribute_gets_a_notification_that_fits_and_the_peer_comes_back() {
    require_root("oversize_attribute_gets_a_notification_that_fits_and_the_peer_comes_back");
    let dir = tempfile::tempdir().unwrap();
    let lan = Lan::new();
    let rr_ns = Netns::new("fh");
    let cl_ns = Netns::new("fh");
    lan.attach(&rr_ns, "eth0", "10.10.25.42/16");
    lan.attach(&cl_ns, "eth0", "10.10.93.12/16");
    cl_ns.addr("eth0", "10.10.93.99/16");
    let rr = Ferry::start(&rr_ns, dir.path(), "rr", RR);
    let hostile = Ipv4Addr::new(10, 10, 93, 12);
    let bystander_addr = Ipv4Addr::new(10, 10, 93, 99);

    // The bystander and the hostile peer, both Established; the
    // bystander sees the hostile peer's route reflected.
    let (tx, rx) = std::sync::mpsc::channel::<&'static str>();
    let (back_tx, back_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let worker = spawn_in(&cl_ns, move || {
        runtime().block_on(async move {
            let r: Result<(), String> = async {
                let mut bystander = Peer::establish(bystander_addr, 90, false, None)
                    .await
                    .map_err(|e| format!("bystander: {e}"))?;
                let mut h = Peer::establish(hostile, 90, true, None)
                    .await
                    .map_err(|e| format!("hostile: {e}"))?;
                if !h.extended {
                    return Err("Extended Message not negotiated".into());
                }
                let base = route("1.1.1.0/30", hostile);
                h.send_raw(&base).await.map_err(|e| e.to_string())?;
                // The bystander gets the route.
                let mut seen = false;
                for _ in 0..20 {
                    match bystander.recv(Duration::from_millis(500)).await {
                        Ok(Message::Update(u)) if u.mp_reach.is_some() => {
                            seen = true;
                            break;
                        }
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                        Err(e) => return Err(format!("bystander: {e}")),
                    }
                }
                if !seen {
                    return Err("the bystander never got the hostile peer's route".into());
                }
                back_tx.send(Ok(())).ok();
                // Wait for the main thread to check the RIB.
                let _ = rx.recv();
                let big = with_big_well_known_attribute(&base, 65535);
                h.send_raw(&big).await.map_err(|e| e.to_string())?;
                let n = h
                    .notification(Duration::from_secs(5))
                    .await
                    .ok_or("no NOTIFICATION after the 65535-octet UPDATE")?;
                let len = u16::from_be_bytes([n[16], n[17]]) as usize;
                if len != n.len() || len > h.max() {
                    return Err(format!(
                        "NOTIFICATION of {} octets (length field {len}), maximum {}",
                        n.len(),
                        h.max()
                    ));
                }
                if (n[19], n[20]) != (3, 2) {
                    return Err(format!("NOTIFICATION {}/{}, 3/2 expected", n[19], n[20]));
                }
                // RFC 4271 §6.3: the data is the attribute (cut to
                // what fits).
                if n.len() > 21 && n[21..23] != [0x50, 201] {
                    return Err(format!("NOTIFICATION data starts {:?}", &n[21..23]));
                }
                // The connection is closed after it.
                match h.recv_raw(Duration::from_secs(3)).await {
                    Err(e) if e.kind() != std::io::ErrorKind::TimedOut => {}
                    other => return Err(format!("connection still open: {other:?}")),
                }
                // The bystander loses the hostile peer's route.
                let mut withdrawn = false;
                for _ in 0..20 {
                    match bystander.recv(Duration::from_millis(500)).await {
                        Ok(Message::Update(u))
                            if u.mp_unreach
                                .as_ref()
                                .is_some_and(|m| !m.withdrawn.is_empty()) =>
                        {
                            withdrawn = true;
                            break;
                        }
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                            let _ = bystander.send(&Message::Keepalive).await;
                        }
                        Err(e) => return Err(format!("bystander: {e}")),
                    }
                }
                if !withdrawn {
                    return Err("the bystander's view kept the hostile peer's route".into());
                }
                back_tx.send(Ok(())).ok();
                let _ = rx.recv();
                // The same address connects again.
                let mut again = Peer::establish(hostile, 90, true, None)
                    .await
                    .map_err(|e| format!("reconnecting: {e}"))?;
                again.send_raw(&base).await.map_err(|e| e.to_string())?;
                back_tx.send(Ok(())).ok();
                let _ = rx.recv();
                drop(bystander);
                Ok(())
            }
            .await;
            if let Err(e) = &r {
                let _ = back_tx.send(Err(e.clone()));
            }
            r
        })
    });

    let step = |what: &str| match back_rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("{what}: {e}"),
        Err(_) => {
            panic!("{what}: the raw peers stopped\n{}", rr.proc.log_text())
        }
    };
    step("both peers up");
    assert_eq!(route_count(&rr, "1.1.1.0/30"), 1);
    tx.send("send the big UPDATE").unwrap();
    step("after the big UPDATE");
    assert!(alive(&rr), "bgpd died:\n{}", rr.proc.log_text());
    eventually(
        "the hostile peer leaves Established",
        Duration::from_secs(5),
        || match state_of(&rr, "10.10.93.12") {
            Some(s) if s == "Established" => Err(format!("still {s}")),
            _ => Ok(()),
        },
    );
    assert_eq!(route_count(&rr, "1.1.1.0/30"), 0);
    tx.send("connect again").unwrap();
    step("reconnected");
    rr.wait_established(&["10.10.93.12", "10.10.93.99"]);
    eventually(
        "the route is back",
        Duration::from_secs(5),
        || match route_count(&rr, "1.1.1.0/30") {
            1 => Ok(()),
            n => Err(format!("{n} paths")),
        },
    );
    tx.send("done").unwrap();
    let r = worker.join().unwrap();
    assert_eq!(r, Ok(()));
    assert!(alive(&rr), "bgpd died:\n{}", rr.proc.log_text());
    assert!(
        !rr.proc.log_text().contains("panicked"),
        "{}",
        rr.proc.log_text()
    );
}

/// Sockets of the namespace to `addr` (`ss -Htn`, any state).
fn sockets_to(ns: &Netns, addr: &str) -> Vec<String> {
    let out = ns.exec(&["ss", "-Htna", "dst", addr]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// Item: the hold timer closes a peer that stopped reading and sending,
/// even while its writer is stuck in the middle of the queued UPDATEs.
#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn hold_timer_resets_a_peer_that_stopped_reading() {
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
    let worker = spawn_in(&cl_ns, move || {
        {
            runtime().block_on(async move {
                // The feeder keeps its session (hold 3 s) with KEEPALIVEs
                // and reads everything.
                let mut feeder = match Peer::establish(feeder_addr, 90, false, None).await {
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
                let p = match Peer::establish(stalled, 90, false, Some(4096)).await {
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
            })
        }
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

/// Item: allow-range peers that connect and go before Established are
/// forgotten, and bgpd never dials an allow-range address.
#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn dynamic_neighbors_that_leave_early_are_forgotten_and_never_dialled() {
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
    let dials = in_netns(&cl_ns, move || {
        runtime().block_on(async move {
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
                    let Ok(mut p) = dial(*a, None).await else {
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
        })
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
    in_netns(&cl_ns, move || {
        runtime().block_on(async move {
            let p = Peer::establish(a, 90, false, None).await.unwrap();
            tokio::time::sleep(Duration::from_millis(500)).await;
            drop(p);
        })
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

/// Item: OPENs whose AS fields disagree (RFC 6793 §4.1) get OPEN Message
/// Error / Bad Peer AS.
#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn open_with_disagreeing_as_fields_gets_bad_peer_as() {
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
    let answers = in_netns(&cl_ns, move || {
        runtime().block_on(async move {
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
                let mut p = dial(me, None).await.unwrap();
                p.send(&Message::Open(Open::new(65000, 90, me, caps)))
                    .await
                    .unwrap();
                let mut got = None;
                for _ in 0..4 {
                    match p.recv(Duration::from_secs(3)).await {
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
        })
    });
    eprintln!("{answers:?}");
    assert_eq!(answers[0].1, Some((2, 2)), "{}", answers[0].0);
    assert_eq!(answers[1].1, Some((2, 2)), "{}", answers[1].0);
    assert_eq!(answers[2].1, None, "{}", answers[2].0);
    let log = rr.proc.log_text();
    assert!(log.contains("disagrees with the 4-octet AS"), "{log}");
}

/// Item: idle control clients are bounded and dropped; `bgpctl` still
/// gets its answer.
#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn idle_control_clients_are_bounded_and_dropped() {
    require_root("idle_control_clients_are_bounded_and_dropped");
    let dir = tempfile::tempdir().unwrap();
    let rr_ns = Netns::new("fc");
    let rr = Ferry::start(
        &rr_ns,
        dir.path(),
        "rr",
        "router-id = \"10.10.25.42\"\nlocal-as = 64512\nlisten-address = \"127.0.0.1\"\n",
    );
    let fds = |pid: u32| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let start_fds = fds(rr.proc.pid());
    let opened = Instant::now();
    let mut idle: Vec<UnixStream> = (0..300)
        .map(|_| UnixStream::connect(&rr.socket).expect("control socket"))
        .collect();
    // A normal request is answered at once despite them.
    let t = Instant::now();
    let summary = rr.ctl(&["show", "summary"]);
    assert!(summary.is_ok(), "show summary failed: {summary:?}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // Every idle client is closed by the daemon: most at once (their
    // places went to newer clients), the rest after 10 s without a
    // request.
    let mut closed = 0;
    for s in &mut idle {
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let mut b = [0u8; 256];
        // A signal for another test's child may interrupt the read.
        let r = loop {
            match s.read(&mut b) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => break r,
            }
        };
        match r {
            Ok(_) => closed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => closed += 1,
            Err(e) => panic!(
                "an idle control client still open after {:?}: {e}",
                opened.elapsed()
            ),
        }
    }
    assert_eq!(closed, 300);
    let took = opened.elapsed();
    assert!(took < Duration::from_secs(14), "{took:?}");
    assert!(
        took >= Duration::from_secs(9),
        "closed before the timeout: {took:?}"
    );
    drop(idle);
    eventually("bgpd's descriptors back", Duration::from_secs(5), || {
        let n = fds(rr.proc.pid());
        if n <= start_fds + 2 {
            Ok(())
        } else {
            Err(format!("{n} descriptors, {start_fds} at the start"))
        }
    });
    assert!(rr.ctl(&["show", "summary"]).is_ok());
}
