//! What the decoder does to the NLRI of an UPDATE before anyone sees them:
//! bits past the prefix length are cleared in every family (RFC 4271
//! §4.3), and EVPN routes of unknown types are dropped (RFC 7606 §5.4).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::BytesMut;
use ferry_wire::nlri::evpn::{Esi, EvpnRoute, InclusiveMulticast, IpPrefixRoute};
use ferry_wire::{
    AsPath, DecodeContext, EncodeContext, Family, Label, LabelStack, Message, MpReachNlri,
    MpUnreachNlri, NextHop, Nlri, NlriEntry, Origin, PathAttributes, RouteDistinguisher, Update,
    VpnPrefix,
};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

fn attrs() -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::default()),
        local_pref: Some(100),
        ..Default::default()
    }
}

fn rd() -> RouteDistinguisher {
    "64512:7".parse().unwrap()
}

/// An IPv4 prefix exactly as written, host bits and all (`Ipv4Net::new`
/// keeps them).
fn v4(addr: [u8; 4], len: u8) -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::from(addr), len).unwrap()
}

fn v6(addr: &str, len: u8) -> Ipv6Net {
    Ipv6Net::new(addr.parse::<Ipv6Addr>().unwrap(), len).unwrap()
}

fn type5(prefix: IpNet, gateway: IpAddr) -> Nlri {
    Nlri::Evpn(EvpnRoute::IpPrefix(IpPrefixRoute {
        rd: rd(),
        esi: Esi::ZERO,
        ethernet_tag: 0,
        prefix,
        gateway,
        label: Label::vni(10002),
    }))
}

fn vpn(prefix: IpNet) -> Nlri {
    Nlri::Vpn(VpnPrefix {
        labels: LabelStack::single(Label::mpls(100)),
        rd: rd(),
        prefix,
    })
}

fn unknown(route_type: u8) -> Nlri {
    Nlri::Evpn(EvpnRoute::Unknown {
        route_type,
        value: vec![0xde, 0xad, 0xbe, 0xef],
    })
}

/// Writes `u` and reads it back as a peer would.
fn through_the_wire(u: Update) -> Update {
    let enc = EncodeContext::default();
    let bytes = Message::Update(u).to_bytes(&enc).unwrap();
    match Message::decode(&bytes, &DecodeContext::default()).unwrap() {
        Message::Update(u) => u,
        other => panic!("{other:?}"),
    }
}

fn entries(n: Vec<Nlri>) -> Vec<NlriEntry> {
    n.into_iter().map(NlriEntry::new).collect()
}

fn mp(family: Family, next_hop: NextHop, nlri: Vec<Nlri>) -> Update {
    Update {
        attributes: attrs(),
        mp_reach: Some(MpReachNlri {
            family,
            next_hop,
            nlri: entries(nlri),
            undecoded: Vec::new(),
        }),
        ..Default::default()
    }
}

fn mp_withdraw(family: Family, nlri: Vec<Nlri>) -> Update {
    Update {
        mp_unreach: Some(MpUnreachNlri {
            family,
            withdrawn: entries(nlri),
            undecoded: Vec::new(),
        }),
        ..Default::default()
    }
}

fn nlri_of(u: &Update) -> Vec<Nlri> {
    u.announced()
        .chain(u.withdrawn_all())
        .map(|e| e.nlri.clone())
        .collect()
}

#[test]
fn ipv4_unicast_host_bits_are_cleared_in_nlri_and_withdrawn_routes() {
    // 10.0.1.0/23: the last octet sent (1) has its low bit past the length.
    let u = through_the_wire(Update {
        withdrawn: entries(vec![Nlri::Ipv4(v4([10, 0, 3, 0], 23))]),
        attributes: PathAttributes {
            next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
            ..attrs()
        },
        nlri: entries(vec![
            Nlri::Ipv4(v4([10, 0, 1, 0], 23)),
            Nlri::Ipv4(v4([10, 0, 4, 0], 24)),
        ]),
        ..Default::default()
    });
    assert_eq!(
        u.nlri.iter().map(|e| e.nlri.clone()).collect::<Vec<_>>(),
        vec![
            Nlri::Ipv4("10.0.0.0/23".parse().unwrap()),
            Nlri::Ipv4("10.0.4.0/24".parse().unwrap())
        ]
    );
    assert_eq!(
        u.withdrawn[0].nlri,
        Nlri::Ipv4("10.0.2.0/23".parse().unwrap())
    );
    assert_eq!(u.nlri_notes.host_bits_cleared, 2);
    assert!(u.errors.is_empty());
}

#[test]
fn ipv6_unicast_host_bits_are_cleared() {
    let nh = NextHop::Ipv6 {
        global: "2001:db8::1".parse().unwrap(),
        link_local: None,
    };
    let u = through_the_wire(mp(
        Family::IPV6_UNICAST,
        nh,
        vec![Nlri::Ipv6(v6("2001:db8:3ff::", 39))],
    ));
    assert_eq!(
        nlri_of(&u),
        vec![Nlri::Ipv6("2001:db8:200::/39".parse().unwrap())]
    );
    assert_eq!(u.nlri_notes.host_bits_cleared, 1);
}

#[test]
fn vpnv4_and_vpnv6_host_bits_are_cleared_announced_and_withdrawn() {
    let nh4 = NextHop::Ipv4(Ipv4Addr::new(192, 0, 2, 1));
    let u = through_the_wire(mp(
        Family::VPNV4,
        nh4,
        vec![vpn(IpNet::V4(v4([9, 9, 3, 0], 23)))],
    ));
    assert_eq!(nlri_of(&u), vec![vpn("9.9.2.0/23".parse().unwrap())]);
    assert_eq!(u.nlri_notes.host_bits_cleared, 1);

    let u = through_the_wire(mp_withdraw(
        Family::VPNV6,
        vec![vpn(IpNet::V6(v6("2001:db8:0:7f::", 57)))],
    ));
    assert_eq!(nlri_of(&u), vec![vpn("2001:db8:0:0::/57".parse().unwrap())]);
    assert_eq!(u.nlri_notes.host_bits_cleared, 1);
    // Not an End-of-RIB: it withdraws a route.
    assert_eq!(u.end_of_rib_family(), None);
}

#[test]
fn evpn_type5_prefix_is_cleared_and_its_gateway_kept() {
    let gw = IpAddr::V4(Ipv4Addr::new(9, 9, 2, 99));
    let u = through_the_wire(mp(
        Family::EVPN,
        NextHop::Ipv4(Ipv4Addr::new(10, 10, 93, 12)),
        vec![
            type5(IpNet::V4(v4([9, 9, 2, 77], 24)), gw),
            type5(
                IpNet::V6(v6("abcd::101:1ff", 120)),
                "abcd::1".parse().unwrap(),
            ),
            type5("9.9.3.0/24".parse().unwrap(), gw),
        ],
    ));
    assert_eq!(
        nlri_of(&u),
        vec![
            type5("9.9.2.0/24".parse().unwrap(), gw),
            type5(
                "abcd::101:100/120".parse().unwrap(),
                "abcd::1".parse().unwrap()
            ),
            type5("9.9.3.0/24".parse().unwrap(), gw),
        ]
    );
    assert_eq!(u.nlri_notes.host_bits_cleared, 2);

    // The withdrawal of 9.9.2.77/24 is the withdrawal of 9.9.2.0/24.
    let u = through_the_wire(mp_withdraw(
        Family::EVPN,
        vec![type5(IpNet::V4(v4([9, 9, 2, 77], 24)), gw)],
    ));
    assert_eq!(nlri_of(&u), vec![type5("9.9.2.0/24".parse().unwrap(), gw)]);
}

#[test]
fn a_prefix_without_host_bits_is_untouched_and_not_counted() {
    let u = through_the_wire(mp(
        Family::EVPN,
        NextHop::Ipv4(Ipv4Addr::new(10, 10, 93, 12)),
        vec![type5(
            "9.9.2.0/24".parse().unwrap(),
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        )],
    ));
    assert!(u.nlri_notes.is_empty());
}

#[test]
fn unknown_evpn_types_are_dropped_and_known_ones_in_the_same_update_kept() {
    let t3 = Nlri::Evpn(EvpnRoute::InclusiveMulticast(InclusiveMulticast {
        rd: rd(),
        ethernet_tag: 0,
        originator: IpAddr::V4(Ipv4Addr::new(10, 10, 93, 12)),
    }));
    let t5 = type5(
        "1.1.1.0/30".parse().unwrap(),
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    );
    let u = through_the_wire(mp(
        Family::EVPN,
        NextHop::Ipv4(Ipv4Addr::new(10, 10, 93, 12)),
        vec![
            unknown(77),
            t5.clone(),
            unknown(0),
            t3.clone(),
            unknown(255),
        ],
    ));
    assert_eq!(nlri_of(&u), vec![t5.clone(), t3.clone()]);
    assert_eq!(u.nlri_notes.unknown_evpn_dropped, 3);
    assert!(u.errors.is_empty(), "{:?}", u.errors);

    // Only unknown routes: nothing is announced, and the UPDATE is not
    // made malformed by it.
    let u = through_the_wire(mp(
        Family::EVPN,
        NextHop::Ipv4(Ipv4Addr::new(10, 10, 93, 12)),
        vec![unknown(77)],
    ));
    assert_eq!(u.announced().count(), 0);
    assert!(u.errors.is_empty());

    // Withdrawn: dropped too, and a withdrawal left empty is no
    // End-of-RIB (which would end a graceful restart early).
    let u = through_the_wire(mp_withdraw(Family::EVPN, vec![unknown(77)]));
    assert_eq!(u.withdrawn_all().count(), 0);
    assert_eq!(u.nlri_notes.unknown_evpn_dropped, 1);
    assert_eq!(u.end_of_rib_family(), None);
    let u = through_the_wire(mp_withdraw(Family::EVPN, vec![t5.clone(), unknown(77)]));
    assert_eq!(nlri_of(&u), vec![t5]);
    // The real End-of-RIB still is one.
    let u = through_the_wire(Update::end_of_rib(Family::EVPN));
    assert_eq!(u.end_of_rib_family(), Some(Family::EVPN));
}

#[test]
fn encoded_len_is_what_encode_writes() {
    let gw = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    for n in [
        Nlri::Ipv4(v4([10, 0, 0, 0], 0)),
        Nlri::Ipv4(v4([10, 0, 0, 0], 9)),
        Nlri::Ipv6(v6("2001:db8::", 128)),
        vpn("10.1.0.0/16".parse().unwrap()),
        vpn("2001:db8::/33".parse().unwrap()),
        type5("1.1.1.0/30".parse().unwrap(), gw),
        unknown(9),
    ] {
        let mut b = BytesMut::new();
        n.encode(&mut b);
        assert_eq!(n.encoded_len(), b.len(), "{n}");
    }
}
