//! Route keys: family + RD + the NLRI fields that identify a route.
//!
//! Some NLRI fields are not part of the key (RFC 4364 §4.3.4 labels;
//! RFC 7432 §7 ESI and labels; RFC 9136 §3.2 ESI, gateway and label of
//! type-5 routes). Two paths for one key may differ in them, so they are
//! split off into [`PathExtra`] and kept with the path's attributes.

use std::net::IpAddr;

use ferry_wire::nlri::evpn::{Esi, EvpnRoute};
use ferry_wire::{Family, Label, LabelStack, Nlri, RouteDistinguisher, VpnPrefix};

/// The NLRI fields of a path that are not part of its route key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PathExtra {
    #[default]
    None,
    /// The label stack of a VPN route.
    Labels(LabelStack),
    /// The non-key fields of an EVPN route.
    Evpn {
        esi: Esi,
        label: Label,
        label2: Option<Label>,
        gateway: Option<IpAddr>,
    },
}

impl PathExtra {
    /// The label or VNI the path carries, if any.
    pub fn label(&self) -> Option<Label> {
        match self {
            PathExtra::None => None,
            PathExtra::Labels(s) => s.labels().first().copied(),
            PathExtra::Evpn { label, .. } => Some(*label),
        }
    }
}

/// A route key: an NLRI with its non-key fields zeroed.
pub type RouteKey = Nlri;

/// Splits an NLRI into its route key and the path's own fields.
pub fn split(nlri: &Nlri) -> (RouteKey, PathExtra) {
    match nlri {
        Nlri::Ipv4(_) | Nlri::Ipv6(_) => (nlri.clone(), PathExtra::None),
        Nlri::Vpn(v) => (
            Nlri::Vpn(VpnPrefix {
                labels: LabelStack::single(Label::default()),
                rd: v.rd,
                prefix: v.prefix,
            }),
            PathExtra::Labels(v.labels),
        ),
        Nlri::Evpn(e) => {
            let extra = match e {
                EvpnRoute::EthernetAutoDiscovery(r) => PathExtra::Evpn {
                    esi: Esi::ZERO,
                    label: r.label,
                    label2: None,
                    gateway: None,
                },
                EvpnRoute::MacIp(r) => PathExtra::Evpn {
                    esi: r.esi,
                    label: r.label1,
                    label2: r.label2,
                    gateway: None,
                },
                EvpnRoute::IpPrefix(r) => PathExtra::Evpn {
                    esi: r.esi,
                    label: r.label,
                    label2: None,
                    gateway: Some(r.gateway),
                },
                EvpnRoute::InclusiveMulticast(_)
                | EvpnRoute::EthernetSegment(_)
                | EvpnRoute::Unknown { .. } => PathExtra::None,
            };
            (Nlri::Evpn(e.key()), extra)
        }
    }
}

/// Rebuilds the NLRI of a path from its key and its own fields.
pub fn join(key: &RouteKey, extra: &PathExtra) -> Nlri {
    match (key, extra) {
        (Nlri::Vpn(v), PathExtra::Labels(labels)) => Nlri::Vpn(VpnPrefix {
            labels: *labels,
            rd: v.rd,
            prefix: v.prefix,
        }),
        (
            Nlri::Evpn(e),
            PathExtra::Evpn {
                esi,
                label,
                label2,
                gateway,
            },
        ) => {
            let mut e = e.clone();
            match &mut e {
                EvpnRoute::EthernetAutoDiscovery(r) => r.label = *label,
                EvpnRoute::MacIp(r) => {
                    r.esi = *esi;
                    r.label1 = *label;
                    r.label2 = *label2;
                }
                EvpnRoute::IpPrefix(r) => {
                    r.esi = *esi;
                    r.label = *label;
                    if let Some(g) = gateway {
                        r.gateway = *g;
                    }
                }
                _ => {}
            }
            Nlri::Evpn(e)
        }
        _ => key.clone(),
    }
}

/// The family of a key.
pub fn family(key: &RouteKey) -> Family {
    key.family()
}

/// The route distinguisher of a key, if its family has one.
pub fn rd(key: &RouteKey) -> Option<RouteDistinguisher> {
    key.rd()
}
