//! What the daemon answers.

use std::net::{IpAddr, Ipv4Addr};

use ferry_wire::RouteDistinguisher;
use serde::{Deserialize, Serialize};

use crate::family::opt_rd;
use crate::{BfdSessionInfo, Family, MemoryReport};

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
        /// More routes follow: ask again with this as the query's
        /// `after`. Absent on the last page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
    Reloaded(ReloadReport),
    /// An attach or detach was done.
    Done {
        message: String,
    },
    Vrfs {
        vrfs: Vec<VrfInfo>,
    },
    Memory(MemoryReport),
    VrfRoutes {
        vrf: String,
        table: u32,
        rib: Vec<VrfRibRoute>,
        kernel: Vec<VrfKernelRoute>,
    },
    /// `show bfd session`, modelled on Junos `show bfd session`.
    BfdSessions {
        sessions: Vec<BfdSessionInfo>,
    },
}

/// `show summary`, modelled on Junos `show bgp summary`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Summary {
    pub router_id: Ipv4Addr,
    pub local_as: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<Ipv4Addr>,
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
    pub family: Family,
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
    pub family: Family,
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
    pub router_id: Option<Ipv4Addr>,
    /// `internal` or `external`.
    pub peer_type: String,
    pub route_reflector_client: bool,
    /// True for a neighbour accepted from an `allow` range.
    pub dynamic: bool,
    pub hold_time: u16,
    pub keepalive: u16,
    /// Families both sides announced.
    pub families: Vec<Family>,
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
    pub family: Family,
    #[serde(default, with = "opt_rd", skip_serializing_if = "Option::is_none")]
    pub rd: Option<RouteDistinguisher>,
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
    pub originator_id: Option<Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_list: Vec<Ipv4Addr>,
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

/// One VRF of `show vrf`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct VrfInfo {
    pub name: String,
    pub vni: u32,
    pub table: u32,
    pub rd: RouteDistinguisher,
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

/// Puts `show route` lines in their order: by family, RD and prefix (as
/// text), the best path of a prefix first; routes that tie keep their
/// order.
pub fn sort_routes(routes: &mut Vec<RouteEntry>) {
    let mut keyed: Vec<(String, Option<String>, RouteEntry)> = routes
        .drain(..)
        .map(|r| (r.family.to_string(), r.rd.map(|d| d.to_string()), r))
        .collect();
    keyed.sort_by(|(fa, da, a), (fb, db, b)| {
        (fa, da, &a.prefix, !a.best).cmp(&(fb, db, &b.prefix, !b.best))
    });
    routes.extend(keyed.into_iter().map(|(_, _, r)| r));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Request, RouteQuery};

    /// The typed fields travel as the text they had when they were
    /// strings: answers read back to the same octets.
    #[test]
    fn typed_fields_keep_the_wire_text() {
        let route = r#"{"status":"ok","body":{"kind":"routes","routes":[{"family":"inet-vpn","rd":"64512:10","nlri":"64512:10:10.2.0.0/24 label 100","prefix":"10.2.0.0/24","best":true,"from":"10.0.0.2","next-hop":"10.0.0.2","as-path":"I","local-pref":100,"origin":"IGP","originator-id":"10.0.0.9","cluster-list":["10.0.0.1","10.0.0.3"],"label":100,"eligible":true},{"family":"evpn","rd":"type3:0102030405ff","nlri":"x","prefix":"x","best":false,"from":"local","next-hop":"10.0.0.1","as-path":"I","origin":"IGP","eligible":false}]}}"#;
        let summary = r#"{"status":"ok","body":{"kind":"summary","router-id":"10.0.0.1","local-as":64512,"cluster-id":"10.0.0.1","groups":1,"peers":1,"down-peers":0,"unconfigured-peers":0,"tables":[{"table":"bgp.l3vpn.0","family":"inet-vpn","total-paths":3,"active-paths":2}],"neighbors":[{"address":"10.0.0.2","asn":64512,"group":"g","in-messages":1,"out-messages":2,"out-queue":0,"flaps":0,"last-change-secs":5,"state":"Established","tables":[{"table":"bgp.evpn.0","family":"evpn","active":1,"received":1,"accepted":1}]}],"restart-pending":[]}}"#;
        let vrf = r#"{"status":"ok","body":{"kind":"vrfs","vrfs":[{"name":"red","vni":10,"table":100,"rd":"10.0.0.1:10","import":["target:64512:10"],"export":["target:64512:10"],"source":"config","backend":"vrf-device","bridge":"br-10","vxlan":"vx-10","pods":[],"imported":0,"installed":0,"kernel-repairs":0}]}}"#;
        for text in [route, summary, vrf] {
            let answer: Response = serde_json::from_str(text).unwrap();
            assert_eq!(serde_json::to_string(&answer).unwrap(), text);
        }
    }

    /// Paging fields are optional both ways: an old client's request and
    /// an old daemon's answer still read, and a request without them is
    /// written as before.
    #[test]
    fn paging_fields_are_optional() {
        let old = r#"{"command":"routes","family":"evpn"}"#;
        let request: Request = serde_json::from_str(old).unwrap();
        assert_eq!(
            request,
            Request::Routes(RouteQuery {
                family: Some("evpn".into()),
                ..RouteQuery::default()
            })
        );
        assert_eq!(serde_json::to_string(&request).unwrap(), old);
        let answer: Response =
            serde_json::from_str(r#"{"status":"ok","body":{"kind":"routes","routes":[]}}"#)
                .unwrap();
        assert_eq!(
            answer,
            Response::Ok {
                body: Body::Routes {
                    routes: vec![],
                    next: None
                }
            }
        );
        let paged = Request::Routes(RouteQuery {
            limit: Some(10),
            after: Some("inet 18".into()),
            ..RouteQuery::default()
        });
        assert_eq!(
            serde_json::to_string(&paged).unwrap(),
            r#"{"command":"routes","limit":10,"after":"inet 18"}"#
        );
    }
}
