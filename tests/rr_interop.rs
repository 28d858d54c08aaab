//! Interop of the Ferry route reflector with FRR, GoBGP, ExaBGP, BIRD and
//! OpenBGPD,
//! each in its own network namespace on a shared bridge, as in the seed:
//! AS 64512, the reflector 10.10.25.42, workers in 10.10.0.0/16.
//!
//! The tests are listed here; each one's body is in `rr_interop/`:
//! GoBGP and FRR as clients (`gobgp_frr.rs`), two clusters of Ferry
//! reflectors (`clusters.rs`), ExaBGP and BIRD as clients
//! (`exabgp_bird.rs`), FRR as the reflector of Ferry workers
//! (`frr_reflector.rs`), OpenBGPD and GoBGP as clients (`openbgpd.rs`).

use std::time::Duration;

use ferry_tests::{eventually, GoBgp};

#[path = "rr_interop/clusters.rs"]
mod clusters;
#[path = "rr_interop/exabgp_bird.rs"]
mod exabgp_bird;
#[path = "rr_interop/frr_reflector.rs"]
mod frr_reflector;
#[path = "rr_interop/gobgp_frr.rs"]
mod gobgp_frr;
#[path = "rr_interop/openbgpd.rs"]
mod openbgpd;

/// GoBGP originates every route type; FRR gets each with its attributes
/// intact plus ORIGINATOR_ID and CLUSTER_LIST; FRR's VPNv4 route reaches
/// GoBGP the same way; withdrawals follow. tshark finds nothing malformed
/// in what Ferry sent.
#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn gobgp_and_frr_clients_exchange_every_route_type() {
    gobgp_frr::gobgp_and_frr_clients_exchange_every_route_type();
}

/// The seed's inter-cluster design: two Ferry reflectors, each with two
/// clients, joined by iBGP; a route from a client of one cluster reaches
/// both clients of the other, and the reverse, with no loop.
#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn two_clusters_exchange_routes_through_their_reflectors() {
    clusters::two_clusters_exchange_routes_through_their_reflectors();
}

/// ExaBGP and BIRD 2 as clients: their VPN routes are decoded correctly by
/// Ferry, and each gets the other's, reflected. (ExaBGP 4.2 has no way to
/// announce EVPN from its configuration or API, and BIRD 2.0.12 carries no
/// EVPN: both are tested with the VPN families they support.)
#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn exabgp_and_bird_clients_with_vpn_routes() {
    exabgp_bird::exabgp_and_bird_clients_with_vpn_routes();
}

/// The reverse of the first test: FRR is the route reflector, two Ferry
/// workers and a GoBGP node its clients. A pod prefix a Ferry worker
/// originates reaches the other worker and GoBGP as a Type-5 route with
/// every attribute; what GoBGP originates (types 2, 3, VPNv4, VPNv6)
/// reaches the Ferry workers decoded correctly; withdrawals follow.
#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn frr_reflector_with_ferry_clients() {
    frr_reflector::frr_reflector_with_ferry_clients();
}

/// Two OpenBGPD clients and GoBGP: OpenBGPD's IPv4 unicast route is
/// decoded by Ferry and reflected to the other OpenBGPD, GoBGP's VPNv4
/// route reaches both, OpenBGPD's withdrawal follows, and no session
/// records an error.
#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn openbgpd_clients_with_unicast_and_vpn_routes() {
    openbgpd::openbgpd_clients_with_unicast_and_vpn_routes();
}

/// The reflector, with a 30 s hold time for its clients.
fn rr_config() -> String {
    format!("{}hold-time = 30\n", ferry_tests::RR)
}

/// The router MAC of the GoBGP nodes' Type-5 routes (the first cluster's).
const RMAC: &str = "aa:bb:cc:dd:01:01";

/// `gobgp global rib ARGS` at `g`: what it printed.
fn gobgp_rib(g: &GoBgp, args: &[String]) -> String {
    let mut all = vec!["global", "rib"];
    all.extend(args.iter().map(String::as_str));
    g.cli(&all)
}

/// Waits up to `secs` seconds (failing with `what`) until `g`'s RIB of
/// `family` (JSON, as `gobgp global rib -a FAMILY -j` prints it) holds
/// `want`; that RIB.
fn gobgp_rib_with(g: &GoBgp, family: &str, want: &str, secs: u64, what: &str) -> String {
    eventually(what, Duration::from_secs(secs), || {
        let r = g.rib(family);
        if r.contains(want) {
            Ok(r)
        } else {
            Err(r)
        }
    })
}

fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_string).collect()
}

/// `gobgp global rib` arguments adding a Type-5 route from the GoBGP node
/// at `node` (its next hop; RD `node:1`, VNI 10002, route target 11:11).
fn type5(node: &str, prefix: &str, gw: &str, router_mac: &str) -> Vec<String> {
    words(&format!(
        "-a evpn add prefix {prefix} etag 0 rd {node}:1 rt 11:11 gw {gw} label 10002 \
         encap vxlan router-mac {router_mac} nexthop {node}"
    ))
}

/// The routes of every other type from the GoBGP node at `node`: Type 2
/// (MAC [`RMAC`], 1.1.1.2), Type 3, VPNv4 10.1.0.0/24 label 100 and VPNv6
/// 2001:db8:1::/64 label 101 (both RD and route target 64512:10).
fn every_type_but_5(node: &str) -> [Vec<String>; 4] {
    [
        words(&format!(
            "-a evpn add macadv {RMAC} 1.1.1.2 esi 0 etag 0 label 10002 rd {node}:1 rt 11:11 \
             encap vxlan nexthop {node}"
        )),
        words(&format!(
            "-a evpn add multicast {node} etag 0 rd {node}:1 rt 11:11 encap vxlan \
             pmsi ingress-repl 10002 {node} nexthop {node}"
        )),
        words(&format!(
            "-a vpnv4 add 10.1.0.0/24 label 100 rd 64512:10 rt 64512:10 nexthop {node}"
        )),
        words(&format!(
            "-a vpnv6 add 2001:db8:1::/64 label 101 rd 64512:10 rt 64512:10 nexthop {node}"
        )),
    ]
}
