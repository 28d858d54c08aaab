//! The kernel kept right: reconciling at start (VRFs made or adopted,
//! saved pods re-attached, what Ferry owns and nothing wants removed),
//! sweeping the routes kept from before a restart once the RIB has
//! converged, and the periodic repair of what something else removed or
//! changed.

use std::collections::HashSet;
use std::net::IpAddr;

use ipnet::IpNet;
use tracing::{error, info, warn};

use super::{Pod, Worker};
use crate::fib::damage;
use crate::fib::kernel::{bridge_name, owned_vni, vxlan_name, Backend};
use crate::fib::plan::{KernelOp, VrfSpec};
use crate::fib::KernelApi;

impl<K: KernelApi> Worker<K> {
    /// Start: VRF objects made or adopted, pods re-attached, objects of
    /// VRFs that are gone removed. Remote routes stay until [`sweep`].
    pub(super) async fn reconcile_start(&mut self, saved_pods: Vec<Pod>) {
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
            if self.kernel.backend() == Backend::VrfDevice {
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
    pub(super) async fn sweep(&mut self) {
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

    fn count_repairs(&mut self, vrf: &str, n: usize) {
        *self.repairs.entry(vrf.to_string()).or_default() += n as u64;
    }

    /// Restores the kernel objects Ferry owns that something else removed
    /// or changed; detaches pods whose link is gone (the pod went away
    /// without a CNI DEL). Every restored object is logged and counted.
    pub(super) async fn repair(&mut self) {
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
            let broken = damage::vrf_damage(self.kernel.backend(), spec, &view);
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
            let broken = damage::pod_damage(self.kernel.backend(), &spec, &pod.link, &view);
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
}
