//! Property tests: any message the codec can write, it reads back
//! unchanged — `decode(encode(x)) == x` — for OPEN, UPDATE (every
//! attribute, every family), NOTIFICATION and ROUTE-REFRESH.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ferry_wire::attribute::{
    Aggregator, AsPath, AsSegment, Community, ExtendedCommunity, LargeCommunity, PmsiTunnel,
    RawAttribute, SegmentType,
};
use ferry_wire::message::{Capability, GracefulRestartFamily, RefreshSubtype};
use ferry_wire::nlri::evpn::{Esi, EvpnRoute, IpPrefixRoute, MacIpAdvertisement};
use ferry_wire::{
    DecodeContext, EncodeContext, Family, FamilySet, Label, LabelStack, MacAddress, Message,
    MpReachNlri, MpUnreachNlri, NextHop, Nlri, NlriEntry, Notification, Open, Origin,
    PathAttributes, RouteDistinguisher, RouteRefresh, Update, VpnPrefix,
};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

fn v4() -> impl Strategy<Value = Ipv4Addr> {
    any::<[u8; 4]>().prop_map(Ipv4Addr::from)
}

fn v6() -> impl Strategy<Value = Ipv6Addr> {
    any::<[u8; 16]>().prop_map(Ipv6Addr::from)
}

/// A prefix without host bits (the decoder clears them, RFC 4271 §4.3).
fn v4net() -> impl Strategy<Value = Ipv4Net> {
    (v4(), 0u8..=32).prop_map(|(a, l)| Ipv4Net::new(a, l).unwrap().trunc())
}

fn v6net() -> impl Strategy<Value = Ipv6Net> {
    (v6(), 0u8..=128).prop_map(|(a, l)| Ipv6Net::new(a, l).unwrap().trunc())
}

fn rd() -> impl Strategy<Value = RouteDistinguisher> {
    any::<[u8; 8]>().prop_map(|mut b| {
        b[0] = 0;
        b[1] %= 3;
        RouteDistinguisher::from_bytes(b)
    })
}

fn vpn(v6: bool) -> BoxedStrategy<Nlri> {
    let prefix: BoxedStrategy<IpNet> = if v6 {
        v6net()
            .prop_filter("fits", |p| p.prefix_len() <= 128)
            .prop_map(IpNet::V6)
            .boxed()
    } else {
        v4net().prop_map(IpNet::V4).boxed()
    };
    (rd(), 0u32..0x10_0000, prefix)
        .prop_map(|(rd, label, prefix)| {
            Nlri::Vpn(VpnPrefix {
                labels: LabelStack::single(Label::mpls(label)),
                rd,
                prefix,
            })
        })
        .boxed()
}

fn evpn() -> impl Strategy<Value = Nlri> {
    let t5 = (rd(), 1u32..0x100_0000, v4net()).prop_map(|(rd, vni, p)| {
        EvpnRoute::IpPrefix(IpPrefixRoute {
            rd,
            esi: Esi::ZERO,
            ethernet_tag: 0,
            prefix: IpNet::V4(p),
            gateway: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            label: Label::vni(vni),
        })
    });
    let t2 = (rd(), any::<[u8; 6]>(), option::of(v4()), 1u32..0x100_0000).prop_map(
        |(rd, mac, ip, vni)| {
            EvpnRoute::MacIp(MacIpAdvertisement {
                rd,
                esi: Esi::ZERO,
                ethernet_tag: 0,
                mac: MacAddress(mac),
                ip: ip.map(IpAddr::V4),
                label1: Label::vni(vni),
                label2: None,
            })
        },
    );
    prop_oneof![t5, t2].prop_map(Nlri::Evpn)
}

fn as_path() -> impl Strategy<Value = AsPath> {
    let seg = (0u8..4, vec(any::<u32>(), 1..6)).prop_map(|(k, asns)| AsSegment {
        kind: [
            SegmentType::Set,
            SegmentType::Sequence,
            SegmentType::ConfedSequence,
            SegmentType::ConfedSet,
        ][k as usize],
        asns,
    });
    vec(seg, 0..4).prop_map(|segments| AsPath { segments })
}

fn attributes() -> impl Strategy<Value = PathAttributes> {
    let a = (
        option::of(prop_oneof![
            Just(Origin::Igp),
            Just(Origin::Egp),
            Just(Origin::Incomplete)
        ]),
        option::of(as_path()),
        option::of(any::<u32>()),
        option::of(any::<u32>()),
        any::<bool>(),
        option::of((any::<u32>(), v4()).prop_map(|(asn, address)| Aggregator { asn, address })),
        vec(any::<u32>().prop_map(Community), 0..4),
        option::of(v4()),
    );
    let b = (
        vec(v4(), 0..3),
        vec(any::<[u8; 8]>().prop_map(ExtendedCommunity), 0..4),
        vec(
            (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(g, l1, l2)| LargeCommunity {
                global: g,
                local1: l1,
                local2: l2,
            }),
            0..3,
        ),
        option::of(
            (v4(), 1u32..0x100_0000)
                .prop_map(|(a, vni)| PmsiTunnel::ingress_replication(IpAddr::V4(a), vni)),
        ),
        vec(
            (
                100u8..200,
                prop_oneof![Just(0xc0u8), Just(0xe0), Just(0x80)],
                vec(any::<u8>(), 0..20),
            ),
            0..3,
        ),
    );
    (a, b).prop_map(
        |(
            (origin, as_path, med, local_pref, atomic, aggregator, communities, originator_id),
            (cluster_list, ext, large, pmsi, unknown),
        )| {
            let mut unknown: Vec<RawAttribute> = unknown
                .into_iter()
                .map(|(t, f, v)| RawAttribute {
                    flags: f,
                    type_code: t,
                    value: v,
                })
                .collect();
            unknown.sort_by_key(|u| u.type_code);
            unknown.dedup_by_key(|u| u.type_code);
            PathAttributes {
                origin,
                as_path,
                next_hop: None,
                med,
                local_pref,
                atomic_aggregate: atomic,
                aggregator,
                communities,
                originator_id,
                cluster_list,
                extended_communities: ext,
                as4_path: None,
                as4_aggregator: None,
                pmsi_tunnel: pmsi,
                large_communities: large,
                unknown,
            }
        },
    )
}

fn update() -> impl Strategy<Value = Update> {
    let mp = prop_oneof![
        (v4(), vec(vpn(false), 1..20)).prop_map(|(nh, n)| (Family::VPNV4, NextHop::Ipv4(nh), n)),
        (v6(), vec(vpn(true), 1..20)).prop_map(|(nh, n)| (
            Family::VPNV6,
            NextHop::Ipv6 {
                global: nh,
                link_local: None
            },
            n
        )),
        (v4(), vec(evpn(), 1..20)).prop_map(|(nh, n)| (Family::EVPN, NextHop::Ipv4(nh), n)),
    ];
    (
        attributes(),
        option::of(mp),
        option::of(vec(evpn(), 0..10)),
        vec(v4net(), 0..10),
        vec(v4net(), 0..10),
        v4(),
    )
        .prop_map(|(mut attributes, mp, unreach, nlri, withdrawn, nh)| {
            if !nlri.is_empty() {
                attributes.next_hop = Some(nh);
            }
            Update {
                withdrawn: withdrawn
                    .into_iter()
                    .map(|p| NlriEntry::new(Nlri::Ipv4(p)))
                    .collect(),
                attributes,
                mp_reach: mp.map(|(family, next_hop, n)| MpReachNlri {
                    family,
                    next_hop,
                    nlri: n.into_iter().map(NlriEntry::new).collect(),
                    undecoded: Vec::new(),
                }),
                mp_unreach: unreach.map(|n| MpUnreachNlri {
                    family: Family::EVPN,
                    withdrawn: n.into_iter().map(NlriEntry::new).collect(),
                    undecoded: Vec::new(),
                }),
                nlri: nlri
                    .into_iter()
                    .map(|p| NlriEntry::new(Nlri::Ipv4(p)))
                    .collect(),
                ..Default::default()
            }
        })
}

fn capability() -> impl Strategy<Value = Capability> {
    let fam = prop_oneof![
        Just(Family::EVPN),
        Just(Family::VPNV4),
        Just(Family::VPNV6),
        Just(Family::IPV4_UNICAST)
    ];
    prop_oneof![
        fam.clone()
            .prop_map(|family| Capability::Multiprotocol { family }),
        Just(Capability::RouteRefresh),
        Just(Capability::EnhancedRouteRefresh),
        Just(Capability::ExtendedMessage),
        any::<u32>().prop_map(|asn| Capability::FourOctetAs { asn }),
        (
            any::<bool>(),
            any::<bool>(),
            0u16..4096,
            vec((fam, any::<bool>()), 0..3)
        )
            .prop_map(|(r, n, t, f)| {
                Capability::GracefulRestart {
                    restarted: r,
                    notification: n,
                    restart_time: t,
                    families: f
                        .into_iter()
                        .map(|(family, fp)| GracefulRestartFamily {
                            family,
                            forwarding_preserved: fp,
                            other_flags: 0,
                        })
                        .collect(),
                }
            }),
        (200u8..=255, vec(any::<u8>(), 0..10))
            .prop_map(|(code, value)| Capability::Unknown { code, value }),
    ]
}

fn ctx() -> (EncodeContext, DecodeContext) {
    let enc = EncodeContext {
        four_octet_as: true,
        add_path: FamilySet::EMPTY,
        extended_message: true,
    };
    (enc, enc.as_decode())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn update_round_trips(u in update()) {
        let (enc, dec) = ctx();
        let bytes = Message::Update(u.clone()).to_bytes(&enc).unwrap();
        let Message::Update(back) = Message::decode(&bytes, &dec).unwrap() else { panic!("not an UPDATE") };
        // The only findings are the mandatory attributes the generator
        // left out of an UPDATE that announces routes (RFC 7606 §3 d).
        let announces = u.mp_reach.is_some() || !u.nlri.is_empty();
        let mut missing = Vec::new();
        if announces && u.attributes.origin.is_none() { missing.push(1u8); }
        if announces && u.attributes.as_path.is_none() { missing.push(2); }
        let found: Vec<u8> = back.errors.iter().map(|e| e.type_code).collect();
        prop_assert_eq!(found, missing);
        prop_assert_eq!(&back.attributes, &u.attributes);
        prop_assert_eq!(&back.mp_reach, &u.mp_reach);
        prop_assert_eq!(&back.mp_unreach, &u.mp_unreach);
        prop_assert_eq!(&back.nlri, &u.nlri);
        prop_assert_eq!(&back.withdrawn, &u.withdrawn);
        // And the received layout writes the same octets again.
        let again = Message::Update(back).to_bytes(&enc).unwrap();
        prop_assert_eq!(again, bytes);
    }

    #[test]
    fn open_round_trips(asn in any::<u32>(), hold in prop_oneof![Just(0u16), 3u16..], id in v4().prop_filter("nonzero", |a| !a.is_unspecified()), caps in vec(capability(), 0..40)) {
        let open = Open::new(asn, hold, id, caps);
        let (enc, dec) = ctx();
        let bytes = Message::Open(open.clone()).to_bytes(&enc).unwrap();
        let Message::Open(mut back) = Message::decode(&bytes, &dec).unwrap() else { panic!() };
        // The RFC 9072 form is chosen when the parameters need it.
        back.extended_parameters = false;
        prop_assert_eq!(back, open);
    }

    #[test]
    fn notification_and_route_refresh_round_trip(code in 1u8..8, sub in any::<u8>(), data in vec(any::<u8>(), 0..64), afi in any::<u16>(), safi in any::<u8>(), st in 0u8..3) {
        let (enc, dec) = ctx();
        let n = Message::Notification(Notification::new(code, sub, data));
        prop_assert_eq!(Message::decode(&n.to_bytes(&enc).unwrap(), &dec).unwrap(), n);
        let subtype = [RefreshSubtype::Request, RefreshSubtype::BeginningOfRefresh, RefreshSubtype::EndOfRefresh][st as usize];
        let r = Message::RouteRefresh(RouteRefresh { family: Family::new(afi, safi), subtype });
        prop_assert_eq!(Message::decode(&r.to_bytes(&enc).unwrap(), &dec).unwrap(), r);
    }

    #[test]
    fn no_input_panics_the_decoder(bytes in vec(any::<u8>(), 0..300), flags in any::<u8>()) {
        let mut m = vec![0xffu8; 16];
        m.extend_from_slice(&((19 + bytes.len()) as u16).to_be_bytes());
        m.push(flags % 6 + 1);
        m.extend_from_slice(&bytes);
        let ctx = DecodeContext { four_octet_as: flags & 8 != 0, add_path: if flags & 16 != 0 { FamilySet::ALL } else { FamilySet::EMPTY }, extended_message: true };
        let _ = Message::decode(&m, &ctx);
    }
}

#[test]
fn shutdown_communication_is_read_back() {
    let n = Notification::cease_with_message(2, "maintenance: moving the reflector");
    let (enc, dec) = ctx();
    let Message::Notification(back) =
        Message::decode(&Message::Notification(n).to_bytes(&enc).unwrap(), &dec).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        back.shutdown_communication(),
        Some("maintenance: moving the reflector")
    );
    assert!(back.to_string().contains("Administrative Shutdown"));
}

#[test]
fn open_with_many_capabilities_uses_rfc9072_extended_parameters() {
    let caps: Vec<Capability> = (0..60)
        .map(|i| Capability::Unknown {
            code: 200,
            value: vec![i; 4],
        })
        .collect();
    let open = Open::new(64512, 90, Ipv4Addr::new(1, 1, 1, 1), caps);
    let (enc, dec) = ctx();
    let bytes = Message::Open(open.clone()).to_bytes(&enc).unwrap();
    // Non-Ext OP Len 255, Non-Ext OP Type 255.
    assert_eq!((bytes[28], bytes[29]), (255, 255));
    let Message::Open(back) = Message::decode(&bytes, &dec).unwrap() else {
        panic!()
    };
    assert!(back.extended_parameters);
    assert_eq!(back.capabilities().count(), 60);
}
