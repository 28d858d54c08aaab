//! Route reflection (RFC 4456) and the other export rules: which peers a
//! best path may go to, and the attributes it carries there.
//!
//! | learned from      | to clients | to non-clients | to eBGP |
//! |-------------------|------------|----------------|---------|
//! | this speaker      | yes        | yes            | yes     |
//! | eBGP              | yes        | yes            | yes     |
//! | client            | yes (RR)   | yes (RR)       | yes     |
//! | non-client (iBGP) | yes (RR)   | no             | yes     |
//!
//! "(RR)": only when this speaker is a route reflector (a cluster id is
//! configured); a plain iBGP speaker never passes iBGP routes to iBGP
//! peers (RFC 4271 §9.2). A path never goes back to the peer it came from.

use std::net::{IpAddr, Ipv4Addr};

use ferry_wire::attribute::{AsPath, RawAttribute};
use ferry_wire::iana::attr_flags;
use ferry_wire::{Family, NextHop, PathAttributes};

use crate::attributes::RouteAttrs;
use crate::decision::DEFAULT_LOCAL_PREF;
use crate::peer::{PeerState, Role};

/// What this speaker is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpeakerConfig {
    pub local_as: u32,
    pub router_id: Ipv4Addr,
    /// Present: this speaker is a route reflector with this cluster id
    /// (RFC 4456 §7).
    pub cluster_id: Option<Ipv4Addr>,
}

/// The role of a path's source, `None` for locally originated paths.
pub fn may_export(source: Option<Role>, to: Role, reflector: bool) -> bool {
    match (source, to) {
        (None, _) | (Some(Role::External), _) | (_, Role::External) => true,
        (Some(Role::Client), _) => reflector,
        (Some(Role::NonClient), Role::Client) => reflector,
        (Some(Role::NonClient), Role::NonClient) => false,
    }
}

/// RFC 4456 §8: a path carrying our router id as ORIGINATOR_ID, or our
/// cluster id in its CLUSTER_LIST, has looped back. RFC 4271 §9.1.2: so
/// has an external path with our AS in its AS_PATH.
pub fn is_loop(path: &PathAttributes, from: Role, cfg: &SpeakerConfig) -> bool {
    if path.originator_id == Some(cfg.router_id) {
        return true;
    }
    if let Some(cid) = cfg.cluster_id {
        if path.cluster_list.contains(&cid) {
            return true;
        }
    }
    from == Role::External
        && path
            .as_path
            .as_ref()
            .is_some_and(|p| p.contains(cfg.local_as))
}

/// Cleans attributes received from a peer before they are stored:
/// attributes that must not come from an external peer are dropped
/// (RFC 7606 §7.5 LOCAL_PREF, §7.9 ORIGINATOR_ID, §7.10 CLUSTER_LIST).
pub fn sanitize_received(path: &mut PathAttributes, from: Role) {
    if from == Role::External {
        path.local_pref = None;
        path.originator_id = None;
        path.cluster_list.clear();
    }
}

/// The attributes a path carries when sent to a peer of role `to`.
///
/// * reflected iBGP paths get ORIGINATOR_ID (when absent: the source's
///   router id) and our cluster id prepended to CLUSTER_LIST (RFC 4456 §8);
/// * paths entering iBGP get LOCAL_PREF (RFC 4271 §5.1.5);
/// * paths leaving the AS get our AS prepended, lose LOCAL_PREF,
///   ORIGINATOR_ID and CLUSTER_LIST, and unicast ones next-hop-self
///   (RFC 4271 §5.1.2, §5.1.3);
/// * unrecognised optional transitive attributes get the Partial bit,
///   non-transitive ones are dropped (RFC 4271 §5).
pub fn export_attrs(
    attrs: &RouteAttrs,
    family: Family,
    source: Option<&PeerState>,
    to: Role,
    local_address: Option<IpAddr>,
    cfg: &SpeakerConfig,
) -> RouteAttrs {
    let mut out = attrs.clone();
    let p = &mut out.path;
    let source_role = source.map(|s| s.info.role);
    match to {
        Role::Client | Role::NonClient => {
            let reflected = matches!(source_role, Some(Role::Client | Role::NonClient));
            if reflected {
                if let (Some(cid), Some(src)) = (cfg.cluster_id, source) {
                    if p.originator_id.is_none() {
                        p.originator_id = Some(src.info.router_id);
                    }
                    p.cluster_list.insert(0, cid);
                }
            } else if p.local_pref.is_none() {
                p.local_pref = Some(DEFAULT_LOCAL_PREF);
            }
            if p.as_path.is_none() {
                p.as_path = Some(AsPath::empty());
            }
        }
        Role::External => {
            let mut path = p.as_path.take().unwrap_or_default();
            path.prepend(cfg.local_as);
            p.as_path = Some(path);
            p.local_pref = None;
            p.originator_id = None;
            p.cluster_list.clear();
            if source.is_some() {
                p.med = None;
            }
            if let Some(addr) = local_address {
                if family == Family::IPV4_UNICAST || family == Family::IPV6_UNICAST {
                    out.next_hop = NextHop::from_addr(addr);
                    if let IpAddr::V4(a) = addr {
                        out.path.next_hop = Some(a);
                    }
                }
            }
        }
    }
    let p = &mut out.path;
    if p.origin.is_none() {
        p.origin = Some(ferry_wire::Origin::Igp);
    }
    if source.is_some() {
        p.unknown.retain(RawAttribute::is_transitive);
        for u in &mut p.unknown {
            u.flags |= attr_flags::PARTIAL;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_matrix_follows_rfc4456() {
        use Role::*;
        for to in [Client, NonClient, External] {
            assert!(may_export(None, to, false));
            assert!(may_export(Some(External), to, false));
        }
        assert!(may_export(Some(Client), Client, true));
        assert!(may_export(Some(Client), NonClient, true));
        assert!(!may_export(Some(Client), Client, false));
        assert!(may_export(Some(NonClient), Client, true));
        assert!(!may_export(Some(NonClient), NonClient, true));
        assert!(may_export(Some(NonClient), External, false));
    }
}
