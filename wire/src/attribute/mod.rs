//! Path attributes (RFC 4271 §4.3 and §5): the descriptor table, the
//! decoded attribute set, and the RFC 7606 error handling of the attribute
//! list.
//!
//! ```text
//!  0                   1
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Attr. Flags  |Attr. Type Code|    Flags: Optional, Transitive,
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+           Partial, Extended Length
//! | Attr. Length (1 or 2 octets)  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Attribute Value (variable)    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

pub mod as_path;
pub mod community;
pub mod extended_community;
pub mod large_community;
pub mod mp;
pub mod pmsi;

use std::fmt;
use std::net::Ipv4Addr;

use bytes::{BufMut, BytesMut};

use crate::context::{DecodeContext, EncodeContext};
use crate::error::{AttrAction, AttributeError, MessageError};
use crate::iana::{attr, attr_flags, notification::update as subcode};
pub use as_path::{AsPath, AsSegment, SegmentType, AS_TRANS};
pub use community::Community;
pub use extended_community::{ExtendedCommunity, ExtendedCommunityKind, RouteTarget};
pub use large_community::LargeCommunity;
pub use mp::{MpReachNlri, MpUnreachNlri, NextHop};
pub use pmsi::{PmsiTunnel, PmsiTunnelId};

/// What RFC 7606 does with a malformed instance of an attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Malformed {
    TreatAsWithdraw,
    Discard,
    SessionReset,
}

/// One row of the attribute descriptor table.
struct Descriptor {
    code: u8,
    name: &'static str,
    /// The Optional and Transitive bits this attribute must carry.
    flags: u8,
    /// RFC 7606's answer to a malformed value, and where it says so.
    malformed: Malformed,
    rfc: &'static str,
}

const WELL_KNOWN: u8 = attr_flags::TRANSITIVE;
const OPT_TRANS: u8 = attr_flags::OPTIONAL | attr_flags::TRANSITIVE;
const OPT_NON_TRANS: u8 = attr_flags::OPTIONAL;

/// The attributes this codec understands.
const DESCRIPTORS: &[Descriptor] = &[
    Descriptor {
        code: attr::ORIGIN,
        name: "ORIGIN",
        flags: WELL_KNOWN,
        malformed: Malformed::TreatAsWithdraw,
        rfc: "RFC 7606 §7.1",
    },
    Descriptor {
        code: attr::AS_PATH,
        name: "AS_PATH",
        flags: WELL_KNOWN,
        malformed: Malformed::TreatAsWithdraw,
        rfc: "RFC 7606 §7.2",
    },
    Descriptor {
        code: attr::NEXT_HOP,
        name: "NEXT_HOP",
        flags: WELL_KNOWN,
        malformed: Malformed::TreatAsWithdraw,
        rfc: "RFC 7606 §7.3",
    },
    Descriptor {
        code: attr::MULTI_EXIT_DISC,
        name: "MULTI_EXIT_DISC",
        flags: OPT_NON_TRANS,
        malformed: Malformed::TreatAsWithdraw,
        rfc: "RFC 7606 §7.4",
    },
    Descriptor {
        code: attr::LOCAL_PREF,
        name: "LOCAL_PREF",
        flags: WELL_KNOWN,
        malformed: Malformed::TreatAsWithdraw,
        rfc: "RFC 7606 §7.5",
    },
    Descriptor {
        code: attr::ATOMIC_AGGREGATE,
        name: "ATOMIC_AGGREGATE",
        flags: WELL_KNOWN,
        malformed: Malformed::Discard,
        rfc: "RFC 7606 §7.6",
    },
    Descriptor {
        code: attr::AGGREGATOR,
        name: "AGGREGATOR",
        flags: OPT_TRANS,
        malformed: Malformed::Discard,
        rfc: "RFC 7606 §7.7",
    },
    Descriptor {
        code: attr::COMMUNITIES,
        name: "COMMUNITIES",
        flags: OPT_TRANS,
        malformed: Malformed::TreatAsWithdraw,
        rfc: "RFC 7606 §7.8",
    },
    Descriptor {
        code: attr::ORIGINATOR_ID,
        name: "ORIGINATOR_ID",
        flags: OPT_NON_TRANS,
        malformed: Malformed::TreatAsWithdraw,
        rfc: "RFC 7606 §7.9",
    },
    Descriptor {
        code: attr::CLUSTER_LIST,
        name: "CLUSTER_LIST",
        flags: OPT_NON_TRANS,
        malformed: Malformed::TreatAsWithdraw,
        rfc: "RFC 7606 §7.10",
    },
    Descriptor {
        code: attr::MP_REACH_NLRI,
        name: "MP_REACH_NLRI",
        flags: OPT_NON_TRANS,
        malformed: Malformed::SessionReset,
        rfc: "RFC 7606 §7.11",
    },
    Descriptor {
        code: attr::MP_UNREACH_NLRI,
        name: "MP_UNREACH_NLRI",
        flags: OPT_NON_TRANS,
        malformed: Malformed::SessionReset,
        rfc: "RFC 7606 §7.11",
    },
    Descriptor {
        code: attr::EXTENDED_COMMUNITIES,
        name: "EXTENDED_COMMUNITIES",
        flags: OPT_TRANS,
        malformed: Malformed::TreatAsWithdraw,
        rfc: "RFC 7606 §7.14",
    },
    Descriptor {
        code: attr::AS4_PATH,
        name: "AS4_PATH",
        flags: OPT_TRANS,
        malformed: Malformed::Discard,
        rfc: "RFC 6793 §6",
    },
    Descriptor {
        code: attr::AS4_AGGREGATOR,
        name: "AS4_AGGREGATOR",
        flags: OPT_TRANS,
        malformed: Malformed::Discard,
        rfc: "RFC 6793 §6",
    },
    Descriptor {
        code: attr::PMSI_TUNNEL,
        name: "PMSI_TUNNEL",
        flags: OPT_TRANS,
        malformed: Malformed::TreatAsWithdraw,
        rfc: "RFC 7606 §2 (RFC 6514 defines no handling; the route cannot be used)",
    },
    Descriptor {
        code: attr::LARGE_COMMUNITY,
        name: "LARGE_COMMUNITY",
        flags: OPT_TRANS,
        malformed: Malformed::TreatAsWithdraw,
        rfc: "RFC 8092 §6",
    },
];

fn descriptor(code: u8) -> Option<&'static Descriptor> {
    DESCRIPTORS.iter().find(|d| d.code == code)
}

/// The attribute's name, or `unknown` for a type this codec does not know.
pub fn type_name(code: u8) -> &'static str {
    descriptor(code).map_or("unknown", |d| d.name)
}

/// ORIGIN (RFC 4271 §5.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Igp = 0,
    Egp = 1,
    Incomplete = 2,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Igp => "igp",
            Origin::Egp => "egp",
            Origin::Incomplete => "incomplete",
        })
    }
}

/// AGGREGATOR / AS4_AGGREGATOR (RFC 4271 §5.1.7, RFC 6793 §3).
///
/// ```text
/// +---------------------------+---------------------------+
/// | AS (2 or 4 octets)        | IPv4 address (4 octets)   |
/// +---------------------------+---------------------------+
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Aggregator {
    pub asn: u32,
    pub address: Ipv4Addr,
}

/// An attribute this codec does not interpret, kept with its flags so that
/// an optional transitive one can be passed on (RFC 4271 §5: with the
/// Partial bit set).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct RawAttribute {
    pub flags: u8,
    #[serde(rename = "type")]
    pub type_code: u8,
    #[serde(serialize_with = "serialize_hex")]
    pub value: Vec<u8>,
}

impl RawAttribute {
    pub fn is_transitive(&self) -> bool {
        self.flags & attr_flags::TRANSITIVE != 0
    }
}

fn serialize_hex<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!(
        "{}",
        v.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

/// The path attributes of an UPDATE, apart from MP_REACH_NLRI and
/// MP_UNREACH_NLRI, which carry NLRI and live in [`crate::Update`].
///
/// This is the set a RIB shares between the routes that carry it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PathAttributes {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_path: Option<AsPath>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_hop: Option<Ipv4Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub med: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_pref: Option<u32>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub atomic_aggregate: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggregator: Option<Aggregator>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub communities: Vec<Community>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub originator_id: Option<Ipv4Addr>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cluster_list: Vec<Ipv4Addr>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extended_communities: Vec<ExtendedCommunity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as4_path: Option<AsPath>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as4_aggregator: Option<Aggregator>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pmsi_tunnel: Option<PmsiTunnel>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub large_communities: Vec<LargeCommunity>,
    /// Attributes this codec does not interpret, in the order received.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<RawAttribute>,
}

/// The flags and type of one attribute as it appeared on the wire; kept so
/// that a received UPDATE re-encodes to the same octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AttrHeader {
    pub flags: u8,
    pub type_code: u8,
}

/// Everything the path attribute field of one UPDATE held.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecodedAttributes {
    pub attributes: PathAttributes,
    pub mp_reach: Option<MpReachNlri>,
    pub mp_unreach: Option<MpUnreachNlri>,
    pub layout: Vec<AttrHeader>,
    pub errors: Vec<AttributeError>,
}

impl DecodedAttributes {
    fn flag(&mut self, type_code: u8, action: AttrAction, reason: String, rfc: &'static str) {
        self.errors.push(AttributeError {
            type_code,
            action,
            reason,
            rfc,
        });
    }
}

fn ipv4(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

/// Decodes the Path Attributes field of an UPDATE.
///
/// Returns `Err` only for the errors that reset the session; every other
/// malformation is recorded in [`DecodedAttributes::errors`] with its RFC
/// 7606 action, and the attribute concerned is left out of the result.
pub fn decode_attributes(
    mut input: &[u8],
    ctx: &DecodeContext,
) -> Result<DecodedAttributes, MessageError> {
    let mut out = DecodedAttributes::default();
    let mut seen = [0u64; 4];
    while !input.is_empty() {
        // RFC 7606 §4: fewer octets than an attribute header, or a length
        // that overruns the field, is treat-as-withdraw; the Total Path
        // Attribute Length still locates the NLRI.
        let ext = !input.is_empty() && input[0] & attr_flags::EXTENDED_LENGTH != 0;
        let header_len = if ext { 4 } else { 3 };
        if input.len() < header_len {
            out.flag(
                input.get(1).copied().unwrap_or(0),
                AttrAction::TreatAsWithdraw,
                format!(
                    "{} octets left in the attribute field, fewer than an attribute header",
                    input.len()
                ),
                "RFC 7606 §4",
            );
            break;
        }
        let flags = input[0];
        let code = input[1];
        let len = if ext {
            u16::from_be_bytes([input[2], input[3]]) as usize
        } else {
            input[2] as usize
        };
        if input.len() < header_len + len {
            out.flag(
                code,
                AttrAction::TreatAsWithdraw,
                format!(
                    "attribute length {len} overruns the attribute field ({} octets left)",
                    input.len() - header_len
                ),
                "RFC 7606 §4",
            );
            break;
        }
        let value = &input[header_len..header_len + len];
        let whole = &input[..header_len + len];
        input = &input[header_len + len..];

        let (word, bit) = ((code / 64) as usize, code % 64);
        if seen[word] & (1 << bit) != 0 {
            if code == attr::MP_REACH_NLRI || code == attr::MP_UNREACH_NLRI {
                return Err(MessageError::update(
                    subcode::MALFORMED_ATTRIBUTE_LIST,
                    Vec::new(),
                    format!("{} appears more than once", type_name(code)),
                    "RFC 7606 §3 g",
                ));
            }
            out.flag(
                code,
                AttrAction::Discard,
                "repeated attribute: all but the first instance discarded".into(),
                "RFC 7606 §3 g",
            );
            continue;
        }
        seen[word] |= 1 << bit;
        out.layout.push(AttrHeader {
            flags,
            type_code: code,
        });

        let Some(desc) = descriptor(code) else {
            if flags & attr_flags::OPTIONAL == 0 {
                // RFC 4271 §6.3; RFC 7606 keeps this a session reset.
                return Err(MessageError::update(
                    subcode::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
                    whole.to_vec(),
                    format!("unrecognized well-known attribute type {code}"),
                    "RFC 4271 §6.3",
                ));
            }
            out.attributes.unknown.push(RawAttribute {
                flags,
                type_code: code,
                value: value.to_vec(),
            });
            continue;
        };

        // RFC 7606 §3 c: Optional/Transitive bits in conflict with the
        // attribute's definition make it malformed.
        let flags_ok = flags & (attr_flags::OPTIONAL | attr_flags::TRANSITIVE) == desc.flags;
        let result = if flags_ok {
            decode_value(desc, value, ctx, &mut out)
        } else {
            Err(format!(
                "flags {flags:#04x} conflict with the attribute's definition (optional/transitive {:#04x})",
                desc.flags
            ))
        };
        if let Err(reason) = result {
            let rfc = if flags_ok { desc.rfc } else { "RFC 7606 §3 c" };
            match desc.malformed {
                Malformed::TreatAsWithdraw => {
                    out.flag(code, AttrAction::TreatAsWithdraw, reason, rfc)
                }
                Malformed::Discard => out.flag(code, AttrAction::Discard, reason, rfc),
                Malformed::SessionReset if !flags_ok => {
                    // The value may still locate the NLRI: parse it so that
                    // treat-as-withdraw can name the routes.
                    decode_value(desc, value, ctx, &mut out).map_err(|reason| {
                        MessageError::update(
                            subcode::OPTIONAL_ATTRIBUTE_ERROR,
                            whole.to_vec(),
                            format!("{}: {reason}", desc.name),
                            desc.rfc,
                        )
                    })?;
                    out.flag(code, AttrAction::TreatAsWithdraw, reason, rfc);
                }
                Malformed::SessionReset => {
                    return Err(MessageError::update(
                        subcode::OPTIONAL_ATTRIBUTE_ERROR,
                        whole.to_vec(),
                        format!("{}: {reason}", desc.name),
                        desc.rfc,
                    ));
                }
            }
        }
    }
    Ok(out)
}

/// Decodes one known attribute's value into `out`.
fn decode_value(
    desc: &Descriptor,
    value: &[u8],
    ctx: &DecodeContext,
    out: &mut DecodedAttributes,
) -> Result<(), String> {
    let exact = |n: usize| {
        if value.len() == n {
            Ok(())
        } else {
            Err(format!("length {} where {n} is required", value.len()))
        }
    };
    let a = &mut out.attributes;
    match desc.code {
        attr::ORIGIN => {
            exact(1)?;
            a.origin = Some(match value[0] {
                0 => Origin::Igp,
                1 => Origin::Egp,
                2 => Origin::Incomplete,
                v => return Err(format!("undefined ORIGIN value {v}")),
            });
        }
        attr::AS_PATH => {
            let size = if ctx.four_octet_as { 4 } else { 2 };
            a.as_path = Some(AsPath::decode(value, size)?);
        }
        attr::NEXT_HOP => {
            exact(4)?;
            a.next_hop = Some(ipv4(value));
        }
        attr::MULTI_EXIT_DISC => {
            exact(4)?;
            a.med = Some(u32::from_be_bytes([value[0], value[1], value[2], value[3]]));
        }
        attr::LOCAL_PREF => {
            exact(4)?;
            a.local_pref = Some(u32::from_be_bytes([value[0], value[1], value[2], value[3]]));
        }
        attr::ATOMIC_AGGREGATE => {
            exact(0)?;
            a.atomic_aggregate = true;
        }
        attr::AGGREGATOR => {
            a.aggregator = Some(decode_aggregator(value, ctx.four_octet_as)?);
        }
        attr::COMMUNITIES => a.communities = community::decode_communities(value)?,
        attr::ORIGINATOR_ID => {
            exact(4)?;
            a.originator_id = Some(ipv4(value));
        }
        attr::CLUSTER_LIST => {
            if !value.len().is_multiple_of(4) {
                return Err(format!("length {} is not a multiple of 4", value.len()));
            }
            a.cluster_list = value.chunks_exact(4).map(ipv4).collect();
        }
        attr::MP_REACH_NLRI => out.mp_reach = Some(MpReachNlri::decode(value, ctx.add_path)?),
        attr::MP_UNREACH_NLRI => out.mp_unreach = Some(MpUnreachNlri::decode(value, ctx.add_path)?),
        attr::EXTENDED_COMMUNITIES => {
            a.extended_communities = extended_community::decode_extended_communities(value)?
        }
        attr::AS4_PATH => {
            let path = AsPath::decode(value, 4)?;
            // RFC 6793 §6: confederation segments in AS4_PATH are malformed.
            if path
                .segments
                .iter()
                .any(|s| matches!(s.kind, SegmentType::ConfedSequence | SegmentType::ConfedSet))
            {
                return Err("confederation segment in AS4_PATH".into());
            }
            a.as4_path = Some(path);
        }
        attr::AS4_AGGREGATOR => a.as4_aggregator = Some(decode_aggregator(value, true)?),
        attr::PMSI_TUNNEL => a.pmsi_tunnel = Some(PmsiTunnel::decode_value(value)?),
        attr::LARGE_COMMUNITY => {
            a.large_communities = large_community::decode_large_communities(value)?
        }
        other => return Err(format!("no decoder for attribute {other}")),
    }
    Ok(())
}

fn decode_aggregator(value: &[u8], four_octet: bool) -> Result<Aggregator, String> {
    match (four_octet, value.len()) {
        (true, 8) => Ok(Aggregator {
            asn: u32::from_be_bytes([value[0], value[1], value[2], value[3]]),
            address: ipv4(&value[4..]),
        }),
        (false, 6) => Ok(Aggregator {
            asn: u16::from_be_bytes([value[0], value[1]]) as u32,
            address: ipv4(&value[2..]),
        }),
        (true, n) => Err(format!("length {n} where 8 is required")),
        (false, n) => Err(format!("length {n} where 6 is required")),
    }
}

/// The flags an attribute is sent with: its definition's, with Partial kept
/// from `received` for optional transitive attributes (RFC 4271 §5).
fn send_flags(code: u8, received: Option<u8>) -> u8 {
    let base = descriptor(code).map_or(OPT_TRANS, |d| d.flags);
    let partial = received.unwrap_or(0) & attr_flags::PARTIAL;
    if base == OPT_TRANS {
        base | partial
    } else {
        base
    }
}

/// Writes one attribute: header, then the value written by `value`. The
/// extended length form is used when the value needs it or when `flags`
/// asks for it.
pub fn put_attribute(buf: &mut BytesMut, flags: u8, code: u8, value: impl FnOnce(&mut BytesMut)) {
    let start = buf.len();
    let ext = flags & attr_flags::EXTENDED_LENGTH != 0;
    buf.put_u8(flags);
    buf.put_u8(code);
    if ext {
        buf.put_u16(0);
    } else {
        buf.put_u8(0);
    }
    let value_start = buf.len();
    value(buf);
    let len = buf.len() - value_start;
    if ext {
        buf[start + 2..start + 4].copy_from_slice(&(len as u16).to_be_bytes());
    } else if len <= 255 {
        buf[start + 2] = len as u8;
    } else {
        // Too long for one octet: switch to the extended length form.
        let value_bytes = buf.split_off(value_start);
        buf.truncate(start);
        buf.put_u8(flags | attr_flags::EXTENDED_LENGTH);
        buf.put_u8(code);
        buf.put_u16(len as u16);
        buf.unsplit(value_bytes);
    }
}

impl PathAttributes {
    /// True when the attribute of type `code` is present.
    pub fn has(&self, code: u8) -> bool {
        match code {
            attr::ORIGIN => self.origin.is_some(),
            attr::AS_PATH => self.as_path.is_some(),
            attr::NEXT_HOP => self.next_hop.is_some(),
            attr::MULTI_EXIT_DISC => self.med.is_some(),
            attr::LOCAL_PREF => self.local_pref.is_some(),
            attr::ATOMIC_AGGREGATE => self.atomic_aggregate,
            attr::AGGREGATOR => self.aggregator.is_some(),
            attr::COMMUNITIES => !self.communities.is_empty(),
            attr::ORIGINATOR_ID => self.originator_id.is_some(),
            attr::CLUSTER_LIST => !self.cluster_list.is_empty(),
            attr::EXTENDED_COMMUNITIES => !self.extended_communities.is_empty(),
            attr::AS4_PATH => self.as4_path.is_some(),
            attr::AS4_AGGREGATOR => self.as4_aggregator.is_some(),
            attr::PMSI_TUNNEL => self.pmsi_tunnel.is_some(),
            attr::LARGE_COMMUNITY => !self.large_communities.is_empty(),
            _ => self.unknown.iter().any(|u| u.type_code == code),
        }
    }

    /// Writes the attribute of type `code`, if present. `flags` are the
    /// received flags to honour (extended length, Partial); `None` writes
    /// the attribute's own.
    pub fn encode_one(&self, code: u8, flags: Option<u8>, ctx: &EncodeContext, buf: &mut BytesMut) {
        let f = |code| send_flags(code, flags) | flags.unwrap_or(0) & attr_flags::EXTENDED_LENGTH;
        let as_size = if ctx.four_octet_as { 4 } else { 2 };
        match code {
            attr::ORIGIN => {
                if let Some(o) = self.origin {
                    put_attribute(buf, f(code), code, |b| b.put_u8(o as u8));
                }
            }
            attr::AS_PATH => {
                if let Some(p) = &self.as_path {
                    put_attribute(buf, f(code), code, |b| p.encode_value(as_size, b));
                }
            }
            attr::NEXT_HOP => {
                if let Some(nh) = self.next_hop {
                    put_attribute(buf, f(code), code, |b| b.put_slice(&nh.octets()));
                }
            }
            attr::MULTI_EXIT_DISC => {
                if let Some(m) = self.med {
                    put_attribute(buf, f(code), code, |b| b.put_u32(m));
                }
            }
            attr::LOCAL_PREF => {
                if let Some(lp) = self.local_pref {
                    put_attribute(buf, f(code), code, |b| b.put_u32(lp));
                }
            }
            attr::ATOMIC_AGGREGATE => {
                if self.atomic_aggregate {
                    put_attribute(buf, f(code), code, |_| {});
                }
            }
            attr::AGGREGATOR => {
                if let Some(ag) = self.aggregator {
                    put_attribute(buf, f(code), code, |b| {
                        if as_size == 4 {
                            b.put_u32(ag.asn);
                        } else {
                            b.put_u16(u16::try_from(ag.asn).unwrap_or(AS_TRANS as u16));
                        }
                        b.put_slice(&ag.address.octets());
                    });
                }
            }
            attr::COMMUNITIES => {
                if !self.communities.is_empty() {
                    put_attribute(buf, f(code), code, |b| {
                        community::encode_communities(&self.communities, b)
                    });
                }
            }
            attr::ORIGINATOR_ID => {
                if let Some(id) = self.originator_id {
                    put_attribute(buf, f(code), code, |b| b.put_slice(&id.octets()));
                }
            }
            attr::CLUSTER_LIST => {
                if !self.cluster_list.is_empty() {
                    put_attribute(buf, f(code), code, |b| {
                        for id in &self.cluster_list {
                            b.put_slice(&id.octets());
                        }
                    });
                }
            }
            attr::EXTENDED_COMMUNITIES => {
                if !self.extended_communities.is_empty() {
                    put_attribute(buf, f(code), code, |b| {
                        extended_community::encode_extended_communities(
                            &self.extended_communities,
                            b,
                        )
                    });
                }
            }
            attr::AS4_PATH => {
                if let Some(p) = &self.as4_path {
                    put_attribute(buf, f(code), code, |b| p.encode_value(4, b));
                }
            }
            attr::AS4_AGGREGATOR => {
                if let Some(ag) = self.as4_aggregator {
                    put_attribute(buf, f(code), code, |b| {
                        b.put_u32(ag.asn);
                        b.put_slice(&ag.address.octets());
                    });
                }
            }
            attr::PMSI_TUNNEL => {
                if let Some(p) = &self.pmsi_tunnel {
                    put_attribute(buf, f(code), code, |b| p.encode_value(b));
                }
            }
            attr::LARGE_COMMUNITY => {
                if !self.large_communities.is_empty() {
                    put_attribute(buf, f(code), code, |b| {
                        large_community::encode_large_communities(&self.large_communities, b)
                    });
                }
            }
            attr::MP_REACH_NLRI | attr::MP_UNREACH_NLRI => {}
            _ => {
                for u in self.unknown.iter().filter(|u| u.type_code == code) {
                    let flags = flags.unwrap_or(u.flags);
                    put_attribute(buf, flags, code, |b| b.put_slice(&u.value));
                }
            }
        }
    }

    /// The type codes present, in ascending order (RFC 4271 §5: a sender
    /// SHOULD order attributes by type).
    pub fn present_codes(&self) -> impl Iterator<Item = u8> + '_ {
        DESCRIPTORS
            .iter()
            .map(|d| d.code)
            .chain(self.unknown.iter().map(|u| u.type_code))
            .filter(|c| *c != attr::MP_REACH_NLRI && *c != attr::MP_UNREACH_NLRI)
            .filter(|c| self.has(*c))
    }

    /// Writes every attribute whose type code is below (`below == true`) or
    /// above MP_REACH_NLRI, in ascending order, with AS4_PATH added where a
    /// 2-octet session needs it (RFC 6793 §4.2.2).
    pub fn encode_range(&self, below_mp: bool, ctx: &EncodeContext, buf: &mut BytesMut) {
        let mut codes: Vec<u8> = self
            .present_codes()
            .filter(|c| (*c < attr::MP_REACH_NLRI) == below_mp)
            .collect();
        codes.sort_unstable();
        codes.dedup();
        for code in codes {
            self.encode_one(code, None, ctx, buf);
        }
        if !below_mp && !ctx.four_octet_as && self.as4_path.is_none() {
            if let Some(p) = self.as_path.as_ref().filter(|p| p.needs_four_octets()) {
                put_attribute(buf, OPT_TRANS, attr::AS4_PATH, |b| p.encode_value(4, b));
            }
        }
    }

    /// Writes every attribute, ascending by type.
    pub fn encode(&self, ctx: &EncodeContext, buf: &mut BytesMut) {
        self.encode_range(true, ctx, buf);
        self.encode_range(false, ctx, buf);
    }
}
