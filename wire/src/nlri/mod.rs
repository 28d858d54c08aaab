//! Network Layer Reachability Information: the address-family table and the
//! NLRI types of each family Ferry carries.
//!
//! | family      | AFI/SAFI | NLRI type                 | RFC            |
//! |-------------|----------|---------------------------|----------------|
//! | `inet`      | 1/1      | [`Nlri::Ipv4`]            | RFC 4271       |
//! | `inet6`     | 2/1      | [`Nlri::Ipv6`]            | RFC 4760       |
//! | `inet-vpn`  | 1/128    | [`Nlri::Vpn`] (IPv4)      | RFC 4364       |
//! | `inet6-vpn` | 2/128    | [`Nlri::Vpn`] (IPv6)      | RFC 4659       |
//! | `evpn`      | 25/70    | [`Nlri::Evpn`]            | RFC 7432, 9136 |
//!
//! With ADD-PATH (RFC 7911) negotiated for a family, each NLRI is preceded
//! by a 4-octet path identifier:
//!
//! ```text
//! +--------------------------------+
//! | Path Identifier (4 octets)     |
//! +--------------------------------+
//! | NLRI of the family             |
//! +--------------------------------+
//! ```

pub mod evpn;
pub mod label;
pub mod prefix;
pub mod rd;
pub mod vpn;

use std::fmt;

use bytes::{BufMut, BytesMut};
use ipnet::IpNet;
use nom::number::complete::be_u32;

use crate::error::{Fail, Nom};
use crate::iana::Family;
pub use evpn::EvpnRoute;
pub use label::{Label, LabelStack};
pub use rd::RouteDistinguisher;
pub use vpn::VpnPrefix;

/// One NLRI of any family Ferry carries.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(untagged)]
pub enum Nlri {
    Ipv4(ipnet::Ipv4Net),
    Ipv6(ipnet::Ipv6Net),
    Vpn(VpnPrefix),
    Evpn(EvpnRoute),
}

impl Nlri {
    /// The address family this NLRI belongs to.
    pub fn family(&self) -> Family {
        match self {
            Nlri::Ipv4(_) => Family::IPV4_UNICAST,
            Nlri::Ipv6(_) => Family::IPV6_UNICAST,
            Nlri::Vpn(v) => match v.prefix {
                IpNet::V4(_) => Family::VPNV4,
                IpNet::V6(_) => Family::VPNV6,
            },
            Nlri::Evpn(_) => Family::EVPN,
        }
    }

    /// The route distinguisher, for the families that have one.
    pub fn rd(&self) -> Option<RouteDistinguisher> {
        match self {
            Nlri::Ipv4(_) | Nlri::Ipv6(_) => None,
            Nlri::Vpn(v) => Some(v.rd),
            Nlri::Evpn(e) => e.rd(),
        }
    }

    /// Clears the bits of the prefix past its length, in every family
    /// that carries a prefix (IPv4/IPv6 unicast, VPN-IPv4/IPv6, and the IP
    /// prefix of EVPN Type 5 — not its gateway). RFC 4271 §4.3 says those
    /// trailing bits are irrelevant, so `9.9.2.77/24` is the route
    /// `9.9.2.0/24`. Returns true when some were set.
    pub fn clear_host_bits(&mut self) -> bool {
        fn clear(p: &mut IpNet) -> bool {
            let t = p.trunc();
            let changed = t != *p;
            *p = t;
            changed
        }
        match self {
            Nlri::Ipv4(p) => {
                let t = p.trunc();
                std::mem::replace(p, t) != t
            }
            Nlri::Ipv6(p) => {
                let t = p.trunc();
                std::mem::replace(p, t) != t
            }
            Nlri::Vpn(v) => clear(&mut v.prefix),
            Nlri::Evpn(EvpnRoute::IpPrefix(r)) => clear(&mut r.prefix),
            Nlri::Evpn(_) => false,
        }
    }

    /// The octets this NLRI takes on the wire (without path identifier).
    pub fn encoded_len(&self) -> usize {
        let bits = |p: &IpNet| prefix::octets_for(p.prefix_len() as usize);
        match self {
            Nlri::Ipv4(p) => 1 + prefix::octets_for(p.prefix_len() as usize),
            Nlri::Ipv6(p) => 1 + prefix::octets_for(p.prefix_len() as usize),
            Nlri::Vpn(v) => 1 + v.labels.bit_len() / 8 + 8 + bits(&v.prefix),
            Nlri::Evpn(e) => e.encoded_len(),
        }
    }

    pub fn encode(&self, buf: &mut BytesMut) {
        match self {
            Nlri::Ipv4(p) => prefix::encode_prefix(&IpNet::V4(*p), buf),
            Nlri::Ipv6(p) => prefix::encode_prefix(&IpNet::V6(*p), buf),
            Nlri::Vpn(v) => v.encode(buf),
            Nlri::Evpn(e) => e.encode(buf),
        }
    }

    /// Decodes one NLRI of `family` (without path identifier).
    pub(crate) fn decode(input: &[u8], family: Family) -> Nom<'_, Nlri> {
        match family {
            Family::IPV4_UNICAST => {
                let (i, p) = prefix::decode_ipv4_prefix(input)?;
                Ok((i, Nlri::Ipv4(p)))
            }
            Family::IPV6_UNICAST => {
                let (i, p) = prefix::decode_ipv6_prefix(input)?;
                Ok((i, Nlri::Ipv6(p)))
            }
            Family::VPNV4 => {
                let (i, v) = VpnPrefix::decode(input, false)?;
                Ok((i, Nlri::Vpn(v)))
            }
            Family::VPNV6 => {
                let (i, v) = VpnPrefix::decode(input, true)?;
                Ok((i, Nlri::Vpn(v)))
            }
            Family::EVPN => {
                let (i, e) = EvpnRoute::decode(input)?;
                Ok((i, Nlri::Evpn(e)))
            }
            other => Fail::err(format!("no NLRI decoder for family {other}")),
        }
    }
}

impl fmt::Display for Nlri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Nlri::Ipv4(p) => write!(f, "{p}"),
            Nlri::Ipv6(p) => write!(f, "{p}"),
            Nlri::Vpn(v) => write!(f, "{v}"),
            Nlri::Evpn(e) => write!(f, "{e}"),
        }
    }
}

impl fmt::Debug for Nlri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nlri({self})")
    }
}

/// An NLRI with its ADD-PATH path identifier, when the family uses one on
/// this session.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct NlriEntry {
    pub path_id: Option<u32>,
    pub nlri: Nlri,
}

impl serde::Serialize for NlriEntry {
    /// The NLRI alone, or `{"path-id": N, "nlri": …}` with ADD-PATH.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self.path_id {
            None => self.nlri.serialize(s),
            Some(id) => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("path-id", &id)?;
                m.serialize_entry("nlri", &self.nlri)?;
                m.end()
            }
        }
    }
}

impl NlriEntry {
    pub fn new(nlri: Nlri) -> NlriEntry {
        NlriEntry {
            path_id: None,
            nlri,
        }
    }

    pub fn encode(&self, buf: &mut BytesMut, add_path: bool) {
        if add_path {
            buf.put_u32(self.path_id.unwrap_or(0));
        }
        self.nlri.encode(buf);
    }
}

/// Decodes a whole run of NLRI of one family, as found in the UPDATE NLRI
/// and Withdrawn Routes fields and in MP_REACH_NLRI / MP_UNREACH_NLRI.
/// The error names the first NLRI that could not be read.
pub fn decode_nlri_list(
    mut input: &[u8],
    family: Family,
    add_path: bool,
) -> Result<Vec<NlriEntry>, String> {
    let mut out = Vec::with_capacity(estimate_count(input.len(), family));
    while !input.is_empty() {
        let (rest, path_id) = if add_path {
            let (rest, id) = be_u32::<_, Fail>(input).map_err(|e| {
                format!(
                    "{family} NLRI #{}: path identifier: {}",
                    out.len() + 1,
                    Fail::reason(e)
                )
            })?;
            (rest, Some(id))
        } else {
            (input, None)
        };
        let (rest, nlri) = Nlri::decode(rest, family)
            .map_err(|e| format!("{family} NLRI #{}: {}", out.len() + 1, Fail::reason(e)))?;
        out.push(NlriEntry { path_id, nlri });
        input = rest;
    }
    Ok(out)
}

/// A guess at the number of NLRI in `len` octets, to size the vector once.
fn estimate_count(len: usize, family: Family) -> usize {
    let typical = match family {
        Family::EVPN => 34,
        Family::VPNV4 => 16,
        Family::VPNV6 => 20,
        Family::IPV6_UNICAST => 9,
        _ => 4,
    };
    len / typical + 1
}
