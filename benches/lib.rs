//! Shared inputs of Ferry's benchmarks: UPDATEs shaped like the seed's
//! traffic (EVPN type-5 routes of pods, VPNv4 routes).

use std::net::{IpAddr, Ipv4Addr};

use ferry_wire::attribute::AsPath;
use ferry_wire::nlri::evpn::{Esi, EvpnRoute, IpPrefixRoute};
use ferry_wire::{
    ExtendedCommunity, Family, Label, LabelStack, MpReachNlri, NextHop, Nlri, NlriEntry, Origin,
    PathAttributes, RouteDistinguisher, Update, VpnPrefix,
};

/// The `i`-th pod prefix: a /30 out of 10.0.0.0/8.
pub fn pod_prefix(i: u32) -> ipnet::IpNet {
    let base = u32::from(Ipv4Addr::new(10, 0, 0, 0)) + (i << 2);
    ipnet::IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::from(base), 30).expect("valid"))
}

/// An EVPN type-5 route of VRF `vrf` (its RD and VNI follow from it).
pub fn type5(i: u32, vrf: u32) -> Nlri {
    Nlri::Evpn(EvpnRoute::IpPrefix(IpPrefixRoute {
        rd: RouteDistinguisher::Ipv4 {
            addr: Ipv4Addr::new(10, 10, 93, 12),
            assigned: vrf as u16,
        },
        esi: Esi::ZERO,
        ethernet_tag: 0,
        prefix: pod_prefix(i),
        gateway: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        label: Label::vni(10000 + vrf),
    }))
}

/// A VPNv4 route.
pub fn vpnv4(i: u32, vrf: u32) -> Nlri {
    Nlri::Vpn(VpnPrefix {
        labels: LabelStack::single(Label::mpls(100 + vrf)),
        rd: RouteDistinguisher::As2 {
            asn: 64512,
            assigned: vrf,
        },
        prefix: pod_prefix(i),
    })
}

/// The attributes a worker sends with its type-5 routes.
pub fn worker_attributes(vrf: u32) -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::empty()),
        local_pref: Some(100),
        extended_communities: vec![
            ExtendedCommunity::route_target(ferry_wire::RouteTarget::As2 {
                asn: 11,
                value: vrf,
            }),
            ExtendedCommunity::encapsulation(8),
            ExtendedCommunity::router_mac("aa:bb:cc:dd:01:01".parse().expect("mac")),
        ],
        ..Default::default()
    }
}

/// An UPDATE announcing `nlri` of `family` from VTEP 10.10.93.12.
pub fn update(family: Family, nlri: Vec<Nlri>) -> Update {
    Update {
        attributes: worker_attributes(1),
        mp_reach: Some(MpReachNlri {
            family,
            next_hop: NextHop::Ipv4(Ipv4Addr::new(10, 10, 93, 12)),
            nlri: nlri.into_iter().map(NlriEntry::new).collect(),
            undecoded: Vec::new(),
        }),
        ..Default::default()
    }
}
