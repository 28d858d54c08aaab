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

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use ferry_control::pod::{pod_address_problem, pod_host_ifname};
use ferry_control::{Body, PodAttach, Request, Response, VrfInfo, VrfKernelRoute, VrfRibRoute};
use ferry_wire::attribute::extended_community::{ExtendedCommunityKind, RouteTarget};
use ferry_wire::RouteDistinguisher;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

use crate::config::{Config, Vrf};
use crate::core::CoreEvent;
use crate::fib::damage;
use crate::fib::kernel::{
    bridge_name, owned_vni, set_sysctl, vrf_device_name, vxlan_name, Backend, Kernel, KernelRoute,
    PodLink,
};
use crate::fib::plan::{KernelOp, NotInstalled, Plan, RemoteKey, RemoteRoute, VrfSpec};
use crate::origination::{vrf_spec, Originator};

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

pub struct Worker {
    kernel: Kernel,
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

impl Worker {
    /// Opens the kernel, reconciles it with the configuration and the
    /// saved state, and originates the pods' prefixes.
    pub async fn start(cfg: &Config, core: mpsc::Sender<CoreEvent>) -> Result<Worker, String> {
        let kernel = Kernel::open().await.map_err(|e| e.to_string())?;
        info!(backend = kernel.backend.name(), "kernel sync");
        set_sysctl("ipv4/ip_forward", "1");
        set_sysctl("ipv6/conf/all/forwarding", "1");
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

    /// Start: VRF objects made or adopted, pods re-attached, objects of
    /// VRFs that are gone removed. Remote routes stay until [`sweep`].
    async fn reconcile_start(&mut self, saved_pods: Vec<Pod>) {
        let specs: Vec<VrfSpec> = self.vrfs.values().map(|(s, _)| s.clone()).collect();
        for spec in &specs {
            if let Err(e) = self.ensure_vrf(spec).await {
                error!(error = %e, "VRF not ready");
            }
        }
        let view = match self.kernel.view().await {
            Ok(v) => v,
            Err(e) => {
                error!(error = %e, "reading kernel state");
                return;
            }
        };
        for pod in saved_pods {
            let Some((spec, _)) = self.vrfs.get(&pod.vrf).cloned() else {
                warn!(pod = %pod.container_id, vrf = %pod.vrf, "saved pod dropped: its VRF is gone");
                let _ = self.kernel.delete_rules(&pod.link.host_ifname).await;
                continue;
            };
            if !view.links.contains_key(&pod.link.host_ifname) {
                info!(pod = %pod.container_id, link = %pod.link.host_ifname, "saved pod dropped: its link is gone");
                let _ = self.kernel.delete_rules(&pod.link.host_ifname).await;
                continue;
            }
            match self.kernel.attach(&spec, &pod.link).await {
                Ok(()) => {
                    self.local_prefixes(&spec, &pod.link, true).await;
                    self.pods.push(pod);
                }
                Err(e) => error!(pod = %pod.container_id, error = %e, "re-attaching pod"),
            }
        }
        // What Ferry owns and nothing wants any more.
        let vnis: HashSet<u32> = specs.iter().map(|s| s.vni).collect();
        let tables: HashSet<u32> = specs.iter().map(|s| s.table).collect();
        for name in view.links.keys() {
            if owned_vni(name).is_some_and(|v| !vnis.contains(&v)) {
                info!(link = %name, "removing stale device");
                if let Err(e) = self.kernel.remove_link(name).await {
                    error!(error = %e, "removing stale device");
                }
            }
            if self.kernel.backend == Backend::VrfDevice {
                if let Some(v) = name.strip_prefix("vrf-") {
                    if !self.vrfs.contains_key(v) {
                        let _ = self.kernel.remove_link(name).await;
                    }
                }
            }
        }
        let wanted_iifs: HashSet<String> = specs
            .iter()
            .map(|s| bridge_name(s.vni))
            .chain(self.pods.iter().map(|p| p.link.host_ifname.clone()))
            .collect();
        for (_, iif, _) in &view.rules {
            if !wanted_iifs.contains(iif) {
                info!(iif = %iif, "removing stale rule");
                let _ = self.kernel.delete_rules(iif).await;
            }
        }
        for r in &view.routes {
            if !tables.contains(&r.table) {
                let _ = self.kernel.delete_route(r.table, r.prefix).await;
            }
        }
        let pod_links: HashSet<&str> = self
            .pods
            .iter()
            .map(|p| p.link.host_ifname.as_str())
            .collect();
        for r in &view.routes {
            let via_pod = r.nexthops.iter().any(|n| {
                n.gateway.is_none() && n.device.as_deref().is_some_and(|d| !d.starts_with("br-"))
            });
            let dev_ok = r
                .nexthops
                .iter()
                .all(|n| n.device.as_deref().is_some_and(|d| pod_links.contains(d)));
            if tables.contains(&r.table) && r.kind == "unicast" && via_pod && !dev_ok {
                let _ = self.kernel.delete_route(r.table, r.prefix).await;
            }
        }
    }

    /// After convergence: removes the remote routes, neighbour and FDB
    /// entries found at start that the RIB no longer has.
    async fn sweep(&mut self) {
        let view = match self.kernel.view().await {
            Ok(v) => v,
            Err(e) => {
                error!(error = %e, "reading kernel state");
                return;
            }
        };
        let installed: HashSet<(u32, IpNet)> = self
            .plan
            .all_installed()
            .filter_map(|(vrf, p, _)| self.plan.vrf(vrf).map(|s| (s.table, *p)))
            .collect();
        let mut removed = 0usize;
        for r in &view.routes {
            let remote = r
                .nexthops
                .iter()
                .any(|n| n.device.as_deref().is_some_and(|d| d.starts_with("br-")));
            if remote
                && !installed.contains(&(r.table, r.prefix))
                && self.kernel.delete_route(r.table, r.prefix).await.is_ok()
            {
                removed += 1;
            }
        }
        let neigh: HashSet<(String, IpAddr)> = self
            .plan
            .neighbours()
            .map(|(vni, a, _)| (bridge_name(vni), a))
            .collect();
        let mut ops = Vec::new();
        for (dev, addr, _) in &view.neighbours {
            if !neigh.contains(&(dev.clone(), *addr)) {
                if let Some(vni) = owned_vni(dev) {
                    ops.push(KernelOp::NeighDel { vni, addr: *addr });
                }
            }
        }
        let fdb: HashSet<(String, ferry_wire::MacAddress, IpAddr)> = self
            .plan
            .fdb()
            .map(|(vni, m, v)| (vxlan_name(vni), m, v))
            .collect();
        for (dev, mac, vtep) in &view.fdb {
            if vtep.is_unspecified() {
                continue;
            }
            if !fdb.contains(&(dev.clone(), *mac, *vtep)) {
                if let Some(vni) = owned_vni(dev) {
                    ops.push(KernelOp::FdbDel {
                        vni,
                        mac: *mac,
                        vtep: *vtep,
                    });
                }
            }
        }
        removed += ops.len();
        self.apply(ops).await;
        info!(removed, "stale kernel state swept");
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

    /// The VRF a CNI request names: the existing one if it agrees, a new
    /// one if the name and VNI are free.
    fn vrf_for(&self, a: &PodAttach) -> Result<(VrfSpec, bool), String> {
        let rt: Option<RouteTarget> = a
            .route_target
            .as_deref()
            .map(|t| t.parse().map_err(|e| format!("vrfTarget {t:?}: {e}")))
            .transpose()?;
        if let Some((spec, _)) = self.vrfs.get(&a.vrf) {
            if spec.vni != a.vni {
                return Err(format!(
                    "vrfName {:?} has VNI {} on this node, the request says vxlanVNI {}",
                    a.vrf, spec.vni, a.vni
                ));
            }
            if let Some(t) = rt {
                if !spec.import.contains(&t) || !spec.export.contains(&t) {
                    return Err(format!(
                        "vrfName {:?} has route targets import {:?} export {:?}, the request says vrfTarget {t}",
                        a.vrf, spec.import, spec.export
                    ));
                }
            }
            return Ok((spec.clone(), false));
        }
        if let Some((other, _)) = self.vrfs.values().find(|(s, _)| s.vni == a.vni) {
            return Err(format!(
                "vxlanVNI {} is already the VNI of VRF {:?}, the request names vrfName {:?}",
                a.vni, other.name, a.vrf
            ));
        }
        let Some(t) = rt else {
            return Err(format!(
                "vrfName {:?} is a new VRF: vrfTarget is required",
                a.vrf
            ));
        };
        if a.vrf.is_empty()
            || a.vrf.len() > 12
            || !a
                .vrf
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "vrfName {:?}: use 1 to 12 letters, digits, '-' or '_'",
                a.vrf
            ));
        }
        if a.vni == 0 || a.vni > 0xff_ffff {
            return Err(format!("vxlanVNI {}: must be 1..=16777215", a.vni));
        }
        let used: BTreeSet<u16> = self
            .vrfs
            .values()
            .filter_map(|(s, _)| match s.rd {
                RouteDistinguisher::Ipv4 { addr, assigned } if addr == self.router_id => {
                    Some(assigned)
                }
                _ => None,
            })
            .collect();
        let index = (1..=u16::MAX)
            .find(|i| !used.contains(i))
            .unwrap_or(u16::MAX);
        Ok((
            VrfSpec {
                name: a.vrf.clone(),
                vni: a.vni,
                table: Vrf::default_table(a.vni),
                import: vec![t],
                export: vec![t],
                rd: RouteDistinguisher::Ipv4 {
                    addr: self.router_id,
                    assigned: index,
                },
            },
            true,
        ))
    }

    /// Refuses an attachment that names anything but what the CNI plugin
    /// made for this container: the host link must be the veth of Ferry's
    /// naming scheme for the container and interface, with its peer in
    /// another network namespace; the addresses must be pod addresses.
    async fn validate_attach(&self, a: &PodAttach) -> Result<(), String> {
        if a.container_id.is_empty() || a.container_id.len() > 256 {
            return Err(format!(
                "container-id {:?}: 1 to 256 characters",
                a.container_id
            ));
        }
        if a.ifname.is_empty()
            || a.ifname.len() > 15
            || a.ifname.contains(['/', ' '])
            || a.ifname == "."
            || a.ifname == ".."
        {
            return Err(format!("ifname {:?} is not an interface name", a.ifname));
        }
        let want = pod_host_ifname(&a.container_id, &a.ifname);
        if a.host_ifname != want {
            return Err(format!(
                "host-ifname {:?} is not the link Ferry makes for {}/{} ({want})",
                a.host_ifname, a.container_id, a.ifname
            ));
        }
        if a.addresses.is_empty() {
            return Err("the pod has no address (ipConfig)".into());
        }
        for (i, addr) in a.addresses.iter().enumerate() {
            if let Some(why) = pod_address_problem(addr) {
                return Err(format!("addresses[{i}]: {why}"));
            }
            if a.addresses[..i]
                .iter()
                .any(|b| b.addr().is_ipv4() == addr.addr().is_ipv4())
            {
                return Err(format!(
                    "addresses[{i}]: {addr}: one address per family and pod"
                ));
            }
        }
        if a.mac.0[0] & 1 == 1 || a.mac.0 == [0; 6] {
            return Err(format!("mac {} is not a unicast address", a.mac));
        }
        if let Some(p) = self.pods.iter().find(|p| {
            p.link.host_ifname == a.host_ifname
                && (p.container_id != a.container_id || p.ifname != a.ifname)
        }) {
            return Err(format!(
                "host-ifname {} is attached for {}/{}",
                a.host_ifname, p.container_id, p.ifname
            ));
        }
        if let Some(why) = self.kernel.pod_link_problem(&a.host_ifname).await {
            return Err(why);
        }
        Ok(())
    }

    async fn attach_pod(&mut self, a: PodAttach) -> Result<Body, String> {
        self.validate_attach(&a).await?;
        // A repeated ADD replaces the previous attachment.
        if self
            .pods
            .iter()
            .any(|p| p.container_id == a.container_id && p.ifname == a.ifname)
        {
            self.detach_pod(&a.container_id, &a.ifname).await?;
        }
        let (spec, new) = self.vrf_for(&a)?;
        for p in self.pods.iter().filter(|p| p.vrf == spec.name) {
            for mine in &a.addresses {
                for theirs in &p.link.addresses {
                    if mine.trunc() == theirs.trunc()
                        || theirs.contains(&mine.addr())
                        || mine.contains(&theirs.addr())
                    {
                        return Err(format!(
                            "address {mine} overlaps {theirs} of pod {} in VRF {}",
                            p.container_id, spec.name
                        ));
                    }
                }
            }
        }
        if new {
            self.ensure_vrf(&spec).await?;
            self.vrfs.insert(spec.name.clone(), (spec.clone(), false));
        }
        let link = PodLink {
            host_ifname: a.host_ifname.clone(),
            mac: a.mac,
            addresses: a.addresses.clone(),
        };
        if let Err(e) = self.kernel.attach(&spec, &link).await {
            if new {
                let ops = self.plan.remove_vrf(&spec.name);
                self.apply(ops).await;
                let _ = self.kernel.remove_vrf(&spec).await;
                self.vrfs.remove(&spec.name);
            }
            return Err(e.to_string());
        }
        self.local_prefixes(&spec, &link, true).await;
        self.pods.push(Pod {
            container_id: a.container_id.clone(),
            ifname: a.ifname.clone(),
            vrf: spec.name.clone(),
            link,
        });
        self.save();
        let list: Vec<String> = a.addresses.iter().map(|p| p.trunc().to_string()).collect();
        info!(pod = %a.container_id, vrf = %spec.name, prefixes = ?list, "pod attached");
        Ok(Body::Done {
            message: format!(
                "attached {} to VRF {} ({})",
                a.host_ifname,
                spec.name,
                list.join(", ")
            ),
        })
    }

    async fn detach_pod(&mut self, container_id: &str, ifname: &str) -> Result<Body, String> {
        let Some(i) = self
            .pods
            .iter()
            .position(|p| p.container_id == container_id && p.ifname == ifname)
        else {
            return Ok(Body::Done {
                message: format!("nothing attached for {container_id}/{ifname}"),
            });
        };
        let pod = self.pods[i].clone();
        if let Some((spec, _)) = self.vrfs.get(&pod.vrf).cloned() {
            self.kernel
                .detach(&spec, &pod.link)
                .await
                .map_err(|e| e.to_string())?;
            self.local_prefixes(&spec, &pod.link, false).await;
        }
        self.pods.remove(i);
        self.save();
        info!(pod = %container_id, vrf = %pod.vrf, "pod detached");
        Ok(Body::Done {
            message: format!("detached {} from VRF {}", pod.link.host_ifname, pod.vrf),
        })
    }

    async fn check_pod(&mut self, container_id: &str, ifname: &str) -> Result<Body, String> {
        let pod = self
            .pods
            .iter()
            .find(|p| p.container_id == container_id && p.ifname == ifname)
            .cloned()
            .ok_or_else(|| format!("no attachment for {container_id}/{ifname}"))?;
        let spec = self.vrf(&pod.vrf)?.clone();
        let view = self.kernel.view().await.map_err(|e| e.to_string())?;
        let mut broken = damage::vrf_damage(self.kernel.backend, &spec, &view);
        broken.extend(damage::pod_damage(
            self.kernel.backend,
            &spec,
            &pod.link,
            &view,
        ));
        if view.links.contains_key(&pod.link.host_ifname) {
            if let Some(why) = self.kernel.pod_link_problem(&pod.link.host_ifname).await {
                broken.push(why);
            }
        }
        for a in &pod.link.addresses {
            if !self.plan.is_local(&spec.name, a.trunc()) {
                broken.push(format!(
                    "prefix {} is not originated in VRF {}",
                    a.trunc(),
                    spec.name
                ));
            }
        }
        if !broken.is_empty() {
            return Err(format!(
                "{container_id}/{ifname} in VRF {}: {}",
                spec.name,
                broken.join("; ")
            ));
        }
        Ok(Body::Done {
            message: format!("{container_id}/{ifname} attached to VRF {}", pod.vrf),
        })
    }

    fn count_repairs(&mut self, vrf: &str, n: usize) {
        *self.repairs.entry(vrf.to_string()).or_default() += n as u64;
    }

    /// Restores the kernel objects Ferry owns that something else removed
    /// or changed; detaches pods whose link is gone (the pod went away
    /// without a CNI DEL). Every restored object is logged and counted.
    async fn repair(&mut self) {
        let mut view = match self.kernel.view().await {
            Ok(v) => v,
            Err(e) => {
                error!(error = %e, "reading kernel state for repair");
                return;
            }
        };
        let specs: Vec<VrfSpec> = self
            .vrfs
            .values()
            .filter(|(s, _)| !self.vrf_errors.contains_key(&s.name))
            .map(|(s, _)| s.clone())
            .collect();
        let mut reread = false;
        for spec in &specs {
            let broken = damage::vrf_damage(self.kernel.backend, spec, &view);
            if broken.is_empty() {
                continue;
            }
            reread = true;
            match self
                .kernel
                .ensure_vrf(spec, self.originator.vtep, self.originator.router_mac)
                .await
            {
                Ok(()) => {
                    warn!(vrf = %spec.name, damage = ?broken, "VRF kernel objects restored");
                    self.count_repairs(&spec.name, broken.len());
                }
                Err(e) => {
                    error!(vrf = %spec.name, damage = ?broken, error = %e, "restoring VRF kernel objects")
                }
            }
        }
        if reread {
            match self.kernel.view().await {
                Ok(v) => view = v,
                Err(e) => {
                    error!(error = %e, "reading kernel state for repair");
                    return;
                }
            }
        }
        for pod in self.pods.clone() {
            let Some((spec, _)) = self.vrfs.get(&pod.vrf).cloned() else {
                continue;
            };
            if !view.links.contains_key(&pod.link.host_ifname) {
                info!(pod = %pod.container_id, link = %pod.link.host_ifname, "pod detached: its link is gone");
                if let Err(e) = self.detach_pod(&pod.container_id, &pod.ifname).await {
                    error!(pod = %pod.container_id, error = %e, "detaching pod");
                }
                continue;
            }
            let broken = damage::pod_damage(self.kernel.backend, &spec, &pod.link, &view);
            if broken.is_empty() {
                continue;
            }
            match self.kernel.attach(&spec, &pod.link).await {
                Ok(()) => {
                    warn!(pod = %pod.container_id, vrf = %spec.name, damage = ?broken, "pod kernel objects restored");
                    self.count_repairs(&spec.name, broken.len());
                }
                Err(e) => {
                    error!(pod = %pod.container_id, damage = ?broken, error = %e, "restoring pod kernel objects")
                }
            }
        }
        // What the plan installed for remote routes.
        let (ops, counted) = damage::remote_repairs(&self.plan, &view);
        if !ops.is_empty() {
            warn!(objects = ?ops, "remote routes, neighbour and FDB entries restored");
            for vrf in counted.iter().flatten() {
                self.count_repairs(vrf, 1);
            }
            self.apply(ops).await;
        }
    }

    fn show_vrfs(&self, name: Option<&str>) -> Result<Body, String> {
        if let Some(n) = name {
            self.vrf(n)?;
        }
        let backend = self.kernel.backend;
        let vrfs = self
            .vrfs
            .values()
            .filter(|(s, _)| name.is_none_or(|n| s.name == n))
            .map(|(s, from_config)| VrfInfo {
                name: s.name.clone(),
                vni: s.vni,
                table: s.table,
                rd: s.rd,
                import: s.import.iter().map(|t| t.to_string()).collect(),
                export: s.export.iter().map(|t| t.to_string()).collect(),
                source: if *from_config { "config" } else { "cni" }.into(),
                backend: backend.name().into(),
                vrf_device: (backend == Backend::VrfDevice).then(|| vrf_device_name(&s.name)),
                bridge: bridge_name(s.vni),
                vxlan: vxlan_name(s.vni),
                pods: self
                    .pods
                    .iter()
                    .filter(|p| p.vrf == s.name)
                    .map(|p| format!("{}/{}", p.container_id, p.ifname))
                    .collect(),
                imported: self.plan.imported_count(&s.name),
                installed: self.plan.installed(&s.name).count(),
                error: self.vrf_errors.get(&s.name).cloned(),
                kernel_repairs: self.repairs.get(&s.name).copied().unwrap_or(0),
            })
            .collect();
        Ok(Body::Vrfs { vrfs })
    }

    async fn show_vrf_routes(&self, vrf: &str) -> Result<Body, String> {
        let spec = self.vrf(vrf)?.clone();
        let mut rib = Vec::new();
        for p in self.pods.iter().filter(|p| p.vrf == vrf) {
            for a in &p.link.addresses {
                rib.push(VrfRibRoute {
                    prefix: a.trunc().to_string(),
                    source: "local".into(),
                    nexthops: vec![format!("dev {}", p.link.host_ifname)],
                    installed: true,
                    reason: None,
                });
            }
        }
        for (prefix, nexthops) in self.plan.installed(vrf) {
            rib.push(VrfRibRoute {
                prefix: prefix.to_string(),
                source: "evpn".into(),
                nexthops: nexthops
                    .iter()
                    .map(|n| format!("via {} rmac {}", n.vtep, n.router_mac))
                    .collect(),
                installed: true,
                reason: None,
            });
        }
        for ((rd, prefix), why) in self.plan.not_installed(vrf) {
            rib.push(VrfRibRoute {
                prefix: prefix.to_string(),
                source: "evpn".into(),
                nexthops: vec![format!("rd {rd}")],
                installed: false,
                reason: Some(
                    match why {
                        NotInstalled::LocalPrefix => "a local pod has this prefix",
                        NotInstalled::VniMismatch => "the route's VNI is not the VRF's",
                    }
                    .into(),
                ),
            });
        }
        rib.sort_by(|a, b| a.prefix.cmp(&b.prefix));
        let view = self.kernel.view().await.map_err(|e| e.to_string())?;
        let mut kernel: Vec<VrfKernelRoute> = view
            .routes
            .iter()
            .filter(|r| r.table == spec.table)
            .map(kernel_route_text)
            .collect();
        kernel.sort_by(|a, b| a.prefix.cmp(&b.prefix));
        Ok(Body::VrfRoutes {
            vrf: vrf.to_string(),
            table: spec.table,
            rib,
            kernel,
        })
    }
}

fn kernel_route_text(r: &KernelRoute) -> VrfKernelRoute {
    VrfKernelRoute {
        prefix: r.prefix.to_string(),
        kind: r.kind.clone(),
        nexthops: r
            .nexthops
            .iter()
            .map(|n| {
                let mut s = String::new();
                if let Some(g) = n.gateway {
                    s.push_str(&format!("via {g} "));
                }
                if let Some(d) = &n.device {
                    s.push_str(&format!("dev {d}"));
                }
                if n.onlink {
                    s.push_str(" onlink");
                }
                s.trim().to_string()
            })
            .collect(),
    }
}
