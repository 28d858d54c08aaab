//! RIB insert + best path + reflection: 100k EVPN type-5 routes over 100
//! VRFs from one client, reflected to 50 clients (octets for all of them
//! produced), and the same for VPNv4.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ferry_benches::{reflector, type5, updates, vpnv4};
use ferry_wire::Family;

fn rib(c: &mut Criterion) {
    let mut group = c.benchmark_group("rib-reflect");
    group.sample_size(10);
    for (name, family, make) in [
        (
            "evpn-type5-100k",
            Family::EVPN,
            type5 as fn(u32, u32) -> ferry_wire::Nlri,
        ),
        ("vpnv4-100k", Family::VPNV4, vpnv4),
    ] {
        let input = updates(family, 100_000, 100, make);
        group.throughput(Throughput::Elements(100_000));
        group.bench_function(name, |b| {
            b.iter_batched(
                || reflector(50),
                |mut rib| {
                    let mut octets = 0usize;
                    for u in &input {
                        for e in rib.receive(1, u).exports {
                            octets +=
                                e.messages.iter().map(|m| m.len()).sum::<usize>() * e.peers.len();
                        }
                    }
                    assert!(octets > 0);
                    rib
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, rib);
criterion_main!(benches);
