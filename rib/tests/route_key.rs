//! Route keys: packing an NLRI's key fields loses nothing and keeps routes
//! apart exactly as the NLRI's key fields do.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ferry_rib::route_key::{join, split, withdrawal, PathExtra};
use ferry_rib::{Entry, RouteKey};
use ferry_wire::nlri::evpn::{
    Esi, EthernetAutoDiscovery, EthernetSegment, EvpnRoute, InclusiveMulticast, IpPrefixRoute,
    MacIpAdvertisement,
};
use ferry_wire::{Family, Label, LabelStack, MacAddress, Nlri, RouteDistinguisher, VpnPrefix};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::prelude::*;

fn v4() -> impl Strategy<Value = Ipv4Addr> {
    any::<[u8; 4]>().prop_map(Ipv4Addr::from)
}

fn v6() -> impl Strategy<Value = Ipv6Addr> {
    any::<[u8; 16]>().prop_map(Ipv6Addr::from)
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![v4().prop_map(IpAddr::V4), v6().prop_map(IpAddr::V6)]
}

fn net() -> impl Strategy<Value = IpNet> {
    prop_oneof![
        (v4(), 0u8..=32).prop_map(|(a, l)| IpNet::V4(Ipv4Net::new(a, l).unwrap())),
        (v6(), 0u8..=128).prop_map(|(a, l)| IpNet::V6(Ipv6Net::new(a, l).unwrap())),
    ]
}

fn rd() -> impl Strategy<Value = RouteDistinguisher> {
    any::<[u8; 8]>().prop_map(|mut b| {
        b[0] = 0;
        b[1] %= 4;
        RouteDistinguisher::from_bytes(b)
    })
}

fn label() -> impl Strategy<Value = Label> {
    (0u32..0x10_0000).prop_map(Label::mpls)
}

fn esi() -> impl Strategy<Value = Esi> {
    prop_oneof![Just(Esi::ZERO), any::<[u8; 10]>().prop_map(Esi)]
}

/// Any NLRI Ferry carries, every EVPN route type included. Few distinct
/// values per field, so that equal keys with different non-key fields
/// come up often.
fn nlri() -> impl Strategy<Value = Nlri> {
    let small_rd = prop_oneof![
        rd(),
        Just(RouteDistinguisher::from_bytes([0, 0, 0, 1, 0, 0, 0, 1]))
    ];
    let t5 = (small_rd.clone(), 0u32..2, net(), esi(), ip(), label()).prop_map(
        |(rd, ethernet_tag, prefix, esi, gateway, label)| {
            EvpnRoute::IpPrefix(IpPrefixRoute {
                rd,
                esi,
                ethernet_tag,
                prefix,
                gateway,
                label,
            })
        },
    );
    let t2 = (
        small_rd.clone(),
        0u32..2,
        any::<[u8; 6]>(),
        proptest::option::of(ip()),
        esi(),
        label(),
        proptest::option::of(label()),
    )
        .prop_map(|(rd, ethernet_tag, mac, ip, esi, label1, label2)| {
            EvpnRoute::MacIp(MacIpAdvertisement {
                rd,
                esi,
                ethernet_tag,
                mac: MacAddress(mac),
                ip,
                label1,
                label2,
            })
        });
    let t3 = (small_rd.clone(), any::<u32>(), ip()).prop_map(|(rd, ethernet_tag, originator)| {
        EvpnRoute::InclusiveMulticast(InclusiveMulticast {
            rd,
            ethernet_tag,
            originator,
        })
    });
    let t1 = (small_rd.clone(), esi(), any::<u32>(), label()).prop_map(
        |(rd, esi, ethernet_tag, label)| {
            EvpnRoute::EthernetAutoDiscovery(EthernetAutoDiscovery {
                rd,
                esi,
                ethernet_tag,
                label,
            })
        },
    );
    let t4 = (small_rd.clone(), esi(), ip()).prop_map(|(rd, esi, originator)| {
        EvpnRoute::EthernetSegment(EthernetSegment {
            rd,
            esi,
            originator,
        })
    });
    let unknown = (6u8..=255, proptest::collection::vec(any::<u8>(), 0..40))
        .prop_map(|(route_type, value)| EvpnRoute::Unknown { route_type, value });
    let evpn = prop_oneof![t5, t2, t3, t1, t4, unknown].prop_map(Nlri::Evpn);
    let vpn = (small_rd, net(), label()).prop_map(|(rd, prefix, l)| {
        Nlri::Vpn(VpnPrefix {
            labels: LabelStack::single(l),
            rd,
            prefix,
        })
    });
    let unicast = net().prop_map(|n| match n {
        IpNet::V4(n) => Nlri::Ipv4(n),
        IpNet::V6(n) => Nlri::Ipv6(n),
    });
    prop_oneof![evpn, vpn, unicast]
}

/// The NLRI without the bits past its prefix length (RFC 4271 §4.3).
fn masked(n: &Nlri) -> Nlri {
    let mut n = n.clone();
    n.clear_host_bits();
    n
}

/// The key fields of an NLRI, the others zero: what RFC 4364 §4.3.4,
/// RFC 7432 §7 and RFC 9136 §3.2 say identifies the route; prefixes
/// without their host bits.
fn key_fields(n: &Nlri) -> Nlri {
    match &masked(n) {
        Nlri::Vpn(v) => Nlri::Vpn(VpnPrefix {
            labels: LabelStack::single(Label::default()),
            ..*v
        }),
        Nlri::Evpn(e) => Nlri::Evpn(e.key()),
        other => other.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn key_and_path_fields_rebuild_the_nlri(n in nlri()) {
        let (key, extra) = split(&n);
        prop_assert_eq!(join(&key, &extra), masked(&n));
        prop_assert_eq!(key.nlri(), key_fields(&n));
        prop_assert_eq!(key.family(), n.family());
        prop_assert_eq!(key.rd(), n.rd());
        prop_assert_eq!(key.to_string(), key_fields(&n).to_string());
    }

    #[test]
    fn keys_are_equal_exactly_when_the_key_fields_are(a in nlri(), b in nlri()) {
        // A prefix and the same prefix with host bits: one key.
        prop_assert_eq!(&split(&masked(&a)).0, &split(&a).0);
        let (ka, _) = split(&a);
        let (kb, _) = split(&b);
        prop_assert_eq!(ka == kb, key_fields(&a) == key_fields(&b));
        // The same route with other labels, ESI or gateway: the same key.
        prop_assert_eq!(&split(&key_fields(&a)).0, &split(&a).0);
        let set: HashSet<RouteKey> = [ka, kb].into_iter().collect();
        prop_assert_eq!(set.len(), if key_fields(&a) == key_fields(&b) { 1 } else { 2 });
    }
}

#[test]
fn the_routes_a_reflector_holds_by_the_hundred_thousand_are_packed() {
    let rd = RouteDistinguisher::from_bytes([0, 1, 10, 0, 0, 1, 0, 7]);
    let t5v6 = Nlri::Evpn(EvpnRoute::IpPrefix(IpPrefixRoute {
        rd,
        esi: Esi([1; 10]),
        ethernet_tag: u32::MAX,
        prefix: "2001:db8::1/128".parse().unwrap(),
        gateway: "2001:db8::2".parse().unwrap(),
        label: Label::vni(10),
    }));
    let vpnv6 = Nlri::Vpn(VpnPrefix {
        labels: LabelStack::single(Label::mpls(16)),
        rd,
        prefix: "2001:db8::/64".parse().unwrap(),
    });
    let vpnv4 = Nlri::Vpn(VpnPrefix {
        labels: LabelStack::single(Label::mpls(16)),
        rd,
        prefix: "10.1.0.0/16".parse().unwrap(),
    });
    let mac_v6 = Nlri::Evpn(EvpnRoute::MacIp(MacIpAdvertisement {
        rd,
        esi: Esi::ZERO,
        ethernet_tag: 0,
        mac: MacAddress([2, 0, 0, 0, 0, 1]),
        ip: Some("2001:db8::5".parse().unwrap()),
        label1: Label::vni(10),
        label2: None,
    }));
    for n in [&t5v6, &vpnv6, &vpnv4] {
        assert!(split(n).0.is_packed(), "{n} is not packed");
    }
    assert!(!split(&mac_v6).0.is_packed());
    assert_eq!(split(&mac_v6).0.family(), Family::EVPN);
    // A key and the path of a one-path entry: 48 octets a route.
    assert_eq!(std::mem::size_of::<RouteKey>(), 32);
    assert_eq!(std::mem::size_of::<Entry>(), 16);
}

#[test]
fn a_vpn_withdrawal_carries_the_compatibility_label() {
    let n = Nlri::Vpn(VpnPrefix {
        labels: LabelStack::single(Label::mpls(16)),
        rd: RouteDistinguisher::from_bytes([0, 0, 0, 1, 0, 0, 0, 1]),
        prefix: "10.1.0.0/16".parse().unwrap(),
    });
    let (key, extra) = split(&n);
    assert_eq!(
        extra,
        PathExtra::Labels(LabelStack::single(Label::mpls(16)))
    );
    match withdrawal(&key) {
        Nlri::Vpn(v) => assert_eq!(v.labels, LabelStack::single(Label::WITHDRAWN)),
        other => panic!("{other}"),
    }
}
