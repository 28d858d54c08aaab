//! `show route` of a table larger than one answer, as root in network
//! namespaces: bgpctl pages through it and shows every route once, in
//! `show route` order; a raw request gets one page and the key to go on
//! from.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use ferry_tests::{block_in, eventually, raw, require_root, vpnv4_update, Ferry, Lan, Netns, RR};
use ferry_wire::{Family, Message, Open, Update};

const RR_ADDR: Ipv4Addr = Ipv4Addr::new(10, 10, 25, 42);
const INJECTOR: Ipv4Addr = Ipv4Addr::new(10, 10, 93, 1);
/// Routes per RD; two RDs: more than two pages of 10 000.
const PER_RD: u32 = 12_500;
const PAGE: usize = 10_000;

fn prefix(i: u32) -> ipnet::Ipv4Net {
    format!("{}.{}.{}.0/24", 20 + i / 65536, (i / 256) % 256, i % 256)
        .parse()
        .unwrap()
}

/// The `show route` order: family, RD and prefix as text.
fn key(r: &serde_json::Value) -> (String, String, String) {
    let s = |f: &str| r[f].as_str().unwrap_or_default().to_string();
    (s("family"), s("rd"), s("prefix"))
}

#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn show_route_pages_through_a_table_larger_than_one_answer() {
    require_root("show_route_pages_through_a_table_larger_than_one_answer");
    let dir = tempfile::tempdir().unwrap();
    let lan = Lan::new();
    let rr_ns = Netns::new("pg");
    let cl = Netns::new("pg");
    lan.attach(&rr_ns, "eth0", "10.10.25.42/16");
    lan.attach(&cl, "eth0", "10.10.93.1/16");
    let rr = Ferry::start(&rr_ns, dir.path(), "rr", RR);
    let total = 2 * PER_RD as usize;
    block_in(&cl, || async {
        let mut s = raw::tcp(INJECTOR, RR_ADDR, None)
            .await
            .unwrap_or_else(|e| panic!("{INJECTOR}: {e}"));
        let open = Open::new(64512, 0, INJECTOR, raw::capabilities(64512));
        match s.handshake(&open).await {
            Ok(Ok(_)) => {}
            other => panic!("no session: {other:?}"),
        }
        for f in [Family::VPNV4, Family::EVPN] {
            s.send(&Message::Update(Update::end_of_rib(f)))
                .await
                .unwrap();
        }
        let all: Vec<u32> = (0..PER_RD).collect();
        for rd in ["64512:10", "64512:9"] {
            for chunk in all.chunks(200) {
                let u = vpnv4_update(INJECTOR, rd, chunk.iter().map(|i| prefix(*i)));
                s.send(&Message::Update(u)).await.unwrap();
            }
        }
        eventually("the whole table", Duration::from_secs(60), || {
            let summary = rr.ctl(&["show", "summary"])?;
            let paths = summary["tables"]
                .as_array()
                .and_then(|t| t.iter().find(|t| t["family"] == "inet-vpn"))
                .and_then(|t| t["total-paths"].as_u64());
            if paths == Some(total as u64) {
                Ok(())
            } else {
                Err(format!("{paths:?} paths"))
            }
        });

        // bgpctl: every route once, in order.
        let routes = rr.routes(&[]);
        assert_eq!(routes.len(), total);
        let keys: Vec<_> = routes.iter().map(key).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "not in show order");
        assert_eq!(keys.iter().collect::<HashSet<_>>().len(), total);
        assert_eq!(keys[0].1, "64512:10");
        assert_eq!(keys[total - 1].1, "64512:9");
        let one_rd = rr.routes(&["--rd", "64512:9"]);
        assert_eq!(one_rd.len(), PER_RD as usize);
        assert!(one_rd.iter().all(|r| r["rd"] == "64512:9"));

        // A raw request without a limit: one page, and where to go on.
        let first = rr.request(serde_json::json!({"command": "routes"}));
        let page = first["body"]["routes"].as_array().unwrap();
        assert_eq!(page.len(), PAGE, "{}", first["status"]);
        let next = first["body"]["next"]
            .as_str()
            .expect("more follow")
            .to_string();
        let second =
            rr.request(serde_json::json!({"command": "routes", "limit": 10, "after": next}));
        let more = second["body"]["routes"].as_array().unwrap();
        assert_eq!(more.len(), 10);
        let seen: HashSet<_> = page.iter().map(key).collect();
        assert!(
            more.iter().all(|r| !seen.contains(&key(r))),
            "a route shown twice"
        );
        assert!(second["body"]["next"].is_string());
        let bad = rr.request(serde_json::json!({"command": "routes", "after": "nonsense"}));
        assert_eq!(bad["status"], "error", "{bad}");
    });
}
