//! Route keys: family + RD + the NLRI fields that identify a route.
//!
//! Some NLRI fields are not part of the key (RFC 4364 §4.3.4 labels;
//! RFC 7432 §7 ESI and labels; RFC 9136 §3.2 ESI, gateway and label of
//! type-5 routes). Two paths for one key may differ in them, so they are
//! split off into [`PathExtra`] and kept with the path's attributes.
//!
//! The Loc-RIB holds one [`RouteKey`] per route, so its size is most of
//! the RIB's memory. A key is 32 octets: the routes a reflector carries by
//! the hundred thousand (IPv4/IPv6 unicast, VPN-IPv4/IPv6, EVPN IP Prefix,
//! Inclusive Multicast and MAC/IP without an IPv6 address) are packed into
//! it; the rest (EVPN types 1 and 4, MAC/IP with an IPv6 address, unknown
//! route types) are kept as a boxed [`Nlri`]. Every NLRI has exactly one
//! form, so equality and hashing of the packed octets are those of the
//! route.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ferry_wire::nlri::evpn::{
    Esi, EvpnRoute, InclusiveMulticast, IpPrefixRoute, MacIpAdvertisement,
};
use ferry_wire::{Family, Label, LabelStack, MacAddress, Nlri, RouteDistinguisher, VpnPrefix};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

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

/// A route key: what identifies a route of a family, RD included.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RouteKey(Repr);

/// Route keys in a fixed order (a cursor over a family's table while it
/// is sent in parts): packed keys by their octets, before the others,
/// which go by family and encoded NLRI.
impl Ord for RouteKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        match (&self.0, &other.0) {
            (Repr::Packed(a), Repr::Packed(b)) => a.cmp(b),
            (Repr::Packed(_), Repr::Boxed(_)) => Ordering::Less,
            (Repr::Boxed(_), Repr::Packed(_)) => Ordering::Greater,
            (Repr::Boxed(a), Repr::Boxed(b)) => {
                let (fa, fb) = (a.family(), b.family());
                (fa.afi, fa.safi).cmp(&(fb.afi, fb.safi)).then_with(|| {
                    let mut x = bytes::BytesMut::new();
                    let mut y = bytes::BytesMut::new();
                    a.encode(&mut x);
                    b.encode(&mut y);
                    x.cmp(&y)
                })
            }
        }
    }
}

impl PartialOrd for RouteKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The octets of a packed key: a form tag, then the fields, zero-padded.
const PACKED: usize = 31;

#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    Packed([u8; PACKED]),
    Boxed(Box<Nlri>),
}

/// The packed forms.
mod form {
    pub const IPV4: u8 = 1;
    pub const IPV6: u8 = 2;
    pub const VPNV4: u8 = 3;
    pub const VPNV6: u8 = 4;
    /// EVPN IP Prefix (type 5), IPv4 / IPv6 prefix.
    pub const PREFIX_V4: u8 = 5;
    pub const PREFIX_V6: u8 = 6;
    /// EVPN Inclusive Multicast (type 3), IPv4 / IPv6 originator.
    pub const MULTICAST_V4: u8 = 7;
    pub const MULTICAST_V6: u8 = 8;
    /// EVPN MAC/IP (type 2) without an IP address / with an IPv4 one.
    pub const MAC: u8 = 9;
    pub const MAC_V4: u8 = 10;
}

/// Writes a packed key; every form is at most [`PACKED`] octets.
struct Packer {
    b: [u8; PACKED],
    n: usize,
}

impl Packer {
    fn new(form: u8) -> Packer {
        let mut b = [0; PACKED];
        b[0] = form;
        Packer { b, n: 1 }
    }

    fn put(mut self, s: &[u8]) -> Packer {
        self.b[self.n..self.n + s.len()].copy_from_slice(s);
        self.n += s.len();
        self
    }

    fn done(self) -> RouteKey {
        RouteKey(Repr::Packed(self.b))
    }
}

/// Reads the fields of a packed key back, in the order they were written.
struct Unpacker<'a> {
    b: &'a [u8; PACKED],
    n: usize,
}

impl Unpacker<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0; N];
        a.copy_from_slice(&self.b[self.n..self.n + N]);
        self.n += N;
        a
    }

    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }

    fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.take())
    }

    fn rd(&mut self) -> RouteDistinguisher {
        RouteDistinguisher::from_bytes(self.take())
    }

    fn v4(&mut self) -> Ipv4Addr {
        Ipv4Addr::from(self.take::<4>())
    }

    fn v6(&mut self) -> Ipv6Addr {
        Ipv6Addr::from(self.take::<16>())
    }

    /// A prefix length, then the address.
    fn net4(&mut self) -> Ipv4Net {
        let len = self.u8();
        Ipv4Net::new(self.v4(), len).expect("packed from a valid IPv4 prefix")
    }

    fn net6(&mut self) -> Ipv6Net {
        let len = self.u8();
        Ipv6Net::new(self.v6(), len).expect("packed from a valid IPv6 prefix")
    }
}

/// A prefix as a key: without the bits past its length (RFC 4271 §4.3),
/// whoever built the NLRI, so that `9.9.2.77/24` and `9.9.2.0/24` are one
/// route.
fn net(p: Packer, prefix: &IpNet) -> Packer {
    match prefix.trunc() {
        IpNet::V4(n) => p.put(&[n.prefix_len()]).put(&n.addr().octets()),
        IpNet::V6(n) => p.put(&[n.prefix_len()]).put(&n.addr().octets()),
    }
}

/// The fields every packed EVPN form starts with.
fn evpn(form: u8, rd: &RouteDistinguisher, ethernet_tag: u32) -> Packer {
    Packer::new(form)
        .put(&rd.to_bytes())
        .put(&ethernet_tag.to_be_bytes())
}

fn ip(p: Packer, addr: &IpAddr) -> Packer {
    match addr {
        IpAddr::V4(a) => p.put(&a.octets()),
        IpAddr::V6(a) => p.put(&a.octets()),
    }
}

impl RouteKey {
    /// The key of `nlri` (its non-key fields ignored).
    pub fn of(nlri: &Nlri) -> RouteKey {
        let v6 = |p: &IpNet| matches!(p, IpNet::V6(_));
        match nlri {
            Nlri::Ipv4(n) => net(Packer::new(form::IPV4), &IpNet::V4(*n)).done(),
            Nlri::Ipv6(n) => net(Packer::new(form::IPV6), &IpNet::V6(*n)).done(),
            Nlri::Vpn(v) => {
                let f = if v6(&v.prefix) {
                    form::VPNV6
                } else {
                    form::VPNV4
                };
                net(Packer::new(f).put(&v.rd.to_bytes()), &v.prefix).done()
            }
            Nlri::Evpn(EvpnRoute::IpPrefix(r)) => {
                let f = if v6(&r.prefix) {
                    form::PREFIX_V6
                } else {
                    form::PREFIX_V4
                };
                net(evpn(f, &r.rd, r.ethernet_tag), &r.prefix).done()
            }
            Nlri::Evpn(EvpnRoute::InclusiveMulticast(r)) => {
                let f = if r.originator.is_ipv6() {
                    form::MULTICAST_V6
                } else {
                    form::MULTICAST_V4
                };
                ip(evpn(f, &r.rd, r.ethernet_tag), &r.originator).done()
            }
            Nlri::Evpn(EvpnRoute::MacIp(r)) if !r.ip.is_some_and(|a| a.is_ipv6()) => {
                let f = if r.ip.is_some() {
                    form::MAC_V4
                } else {
                    form::MAC
                };
                let p = evpn(f, &r.rd, r.ethernet_tag).put(&r.mac.0);
                match &r.ip {
                    Some(a) => ip(p, a).done(),
                    None => p.done(),
                }
            }
            Nlri::Evpn(e) => RouteKey(Repr::Boxed(Box::new(Nlri::Evpn(e.key())))),
        }
    }

    /// The key as an NLRI, its non-key fields zero (VPN label 0, EVPN ESI,
    /// labels and gateway zero).
    pub fn nlri(&self) -> Nlri {
        let b = match &self.0 {
            Repr::Boxed(n) => return (**n).clone(),
            Repr::Packed(b) => b,
        };
        let mut r = Unpacker { b, n: 1 };
        let vpn = |rd, prefix| {
            Nlri::Vpn(VpnPrefix {
                labels: LabelStack::single(Label::default()),
                rd,
                prefix,
            })
        };
        let ip_prefix = |rd, ethernet_tag, prefix: IpNet| {
            Nlri::Evpn(EvpnRoute::IpPrefix(IpPrefixRoute {
                rd,
                esi: Esi::ZERO,
                ethernet_tag,
                gateway: match prefix {
                    IpNet::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    IpNet::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                },
                prefix,
                label: Label::default(),
            }))
        };
        let multicast = |rd, ethernet_tag, originator| {
            Nlri::Evpn(EvpnRoute::InclusiveMulticast(InclusiveMulticast {
                rd,
                ethernet_tag,
                originator,
            }))
        };
        let mac_ip = |rd, ethernet_tag, mac, ip| {
            Nlri::Evpn(EvpnRoute::MacIp(MacIpAdvertisement {
                rd,
                esi: Esi::ZERO,
                ethernet_tag,
                mac: MacAddress(mac),
                ip,
                label1: Label::default(),
                label2: None,
            }))
        };
        match b[0] {
            form::IPV4 => Nlri::Ipv4(r.net4()),
            form::IPV6 => Nlri::Ipv6(r.net6()),
            form::VPNV4 => vpn(r.rd(), IpNet::V4(r.net4())),
            form::VPNV6 => vpn(r.rd(), IpNet::V6(r.net6())),
            form::PREFIX_V4 => ip_prefix(r.rd(), r.u32(), IpNet::V4(r.net4())),
            form::PREFIX_V6 => ip_prefix(r.rd(), r.u32(), IpNet::V6(r.net6())),
            form::MULTICAST_V4 => multicast(r.rd(), r.u32(), IpAddr::V4(r.v4())),
            form::MULTICAST_V6 => multicast(r.rd(), r.u32(), IpAddr::V6(r.v6())),
            form::MAC => mac_ip(r.rd(), r.u32(), r.take(), None),
            form::MAC_V4 => mac_ip(r.rd(), r.u32(), r.take(), Some(IpAddr::V4(r.v4()))),
            other => unreachable!("route key form {other} is never packed"),
        }
    }

    /// The family of the key.
    pub fn family(&self) -> Family {
        match &self.0 {
            Repr::Boxed(n) => n.family(),
            Repr::Packed(b) => match b[0] {
                form::IPV4 => Family::IPV4_UNICAST,
                form::IPV6 => Family::IPV6_UNICAST,
                form::VPNV4 => Family::VPNV4,
                form::VPNV6 => Family::VPNV6,
                _ => Family::EVPN,
            },
        }
    }

    /// The route distinguisher of the key, if its family has one.
    pub fn rd(&self) -> Option<RouteDistinguisher> {
        match &self.0 {
            Repr::Boxed(n) => n.rd(),
            Repr::Packed(b) if b[0] == form::IPV4 || b[0] == form::IPV6 => None,
            Repr::Packed(b) => Some(Unpacker { b, n: 1 }.rd()),
        }
    }

    /// True when the key lives in the table itself, not behind a pointer.
    pub fn is_packed(&self) -> bool {
        matches!(self.0, Repr::Packed(_))
    }
}

impl fmt::Display for RouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.nlri().fmt(f)
    }
}

impl fmt::Debug for RouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RouteKey({})", self.nlri())
    }
}

/// Splits an NLRI into its route key and the path's own fields.
pub fn split(nlri: &Nlri) -> (RouteKey, PathExtra) {
    let extra = match nlri {
        Nlri::Ipv4(_) | Nlri::Ipv6(_) => PathExtra::None,
        Nlri::Vpn(v) => PathExtra::Labels(v.labels),
        Nlri::Evpn(e) => match e {
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
        },
    };
    (RouteKey::of(nlri), extra)
}

/// Rebuilds the NLRI of a path from its key and its own fields.
pub fn join(key: &RouteKey, extra: &PathExtra) -> Nlri {
    let mut nlri = key.nlri();
    match (&mut nlri, extra) {
        (Nlri::Vpn(v), PathExtra::Labels(labels)) => v.labels = *labels,
        (
            Nlri::Evpn(e),
            PathExtra::Evpn {
                esi,
                label,
                label2,
                gateway,
            },
        ) => match e {
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
        },
        _ => {}
    }
    nlri
}

/// The NLRI that withdraws `key`: VPN routes carry the RFC 8277 §2.4
/// compatibility label.
pub fn withdrawal(key: &RouteKey) -> Nlri {
    let mut nlri = key.nlri();
    if let Nlri::Vpn(v) = &mut nlri {
        v.labels = LabelStack::single(Label::WITHDRAWN);
    }
    nlri
}
