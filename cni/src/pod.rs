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
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE,
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

/// The host-side name of a pod's link: `fy` and twelve hex digits of a
/// hash of the container ID and interface name (stable, at most 15
/// characters, as the kernel requires).
pub fn host_ifname(container_id: &str, ifname: &str) -> String {
    format!("fy{:012x}", fnv1a(container_id, ifname) & 0xffff_ffff_ffff)
}

fn temp_ifname(container_id: &str, ifname: &str) -> String {
    format!("fz{:012x}", fnv1a(container_id, ifname) & 0xffff_ffff_ffff)
}

fn fnv1a(a: &str, b: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in a.bytes().chain([b'/']).chain(b.bytes()) {
        h ^= byte as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A MAC for a pod whose cni-args give none: locally administered,
/// derived from the container ID and interface name.
pub fn derived_mac(container_id: &str, ifname: &str) -> MacAddress {
    let h = fnv1a(container_id, ifname).to_be_bytes();
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
/// On failure nothing is left: the pair is deleted.
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
        rt.block_on(configure_pod(conf, &temp, ifname, pod_mac, host_mac))
    });
    if let Err(e) = pod_side {
        let _ = rt.block_on(async {
            let handle = connect().await?;
            delete_link(&handle, &host).await
        });
        // The pod end may still be there under either name.
        let _ = in_netns(netns, || {
            let rt = runtime()?;
            rt.block_on(async {
                let handle = connect().await?;
                for name in [temp.as_str(), ifname] {
                    if let Some(l) = link(&handle, name).await {
                        if link_is_veth(&l) {
                            delete_link(&handle, name).await?;
                        }
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
    temp: &str,
    ifname: &str,
    pod_mac: MacAddress,
    host_mac: MacAddress,
) -> Result<(), CniError> {
    let handle = connect().await?;
    if link(&handle, ifname).await.is_some() {
        return Err(CniError::new(
            CniError::INVALID_ENV,
            format!("CNI_IFNAME {ifname}: the pod already has an interface of that name"),
        ));
    }
    let l = link(&handle, temp)
        .await
        .ok_or_else(|| kernel_err("finding the veth in the pod", temp))?;
    let index = l.header.index;
    let msg = LinkUnspec::new_with_index(index)
        .name(ifname.to_string())
        .address(pod_mac.0.to_vec())
        .build();
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

/// Deletes the pair (from the pod side when the namespace is still
/// there, else the host side). What is gone already is fine.
pub fn del(container_id: &str, ifname: &str, netns: Option<&Path>) -> Result<(), CniError> {
    if let Some(ns) = netns.filter(|p| p.exists()) {
        let r = in_netns(ns, || {
            let rt = runtime()?;
            rt.block_on(async {
                let handle = connect().await?;
                if let Some(l) = link(&handle, ifname).await {
                    if link_is_veth(&l) {
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

/// CHECK: the pod's interface is there with its MAC and addresses.
pub fn check(
    conf: &NetConf,
    container_id: &str,
    ifname: &str,
    netns: &Path,
) -> Result<(), CniError> {
    let want_mac = conf
        .mac
        .unwrap_or_else(|| derived_mac(container_id, ifname));
    let want: Vec<IpNet> = [&conf.ipv4, &conf.ipv6]
        .into_iter()
        .flatten()
        .map(|c| c.address)
        .collect();
    in_netns(netns, || {
        let rt = runtime()?;
        rt.block_on(async {
            let handle = connect().await?;
            let l = link(&handle, ifname).await.ok_or_else(|| {
                CniError::new(
                    CniError::KERNEL,
                    format!("{ifname} is missing from the pod"),
                )
            })?;
            if link_mac(&l) != Some(want_mac) {
                return Err(CniError::new(
                    CniError::KERNEL,
                    format!("{ifname} does not have MAC {want_mac}"),
                ));
            }
            let mut have = Vec::new();
            let mut addrs = handle
                .address()
                .get()
                .set_link_index_filter(l.header.index)
                .execute();
            while let Some(a) = addrs
                .try_next()
                .await
                .map_err(|e| kernel_err("listing addresses", e))?
            {
                for attr in &a.attributes {
                    if let AddressAttribute::Address(ip) = attr {
                        if let Ok(n) = IpNet::new(*ip, a.header.prefix_len) {
                            have.push(n);
                        }
                    }
                }
            }
            for w in &want {
                if !have.contains(w) {
                    return Err(CniError::new(
                        CniError::KERNEL,
                        format!("{ifname} lacks address {w}"),
                    ));
                }
            }
            Ok(())
        })
    })
}
