//! RIB insert + best path + reflection: 100k EVPN type-5 routes over 100
//! VRFs from one client, reflected to 50 clients (octets for all of them
//! produced), the same for VPNv4, and 1M paths (500k of each); and
//! Adj-RIB-Out packing of a burst of announcements into UPDATEs.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ferry_benches::{reflector, type5, updates, vpnv4, worker_attributes};
use ferry_rib::attributes::RouteAttrs;
use ferry_rib::packing::{pack, Action, EncodedAttrs};
use ferry_rib::PathExtra;
use ferry_wire::{EncodeContext, Family, NextHop, Update};
use std::net::Ipv4Addr;

fn reflect(rib: &mut ferry_rib::Rib, input: &[Update]) -> usize {
    let mut octets = 0usize;
    for u in input {
        for e in rib.receive(1, u).exports {
            octets += e.messages.iter().map(|m| m.len()).sum::<usize>() * e.peers.len();
        }
    }
    octets
}

fn rib(c: &mut Criterion) {
    let mut group = c.benchmark_group("rib-reflect");
    group.sample_size(10);
    // 1M paths: 500k Type-5 and 500k VPNv4 routes.
    let mut mixed = updates(Family::EVPN, 500_000, 100, type5);
    mixed.extend(updates(Family::VPNV4, 500_000, 100, vpnv4));
    let cases = [
        (
            "evpn-type5-100k",
            100_000,
            updates(Family::EVPN, 100_000, 100, type5),
        ),
        (
            "vpnv4-100k",
            100_000,
            updates(Family::VPNV4, 100_000, 100, vpnv4),
        ),
        ("mixed-1m", 1_000_000, mixed),
    ];
    for (name, paths, input) in &cases {
        group.throughput(Throughput::Elements(*paths));
        group.bench_function(*name, |b| {
            b.iter_batched(
                || reflector(50),
                |mut rib| {
                    assert!(reflect(&mut rib, input) > 0);
                    rib
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

/// A burst of 10k announcements over 10 attribute sets packed into UPDATEs
/// (what one update group sends after a full table arrived).
fn adj_rib_out(c: &mut Criterion) {
    let mut group = c.benchmark_group("adj-rib-out-pack");
    let ctx = EncodeContext::default();
    for (name, family, make) in [
        (
            "evpn-type5-10k",
            Family::EVPN,
            type5 as fn(u32, u32) -> ferry_wire::Nlri,
        ),
        ("vpnv4-10k", Family::VPNV4, vpnv4),
    ] {
        let attrs: Vec<EncodedAttrs> = (0..10)
            .map(|vrf| {
                let ra = RouteAttrs {
                    path: worker_attributes(vrf),
                    next_hop: NextHop::Ipv4(Ipv4Addr::new(10, 10, 93, 12)),
                    extra: PathExtra::None,
                };
                EncodedAttrs::new(&ra, family, &ctx)
            })
            .collect();
        let actions: Vec<Action> = (0..10_000u32)
            .map(|i| Action::Announce {
                nlri: make(i, i / 1000),
                attrs: &attrs[(i / 1000) as usize],
                attrs_index: (i / 1000) as usize,
            })
            .collect();
        group.throughput(Throughput::Elements(10_000));
        group.bench_function(name, |b| b.iter(|| pack(&actions, &ctx)));
    }
    group.finish();
}

criterion_group!(benches, rib, adj_rib_out);
criterion_main!(benches);
