//! The kernel's own rules in the in-memory kernel: links by index, what
//! a deleted link takes along, route replace and delete, and what
//! `Kernel::view` would read back.

use std::net::IpAddr;

use ferry_wire::MacAddress;
use ipnet::IpNet;

use super::{error, ignore_gone, metric_of, Link, LinkKind, Model, Neighbour, Route, Rule};
use super::{EINVAL, ENETDOWN, ENODEV, ESRCH};
use crate::fib::kernel::{KernelError, KernelNexthop, KernelRoute, KernelView, RTPROT_FERRY};

impl Model {
    pub(super) fn index(&self, name: &str) -> Option<u32> {
        self.links.get(name).map(|l| l.index)
    }

    pub(super) fn require_index(&self, name: &str) -> Result<u32, KernelError> {
        self.index(name).ok_or_else(|| KernelError {
            what: format!("finding {name}"),
            message: "no such device".into(),
            errno: None,
        })
    }

    pub(super) fn name_of(&self, index: u32) -> Option<&str> {
        self.links
            .iter()
            .find(|(_, l)| l.index == index)
            .map(|(n, _)| n.as_str())
    }

    pub(super) fn new_link(&mut self, name: &str, kind: LinkKind, mac: Option<MacAddress>) -> u32 {
        self.next_index += 1;
        let index = self.next_index;
        let mac = mac.unwrap_or_else(|| {
            let i = index.to_be_bytes();
            MacAddress([0x0a, 0x5e, i[0], i[1], i[2], i[3]])
        });
        self.links.insert(
            name.to_string(),
            Link {
                index,
                kind,
                mac,
                controller: None,
                up: false,
            },
        );
        index
    }

    /// Deletes a link as the kernel does: routes through it, its
    /// neighbour and FDB entries go with it; what it controlled is
    /// released. Rules naming it stay.
    pub(super) fn delete_link(&mut self, name: &str) -> Result<(), KernelError> {
        let Some(link) = self.links.remove(name) else {
            return Err(error(format!("deleting {name}"), ENODEV));
        };
        self.routes.retain(|r| {
            !r.route
                .nexthops
                .iter()
                .any(|n| n.device.as_deref() == Some(name))
        });
        self.neighbours.retain(|(d, _), _| d != name);
        self.fdb.retain(|(d, _), _| d != name);
        for l in self.links.values_mut() {
            if l.controller == Some(link.index) {
                l.controller = None;
            }
        }
        Ok(())
    }

    /// Adds or replaces (same table, prefix and metric) a route.
    pub(super) fn replace_route(
        &mut self,
        protocol: u8,
        mut route: KernelRoute,
        what: &str,
    ) -> Result<(), KernelError> {
        if route.prefix != route.prefix.trunc() {
            return Err(error(what, EINVAL));
        }
        if route.prefix.addr().is_ipv4() {
            for n in &route.nexthops {
                let up = n
                    .device
                    .as_deref()
                    .and_then(|d| self.links.get(d))
                    .is_some_and(|l| l.up);
                if !up {
                    return Err(error(what, ENETDOWN));
                }
            }
        }
        route.metric = metric_of(&route.prefix, route.metric);
        // An IPv6 reject route is read back through the loopback device.
        if route.prefix.addr().is_ipv6() && route.kind == "unreachable" {
            route.nexthops = vec![KernelNexthop {
                gateway: None,
                device: Some("lo".into()),
                onlink: false,
            }];
        }
        let (table, prefix, metric) = (route.table, route.prefix, route.metric);
        let new = Route { protocol, route };
        match self.routes.iter_mut().find(|r| {
            r.route.table == table && r.route.prefix == prefix && r.route.metric == metric
        }) {
            Some(r) => *r = new,
            None => self.routes.push(new),
        }
        Ok(())
    }

    /// Deletes the first route that matches, as `RTM_DELROUTE` does.
    pub(super) fn delete_route_where(
        &mut self,
        what: &str,
        matches: impl Fn(&Route) -> bool,
    ) -> Result<(), KernelError> {
        match self.routes.iter().position(matches) {
            Some(i) => {
                self.routes.remove(i);
                Ok(())
            }
            None => Err(error(what, ESRCH)),
        }
    }

    pub(super) fn delete_ferry_route(
        &mut self,
        table: u32,
        prefix: IpNet,
    ) -> Result<(), KernelError> {
        ignore_gone(
            self.delete_route_where(&format!("deleting route {prefix} table {table}"), |r| {
                r.protocol == RTPROT_FERRY && r.route.table == table && r.route.prefix == prefix
            }),
        )
    }

    pub(super) fn ferry_rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().filter(|r| r.protocol == RTPROT_FERRY)
    }

    pub(super) fn delete_rules(&mut self, iif: &str) {
        self.rules
            .retain(|r| !(r.protocol == RTPROT_FERRY && r.iif == iif));
    }

    pub(super) fn set_neighbour(&mut self, dev: &str, addr: IpAddr, mac: MacAddress) {
        self.neighbours.insert(
            (dev.to_string(), addr),
            Neighbour {
                mac,
                permanent: true,
                protocol: RTPROT_FERRY,
            },
        );
    }

    /// What `Kernel::view` reads back.
    pub(super) fn view(&self) -> KernelView {
        let mut v = KernelView::default();
        for (name, l) in &self.links {
            v.links.insert(name.clone(), l.index);
            if let Some(c) = l.controller {
                v.controllers.insert(name.clone(), c);
            }
        }
        v.rules = self
            .ferry_rules()
            .map(|r| (r.v6, r.iif.clone(), r.table))
            .collect();
        v.routes = self
            .routes
            .iter()
            .filter(|r| r.protocol == RTPROT_FERRY)
            .map(|r| r.route.clone())
            .collect();
        for ((dev, addr), n) in &self.neighbours {
            if !n.permanent {
                continue;
            }
            if dev.starts_with("br-") {
                v.neighbours.push((dev.clone(), *addr, n.mac));
            } else if dev.starts_with("fy") {
                v.pod_neighbours.push((dev.clone(), *addr, n.mac));
            }
        }
        for ((dev, mac), vteps) in &self.fdb {
            if dev.starts_with("vx-") {
                for vtep in vteps {
                    v.fdb.push((dev.clone(), *mac, *vtep));
                }
            }
        }
        v
    }
}
