//! Pod links: a pod's host link checked, put into its VRF (enslaved, or
//! with its rules), with a route to each pod prefix and a permanent
//! neighbour entry for each pod address; and taken out again.

use ipnet::IpNet;
use rtnetlink::packet_core::{NLM_F_CREATE, NLM_F_REPLACE};
use rtnetlink::packet_route::link::{InfoKind, LinkAttribute, LinkInfo};
use rtnetlink::packet_route::route::{
    RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::LinkUnspec;

use super::routes::{neighbour, set_destination};
use super::{
    ignore_gone, is_gone, link_infos, set_sysctl, vrf_device_name, Backend, Kernel, KernelError,
    PodLink, RTPROT_FERRY,
};
use crate::fib::plan::VrfSpec;

impl Kernel {
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
