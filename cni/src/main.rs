//! `ferry`: the Ferry CNI plugin.
//!
//! Puts a pod into a VRF: a veth pair whose pod end carries the pod's MAC,
//! addresses and routes (from the pod's `cni-args`), and whose host end
//! the local bgpd attaches to the VRF (created on demand from the
//! NetworkAttachmentDefinition's `vrfName`, `vxlanVNI`, `vrfTarget`) and
//! advertises as EVPN Type-5 routes. Speaks CNI 1.0.0 and 0.3.x/0.4.0.
//!
//! The runtime gives the command in `CNI_COMMAND` (ADD, DEL, CHECK,
//! VERSION), the container in `CNI_CONTAINERID`, `CNI_NETNS`,
//! `CNI_IFNAME`, and the network configuration on standard input. The
//! result (or the error) is JSON on standard output.
//!
//! Only what an invocation made is ever removed: the host end of a pod's
//! pair is named after the container ID and interface name, and the pod
//! end carries the alias `ferry:<container-id>`. DEL always completes: a
//! bgpd that cannot be reached, or a pod that is gone, is not an error
//! (bgpd detaches, when it starts and while it runs, pods whose link is
//! gone). CHECK (cniVersion 0.4.0 and later) needs the prevResult and
//! verifies both sides of the pair and bgpd's attachment.

mod netconf;
mod pod;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use ferry_control::{PodAttach, Request, Response};
use netconf::{CniError, NetConf, SUPPORTED_VERSIONS};
use serde_json::{json, Value};

/// The environment of one invocation.
struct Env {
    command: String,
    container_id: String,
    netns: Option<PathBuf>,
    ifname: String,
    /// `CNI_ARGS`: `IP` and `MAC` are read from it.
    cni_args: Option<String>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn required(name: &str) -> Result<String, CniError> {
    env(name).ok_or_else(|| CniError::new(CniError::INVALID_ENV, format!("{name}: missing")))
}

fn main() -> ExitCode {
    let command = env("CNI_COMMAND").unwrap_or_default();
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("ferry: reading the network configuration from standard input: {e}");
    }
    let version = serde_json::from_str::<Value>(&input)
        .ok()
        .and_then(|v| {
            v.get("cniVersion")
                .and_then(|x| x.as_str())
                .map(str::to_string)
        })
        .filter(|v| SUPPORTED_VERSIONS.contains(&v.as_str()))
        .unwrap_or_else(|| "1.0.0".to_string());
    match run(&command, &input) {
        Ok(Some(out)) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            let err = json!({
                "cniVersion": version,
                "code": e.code,
                "msg": e.msg,
                "details": e.details,
            });
            println!("{err}");
            eprintln!("ferry: {}", e.msg);
            ExitCode::FAILURE
        }
    }
}

fn run(command: &str, input: &str) -> Result<Option<String>, CniError> {
    match command {
        "VERSION" => Ok(Some(
            json!({"cniVersion": "1.0.0", "supportedVersions": SUPPORTED_VERSIONS}).to_string(),
        )),
        "ADD" | "DEL" | "CHECK" => {
            let e = Env {
                command: command.to_string(),
                container_id: required("CNI_CONTAINERID")?,
                netns: env("CNI_NETNS").map(PathBuf::from),
                ifname: required("CNI_IFNAME")?,
                cni_args: env("CNI_ARGS"),
            };
            if e.container_id.len() > pod::MAX_CONTAINER_ID
                || !e
                    .container_id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
            {
                return Err(CniError::new(
                    CniError::INVALID_ENV,
                    format!(
                        "CNI_CONTAINERID {:?}: use up to {} letters, digits, '_', '.' or '-'",
                        e.container_id,
                        pod::MAX_CONTAINER_ID
                    ),
                ));
            }
            if e.ifname.len() > 15
                || e.ifname == "."
                || e.ifname == ".."
                || e.ifname.contains(['/', ' ', ':'])
            {
                return Err(CniError::new(
                    CniError::INVALID_ENV,
                    format!("CNI_IFNAME {:?} is not an interface name", e.ifname),
                ));
            }
            match e.command.as_str() {
                "ADD" => add(&e, input).map(Some),
                "DEL" => del(&e, input).map(|_| None),
                _ => check(&e, input).map(|_| None),
            }
        }
        "" => Err(CniError::new(
            CniError::INVALID_ENV,
            "CNI_COMMAND: missing (ADD, DEL, CHECK or VERSION); ferry is a CNI plugin run by the container runtime",
        )),
        other => Err(CniError::new(
            CniError::INVALID_ENV,
            format!("CNI_COMMAND: {other:?} is not ADD, DEL, CHECK or VERSION"),
        )),
    }
}

/// Asks bgpd one question.
fn ask(socket: &Path, request: &Request) -> Result<String, CniError> {
    let mut stream = UnixStream::connect(socket).map_err(|e| {
        CniError::new(
            CniError::TRY_AGAIN,
            format!(
                "cannot reach bgpd at {}: {e} (bgpdSocket)",
                socket.display()
            ),
        )
    })?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut line =
        serde_json::to_string(request).map_err(|e| CniError::new(CniError::BGPD, e.to_string()))?;
    line.push('\n');
    stream
        .write_all(line.as_bytes())
        .map_err(|e| CniError::new(CniError::TRY_AGAIN, format!("writing to bgpd: {e}")))?;
    let mut answer = String::new();
    BufReader::new(&stream)
        .read_line(&mut answer)
        .map_err(|e| CniError::new(CniError::TRY_AGAIN, format!("reading from bgpd: {e}")))?;
    match serde_json::from_str::<Response>(&answer) {
        Ok(Response::Ok { body }) => Ok(format!("{body:?}")),
        Ok(Response::Error { message }) => {
            Err(CniError::new(CniError::BGPD, format!("bgpd: {message}")))
        }
        Err(e) => Err(CniError::new(
            CniError::BGPD,
            format!("bgpd answered {answer:?}: {e}"),
        )),
    }
}

fn add(e: &Env, input: &str) -> Result<String, CniError> {
    let conf = netconf::parse(input, e.cni_args.as_deref())?;
    let netns = e
        .netns
        .clone()
        .ok_or_else(|| CniError::new(CniError::INVALID_ENV, "CNI_NETNS: missing"))?;
    let added = pod::add(&conf, &e.container_id, &e.ifname, &netns)?;
    let addresses: Vec<ipnet::IpNet> = [&conf.ipv4, &conf.ipv6]
        .into_iter()
        .flatten()
        .map(|c| c.address)
        .collect();
    let request = Request::AttachPod(PodAttach {
        container_id: e.container_id.clone(),
        ifname: e.ifname.clone(),
        vrf: conf.vrf_name.clone(),
        vni: conf.vni,
        route_target: Some(conf.vrf_target.to_string()),
        host_ifname: added.host_ifname.clone(),
        mac: added.pod_mac,
        addresses,
    });
    if let Err(err) = ask(&conf.bgpd_socket, &request) {
        // Roll back what this call made: this container's pair.
        let _ = pod::del(&e.container_id, &e.ifname, Some(&netns));
        return Err(err);
    }
    Ok(result(&conf, e, &netns, &added).to_string())
}

/// The ADD result of the CNI specification for the configured version.
fn result(conf: &NetConf, e: &Env, netns: &Path, added: &pod::Added) -> Value {
    let old = conf.cni_version != "1.0.0";
    let mut ips = Vec::new();
    let mut routes = Vec::new();
    for c in [&conf.ipv4, &conf.ipv6].into_iter().flatten() {
        let mut ip = json!({"address": c.address.to_string(), "interface": 1});
        if let Some(g) = c.gateway {
            ip["gateway"] = json!(g.to_string());
        }
        if old {
            ip["version"] = json!(if c.address.addr().is_ipv4() { "4" } else { "6" });
        }
        ips.push(ip);
        for r in &c.routes {
            let mut route = json!({"dst": r.to_string()});
            if let Some(g) = c.gateway {
                route["gw"] = json!(g.to_string());
            }
            routes.push(route);
        }
    }
    json!({
        "cniVersion": conf.cni_version,
        "interfaces": [
            {"name": added.host_ifname, "mac": added.host_mac.to_string()},
            {"name": e.ifname, "mac": added.pod_mac.to_string(), "sandbox": netns.display().to_string()},
        ],
        "ips": ips,
        "routes": routes,
        "dns": {},
    })
}

fn del(e: &Env, input: &str) -> Result<(), CniError> {
    // DEL must succeed whatever is left: the configuration may be partial.
    let v: Value = serde_json::from_str(input).unwrap_or(Value::Null);
    let socket = v
        .get("bgpdSocket")
        .and_then(|s| s.as_str())
        .unwrap_or(netconf::DEFAULT_SOCKET);
    pod::del(&e.container_id, &e.ifname, e.netns.as_deref())?;
    let request = Request::DetachPod {
        container_id: e.container_id.clone(),
        ifname: e.ifname.clone(),
    };
    match ask(Path::new(socket), &request) {
        Ok(_) => Ok(()),
        // bgpd down (or its socket left behind by a killed bgpd): the pair
        // is gone, which is enough. bgpd detaches pods whose link is gone
        // when it starts, and while it runs.
        Err(err) if err.code == CniError::TRY_AGAIN => {
            eprintln!(
                "ferry: DEL {}/{}: {}; the pod's pair is deleted, bgpd detaches it when it runs",
                e.container_id, e.ifname, err.msg
            );
            Ok(())
        }
        Err(err) => Err(err),
    }
}

/// The version order of the CNI specification (`0.3.1` < `0.4.0` <
/// `1.0.0`).
fn version_key(v: &str) -> Vec<u32> {
    v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

fn check(e: &Env, input: &str) -> Result<(), CniError> {
    let v: Value = serde_json::from_str(input)
        .map_err(|e| CniError::config(format!("network configuration is not JSON: {e}")))?;
    let version = netconf::version_of(&v)?;
    if version_key(&version) < version_key("0.4.0") {
        return Err(CniError::new(
            CniError::INCOMPATIBLE_VERSION,
            format!("cniVersion {version}: CHECK needs cniVersion 0.4.0 or later"),
        ));
    }
    let prev = v
        .get("prevResult")
        .filter(|p| p.is_object())
        .ok_or_else(|| CniError::config("prevResult: missing: CHECK verifies the result of ADD"))?;
    if let Some(pv) = prev.get("cniVersion").and_then(|x| x.as_str()) {
        if !SUPPORTED_VERSIONS.contains(&pv) || version_key(pv) < version_key("0.4.0") {
            return Err(CniError::new(
                CniError::INCOMPATIBLE_VERSION,
                format!("prevResult.cniVersion {pv:?} cannot be checked (0.4.0 or later)"),
            ));
        }
    }
    let conf = netconf::parse(input, e.cni_args.as_deref())?;
    let netns = e
        .netns
        .clone()
        .ok_or_else(|| CniError::new(CniError::INVALID_ENV, "CNI_NETNS: missing"))?;
    let host_mac = pod::check(&conf, &e.container_id, &e.ifname, &netns)?;
    check_prev_result(&conf, e, prev, host_mac)?;
    ask(
        &conf.bgpd_socket,
        &Request::CheckPod {
            container_id: e.container_id.clone(),
            ifname: e.ifname.clone(),
        },
    )?;
    Ok(())
}

/// The prevResult must be what ADD returned for this pod: its interfaces
/// (host end and pod end with their MACs) and its addresses.
fn check_prev_result(
    conf: &NetConf,
    e: &Env,
    prev: &Value,
    host_mac: ferry_wire::MacAddress,
) -> Result<(), CniError> {
    let bad = |m: String| CniError::config(format!("prevResult: {m}"));
    let interfaces = prev
        .get("interfaces")
        .and_then(|i| i.as_array())
        .ok_or_else(|| bad("interfaces: missing".into()))?;
    let host = pod::host_ifname(&e.container_id, &e.ifname);
    let pod_mac = conf
        .mac
        .unwrap_or_else(|| pod::derived_mac(&e.container_id, &e.ifname));
    let find = |name: &str| {
        interfaces
            .iter()
            .position(|i| i.get("name").and_then(|n| n.as_str()) == Some(name))
    };
    let mac_of = |i: usize| {
        interfaces[i]
            .get("mac")
            .and_then(|m| m.as_str())
            .and_then(|m| m.parse::<ferry_wire::MacAddress>().ok())
    };
    let h = find(&host).ok_or_else(|| bad(format!("no interface {host}")))?;
    if mac_of(h) != Some(host_mac) {
        return Err(bad(format!(
            "interface {host} has MAC {:?}, the host end has {host_mac}",
            interfaces[h].get("mac")
        )));
    }
    let p = find(&e.ifname).ok_or_else(|| bad(format!("no interface {}", e.ifname)))?;
    if mac_of(p) != Some(pod_mac) {
        return Err(bad(format!(
            "interface {} has MAC {:?}, the configuration gives {pod_mac}",
            e.ifname,
            interfaces[p].get("mac")
        )));
    }
    let ips: Vec<&str> = prev
        .get("ips")
        .and_then(|i| i.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|i| i.get("address").and_then(|x| x.as_str()))
                .collect()
        })
        .unwrap_or_default();
    for c in [&conf.ipv4, &conf.ipv6].into_iter().flatten() {
        let want = c.address.to_string();
        if !ips.contains(&want.as_str()) {
            return Err(bad(format!("ips lacks {want}")));
        }
    }
    Ok(())
}
