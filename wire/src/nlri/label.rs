//! The 3-octet label field of labelled NLRI (RFC 8277, RFC 4364) and of
//! EVPN routes, where with VXLAN it carries a 24-bit VNI (RFC 8365 §5.1.3).

use std::fmt;

use bytes::{BufMut, BytesMut};

/// One 3-octet label field, kept as the raw 24 bits received.
///
/// ```text
///  0                   1                   2
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                Label                  | TC  |S|   (MPLS: RFC 3032)
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                      VNI                      |   (VXLAN: RFC 8365)
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Label(u32);

impl Label {
    pub const LEN: usize = 3;
    /// The value RFC 8277 §2.4 puts in withdrawals ("compatibility" label).
    pub const WITHDRAWN: Label = Label(0x80_0000);

    /// A label field from its raw 24 bits (higher bits are dropped).
    pub const fn from_raw(raw: u32) -> Label {
        Label(raw & 0xff_ffff)
    }

    /// An MPLS label value with the bottom-of-stack bit set.
    pub const fn mpls(value: u32) -> Label {
        Label(((value & 0xf_ffff) << 4) | 1)
    }

    /// A 24-bit VXLAN network identifier, as RFC 8365 puts it in the field.
    pub const fn vni(vni: u32) -> Label {
        Label(vni & 0xff_ffff)
    }

    pub const fn raw(self) -> u32 {
        self.0
    }

    /// The 20-bit MPLS label value.
    pub const fn mpls_value(self) -> u32 {
        self.0 >> 4
    }

    /// The bottom-of-stack bit.
    pub const fn bottom_of_stack(self) -> bool {
        self.0 & 1 == 1
    }

    /// The field read as a 24-bit VNI (RFC 8365).
    pub const fn as_vni(self) -> u32 {
        self.0
    }

    pub fn from_bytes(b: [u8; 3]) -> Label {
        Label(u32::from_be_bytes([0, b[0], b[1], b[2]]))
    }

    pub fn encode(self, buf: &mut BytesMut) {
        let b = self.0.to_be_bytes();
        buf.put_slice(&b[1..4]);
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Label({:#08x})", self.0)
    }
}

impl serde::Serialize for Label {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

/// The label stack of a VPN route (RFC 8277 §2): up to
/// [`LabelStack::MAX`] labels, the last with the bottom-of-stack bit.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelStack {
    len: u8,
    labels: [Label; LabelStack::MAX],
}

impl LabelStack {
    /// The deepest stack this codec accepts; deeper stacks are an NLRI
    /// syntax error.
    pub const MAX: usize = 3;

    pub fn single(label: Label) -> LabelStack {
        LabelStack {
            len: 1,
            labels: [label, Label(0), Label(0)],
        }
    }

    /// `None` when more than [`LabelStack::MAX`] labels are given.
    pub fn from_labels(labels: &[Label]) -> Option<LabelStack> {
        if labels.is_empty() || labels.len() > LabelStack::MAX {
            return None;
        }
        let mut stack = LabelStack::single(labels[0]);
        stack.labels[..labels.len()].copy_from_slice(labels);
        stack.len = labels.len() as u8;
        Some(stack)
    }

    pub fn labels(&self) -> &[Label] {
        &self.labels[..self.len as usize]
    }

    /// The number of bits the stack takes in an NLRI length field.
    pub fn bit_len(&self) -> usize {
        self.len as usize * 24
    }

    pub fn encode(&self, buf: &mut BytesMut) {
        for label in self.labels() {
            label.encode(buf);
        }
    }

    /// True when this is the withdrawal placeholder of RFC 8277 §2.4.
    pub fn is_withdrawn_placeholder(&self) -> bool {
        self.len == 1 && matches!(self.labels[0].raw(), 0x80_0000 | 0)
    }
}

impl fmt::Debug for LabelStack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.labels()).finish()
    }
}

impl fmt::Display for LabelStack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, l) in self.labels().iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            write!(f, "{}", l.mpls_value())?;
        }
        Ok(())
    }
}

impl serde::Serialize for LabelStack {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.len as usize))?;
        for l in self.labels() {
            seq.serialize_element(&l.mpls_value())?;
        }
        seq.end()
    }
}
