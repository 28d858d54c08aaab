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
//!
//! Loading is blocking (cluster-mesh names are resolved, the control
//! group is looked up): [`load`], [`from_str`] and [`reload`] are plain
//! functions, called before the runtime starts or, from async code,
//! through `tokio::task::spawn_blocking`.
//!
//! The parts: `raw` reads the TOML and checks it against the schema
//! tables (every key, every value's type); `validate` turns it into a
//! [`Config`] one section at a time (top level, groups and their
//! [`SessionSettings`], VRFs, cluster mesh).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use ferry_wire::{Family, FamilySet, RouteDistinguisher, RouteTarget};
use ipnet::IpNet;

pub use crate::bfd::BfdConfig;

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

mod raw;
#[cfg(test)]
mod tests;
mod validate;

use validate::Validator;

/// How a session with a neighbour runs: what a group sets for each of its
/// neighbours (configured or dynamic), and what a reload compares to
/// decide whether a session is reset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSettings {
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
    /// RFC 9687 SendHoldTime: seconds a peer may leave our output unread
    /// before the session is dropped; `None` is the RFC's suggested
    /// default (see [`SessionSettings::send_hold_time`]), 0 turns it off.
    pub send_hold_time: Option<u16>,
    /// Per family: how many prefixes a neighbour may send (Junos
    /// `prefix-limit`).
    pub prefix_limits: Vec<(Family, PrefixLimit)>,
    /// BFD with the neighbour (Junos `bfd-liveness-detection`).
    pub bfd: Option<BfdConfig>,
}

impl SessionSettings {
    /// The RIB's role of the neighbour: eBGP, or an iBGP route reflector
    /// client or non-client (RFC 4456).
    pub fn role(&self) -> ferry_rib::peer::Role {
        use ferry_rib::peer::Role;
        match (self.peer_type, self.route_reflector_client) {
            (PeerType::External, _) => Role::External,
            (PeerType::Internal, true) => Role::Client,
            (PeerType::Internal, false) => Role::NonClient,
        }
    }

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

/// A BGP group: its neighbours, the ranges dynamic neighbours come from,
/// and the settings of every session with them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub allow: Vec<IpNet>,
    pub neighbors: Vec<IpAddr>,
    pub session: SessionSettings,
}
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

/// The group the cluster mesh's sessions belong to.
pub const MESH_GROUP: &str = "cluster-mesh";

/// A neighbour with its group's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeighborConfig {
    pub address: IpAddr,
    pub group: String,
    /// Accepted from an `allow` range rather than configured.
    pub dynamic: bool,
    pub session: SessionSettings,
}

/// RFC 9687 §4.4: the suggested SendHoldTime, "the greater of 8 minutes or
/// 2 times HoldTime".
pub const DEFAULT_SEND_HOLD_TIME: u16 = 480;

/// The smallest SendHoldTime accepted: the smallest hold time (RFC 4271
/// §4.2). Values this short are for tests; the RFC asks for more than the
/// hold time.
pub const MIN_SEND_HOLD_TIME: i64 = 3;

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
///
/// Blocking: it may resolve cluster-mesh names and look up the control
/// group; async code calls it through `tokio::task::spawn_blocking`.
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
///
/// Blocking, like [`load`].
pub fn from_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
    Validator::new(origin).config(raw::parse(text, origin)?)
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
/// group; the daemon calls it through `tokio::task::spawn_blocking`.
pub fn reload(path: &Path, running: &StartupValues) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let raw = raw::parse(&read(path, &file)?, &file)?;
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

/// An error at `key` of `file`.
fn invalid(file: &str, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        file: file.to_string(),
        key: key.into(),
        message: message.into(),
    }
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

impl Config {
    /// True when this speaker is a route reflector.
    pub fn is_reflector(&self) -> bool {
        self.cluster_id.is_some()
    }

    /// Every family some group carries.
    pub fn families(&self) -> FamilySet {
        self.groups
            .iter()
            .flat_map(|g| g.session.families.iter().copied())
            .collect()
    }

    fn resolve(&self, g: &Group, address: IpAddr, dynamic: bool) -> NeighborConfig {
        NeighborConfig {
            address,
            group: g.name.clone(),
            dynamic,
            session: g.session.clone(),
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
