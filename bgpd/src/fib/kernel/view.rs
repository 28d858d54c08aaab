//! Reading back what Ferry owns: every link (name, index, controller),
//! Ferry's rules and routes, the permanent neighbour entries on its
//! bridges and pod links, and the FDB entries on its VXLAN devices.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ferry_wire::MacAddress;
use ipnet::IpNet;
use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage};
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteNextHopFlags, RouteProtocol, RouteType,
    RouteVia,
};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};

use super::{link_name, Kernel, KernelError, KernelNexthop, KernelRoute, KernelView, RTPROT_FERRY};

impl Kernel {
    /// Reads back everything Ferry owns.
    pub async fn view(&self) -> Result<KernelView, KernelError> {
        let mut view = KernelView::default();
        let mut names: HashMap<u32, String> = HashMap::new();
        for msg in self
            .dump(
                RouteNetlinkMessage::GetLink(LinkMessage::default()),
                "listing links",
            )
            .await?
        {
            let RouteNetlinkMessage::NewLink(l) = msg else {
                continue;
            };
            if let Some(n) = link_name(&l) {
                if let Some(c) = l.attributes.iter().find_map(|a| match a {
                    LinkAttribute::Controller(c) => Some(*c),
                    _ => None,
                }) {
                    view.controllers.insert(n.clone(), c);
                }
                names.insert(l.header.index, n.clone());
                view.links.insert(n, l.header.index);
            }
        }
        view.rules = self.rules().await?;
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut m = RouteMessage::default();
            m.header.address_family = family;
            for msg in self
                .dump(RouteNetlinkMessage::GetRoute(m), "listing routes")
                .await?
            {
                let RouteNetlinkMessage::NewRoute(r) = msg else {
                    continue;
                };
                if r.header.protocol != RouteProtocol::Other(RTPROT_FERRY) {
                    continue;
                }
                if let Some(kr) = kernel_route(&r, &names) {
                    view.routes.push(kr);
                }
            }
        }
        for family in [
            AddressFamily::Inet,
            AddressFamily::Inet6,
            AddressFamily::Bridge,
        ] {
            let mut m = NeighbourMessage::default();
            m.header.family = family;
            for msg in self
                .dump(RouteNetlinkMessage::GetNeighbour(m), "listing neighbours")
                .await?
            {
                let RouteNetlinkMessage::NewNeighbour(n) = msg else {
                    continue;
                };
                let Some(dev) = names.get(&n.header.ifindex) else {
                    continue;
                };
                let mut dst = None;
                let mut lla = None;
                for a in &n.attributes {
                    match a {
                        NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => {
                            dst = Some(IpAddr::V4(*v4))
                        }
                        NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => {
                            dst = Some(IpAddr::V6(*v6))
                        }
                        // FDB entries (family AF_BRIDGE): the VTEP comes as
                        // raw bytes.
                        NeighbourAttribute::Destination(NeighbourAddress::Other(b)) => {
                            dst = ip_from_bytes(b)
                        }
                        NeighbourAttribute::LinkLayerAddress(b) if b.len() == 6 => {
                            let mut m = [0u8; 6];
                            m.copy_from_slice(b);
                            lla = Some(MacAddress(m));
                        }
                        _ => {}
                    }
                }
                let (Some(dst), Some(lla)) = (dst, lla) else {
                    continue;
                };
                if family == AddressFamily::Bridge {
                    if dev.starts_with("vx-") {
                        view.fdb.push((dev.clone(), lla, dst));
                    }
                } else if dev.starts_with("br-") && n.header.state == NeighbourState::Permanent {
                    view.neighbours.push((dev.clone(), dst, lla));
                } else if dev.starts_with("fy") && n.header.state == NeighbourState::Permanent {
                    view.pod_neighbours.push((dev.clone(), dst, lla));
                }
            }
        }
        Ok(view)
    }
}

/// An IPv4 or IPv6 address from its 4 or 16 bytes.
fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(b).ok().map(IpAddr::from),
        _ => None,
    }
}

fn route_address(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn kernel_route(r: &RouteMessage, names: &HashMap<u32, String>) -> Option<KernelRoute> {
    let mut table = r.header.table as u32;
    let mut dst = None;
    let mut metric = None;
    let mut gw = None;
    let mut oif = None;
    let mut multipath = Vec::new();
    for a in &r.attributes {
        match a {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(d) => dst = route_address(d),
            RouteAttribute::Priority(p) => metric = Some(*p),
            RouteAttribute::Gateway(g) => gw = route_address(g),
            RouteAttribute::Via(RouteVia::Inet6(v6)) => gw = Some(IpAddr::V6(*v6)),
            RouteAttribute::Oif(o) => oif = Some(*o),
            RouteAttribute::MultiPath(hops) => {
                for h in hops {
                    let g = h.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Gateway(g) => route_address(g),
                        RouteAttribute::Via(RouteVia::Inet6(v6)) => Some(IpAddr::V6(*v6)),
                        _ => None,
                    });
                    multipath.push(KernelNexthop {
                        gateway: g,
                        device: names.get(&h.interface_index).cloned(),
                        onlink: h.flags.contains(RouteNextHopFlags::Onlink),
                    });
                }
            }
            _ => {}
        }
    }
    let dst = dst.unwrap_or(match r.header.address_family {
        AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    });
    let prefix = IpNet::new(dst, r.header.destination_prefix_length).ok()?;
    let kind = match r.header.kind {
        RouteType::Unicast => "unicast".to_string(),
        RouteType::Unreachable => "unreachable".to_string(),
        other => format!("{other:?}").to_lowercase(),
    };
    let nexthops = if multipath.is_empty() {
        if gw.is_some() || oif.is_some() {
            vec![KernelNexthop {
                gateway: gw,
                device: oif.and_then(|o| names.get(&o).cloned()),
                onlink: r
                    .header
                    .flags
                    .contains(rtnetlink::packet_route::route::RouteFlags::Onlink),
            }]
        } else {
            Vec::new()
        }
    } else {
        multipath
    };
    Some(KernelRoute {
        table,
        prefix,
        kind,
        metric,
        nexthops,
    })
}
