//! Conformance of the core task: the RIB, best-path selection, route
//! reflection, graceful restart, route refresh and the exports, driven by
//! recorded session events and compared with golden output. No sockets,
//! no root: the core is fed the events its session tasks would send, and
//! the writer of each peer is a channel the test reads.
//!
//! A case is a directory under `bgpd/tests/conformance/`:
//!
//! * `config.toml`: the daemon's configuration (the neighbours' roles
//!   come from it, as in a running bgpd);
//! * `events.jsonl`: one session event per line (`#` lines are comments):
//!   a session coming up with what it negotiated, an UPDATE as a whole
//!   message in hex (taken from `wire/tests/fixtures/`, captured from
//!   GoBGP and FRR, or named there as `"fixture": "FILE:LINE"`), a
//!   ROUTE-REFRESH, a session going down (gracefully or not), a restart
//!   timer, a writer that stops or starts reading again;
//! * `expected.jsonl`: after each event, every message the core queued to
//!   each peer, decoded as that peer would read it, what it ordered the
//!   peer's session (prefix limits) and what it told the worker; then the
//!   routes as `show route` lists them.
//!
//! After a deliberate change of behaviour, `FERRY_BLESS=1 cargo test -p
//! ferry-bgpd --test conformance` rewrites the expected files: review
//! their diff like code.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use ferry_bgpd::config::{self, Config};
use ferry_bgpd::core::{Core, CoreEvent};
use ferry_bgpd::negotiate::GracefulRestart;
use ferry_bgpd::peer_status::{Neighbor, PeerStatus, PeerTable};
use ferry_bgpd::session::{PeerCommand, WriterHandle, COMMAND_QUEUE, LOW_WATER};
use ferry_bgpd::worker::WorkerEvent;
use ferry_control::{Request, Response, RouteQuery};
use ferry_rib::peer::PeerInfo;
use ferry_rib::{Rib, SpeakerConfig};
use ferry_wire::message::RefreshSubtype;
use ferry_wire::{DecodeContext, EncodeContext, Family, FamilySet, Message, RouteRefresh};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// One recorded session event.
#[derive(Debug, Deserialize)]
#[serde(
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case",
    deny_unknown_fields
)]
enum Event {
    /// A session reached Established with what it negotiated.
    Up {
        peer: IpAddr,
        asn: u32,
        router_id: Ipv4Addr,
        local_address: IpAddr,
        families: Vec<String>,
        #[serde(default)]
        add_path: Vec<String>,
        #[serde(default)]
        extended_message: bool,
        #[serde(default)]
        enhanced_refresh: bool,
        #[serde(default)]
        graceful: Option<Graceful>,
    },
    /// A message the peer sent, as received (hex), or a line of a codec
    /// fixture (`FILE:LINE`, the line counted among the message lines).
    Update {
        peer: IpAddr,
        #[serde(default)]
        hex: Option<String>,
        #[serde(default)]
        fixture: Option<String>,
    },
    Refresh {
        peer: IpAddr,
        family: String,
        /// `request`, `begin` or `end` (RFC 7313).
        subtype: String,
    },
    Down {
        peer: IpAddr,
        #[serde(default)]
        graceful: Option<Graceful>,
    },
    /// The peer's restart time ran out.
    RestartTimer { peer: IpAddr },
    /// The peer's writer stops taking messages off its queue.
    Stall { peer: IpAddr },
    /// The peer's writer writes again.
    Drain { peer: IpAddr },
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct Graceful {
    restart_time: u16,
    families: Vec<String>,
    #[serde(default)]
    preserved: Vec<String>,
    #[serde(default)]
    notification: bool,
    #[serde(default)]
    peer_restarted: bool,
}

fn family(name: &str) -> Family {
    Family::from_name(name).unwrap_or_else(|| panic!("unknown family {name:?}"))
}

fn families(names: &[String]) -> FamilySet {
    names.iter().map(|n| family(n)).collect()
}

impl Graceful {
    fn negotiated(&self) -> GracefulRestart {
        GracefulRestart {
            restart_time: self.restart_time,
            notification: self.notification,
            families: families(&self.families),
            preserved: families(&self.preserved),
            peer_restarted: self.peer_restarted,
        }
    }
}

/// A peer's end of its writer queue.
struct Wire {
    status: Arc<PeerStatus>,
    rx: mpsc::UnboundedReceiver<Vec<Bytes>>,
    /// How the peer reads what it is sent.
    decode: DecodeContext,
    stalled: bool,
    /// The session's command queue: what the core orders it (prefix
    /// limits).
    commands: mpsc::Receiver<PeerCommand>,
}

struct Harness {
    config: Arc<Config>,
    core: Core,
    peers: PeerTable,
    wires: BTreeMap<IpAddr, Wire>,
    worker: mpsc::UnboundedReceiver<WorkerEvent>,
    out: Vec<Value>,
}

impl Harness {
    fn new(dir: &Path) -> Harness {
        let path = dir.join("config.toml");
        let text = std::fs::read_to_string(&path).expect("config.toml");
        let config =
            config::from_str(&text, &path.display().to_string()).unwrap_or_else(|e| panic!("{e}"));
        let rib = Rib::new(SpeakerConfig {
            local_as: config.local_as,
            router_id: config.router_id,
            cluster_id: config.cluster_id,
        });
        let peers: PeerTable = Default::default();
        let config = Arc::new(config);
        let shared = Arc::new(RwLock::new(config.clone()));
        let (worker_tx, worker) = mpsc::unbounded_channel();
        let core = Core::new(rib, peers.clone(), shared).with_worker(worker_tx);
        Harness {
            config,
            core,
            peers,
            wires: BTreeMap::new(),
            worker,
            out: Vec::new(),
        }
    }

    /// The message octets an `update` event names.
    fn message(&self, hex: &Option<String>, fixture: &Option<String>) -> Vec<u8> {
        let text = match (hex, fixture) {
            (Some(h), None) => h.clone(),
            (None, Some(f)) => {
                let (file, line) = f.rsplit_once(':').expect("fixture FILE:LINE");
                let line: usize = line.parse().expect("fixture line number");
                let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../wire/tests/fixtures")
                    .join(file);
                let all = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                all.lines()
                    .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
                    .nth(line)
                    .unwrap_or_else(|| panic!("{f}: no such message line"))
                    .trim()
                    .to_string()
            }
            _ => panic!("an update has either hex or fixture"),
        };
        decode_hex(&text)
    }

    fn apply(&mut self, ev: Event) {
        match ev {
            Event::Up {
                peer,
                asn,
                router_id,
                local_address,
                families: fams,
                add_path,
                extended_message,
                enhanced_refresh,
                graceful,
            } => {
                let neighbor = self
                    .config
                    .neighbor(peer)
                    .or_else(|| self.config.match_dynamic(peer))
                    .unwrap_or_else(|| panic!("{peer} is not a neighbour in config.toml"));
                let add_path = families(&add_path);
                let info = PeerInfo {
                    role: neighbor.session.role(),
                    asn,
                    router_id,
                    address: peer,
                    local_address,
                    families: families(&fams),
                    encode: EncodeContext {
                        four_octet_as: true,
                        add_path,
                        extended_message,
                    },
                    enhanced_refresh,
                };
                let status = Arc::new(PeerStatus::new(neighbor));
                let (commands, commands_rx) = mpsc::channel(COMMAND_QUEUE);
                self.peers.insert(
                    peer,
                    Neighbor {
                        status: status.clone(),
                        commands,
                    },
                );
                let (writer, rx) = WriterHandle::channel(status.clone());
                self.wires.insert(
                    peer,
                    Wire {
                        status,
                        rx,
                        decode: DecodeContext {
                            four_octet_as: true,
                            add_path,
                            extended_message,
                        },
                        stalled: false,
                        commands: commands_rx,
                    },
                );
                self.core.handle(CoreEvent::Up {
                    addr: peer,
                    info,
                    writer,
                    graceful: graceful.map(|g| g.negotiated()),
                });
            }
            Event::Update {
                peer,
                ref hex,
                ref fixture,
            } => {
                let octets = self.message(hex, fixture);
                // Read as the session reads it: with the receive context
                // of the session (what we told the peer we accept).
                let ctx = self
                    .wires
                    .get(&peer)
                    .map_or_else(DecodeContext::default, |w| w.decode);
                match Message::decode(&octets, &ctx) {
                    Ok(Message::Update(u)) => self.core.handle(CoreEvent::Update {
                        addr: peer,
                        update: Box::new(u),
                    }),
                    other => panic!("not an UPDATE: {other:?}"),
                }
            }
            Event::Refresh {
                peer,
                family: f,
                subtype,
            } => {
                let subtype = match subtype.as_str() {
                    "request" => RefreshSubtype::Request,
                    "begin" => RefreshSubtype::BeginningOfRefresh,
                    "end" => RefreshSubtype::EndOfRefresh,
                    s => panic!("unknown refresh subtype {s:?}"),
                };
                self.core.handle(CoreEvent::RouteRefresh {
                    addr: peer,
                    refresh: RouteRefresh {
                        family: family(&f),
                        subtype,
                    },
                });
            }
            Event::Down { peer, graceful } => {
                self.core.handle(CoreEvent::Down {
                    addr: peer,
                    graceful: graceful.map(|g| g.negotiated()),
                });
                // The connection is gone: what was queued is not read.
                self.wires.remove(&peer);
            }
            Event::RestartTimer { peer } => {
                let id = self.core.peer_id(peer).expect("a restarting peer");
                self.core.handle(CoreEvent::RestartTimer { addr: peer, id });
            }
            Event::Stall { peer } => self.wire(peer).stalled = true,
            Event::Drain { peer } => self.wire(peer).stalled = false,
        }
    }

    fn wire(&mut self, peer: IpAddr) -> &mut Wire {
        self.wires
            .get_mut(&peer)
            .unwrap_or_else(|| panic!("{peer} has no session"))
    }

    /// Plays the writers: every peer that reads takes its queue, as the
    /// writer task would (octet counts, XON below the low-water mark),
    /// until nothing more comes. Records what each peer read.
    fn settle(&mut self, after: usize) {
        loop {
            let mut xon = Vec::new();
            for (addr, w) in &mut self.wires {
                while let Ok(c) = w.commands.try_recv() {
                    self.out
                        .push(json!({ "after": after, "to": addr, "order": format!("{c:?}") }));
                }
                if w.stalled {
                    continue;
                }
                while let Ok(batch) = w.rx.try_recv() {
                    for m in batch {
                        w.status.sent(&m, true);
                        self.out.push(describe(after, *addr, &m, &w.decode));
                    }
                }
                if w.status.xoff.load(Ordering::SeqCst)
                    && w.status.out_queue_bytes.load(Ordering::SeqCst) < LOW_WATER
                    && w.status.xoff.swap(false, Ordering::SeqCst)
                {
                    xon.push(*addr);
                }
            }
            while let Ok(ev) = self.worker.try_recv() {
                self.out.push(worker_event(after, ev));
            }
            if xon.is_empty() {
                break;
            }
            for addr in xon {
                self.core.handle(CoreEvent::Xon { addr });
            }
        }
    }

    /// The Loc-RIB and Adj-RIBs as `show route` lists them.
    fn routes(&mut self) {
        let answer = self.core.answer(&Request::Routes(RouteQuery::default()));
        let Response::Ok { body } = answer else {
            panic!("show route: {answer:?}");
        };
        let mut v = serde_json::to_value(body).unwrap();
        strip_times(&mut v);
        self.out.push(json!({ "show-route": v }));
    }
}

/// Ages and timestamps differ from run to run.
fn strip_times(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !(k.contains("age") || k.contains("time") || k == "since"));
            m.values_mut().for_each(strip_times);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_times),
        _ => {}
    }
}

fn describe(after: usize, to: IpAddr, m: &[u8], ctx: &DecodeContext) -> Value {
    match Message::decode(m, ctx) {
        Ok(Message::Update(u)) => match u.end_of_rib_family() {
            Some(f) => json!({ "after": after, "to": to, "end-of-rib": f.to_string() }),
            None => {
                assert!(
                    u.errors.is_empty(),
                    "the core sent {to} a malformed UPDATE: {u:?}"
                );
                json!({ "after": after, "to": to, "update": u })
            }
        },
        Ok(other) => json!({ "after": after, "to": to, "message": other.to_string() }),
        Err(e) => panic!("the core sent {to} a message it cannot read: {e}"),
    }
}

fn worker_event(after: usize, ev: WorkerEvent) -> Value {
    match ev {
        WorkerEvent::Remote(changes) => {
            let changes: Vec<String> = changes
                .iter()
                .map(|((rd, prefix), route)| match route {
                    Some(r) => format!("{rd} {prefix} via {r:?}"),
                    None => format!("{rd} {prefix} withdrawn"),
                })
                .collect();
            json!({ "after": after, "worker": changes })
        }
        WorkerEvent::EndOfRib => json!({ "after": after, "worker": "end-of-rib" }),
        other => json!({ "after": after, "worker": format!("{other:?}") }),
    }
}

fn decode_hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(s.len().is_multiple_of(2), "odd number of hex digits");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Plays one case and compares (or, blessing, writes) its output.
fn play(dir: &Path) -> Result<(), String> {
    let mut h = Harness::new(dir);
    let events = std::fs::read_to_string(dir.join("events.jsonl")).expect("events.jsonl");
    let mut n = 0;
    for (i, line) in events.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let ev: Event = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{}/events.jsonl:{}: {e}", dir.display(), i + 1));
        n += 1;
        h.apply(ev);
        h.settle(n);
    }
    h.routes();
    let got: String = h
        .out
        .iter()
        .map(|v| serde_json::to_string(v).unwrap() + "\n")
        .collect();
    let path = dir.join("expected.jsonl");
    if std::env::var_os("FERRY_BLESS").is_some() {
        std::fs::write(&path, &got).unwrap();
        return Ok(());
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    if got == want {
        return Ok(());
    }
    let first = got
        .lines()
        .zip(want.lines())
        .position(|(a, b)| a != b)
        .unwrap_or(got.lines().count().min(want.lines().count()));
    Err(format!(
        "{}: output differs from expected.jsonl at line {}:\n  got:  {}\n  want: {}\n\
         (FERRY_BLESS=1 rewrites it after a deliberate change)",
        dir.display(),
        first + 1,
        got.lines().nth(first).unwrap_or("<end>"),
        want.lines().nth(first).unwrap_or("<end>"),
    ))
}

#[test]
fn recorded_event_sequences_give_the_golden_exports() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("bgpd/tests/conformance")
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("events.jsonl").exists())
        .collect();
    cases.sort();
    assert!(cases.len() >= 5, "conformance cases missing: {cases:?}");
    let failures: Vec<String> = cases.iter().filter_map(|c| play(c).err()).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
