//! The in-memory kernel keeps the kernel's rules: the same calls made on
//! it and, in a network namespace of the test's own, on the kernel
//! through rtnetlink read back the same (devices by name, whatever their
//! indexes), step by step, damage included.

use std::net::IpAddr;
use std::process::Command;

use super::{FakeKernel, LinkKind};
use crate::fib::api::KernelApi;
use crate::fib::damage;
use crate::fib::kernel::{Backend, Kernel, KernelView, PodLink};
use crate::fib::plan::{KernelOp, Plan, RemoteRoute, VrfSpec};
use crate::origination::router_mac;

const TABLE: u32 = 1_010_002;
const POD: &str = "fy0123456789ab";

fn spec() -> VrfSpec {
    VrfSpec {
        name: "blue".into(),
        vni: 10002,
        table: TABLE,
        import: vec!["11:11".parse().unwrap()],
        export: vec!["11:11".parse().unwrap()],
        rd: "10.10.93.12:1".parse().unwrap(),
    }
}

fn ip(cmd: &str) {
    let args: Vec<&str> = cmd.split_whitespace().collect();
    let out = Command::new("ip").args(&args).output().unwrap();
    assert!(out.status.success(), "ip {cmd}: {out:?}");
}

fn ip_out(cmd: &str) -> String {
    let args: Vec<&str> = cmd.split_whitespace().collect();
    let out = Command::new("ip").args(&args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A view with devices by name, sorted.
fn normal(v: &KernelView) -> Vec<String> {
    let name = |i: &u32| {
        v.links
            .iter()
            .find(|(_, j)| *j == i)
            .map_or("?".to_string(), |(n, _)| n.clone())
    };
    let mut out: Vec<String> = v.links.keys().map(|n| format!("link {n}")).collect();
    out.extend(
        v.controllers
            .iter()
            .map(|(n, c)| format!("{n} master {}", name(c))),
    );
    out.extend(v.rules.iter().map(|r| format!("rule {r:?}")));
    out.extend(v.routes.iter().map(|r| format!("route {r:?}")));
    out.extend(v.neighbours.iter().map(|n| format!("neigh {n:?}")));
    out.extend(v.pod_neighbours.iter().map(|n| format!("pod neigh {n:?}")));
    out.extend(v.fdb.iter().map(|n| format!("fdb {n:?}")));
    out.sort();
    out
}

async fn same(real: &Kernel, fake: &FakeKernel, step: &str) {
    let (r, f) = (real.view().await.unwrap(), fake.view().await.unwrap());
    assert_eq!(normal(&r), normal(&f), "after {step}");
}

fn remote(
    vtep: &str,
    prefix: &str,
) -> (
    (ferry_wire::RouteDistinguisher, ipnet::IpNet),
    Option<RemoteRoute>,
) {
    let vtep: IpAddr = vtep.parse().unwrap();
    let IpAddr::V4(v4) = vtep else { unreachable!() };
    let prefix = prefix.parse().unwrap();
    let route = RemoteRoute {
        prefix,
        vtep,
        router_mac: router_mac(v4),
        vni: 10002,
        route_targets: vec!["11:11".parse().unwrap()],
    };
    ((format!("{vtep}:1").parse().unwrap(), prefix), Some(route))
}

async fn apply(real: &Kernel, fake: &FakeKernel, ops: Vec<KernelOp>) {
    let e = KernelApi::apply(real, ops.clone()).await;
    assert!(e.is_empty(), "{e:?}");
    let e = fake.apply(ops).await;
    assert!(e.is_empty(), "{e:?}");
}

async fn agree(backend: Backend) {
    let mut real = Kernel::open().await.unwrap();
    real.backend = backend;
    let fake = FakeKernel::new(backend);
    fake.add_link("eth0p", LinkKind::Other);
    let peer = LinkKind::Veth {
        peer_elsewhere: false,
    };
    fake.add_link(POD, peer.clone());
    fake.add_link("podpeer", peer);
    let (vtep, mac) = (
        "10.10.93.12".parse().unwrap(),
        router_mac("10.10.93.12".parse().unwrap()),
    );
    let pod = PodLink {
        host_ifname: POD.into(),
        mac: ferry_wire::MacAddress([0xaa, 0xbb, 0xcc, 0xdd, 1, 1]),
        addresses: vec![
            "1.1.1.2/30".parse().unwrap(),
            "abcd::1.1.1.2/126".parse().unwrap(),
        ],
    };
    same(&real, &fake, "start").await;
    real.ensure_vrf(&spec(), vtep, mac).await.unwrap();
    KernelApi::ensure_vrf(&fake, &spec(), vtep, mac)
        .await
        .unwrap();
    same(&real, &fake, "ensure_vrf").await;
    real.ensure_vrf(&spec(), vtep, mac).await.unwrap();
    KernelApi::ensure_vrf(&fake, &spec(), vtep, mac)
        .await
        .unwrap();
    same(&real, &fake, "ensure_vrf again").await;
    real.attach(&spec(), &pod).await.unwrap();
    KernelApi::attach(&fake, &spec(), &pod).await.unwrap();
    same(&real, &fake, "attach").await;

    let mut plan = Plan::default();
    plan.add_vrf(spec());
    let mut ops = Vec::new();
    for (key, r) in [
        remote("10.10.29.243", "1.2.2.0/30"),
        remote("10.10.29.243", "abcd::102:200/126"),
        remote("10.10.29.244", "1.2.2.0/30"),
    ] {
        ops.extend(plan.set_remote(key, r));
    }
    apply(&real, &fake, ops).await;
    same(&real, &fake, "remote routes").await;
    let (key, _) = remote("10.10.29.243", "1.2.2.0/30");
    apply(&real, &fake, plan.set_remote(key, None)).await;
    same(&real, &fake, "a withdrawal").await;

    // Damage: the bridge deleted takes the routes through it and its
    // neighbour entries along.
    ip("link del br-10002");
    fake.ip_link_del("br-10002");
    same(&real, &fake, "deleting the bridge").await;
    real.ensure_vrf(&spec(), vtep, mac).await.unwrap();
    KernelApi::ensure_vrf(&fake, &spec(), vtep, mac)
        .await
        .unwrap();
    let (r, f) = (real.view().await.unwrap(), fake.view().await.unwrap());
    let ops = damage::remote_repairs(&plan, &r).0;
    assert_eq!(ops, damage::remote_repairs(&plan, &f).0);
    assert!(!ops.is_empty());
    apply(&real, &fake, ops).await;
    same(&real, &fake, "repair").await;

    // A route that is not Ferry's is left alone by Ferry's delete.
    ip(&format!("route add 9.9.9.0/24 dev lo table {TABLE}"));
    fake.ip_route_add(TABLE, "9.9.9.0/24", "lo", 3);
    let nine = "9.9.9.0/24".parse().unwrap();
    real.delete_route(TABLE, nine).await.unwrap();
    KernelApi::delete_route(&fake, TABLE, nine).await.unwrap();
    assert!(ip_out(&format!("route show table {TABLE}")).contains("9.9.9.0/24 dev lo"));
    assert!(fake
        .objects()
        .iter()
        .any(|l| l.contains("9.9.9.0/24 dev lo")));
    ip(&format!("route del 9.9.9.0/24 dev lo table {TABLE}"));
    let six = "abcd::102:200/126".parse().unwrap();
    real.delete_route(TABLE, six).await.unwrap();
    KernelApi::delete_route(&fake, TABLE, six).await.unwrap();
    same(&real, &fake, "deleting a route").await;

    real.detach(&spec(), &pod).await.unwrap();
    KernelApi::detach(&fake, &spec(), &pod).await.unwrap();
    same(&real, &fake, "detach").await;
    real.remove_vrf(&spec()).await.unwrap();
    KernelApi::remove_vrf(&fake, &spec()).await.unwrap();
    same(&real, &fake, "remove_vrf").await;
    // Both say the same of the pod's link too.
    let problem = real.pod_link_problem(POD).await;
    assert!(problem.is_some());
    assert_eq!(problem, KernelApi::pod_link_problem(&fake, POD).await);
}

#[test]
#[ignore = "needs root (a network namespace of its own)"]
fn the_fake_kernel_reads_back_what_the_kernel_does() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "the_fake_kernel_reads_back_what_the_kernel_does needs root"
    );
    let vrf_devices = std::thread::spawn(|| {
        // The thread, and what it starts, in a network namespace of its
        // own that goes with it.
        // SAFETY: unshare changes this thread's namespace only.
        let r = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
        ip("link set lo up");
        ip("link add eth0 type veth peer name eth0p");
        ip("link set eth0 up");
        ip(&format!("link add {POD} type veth peer name podpeer"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let detected = Kernel::open().await.unwrap().backend;
            agree(Backend::RuleTable).await;
            if detected == Backend::VrfDevice {
                agree(Backend::VrfDevice).await;
            }
            detected
        })
    })
    .join()
    .unwrap();
    eprintln!(
        "backends compared: rule-table{}",
        if vrf_devices == Backend::VrfDevice {
            ", vrf-device"
        } else {
            " (this kernel has no VRF devices)"
        }
    );
}
