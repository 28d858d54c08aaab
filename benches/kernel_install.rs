//! Side-by-side system benchmark of a worker's kernel programming: how
//! fast Ferry installs the routes of N imported EVPN Type-5 routes (route
//! in the VRF table via the VTEP onlink, neighbour entry, FDB entry),
//! against `ip -batch` installing the same objects on the same machine,
//! in fresh network namespaces. Also times the `ferry` CNI plugin's ADD
//! against a running worker bgpd when `--cni` is given.
//!
//! ```text
//! cargo build --release --bins && sudo target/release/kernel-install [ROUTES] [--cni PODS]
//! ```

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ferry_bgpd::fib::kernel::Kernel;
use ferry_bgpd::fib::plan::{KernelOp, Nexthop, VrfSpec};
use ferry_netns::Netns;
use ferry_wire::MacAddress;
use ipnet::{IpNet, Ipv4Net};

const VNI: u32 = 10002;
const TABLE: u32 = 1_010_002;
const VTEPS: u32 = 100;

fn sh(args: &[&str]) {
    let st = Command::new(args[0])
        .args(&args[1..])
        .status()
        .expect(args[0]);
    assert!(st.success(), "{args:?}");
}

fn vtep(i: u32) -> Ipv4Addr {
    Ipv4Addr::new(10, 200, (i / 250) as u8, (i % 250 + 1) as u8)
}

fn rmac(i: u32) -> MacAddress {
    let b = i.to_be_bytes();
    MacAddress([0x02, 0x00, 0x0a, b[1], b[2], b[3]])
}

fn prefix(i: u32) -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::from(0x0b00_0000 + (i << 8)), 24).expect("/24")
}

/// A fresh namespace (one of that name left by an earlier run replaced),
/// loopback up; deleted with its processes when dropped.
fn fresh(name: &str) -> Netns {
    Netns::replace(name).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `f` on a thread inside `ns` (sockets and the commands it starts
/// live there).
fn inside<T: Send>(ns: &Netns, f: impl FnOnce() -> T + Send) -> T {
    ns.run_in(f).unwrap_or_else(|e| panic!("{e}"))
}

fn spec() -> VrfSpec {
    VrfSpec {
        name: "blue".into(),
        vni: VNI,
        table: TABLE,
        import: vec!["11:11".parse().expect("rt")],
        export: vec!["11:11".parse().expect("rt")],
        rd: "10.0.0.1:1".parse().expect("rd"),
    }
}

fn ferry_run(routes: u32) -> Duration {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let k = Kernel::open().await.expect("rtnetlink");
        k.ensure_vrf(&spec(), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), rmac(0))
            .await
            .expect("vrf");
        let mut ops = Vec::new();
        for v in 0..VTEPS {
            ops.push(KernelOp::NeighAdd {
                vni: VNI,
                addr: IpAddr::V4(vtep(v)),
                mac: rmac(v + 1),
            });
            ops.push(KernelOp::FdbAdd {
                vni: VNI,
                mac: rmac(v + 1),
                vtep: IpAddr::V4(vtep(v)),
            });
        }
        for i in 0..routes {
            let v = i % VTEPS;
            ops.push(KernelOp::RouteSet {
                vni: VNI,
                table: TABLE,
                prefix: IpNet::V4(prefix(i)),
                nexthops: vec![Nexthop {
                    vtep: IpAddr::V4(vtep(v)),
                    router_mac: rmac(v + 1),
                }],
            });
        }
        let t = Instant::now();
        let errors = k.apply(ops).await;
        let d = t.elapsed();
        assert!(errors.is_empty(), "{:?}", &errors[..errors.len().min(3)]);
        d
    })
}

fn count_routes(table: u32) -> usize {
    let out = Command::new("ip")
        .args(["-4", "route", "show", "table", &table.to_string()])
        .output()
        .expect("ip");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

fn ip_batch_run(routes: u32) -> Duration {
    sh(&[
        "ip",
        "link",
        "add",
        "br-10002",
        "address",
        "02:00:0a:00:00:00",
        "type",
        "bridge",
    ]);
    sh(&[
        "ip",
        "link",
        "add",
        "vx-10002",
        "type",
        "vxlan",
        "id",
        "10002",
        "local",
        "10.0.0.1",
        "dstport",
        "4789",
        "nolearning",
    ]);
    sh(&["ip", "link", "set", "vx-10002", "master", "br-10002", "up"]);
    sh(&["ip", "link", "set", "br-10002", "up"]);
    let mut neigh = String::new();
    let mut fdb = String::new();
    for v in 0..VTEPS {
        neigh.push_str(&format!(
            "neigh replace {} lladdr {} dev br-10002 nud permanent\n",
            vtep(v),
            rmac(v + 1)
        ));
        fdb.push_str(&format!(
            "fdb append {} dev vx-10002 dst {} self permanent\n",
            rmac(v + 1),
            vtep(v)
        ));
    }
    let mut route = String::new();
    for i in 0..routes {
        route.push_str(&format!(
            "route replace {} via {} dev br-10002 onlink table {TABLE} proto 199\n",
            prefix(i),
            vtep(i % VTEPS)
        ));
    }
    let batch = |prog: &str, text: &str| {
        let mut c = Command::new(prog)
            .args(["-batch", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .expect(prog);
        c.stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write");
        assert!(c.wait().expect("wait").success(), "{prog} -batch failed");
    };
    let t = Instant::now();
    batch("ip", &neigh);
    batch("bridge", &fdb);
    batch("ip", &route);
    t.elapsed()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut routes = 100_000u32;
    let mut cni_pods = 0u32;
    while let Some(a) = args.next() {
        if a == "--cni" {
            cni_pods = args.next().and_then(|n| n.parse().ok()).unwrap_or(20);
        } else if let Ok(n) = a.parse() {
            routes = n;
        }
    }
    // Each measurement on its own thread, in its own namespace.
    let a = fresh("ferry-bench-a");
    let ferry = inside(&a, || {
        let d = ferry_run(routes);
        (d, count_routes(TABLE))
    });
    let b = fresh("ferry-bench-b");
    let ipb = inside(&b, || {
        let d = ip_batch_run(routes);
        (d, count_routes(TABLE))
    });
    drop((a, b));
    let rate = |d: Duration| routes as f64 / d.as_secs_f64();
    println!(
        "ferry:    {routes} routes (+{VTEPS} neighbour and FDB entries) in {:.3} s = {:.0} routes/s ({} in the table)",
        ferry.0.as_secs_f64(),
        rate(ferry.0),
        ferry.1
    );
    println!(
        "ip -batch: {routes} routes (+{VTEPS} neighbour and FDB entries) in {:.3} s = {:.0} routes/s ({} in the table)",
        ipb.0.as_secs_f64(),
        rate(ipb.0),
        ipb.1
    );
    println!(
        "ratio ferry / ip -batch: {:.2}",
        rate(ferry.0) / rate(ipb.0)
    );
    if cni_pods > 0 {
        cni_latency(cni_pods);
    }
}

/// Times `ferry` ADD for `pods` pods against a worker bgpd with no peers.
fn cni_latency(pods: u32) {
    let dir = std::env::temp_dir().join(format!("ferry-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let node = fresh("ferry-bench-node");
    let bin = std::env::current_exe().expect("exe");
    let bin_dir = bin.parent().expect("dir");
    let sock = dir.join("bgpd.sock");
    let conf = dir.join("bgpd.toml");
    std::fs::write(
        &conf,
        format!(
            "control-socket = \"{}\"\nstate-dir = \"{}\"\nrouter-id = \"10.0.0.1\"\nlocal-as = 64512\n",
            sock.display(),
            dir.join("state").display()
        ),
    )
    .expect("config");
    let mut bgpd = node
        .command(bin_dir.join("bgpd"))
        .args(["--config", conf.to_str().expect("path")])
        .stderr(Stdio::null())
        .spawn()
        .expect("bgpd");
    let start = Instant::now();
    while !sock.exists() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut times = Vec::new();
    let mut pod_namespaces = Vec::new();
    for i in 0..pods {
        let pod = fresh(&format!("ferry-bench-p{i}"));
        let netconf = format!(
            r#"{{"cniVersion":"1.0.0","name":"blue-net","type":"ferry","bgpdSocket":"{}",
            "args":{{"vxlanVNI":"10002","vrfName":"blue","vrfTarget":"11:11",
            "cni":{{"ipConfig":{{"ipv4":{{"address":"1.{}.{}.2/30","gateway":"1.{}.{}.1","routes":["1.0.0.0/8"]}}}}}}}}}}"#,
            sock.display(),
            i / 250,
            i % 250,
            i / 250,
            i % 250
        );
        let t = Instant::now();
        let mut c = node
            .command(bin_dir.join("ferry"))
            .env("CNI_COMMAND", "ADD")
            .env("CNI_CONTAINERID", format!("bench{i}"))
            .env("CNI_NETNS", pod.path())
            .env("CNI_IFNAME", "net1")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("ferry");
        c.stdin
            .take()
            .expect("stdin")
            .write_all(netconf.as_bytes())
            .expect("write");
        let ok = c.wait().expect("wait").success();
        times.push(t.elapsed());
        assert!(ok, "CNI ADD {i} failed");
        pod_namespaces.push(pod);
    }
    let _ = bgpd.kill();
    let _ = bgpd.wait();
    drop(pod_namespaces);
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);
    times.sort();
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    let mean = times.iter().map(ms).sum::<f64>() / times.len() as f64;
    println!(
        "CNI ADD ({pods} pods, `ip netns exec` included): mean {:.1} ms, median {:.1} ms, max {:.1} ms",
        mean,
        ms(&times[times.len() / 2]),
        ms(times.last().expect("one"))
    );
}
