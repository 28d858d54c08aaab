//! EVPN NLRI (AFI 25, SAFI 70): the route types of RFC 7432 §7 and the IP
//! Prefix route of RFC 9136 §3. With VXLAN (RFC 8365 §5.1.3) the label
//! fields carry the 24-bit VNI.
//!
//! ```text
//! +-----------------------------------+
//! |    Route Type (1 octet)           |
//! +-----------------------------------+
//! |     Length (1 octet)              |
//! +-----------------------------------+
//! | Route Type specific (variable)    |
//! +-----------------------------------+
//! ```
//!
//! Unknown route types are read as raw octets, so that the routes after
//! them in the same attribute can be found; an UPDATE drops them
//! (RFC 7606 §5.4, see [`crate::Update::decode`]) and they are never
//! stored or reflected.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, BytesMut};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use nom::bytes::complete::take;
use nom::number::complete::{be_u32, be_u8};

use super::label::Label;
use super::rd::RouteDistinguisher;
use crate::error::{Fail, Nom};
use crate::mac::MacAddress;

/// An Ethernet Segment Identifier (RFC 7432 §5): 10 octets, the first the
/// ESI type.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Esi(pub [u8; 10]);

impl Esi {
    pub const ZERO: Esi = Esi([0; 10]);

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 10]
    }
}

impl fmt::Display for Esi {
    /// `0` for the all-zero ESI (single-homed), else colon-separated hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0");
        }
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Esi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Esi({self})")
    }
}

impl serde::Serialize for Esi {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Type 1, Ethernet Auto-Discovery (RFC 7432 §7.1).
///
/// ```text
/// +---------------------------------------+
/// |  Route Distinguisher (RD) (8 octets)  |
/// +---------------------------------------+
/// |Ethernet Segment Identifier (10 octets)|
/// +---------------------------------------+
/// |  Ethernet Tag ID (4 octets)           |
/// +---------------------------------------+
/// |  MPLS Label (3 octets)                |
/// +---------------------------------------+
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct EthernetAutoDiscovery {
    pub rd: RouteDistinguisher,
    pub esi: Esi,
    pub ethernet_tag: u32,
    #[serde(rename = "label")]
    pub label: Label,
}

/// Type 2, MAC/IP Advertisement (RFC 7432 §7.2).
///
/// ```text
/// +---------------------------------------+
/// |  RD (8 octets)                        |
/// +---------------------------------------+
/// |Ethernet Segment Identifier (10 octets)|
/// +---------------------------------------+
/// |  Ethernet Tag ID (4 octets)           |
/// +---------------------------------------+
/// |  MAC Address Length (1 octet)         |
/// +---------------------------------------+
/// |  MAC Address (6 octets)               |
/// +---------------------------------------+
/// |  IP Address Length (1 octet)          |
/// +---------------------------------------+
/// |  IP Address (0, 4, or 16 octets)      |
/// +---------------------------------------+
/// |  MPLS Label1 (3 octets)               |
/// +---------------------------------------+
/// |  MPLS Label2 (0 or 3 octets)          |
/// +---------------------------------------+
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct MacIpAdvertisement {
    pub rd: RouteDistinguisher,
    pub esi: Esi,
    pub ethernet_tag: u32,
    pub mac: MacAddress,
    pub ip: Option<IpAddr>,
    pub label1: Label,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label2: Option<Label>,
}

/// Type 3, Inclusive Multicast Ethernet Tag (RFC 7432 §7.3).
///
/// ```text
/// +---------------------------------------+
/// |  RD (8 octets)                        |
/// +---------------------------------------+
/// |  Ethernet Tag ID (4 octets)           |
/// +---------------------------------------+
/// |  IP Address Length (1 octet)          |
/// +---------------------------------------+
/// |  Originating Router's IP Address      |
/// |          (4 or 16 octets)             |
/// +---------------------------------------+
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct InclusiveMulticast {
    pub rd: RouteDistinguisher,
    pub ethernet_tag: u32,
    pub originator: IpAddr,
}

/// Type 4, Ethernet Segment (RFC 7432 §7.4).
///
/// ```text
/// +---------------------------------------+
/// |  RD (8 octets)                        |
/// +---------------------------------------+
/// |Ethernet Segment Identifier (10 octets)|
/// +---------------------------------------+
/// |  IP Address Length (1 octet)          |
/// +---------------------------------------+
/// |  Originating Router's IP Address      |
/// |          (4 or 16 octets)             |
/// +---------------------------------------+
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct EthernetSegment {
    pub rd: RouteDistinguisher,
    pub esi: Esi,
    pub originator: IpAddr,
}

/// Type 5, IP Prefix (RFC 9136 §3.1). The prefix and gateway fields are 4
/// octets each for IPv4 (total length 34) and 16 for IPv6 (58).
///
/// ```text
/// +---------------------------------------+
/// |      RD (8 octets)                    |
/// +---------------------------------------+
/// |Ethernet Segment Identifier (10 octets)|
/// +---------------------------------------+
/// |  Ethernet Tag ID (4 octets)           |
/// +---------------------------------------+
/// |  IP Prefix Length (1 octet, 0 to 32)  |
/// +---------------------------------------+
/// |  IP Prefix (4 or 16 octets)           |
/// +---------------------------------------+
/// |  GW IP Address (4 or 16 octets)       |
/// +---------------------------------------+
/// |  MPLS Label (3 octets)                |
/// +---------------------------------------+
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct IpPrefixRoute {
    pub rd: RouteDistinguisher,
    pub esi: Esi,
    pub ethernet_tag: u32,
    pub prefix: IpNet,
    pub gateway: IpAddr,
    pub label: Label,
}

/// One EVPN route.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum EvpnRoute {
    EthernetAutoDiscovery(EthernetAutoDiscovery),
    MacIp(MacIpAdvertisement),
    InclusiveMulticast(InclusiveMulticast),
    EthernetSegment(EthernetSegment),
    IpPrefix(IpPrefixRoute),
    /// A route type this codec does not know, kept as received.
    Unknown {
        route_type: u8,
        value: Vec<u8>,
    },
}

fn rd(input: &[u8]) -> Nom<'_, RouteDistinguisher> {
    let (i, b) = take(8usize)(input)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Ok((i, RouteDistinguisher::from_bytes(a)))
}

fn esi(input: &[u8]) -> Nom<'_, Esi> {
    let (i, b) = take(10usize)(input)?;
    let mut a = [0u8; 10];
    a.copy_from_slice(b);
    Ok((i, Esi(a)))
}

fn label(input: &[u8]) -> Nom<'_, Label> {
    let (i, b) = take(3usize)(input)?;
    Ok((i, Label::from_bytes([b[0], b[1], b[2]])))
}

fn ipv4(input: &[u8]) -> Nom<'_, Ipv4Addr> {
    let (i, b) = take(4usize)(input)?;
    Ok((i, Ipv4Addr::new(b[0], b[1], b[2], b[3])))
}

fn ipv6(input: &[u8]) -> Nom<'_, Ipv6Addr> {
    let (i, b) = take(16usize)(input)?;
    let mut a = [0u8; 16];
    a.copy_from_slice(b);
    Ok((i, Ipv6Addr::from(a)))
}

/// An IP address preceded by its length in bits (0, 32 or 128).
fn sized_ip<'a>(input: &'a [u8], what: &'static str) -> Nom<'a, Option<IpAddr>> {
    let (i, bits) = be_u8(input)?;
    match bits {
        0 => Ok((i, None)),
        32 => ipv4(i).map(|(i, a)| (i, Some(IpAddr::V4(a)))),
        128 => ipv6(i).map(|(i, a)| (i, Some(IpAddr::V6(a)))),
        other => Fail::err(format!("{what} length {other}, expected 0, 32 or 128")),
    }
}

fn put_ip(buf: &mut BytesMut, ip: &IpAddr) {
    match ip {
        IpAddr::V4(a) => buf.put_slice(&a.octets()),
        IpAddr::V6(a) => buf.put_slice(&a.octets()),
    }
}

fn put_sized_ip(buf: &mut BytesMut, ip: Option<&IpAddr>) {
    match ip {
        None => buf.put_u8(0),
        Some(IpAddr::V4(a)) => {
            buf.put_u8(32);
            buf.put_slice(&a.octets());
        }
        Some(IpAddr::V6(a)) => {
            buf.put_u8(128);
            buf.put_slice(&a.octets());
        }
    }
}

impl EvpnRoute {
    pub fn route_type(&self) -> u8 {
        match self {
            EvpnRoute::EthernetAutoDiscovery(_) => 1,
            EvpnRoute::MacIp(_) => 2,
            EvpnRoute::InclusiveMulticast(_) => 3,
            EvpnRoute::EthernetSegment(_) => 4,
            EvpnRoute::IpPrefix(_) => 5,
            EvpnRoute::Unknown { route_type, .. } => *route_type,
        }
    }

    /// The route type's name.
    pub fn type_name(&self) -> &'static str {
        match self {
            EvpnRoute::EthernetAutoDiscovery(_) => "ethernet-ad",
            EvpnRoute::MacIp(_) => "mac-ip",
            EvpnRoute::InclusiveMulticast(_) => "inclusive-multicast",
            EvpnRoute::EthernetSegment(_) => "ethernet-segment",
            EvpnRoute::IpPrefix(_) => "ip-prefix",
            EvpnRoute::Unknown { .. } => "unknown",
        }
    }

    pub fn rd(&self) -> Option<RouteDistinguisher> {
        Some(match self {
            EvpnRoute::EthernetAutoDiscovery(r) => r.rd,
            EvpnRoute::MacIp(r) => r.rd,
            EvpnRoute::InclusiveMulticast(r) => r.rd,
            EvpnRoute::EthernetSegment(r) => r.rd,
            EvpnRoute::IpPrefix(r) => r.rd,
            EvpnRoute::Unknown { .. } => return None,
        })
    }

    /// The label or VNI of the route (label 1 for type 2).
    pub fn label(&self) -> Option<Label> {
        match self {
            EvpnRoute::EthernetAutoDiscovery(r) => Some(r.label),
            EvpnRoute::MacIp(r) => Some(r.label1),
            EvpnRoute::IpPrefix(r) => Some(r.label),
            _ => None,
        }
    }

    /// The route key: the fields that identify the route in a RIB, others
    /// zeroed. RFC 7432 §7.1: ESI and Ethernet Tag (with the RD) for type
    /// 1; §7.2: Ethernet Tag, MAC and IP for type 2; types 3 and 4 are all
    /// key; RFC 9136 §3.2: the ESI, gateway and label of type 5 are not.
    pub fn key(&self) -> EvpnRoute {
        match self {
            EvpnRoute::EthernetAutoDiscovery(r) => {
                EvpnRoute::EthernetAutoDiscovery(EthernetAutoDiscovery {
                    label: Label::default(),
                    ..*r
                })
            }
            EvpnRoute::MacIp(r) => EvpnRoute::MacIp(MacIpAdvertisement {
                esi: Esi::ZERO,
                label1: Label::default(),
                label2: None,
                ..*r
            }),
            EvpnRoute::IpPrefix(r) => EvpnRoute::IpPrefix(IpPrefixRoute {
                esi: Esi::ZERO,
                gateway: match r.prefix {
                    IpNet::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    IpNet::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                },
                label: Label::default(),
                ..*r
            }),
            other => other.clone(),
        }
    }

    /// Reads one route: type, length, and exactly that many octets.
    pub(crate) fn decode(input: &[u8]) -> Nom<'_, EvpnRoute> {
        let (input, route_type) = be_u8(input)?;
        let (input, len) = be_u8(input)?;
        if input.len() < len as usize {
            return Fail::err(format!(
                "EVPN route type {route_type} length {len} overruns the NLRI ({} octets left)",
                input.len()
            ));
        }
        let (rest, value) = take(len as usize)(input)?;
        let route = match route_type {
            1 => decode_type1(value),
            2 => decode_type2(value),
            3 => decode_type3(value),
            4 => decode_type4(value),
            5 => decode_type5(value),
            _ => Ok(EvpnRoute::Unknown {
                route_type,
                value: value.to_vec(),
            }),
        };
        match route {
            Ok(r) => Ok((rest, r)),
            Err(nom::Err::Error(Fail(reason)) | nom::Err::Failure(Fail(reason))) => Fail::err(
                format!("EVPN route type {route_type} of length {len}: {reason}"),
            ),
            Err(nom::Err::Incomplete(_)) => Fail::err(format!(
                "EVPN route type {route_type} of length {len}: truncated"
            )),
        }
    }

    /// The octets [`EvpnRoute::encode`] writes: type, length and value.
    pub fn encoded_len(&self) -> usize {
        let ip = |a: &IpAddr| if a.is_ipv4() { 4 } else { 16 };
        let value = match self {
            EvpnRoute::EthernetAutoDiscovery(_) => 25,
            EvpnRoute::MacIp(r) => {
                33 + r.ip.as_ref().map_or(0, ip) + if r.label2.is_some() { 3 } else { 0 }
            }
            EvpnRoute::InclusiveMulticast(r) => 13 + ip(&r.originator),
            EvpnRoute::EthernetSegment(r) => 19 + ip(&r.originator),
            EvpnRoute::IpPrefix(r) => {
                26 + if r.prefix.addr().is_ipv4() { 4 } else { 16 } + ip(&r.gateway)
            }
            EvpnRoute::Unknown { value, .. } => value.len(),
        };
        2 + value
    }

    pub fn encode(&self, buf: &mut BytesMut) {
        buf.put_u8(self.route_type());
        let len_pos = buf.len();
        buf.put_u8(0);
        match self {
            EvpnRoute::EthernetAutoDiscovery(r) => {
                r.rd.encode(buf);
                buf.put_slice(&r.esi.0);
                buf.put_u32(r.ethernet_tag);
                r.label.encode(buf);
            }
            EvpnRoute::MacIp(r) => {
                r.rd.encode(buf);
                buf.put_slice(&r.esi.0);
                buf.put_u32(r.ethernet_tag);
                buf.put_u8(48);
                buf.put_slice(&r.mac.0);
                put_sized_ip(buf, r.ip.as_ref());
                r.label1.encode(buf);
                if let Some(l) = r.label2 {
                    l.encode(buf);
                }
            }
            EvpnRoute::InclusiveMulticast(r) => {
                r.rd.encode(buf);
                buf.put_u32(r.ethernet_tag);
                put_sized_ip(buf, Some(&r.originator));
            }
            EvpnRoute::EthernetSegment(r) => {
                r.rd.encode(buf);
                buf.put_slice(&r.esi.0);
                put_sized_ip(buf, Some(&r.originator));
            }
            EvpnRoute::IpPrefix(r) => {
                r.rd.encode(buf);
                buf.put_slice(&r.esi.0);
                buf.put_u32(r.ethernet_tag);
                buf.put_u8(r.prefix.prefix_len());
                match r.prefix {
                    IpNet::V4(p) => buf.put_slice(&p.addr().octets()),
                    IpNet::V6(p) => buf.put_slice(&p.addr().octets()),
                }
                put_ip(buf, &r.gateway);
                r.label.encode(buf);
            }
            EvpnRoute::Unknown { value, .. } => buf.put_slice(value),
        }
        buf[len_pos] = (buf.len() - len_pos - 1) as u8;
    }
}

/// The whole value must be consumed by a known route type.
fn done<T>(rest: &[u8], value: T) -> Result<T, nom::Err<Fail>> {
    if rest.is_empty() {
        Ok(value)
    } else {
        Fail::err(format!("{} octets left over", rest.len()))
    }
}

fn decode_type1(v: &[u8]) -> Result<EvpnRoute, nom::Err<Fail>> {
    let (i, rd) = rd(v)?;
    let (i, esi) = esi(i)?;
    let (i, ethernet_tag) = be_u32(i)?;
    let (i, label) = label(i)?;
    done(
        i,
        EvpnRoute::EthernetAutoDiscovery(EthernetAutoDiscovery {
            rd,
            esi,
            ethernet_tag,
            label,
        }),
    )
}

fn decode_type2(v: &[u8]) -> Result<EvpnRoute, nom::Err<Fail>> {
    let (i, rd) = rd(v)?;
    let (i, esi) = esi(i)?;
    let (i, ethernet_tag) = be_u32(i)?;
    let (i, mac_len) = be_u8(i)?;
    if mac_len != 48 {
        return Fail::err(format!("MAC address length {mac_len}, expected 48"));
    }
    let (i, mac) = take(6usize)(i)?;
    let mac = MacAddress([mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]]);
    let (i, ip) = sized_ip(i, "IP address")?;
    let (i, label1) = label(i)?;
    let (i, label2) = if i.is_empty() {
        (i, None)
    } else {
        let (i, l) = label(i)?;
        (i, Some(l))
    };
    done(
        i,
        EvpnRoute::MacIp(MacIpAdvertisement {
            rd,
            esi,
            ethernet_tag,
            mac,
            ip,
            label1,
            label2,
        }),
    )
}

fn decode_type3(v: &[u8]) -> Result<EvpnRoute, nom::Err<Fail>> {
    let (i, rd) = rd(v)?;
    let (i, ethernet_tag) = be_u32(i)?;
    let (i, ip) = sized_ip(i, "originating router IP")?;
    let Some(originator) = ip else {
        return Fail::err("originating router IP length 0");
    };
    done(
        i,
        EvpnRoute::InclusiveMulticast(InclusiveMulticast {
            rd,
            ethernet_tag,
            originator,
        }),
    )
}

fn decode_type4(v: &[u8]) -> Result<EvpnRoute, nom::Err<Fail>> {
    let (i, rd) = rd(v)?;
    let (i, esi) = esi(i)?;
    let (i, ip) = sized_ip(i, "originating router IP")?;
    let Some(originator) = ip else {
        return Fail::err("originating router IP length 0");
    };
    done(
        i,
        EvpnRoute::EthernetSegment(EthernetSegment {
            rd,
            esi,
            originator,
        }),
    )
}

fn decode_type5(v: &[u8]) -> Result<EvpnRoute, nom::Err<Fail>> {
    let v6 = match v.len() {
        34 => false,
        58 => true,
        other => return Fail::err(format!("length {other}, expected 34 (IPv4) or 58 (IPv6)")),
    };
    let (i, rd) = rd(v)?;
    let (i, esi) = esi(i)?;
    let (i, ethernet_tag) = be_u32(i)?;
    let (i, bits) = be_u8(i)?;
    let (i, prefix, gateway) = if v6 {
        if bits > 128 {
            return Fail::err(format!("IPv6 prefix length {bits} exceeds 128"));
        }
        let (i, p) = ipv6(i)?;
        let (i, g) = ipv6(i)?;
        (
            i,
            IpNet::V6(Ipv6Net::new(p, bits).expect("checked")),
            IpAddr::V6(g),
        )
    } else {
        if bits > 32 {
            return Fail::err(format!("IPv4 prefix length {bits} exceeds 32"));
        }
        let (i, p) = ipv4(i)?;
        let (i, g) = ipv4(i)?;
        (
            i,
            IpNet::V4(Ipv4Net::new(p, bits).expect("checked")),
            IpAddr::V4(g),
        )
    };
    let (i, label) = label(i)?;
    done(
        i,
        EvpnRoute::IpPrefix(IpPrefixRoute {
            rd,
            esi,
            ethernet_tag,
            prefix,
            gateway,
            label,
        }),
    )
}

impl fmt::Display for EvpnRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "type-{} {}", self.route_type(), self.type_name())?;
        match self {
            EvpnRoute::EthernetAutoDiscovery(r) => write!(
                f,
                " rd {} esi {} etag {} vni {}",
                r.rd,
                r.esi,
                r.ethernet_tag,
                r.label.as_vni()
            ),
            EvpnRoute::MacIp(r) => {
                write!(
                    f,
                    " rd {} esi {} etag {} mac {}",
                    r.rd, r.esi, r.ethernet_tag, r.mac
                )?;
                if let Some(ip) = r.ip {
                    write!(f, " ip {ip}")?;
                }
                write!(f, " vni {}", r.label1.as_vni())?;
                if let Some(l) = r.label2 {
                    write!(f, " vni2 {}", l.as_vni())?;
                }
                Ok(())
            }
            EvpnRoute::InclusiveMulticast(r) => write!(
                f,
                " rd {} etag {} originator {}",
                r.rd, r.ethernet_tag, r.originator
            ),
            EvpnRoute::EthernetSegment(r) => {
                write!(f, " rd {} esi {} originator {}", r.rd, r.esi, r.originator)
            }
            EvpnRoute::IpPrefix(r) => write!(
                f,
                " rd {} esi {} etag {} prefix {} gw {} vni {}",
                r.rd,
                r.esi,
                r.ethernet_tag,
                r.prefix,
                r.gateway,
                r.label.as_vni()
            ),
            EvpnRoute::Unknown { value, .. } => {
                f.write_str(" value ")?;
                value.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}

impl serde::Serialize for EvpnRoute {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("route-type", &self.route_type())?;
        m.serialize_entry("type-name", self.type_name())?;
        match self {
            EvpnRoute::EthernetAutoDiscovery(r) => {
                m.serialize_entry("rd", &r.rd)?;
                m.serialize_entry("esi", &r.esi)?;
                m.serialize_entry("ethernet-tag", &r.ethernet_tag)?;
                m.serialize_entry("label", &r.label)?;
            }
            EvpnRoute::MacIp(r) => {
                m.serialize_entry("rd", &r.rd)?;
                m.serialize_entry("esi", &r.esi)?;
                m.serialize_entry("ethernet-tag", &r.ethernet_tag)?;
                m.serialize_entry("mac", &r.mac)?;
                m.serialize_entry("ip", &r.ip)?;
                m.serialize_entry("label", &r.label1)?;
                if let Some(l) = r.label2 {
                    m.serialize_entry("label2", &l)?;
                }
            }
            EvpnRoute::InclusiveMulticast(r) => {
                m.serialize_entry("rd", &r.rd)?;
                m.serialize_entry("ethernet-tag", &r.ethernet_tag)?;
                m.serialize_entry("originator", &r.originator)?;
            }
            EvpnRoute::EthernetSegment(r) => {
                m.serialize_entry("rd", &r.rd)?;
                m.serialize_entry("esi", &r.esi)?;
                m.serialize_entry("originator", &r.originator)?;
            }
            EvpnRoute::IpPrefix(r) => {
                m.serialize_entry("rd", &r.rd)?;
                m.serialize_entry("esi", &r.esi)?;
                m.serialize_entry("ethernet-tag", &r.ethernet_tag)?;
                m.serialize_entry("prefix", &r.prefix)?;
                m.serialize_entry("gateway", &r.gateway)?;
                m.serialize_entry("label", &r.label)?;
            }
            EvpnRoute::Unknown { value, .. } => {
                let hex: String = value.iter().map(|b| format!("{b:02x}")).collect();
                m.serialize_entry("value", &hex)?;
            }
        }
        m.end()
    }
}

#[cfg(test)]
mod tests;
