//! MP_REACH_NLRI and MP_UNREACH_NLRI (RFC 4760 §3 and §4), with the next
//! hop encodings of RFC 4364 §4.3.2, RFC 4659 §3.2.1, RFC 8950 §3 and
//! RFC 7432 §7.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, BytesMut};

use crate::context::FamilySet;
use crate::iana::Family;
use crate::nlri::{decode_nlri_list, NlriEntry};

/// The next hop of MP_REACH_NLRI.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(untagged)]
pub enum NextHop {
    Ipv4(Ipv4Addr),
    /// A global IPv6 address, optionally followed by a link-local one
    /// (RFC 2545 §3).
    Ipv6 {
        global: Ipv6Addr,
        #[serde(rename = "link-local", skip_serializing_if = "Option::is_none")]
        link_local: Option<Ipv6Addr>,
    },
    /// The next hop of a family this codec does not know, kept as received.
    Raw(Vec<u8>),
}

impl NextHop {
    /// The address routes resolve through (the global one for IPv6).
    pub fn addr(&self) -> Option<IpAddr> {
        match self {
            NextHop::Ipv4(a) => Some(IpAddr::V4(*a)),
            NextHop::Ipv6 { global, .. } => Some(IpAddr::V6(*global)),
            NextHop::Raw(_) => None,
        }
    }

    pub fn from_addr(addr: IpAddr) -> NextHop {
        match addr {
            IpAddr::V4(a) => NextHop::Ipv4(a),
            IpAddr::V6(global) => NextHop::Ipv6 {
                global,
                link_local: None,
            },
        }
    }

    /// VPN families put an all-zero route distinguisher before each address.
    fn rd_prefixed(family: Family) -> bool {
        matches!(family, Family::VPNV4 | Family::VPNV6)
    }

    /// Reads the next hop field of `family`. RFC 7606 §7.11: a length that
    /// does not fit the family is malformed, and since the NLRI cannot be
    /// located reliably after it, the caller resets the session.
    fn decode(family: Family, field: &[u8]) -> Result<NextHop, String> {
        if !family.is_supported() {
            return Ok(NextHop::Raw(field.to_vec()));
        }
        let rd = if NextHop::rd_prefixed(family) { 8 } else { 0 };
        let bad = || {
            format!(
                "next hop length {} is not valid for family {family}",
                field.len()
            )
        };
        let v4 = |b: &[u8]| Ipv4Addr::new(b[0], b[1], b[2], b[3]);
        let v6 = |b: &[u8]| {
            let mut o = [0u8; 16];
            o.copy_from_slice(b);
            Ipv6Addr::from(o)
        };
        let len = field.len();
        if rd > 0 && len >= 8 && field[..8] != [0u8; 8] {
            return Err(format!(
                "next hop route distinguisher is not zero ({})",
                field[..8]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            ));
        }
        if len == rd + 4 {
            Ok(NextHop::Ipv4(v4(&field[rd..])))
        } else if len == rd + 16 {
            Ok(NextHop::Ipv6 {
                global: v6(&field[rd..]),
                link_local: None,
            })
        } else if len == 2 * (rd + 16) {
            if rd > 0 && field[rd + 16..rd + 24] != [0u8; 8] {
                return Err(bad());
            }
            Ok(NextHop::Ipv6 {
                global: v6(&field[rd..rd + 16]),
                link_local: Some(v6(&field[2 * rd + 16..])),
            })
        } else {
            Err(bad())
        }
    }

    fn encode(&self, family: Family, buf: &mut BytesMut) {
        let rd = NextHop::rd_prefixed(family);
        let start = buf.len();
        buf.put_u8(0);
        match self {
            NextHop::Ipv4(a) => {
                if rd {
                    buf.put_u64(0);
                }
                buf.put_slice(&a.octets());
            }
            NextHop::Ipv6 { global, link_local } => {
                if rd {
                    buf.put_u64(0);
                }
                buf.put_slice(&global.octets());
                if let Some(ll) = link_local {
                    if rd {
                        buf.put_u64(0);
                    }
                    buf.put_slice(&ll.octets());
                }
            }
            NextHop::Raw(b) => buf.put_slice(b),
        }
        buf[start] = (buf.len() - start - 1) as u8;
    }
}

impl fmt::Display for NextHop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NextHop::Ipv4(a) => write!(f, "{a}"),
            NextHop::Ipv6 {
                global,
                link_local: None,
            } => write!(f, "{global}"),
            NextHop::Ipv6 {
                global,
                link_local: Some(ll),
            } => write!(f, "{global} ({ll})"),
            NextHop::Raw(b) => {
                f.write_str("0x")?;
                b.iter().try_for_each(|x| write!(f, "{x:02x}"))
            }
        }
    }
}

impl fmt::Debug for NextHop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NextHop({self})")
    }
}

/// MP_REACH_NLRI (type 14).
///
/// ```text
/// +---------------------------------------------------------+
/// | Address Family Identifier (2 octets)                    |
/// +---------------------------------------------------------+
/// | Subsequent Address Family Identifier (1 octet)          |
/// +---------------------------------------------------------+
/// | Length of Next Hop Network Address (1 octet)            |
/// +---------------------------------------------------------+
/// | Network Address of Next Hop (variable)                  |
/// +---------------------------------------------------------+
/// | Reserved (1 octet)                                      |
/// +---------------------------------------------------------+
/// | Network Layer Reachability Information (variable)       |
/// +---------------------------------------------------------+
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MpReachNlri {
    pub family: Family,
    #[serde(rename = "next-hop")]
    pub next_hop: NextHop,
    pub nlri: Vec<NlriEntry>,
    /// The NLRI octets of a family this codec does not decode.
    #[serde(skip_serializing_if = "Vec::is_empty", rename = "undecoded-nlri")]
    pub undecoded: Vec<u8>,
}

/// MP_UNREACH_NLRI (type 15).
///
/// ```text
/// +---------------------------------------------------------+
/// | Address Family Identifier (2 octets)                    |
/// +---------------------------------------------------------+
/// | Subsequent Address Family Identifier (1 octet)          |
/// +---------------------------------------------------------+
/// | Withdrawn Routes (variable)                             |
/// +---------------------------------------------------------+
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MpUnreachNlri {
    pub family: Family,
    pub withdrawn: Vec<NlriEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty", rename = "undecoded-nlri")]
    pub undecoded: Vec<u8>,
}

impl MpReachNlri {
    pub fn decode(value: &[u8], add_path: FamilySet) -> Result<MpReachNlri, String> {
        if value.len() < 5 {
            return Err(format!("{} octets, at least 5 needed", value.len()));
        }
        let family = Family::new(u16::from_be_bytes([value[0], value[1]]), value[2]);
        let nh_len = value[3] as usize;
        if value.len() < 4 + nh_len + 1 {
            return Err(format!(
                "next hop length {nh_len} overruns the attribute of {} octets",
                value.len()
            ));
        }
        let next_hop = NextHop::decode(family, &value[4..4 + nh_len])?;
        // The reserved octet (formerly the SNPA count, RFC 4760 §3) is
        // ignored on receipt.
        let nlri_octets = &value[4 + nh_len + 1..];
        let (nlri, undecoded) = if family.is_supported() {
            let list = decode_nlri_list(nlri_octets, family, add_path.contains(family))?;
            (list, Vec::new())
        } else {
            (Vec::new(), nlri_octets.to_vec())
        };
        Ok(MpReachNlri {
            family,
            next_hop,
            nlri,
            undecoded,
        })
    }

    /// Writes the value up to and including the reserved octet; the NLRI
    /// follow.
    pub fn encode_header(family: Family, next_hop: &NextHop, buf: &mut BytesMut) {
        buf.put_u16(family.afi);
        buf.put_u8(family.safi);
        next_hop.encode(family, buf);
        buf.put_u8(0);
    }

    pub fn encode_value(&self, add_path: FamilySet, buf: &mut BytesMut) {
        MpReachNlri::encode_header(self.family, &self.next_hop, buf);
        let ap = add_path.contains(self.family);
        for n in &self.nlri {
            n.encode(buf, ap);
        }
        buf.put_slice(&self.undecoded);
    }
}

impl MpUnreachNlri {
    pub fn decode(value: &[u8], add_path: FamilySet) -> Result<MpUnreachNlri, String> {
        if value.len() < 3 {
            return Err(format!("{} octets, at least 3 needed", value.len()));
        }
        let family = Family::new(u16::from_be_bytes([value[0], value[1]]), value[2]);
        let octets = &value[3..];
        let (withdrawn, undecoded) = if family.is_supported() {
            let list = decode_nlri_list(octets, family, add_path.contains(family))?;
            (list, Vec::new())
        } else {
            (Vec::new(), octets.to_vec())
        };
        Ok(MpUnreachNlri {
            family,
            withdrawn,
            undecoded,
        })
    }

    /// The value's fixed part: AFI and SAFI.
    pub fn encode_header(family: Family, buf: &mut BytesMut) {
        buf.put_u16(family.afi);
        buf.put_u8(family.safi);
    }

    pub fn encode_value(&self, add_path: FamilySet, buf: &mut BytesMut) {
        MpUnreachNlri::encode_header(self.family, buf);
        let ap = add_path.contains(self.family);
        for n in &self.withdrawn {
            n.encode(buf, ap);
        }
        buf.put_slice(&self.undecoded);
    }

    /// True for the End-of-RIB marker of a family other than IPv4 unicast
    /// (RFC 4724 §2: an MP_UNREACH_NLRI with no withdrawn routes).
    pub fn is_end_of_rib(&self) -> bool {
        self.withdrawn.is_empty() && self.undecoded.is_empty()
    }
}
