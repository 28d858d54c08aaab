//! The octet layout of an UPDATE (RFC 4271 §4.3) and of the
//! MP_REACH_NLRI / MP_UNREACH_NLRI attributes that frame the routes of
//! other families (RFC 4760 §3, §4), written in one place.
//!
//! Both writers of UPDATEs use it: [`super::Update::encode_body`], which
//! writes a whole decoded or built UPDATE, and the RIB's packer, which
//! encodes an attribute set once per update group and appends NLRI until
//! the message is full. A section is opened with its length field left at
//! zero and closed when its contents are written, which sets the field:
//!
//! ```text
//! begin ─ header (marker, length, type 2)
//!   withdrawn routes:  LengthField::open .. routes .. close
//!   path attributes:   LengthField::open .. attributes
//!                        [begin_mp_reach / begin_mp_unreach .. NLRI .. close]
//!                      .. close
//!   NLRI (IPv4 unicast)
//! finish ─ the header's length
//! ```

use bytes::{BufMut, BytesMut};

use crate::attribute::{MpReachNlri, MpUnreachNlri, NextHop};
use crate::iana::{attr, attr_flags, message_type, Family};
use crate::message::{MessageStart, HEADER_LEN};

/// Octets of a 2-octet length field.
pub const LENGTH_FIELD: usize = 2;

/// Octets of an UPDATE with nothing in it: the header, the Withdrawn
/// Routes Length and the Total Path Attribute Length.
pub const EMPTY_LEN: usize = HEADER_LEN + 2 * LENGTH_FIELD;

/// Octets of the header of an attribute in the extended-length form:
/// flags, type code and a 2-octet length.
pub const EXTENDED_ATTR_HEADER_LEN: usize = 2 + LENGTH_FIELD;

/// A 2-octet length field written as zero, set by [`LengthField::close`]
/// to the octets written after it.
#[derive(Clone, Copy, Debug)]
#[must_use = "a length field is set by closing it"]
pub struct LengthField(usize);

impl LengthField {
    pub fn open(buf: &mut BytesMut) -> LengthField {
        let at = buf.len();
        buf.put_u16(0);
        LengthField(at)
    }

    /// Sets the field to the octets written since it was opened.
    pub fn close(self, buf: &mut BytesMut) {
        let len = buf.len() - self.0 - LENGTH_FIELD;
        buf[self.0..self.0 + LENGTH_FIELD].copy_from_slice(&(len as u16).to_be_bytes());
    }
}

/// Starts an UPDATE: the message header, its length set by
/// [`MessageStart::finish`].
pub fn begin(buf: &mut BytesMut) -> MessageStart {
    MessageStart::begin(buf, message_type::UPDATE)
}

/// Starts an MP_REACH_NLRI attribute in the extended-length form (so that
/// NLRI can be appended past 255 octets): its header, AFI, SAFI, next hop
/// and the reserved octet. The NLRI follow; closing the field ends it.
pub fn begin_mp_reach(buf: &mut BytesMut, family: Family, next_hop: &NextHop) -> LengthField {
    let len = extended_attribute(buf, attr::MP_REACH_NLRI);
    MpReachNlri::encode_header(family, next_hop, buf);
    len
}

/// Starts an MP_UNREACH_NLRI attribute in the extended-length form: its
/// header, AFI and SAFI. The withdrawn routes follow; closing the field
/// ends it.
pub fn begin_mp_unreach(buf: &mut BytesMut, family: Family) -> LengthField {
    let len = extended_attribute(buf, attr::MP_UNREACH_NLRI);
    MpUnreachNlri::encode_header(family, buf);
    len
}

fn extended_attribute(buf: &mut BytesMut, code: u8) -> LengthField {
    buf.put_u8(attr_flags::OPTIONAL | attr_flags::EXTENDED_LENGTH);
    buf.put_u8(code);
    LengthField::open(buf)
}

/// Octets [`begin_mp_reach`] writes.
pub fn mp_reach_header_len(family: Family, next_hop: &NextHop) -> usize {
    let mut b = BytesMut::with_capacity(48);
    MpReachNlri::encode_header(family, next_hop, &mut b);
    EXTENDED_ATTR_HEADER_LEN + b.len()
}

/// Octets [`begin_mp_unreach`] writes.
pub const MP_UNREACH_HEADER_LEN: usize = EXTENDED_ATTR_HEADER_LEN + 3;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::DecodeContext;
    use crate::message::Message;
    use crate::nlri::{Nlri, NlriEntry};

    #[test]
    fn sections_written_by_hand_decode_as_the_update_they_frame() {
        let nlri = Nlri::Ipv6("2001:db8:7::/48".parse().unwrap());
        let next_hop = NextHop::Ipv6 {
            global: "2001:db8::1".parse().unwrap(),
            link_local: None,
        };
        let mut buf = BytesMut::new();
        let msg = begin(&mut buf);
        LengthField::open(&mut buf).close(&mut buf);
        let attrs = LengthField::open(&mut buf);
        let before = buf.len();
        let mp = begin_mp_reach(&mut buf, Family::IPV6_UNICAST, &next_hop);
        assert_eq!(
            buf.len() - before,
            mp_reach_header_len(Family::IPV6_UNICAST, &next_hop)
        );
        nlri.encode(&mut buf);
        mp.close(&mut buf);
        attrs.close(&mut buf);
        msg.finish(&mut buf);
        let Message::Update(u) = Message::decode(&buf, &DecodeContext::default()).unwrap() else {
            panic!("not an UPDATE");
        };
        let r = u.mp_reach.expect("MP_REACH_NLRI");
        assert_eq!(r.next_hop, next_hop);
        assert_eq!(r.nlri, vec![NlriEntry::new(nlri)]);

        let mut buf = BytesMut::new();
        let msg = begin(&mut buf);
        let withdrawn = LengthField::open(&mut buf);
        Nlri::Ipv4("10.1.0.0/16".parse().unwrap()).encode(&mut buf);
        withdrawn.close(&mut buf);
        LengthField::open(&mut buf).close(&mut buf);
        msg.finish(&mut buf);
        let Message::Update(u) = Message::decode(&buf, &DecodeContext::default()).unwrap() else {
            panic!("not an UPDATE");
        };
        assert_eq!(u.withdrawn.len(), 1);
        assert_eq!(EMPTY_LEN, 23);
    }
}
