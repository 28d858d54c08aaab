//! Applying the plan's [`KernelOp`]s: remote routes through a VRF's
//! bridge (ECMP over VTEPs), permanent neighbour entries on the bridge and
//! FDB entries on the VXLAN device, many requests in flight at once; and
//! the netlink messages they are made of.

use std::collections::HashMap;
use std::net::IpAddr;

use ferry_wire::MacAddress;
use futures::stream::{self, StreamExt};
use ipnet::IpNet;
use rtnetlink::packet_core::{NLM_F_APPEND, NLM_F_CREATE, NLM_F_REPLACE};
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteNextHop, RouteNextHopFlags,
    RouteProtocol, RouteScope, RouteType, RouteVia,
};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};

use super::{bridge_name, ignore_gone, vxlan_name, Kernel, KernelError, IN_FLIGHT, RTPROT_FERRY};
use crate::fib::plan::{KernelOp, Nexthop};

impl Kernel {
    /// Applies kernel operations, many in flight at once. Operations on
    /// the same object keep their order because the plan never emits two
    /// for one object in one batch without the first being complete in
    /// meaning (add-then-delete pairs are applied in sequence).
    pub async fn apply(&self, ops: Vec<KernelOp>) -> Vec<KernelError> {
        let mut index: HashMap<u32, (Option<u32>, Option<u32>)> = HashMap::new();
        for op in &ops {
            let vni = match op {
                KernelOp::RouteSet { vni, .. }
                | KernelOp::NeighAdd { vni, .. }
                | KernelOp::NeighDel { vni, .. }
                | KernelOp::FdbAdd { vni, .. }
                | KernelOp::FdbDel { vni, .. } => *vni,
                KernelOp::RouteDel { .. } => continue,
            };
            if let std::collections::hash_map::Entry::Vacant(e) = index.entry(vni) {
                let br = self.link_index(&bridge_name(vni)).await;
                let vx = self.link_index(&vxlan_name(vni)).await;
                e.insert((br, vx));
            }
        }
        // Objects are independent except a neighbour/FDB entry and the
        // routes that use it: adds of shared objects come first in the
        // plan's order and deletes last, so three phases keep them right.
        let (mut first, mut middle, mut last) = (Vec::new(), Vec::new(), Vec::new());
        for op in ops {
            match op {
                KernelOp::NeighAdd { .. } | KernelOp::FdbAdd { .. } => first.push(op),
                KernelOp::RouteSet { .. } | KernelOp::RouteDel { .. } => middle.push(op),
                KernelOp::NeighDel { .. } | KernelOp::FdbDel { .. } => last.push(op),
            }
        }
        let mut errors = Vec::new();
        for phase in [first, middle, last] {
            let results: Vec<Result<(), KernelError>> = stream::iter(phase)
                .map(|op| {
                    let idx = &index;
                    async move {
                        let kind = crate::metrics::op_index(&op);
                        let r = self.apply_one(op, idx).await;
                        crate::metrics::KERNEL.count(kind, r.is_ok());
                        r
                    }
                })
                .buffered(IN_FLIGHT)
                .collect()
                .await;
            errors.extend(results.into_iter().filter_map(|r| r.err()));
        }
        errors
    }

    async fn apply_one(
        &self,
        op: KernelOp,
        index: &HashMap<u32, (Option<u32>, Option<u32>)>,
    ) -> Result<(), KernelError> {
        let br = |vni: u32| {
            index
                .get(&vni)
                .and_then(|x| x.0)
                .ok_or_else(|| KernelError::new(bridge_name(vni), "no such device"))
        };
        let vx = |vni: u32| {
            index
                .get(&vni)
                .and_then(|x| x.1)
                .ok_or_else(|| KernelError::new(vxlan_name(vni), "no such device"))
        };
        match op {
            KernelOp::RouteSet {
                vni,
                table,
                prefix,
                nexthops,
            } => {
                let msg = remote_route(table, prefix, br(vni)?, &nexthops);
                self.send(
                    RouteNetlinkMessage::NewRoute(msg),
                    NLM_F_CREATE | NLM_F_REPLACE,
                    &format!("route {prefix} table {table}"),
                )
                .await
            }
            KernelOp::RouteDel { table, prefix } => self.delete_route(table, prefix).await,
            KernelOp::NeighAdd { vni, addr, mac } => {
                let msg = neighbour(br(vni)?, addr, mac);
                self.send(
                    RouteNetlinkMessage::NewNeighbour(msg),
                    NLM_F_CREATE | NLM_F_REPLACE,
                    &format!("neighbour {addr} lladdr {mac} dev {}", bridge_name(vni)),
                )
                .await
            }
            KernelOp::NeighDel { vni, addr } => {
                let Ok(i) = br(vni) else { return Ok(()) };
                let msg = neighbour(i, addr, MacAddress::default());
                ignore_gone(
                    self.send(
                        RouteNetlinkMessage::DelNeighbour(msg),
                        0,
                        "deleting neighbour",
                    )
                    .await,
                )
            }
            KernelOp::FdbAdd { vni, mac, vtep } => {
                let msg = fdb_entry(vx(vni)?, mac, vtep);
                self.send(
                    RouteNetlinkMessage::NewNeighbour(msg),
                    NLM_F_CREATE | NLM_F_APPEND,
                    &format!("fdb {mac} dst {vtep} dev {}", vxlan_name(vni)),
                )
                .await
            }
            KernelOp::FdbDel { vni, mac, vtep } => {
                let Ok(i) = vx(vni) else { return Ok(()) };
                let msg = fdb_entry(i, mac, vtep);
                ignore_gone(
                    self.send(
                        RouteNetlinkMessage::DelNeighbour(msg),
                        0,
                        "deleting fdb entry",
                    )
                    .await,
                )
            }
        }
    }

    /// Deletes a route read back by [`Kernel::view`].
    pub async fn delete_route(&self, table: u32, prefix: IpNet) -> Result<(), KernelError> {
        let mut msg = RouteMessage::default();
        set_destination(&mut msg, table, prefix);
        msg.header.protocol = RouteProtocol::Other(RTPROT_FERRY);
        msg.header.scope = RouteScope::NoWhere;
        ignore_gone(
            self.send(
                RouteNetlinkMessage::DelRoute(msg),
                0,
                &format!("deleting route {prefix} table {table}"),
            )
            .await,
        )
    }
}

pub(super) fn set_destination(msg: &mut RouteMessage, table: u32, prefix: IpNet) {
    msg.header.address_family = match prefix {
        IpNet::V4(_) => AddressFamily::Inet,
        IpNet::V6(_) => AddressFamily::Inet6,
    };
    msg.header.destination_prefix_length = prefix.prefix_len();
    msg.header.table = if table < 256 {
        table as u8
    } else {
        RouteHeader::RT_TABLE_UNSPEC
    };
    msg.attributes.push(RouteAttribute::Table(table));
    msg.attributes
        .push(RouteAttribute::Destination(RouteAddress::from(
            prefix.network(),
        )));
}

fn gateway_attribute(prefix: &IpNet, gw: IpAddr) -> RouteAttribute {
    match (prefix, gw) {
        (IpNet::V4(_), IpAddr::V6(v6)) => RouteAttribute::Via(RouteVia::Inet6(v6)),
        (_, gw) => RouteAttribute::Gateway(RouteAddress::from(gw)),
    }
}

/// `prefix via VTEP dev br-VNI onlink table T`, ECMP over several VTEPs.
fn remote_route(table: u32, prefix: IpNet, bridge: u32, nexthops: &[Nexthop]) -> RouteMessage {
    let mut m = RouteMessage::default();
    set_destination(&mut m, table, prefix);
    m.header.protocol = RouteProtocol::Other(RTPROT_FERRY);
    m.header.scope = RouteScope::Universe;
    m.header.kind = RouteType::Unicast;
    if let [n] = nexthops {
        m.header.flags = rtnetlink::packet_route::route::RouteFlags::Onlink;
        m.attributes.push(RouteAttribute::Oif(bridge));
        m.attributes
            .push(gateway_attribute(&prefix, n.gateway(&prefix)));
    } else {
        let hops = nexthops
            .iter()
            .map(|n| {
                let mut h = RouteNextHop::default();
                h.flags = RouteNextHopFlags::Onlink;
                h.interface_index = bridge;
                h.attributes = vec![gateway_attribute(&prefix, n.gateway(&prefix))];
                h
            })
            .collect();
        m.attributes.push(RouteAttribute::MultiPath(hops));
    }
    m
}

pub(super) fn neighbour(ifindex: u32, addr: IpAddr, mac: MacAddress) -> NeighbourMessage {
    let mut m = NeighbourMessage::default();
    m.header.family = match addr {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    m.header.ifindex = ifindex;
    m.header.state = NeighbourState::Permanent;
    m.header.kind = RouteType::Unspec;
    m.attributes
        .push(NeighbourAttribute::Destination(match addr {
            IpAddr::V4(a) => NeighbourAddress::Inet(a),
            IpAddr::V6(a) => NeighbourAddress::Inet6(a),
        }));
    m.attributes
        .push(NeighbourAttribute::LinkLayerAddress(mac.0.to_vec()));
    m.attributes
        .push(NeighbourAttribute::Protocol(RouteProtocol::Other(
            RTPROT_FERRY,
        )));
    m
}

fn fdb_entry(ifindex: u32, mac: MacAddress, vtep: IpAddr) -> NeighbourMessage {
    let mut m = NeighbourMessage::default();
    m.header.family = AddressFamily::Bridge;
    m.header.ifindex = ifindex;
    m.header.state = NeighbourState::Permanent;
    m.header.flags = NeighbourFlags::Own;
    m.header.kind = RouteType::Unspec;
    m.attributes
        .push(NeighbourAttribute::LinkLayerAddress(mac.0.to_vec()));
    m.attributes
        .push(NeighbourAttribute::Destination(match vtep {
            IpAddr::V4(a) => NeighbourAddress::Inet(a),
            IpAddr::V6(a) => NeighbourAddress::Inet6(a),
        }));
    m
}
