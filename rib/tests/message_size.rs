//! What the RIB sends fits the receiving peer (RFC 4271 §4.3, RFC 8654),
//! and what it stores is keyed by the route, whatever form the peer wrote
//! it in (host bits, RFC 4271 §4.3; unknown EVPN types, RFC 7606 §5.4).

use std::net::{IpAddr, Ipv4Addr};

use ferry_rib::groups::Export;
use ferry_rib::peer::{PeerId, Role};
use ferry_rib::{ibgp_peer, Outcome, Rib, RouteKey, SpeakerConfig};
use ferry_wire::attribute::{AsPath, Community};
use ferry_wire::nlri::evpn::{Esi, EvpnRoute, InclusiveMulticast, IpPrefixRoute};
use ferry_wire::{
    DecodeContext, EncodeContext, Family, FamilySet, Label, LabelStack, Message, MpReachNlri,
    MpUnreachNlri, NextHop, Nlri, NlriEntry, Origin, PathAttributes, Update, VpnPrefix,
};
use ipnet::{IpNet, Ipv4Net};

const CLUSTER: Ipv4Addr = Ipv4Addr::new(10, 10, 25, 42);

fn rib() -> Rib {
    Rib::new(SpeakerConfig {
        local_as: 64512,
        router_id: CLUSTER,
        cluster_id: Some(CLUSTER),
    })
}

fn up(rib: &mut Rib, id: PeerId, extended_message: bool) -> Outcome {
    let addr = Ipv4Addr::new(10, 10, 0, id as u8);
    let families: FamilySet = [Family::VPNV4, Family::EVPN].into_iter().collect();
    let mut info = ibgp_peer(Role::Client, 64512, addr, IpAddr::V4(addr), families);
    info.encode.extended_message = extended_message;
    rib.peer_up(id, info)
}

fn vpn(prefix: &str) -> Nlri {
    Nlri::Vpn(VpnPrefix {
        labels: LabelStack::single(Label::mpls(100)),
        rd: "64512:10".parse().unwrap(),
        prefix: prefix.parse().unwrap(),
    })
}

fn attrs(communities: usize) -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::empty()),
        local_pref: Some(100),
        communities: (0..communities as u32).map(Community).collect(),
        ..Default::default()
    }
}

fn announce(family: Family, nlri: Vec<Nlri>, attributes: PathAttributes) -> Update {
    Update {
        attributes,
        mp_reach: Some(MpReachNlri {
            family,
            next_hop: NextHop::Ipv4(Ipv4Addr::new(10, 10, 0, 1)),
            nlri: nlri.into_iter().map(NlriEntry::new).collect(),
            undecoded: Vec::new(),
        }),
        ..Default::default()
    }
}

fn withdraw(family: Family, nlri: Vec<Nlri>) -> Update {
    Update {
        mp_unreach: Some(MpUnreachNlri {
            family,
            withdrawn: nlri.into_iter().map(NlriEntry::new).collect(),
            undecoded: Vec::new(),
        }),
        ..Default::default()
    }
}

/// The length of `u` as a peer writes it (`None`: past 65535).
fn len_on_wire(u: &Update) -> Option<usize> {
    let ctx = EncodeContext {
        extended_message: true,
        ..Default::default()
    };
    Message::Update(u.clone())
        .to_bytes(&ctx)
        .ok()
        .map(|b| b.len())
}

/// The largest number of communities with which `nlri` still fits in
/// `max` octets as the client sends it.
fn communities_filling(nlri: &Nlri, max: usize) -> usize {
    let fits = |n| {
        len_on_wire(&announce(nlri.family(), vec![nlri.clone()], attrs(n)))
            .is_some_and(|l| l <= max)
    };
    let mut n = (max - 100) / 4;
    assert!(fits(n));
    while fits(n + 1) {
        n += 1;
    }
    n
}

fn exports_to(out: &Outcome, peer: PeerId) -> Vec<&Export> {
    out.exports
        .iter()
        .filter(|e| e.peers.contains(&peer))
        .collect()
}

/// Every message sent to `peer`, each checked against its maximum.
fn sent_to(out: &Outcome, peer: PeerId, max: usize) -> Vec<Update> {
    let ctx = DecodeContext {
        extended_message: max > 4096,
        ..Default::default()
    };
    exports_to(out, peer)
        .into_iter()
        .flat_map(|e| e.messages.iter())
        .map(|m| {
            assert!(m.len() <= max, "{} octets to a peer of {max}", m.len());
            let declared = u16::from_be_bytes([m[16], m[17]]) as usize;
            assert_eq!(declared, m.len(), "the length field is the length");
            match Message::decode(m, &ctx).unwrap() {
                Message::Update(u) => u,
                other => panic!("{other:?}"),
            }
        })
        .collect()
}

fn not_sent_to(out: &Outcome, peer: PeerId) -> Vec<Nlri> {
    exports_to(out, peer)
        .into_iter()
        .flat_map(|e| e.not_sent.iter().cloned())
        .collect()
}

fn announced(u: &[Update]) -> Vec<Nlri> {
    u.iter()
        .flat_map(|u| u.announced().map(|e| e.nlri.clone()))
        .collect()
}

fn withdrawn(u: &[Update]) -> Vec<Nlri> {
    u.iter()
        .flat_map(|u| u.withdrawn_all().map(|e| e.nlri.clone()))
        .collect()
}

#[test]
fn a_4096_octet_update_reflected_is_not_sent_to_a_client_without_extended_messages() {
    let route = vpn("10.1.0.0/24");
    let n = communities_filling(&route, 4096);
    let big = announce(Family::VPNV4, vec![route.clone()], attrs(n));
    let received = len_on_wire(&big).unwrap();
    assert!((4090..=4096).contains(&received), "{received}");

    let mut rib = rib();
    up(&mut rib, 1, true); // the source
    up(&mut rib, 2, false); // 4096 octets
    up(&mut rib, 3, true); // 65535 octets
    let out = rib.receive(1, &big);
    // Reflection adds ORIGINATOR_ID and CLUSTER_LIST: past 4096.
    assert!(sent_to(&out, 2, 4096).is_empty());
    assert_eq!(not_sent_to(&out, 2), vec![route.clone()]);
    let to_3 = sent_to(&out, 3, 65535);
    assert_eq!(announced(&to_3), vec![route.clone()]);
    assert!(to_3[0].attributes.originator_id.is_some());
    assert!(not_sent_to(&out, 3).is_empty());
    // Not shown as advertised to the peer it was not sent to.
    assert!(rib.advertised_to(2).is_empty());
    assert_eq!(rib.advertised_to(3).len(), 1);

    // A client coming up later: its table leaves the path out and says so.
    let out = up(&mut rib, 4, false);
    let to_4 = sent_to(&out, 4, 4096);
    assert!(announced(&to_4).is_empty());
    assert_eq!(not_sent_to(&out, 4), vec![route.clone()]);
    assert_eq!(to_4.len(), 2, "only the End-of-RIB of each family");
}

#[test]
fn a_path_that_grows_too_large_is_withdrawn_from_the_peer_that_held_it() {
    let route = vpn("10.1.0.0/24");
    let n = communities_filling(&route, 4096);
    let mut rib = rib();
    up(&mut rib, 1, true);
    up(&mut rib, 2, false);
    let out = rib.receive(1, &announce(Family::VPNV4, vec![route.clone()], attrs(3)));
    assert_eq!(announced(&sent_to(&out, 2, 4096)), vec![route.clone()]);

    // The same route again with attributes too large for peer 2.
    let out = rib.receive(1, &announce(Family::VPNV4, vec![route.clone()], attrs(n)));
    let to_2 = sent_to(&out, 2, 4096);
    assert!(announced(&to_2).is_empty());
    let mut withdrawal = route.clone();
    if let Nlri::Vpn(v) = &mut withdrawal {
        v.labels = LabelStack::single(Label::WITHDRAWN);
    }
    assert_eq!(withdrawn(&to_2), vec![withdrawal.clone()]);
    assert_eq!(not_sent_to(&out, 2), vec![route.clone()]);

    // Small again: announced again.
    let out = rib.receive(1, &announce(Family::VPNV4, vec![route.clone()], attrs(3)));
    assert_eq!(announced(&sent_to(&out, 2, 4096)), vec![route.clone()]);
    assert!(not_sent_to(&out, 2).is_empty());

    // Withdrawn while too large: the peer, holding nothing, may get a
    // withdrawal; never an announcement.
    rib.receive(1, &announce(Family::VPNV4, vec![route.clone()], attrs(n)));
    let out = rib.receive(1, &withdraw(Family::VPNV4, vec![route.clone()]));
    assert!(announced(&sent_to(&out, 2, 4096)).is_empty());
}

#[test]
fn a_path_at_the_extended_limit_is_never_sent_with_a_wrapped_length() {
    let route = vpn("10.1.0.0/24");
    let n = communities_filling(&route, 65535);
    let big = announce(Family::VPNV4, vec![route.clone()], attrs(n));
    assert!(len_on_wire(&big).unwrap() > 65500);
    let mut rib = rib();
    up(&mut rib, 1, true);
    up(&mut rib, 2, true);
    up(&mut rib, 3, false);
    let out = rib.receive(1, &big);
    assert!(sent_to(&out, 2, 65535).is_empty());
    assert!(sent_to(&out, 3, 4096).is_empty());
    assert_eq!(not_sent_to(&out, 2), vec![route.clone()]);
    assert_eq!(not_sent_to(&out, 3), vec![route]);
}

#[test]
fn many_routes_sharing_large_attributes_are_split_over_messages_that_fit() {
    let routes: Vec<Nlri> = (0..400u32)
        .map(|i| vpn(&format!("10.{}.{}.0/24", i / 256, i % 256)))
        .collect();
    // Attributes of about 3000 octets leave room for a few dozen NLRI.
    let mut rib = rib();
    up(&mut rib, 1, true);
    up(&mut rib, 2, false);
    let out = rib.receive(1, &announce(Family::VPNV4, routes.clone(), attrs(740)));
    let to_2 = sent_to(&out, 2, 4096);
    assert!(to_2.len() > 5, "{}", to_2.len());
    assert_eq!(announced(&to_2), routes);
    // And their withdrawals.
    let out = rib.receive(1, &withdraw(Family::VPNV4, routes.clone()));
    assert_eq!(withdrawn(&sent_to(&out, 2, 4096)).len(), routes.len());
}

fn type5(prefix: IpNet, vni: u32) -> Nlri {
    Nlri::Evpn(EvpnRoute::IpPrefix(IpPrefixRoute {
        rd: "10.10.0.1:1".parse().unwrap(),
        esi: Esi::ZERO,
        ethernet_tag: 0,
        prefix,
        gateway: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        label: Label::vni(vni),
    }))
}

#[test]
fn a_prefix_with_host_bits_and_the_prefix_from_one_peer_are_one_route() {
    let with_host_bits = type5(
        IpNet::V4(Ipv4Net::new(Ipv4Addr::new(9, 9, 2, 77), 24).unwrap()),
        10002,
    );
    let clean = type5("9.9.2.0/24".parse().unwrap(), 10002);
    assert_eq!(RouteKey::of(&with_host_bits), RouteKey::of(&clean));

    let mut rib = rib();
    up(&mut rib, 1, false);
    up(&mut rib, 2, false);
    let out = rib.receive(1, &announce(Family::EVPN, vec![clean.clone()], attrs(1)));
    assert_eq!(announced(&sent_to(&out, 2, 4096)), vec![clean.clone()]);
    let out = rib.receive(
        1,
        &announce(Family::EVPN, vec![with_host_bits.clone()], attrs(2)),
    );
    // The same route again (an implicit withdrawal of the first path),
    // reflected as 9.9.2.0/24.
    assert_eq!(rib.table_counts(Family::EVPN).paths, 1);
    assert_eq!(rib.counts(1, Family::EVPN).received, 1);
    assert_eq!(announced(&sent_to(&out, 2, 4096)), vec![clean.clone()]);
    assert_eq!(out.changes.len(), 1);
    assert_eq!(out.changes[0].key, RouteKey::of(&clean));

    // Withdrawing 9.9.2.77/24 withdraws 9.9.2.0/24.
    let out = rib.receive(1, &withdraw(Family::EVPN, vec![with_host_bits]));
    assert_eq!(rib.table_counts(Family::EVPN).paths, 0);
    assert_eq!(withdrawn(&sent_to(&out, 2, 4096)).len(), 1);
    assert!(out.changes[0].new.is_none());
}

#[test]
fn unknown_evpn_types_are_never_stored_or_reflected() {
    let unknown = Nlri::Evpn(EvpnRoute::Unknown {
        route_type: 77,
        value: vec![1, 2, 3, 4],
    });
    let t3 = Nlri::Evpn(EvpnRoute::InclusiveMulticast(InclusiveMulticast {
        rd: "10.10.0.1:1".parse().unwrap(),
        ethernet_tag: 0,
        originator: IpAddr::V4(Ipv4Addr::new(10, 10, 0, 1)),
    }));
    let t5 = type5("9.9.2.0/24".parse().unwrap(), 10002);
    let mut rib = rib();
    up(&mut rib, 1, false);
    up(&mut rib, 2, false);
    let out = rib.receive(
        1,
        &announce(
            Family::EVPN,
            vec![unknown.clone(), t5.clone(), t3.clone()],
            attrs(1),
        ),
    );
    assert_eq!(announced(&sent_to(&out, 2, 4096)), vec![t5, t3]);
    assert_eq!(rib.table_counts(Family::EVPN).paths, 2);
    assert_eq!(rib.counts(1, Family::EVPN).received, 2);
    let out = rib.receive(1, &withdraw(Family::EVPN, vec![unknown]));
    assert!(out.exports.is_empty());
    assert_eq!(rib.table_counts(Family::EVPN).paths, 2);
}
