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
    type5_from(Ipv4Addr::new(10, 10, 93, 12), i, vrf)
}

/// The same, from the worker whose RDs carry `rd_addr`.
pub fn type5_from(rd_addr: Ipv4Addr, i: u32, vrf: u32) -> Nlri {
    Nlri::Evpn(EvpnRoute::IpPrefix(IpPrefixRoute {
        rd: RouteDistinguisher::Ipv4 {
            addr: rd_addr,
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

/// A route reflector RIB with `clients` client sessions registered
/// (peer ids 1..=clients), routes sent by peer 1.
pub fn reflector(clients: u32) -> ferry_rib::Rib {
    use ferry_rib::peer::Role;
    let mut rib = ferry_rib::Rib::new(ferry_rib::SpeakerConfig {
        local_as: 64512,
        router_id: Ipv4Addr::new(10, 10, 25, 42),
        cluster_id: Some(Ipv4Addr::new(10, 10, 25, 42)),
    });
    let families = [Family::EVPN, Family::VPNV4, Family::VPNV6]
        .into_iter()
        .collect();
    for i in 1..=clients {
        let addr = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 10, 0, 0)) + i);
        rib.peer_up(
            i,
            ferry_rib::ibgp_peer(Role::Client, 64512, addr, IpAddr::V4(addr), families),
        );
    }
    rib
}

/// `n` routes of `make` over `vrfs` VRFs, packed 400 to an UPDATE, as one
/// injector would send them.
pub fn updates(family: Family, n: u32, vrfs: u32, make: fn(u32, u32) -> Nlri) -> Vec<Update> {
    let mut out = Vec::new();
    let per_vrf = n / vrfs;
    for vrf in 0..vrfs {
        let mut chunk = Vec::new();
        for i in 0..per_vrf {
            chunk.push(make(vrf * per_vrf + i, vrf));
            if chunk.len() == 400 {
                let mut u = update(family, std::mem::take(&mut chunk));
                u.attributes = worker_attributes(vrf);
                out.push(u);
            }
        }
        if !chunk.is_empty() {
            let mut u = update(family, chunk);
            u.attributes = worker_attributes(vrf);
            out.push(u);
        }
    }
    out
}
