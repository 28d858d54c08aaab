//! The worker's show answers: `show vrf` (the VRF registry, its kernel
//! objects and counters) and `show route table` (a VRF's routes as the
//! worker wants them and as the kernel holds them).

use ferry_control::{Body, VrfInfo, VrfKernelRoute, VrfRibRoute};

use super::Worker;
use crate::fib::kernel::{bridge_name, vrf_device_name, vxlan_name, Backend, KernelRoute};
use crate::fib::plan::NotInstalled;
use crate::fib::KernelApi;

impl<K: KernelApi> Worker<K> {
    pub(super) fn show_vrfs(&self, name: Option<&str>) -> Result<Body, String> {
        if let Some(n) = name {
            self.vrf(n)?;
        }
        let backend = self.kernel.backend();
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

    pub(super) async fn show_vrf_routes(&self, vrf: &str) -> Result<Body, String> {
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
