//! The control socket protocol between `bgpd` and `bgpctl`.
//!
//! One request per connection: the client writes one JSON object on one
//! line, the daemon answers with one JSON object on one line and closes.
//! Field names are kebab-case; session states use their RFC 4271 names.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// What a client asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Request {
    /// `bgpctl show summary`
    Summary,
    /// `bgpctl show neighbor [ADDRESS]`
    Neighbors {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<IpAddr>,
    },
    /// `bgpctl show route …`
    Routes(RouteQuery),
    /// `bgpctl reload`: re-read the configuration file.
    Reload,
    /// Attach a pod prefix to a VRF: the worker originates it as an EVPN
    /// Type-5 route (used by the `ferry` CNI plugin).
    Attach { vrf: String, prefix: String },
    /// Detach a pod prefix: its route is withdrawn.
    Detach { vrf: String, prefix: String },
}

/// Which routes `show route` lists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RouteQuery {
    /// `evpn`, `inet-vpn`, `inet6-vpn`, `inet`, `inet6`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// A route distinguisher as text (`10.10.25.42:1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rd: Option<String>,
    /// A prefix: routes whose prefix equals it (or, for EVPN type 2, whose
    /// IP is inside it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Only paths received from this peer (Adj-RIB-In).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_from: Option<IpAddr>,
    /// Only routes advertised to this peer (Adj-RIB-Out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertised_to: Option<IpAddr>,
}

/// The daemon's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Response {
    Ok { body: Body },
    Error { message: String },
}

/// The payload of a successful answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Body {
    Summary(Summary),
    Neighbors {
        neighbors: Vec<NeighborDetail>,
    },
    Routes {
        routes: Vec<RouteEntry>,
    },
    Reloaded(ReloadReport),
    /// An attach or detach was done.
    Done {
        message: String,
    },
}

/// `show summary`, modelled on Junos `show bgp summary`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Summary {
    pub router_id: String,
    pub local_as: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    pub groups: usize,
    pub peers: usize,
    pub down_peers: usize,
    /// Dynamic neighbours accepted from `allow` ranges ("Unconfigured peers").
    pub unconfigured_peers: usize,
    pub tables: Vec<TableSummary>,
    pub neighbors: Vec<NeighborSummary>,
}

/// One table line of the summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct TableSummary {
    /// Junos table name: `bgp.l3vpn.0`, `bgp.l3vpn-inet6.0`, `bgp.evpn.0`, …
    pub table: String,
    /// Ferry family name: `inet-vpn`, …
    pub family: String,
    pub total_paths: u64,
    pub active_paths: u64,
}

/// One peer line of the summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct NeighborSummary {
    pub address: IpAddr,
    pub asn: u32,
    pub group: String,
    pub in_messages: u64,
    pub out_messages: u64,
    /// Messages queued for sending.
    pub out_queue: u64,
    pub flaps: u64,
    /// Seconds since the session last changed between up and down.
    pub last_change_secs: u64,
    /// `Idle`, `Connect`, `Active`, `OpenSent`, `OpenConfirm`, `Established`.
    pub state: String,
    /// Per-table counts, for Established peers.
    pub tables: Vec<PeerTableCounts>,
}

/// Active/Received/Accepted of one peer in one table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PeerTableCounts {
    pub table: String,
    pub family: String,
    pub active: u64,
    pub received: u64,
    pub accepted: u64,
}

/// `show neighbor`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct NeighborDetail {
    #[serde(flatten)]
    pub summary: NeighborSummary,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_address: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router_id: Option<String>,
    /// `internal` or `external`.
    pub peer_type: String,
    pub route_reflector_client: bool,
    /// True for a neighbour accepted from an `allow` range.
    pub dynamic: bool,
    pub hold_time: u16,
    pub keepalive: u16,
    /// Families both sides announced.
    pub families: Vec<String>,
    /// Capabilities the peer announced, as text.
    pub peer_capabilities: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub treat_as_withdraw: u64,
}

/// One path of `show route`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RouteEntry {
    pub family: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rd: Option<String>,
    /// The NLRI as text (`type-5 ip-prefix rd … prefix 1.1.1.0/30 …`, or
    /// `10.1.0.0/24`).
    pub nlri: String,
    /// The prefix or MAC/IP alone, for narrow tables.
    pub prefix: String,
    /// True for the best path (Junos `*`).
    pub best: bool,
    /// Where the path came from: a peer address or `local`.
    pub from: String,
    pub next_hop: String,
    pub as_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_pref: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub med: Option<u32>,
    pub origin: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub communities: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extended_communities: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub originator_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_list: Vec<String>,
    /// Label (VPN) or VNI (EVPN with VXLAN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<u32>,
    /// False for a path rejected as a loop.
    pub eligible: bool,
}

/// What `reload` did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ReloadReport {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    pub unchanged: usize,
}
