//! UPDATE (RFC 4271 §4.3), with the RFC 7606 handling of malformed
//! attributes and the End-of-RIB marker of RFC 4724 §2. The octet layout
//! of the message is [`framing`].

pub mod framing;

use std::fmt;

use bytes::BytesMut;

use framing::LengthField;

use crate::attribute::{
    decode_attributes, put_attribute, AttrHeader, MpReachNlri, MpUnreachNlri, PathAttributes,
};
use crate::context::{DecodeContext, EncodeContext};
use crate::error::{AttrAction, AttributeError, MessageError};
use crate::iana::{attr, attr_flags, notification::update as subcode, Family};
use crate::nlri::{decode_nlri_list, EvpnRoute, Nlri, NlriEntry};

/// The UPDATE message body.
///
/// ```text
/// +-----------------------------------------------------+
/// |   Withdrawn Routes Length (2 octets)                |
/// +-----------------------------------------------------+
/// |   Withdrawn Routes (variable)                       |
/// +-----------------------------------------------------+
/// |   Total Path Attribute Length (2 octets)            |
/// +-----------------------------------------------------+
/// |   Path Attributes (variable)                        |
/// +-----------------------------------------------------+
/// |   Network Layer Reachability Information (variable) |
/// +-----------------------------------------------------+
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Update {
    /// IPv4 unicast routes withdrawn in the Withdrawn Routes field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub withdrawn: Vec<NlriEntry>,
    pub attributes: PathAttributes,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mp_reach: Option<MpReachNlri>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mp_unreach: Option<MpUnreachNlri>,
    /// IPv4 unicast routes announced in the NLRI field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nlri: Vec<NlriEntry>,
    /// The order and flags of the attributes as received; empty for
    /// updates built locally, which are written in ascending type order.
    #[serde(skip)]
    pub layout: Vec<AttrHeader>,
    /// What RFC 7606 found while decoding; never written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<AttributeError>,
    /// What decoding changed in the NLRI or left out of them; never
    /// written.
    #[serde(skip)]
    pub nlri_notes: NlriNotes,
}

/// What [`Update::decode`] did to the NLRI it read, for the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NlriNotes {
    /// Prefixes (announced or withdrawn) whose bits past the prefix length
    /// were set and have been cleared (RFC 4271 §4.3).
    pub host_bits_cleared: u32,
    /// EVPN routes of a type this codec does not know, dropped
    /// (RFC 7606 §5.4).
    pub unknown_evpn_dropped: u32,
}

impl NlriNotes {
    pub fn is_empty(&self) -> bool {
        *self == NlriNotes::default()
    }
}

impl Update {
    /// The End-of-RIB marker of `family` (RFC 4724 §2): an empty UPDATE for
    /// IPv4 unicast, an empty MP_UNREACH_NLRI otherwise.
    pub fn end_of_rib(family: Family) -> Update {
        let mut u = Update::default();
        if family != Family::IPV4_UNICAST {
            u.mp_unreach = Some(MpUnreachNlri {
                family,
                withdrawn: Vec::new(),
                undecoded: Vec::new(),
            });
        }
        u
    }

    /// The family whose End-of-RIB this is, if it is one. An
    /// MP_UNREACH_NLRI emptied by dropping unknown EVPN routes is not one.
    pub fn end_of_rib_family(&self) -> Option<Family> {
        if self.nlri_notes.unknown_evpn_dropped > 0 {
            return None;
        }
        let no_attrs = self.attributes == PathAttributes::default() && self.mp_reach.is_none();
        if !no_attrs || !self.withdrawn.is_empty() || !self.nlri.is_empty() {
            return None;
        }
        match &self.mp_unreach {
            None => Some(Family::IPV4_UNICAST),
            Some(u) if u.is_end_of_rib() => Some(u.family),
            Some(_) => None,
        }
    }

    /// The strongest RFC 7606 action the decoder found, if any.
    pub fn error_action(&self) -> Option<AttrAction> {
        self.errors.iter().map(|e| e.action).max()
    }

    /// True when RFC 7606 requires every NLRI of this UPDATE to be treated
    /// as withdrawn.
    pub fn is_treat_as_withdraw(&self) -> bool {
        self.error_action() == Some(AttrAction::TreatAsWithdraw)
    }

    /// Decodes an UPDATE body.
    pub fn decode(body: &[u8], ctx: &DecodeContext) -> Result<Update, MessageError> {
        let malformed = |reason: String| {
            MessageError::update(
                subcode::MALFORMED_ATTRIBUTE_LIST,
                Vec::new(),
                reason,
                "RFC 4271 §6.3",
            )
        };
        if body.len() < 4 {
            return Err(MessageError::header(
                crate::iana::notification::header::BAD_MESSAGE_LENGTH,
                ((body.len() + 19) as u16).to_be_bytes(),
                format!("UPDATE of {} octets is shorter than 23", body.len() + 19),
            ));
        }
        let withdrawn_len = u16::from_be_bytes([body[0], body[1]]) as usize;
        if 2 + withdrawn_len + 2 > body.len() {
            return Err(malformed(format!(
                "withdrawn routes length {withdrawn_len} overruns the message"
            )));
        }
        let withdrawn_octets = &body[2..2 + withdrawn_len];
        let rest = &body[2 + withdrawn_len..];
        let attr_len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        if 2 + attr_len > rest.len() {
            return Err(malformed(format!(
                "total path attribute length {attr_len} overruns the message"
            )));
        }
        let attr_octets = &rest[2..2 + attr_len];
        let nlri_octets = &rest[2 + attr_len..];

        // RFC 7606 §5.3: NLRI that cannot be parsed reset the session.
        let v4_add_path = ctx.add_path.contains(Family::IPV4_UNICAST);
        let invalid_network = |reason: String| {
            MessageError::update(
                subcode::INVALID_NETWORK_FIELD,
                Vec::new(),
                reason,
                "RFC 7606 §5.3",
            )
        };
        let withdrawn = decode_nlri_list(withdrawn_octets, Family::IPV4_UNICAST, v4_add_path)
            .map_err(|r| invalid_network(format!("withdrawn routes: {r}")))?;
        let nlri = decode_nlri_list(nlri_octets, Family::IPV4_UNICAST, v4_add_path)
            .map_err(|r| invalid_network(format!("NLRI field: {r}")))?;

        let decoded = decode_attributes(attr_octets, ctx)?;
        let mut update = Update {
            withdrawn,
            attributes: decoded.attributes,
            mp_reach: decoded.mp_reach,
            mp_unreach: decoded.mp_unreach,
            nlri,
            layout: decoded.layout,
            errors: decoded.errors,
            nlri_notes: NlriNotes::default(),
        };
        update.tidy_nlri();
        update.check_mandatory();
        Ok(update)
    }

    /// Puts the NLRI in the form every later stage relies on.
    ///
    /// * Bits past the prefix length are cleared in every family
    ///   ([`Nlri::clear_host_bits`]): RFC 4271 §4.3 calls them
    ///   irrelevant, and FRR (`apply_mask`) and BIRD do the same, so
    ///   `9.9.2.77/24` is the route `9.9.2.0/24` — one RIB entry, one
    ///   kernel route — and its withdrawal withdraws `9.9.2.0/24`.
    /// * EVPN routes of an unknown type are dropped, announced or
    ///   withdrawn. RFC 7606 §5.4 (typed NLRI): "A BGP speaker advertising
    ///   support for such a typed address family MUST handle routes with
    ///   unrecognized NLRI types within that address family by discarding
    ///   them", and RFC 7432 defines no other handling. The routes of known
    ///   types in the same attribute are kept.
    fn tidy_nlri(&mut self) {
        let mut notes = NlriNotes::default();
        let reach = self.mp_reach.iter_mut().flat_map(|r| r.nlri.iter_mut());
        let unreach = self
            .mp_unreach
            .iter_mut()
            .flat_map(|u| u.withdrawn.iter_mut());
        for e in self
            .withdrawn
            .iter_mut()
            .chain(self.nlri.iter_mut())
            .chain(reach)
            .chain(unreach)
        {
            if e.nlri.clear_host_bits() {
                notes.host_bits_cleared += 1;
            }
        }
        let known = |e: &NlriEntry| !matches!(e.nlri, Nlri::Evpn(EvpnRoute::Unknown { .. }));
        let mut drop_unknown = |list: &mut Vec<NlriEntry>| {
            let before = list.len();
            list.retain(known);
            notes.unknown_evpn_dropped += (before - list.len()) as u32;
        };
        if let Some(r) = &mut self.mp_reach {
            drop_unknown(&mut r.nlri);
        }
        if let Some(u) = &mut self.mp_unreach {
            drop_unknown(&mut u.withdrawn);
        }
        self.nlri_notes = notes;
    }

    /// RFC 7606 §3 d: a missing well-known mandatory attribute makes the
    /// UPDATE treat-as-withdraw. They are required only when the UPDATE
    /// announces routes (RFC 4760 §4 for MP_REACH_NLRI; NEXT_HOP only for
    /// the NLRI field).
    fn check_mandatory(&mut self) {
        let announces = !self.nlri.is_empty() || self.mp_reach.is_some();
        if !announces {
            return;
        }
        let missing = |code: u8, a: &PathAttributes| match code {
            attr::ORIGIN => a.origin.is_none(),
            attr::AS_PATH => a.as_path.is_none(),
            attr::NEXT_HOP => a.next_hop.is_none(),
            _ => false,
        };
        let mut required = vec![attr::ORIGIN, attr::AS_PATH];
        if !self.nlri.is_empty() {
            required.push(attr::NEXT_HOP);
        }
        for code in required {
            // An attribute that was present but malformed is already
            // reported; report only the ones that never appeared.
            let reported = self.errors.iter().any(|e| e.type_code == code);
            if missing(code, &self.attributes) && !reported {
                self.errors.push(AttributeError {
                    type_code: code,
                    action: AttrAction::TreatAsWithdraw,
                    reason: "missing well-known mandatory attribute".to_string(),
                    rfc: "RFC 7606 §3 d",
                });
            }
        }
    }

    /// Writes the UPDATE body. Attributes follow the received layout when
    /// there is one, else ascending type order with MP_REACH_NLRI and
    /// MP_UNREACH_NLRI at their place.
    pub fn encode_body(&self, ctx: &EncodeContext, buf: &mut BytesMut) {
        let v4_add_path = ctx.add_path.contains(Family::IPV4_UNICAST);
        let withdrawn = LengthField::open(buf);
        for w in &self.withdrawn {
            w.encode(buf, v4_add_path);
        }
        withdrawn.close(buf);

        let attributes = LengthField::open(buf);
        if self.layout.is_empty() {
            self.attributes.encode_range(true, ctx, buf);
            self.encode_mp(None, None, ctx, buf);
            self.attributes.encode_range(false, ctx, buf);
        } else {
            let mut written = Vec::with_capacity(self.layout.len());
            for h in &self.layout {
                match h.type_code {
                    attr::MP_REACH_NLRI => self.encode_mp(Some(h.flags), Some(true), ctx, buf),
                    attr::MP_UNREACH_NLRI => self.encode_mp(Some(h.flags), Some(false), ctx, buf),
                    code => self.attributes.encode_one(code, Some(h.flags), ctx, buf),
                }
                written.push(h.type_code);
            }
            // Attributes added since decoding go after, in type order.
            let extra: Vec<u8> = self
                .attributes
                .present_codes()
                .filter(|c| !written.contains(c))
                .collect();
            for code in extra {
                self.attributes.encode_one(code, None, ctx, buf);
            }
            if !written.contains(&attr::MP_REACH_NLRI) {
                self.encode_mp(None, Some(true), ctx, buf);
            }
            if !written.contains(&attr::MP_UNREACH_NLRI) {
                self.encode_mp(None, Some(false), ctx, buf);
            }
        }
        attributes.close(buf);

        for n in &self.nlri {
            n.encode(buf, v4_add_path);
        }
    }

    /// Writes MP_UNREACH_NLRI (`reach == Some(false)`), MP_REACH_NLRI
    /// (`Some(true)`) or, with `None`, both (unreach first).
    fn encode_mp(
        &self,
        flags: Option<u8>,
        reach: Option<bool>,
        ctx: &EncodeContext,
        buf: &mut BytesMut,
    ) {
        let f = attr_flags::OPTIONAL | flags.unwrap_or(0) & attr_flags::EXTENDED_LENGTH;
        if reach != Some(true) {
            if let Some(u) = &self.mp_unreach {
                put_attribute(buf, f, attr::MP_UNREACH_NLRI, |b| {
                    u.encode_value(ctx.add_path, b)
                });
            }
        }
        if reach != Some(false) {
            if let Some(r) = &self.mp_reach {
                put_attribute(buf, f, attr::MP_REACH_NLRI, |b| {
                    r.encode_value(ctx.add_path, b)
                });
            }
        }
    }

    /// Every announced NLRI: the NLRI field and MP_REACH_NLRI.
    pub fn announced(&self) -> impl Iterator<Item = &NlriEntry> {
        self.nlri
            .iter()
            .chain(self.mp_reach.iter().flat_map(|r| r.nlri.iter()))
    }

    /// Every withdrawn NLRI: the Withdrawn Routes field and MP_UNREACH_NLRI.
    pub fn withdrawn_all(&self) -> impl Iterator<Item = &NlriEntry> {
        self.withdrawn
            .iter()
            .chain(self.mp_unreach.iter().flat_map(|u| u.withdrawn.iter()))
    }
}

impl fmt::Display for Update {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(fam) = self.end_of_rib_family() {
            return write!(f, "UPDATE End-of-RIB {fam}");
        }
        write!(
            f,
            "UPDATE {} announced, {} withdrawn",
            self.announced().count(),
            self.withdrawn_all().count()
        )
    }
}
