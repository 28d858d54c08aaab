//! The core task: the single owner of the RIB. Session tasks send it what
//! they receive; it applies each event to the RIB and queues the resulting
//! UPDATEs on the peers' writers. It also answers the read-only control
//! requests, so that `show` output is always consistent with the RIB: it
//! lends a view of its state to [`crate::show`], which builds the answer.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use ferry_control::{Request, Response};
use ferry_rib::peer::{PeerId, PeerInfo};
use ferry_rib::{Outcome, Rib};
use ferry_wire::{Family, FamilySet, NextHop, Nlri, PathAttributes, RouteRefresh, Update};
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

use crate::config::Config;
use crate::negotiate::GracefulRestart;
use crate::peer_status::PeerTable;
use crate::session::WriterHandle;
use crate::worker::{remote_changes, WorkerEvent};

mod flow;
mod sessions;

pub(crate) use sessions::Sessions;

/// What the core task is told.
#[derive(Debug)]
pub enum CoreEvent {
    Up {
        addr: IpAddr,
        info: PeerInfo,
        writer: WriterHandle,
        /// Graceful restart as negotiated on this session.
        graceful: Option<GracefulRestart>,
    },
    Down {
        addr: IpAddr,
        /// Keep the peer's routes, stale (RFC 4724 §4.2).
        graceful: Option<GracefulRestart>,
    },
    /// The restart time of a restarting peer ran out.
    RestartTimer {
        addr: IpAddr,
        id: PeerId,
    },
    /// Check whether the selection deferral is over.
    DeferralTick,
    Update {
        addr: IpAddr,
        update: Box<Update>,
    },
    RouteRefresh {
        addr: IpAddr,
        refresh: RouteRefresh,
    },
    /// A control request (read-only, or for the worker).
    Control {
        request: Request,
        reply: oneshot::Sender<Response>,
    },
    /// The worker originates a pod prefix.
    Originate {
        nlri: Nlri,
        attrs: Box<PathAttributes>,
        next_hop: NextHop,
    },
    /// The worker withdraws a pod prefix.
    WithdrawOriginated {
        nlri: Nlri,
    },
    /// The RIB's counts for `/metrics`.
    Metrics {
        reply: oneshot::Sender<crate::metrics::RibSnapshot>,
    },
    /// `/livez`: the core answers.
    Ping {
        reply: oneshot::Sender<()>,
    },
    /// A throttled peer's writer fell below the low-water mark.
    Xon {
        addr: IpAddr,
    },
}

/// The shared, replaceable configuration.
pub type SharedConfig = Arc<RwLock<Arc<Config>>>;

pub fn current(config: &SharedConfig) -> Arc<Config> {
    config.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The core task's state.
pub struct Core {
    rib: Rib,
    /// The sessions it exports to ([`sessions`]).
    sessions: Sessions,
    /// The neighbour registry (the daemon's): status counters, and the
    /// sessions' command queues for prefix limits.
    peers: PeerTable,
    config: SharedConfig,
    /// The worker task, when this bgpd programs the kernel.
    worker: Option<mpsc::UnboundedSender<WorkerEvent>>,
    /// The core's own queue, for its timers.
    tx: Option<mpsc::Sender<CoreEvent>>,
    /// Selection deferral after a start (RFC 4724 §4.1).
    deferral: Option<Deferral>,
}

/// A restarting speaker holds back End-of-RIB until its peers have sent
/// their routes again: until every Established peer sent End-of-RIB and no
/// new peer came up for [`Deferral::QUIET`], at the latest [`Deferral::MAX`].
struct Deferral {
    start: Instant,
    last_up: Instant,
    eor: HashMap<PeerId, FamilySet>,
    /// Peers that set the Restart State bit: restarting as we are, they
    /// hold back their End-of-RIB until they have ours, so we do not wait
    /// for it (RFC 4724 §4.1).
    restarted: std::collections::HashSet<PeerId>,
}

impl Deferral {
    const MIN: Duration = Duration::from_secs(1);
    const QUIET: Duration = Duration::from_secs(2);
    const MAX: Duration = Duration::from_secs(60);
}

impl Core {
    pub fn new(rib: Rib, peers: PeerTable, config: SharedConfig) -> Core {
        Core {
            rib,
            sessions: Sessions::default(),
            peers,
            config,
            worker: None,
            tx: None,
            deferral: None,
        }
    }

    /// Gives the core its own queue (for timers) and, with graceful
    /// restart on, starts the selection deferral of a restarting speaker.
    pub fn with_sender(mut self, tx: mpsc::Sender<CoreEvent>, defer: bool) -> Core {
        if defer {
            let now = Instant::now();
            self.deferral = Some(Deferral {
                start: now,
                last_up: now,
                eor: HashMap::new(),
                restarted: Default::default(),
            });
            crate::negotiate::set_restarting(true);
            self.rib.set_deferring(true);
            let tick = tx.clone();
            // Ticks while the deferral lasts, then stops (the core idles).
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    if !crate::negotiate::restarting()
                        || tick.send(CoreEvent::DeferralTick).await.is_err()
                    {
                        break;
                    }
                }
            });
        }
        self.tx = Some(tx);
        self
    }

    /// Junos `prefix-limit`: warn once, or close the session.
    fn check_prefix_limits(&mut self, addr: IpAddr, id: PeerId) {
        let Some(st) = self.peers.get(&addr) else {
            return;
        };
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        let limits = st.config().session.prefix_limits;
        for (family, limit) in limits {
            let received = self.rib.counts(id, family).received;
            if received <= limit.maximum || session.limit_warned.contains(family) {
                continue;
            }
            session.limit_warned.insert(family);
            let message = format!(
                "{received} {family} prefixes, over the limit of {}",
                limit.maximum
            );
            st.update(|d| d.last_error = Some(format!("prefix limit: {message}")));
            if limit.teardown {
                tracing::warn!(peer = %addr, %family, received, maximum = limit.maximum, restart = limit.restart, "prefix limit reached: closing the session");
                crate::session::order(
                    &st.commands,
                    crate::session::PeerCommand::PrefixLimit {
                        restart: limit.restart,
                    },
                );
            } else {
                tracing::warn!(peer = %addr, %family, received, maximum = limit.maximum, "prefix limit passed (warning only)");
            }
        }
    }

    fn deferral_check(&mut self) {
        let Some(d) = &self.deferral else { return };
        let now = now_instant();
        let all_eor = self.sessions.iter().all(|(_, id)| {
            let want = self
                .rib
                .peer(id)
                .map_or(FamilySet::EMPTY, |p| p.info.families);
            let got = d.eor.get(&id).copied().unwrap_or(FamilySet::EMPTY);
            self.rib.is_restarting(id)
                || d.restarted.contains(&id)
                || want.iter().all(|f| got.contains(f))
        });
        let statics = current(&self.config).neighbors();
        let statics_up = statics
            .iter()
            .all(|n| self.sessions.id(&n.address).is_some());
        let elapsed = now.duration_since(d.start);
        let done = elapsed >= Deferral::MAX
            || (elapsed >= Deferral::MIN
                && now.duration_since(d.last_up) >= Deferral::QUIET
                && all_eor
                && statics_up);
        if done {
            self.deferral = None;
            crate::negotiate::set_restarting(false);
            tracing::info!(
                after_ms = elapsed.as_millis() as u64,
                "selection deferral over: End-of-RIB to every peer"
            );
            let out = self.rib.end_deferral();
            self.queue_markers(out);
        }
    }

    /// Sends best Type-5 paths and End-of-RIB to a worker task.
    pub fn with_worker(mut self, worker: mpsc::UnboundedSender<WorkerEvent>) -> Core {
        self.worker = Some(worker);
        self
    }

    /// Runs until every sender is gone. A second after a burst of work
    /// (UPDATEs, sessions coming and going, control requests) ends, the
    /// allocator gives its free pages back: a full-table exchange leaves
    /// megabytes of encoding and queueing buffers behind, which a steady
    /// router should not keep. Timer ticks and health probes are not
    /// work: they neither postpone that nor cause it.
    pub async fn run(mut self, mut events: mpsc::Receiver<CoreEvent>) {
        let mut release_at: Option<tokio::time::Instant> = None;
        loop {
            let ev = match release_at {
                Some(at) => tokio::select! {
                    ev = events.recv() => ev,
                    () = tokio::time::sleep_until(at) => {
                        release_free_memory();
                        release_at = None;
                        continue;
                    }
                },
                None => events.recv().await,
            };
            let Some(ev) = ev else { break };
            let work = !matches!(
                ev,
                CoreEvent::DeferralTick | CoreEvent::Ping { .. } | CoreEvent::Metrics { .. }
            );
            self.handle(ev);
            if work {
                release_at = Some(tokio::time::Instant::now() + Duration::from_secs(1));
            }
        }
    }

    pub fn rib(&self) -> &Rib {
        &self.rib
    }

    /// The RIB's id of a peer with a session (or restarting).
    pub fn peer_id(&self, addr: IpAddr) -> Option<PeerId> {
        self.sessions.id(&addr)
    }

    pub fn handle(&mut self, ev: CoreEvent) {
        match ev {
            CoreEvent::Up {
                addr,
                info,
                writer,
                graceful,
            } => {
                // A restarting peer comes back under its old id, its
                // stale paths kept.
                let restarting = self
                    .sessions
                    .id(&addr)
                    .filter(|id| self.rib.is_restarting(*id));
                let id = match restarting {
                    Some(id) => id,
                    None => {
                        if let Some(old) = self.sessions.id(&addr) {
                            self.down(old);
                        }
                        self.sessions.allocate()
                    }
                };
                self.sessions.up(id, addr, writer);
                if let Some(d) = &mut self.deferral {
                    d.last_up = now_instant();
                    d.eor.remove(&id);
                    if graceful.is_some_and(|g| g.peer_restarted) {
                        d.restarted.insert(id);
                    } else {
                        d.restarted.remove(&id);
                    }
                }
                self.rib.peer_up_pending(id, info);
                self.resume(id);
                // RFC 4724 §4.2: families the peer no longer lists, or
                // whose forwarding it did not preserve, lose their stale
                // paths now.
                let stale = self.rib.peer(id).map_or(FamilySet::EMPTY, |p| p.stale);
                for f in stale.iter() {
                    if !graceful.is_some_and(|g| g.preserved.contains(f)) {
                        let out = self.rib.end_of_rib(id, f);
                        self.dispatch(out);
                    }
                }
            }
            CoreEvent::Down { addr, graceful } => {
                if let Some(id) = self.sessions.id(&addr) {
                    match graceful {
                        Some(gr) if self.rib.peer(id).is_some() => {
                            if let Some(s) = self.sessions.get_mut(id) {
                                s.writer = None;
                                s.throttled = false;
                            }
                            let out = self.rib.peer_restarting(id, gr.families);
                            self.dispatch(out);
                            if let Some(tx) = self.tx.clone() {
                                let wait = Duration::from_secs(gr.restart_time as u64);
                                tokio::spawn(async move {
                                    tokio::time::sleep(wait).await;
                                    let _ = tx.send(CoreEvent::RestartTimer { addr, id }).await;
                                });
                            }
                        }
                        _ => self.down(id),
                    }
                }
            }
            CoreEvent::RestartTimer { addr, id } => {
                if self.sessions.id(&addr) == Some(id) && self.rib.is_restarting(id) {
                    tracing::warn!(peer = %addr, "restart time over: its stale routes are removed");
                    self.down(id);
                }
            }
            CoreEvent::DeferralTick => self.deferral_check(),
            CoreEvent::Update { addr, update } => {
                let notes = update.nlri_notes;
                if !notes.is_empty() {
                    debug!(
                        peer = %addr,
                        host_bits_cleared = notes.host_bits_cleared,
                        unknown_evpn_dropped = notes.unknown_evpn_dropped,
                        "UPDATE: prefixes with bits past their length taken as the prefix (RFC 4271 §4.3), \
                         EVPN routes of unknown types ignored (RFC 7606 §5.4)"
                    );
                }
                if let Some(id) = self.sessions.id(&addr) {
                    let out = self.rib.receive(id, &update);
                    self.dispatch(out);
                    self.check_prefix_limits(addr, id);
                    if let Some(f) = update.end_of_rib_family() {
                        if let Some(st) = self.peers.get(&addr) {
                            st.end_of_rib_received(f);
                        }
                        let out = self.rib.end_of_rib(id, f);
                        self.dispatch(out);
                        if let Some(d) = &mut self.deferral {
                            d.eor.entry(id).or_insert(FamilySet::EMPTY).insert(f);
                        }
                    }
                    if update.end_of_rib_family() == Some(Family::EVPN) {
                        if let Some(w) = &self.worker {
                            let _ = w.send(WorkerEvent::EndOfRib);
                        }
                    }
                }
            }
            CoreEvent::Originate {
                nlri,
                attrs,
                next_hop,
            } => {
                let out = self.rib.originate(&nlri, *attrs, next_hop);
                self.dispatch(out);
            }
            CoreEvent::WithdrawOriginated { nlri } => {
                let out = self.rib.withdraw_originated(&nlri);
                self.dispatch(out);
            }
            CoreEvent::RouteRefresh { addr, refresh } => {
                if let Some(id) = self.sessions.id(&addr) {
                    use ferry_wire::message::RefreshSubtype;
                    match refresh.subtype {
                        RefreshSubtype::Request => self.refresh(id, refresh.family),
                        // RFC 7313 §4: the peer re-sends its routes between
                        // BoRR and EoRR; what it did not re-send is gone.
                        RefreshSubtype::BeginningOfRefresh => {
                            self.rib.mark_stale(id, refresh.family)
                        }
                        RefreshSubtype::EndOfRefresh => {
                            let out = self.rib.purge_stale(id, refresh.family);
                            self.dispatch(out);
                        }
                        RefreshSubtype::Reserved(_) => {}
                    }
                }
            }
            CoreEvent::Metrics { reply } => {
                let _ = reply.send(self.metrics());
            }
            CoreEvent::Ping { reply } => {
                let _ = reply.send(());
            }
            CoreEvent::Xon { addr } => {
                if let Some(id) = self.sessions.id(&addr) {
                    if self.sessions.is_throttled(id) {
                        self.resume(id);
                    }
                }
            }
            CoreEvent::Control { request, reply } => match request {
                Request::Attach { .. }
                | Request::Detach { .. }
                | Request::AttachPod(_)
                | Request::DetachPod { .. }
                | Request::CheckPod { .. }
                | Request::Vrfs { .. }
                | Request::VrfRoutes { .. } => match &self.worker {
                    Some(w) => {
                        if let Err(e) = w.send(WorkerEvent::Control { request, reply }) {
                            if let WorkerEvent::Control { reply, .. } = e.0 {
                                let _ = reply.send(Response::Error {
                                    message: "the worker task has stopped".into(),
                                });
                            }
                        }
                    }
                    None => {
                        let _ = reply.send(Response::Error {
                            message: "this bgpd does not program the kernel (kernel-sync is off: a route reflector)".into(),
                        });
                    }
                },
                _ => {
                    let _ = reply.send(self.answer(&request));
                }
            },
        }
    }

    fn down(&mut self, id: PeerId) {
        let out = self.rib.peer_down(id);
        self.sessions.remove(id);
        self.dispatch(out);
    }

    fn dispatch(&mut self, mut out: Outcome) {
        if let Some(w) = &self.worker {
            let remote = remote_changes(&out.changes);
            if !remote.is_empty() {
                let _ = w.send(WorkerEvent::Remote(remote));
            }
        }
        self.queue_exports(&mut out);
    }

    /// Paths left out of what `peers` were sent because they do not fit
    /// the peers' maximum message size: logged and counted per peer.
    fn count_not_sent(&self, peers: &[PeerId], not_sent: &[Nlri]) {
        let mut addrs = Vec::with_capacity(peers.len());
        for p in peers {
            let Some(addr) = self.sessions.addr(*p) else {
                continue;
            };
            if let Some(st) = self.peers.get(&addr) {
                st.oversize_paths_not_sent
                    .fetch_add(not_sent.len() as u64, Ordering::Relaxed);
            }
            addrs.push(addr);
        }
        let max = peers
            .first()
            .and_then(|p| self.rib.peer(*p))
            .map_or(0, |s| s.info.encode.max_message_len());
        // One line per group of peers sent the same messages.
        tracing::warn!(
            peers = ?addrs,
            paths = not_sent.len(),
            first = %not_sent[0],
            max_message = max,
            "paths not sent: their attributes alone do not fit in one message the peer accepts"
        );
    }

    /// What `/metrics` reads from the RIB: per-family table sizes and
    /// each Established peer's prefix counts.
    fn metrics(&self) -> crate::metrics::RibSnapshot {
        let mut snap = crate::metrics::RibSnapshot::default();
        for f in Family::SUPPORTED {
            let c = self.rib.table_counts(f);
            snap.tables.push((f, c.active, c.paths));
        }
        for (addr, id) in self.sessions.iter() {
            for f in self
                .rib
                .peer(id)
                .map_or(FamilySet::EMPTY, |p| p.info.families)
                .iter()
            {
                let c = self.rib.counts(id, f);
                snap.received.push((addr, f, c.received, c.accepted));
            }
        }
        for (id, f, n) in self.rib.advertised_counts() {
            if let Some(addr) = self.sessions.addr(id) {
                snap.advertised.push((addr, f, n));
            }
        }
        snap
    }

    /// Answers a read-only control request.
    pub fn answer(&self, request: &Request) -> Response {
        crate::show::View {
            rib: &self.rib,
            peers: &self.peers,
            sessions: &self.sessions,
            config: current(&self.config),
        }
        .answer(request)
    }
}

fn now_instant() -> Instant {
    Instant::now()
}

/// Returns the allocator's free memory to the system.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own heap; no precondition.
    unsafe {
        libc::malloc_trim(0);
    }
}
