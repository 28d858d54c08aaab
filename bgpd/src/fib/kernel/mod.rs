//! The kernel side of a worker, through rtnetlink: the connection, the
//! names and types of Ferry's kernel objects, and link lookups. By
//! concern: `vrf.rs` (VRF devices, bridges, VXLAN devices, rules and the
//! unreachable defaults), `pods.rs` (pod links), `routes.rs` (applying
//! the plan's operations: remote routes, neighbour and FDB entries),
//! `view.rs` (reading back what Ferry owns).
//!
//! Ferry's kernel objects are recognisable: devices `br-<VNI>`, `vx-<VNI>`
//! and `vrf-<name>`; routes, rules and neighbour entries carry the protocol
//! number [`RTPROT_FERRY`]. Ferry changes nothing else.
//!
//! Two backends, chosen at start: a VRF device per VRF where the kernel
//! has them (every distribution kernel), else a routing table per VRF
//! selected by `ip rule iif …` ([`Backend::RuleTable`]).

use std::collections::HashMap;
use std::net::IpAddr;

use ferry_wire::MacAddress;
use futures::stream::{StreamExt, TryStreamExt};
use ipnet::IpNet;
use rtnetlink::packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST,
};
use rtnetlink::packet_route::link::{LinkAttribute, LinkInfo, LinkMessage};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::{Handle, LinkVrf};

mod pods;
mod routes;
mod view;
mod vrf;

/// The protocol number of Ferry's routes, rules and neighbour entries
/// (`/etc/iproute2/rt_protos.d/ferry.conf`: `199 ferry`).
pub const RTPROT_FERRY: u8 = 199;
/// The priority of Ferry's `ip rule`s (table backend).
pub const RULE_PRIORITY: u32 = 1500;
/// The metric of the unreachable default of every VRF table: lookups
/// that find nothing in the VRF stop there instead of falling through to
/// the main table.
pub const UNREACHABLE_METRIC: u32 = 4_278_198_272;
/// VXLAN's IANA port.
pub const VXLAN_PORT: u16 = 4789;
/// How many netlink requests are in flight at once.
const IN_FLIGHT: usize = 128;

/// How VRFs are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A `vrf` device per VRF (l3mdev).
    VrfDevice,
    /// A routing table per VRF, entered by `ip rule iif …`.
    RuleTable,
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::VrfDevice => "vrf-device",
            Backend::RuleTable => "rule-table",
        }
    }
}

/// A kernel error, naming what was being done.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {message}")]
pub struct KernelError {
    pub what: String,
    pub message: String,
    /// The errno, when the kernel gave one.
    pub errno: Option<i32>,
}

impl KernelError {
    fn new(what: impl Into<String>, message: impl Into<String>) -> Self {
        KernelError {
            what: what.into(),
            message: message.into(),
            errno: None,
        }
    }
}

pub fn bridge_name(vni: u32) -> String {
    format!("br-{vni}")
}

pub fn vxlan_name(vni: u32) -> String {
    format!("vx-{vni}")
}

pub fn vrf_device_name(vrf: &str) -> String {
    format!("vrf-{vrf}")
}

/// The VNI of a device Ferry owns (`br-N`, `vx-N`).
pub fn owned_vni(name: &str) -> Option<u32> {
    name.strip_prefix("br-")
        .or_else(|| name.strip_prefix("vx-"))
        .and_then(|n| n.parse().ok())
}

/// A pod's link as the host sees it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PodLink {
    /// The host side of the veth pair.
    pub host_ifname: String,
    /// The pod's MAC address.
    pub mac: MacAddress,
    /// The pod's addresses with their prefix lengths (`1.1.1.2/30`).
    pub addresses: Vec<IpNet>,
}

/// A route Ferry owns, as read back from the kernel.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct KernelRoute {
    pub table: u32,
    pub prefix: IpNet,
    /// `unicast`, `unreachable`, …
    pub kind: String,
    pub metric: Option<u32>,
    pub nexthops: Vec<KernelNexthop>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct KernelNexthop {
    pub gateway: Option<IpAddr>,
    pub device: Option<String>,
    pub onlink: bool,
}

/// Everything Ferry owns in the kernel, read back.
#[derive(Clone, Debug, Default)]
pub struct KernelView {
    /// Name → index of every link.
    pub links: HashMap<String, u32>,
    /// Ferry's rules: (IPv6?, iif name, table).
    pub rules: Vec<(bool, String, u32)>,
    pub routes: Vec<KernelRoute>,
    /// Neighbour entries on Ferry's bridges: (device, address, MAC).
    pub neighbours: Vec<(String, IpAddr, MacAddress)>,
    /// FDB entries on Ferry's VXLAN devices: (device, MAC, VTEP).
    pub fdb: Vec<(String, MacAddress, IpAddr)>,
    /// Permanent neighbour entries on pod links (`fy…`): (device,
    /// address, MAC).
    pub pod_neighbours: Vec<(String, IpAddr, MacAddress)>,
    /// Link name → index of its controller (VRF device, bridge).
    pub controllers: HashMap<String, u32>,
}

/// The rtnetlink connection and what Ferry knows of the links.
#[derive(Clone)]
pub struct Kernel {
    handle: Handle,
    pub backend: Backend,
}

fn nl_error(what: &str, e: rtnetlink::Error) -> KernelError {
    match e {
        rtnetlink::Error::NetlinkError(m) => {
            let errno = m.code.map(|c| -c.get());
            KernelError {
                what: what.to_string(),
                message: m.to_io().to_string(),
                errno,
            }
        }
        other => KernelError::new(what, other.to_string()),
    }
}

const ENOENT: i32 = 2;
const ESRCH: i32 = 3;
const ENODEV: i32 = 19;
const EADDRNOTAVAIL: i32 = 99;

fn is_gone(e: &KernelError) -> bool {
    matches!(e.errno, Some(ENOENT | ESRCH | ENODEV | EADDRNOTAVAIL))
}

impl Kernel {
    /// Opens the rtnetlink connection (its task runs on the current
    /// runtime) and detects the backend.
    pub async fn open() -> Result<Kernel, KernelError> {
        let (conn, handle, _) = rtnetlink::new_connection()
            .map_err(|e| KernelError::new("opening rtnetlink", e.to_string()))?;
        tokio::spawn(conn);
        let mut k = Kernel {
            handle,
            backend: Backend::RuleTable,
        };
        k.backend = k.detect_backend().await;
        Ok(k)
    }

    /// Creates and removes a probe VRF device: where that works, VRF
    /// devices are used.
    async fn detect_backend(&self) -> Backend {
        let name = format!("ferry-probe{}", std::process::id() % 1000);
        let msg = LinkVrf::new(&name, 4_000_000_000).build();
        match self
            .send(
                RouteNetlinkMessage::NewLink(msg),
                NLM_F_CREATE | NLM_F_EXCL,
                "probe",
            )
            .await
        {
            Ok(()) => {
                if let Some(i) = self.link_index(&name).await {
                    let _ = self.handle.link().del(i).execute().await;
                }
                Backend::VrfDevice
            }
            Err(_) => Backend::RuleTable,
        }
    }

    /// Sends one request and waits for its acknowledgement.
    async fn send(
        &self,
        msg: RouteNetlinkMessage,
        flags: u16,
        what: &str,
    ) -> Result<(), KernelError> {
        let mut req = NetlinkMessage::from(msg);
        req.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        let mut handle = self.handle.clone();
        let mut resp = handle.request(req).map_err(|e| nl_error(what, e))?;
        while let Some(m) = resp.next().await {
            if let NetlinkPayload::Error(e) = m.payload {
                if e.code.is_some() {
                    return Err(nl_error(what, rtnetlink::Error::NetlinkError(e)));
                }
            }
        }
        Ok(())
    }

    async fn dump(
        &self,
        msg: RouteNetlinkMessage,
        what: &str,
    ) -> Result<Vec<RouteNetlinkMessage>, KernelError> {
        let mut req = NetlinkMessage::from(msg);
        req.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        let mut handle = self.handle.clone();
        let mut resp = handle.request(req).map_err(|e| nl_error(what, e))?;
        let mut out = Vec::new();
        while let Some(m) = resp.next().await {
            match m.payload {
                NetlinkPayload::InnerMessage(inner) => out.push(inner),
                NetlinkPayload::Error(e) if e.code.is_some() => {
                    return Err(nl_error(what, rtnetlink::Error::NetlinkError(e)))
                }
                _ => {}
            }
        }
        Ok(out)
    }

    pub async fn link_index(&self, name: &str) -> Option<u32> {
        self.link(name).await.map(|l| l.header.index)
    }

    async fn link(&self, name: &str) -> Option<LinkMessage> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        links.try_next().await.ok().flatten()
    }

    async fn require_index(&self, name: &str) -> Result<u32, KernelError> {
        self.link_index(name)
            .await
            .ok_or_else(|| KernelError::new(format!("finding {name}"), "no such device"))
    }

    async fn set_link(&self, msg: LinkMessage, what: &str) -> Result<(), KernelError> {
        self.send(RouteNetlinkMessage::SetLink(msg), 0, what).await
    }

    async fn delete_link(&self, name: &str) -> Result<(), KernelError> {
        if let Some(i) = self.link_index(name).await {
            match self.handle.link().del(i).execute().await {
                Ok(()) => {}
                Err(e) => {
                    let e = nl_error(&format!("deleting {name}"), e);
                    if !is_gone(&e) {
                        return Err(e);
                    }
                }
            }
        }
        Ok(())
    }

    /// Deletes a link by name (gone already is fine).
    pub async fn remove_link(&self, name: &str) -> Result<(), KernelError> {
        self.delete_link(name).await
    }
}

fn ignore_gone(r: Result<(), KernelError>) -> Result<(), KernelError> {
    match r {
        Err(e) if is_gone(&e) => Ok(()),
        other => other,
    }
}

/// Writes a sysctl under /proc/sys/net (best effort: a missing key means
/// the setting does not apply).
pub fn set_sysctl(key: &str, value: &str) {
    let path = format!("/proc/sys/net/{key}");
    if let Err(e) = std::fs::write(&path, value) {
        tracing::debug!(%path, error = %e, "sysctl not set");
    }
}

fn link_name(l: &LinkMessage) -> Option<String> {
    l.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    })
}

fn link_infos(l: &LinkMessage) -> impl Iterator<Item = &LinkInfo> {
    l.attributes
        .iter()
        .filter_map(|a| match a {
            LinkAttribute::LinkInfo(i) => Some(i),
            _ => None,
        })
        .flatten()
}
