//! What a client asks.

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

/// Which routes `show route` lists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RouteQuery {
    /// `evpn`, `inet-vpn`, `inet6-vpn`, `inet`, `inet6`, as the operator
    /// typed it: the daemon checks it and names what is wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// A route distinguisher as typed (`10.10.25.42:1`), checked by the
    /// daemon.
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
    /// At most this many routes (route keys, each with its paths) in the
    /// answer; the daemon sends at most [`crate::MAX_ROUTE_PAGE`] whatever
    /// is asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Routes after this continuation key: the `next` of the previous
    /// page's answer (opaque to the client).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}
