//! The `[cluster-mesh]` table: the clusters and their route reflectors,
//! and the group of sessions with the other clusters' reflectors, whose
//! names are resolved here (blocking: loading runs off the async
//! runtime).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use super::top::Top;
use super::Validator;
use crate::config::raw::RawMesh;
use crate::config::{
    ClusterMesh, ConfigError, Group, MeshCluster, PeerType, SessionSettings, DEFAULT_FAMILIES,
    MESH_GROUP,
};

impl Validator<'_> {
    /// The cluster mesh, if the file has one; only a route reflector
    /// (with `cluster-id`) joins it.
    pub(super) fn cluster_mesh(
        &self,
        raw: Option<RawMesh>,
        cluster_id: Option<Ipv4Addr>,
    ) -> Result<Option<ClusterMesh>, ConfigError> {
        let Some(m) = raw else {
            return Ok(None);
        };
        let local_cluster = m.local_cluster.ok_or_else(|| {
            self.err(
                "cluster-mesh.local-cluster",
                "missing: the name of this cluster",
            )
        })?;
        let local_address = self.optional(
            "cluster-mesh.local-address",
            m.local_address.as_deref(),
            Self::ip,
        )?;
        let mut clusters = Vec::new();
        let mut seen = HashMap::new();
        for (ci, c) in m.clusters.into_iter().enumerate() {
            let name = c
                .name
                .ok_or_else(|| self.err(format!("cluster-mesh.clusters[{ci}].name"), "missing"))?;
            if seen.insert(name.clone(), ci).is_some() {
                return Err(self.err(
                    format!("cluster-mesh.clusters[{ci}].name"),
                    format!("{name:?} is listed twice"),
                ));
            }
            for (ri, r) in c.route_reflectors.iter().enumerate() {
                let host_ok = !r.is_empty()
                    && r.chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || ".-:".contains(ch));
                if !host_ok {
                    return Err(self.err(
                        format!("cluster-mesh.clusters[{ci}].route-reflectors[{ri}]"),
                        format!("{r:?} is neither an address nor a host name"),
                    ));
                }
            }
            clusters.push(MeshCluster {
                name,
                route_reflectors: c.route_reflectors,
            });
        }
        if cluster_id.is_none() {
            return Err(self.err(
                "cluster-mesh",
                "only a route reflector (with cluster-id) joins the cluster mesh",
            ));
        }
        let bfd = m
            .bfd_liveness_detection
            .as_ref()
            .map(|b| self.bfd("cluster-mesh.bfd-liveness-detection", b, true))
            .transpose()?;
        Ok(Some(ClusterMesh {
            local_cluster,
            local_address,
            clusters,
            bfd,
        }))
    }

    /// The group of the mesh's sessions: every address of every other
    /// cluster's reflectors, but those already neighbours of a group,
    /// our own, or of the other address family.
    pub(super) fn mesh_group(
        &self,
        mesh: &ClusterMesh,
        groups: &[Group],
        top: &Top,
    ) -> Result<Group, ConfigError> {
        if groups.iter().any(|g| g.name == MESH_GROUP) {
            return Err(self.err(
                "group",
                format!("{MESH_GROUP:?} is the name of the cluster mesh's group; rename yours"),
            ));
        }
        let mesh_bfd = mesh.bfd;
        let local_address = mesh
            .local_address
            .or_else(|| groups.iter().find_map(|g| g.session.local_address));
        let mut neighbors: Vec<IpAddr> = Vec::new();
        for c in mesh
            .clusters
            .iter()
            .filter(|c| c.name != mesh.local_cluster)
        {
            for r in &c.route_reflectors {
                for a in resolve_host(r) {
                    let taken = groups.iter().any(|g| g.neighbors.contains(&a));
                    let own = Some(a) == local_address || a == IpAddr::V4(top.router_id);
                    let same_family = local_address.is_none_or(|l| l.is_ipv4() == a.is_ipv4());
                    if !taken && !own && same_family && !neighbors.contains(&a) {
                        neighbors.push(a);
                    }
                }
            }
        }
        Ok(Group {
            name: MESH_GROUP.to_string(),
            allow: Vec::new(),
            neighbors,
            session: SessionSettings {
                peer_type: PeerType::Internal,
                peer_as: top.local_as,
                local_address,
                families: DEFAULT_FAMILIES.to_vec(),
                route_reflector_client: false,
                hold_time: top.hold_time,
                connect_retry: top.connect_retry,
                passive: false,
                peer_port: 179,
                authentication_key: None,
                ttl_security: None,
                send_hold_time: None,
                prefix_limits: Vec::new(),
                bfd: mesh_bfd,
            },
        })
    }
}

/// The addresses of a route reflector named in the cluster mesh: an
/// address, or a DNS name resolved now (on each load and reload). A name
/// that does not resolve yields nothing: its cluster may not exist yet.
/// Blocking: called only while loading, off the async runtime.
fn resolve_host(name: &str) -> Vec<IpAddr> {
    if let Ok(a) = name.parse::<IpAddr>() {
        return vec![a];
    }
    use std::net::ToSocketAddrs;
    match (name, 179).to_socket_addrs() {
        Ok(it) => {
            let mut v: Vec<IpAddr> = it.map(|sa| sa.ip()).collect();
            v.sort();
            v.dedup();
            v
        }
        Err(e) => {
            tracing::warn!(name, error = %e, "cluster mesh: route reflector name does not resolve");
            Vec::new()
        }
    }
}
