//! The pod side of an attachment: the veth pair, the pod's MAC, addresses,
//! routes and gateway neighbour entries. The host side is bgpd's.
//!
//! Work inside the pod's network namespace runs on a thread of its own
//! that enters the namespace (setns(2)) and opens its own rtnetlink
//! socket there; the plugin's main thread never leaves the host namespace.

use std::fs::File;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::Path;

use ferry_wire::MacAddress;
use futures::TryStreamExt;
use ipnet::IpNet;
use rtnetlink::packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE,
    NLM_F_REQUEST,
};
use rtnetlink::packet_route::address::{AddressAttribute, AddressHeaderFlags, AddressMessage};
use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage};
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::{Handle, LinkUnspec, LinkVeth};

use crate::netconf::{CniError, IpConfig, NetConf};

use ferry_control::pod::pod_hash;
pub use ferry_control::pod::pod_host_ifname as host_ifname;

fn temp_ifname(container_id: &str, ifname: &str) -> String {
    format!(
        "fz{:012x}",
        pod_hash(container_id, ifname) & 0xffff_ffff_ffff
    )
}

/// The alias (`ip link show` says `alias ferry:<container-id>`) of the pod
/// end of a pair: which container owns the interface. ADD rolls back, and
/// DEL deletes, only an interface whose alias names their container.
pub fn owner_alias(container_id: &str) -> String {
    format!("ferry:{container_id}")
}

/// The longest container ID: the owner alias must fit the kernel's 255
/// bytes.
pub const MAX_CONTAINER_ID: usize = 240;

fn link_alias(l: &LinkMessage) -> Option<&str> {
    l.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfAlias(s) => Some(s.as_str()),
        _ => None,
    })
}

/// True when `l` is the pod end Ferry made for `container_id`.
fn owned_by(l: &LinkMessage, container_id: &str) -> bool {
    link_is_veth(l) && link_alias(l) == Some(owner_alias(container_id).as_str())
}

/// Who an interface in the pod belongs to, for error messages.
fn owner_text(l: &LinkMessage) -> String {
    match link_alias(l).and_then(|a| a.strip_prefix("ferry:")) {
        Some(other) => format!("it belongs to container {other}"),
        None => "Ferry did not make it".to_string(),
    }
}

/// A MAC for a pod whose cni-args give none: locally administered,
/// derived from the container ID and interface name.
pub fn derived_mac(container_id: &str, ifname: &str) -> MacAddress {
    let h = pod_hash(container_id, ifname).to_be_bytes();
    MacAddress([0x02, h[1], h[2], h[3], h[4], h[5]])
}

fn kernel_err(what: &str, e: impl std::fmt::Display) -> CniError {
    CniError::new(CniError::KERNEL, format!("{what}: {e}"))
}

async fn connect() -> Result<Handle, CniError> {
    let (conn, handle, _) =
        rtnetlink::new_connection().map_err(|e| kernel_err("opening rtnetlink", e))?;
    tokio::spawn(conn);
    Ok(handle)
}

async fn send(
    handle: &Handle,
    msg: RouteNetlinkMessage,
    flags: u16,
    what: &str,
) -> Result<(), CniError> {
    let mut req = NetlinkMessage::from(msg);
    req.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    let mut h = handle.clone();
    let mut resp = h.request(req).map_err(|e| kernel_err(what, e))?;
    while let Some(m) = futures::StreamExt::next(&mut resp).await {
        if let NetlinkPayload::Error(e) = m.payload {
            if e.code.is_some() {
                return Err(kernel_err(what, e.to_io()));
            }
        }
    }
    Ok(())
}

async fn link(handle: &Handle, name: &str) -> Option<LinkMessage> {
    let mut s = handle.link().get().match_name(name.to_string()).execute();
    s.try_next().await.ok().flatten()
}

fn link_mac(l: &LinkMessage) -> Option<MacAddress> {
    l.attributes.iter().find_map(|a| match a {
        LinkAttribute::Address(b) if b.len() == 6 => {
            let mut m = [0u8; 6];
            m.copy_from_slice(b);
            Some(MacAddress(m))
        }
        _ => None,
    })
}

fn link_is_veth(l: &LinkMessage) -> bool {
    use rtnetlink::packet_route::link::{InfoKind, LinkInfo};
    l.attributes.iter().any(|a| {
        matches!(a, LinkAttribute::LinkInfo(infos) if infos.iter().any(|i| matches!(i, LinkInfo::Kind(InfoKind::Veth))))
    })
}

/// Runs `f` on a thread inside the network namespace at `netns`.
fn in_netns<T: Send>(
    netns: &Path,
    f: impl FnOnce() -> Result<T, CniError> + Send,
) -> Result<T, CniError> {
    let file = File::open(netns).map_err(|e| {
        CniError::new(
            CniError::INVALID_ENV,
            format!("CNI_NETNS {}: {e}", netns.display()),
        )
    })?;
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: setns on this thread only, with a valid descriptor.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            if rc != 0 {
                return Err(CniError::new(
                    CniError::INVALID_ENV,
                    format!(
                        "entering {}: {}",
                        netns.display(),
                        std::io::Error::last_os_error()
                    ),
                ));
            }
            f()
        })
        .join()
        .unwrap_or_else(|_| {
            Err(CniError::new(
                CniError::KERNEL,
                "pod namespace worker failed",
            ))
        })
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, CniError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| kernel_err("starting the runtime", e))
}

/// What ADD made.
pub struct Added {
    pub host_ifname: String,
    pub host_mac: MacAddress,
    pub pod_mac: MacAddress,
}

/// Creates the veth pair, moves one end into the pod and configures it.
/// An interface `ifname` in the pod that is not this container's is never
/// touched: ADD fails before it makes anything. On a later failure only
/// what this call made is removed (the pair, by its names).
pub fn add(
    conf: &NetConf,
    container_id: &str,
    ifname: &str,
    netns: &Path,
) -> Result<Added, CniError> {
    let host = host_ifname(container_id, ifname);
    let temp = temp_ifname(container_id, ifname);
    let pod_mac = conf
        .mac
        .unwrap_or_else(|| derived_mac(container_id, ifname));
    let ns_file = File::open(netns).map_err(|e| {
        CniError::new(
            CniError::INVALID_ENV,
            format!("CNI_NETNS {}: {e}", netns.display()),
        )
    })?;
    // Before anything is made: the pod's interface name must be free, or
    // hold this container's own pair from an earlier ADD (replaced below).
    in_netns(netns, || {
        let rt = runtime()?;
        rt.block_on(async {
            let handle = connect().await?;
            match link(&handle, ifname).await {
                Some(l) if !owned_by(&l, container_id) => Err(CniError::new(
                    CniError::INVALID_ENV,
                    format!(
                        "CNI_IFNAME {ifname}: the pod already has an interface of that name ({}); nothing changed",
                        owner_text(&l)
                    ),
                )),
                _ => Ok(()),
            }
        })
    })?;
    let rt = runtime()?;
    let host_mac = rt.block_on(async {
        let handle = connect().await?;
        if link(&handle, &host).await.is_some() {
            // A previous ADD of this container left its pair: start anew.
            delete_link(&handle, &host).await?;
        }
        if link(&handle, &temp).await.is_some() {
            delete_link(&handle, &temp).await?;
        }
        let msg = LinkVeth::new(&host, &temp).build();
        send(
            &handle,
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("creating veth {host}"),
        )
        .await?;
        let result = async {
            let peer = link(&handle, &temp)
                .await
                .ok_or_else(|| kernel_err("finding the new veth", &temp))?;
            let msg = LinkUnspec::new_with_index(peer.header.index)
                .setns_by_fd(ns_file.as_raw_fd())
                .build();
            send(
                &handle,
                RouteNetlinkMessage::SetLink(msg),
                0,
                "moving the veth into the pod",
            )
            .await?;
            let h = link(&handle, &host)
                .await
                .ok_or_else(|| kernel_err("finding the new veth", &host))?;
            link_mac(&h).ok_or_else(|| kernel_err("reading the MAC of", &host))
        }
        .await;
        if result.is_err() {
            let _ = delete_link(&handle, &host).await;
        }
        result
    })?;
    let pod_side = in_netns(netns, || {
        let rt = runtime()?;
        rt.block_on(configure_pod(
            conf,
            container_id,
            &temp,
            ifname,
            pod_mac,
            host_mac,
        ))
    });
    if let Err(e) = pod_side {
        // Deleting the host end deletes the pod end with it.
        let _ = rt.block_on(async {
            let handle = connect().await?;
            delete_link(&handle, &host).await
        });
        // If the host end was already gone, the pod end may remain: under
        // the temporary name, or renamed and marked as this container's.
        let _ = in_netns(netns, || {
            let rt = runtime()?;
            rt.block_on(async {
                let handle = connect().await?;
                if let Some(l) = link(&handle, &temp).await {
                    if link_is_veth(&l) && link_alias(&l).is_none() {
                        delete_link(&handle, &temp).await?;
                    }
                }
                if let Some(l) = link(&handle, ifname).await {
                    if owned_by(&l, container_id) {
                        delete_link(&handle, ifname).await?;
                    }
                }
                Ok(())
            })
        });
        return Err(e);
    }
    Ok(Added {
        host_ifname: host,
        host_mac,
        pod_mac,
    })
}

async fn delete_link(handle: &Handle, name: &str) -> Result<(), CniError> {
    if let Some(l) = link(handle, name).await {
        handle
            .link()
            .del(l.header.index)
            .execute()
            .await
            .map_err(|e| kernel_err(&format!("deleting {name}"), e))?;
    }
    Ok(())
}

async fn configure_pod(
    conf: &NetConf,
    container_id: &str,
    temp: &str,
    ifname: &str,
    pod_mac: MacAddress,
    host_mac: MacAddress,
) -> Result<(), CniError> {
    let handle = connect().await?;
    if let Some(l) = link(&handle, ifname).await {
        return Err(CniError::new(
            CniError::INVALID_ENV,
            format!(
                "CNI_IFNAME {ifname}: the pod already has an interface of that name ({})",
                owner_text(&l)
            ),
        ));
    }
    let l = link(&handle, temp)
        .await
        .ok_or_else(|| kernel_err("finding the veth in the pod", temp))?;
    let index = l.header.index;
    let mut msg = LinkUnspec::new_with_index(index)
        .name(ifname.to_string())
        .address(pod_mac.0.to_vec())
        .build();
    msg.attributes
        .push(LinkAttribute::IfAlias(owner_alias(container_id)));
    send(
        &handle,
        RouteNetlinkMessage::SetLink(msg),
        0,
        &format!("naming {ifname} and setting its MAC {pod_mac}"),
    )
    .await?;
    let msg = LinkUnspec::new_with_index(index).up().build();
    send(
        &handle,
        RouteNetlinkMessage::SetLink(msg),
        0,
        &format!("setting {ifname} up"),
    )
    .await?;
    for cfg in [&conf.ipv4, &conf.ipv6].into_iter().flatten() {
        configure_family(&handle, index, ifname, cfg, host_mac).await?;
    }
    Ok(())
}

async fn configure_family(
    handle: &Handle,
    index: u32,
    ifname: &str,
    cfg: &IpConfig,
    host_mac: MacAddress,
) -> Result<(), CniError> {
    let mut m = AddressMessage::default();
    m.header.family = family(&cfg.address.addr());
    m.header.prefix_len = cfg.address.prefix_len();
    m.header.index = index;
    if cfg.address.addr().is_ipv6() {
        // The pod's address is usable at once: nobody else owns it.
        m.header.flags = AddressHeaderFlags::Nodad;
    }
    m.attributes
        .push(AddressAttribute::Address(cfg.address.addr()));
    if cfg.address.addr().is_ipv4() {
        m.attributes
            .push(AddressAttribute::Local(cfg.address.addr()));
    }
    send(
        handle,
        RouteNetlinkMessage::NewAddress(m),
        NLM_F_CREATE | NLM_F_REPLACE,
        &format!("address {} on {ifname}", cfg.address),
    )
    .await?;
    let Some(gw) = cfg.gateway else { return Ok(()) };
    // The gateway is the host side of the pair: a permanent entry, so
    // that the pod never waits on ARP or ND for it.
    let mut n = NeighbourMessage::default();
    n.header.family = family(&gw);
    n.header.ifindex = index;
    n.header.state = NeighbourState::Permanent;
    n.attributes.push(NeighbourAttribute::Destination(match gw {
        IpAddr::V4(a) => NeighbourAddress::Inet(a),
        IpAddr::V6(a) => NeighbourAddress::Inet6(a),
    }));
    n.attributes
        .push(NeighbourAttribute::LinkLayerAddress(host_mac.0.to_vec()));
    send(
        handle,
        RouteNetlinkMessage::NewNeighbour(n),
        NLM_F_CREATE | NLM_F_REPLACE,
        &format!("gateway neighbour {gw}"),
    )
    .await?;
    for r in &cfg.routes {
        let mut m = RouteMessage::default();
        m.header.address_family = family(&gw);
        m.header.destination_prefix_length = r.prefix_len();
        m.header.table = 254;
        m.header.protocol = RouteProtocol::Boot;
        m.header.scope = RouteScope::Universe;
        m.header.kind = RouteType::Unicast;
        m.attributes
            .push(RouteAttribute::Destination(RouteAddress::from(r.network())));
        m.attributes
            .push(RouteAttribute::Gateway(RouteAddress::from(gw)));
        m.attributes.push(RouteAttribute::Oif(index));
        send(
            handle,
            RouteNetlinkMessage::NewRoute(m),
            NLM_F_CREATE | NLM_F_REPLACE,
            &format!("route {r} via {gw} in the pod"),
        )
        .await?;
    }
    Ok(())
}

fn family(a: &IpAddr) -> AddressFamily {
    match a {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

/// Deletes this container's pair: the pod end only when it is marked as
/// this container's, the host end by its name (which the container ID
/// gives). Nothing of another container is touched; what is gone already
/// is fine, and so is a pod namespace that is gone.
pub fn del(container_id: &str, ifname: &str, netns: Option<&Path>) -> Result<(), CniError> {
    if let Some(ns) = netns.filter(|p| p.exists()) {
        let r = in_netns(ns, || {
            let rt = runtime()?;
            rt.block_on(async {
                let handle = connect().await?;
                if let Some(l) = link(&handle, ifname).await {
                    if owned_by(&l, container_id) {
                        delete_link(&handle, ifname).await?;
                    }
                }
                Ok(())
            })
        });
        if let Err(e) = r {
            if e.code != CniError::INVALID_ENV {
                return Err(e);
            }
        }
    }
    let host = host_ifname(container_id, ifname);
    runtime()?.block_on(async {
        let handle = connect().await?;
        delete_link(&handle, &host).await
    })
}

fn missing(what: String) -> CniError {
    CniError::new(CniError::KERNEL, what)
}

async fn dump(
    handle: &Handle,
    msg: RouteNetlinkMessage,
    what: &str,
) -> Result<Vec<RouteNetlinkMessage>, CniError> {
    let mut req = NetlinkMessage::from(msg);
    req.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let mut h = handle.clone();
    let mut resp = h.request(req).map_err(|e| kernel_err(what, e))?;
    let mut out = Vec::new();
    while let Some(m) = futures::StreamExt::next(&mut resp).await {
        match m.payload {
            NetlinkPayload::InnerMessage(inner) => out.push(inner),
            NetlinkPayload::Error(e) if e.code.is_some() => {
                return Err(kernel_err(what, e.to_io()))
            }
            _ => {}
        }
    }
    Ok(out)
}

/// CHECK: everything ADD made is there. Host side: the veth of this
/// container, its peer in another namespace. Pod side: the interface
/// marked as this container's, up, with its MAC, its addresses, the
/// permanent gateway neighbour entry pointing at the host end and the
/// routes via the gateway. Returns the host end's MAC.
pub fn check(
    conf: &NetConf,
    container_id: &str,
    ifname: &str,
    netns: &Path,
) -> Result<MacAddress, CniError> {
    let host = host_ifname(container_id, ifname);
    let host_mac = runtime()?.block_on(async {
        let handle = connect().await?;
        let l = link(&handle, &host)
            .await
            .ok_or_else(|| missing(format!("host link {host} is gone")))?;
        if !link_is_veth(&l) {
            return Err(missing(format!("host link {host} is not a veth")));
        }
        if !l
            .attributes
            .iter()
            .any(|a| matches!(a, LinkAttribute::LinkNetNsId(_)))
        {
            return Err(missing(format!(
                "host link {host}: its peer is not in the pod's namespace"
            )));
        }
        link_mac(&l).ok_or_else(|| missing(format!("host link {host} has no MAC")))
    })?;
    let want_mac = conf
        .mac
        .unwrap_or_else(|| derived_mac(container_id, ifname));
    in_netns(netns, || {
        let rt = runtime()?;
        rt.block_on(check_pod_side(
            conf,
            container_id,
            ifname,
            want_mac,
            host_mac,
        ))
    })?;
    Ok(host_mac)
}

async fn check_pod_side(
    conf: &NetConf,
    container_id: &str,
    ifname: &str,
    want_mac: MacAddress,
    host_mac: MacAddress,
) -> Result<(), CniError> {
    use rtnetlink::packet_route::link::LinkFlags;
    let handle = connect().await?;
    let l = link(&handle, ifname)
        .await
        .ok_or_else(|| missing(format!("{ifname} is missing from the pod")))?;
    if !owned_by(&l, container_id) {
        return Err(missing(format!(
            "{ifname} in the pod is not container {container_id}'s ({})",
            owner_text(&l)
        )));
    }
    if !l.header.flags.contains(LinkFlags::Up) {
        return Err(missing(format!("{ifname} is down")));
    }
    if link_mac(&l) != Some(want_mac) {
        return Err(missing(format!("{ifname} does not have MAC {want_mac}")));
    }
    let index = l.header.index;
    let mut have = Vec::new();
    for msg in dump(
        &handle,
        RouteNetlinkMessage::GetAddress(AddressMessage::default()),
        "listing addresses",
    )
    .await?
    {
        let RouteNetlinkMessage::NewAddress(a) = msg else {
            continue;
        };
        if a.header.index != index {
            continue;
        }
        for attr in &a.attributes {
            if let AddressAttribute::Address(ip) = attr {
                if let Ok(n) = IpNet::new(*ip, a.header.prefix_len) {
                    have.push(n);
                }
            }
        }
    }
    let mut neighbours = Vec::new();
    let mut routes = Vec::new();
    for fam in [AddressFamily::Inet, AddressFamily::Inet6] {
        let mut n = NeighbourMessage::default();
        n.header.family = fam;
        for msg in dump(
            &handle,
            RouteNetlinkMessage::GetNeighbour(n),
            "listing neighbours",
        )
        .await?
        {
            let RouteNetlinkMessage::NewNeighbour(n) = msg else {
                continue;
            };
            if n.header.ifindex != index || n.header.state != NeighbourState::Permanent {
                continue;
            }
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
                    NeighbourAttribute::LinkLayerAddress(b) => lla = Some(b.clone()),
                    _ => {}
                }
            }
            if let (Some(d), Some(m)) = (dst, lla) {
                neighbours.push((d, m));
            }
        }
        let mut r = RouteMessage::default();
        r.header.address_family = fam;
        for msg in dump(&handle, RouteNetlinkMessage::GetRoute(r), "listing routes").await? {
            let RouteNetlinkMessage::NewRoute(r) = msg else {
                continue;
            };
            let mut dst = None;
            let mut gw = None;
            let mut oif = None;
            let mut table = r.header.table as u32;
            for a in &r.attributes {
                match a {
                    RouteAttribute::Destination(d) => dst = route_ip(d),
                    RouteAttribute::Gateway(g) => gw = route_ip(g),
                    RouteAttribute::Oif(o) => oif = Some(*o),
                    RouteAttribute::Table(t) => table = *t,
                    _ => {}
                }
            }
            if table != 254 || oif != Some(index) {
                continue;
            }
            let dst = dst.unwrap_or(match fam {
                AddressFamily::Inet6 => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
                _ => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            });
            if let Ok(net) = IpNet::new(dst, r.header.destination_prefix_length) {
                routes.push((net, gw));
            }
        }
    }
    for cfg in [&conf.ipv4, &conf.ipv6].into_iter().flatten() {
        if !have.contains(&cfg.address) {
            return Err(missing(format!("{ifname} lacks address {}", cfg.address)));
        }
        let Some(gw) = cfg.gateway else { continue };
        if !neighbours
            .iter()
            .any(|(d, m)| *d == gw && m.as_slice() == host_mac.0)
        {
            return Err(missing(format!(
                "gateway neighbour {gw} lladdr {host_mac} dev {ifname} (permanent) is missing from the pod"
            )));
        }
        for r in &cfg.routes {
            if !routes.iter().any(|(n, g)| n == r && *g == Some(gw)) {
                return Err(missing(format!(
                    "route {r} via {gw} dev {ifname} is missing from the pod"
                )));
            }
        }
    }
    Ok(())
}

fn route_ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}
