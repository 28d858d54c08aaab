//! The worker task: VRFs, pods and the kernel of a worker node.
//!
//! ```text
//!  core task ── best Type-5 paths, End-of-RIB ──▶ worker task ── rtnetlink ──▶ kernel
//!      ▲                                              │  ▲
//!      └──────── originate / withdraw pod prefixes ───┘  └── ferry CNI, bgpctl (control socket)
//! ```
//!
//! The worker owns the VRF registry (from the configuration, and created
//! on demand by the CNI plugin), the pod attachments, and the [`Plan`] of
//! the kernel. What must survive a restart (VRFs made on demand, pods) is
//! kept in `<state-dir>/worker.json`.
//!
//! At start it reconciles: it re-creates what its VRFs and pods need,
//! removes what it owns and no longer wants, and keeps the routes learned
//! before the restart until the route reflector has sent everything again
//! (End-of-RIB), so that forwarding never stops for routes still valid.
//!
//! While it runs it compares, every [`REPAIR_INTERVAL`], the kernel objects
//! it owns with what it wants ([`crate::fib::damage`]) and restores what
//! something else removed or changed (logged, counted per VRF as
//! `kernel-repairs`); a pod whose link is gone is detached. `attach-pod`
//! accepts only the veth the CNI plugin made for that container (its name
//! from the container ID and interface name, its peer in another network
//! namespace) and pod addresses.
//!
//! By concern: this file keeps the task, its events and state and the
//! origination of pod prefixes; `pods.rs` attaches, detaches and checks
//! pods; `repair.rs` reconciles at start, sweeps stale routes and repairs
//! damage; `show.rs` answers `show vrf` and `show route table`. The kernel
//! is reached through [`KernelApi`]; `tests/` runs the worker against
//! an in-memory kernel.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use ferry_control::{Body, Request, Response};
use ferry_rib::peer::LOCAL;
use ferry_rib::BestChange;
use ferry_wire::attribute::extended_community::ExtendedCommunityKind;
use ferry_wire::nlri::evpn::EvpnRoute;
use ferry_wire::Nlri;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

use crate::config::Config;
use crate::core::CoreEvent;
use crate::fib::kernel::{set_sysctl, Kernel, PodLink};
use crate::fib::plan::{KernelOp, Plan, RemoteKey, RemoteRoute, VrfSpec};
use crate::fib::KernelApi;
use crate::origination::{vrf_spec, Originator};

mod pods;
mod repair;
mod show;
#[cfg(test)]
mod tests;

/// How long routes learned before a restart are kept when no End-of-RIB
/// arrives.
pub const STALE_TIME: Duration = Duration::from_secs(300);

/// How often the worker compares the kernel objects it owns (its VRFs'
/// devices, rules and routes, its pods' routes, rules and neighbour
/// entries, the remote routes, neighbour and FDB entries it installed)
/// with what it wants, and restores what is missing. One pass reads the
/// links, rules, routes and neighbour tables once.
pub const REPAIR_INTERVAL: Duration = Duration::from_secs(5);

/// What the worker task is told.
#[derive(Debug)]
pub enum WorkerEvent {
    /// Best-path changes of Type-5 routes (`None`: no best path left).
    Remote(Vec<(RemoteKey, Option<RemoteRoute>)>),
    /// A peer finished sending its EVPN routes.
    EndOfRib,
    Control {
        request: Request,
        reply: oneshot::Sender<Response>,
    },
    /// The stale-route timer fired.
    StaleTimer,
}

/// A pod attachment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Pod {
    container_id: String,
    ifname: String,
    vrf: String,
    link: PodLink,
}

/// What is kept across restarts.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct State {
    /// VRFs the CNI plugin created.
    #[serde(default)]
    vrfs: Vec<VrfSpec>,
    #[serde(default)]
    pods: Vec<Pod>,
}

/// What the worker needs of a batch of best-path changes: for each EVPN
/// Type-5 route, its best path learned from a peer (`None`: none left, or
/// the best is our own); the other routes are none of its business.
pub fn remote_changes(changes: &[BestChange]) -> Vec<(RemoteKey, Option<RemoteRoute>)> {
    changes
        .iter()
        .filter_map(|c| match c.key.nlri() {
            Nlri::Evpn(EvpnRoute::IpPrefix(r)) => {
                let route = c.new.as_ref().filter(|p| p.peer() != LOCAL).and_then(|p| {
                    remote_route(
                        r.prefix,
                        p.attrs.next_hop.addr(),
                        p.attrs.extra.label().map_or(0, |l| l.as_vni()),
                        &p.attrs.path.extended_communities,
                    )
                });
                Some(((r.rd, r.prefix), route))
            }
            _ => None,
        })
        .collect()
}

/// Extracts what the kernel needs from a best Type-5 path.
pub fn remote_route(
    prefix: IpNet,
    next_hop: Option<IpAddr>,
    vni: u32,
    ext: &[ferry_wire::ExtendedCommunity],
) -> Option<RemoteRoute> {
    let vtep = next_hop?;
    let mut router_mac = None;
    let mut route_targets = Vec::new();
    for c in ext {
        match c.kind() {
            ExtendedCommunityKind::RouterMac(m) => router_mac = Some(m),
            ExtendedCommunityKind::RouteTarget(t) => route_targets.push(t),
            _ => {}
        }
    }
    Some(RemoteRoute {
        prefix,
        vtep,
        router_mac: router_mac?,
        vni,
        route_targets,
    })
}

/// The worker: its VRFs, pods and plan, and the kernel it keeps in sync
/// (`K`: [`Kernel`], rtnetlink, in the daemon; an in-memory kernel in the
/// tests).
pub struct Worker<K = Kernel> {
    kernel: K,
    plan: Plan,
    originator: Originator,
    router_id: std::net::Ipv4Addr,
    /// VRF name → (spec, from the configuration?).
    vrfs: BTreeMap<String, (VrfSpec, bool)>,
    vrf_errors: BTreeMap<String, String>,
    pods: Vec<Pod>,
    state_path: PathBuf,
    core: mpsc::Sender<CoreEvent>,
    /// Routes and entries found in the kernel at start, kept until the
    /// RIB has converged.
    stale_pending: bool,
    /// Kernel objects restored after something else removed or changed
    /// them, per VRF (`kernel-repairs` of `show vrf`).
    repairs: BTreeMap<String, u64>,
}

impl Worker<Kernel> {
    /// Opens the kernel, reconciles it with the configuration and the
    /// saved state, and originates the pods' prefixes.
    pub async fn start(cfg: &Config, core: mpsc::Sender<CoreEvent>) -> Result<Worker, String> {
        let kernel = Kernel::open().await.map_err(|e| e.to_string())?;
        info!(backend = kernel.backend.name(), "kernel sync");
        set_sysctl("ipv4/ip_forward", "1");
        set_sysctl("ipv6/conf/all/forwarding", "1");
        Worker::with_kernel(cfg, core, kernel).await
    }
}

impl<K: KernelApi> Worker<K> {
    /// Reconciles the given kernel with the configuration and the saved
    /// state (`<state-dir>/worker.json`), and originates the pods'
    /// prefixes.
    pub async fn with_kernel(
        cfg: &Config,
        core: mpsc::Sender<CoreEvent>,
        kernel: K,
    ) -> Result<Worker<K>, String> {
        let state_path = cfg.state_dir.join("worker.json");
        let state = match std::fs::read_to_string(&state_path) {
            Ok(text) => serde_json::from_str::<State>(&text).map_err(|e| {
                format!(
                    "{}: {e} (move it away to start afresh)",
                    state_path.display()
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(format!("{}: {e}", state_path.display())),
        };
        let mut w = Worker {
            kernel,
            plan: Plan::default(),
            originator: Originator::new(cfg),
            router_id: cfg.router_id,
            vrfs: BTreeMap::new(),
            vrf_errors: BTreeMap::new(),
            pods: Vec::new(),
            state_path,
            core,
            stale_pending: true,
            repairs: BTreeMap::new(),
        };
        for (i, v) in cfg.vrfs.iter().enumerate() {
            let spec = vrf_spec(cfg, v, (i + 1) as u16);
            w.vrfs.insert(spec.name.clone(), (spec, true));
        }
        for spec in state.vrfs {
            if w.vrfs.contains_key(&spec.name) {
                continue;
            }
            if let Some((other, _)) = w.vrfs.values().find(|(s, _)| s.vni == spec.vni) {
                warn!(vrf = %spec.name, vni = spec.vni, other = %other.name, "saved VRF dropped: its VNI is now configured for another VRF");
                continue;
            }
            w.vrfs.insert(spec.name.clone(), (spec, false));
        }
        w.reconcile_start(state.pods).await;
        w.save();
        Ok(w)
    }

    /// Runs until the core is gone.
    pub async fn run(
        mut self,
        mut events: mpsc::UnboundedReceiver<WorkerEvent>,
        tx: mpsc::UnboundedSender<WorkerEvent>,
    ) {
        {
            let tx = tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(STALE_TIME).await;
                let _ = tx.send(WorkerEvent::StaleTimer);
            });
        }
        drop(tx);
        let mut repair = tokio::time::interval(REPAIR_INTERVAL);
        repair.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        repair.tick().await;
        loop {
            let ev = tokio::select! {
                ev = events.recv() => match ev {
                    Some(ev) => ev,
                    None => break,
                },
                _ = repair.tick() => {
                    self.repair().await;
                    continue;
                }
            };
            self.handle(ev).await;
        }
    }

    /// One event: best-path changes applied, the stale routes swept at
    /// the first End-of-RIB (or when the stale timer fires), a control
    /// request answered.
    async fn handle(&mut self, ev: WorkerEvent) {
        match ev {
            WorkerEvent::Remote(changes) => {
                let mut ops = Vec::new();
                for (key, route) in changes {
                    ops.extend(self.plan.set_remote(key, route));
                }
                self.apply(ops).await;
            }
            WorkerEvent::EndOfRib | WorkerEvent::StaleTimer => {
                if self.stale_pending {
                    self.stale_pending = false;
                    self.sweep().await;
                    crate::metrics::KERNEL.stale_swept();
                }
            }
            WorkerEvent::Control { request, reply } => {
                let answer = self.control(request).await;
                let _ = reply.send(answer);
            }
        }
    }

    async fn apply(&mut self, ops: Vec<KernelOp>) {
        if ops.is_empty() {
            return;
        }
        let errors = self.kernel.apply(ops).await;
        crate::metrics::KERNEL.batch_done(&errors);
        for e in errors {
            error!(error = %e, "kernel");
        }
    }

    async fn ensure_vrf(&mut self, spec: &VrfSpec) -> Result<(), String> {
        match self
            .kernel
            .ensure_vrf(spec, self.originator.vtep, self.originator.router_mac)
            .await
        {
            Ok(()) => {
                self.vrf_errors.remove(&spec.name);
                let ops = self.plan.add_vrf(spec.clone());
                self.apply(ops).await;
                Ok(())
            }
            Err(e) => {
                let _ = self.kernel.remove_vrf(spec).await;
                self.vrf_errors.insert(spec.name.clone(), e.to_string());
                Err(format!("VRF {}: {e}", spec.name))
            }
        }
    }

    fn save(&self) {
        let state = State {
            vrfs: self
                .vrfs
                .values()
                .filter(|(_, from_config)| !from_config)
                .map(|(s, _)| s.clone())
                .collect(),
            pods: self.pods.clone(),
        };
        let write = || -> std::io::Result<()> {
            if let Some(dir) = self.state_path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = self.state_path.with_extension("json.tmp");
            std::fs::write(
                &tmp,
                serde_json::to_vec_pretty(&state).map_err(std::io::Error::other)?,
            )?;
            std::fs::rename(&tmp, &self.state_path)
        };
        if let Err(e) = write() {
            error!(path = %self.state_path.display(), error = %e, "saving worker state");
        }
    }

    /// Marks a pod's prefixes local (or not) and originates (or
    /// withdraws) their routes.
    async fn local_prefixes(&mut self, spec: &VrfSpec, link: &PodLink, attach: bool) {
        let mut ops = Vec::new();
        for a in &link.addresses {
            let p = a.trunc();
            ops.extend(self.plan.set_local(&spec.name, p, attach));
            let nlri = self.originator.nlri(spec, p);
            let ev = if attach {
                let (attrs, next_hop) = self.originator.attributes(spec);
                CoreEvent::Originate {
                    nlri,
                    attrs: Box::new(attrs),
                    next_hop,
                }
            } else {
                CoreEvent::WithdrawOriginated { nlri }
            };
            let _ = self.core.send(ev).await;
        }
        self.apply(ops).await;
    }

    async fn control(&mut self, request: Request) -> Response {
        let r = match request {
            Request::AttachPod(a) => self.attach_pod(a).await,
            Request::DetachPod {
                container_id,
                ifname,
            } => self.detach_pod(&container_id, &ifname).await,
            Request::CheckPod {
                container_id,
                ifname,
            } => self.check_pod(&container_id, &ifname).await,
            Request::Vrfs { name } => self.show_vrfs(name.as_deref()),
            Request::VrfRoutes { vrf } => self.show_vrf_routes(&vrf).await,
            Request::Attach { vrf, prefix } => self.announce(&vrf, &prefix, true).await,
            Request::Detach { vrf, prefix } => self.announce(&vrf, &prefix, false).await,
            _ => Err("not a worker request".to_string()),
        };
        match r {
            Ok(body) => Response::Ok { body },
            Err(message) => Response::Error { message },
        }
    }

    /// Announces (or withdraws) a prefix in a VRF without a pod.
    async fn announce(&mut self, vrf: &str, prefix: &str, attach: bool) -> Result<Body, String> {
        let spec = self.vrf(vrf)?.clone();
        let net: IpNet = prefix
            .parse()
            .map_err(|e| format!("invalid prefix {prefix:?}: {e}"))?;
        let link = PodLink {
            host_ifname: String::new(),
            mac: Default::default(),
            addresses: vec![net],
        };
        self.local_prefixes(&spec, &link, attach).await;
        Ok(Body::Done {
            message: format!(
                "{} {} in VRF {vrf}",
                if attach { "announced" } else { "withdrew" },
                net.trunc()
            ),
        })
    }

    fn vrf(&self, name: &str) -> Result<&VrfSpec, String> {
        self.vrfs.get(name).map(|(s, _)| s).ok_or_else(|| {
            let known: Vec<&String> = self.vrfs.keys().collect();
            format!("unknown VRF {name:?} (known: {known:?})")
        })
    }
}
