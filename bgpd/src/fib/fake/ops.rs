//! What the in-memory kernel does for each [`KernelApi`] call: the steps
//! `Kernel` takes through rtnetlink (VRF objects, pod links, the plan's
//! operations in their three phases), each write open to an armed
//! [`Fault`], and every call recorded.

use std::collections::HashMap;
use std::net::IpAddr;

use ferry_wire::MacAddress;
use ipnet::IpNet;

use super::{
    default_route, error, ignore_gone, no_device, Call, FakeKernel, Fault, Inner, LinkKind, Model,
    Rule, EEXIST, EINVAL, ENODEV,
};
use crate::fib::api::KernelApi;
use crate::fib::kernel::{
    bridge_name, vrf_device_name, vxlan_name, Backend, KernelError, KernelNexthop, KernelRoute,
    KernelView, PodLink, RTPROT_FERRY, RULE_PRIORITY, UNREACHABLE_METRIC, VXLAN_PORT,
};
use crate::fib::plan::{KernelOp, VrfSpec};

/// Per VNI: the indexes of its bridge and VXLAN device, looked up before
/// a batch as `Kernel::apply` does.
type VniIndex = HashMap<u32, (Option<u32>, Option<u32>)>;

impl Inner {
    /// The fault armed for this kind of write, if any (used up).
    fn fault(&mut self, f: Fault, what: &str) -> Result<(), KernelError> {
        match self.faults.iter().position(|x| *x == f) {
            Some(i) => {
                self.faults.remove(i);
                Err(error(what, EINVAL))
            }
            None => Ok(()),
        }
    }

    fn create_link(
        &mut self,
        name: &str,
        kind: LinkKind,
        mac: Option<MacAddress>,
        controller: Option<u32>,
    ) -> Result<(), KernelError> {
        let what = format!("creating {name}");
        self.fault(Fault::Link, &what)?;
        if self.model.links.contains_key(name) {
            return Err(error(what, EEXIST));
        }
        if controller.is_some_and(|c| self.model.name_of(c).is_none()) {
            return Err(error(what, ENODEV));
        }
        let _ = self.model.new_link(name, kind, mac);
        if let Some(l) = self.model.links.get_mut(name) {
            l.controller = controller;
            l.up = true;
        }
        Ok(())
    }

    /// `ip link set INDEX [address MAC] [master CONTROLLER] up`.
    fn set_link_up(
        &mut self,
        index: u32,
        mac: Option<MacAddress>,
        controller: Option<u32>,
        what: &str,
    ) -> Result<(), KernelError> {
        self.fault(Fault::Link, what)?;
        let name = self
            .model
            .name_of(index)
            .ok_or_else(|| error(what, ENODEV))?
            .to_string();
        if controller.is_some_and(|c| self.model.name_of(c).is_none()) {
            return Err(error(what, ENODEV));
        }
        if let Some(l) = self.model.links.get_mut(&name) {
            l.up = true;
            if let Some(m) = mac {
                l.mac = m;
            }
            if controller.is_some() {
                l.controller = controller;
            }
        }
        Ok(())
    }

    fn delete_link(&mut self, name: &str) -> Result<(), KernelError> {
        ignore_gone(self.model.delete_link(name))
    }

    fn ensure_rules(&mut self, iif: &str, table: u32) -> Result<(), KernelError> {
        for v6 in [false, true] {
            if self
                .model
                .ferry_rules()
                .any(|r| r.v6 == v6 && r.iif == iif && r.table == table)
            {
                continue;
            }
            self.fault(Fault::Rule, &format!("ip rule iif {iif} lookup {table}"))?;
            self.model.rules.push(Rule {
                v6,
                iif: iif.to_string(),
                table,
                priority: RULE_PRIORITY,
                protocol: RTPROT_FERRY,
            });
        }
        Ok(())
    }

    /// As `Kernel::ensure_vrf`, step by step.
    fn ensure_vrf(
        &mut self,
        backend: Backend,
        spec: &VrfSpec,
        vtep: IpAddr,
        router_mac: MacAddress,
    ) -> Result<(), KernelError> {
        let br = bridge_name(spec.vni);
        let vx = vxlan_name(spec.vni);
        let vrf_index = if backend == Backend::VrfDevice {
            let name = vrf_device_name(&spec.name);
            let want = LinkKind::Vrf { table: spec.table };
            if self.model.links.get(&name).map(|l| &l.kind) != Some(&want) {
                self.delete_link(&name)?;
                self.create_link(&name, want, None, None)?;
            }
            Some(self.model.require_index(&name)?)
        } else {
            None
        };
        if !self.model.links.contains_key(&br) {
            self.create_link(&br, LinkKind::Bridge, Some(router_mac), None)?;
        }
        let br_index = self.model.require_index(&br)?;
        self.set_link_up(
            br_index,
            Some(router_mac),
            vrf_index,
            &format!("setting up {br}"),
        )?;
        let want = LinkKind::Vxlan {
            vni: spec.vni,
            local: vtep,
            port: VXLAN_PORT,
            learning: false,
        };
        if self.model.links.get(&vx).map(|l| &l.kind) != Some(&want) {
            self.delete_link(&vx)?;
            self.create_link(&vx, want, None, Some(br_index))?;
        }
        let vx_index = self.model.require_index(&vx)?;
        self.set_link_up(vx_index, None, Some(br_index), &format!("setting up {vx}"))?;
        if backend == Backend::RuleTable {
            self.ensure_rules(&br, spec.table)?;
        }
        for v6 in [false, true] {
            let what = format!("unreachable default in table {}", spec.table);
            self.fault(Fault::Route, &what)?;
            let route = KernelRoute {
                table: spec.table,
                prefix: default_route(v6),
                kind: "unreachable".into(),
                metric: Some(UNREACHABLE_METRIC),
                nexthops: Vec::new(),
            };
            self.model.replace_route(RTPROT_FERRY, route, &what)?;
        }
        Ok(())
    }

    fn remove_vrf(&mut self, backend: Backend, spec: &VrfSpec) -> Result<(), KernelError> {
        let br = bridge_name(spec.vni);
        self.delete_link(&vxlan_name(spec.vni))?;
        self.delete_link(&br)?;
        if backend == Backend::VrfDevice {
            self.delete_link(&vrf_device_name(&spec.name))?;
        }
        self.model.delete_rules(&br);
        for v6 in [false, true] {
            let prefix = default_route(v6);
            ignore_gone(
                self.model
                    .delete_route_where("removing the unreachable default", |r| {
                        r.protocol == RTPROT_FERRY
                            && r.route.table == spec.table
                            && r.route.prefix == prefix
                            && r.route.kind == "unreachable"
                            && r.route.metric == Some(UNREACHABLE_METRIC)
                    }),
            )?;
        }
        Ok(())
    }

    fn pod_link_problem(&self, name: &str) -> Option<String> {
        let Some(l) = self.model.links.get(name) else {
            return Some(format!("host link {name} does not exist"));
        };
        match l.kind {
            LinkKind::Veth {
                peer_elsewhere: true,
            } => None,
            LinkKind::Veth { .. } => Some(format!(
                "host link {name}: its peer is not in a pod's network namespace"
            )),
            _ => Some(format!("host link {name} is not a veth")),
        }
    }

    fn attach(
        &mut self,
        backend: Backend,
        spec: &VrfSpec,
        pod: &PodLink,
    ) -> Result<(), KernelError> {
        let r = self.attach_inner(backend, spec, pod);
        if r.is_err() {
            let _ = self.detach(spec, pod);
        }
        r
    }

    /// As `Kernel::attach`, step by step.
    fn attach_inner(
        &mut self,
        backend: Backend,
        spec: &VrfSpec,
        pod: &PodLink,
    ) -> Result<(), KernelError> {
        let ifname = &pod.host_ifname;
        let index = self.model.require_index(ifname)?;
        let vrf = match backend {
            Backend::VrfDevice => Some(self.model.require_index(&vrf_device_name(&spec.name))?),
            Backend::RuleTable => None,
        };
        self.set_link_up(index, None, vrf, &format!("setting up {ifname}"))?;
        if backend == Backend::RuleTable {
            self.ensure_rules(ifname, spec.table)?;
        }
        for addr in &pod.addresses {
            let what = format!("route {} dev {ifname} table {}", addr.trunc(), spec.table);
            self.fault(Fault::Route, &what)?;
            let route = KernelRoute {
                table: spec.table,
                prefix: addr.trunc(),
                kind: "unicast".into(),
                metric: None,
                nexthops: vec![KernelNexthop {
                    gateway: None,
                    device: Some(ifname.clone()),
                    onlink: false,
                }],
            };
            self.model.replace_route(RTPROT_FERRY, route, &what)?;
            self.fault(
                Fault::Neighbour,
                &format!("neighbour {} lladdr {} dev {ifname}", addr.addr(), pod.mac),
            )?;
            self.model.set_neighbour(ifname, addr.addr(), pod.mac);
        }
        Ok(())
    }

    fn detach(&mut self, spec: &VrfSpec, pod: &PodLink) -> Result<(), KernelError> {
        let ifname = &pod.host_ifname;
        if self.model.links.contains_key(ifname) {
            for addr in &pod.addresses {
                let prefix = addr.trunc();
                ignore_gone(self.model.delete_route_where("deleting pod route", |r| {
                    r.protocol == RTPROT_FERRY
                        && r.route.table == spec.table
                        && r.route.prefix == prefix
                        && r.route
                            .nexthops
                            .iter()
                            .any(|n| n.device.as_deref() == Some(ifname.as_str()))
                }))?;
                self.model.neighbours.remove(&(ifname.clone(), addr.addr()));
            }
        }
        self.model.delete_rules(ifname);
        Ok(())
    }

    /// As `Kernel::apply`: the devices looked up first, then neighbour and
    /// FDB adds, routes, neighbour and FDB deletes.
    fn apply(&mut self, ops: Vec<KernelOp>) -> Vec<KernelError> {
        let mut index = VniIndex::new();
        for op in &ops {
            let vni = match op {
                KernelOp::RouteSet { vni, .. }
                | KernelOp::NeighAdd { vni, .. }
                | KernelOp::NeighDel { vni, .. }
                | KernelOp::FdbAdd { vni, .. }
                | KernelOp::FdbDel { vni, .. } => *vni,
                KernelOp::RouteDel { .. } => continue,
            };
            index.entry(vni).or_insert_with(|| {
                (
                    self.model.index(&bridge_name(vni)),
                    self.model.index(&vxlan_name(vni)),
                )
            });
        }
        let (mut first, mut middle, mut last) = (Vec::new(), Vec::new(), Vec::new());
        for op in ops {
            match op {
                KernelOp::NeighAdd { .. } | KernelOp::FdbAdd { .. } => first.push(op),
                KernelOp::RouteSet { .. } | KernelOp::RouteDel { .. } => middle.push(op),
                KernelOp::NeighDel { .. } | KernelOp::FdbDel { .. } => last.push(op),
            }
        }
        let mut errors = Vec::new();
        for op in first.into_iter().chain(middle).chain(last) {
            if let Err(e) = self.apply_one(op, &index) {
                errors.push(e);
            }
        }
        errors
    }

    fn apply_one(&mut self, op: KernelOp, index: &VniIndex) -> Result<(), KernelError> {
        // The device of an index looked up before the batch.
        let device = |m: &Model, i: Option<u32>, name: String| {
            i.and_then(|i| m.name_of(i).map(str::to_string))
                .ok_or_else(|| no_device(&name))
        };
        let br =
            |m: &Model, vni: u32| device(m, index.get(&vni).and_then(|x| x.0), bridge_name(vni));
        let vx =
            |m: &Model, vni: u32| device(m, index.get(&vni).and_then(|x| x.1), vxlan_name(vni));
        match op {
            KernelOp::RouteSet {
                vni,
                table,
                prefix,
                nexthops,
            } => {
                let dev = br(&self.model, vni)?;
                let what = format!("route {prefix} table {table}");
                self.fault(Fault::Route, &what)?;
                let route = KernelRoute {
                    table,
                    prefix,
                    kind: "unicast".into(),
                    metric: None,
                    nexthops: nexthops
                        .iter()
                        .map(|n| KernelNexthop {
                            gateway: Some(n.gateway(&prefix)),
                            device: Some(dev.clone()),
                            onlink: true,
                        })
                        .collect(),
                };
                self.model.replace_route(RTPROT_FERRY, route, &what)
            }
            KernelOp::RouteDel { table, prefix } => self.model.delete_ferry_route(table, prefix),
            KernelOp::NeighAdd { vni, addr, mac } => {
                let dev = br(&self.model, vni)?;
                self.fault(
                    Fault::Neighbour,
                    &format!("neighbour {addr} lladdr {mac} dev {dev}"),
                )?;
                self.model.set_neighbour(&dev, addr, mac);
                Ok(())
            }
            KernelOp::NeighDel { vni, addr } => {
                if let Ok(dev) = br(&self.model, vni) {
                    self.model.neighbours.remove(&(dev, addr));
                }
                Ok(())
            }
            KernelOp::FdbAdd { vni, mac, vtep } => {
                let dev = vx(&self.model, vni)?;
                self.fault(Fault::Fdb, &format!("fdb {mac} dst {vtep} dev {dev}"))?;
                // NLM_F_APPEND adds a destination to the all-zero and
                // multicast entries only; a unicast MAC keeps the one it has.
                let e = self.model.fdb.entry((dev, mac)).or_default();
                let multi = mac.0 == [0; 6] || mac.0[0] & 1 == 1;
                if e.is_empty() || (multi && !e.contains(&vtep)) {
                    e.push(vtep);
                }
                Ok(())
            }
            KernelOp::FdbDel { vni, mac, vtep } => {
                if let Ok(dev) = vx(&self.model, vni) {
                    let key = (dev, mac);
                    if let Some(e) = self.model.fdb.get_mut(&key) {
                        e.retain(|v| *v != vtep);
                        if e.is_empty() {
                            self.model.fdb.remove(&key);
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

impl KernelApi for FakeKernel {
    fn backend(&self) -> Backend {
        self.backend
    }

    async fn view(&self) -> Result<KernelView, KernelError> {
        self.with(|k| {
            k.calls.push(Call::View);
            Ok(k.model.view())
        })
    }

    async fn apply(&self, ops: Vec<KernelOp>) -> Vec<KernelError> {
        self.with(|k| {
            k.calls.push(Call::Apply(ops.clone()));
            k.apply(ops)
        })
    }

    async fn ensure_vrf(
        &self,
        spec: &VrfSpec,
        vtep: IpAddr,
        router_mac: MacAddress,
    ) -> Result<(), KernelError> {
        self.with(|k| {
            k.calls.push(Call::EnsureVrf(spec.name.clone()));
            k.ensure_vrf(self.backend, spec, vtep, router_mac)
        })
    }

    async fn remove_vrf(&self, spec: &VrfSpec) -> Result<(), KernelError> {
        self.with(|k| {
            k.calls.push(Call::RemoveVrf(spec.name.clone()));
            k.remove_vrf(self.backend, spec)
        })
    }

    async fn attach(&self, spec: &VrfSpec, pod: &PodLink) -> Result<(), KernelError> {
        self.with(|k| {
            k.calls.push(Call::Attach(pod.host_ifname.clone()));
            k.attach(self.backend, spec, pod)
        })
    }

    async fn detach(&self, spec: &VrfSpec, pod: &PodLink) -> Result<(), KernelError> {
        self.with(|k| {
            k.calls.push(Call::Detach(pod.host_ifname.clone()));
            k.detach(spec, pod)
        })
    }

    async fn delete_rules(&self, iif: &str) -> Result<(), KernelError> {
        self.with(|k| {
            k.calls.push(Call::DeleteRules(iif.to_string()));
            k.model.delete_rules(iif);
            Ok(())
        })
    }

    async fn delete_route(&self, table: u32, prefix: IpNet) -> Result<(), KernelError> {
        self.with(|k| {
            k.calls.push(Call::DeleteRoute(table, prefix));
            k.model.delete_ferry_route(table, prefix)
        })
    }

    async fn remove_link(&self, name: &str) -> Result<(), KernelError> {
        self.with(|k| {
            k.calls.push(Call::RemoveLink(name.to_string()));
            k.delete_link(name)
        })
    }

    async fn pod_link_problem(&self, name: &str) -> Option<String> {
        self.with(|k| {
            k.calls.push(Call::PodLinkProblem(name.to_string()));
            k.pod_link_problem(name)
        })
    }
}
