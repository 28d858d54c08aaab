//! The configuration file: TOML, shaped like the Junos BGP groups of a
//! cRPD route reflector.
//!
//! ```toml
//! router-id = "10.10.25.42"
//! local-as = 64512
//! cluster-id = "10.10.25.42"          # present: this speaker reflects
//! control-socket = "/run/ferry/bgpd.sock"
//! [[group]]
//! name = "workers"
//! type = "internal"                    # or "external" with peer-as
//! local-address = "10.10.25.42"
//! families = ["inet-vpn", "inet6-vpn", "evpn"]
//! route-reflector-client = true
//! allow = ["10.10.0.0/16"]             # dynamic neighbours
//! neighbors = []
//! hold-time = 90
//! send-hold-time = 480                 # RFC 9687; default max(480, 2 × hold time)
//! ```
//!
//! Operations: `http-listen = "0.0.0.0:9179"` serves `/metrics`, `/livez`
//! and `/readyz` (off without it); `log-format = "json"` logs one JSON
//! object per line (default `"text"`).
//!
//! Every error names the file, the key (`group[1].allow[0]`) and the value.
//! Keys are matched exactly (lowercase kebab-case), numbers must be TOML
//! integers, strings TOML strings.
//!
//! A reload cannot change what the daemon was started with — `router-id`,
//! `local-as`, `cluster-id`, the listening and control sockets: such a
//! change is validated, reported as pending a restart, and the running value
//! stays in force everywhere until then ([`reload`]).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use ferry_wire::{Family, FamilySet, RouteDistinguisher, RouteTarget};
use ipnet::IpNet;

pub use crate::bfd::BfdConfig;
use serde::Deserialize;

/// The default control socket.
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/ferry/bgpd.sock";
/// The families a group carries when it names none: the seed's.
pub const DEFAULT_FAMILIES: [Family; 3] = [Family::VPNV4, Family::VPNV6, Family::EVPN];

/// A configuration file that could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: {message}")]
    File { file: String, message: String },
    #[error("{file}: {key}: {message}")]
    Invalid {
        file: String,
        key: String,
        message: String,
    },
}

/// iBGP or eBGP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeerType {
    Internal,
    External,
}

impl PeerType {
    pub fn as_str(self) -> &'static str {
        match self {
            PeerType::Internal => "internal",
            PeerType::External => "external",
        }
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawConfig {
    router_id: Option<String>,
    local_as: Option<i64>,
    cluster_id: Option<String>,
    control_socket: Option<String>,
    control_group: Option<String>,
    listen_address: Option<String>,
    listen_port: Option<i64>,
    hold_time: Option<i64>,
    connect_retry: Option<i64>,
    graceful_restart_time: Option<i64>,
    #[serde(default)]
    group: Vec<RawGroup>,
    vtep_address: Option<String>,
    kernel_sync: Option<bool>,
    state_dir: Option<String>,
    #[serde(default)]
    vrf: Vec<RawVrf>,
    cluster_mesh: Option<RawMesh>,
    http_listen: Option<String>,
    log_format: Option<String>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawGroup {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    peer_as: Option<i64>,
    local_address: Option<String>,
    families: Option<Vec<String>>,
    route_reflector_client: Option<bool>,
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    neighbors: Vec<String>,
    hold_time: Option<i64>,
    connect_retry: Option<i64>,
    passive: Option<bool>,
    peer_port: Option<i64>,
    authentication_key: Option<String>,
    ttl_security: Option<i64>,
    send_hold_time: Option<i64>,
    #[serde(default)]
    prefix_limit: std::collections::BTreeMap<String, RawPrefixLimit>,
    bfd_liveness_detection: Option<RawBfd>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawBfd {
    minimum_interval: Option<i64>,
    multiplier: Option<i64>,
    multihop: Option<bool>,
    check_control_plane_failure: Option<bool>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPrefixLimit {
    maximum: Option<i64>,
    teardown: Option<bool>,
    restart: Option<i64>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawVrf {
    name: Option<String>,
    vni: Option<i64>,
    route_target: Option<String>,
    #[serde(default)]
    import: Vec<String>,
    #[serde(default)]
    export: Vec<String>,
    rd: Option<String>,
    table: Option<i64>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawMesh {
    local_cluster: Option<String>,
    local_address: Option<String>,
    #[serde(default)]
    clusters: Vec<RawCluster>,
    bfd_liveness_detection: Option<RawBfd>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawCluster {
    name: Option<String>,
    #[serde(default)]
    route_reflectors: Vec<String>,
}

/// A BGP group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub peer_type: PeerType,
    pub peer_as: u32,
    pub local_address: Option<IpAddr>,
    pub families: Vec<Family>,
    pub route_reflector_client: bool,
    pub allow: Vec<IpNet>,
    pub neighbors: Vec<IpAddr>,
    pub hold_time: u16,
    pub connect_retry: u16,
    pub passive: bool,
    pub peer_port: u16,
    pub authentication_key: Option<String>,
    pub ttl_security: Option<u8>,
    /// RFC 9687 SendHoldTime: seconds a peer may leave our output unread
    /// before the session is dropped; `None` is the RFC's suggested
    /// default (see [`NeighborConfig::send_hold_time`]), 0 turns it off.
    pub send_hold_time: Option<u16>,
    /// Per family: how many prefixes a neighbour may send (Junos
    /// `prefix-limit`).
    pub prefix_limits: Vec<(Family, PrefixLimit)>,
    /// BFD with every neighbour of the group (Junos
    /// `bfd-liveness-detection`).
    pub bfd: Option<BfdConfig>,
}

/// A prefix limit: past `maximum`, warn, or with `teardown` close the
/// session (Cease / Maximum Number of Prefixes Reached, RFC 4486) and, with
/// a non-zero `restart`, open it again after that many seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrefixLimit {
    pub maximum: u64,
    pub teardown: bool,
    pub restart: u16,
}

/// A VRF of a worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vrf {
    pub name: String,
    pub vni: u32,
    pub import: Vec<RouteTarget>,
    pub export: Vec<RouteTarget>,
    pub rd: Option<RouteDistinguisher>,
    /// The kernel routing table; default [`Vrf::default_table`].
    pub table: Option<u32>,
}

impl Vrf {
    /// The routing table of a VRF whose table is not configured: derived
    /// from its VNI, so stable across restarts and distinct per VNI.
    pub fn default_table(vni: u32) -> u32 {
        1_000_000 + vni
    }
}

/// One cluster of the cluster mesh.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeshCluster {
    pub name: String,
    /// Addresses or host names of its route reflectors.
    pub route_reflectors: Vec<String>,
}

/// The cluster mesh: route reflectors of every cluster peer with each other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterMesh {
    pub local_cluster: String,
    pub local_address: Option<IpAddr>,
    pub clusters: Vec<MeshCluster>,
    /// BFD with the other clusters' reflectors: multihop (RFC 5883).
    pub bfd: Option<BfdConfig>,
}

/// A validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Where it was read from (for messages).
    pub origin: String,
    pub router_id: Ipv4Addr,
    pub local_as: u32,
    pub cluster_id: Option<Ipv4Addr>,
    pub control_socket: PathBuf,
    /// A group whose members may use the control socket (mode 0660);
    /// without it only root (mode 0600).
    pub control_group: Option<(String, u32)>,
    pub listen_address: Option<IpAddr>,
    pub listen_port: u16,
    pub hold_time: u16,
    pub connect_retry: u16,
    /// RFC 4724 restart time announced to peers; 0 turns graceful restart off.
    pub graceful_restart_time: u16,
    pub groups: Vec<Group>,
    pub vtep_address: Option<IpAddr>,
    /// Program the kernel (worker role): VRFs, imported routes, pods.
    pub kernel_sync: bool,
    /// Where the worker keeps what must survive a restart.
    pub state_dir: PathBuf,
    pub vrfs: Vec<Vrf>,
    pub cluster_mesh: Option<ClusterMesh>,
    /// Where `/metrics`, `/livez` and `/readyz` are served; off when `None`.
    pub http_listen: Option<std::net::SocketAddr>,
    pub log_format: LogFormat,
    /// After a reload: the values of the file not in force until a restart,
    /// as `local-as 64513 (running 64512)` (see [`reload`]).
    pub restart_pending: Vec<String>,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object per line: timestamp, level, target, fields.
    Json,
}

impl LogFormat {
    pub fn from_name(name: &str) -> Option<LogFormat> {
        match name {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

/// The id of a system group, by name.
fn group_id(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: getgrnam with a valid C string; the result is read at once.
    let g = unsafe { libc::getgrnam(c.as_ptr()) };
    if g.is_null() {
        None
    } else {
        // SAFETY: g is a valid group entry.
        Some(unsafe { (*g).gr_gid })
    }
}

/// The group the cluster mesh's sessions belong to.
pub const MESH_GROUP: &str = "cluster-mesh";

/// The addresses of a route reflector named in the cluster mesh: an
/// address, or a DNS name resolved now (on each load and reload). A name
/// that does not resolve yields nothing: its cluster may not exist yet.
fn resolve_host(name: &str) -> Vec<IpAddr> {
    if let Ok(a) = name.parse::<IpAddr>() {
        return vec![a];
    }
    use std::net::ToSocketAddrs;
    match (name, 179).to_socket_addrs() {
        Ok(it) => {
            let mut v: Vec<IpAddr> = it.map(|sa| sa.ip()).collect();
            v.sort();
            v.dedup();
            v
        }
        Err(e) => {
            tracing::warn!(name, error = %e, "cluster mesh: route reflector name does not resolve");
            Vec::new()
        }
    }
}

/// A neighbour with its group's settings resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeighborConfig {
    pub address: IpAddr,
    pub group: String,
    pub peer_type: PeerType,
    /// The peer's AS (our own for internal groups).
    pub peer_as: u32,
    pub local_address: Option<IpAddr>,
    pub families: Vec<Family>,
    pub route_reflector_client: bool,
    pub hold_time: u16,
    pub connect_retry: u16,
    pub passive: bool,
    pub peer_port: u16,
    pub authentication_key: Option<String>,
    pub ttl_security: Option<u8>,
    /// RFC 9687 SendHoldTime as configured (`None`: the default).
    pub send_hold_time: Option<u16>,
    pub prefix_limits: Vec<(Family, PrefixLimit)>,
    pub bfd: Option<BfdConfig>,
    /// Accepted from an `allow` range rather than configured.
    pub dynamic: bool,
}

/// RFC 9687 §4.4: the suggested SendHoldTime, "the greater of 8 minutes or
/// 2 times HoldTime".
pub const DEFAULT_SEND_HOLD_TIME: u16 = 480;

/// The smallest SendHoldTime accepted: the smallest hold time (RFC 4271
/// §4.2). Values this short are for tests; the RFC asks for more than the
/// hold time.
pub const MIN_SEND_HOLD_TIME: i64 = 3;

impl NeighborConfig {
    /// The SendHoldTime of a session whose negotiated hold time is
    /// `hold_time`: the configured value, or the RFC 9687 default; `None`
    /// when turned off (0).
    pub fn send_hold_time(&self, hold_time: u16) -> Option<std::time::Duration> {
        let secs = match self.send_hold_time {
            Some(0) => return None,
            Some(v) => v as u64,
            None => (DEFAULT_SEND_HOLD_TIME as u64).max(2 * hold_time as u64),
        };
        Some(std::time::Duration::from_secs(secs))
    }
}

/// What a reload changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReloadPlan {
    pub added: Vec<NeighborConfig>,
    pub removed: Vec<NeighborConfig>,
    pub changed: Vec<(NeighborConfig, NeighborConfig)>,
    pub unchanged: Vec<IpAddr>,
    /// Some group's `allow` ranges changed.
    pub allow_changed: bool,
}

/// The `log-format` a configuration file names, read before the file is
/// validated (logging starts first); `None` when it names none or cannot
/// be read.
pub fn log_format_of(path: &Path) -> Option<LogFormat> {
    let table: toml::Table = std::fs::read_to_string(path).ok()?.parse().ok()?;
    LogFormat::from_name(table.get("log-format")?.as_str()?)
}

/// Reads and validates a configuration file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    from_str(&read(path, &file)?, &file)
}

fn read(path: &Path, file: &str) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        file: file.to_string(),
        message: format!("cannot read: {e}"),
    })
}

/// Parses and validates configuration text; `origin` names it in errors.
pub fn from_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
    Validator::new(origin).config(parse(text, origin)?)
}

/// What the daemon was started with: a reload keeps these and reports a
/// changed one as pending a restart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartupValues {
    pub router_id: Ipv4Addr,
    pub local_as: u32,
    pub cluster_id: Option<Ipv4Addr>,
    pub control_socket: PathBuf,
    pub control_group: Option<String>,
    pub listen_address: Option<IpAddr>,
    pub listen_port: u16,
    pub http_listen: Option<std::net::SocketAddr>,
    pub log_format: LogFormat,
}

impl StartupValues {
    /// The values `cfg` runs with.
    pub fn of(cfg: &Config) -> StartupValues {
        StartupValues {
            router_id: cfg.router_id,
            local_as: cfg.local_as,
            cluster_id: cfg.cluster_id,
            control_socket: cfg.control_socket.clone(),
            control_group: cfg.control_group.as_ref().map(|g| g.0.clone()),
            listen_address: cfg.listen_address,
            listen_port: cfg.listen_port,
            http_listen: cfg.http_listen,
            log_format: cfg.log_format,
        }
    }
}

/// Reads the configuration file again for a reload of a daemon running
/// with `running`. The file must be valid as written (it is what a restart
/// will use); the configuration returned keeps the running values of
/// [`StartupValues`] — with everything derived from them, such as the AS
/// of internal groups — and lists each changed one in
/// [`Config::restart_pending`] as `local-as 64513 (running 64512)`.
///
/// Blocking: it may resolve cluster-mesh names and look up the control
/// group.
pub fn reload(path: &Path, running: &StartupValues) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let raw = parse(&read(path, &file)?, &file)?;
    let as_written = Validator::new(&file).config(raw.clone())?;
    if StartupValues::of(&as_written) == *running {
        return Ok(as_written);
    }
    let mut v = Validator::new(&file);
    v.running = Some(running);
    v.config(raw).map_err(|e| match e {
        ConfigError::Invalid { file, key, message } => ConfigError::Invalid {
            file,
            key,
            message: format!(
                "{message} (with the running {}, which stays until a restart)",
                running_text(running)
            ),
        },
        other => other,
    })
}

fn running_text(r: &StartupValues) -> String {
    format!(
        "router-id {}, local-as {}, cluster-id {}",
        r.router_id,
        r.local_as,
        r.cluster_id
            .map_or_else(|| "none".to_string(), |c| c.to_string())
    )
}

/// The shape of a value in the file.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
    Bool,
    StrList,
    /// A table with these keys.
    Table(&'static [(&'static str, Kind)]),
    /// An array of tables (`[[group]]`) with these keys.
    Tables(&'static [(&'static str, Kind)]),
    /// A table whose keys are names (families), each a table with these keys.
    Named(&'static [(&'static str, Kind)]),
}

const PREFIX_LIMIT_KEYS: &[(&str, Kind)] = &[
    ("maximum", Kind::Int),
    ("teardown", Kind::Bool),
    ("restart", Kind::Int),
];

const GROUP_KEYS: &[(&str, Kind)] = &[
    ("name", Kind::Str),
    ("type", Kind::Str),
    ("peer-as", Kind::Int),
    ("local-address", Kind::Str),
    ("families", Kind::StrList),
    ("route-reflector-client", Kind::Bool),
    ("allow", Kind::StrList),
    ("neighbors", Kind::StrList),
    ("hold-time", Kind::Int),
    ("connect-retry", Kind::Int),
    ("passive", Kind::Bool),
    ("peer-port", Kind::Int),
    ("authentication-key", Kind::Str),
    ("ttl-security", Kind::Int),
    ("send-hold-time", Kind::Int),
    ("prefix-limit", Kind::Named(PREFIX_LIMIT_KEYS)),
    ("bfd-liveness-detection", Kind::Table(BFD_KEYS)),
];

const BFD_KEYS: &[(&str, Kind)] = &[
    ("minimum-interval", Kind::Int),
    ("multiplier", Kind::Int),
    ("multihop", Kind::Bool),
    ("check-control-plane-failure", Kind::Bool),
];

const VRF_KEYS: &[(&str, Kind)] = &[
    ("name", Kind::Str),
    ("vni", Kind::Int),
    ("route-target", Kind::Str),
    ("import", Kind::StrList),
    ("export", Kind::StrList),
    ("rd", Kind::Str),
    ("table", Kind::Int),
];

const CLUSTER_KEYS: &[(&str, Kind)] = &[("name", Kind::Str), ("route-reflectors", Kind::StrList)];

const MESH_KEYS: &[(&str, Kind)] = &[
    ("local-cluster", Kind::Str),
    ("local-address", Kind::Str),
    ("clusters", Kind::Tables(CLUSTER_KEYS)),
    ("bfd-liveness-detection", Kind::Table(BFD_KEYS)),
];

const TOP_KEYS: &[(&str, Kind)] = &[
    ("router-id", Kind::Str),
    ("local-as", Kind::Int),
    ("cluster-id", Kind::Str),
    ("control-socket", Kind::Str),
    ("control-group", Kind::Str),
    ("listen-address", Kind::Str),
    ("listen-port", Kind::Int),
    ("hold-time", Kind::Int),
    ("connect-retry", Kind::Int),
    ("graceful-restart-time", Kind::Int),
    ("group", Kind::Tables(GROUP_KEYS)),
    ("vtep-address", Kind::Str),
    ("kernel-sync", Kind::Bool),
    ("state-dir", Kind::Str),
    ("vrf", Kind::Tables(VRF_KEYS)),
    ("cluster-mesh", Kind::Table(MESH_KEYS)),
    ("http-listen", Kind::Str),
    ("log-format", Kind::Str),
];

/// The TOML text as the raw configuration: syntax, then every key and the
/// type of every value, checked against [`TOP_KEYS`].
fn parse(text: &str, origin: &str) -> Result<RawConfig, ConfigError> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::File {
            file: origin.to_string(),
            message: toml_error(text, &e),
        })?;
    let v = Validator::new(origin);
    v.keys("", &table, TOP_KEYS)?;
    // Every key is spelled exactly and every value has its type: the
    // `config` crate (which folds key case and reads "64512" as a number)
    // now only maps the checked text onto the configuration structs.
    config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .build()
        .and_then(|c| c.try_deserialize())
        .map_err(|e| ConfigError::File {
            file: origin.to_string(),
            message: e.to_string().trim().replace('\n', "; "),
        })
}

/// A TOML syntax error on one line: `line 2, column 12: …`.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

/// A value as the error messages show it: its TOML type and text.
fn describe(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("the string {s:?}"),
        toml::Value::Integer(i) => format!("the integer {i}"),
        toml::Value::Float(f) => format!("the number {f}"),
        toml::Value::Boolean(b) => format!("the boolean {b}"),
        toml::Value::Datetime(d) => format!("the date {d}"),
        toml::Value::Array(_) => "an array".to_string(),
        toml::Value::Table(_) => "a table".to_string(),
    }
}

struct Validator<'a> {
    file: &'a str,
    /// On reload: the values the daemon runs with, kept.
    running: Option<&'a StartupValues>,
}

impl<'a> Validator<'a> {
    fn new(file: &'a str) -> Validator<'a> {
        Validator {
            file,
            running: None,
        }
    }

    /// Every key of `t` is one of `keys`, spelled exactly, and its value
    /// has the type the key wants.
    fn keys(
        &self,
        prefix: &str,
        t: &toml::Table,
        keys: &[(&str, Kind)],
    ) -> Result<(), ConfigError> {
        for (k, v) in t {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            let Some((_, kind)) = keys.iter().find(|(name, _)| *name == k) else {
                let wanted = k.to_ascii_lowercase().replace('_', "-");
                let message = match keys.iter().find(|(name, _)| *name == wanted) {
                    Some((name, _)) => {
                        format!("unknown key {k:?}: keys are lowercase with dashes, write {name:?}")
                    }
                    None => {
                        let known: Vec<&str> = keys.iter().map(|(name, _)| *name).collect();
                        format!("unknown key {k:?}: expected one of {}", known.join(", "))
                    }
                };
                return Err(self.err(path, message));
            };
            self.value(&path, v, *kind)?;
        }
        Ok(())
    }

    fn value(&self, path: &str, v: &toml::Value, kind: Kind) -> Result<(), ConfigError> {
        let wrong = |what: &str| {
            let mut message = format!("{} where {what} is expected", describe(v));
            if let (toml::Value::String(s), Kind::Int) = (v, kind) {
                if let Ok(i) = s.trim().parse::<i64>() {
                    message.push_str(&format!(": write {i} without quotes"));
                }
            }
            Err(self.err(path, message))
        };
        match (kind, v) {
            (Kind::Str, toml::Value::String(_))
            | (Kind::Int, toml::Value::Integer(_))
            | (Kind::Bool, toml::Value::Boolean(_)) => Ok(()),
            (Kind::Str, _) => wrong("a string"),
            (Kind::Int, _) => wrong("an integer"),
            (Kind::Bool, _) => wrong("true or false"),
            (Kind::StrList, toml::Value::Array(a)) => {
                for (i, e) in a.iter().enumerate() {
                    self.value(&format!("{path}[{i}]"), e, Kind::Str)?;
                }
                Ok(())
            }
            (Kind::StrList, _) => wrong("an array of strings"),
            (Kind::Table(keys), toml::Value::Table(t)) => self.keys(path, t, keys),
            (Kind::Table(_), _) => wrong("a table"),
            (Kind::Tables(keys), toml::Value::Array(a)) => {
                for (i, e) in a.iter().enumerate() {
                    let at = format!("{path}[{i}]");
                    match e {
                        toml::Value::Table(t) => self.keys(&at, t, keys)?,
                        other => {
                            return Err(self
                                .err(at, format!("{} where a table is expected", describe(other))))
                        }
                    }
                }
                Ok(())
            }
            (Kind::Tables(_), _) => wrong("an array of tables"),
            (Kind::Named(keys), toml::Value::Table(t)) => {
                for (name, e) in t {
                    self.value(&format!("{path}.{name}"), e, Kind::Table(keys))?;
                }
                Ok(())
            }
            (Kind::Named(_), _) => wrong("a table"),
        }
    }

    fn err(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_string(),
            key: key.into(),
            message: message.into(),
        }
    }

    fn ipv4(&self, key: &str, v: &str) -> Result<Ipv4Addr, ConfigError> {
        v.parse()
            .map_err(|_| self.err(key, format!("invalid IPv4 address {v:?}")))
    }

    fn ip(&self, key: &str, v: &str) -> Result<IpAddr, ConfigError> {
        let a: IpAddr = v
            .parse()
            .map_err(|_| self.err(key, format!("invalid IP address {v:?}")))?;
        if let IpAddr::V6(v6) = a {
            if v6.to_ipv4_mapped().is_some() {
                return Err(self.err(
                    key,
                    format!("{v:?} is an IPv4-mapped IPv6 address: write the IPv4 address"),
                ));
            }
        }
        Ok(a)
    }

    /// `ADDR:PORT`, an IPv6 address in brackets (`[::]:9179`).
    fn socket_address(&self, key: &str, v: &str) -> Result<std::net::SocketAddr, ConfigError> {
        let a: std::net::SocketAddr = v.parse().map_err(|_| {
            self.err(
                key,
                format!(
                    "{v:?} is not ADDR:PORT: write for example \"0.0.0.0:9179\" or \"[::]:9179\""
                ),
            )
        })?;
        if a.port() == 0 {
            return Err(self.err(key, format!("{v:?}: port 0; give the port to listen on")));
        }
        Ok(a)
    }

    fn range(&self, key: &str, v: i64, lo: i64, hi: i64) -> Result<i64, ConfigError> {
        if v < lo || v > hi {
            return Err(self.err(key, format!("value {v} outside {lo}..={hi}")));
        }
        Ok(v)
    }

    /// A `bfd-liveness-detection` table; `mesh` for the cluster mesh,
    /// whose sessions are multihop (RFC 5883).
    fn bfd(&self, key: &str, b: &RawBfd, mesh: bool) -> Result<BfdConfig, ConfigError> {
        let k = |f: &str| format!("{key}.{f}");
        let minimum_interval_ms = match b.minimum_interval {
            Some(v) => self.range(&k("minimum-interval"), v, 10, 60_000)? as u32,
            None => return Err(self.err(k("minimum-interval"), "missing (milliseconds)")),
        };
        let multiplier = self.range(&k("multiplier"), b.multiplier.unwrap_or(3), 1, 255)? as u8;
        let multihop = match (mesh, b.multihop) {
            (true, Some(false)) => {
                return Err(self.err(
                    k("multihop"),
                    "false: the cluster mesh spans routed hops, its BFD is multihop (RFC 5883)",
                ))
            }
            (true, _) => true,
            (false, m) => m.unwrap_or(false),
        };
        Ok(BfdConfig {
            minimum_interval_ms,
            multiplier,
            multihop,
            check_control_plane_failure: b.check_control_plane_failure.unwrap_or(false),
        })
    }

    fn hold_time(&self, key: &str, v: i64) -> Result<u16, ConfigError> {
        if v != 0 && !(3..=65535).contains(&v) {
            return Err(self.err(
                key,
                format!("hold time {v}: must be 0 or 3..=65535 seconds (RFC 4271 §4.2)"),
            ));
        }
        Ok(v as u16)
    }

    fn config(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let mut router_id = match &raw.router_id {
            Some(v) => self.ipv4("router-id", v)?,
            None => {
                return Err(self.err(
                    "router-id",
                    "missing: the BGP identifier (an IPv4 address) is required",
                ))
            }
        };
        if router_id.is_unspecified() {
            return Err(self.err(
                "router-id",
                "0.0.0.0 is not a valid BGP identifier (RFC 6286)",
            ));
        }
        let mut local_as = match raw.local_as {
            Some(v) => self.range("local-as", v, 1, u32::MAX as i64)? as u32,
            None => return Err(self.err("local-as", "missing: the local AS number is required")),
        };
        if local_as == 23456 {
            return Err(self.err(
                "local-as",
                "23456 is AS_TRANS (RFC 6793) and cannot be a local AS",
            ));
        }
        let mut cluster_id = raw
            .cluster_id
            .as_deref()
            .map(|v| self.ipv4("cluster-id", v))
            .transpose()?;
        let hold_time = self.hold_time("hold-time", raw.hold_time.unwrap_or(90))?;
        let connect_retry =
            self.range("connect-retry", raw.connect_retry.unwrap_or(30), 1, 65535)? as u16;
        let graceful_restart_time = self.range(
            "graceful-restart-time",
            raw.graceful_restart_time.unwrap_or(120),
            0,
            4095,
        )? as u16;
        let mut listen_port =
            self.range("listen-port", raw.listen_port.unwrap_or(179), 1, 65535)? as u16;
        let mut listen_address = raw
            .listen_address
            .as_deref()
            .map(|v| self.ip("listen-address", v))
            .transpose()?;
        let mut http_listen = raw
            .http_listen
            .as_deref()
            .map(|v| self.socket_address("http-listen", v))
            .transpose()?;
        let mut log_format = match raw.log_format.as_deref() {
            None => LogFormat::Text,
            Some(v) => LogFormat::from_name(v).ok_or_else(|| {
                self.err(
                    "log-format",
                    format!("{v:?}: expected \"text\" or \"json\""),
                )
            })?,
        };
        let mut control_socket = PathBuf::from(
            raw.control_socket
                .unwrap_or_else(|| DEFAULT_CONTROL_SOCKET.into()),
        );
        if control_socket.as_os_str().is_empty() {
            return Err(self.err("control-socket", "empty path"));
        }
        let mut control_group = match raw.control_group {
            None => None,
            Some(name) => match group_id(&name) {
                Some(gid) => Some((name, gid)),
                None => return Err(self.err("control-group", format!("{name:?}: no such group"))),
            },
        };
        // On reload, what the daemon was started with stays until a restart.
        let written_as = local_as;
        let mut restart_pending = Vec::new();
        if let Some(r) = self.running {
            let mut pending = |key: &str, new: String, running: String| {
                restart_pending.push(format!("{key} {new} (running {running})"));
            };
            let opt = |v: Option<String>| v.unwrap_or_else(|| "none".to_string());
            if router_id != r.router_id {
                pending("router-id", router_id.to_string(), r.router_id.to_string());
                router_id = r.router_id;
            }
            if local_as != r.local_as {
                pending("local-as", local_as.to_string(), r.local_as.to_string());
                local_as = r.local_as;
            }
            if cluster_id != r.cluster_id {
                pending(
                    "cluster-id",
                    opt(cluster_id.map(|c| c.to_string())),
                    opt(r.cluster_id.map(|c| c.to_string())),
                );
                cluster_id = r.cluster_id;
            }
            if control_socket != r.control_socket {
                pending(
                    "control-socket",
                    control_socket.display().to_string(),
                    r.control_socket.display().to_string(),
                );
                control_socket = r.control_socket.clone();
            }
            let group_name = control_group.as_ref().map(|g| g.0.clone());
            if group_name != r.control_group {
                pending(
                    "control-group",
                    opt(group_name),
                    opt(r.control_group.clone()),
                );
                control_group = match &r.control_group {
                    None => None,
                    Some(name) => group_id(name).map(|gid| (name.clone(), gid)),
                };
            }
            if listen_address != r.listen_address {
                pending(
                    "listen-address",
                    opt(listen_address.map(|a| a.to_string())),
                    opt(r.listen_address.map(|a| a.to_string())),
                );
                listen_address = r.listen_address;
            }
            if listen_port != r.listen_port {
                pending(
                    "listen-port",
                    listen_port.to_string(),
                    r.listen_port.to_string(),
                );
                listen_port = r.listen_port;
            }
            if http_listen != r.http_listen {
                pending(
                    "http-listen",
                    opt(http_listen.map(|a| a.to_string())),
                    opt(r.http_listen.map(|a| a.to_string())),
                );
                http_listen = r.http_listen;
            }
            if log_format != r.log_format {
                pending(
                    "log-format",
                    log_format.as_str().to_string(),
                    r.log_format.as_str().to_string(),
                );
                log_format = r.log_format;
            }
        }

        let mut groups = Vec::new();
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut owner: HashMap<IpAddr, String> = HashMap::new();
        let mut ranges: HashMap<IpNet, String> = HashMap::new();
        for (gi, g) in raw.group.into_iter().enumerate() {
            let k = |s: &str| format!("group[{gi}].{s}");
            let name = g
                .name
                .ok_or_else(|| self.err(k("name"), "missing: every group needs a name"))?;
            if name.is_empty() {
                return Err(self.err(k("name"), "empty name"));
            }
            if let Some(prev) = names.insert(name.clone(), gi) {
                return Err(self.err(
                    k("name"),
                    format!("{name:?} is already the name of group[{prev}]"),
                ));
            }
            let peer_type = match g.kind.as_deref().unwrap_or("internal") {
                "internal" => PeerType::Internal,
                "external" => PeerType::External,
                other => {
                    return Err(self.err(
                        k("type"),
                        format!("{other:?}: expected \"internal\" or \"external\""),
                    ))
                }
            };
            let peer_as = match (peer_type, g.peer_as) {
                (PeerType::Internal, None) => local_as,
                // The AS as written stands for the running one until a restart.
                (PeerType::Internal, Some(a)) if a == local_as as i64 || a == written_as as i64 => {
                    local_as
                }
                (PeerType::Internal, Some(a)) => {
                    return Err(self.err(
                        k("peer-as"),
                        format!("{a} differs from local-as {local_as} in an internal group"),
                    ))
                }
                (PeerType::External, None) => {
                    return Err(
                        self.err(k("peer-as"), "missing: an external group needs the peer AS")
                    )
                }
                (PeerType::External, Some(a)) => {
                    let a = self.range(&k("peer-as"), a, 1, u32::MAX as i64)? as u32;
                    if a == local_as {
                        return Err(self.err(
                            k("peer-as"),
                            format!(
                                "{a} equals local-as in an external group: use type = \"internal\""
                            ),
                        ));
                    }
                    a
                }
            };
            let local_address = g
                .local_address
                .as_deref()
                .map(|v| self.ip(&k("local-address"), v))
                .transpose()?;
            let families = match g.families {
                None => DEFAULT_FAMILIES.to_vec(),
                Some(list) => {
                    if list.is_empty() {
                        return Err(self.err(
                            k("families"),
                            "empty: name at least one of inet, inet6, inet-vpn, inet6-vpn, evpn",
                        ));
                    }
                    let mut out = Vec::new();
                    for (fi, f) in list.iter().enumerate() {
                        let fam = Family::from_name(f).ok_or_else(|| {
                            self.err(format!("group[{gi}].families[{fi}]"), format!("unknown family {f:?}: expected inet, inet6, inet-vpn, inet6-vpn or evpn"))
                        })?;
                        if out.contains(&fam) {
                            return Err(self.err(
                                format!("group[{gi}].families[{fi}]"),
                                format!("{f:?} is listed twice"),
                            ));
                        }
                        out.push(fam);
                    }
                    out
                }
            };
            let rr_client = g.route_reflector_client.unwrap_or(false);
            if rr_client && peer_type == PeerType::External {
                return Err(self.err(
                    k("route-reflector-client"),
                    "true in an external group: route reflection is for internal peers (RFC 4456)",
                ));
            }
            if rr_client && cluster_id.is_none() {
                return Err(self.err(
                    k("route-reflector-client"),
                    "true but no cluster-id is set: a route reflector needs cluster-id",
                ));
            }
            let mut allow = Vec::new();
            for (ai, a) in g.allow.iter().enumerate() {
                let key = format!("group[{gi}].allow[{ai}]");
                let net: IpNet = a
                    .parse()
                    .map_err(|e| self.err(&key, format!("invalid prefix {a:?}: {e}")))?;
                if net.trunc() != net {
                    return Err(self.err(
                        &key,
                        format!("{a:?} has host bits set: write the network {}", net.trunc()),
                    ));
                }
                if let Some(other) = ranges.insert(net, name.clone()) {
                    return Err(
                        self.err(&key, format!("{a} is already allowed in group {other:?}"))
                    );
                }
                allow.push(net);
            }
            let mut neighbors = Vec::new();
            for (ni, n) in g.neighbors.iter().enumerate() {
                let key = format!("group[{gi}].neighbors[{ni}]");
                let addr = self.ip(&key, n)?;
                if let Some(other) = owner.insert(addr, name.clone()) {
                    return Err(self.err(
                        &key,
                        format!("{addr} is already a neighbor in group {other:?}"),
                    ));
                }
                if let Some(la) = local_address {
                    if la.is_ipv4() != addr.is_ipv4() {
                        return Err(self.err(
                            &key,
                            format!(
                                "{addr} and local-address {la} are of different address families"
                            ),
                        ));
                    }
                }
                neighbors.push(addr);
            }
            let hold = match g.hold_time {
                Some(v) => self.hold_time(&k("hold-time"), v)?,
                None => hold_time,
            };
            let retry = match g.connect_retry {
                Some(v) => self.range(&k("connect-retry"), v, 1, 65535)? as u16,
                None => connect_retry,
            };
            let peer_port =
                self.range(&k("peer-port"), g.peer_port.unwrap_or(179), 1, 65535)? as u16;
            if let Some(key) = &g.authentication_key {
                if key.is_empty() || key.len() > 80 {
                    return Err(self.err(
                        k("authentication-key"),
                        format!(
                            "length {}: must be 1..=80 octets (TCP MD5, RFC 2385)",
                            key.len()
                        ),
                    ));
                }
            }
            let ttl_security = g
                .ttl_security
                .map(|v| self.range(&k("ttl-security"), v, 1, 254).map(|v| v as u8))
                .transpose()?;
            let bfd = g
                .bfd_liveness_detection
                .as_ref()
                .map(|b| self.bfd(&format!("group[{gi}].bfd-liveness-detection"), b, false))
                .transpose()?;
            let send_hold_time = match g.send_hold_time {
                Some(v) if v == 0 || (MIN_SEND_HOLD_TIME..=65535).contains(&v) => Some(v as u16),
                Some(v) => {
                    return Err(self.err(
                        k("send-hold-time"),
                        format!(
                            "send hold time {v}: must be 0 (off) or \
                             {MIN_SEND_HOLD_TIME}..=65535 seconds (RFC 9687)"
                        ),
                    ))
                }
                None => None,
            };
            let mut prefix_limits = Vec::new();
            for (fam, l) in &g.prefix_limit {
                let key = |f: &str| format!("group[{gi}].prefix-limit.{fam}.{f}");
                let family = Family::from_name(fam).ok_or_else(|| {
                    self.err(
                        format!("group[{gi}].prefix-limit"),
                        format!(
                            "{fam:?} is not a family: use evpn, inet-vpn, inet6-vpn, inet or inet6"
                        ),
                    )
                })?;
                let maximum = match l.maximum {
                    Some(m) => self.range(&key("maximum"), m, 1, u32::MAX as i64)? as u64,
                    None => return Err(self.err(key("maximum"), "missing")),
                };
                let restart = self.range(&key("restart"), l.restart.unwrap_or(0), 0, 65535)? as u16;
                prefix_limits.push((
                    family,
                    PrefixLimit {
                        maximum,
                        teardown: l.teardown.unwrap_or(false),
                        restart,
                    },
                ));
            }
            groups.push(Group {
                prefix_limits,
                name,
                peer_type,
                peer_as,
                local_address,
                families,
                route_reflector_client: rr_client,
                allow,
                neighbors,
                hold_time: hold,
                connect_retry: retry,
                passive: g.passive.unwrap_or(false),
                peer_port,
                authentication_key: g.authentication_key,
                ttl_security,
                bfd,
                send_hold_time,
            });
        }

        // A neighbour must not be one of our own addresses.
        for (gi, g) in groups.iter().enumerate() {
            for (ni, n) in g.neighbors.iter().enumerate() {
                let key = format!("group[{gi}].neighbors[{ni}]");
                if *n == IpAddr::V4(router_id) {
                    return Err(self.err(
                        key,
                        format!("{n} is our own router-id: a neighbor is another speaker"),
                    ));
                }
                if let Some(oi) = groups.iter().position(|o| o.local_address == Some(*n)) {
                    return Err(self.err(
                        key,
                        format!(
                            "{n} is our own address (group[{oi}].local-address): a neighbor is another speaker"
                        ),
                    ));
                }
            }
        }

        let vtep_address = raw
            .vtep_address
            .as_deref()
            .map(|v| self.ip("vtep-address", v))
            .transpose()?;
        let mut vrfs = Vec::new();
        let mut vrf_names: HashMap<String, usize> = HashMap::new();
        let mut vnis: HashMap<u32, String> = HashMap::new();
        let mut tables: HashMap<u32, (String, String)> = HashMap::new();
        for (vi, v) in raw.vrf.into_iter().enumerate() {
            let k = |s: &str| format!("vrf[{vi}].{s}");
            let name = v
                .name
                .ok_or_else(|| self.err(k("name"), "missing: every VRF needs a name"))?;
            if name.is_empty()
                || name.len() > 12
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(self.err(k("name"), format!("{name:?}: use 1 to 12 letters, digits, '-' or '_' (it names kernel devices)")));
            }
            if let Some(prev) = vrf_names.insert(name.clone(), vi) {
                return Err(self.err(
                    k("name"),
                    format!("{name:?} is already the name of vrf[{prev}]"),
                ));
            }
            let vni = match v.vni {
                Some(n) => self.range(&k("vni"), n, 1, 0xff_ffff)? as u32,
                None => return Err(self.err(k("vni"), "missing: every VRF needs a VNI")),
            };
            if let Some(other) = vnis.insert(vni, name.clone()) {
                return Err(self.err(
                    k("vni"),
                    format!("VNI {vni} is already used by VRF {other:?}"),
                ));
            }
            let rt = |key: String, s: &str| -> Result<RouteTarget, ConfigError> {
                s.parse().map_err(
                    |e: ferry_wire::attribute::extended_community::ParseRouteTargetError| {
                        self.err(key, e.to_string())
                    },
                )
            };
            let mut import = Vec::new();
            let mut export = Vec::new();
            if let Some(t) = &v.route_target {
                let t = rt(k("route-target"), t)?;
                import.push(t);
                export.push(t);
            }
            for (i, t) in v.import.iter().enumerate() {
                import.push(rt(format!("vrf[{vi}].import[{i}]"), t)?);
            }
            for (i, t) in v.export.iter().enumerate() {
                export.push(rt(format!("vrf[{vi}].export[{i}]"), t)?);
            }
            if import.is_empty() || export.is_empty() {
                return Err(self.err(
                    k("route-target"),
                    "missing: give route-target, or both import and export",
                ));
            }
            let rd =
                v.rd.as_deref()
                    .map(|s| {
                        s.parse::<RouteDistinguisher>()
                            .map_err(|e| self.err(k("rd"), e.to_string()))
                    })
                    .transpose()?;
            let table = v
                .table
                .map(|t| self.range(&k("table"), t, 1, u32::MAX as i64))
                .transpose()?
                .map(|t| t as u32);
            if let Some(t) = table {
                if (253..=255).contains(&t) {
                    return Err(self.err(
                        k("table"),
                        format!("{t} is a reserved table (default, main, local)"),
                    ));
                }
            }
            let kernel_table = table.unwrap_or_else(|| Vrf::default_table(vni));
            let how = |t: Option<u32>, vni: u32| match t {
                Some(_) => "its table".to_string(),
                None => format!("its default table, 1000000 + VNI {vni}"),
            };
            if let Some((other, other_how)) = tables.get(&kernel_table) {
                return Err(self.err(
                    if table.is_some() { k("table") } else { k("vni") },
                    format!(
                        "VRF {name:?} would use kernel table {kernel_table} ({}), which is already VRF {other:?}'s ({other_how}): give one of them another table",
                        how(table, vni)
                    ),
                ));
            }
            tables.insert(kernel_table, (name.clone(), how(table, vni)));
            vrfs.push(Vrf {
                name,
                vni,
                import,
                export,
                rd,
                table,
            });
        }

        let cluster_mesh = match raw.cluster_mesh {
            None => None,
            Some(m) => {
                let local_cluster = m.local_cluster.ok_or_else(|| {
                    self.err(
                        "cluster-mesh.local-cluster",
                        "missing: the name of this cluster",
                    )
                })?;
                let local_address = m
                    .local_address
                    .as_deref()
                    .map(|v| self.ip("cluster-mesh.local-address", v))
                    .transpose()?;
                let mut clusters = Vec::new();
                let mut seen = HashMap::new();
                for (ci, c) in m.clusters.into_iter().enumerate() {
                    let name = c.name.ok_or_else(|| {
                        self.err(format!("cluster-mesh.clusters[{ci}].name"), "missing")
                    })?;
                    if seen.insert(name.clone(), ci).is_some() {
                        return Err(self.err(
                            format!("cluster-mesh.clusters[{ci}].name"),
                            format!("{name:?} is listed twice"),
                        ));
                    }
                    for (ri, r) in c.route_reflectors.iter().enumerate() {
                        let host_ok = !r.is_empty()
                            && r.chars()
                                .all(|ch| ch.is_ascii_alphanumeric() || ".-:".contains(ch));
                        if !host_ok {
                            return Err(self.err(
                                format!("cluster-mesh.clusters[{ci}].route-reflectors[{ri}]"),
                                format!("{r:?} is neither an address nor a host name"),
                            ));
                        }
                    }
                    clusters.push(MeshCluster {
                        name,
                        route_reflectors: c.route_reflectors,
                    });
                }
                if cluster_id.is_none() {
                    return Err(self.err(
                        "cluster-mesh",
                        "only a route reflector (with cluster-id) joins the cluster mesh",
                    ));
                }
                let bfd = m
                    .bfd_liveness_detection
                    .as_ref()
                    .map(|b| self.bfd("cluster-mesh.bfd-liveness-detection", b, true))
                    .transpose()?;
                Some(ClusterMesh {
                    local_cluster,
                    local_address,
                    clusters,
                    bfd,
                })
            }
        };
        if let Some(mesh) = &cluster_mesh {
            if groups.iter().any(|g| g.name == MESH_GROUP) {
                return Err(self.err(
                    "group",
                    format!("{MESH_GROUP:?} is the name of the cluster mesh's group; rename yours"),
                ));
            }
            let mesh_bfd = mesh.bfd;
            let local_address = mesh
                .local_address
                .or_else(|| groups.iter().find_map(|g| g.local_address));
            let mut neighbors: Vec<IpAddr> = Vec::new();
            for c in mesh
                .clusters
                .iter()
                .filter(|c| c.name != mesh.local_cluster)
            {
                for r in &c.route_reflectors {
                    for a in resolve_host(r) {
                        let taken = groups.iter().any(|g| g.neighbors.contains(&a));
                        let own = Some(a) == local_address || a == IpAddr::V4(router_id);
                        let same_family = local_address.is_none_or(|l| l.is_ipv4() == a.is_ipv4());
                        if !taken && !own && same_family && !neighbors.contains(&a) {
                            neighbors.push(a);
                        }
                    }
                }
            }
            groups.push(Group {
                name: MESH_GROUP.to_string(),
                peer_type: PeerType::Internal,
                peer_as: local_as,
                local_address,
                families: vec![Family::VPNV4, Family::VPNV6, Family::EVPN],
                route_reflector_client: false,
                allow: Vec::new(),
                neighbors,
                hold_time,
                connect_retry,
                passive: false,
                peer_port: 179,
                authentication_key: None,
                ttl_security: None,
                send_hold_time: None,
                prefix_limits: Vec::new(),
                bfd: mesh_bfd,
            });
        }

        Ok(Config {
            origin: self.file.to_string(),
            router_id,
            local_as,
            cluster_id,
            control_socket,
            control_group,
            listen_address,
            listen_port,
            hold_time,
            connect_retry,
            graceful_restart_time,
            groups,
            vtep_address,
            kernel_sync: raw.kernel_sync.unwrap_or(cluster_id.is_none()),
            state_dir: PathBuf::from(raw.state_dir.as_deref().unwrap_or("/var/lib/ferry")),
            vrfs,
            cluster_mesh,
            http_listen,
            log_format,
            restart_pending,
        })
    }
}

impl Config {
    /// True when this speaker is a route reflector.
    pub fn is_reflector(&self) -> bool {
        self.cluster_id.is_some()
    }

    /// Every family some group carries.
    pub fn families(&self) -> FamilySet {
        self.groups
            .iter()
            .flat_map(|g| g.families.iter().copied())
            .collect()
    }

    fn resolve(&self, g: &Group, address: IpAddr, dynamic: bool) -> NeighborConfig {
        NeighborConfig {
            address,
            group: g.name.clone(),
            peer_type: g.peer_type,
            peer_as: g.peer_as,
            local_address: g.local_address,
            families: g.families.clone(),
            route_reflector_client: g.route_reflector_client,
            hold_time: g.hold_time,
            connect_retry: g.connect_retry,
            passive: g.passive,
            peer_port: g.peer_port,
            authentication_key: g.authentication_key.clone(),
            ttl_security: g.ttl_security,
            send_hold_time: g.send_hold_time,
            prefix_limits: g.prefix_limits.clone(),
            bfd: g.bfd,
            dynamic,
        }
    }

    /// The configured neighbours, group settings resolved.
    pub fn neighbors(&self) -> Vec<NeighborConfig> {
        self.groups
            .iter()
            .flat_map(|g| g.neighbors.iter().map(move |a| (g, *a)))
            .map(|(g, a)| self.resolve(g, a, false))
            .collect()
    }

    /// The configured neighbour with this address.
    pub fn neighbor(&self, addr: IpAddr) -> Option<NeighborConfig> {
        self.groups
            .iter()
            .find(|g| g.neighbors.contains(&addr))
            .map(|g| self.resolve(g, addr, false))
    }

    /// The dynamic neighbour `addr` would be: the group whose `allow` range
    /// holds it, longest prefix first. Configured neighbours never match.
    pub fn match_dynamic(&self, addr: IpAddr) -> Option<NeighborConfig> {
        if self.neighbor(addr).is_some() {
            return None;
        }
        let mut best: Option<(u8, &Group)> = None;
        for g in &self.groups {
            for net in &g.allow {
                if net.contains(&addr) && best.is_none_or(|(len, _)| net.prefix_len() > len) {
                    best = Some((net.prefix_len(), g));
                }
            }
        }
        best.map(|(_, g)| self.resolve(g, addr, true))
    }
}

/// What changes between two configurations.
pub fn diff(old: &Config, new: &Config) -> ReloadPlan {
    let mut plan = ReloadPlan::default();
    let old_n: HashMap<IpAddr, NeighborConfig> = old
        .neighbors()
        .into_iter()
        .map(|n| (n.address, n))
        .collect();
    let new_n = new.neighbors();
    for n in &new_n {
        match old_n.get(&n.address) {
            None => plan.added.push(n.clone()),
            Some(o) if o == n => plan.unchanged.push(n.address),
            Some(o) => plan.changed.push((o.clone(), n.clone())),
        }
    }
    for (addr, o) in &old_n {
        if !new_n.iter().any(|n| n.address == *addr) {
            plan.removed.push(o.clone());
        }
    }
    plan.removed.sort_by_key(|n| n.address);
    let allows = |c: &Config| {
        c.groups
            .iter()
            .map(|g| (g.name.clone(), g.allow.clone()))
            .collect::<Vec<_>>()
    };
    plan.allow_changed = allows(old) != allows(new);
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"
router-id = "10.10.25.42"
local-as = 64512
cluster-id = "10.10.25.42"          # present: this speaker reflects
control-socket = "/run/ferry/bgpd.sock"
[[group]]
name = "workers"
type = "internal"                    # or "external" with peer-as
local-address = "10.10.25.42"
families = ["inet-vpn", "inet6-vpn", "evpn"]
route-reflector-client = true
allow = ["10.10.0.0/16"]             # dynamic neighbours
neighbors = []
hold-time = 90
[[group]]
name = "inter-cluster"
type = "internal"
local-address = "10.10.25.42"
families = ["inet-vpn", "inet6-vpn", "evpn"]
neighbors = ["10.20.63.45"]
"#;

    fn err(text: &str) -> String {
        from_str(text, "test.toml").unwrap_err().to_string()
    }

    #[test]
    fn the_cluster_mesh_peers_with_every_other_clusters_reflectors() {
        let base = SEED.replace("neighbors = [\"10.20.63.45\"]", "neighbors = []");
        let mesh = |clusters: &str| {
            format!("{base}[cluster-mesh]\nlocal-cluster = \"us-west-1\"\n{clusters}")
        };
        let two = mesh(
            "[[cluster-mesh.clusters]]\nname = \"us-west-1\"\nroute-reflectors = [\"10.10.25.42\"]\n\
             [[cluster-mesh.clusters]]\nname = \"us-west-2\"\nroute-reflectors = [\"10.20.63.45\", \"localhost\"]\n",
        );
        let c = from_str(&two, "mesh.toml").unwrap();
        let g = c.groups.iter().find(|g| g.name == MESH_GROUP).unwrap();
        assert_eq!(g.local_address, Some("10.10.25.42".parse().unwrap()));
        assert!(g.neighbors.contains(&"10.20.63.45".parse().unwrap()));
        assert!(
            g.neighbors.contains(&"127.0.0.1".parse().unwrap()),
            "{:?}",
            g.neighbors
        );
        assert!(!g.neighbors.contains(&"10.10.25.42".parse().unwrap()));
        assert_eq!(g.families, vec![Family::VPNV4, Family::VPNV6, Family::EVPN]);
        // A third cluster is one entry; a reload adds its reflector only.
        let three = format!(
            "{two}[[cluster-mesh.clusters]]\nname = \"eu-west-1\"\nroute-reflectors = [\"10.30.0.10\"]\n"
        );
        let c3 = from_str(&three, "mesh.toml").unwrap();
        let plan = diff(&c, &c3);
        assert_eq!(plan.added.len(), 1);
        assert_eq!(
            plan.added[0].address,
            "10.30.0.10".parse::<IpAddr>().unwrap()
        );
        assert!(plan.removed.is_empty() && plan.changed.is_empty());
    }

    #[test]
    fn the_seed_configuration_loads() {
        let c = from_str(SEED, "seed.toml").unwrap();
        assert_eq!(c.router_id, Ipv4Addr::new(10, 10, 25, 42));
        assert_eq!(c.local_as, 64512);
        assert!(c.is_reflector());
        assert_eq!(c.groups.len(), 2);
        assert_eq!(
            c.groups[0].allow,
            vec!["10.10.0.0/16".parse::<IpNet>().unwrap()]
        );
        let n = c.neighbors();
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].address, "10.20.63.45".parse::<IpAddr>().unwrap());
        assert_eq!(n[0].group, "inter-cluster");
        assert_eq!(n[0].peer_as, 64512);
        assert_eq!(n[0].families, DEFAULT_FAMILIES.to_vec());
        let d = c.match_dynamic("10.10.93.12".parse().unwrap()).unwrap();
        assert!(d.dynamic && d.route_reflector_client);
        assert_eq!(d.group, "workers");
        assert!(c.match_dynamic("10.20.63.45".parse().unwrap()).is_none());
        assert!(c.match_dynamic("192.0.2.1".parse().unwrap()).is_none());
    }

    #[test]
    fn defaults_apply() {
        let c = from_str("router-id = \"1.1.1.1\"\nlocal-as = 65000\n", "t").unwrap();
        assert_eq!(c.control_socket, PathBuf::from(DEFAULT_CONTROL_SOCKET));
        assert_eq!((c.hold_time, c.connect_retry, c.listen_port), (90, 30, 179));
        assert!(!c.is_reflector());
    }

    #[test]
    fn bfd_liveness_detection_per_group_and_for_the_mesh() {
        let base = "router-id = \"1.1.1.1\"\nlocal-as = 65000\ncluster-id = \"1.1.1.1\"\n";
        let text = format!(
            "{base}[[group]]\nname = \"workers\"\nneighbors = [\"10.0.0.2\"]\n\
             [group.bfd-liveness-detection]\nminimum-interval = 100\nmultiplier = 3\n\
             [cluster-mesh]\nlocal-cluster = \"a\"\nlocal-address = \"10.9.0.1\"\n\
             [[cluster-mesh.clusters]]\nname = \"b\"\nroute-reflectors = [\"10.9.0.2\"]\n\
             [cluster-mesh.bfd-liveness-detection]\nminimum-interval = 300\n"
        );
        let c = from_str(&text, "test.toml").unwrap();
        let workers = c.neighbor("10.0.0.2".parse().unwrap()).unwrap();
        assert_eq!(
            workers.bfd,
            Some(BfdConfig {
                minimum_interval_ms: 100,
                multiplier: 3,
                multihop: false,
                check_control_plane_failure: false,
            })
        );
        let mesh = c.neighbor("10.9.0.2".parse().unwrap()).unwrap();
        assert_eq!(
            mesh.bfd
                .map(|b| (b.minimum_interval_ms, b.multiplier, b.multihop)),
            Some((300, 3, true))
        );
        let g = "[[group]]\nname = \"g\"\n[group.bfd-liveness-detection]\n";
        let cases: &[(String, &[&str])] = &[
            (
                format!("{base}{g}multiplier = 3\n"),
                &[
                    "group[0].bfd-liveness-detection.minimum-interval",
                    "missing",
                ],
            ),
            (
                format!("{base}{g}minimum-interval = 5\n"),
                &["group[0].bfd-liveness-detection.minimum-interval", "5"],
            ),
            (
                format!("{base}{g}minimum-interval = 100\nmultiplier = 0\n"),
                &["group[0].bfd-liveness-detection.multiplier", "0"],
            ),
            (
                format!("{base}{g}minimum-interval = \"100\"\n"),
                &[
                    "group[0].bfd-liveness-detection.minimum-interval",
                    "without quotes",
                ],
            ),
            (
                format!("{base}{g}minimum_interval = 100\n"),
                &[
                    "group[0].bfd-liveness-detection.minimum_interval",
                    "minimum-interval",
                ],
            ),
            (
                format!("{base}{g}minimum-interval = 100\nsession-mode = \"x\"\n"),
                &["session-mode", "expected one of"],
            ),
        ];
        for (text, needles) in cases {
            let e = err(text);
            assert!(e.starts_with("test.toml: "), "{e}");
            for n in *needles {
                assert!(e.contains(n), "{e:?} should contain {n:?}");
            }
        }
    }

    #[test]
    fn send_hold_time_defaults_to_the_rfc_9687_suggestion() {
        let base = "router-id = \"1.1.1.1\"\nlocal-as = 65000\n[[group]]\nname = \"g\"\nneighbors = [\"10.0.0.2\"]\n";
        let secs = |text: &str, hold: u16| {
            let c = from_str(text, "t").unwrap();
            c.neighbors()[0].send_hold_time(hold).map(|d| d.as_secs())
        };
        // The greater of 8 minutes or twice the hold time.
        assert_eq!(secs(base, 90), Some(480));
        assert_eq!(secs(base, 0), Some(480));
        assert_eq!(secs(base, 600), Some(1200));
        assert_eq!(secs(&format!("{base}send-hold-time = 3\n"), 90), Some(3));
        assert_eq!(secs(&format!("{base}send-hold-time = 0\n"), 90), None);
    }

    #[test]
    fn errors_name_the_key_and_the_value() {
        let base = "router-id = \"1.1.1.1\"\nlocal-as = 65000\n";
        let cases: &[(&str, &[&str])] = &[
            ("local-as = 65000\n", &["router-id", "missing"]),
            ("router-id = \"1.1.1.300\"\nlocal-as = 1\n", &["router-id", "1.1.1.300"]),
            ("router-id = \"1.1.1.1\"\nlocal-as = 23456\n", &["local-as", "23456"]),
            ("router-id = \"1.1.1.1\"\nlocal-as = 0\n", &["local-as", "0"]),
            (&format!("{base}hold-time = 2\n"), &["hold-time", "2"]),
            (&format!("{base}[[group]]\nname = \"g\"\nsend-hold-time = 2\n"), &["group[0].send-hold-time", "2", "RFC 9687"]),
            (&format!("{base}[[group]]\nname = \"g\"\nallow = [\"10.0.0.0/33\"]\n"), &["group[0].allow[0]", "10.0.0.0/33"]),
            (&format!("{base}[[group]]\nname = \"g\"\nneighbors = [\"10.0.0.999\"]\n"), &["group[0].neighbors[0]", "10.0.0.999"]),
            (&format!("{base}[[group]]\nname = \"g\"\nfamilies = [\"evpn\", \"l2vpn\"]\n"), &["group[0].families[1]", "l2vpn"]),
            (&format!("{base}[[group]]\nname = \"g\"\ntype = \"ebgp\"\n"), &["group[0].type", "ebgp"]),
            (&format!("{base}[[group]]\nname = \"g\"\ntype = \"external\"\n"), &["group[0].peer-as", "missing"]),
            (&format!("{base}[[group]]\nname = \"g\"\nroute-reflector-client = true\n"), &["group[0].route-reflector-client", "cluster-id"]),
            (&format!("{base}[[group]]\nname = \"g\"\n[[group]]\nname = \"g\"\n"), &["group[1].name", "\"g\""]),
            (&format!("{base}[[group]]\nname = \"a\"\nneighbors = [\"1.2.3.4\"]\n[[group]]\nname = \"b\"\nneighbors = [\"1.2.3.4\"]\n"), &["group[1].neighbors[0]", "1.2.3.4", "\"a\""]),
            (&format!("{base}[[group]]\nname = \"g\"\nlocal-address = \"10.0.0.1\"\nneighbors = [\"2001:db8::1\"]\n"), &["group[0].neighbors[0]", "2001:db8::1"]),
            (&format!("{base}[[vrf]]\nname = \"blue\"\nvni = 16777216\nroute-target = \"11:11\"\n"), &["vrf[0].vni", "16777216"]),
            (&format!("{base}[[vrf]]\nname = \"blue\"\nvni = 10002\nroute-target = \"11\"\n"), &["vrf[0].route-target", "\"11\""]),
        ];
        for (text, needles) in cases {
            let e = err(text);
            assert!(e.starts_with("test.toml: "), "{e}");
            for n in *needles {
                assert!(e.contains(n), "{e:?} should contain {n:?}");
            }
        }
    }

    #[test]
    fn unknown_keys_and_syntax_errors_are_reported() {
        let e = err("router-id = \"1.1.1.1\"\nlocal-as = 1\nhold-tim = 3\n");
        assert!(e.contains("hold-tim"), "{e}");
        let e = err("router-id = \"1.1.1.1\"\nlocal-as = \n");
        assert!(e.contains("line 2") || e.contains("2:"), "{e}");
        let e = load(Path::new("/nonexistent/ferry.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/ferry.toml"), "{e}");
    }

    #[test]
    fn longest_allow_prefix_wins() {
        let c = from_str(
            "router-id = \"1.1.1.1\"\nlocal-as = 1\ncluster-id = \"1.1.1.1\"\n[[group]]\nname = \"wide\"\nallow = [\"10.0.0.0/8\"]\n[[group]]\nname = \"narrow\"\nroute-reflector-client = true\nallow = [\"10.10.0.0/16\"]\n",
            "t",
        )
        .unwrap();
        assert_eq!(
            c.match_dynamic("10.10.1.1".parse().unwrap()).unwrap().group,
            "narrow"
        );
        assert_eq!(
            c.match_dynamic("10.20.1.1".parse().unwrap()).unwrap().group,
            "wide"
        );
    }

    #[test]
    fn diff_sorts_neighbors() {
        let a = from_str(SEED, "a").unwrap();
        let b = from_str(
            &SEED.replace(
                "neighbors = [\"10.20.63.45\"]",
                "neighbors = [\"10.30.0.1\"]\nhold-time = 30",
            ),
            "b",
        )
        .unwrap();
        let plan = diff(&a, &b);
        assert_eq!(plan.added.len(), 1);
        assert_eq!(plan.removed.len(), 1);
        let c = from_str(
            &SEED.replace(
                "neighbors = [\"10.20.63.45\"]",
                "neighbors = [\"10.20.63.45\"]\nhold-time = 30",
            ),
            "c",
        )
        .unwrap();
        let plan = diff(&a, &c);
        assert_eq!(plan.changed.len(), 1);
        assert!(plan.unchanged.is_empty());
        assert!(diff(&a, &a).changed.is_empty());
        assert_eq!(diff(&a, &a).unchanged.len(), 1);
    }

    /// `err(text)` contains every needle, and starts with the file.
    fn rejects(text: &str, needles: &[&str]) {
        let e = err(text);
        assert!(e.starts_with("test.toml: "), "{e}");
        for n in needles {
            assert!(e.contains(n), "{e:?} should contain {n:?}");
        }
    }

    const BASE: &str = "router-id = \"1.1.1.1\"\nlocal-as = 65000\n";

    #[test]
    fn two_vrfs_never_share_a_kernel_table() {
        let vrf = |name: &str, vni: u32, table: Option<u32>| {
            let t = table.map(|t| format!("table = {t}\n")).unwrap_or_default();
            format!("[[vrf]]\nname = \"{name}\"\nvni = {vni}\nroute-target = \"11:{vni}\"\n{t}")
        };
        // An explicit table equal to another VRF's default one, both ways.
        rejects(
            &format!(
                "{BASE}{}{}",
                vrf("blue", 5, Some(1_000_001)),
                vrf("red", 1, None)
            ),
            &[
                "vrf[1].vni",
                "1000001",
                "\"blue\"",
                "\"red\"",
                "1000000 + VNI 1",
            ],
        );
        rejects(
            &format!(
                "{BASE}{}{}",
                vrf("red", 1, None),
                vrf("blue", 5, Some(1_000_001))
            ),
            &["vrf[1].table", "1000001", "\"blue\"", "\"red\""],
        );
        // Two explicit tables.
        rejects(
            &format!(
                "{BASE}{}{}",
                vrf("blue", 5, Some(100)),
                vrf("red", 6, Some(100))
            ),
            &["vrf[1].table", "100", "\"blue\"", "\"red\""],
        );
        // Distinct tables, explicit or derived, are fine.
        let c = from_str(
            &format!(
                "{BASE}{}{}{}",
                vrf("blue", 5, Some(1_000_001)),
                vrf("red", 2, None),
                vrf("green", 3, Some(100))
            ),
            "test.toml",
        )
        .unwrap();
        assert_eq!(c.vrfs.len(), 3);
    }

    #[test]
    fn keys_are_matched_exactly() {
        rejects(
            "router-id = \"1.1.1.1\"\nLOCAL-AS = 64512\n",
            &["LOCAL-AS", "write \"local-as\""],
        );
        rejects(
            &format!("{BASE}hold_time = 90\n"),
            &["hold_time", "write \"hold-time\""],
        );
        rejects(
            &format!("{BASE}[[group]]\nname = \"g\"\nHold-Time = 90\n"),
            &["group[0].Hold-Time", "write \"hold-time\""],
        );
        rejects(
            &format!("{BASE}[[vrf]]\nname = \"b\"\nVNI = 1\nroute-target = \"1:1\"\n"),
            &["vrf[0].VNI", "write \"vni\""],
        );
        rejects(
            &format!("{BASE}[[group]]\nname = \"g\"\n[group.prefix-limit.evpn]\nMaximum = 5\n"),
            &["group[0].prefix-limit.evpn.Maximum", "\"maximum\""],
        );
        rejects(
            &format!("{BASE}[cluster-mesh]\nLocal-Cluster = \"a\"\n"),
            &["cluster-mesh.Local-Cluster", "\"local-cluster\""],
        );
        rejects(
            &format!("{BASE}routerid = \"1.1.1.1\"\n"),
            &["routerid", "expected one of", "router-id"],
        );
    }

    #[test]
    fn numbers_must_be_toml_integers() {
        rejects(
            "router-id = \"1.1.1.1\"\nlocal-as = \"64512\"\n",
            &[
                "local-as",
                "\"64512\"",
                "an integer",
                "write 64512 without quotes",
            ],
        );
        let cases: &[(&str, &[&str])] = &[
            ("hold-time = \"90\"\n", &["hold-time", "\"90\""]),
            ("listen-port = \"179\"\n", &["listen-port", "\"179\""]),
            ("connect-retry = 3.5\n", &["connect-retry", "3.5"]),
            (
                "graceful-restart-time = true\n",
                &["graceful-restart-time", "true"],
            ),
            (
                "kernel-sync = \"yes\"\n",
                &["kernel-sync", "\"yes\"", "true or false"],
            ),
            (
                "vtep-address = 1\n",
                &["vtep-address", "integer 1", "a string"],
            ),
            (
                "[[group]]\nname = \"g\"\nhold-time = \"30\"\n",
                &["group[0].hold-time", "\"30\""],
            ),
            (
                "[[group]]\nname = \"g\"\npeer-port = \"1179\"\n",
                &["group[0].peer-port", "\"1179\""],
            ),
            (
                "[[group]]\nname = \"g\"\nttl-security = \"1\"\n",
                &["group[0].ttl-security", "\"1\""],
            ),
            (
                "[[group]]\nname = \"g\"\nallow = [10]\n",
                &["group[0].allow[0]", "integer 10"],
            ),
            (
                "[[group]]\nname = \"g\"\nneighbors = \"10.0.0.1\"\n",
                &["group[0].neighbors", "\"10.0.0.1\"", "an array"],
            ),
            (
                "[[group]]\nname = \"g\"\n[group.prefix-limit.evpn]\nmaximum = \"5\"\n",
                &["group[0].prefix-limit.evpn.maximum", "\"5\""],
            ),
            (
                "[[vrf]]\nname = \"b\"\nvni = \"10\"\nroute-target = \"1:1\"\n",
                &["vrf[0].vni", "\"10\""],
            ),
            (
                "[[vrf]]\nname = \"b\"\nvni = 10\ntable = \"100\"\nroute-target = \"1:1\"\n",
                &["vrf[0].table", "\"100\""],
            ),
        ];
        for (extra, needles) in cases {
            rejects(&format!("{BASE}{extra}"), needles);
        }
    }

    #[test]
    fn prefixes_with_host_bits_are_refused() {
        let allow = |p: &str| {
            format!("{BASE}[[group]]\nname = \"g\"\nallow = [\"10.10.0.0/16\", \"{p}\"]\n")
        };
        rejects(
            &allow("10.1.2.3/8"),
            &["group[0].allow[1]", "10.1.2.3/8", "host bits", "10.0.0.0/8"],
        );
        rejects(
            &allow("2001:db8::1/32"),
            &["group[0].allow[1]", "2001:db8::1/32", "2001:db8::/32"],
        );
        for ok in ["10.0.0.0/8", "10.1.2.3/32", "2001:db8::/32", "0.0.0.0/0"] {
            let c = from_str(&allow(ok), "test.toml").unwrap();
            assert_eq!(c.groups[0].allow[1], ok.parse::<IpNet>().unwrap());
        }
    }

    #[test]
    fn a_neighbor_is_never_ourselves() {
        rejects(
            &format!("{BASE}[[group]]\nname = \"g\"\nneighbors = [\"10.0.0.2\", \"1.1.1.1\"]\n"),
            &["group[0].neighbors[1]", "1.1.1.1", "router-id"],
        );
        rejects(
            &format!("{BASE}[[group]]\nname = \"a\"\nneighbors = [\"10.0.0.9\"]\n[[group]]\nname = \"b\"\nlocal-address = \"10.0.0.9\"\n"),
            &["group[0].neighbors[0]", "10.0.0.9", "group[1].local-address"],
        );
        rejects(
            &format!("{BASE}[[group]]\nname = \"a\"\nlocal-address = \"10.0.0.9\"\nneighbors = [\"10.0.0.9\"]\n"),
            &["group[0].neighbors[0]", "10.0.0.9", "group[0].local-address"],
        );
        let c = from_str(
            &format!("{BASE}[[group]]\nname = \"a\"\nlocal-address = \"10.0.0.9\"\nneighbors = [\"10.0.0.10\"]\n"),
            "test.toml",
        )
        .unwrap();
        assert_eq!(c.neighbors().len(), 1);
    }

    /// Writes `text` to a file and reloads it over a daemon running `running`.
    fn reload_text(
        running: &Config,
        text: &str,
    ) -> (tempfile::NamedTempFile, Result<Config, ConfigError>) {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        let r = reload(f.path(), &StartupValues::of(running));
        (f, r)
    }

    #[test]
    fn a_reload_keeps_the_running_identity_and_says_a_restart_is_pending() {
        let running = from_str(SEED, "seed.toml").unwrap();
        assert!(running.restart_pending.is_empty());
        // A new local-as, router-id and cluster-id, and one more neighbour.
        let text = SEED
            .replace("local-as = 64512", "local-as = 64513")
            .replace("router-id = \"10.10.25.42\"", "router-id = \"10.10.25.43\"")
            .replace(
                "cluster-id = \"10.10.25.42\"",
                "cluster-id = \"10.10.25.44\"",
            )
            .replace("[\"10.20.63.45\"]", "[\"10.20.63.45\", \"10.20.63.46\"]");
        let (_f, r) = reload_text(&running, &text);
        let c = r.unwrap();
        assert_eq!(
            c.restart_pending,
            vec![
                "router-id 10.10.25.43 (running 10.10.25.42)".to_string(),
                "local-as 64513 (running 64512)".to_string(),
                "cluster-id 10.10.25.44 (running 10.10.25.42)".to_string(),
            ]
        );
        assert_eq!(c.local_as, 64512);
        assert_eq!(c.router_id, Ipv4Addr::new(10, 10, 25, 42));
        assert_eq!(c.cluster_id, Some(Ipv4Addr::new(10, 10, 25, 42)));
        // Sessions and dynamic neighbours keep the running AS: nothing is
        // reset, the new neighbour is added.
        let plan = diff(&running, &c);
        assert!(
            plan.changed.is_empty() && plan.removed.is_empty(),
            "{plan:?}"
        );
        assert_eq!(plan.added.len(), 1);
        assert_eq!(plan.added[0].peer_as, 64512);
        assert!(!plan.allow_changed);
        let d = c.match_dynamic("10.10.93.12".parse().unwrap()).unwrap();
        assert_eq!(
            d,
            running
                .match_dynamic("10.10.93.12".parse().unwrap())
                .unwrap()
        );
        // What a restart will use.
        let restarted = from_str(&text, "seed.toml").unwrap();
        assert_eq!(restarted.local_as, 64513);
        assert!(restarted.restart_pending.is_empty());

        // The file back at the running value: nothing pending.
        let (_f, r) = reload_text(
            &c,
            &SEED.replace("local-as = 64512", "local-as = 64512 # again"),
        );
        let back = r.unwrap();
        assert!(
            back.restart_pending.is_empty(),
            "{:?}",
            back.restart_pending
        );
        assert_eq!(
            Config {
                origin: running.origin.clone(),
                ..back
            },
            running
        );

        // An internal group that spells out the new AS stays internal with the running one.
        let (_f, r) = reload_text(
            &running,
            &SEED
                .replace("local-as = 64512", "local-as = 64513")
                .replace("hold-time = 90", "hold-time = 90\npeer-as = 64513"),
        );
        let c = r.unwrap();
        assert_eq!(
            c.restart_pending,
            vec!["local-as 64513 (running 64512)".to_string()]
        );
        assert_eq!(c.groups[0].peer_as, 64512);

        // The sockets too.
        let (_f, r) = reload_text(&running, &format!("listen-port = 1179\n{SEED}"));
        assert_eq!(
            r.unwrap().restart_pending,
            vec!["listen-port 1179 (running 179)".to_string()]
        );
    }

    #[test]
    fn a_reload_refuses_a_file_invalid_as_written_or_with_the_running_identity() {
        let running = from_str(SEED, "seed.toml").unwrap();
        // Invalid as written: the reload is refused, nothing is pending.
        let (f, r) = reload_text(
            &running,
            &SEED.replace("local-as = 64512", "local-as = \"64513\""),
        );
        let e = r.unwrap_err().to_string();
        assert!(
            e.contains(&f.path().display().to_string()) && e.contains("\"64513\""),
            "{e}"
        );
        // Valid as written, but an external group of the running AS.
        let text = format!(
            "{}[[group]]\nname = \"ext\"\ntype = \"external\"\npeer-as = 64512\n",
            SEED.replace("local-as = 64512", "local-as = 64513")
        );
        assert!(from_str(&text, "t").is_ok());
        let (_f, r) = reload_text(&running, &text);
        let e = r.unwrap_err().to_string();
        assert!(
            e.contains("group[2].peer-as") && e.contains("running") && e.contains("local-as 64512"),
            "{e}"
        );
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let e = err("router-id = \"1.1.1.1\"\nlocal-as = 1\nlocal-as = 2\n");
        assert!(e.starts_with("test.toml: line 3"), "{e}");
        assert!(!e.contains('\n'), "{e}");
        let e = err("router-id = \"1.1.1.1\"\nlocal-as = @AS@\n");
        assert!(e.starts_with("test.toml: line 2, column 12: "), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn http_listen_and_log_format() {
        let base = "router-id = \"1.1.1.1\"\nlocal-as = 1\n";
        let c = from_str(base, "test.toml").unwrap();
        assert_eq!(c.http_listen, None);
        assert_eq!(c.log_format, LogFormat::Text);
        let c = from_str(
            &format!("http-listen = \"[::]:9179\"\nlog-format = \"json\"\n{base}"),
            "test.toml",
        )
        .unwrap();
        assert_eq!(c.http_listen, Some("[::]:9179".parse().unwrap()));
        assert_eq!(c.log_format, LogFormat::Json);
        for (bad, needle) in [
            (
                "http-listen = \"9179\"",
                "test.toml: http-listen: \"9179\" is not ADDR:PORT",
            ),
            (
                "http-listen = \"0.0.0.0\"",
                "test.toml: http-listen: \"0.0.0.0\" is not ADDR:PORT",
            ),
            (
                "http-listen = \":::9179\"",
                "test.toml: http-listen: \":::9179\" is not ADDR:PORT",
            ),
            (
                "http-listen = \"0.0.0.0:0\"",
                "test.toml: http-listen: \"0.0.0.0:0\": port 0",
            ),
            (
                "http-listen = 9179",
                "test.toml: http-listen: the integer 9179 where a string is expected",
            ),
            (
                "log-format = \"xml\"",
                "test.toml: log-format: \"xml\": expected \"text\" or \"json\"",
            ),
            ("http_listen = \"0.0.0.0:9179\"", "write \"http-listen\""),
        ] {
            let e = err(&format!("{bad}\n{base}"));
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn a_reload_keeps_http_listen_and_log_format_until_a_restart() {
        let base = "router-id = \"1.1.1.1\"\nlocal-as = 1\n";
        let running = from_str(
            &format!("http-listen = \"127.0.0.1:9179\"\n{base}"),
            "test.toml",
        )
        .unwrap();
        let (_f, r) = reload_text(
            &running,
            &format!("http-listen = \"127.0.0.1:9180\"\nlog-format = \"json\"\n{base}"),
        );
        let c = r.unwrap();
        assert_eq!(c.http_listen, running.http_listen);
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(
            c.restart_pending,
            vec![
                "http-listen 127.0.0.1:9180 (running 127.0.0.1:9179)".to_string(),
                "log-format json (running text)".to_string()
            ]
        );
    }

    #[test]
    fn the_log_format_is_read_before_validation() {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), "log-format = \"json\"\nlocal-as = \"bad\"\n").unwrap();
        assert_eq!(log_format_of(f.path()), Some(LogFormat::Json));
        std::fs::write(f.path(), "local-as = 1\n").unwrap();
        assert_eq!(log_format_of(f.path()), None);
    }
}
