//! What of the kernel objects Ferry made is missing or changed: the
//! worker's repair pass and the CNI CHECK compare what they want with one
//! [`KernelView`]. Pure: the view is read once, compared here, and only
//! Ferry's own objects are looked at.

use std::net::IpAddr;

use super::kernel::{bridge_name, vrf_device_name, vxlan_name, Backend, KernelView, PodLink};
use super::plan::{KernelOp, Plan, VrfSpec};

/// What of a VRF's kernel objects is missing (empty: all there): its
/// bridge and VXLAN device (the VXLAN device in the bridge), its VRF
/// device (the bridge in it) or its bridge's `ip rule`s, and the
/// unreachable defaults of its table.
pub fn vrf_damage(backend: Backend, spec: &VrfSpec, view: &KernelView) -> Vec<String> {
    let mut out = Vec::new();
    let br = bridge_name(spec.vni);
    let vx = vxlan_name(spec.vni);
    for dev in [&br, &vx] {
        if !view.links.contains_key(dev) {
            out.push(format!("device {dev} is gone"));
        }
    }
    if view.links.contains_key(&vx)
        && view.links.contains_key(&br)
        && view.controllers.get(&vx) != view.links.get(&br)
    {
        out.push(format!("{vx} is not in {br}"));
    }
    match backend {
        Backend::VrfDevice => {
            let vrf = vrf_device_name(&spec.name);
            match view.links.get(&vrf) {
                None => out.push(format!("device {vrf} is gone")),
                Some(i) if view.links.contains_key(&br) => {
                    if view.controllers.get(&br) != Some(i) {
                        out.push(format!("{br} is not in {vrf}"));
                    }
                }
                Some(_) => {}
            }
        }
        Backend::RuleTable => out.extend(missing_rules(view, &br, spec.table)),
    }
    for v6 in [false, true] {
        let there = view.routes.iter().any(|r| {
            r.table == spec.table
                && r.kind == "unreachable"
                && r.prefix.prefix_len() == 0
                && r.prefix.addr().is_ipv6() == v6
        });
        if !there {
            out.push(format!(
                "unreachable default ({}) of table {} is gone",
                if v6 { "IPv6" } else { "IPv4" },
                spec.table
            ));
        }
    }
    out
}

/// What of a pod's host side is not as the attachment made it (empty:
/// all there): its link, in the VRF device or with its `ip rule`s, a route
/// to each pod prefix through it and a permanent neighbour entry for each
/// pod address on it.
pub fn pod_damage(
    backend: Backend,
    spec: &VrfSpec,
    pod: &PodLink,
    view: &KernelView,
) -> Vec<String> {
    let host = &pod.host_ifname;
    if !view.links.contains_key(host) {
        return vec![format!("host link {host} is gone")];
    }
    let mut out = Vec::new();
    match backend {
        Backend::VrfDevice => {
            let vrf = vrf_device_name(&spec.name);
            if !view.links.contains_key(&vrf) || view.controllers.get(host) != view.links.get(&vrf)
            {
                out.push(format!("{host} is not in {vrf}"));
            }
        }
        Backend::RuleTable => out.extend(missing_rules(view, host, spec.table)),
    }
    for a in &pod.addresses {
        let route = view.routes.iter().any(|r| {
            r.table == spec.table
                && r.prefix == a.trunc()
                && r.nexthops
                    .iter()
                    .any(|n| n.device.as_deref() == Some(host.as_str()))
        });
        if !route {
            out.push(format!(
                "route {} dev {host} missing from table {}",
                a.trunc(),
                spec.table
            ));
        }
        let neighbour = view
            .pod_neighbours
            .iter()
            .any(|(d, ip, m)| d == host && *ip == a.addr() && *m == pod.mac);
        if !neighbour {
            out.push(format!(
                "neighbour {} lladdr {} dev {host} missing",
                a.addr(),
                pod.mac
            ));
        }
    }
    out
}

/// The `ip rule iif IIF lookup TABLE` (IPv4 and IPv6) that are missing.
pub fn missing_rules(view: &KernelView, iif: &str, table: u32) -> Vec<String> {
    [false, true]
        .into_iter()
        .filter(|v6| {
            !view
                .rules
                .iter()
                .any(|(b, n, t)| b == v6 && n == iif && *t == table)
        })
        .map(|v6| {
            format!(
                "ip {}rule iif {iif} lookup {table} missing",
                if v6 { "-6 " } else { "" }
            )
        })
        .collect()
}

/// The operations that restore what the plan installed for remote routes
/// and is missing or changed: VRF routes (their VTEPs compared), neighbour
/// and FDB entries. Each comes with the VRF it is counted for.
pub fn remote_repairs(plan: &Plan, view: &KernelView) -> (Vec<KernelOp>, Vec<Option<String>>) {
    let mut ops = Vec::new();
    let mut vrfs = Vec::new();
    for (vrf, prefix, nexthops) in plan.all_installed() {
        let Some(spec) = plan.vrf(vrf) else {
            continue;
        };
        let mut want: Vec<IpAddr> = nexthops.iter().map(|n| n.gateway(prefix)).collect();
        want.sort();
        let intact = view.routes.iter().any(|r| {
            let mut have: Vec<IpAddr> = r.nexthops.iter().filter_map(|n| n.gateway).collect();
            have.sort();
            r.table == spec.table && r.prefix == *prefix && have == want
        });
        if !intact {
            ops.push(KernelOp::RouteSet {
                vni: spec.vni,
                table: spec.table,
                prefix: *prefix,
                nexthops: nexthops.clone(),
            });
            vrfs.push(Some(spec.name.clone()));
        }
    }
    let vrf_of = |vni: u32| plan.vrfs().find(|s| s.vni == vni).map(|s| s.name.clone());
    for (vni, addr, mac) in plan.neighbours() {
        if !view
            .neighbours
            .iter()
            .any(|(d, a, m)| *d == bridge_name(vni) && *a == addr && *m == mac)
        {
            ops.push(KernelOp::NeighAdd { vni, addr, mac });
            vrfs.push(vrf_of(vni));
        }
    }
    for (vni, mac, vtep) in plan.fdb() {
        if !view
            .fdb
            .iter()
            .any(|(d, m, v)| *d == vxlan_name(vni) && *m == mac && *v == vtep)
        {
            ops.push(KernelOp::FdbAdd { vni, mac, vtep });
            vrfs.push(vrf_of(vni));
        }
    }
    (ops, vrfs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fib::kernel::{KernelNexthop, KernelRoute};
    use ferry_wire::attribute::extended_community::RouteTarget;
    use ferry_wire::{MacAddress, RouteDistinguisher};

    fn spec() -> VrfSpec {
        let rt: RouteTarget = "11:11".parse().unwrap();
        VrfSpec {
            name: "blue".into(),
            vni: 10002,
            table: 1_010_002,
            import: vec![rt],
            export: vec![rt],
            rd: RouteDistinguisher::Ipv4 {
                addr: "10.10.93.12".parse().unwrap(),
                assigned: 1,
            },
        }
    }

    fn pod() -> PodLink {
        PodLink {
            host_ifname: "fyeed53f7a1e9c".into(),
            mac: MacAddress([0xaa, 0xbb, 0xcc, 0xdd, 1, 1]),
            addresses: vec!["1.1.1.2/30".parse().unwrap()],
        }
    }

    /// The view of a rule-table node where the VRF and the pod are whole.
    fn whole() -> KernelView {
        let mut v = KernelView::default();
        for (name, i) in [("br-10002", 5), ("vx-10002", 6), ("fyeed53f7a1e9c", 7)] {
            v.links.insert(name.into(), i);
        }
        v.controllers.insert("vx-10002".into(), 5);
        for iif in ["br-10002", "fyeed53f7a1e9c"] {
            for v6 in [false, true] {
                v.rules.push((v6, iif.into(), 1_010_002));
            }
        }
        for p in ["0.0.0.0/0", "::/0"] {
            v.routes.push(KernelRoute {
                table: 1_010_002,
                prefix: p.parse().unwrap(),
                kind: "unreachable".into(),
                metric: None,
                nexthops: vec![],
            });
        }
        v.routes.push(KernelRoute {
            table: 1_010_002,
            prefix: "1.1.1.0/30".parse().unwrap(),
            kind: "unicast".into(),
            metric: None,
            nexthops: vec![KernelNexthop {
                gateway: None,
                device: Some("fyeed53f7a1e9c".into()),
                onlink: false,
            }],
        });
        v.pod_neighbours.push((
            "fyeed53f7a1e9c".into(),
            "1.1.1.2".parse().unwrap(),
            pod().mac,
        ));
        v
    }

    #[test]
    fn a_whole_vrf_and_pod_have_no_damage() {
        assert!(vrf_damage(Backend::RuleTable, &spec(), &whole()).is_empty());
        assert!(pod_damage(Backend::RuleTable, &spec(), &pod(), &whole()).is_empty());
    }

    #[test]
    fn each_missing_object_is_named() {
        let mut v = whole();
        v.rules.retain(|(v6, n, _)| n != "fyeed53f7a1e9c" || *v6);
        v.routes.retain(|r| r.kind != "unicast");
        v.pod_neighbours.clear();
        let d = pod_damage(Backend::RuleTable, &spec(), &pod(), &v);
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(d[0].contains("ip rule iif fyeed53f7a1e9c lookup 1010002"));
        assert!(d[1].contains("route 1.1.1.0/30"));
        assert!(d[2].contains("neighbour 1.1.1.2"));
        let mut v = whole();
        v.links.remove("br-10002");
        v.routes.retain(|r| r.prefix.addr().is_ipv4());
        let d = vrf_damage(Backend::RuleTable, &spec(), &v);
        assert!(d.iter().any(|x| x.contains("br-10002 is gone")), "{d:?}");
        assert!(d.iter().any(|x| x.contains("IPv6")), "{d:?}");
        let d = vrf_damage(Backend::VrfDevice, &spec(), &whole());
        assert!(d.iter().any(|x| x.contains("vrf-blue is gone")), "{d:?}");
    }
}
