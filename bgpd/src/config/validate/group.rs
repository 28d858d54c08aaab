//! The `[[group]]` tables: names, dynamic-neighbour ranges, neighbours,
//! each group's session settings ([`super::session`]), and no neighbour
//! that is one of our own addresses.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use super::top::Top;
use super::Validator;
use crate::config::raw::RawGroup;
use crate::config::{ConfigError, Group};

impl Validator<'_> {
    /// Every `[[group]]`, in order.
    pub(super) fn groups(&self, raw: Vec<RawGroup>, top: &Top) -> Result<Vec<Group>, ConfigError> {
        let mut groups = Vec::new();
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut owner: HashMap<IpAddr, String> = HashMap::new();
        let mut ranges: HashMap<IpNet, String> = HashMap::new();
        for (gi, g) in raw.into_iter().enumerate() {
            let k = |s: &str| format!("group[{gi}].{s}");
            let name = g
                .name
                .clone()
                .ok_or_else(|| self.err(k("name"), "missing: every group needs a name"))?;
            if name.is_empty() {
                return Err(self.err(k("name"), "empty name"));
            }
            if let Some(prev) = names.insert(name.clone(), gi) {
                return Err(self.err(
                    k("name"),
                    format!("{name:?} is already the name of group[{prev}]"),
                ));
            }
            let session = self.session(gi, &g, top)?;
            let local_address = session.local_address;
            let mut allow = Vec::new();
            for (ai, a) in g.allow.iter().enumerate() {
                let key = format!("group[{gi}].allow[{ai}]");
                let net: IpNet = a
                    .parse()
                    .map_err(|e| self.err(&key, format!("invalid prefix {a:?}: {e}")))?;
                if net.trunc() != net {
                    return Err(self.err(
                        &key,
                        format!("{a:?} has host bits set: write the network {}", net.trunc()),
                    ));
                }
                if let Some(other) = ranges.insert(net, name.clone()) {
                    return Err(
                        self.err(&key, format!("{a} is already allowed in group {other:?}"))
                    );
                }
                allow.push(net);
            }
            let mut neighbors = Vec::new();
            for (ni, n) in g.neighbors.iter().enumerate() {
                let key = format!("group[{gi}].neighbors[{ni}]");
                let addr = self.ip(&key, n)?;
                if let Some(other) = owner.insert(addr, name.clone()) {
                    return Err(self.err(
                        &key,
                        format!("{addr} is already a neighbor in group {other:?}"),
                    ));
                }
                if let Some(la) = local_address {
                    if la.is_ipv4() != addr.is_ipv4() {
                        return Err(self.err(
                            &key,
                            format!(
                                "{addr} and local-address {la} are of different address families"
                            ),
                        ));
                    }
                }
                neighbors.push(addr);
            }
            groups.push(Group {
                name,
                allow,
                neighbors,
                session,
            });
        }
        Ok(groups)
    }

    /// A neighbour must not be one of our own addresses.
    pub(super) fn not_ourselves(
        &self,
        groups: &[Group],
        router_id: Ipv4Addr,
    ) -> Result<(), ConfigError> {
        for (gi, g) in groups.iter().enumerate() {
            for (ni, n) in g.neighbors.iter().enumerate() {
                let key = format!("group[{gi}].neighbors[{ni}]");
                if *n == IpAddr::V4(router_id) {
                    return Err(self.err(
                        key,
                        format!("{n} is our own router-id: a neighbor is another speaker"),
                    ));
                }
                if let Some(oi) = groups
                    .iter()
                    .position(|o| o.session.local_address == Some(*n))
                {
                    return Err(self.err(
                        key,
                        format!(
                            "{n} is our own address (group[{oi}].local-address): a neighbor is another speaker"
                        ),
                    ));
                }
            }
        }

        Ok(())
    }
}
