//! The kernel side of a worker, through rtnetlink.
//!
//! Ferry's kernel objects are recognisable: devices `br-<VNI>`, `vx-<VNI>`
//! and `vrf-<name>`; routes, rules and neighbour entries carry the protocol
//! number [`RTPROT_FERRY`]. Ferry changes nothing else.
//!
//! Two backends, chosen at start: a VRF device per VRF where the kernel
//! has them (every distribution kernel), else a routing table per VRF
//! selected by `ip rule iif …` ([`Backend::RuleTable`]).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ferry_wire::MacAddress;
use futures::stream::{self, StreamExt, TryStreamExt};
use ipnet::IpNet;
use rtnetlink::packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REPLACE, NLM_F_REQUEST,
};
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoVrf, InfoVxlan, LinkAttribute, LinkInfo, LinkMessage,
};
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteNextHop, RouteNextHopFlags,
    RouteProtocol, RouteScope, RouteType, RouteVia,
};
use rtnetlink::packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVrf, LinkVxlan};

use super::plan::{KernelOp, Nexthop, VrfSpec};

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
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match links.try_next().await {
            Ok(Some(l)) => Some(l.header.index),
            _ => None,
        }
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

    /// Creates (or adopts) the kernel objects of a VRF: its VRF device or
    /// rules, its bridge with the router MAC, its VXLAN device, and the
    /// unreachable defaults of its table.
    pub async fn ensure_vrf(
        &self,
        spec: &VrfSpec,
        vtep: IpAddr,
        router_mac: MacAddress,
    ) -> Result<(), KernelError> {
        let br = bridge_name(spec.vni);
        let vx = vxlan_name(spec.vni);
        let vrf_index = if self.backend == Backend::VrfDevice {
            let name = vrf_device_name(&spec.name);
            let ok = match self.link(&name).await {
                Some(l) => vrf_table_of(&l) == Some(spec.table),
                None => false,
            };
            if !ok {
                self.delete_link(&name).await?;
                let msg = LinkVrf::new(&name, spec.table).up().build();
                self.send(
                    RouteNetlinkMessage::NewLink(msg),
                    NLM_F_CREATE | NLM_F_EXCL,
                    &format!("creating {name}"),
                )
                .await?;
            }
            Some(self.require_index(&name).await?)
        } else {
            None
        };

        // The bridge carries the router MAC: decapsulated packets sent to
        // it are routed in the VRF.
        if self.link_index(&br).await.is_none() {
            let msg = LinkBridge::new(&br).address(router_mac.0.to_vec()).build();
            self.send(
                RouteNetlinkMessage::NewLink(msg),
                NLM_F_CREATE | NLM_F_EXCL,
                &format!("creating {br}"),
            )
            .await?;
        }
        let br_index = self.require_index(&br).await?;
        let mut m = LinkUnspec::new_with_index(br_index)
            .address(router_mac.0.to_vec())
            .up();
        if let Some(v) = vrf_index {
            m = m.controller(v);
        }
        self.set_link(m.build(), &format!("setting up {br}"))
            .await?;

        let vx_ok = match self.link(&vx).await {
            Some(l) => vxlan_matches(&l, spec.vni, vtep),
            None => false,
        };
        if !vx_ok {
            self.delete_link(&vx).await?;
            let mut b = LinkVxlan::new(&vx, spec.vni)
                .port(VXLAN_PORT)
                .learning(false);
            b = match vtep {
                IpAddr::V4(a) => b.local(a),
                IpAddr::V6(a) => b.local6(a),
            };
            let msg = b.controller(br_index).up().build();
            self.send(
                RouteNetlinkMessage::NewLink(msg),
                NLM_F_CREATE | NLM_F_EXCL,
                &format!("creating {vx}"),
            )
            .await?;
        }
        let vx_index = self.require_index(&vx).await?;
        let m = LinkUnspec::new_with_index(vx_index)
            .controller(br_index)
            .up()
            .build();
        self.set_link(m, &format!("setting up {vx}")).await?;

        if self.backend == Backend::RuleTable {
            self.ensure_rules(&br, spec.table).await?;
        }
        for v6 in [false, true] {
            let msg = unreachable_default(spec.table, v6);
            self.send(
                RouteNetlinkMessage::NewRoute(msg),
                NLM_F_CREATE | NLM_F_REPLACE,
                &format!("unreachable default in table {}", spec.table),
            )
            .await?;
        }
        set_sysctl(&format!("ipv4/conf/{br}/rp_filter"), "0");
        set_sysctl(&format!("ipv6/conf/{vx}/disable_ipv6"), "1");
        Ok(())
    }

    /// Removes a VRF's kernel objects.
    pub async fn remove_vrf(&self, spec: &VrfSpec) -> Result<(), KernelError> {
        let br = bridge_name(spec.vni);
        self.delete_link(&vxlan_name(spec.vni)).await?;
        self.delete_link(&br).await?;
        if self.backend == Backend::VrfDevice {
            self.delete_link(&vrf_device_name(&spec.name)).await?;
        }
        self.delete_rules(&br).await?;
        for v6 in [false, true] {
            let msg = unreachable_default(spec.table, v6);
            if let Err(e) = self
                .send(
                    RouteNetlinkMessage::DelRoute(msg),
                    0,
                    "removing the unreachable default",
                )
                .await
            {
                if !is_gone(&e) {
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    async fn ensure_rules(&self, iif: &str, table: u32) -> Result<(), KernelError> {
        let existing = self.rules().await?;
        for v6 in [false, true] {
            if existing
                .iter()
                .any(|(b, n, t)| *b == v6 && n == iif && *t == table)
            {
                continue;
            }
            let msg = rule(v6, iif, table);
            self.send(
                RouteNetlinkMessage::NewRule(msg),
                NLM_F_CREATE | NLM_F_EXCL,
                &format!("ip rule iif {iif} lookup {table}"),
            )
            .await?;
        }
        Ok(())
    }

    /// Deletes every Ferry rule for `iif`.
    pub async fn delete_rules(&self, iif: &str) -> Result<(), KernelError> {
        for (v6, name, table) in self.rules().await? {
            if name == iif {
                let msg = rule(v6, &name, table);
                if let Err(e) = self
                    .send(
                        RouteNetlinkMessage::DelRule(msg),
                        0,
                        &format!("deleting rule iif {iif}"),
                    )
                    .await
                {
                    if !is_gone(&e) {
                        return Err(e);
                    }
                }
            }
        }
        Ok(())
    }

    /// Ferry's rules: (IPv6?, iif, table).
    pub async fn rules(&self) -> Result<Vec<(bool, String, u32)>, KernelError> {
        let mut out = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut m = RuleMessage::default();
            m.header.family = family;
            for msg in self
                .dump(RouteNetlinkMessage::GetRule(m), "listing rules")
                .await?
            {
                let RouteNetlinkMessage::NewRule(r) = msg else {
                    continue;
                };
                let mut proto = None;
                let mut iif = None;
                let mut table = r.header.table as u32;
                for a in &r.attributes {
                    match a {
                        RuleAttribute::Protocol(p) => proto = Some(u8::from(*p)),
                        RuleAttribute::Iifname(n) => iif = Some(n.clone()),
                        RuleAttribute::Table(t) => table = *t,
                        _ => {}
                    }
                }
                if proto == Some(RTPROT_FERRY) {
                    if let Some(n) = iif {
                        out.push((family == AddressFamily::Inet6, n, table));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Why `name` cannot be the host side of a pod's link, if it cannot:
    /// Ferry attaches only a veth whose peer is in another network
    /// namespace (the pod's).
    pub async fn pod_link_problem(&self, name: &str) -> Option<String> {
        let Some(l) = self.link(name).await else {
            return Some(format!("host link {name} does not exist"));
        };
        if !link_infos(&l).any(|i| matches!(i, LinkInfo::Kind(InfoKind::Veth))) {
            return Some(format!("host link {name} is not a veth"));
        }
        if !l
            .attributes
            .iter()
            .any(|a| matches!(a, LinkAttribute::LinkNetNsId(_)))
        {
            return Some(format!(
                "host link {name}: its peer is not in a pod's network namespace"
            ));
        }
        None
    }

    /// Puts a pod's host link into a VRF: the link up (and enslaved, or a
    /// rule for it), a route to each pod prefix through it, a permanent
    /// neighbour entry for each pod address. Undone on failure.
    pub async fn attach(&self, spec: &VrfSpec, pod: &PodLink) -> Result<(), KernelError> {
        let r = self.attach_inner(spec, pod).await;
        if r.is_err() {
            let _ = self.detach(spec, pod).await;
        }
        r
    }

    async fn attach_inner(&self, spec: &VrfSpec, pod: &PodLink) -> Result<(), KernelError> {
        let ifname = &pod.host_ifname;
        let index = self.require_index(ifname).await?;
        let mut m = LinkUnspec::new_with_index(index).up();
        if self.backend == Backend::VrfDevice {
            let vrf = self.require_index(&vrf_device_name(&spec.name)).await?;
            m = m.controller(vrf);
        }
        self.set_link(m.build(), &format!("setting up {ifname}"))
            .await?;
        set_sysctl(&format!("ipv4/conf/{ifname}/rp_filter"), "0");
        if self.backend == Backend::RuleTable {
            self.ensure_rules(ifname, spec.table).await?;
        }
        for addr in &pod.addresses {
            let msg = connected_route(spec.table, addr.trunc(), index);
            self.send(
                RouteNetlinkMessage::NewRoute(msg),
                NLM_F_CREATE | NLM_F_REPLACE,
                &format!("route {} dev {ifname} table {}", addr.trunc(), spec.table),
            )
            .await?;
            let msg = neighbour(index, addr.addr(), pod.mac);
            self.send(
                RouteNetlinkMessage::NewNeighbour(msg),
                NLM_F_CREATE | NLM_F_REPLACE,
                &format!("neighbour {} lladdr {} dev {ifname}", addr.addr(), pod.mac),
            )
            .await?;
        }
        Ok(())
    }

    /// Undoes [`Kernel::attach`]; what is already gone is not an error.
    pub async fn detach(&self, spec: &VrfSpec, pod: &PodLink) -> Result<(), KernelError> {
        let ifname = &pod.host_ifname;
        if let Some(index) = self.link_index(ifname).await {
            for addr in &pod.addresses {
                let msg = connected_route(spec.table, addr.trunc(), index);
                if let Err(e) = self
                    .send(RouteNetlinkMessage::DelRoute(msg), 0, "deleting pod route")
                    .await
                {
                    if !is_gone(&e) {
                        return Err(e);
                    }
                }
                let msg = neighbour(index, addr.addr(), pod.mac);
                let _ = ignore_gone(
                    self.send(
                        RouteNetlinkMessage::DelNeighbour(msg),
                        0,
                        "deleting pod neighbour",
                    )
                    .await,
                );
            }
        }
        self.delete_rules(ifname).await
    }

    /// Applies kernel operations, many in flight at once. Operations on
    /// the same object keep their order because the plan never emits two
    /// for one object in one batch without the first being complete in
    /// meaning (add-then-delete pairs are applied in sequence).
    pub async fn apply(&self, ops: Vec<KernelOp>) -> Vec<KernelError> {
        let mut index: HashMap<u32, (Option<u32>, Option<u32>)> = HashMap::new();
        for op in &ops {
            let vni = match op {
                KernelOp::RouteSet { vni, .. }
                | KernelOp::NeighAdd { vni, .. }
                | KernelOp::NeighDel { vni, .. }
                | KernelOp::FdbAdd { vni, .. }
                | KernelOp::FdbDel { vni, .. } => *vni,
                KernelOp::RouteDel { .. } => continue,
            };
            if let std::collections::hash_map::Entry::Vacant(e) = index.entry(vni) {
                let br = self.link_index(&bridge_name(vni)).await;
                let vx = self.link_index(&vxlan_name(vni)).await;
                e.insert((br, vx));
            }
        }
        // Objects are independent except a neighbour/FDB entry and the
        // routes that use it: adds of shared objects come first in the
        // plan's order and deletes last, so three phases keep them right.
        let (mut first, mut middle, mut last) = (Vec::new(), Vec::new(), Vec::new());
        for op in ops {
            match op {
                KernelOp::NeighAdd { .. } | KernelOp::FdbAdd { .. } => first.push(op),
                KernelOp::RouteSet { .. } | KernelOp::RouteDel { .. } => middle.push(op),
                KernelOp::NeighDel { .. } | KernelOp::FdbDel { .. } => last.push(op),
            }
        }
        let mut errors = Vec::new();
        for phase in [first, middle, last] {
            let results: Vec<Result<(), KernelError>> = stream::iter(phase)
                .map(|op| {
                    let idx = &index;
                    async move {
                        let kind = crate::metrics::op_index(&op);
                        let r = self.apply_one(op, idx).await;
                        crate::metrics::KERNEL.count(kind, r.is_ok());
                        r
                    }
                })
                .buffered(IN_FLIGHT)
                .collect()
                .await;
            errors.extend(results.into_iter().filter_map(|r| r.err()));
        }
        errors
    }

    async fn apply_one(
        &self,
        op: KernelOp,
        index: &HashMap<u32, (Option<u32>, Option<u32>)>,
    ) -> Result<(), KernelError> {
        let br = |vni: u32| {
            index
                .get(&vni)
                .and_then(|x| x.0)
                .ok_or_else(|| KernelError::new(bridge_name(vni), "no such device"))
        };
        let vx = |vni: u32| {
            index
                .get(&vni)
                .and_then(|x| x.1)
                .ok_or_else(|| KernelError::new(vxlan_name(vni), "no such device"))
        };
        match op {
            KernelOp::RouteSet {
                vni,
                table,
                prefix,
                nexthops,
            } => {
                let msg = remote_route(table, prefix, br(vni)?, &nexthops);
                self.send(
                    RouteNetlinkMessage::NewRoute(msg),
                    NLM_F_CREATE | NLM_F_REPLACE,
                    &format!("route {prefix} table {table}"),
                )
                .await
            }
            KernelOp::RouteDel { table, prefix } => self.delete_route(table, prefix).await,
            KernelOp::NeighAdd { vni, addr, mac } => {
                let msg = neighbour(br(vni)?, addr, mac);
                self.send(
                    RouteNetlinkMessage::NewNeighbour(msg),
                    NLM_F_CREATE | NLM_F_REPLACE,
                    &format!("neighbour {addr} lladdr {mac} dev {}", bridge_name(vni)),
                )
                .await
            }
            KernelOp::NeighDel { vni, addr } => {
                let Ok(i) = br(vni) else { return Ok(()) };
                let msg = neighbour(i, addr, MacAddress::default());
                ignore_gone(
                    self.send(
                        RouteNetlinkMessage::DelNeighbour(msg),
                        0,
                        "deleting neighbour",
                    )
                    .await,
                )
            }
            KernelOp::FdbAdd { vni, mac, vtep } => {
                let msg = fdb_entry(vx(vni)?, mac, vtep);
                self.send(
                    RouteNetlinkMessage::NewNeighbour(msg),
                    NLM_F_CREATE | NLM_F_APPEND,
                    &format!("fdb {mac} dst {vtep} dev {}", vxlan_name(vni)),
                )
                .await
            }
            KernelOp::FdbDel { vni, mac, vtep } => {
                let Ok(i) = vx(vni) else { return Ok(()) };
                let msg = fdb_entry(i, mac, vtep);
                ignore_gone(
                    self.send(
                        RouteNetlinkMessage::DelNeighbour(msg),
                        0,
                        "deleting fdb entry",
                    )
                    .await,
                )
            }
        }
    }

    /// Reads back everything Ferry owns.
    pub async fn view(&self) -> Result<KernelView, KernelError> {
        let mut view = KernelView::default();
        let mut names: HashMap<u32, String> = HashMap::new();
        for msg in self
            .dump(
                RouteNetlinkMessage::GetLink(LinkMessage::default()),
                "listing links",
            )
            .await?
        {
            let RouteNetlinkMessage::NewLink(l) = msg else {
                continue;
            };
            if let Some(n) = link_name(&l) {
                if let Some(c) = l.attributes.iter().find_map(|a| match a {
                    LinkAttribute::Controller(c) => Some(*c),
                    _ => None,
                }) {
                    view.controllers.insert(n.clone(), c);
                }
                names.insert(l.header.index, n.clone());
                view.links.insert(n, l.header.index);
            }
        }
        view.rules = self.rules().await?;
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut m = RouteMessage::default();
            m.header.address_family = family;
            for msg in self
                .dump(RouteNetlinkMessage::GetRoute(m), "listing routes")
                .await?
            {
                let RouteNetlinkMessage::NewRoute(r) = msg else {
                    continue;
                };
                if r.header.protocol != RouteProtocol::Other(RTPROT_FERRY) {
                    continue;
                }
                if let Some(kr) = kernel_route(&r, &names) {
                    view.routes.push(kr);
                }
            }
        }
        for family in [
            AddressFamily::Inet,
            AddressFamily::Inet6,
            AddressFamily::Bridge,
        ] {
            let mut m = NeighbourMessage::default();
            m.header.family = family;
            for msg in self
                .dump(RouteNetlinkMessage::GetNeighbour(m), "listing neighbours")
                .await?
            {
                let RouteNetlinkMessage::NewNeighbour(n) = msg else {
                    continue;
                };
                let Some(dev) = names.get(&n.header.ifindex) else {
                    continue;
                };
                let mut dst = None;
                let mut lla = None;
                for a in &n.attributes {
                    match a {
                        NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => {
                            dst = Some(IpAddr::V4(*v4))
                        }
                        NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => {
                            dst = Some(IpAddr::V6(*v6))
                        }
                        // FDB entries (family AF_BRIDGE): the VTEP comes as
                        // raw bytes.
                        NeighbourAttribute::Destination(NeighbourAddress::Other(b)) => {
                            dst = ip_from_bytes(b)
                        }
                        NeighbourAttribute::LinkLayerAddress(b) if b.len() == 6 => {
                            let mut m = [0u8; 6];
                            m.copy_from_slice(b);
                            lla = Some(MacAddress(m));
                        }
                        _ => {}
                    }
                }
                let (Some(dst), Some(lla)) = (dst, lla) else {
                    continue;
                };
                if family == AddressFamily::Bridge {
                    if dev.starts_with("vx-") {
                        view.fdb.push((dev.clone(), lla, dst));
                    }
                } else if dev.starts_with("br-") && n.header.state == NeighbourState::Permanent {
                    view.neighbours.push((dev.clone(), dst, lla));
                } else if dev.starts_with("fy") && n.header.state == NeighbourState::Permanent {
                    view.pod_neighbours.push((dev.clone(), dst, lla));
                }
            }
        }
        Ok(view)
    }

    /// Deletes a route read back by [`Kernel::view`].
    pub async fn delete_route(&self, table: u32, prefix: IpNet) -> Result<(), KernelError> {
        let mut msg = RouteMessage::default();
        set_destination(&mut msg, table, prefix);
        msg.header.protocol = RouteProtocol::Other(RTPROT_FERRY);
        msg.header.scope = RouteScope::NoWhere;
        ignore_gone(
            self.send(
                RouteNetlinkMessage::DelRoute(msg),
                0,
                &format!("deleting route {prefix} table {table}"),
            )
            .await,
        )
    }

    /// Deletes a link by name (gone already is fine).
    pub async fn remove_link(&self, name: &str) -> Result<(), KernelError> {
        self.delete_link(name).await
    }
}

/// An IPv4 or IPv6 address from its 4 or 16 bytes.
fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(b).ok().map(IpAddr::from),
        _ => None,
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

fn vrf_table_of(l: &LinkMessage) -> Option<u32> {
    let is_vrf = link_infos(l).any(|i| matches!(i, LinkInfo::Kind(InfoKind::Vrf)));
    if !is_vrf {
        return None;
    }
    link_infos(l).find_map(|i| match i {
        LinkInfo::Data(InfoData::Vrf(v)) => v.iter().find_map(|x| match x {
            InfoVrf::TableId(t) => Some(*t),
            _ => None,
        }),
        _ => None,
    })
}

/// True when an existing VXLAN device has the VNI, local address, port
/// and no learning Ferry wants.
fn vxlan_matches(l: &LinkMessage, vni: u32, vtep: IpAddr) -> bool {
    let mut ok_vni = false;
    let mut ok_local = false;
    let mut ok_port = false;
    let mut learning = true;
    for i in link_infos(l) {
        if let LinkInfo::Data(InfoData::Vxlan(v)) = i {
            for x in v {
                match x {
                    InfoVxlan::Id(id) => ok_vni = *id == vni,
                    InfoVxlan::Local(a) => ok_local = IpAddr::V4(*a) == vtep,
                    InfoVxlan::Local6(a) => ok_local = IpAddr::V6(*a) == vtep,
                    InfoVxlan::Port(p) => ok_port = *p == VXLAN_PORT,
                    InfoVxlan::Learning(b) => learning = *b,
                    _ => {}
                }
            }
        }
    }
    ok_vni && ok_local && ok_port && !learning
}

fn rule(v6: bool, iif: &str, table: u32) -> RuleMessage {
    let mut m = RuleMessage::default();
    m.header.family = if v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    m.header.action = RuleAction::ToTable;
    m.header.table = if table < 256 { table as u8 } else { 0 };
    m.attributes.push(RuleAttribute::Iifname(iif.to_string()));
    m.attributes.push(RuleAttribute::Table(table));
    m.attributes.push(RuleAttribute::Priority(RULE_PRIORITY));
    m.attributes
        .push(RuleAttribute::Protocol(RouteProtocol::Other(RTPROT_FERRY)));
    m
}

fn set_destination(msg: &mut RouteMessage, table: u32, prefix: IpNet) {
    msg.header.address_family = match prefix {
        IpNet::V4(_) => AddressFamily::Inet,
        IpNet::V6(_) => AddressFamily::Inet6,
    };
    msg.header.destination_prefix_length = prefix.prefix_len();
    msg.header.table = if table < 256 {
        table as u8
    } else {
        RouteHeader::RT_TABLE_UNSPEC
    };
    msg.attributes.push(RouteAttribute::Table(table));
    msg.attributes
        .push(RouteAttribute::Destination(RouteAddress::from(
            prefix.network(),
        )));
}

fn unreachable_default(table: u32, v6: bool) -> RouteMessage {
    let mut m = RouteMessage::default();
    let prefix: IpNet = if v6 {
        IpNet::new(Ipv6Addr::UNSPECIFIED.into(), 0).expect("/0")
    } else {
        IpNet::new(Ipv4Addr::UNSPECIFIED.into(), 0).expect("/0")
    };
    set_destination(&mut m, table, prefix);
    m.header.protocol = RouteProtocol::Other(RTPROT_FERRY);
    m.header.scope = RouteScope::Universe;
    m.header.kind = RouteType::Unreachable;
    m.attributes
        .push(RouteAttribute::Priority(UNREACHABLE_METRIC));
    m
}

fn connected_route(table: u32, prefix: IpNet, oif: u32) -> RouteMessage {
    let mut m = RouteMessage::default();
    set_destination(&mut m, table, prefix);
    m.header.protocol = RouteProtocol::Other(RTPROT_FERRY);
    m.header.scope = RouteScope::Link;
    m.header.kind = RouteType::Unicast;
    m.attributes.push(RouteAttribute::Oif(oif));
    m
}

fn gateway_attribute(prefix: &IpNet, gw: IpAddr) -> RouteAttribute {
    match (prefix, gw) {
        (IpNet::V4(_), IpAddr::V6(v6)) => RouteAttribute::Via(RouteVia::Inet6(v6)),
        (_, gw) => RouteAttribute::Gateway(RouteAddress::from(gw)),
    }
}

/// `prefix via VTEP dev br-VNI onlink table T`, ECMP over several VTEPs.
fn remote_route(table: u32, prefix: IpNet, bridge: u32, nexthops: &[Nexthop]) -> RouteMessage {
    let mut m = RouteMessage::default();
    set_destination(&mut m, table, prefix);
    m.header.protocol = RouteProtocol::Other(RTPROT_FERRY);
    m.header.scope = RouteScope::Universe;
    m.header.kind = RouteType::Unicast;
    if let [n] = nexthops {
        m.header.flags = rtnetlink::packet_route::route::RouteFlags::Onlink;
        m.attributes.push(RouteAttribute::Oif(bridge));
        m.attributes
            .push(gateway_attribute(&prefix, n.gateway(&prefix)));
    } else {
        let hops = nexthops
            .iter()
            .map(|n| {
                let mut h = RouteNextHop::default();
                h.flags = RouteNextHopFlags::Onlink;
                h.interface_index = bridge;
                h.attributes = vec![gateway_attribute(&prefix, n.gateway(&prefix))];
                h
            })
            .collect();
        m.attributes.push(RouteAttribute::MultiPath(hops));
    }
    m
}

fn neighbour(ifindex: u32, addr: IpAddr, mac: MacAddress) -> NeighbourMessage {
    let mut m = NeighbourMessage::default();
    m.header.family = match addr {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    m.header.ifindex = ifindex;
    m.header.state = NeighbourState::Permanent;
    m.header.kind = RouteType::Unspec;
    m.attributes
        .push(NeighbourAttribute::Destination(match addr {
            IpAddr::V4(a) => NeighbourAddress::Inet(a),
            IpAddr::V6(a) => NeighbourAddress::Inet6(a),
        }));
    m.attributes
        .push(NeighbourAttribute::LinkLayerAddress(mac.0.to_vec()));
    m.attributes
        .push(NeighbourAttribute::Protocol(RouteProtocol::Other(
            RTPROT_FERRY,
        )));
    m
}

fn fdb_entry(ifindex: u32, mac: MacAddress, vtep: IpAddr) -> NeighbourMessage {
    let mut m = NeighbourMessage::default();
    m.header.family = AddressFamily::Bridge;
    m.header.ifindex = ifindex;
    m.header.state = NeighbourState::Permanent;
    m.header.flags = NeighbourFlags::Own;
    m.header.kind = RouteType::Unspec;
    m.attributes
        .push(NeighbourAttribute::LinkLayerAddress(mac.0.to_vec()));
    m.attributes
        .push(NeighbourAttribute::Destination(match vtep {
            IpAddr::V4(a) => NeighbourAddress::Inet(a),
            IpAddr::V6(a) => NeighbourAddress::Inet6(a),
        }));
    m
}

fn route_address(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn kernel_route(r: &RouteMessage, names: &HashMap<u32, String>) -> Option<KernelRoute> {
    let mut table = r.header.table as u32;
    let mut dst = None;
    let mut metric = None;
    let mut gw = None;
    let mut oif = None;
    let mut multipath = Vec::new();
    for a in &r.attributes {
        match a {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(d) => dst = route_address(d),
            RouteAttribute::Priority(p) => metric = Some(*p),
            RouteAttribute::Gateway(g) => gw = route_address(g),
            RouteAttribute::Via(RouteVia::Inet6(v6)) => gw = Some(IpAddr::V6(*v6)),
            RouteAttribute::Oif(o) => oif = Some(*o),
            RouteAttribute::MultiPath(hops) => {
                for h in hops {
                    let g = h.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Gateway(g) => route_address(g),
                        RouteAttribute::Via(RouteVia::Inet6(v6)) => Some(IpAddr::V6(*v6)),
                        _ => None,
                    });
                    multipath.push(KernelNexthop {
                        gateway: g,
                        device: names.get(&h.interface_index).cloned(),
                        onlink: h.flags.contains(RouteNextHopFlags::Onlink),
                    });
                }
            }
            _ => {}
        }
    }
    let dst = dst.unwrap_or(match r.header.address_family {
        AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    });
    let prefix = IpNet::new(dst, r.header.destination_prefix_length).ok()?;
    let kind = match r.header.kind {
        RouteType::Unicast => "unicast".to_string(),
        RouteType::Unreachable => "unreachable".to_string(),
        other => format!("{other:?}").to_lowercase(),
    };
    let nexthops = if multipath.is_empty() {
        if gw.is_some() || oif.is_some() {
            vec![KernelNexthop {
                gateway: gw,
                device: oif.and_then(|o| names.get(&o).cloned()),
                onlink: r
                    .header
                    .flags
                    .contains(rtnetlink::packet_route::route::RouteFlags::Onlink),
            }]
        } else {
            Vec::new()
        }
    } else {
        multipath
    };
    Some(KernelRoute {
        table,
        prefix,
        kind,
        metric,
        nexthops,
    })
}
