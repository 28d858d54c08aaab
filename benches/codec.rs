//! Decode and encode of UPDATEs carrying 1, 100 and 1000 EVPN type-5 or
//! VPNv4 NLRI. Throughput is reported in NLRI per second (one core).

use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ferry_benches::{type5, update, vpnv4};
use ferry_wire::{DecodeContext, EncodeContext, Family, Message};

fn contexts() -> (DecodeContext, EncodeContext) {
    // 1000 type-5 NLRI need RFC 8654 extended messages.
    let enc = EncodeContext {
        extended_message: true,
        ..Default::default()
    };
    (enc.as_decode(), enc)
}

fn codec(c: &mut Criterion) {
    let (dec, enc) = contexts();
    for (family, name, make) in [
        (
            Family::EVPN,
            "evpn-type5",
            type5 as fn(u32, u32) -> ferry_wire::Nlri,
        ),
        (Family::VPNV4, "vpnv4", vpnv4),
    ] {
        let mut group = c.benchmark_group(format!("update-{name}"));
        for n in [1u32, 100, 1000] {
            let msg = Message::Update(update(family, (0..n).map(|i| make(i, 1)).collect()));
            let bytes = msg.to_bytes(&enc).expect("fits");
            group.throughput(Throughput::Elements(n as u64));
            group.bench_with_input(BenchmarkId::new("decode", n), &bytes, |b, bytes| {
                b.iter(|| Message::decode(black_box(bytes), &dec).expect("valid"))
            });
            let mut buf = BytesMut::with_capacity(bytes.len());
            group.bench_with_input(BenchmarkId::new("encode", n), &msg, |b, msg| {
                b.iter(|| {
                    buf.clear();
                    black_box(msg).encode(&enc, &mut buf).expect("fits");
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, codec);
criterion_main!(benches);
