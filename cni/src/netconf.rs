//! The network configuration the runtime gives on standard input: the
//! seed's NetworkAttachmentDefinition config (platter's keys in `args`),
//! and the pod's `cni-args` as Multus delivers them (`args.cni`; a
//! top-level `cni-args` is accepted too).
//!
//! ```json
//! { "cniVersion": "0.4.0", "name": "blue-net", "type": "ferry",
//!   "args": { "applyGroups": "evpn-type5", "vxlanVNI": "10002",
//!             "vrfName": "blue", "vrfTarget": "11:11",
//!             "cni": { "mac": "aa:bb:cc:dd:01:01", "dataplane": "linux",
//!                      "ipConfig": { "ipv4": { "address": "1.1.1.2/30",
//!                                              "gateway": "1.1.1.1",
//!                                              "routes": ["1.1.0.0/16"] } } } },
//!   "kubeConfig": "/etc/kubernetes/kubelet.conf",
//!   "bgpdSocket": "/run/ferry/bgpd.sock" }
//! ```

use std::net::IpAddr;
use std::path::PathBuf;

use ferry_wire::attribute::extended_community::RouteTarget;
use ferry_wire::MacAddress;
use ipnet::IpNet;
use serde_json::Value;

/// The versions of the CNI specification this plugin speaks.
pub const SUPPORTED_VERSIONS: [&str; 4] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0"];

pub const DEFAULT_SOCKET: &str = "/run/ferry/bgpd.sock";

/// A CNI error: code and message (spec §"Error").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniError {
    pub code: u32,
    pub msg: String,
    pub details: String,
}

impl CniError {
    pub const INCOMPATIBLE_VERSION: u32 = 1;
    pub const INVALID_CONFIG: u32 = 7;
    pub const INVALID_ENV: u32 = 4;
    pub const TRY_AGAIN: u32 = 11;
    /// Plugin-specific: the kernel refused something.
    pub const KERNEL: u32 = 100;
    /// Plugin-specific: bgpd refused the attachment.
    pub const BGPD: u32 = 101;

    pub fn new(code: u32, msg: impl Into<String>) -> CniError {
        CniError {
            code,
            msg: msg.into(),
            details: String::new(),
        }
    }

    pub fn config(msg: impl Into<String>) -> CniError {
        CniError::new(Self::INVALID_CONFIG, msg)
    }
}

/// One address family of `ipConfig`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpConfig {
    /// The pod's address with its prefix length.
    pub address: IpNet,
    pub gateway: Option<IpAddr>,
    pub routes: Vec<IpNet>,
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetConf {
    pub cni_version: String,
    pub name: String,
    pub vrf_name: String,
    pub vni: u32,
    pub vrf_target: RouteTarget,
    pub apply_groups: Option<String>,
    pub bgpd_socket: PathBuf,
    pub mac: Option<MacAddress>,
    pub ipv4: Option<IpConfig>,
    pub ipv6: Option<IpConfig>,
}

fn str_field<'a>(v: &'a Value, key: &str, path: &str) -> Result<Option<&'a str>, CniError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(CniError::config(format!(
            "{path}{key}: {other} is not a string"
        ))),
    }
}

/// Reads only what every command needs: the version.
pub fn version_of(v: &Value) -> Result<String, CniError> {
    let version = str_field(v, "cniVersion", "")?
        .ok_or_else(|| CniError::config("cniVersion: missing"))?
        .to_string();
    if !SUPPORTED_VERSIONS.contains(&version.as_str()) {
        return Err(CniError::new(
            CniError::INCOMPATIBLE_VERSION,
            format!(
                "cniVersion {version:?} is not supported (supported: {})",
                SUPPORTED_VERSIONS.join(", ")
            ),
        ));
    }
    Ok(version)
}

/// One key of `CNI_ARGS` (`K=V;K=V`).
pub fn cni_arg<'a>(cni_args: Option<&'a str>, key: &str) -> Option<&'a str> {
    cni_args?
        .split(';')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// Parses and validates the configuration of ADD (and CHECK); `cni_args`
/// is `CNI_ARGS`.
pub fn parse(text: &str, cni_args: Option<&str>) -> Result<NetConf, CniError> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| CniError::config(format!("network configuration is not JSON: {e}")))?;
    if !v.is_object() {
        return Err(CniError::config(
            "network configuration is not a JSON object",
        ));
    }
    let cni_version = version_of(&v)?;
    let name = str_field(&v, "name", "")?
        .ok_or_else(|| CniError::config("name: missing"))?
        .to_string();
    let args = v
        .get("args")
        .filter(|a| a.is_object())
        .ok_or_else(|| CniError::config("args: missing (vrfName, vxlanVNI, vrfTarget)"))?;
    let vrf_name = str_field(args, "vrfName", "args.")?
        .ok_or_else(|| CniError::config("args.vrfName: missing"))?
        .to_string();
    if vrf_name.is_empty()
        || vrf_name.len() > 12
        || !vrf_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(CniError::config(format!(
            "args.vrfName: {vrf_name:?}: use 1 to 12 letters, digits, '-' or '_'"
        )));
    }
    let vni = match args.get("vxlanVNI") {
        None | Some(Value::Null) => return Err(CniError::config("args.vxlanVNI: missing")),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map_err(|_| CniError::config(format!("args.vxlanVNI: {s:?} is not a number")))?,
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| CniError::config(format!("args.vxlanVNI: {n} is not an integer")))?,
        Some(other) => {
            return Err(CniError::config(format!(
                "args.vxlanVNI: {other} is not a number"
            )))
        }
    };
    if !(1..=0xff_ffff).contains(&vni) {
        return Err(CniError::config(format!(
            "args.vxlanVNI: {vni} is outside 1..=16777215"
        )));
    }
    let target = str_field(args, "vrfTarget", "args.")?
        .ok_or_else(|| CniError::config("args.vrfTarget: missing"))?;
    let vrf_target: RouteTarget = target
        .parse()
        .map_err(|e| CniError::config(format!("args.vrfTarget: {target:?}: {e}")))?;
    let apply_groups = str_field(args, "applyGroups", "args.")?.map(str::to_string);
    let bgpd_socket = PathBuf::from(str_field(&v, "bgpdSocket", "")?.unwrap_or(DEFAULT_SOCKET));
    str_field(&v, "kubeConfig", "")?;

    let empty = Value::Object(Default::default());
    let (pod, path) = match (args.get("cni"), v.get("cni-args")) {
        (Some(p), _) => (p, "args.cni."),
        (None, Some(p)) => (p, "cni-args."),
        (None, None) => (&empty, "args.cni."),
    };
    if !pod.is_object() {
        return Err(CniError::config(format!("{path}: not an object")));
    }
    if let Some(dp) = str_field(pod, "dataplane", path)? {
        if dp != "linux" {
            return Err(CniError::config(format!(
                "{path}dataplane: {dp:?}: ferry forwards with the Linux kernel only (use \"linux\")"
            )));
        }
    }
    let runtime = v.get("runtimeConfig").filter(|r| !r.is_null());
    let mac_source = match str_field(pod, "mac", path)? {
        Some(m) => Some((m.to_string(), format!("{path}mac"))),
        None => match runtime
            .map(|r| str_field(r, "mac", "runtimeConfig."))
            .transpose()?
        {
            Some(Some(m)) => Some((m.to_string(), "runtimeConfig.mac".to_string())),
            _ => cni_arg(cni_args, "MAC").map(|m| (m.to_string(), "CNI_ARGS MAC".to_string())),
        },
    };
    let mac = mac_source
        .map(|(m, field)| {
            let mac: MacAddress = m
                .parse()
                .map_err(|_| CniError::config(format!("{field}: {m:?} is not a MAC address")))?;
            if mac.0[0] & 1 == 1 || mac.0 == [0; 6] {
                return Err(CniError::config(format!(
                    "{field}: {m:?} is not a unicast address"
                )));
            }
            Ok(mac)
        })
        .transpose()?;
    let (ip_config, ip_path) = match pod.get("ipConfig") {
        Some(c) => (c.clone(), format!("{path}ipConfig.")),
        None => conventional_ips(args, runtime, cni_args)?.ok_or_else(|| {
            CniError::config(format!(
                "{path}ipConfig: missing, and neither runtimeConfig.ips nor CNI_ARGS IP gives the pod's address"
            ))
        })?,
    };
    let ipv4 = family(&ip_config, "ipv4", &ip_path, false)?;
    let ipv6 = family(&ip_config, "ipv6", &ip_path, true)?;
    if ipv4.is_none() && ipv6.is_none() {
        return Err(CniError::config(format!(
            "{ip_path}: neither ipv4 nor ipv6 given"
        )));
    }
    Ok(NetConf {
        cni_version,
        name,
        vrf_name,
        vni: vni as u32,
        vrf_target,
        apply_groups,
        bgpd_socket,
        mac,
        ipv4,
        ipv6,
    })
}

/// The pod's addresses from `runtimeConfig.ips`, else `CNI_ARGS` `IP`,
/// as an `ipConfig` object, with the field they came from.
fn conventional_ips(
    args: &Value,
    runtime: Option<&Value>,
    cni_args: Option<&str>,
) -> Result<Option<(Value, String)>, CniError> {
    let (list, field): (Vec<String>, &str) = match runtime.and_then(|r| r.get("ips")) {
        Some(Value::Array(a)) if !a.is_empty() => (
            a.iter()
                .enumerate()
                .map(|(i, x)| {
                    x.as_str().map(str::to_string).ok_or_else(|| {
                        CniError::config(format!("runtimeConfig.ips[{i}]: {x} is not a string"))
                    })
                })
                .collect::<Result<_, _>>()?,
            "runtimeConfig.ips",
        ),
        Some(Value::Array(_)) | None | Some(Value::Null) => match cni_arg(cni_args, "IP") {
            Some(ips) => (
                ips.split(',').map(|x| x.trim().to_string()).collect(),
                "CNI_ARGS IP",
            ),
            None => return Ok(None),
        },
        Some(other) => {
            return Err(CniError::config(format!(
                "runtimeConfig.ips: {other} is not a list"
            )))
        }
    };
    let length = |key: &str, default: u8, max: u8| -> Result<u8, CniError> {
        match args.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Number(n)) => n
                .as_u64()
                .filter(|n| *n <= max as u64)
                .map(|n| n as u8)
                .ok_or_else(|| CniError::config(format!("args.{key}: {n} is not 0..={max}"))),
            Some(other) => Err(CniError::config(format!(
                "args.{key}: {other} is not a number"
            ))),
        }
    };
    let routes: Vec<String> = match args.get("routes") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, r)| {
                r.as_str().map(str::to_string).ok_or_else(|| {
                    CniError::config(format!("args.routes[{i}]: {r} is not a string"))
                })
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(CniError::config(format!(
                "args.routes: {other} is not a list"
            )))
        }
    };
    let mut out = serde_json::Map::new();
    for (i, text) in list.iter().enumerate() {
        let net: IpNet = match text.parse::<IpNet>() {
            Ok(n) => n,
            Err(_) => {
                let ip: IpAddr = text.parse().map_err(|_| {
                    CniError::config(format!("{field}[{i}]: {text:?} is not an address"))
                })?;
                let len = if ip.is_ipv4() {
                    length("podPrefixLength", 30, 32)?
                } else {
                    length("podPrefixLength6", 126, 128)?
                };
                IpNet::new(ip, len).map_err(|e| CniError::config(format!("{field}[{i}]: {e}")))?
            }
        };
        if let Some(why) = ferry_control::pod::pod_address_problem(&net) {
            return Err(CniError::config(format!("{field}[{i}]: {why}")));
        }
        let key = if net.addr().is_ipv4() { "ipv4" } else { "ipv6" };
        if out.contains_key(key) {
            return Err(CniError::config(format!(
                "{field}[{i}]: {text:?}: one {key} address per pod"
            )));
        }
        let mut fam = serde_json::json!({ "address": net.to_string() });
        if net.prefix_len() + 1 < net.max_prefix_len() {
            let first = match net.network() {
                IpAddr::V4(a) => IpAddr::V4((u32::from(a).wrapping_add(1)).into()),
                IpAddr::V6(a) => IpAddr::V6((u128::from(a).wrapping_add(1)).into()),
            };
            if first == net.addr() {
                return Err(CniError::config(format!(
                    "{field}[{i}]: {net} is the gateway (first address) of its subnet"
                )));
            }
            fam["gateway"] = Value::String(first.to_string());
            let mine: Vec<&String> = routes
                .iter()
                .filter(|r| r.contains(':') == net.addr().is_ipv6())
                .collect();
            fam["routes"] = serde_json::json!(mine);
        }
        out.insert(key.to_string(), fam);
    }
    Ok(Some((Value::Object(out), format!("{field} "))))
}

fn family(
    ip_config: &Value,
    key: &str,
    path: &str,
    v6: bool,
) -> Result<Option<IpConfig>, CniError> {
    let Some(f) = ip_config.get(key).filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    let path = format!("{path}{key}.");
    let address = str_field(f, "address", &path)?
        .ok_or_else(|| CniError::config(format!("{path}address: missing")))?;
    let addr: IpNet = address.parse().map_err(|_| {
        CniError::config(format!(
            "{path}address: {address:?} is not an address with prefix length (1.1.1.2/30)"
        ))
    })?;
    if addr.addr().is_ipv6() != v6 {
        return Err(CniError::config(format!(
            "{path}address: {address:?} is not an {key} address"
        )));
    }
    if let Some(why) = ferry_control::pod::pod_address_problem(&addr) {
        return Err(CniError::config(format!("{path}address: {why}")));
    }
    if addr.addr() == addr.network() && addr.prefix_len() < addr.max_prefix_len() - 1 {
        return Err(CniError::config(format!(
            "{path}address: {address:?} is the network address of its subnet"
        )));
    }
    let gateway = str_field(f, "gateway", &path)?
        .map(|g| {
            let gw: IpAddr = g
                .parse()
                .map_err(|_| CniError::config(format!("{path}gateway: {g:?} is not an address")))?;
            if !addr.contains(&gw) || gw == addr.addr() {
                return Err(CniError::config(format!(
                    "{path}gateway: {g} is not another address of {address}"
                )));
            }
            Ok(gw)
        })
        .transpose()?;
    let mut routes = Vec::new();
    match f.get("routes") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for (i, r) in list.iter().enumerate() {
                let text = r.as_str().ok_or_else(|| {
                    CniError::config(format!("{path}routes[{i}]: {r} is not a string"))
                })?;
                let net: IpNet = text.parse().map_err(|_| {
                    CniError::config(format!("{path}routes[{i}]: {text:?} is not a CIDR prefix"))
                })?;
                if net.addr().is_ipv6() != v6 {
                    return Err(CniError::config(format!(
                        "{path}routes[{i}]: {text:?} is not an {key} prefix"
                    )));
                }
                routes.push(net.trunc());
            }
        }
        Some(other) => {
            return Err(CniError::config(format!(
                "{path}routes: {other} is not a list"
            )))
        }
    }
    if !routes.is_empty() && gateway.is_none() {
        return Err(CniError::config(format!(
            "{path}gateway: missing: routes need a gateway"
        )));
    }
    Ok(Some(IpConfig {
        address: addr,
        gateway,
        routes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"{
        "cniVersion":"0.4.0", "name": "blue-net", "type": "ferry",
        "args": { "applyGroups":"evpn-type5", "vxlanVNI":"10002", "vrfName": "blue", "vrfTarget": "11:11",
          "cni": { "mac":"aa:bb:cc:dd:01:01", "dataplane":"linux",
            "ipConfig":{
              "ipv4":{ "address":"1.1.1.2/30", "gateway":"1.1.1.1", "routes":[ "1.1.0.0/16","1.2.0.0/16" ] },
              "ipv6":{ "address":"abcd::1.1.1.2/126", "gateway":"abcd::1.1.1.1", "routes":[ "abcd::1.1.0.0/112" ] } } } },
        "kubeConfig":"/etc/kubernetes/kubelet.conf" }"#;

    #[test]
    fn the_seed_configuration_parses() {
        let c = parse(SEED, None).unwrap();
        assert_eq!(c.vrf_name, "blue");
        assert_eq!(c.vni, 10002);
        assert_eq!(c.vrf_target.to_string(), "11:11");
        assert_eq!(c.mac.unwrap().to_string(), "aa:bb:cc:dd:01:01");
        let v4 = c.ipv4.unwrap();
        assert_eq!(v4.address.to_string(), "1.1.1.2/30");
        assert_eq!(v4.routes.len(), 2);
        assert_eq!(c.ipv6.unwrap().routes[0].to_string(), "abcd::101:0/112");
        assert_eq!(c.bgpd_socket, PathBuf::from(DEFAULT_SOCKET));
    }

    fn with(from: &str, to: &str) -> Result<NetConf, CniError> {
        assert!(SEED.contains(from), "{from}");
        parse(&SEED.replace(from, to), None)
    }

    #[test]
    fn bad_input_names_the_key_and_value() {
        let cases: &[(&str, &str, &[&str])] = &[
            (
                "\"vxlanVNI\":\"10002\"",
                "\"vxlanVNI\":\"16777216\"",
                &["args.vxlanVNI", "16777216"],
            ),
            (
                "\"vxlanVNI\":\"10002\"",
                "\"vxlanVNI\":\"ten\"",
                &["args.vxlanVNI", "ten"],
            ),
            ("\"vxlanVNI\":\"10002\",", "", &["args.vxlanVNI", "missing"]),
            (
                "\"vrfTarget\": \"11:11\"",
                "\"vrfTarget\": \"11\"",
                &["args.vrfTarget", "\"11\""],
            ),
            (
                "\"1.1.1.2/30\"",
                "\"1.1.1.300/30\"",
                &["ipConfig.ipv4.address", "1.1.1.300/30"],
            ),
            (
                "\"1.1.1.2/30\"",
                "\"1.1.1.2\"",
                &["ipConfig.ipv4.address", "prefix length"],
            ),
            (
                "\"gateway\":\"1.1.1.1\"",
                "\"gateway\":\"1.1.2.1\"",
                &["ipConfig.ipv4.gateway", "1.1.2.1"],
            ),
            (
                "\"1.2.0.0/16\"",
                "\"1.2.0.0/33\"",
                &["ipConfig.ipv4.routes[1]", "1.2.0.0/33"],
            ),
            (
                "\"dataplane\":\"linux\"",
                "\"dataplane\":\"dpdk\"",
                &["args.cni.dataplane", "dpdk"],
            ),
            (
                "\"mac\":\"aa:bb:cc:dd:01:01\"",
                "\"mac\":\"aa:bb:cc\"",
                &["args.cni.mac", "aa:bb:cc"],
            ),
            (
                "\"mac\":\"aa:bb:cc:dd:01:01\"",
                "\"mac\":\"01:bb:cc:dd:01:01\"",
                &["args.cni.mac", "unicast"],
            ),
            (
                "\"vrfName\": \"blue\"",
                "\"vrfName\": \"a-very-long-vrf-name\"",
                &["args.vrfName"],
            ),
            (
                "\"abcd::1.1.1.2/126\"",
                "\"1.1.1.6/30\"",
                &["ipConfig.ipv6.address", "not an ipv6"],
            ),
        ];
        for (from, to, words) in cases {
            let e = with(from, to).expect_err(to);
            assert_eq!(e.code, CniError::INVALID_CONFIG);
            for w in *words {
                assert!(e.msg.contains(w), "{:?} lacks {w:?}", e.msg);
            }
        }
        let e = with("\"cniVersion\":\"0.4.0\"", "\"cniVersion\":\"0.2.0\"").unwrap_err();
        assert_eq!(e.code, CniError::INCOMPATIBLE_VERSION);
        assert!(parse("{", None).unwrap_err().msg.contains("not JSON"));
    }

    #[test]
    fn a_top_level_cni_args_and_a_numeric_vni_are_accepted() {
        let text = r#"{"cniVersion":"1.0.0","name":"red","type":"ferry",
            "args":{"vxlanVNI":20002,"vrfName":"red","vrfTarget":"22:22"},
            "bgpdSocket":"/tmp/x.sock",
            "cni-args":{"ipConfig":{"ipv4":{"address":"1.1.1.2/30"}}}}"#;
        let c = parse(text, None).unwrap();
        assert_eq!(c.vni, 20002);
        assert!(c.mac.is_none());
        assert_eq!(c.bgpd_socket, PathBuf::from("/tmp/x.sock"));
    }

    const SHARED: &str = r#"{"cniVersion":"1.0.0","name":"blue-net","type":"ferry",
        "args":{"vxlanVNI":"10002","vrfName":"blue","vrfTarget":"11:11","routes":["1.0.0.0/8","abcd::/64"]}}"#;

    #[test]
    fn cni_args_give_the_address_and_mac_where_args_cni_does_not() {
        let c = parse(
            SHARED,
            Some("IgnoreUnknown=1;K8S_POD_NAME=a;MAC=aa:bb:cc:dd:0a:0a;IP=1.1.1.2,abcd::1:2"),
        )
        .unwrap();
        assert_eq!(c.mac.unwrap().to_string(), "aa:bb:cc:dd:0a:0a");
        let v4 = c.ipv4.unwrap();
        assert_eq!(v4.address.to_string(), "1.1.1.2/30");
        assert_eq!(v4.gateway.unwrap().to_string(), "1.1.1.1");
        assert_eq!(v4.routes, vec!["1.0.0.0/8".parse::<IpNet>().unwrap()]);
        let v6 = c.ipv6.unwrap();
        assert_eq!(v6.address.to_string(), "abcd::1:2/126");
        assert_eq!(v6.gateway.unwrap().to_string(), "abcd::1:1");
        assert_eq!(v6.routes, vec!["abcd::/64".parse::<IpNet>().unwrap()]);
    }

    #[test]
    fn runtime_config_wins_over_cni_args_and_args_cni_over_both() {
        let mut v: Value = serde_json::from_str(SHARED).unwrap();
        v["runtimeConfig"] = serde_json::json!({"ips": ["1.1.1.6/30"], "mac": "aa:bb:cc:dd:0b:0b"});
        let c = parse(&v.to_string(), Some("IP=1.1.1.10;MAC=aa:bb:cc:dd:0c:0c")).unwrap();
        assert_eq!(c.ipv4.unwrap().address.to_string(), "1.1.1.6/30");
        assert_eq!(c.mac.unwrap().to_string(), "aa:bb:cc:dd:0b:0b");
        let c = parse(SEED, Some("IP=9.9.9.2;MAC=aa:bb:cc:dd:0c:0c")).unwrap();
        assert_eq!(c.ipv4.unwrap().address.to_string(), "1.1.1.2/30");
        assert_eq!(c.mac.unwrap().to_string(), "aa:bb:cc:dd:01:01");
        v["args"]["podPrefixLength"] = serde_json::json!(24);
        v["runtimeConfig"] = serde_json::json!({"ips": ["10.1.2.3"]});
        let c = parse(&v.to_string(), None).unwrap();
        assert_eq!(c.ipv4.unwrap().gateway.unwrap().to_string(), "10.1.2.1");
    }

    #[test]
    fn conventional_addresses_are_checked_like_ip_config() {
        let cases: &[(&str, &[&str])] = &[
            ("IP=1.1.1.1", &["CNI_ARGS IP", "gateway"]),
            ("IP=0.0.0.0/0", &["CNI_ARGS IP", "0.0.0.0/0"]),
            ("IP=127.0.0.2", &["loopback"]),
            ("IP=224.0.0.5", &["multicast"]),
            ("IP=::/0", &["::/0"]),
            ("IP=1.1.1.2,1.1.1.6", &["one ipv4 address"]),
            ("IP=nope", &["CNI_ARGS IP", "nope"]),
            (
                "IP=1.1.1.2;MAC=01:00:5e:00:00:01",
                &["CNI_ARGS MAC", "unicast"],
            ),
            ("K8S_POD_NAME=x", &["CNI_ARGS IP", "runtimeConfig.ips"]),
        ];
        for (args, words) in cases {
            let e = parse(SHARED, Some(args)).expect_err(args);
            assert_eq!(e.code, CniError::INVALID_CONFIG, "{args}");
            for w in *words {
                assert!(e.msg.contains(w), "{args}: {:?} lacks {w:?}", e.msg);
            }
        }
        let e = with("\"1.1.1.2/30\"", "\"0.0.0.0/0\"").unwrap_err();
        assert!(e.msg.contains("not a pod address"), "{}", e.msg);
    }
}
