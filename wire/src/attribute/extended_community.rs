//! EXTENDED_COMMUNITIES (RFC 4360) with the types EVPN and L3VPN use:
//! route target and route origin (RFC 4360 §4, RFC 5668), encapsulation
//! (RFC 9012 §4.1), EVPN router's MAC (RFC 9135 §8.1), MAC mobility, ESI
//! label, ES-import route target and default gateway (RFC 7432 §7.5–7.8).
//!
//! ```text
//! +-------------------------------+-------------------------------+
//! |  Type high    |  Type low(*)  |                               |
//! +-------------------------------+          Value                |
//! |                                                               |
//! +-------------------------------+-------------------------------+
//! ```
//!
//! Each community is kept as its 8 wire octets, so that re-encoding is
//! byte-identical and sets of them hash cheaply; [`ExtendedCommunity::kind`]
//! gives the typed view.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use bytes::{BufMut, BytesMut};

use crate::mac::MacAddress;
use crate::nlri::Label;

/// Tunnel type 8: VXLAN (RFC 9012 §3.3 / IANA BGP Tunnel Encapsulation Types).
pub const TUNNEL_VXLAN: u16 = 8;

/// A route target (or route origin) value: the administrator and the
/// assigned number, in the three shapes of RFC 4360 and RFC 5668.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RouteTarget {
    As2 { asn: u16, value: u32 },
    Ipv4 { addr: Ipv4Addr, value: u16 },
    As4 { asn: u32, value: u16 },
}

impl RouteTarget {
    fn type_high(self) -> u8 {
        match self {
            RouteTarget::As2 { .. } => 0x00,
            RouteTarget::Ipv4 { .. } => 0x01,
            RouteTarget::As4 { .. } => 0x02,
        }
    }

    fn value_bytes(self) -> [u8; 6] {
        let mut b = [0u8; 6];
        match self {
            RouteTarget::As2 { asn, value } => {
                b[0..2].copy_from_slice(&asn.to_be_bytes());
                b[2..6].copy_from_slice(&value.to_be_bytes());
            }
            RouteTarget::Ipv4 { addr, value } => {
                b[0..4].copy_from_slice(&addr.octets());
                b[4..6].copy_from_slice(&value.to_be_bytes());
            }
            RouteTarget::As4 { asn, value } => {
                b[0..4].copy_from_slice(&asn.to_be_bytes());
                b[4..6].copy_from_slice(&value.to_be_bytes());
            }
        }
        b
    }

    fn from_parts(type_high: u8, v: &[u8]) -> Option<RouteTarget> {
        Some(match type_high {
            0x00 => RouteTarget::As2 {
                asn: u16::from_be_bytes([v[0], v[1]]),
                value: u32::from_be_bytes([v[2], v[3], v[4], v[5]]),
            },
            0x01 => RouteTarget::Ipv4 {
                addr: Ipv4Addr::new(v[0], v[1], v[2], v[3]),
                value: u16::from_be_bytes([v[4], v[5]]),
            },
            0x02 => RouteTarget::As4 {
                asn: u32::from_be_bytes([v[0], v[1], v[2], v[3]]),
                value: u16::from_be_bytes([v[4], v[5]]),
            },
            _ => return None,
        })
    }
}

impl fmt::Display for RouteTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RouteTarget::As2 { asn, value } => write!(f, "{asn}:{value}"),
            RouteTarget::Ipv4 { addr, value } => write!(f, "{addr}:{value}"),
            RouteTarget::As4 { asn, value } if asn > u16::MAX as u32 => write!(f, "{asn}:{value}"),
            RouteTarget::As4 { asn, value } => write!(f, "{asn}L:{value}"),
        }
    }
}

impl fmt::Debug for RouteTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RouteTarget({self})")
    }
}

/// The text is not a route target.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid route target {0:?}: expected ASN:NUMBER (11:11), IPV4:NUMBER (10.10.25.42:5) or ASNL:NUMBER (4200000000L:1)")]
pub struct ParseRouteTargetError(pub String);

impl FromStr for RouteTarget {
    type Err = ParseRouteTargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseRouteTargetError(s.to_string());
        let (admin, number) = s.rsplit_once(':').ok_or_else(err)?;
        if let Ok(addr) = admin.parse::<Ipv4Addr>() {
            let value = number.parse::<u16>().map_err(|_| err())?;
            return Ok(RouteTarget::Ipv4 { addr, value });
        }
        if let Some(asn) = admin.strip_suffix(['L', 'l']) {
            let asn = asn.parse::<u32>().map_err(|_| err())?;
            let value = number.parse::<u16>().map_err(|_| err())?;
            return Ok(RouteTarget::As4 { asn, value });
        }
        let asn = admin.parse::<u32>().map_err(|_| err())?;
        match u16::try_from(asn) {
            Ok(asn) => Ok(RouteTarget::As2 {
                asn,
                value: number.parse::<u32>().map_err(|_| err())?,
            }),
            Err(_) => Ok(RouteTarget::As4 {
                asn,
                value: number.parse::<u16>().map_err(|_| err())?,
            }),
        }
    }
}

impl serde::Serialize for RouteTarget {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for RouteTarget {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The typed view of an extended community.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtendedCommunityKind {
    RouteTarget(RouteTarget),
    RouteOrigin(RouteTarget),
    /// RFC 9012 §4.1; tunnel type 8 is VXLAN.
    Encapsulation {
        tunnel_type: u16,
    },
    /// RFC 9135 §8.1.
    RouterMac(MacAddress),
    /// RFC 7432 §7.7.
    MacMobility {
        sticky: bool,
        sequence: u32,
    },
    /// RFC 7432 §7.5.
    EsiLabel {
        single_active: bool,
        label: Label,
    },
    /// RFC 7432 §7.6.
    EsImportRouteTarget(MacAddress),
    /// RFC 7432 §7.8.
    DefaultGateway,
    Other,
}

/// One extended community, as its 8 wire octets.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExtendedCommunity(pub [u8; 8]);

impl ExtendedCommunity {
    pub fn route_target(rt: RouteTarget) -> ExtendedCommunity {
        let mut b = [rt.type_high(), 0x02, 0, 0, 0, 0, 0, 0];
        b[2..].copy_from_slice(&rt.value_bytes());
        ExtendedCommunity(b)
    }

    pub fn route_origin(rt: RouteTarget) -> ExtendedCommunity {
        let mut b = [rt.type_high(), 0x03, 0, 0, 0, 0, 0, 0];
        b[2..].copy_from_slice(&rt.value_bytes());
        ExtendedCommunity(b)
    }

    pub fn encapsulation(tunnel_type: u16) -> ExtendedCommunity {
        let t = tunnel_type.to_be_bytes();
        ExtendedCommunity([0x03, 0x0c, 0, 0, 0, 0, t[0], t[1]])
    }

    pub fn router_mac(mac: MacAddress) -> ExtendedCommunity {
        let m = mac.0;
        ExtendedCommunity([0x06, 0x03, m[0], m[1], m[2], m[3], m[4], m[5]])
    }

    pub fn mac_mobility(sticky: bool, sequence: u32) -> ExtendedCommunity {
        let s = sequence.to_be_bytes();
        ExtendedCommunity([0x06, 0x00, sticky as u8, 0, s[0], s[1], s[2], s[3]])
    }

    pub fn default_gateway() -> ExtendedCommunity {
        ExtendedCommunity([0x03, 0x0d, 0, 0, 0, 0, 0, 0])
    }

    /// False when the Transitive bit (0x40 of the type) is set, meaning
    /// non-transitive across ASes (RFC 4360 §2).
    pub fn is_transitive(&self) -> bool {
        self.0[0] & 0x40 == 0
    }

    pub fn as_route_target(&self) -> Option<RouteTarget> {
        match self.kind() {
            ExtendedCommunityKind::RouteTarget(rt) => Some(rt),
            _ => None,
        }
    }

    pub fn kind(&self) -> ExtendedCommunityKind {
        let b = &self.0;
        let mac = || MacAddress([b[2], b[3], b[4], b[5], b[6], b[7]]);
        match (b[0], b[1]) {
            (0x00..=0x02, 0x02) => RouteTarget::from_parts(b[0], &b[2..]).map_or(
                ExtendedCommunityKind::Other,
                ExtendedCommunityKind::RouteTarget,
            ),
            (0x00..=0x02, 0x03) => RouteTarget::from_parts(b[0], &b[2..]).map_or(
                ExtendedCommunityKind::Other,
                ExtendedCommunityKind::RouteOrigin,
            ),
            (0x03, 0x0c) if b[2..6] == [0, 0, 0, 0] => ExtendedCommunityKind::Encapsulation {
                tunnel_type: u16::from_be_bytes([b[6], b[7]]),
            },
            (0x03, 0x0d) if b[2..] == [0; 6] => ExtendedCommunityKind::DefaultGateway,
            (0x06, 0x00) if b[2] & 0xfe == 0 && b[3] == 0 => ExtendedCommunityKind::MacMobility {
                sticky: b[2] & 1 == 1,
                sequence: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            },
            (0x06, 0x01) if b[2] & 0xfe == 0 && b[3..5] == [0, 0] => {
                ExtendedCommunityKind::EsiLabel {
                    single_active: b[2] & 1 == 1,
                    label: Label::from_bytes([b[5], b[6], b[7]]),
                }
            }
            (0x06, 0x02) => ExtendedCommunityKind::EsImportRouteTarget(mac()),
            (0x06, 0x03) => ExtendedCommunityKind::RouterMac(mac()),
            _ => ExtendedCommunityKind::Other,
        }
    }
}

fn tunnel_name(t: u16) -> Option<&'static str> {
    Some(match t {
        8 => "vxlan",
        9 => "nvgre",
        10 => "mpls",
        11 => "mpls-in-gre",
        12 => "vxlan-gpe",
        13 => "mpls-in-udp",
        _ => return None,
    })
}

impl fmt::Display for ExtendedCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind() {
            ExtendedCommunityKind::RouteTarget(rt) => write!(f, "target:{rt}"),
            ExtendedCommunityKind::RouteOrigin(rt) => write!(f, "origin:{rt}"),
            ExtendedCommunityKind::Encapsulation { tunnel_type } => {
                match tunnel_name(tunnel_type) {
                    Some(n) => write!(f, "encap:{n}"),
                    None => write!(f, "encap:{tunnel_type}"),
                }
            }
            ExtendedCommunityKind::RouterMac(m) => write!(f, "router-mac:{m}"),
            ExtendedCommunityKind::MacMobility { sticky, sequence } => {
                write!(f, "mac-mobility:seq {sequence}")?;
                if sticky {
                    f.write_str(" sticky")?;
                }
                Ok(())
            }
            ExtendedCommunityKind::EsiLabel {
                single_active,
                label,
            } => {
                write!(f, "esi-label:{}", label.raw())?;
                if single_active {
                    f.write_str(" single-active")?;
                }
                Ok(())
            }
            ExtendedCommunityKind::EsImportRouteTarget(m) => write!(f, "es-import:{m}"),
            ExtendedCommunityKind::DefaultGateway => f.write_str("default-gateway"),
            ExtendedCommunityKind::Other => {
                f.write_str("0x")?;
                self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}

impl fmt::Debug for ExtendedCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExtendedCommunity({self})")
    }
}

/// The text is not an extended community.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid extended community {0:?}: expected target:…, origin:…, encap:vxlan|N, router-mac:MAC, default-gateway or 0x followed by 16 hex digits")]
pub struct ParseExtendedCommunityError(pub String);

impl FromStr for ExtendedCommunity {
    type Err = ParseExtendedCommunityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseExtendedCommunityError(s.to_string());
        if s == "default-gateway" {
            return Ok(ExtendedCommunity::default_gateway());
        }
        if let Some(hex) = s.strip_prefix("0x") {
            if hex.len() != 16 {
                return Err(err());
            }
            let mut b = [0u8; 8];
            for (i, o) in b.iter_mut().enumerate() {
                *o = u8::from_str_radix(hex.get(2 * i..2 * i + 2).ok_or_else(err)?, 16)
                    .map_err(|_| err())?;
            }
            return Ok(ExtendedCommunity(b));
        }
        let (kind, rest) = s.split_once(':').ok_or_else(err)?;
        match kind {
            "target" => Ok(ExtendedCommunity::route_target(
                rest.parse().map_err(|_| err())?,
            )),
            "origin" => Ok(ExtendedCommunity::route_origin(
                rest.parse().map_err(|_| err())?,
            )),
            "encap" => {
                let t = match rest {
                    "vxlan" => TUNNEL_VXLAN,
                    "nvgre" => 9,
                    "mpls" => 10,
                    "mpls-in-gre" => 11,
                    "vxlan-gpe" => 12,
                    "mpls-in-udp" => 13,
                    n => n.parse().map_err(|_| err())?,
                };
                Ok(ExtendedCommunity::encapsulation(t))
            }
            "router-mac" => Ok(ExtendedCommunity::router_mac(
                rest.parse().map_err(|_| err())?,
            )),
            _ => Err(err()),
        }
    }
}

impl serde::Serialize for ExtendedCommunity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Reads the attribute value. RFC 7606 §7.14: a length that is not a
/// multiple of 8 is malformed (treat-as-withdraw, applied by the caller).
pub fn decode_extended_communities(value: &[u8]) -> Result<Vec<ExtendedCommunity>, String> {
    if !value.len().is_multiple_of(8) {
        return Err(format!("length {} is not a multiple of 8", value.len()));
    }
    Ok(value
        .chunks_exact(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            ExtendedCommunity(b)
        })
        .collect())
}

pub fn encode_extended_communities(list: &[ExtendedCommunity], buf: &mut BytesMut) {
    for c in list {
        buf.put_slice(&c.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn seed_communities_have_their_wire_octets() {
        let rt: ExtendedCommunity = "target:11:11".parse().unwrap();
        assert_eq!(rt.0, [0x00, 0x02, 0x00, 0x0b, 0x00, 0x00, 0x00, 0x0b]);
        let encap: ExtendedCommunity = "encap:vxlan".parse().unwrap();
        assert_eq!(encap.0, [0x03, 0x0c, 0, 0, 0, 0, 0, 0x08]);
        let rmac: ExtendedCommunity = "router-mac:aa:bb:cc:dd:01:01".parse().unwrap();
        assert_eq!(rmac.0, [0x06, 0x03, 0xaa, 0xbb, 0xcc, 0xdd, 0x01, 0x01]);
        assert_eq!(rt.as_route_target(), Some("11:11".parse().unwrap()));
    }

    #[test]
    fn text_round_trips() {
        for t in [
            "target:11:11",
            "target:10.10.25.42:5",
            "target:4200000000:1",
            "target:100L:1",
            "origin:64512:10",
            "encap:vxlan",
            "encap:99",
            "router-mac:aa:bb:cc:dd:01:01",
            "default-gateway",
            "0x8000000000000001",
        ] {
            let c: ExtendedCommunity = t.parse().unwrap();
            assert_eq!(c.to_string(), t);
        }
        assert_eq!(
            ExtendedCommunity::mac_mobility(true, 5).to_string(),
            "mac-mobility:seq 5 sticky"
        );
        assert!("target:70000:70000".parse::<ExtendedCommunity>().is_err());
        assert!("bogus".parse::<ExtendedCommunity>().is_err());
    }

    #[test]
    fn lengths_not_multiple_of_8_are_malformed() {
        assert!(decode_extended_communities(&[0; 9])
            .unwrap_err()
            .contains("length 9"));
        assert_eq!(decode_extended_communities(&[]).unwrap(), vec![]);
    }

    proptest! {
        #[test]
        fn octets_round_trip(raw in proptest::collection::vec(any::<[u8; 8]>(), 0..8)) {
            let list: Vec<ExtendedCommunity> = raw.iter().map(|b| ExtendedCommunity(*b)).collect();
            let mut buf = BytesMut::new();
            encode_extended_communities(&list, &mut buf);
            prop_assert_eq!(decode_extended_communities(&buf).unwrap(), list.clone());
            // Display never panics, and typed text reads back to the same octets.
            for c in &list {
                let text = c.to_string();
                if let Ok(back) = text.parse::<ExtendedCommunity>() {
                    prop_assert_eq!(back, *c);
                }
            }
        }
    }
}
