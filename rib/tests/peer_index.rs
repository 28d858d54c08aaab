//! Peer down and stale marking find a peer's paths through the per-peer
//! index of table positions: what they remove must be exactly that peer's
//! paths, however the table moved entries around before.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};

use ferry_rib::peer::{PeerId, Role};
use ferry_rib::{ibgp_peer, route_key, Rib, RouteKey, SpeakerConfig};
use ferry_wire::attribute::AsPath;
use ferry_wire::{
    Family, FamilySet, Label, LabelStack, MpReachNlri, MpUnreachNlri, NextHop, Nlri, NlriEntry,
    Origin, PathAttributes, Update, VpnPrefix,
};

const PEERS: PeerId = 8;
const ROUTES: u32 = 6000;

fn rib() -> Rib {
    let id = Ipv4Addr::new(10, 10, 25, 42);
    Rib::new(SpeakerConfig {
        local_as: 64512,
        router_id: id,
        cluster_id: Some(id),
    })
}

fn up(rib: &mut Rib, id: PeerId) {
    let addr = Ipv4Addr::new(10, 10, 0, id as u8);
    let families: FamilySet = [Family::VPNV4].into_iter().collect();
    rib.peer_up(
        id,
        ibgp_peer(Role::Client, 64512, addr, IpAddr::V4(addr), families),
    );
}

fn vpn(i: u32) -> Nlri {
    Nlri::Vpn(VpnPrefix {
        labels: LabelStack::single(Label::mpls(100 + i % 7)),
        rd: format!("64512:{}", i % 3).parse().unwrap(),
        prefix: format!("10.{}.{}.0/24", i / 256 % 256, i % 256)
            .parse()
            .unwrap(),
    })
}

fn key(i: u32) -> RouteKey {
    route_key::split(&vpn(i)).0
}

fn announce(peer: PeerId, routes: &[u32]) -> Update {
    Update {
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::empty()),
            local_pref: Some(100 + peer),
            ..Default::default()
        },
        mp_reach: Some(MpReachNlri {
            family: Family::VPNV4,
            next_hop: NextHop::Ipv4(Ipv4Addr::new(10, 10, 0, peer as u8)),
            nlri: routes.iter().map(|i| NlriEntry::new(vpn(*i))).collect(),
            undecoded: Vec::new(),
        }),
        ..Default::default()
    }
}

fn withdraw(routes: &[u32]) -> Update {
    Update {
        mp_unreach: Some(MpUnreachNlri {
            family: Family::VPNV4,
            withdrawn: routes.iter().map(|i| NlriEntry::new(vpn(*i))).collect(),
            undecoded: Vec::new(),
        }),
        ..Default::default()
    }
}

/// Which peers hold a path of each key, as the RIB says.
fn holders(rib: &Rib) -> HashMap<RouteKey, BTreeSet<PeerId>> {
    rib.entries()
        .map(|(k, e)| (k.clone(), e.paths.iter().map(|p| p.peer()).collect()))
        .collect()
}

/// A small deterministic generator.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u32) -> u32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1);
        ((self.0 >> 33) % u64::from(n)) as u32
    }
}

/// Peers 1..=PEERS announce overlapping routes, then withdraw some in a
/// scattered order (each withdrawal of a key's last path moves the
/// table's last entry into the hole), re-announce a few: the model knows
/// who holds what.
fn churned() -> (Rib, HashMap<RouteKey, BTreeSet<PeerId>>) {
    let mut rib = rib();
    let mut model: HashMap<RouteKey, BTreeSet<PeerId>> = HashMap::new();
    for p in 1..=PEERS {
        up(&mut rib, p);
    }
    let mut rng = Lcg(7);
    for p in 1..=PEERS {
        let routes: Vec<u32> = (0..ROUTES).filter(|i| i % (p + 1) < 2).collect();
        for chunk in routes.chunks(300) {
            rib.receive(p, &announce(p, chunk));
        }
        for i in routes {
            model.entry(key(i)).or_default().insert(p);
        }
    }
    for _ in 0..6 {
        for p in 1..=PEERS {
            let gone: Vec<u32> = (0..400).map(|_| rng.next(ROUTES)).collect();
            rib.receive(p, &withdraw(&gone));
            for i in &gone {
                if let Some(s) = model.get_mut(&key(*i)) {
                    s.remove(&p);
                    if s.is_empty() {
                        model.remove(&key(*i));
                    }
                }
            }
            let back: Vec<u32> = (0..150).map(|_| rng.next(ROUTES)).collect();
            rib.receive(p, &announce(p, &back));
            for i in back {
                model.entry(key(i)).or_default().insert(p);
            }
        }
    }
    assert_eq!(holders(&rib), model);
    (rib, model)
}

fn without(model: &mut HashMap<RouteKey, BTreeSet<PeerId>>, peer: PeerId) {
    model.retain(|_, s| {
        s.remove(&peer);
        !s.is_empty()
    });
}

#[test]
fn peer_down_of_one_peer_among_many_removes_exactly_its_paths() {
    let (mut rib, mut model) = churned();
    let before = rib.counts(3, Family::VPNV4).received;
    assert!(before > 1000, "peer 3 holds {before} paths");
    rib.peer_down(3);
    without(&mut model, 3);
    assert_eq!(holders(&rib), model);
    assert_eq!(rib.counts(3, Family::VPNV4).received, 0);
    // The others, one after the other, down to an empty table.
    for p in [1, 8, 5, 2, 7, 4, 6] {
        rib.peer_down(p);
        without(&mut model, p);
        assert_eq!(holders(&rib), model, "after peer {p} went down");
    }
    assert_eq!(rib.entries().count(), 0);
    assert_eq!(rib.table_counts(Family::VPNV4).paths, 0);
}

#[test]
fn a_restarting_peer_keeps_what_it_sent_again_and_loses_the_rest() {
    let (mut rib, mut model) = churned();
    let families: FamilySet = [Family::VPNV4].into_iter().collect();
    rib.peer_restarting(4, families);
    // Stale paths stay in use meanwhile.
    assert_eq!(holders(&rib), model);
    // Other peers' churn while 4 is away moves entries around.
    rib.receive(6, &withdraw(&(0..ROUTES).step_by(5).collect::<Vec<_>>()));
    for i in (0..ROUTES).step_by(5) {
        if let Some(s) = model.get_mut(&key(i)) {
            s.remove(&6);
        }
    }
    model.retain(|_, s| !s.is_empty());
    up(&mut rib, 4);
    let again: Vec<u32> = (0..ROUTES).filter(|i| i % 5 == 0 && i % 2 == 0).collect();
    rib.receive(4, &announce(4, &again));
    rib.end_of_rib(4, Family::VPNV4);
    without(&mut model, 4);
    for i in again {
        model.entry(key(i)).or_default().insert(4);
    }
    assert_eq!(holders(&rib), model);
    assert!(rib
        .entries()
        .all(|(_, e)| e.paths.iter().all(|p| !p.is_stale())));
}
