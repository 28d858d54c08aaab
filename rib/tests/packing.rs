//! Property: whatever the RIB holds, every UPDATE the Adj-RIB-Out packer
//! emits fits the receiving peer's maximum message size (4096 octets, or
//! 65535 with RFC 8654 extended messages), and the messages decode back —
//! with ferry_wire's decoder — to exactly the routes and attributes the
//! peer should hold, minus the paths whose attributes alone cannot fit,
//! which are exactly the ones reported as not sent.
//!
//! Routes are random mixes of VPN-IPv4, VPN-IPv6 and EVPN Type 2, 3 and 5
//! (prefixes with host bits among them); attribute sets are random too,
//! with long AS_PATHs and long community, large-community and
//! extended-community lists, sized so that many land near or past 4096
//! octets and some near 65535.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ferry_rib::peer::{PeerId, Role};
use ferry_rib::{ibgp_peer, Outcome, Rib, RouteKey, SpeakerConfig};
use ferry_wire::attribute::{
    AsPath, AsSegment, Community, ExtendedCommunity, LargeCommunity, SegmentType,
};
use ferry_wire::nlri::evpn::{
    Esi, EvpnRoute, InclusiveMulticast, IpPrefixRoute, MacIpAdvertisement,
};
use ferry_wire::{
    DecodeContext, EncodeContext, Family, FamilySet, Label, LabelStack, MacAddress, Message,
    MpReachNlri, NextHop, Nlri, NlriEntry, Origin, PathAttributes, RouteDistinguisher, Update,
    VpnPrefix,
};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::collection::vec;
use proptest::prelude::*;

const CLUSTER: Ipv4Addr = Ipv4Addr::new(10, 10, 25, 42);
const SOURCE: PeerId = 1;
const SOURCE_ID: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 1);

fn families() -> FamilySet {
    [Family::VPNV4, Family::VPNV6, Family::EVPN]
        .into_iter()
        .collect()
}

fn up(rib: &mut Rib, id: PeerId, extended_message: bool) -> Outcome {
    let addr = Ipv4Addr::new(10, 10, 0, id as u8);
    let mut info = ibgp_peer(Role::Client, 64512, addr, IpAddr::V4(addr), families());
    info.encode.extended_message = extended_message;
    rib.peer_up(id, info)
}

fn rd() -> impl Strategy<Value = RouteDistinguisher> {
    (0u16..3, 0u32..4).prop_map(|(a, n)| {
        RouteDistinguisher::from_bytes({
            let mut b = [0u8; 8];
            b[2..4].copy_from_slice(&a.to_be_bytes());
            b[4..].copy_from_slice(&n.to_be_bytes());
            b
        })
    })
}

/// Prefixes as a peer may write them: host bits set now and then.
fn v4net() -> impl Strategy<Value = Ipv4Net> {
    (any::<[u8; 4]>(), 8u8..=32).prop_map(|(a, l)| Ipv4Net::new(a.into(), l).unwrap())
}

fn v6net() -> impl Strategy<Value = Ipv6Net> {
    (any::<[u8; 16]>(), 16u8..=128).prop_map(|(a, l)| Ipv6Net::new(a.into(), l).unwrap())
}

fn route() -> impl Strategy<Value = Nlri> {
    let label = (16u32..0x10_0000).prop_map(Label::mpls);
    let vni = (1u32..0x100_0000).prop_map(Label::vni);
    let vpnv4 = (rd(), label.clone(), v4net()).prop_map(|(rd, l, p)| {
        Nlri::Vpn(VpnPrefix {
            labels: LabelStack::single(l),
            rd,
            prefix: IpNet::V4(p),
        })
    });
    let vpnv6 = (rd(), label, v6net()).prop_map(|(rd, l, p)| {
        Nlri::Vpn(VpnPrefix {
            labels: LabelStack::single(l),
            rd,
            prefix: IpNet::V6(p),
        })
    });
    let prefix = prop_oneof![v4net().prop_map(IpNet::V4), v6net().prop_map(IpNet::V6)];
    let t5 = (rd(), prefix, vni.clone()).prop_map(|(rd, prefix, label)| {
        let gateway = match prefix {
            IpNet::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpNet::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        Nlri::Evpn(EvpnRoute::IpPrefix(IpPrefixRoute {
            rd,
            esi: Esi::ZERO,
            ethernet_tag: 0,
            prefix,
            gateway,
            label,
        }))
    });
    let t2 = (
        rd(),
        any::<[u8; 6]>(),
        proptest::option::of(any::<[u8; 4]>()),
        vni,
    )
        .prop_map(|(rd, mac, ip, label1)| {
            Nlri::Evpn(EvpnRoute::MacIp(MacIpAdvertisement {
                rd,
                esi: Esi::ZERO,
                ethernet_tag: 0,
                mac: MacAddress(mac),
                ip: ip.map(|o| IpAddr::V4(o.into())),
                label1,
                label2: None,
            }))
        });
    let t3 = (rd(), any::<[u8; 4]>()).prop_map(|(rd, o)| {
        Nlri::Evpn(EvpnRoute::InclusiveMulticast(InclusiveMulticast {
            rd,
            ethernet_tag: 0,
            originator: IpAddr::V4(o.into()),
        }))
    });
    prop_oneof![vpnv4, vpnv6, t5, t2, t3]
}

/// Sizes of one attribute set: communities, large communities, extended
/// communities, AS_PATH segments (each up to 255 ASes).
fn sizes() -> impl Strategy<Value = (usize, usize, usize, Vec<usize>)> {
    let segments = |n: std::ops::Range<usize>| vec(1usize..=255, n);
    prop_oneof![
        // Small.
        4 => (0usize..20, 0usize..5, 0usize..5, segments(0..2)),
        // Around 4096 octets once reflected.
        4 => (850usize..1020, 0usize..4, 0usize..4, segments(0..2)),
        // Every list long: 3 to 9 kB.
        3 => (0usize..400, 50usize..200, 50usize..200, segments(1..5)),
        // Around 65535 octets.
        1 => (16_000usize..16_400, 0usize..20, 0usize..20, segments(0..3)),
    ]
}

fn attr_set() -> impl Strategy<Value = PathAttributes> {
    (sizes(), any::<u32>(), proptest::option::of(any::<u32>())).prop_map(
        |((c, l, e, segs), seed, med)| {
            // Distinct members, so that nothing is merged on the way.
            PathAttributes {
                origin: Some(Origin::Igp),
                as_path: Some(AsPath {
                    segments: segs
                        .iter()
                        .enumerate()
                        .map(|(i, n)| AsSegment {
                            kind: SegmentType::Sequence,
                            asns: (0..*n as u32).map(|a| 64512 + a + i as u32).collect(),
                        })
                        .collect(),
                }),
                med,
                local_pref: Some(100),
                communities: (0..c as u32)
                    .map(|i| Community(seed.wrapping_add(i)))
                    .collect(),
                large_communities: (0..l as u32)
                    .map(|i| LargeCommunity {
                        global: 64512,
                        local1: seed,
                        local2: i,
                    })
                    .collect(),
                extended_communities: (0..e as u32)
                    .map(|i| {
                        let mut b = [0u8, 2, 0xfc, 0, 0, 0, 0, 0];
                        b[4..].copy_from_slice(&i.to_be_bytes());
                        ExtendedCommunity(b)
                    })
                    .collect(),
                ..Default::default()
            }
        },
    )
}

fn next_hop(family: Family) -> NextHop {
    match family {
        Family::VPNV6 => NextHop::Ipv6 {
            global: "2001:db8::1".parse().unwrap(),
            link_local: None,
        },
        _ => NextHop::Ipv4(SOURCE_ID),
    }
}

fn masked(n: &Nlri) -> Nlri {
    let mut n = n.clone();
    n.clear_host_bits();
    n
}

/// The attributes a client is sent for a path a client sent (RFC 4456 §8).
fn reflected(a: &PathAttributes) -> PathAttributes {
    PathAttributes {
        originator_id: Some(SOURCE_ID),
        cluster_list: vec![CLUSTER],
        ..a.clone()
    }
}

/// The oracle: does one UPDATE with `nlri` alone and the reflected
/// attributes fit in `max` octets? Measured with the general encoder,
/// plus the one octet of the extended length the packer always gives
/// MP_REACH_NLRI (the general encoder uses it only past 255 octets, and a
/// single NLRI never gets there).
fn fits_alone(nlri: &Nlri, attrs: &PathAttributes, max: usize) -> bool {
    let u = Update {
        attributes: reflected(attrs),
        mp_reach: Some(MpReachNlri {
            family: nlri.family(),
            next_hop: next_hop(nlri.family()),
            nlri: vec![NlriEntry::new(nlri.clone())],
            undecoded: Vec::new(),
        }),
        ..Default::default()
    };
    let ctx = EncodeContext {
        extended_message: true,
        ..Default::default()
    };
    Message::Update(u)
        .to_bytes(&ctx)
        .is_ok_and(|b| b.len() < max) // b.len() + 1 <= max
}

/// One UPDATE per (attribute set, family), in order, with its set.
fn announcements(routes: &[(Nlri, usize)], sets: &[PathAttributes]) -> Vec<(Update, usize)> {
    let mut out: Vec<(Update, usize)> = Vec::new();
    let mut index: HashMap<(usize, Family), usize> = HashMap::new();
    for (n, s) in routes {
        let i = *index.entry((*s, n.family())).or_insert_with(|| {
            out.push((
                Update {
                    attributes: sets[*s].clone(),
                    mp_reach: Some(MpReachNlri {
                        family: n.family(),
                        next_hop: next_hop(n.family()),
                        nlri: Vec::new(),
                        undecoded: Vec::new(),
                    }),
                    ..Default::default()
                },
                *s,
            ));
            out.len() - 1
        });
        out[i]
            .0
            .mp_reach
            .as_mut()
            .unwrap()
            .nlri
            .push(NlriEntry::new(n.clone()));
    }
    out
}

/// What a peer holds, built from the messages it was sent.
#[derive(Default)]
struct PeerView {
    routes: HashMap<RouteKey, (Nlri, PathAttributes, NextHop)>,
}

impl PeerView {
    /// Applies what `out` sends `peer`, checking every message; returns
    /// the routes reported as not sent to it.
    fn apply(
        &mut self,
        out: &Outcome,
        peer: PeerId,
        max: usize,
    ) -> Result<Vec<Nlri>, TestCaseError> {
        let ctx = DecodeContext {
            extended_message: max > 4096,
            ..Default::default()
        };
        let mut not_sent = Vec::new();
        for e in out.exports.iter().filter(|e| e.peers.contains(&peer)) {
            not_sent.extend(e.not_sent.iter().cloned());
            for m in &e.messages {
                prop_assert!(m.len() <= max, "{} octets to a peer of {}", m.len(), max);
                let declared = u16::from_be_bytes([m[16], m[17]]) as usize;
                prop_assert_eq!(declared, m.len());
                let u = match Message::decode(m, &ctx) {
                    Ok(Message::Update(u)) => u,
                    other => return Err(TestCaseError::fail(format!("{other:?}"))),
                };
                prop_assert!(u.errors.is_empty(), "{:?}", u.errors);
                prop_assert!(u.nlri_notes.is_empty());
                for w in u.withdrawn_all() {
                    self.routes.remove(&RouteKey::of(&w.nlri));
                }
                if let Some(r) = &u.mp_reach {
                    for n in &r.nlri {
                        self.routes.insert(
                            RouteKey::of(&n.nlri),
                            (n.nlri.clone(), u.attributes.clone(), r.next_hop.clone()),
                        );
                    }
                }
            }
        }
        Ok(not_sent)
    }
}

/// The routes a peer of `max` must hold after `latest`, and checks `view`
/// holds exactly them with their attributes.
fn check_view(
    view: &PeerView,
    latest: &HashMap<RouteKey, (Nlri, usize)>,
    sets: &[PathAttributes],
    max: usize,
) -> Result<(), TestCaseError> {
    let mut expected = 0;
    for (key, (nlri, s)) in latest {
        let attrs = &sets[*s];
        if fits_alone(nlri, attrs, max) {
            expected += 1;
            let Some((got, got_attrs, nh)) = view.routes.get(key) else {
                return Err(TestCaseError::fail(format!("{nlri} missing at {max}")));
            };
            prop_assert_eq!(got, nlri);
            prop_assert_eq!(got_attrs, &reflected(attrs));
            prop_assert_eq!(nh, &next_hop(nlri.family()));
        } else {
            prop_assert!(!view.routes.contains_key(key), "{} held at {}", nlri, max);
        }
    }
    prop_assert_eq!(view.routes.len(), expected);
    Ok(())
}

fn sorted(v: Vec<Nlri>) -> Vec<String> {
    let mut s: Vec<String> = v.into_iter().map(|n| n.to_string()).collect();
    s.sort();
    s.dedup();
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_update_fits_the_peer_and_decodes_to_what_it_should_hold(
        sets in vec(attr_set(), 1..5),
        raw in vec((route(), 0usize..5), 1..60),
        again in vec((0usize..60, 0usize..5), 0..20),
    ) {
        // Unique routes (by key), each with one of the attribute sets.
        let mut seen = std::collections::HashSet::new();
        let routes: Vec<(Nlri, usize)> = raw
            .into_iter()
            .filter(|(n, _)| seen.insert(RouteKey::of(n)))
            .map(|(n, s)| (n, s % sets.len()))
            .collect();

        let mut rib = Rib::new(SpeakerConfig {
            local_as: 64512,
            router_id: CLUSTER,
            cluster_id: Some(CLUSTER),
        });
        up(&mut rib, SOURCE, true);
        // Peers up before the routes get them as they come.
        up(&mut rib, 2, false);
        up(&mut rib, 3, true);
        let mut views = [(2, 4096, PeerView::default()), (3, 65535, PeerView::default())];
        let mut latest: HashMap<RouteKey, (Nlri, usize)> = HashMap::new();

        // Phase 1: every route; phase 2: some again with another set.
        let phase2: Vec<(Nlri, usize)> = again
            .into_iter()
            .filter_map(|(i, s)| routes.get(i).map(|(n, _)| (n.clone(), s % sets.len())))
            .collect();
        for batch in [routes.clone(), phase2] {
            for (u, s) in announcements(&batch, &sets) {
                let nlri: Vec<Nlri> = u.announced().map(|e| e.nlri.clone()).collect();
                // The routes whose path this UPDATE changes (the same
                // attributes again change nothing and send nothing).
                let changed: Vec<Nlri> = nlri
                    .iter()
                    .map(masked)
                    .filter(|n| {
                        latest
                            .get(&RouteKey::of(n))
                            .is_none_or(|(old, prev)| *old != *n || sets[*prev] != sets[s])
                    })
                    .collect();
                let out = rib.receive(SOURCE, &u);
                for n in &nlri {
                    latest.insert(RouteKey::of(n), (masked(n), s));
                }
                for (peer, max, view) in views.iter_mut() {
                    let not_sent = view.apply(&out, *peer, *max)?;
                    // Exactly the changed routes that cannot fit.
                    let want: Vec<Nlri> = changed
                        .iter()
                        .filter(|n| !fits_alone(n, &sets[s], *max))
                        .cloned()
                        .collect();
                    prop_assert_eq!(sorted(not_sent), sorted(want));
                }
            }
        }
        for (_, max, view) in &views {
            check_view(view, &latest, &sets, *max)?;
        }

        // Peers coming up now get the whole table at once.
        for (peer, max) in [(4, 4096usize), (5, 65535)] {
            let out = up(&mut rib, peer, max > 4096);
            let mut view = PeerView::default();
            let not_sent = view.apply(&out, peer, max)?;
            check_view(&view, &latest, &sets, max)?;
            let want: Vec<Nlri> = latest
                .values()
                .filter(|(n, s)| !fits_alone(n, &sets[*s], max))
                .map(|(n, _)| n.clone())
                .collect();
            prop_assert_eq!(sorted(not_sent), sorted(want));
        }

        // Everything withdrawn: the peers are left with nothing.
        let keys: Vec<Nlri> = latest.values().map(|(n, _)| n.clone()).collect();
        for family in [Family::VPNV4, Family::VPNV6, Family::EVPN] {
            let w: Vec<NlriEntry> = keys
                .iter()
                .filter(|n| n.family() == family)
                .cloned()
                .map(NlriEntry::new)
                .collect();
            if w.is_empty() {
                continue;
            }
            let out = rib.receive(SOURCE, &Update {
                mp_unreach: Some(ferry_wire::MpUnreachNlri {
                    family,
                    withdrawn: w,
                    undecoded: Vec::new(),
                }),
                ..Default::default()
            });
            for (peer, max, view) in views.iter_mut() {
                view.apply(&out, *peer, *max)?;
            }
        }
        for (_, _, view) in &views {
            prop_assert!(view.routes.is_empty());
        }
    }
}
