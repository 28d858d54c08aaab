use super::*;
use proptest::prelude::*;

/// `gobgp global rib -a evpn add prefix 1.1.1.0/30 etag 0 rd
/// 10.10.25.42:1 rt 11:11 gw 0.0.0.0 label 10002 encap vxlan router-mac
/// aa:bb:cc:dd:01:01 nexthop 10.10.25.42`, the NLRI alone.
const GOBGP_TYPE5: &str =
    "0522 00010a0a192a0001 00000000000000000000 00000000 1e 01010100 00000000 002712";

fn bytes(hex: &str) -> Vec<u8> {
    let s: String = hex.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn round_trip(r: &EvpnRoute) -> Vec<u8> {
    let mut buf = BytesMut::new();
    r.encode(&mut buf);
    let (rest, back) = EvpnRoute::decode(&buf).unwrap();
    assert!(rest.is_empty());
    assert_eq!(&back, r);
    assert_eq!(r.encoded_len(), buf.len(), "{r}");
    buf.to_vec()
}

#[test]
fn gobgp_type5_decodes_to_the_seed_route() {
    let b = bytes(GOBGP_TYPE5);
    let (rest, r) = EvpnRoute::decode(&b).unwrap();
    assert!(rest.is_empty());
    assert_eq!(
        r.to_string(),
        "type-5 ip-prefix rd 10.10.25.42:1 esi 0 etag 0 prefix 1.1.1.0/30 gw 0.0.0.0 vni 10002"
    );
    assert_eq!(r.label().unwrap().as_vni(), 10002);
    assert_eq!(round_trip(&r), b);
}

#[test]
fn every_route_type_round_trips() {
    let rd: RouteDistinguisher = "10.10.25.42:1".parse().unwrap();
    let esi = Esi([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    let mac: MacAddress = "aa:bb:cc:dd:01:01".parse().unwrap();
    let routes = vec![
        EvpnRoute::EthernetAutoDiscovery(EthernetAutoDiscovery {
            rd,
            esi,
            ethernet_tag: 7,
            label: Label::vni(10002),
        }),
        EvpnRoute::MacIp(MacIpAdvertisement {
            rd,
            esi: Esi::ZERO,
            ethernet_tag: 0,
            mac,
            ip: None,
            label1: Label::vni(10002),
            label2: None,
        }),
        EvpnRoute::MacIp(MacIpAdvertisement {
            rd,
            esi,
            ethernet_tag: 0,
            mac,
            ip: Some("1.1.1.2".parse().unwrap()),
            label1: Label::vni(10002),
            label2: Some(Label::vni(20002)),
        }),
        EvpnRoute::MacIp(MacIpAdvertisement {
            rd,
            esi,
            ethernet_tag: 0,
            mac,
            ip: Some("abcd::1".parse().unwrap()),
            label1: Label::vni(1),
            label2: None,
        }),
        EvpnRoute::InclusiveMulticast(InclusiveMulticast {
            rd,
            ethernet_tag: 0,
            originator: "10.10.25.42".parse().unwrap(),
        }),
        EvpnRoute::InclusiveMulticast(InclusiveMulticast {
            rd,
            ethernet_tag: 0,
            originator: "2001:db8::1".parse().unwrap(),
        }),
        EvpnRoute::EthernetSegment(EthernetSegment {
            rd,
            esi,
            originator: "10.10.25.42".parse().unwrap(),
        }),
        EvpnRoute::IpPrefix(IpPrefixRoute {
            rd,
            esi: Esi::ZERO,
            ethernet_tag: 0,
            prefix: "1.1.1.0/30".parse().unwrap(),
            gateway: "0.0.0.0".parse().unwrap(),
            label: Label::vni(10002),
        }),
        EvpnRoute::IpPrefix(IpPrefixRoute {
            rd,
            esi: Esi::ZERO,
            ethernet_tag: 0,
            prefix: "abcd::101:100/126".parse().unwrap(),
            gateway: "::".parse().unwrap(),
            label: Label::vni(10002),
        }),
        EvpnRoute::Unknown {
            route_type: 9,
            value: vec![1, 2, 3],
        },
    ];
    let lens = [
        25 + 2,
        33 + 2,
        40 + 2,
        49 + 2,
        17 + 2,
        29 + 2,
        23 + 2,
        34 + 2,
        58 + 2,
        3 + 2,
    ];
    for (r, len) in routes.iter().zip(lens) {
        assert_eq!(round_trip(r).len(), len, "{r}");
    }
}

#[test]
fn malformed_routes_are_errors() {
    let good = bytes(GOBGP_TYPE5);
    for cut in 0..good.len() {
        assert!(EvpnRoute::decode(&good[..cut]).is_err(), "cut at {cut}");
    }
    // Length field of 33 for type 5.
    let mut b = good.clone();
    b[1] = 33;
    assert!(EvpnRoute::decode(&b[..35]).is_err());
    // Prefix length 33.
    let mut b = good.clone();
    b[2 + 22] = 33;
    let e = EvpnRoute::decode(&b).unwrap_err();
    assert!(format!("{e:?}").contains("33"));
    // Type 2 with a MAC length of 47 and with an IP length of 24.
    let t2 = EvpnRoute::MacIp(MacIpAdvertisement {
        rd: "1:1".parse().unwrap(),
        esi: Esi::ZERO,
        ethernet_tag: 0,
        mac: MacAddress::ZERO,
        ip: Some("1.1.1.1".parse().unwrap()),
        label1: Label::vni(1),
        label2: None,
    });
    let mut buf = BytesMut::new();
    t2.encode(&mut buf);
    let mut b = buf.to_vec();
    b[2 + 22] = 47;
    assert!(EvpnRoute::decode(&b).is_err());
    let mut b = buf.to_vec();
    b[2 + 29] = 24;
    assert!(EvpnRoute::decode(&b).is_err());
    // Type 3 with a trailing octet.
    let mut b = vec![3, 18];
    b.extend_from_slice(&[0; 12]);
    b.push(32);
    b.extend_from_slice(&[10, 0, 0, 1, 9]);
    assert!(EvpnRoute::decode(&b).is_err());
}

#[test]
fn key_ignores_labels_esi_and_gateway() {
    let mk = |vni, gw: &str| {
        EvpnRoute::IpPrefix(IpPrefixRoute {
            rd: "1:1".parse().unwrap(),
            esi: Esi::ZERO,
            ethernet_tag: 0,
            prefix: "1.1.1.0/30".parse().unwrap(),
            gateway: gw.parse().unwrap(),
            label: Label::vni(vni),
        })
    };
    assert_eq!(mk(1, "0.0.0.0").key(), mk(2, "1.1.1.1").key());
    assert_ne!(mk(1, "0.0.0.0"), mk(2, "0.0.0.0"));
}

fn arb_rd() -> impl Strategy<Value = RouteDistinguisher> {
    any::<[u8; 8]>().prop_map(RouteDistinguisher::from_bytes)
}

fn arb_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| IpAddr::V4(o.into())),
        any::<[u8; 16]>().prop_map(|o| IpAddr::V6(o.into())),
    ]
}

fn arb_route() -> impl Strategy<Value = EvpnRoute> {
    let label = (0u32..0x100_0000).prop_map(Label::from_raw);
    prop_oneof![
        (arb_rd(), any::<[u8; 10]>(), any::<u32>(), label.clone()).prop_map(|(rd, e, t, l)| {
            EvpnRoute::EthernetAutoDiscovery(EthernetAutoDiscovery {
                rd,
                esi: Esi(e),
                ethernet_tag: t,
                label: l,
            })
        }),
        (
            arb_rd(),
            any::<[u8; 10]>(),
            any::<u32>(),
            any::<[u8; 6]>(),
            proptest::option::of(arb_ip()),
            label.clone(),
            proptest::option::of(label.clone())
        )
            .prop_map(
                |(rd, e, t, m, ip, l1, l2)| EvpnRoute::MacIp(MacIpAdvertisement {
                    rd,
                    esi: Esi(e),
                    ethernet_tag: t,
                    mac: MacAddress(m),
                    ip,
                    label1: l1,
                    label2: l2
                })
            ),
        (arb_rd(), any::<u32>(), arb_ip()).prop_map(|(rd, t, o)| EvpnRoute::InclusiveMulticast(
            InclusiveMulticast {
                rd,
                ethernet_tag: t,
                originator: o
            }
        )),
        (arb_rd(), any::<[u8; 10]>(), arb_ip()).prop_map(|(rd, e, o)| {
            EvpnRoute::EthernetSegment(EthernetSegment {
                rd,
                esi: Esi(e),
                originator: o,
            })
        }),
        (
            arb_rd(),
            any::<[u8; 10]>(),
            any::<u32>(),
            any::<[u8; 4]>(),
            0u8..=32,
            any::<[u8; 4]>(),
            label.clone()
        )
            .prop_map(
                |(rd, e, t, p, len, g, l)| EvpnRoute::IpPrefix(IpPrefixRoute {
                    rd,
                    esi: Esi(e),
                    ethernet_tag: t,
                    prefix: IpNet::V4(Ipv4Net::new(p.into(), len).unwrap()),
                    gateway: IpAddr::V4(g.into()),
                    label: l
                })
            ),
        (
            arb_rd(),
            any::<[u8; 10]>(),
            any::<u32>(),
            any::<[u8; 16]>(),
            0u8..=128,
            any::<[u8; 16]>(),
            label
        )
            .prop_map(
                |(rd, e, t, p, len, g, l)| EvpnRoute::IpPrefix(IpPrefixRoute {
                    rd,
                    esi: Esi(e),
                    ethernet_tag: t,
                    prefix: IpNet::V6(Ipv6Net::new(p.into(), len).unwrap()),
                    gateway: IpAddr::V6(g.into()),
                    label: l
                })
            ),
        (6u8..=255, proptest::collection::vec(any::<u8>(), 0..64)).prop_map(|(t, v)| {
            EvpnRoute::Unknown {
                route_type: t,
                value: v,
            }
        }),
    ]
}

proptest! {
    #[test]
    fn decode_inverts_encode(r in arb_route()) {
        let mut buf = BytesMut::new();
        r.encode(&mut buf);
        prop_assert_eq!(r.encoded_len(), buf.len());
        let (rest, back) = EvpnRoute::decode(&buf).unwrap();
        prop_assert!(rest.is_empty());
        prop_assert_eq!(back, r);
    }

    #[test]
    fn decode_never_panics(b in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = EvpnRoute::decode(&b);
    }
}
