//! An in-memory kernel for the worker's tests, which need no root: links
//! with indexes, kinds, controllers and states; rules; routes per table;
//! neighbour and FDB entries.
//!
//! [`FakeKernel`] carries out [`KernelApi`] step by step as `Kernel` does
//! through rtnetlink (`ops.rs`), with the kernel's own rules (`model.rs`):
//! a deleted link takes the routes through it and the neighbour and FDB
//! entries on it along and releases the links it controlled; a route
//! replace replaces the route of the same table, prefix and metric;
//! deleting a Ferry route leaves a foreign one of the same prefix alone;
//! an IPv4 route needs its device up; a rule outlives its `iif` link.
//! `view()` reads back what `Kernel::view` would. A test sets the host up
//! ([`FakeKernel::add_veth`], …), damages it as an operator would
//! ([`FakeKernel::ip_route_del`], …), makes the next write of a kind fail
//! ([`FakeKernel::fail_next`]), and reads what was asked of it
//! ([`FakeKernel::calls`]) and what it holds
//! ([`FakeKernel::model`], [`FakeKernel::objects`]).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use ferry_wire::MacAddress;
use ipnet::IpNet;

use super::kernel::{Backend, KernelError, KernelNexthop, KernelRoute, RTPROT_FERRY};
use super::plan::KernelOp;

mod model;
mod ops;
mod tests;

const ENOENT: i32 = 2;
const ESRCH: i32 = 3;
const EEXIST: i32 = 17;
const ENODEV: i32 = 19;
const EINVAL: i32 = 22;
const ENETDOWN: i32 = 100;

/// The metric the kernel gives an IPv6 route that names none.
const IP6_DEFAULT_METRIC: u32 = 1024;

/// What a link is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkKind {
    Bridge,
    Vxlan {
        vni: u32,
        local: IpAddr,
        port: u16,
        learning: bool,
    },
    Vrf {
        table: u32,
    },
    /// `peer_elsewhere`: its peer is in another network namespace.
    Veth {
        peer_elsewhere: bool,
    },
    /// Loopback, a NIC, a dummy.
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub kind: LinkKind,
    pub mac: MacAddress,
    /// The index of its controller (VRF device, bridge).
    pub controller: Option<u32>,
    pub up: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub v6: bool,
    pub iif: String,
    pub table: u32,
    pub priority: u32,
    pub protocol: u8,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub protocol: u8,
    /// As `view()` reads it back: table, prefix, kind, metric, next hops
    /// by device name.
    pub route: KernelRoute,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neighbour {
    pub mac: MacAddress,
    pub permanent: bool,
    pub protocol: u8,
}

/// Everything the kernel holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Model {
    pub links: BTreeMap<String, Link>,
    pub rules: Vec<Rule>,
    pub routes: Vec<Route>,
    /// (device, address) → entry.
    pub neighbours: BTreeMap<(String, IpAddr), Neighbour>,
    /// (VXLAN device, MAC) → remote VTEPs.
    pub fdb: BTreeMap<(String, MacAddress), Vec<IpAddr>>,
    /// The index the next link gets.
    pub next_index: u32,
}

/// One call of [`KernelApi`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    View,
    Apply(Vec<KernelOp>),
    EnsureVrf(String),
    RemoveVrf(String),
    Attach(String),
    Detach(String),
    DeleteRules(String),
    DeleteRoute(u32, IpNet),
    RemoveLink(String),
    PodLinkProblem(String),
}

impl Call {
    /// True for a call that may change the kernel.
    pub fn writes(&self) -> bool {
        !matches!(self, Call::View | Call::PodLinkProblem(_))
    }
}

/// A kind of write that [`FakeKernel::fail_next`] makes fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Creating or setting a link.
    Link,
    Rule,
    /// Adding or replacing a route.
    Route,
    Neighbour,
    Fdb,
}

#[derive(Default)]
struct Inner {
    model: Model,
    calls: Vec<Call>,
    faults: Vec<Fault>,
}

/// The in-memory kernel. Clones share it: the test keeps one, the worker
/// another.
#[derive(Clone)]
pub struct FakeKernel {
    backend: Backend,
    inner: Arc<Mutex<Inner>>,
}

fn error(what: impl Into<String>, errno: i32) -> KernelError {
    KernelError {
        what: what.into(),
        message: std::io::Error::from_raw_os_error(errno).to_string(),
        errno: Some(errno),
    }
}

fn no_device(name: &str) -> KernelError {
    KernelError {
        what: name.to_string(),
        message: "no such device".into(),
        errno: None,
    }
}

fn ignore_gone(r: Result<(), KernelError>) -> Result<(), KernelError> {
    match r {
        Err(e) if matches!(e.errno, Some(ENOENT | ESRCH | ENODEV)) => Ok(()),
        other => other,
    }
}

/// The metric as the kernel reports it.
fn metric_of(prefix: &IpNet, metric: Option<u32>) -> Option<u32> {
    match (prefix, metric) {
        (IpNet::V6(_), None) => Some(IP6_DEFAULT_METRIC),
        (_, m) => m,
    }
}

fn default_route(v6: bool) -> IpNet {
    if v6 {
        IpNet::new(Ipv6Addr::UNSPECIFIED.into(), 0).expect("/0")
    } else {
        IpNet::new(Ipv4Addr::UNSPECIFIED.into(), 0).expect("/0")
    }
}

impl FakeKernel {
    /// A host with `lo` and `eth0`, nothing of Ferry's.
    pub fn new(backend: Backend) -> FakeKernel {
        let k = FakeKernel {
            backend,
            inner: Arc::new(Mutex::new(Inner::default())),
        };
        k.add_link("lo", LinkKind::Other);
        k.add_link("eth0", LinkKind::Other);
        k
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut inner)
    }

    /// Adds a link, up; its index.
    pub fn add_link(&self, name: &str, kind: LinkKind) -> u32 {
        self.with(|k| {
            let i = k.model.new_link(name, kind, None);
            if let Some(l) = k.model.links.get_mut(name) {
                l.up = true;
            }
            i
        })
    }

    /// Adds the host side of a pod's veth as the CNI plugin makes it (its
    /// peer in the pod's namespace), down.
    pub fn add_veth(&self, name: &str) -> u32 {
        self.with(|k| {
            k.model.new_link(
                name,
                LinkKind::Veth {
                    peer_elsewhere: true,
                },
                None,
            )
        })
    }

    /// Makes the next write of this kind fail (`EINVAL`).
    pub fn fail_next(&self, f: Fault) {
        self.with(|k| k.faults.push(f));
    }

    /// A copy of everything the kernel holds.
    pub fn model(&self) -> Model {
        self.with(|k| k.model.clone())
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.with(|k| k.calls.clone())
    }

    /// The calls so far that may change the kernel.
    pub fn writes(&self) -> Vec<Call> {
        self.with(|k| k.calls.iter().filter(|c| c.writes()).cloned().collect())
    }

    /// Every operation applied so far, in order.
    pub fn applied(&self) -> Vec<KernelOp> {
        self.with(|k| {
            k.calls
                .iter()
                .filter_map(|c| match c {
                    Call::Apply(ops) => Some(ops.clone()),
                    _ => None,
                })
                .flatten()
                .collect()
        })
    }

    pub fn clear_calls(&self) {
        self.with(|k| k.calls.clear());
    }

    /// Every object as a line in the manner of `ip` (links, rules,
    /// routes, neighbour and FDB entries), devices by name, sorted: equal
    /// lists are equal kernels whatever the indexes.
    pub fn objects(&self) -> Vec<String> {
        self.with(|k| {
            let m = &k.model;
            let name = |i: u32| m.name_of(i).unwrap_or("?").to_string();
            let mut out = Vec::new();
            for (n, l) in &m.links {
                let mut s = format!("link {n} {:?} {}", l.kind, l.mac);
                if let Some(c) = l.controller {
                    s.push_str(&format!(" master {}", name(c)));
                }
                s.push_str(if l.up { " up" } else { " down" });
                out.push(s);
            }
            for r in &m.rules {
                out.push(format!(
                    "rule{} iif {} lookup {} pref {} proto {}",
                    if r.v6 { " -6" } else { "" },
                    r.iif,
                    r.table,
                    r.priority,
                    r.protocol
                ));
            }
            for r in &m.routes {
                let mut s = format!(
                    "route table {} {} {}",
                    r.route.table, r.route.kind, r.route.prefix
                );
                for n in &r.route.nexthops {
                    if let Some(g) = n.gateway {
                        s.push_str(&format!(" via {g}"));
                    }
                    if let Some(d) = &n.device {
                        s.push_str(&format!(" dev {d}"));
                    }
                    if n.onlink {
                        s.push_str(" onlink");
                    }
                }
                if let Some(metric) = r.route.metric {
                    s.push_str(&format!(" metric {metric}"));
                }
                s.push_str(&format!(" proto {}", r.protocol));
                out.push(s);
            }
            for ((dev, addr), n) in &m.neighbours {
                out.push(format!(
                    "neigh {addr} lladdr {} dev {dev}{} proto {}",
                    n.mac,
                    if n.permanent { " permanent" } else { "" },
                    n.protocol
                ));
            }
            for ((dev, mac), vteps) in &m.fdb {
                for v in vteps {
                    out.push(format!("fdb {mac} dst {v} dev {dev}"));
                }
            }
            out.sort();
            out
        })
    }

    /// Ferry's route of `prefix` in `table`.
    pub fn route(&self, table: u32, prefix: &str) -> Option<KernelRoute> {
        let prefix: IpNet = prefix.parse().expect("prefix");
        self.with(|k| {
            k.model
                .routes
                .iter()
                .find(|r| {
                    r.protocol == RTPROT_FERRY && r.route.table == table && r.route.prefix == prefix
                })
                .map(|r| r.route.clone())
        })
    }

    /// The MAC of the permanent neighbour entry of `addr` on `dev`.
    pub fn neighbour(&self, dev: &str, addr: &str) -> Option<MacAddress> {
        let addr: IpAddr = addr.parse().expect("address");
        self.with(|k| {
            k.model
                .neighbours
                .get(&(dev.to_string(), addr))
                .filter(|n| n.permanent)
                .map(|n| n.mac)
        })
    }

    /// The FDB entries of `dev`: (MAC, VTEP).
    pub fn fdb(&self, dev: &str) -> Vec<(MacAddress, IpAddr)> {
        self.with(|k| {
            k.model
                .fdb
                .iter()
                .filter(|((d, _), _)| d == dev)
                .flat_map(|((_, m), v)| v.iter().map(|v| (*m, *v)))
                .collect()
        })
    }

    /// Ferry's rules for `iif`: (IPv6?, table).
    pub fn rules_of(&self, iif: &str) -> Vec<(bool, u32)> {
        self.with(|k| {
            k.model
                .ferry_rules()
                .filter(|r| r.iif == iif)
                .map(|r| (r.v6, r.table))
                .collect()
        })
    }

    /// `ip link del NAME`.
    pub fn ip_link_del(&self, name: &str) {
        self.with(|k| k.model.delete_link(name)).expect("link");
    }

    /// `ip link set NAME nomaster`.
    pub fn ip_link_set_nomaster(&self, name: &str) {
        self.with(|k| k.model.links.get_mut(name).expect("link").controller = None);
    }

    /// `ip [-6] rule del iif IIF` (the first that matches).
    pub fn ip_rule_del(&self, v6: bool, iif: &str) {
        self.with(|k| {
            let i = k
                .model
                .rules
                .iter()
                .position(|r| r.v6 == v6 && r.iif == iif)
                .expect("rule");
            k.model.rules.remove(i);
        });
    }

    /// `ip route del PREFIX table TABLE` (whoever's it is).
    pub fn ip_route_del(&self, table: u32, prefix: &str) {
        let prefix: IpNet = prefix.parse().expect("prefix");
        self.with(|k| {
            k.model
                .delete_route_where("ip route del", |r| {
                    r.route.table == table && r.route.prefix == prefix
                })
                .expect("route");
        });
    }

    /// `ip route add PREFIX dev DEV table TABLE proto PROTOCOL`.
    pub fn ip_route_add(&self, table: u32, prefix: &str, dev: &str, protocol: u8) {
        let route = KernelRoute {
            table,
            prefix: prefix.parse().expect("prefix"),
            kind: "unicast".into(),
            metric: None,
            nexthops: vec![KernelNexthop {
                gateway: None,
                device: Some(dev.to_string()),
                onlink: false,
            }],
        };
        self.with(|k| k.model.replace_route(protocol, route, "ip route add"))
            .expect("route");
    }

    /// `ip neigh del ADDR dev DEV`.
    pub fn ip_neigh_del(&self, dev: &str, addr: &str) {
        let addr: IpAddr = addr.parse().expect("address");
        self.with(|k| k.model.neighbours.remove(&(dev.to_string(), addr)))
            .expect("neighbour");
    }

    /// `bridge fdb del MAC dev DEV dst VTEP self`.
    pub fn bridge_fdb_del(&self, dev: &str, mac: MacAddress, vtep: &str) {
        let vtep: IpAddr = vtep.parse().expect("address");
        self.with(|k| {
            let e = k.model.fdb.get_mut(&(dev.to_string(), mac)).expect("fdb");
            let before = e.len();
            e.retain(|v| *v != vtep);
            assert_ne!(before, e.len(), "no fdb {mac} dst {vtep} dev {dev}");
            if e.is_empty() {
                k.model.fdb.remove(&(dev.to_string(), mac));
            }
        });
    }
}
