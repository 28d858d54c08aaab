//! The daemon: starts the core task, the listener, the control socket and
//! one session task per neighbour; reloads the configuration on SIGHUP or
//! `bgpctl reload`; closes every session with Cease / Administrative
//! Shutdown on SIGTERM.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use dashmap::DashMap;
use ferry_control::{Body, ReloadReport, Response};
use ferry_rib::{Rib, SpeakerConfig};
use ferry_wire::iana::notification::cease;
use ferry_wire::FamilySet;
use futures::FutureExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::bfd::BfdHandle;
use crate::config::{self, Config, NeighborConfig};
use crate::control::{self, ReloadRequest};
use crate::core::{current, Core, CoreEvent, SharedConfig};
use crate::negotiate::LocalParams;
use crate::peer_status::{Neighbor, PeerStatus, PeerTable};
use crate::session::{self, PeerCommand, SessionContext, Stream};

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("control socket: {0}")]
    Control(std::io::Error),
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("signal handler: {0}")]
    Signal(std::io::Error),
    #[error("kernel sync: {0}")]
    Worker(String),
    #[error("http-listen {addr}: {source}")]
    Http {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Events waiting for the core (see where the queue is made).
const CORE_QUEUE: usize = 64;

/// The daemon's running state.
struct Daemon {
    config_path: PathBuf,
    config: SharedConfig,
    peers: PeerTable,
    core: mpsc::Sender<CoreEvent>,
    sessions: JoinSet<()>,
    /// The listening sockets, which hold the TCP MD5 keys of passive
    /// and dynamic neighbours.
    listeners: Vec<std::os::fd::RawFd>,
    bfd: BfdHandle,
    /// How sessions connect out: TCP (tests: in-memory streams).
    dial: session::Dial,
}

/// Every (peer or range, key) of a configuration's groups.
fn md5_keys(cfg: &Config) -> Vec<(ipnet::IpNet, String)> {
    let mut out = Vec::new();
    for g in &cfg.groups {
        if let Some(k) = &g.session.authentication_key {
            for a in &g.neighbors {
                out.push((ipnet::IpNet::from(*a), k.clone()));
            }
            for r in &g.allow {
                out.push((*r, k.clone()));
            }
        }
    }
    out
}

/// Installs the TCP MD5 keys of `cfg` on the listening sockets, and
/// removes those of `old` that are gone.
fn install_md5_keys(fds: &[std::os::fd::RawFd], cfg: &Config, old: Option<&Config>) {
    let keys = md5_keys(cfg);
    let gtsm = cfg.groups.iter().any(|g| g.session.ttl_security.is_some());
    // When every group has GTSM the listening socket itself drops
    // segments from too far (SYN included); otherwise each accepted
    // connection is checked from its first segment after accept.
    let all_hops: Option<Vec<u8>> = cfg.groups.iter().map(|g| g.session.ttl_security).collect();
    let listener_hops = all_hops.and_then(|h| h.into_iter().max());
    if gtsm && listener_hops.is_none() {
        warn!("ttl-security on some groups only: their connections are checked from the first segment after accept");
    }
    for fd in fds {
        if gtsm {
            if let Err(e) = crate::sockopt::set_ttl_255(*fd) {
                error!(error = %e, "TTL 255 not set on the listening socket: GTSM peers cannot connect");
            }
        }
        let hops = listener_hops.unwrap_or(255);
        if let Err(e) = crate::sockopt::set_listener_min_ttl(*fd, hops) {
            warn!(error = %e, "minimum TTL not set on the listening socket");
        }
        if let Some(old) = old {
            for (net, _) in md5_keys(old) {
                if !keys.iter().any(|(n, _)| *n == net) {
                    if let Err(e) = crate::sockopt::set_md5(*fd, net, b"") {
                        warn!(error = %e, "removing a TCP MD5 key");
                    }
                }
            }
        }
        for (net, key) in &keys {
            if let Err(e) = crate::sockopt::set_md5(*fd, *net, key.as_bytes()) {
                error!(error = %e, "TCP MD5 key not installed: sessions with {net} cannot come up");
            }
        }
    }
}

/// Families named in a neighbour's configuration.
fn families_of(n: &NeighborConfig) -> FamilySet {
    n.session.families.iter().copied().collect()
}

impl Daemon {
    fn local_params(cfg: &Config, n: &NeighborConfig) -> LocalParams {
        LocalParams {
            asn: cfg.local_as,
            router_id: cfg.router_id,
            hold_time: n.session.hold_time,
            families: families_of(n),
            peer_as: n.session.peer_as,
            graceful_restart_time: (cfg.graceful_restart_time > 0)
                .then_some(cfg.graceful_restart_time),
        }
    }

    fn stop(&mut self, addr: IpAddr, subcode: u8) {
        if let Some((_, n)) = self.peers.remove(&addr) {
            crate::session::order(&n.commands, PeerCommand::Stop(subcode));
        }
    }

    /// Re-reads the configuration file and applies the difference. What
    /// the daemon was started with (router-id, local-as, cluster-id, its
    /// sockets) stays as it runs: a changed value is reported as pending a
    /// restart, and everything else is applied.
    async fn reload(&mut self) -> Response {
        let old = current(&self.config);
        // Reading the file may resolve cluster-mesh names and look up the
        // control group: blocking calls, kept off the runtime's threads.
        let path = self.config_path.clone();
        let running = config::StartupValues::of(&old);
        let loaded = tokio::task::spawn_blocking(move || config::reload(&path, &running)).await;
        let new = match loaded {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                error!(error = %e, "reload rejected; the running configuration stays");
                return Response::Error {
                    message: format!("reload rejected, running configuration unchanged: {e}"),
                };
            }
            Err(e) => {
                error!(error = %e, "reload failed; the running configuration stays");
                return Response::Error {
                    message: format!("reload failed, running configuration unchanged: {e}"),
                };
            }
        };
        let plan = config::diff(&old, &new);
        for p in &new.restart_pending {
            warn!(pending = %p, "changed in the configuration file; not applied: the running value stays until bgpd restarts");
        }
        install_md5_keys(&self.listeners, &new, Some(&old));
        let new = Arc::new(new);
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = new.clone();
        let mut report = ReloadReport::default();
        for n in &plan.removed {
            info!(peer = %n.address, "neighbor removed");
            self.stop(n.address, cease::PEER_DECONFIGURED);
            report.removed.push(n.address.to_string());
        }
        for (_, n) in &plan.changed {
            info!(peer = %n.address, "neighbor changed; resetting its session");
            self.stop(n.address, cease::OTHER_CONFIGURATION_CHANGE);
            self.spawn_session(n.clone(), None);
            report.changed.push(n.address.to_string());
        }
        for n in &plan.added {
            info!(peer = %n.address, "neighbor added");
            self.spawn_session(n.clone(), None);
            report.added.push(n.address.to_string());
        }
        // Dynamic neighbours whose range is gone, or now configured.
        let dynamic: Vec<IpAddr> = self
            .peers
            .iter()
            .filter(|e| e.value().config().dynamic)
            .map(|e| *e.key())
            .collect();
        for addr in dynamic {
            let keep = new.neighbor(addr).is_none()
                && new.match_dynamic(addr).is_some_and(|n| {
                    n == self
                        .peers
                        .get(&addr)
                        .map(|s| s.config())
                        .unwrap_or(n.clone())
                });
            if !keep {
                info!(peer = %addr, "dynamic neighbor no longer allowed as before; closing");
                self.stop(addr, cease::OTHER_CONFIGURATION_CHANGE);
                report.removed.push(addr.to_string());
            }
        }
        report.unchanged = plan.unchanged.len();
        report.restart_pending = new.restart_pending.clone();
        info!(
            added = report.added.len(),
            removed = report.removed.len(),
            changed = report.changed.len(),
            unchanged = report.unchanged,
            restart_pending = report.restart_pending.len(),
            "configuration reloaded"
        );
        Response::Ok {
            body: Body::Reloaded(report),
        }
    }

    /// Closes every session with Cease / Administrative Shutdown.
    async fn shutdown(mut self) {
        let addrs: Vec<IpAddr> = self.peers.iter().map(|e| *e.key()).collect();
        for a in addrs {
            self.stop(a, cease::ADMINISTRATIVE_SHUTDOWN);
        }
        let _ = tokio::time::timeout(Duration::from_secs(3), async {
            while self.sessions.join_next().await.is_some() {}
        })
        .await;
        // Let writers flush their NOTIFICATIONs.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    /// Registers a neighbour and starts its session task (with a connection
    /// already accepted for it, for a dynamic neighbour).
    fn spawn_session(&mut self, n: NeighborConfig, accepted: Option<Stream>) {
        let cfg = current(&self.config);
        let addr = n.address;
        let status = Arc::new(PeerStatus::new(n.clone()));
        let (tx, rx) = mpsc::channel(crate::session::COMMAND_QUEUE);
        self.peers.insert(
            addr,
            Neighbor {
                status: status.clone(),
                commands: tx.clone(),
            },
        );
        let ctx = SessionContext {
            dial: self.dial.clone(),
            local: Daemon::local_params(&cfg, &n),
            neighbor: n,
            status: status.clone(),
            core: self.core.clone(),
        };
        let peers = self.peers.clone();
        let bfd = self.bfd.clone();
        let mut rx = rx;
        self.sessions.spawn(async move {
            let dynamic = ctx.neighbor.dynamic;
            // BFD lives as long as the session task: its Down reaches the
            // session as PeerCommand::BfdDown.
            static TOKENS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
            let bfd_token = TOKENS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let bfd_config = ctx.neighbor.session.bfd;
            if let Some(b) = bfd_config {
                bfd.add(
                    addr,
                    ctx.neighbor.session.local_address,
                    b,
                    tx.clone(),
                    bfd_token,
                )
                .await;
            }
            let mut accepted = accepted;
            loop {
                let run = session::run(ctx.clone(), &mut rx, accepted.take());
                match std::panic::AssertUnwindSafe(run).catch_unwind().await {
                    Ok(()) => break,
                    // The session reported Down as it unwound. A configured
                    // peer starts again on the same command queue; a dynamic
                    // one is forgotten and may connect again.
                    Err(_) if dynamic => {
                        error!(peer = %addr, "session task failed; the neighbor is forgotten");
                        break;
                    }
                    Err(_) => {
                        error!(peer = %addr, "session task failed; starting it again");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
            if bfd_config.is_some() {
                bfd.remove(addr, bfd_token).await;
            }
            if dynamic {
                // Forget the peer unless a new session took its place.
                peers.remove_if(&addr, |_, n| n.commands.same_channel(&tx));
            }
        });
    }
}

/// The listening socket(s) for BGP connections.
async fn listen(cfg: &Config) -> Result<Vec<TcpListener>, DaemonError> {
    let addrs: Vec<IpAddr> = match cfg.listen_address {
        Some(a) => vec![a],
        None => vec![
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        ],
    };
    let mut out = Vec::new();
    let mut last_err = None;
    for a in addrs {
        let sa = SocketAddr::new(a, cfg.listen_port);
        let socket = match a {
            IpAddr::V4(_) => TcpSocket::new_v4(),
            IpAddr::V6(_) => TcpSocket::new_v6(),
        };
        let bound = socket.and_then(|s| {
            s.set_reuseaddr(true)?;
            s.bind(sa)?;
            s.listen(1024)
        });
        match bound {
            Ok(l) => {
                out.push(l);
                // A dual-stack [::] socket also takes IPv4.
                if cfg.listen_address.is_none() {
                    break;
                }
            }
            Err(source) => last_err = Some(DaemonError::Listen { addr: sa, source }),
        }
    }
    match (out.is_empty(), last_err) {
        (true, Some(e)) => Err(e),
        _ => Ok(out),
    }
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(config_path: &Path, cfg: Config) -> Result<(), DaemonError> {
    let control_path = cfg.control_socket.clone();
    let control_listener = control::bind(&control_path, cfg.control_group.as_ref().map(|g| g.1))
        .await
        .map_err(DaemonError::Control)?;
    let listeners = listen(&cfg).await?;
    let http_listener = match cfg.http_listen {
        Some(addr) => Some(
            crate::http::bind(addr)
                .await
                .map_err(|source| DaemonError::Http { addr, source })?,
        ),
        None => None,
    };
    let reloads = Arc::new(crate::metrics::ReloadCounters::default());

    let config: SharedConfig = Arc::new(RwLock::new(Arc::new(cfg)));
    let peers: PeerTable = Arc::new(DashMap::new());
    // Short: an UPDATE waiting here is decoded (a 200-route UPDATE takes
    // some 16 KiB so), and sessions read faster than the core applies
    // them, so a long queue fills with most of a full table in its
    // decoded form. A few dozen keep the core busy; past that a session
    // waits and TCP holds the rest.
    let (core_tx, core_rx) = mpsc::channel::<CoreEvent>(CORE_QUEUE);
    let cfg = current(&config);
    let rib = Rib::new(SpeakerConfig {
        local_as: cfg.local_as,
        router_id: cfg.router_id,
        cluster_id: cfg.cluster_id,
    });
    let mut core = Core::new(rib, peers.clone(), config.clone())
        .with_sender(core_tx.clone(), cfg.graceful_restart_time > 0);
    if cfg.kernel_sync {
        let worker = crate::worker::Worker::start(&cfg, core_tx.clone())
            .await
            .map_err(DaemonError::Worker)?;
        let (worker_tx, worker_rx) = mpsc::unbounded_channel();
        core = core.with_worker(worker_tx.clone());
        tokio::spawn(worker.run(worker_rx, worker_tx));
    }
    tokio::spawn(core.run(core_rx));

    let (reload_tx, mut reload_rx) = mpsc::channel::<ReloadRequest>(8);
    let bfd = BfdHandle::start();
    tokio::spawn(control::serve(
        control_listener,
        core_tx.clone(),
        reload_tx,
        bfd.clone(),
    ));
    if let Some(l) = http_listener {
        let state = crate::http::HttpState {
            config: config.clone(),
            peers: peers.clone(),
            core: core_tx.clone(),
            reloads: reloads.clone(),
        };
        tokio::spawn(crate::http::serve(l, Arc::new(state)));
    }

    let listener_fds: Vec<std::os::fd::RawFd> = listeners
        .iter()
        .map(std::os::fd::AsRawFd::as_raw_fd)
        .collect();
    install_md5_keys(&listener_fds, &cfg, None);
    let mut daemon = Daemon {
        listeners: listener_fds,
        config_path: config_path.to_path_buf(),
        config: config.clone(),
        peers: peers.clone(),
        core: core_tx.clone(),
        sessions: JoinSet::new(),
        bfd,
        dial: session::Dial::Tcp,
    };
    for n in cfg.neighbors() {
        daemon.spawn_session(n, None);
    }

    let (accepted_tx, mut accepted_rx) = mpsc::channel::<(TcpStream, IpAddr)>(64);
    for l in listeners {
        info!(address = %l.local_addr().map(|a| a.to_string()).unwrap_or_default(), "listening for BGP");
        let tx = accepted_tx.clone();
        tokio::spawn(async move {
            loop {
                match l.accept().await {
                    Ok((stream, from)) => {
                        let _ = tx.send((stream, from.ip().to_canonical())).await;
                    }
                    Err(e) => {
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
    }

    let mut hup = signal(SignalKind::hangup()).map_err(DaemonError::Signal)?;
    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Signal)?;
    info!(
        router_id = %cfg.router_id,
        local_as = cfg.local_as,
        reflector = cfg.cluster_id.is_some(),
        control = %control_path.display(),
        "bgpd started"
    );
    loop {
        tokio::select! {
            Some((stream, from)) = accepted_rx.recv() => {
                accept(&mut daemon, Stream::Tcp(stream), from);
            }
            Some(reply) = reload_rx.recv() => {
                let r = daemon.reload().await;
                reloads.record(matches!(r, Response::Ok { .. }));
                let _ = reply.send(r);
            }
            _ = hup.recv() => {
                info!("SIGHUP: reloading the configuration");
                let r = daemon.reload().await;
                reloads.record(matches!(r, Response::Ok { .. }));
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    info!("shutting down: closing every session (Cease / Administrative Shutdown)");
    daemon.shutdown().await;
    let _ = std::fs::remove_file(&control_path);
    info!("bgpd stopped");
    Ok(())
}

/// Hands an accepted connection to its session, or starts a dynamic one.
fn accept(daemon: &mut Daemon, stream: Stream, from: IpAddr) {
    if let Some(hops) = current(&daemon.config)
        .neighbor(from)
        .and_then(|n| n.session.ttl_security)
    {
        if let Err(e) = set_gtsm(&stream, from, hops) {
            warn!(peer = %from, error = %e, "GTSM not set; connection refused");
            return;
        }
    }
    let handle = daemon.peers.get(&from).map(|n| n.commands.clone());
    let stream = match handle {
        Some(h) => match h.try_send(PeerCommand::Incoming(stream)) {
            Ok(()) => return,
            // A peer connecting faster than its session takes the
            // connections: the extra ones are closed.
            Err(mpsc::error::TrySendError::Full(_)) => {
                warn!(peer = %from, "connection refused: its session has {} orders waiting", crate::session::COMMAND_QUEUE);
                return;
            }
            // The session task ended without being forgotten: drop its
            // entry and treat the connection as new.
            Err(mpsc::error::TrySendError::Closed(cmd)) => {
                daemon
                    .peers
                    .remove_if(&from, |_, cur| cur.commands.same_channel(&h));
                match cmd {
                    PeerCommand::Incoming(stream) => stream,
                    _ => return,
                }
            }
        },
        None => stream,
    };
    let cfg = current(&daemon.config);
    match cfg.match_dynamic(from) {
        Some(n) => {
            if let Some(hops) = n.session.ttl_security {
                if let Err(e) = set_gtsm(&stream, from, hops) {
                    warn!(peer = %from, error = %e, "GTSM not set; connection refused");
                    return;
                }
            }
            info!(peer = %from, group = %n.group, "dynamic neighbor accepted");
            daemon.spawn_session(n, Some(stream));
        }
        None => {
            info!(peer = %from, "connection refused: not a configured neighbor nor in an allow range");
            drop(stream);
        }
    }
}

/// GTSM (RFC 5082) on an accepted connection; an in-memory one has no
/// TTL.
fn set_gtsm(stream: &Stream, from: IpAddr, hops: u8) -> std::io::Result<()> {
    match stream {
        Stream::Tcp(s) => crate::sockopt::set_gtsm(std::os::fd::AsRawFd::as_raw_fd(s), from, hops),
        Stream::Memory { .. } => Ok(()),
    }
}

#[cfg(test)]
mod tests;
