//! A VRF's kernel objects: its VRF device (or the `ip rule`s of the
//! table backend), its bridge with the router MAC, its VXLAN device, and
//! the unreachable defaults of its table; Ferry's rules read back.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ferry_wire::MacAddress;
use ipnet::IpNet;
use rtnetlink::packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoVrf, InfoVxlan, LinkInfo, LinkMessage,
};
use rtnetlink::packet_route::route::{
    RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use rtnetlink::packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::{LinkBridge, LinkUnspec, LinkVrf, LinkVxlan};

use super::routes::set_destination;
use super::{
    bridge_name, is_gone, link_infos, set_sysctl, vrf_device_name, vxlan_name, Backend, Kernel,
    KernelError, RTPROT_FERRY, RULE_PRIORITY, UNREACHABLE_METRIC, VXLAN_PORT,
};
use crate::fib::plan::VrfSpec;

impl Kernel {
    /// Creates (or adopts) the kernel objects of a VRF: its VRF device or
    /// rules, its bridge with the router MAC, its VXLAN device, and the
    /// unreachable defaults of its table.
    pub async fn ensure_vrf(
        &self,
        spec: &VrfSpec,
        vtep: IpAddr,
        router_mac: MacAddress,
    ) -> Result<(), KernelError> {
        let br = bridge_name(spec.vni);
        let vx = vxlan_name(spec.vni);
        let vrf_index = if self.backend == Backend::VrfDevice {
            let name = vrf_device_name(&spec.name);
            let ok = match self.link(&name).await {
                Some(l) => vrf_table_of(&l) == Some(spec.table),
                None => false,
            };
            if !ok {
                self.delete_link(&name).await?;
                let msg = LinkVrf::new(&name, spec.table).up().build();
                self.send(
                    RouteNetlinkMessage::NewLink(msg),
                    NLM_F_CREATE | NLM_F_EXCL,
                    &format!("creating {name}"),
                )
                .await?;
            }
            Some(self.require_index(&name).await?)
        } else {
            None
        };

        // The bridge carries the router MAC: decapsulated packets sent to
        // it are routed in the VRF.
        if self.link_index(&br).await.is_none() {
            let msg = LinkBridge::new(&br).address(router_mac.0.to_vec()).build();
            self.send(
                RouteNetlinkMessage::NewLink(msg),
                NLM_F_CREATE | NLM_F_EXCL,
                &format!("creating {br}"),
            )
            .await?;
        }
        let br_index = self.require_index(&br).await?;
        let mut m = LinkUnspec::new_with_index(br_index)
            .address(router_mac.0.to_vec())
            .up();
        if let Some(v) = vrf_index {
            m = m.controller(v);
        }
        self.set_link(m.build(), &format!("setting up {br}"))
            .await?;

        let vx_ok = match self.link(&vx).await {
            Some(l) => vxlan_matches(&l, spec.vni, vtep),
            None => false,
        };
        if !vx_ok {
            self.delete_link(&vx).await?;
            let mut b = LinkVxlan::new(&vx, spec.vni)
                .port(VXLAN_PORT)
                .learning(false);
            b = match vtep {
                IpAddr::V4(a) => b.local(a),
                IpAddr::V6(a) => b.local6(a),
            };
            let msg = b.controller(br_index).up().build();
            self.send(
                RouteNetlinkMessage::NewLink(msg),
                NLM_F_CREATE | NLM_F_EXCL,
                &format!("creating {vx}"),
            )
            .await?;
        }
        let vx_index = self.require_index(&vx).await?;
        let m = LinkUnspec::new_with_index(vx_index)
            .controller(br_index)
            .up()
            .build();
        self.set_link(m, &format!("setting up {vx}")).await?;

        if self.backend == Backend::RuleTable {
            self.ensure_rules(&br, spec.table).await?;
        }
        for v6 in [false, true] {
            let msg = unreachable_default(spec.table, v6);
            self.send(
                RouteNetlinkMessage::NewRoute(msg),
                NLM_F_CREATE | NLM_F_REPLACE,
                &format!("unreachable default in table {}", spec.table),
            )
            .await?;
        }
        set_sysctl(&format!("ipv4/conf/{br}/rp_filter"), "0");
        set_sysctl(&format!("ipv6/conf/{vx}/disable_ipv6"), "1");
        Ok(())
    }

    /// Removes a VRF's kernel objects.
    pub async fn remove_vrf(&self, spec: &VrfSpec) -> Result<(), KernelError> {
        let br = bridge_name(spec.vni);
        self.delete_link(&vxlan_name(spec.vni)).await?;
        self.delete_link(&br).await?;
        if self.backend == Backend::VrfDevice {
            self.delete_link(&vrf_device_name(&spec.name)).await?;
        }
        self.delete_rules(&br).await?;
        for v6 in [false, true] {
            let msg = unreachable_default(spec.table, v6);
            if let Err(e) = self
                .send(
                    RouteNetlinkMessage::DelRoute(msg),
                    0,
                    "removing the unreachable default",
                )
                .await
            {
                if !is_gone(&e) {
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    pub(super) async fn ensure_rules(&self, iif: &str, table: u32) -> Result<(), KernelError> {
        let existing = self.rules().await?;
        for v6 in [false, true] {
            if existing
                .iter()
                .any(|(b, n, t)| *b == v6 && n == iif && *t == table)
            {
                continue;
            }
            let msg = rule(v6, iif, table);
            self.send(
                RouteNetlinkMessage::NewRule(msg),
                NLM_F_CREATE | NLM_F_EXCL,
                &format!("ip rule iif {iif} lookup {table}"),
            )
            .await?;
        }
        Ok(())
    }

    /// Deletes every Ferry rule for `iif`.
    pub async fn delete_rules(&self, iif: &str) -> Result<(), KernelError> {
        for (v6, name, table) in self.rules().await? {
            if name == iif {
                let msg = rule(v6, &name, table);
                if let Err(e) = self
                    .send(
                        RouteNetlinkMessage::DelRule(msg),
                        0,
                        &format!("deleting rule iif {iif}"),
                    )
                    .await
                {
                    if !is_gone(&e) {
                        return Err(e);
                    }
                }
            }
        }
        Ok(())
    }

    /// Ferry's rules: (IPv6?, iif, table).
    pub async fn rules(&self) -> Result<Vec<(bool, String, u32)>, KernelError> {
        let mut out = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut m = RuleMessage::default();
            m.header.family = family;
            for msg in self
                .dump(RouteNetlinkMessage::GetRule(m), "listing rules")
                .await?
            {
                let RouteNetlinkMessage::NewRule(r) = msg else {
                    continue;
                };
                let mut proto = None;
                let mut iif = None;
                let mut table = r.header.table as u32;
                for a in &r.attributes {
                    match a {
                        RuleAttribute::Protocol(p) => proto = Some(u8::from(*p)),
                        RuleAttribute::Iifname(n) => iif = Some(n.clone()),
                        RuleAttribute::Table(t) => table = *t,
                        _ => {}
                    }
                }
                if proto == Some(RTPROT_FERRY) {
                    if let Some(n) = iif {
                        out.push((family == AddressFamily::Inet6, n, table));
                    }
                }
            }
        }
        Ok(out)
    }
}

fn vrf_table_of(l: &LinkMessage) -> Option<u32> {
    let is_vrf = link_infos(l).any(|i| matches!(i, LinkInfo::Kind(InfoKind::Vrf)));
    if !is_vrf {
        return None;
    }
    link_infos(l).find_map(|i| match i {
        LinkInfo::Data(InfoData::Vrf(v)) => v.iter().find_map(|x| match x {
            InfoVrf::TableId(t) => Some(*t),
            _ => None,
        }),
        _ => None,
    })
}

/// True when an existing VXLAN device has the VNI, local address, port
/// and no learning Ferry wants.
fn vxlan_matches(l: &LinkMessage, vni: u32, vtep: IpAddr) -> bool {
    let mut ok_vni = false;
    let mut ok_local = false;
    let mut ok_port = false;
    let mut learning = true;
    for i in link_infos(l) {
        if let LinkInfo::Data(InfoData::Vxlan(v)) = i {
            for x in v {
                match x {
                    InfoVxlan::Id(id) => ok_vni = *id == vni,
                    InfoVxlan::Local(a) => ok_local = IpAddr::V4(*a) == vtep,
                    InfoVxlan::Local6(a) => ok_local = IpAddr::V6(*a) == vtep,
                    InfoVxlan::Port(p) => ok_port = *p == VXLAN_PORT,
                    InfoVxlan::Learning(b) => learning = *b,
                    _ => {}
                }
            }
        }
    }
    ok_vni && ok_local && ok_port && !learning
}

fn rule(v6: bool, iif: &str, table: u32) -> RuleMessage {
    let mut m = RuleMessage::default();
    m.header.family = if v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    m.header.action = RuleAction::ToTable;
    m.header.table = if table < 256 { table as u8 } else { 0 };
    m.attributes.push(RuleAttribute::Iifname(iif.to_string()));
    m.attributes.push(RuleAttribute::Table(table));
    m.attributes.push(RuleAttribute::Priority(RULE_PRIORITY));
    m.attributes
        .push(RuleAttribute::Protocol(RouteProtocol::Other(RTPROT_FERRY)));
    m
}

fn unreachable_default(table: u32, v6: bool) -> RouteMessage {
    let mut m = RouteMessage::default();
    let prefix: IpNet = if v6 {
        IpNet::new(Ipv6Addr::UNSPECIFIED.into(), 0).expect("/0")
    } else {
        IpNet::new(Ipv4Addr::UNSPECIFIED.into(), 0).expect("/0")
    };
    set_destination(&mut m, table, prefix);
    m.header.protocol = RouteProtocol::Other(RTPROT_FERRY);
    m.header.scope = RouteScope::Universe;
    m.header.kind = RouteType::Unreachable;
    m.attributes
        .push(RouteAttribute::Priority(UNREACHABLE_METRIC));
    m
}
