//! The RIB as a route reflector: what each peer is sent, decoded from the
//! octets the RIB produces.

use std::net::{IpAddr, Ipv4Addr};

use ferry_rib::groups::Export;
use ferry_rib::peer::{PeerId, Role};
use ferry_rib::{ibgp_peer, Outcome, Rib, SpeakerConfig};
use ferry_wire::attribute::AsPath;
use ferry_wire::{
    DecodeContext, Family, FamilySet, Label, LabelStack, Message, MpReachNlri, MpUnreachNlri,
    NextHop, Nlri, NlriEntry, Origin, PathAttributes, Update, VpnPrefix,
};

const CLUSTER: Ipv4Addr = Ipv4Addr::new(10, 10, 25, 42);

fn rib() -> Rib {
    Rib::new(SpeakerConfig {
        local_as: 64512,
        router_id: CLUSTER,
        cluster_id: Some(CLUSTER),
    })
}

fn vpn_families() -> FamilySet {
    [Family::VPNV4, Family::VPNV6, Family::EVPN]
        .into_iter()
        .collect()
}

fn up(rib: &mut Rib, id: PeerId, role: Role, last: u8) -> Outcome {
    let addr = Ipv4Addr::new(10, 10, 0, last);
    rib.peer_up(
        id,
        ibgp_peer(role, 64512, addr, IpAddr::V4(addr), vpn_families()),
    )
}

fn vpn(prefix: &str, label: u32) -> Nlri {
    Nlri::Vpn(VpnPrefix {
        labels: LabelStack::single(Label::mpls(label)),
        rd: "64512:10".parse().unwrap(),
        prefix: prefix.parse().unwrap(),
    })
}

fn announce(nlri: Vec<Nlri>, next_hop: Ipv4Addr, local_pref: u32) -> Update {
    Update {
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::empty()),
            local_pref: Some(local_pref),
            extended_communities: vec!["target:64512:10".parse().unwrap()],
            ..Default::default()
        },
        mp_reach: Some(MpReachNlri {
            family: Family::VPNV4,
            next_hop: NextHop::Ipv4(next_hop),
            nlri: nlri.into_iter().map(NlriEntry::new).collect(),
            undecoded: Vec::new(),
        }),
        ..Default::default()
    }
}

fn withdraw(nlri: Vec<Nlri>) -> Update {
    Update {
        mp_unreach: Some(MpUnreachNlri {
            family: Family::VPNV4,
            withdrawn: nlri.into_iter().map(NlriEntry::new).collect(),
            undecoded: Vec::new(),
        }),
        ..Default::default()
    }
}

/// The UPDATEs each peer received, decoded.
fn sent_to(out: &Outcome, peer: PeerId) -> Vec<Update> {
    out.exports
        .iter()
        .filter(|e: &&Export| e.peers.contains(&peer))
        .flat_map(|e| e.messages.iter())
        .map(
            |m| match Message::decode(m, &DecodeContext::default()).unwrap() {
                Message::Update(u) => {
                    assert!(u.errors.is_empty(), "{:?}", u.errors);
                    u
                }
                other => panic!("not an UPDATE: {other:?}"),
            },
        )
        .collect()
}

fn announced(updates: &[Update]) -> Vec<Nlri> {
    updates
        .iter()
        .flat_map(|u| u.announced().map(|e| e.nlri.clone()))
        .collect()
}

fn withdrawn(updates: &[Update]) -> Vec<Nlri> {
    updates
        .iter()
        .flat_map(|u| u.withdrawn_all().map(|e| e.nlri.clone()))
        .collect()
}

#[test]
fn client_route_reaches_clients_and_non_clients_with_reflection_attributes() {
    let mut rib = rib();
    up(&mut rib, 1, Role::Client, 1);
    up(&mut rib, 2, Role::Client, 2);
    up(&mut rib, 3, Role::NonClient, 3);
    let out = rib.receive(
        1,
        &announce(
            vec![vpn("10.1.0.0/24", 100)],
            Ipv4Addr::new(10, 10, 0, 1),
            100,
        ),
    );
    assert!(sent_to(&out, 1).is_empty(), "never back to the source");
    for peer in [2, 3] {
        let u = sent_to(&out, peer);
        assert_eq!(announced(&u), vec![vpn("10.1.0.0/24", 100)]);
        let a = &u[0].attributes;
        assert_eq!(a.originator_id, Some(Ipv4Addr::new(10, 10, 0, 1)));
        assert_eq!(a.cluster_list, vec![CLUSTER]);
        assert_eq!(a.local_pref, Some(100));
        assert_eq!(a.extended_communities[0].to_string(), "target:64512:10");
        assert_eq!(
            u[0].mp_reach.as_ref().unwrap().next_hop,
            NextHop::Ipv4(Ipv4Addr::new(10, 10, 0, 1)),
            "a reflector leaves the next hop alone"
        );
    }
    assert_eq!(rib.counts(1, Family::VPNV4).received, 1);
    assert_eq!(rib.counts(1, Family::VPNV4).active, 1);
    assert_eq!(rib.table_counts(Family::VPNV4).paths, 1);
}

#[test]
fn non_client_route_reaches_clients_only() {
    let mut rib = rib();
    up(&mut rib, 1, Role::Client, 1);
    up(&mut rib, 3, Role::NonClient, 3);
    up(&mut rib, 4, Role::NonClient, 4);
    let out = rib.receive(
        3,
        &announce(
            vec![vpn("10.2.0.0/24", 100)],
            Ipv4Addr::new(10, 20, 0, 1),
            100,
        ),
    );
    assert_eq!(announced(&sent_to(&out, 1)), vec![vpn("10.2.0.0/24", 100)]);
    assert!(sent_to(&out, 4).is_empty());
}

#[test]
fn routes_carrying_our_cluster_id_are_held_but_never_used() {
    let mut rib = rib();
    up(&mut rib, 1, Role::Client, 1);
    up(&mut rib, 3, Role::NonClient, 3);
    let mut u = announce(
        vec![vpn("10.3.0.0/24", 100)],
        Ipv4Addr::new(10, 20, 0, 1),
        100,
    );
    u.attributes.cluster_list = vec![Ipv4Addr::new(10, 20, 63, 45), CLUSTER];
    let out = rib.receive(3, &u);
    assert!(out.exports.is_empty());
    let c = rib.counts(3, Family::VPNV4);
    assert_eq!((c.received, c.accepted, c.active), (1, 0, 0));
}

#[test]
fn best_path_follows_local_pref_then_cluster_list() {
    let mut rib = rib();
    up(&mut rib, 1, Role::Client, 1);
    up(&mut rib, 2, Role::Client, 2);
    up(&mut rib, 5, Role::Client, 5);
    let p = vpn("10.4.0.0/24", 100);
    rib.receive(
        1,
        &announce(vec![p.clone()], Ipv4Addr::new(10, 10, 0, 1), 100),
    );
    let out = rib.receive(
        2,
        &announce(vec![p.clone()], Ipv4Addr::new(10, 10, 0, 2), 200),
    );
    // Peer 5 gets the better path; peer 2, whose path won, gets a withdraw
    // of the path it had from peer 1.
    let to5 = sent_to(&out, 5);
    assert_eq!(
        to5[0].mp_reach.as_ref().unwrap().next_hop,
        NextHop::Ipv4(Ipv4Addr::new(10, 10, 0, 2))
    );
    assert_eq!(withdrawn(&sent_to(&out, 2)).len(), 1);
    // Peer 1 now hears of peer 2's path.
    assert_eq!(announced(&sent_to(&out, 1)).len(), 1);
    assert_eq!(rib.counts(2, Family::VPNV4).active, 1);
    assert_eq!(rib.counts(1, Family::VPNV4).active, 0);
}

#[test]
fn withdrawal_and_peer_down_remove_routes_everywhere() {
    let mut rib = rib();
    up(&mut rib, 1, Role::Client, 1);
    up(&mut rib, 2, Role::Client, 2);
    rib.receive(
        1,
        &announce(
            vec![vpn("10.5.0.0/24", 100), vpn("10.5.1.0/24", 100)],
            Ipv4Addr::new(10, 10, 0, 1),
            100,
        ),
    );
    let out = rib.receive(1, &withdraw(vec![vpn("10.5.0.0/24", 0)]));
    assert_eq!(withdrawn(&sent_to(&out, 2)).len(), 1);
    drop(out);
    let out = rib.peer_down(1);
    assert_eq!(withdrawn(&sent_to(&out, 2)).len(), 1);
    assert_eq!(rib.table_counts(Family::VPNV4).paths, 0);
    drop(out);
    assert_eq!(
        rib.attribute_sets(),
        0,
        "attribute sets freed with their routes"
    );
}

#[test]
fn a_new_peer_gets_the_table_then_end_of_rib_per_family() {
    let mut rib = rib();
    up(&mut rib, 1, Role::Client, 1);
    let nlri: Vec<Nlri> = (0..1000)
        .map(|i| vpn(&format!("10.{}.{}.0/24", 100 + i / 256, i % 256), 100))
        .collect();
    rib.receive(1, &announce(nlri.clone(), Ipv4Addr::new(10, 10, 0, 1), 100));
    let out = up(&mut rib, 2, Role::Client, 2);
    let u = sent_to(&out, 2);
    let mut got = announced(&u);
    got.sort_by_key(|n| n.to_string());
    let mut want = nlri;
    want.sort_by_key(|n| n.to_string());
    assert_eq!(got, want);
    // 1000 VPNv4 routes with one attribute set pack into few messages.
    let with_routes = u.iter().filter(|u| u.announced().next().is_some()).count();
    assert!(with_routes <= 8, "{with_routes} messages");
    let eors: Vec<Family> = u.iter().filter_map(|u| u.end_of_rib_family()).collect();
    assert_eq!(eors.len(), 3);
    // A route refresh sends it all again.
    let again = rib.route_refresh(2, Family::VPNV4);
    assert_eq!(announced(&sent_to(&again, 2)).len(), 1000);
}

#[test]
fn treat_as_withdraw_removes_what_the_update_announces() {
    let mut rib = rib();
    up(&mut rib, 1, Role::Client, 1);
    up(&mut rib, 2, Role::Client, 2);
    rib.receive(
        1,
        &announce(
            vec![vpn("10.6.0.0/24", 100)],
            Ipv4Addr::new(10, 10, 0, 1),
            100,
        ),
    );
    let mut bad = announce(
        vec![vpn("10.6.0.0/24", 100)],
        Ipv4Addr::new(10, 10, 0, 1),
        100,
    );
    bad.errors.push(ferry_wire::AttributeError {
        type_code: 1,
        action: ferry_wire::AttrAction::TreatAsWithdraw,
        reason: "undefined ORIGIN value 7".into(),
        rfc: "RFC 7606 §7.1",
    });
    let out = rib.receive(1, &bad);
    assert_eq!(withdrawn(&sent_to(&out, 2)).len(), 1);
    assert_eq!(rib.table_counts(Family::VPNV4).paths, 0);
}

#[test]
fn families_not_negotiated_are_ignored() {
    let mut rib = rib();
    let addr = Ipv4Addr::new(10, 10, 0, 7);
    rib.peer_up(
        7,
        ibgp_peer(
            Role::Client,
            64512,
            addr,
            IpAddr::V4(addr),
            [Family::EVPN].into_iter().collect(),
        ),
    );
    let out = rib.receive(7, &announce(vec![vpn("10.7.0.0/24", 100)], addr, 100));
    assert!(out.changes.is_empty());
    assert_eq!(rib.table_counts(Family::VPNV4).paths, 0);
}

#[test]
fn enhanced_route_refresh_wraps_the_table_in_borr_and_eorr() {
    let mut rib = rib();
    up(&mut rib, 1, Role::Client, 1);
    let addr = Ipv4Addr::new(10, 10, 0, 2);
    let mut info = ibgp_peer(Role::Client, 64512, addr, IpAddr::V4(addr), vpn_families());
    info.enhanced_refresh = true;
    rib.peer_up(2, info);
    rib.receive(
        1,
        &announce(
            vec![vpn("10.8.0.0/24", 100)],
            Ipv4Addr::new(10, 10, 0, 1),
            100,
        ),
    );
    let out = rib.route_refresh(2, Family::VPNV4);
    let msgs: Vec<Message> = out.exports[0]
        .messages
        .iter()
        .map(|m| Message::decode(m, &DecodeContext::default()).unwrap())
        .collect();
    use ferry_wire::message::RefreshSubtype;
    assert!(
        matches!(msgs.first(), Some(Message::RouteRefresh(r)) if r.subtype == RefreshSubtype::BeginningOfRefresh)
    );
    assert!(
        matches!(msgs.last(), Some(Message::RouteRefresh(r)) if r.subtype == RefreshSubtype::EndOfRefresh)
    );
    assert_eq!(msgs.len(), 3);
}

#[test]
fn stale_paths_not_refreshed_are_withdrawn() {
    let mut rib = rib();
    up(&mut rib, 1, Role::Client, 1);
    up(&mut rib, 2, Role::Client, 2);
    let nh = Ipv4Addr::new(10, 10, 0, 1);
    rib.receive(
        1,
        &announce(
            vec![vpn("10.9.0.0/24", 100), vpn("10.9.1.0/24", 100)],
            nh,
            100,
        ),
    );
    rib.mark_stale(1, Family::VPNV4);
    let again = rib.receive(1, &announce(vec![vpn("10.9.0.0/24", 100)], nh, 100));
    assert!(
        sent_to(&again, 2).is_empty(),
        "an unchanged path is not re-sent"
    );
    let out = rib.purge_stale(1, Family::VPNV4);
    assert_eq!(
        withdrawn(&sent_to(&out, 2)),
        vec![vpn("10.9.1.0/24", 100)]
            .into_iter()
            .map(|n| match n {
                Nlri::Vpn(v) => Nlri::Vpn(VpnPrefix {
                    labels: LabelStack::single(Label::WITHDRAWN),
                    ..v
                }),
                o => o,
            })
            .collect::<Vec<_>>()
    );
    assert_eq!(rib.table_counts(Family::VPNV4).paths, 1);
}

#[test]
fn the_table_gives_memory_back_when_most_routes_go() {
    let mut rib = rib();
    up(&mut rib, 1, Role::Client, 1);
    up(&mut rib, 2, Role::Client, 2);
    let routes = |peer: u8| {
        (0..50_000u32).map(move |i| {
            let [_, _, a, b] = i.to_be_bytes();
            vpn(&format!("10.{peer}.{a}.{b}/32"), 100)
        })
    };
    for chunk in routes(1).collect::<Vec<_>>().chunks(500) {
        rib.receive(
            1,
            &announce(chunk.to_vec(), Ipv4Addr::new(10, 10, 0, 1), 100),
        );
    }
    rib.receive(
        2,
        &announce(
            routes(2).take(1000).collect(),
            Ipv4Addr::new(10, 10, 0, 2),
            100,
        ),
    );
    let full = rib.capacity();
    assert!(full >= 51_000, "{full}");

    // Half withdrawn: the room stays for the routes to come back.
    let half: Vec<Nlri> = routes(1).take(25_000).collect();
    for chunk in half.chunks(500) {
        rib.receive(1, &withdraw(chunk.to_vec()));
    }
    assert_eq!(rib.capacity(), full);

    // The big peer goes: the table shrinks to fit what is left.
    rib.peer_down(1);
    assert_eq!(rib.table_counts(Family::VPNV4).paths, 1000);
    assert!(rib.capacity() < full / 8, "{} of {full}", rib.capacity());
    assert!(rib.capacity() >= 1000);
    // and still finds every route.
    let out = up(&mut rib, 3, Role::Client, 3);
    assert_eq!(announced(&sent_to(&out, 3)).len(), 1000);
}

#[test]
fn advertised_counts_match_what_each_peer_is_sent() {
    let mut rib = rib();
    up(&mut rib, 2, Role::Client, 2);
    up(&mut rib, 3, Role::Client, 3);
    up(&mut rib, 4, Role::NonClient, 4);
    rib.receive(
        2,
        &announce(
            vec![vpn("10.1.0.0/24", 1), vpn("10.1.1.0/24", 1)],
            Ipv4Addr::new(10, 10, 0, 2),
            100,
        ),
    );
    rib.receive(
        4,
        &announce(
            vec![vpn("10.4.0.0/24", 4)],
            Ipv4Addr::new(10, 10, 0, 4),
            100,
        ),
    );
    let counts = rib.advertised_counts();
    let count = |id: PeerId, f: Family| {
        counts
            .iter()
            .find(|(p, fam, _)| *p == id && *fam == f)
            .map(|c| c.2)
    };
    for id in [2, 3, 4] {
        let sent = rib
            .advertised_to(id)
            .iter()
            .filter(|(k, _)| k.family() == Family::VPNV4)
            .count() as u64;
        assert_eq!(count(id, Family::VPNV4), Some(sent), "peer {id}");
        assert_eq!(count(id, Family::EVPN), Some(0), "peer {id}");
    }
    // Client 2 is sent the non-client's route only; client 3 all three;
    // the non-client the clients' two.
    assert_eq!(count(2, Family::VPNV4), Some(1));
    assert_eq!(count(3, Family::VPNV4), Some(3));
    assert_eq!(count(4, Family::VPNV4), Some(2));
    assert_eq!(count(5, Family::VPNV4), None);
}
