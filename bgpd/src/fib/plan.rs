//! What the kernel of a worker must hold, computed from the imported EVPN
//! Type-5 routes, and the operations that take it there.
//!
//! Pure and synchronous. Every best Type-5 path the RIB selects is given to
//! [`Plan::set_remote`]; the plan imports it into each VRF whose import
//! route targets it carries (and whose VNI it uses) and returns the kernel
//! operations: the VRF route (ECMP over every VTEP that advertises the
//! prefix), and, reference-counted because many routes share them, the
//! neighbour entry VTEP → router MAC on the VRF's bridge and the FDB entry
//! router MAC → VTEP on its VXLAN device. Removal undoes exactly what was
//! added.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv6Addr};

use ferry_wire::attribute::extended_community::RouteTarget;
use ferry_wire::{MacAddress, RouteDistinguisher};
use ipnet::IpNet;

/// A VRF as the kernel sees it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct VrfSpec {
    pub name: String,
    pub vni: u32,
    pub table: u32,
    pub import: Vec<RouteTarget>,
    pub export: Vec<RouteTarget>,
    pub rd: RouteDistinguisher,
}

/// One best EVPN Type-5 path of the RIB, as the kernel needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteRoute {
    pub prefix: IpNet,
    pub vtep: IpAddr,
    pub router_mac: MacAddress,
    pub vni: u32,
    pub route_targets: Vec<RouteTarget>,
}

/// The key of a Type-5 route: its RD and prefix.
pub type RemoteKey = (RouteDistinguisher, IpNet);

/// One next hop of a VRF route: a remote VTEP and its router MAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Nexthop {
    pub vtep: IpAddr,
    pub router_mac: MacAddress,
}

impl Nexthop {
    /// The gateway the kernel route uses for a prefix of `prefix`'s family:
    /// the VTEP itself, or for an IPv6 prefix behind an IPv4 VTEP its
    /// IPv4-mapped address (the neighbour entry then carries that address).
    pub fn gateway(&self, prefix: &IpNet) -> IpAddr {
        match (prefix, self.vtep) {
            (IpNet::V6(_), IpAddr::V4(v4)) => IpAddr::V6(v4.to_ipv6_mapped()),
            _ => self.vtep,
        }
    }
}

/// One change of the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelOp {
    /// Add or replace the route of `prefix` in `table`.
    RouteSet {
        vni: u32,
        table: u32,
        prefix: IpNet,
        nexthops: Vec<Nexthop>,
    },
    RouteDel {
        table: u32,
        prefix: IpNet,
    },
    /// Permanent neighbour `addr` → `mac` on `br-<vni>`.
    NeighAdd {
        vni: u32,
        addr: IpAddr,
        mac: MacAddress,
    },
    NeighDel {
        vni: u32,
        addr: IpAddr,
    },
    /// Permanent FDB entry `mac` → `dst vtep` on `vx-<vni>`.
    FdbAdd {
        vni: u32,
        mac: MacAddress,
        vtep: IpAddr,
    },
    FdbDel {
        vni: u32,
        mac: MacAddress,
        vtep: IpAddr,
    },
}

/// Why an imported route is not in the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotInstalled {
    /// A pod of this node has the same prefix in the VRF.
    LocalPrefix,
    /// The route's VNI is not the VRF's.
    VniMismatch,
}

/// The plan.
#[derive(Default, Debug)]
pub struct Plan {
    vrfs: BTreeMap<String, VrfSpec>,
    remote: HashMap<RemoteKey, RemoteRoute>,
    by_prefix: HashMap<IpNet, BTreeSet<RouteDistinguisher>>,
    /// Prefixes of local pods, per VRF: remote routes for them are not
    /// installed.
    local: BTreeSet<(String, IpNet)>,
    /// What is in the kernel, per (VRF, prefix).
    installed: BTreeMap<(String, IpNet), Vec<Nexthop>>,
    neigh_refs: HashMap<(u32, IpAddr), (MacAddress, usize)>,
    fdb_refs: HashMap<(u32, MacAddress, IpAddr), usize>,
}

impl Plan {
    pub fn vrfs(&self) -> impl Iterator<Item = &VrfSpec> {
        self.vrfs.values()
    }

    pub fn vrf(&self, name: &str) -> Option<&VrfSpec> {
        self.vrfs.get(name)
    }

    /// The routes installed in a VRF.
    pub fn installed<'a>(
        &'a self,
        vrf: &'a str,
    ) -> impl Iterator<Item = (&'a IpNet, &'a Vec<Nexthop>)> + 'a {
        self.installed
            .range((vrf.to_string(), IpNet::V4(Default::default()))..)
            .take_while(move |((v, _), _)| v == vrf)
            .map(|((_, p), n)| (p, n))
    }

    /// Every route installed, with its VRF.
    pub fn all_installed(&self) -> impl Iterator<Item = (&str, &IpNet, &Vec<Nexthop>)> {
        self.installed.iter().map(|((v, p), n)| (v.as_str(), p, n))
    }

    /// The neighbour entries the plan holds (VNI, address, MAC).
    pub fn neighbours(&self) -> impl Iterator<Item = (u32, IpAddr, MacAddress)> + '_ {
        self.neigh_refs.iter().map(|((v, a), (m, _))| (*v, *a, *m))
    }

    /// The FDB entries the plan holds (VNI, MAC, VTEP).
    pub fn fdb(&self) -> impl Iterator<Item = (u32, MacAddress, IpAddr)> + '_ {
        self.fdb_refs.keys().copied()
    }

    /// The imported routes of a VRF that are not installed, and why.
    pub fn not_installed(&self, vrf: &str) -> Vec<(RemoteKey, NotInstalled)> {
        let Some(spec) = self.vrfs.get(vrf) else {
            return Vec::new();
        };
        let mut out: Vec<_> = self
            .remote
            .iter()
            .filter(|(_, r)| imports(spec, r))
            .filter_map(|(k, r)| {
                if r.vni != spec.vni {
                    Some((*k, NotInstalled::VniMismatch))
                } else if self.local.contains(&(vrf.to_string(), r.prefix)) {
                    Some((*k, NotInstalled::LocalPrefix))
                } else {
                    None
                }
            })
            .collect();
        out.sort_by_key(|(k, _)| (k.1, k.0));
        out
    }

    /// Imported routes per VRF (all, installed or not).
    pub fn imported_count(&self, vrf: &str) -> usize {
        self.vrfs.get(vrf).map_or(0, |spec| {
            self.remote.values().filter(|r| imports(spec, r)).count()
        })
    }

    /// Adds (or replaces) a VRF; returns the routes it imports.
    pub fn add_vrf(&mut self, spec: VrfSpec) -> Vec<KernelOp> {
        let mut ops = Vec::new();
        if let Some(old) = self.vrfs.get(&spec.name).cloned() {
            if old == spec {
                return ops;
            }
            ops.extend(self.remove_vrf(&old.name));
        }
        let prefixes: BTreeSet<IpNet> = self
            .remote
            .values()
            .filter(|r| imports(&spec, r))
            .map(|r| r.prefix)
            .collect();
        let name = spec.name.clone();
        self.vrfs.insert(name.clone(), spec);
        for p in prefixes {
            self.sync(&name, p, &mut ops);
        }
        ops
    }

    /// Removes a VRF and every route it installed.
    pub fn remove_vrf(&mut self, name: &str) -> Vec<KernelOp> {
        let mut ops = Vec::new();
        let prefixes: Vec<IpNet> = self.installed(name).map(|(p, _)| *p).collect();
        for p in prefixes {
            self.install(name, p, Vec::new(), &mut ops);
        }
        self.vrfs.remove(name);
        self.local.retain(|(v, _)| v != name);
        ops
    }

    /// True when `prefix` is a local pod's in `vrf`.
    pub fn is_local(&self, vrf: &str, prefix: IpNet) -> bool {
        self.local.contains(&(vrf.to_string(), prefix.trunc()))
    }

    /// Marks a prefix as a local pod's (or not): a local prefix wins over
    /// remote routes for the same prefix.
    pub fn set_local(&mut self, vrf: &str, prefix: IpNet, local: bool) -> Vec<KernelOp> {
        // The kernel knows prefixes without host bits; so does the plan.
        let prefix = prefix.trunc();
        let key = (vrf.to_string(), prefix);
        let changed = if local {
            self.local.insert(key)
        } else {
            self.local.remove(&key)
        };
        let mut ops = Vec::new();
        if changed {
            self.sync(vrf, prefix, &mut ops);
        }
        ops
    }

    /// Sets (or with `None` removes) the best path of a Type-5 route.
    ///
    /// Prefixes are taken without the bits past their length, as the RIB
    /// keys them (the decoder clears them, RFC 4271 §4.3) and as the
    /// kernel holds routes: `9.9.2.77/24` from one VTEP and `9.9.2.0/24`
    /// from another are one ECMP route, and withdrawing either leaves the
    /// other's next hop in place.
    pub fn set_remote(&mut self, key: RemoteKey, route: Option<RemoteRoute>) -> Vec<KernelOp> {
        let key = (key.0, key.1.trunc());
        let route = route.map(|r| RemoteRoute {
            prefix: r.prefix.trunc(),
            ..r
        });
        let mut ops = Vec::new();
        let old = match route {
            Some(r) => {
                self.by_prefix.entry(r.prefix).or_default().insert(key.0);
                self.remote.insert(key, r)
            }
            None => {
                if let Some(set) = self.by_prefix.get_mut(&key.1) {
                    set.remove(&key.0);
                    if set.is_empty() {
                        self.by_prefix.remove(&key.1);
                    }
                }
                self.remote.remove(&key)
            }
        };
        let mut affected: BTreeSet<String> = BTreeSet::new();
        for r in old.iter().chain(self.remote.get(&key)) {
            for spec in self.vrfs.values() {
                if imports(spec, r) {
                    affected.insert(spec.name.clone());
                }
            }
        }
        for vrf in affected {
            self.sync(&vrf, key.1, &mut ops);
        }
        ops
    }

    /// Recomputes the kernel route of one prefix of one VRF.
    fn sync(&mut self, vrf: &str, prefix: IpNet, ops: &mut Vec<KernelOp>) {
        let Some(spec) = self.vrfs.get(vrf) else {
            return;
        };
        let mut want: Vec<Nexthop> = Vec::new();
        if !self.local.contains(&(vrf.to_string(), prefix)) {
            for rd in self.by_prefix.get(&prefix).into_iter().flatten() {
                if let Some(r) = self.remote.get(&(*rd, prefix)) {
                    if imports(spec, r) && r.vni == spec.vni {
                        want.push(Nexthop {
                            vtep: r.vtep,
                            router_mac: r.router_mac,
                        });
                    }
                }
            }
        }
        want.sort();
        want.dedup_by_key(|n| n.vtep);
        self.install(vrf, prefix, want, ops);
    }

    fn install(&mut self, vrf: &str, prefix: IpNet, want: Vec<Nexthop>, ops: &mut Vec<KernelOp>) {
        let Some(spec) = self.vrfs.get(vrf) else {
            return;
        };
        let (vni, table) = (spec.vni, spec.table);
        let key = (vrf.to_string(), prefix);
        let have = self.installed.get(&key).cloned().unwrap_or_default();
        if have == want {
            return;
        }
        // Shared objects first, so that the route never points at a
        // missing neighbour; the old ones after the route has moved.
        for n in want.iter().filter(|n| !have.contains(n)) {
            self.reference(vni, prefix, n, ops);
        }
        if want.is_empty() {
            ops.push(KernelOp::RouteDel { table, prefix });
            self.installed.remove(&key);
        } else {
            ops.push(KernelOp::RouteSet {
                vni,
                table,
                prefix,
                nexthops: want.clone(),
            });
            self.installed.insert(key, want.clone());
        }
        for n in have.iter().filter(|n| !want.contains(n)) {
            self.release(vni, prefix, n, ops);
        }
    }

    fn reference(&mut self, vni: u32, prefix: IpNet, n: &Nexthop, ops: &mut Vec<KernelOp>) {
        let addr = n.gateway(&prefix);
        let e = self
            .neigh_refs
            .entry((vni, addr))
            .or_insert((n.router_mac, 0));
        if e.1 == 0 || e.0 != n.router_mac {
            e.0 = n.router_mac;
            ops.push(KernelOp::NeighAdd {
                vni,
                addr,
                mac: n.router_mac,
            });
        }
        e.1 += 1;
        let f = self
            .fdb_refs
            .entry((vni, n.router_mac, n.vtep))
            .or_insert(0);
        if *f == 0 {
            ops.push(KernelOp::FdbAdd {
                vni,
                mac: n.router_mac,
                vtep: n.vtep,
            });
        }
        *f += 1;
    }

    fn release(&mut self, vni: u32, prefix: IpNet, n: &Nexthop, ops: &mut Vec<KernelOp>) {
        let addr = n.gateway(&prefix);
        if let Some(e) = self.neigh_refs.get_mut(&(vni, addr)) {
            e.1 -= 1;
            if e.1 == 0 {
                self.neigh_refs.remove(&(vni, addr));
                ops.push(KernelOp::NeighDel { vni, addr });
            }
        }
        let fk = (vni, n.router_mac, n.vtep);
        if let Some(f) = self.fdb_refs.get_mut(&fk) {
            *f -= 1;
            if *f == 0 {
                self.fdb_refs.remove(&fk);
                ops.push(KernelOp::FdbDel {
                    vni,
                    mac: n.router_mac,
                    vtep: n.vtep,
                });
            }
        }
    }
}

/// True when the VRF imports the route: one of its route targets is one
/// of the VRF's import targets.
fn imports(spec: &VrfSpec, r: &RemoteRoute) -> bool {
    r.route_targets.iter().any(|t| spec.import.contains(t))
}

/// The IPv4-mapped form is how an IPv6 route reaches an IPv4 VTEP; this
/// tells whether a neighbour address is one.
pub fn is_mapped(addr: &IpAddr) -> bool {
    matches!(addr, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() && *v6 != Ipv6Addr::UNSPECIFIED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn rt(s: &str) -> RouteTarget {
        s.parse().unwrap()
    }

    fn blue() -> VrfSpec {
        VrfSpec {
            name: "blue".into(),
            vni: 10002,
            table: 1010002,
            import: vec![rt("11:11")],
            export: vec![rt("11:11")],
            rd: "10.0.0.1:1".parse().unwrap(),
        }
    }

    fn route(prefix: &str, vtep: [u8; 4], rts: &[&str]) -> RemoteRoute {
        RemoteRoute {
            prefix: prefix.parse().unwrap(),
            vtep: IpAddr::V4(Ipv4Addr::from(vtep)),
            router_mac: MacAddress([2, 0, vtep[0], vtep[1], vtep[2], vtep[3]]),
            vni: 10002,
            route_targets: rts.iter().map(|s| rt(s)).collect(),
        }
    }

    fn rd(s: &str) -> RouteDistinguisher {
        s.parse().unwrap()
    }

    fn count<F: Fn(&KernelOp) -> bool>(ops: &[KernelOp], f: F) -> usize {
        ops.iter().filter(|o| f(o)).count()
    }

    #[test]
    fn imports_by_route_target_and_installs_shared_objects_once() {
        let mut plan = Plan::default();
        assert!(plan.add_vrf(blue()).is_empty());
        let r1 = route("1.2.2.0/30", [10, 0, 0, 2], &["11:11"]);
        let ops = plan.set_remote((rd("10.0.0.2:1"), r1.prefix), Some(r1.clone()));
        assert_eq!(ops.len(), 3, "{ops:?}");
        assert!(matches!(ops[0], KernelOp::NeighAdd { .. }));
        assert!(matches!(ops[1], KernelOp::FdbAdd { .. }));
        assert!(matches!(ops[2], KernelOp::RouteSet { .. }));
        // A second prefix behind the same VTEP shares neighbour and FDB.
        let r2 = route("1.2.3.0/30", [10, 0, 0, 2], &["11:11"]);
        let ops = plan.set_remote((rd("10.0.0.2:1"), r2.prefix), Some(r2.clone()));
        assert_eq!(ops.len(), 1, "{ops:?}");
        // An IPv6 prefix behind it needs the IPv4-mapped neighbour.
        let r6 = route("abcd::1.2.2.0/126", [10, 0, 0, 2], &["11:11"]);
        let ops = plan.set_remote((rd("10.0.0.2:1"), r6.prefix), Some(r6.clone()));
        assert_eq!(
            count(
                &ops,
                |o| matches!(o, KernelOp::NeighAdd { addr, .. } if is_mapped(addr))
            ),
            1
        );
        assert_eq!(count(&ops, |o| matches!(o, KernelOp::FdbAdd { .. })), 0);
        // Other route targets are not imported.
        let red = route("9.9.9.0/24", [10, 0, 0, 3], &["22:22"]);
        assert!(plan
            .set_remote((rd("10.0.0.3:1"), red.prefix), Some(red))
            .is_empty());
        // Withdrawing removes the route, then what only it used.
        let ops = plan.set_remote((rd("10.0.0.2:1"), r1.prefix), None);
        assert_eq!(
            ops,
            vec![KernelOp::RouteDel {
                table: 1010002,
                prefix: r1.prefix
            }]
        );
        let ops = plan.set_remote((rd("10.0.0.2:1"), r2.prefix), None);
        assert_eq!(ops.len(), 2, "{ops:?}");
        assert!(matches!(ops[1], KernelOp::NeighDel { .. }));
        let ops = plan.set_remote((rd("10.0.0.2:1"), r6.prefix), None);
        assert_eq!(ops.len(), 3, "{ops:?}");
        assert!(matches!(ops[2], KernelOp::FdbDel { .. }));
        assert_eq!(plan.neighbours().count(), 0);
        assert_eq!(plan.fdb().count(), 0);
    }

    #[test]
    fn two_vteps_for_one_prefix_make_an_ecmp_route() {
        let mut plan = Plan::default();
        plan.add_vrf(blue());
        let a = route("1.9.0.0/24", [10, 0, 0, 2], &["11:11"]);
        let b = route("1.9.0.0/24", [10, 0, 0, 3], &["11:11"]);
        plan.set_remote((rd("10.0.0.2:1"), a.prefix), Some(a.clone()));
        let ops = plan.set_remote((rd("10.0.0.3:1"), b.prefix), Some(b));
        let set = ops
            .iter()
            .find_map(|o| match o {
                KernelOp::RouteSet { nexthops, .. } => Some(nexthops.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(set.len(), 2);
        let ops = plan.set_remote((rd("10.0.0.3:1"), a.prefix), None);
        assert!(ops
            .iter()
            .any(|o| matches!(o, KernelOp::RouteSet { nexthops, .. } if nexthops.len() == 1)));
    }

    #[test]
    fn a_prefix_with_host_bits_is_the_prefix_in_the_kernel_view() {
        use ipnet::Ipv4Net;
        // Built field by field: parsing would not keep the host bits.
        let host_bits = IpNet::V4(Ipv4Net::new(Ipv4Addr::new(9, 9, 2, 77), 24).unwrap());
        let clean: IpNet = "9.9.2.0/24".parse().unwrap();
        let mut plan = Plan::default();
        plan.add_vrf(blue());
        let a = RemoteRoute {
            prefix: host_bits,
            ..route("9.9.2.0/24", [10, 0, 0, 2], &["11:11"])
        };
        let b = route("9.9.2.0/24", [10, 0, 0, 3], &["11:11"]);
        let ops = plan.set_remote((rd("10.0.0.2:1"), host_bits), Some(a));
        assert!(ops.iter().all(|o| match o {
            KernelOp::RouteSet { prefix, .. } | KernelOp::RouteDel { prefix, .. } =>
                *prefix == clean,
            _ => true,
        }));
        // The other VTEP's route adds a next hop; it does not overwrite.
        let ops = plan.set_remote((rd("10.0.0.3:1"), clean), Some(b));
        assert!(ops.iter().any(|o| matches!(o,
            KernelOp::RouteSet { prefix, nexthops, .. } if *prefix == clean && nexthops.len() == 2)));
        let installed: Vec<_> = plan.installed("blue").collect();
        assert_eq!(installed.len(), 1);
        assert_eq!(*installed[0].0, clean);
        // Withdrawing 9.9.2.77/24 removes that VTEP only: the route stays.
        let ops = plan.set_remote((rd("10.0.0.2:1"), host_bits), None);
        assert!(
            !ops.iter().any(|o| matches!(o, KernelOp::RouteDel { .. })),
            "{ops:?}"
        );
        assert!(ops.iter().any(|o| matches!(o,
            KernelOp::RouteSet { prefix, nexthops, .. } if *prefix == clean && nexthops.len() == 1)));
        assert_eq!(plan.installed("blue").count(), 1);
        // A local pod prefix written with host bits hides the route too.
        let ops = plan.set_local("blue", host_bits, true);
        assert!(ops
            .iter()
            .any(|o| matches!(o, KernelOp::RouteDel { prefix, .. } if *prefix == clean)));
    }

    #[test]
    fn a_vrf_created_later_imports_what_is_known_and_removal_cleans_up() {
        let mut plan = Plan::default();
        let a = route("1.9.0.0/24", [10, 0, 0, 2], &["11:11"]);
        assert!(plan
            .set_remote((rd("10.0.0.2:1"), a.prefix), Some(a))
            .is_empty());
        let ops = plan.add_vrf(blue());
        assert_eq!(ops.len(), 3);
        let ops = plan.remove_vrf("blue");
        assert_eq!(ops.len(), 3);
        assert_eq!(plan.all_installed().count(), 0);
    }

    #[test]
    fn a_local_pod_prefix_wins_and_vni_must_match() {
        let mut plan = Plan::default();
        plan.add_vrf(blue());
        let a = route("1.1.1.0/30", [10, 0, 0, 2], &["11:11"]);
        plan.set_remote((rd("10.0.0.2:1"), a.prefix), Some(a.clone()));
        let ops = plan.set_local("blue", a.prefix, true);
        assert!(ops.iter().any(|o| matches!(o, KernelOp::RouteDel { .. })));
        assert_eq!(
            plan.not_installed("blue"),
            vec![((rd("10.0.0.2:1"), a.prefix), NotInstalled::LocalPrefix)]
        );
        let ops = plan.set_local("blue", a.prefix, false);
        assert!(ops.iter().any(|o| matches!(o, KernelOp::RouteSet { .. })));
        let mut other = route("1.7.0.0/24", [10, 0, 0, 4], &["11:11"]);
        other.vni = 999;
        assert!(plan
            .set_remote((rd("10.0.0.4:1"), other.prefix), Some(other))
            .is_empty());
        assert_eq!(plan.not_installed("blue").len(), 1);
    }
}
