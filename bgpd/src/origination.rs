//! The worker role's routes: each pod prefix attached to a VRF is
//! originated as an EVPN Type-5 route (RFC 9136) with the VRF's RD and
//! route targets, encapsulation VXLAN (RFC 9012), this node's router MAC
//! (RFC 9135) and VNI, and this node's VTEP address as next hop.

use std::net::{IpAddr, Ipv4Addr};

use ferry_wire::attribute::AsPath;
use ferry_wire::nlri::evpn::{Esi, EvpnRoute, IpPrefixRoute};
use ferry_wire::{
    ExtendedCommunity, Label, MacAddress, NextHop, Nlri, Origin, PathAttributes, RouteDistinguisher,
};
use ipnet::IpNet;

use crate::config::{Config, Vrf};
use crate::fib::plan::VrfSpec;

/// The kernel and BGP view of a configured VRF: the configured RD, or
/// router-id:`index`; the configured table, or one derived from the VNI.
pub fn vrf_spec(cfg: &Config, vrf: &Vrf, index: u16) -> VrfSpec {
    VrfSpec {
        name: vrf.name.clone(),
        vni: vrf.vni,
        table: vrf.table.unwrap_or_else(|| Vrf::default_table(vrf.vni)),
        import: vrf.import.clone(),
        export: vrf.export.clone(),
        rd: vrf.rd.unwrap_or(RouteDistinguisher::Ipv4 {
            addr: cfg.router_id,
            assigned: index,
        }),
    }
}

/// The router MAC of a node: a locally administered address derived from
/// its router id, stable across restarts (`02:00:` + the four octets).
pub fn router_mac(router_id: Ipv4Addr) -> MacAddress {
    let o = router_id.octets();
    MacAddress([0x02, 0x00, o[0], o[1], o[2], o[3]])
}

/// What the worker originates, and from what.
#[derive(Clone, Debug)]
pub struct Originator {
    pub vtep: IpAddr,
    pub router_mac: MacAddress,
}

impl Originator {
    pub fn new(cfg: &Config) -> Originator {
        let vtep = cfg
            .vtep_address
            .or_else(|| cfg.groups.iter().find_map(|g| g.session.local_address))
            .unwrap_or(IpAddr::V4(cfg.router_id));
        Originator {
            vtep,
            router_mac: router_mac(cfg.router_id),
        }
    }

    /// The Type-5 NLRI of `prefix` in `vrf`.
    pub fn nlri(&self, vrf: &VrfSpec, prefix: IpNet) -> Nlri {
        let gateway = match prefix {
            IpNet::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpNet::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        };
        Nlri::Evpn(EvpnRoute::IpPrefix(IpPrefixRoute {
            rd: vrf.rd,
            esi: Esi::ZERO,
            ethernet_tag: 0,
            prefix: prefix.trunc(),
            gateway,
            label: Label::vni(vrf.vni),
        }))
    }

    /// The attributes of the VRF's routes.
    pub fn attributes(&self, vrf: &VrfSpec) -> (PathAttributes, NextHop) {
        let mut ext: Vec<ExtendedCommunity> = vrf
            .export
            .iter()
            .map(|rt| ExtendedCommunity::route_target(*rt))
            .collect();
        ext.push(ExtendedCommunity::encapsulation(
            ferry_wire::attribute::extended_community::TUNNEL_VXLAN,
        ));
        ext.push(ExtendedCommunity::router_mac(self.router_mac));
        let attrs = PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::empty()),
            local_pref: Some(100),
            extended_communities: ext,
            ..Default::default()
        };
        (attrs, NextHop::from_addr(self.vtep))
    }
}
