//! The worker against the in-memory kernel (`fib/fake/`), no root; this
//! file keeps what the tests share. `pods.rs`: attachment and its
//! origination, refused attachments, detachment; `kernel.rs`: remote
//! Type-5 routes, the repair pass, and a restart that keeps what it
//! learned until End-of-RIB. `tests/worker.rs` and `tests/cni_safety.rs`
//! run the same promises end to end in network namespaces.

use std::net::Ipv4Addr;
use std::path::Path;

use ferry_control::pod::pod_host_ifname;
use ferry_control::{PodAttach, VrfInfo};
use ferry_wire::nlri::evpn::EvpnRoute;
use ferry_wire::{ExtendedCommunity, MacAddress, NextHop, Nlri};

use super::*;
use crate::fib::fake::{Call, FakeKernel, Fault, LinkKind};
use crate::fib::kernel::{Backend, RTPROT_FERRY};
use crate::origination::router_mac;

mod kernel;
mod pods;

const NODE: Ipv4Addr = Ipv4Addr::new(10, 10, 93, 12);
const N2: &str = "10.10.29.243";
const N3: &str = "10.10.29.244";
const TABLE: u32 = 1_010_002;
const POD_MAC: MacAddress = MacAddress([0xaa, 0xbb, 0xcc, 0xdd, 1, 1]);
const BACKENDS: [Backend; 2] = [Backend::RuleTable, Backend::VrfDevice];
/// VRF blue in the configuration, as in the seed.
const BLUE: &str = "[[vrf]]\nname = \"blue\"\nvni = 10002\nroute-target = \"11:11\"\n";

type Events = mpsc::Receiver<CoreEvent>;

fn config(dir: &Path, vrfs: &str) -> Config {
    let text = format!(
        "router-id = \"{NODE}\"\nlocal-as = 64512\nkernel-sync = true\nstate-dir = \"{}\"\n\
         [[group]]\nname = \"reflectors\"\nlocal-address = \"{NODE}\"\n\
         neighbors = [\"10.10.25.42\"]\nfamilies = [\"evpn\"]\n{vrfs}",
        dir.display()
    );
    crate::config::from_str(&text, "test.toml").unwrap()
}

async fn start(k: &FakeKernel, dir: &Path, vrfs: &str) -> (Worker<FakeKernel>, Events) {
    let (tx, rx) = mpsc::channel(1024);
    let w = Worker::with_kernel(&config(dir, vrfs), tx, k.clone())
        .await
        .unwrap();
    (w, rx)
}

fn host(container: &str) -> String {
    pod_host_ifname(container, "net1")
}

/// What the CNI plugin asks for `container` in VRF blue.
fn pod(container: &str, addresses: &[&str]) -> PodAttach {
    PodAttach {
        container_id: container.into(),
        ifname: "net1".into(),
        vrf: "blue".into(),
        vni: 10002,
        route_target: Some("11:11".into()),
        host_ifname: host(container),
        mac: POD_MAC,
        addresses: addresses.iter().map(|a| a.parse().unwrap()).collect(),
    }
}

async fn ask(w: &mut Worker<FakeKernel>, request: Request) -> Result<Body, String> {
    match w.control(request).await {
        Response::Ok { body } => Ok(body),
        Response::Error { message } => Err(message),
    }
}

async fn attach(w: &mut Worker<FakeKernel>, a: PodAttach) -> Result<Body, String> {
    ask(w, Request::AttachPod(a)).await
}

async fn detach(w: &mut Worker<FakeKernel>, container: &str) -> Result<Body, String> {
    let request = Request::DetachPod {
        container_id: container.into(),
        ifname: "net1".into(),
    };
    ask(w, request).await
}

async fn vrfs(w: &mut Worker<FakeKernel>) -> Vec<VrfInfo> {
    match ask(w, Request::Vrfs { name: None }).await {
        Ok(Body::Vrfs { vrfs }) => vrfs,
        other => panic!("{other:?}"),
    }
}

/// What the core was sent: prefixes originated (`+`) and withdrawn (`-`).
fn originations(rx: &mut Events) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        let (sign, nlri) = match &ev {
            CoreEvent::Originate { nlri, .. } => ('+', nlri),
            CoreEvent::WithdrawOriginated { nlri } => ('-', nlri),
            other => panic!("{other:?}"),
        };
        let Nlri::Evpn(EvpnRoute::IpPrefix(r)) = nlri else {
            panic!("{nlri:?}");
        };
        out.push(format!("{sign}{} {}", r.rd, r.prefix));
    }
    out.sort();
    out
}

fn rmac(vtep: &str) -> MacAddress {
    router_mac(vtep.parse().unwrap())
}

/// A best Type-5 path in blue (route target 11:11) from `vtep`, as the
/// core hands it over.
fn remote(vtep: &str, prefix: &str, rt: &str) -> (RemoteKey, Option<RemoteRoute>) {
    let prefix: IpNet = prefix.parse().unwrap();
    let ext = [
        ExtendedCommunity::route_target(rt.parse().unwrap()),
        ExtendedCommunity::router_mac(rmac(vtep)),
    ];
    let route = remote_route(prefix, Some(vtep.parse().unwrap()), 10002, &ext);
    assert!(route.is_some());
    ((format!("{vtep}:1").parse().unwrap(), prefix), route)
}

fn withdrawn(vtep: &str, prefix: &str) -> (RemoteKey, Option<RemoteRoute>) {
    (
        (
            format!("{vtep}:1").parse().unwrap(),
            prefix.parse().unwrap(),
        ),
        None,
    )
}

/// The next hops of a route: (gateway, device, onlink).
fn hops(k: &FakeKernel, prefix: &str) -> Vec<(Option<IpAddr>, String, bool)> {
    let r = k
        .route(TABLE, prefix)
        .unwrap_or_else(|| panic!("no {prefix}"));
    r.nexthops
        .iter()
        .map(|n| (n.gateway, n.device.clone().unwrap(), n.onlink))
        .collect()
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

/// The worker runs in a task of its own: generic over the kernel, its
/// future is still `Send`.
#[tokio::test]
async fn the_worker_task_is_send() {
    fn send<T: Send>(_: &T) {}
    let dir = tempfile::tempdir().unwrap();
    let k = FakeKernel::new(Backend::RuleTable);
    let (w, _core) = start(&k, dir.path(), BLUE).await;
    let (tx, rx) = mpsc::unbounded_channel();
    let run = w.run(rx, tx);
    send(&run);
}
