//! Output flow control in the RIB: a throttled peer's backlog of route
//! keys, drained later, leaves it with exactly what a peer that read
//! everything holds; whole tables go out in parts and ROUTE-REFRESH
//! requests coalesce.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use bytes::Bytes;
use ferry_rib::peer::{PeerId, Role};
use ferry_rib::{ibgp_peer, route_key, Outcome, Rib, RouteKey, SpeakerConfig};
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

fn info(last: u8) -> ferry_rib::peer::PeerInfo {
    let addr = Ipv4Addr::new(10, 10, 0, last);
    ibgp_peer(
        Role::Client,
        64512,
        addr,
        IpAddr::V4(addr),
        [Family::VPNV4, Family::EVPN]
            .into_iter()
            .collect::<FamilySet>(),
    )
}

fn vpn(i: u32) -> Nlri {
    Nlri::Vpn(VpnPrefix {
        labels: LabelStack::single(Label::mpls(100 + i % 7)),
        rd: "64512:10".parse().unwrap(),
        prefix: format!("10.{}.{}.0/24", i / 256, i % 256).parse().unwrap(),
    })
}

fn announce(routes: impl Iterator<Item = u32>, local_pref: u32) -> Update {
    Update {
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::empty()),
            local_pref: Some(local_pref),
            ..Default::default()
        },
        mp_reach: Some(MpReachNlri {
            family: Family::VPNV4,
            next_hop: NextHop::Ipv4(Ipv4Addr::new(10, 10, 0, 1)),
            nlri: routes.map(|i| NlriEntry::new(vpn(i))).collect(),
            undecoded: Vec::new(),
        }),
        ..Default::default()
    }
}

fn withdraw(routes: impl Iterator<Item = u32>) -> Update {
    Update {
        mp_unreach: Some(MpUnreachNlri {
            family: Family::VPNV4,
            withdrawn: routes.map(|i| NlriEntry::new(vpn(i))).collect(),
            undecoded: Vec::new(),
        }),
        ..Default::default()
    }
}

/// What a receiving peer holds: route → (NLRI as announced, LOCAL_PREF),
/// and the End-of-RIB markers it saw.
#[derive(Default, Debug, PartialEq)]
struct Receiver {
    routes: HashMap<RouteKey, (Nlri, Option<u32>)>,
    end_of_rib: Vec<Family>,
    announcements: usize,
}

impl Receiver {
    fn apply(&mut self, messages: &[Bytes]) {
        for m in messages {
            let Message::Update(u) = Message::decode(m, &DecodeContext::default()).unwrap() else {
                panic!("not an UPDATE")
            };
            assert!(u.errors.is_empty(), "{:?}", u.errors);
            if let Some(f) = u.end_of_rib_family() {
                self.end_of_rib.push(f);
                continue;
            }
            for w in u.withdrawn_all() {
                self.routes.remove(&route_key::split(&w.nlri).0);
            }
            for a in u.announced() {
                self.announcements += 1;
                self.routes.insert(
                    route_key::split(&a.nlri).0,
                    (a.nlri.clone(), u.attributes.local_pref),
                );
            }
        }
    }

    fn apply_outcome(&mut self, out: &Outcome, peer: PeerId) {
        for e in out.exports.iter().filter(|e| e.peers.contains(&peer)) {
            self.apply(&e.messages);
        }
    }
}

/// Both receivers hold the same routes with the same attributes (the
/// first differences shown, not the whole tables).
fn same_routes(a: &Receiver, b: &Receiver) {
    let differ: Vec<_> = a
        .routes
        .iter()
        .filter(|(k, v)| b.routes.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone(), b.routes.get(k).cloned()))
        .take(5)
        .collect();
    assert!(differ.is_empty(), "differences: {differ:?}");
    assert_eq!(a.routes.len(), b.routes.len());
}

/// Drains `peer`'s backlog `budget` octets at a time into `r`; returns the
/// number of steps.
fn drain_all(rib: &mut Rib, peer: PeerId, budget: usize, r: &mut Receiver) -> usize {
    let mut steps = 0;
    loop {
        let d = rib.drain(peer, budget);
        steps += 1;
        r.apply(&d.messages);
        if d.done {
            return steps;
        }
        assert!(steps < 100_000, "the backlog never empties");
    }
}

/// Peer 2 reads everything; peer 3 is throttled through 20 rounds of
/// churn (announcements, new attributes, withdrawals) and then drained a
/// few kilobytes at a time: it ends with exactly peer 2's routes, and its
/// backlog never held more than one key per route.
#[test]
fn a_drained_backlog_gives_the_same_routes_as_reading_everything() {
    let mut rib = rib();
    let mut fast = Receiver::default();
    let mut slow = Receiver::default();
    rib.peer_up(1, info(1));
    let out = rib.peer_up(2, info(2));
    fast.apply_outcome(&out, 2);
    let out = rib.peer_up(3, info(3));
    slow.apply_outcome(&out, 3);
    assert_eq!(slow.end_of_rib.len(), 2);

    let routes = 3000u32;
    for round in 0..20u32 {
        let updates = [
            announce(0..routes, 100 + round),
            // A third of the routes go away, another third come back.
            withdraw((0..routes).filter(|i| (i + round) % 3 == 0)),
            announce((0..routes).filter(|i| (i + round) % 3 == 1), 200 + round),
        ];
        for u in &updates {
            let out = rib.receive(1, u);
            fast.apply_outcome(&out, 2);
            // Throttled: nothing queued, the keys remembered.
            rib.defer(3, out.changes.iter().map(|c| &c.key));
            let pending = rib.backlog(3).map_or(0, |b| b.routes());
            assert!(
                pending <= routes as usize,
                "{pending} keys for {routes} routes"
            );
        }
    }
    let out = rib.receive(1, &withdraw(0..200));
    fast.apply_outcome(&out, 2);
    rib.defer(3, out.changes.iter().map(|c| &c.key));

    let steps = drain_all(&mut rib, 3, 8 * 1024, &mut slow);
    assert!(steps > 3, "drained in parts, not at once ({steps} steps)");
    assert!(!rib.has_backlog(3));
    assert!(!fast.routes.is_empty());
    same_routes(&slow, &fast);
    // What the RIB says it advertises is what the peer holds.
    assert_eq!(rib.advertised_to(3).len(), slow.routes.len());
}

/// A new peer's initial table goes out in parts of about the budget, in
/// key order, each route once, End-of-RIB of each family after its routes.
#[test]
fn the_initial_table_is_sent_a_budget_at_a_time() {
    let mut rib = rib();
    rib.peer_up(1, info(1));
    rib.receive(1, &announce(0..5000, 100));
    rib.peer_up_pending(2, info(2));
    let mut r = Receiver::default();
    let budget = 16 * 1024;
    let mut steps = 0;
    loop {
        let d = rib.drain(2, budget);
        steps += 1;
        // One step may overshoot: at most a step's worth past the budget.
        assert!(d.octets() <= 4 * budget, "{} octets", d.octets());
        r.apply(&d.messages);
        if d.done {
            break;
        }
        assert!(r.end_of_rib.is_empty() || r.end_of_rib == [Family::VPNV4]);
    }
    assert!(steps >= 5, "{steps} steps");
    assert_eq!(r.routes.len(), 5000);
    assert_eq!(r.announcements, 5000, "each route once");
    let mut eor = r.end_of_rib.clone();
    eor.sort_by_key(|f| (f.afi, f.safi));
    assert_eq!(eor.len(), 2);
}

/// Routes that change while a table is being sent: the peer ends with
/// the current state (the changes deferred as a throttled peer's are).
#[test]
fn changes_during_a_table_dump_end_in_the_current_state() {
    let mut rib = rib();
    rib.peer_up(1, info(1));
    rib.receive(1, &announce(0..4000, 100));
    rib.peer_up_pending(2, info(2));
    let mut r = Receiver::default();
    let mut round = 0;
    loop {
        let d = rib.drain(2, 4096);
        r.apply(&d.messages);
        if d.done {
            break;
        }
        round += 1;
        let u = if round % 2 == 0 {
            withdraw((0..4000).filter(|i| i % 50 == round % 50))
        } else {
            announce((0..4000).filter(|i| i % 30 == round % 30), 300 + round)
        };
        let out = rib.receive(1, &u);
        rib.defer(2, out.changes.iter().map(|c| &c.key));
    }
    let want: HashMap<RouteKey, Option<u32>> = rib
        .advertised_to(2)
        .into_iter()
        .map(|(k, p)| (k.clone(), p.attrs.path.local_pref))
        .collect();
    let got: HashMap<RouteKey, Option<u32>> = r
        .routes
        .iter()
        .map(|(k, (_, lp))| (k.clone(), *lp))
        .collect();
    assert_eq!(got, want);
}

/// Forty ROUTE-REFRESH requests for one family while the table is still
/// pending are one table: each route sent once, one End-of-RIB.
#[test]
fn a_refresh_storm_is_coalesced_into_one_table() {
    let mut rib = rib();
    rib.peer_up(1, info(1));
    rib.receive(1, &announce(0..2000, 100));
    let mut r = Receiver::default();
    let out = rib.peer_up(2, info(2));
    r.apply_outcome(&out, 2);
    let mut r = Receiver::default();
    let coalesced: Vec<bool> = (0..40)
        .map(|_| rib.request_refresh(2, Family::VPNV4))
        .collect();
    assert!(!coalesced[0]);
    assert!(coalesced[1..].iter().all(|c| *c));
    assert_eq!(rib.peer(2).unwrap().counters.refresh_coalesced, 39);
    assert_eq!(rib.backlog(2).unwrap().tables(), 1);
    drain_all(&mut rib, 2, 8 * 1024, &mut r);
    assert_eq!(r.announcements, 2000);
    assert_eq!(r.end_of_rib, vec![Family::VPNV4]);
    // A family the peer does not carry is not a request.
    assert!(!rib.request_refresh(2, Family::VPNV6));
    assert!(!rib.has_backlog(2));
}

/// A request arriving while the table is half sent starts it again: the
/// peer gets every route after its last request.
#[test]
fn a_refresh_during_a_refresh_restarts_the_table() {
    let mut rib = rib();
    rib.peer_up(1, info(1));
    rib.receive(1, &announce(0..3000, 100));
    rib.peer_up(2, info(2));
    rib.request_refresh(2, Family::VPNV4);
    let mut r = Receiver::default();
    let d = rib.drain(2, 4096);
    r.apply(&d.messages);
    assert!(!d.done);
    let first = r.announcements;
    assert!(first > 0 && first < 3000);
    assert!(rib.request_refresh(2, Family::VPNV4));
    let mut again = Receiver::default();
    drain_all(&mut rib, 2, 4096, &mut again);
    assert_eq!(again.routes.len(), 3000);
    assert_eq!(again.announcements, 3000);
    assert_eq!(again.end_of_rib, vec![Family::VPNV4]);
}

/// A peer that lags on more routes than [`RESYNC_KEYS`] costs a cursor,
/// not a key per route: its backlog keeps only what the pass over the
/// table cannot cover (withdrawn routes, and routes behind the cursor),
/// and it still ends with exactly what a peer that read everything holds.
#[test]
fn a_backlog_past_the_resync_threshold_keeps_a_cursor_not_every_key() {
    use ferry_rib::backlog::RESYNC_KEYS;
    let mut rib = rib();
    let mut fast = Receiver::default();
    let mut slow = Receiver::default();
    rib.peer_up(1, info(1));
    fast.apply_outcome(&rib.peer_up(2, info(2)), 2);
    slow.apply_outcome(&rib.peer_up(3, info(3)), 3);
    // The slow peer read the first routes, then stops.
    let first = rib.receive(1, &announce(0..1000, 100));
    fast.apply_outcome(&first, 2);
    slow.apply_outcome(&first, 3);

    let routes = (RESYNC_KEYS as u32) * 3;
    let mut most = 0;
    for round in 0..6u32 {
        let updates = [
            announce(0..routes, 100 + round),
            withdraw((0..routes).filter(|i| (i + round) % 5 == 0)),
        ];
        for u in &updates {
            let out = rib.receive(1, u);
            fast.apply_outcome(&out, 2);
            rib.defer(3, out.changes.iter().map(|c| &c.key));
            most = most.max(rib.backlog(3).map_or(0, |b| b.routes()));
        }
        if round == 2 {
            // Part of the pass is made while the churn goes on.
            let d = rib.drain(3, 64 * 1024);
            slow.apply(&d.messages);
        }
    }
    // Withdrawn routes are kept as keys; announced ones are left to the
    // pass over the table.
    assert!(
        most <= RESYNC_KEYS + routes as usize / 5 + 1,
        "{most} keys pending for {routes} routes"
    );
    drain_all(&mut rib, 3, 16 * 1024, &mut slow);
    assert!(!rib.has_backlog(3));
    same_routes(&slow, &fast);
    assert_eq!(rib.advertised_to(3).len(), slow.routes.len());
}

/// Drains at the daemon's budget (4 MiB: tens of thousands of routes a
/// step, encoded a part at a time): the throttled peer ends with exactly
/// what a peer that read everything holds, and a ROUTE-REFRESH answer
/// gives every route once.
#[test]
fn drains_at_a_large_budget_give_every_route_once() {
    let mut rib = rib();
    let mut fast = Receiver::default();
    let mut slow = Receiver::default();
    rib.peer_up(1, info(1));
    let out = rib.peer_up(2, info(2));
    fast.apply_outcome(&out, 2);
    let out = rib.peer_up(3, info(3));
    slow.apply_outcome(&out, 3);
    let routes = 20_000u32;
    let updates = [
        announce(0..routes, 100),
        withdraw((0..routes).filter(|i| i % 5 == 0)),
        announce((0..routes).filter(|i| i % 5 == 1), 300),
    ];
    for u in &updates {
        let out = rib.receive(1, u);
        fast.apply_outcome(&out, 2);
        rib.defer(3, out.changes.iter().map(|c| &c.key));
    }
    drain_all(&mut rib, 3, 4 << 20, &mut slow);
    assert_eq!(fast.routes.len(), 16_000);
    same_routes(&slow, &fast);

    let mut again = Receiver::default();
    rib.request_refresh(3, Family::VPNV4);
    drain_all(&mut rib, 3, 4 << 20, &mut again);
    same_routes(&again, &fast);
    assert_eq!(again.announcements, 16_000, "each route once");
    assert_eq!(again.end_of_rib, [Family::VPNV4]);
}
