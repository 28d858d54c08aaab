//! Output flow control against clients that do not read, as root in
//! network namespaces: a client that sends KEEPALIVEs but never reads is
//! throttled (its queue stays bounded while another client converges) and
//! gets exactly the reflector's routes once it reads again; with a short
//! send hold time it is dropped (RFC 9687); forty ROUTE-REFRESH requests
//! from a client that does not read are one table.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use ferry_tests::{block_in, raw, require_root, vpnv4_update, Ferry, Lan, Netns, RR};
use ferry_wire::message::{Capability, RefreshSubtype};
use ferry_wire::{Family, Message, Open, RouteRefresh, Update};
use tokio::io::AsyncWriteExt;

const RR_ADDR: Ipv4Addr = Ipv4Addr::new(10, 10, 25, 42);
const INJECTOR: Ipv4Addr = Ipv4Addr::new(10, 10, 93, 1);
const STUCK: Ipv4Addr = Ipv4Addr::new(10, 10, 93, 2);
const READER: Ipv4Addr = Ipv4Addr::new(10, 10, 93, 3);

/// Flow control's high-water mark (bgpd's `session::HIGH_WATER`), and the
/// most a stuck peer may have queued: the mark plus one event's UPDATEs.
const HIGH_WATER: u64 = 1024 * 1024;
const QUEUE_BOUND: u64 = HIGH_WATER + 512 * 1024;

/// A reflector and a client namespace with the four client addresses;
/// the reflector's TCP send buffers small, so that a client that does not
/// read stalls its socket after a few kilobytes.
struct Bed {
    rr: Ferry,
    cl: Netns,
    _rr_ns: Netns,
    _lan: Lan,
    _dir: tempfile::TempDir,
}

impl Bed {
    fn new(group_keys: &str) -> Bed {
        let dir = tempfile::tempdir().unwrap();
        let lan = Lan::new();
        let rr_ns = Netns::new("fc");
        let cl = Netns::new("fc");
        lan.attach(&rr_ns, "eth0", "10.10.25.42/16");
        lan.attach(&cl, "eth0", "10.10.93.1/16");
        for a in ["10.10.93.2/16", "10.10.93.3/16", "10.10.93.4/16"] {
            cl.addr("eth0", a);
        }
        rr_ns.exec_ok(&["sysctl", "-qw", "net.ipv4.tcp_wmem=4096 16384 65536"]);
        let rr = Ferry::start(&rr_ns, dir.path(), "rr", &format!("{RR}{group_keys}"));
        Bed {
            rr,
            cl,
            _rr_ns: rr_ns,
            _lan: lan,
            _dir: dir,
        }
    }

    fn neighbor(&self, addr: Ipv4Addr) -> serde_json::Value {
        self.rr
            .neighbor(&addr.to_string())
            .unwrap_or_else(|e| panic!("show neighbor {addr}: {e}"))
    }

    /// bgpd's resident set, in kB.
    fn rss_kb(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.rr.proc.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }
}

/// An OPEN of AS 64512 with hold time 0 (no KEEPALIVEs needed, no hold
/// timer) and route refresh.
fn open(router_id: Ipv4Addr) -> Open {
    let mut caps = raw::capabilities(64512);
    caps.push(Capability::RouteRefresh);
    Open::new(64512, 0, router_id, caps)
}

/// A client with a 4 KiB receive window (when `small`), Established.
async fn client(local: Ipv4Addr, small: bool) -> raw::Session {
    let mut s = raw::tcp(local, RR_ADDR, small.then_some(4096))
        .await
        .unwrap_or_else(|e| panic!("{local}: {e}"));
    match s.handshake(&open(local)).await {
        Ok(Ok(_)) => {}
        other => panic!("{local}: no session: {other:?}"),
    }
    // Its End-of-RIBs: the reflector's selection deferral after its start
    // need not wait for them (RFC 4724 §4.1).
    for f in [Family::VPNV4, Family::EVPN] {
        s.send(&Message::Update(Update::end_of_rib(f)))
            .await
            .unwrap();
    }
    s
}

fn prefix(i: u32) -> ipnet::Ipv4Net {
    format!("{}.{}.{}.0/24", 20 + i / 65536, (i / 256) % 256, i % 256)
        .parse()
        .unwrap()
}

/// UPDATEs announcing routes `range` with LOCAL_PREF `pref`, 200 a message.
fn announcements(range: std::ops::Range<u32>, pref: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let all: Vec<u32> = range.collect();
    for chunk in all.chunks(200) {
        let mut u = vpnv4_update(INJECTOR, "64512:10", chunk.iter().map(|i| prefix(*i)));
        u.attributes.local_pref = Some(pref);
        out.extend_from_slice(&Message::Update(u).to_bytes(&Default::default()).unwrap());
    }
    out
}

fn withdrawals(range: std::ops::Range<u32>) -> Vec<u8> {
    let mut out = Vec::new();
    let all: Vec<u32> = range.collect();
    for chunk in all.chunks(200) {
        let u = vpnv4_update(INJECTOR, "64512:10", chunk.iter().map(|i| prefix(*i)));
        let reach = u.mp_reach.unwrap();
        let w = Update {
            mp_unreach: Some(ferry_wire::MpUnreachNlri {
                family: Family::VPNV4,
                withdrawn: reach.nlri,
                undecoded: Vec::new(),
            }),
            ..Default::default()
        };
        out.extend_from_slice(&Message::Update(w).to_bytes(&Default::default()).unwrap());
    }
    out
}

/// What a client was sent: prefix → LOCAL_PREF, End-of-RIBs, announcements.
#[derive(Default)]
struct Seen {
    routes: HashMap<String, Option<u32>>,
    end_of_rib: usize,
    announced: usize,
    notification: Option<(u8, u8)>,
}

impl Seen {
    fn apply(&mut self, m: Message) {
        match m {
            Message::Update(u) => {
                if u.end_of_rib_family() == Some(Family::VPNV4) {
                    self.end_of_rib += 1;
                }
                for w in u.withdrawn_all() {
                    if let ferry_wire::Nlri::Vpn(v) = &w.nlri {
                        self.routes.remove(&v.prefix.to_string());
                    }
                }
                for a in u.announced() {
                    if let ferry_wire::Nlri::Vpn(v) = &a.nlri {
                        self.announced += 1;
                        self.routes
                            .insert(v.prefix.to_string(), u.attributes.local_pref);
                    }
                }
            }
            Message::Notification(n) => self.notification = Some((n.code, n.subcode)),
            _ => {}
        }
    }
}

/// Reads until `done` holds or nothing came for `quiet`; the session
/// ending also ends it.
async fn read_until(
    s: &mut raw::Session,
    seen: &mut Seen,
    quiet: Duration,
    done: impl Fn(&Seen) -> bool,
) {
    while !done(seen) {
        match s.recv(quiet).await {
            Ok(m) => seen.apply(m),
            Err(e) => {
                eprintln!("read ends: {e}");
                return;
            }
        }
    }
}

/// The routes the injector leaves: `routes` prefixes, the last quarter
/// withdrawn, LOCAL_PREF `pref`.
fn expected(routes: u32, pref: u32) -> HashMap<String, Option<u32>> {
    (0..routes * 3 / 4)
        .map(|i| (prefix(i).to_string(), Some(pref)))
        .collect()
}

#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn a_stuck_client_is_throttled_and_gets_the_current_routes_when_it_reads() {
    require_root("a_stuck_client_is_throttled_and_gets_the_current_routes_when_it_reads");
    let bed = Bed::new("");
    const ROUTES: u32 = 40_000;
    const ROUNDS: u32 = 16;
    let rss_before = bed.rss_kb();
    let (stuck_seen, reader_seen, max_queue, throttled_seen, rss_peak) =
        block_in(&bed.cl, || async {
            let mut injector = client(INJECTOR, false).await;
            let mut stuck = client(STUCK, true).await;
            let mut reader = client(READER, false).await;
            // Built once: compared after every message read.
            let want = expected(ROUTES, 100 + ROUNDS - 1);
            let want_reader = want.clone();
            let reading = tokio::spawn(async move {
                let mut seen = Seen::default();
                read_until(&mut reader, &mut seen, Duration::from_secs(8), |s| {
                    s.routes == want_reader
                })
                .await;
                seen
            });
            let mut max_queue = 0u64;
            let mut throttled_seen = false;
            let mut rss_peak = 0u64;
            let keepalive = Message::Keepalive.to_bytes(&Default::default()).unwrap();
            for round in 0..ROUNDS {
                injector
                    .send_raw(&announcements(0..ROUTES, 100 + round))
                    .await
                    .unwrap();
                injector
                    .send_raw(&withdrawals(ROUTES * 3 / 4..ROUTES))
                    .await
                    .unwrap();
                // The stuck client keeps its session alive: it writes, never reads.
                stuck.stream.write_all(&keepalive).await.unwrap();
                tokio::time::sleep(Duration::from_millis(300)).await;
                let n = bed.neighbor(STUCK);
                max_queue = max_queue.max(n["out-queue-octets"].as_u64().unwrap());
                throttled_seen |= n["output-throttled"].as_bool().unwrap();
                rss_peak = rss_peak.max(bed.rss_kb());
                assert_eq!(n["state"], "Established", "{n}");
            }
            let reader_seen = reading.await.unwrap();
            // Pending: routes, not messages.
            let n = bed.neighbor(STUCK);
            eprintln!(
                "stuck client: queued {} octets, pending routes {}, throttled {}",
                n["out-queue-octets"], n["pending-routes"], n["output-throttled"]
            );
            // It reads again: it catches up with the reflector's routes.
            let mut stuck_seen = Seen::default();
            read_until(&mut stuck, &mut stuck_seen, Duration::from_secs(10), |s| {
                s.routes == want
            })
            .await;
            (stuck_seen, reader_seen, max_queue, throttled_seen, rss_peak)
        });
    eprintln!(
        "max queued to the stuck client {max_queue} octets; bgpd RSS {rss_before} kB before, {rss_peak} kB at most"
    );
    assert!(throttled_seen, "the stuck client was never throttled");
    assert!(
        max_queue <= QUEUE_BOUND,
        "{max_queue} octets queued to a client that does not read"
    );
    // Loose: 16 rounds of 40k routes queued unbounded are tens of MB.
    assert!(
        rss_peak < rss_before + 64 * 1024,
        "bgpd grew from {rss_before} kB to {rss_peak} kB"
    );
    let want = expected(ROUTES, 100 + ROUNDS - 1);
    assert_eq!(reader_seen.routes.len(), want.len(), "the reader converged");
    assert!(reader_seen.routes == want, "the reader's routes differ");
    assert_eq!(stuck_seen.routes.len(), want.len());
    assert!(
        stuck_seen.routes == want,
        "the stuck client's routes differ from the reflector's"
    );
}

#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn a_client_that_reads_nothing_is_dropped_by_the_send_hold_timer() {
    require_root("a_client_that_reads_nothing_is_dropped_by_the_send_hold_timer");
    // A configured neighbour, so that its counters outlive its session.
    let bed = Bed::new(
        r#"
[[group]]
name = "stuck"
local-address = "10.10.25.42"
route-reflector-client = true
passive = true
neighbors = ["10.10.93.2"]
send-hold-time = 3
"#,
    );
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (seen, dropped) = std::thread::scope(|scope| {
        let bed = &bed;
        let watcher = scope.spawn(move || {
            // Poll until the counter says the session was dropped.
            for _ in 0..1000 {
                let n = bed.neighbor(STUCK);
                if n["send-hold-timer-expired"].as_u64() == Some(1) {
                    let _ = tx.send(());
                    return Some(n);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            None
        });
        let seen = block_in(&bed.cl, || async {
            let mut injector = client(INJECTOR, false).await;
            let mut stuck = client(STUCK, true).await;
            injector
                .send_raw(&announcements(0..20_000, 100))
                .await
                .unwrap();
            let keepalive = Message::Keepalive.to_bytes(&Default::default()).unwrap();
            // KEEPALIVEs, never a read, until the reflector gives up.
            let mut rx = rx;
            loop {
                tokio::select! {
                    _ = &mut rx => break,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {
                        if stuck.stream.write_all(&keepalive).await.is_err() {
                            break;
                        }
                    }
                }
            }
            // It reads at last: what was queued, then the NOTIFICATION.
            let mut seen = Seen::default();
            read_until(&mut stuck, &mut seen, Duration::from_secs(5), |s| {
                s.notification.is_some()
            })
            .await;
            seen
        });
        let n = watcher.join().unwrap();
        (seen, n)
    });
    let n = dropped.unwrap_or_else(|| panic!("the send hold timer never expired"));
    assert_eq!(n["send-hold-time"], 3, "{n}");
    assert_ne!(n["state"], "Established", "{n}");
    assert!(
        n["last-error"]
            .as_str()
            .is_some_and(|e| e.contains("send hold timer")),
        "{n}"
    );
    assert_eq!(
        seen.notification,
        Some((8, 0)),
        "Send Hold Timer Expired, best effort"
    );
}

#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn a_refresh_storm_from_a_client_that_does_not_read_is_one_table() {
    require_root("a_refresh_storm_from_a_client_that_does_not_read_is_one_table");
    let bed = Bed::new("");
    const ROUTES: u32 = 100_000;
    let asker_addr = Ipv4Addr::new(10, 10, 93, 4);
    let rss_before = bed.rss_kb();
    let (seen, max_queue, rss_peak, n) = block_in(&bed.cl, || async {
        let mut injector = client(INJECTOR, false).await;
        injector
            .send_raw(&announcements(0..ROUTES, 100))
            .await
            .unwrap();
        // Let the reflector take the table in.
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let n = bed.neighbor(INJECTOR);
            let total: u64 = n["tables"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|t| t["received"].as_u64())
                .sum();
            if total == ROUTES as u64 {
                break;
            }
        }
        // Past the selection deferral of the reflector's start (2 s
        // without a new session): the new session's table ends with
        // End-of-RIB at once.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let mut asker = client(asker_addr, true).await;
        let refresh = Message::RouteRefresh(RouteRefresh {
            family: Family::VPNV4,
            subtype: RefreshSubtype::Request,
        });
        for _ in 0..40 {
            asker.send(&refresh).await.unwrap();
        }
        let mut max_queue = 0;
        let mut rss_peak = 0;
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let n = bed.neighbor(asker_addr);
            max_queue = max_queue.max(n["out-queue-octets"].as_u64().unwrap());
            rss_peak = rss_peak.max(bed.rss_kb());
        }
        let mut seen = Seen::default();
        read_until(&mut asker, &mut seen, Duration::from_secs(5), |_| false).await;
        (seen, max_queue, rss_peak, bed.neighbor(asker_addr))
    });
    eprintln!(
        "refresh storm: {} announcements, {} End-of-RIB, {} coalesced, max queued {max_queue}, RSS {rss_before} → {rss_peak} kB",
        seen.announced, seen.end_of_rib, n["route-refresh-coalesced"]
    );
    assert!(max_queue <= QUEUE_BOUND, "{max_queue} octets queued");
    assert!(
        rss_peak < rss_before + 64 * 1024,
        "{rss_before} → {rss_peak} kB"
    );
    assert!(n["route-refresh-coalesced"].as_u64().unwrap() >= 30, "{n}");
    // The initial table, the answers that fit in the peer's budget (a
    // VPNv4 route is about 15 octets), then one for all the requests that
    // waited: a few tables, not 41. With a budget smaller than a table,
    // the requests restart the initial table under way, and one table
    // with one End-of-RIB answers everything.
    let fit = (HIGH_WATER / (15 * ROUTES as u64)) as usize;
    assert!(
        (1..=fit + 2).contains(&seen.end_of_rib),
        "{} End-of-RIB ({fit} tables fit in the budget)",
        seen.end_of_rib
    );
    // A table under way when a request came is sent again from its start.
    assert!(
        seen.announced <= (seen.end_of_rib + 1) * ROUTES as usize,
        "{} announcements of {ROUTES} routes",
        seen.announced
    );
    assert_eq!(seen.routes.len(), ROUTES as usize);
}
