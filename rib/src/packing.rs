//! Packing: turning the actions for one update group into UPDATE
//! messages.
//!
//! NLRI of one family that share an exported attribute set go in one
//! UPDATE until the negotiated maximum message size (RFC 4271 §4.3,
//! RFC 8654); withdrawals of one family share UPDATEs the same way. The
//! attributes are encoded once per group and NLRI appended; the octet
//! layout of the message itself is [`ferry_wire::message::update::framing`].
//!
//! No message is ever longer than the receiving peer's maximum (4096
//! octets, 65535 with the extended message capability both ways). A path
//! whose exported attributes leave no room for its NLRI in one UPDATE of
//! that size — reflection adds ORIGINATOR_ID and CLUSTER_LIST to what a
//! peer sent at the limit — is not sent to that peer at all, never
//! truncated: [`EncodedAttrs::fits`] tells, the caller withdraws what the
//! peer held instead, and [`crate::groups::Export::not_sent`] lists it for the log and
//! the peer's counter (the RFC 8654 §4 and BIRD/OpenBGPD behaviour).

use bytes::{BufMut, Bytes, BytesMut};
use ferry_wire::message::update::framing::{self, LengthField};
use ferry_wire::message::MessageStart;
use ferry_wire::{EncodeContext, Family, NextHop, Nlri, Update};

use crate::attributes::RouteAttrs;

/// An exported attribute set, encoded once for a group.
pub struct EncodedAttrs {
    /// Attributes with type codes below MP_REACH_NLRI (for IPv4 unicast:
    /// all of them).
    low: Bytes,
    /// Attributes above MP_REACH_NLRI.
    high: Bytes,
    next_hop: NextHop,
    /// The octets of an UPDATE carrying these attributes and no NLRI:
    /// header, the two length fields, the attributes and, for families
    /// other than IPv4 unicast, the MP_REACH_NLRI header with its next hop.
    fixed_len: usize,
}

impl EncodedAttrs {
    pub fn new(attrs: &RouteAttrs, family: Family, ctx: &EncodeContext) -> EncodedAttrs {
        let mut path = attrs.path.clone();
        let mut low = BytesMut::with_capacity(64);
        let mut high = BytesMut::with_capacity(64);
        if family == Family::IPV4_UNICAST {
            path.encode(ctx, &mut low);
        } else {
            // The next hop travels in MP_REACH_NLRI (RFC 4760 §3).
            path.next_hop = None;
            path.encode_range(true, ctx, &mut low);
            path.encode_range(false, ctx, &mut high);
        }
        let mut fixed_len = framing::EMPTY_LEN + low.len();
        if family != Family::IPV4_UNICAST {
            fixed_len += framing::mp_reach_header_len(family, &attrs.next_hop) + high.len();
        }
        EncodedAttrs {
            low: low.freeze(),
            high: high.freeze(),
            next_hop: attrs.next_hop.clone(),
            fixed_len,
        }
    }

    /// The octets of an UPDATE with these attributes and no NLRI.
    pub fn fixed_len(&self) -> usize {
        self.fixed_len
    }

    /// True when an UPDATE with these attributes and `nlri` alone fits in
    /// the largest message of `ctx`.
    pub fn fits(&self, nlri: &Nlri, ctx: &EncodeContext) -> bool {
        self.fixed_len + nlri.encoded_len() <= ctx.max_message_len()
    }
}

/// UPDATEs packed from a list of actions.
#[derive(Clone, Debug, Default)]
pub struct Packed {
    pub messages: Vec<Bytes>,
    /// Announcements dropped because their attributes alone do not fit a
    /// message (callers check [`EncodedAttrs::fits`] first and withdraw
    /// instead; this is the packer's own guarantee).
    pub not_sent: Vec<Nlri>,
}

/// One thing to tell a peer about one route.
pub enum Action<'a> {
    Announce {
        nlri: Nlri,
        attrs: &'a EncodedAttrs,
        attrs_index: usize,
    },
    Withdraw {
        nlri: Nlri,
    },
}

impl Action<'_> {
    fn family(&self) -> Family {
        match self {
            Action::Announce { nlri, .. } | Action::Withdraw { nlri } => nlri.family(),
        }
    }
}

/// An UPDATE of announcements being filled.
struct OpenAnnouncements {
    msg: MessageStart,
    /// The Total Path Attribute Length, for MP_REACH_NLRI (IPv4 unicast
    /// closes it before its NLRI).
    attributes: Option<LengthField>,
    mp_reach: Option<LengthField>,
}

/// Packs announcements of one family sharing `attrs` into UPDATEs. An NLRI
/// that does not fit even alone with `attrs` is left out and pushed on
/// `not_sent`.
pub fn pack_announcements<'n>(
    family: Family,
    attrs: &EncodedAttrs,
    nlri: impl Iterator<Item = &'n Nlri>,
    ctx: &EncodeContext,
    out: &mut Vec<Bytes>,
    not_sent: &mut Vec<Nlri>,
) {
    let max = ctx.max_message_len();
    let mp = family != Family::IPV4_UNICAST;
    // MP_REACH_NLRI is followed by the attributes above it.
    let tail = if mp { attrs.high.len() } else { 0 };
    let mut scratch = BytesMut::with_capacity(64);
    let mut buf = BytesMut::with_capacity(max);
    let mut open: Option<OpenAnnouncements> = None;
    let finish = |buf: &mut BytesMut, o: OpenAnnouncements| {
        if let (Some(reach), Some(attributes)) = (o.mp_reach, o.attributes) {
            reach.close(buf);
            buf.put_slice(&attrs.high);
            attributes.close(buf);
        }
        o.msg.finish(buf);
    };
    for n in nlri {
        scratch.clear();
        n.encode(&mut scratch);
        if attrs.fixed_len + scratch.len() > max {
            not_sent.push(n.clone());
            continue;
        }
        if open.is_some() && buf.len() + scratch.len() + tail > max {
            finish(&mut buf, open.take().expect("an open message"));
            out.push(buf.split().freeze());
        }
        if open.is_none() {
            let msg = framing::begin(&mut buf);
            LengthField::open(&mut buf).close(&mut buf); // no withdrawn routes
            let attributes = LengthField::open(&mut buf);
            buf.put_slice(&attrs.low);
            open = Some(if mp {
                let reach = framing::begin_mp_reach(&mut buf, family, &attrs.next_hop);
                OpenAnnouncements {
                    msg,
                    attributes: Some(attributes),
                    mp_reach: Some(reach),
                }
            } else {
                attributes.close(&mut buf);
                OpenAnnouncements {
                    msg,
                    attributes: None,
                    mp_reach: None,
                }
            });
        }
        buf.put_slice(&scratch);
    }
    if let Some(o) = open {
        finish(&mut buf, o);
        out.push(buf.split().freeze());
    }
}

/// An UPDATE of withdrawals being filled.
struct OpenWithdrawals {
    msg: MessageStart,
    /// The Withdrawn Routes Length (IPv4 unicast) or the MP_UNREACH_NLRI
    /// length.
    routes: LengthField,
    /// The Total Path Attribute Length around MP_UNREACH_NLRI.
    attributes: Option<LengthField>,
}

/// Packs withdrawals of one family into UPDATEs.
pub fn pack_withdrawals<'n>(
    family: Family,
    nlri: impl Iterator<Item = &'n Nlri>,
    ctx: &EncodeContext,
    out: &mut Vec<Bytes>,
) {
    let max = ctx.max_message_len();
    let v4 = family == Family::IPV4_UNICAST;
    let mut scratch = BytesMut::with_capacity(64);
    let mut buf = BytesMut::with_capacity(max);
    let mut open: Option<OpenWithdrawals> = None;
    let finish = |buf: &mut BytesMut, o: OpenWithdrawals| {
        o.routes.close(buf);
        match o.attributes {
            Some(attributes) => attributes.close(buf),
            // No path attributes after the withdrawn routes.
            None => LengthField::open(buf).close(buf),
        }
        o.msg.finish(buf);
    };
    // IPv4 needs the attribute length after the routes; MP nothing.
    let tail = if v4 { framing::LENGTH_FIELD } else { 0 };
    for n in nlri {
        scratch.clear();
        n.encode(&mut scratch);
        if open.is_some() && buf.len() + scratch.len() + tail > max {
            finish(&mut buf, open.take().expect("an open message"));
            out.push(buf.split().freeze());
        }
        if open.is_none() {
            let msg = framing::begin(&mut buf);
            open = Some(if v4 {
                OpenWithdrawals {
                    msg,
                    routes: LengthField::open(&mut buf),
                    attributes: None,
                }
            } else {
                LengthField::open(&mut buf).close(&mut buf); // no withdrawn routes
                let attributes = LengthField::open(&mut buf);
                OpenWithdrawals {
                    msg,
                    routes: framing::begin_mp_unreach(&mut buf, family),
                    attributes: Some(attributes),
                }
            });
        }
        buf.put_slice(&scratch);
    }
    if let Some(o) = open {
        finish(&mut buf, o);
        out.push(buf.split().freeze());
    }
}

/// Packs a list of actions: withdrawals first (per family), then
/// announcements grouped by family and attribute set, in first-seen order.
pub fn pack(actions: &[Action], ctx: &EncodeContext) -> Packed {
    let mut out = Vec::new();
    let mut not_sent = Vec::new();
    let mut families: Vec<Family> = Vec::new();
    for a in actions {
        let f = a.family();
        if !families.contains(&f) {
            families.push(f);
        }
    }
    for &f in &families {
        let withdrawn = actions.iter().filter_map(|a| match a {
            Action::Withdraw { nlri } if nlri.family() == f => Some(nlri),
            _ => None,
        });
        pack_withdrawals(f, withdrawn, ctx, &mut out);
    }
    for &f in &families {
        let mut seen: Vec<usize> = Vec::new();
        for a in actions {
            if let Action::Announce {
                nlri,
                attrs,
                attrs_index,
            } = a
            {
                if nlri.family() != f || seen.contains(attrs_index) {
                    continue;
                }
                seen.push(*attrs_index);
                let idx = *attrs_index;
                let same = actions.iter().filter_map(|b| match b {
                    Action::Announce {
                        nlri, attrs_index, ..
                    } if *attrs_index == idx && nlri.family() == f => Some(nlri),
                    _ => None,
                });
                pack_announcements(f, attrs, same, ctx, &mut out, &mut not_sent);
            }
        }
    }
    Packed {
        messages: out,
        not_sent,
    }
}

/// The End-of-RIB marker of `family` (RFC 4724 §2).
pub fn end_of_rib(family: Family, ctx: &EncodeContext) -> Bytes {
    ferry_wire::Message::Update(Update::end_of_rib(family))
        .to_bytes(ctx)
        .expect("End-of-RIB always fits")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_wire::{DecodeContext, Message, PathAttributes};
    use std::net::Ipv4Addr;

    fn attrs() -> RouteAttrs {
        RouteAttrs {
            path: PathAttributes {
                origin: Some(ferry_wire::Origin::Igp),
                as_path: Some(Default::default()),
                local_pref: Some(100),
                ..Default::default()
            },
            next_hop: NextHop::Ipv4(Ipv4Addr::new(10, 10, 93, 12)),
            extra: Default::default(),
        }
    }

    #[test]
    fn announcements_fill_messages_up_to_the_limit_and_decode_back() {
        let ctx = EncodeContext::default();
        let enc = EncodedAttrs::new(&attrs(), Family::VPNV4, &ctx);
        let nlri: Vec<Nlri> = (0..2000u32)
            .map(|i| {
                Nlri::Vpn(ferry_wire::VpnPrefix {
                    labels: ferry_wire::LabelStack::single(ferry_wire::Label::mpls(100)),
                    rd: "64512:10".parse().unwrap(),
                    prefix: format!("10.{}.{}.0/24", i / 256, i % 256).parse().unwrap(),
                })
            })
            .collect();
        let mut out = Vec::new();
        let mut not_sent = Vec::new();
        pack_announcements(
            Family::VPNV4,
            &enc,
            nlri.iter(),
            &ctx,
            &mut out,
            &mut not_sent,
        );
        assert!(out.len() > 1);
        assert!(not_sent.is_empty());
        let mut seen = Vec::new();
        for m in &out {
            assert!(m.len() <= 4096);
            match Message::decode(m, &DecodeContext::default()).unwrap() {
                Message::Update(u) => {
                    assert!(u.errors.is_empty());
                    let r = u.mp_reach.unwrap();
                    assert_eq!(r.next_hop, NextHop::Ipv4(Ipv4Addr::new(10, 10, 93, 12)));
                    assert_eq!(u.attributes.local_pref, Some(100));
                    seen.extend(r.nlri.into_iter().map(|e| e.nlri));
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(seen, nlri);
        // Messages are full: all but the last leave less room than one NLRI.
        for m in &out[..out.len() - 1] {
            assert!(m.len() + 16 > 4096, "{}", m.len());
        }
    }

    #[test]
    fn withdrawals_of_each_family_decode_back() {
        let ctx = EncodeContext::default();
        for family in [Family::IPV4_UNICAST, Family::VPNV4] {
            let nlri: Vec<Nlri> = (0..1500u32)
                .map(|i| {
                    let p: ipnet::Ipv4Net =
                        format!("10.{}.{}.0/24", i / 256, i % 256).parse().unwrap();
                    if family == Family::IPV4_UNICAST {
                        Nlri::Ipv4(p)
                    } else {
                        Nlri::Vpn(ferry_wire::VpnPrefix {
                            labels: ferry_wire::LabelStack::single(ferry_wire::Label::WITHDRAWN),
                            rd: "64512:10".parse().unwrap(),
                            prefix: ipnet::IpNet::V4(p),
                        })
                    }
                })
                .collect();
            let mut out = Vec::new();
            pack_withdrawals(family, nlri.iter(), &ctx, &mut out);
            let mut seen = Vec::new();
            for m in &out {
                assert!(m.len() <= 4096);
                let Message::Update(u) = Message::decode(m, &DecodeContext::default()).unwrap()
                else {
                    panic!()
                };
                assert!(u.errors.is_empty());
                seen.extend(u.withdrawn_all().map(|e| e.nlri.clone()));
            }
            assert_eq!(seen, nlri);
        }
    }
}
