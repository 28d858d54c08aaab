//! Pod attachments asked by the CNI plugin: the request checked (only
//! the veth Ferry made for the container, pod addresses, a VRF that agrees
//! or can be made), the pod attached, detached, and checked (CNI CHECK).

use std::collections::BTreeSet;

use ferry_control::pod::{pod_address_problem, pod_host_ifname};
use ferry_control::{Body, PodAttach};
use ferry_wire::attribute::extended_community::RouteTarget;
use ferry_wire::RouteDistinguisher;
use tracing::info;

use super::{Pod, Worker};
use crate::config::Vrf;
use crate::fib::damage;
use crate::fib::kernel::PodLink;
use crate::fib::plan::VrfSpec;
use crate::fib::KernelApi;

impl<K: KernelApi> Worker<K> {
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

    pub(super) async fn attach_pod(&mut self, a: PodAttach) -> Result<Body, String> {
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

    pub(super) async fn detach_pod(
        &mut self,
        container_id: &str,
        ifname: &str,
    ) -> Result<Body, String> {
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

    pub(super) async fn check_pod(
        &mut self,
        container_id: &str,
        ifname: &str,
    ) -> Result<Body, String> {
        let pod = self
            .pods
            .iter()
            .find(|p| p.container_id == container_id && p.ifname == ifname)
            .cloned()
            .ok_or_else(|| format!("no attachment for {container_id}/{ifname}"))?;
        let spec = self.vrf(&pod.vrf)?.clone();
        let view = self.kernel.view().await.map_err(|e| e.to_string())?;
        let mut broken = damage::vrf_damage(self.kernel.backend(), &spec, &view);
        broken.extend(damage::pod_damage(
            self.kernel.backend(),
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
}
