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
    /// `bgpctl show memory`
    Memory,
    /// `bgpctl reload`: re-read the configuration file.
    Reload,
    /// Attach a pod prefix to a VRF: the worker originates it as an EVPN
    /// Type-5 route (used by the `ferry` CNI plugin).
    Attach { vrf: String, prefix: String },
    /// Detach a pod prefix: its route is withdrawn.
    Detach { vrf: String, prefix: String },
    /// The `ferry` CNI plugin's ADD: put a pod's host link into a VRF
    /// (created on demand) and originate the pod's prefixes.
    AttachPod(PodAttach),
    /// The CNI DEL: undo an attachment; one that is not there is fine.
    DetachPod {
        container_id: String,
        ifname: String,
    },
    /// The CNI CHECK: is the attachment there, kernel state included?
    CheckPod {
        container_id: String,
        ifname: String,
    },
    /// `bgpctl show vrf [NAME]`
    Vrfs {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// `bgpctl show route table VRF`: RIB view and kernel view.
    VrfRoutes { vrf: String },
    /// `bgpctl show bfd session`
    BfdSessions,
}

/// A pod attachment asked by the CNI plugin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PodAttach {
    pub container_id: String,
    /// The interface name inside the pod (`CNI_IFNAME`).
    pub ifname: String,
    pub vrf: String,
    pub vni: u32,
    /// Import and export route target; needed when the VRF is new.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_target: Option<String>,
    /// The host side of the pod's veth pair.
    pub host_ifname: String,
    pub mac: ferry_wire::MacAddress,
    /// The pod's addresses with prefix length (`1.1.1.2/30`).
    pub addresses: Vec<ipnet::IpNet>,
}

/// One VRF of `show vrf`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct VrfInfo {
    pub name: String,
    pub vni: u32,
    pub table: u32,
    pub rd: String,
    pub import: Vec<String>,
    pub export: Vec<String>,
    /// `config` or `cni` (created on demand by the CNI plugin).
    pub source: String,
    /// `vrf-device` or `rule-table`.
    pub backend: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrf_device: Option<String>,
    pub bridge: String,
    pub vxlan: String,
    pub pods: Vec<String>,
    /// Type-5 routes the VRF imports, and how many are in the kernel.
    pub imported: usize,
    pub installed: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Kernel objects of the VRF (devices, rules, routes, neighbour and
    /// FDB entries, its pods' routes, rules and neighbours) that bgpd
    /// restored after something else removed or changed them.
    #[serde(default)]
    pub kernel_repairs: u64,
}

/// One route of a VRF as the RIB wants it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct VrfRibRoute {
    pub prefix: String,
    /// `local` (a pod of this node) or `evpn`.
    pub source: String,
    /// `via VTEP (router MAC)` per next hop, or the pod's host link.
    pub nexthops: Vec<String>,
    pub installed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One route of a VRF table as the kernel holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct VrfKernelRoute {
    pub prefix: String,
    /// `unicast`, `unreachable`.
    pub kind: String,
    pub nexthops: Vec<String>,
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
    Vrfs {
        vrfs: Vec<VrfInfo>,
    },
    Memory(crate::memory::MemoryReport),
    VrfRoutes {
        vrf: String,
        table: u32,
        rib: Vec<VrfRibRoute>,
        kernel: Vec<VrfKernelRoute>,
    },
    /// `show bfd session`, modelled on Junos `show bfd session`.
    BfdSessions {
        sessions: Vec<crate::bfd::BfdSessionInfo>,
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
    /// Values of the configuration file that a reload did not apply and
    /// that take effect at the next restart, as `local-as 64513 (running
    /// 64512)`; empty when the file and the running daemon agree.
    #[serde(default)]
    pub restart_pending: Vec<String>,
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
    /// Paths not sent because their attributes alone do not fit in one
    /// message of the peer's maximum size (RFC 8654); each is withdrawn
    /// from the peer if it held an older path of the route.
    #[serde(default)]
    pub oversize_paths_not_sent: u64,
    /// Octets queued for the peer, not yet written.
    #[serde(default)]
    pub out_queue_octets: u64,
    /// The SendHoldTime in force, in seconds (RFC 9687); 0 when off.
    #[serde(default)]
    pub send_hold_time: u64,
    /// Sessions dropped because the peer read nothing for the
    /// SendHoldTime.
    #[serde(default)]
    pub send_hold_timer_expired: u64,
    /// Output flow control: past its high-water mark, the peer is sent
    /// nothing new until its queue drains; what it still needs is kept as
    /// route keys.
    #[serde(default)]
    pub output_throttled: bool,
    /// Routes whose current state the peer is still to be sent.
    #[serde(default)]
    pub pending_routes: u64,
    /// Whole tables (initial, ROUTE-REFRESH) still to be sent, per family.
    #[serde(default)]
    pub pending_tables: u64,
    /// ROUTE-REFRESH requests folded into one still pending.
    #[serde(default)]
    pub route_refresh_coalesced: u64,
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
    /// Changed values not applied until a restart, as `local-as 64513
    /// (running 64512)`: the running values stay in force.
    #[serde(default)]
    pub restart_pending: Vec<String>,
}
