//! The settings of a group's sessions ([`SessionSettings`]): peer type
//! and AS, local address, families, route reflection, timers, port,
//! TCP MD5, GTSM, SendHoldTime, prefix limits and BFD.

use std::collections::BTreeMap;

use ferry_wire::Family;

use super::top::Top;
use super::Validator;
use crate::config::raw::{RawBfd, RawGroup, RawPrefixLimit};
use crate::config::{
    BfdConfig, ConfigError, PeerType, PrefixLimit, SessionSettings, DEFAULT_FAMILIES,
    MIN_SEND_HOLD_TIME,
};

impl Validator<'_> {
    /// The session settings of `group[gi]`; what it leaves out comes from
    /// the top level.
    pub(super) fn session(
        &self,
        gi: usize,
        g: &RawGroup,
        top: &Top,
    ) -> Result<SessionSettings, ConfigError> {
        let k = |s: &str| format!("group[{gi}].{s}");
        let peer_type = match g.kind.as_deref().unwrap_or("internal") {
            "internal" => PeerType::Internal,
            "external" => PeerType::External,
            other => {
                return Err(self.err(
                    k("type"),
                    format!("{other:?}: expected \"internal\" or \"external\""),
                ))
            }
        };
        let peer_as = match (peer_type, g.peer_as) {
            (PeerType::Internal, None) => top.local_as,
            // The AS as written stands for the running one until a restart.
            (PeerType::Internal, Some(a))
                if a == top.local_as as i64 || a == top.written_as as i64 =>
            {
                top.local_as
            }
            (PeerType::Internal, Some(a)) => {
                return Err(self.err(
                    k("peer-as"),
                    format!(
                        "{a} differs from local-as {} in an internal group",
                        top.local_as
                    ),
                ))
            }
            (PeerType::External, None) => {
                return Err(self.err(k("peer-as"), "missing: an external group needs the peer AS"))
            }
            (PeerType::External, Some(a)) => {
                let a = self.range(&k("peer-as"), a, 1, u32::MAX as i64)? as u32;
                if a == top.local_as {
                    return Err(self.err(
                        k("peer-as"),
                        format!(
                            "{a} equals local-as in an external group: use type = \"internal\""
                        ),
                    ));
                }
                a
            }
        };
        let local_address =
            self.optional(&k("local-address"), g.local_address.as_deref(), Self::ip)?;
        let families = match &g.families {
            None => DEFAULT_FAMILIES.to_vec(),
            Some(list) => {
                if list.is_empty() {
                    return Err(self.err(
                        k("families"),
                        "empty: name at least one of inet, inet6, inet-vpn, inet6-vpn, evpn",
                    ));
                }
                let mut out = Vec::new();
                for (fi, f) in list.iter().enumerate() {
                    let fam = Family::from_name(f).ok_or_else(|| {
                        self.err(format!("group[{gi}].families[{fi}]"), format!("unknown family {f:?}: expected inet, inet6, inet-vpn, inet6-vpn or evpn"))
                    })?;
                    if out.contains(&fam) {
                        return Err(self.err(
                            format!("group[{gi}].families[{fi}]"),
                            format!("{f:?} is listed twice"),
                        ));
                    }
                    out.push(fam);
                }
                out
            }
        };
        let rr_client = g.route_reflector_client.unwrap_or(false);
        if rr_client && peer_type == PeerType::External {
            return Err(self.err(
                k("route-reflector-client"),
                "true in an external group: route reflection is for internal peers (RFC 4456)",
            ));
        }
        if rr_client && top.cluster_id.is_none() {
            return Err(self.err(
                k("route-reflector-client"),
                "true but no cluster-id is set: a route reflector needs cluster-id",
            ));
        }
        let hold = match g.hold_time {
            Some(v) => self.hold_time(&k("hold-time"), v)?,
            None => top.hold_time,
        };
        let retry = match g.connect_retry {
            Some(v) => self.range(&k("connect-retry"), v, 1, 65535)? as u16,
            None => top.connect_retry,
        };
        let peer_port = self.range(&k("peer-port"), g.peer_port.unwrap_or(179), 1, 65535)? as u16;
        if let Some(key) = &g.authentication_key {
            if key.is_empty() || key.len() > 80 {
                return Err(self.err(
                    k("authentication-key"),
                    format!(
                        "length {}: must be 1..=80 octets (TCP MD5, RFC 2385)",
                        key.len()
                    ),
                ));
            }
        }
        let ttl_security = g
            .ttl_security
            .map(|v| self.range(&k("ttl-security"), v, 1, 254).map(|v| v as u8))
            .transpose()?;
        let bfd = g
            .bfd_liveness_detection
            .as_ref()
            .map(|b| self.bfd(&format!("group[{gi}].bfd-liveness-detection"), b, false))
            .transpose()?;
        let send_hold_time = match g.send_hold_time {
            Some(v) if v == 0 || (MIN_SEND_HOLD_TIME..=65535).contains(&v) => Some(v as u16),
            Some(v) => {
                return Err(self.err(
                    k("send-hold-time"),
                    format!(
                        "send hold time {v}: must be 0 (off) or \
                         {MIN_SEND_HOLD_TIME}..=65535 seconds (RFC 9687)"
                    ),
                ))
            }
            None => None,
        };
        Ok(SessionSettings {
            peer_type,
            peer_as,
            local_address,
            families,
            route_reflector_client: rr_client,
            hold_time: hold,
            connect_retry: retry,
            passive: g.passive.unwrap_or(false),
            peer_port,
            authentication_key: g.authentication_key.clone(),
            ttl_security,
            send_hold_time,
            prefix_limits: self.prefix_limits(gi, &g.prefix_limit)?,
            bfd,
        })
    }

    /// The `prefix-limit` tables of `group[gi]`, one per family.
    fn prefix_limits(
        &self,
        gi: usize,
        limits: &BTreeMap<String, RawPrefixLimit>,
    ) -> Result<Vec<(Family, PrefixLimit)>, ConfigError> {
        let mut prefix_limits = Vec::new();
        for (fam, l) in limits {
            let key = |f: &str| format!("group[{gi}].prefix-limit.{fam}.{f}");
            let family = Family::from_name(fam).ok_or_else(|| {
                self.err(
                    format!("group[{gi}].prefix-limit"),
                    format!(
                        "{fam:?} is not a family: use evpn, inet-vpn, inet6-vpn, inet or inet6"
                    ),
                )
            })?;
            let maximum = match l.maximum {
                Some(m) => self.range(&key("maximum"), m, 1, u32::MAX as i64)? as u64,
                None => return Err(self.err(key("maximum"), "missing")),
            };
            let restart = self.range(&key("restart"), l.restart.unwrap_or(0), 0, 65535)? as u16;
            prefix_limits.push((
                family,
                PrefixLimit {
                    maximum,
                    teardown: l.teardown.unwrap_or(false),
                    restart,
                },
            ));
        }
        Ok(prefix_limits)
    }

    /// A `bfd-liveness-detection` table; `mesh` for the cluster mesh,
    /// whose sessions are multihop (RFC 5883).
    pub(super) fn bfd(&self, key: &str, b: &RawBfd, mesh: bool) -> Result<BfdConfig, ConfigError> {
        let k = |f: &str| format!("{key}.{f}");
        let minimum_interval_ms = match b.minimum_interval {
            Some(v) => self.range(&k("minimum-interval"), v, 10, 60_000)? as u32,
            None => return Err(self.err(k("minimum-interval"), "missing (milliseconds)")),
        };
        let multiplier = self.range(&k("multiplier"), b.multiplier.unwrap_or(3), 1, 255)? as u8;
        let multihop = match (mesh, b.multihop) {
            (true, Some(false)) => {
                return Err(self.err(
                    k("multihop"),
                    "false: the cluster mesh spans routed hops, its BFD is multihop (RFC 5883)",
                ))
            }
            (true, _) => true,
            (false, m) => m.unwrap_or(false),
        };
        Ok(BfdConfig {
            minimum_interval_ms,
            multiplier,
            multihop,
            check_control_plane_failure: b.check_control_plane_failure.unwrap_or(false),
        })
    }
}
