//! The lab's topology file (YAML) and its validation. The built-in default
//! is the seed (`lab/seed.yaml`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub const SEED: &str = include_str!("../seed.yaml");

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Topology {
    pub name: String,
    pub clusters: Vec<Cluster>,
    #[serde(default)]
    pub peerings: Vec<(String, String)>,
    #[serde(default)]
    pub nads: Vec<Nad>,
    #[serde(default)]
    pub pods: Vec<Pod>,
    #[serde(default)]
    pub checks: Checks,
    /// BFD on every session of the lab (workers with their reflectors,
    /// reflectors across clusters); off when absent.
    #[serde(default)]
    pub bfd: Option<Bfd>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Bfd {
    /// Milliseconds.
    pub minimum_interval: u32,
    pub multiplier: u8,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Cluster {
    pub name: String,
    #[serde(default)]
    pub region: Option<String>,
    pub vpc: IpNet,
    /// The route reflector's address (one reflector).
    #[serde(default)]
    pub master: Option<IpAddr>,
    /// The route reflectors' addresses (several, sharing the cluster-id
    /// of the first).
    #[serde(default)]
    pub masters: Vec<IpAddr>,
    pub workers: Vec<IpAddr>,
}

impl Cluster {
    /// Every route reflector of the cluster, the first one first.
    pub fn reflectors(&self) -> Vec<IpAddr> {
        self.master.iter().chain(&self.masters).copied().collect()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Nad {
    pub name: String,
    pub vrf: String,
    pub vni: u32,
    pub route_target: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PodIp {
    pub address: IpNet,
    #[serde(default)]
    pub gateway: Option<IpAddr>,
    #[serde(default)]
    pub routes: Vec<IpNet>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Pod {
    pub name: String,
    pub cluster: String,
    pub nad: String,
    /// Which worker of the cluster (0 = the first).
    #[serde(default)]
    pub worker: usize,
    #[serde(default)]
    pub mac: Option<String>,
    #[serde(default)]
    pub ipv4: Option<PodIp>,
    #[serde(default)]
    pub ipv6: Option<PodIp>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Checks {
    /// Pairs of pods that must reach each other (IPv4 and, when both
    /// have it, IPv6).
    #[serde(default)]
    pub reach: Vec<(String, String)>,
    /// Pairs (from, to): `from` must reach no address of `to` (nor its
    /// gateways).
    #[serde(default)]
    pub isolated: Vec<(String, String)>,
}

impl Topology {
    pub fn seed() -> Topology {
        parse(SEED, "built-in seed topology").expect("the seed topology is valid")
    }

    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.clusters.iter().find(|c| c.name == name)
    }

    pub fn nad(&self, name: &str) -> Option<&Nad> {
        self.nads.iter().find(|n| n.name == name)
    }

    pub fn pod(&self, name: &str) -> Option<&Pod> {
        self.pods.iter().find(|p| p.name == name)
    }
}

/// Parses and validates a topology; errors name the file and the field.
pub fn parse(text: &str, origin: &str) -> Result<Topology, String> {
    let t: Topology = serde_norway::from_str(text).map_err(|e| format!("{origin}: {e}"))?;
    validate(&t).map_err(|e| format!("{origin}: {e}"))?;
    Ok(t)
}

fn validate(t: &Topology) -> Result<(), String> {
    if t.clusters.is_empty() {
        return Err("clusters: at least one cluster".into());
    }
    let mut names = BTreeSet::new();
    let mut addrs = BTreeSet::new();
    for (i, c) in t.clusters.iter().enumerate() {
        if c.name.is_empty()
            || c.name.len() > 20
            || !c
                .name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
        {
            return Err(format!(
                "clusters[{i}].name: {:?}: use 1 to 20 letters, digits or '-'",
                c.name
            ));
        }
        if !names.insert(c.name.clone()) {
            return Err(format!("clusters[{i}].name: {:?} is used twice", c.name));
        }
        if c.workers.is_empty() {
            return Err(format!("clusters[{i}].workers: at least one worker"));
        }
        match (&c.master, c.masters.len()) {
            (None, 0) => {
                return Err(format!(
                    "clusters[{i}]: give its route reflector (master) or reflectors (masters)"
                ))
            }
            (Some(_), n) if n > 0 => {
                return Err(format!(
                    "clusters[{i}]: master and masters both given: list every reflector in masters"
                ))
            }
            _ => {}
        }
        let reflectors = c.reflectors();
        let what_rr = if c.master.is_some() {
            "master"
        } else {
            "masters"
        };
        for (what, a) in reflectors
            .iter()
            .map(|m| (what_rr, m))
            .chain(c.workers.iter().map(|w| ("workers", w)))
        {
            if !c.vpc.contains(a) || *a == c.vpc.network() || *a == gateway_of(&c.vpc) {
                return Err(format!("clusters[{i}].{what}: {a} is not a host address of the VPC {} (its first address is the VPC router)", c.vpc));
            }
            if !addrs.insert(*a) {
                return Err(format!("clusters[{i}].{what}: {a} is used twice"));
            }
        }
    }
    for (i, a) in t.clusters.iter().enumerate() {
        for b in &t.clusters[i + 1..] {
            if a.vpc.contains(&b.vpc.network()) || b.vpc.contains(&a.vpc.network()) {
                return Err(format!(
                    "clusters: the VPCs of {} and {} overlap",
                    a.name, b.name
                ));
            }
        }
    }
    for (i, (a, b)) in t.peerings.iter().enumerate() {
        for c in [a, b] {
            if t.cluster(c).is_none() {
                return Err(format!("peerings[{i}]: no cluster {c:?}"));
            }
        }
        if a == b {
            return Err(format!("peerings[{i}]: {a:?} peers with itself"));
        }
    }
    let mut vrfs: BTreeMap<&str, u32> = BTreeMap::new();
    for (i, n) in t.nads.iter().enumerate() {
        if let Some(v) = vrfs.insert(&n.vrf, n.vni) {
            if v != n.vni {
                return Err(format!(
                    "nads[{i}]: VRF {} has VNI {v} in another NAD",
                    n.vrf
                ));
            }
        }
        if !(1..=0xff_ffff).contains(&n.vni) {
            return Err(format!("nads[{i}].vni: {} is outside 1..=16777215", n.vni));
        }
    }
    let mut pods = BTreeSet::new();
    for (i, p) in t.pods.iter().enumerate() {
        if p.name.is_empty()
            || p.name.len() > 30
            || !p
                .name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
        {
            return Err(format!(
                "pods[{i}].name: {:?}: use 1 to 30 letters, digits or '-'",
                p.name
            ));
        }
        if !pods.insert(p.name.clone()) {
            return Err(format!("pods[{i}].name: {:?} is used twice", p.name));
        }
        let c = t
            .cluster(&p.cluster)
            .ok_or_else(|| format!("pods[{i}].cluster: no cluster {:?}", p.cluster))?;
        if p.worker >= c.workers.len() {
            return Err(format!(
                "pods[{i}].worker: {} but {} has {} workers",
                p.worker,
                c.name,
                c.workers.len()
            ));
        }
        if t.nad(&p.nad).is_none() {
            return Err(format!("pods[{i}].nad: no NAD {:?}", p.nad));
        }
        if p.ipv4.is_none() && p.ipv6.is_none() {
            return Err(format!("pods[{i}]: give ipv4 or ipv6"));
        }
    }
    for (list, name) in [(&t.checks.reach, "reach"), (&t.checks.isolated, "isolated")] {
        for (i, (a, b)) in list.iter().enumerate() {
            for p in [a, b] {
                if t.pod(p).is_none() {
                    return Err(format!("checks.{name}[{i}]: no pod {p:?}"));
                }
            }
        }
    }
    Ok(())
}

/// The VPC router's address: the first host address of the VPC.
pub fn gateway_of(vpc: &IpNet) -> IpAddr {
    match vpc.network() {
        IpAddr::V4(a) => IpAddr::V4(std::net::Ipv4Addr::from(u32::from(a) + 1)),
        IpAddr::V6(a) => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(a) + 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_is_the_reference_topology() {
        let t = Topology::seed();
        assert_eq!(t.clusters.len(), 2);
        assert_eq!(
            t.clusters[0].reflectors(),
            ["10.10.25.42".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(t.clusters[1].vpc.to_string(), "10.20.0.0/16");
        let p = t.pod("alpine-cluster-1").unwrap();
        assert_eq!(p.mac.as_deref(), Some("aa:bb:cc:dd:01:01"));
        assert_eq!(p.ipv4.as_ref().unwrap().address.to_string(), "1.1.1.2/30");
        assert_eq!(t.nad("blue-net").unwrap().vni, 10002);
    }

    #[test]
    fn redundant_reflectors_has_two_per_cluster() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/redundant-reflectors.yaml"
        ))
        .unwrap();
        let t = parse(&text, "redundant-reflectors.yaml").unwrap();
        for c in &t.clusters {
            assert_eq!(c.reflectors().len(), 2, "{}", c.name);
        }
        assert!(t.bfd.is_some());
    }

    #[test]
    fn mistakes_name_the_field() {
        let cases = [
            (
                "master: 10.10.25.42",
                "master: 10.30.25.42",
                "clusters[0].master",
            ),
            ("nad: red-net", "nad: green-net", "pods[2].nad"),
            (
                "  - [us-west-1, us-west-2]",
                "  - [us-west-1, us-west-9]",
                "peerings[0]",
            ),
            ("vpc: 10.20.0.0/16", "vpc: 10.0.0.0/8", "overlap"),
            ("name: us-west-2\n", "name: us-west-1\n", "used twice"),
            ("    vni: 20002", "    vni: 10002\n    extra: 1", "extra"),
            (
                "master: 10.10.25.42",
                "master: 10.10.25.42\n    masters: [10.10.25.43]",
                "clusters[0]: master and masters",
            ),
            (
                "master: 10.10.25.42",
                "masters: [10.10.25.42, 10.10.93.12]",
                "clusters[0].workers: 10.10.93.12 is used twice",
            ),
        ];
        for (from, to, want) in cases {
            assert!(SEED.contains(from), "{from}");
            let e = parse(&SEED.replacen(from, to, 1), "t.yaml").unwrap_err();
            assert!(
                e.contains(want) && e.starts_with("t.yaml"),
                "{e} lacks {want}"
            );
        }
    }
}
