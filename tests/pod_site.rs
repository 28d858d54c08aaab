//! A site of the seed for pod tests (included with `#[path]` by
//! `cni_safety.rs`, `podman.rs` and `worker.rs`): a Ferry route reflector
//! and two Ferry workers on one LAN, the blue NetworkAttachmentDefinition
//! config, and the `ferry` plugin run as a runtime runs it.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Stdio};

use ferry_tests::{bin, Ferry, Lan, Netns};

pub const RR: &str = "10.10.25.42";
pub const N1: &str = "10.10.93.12";
pub const N2: &str = "10.10.29.243";
/// Blue's routing table (`Vrf::default_table(10002)`).
pub const BLUE_TABLE: u32 = 1_010_002;

pub fn rr_config() -> String {
    format!("{}families = [\"evpn\"]\n", ferry_tests::RR)
}

pub fn worker_config(addr: &str) -> String {
    format!(
        r#"
router-id = "{addr}"
local-as = 64512
[[group]]
name = "reflectors"
local-address = "{addr}"
neighbors = ["{RR}"]
families = ["evpn"]
"#
    )
}

/// The first address of a subnet (`1.1.1.2/30` → `1.1.1.1`).
pub fn gateway(cidr: &str) -> String {
    let net: ipnet::IpNet = cidr.parse().unwrap();
    match net.network() {
        std::net::IpAddr::V4(a) => std::net::Ipv4Addr::from(u32::from(a) + 1).to_string(),
        std::net::IpAddr::V6(a) => std::net::Ipv6Addr::from(u128::from(a) + 1).to_string(),
    }
}

/// The seed's blue-net config with the pod's cni-args (`args.cni`).
pub fn netconf(version: &str, socket: &str, mac: &str, v4: &str) -> String {
    let gw4 = gateway(v4);
    format!(
        r#"{{"cniVersion":"{version}","name":"blue-net","type":"ferry",
  "args":{{"applyGroups":"evpn-type5","vxlanVNI":"10002","vrfName":"blue","vrfTarget":"11:11",
    "cni":{{"mac":"{mac}","dataplane":"linux",
      "ipConfig":{{"ipv4":{{"address":"{v4}","gateway":"{gw4}","routes":["1.0.0.0/8"]}}}}}}}},
  "bgpdSocket":"{socket}"}}"#
    )
}

/// The same, dual-stack.
pub fn netconf6(version: &str, socket: &str, mac: &str, v4: &str, v6: &str) -> String {
    let mut v: serde_json::Value =
        serde_json::from_str(&netconf(version, socket, mac, v4)).unwrap();
    v["args"]["cni"]["ipConfig"]["ipv6"] =
        serde_json::json!({"address": v6, "gateway": gateway(v6), "routes": ["abcd::/64"]});
    v.to_string()
}

/// Blue-net shared by many containers: no `args.cni`, each container's
/// address and MAC come from the runtime (CNI_ARGS or runtimeConfig).
pub fn shared_netconf(socket: &str) -> serde_json::Value {
    serde_json::json!({
        "cniVersion": "1.0.0", "name": "blue-net", "type": "ferry",
        "args": {"vxlanVNI": "10002", "vrfName": "blue", "vrfTarget": "11:11",
                 "routes": ["1.0.0.0/8"]},
        "bgpdSocket": socket,
    })
}

/// What one plugin run gave: success, exit code, the JSON on stdout.
pub struct CniRun {
    pub ok: bool,
    pub code: i32,
    pub out: serde_json::Value,
    pub stderr: String,
}

/// Runs the plugin in `node` as a runtime does, with `extra` environment.
pub fn cni_env(
    node: &Netns,
    command: &str,
    container: &str,
    netns: &str,
    ifname: &str,
    conf: &str,
    extra: &[(&str, &str)],
) -> CniRun {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &node.name])
        .arg(bin("ferry"))
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", container)
        .env("CNI_NETNS", netns)
        .env("CNI_IFNAME", ifname)
        .env("CNI_PATH", "/opt/cni/bin")
        .env_remove("CNI_ARGS");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(conf.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let value = if text.trim().is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text:?}"))
    };
    CniRun {
        ok: out.status.success(),
        code: out.status.code().unwrap_or(-1),
        out: value,
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

/// Runs the plugin for interface `net1` of the pod namespace `pod`.
pub fn cni(node: &Netns, command: &str, container: &str, pod: &Netns, conf: &str) -> CniRun {
    cni_env(
        node,
        command,
        container,
        &format!("/var/run/netns/{}", pod.name),
        "net1",
        conf,
        &[],
    )
}

/// The configuration with the ADD result as prevResult (for CHECK and DEL).
pub fn with_prev(conf: &str, prev: &serde_json::Value) -> String {
    let mut v: serde_json::Value = serde_json::from_str(conf).unwrap();
    v["prevResult"] = prev.clone();
    v.to_string()
}

/// Whether `to` answers: three echo requests 0.2 s apart, one reply is
/// enough (a machine under load may lose one).
pub fn pings(from: &Netns, to: &str) -> bool {
    from.exec(&["ping", "-c", "3", "-i", "0.2", "-W", "1", to])
        .status
        .success()
}

pub fn table(node: &Netns, v6: bool) -> String {
    let fam = if v6 { "-6" } else { "-4" };
    node.exec_ok(&["ip", fam, "route", "show", "table", &BLUE_TABLE.to_string()])
}

pub struct Site {
    pub lan: Lan,
    pub rr: Ferry,
    pub n1: Ferry,
    pub n2: Ferry,
    pub nodes: Vec<Netns>,
    pub dir: tempfile::TempDir,
}

impl Site {
    pub fn sock1(&self) -> String {
        self.n1.socket.to_str().unwrap().to_string()
    }

    pub fn sock2(&self) -> String {
        self.n2.socket.to_str().unwrap().to_string()
    }
}

/// The reflector and two workers, sessions up.
pub fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let lan = Lan::new();
    let nodes: Vec<Netns> = (0..3).map(|_| Netns::new("fk")).collect();
    lan.attach(&nodes[0], "eth0", &format!("{RR}/16"));
    lan.attach(&nodes[1], "eth0", &format!("{N1}/16"));
    lan.attach(&nodes[2], "eth0", &format!("{N2}/16"));
    let rr = Ferry::start(&nodes[0], dir.path(), "rr", &rr_config());
    let n1 = Ferry::start(&nodes[1], dir.path(), "n1", &worker_config(N1));
    let n2 = Ferry::start(&nodes[2], dir.path(), "n2", &worker_config(N2));
    n1.wait_established(&[RR]);
    n2.wait_established(&[RR]);
    Site {
        lan,
        rr,
        n1,
        n2,
        nodes,
        dir,
    }
}

/// The host end of a pod's pair (`fy` + hash), as bgpd names it.
pub fn host_link(container: &str, ifname: &str) -> String {
    ferry_control::pod::pod_host_ifname(container, ifname)
}
