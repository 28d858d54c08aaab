//! VPN-IPv4 and VPN-IPv6 NLRI (RFC 4364 §4.3.4, RFC 4659 §3.2, with the
//! label stack of RFC 8277).

use std::fmt;

use bytes::{BufMut, BytesMut};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use nom::bytes::complete::take;
use nom::number::complete::be_u8;

use super::label::{Label, LabelStack};
use super::prefix::{addr_octets, ipv4_bits, ipv6_bits, put_prefix_bits};
use super::rd::RouteDistinguisher;
use crate::error::{Fail, Nom};

/// A labelled VPN route.
///
/// ```text
/// +---------------------------+
/// |   Length (1 octet)        |  bits of label stack + RD + prefix
/// +---------------------------+
/// |   Label stack (3n octets) |  until the bottom-of-stack bit
/// +---------------------------+
/// |   Route Distinguisher (8) |
/// +---------------------------+
/// |   IPv4/IPv6 prefix        |
/// +---------------------------+
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct VpnPrefix {
    pub labels: LabelStack,
    pub rd: RouteDistinguisher,
    pub prefix: IpNet,
}

impl VpnPrefix {
    /// Decodes one VPN NLRI of the given address family (`v6` false for
    /// VPN-IPv4).
    pub(crate) fn decode(input: &[u8], v6: bool) -> Nom<'_, VpnPrefix> {
        let (mut input, total_bits) = be_u8(input)?;
        let mut bits = total_bits as usize;
        let mut labels = [Label::default(); LabelStack::MAX];
        let mut depth = 0;
        loop {
            if bits < 24 {
                return Fail::err(format!(
                    "VPN NLRI length {total_bits} leaves no room for the label stack"
                ));
            }
            if depth == LabelStack::MAX {
                return Fail::err(format!(
                    "VPN NLRI label stack deeper than {} labels",
                    LabelStack::MAX
                ));
            }
            let (rest, b) = take(3usize)(input)?;
            input = rest;
            bits -= 24;
            let label = Label::from_bytes([b[0], b[1], b[2]]);
            labels[depth] = label;
            depth += 1;
            // RFC 8277 §2.4: a withdrawal carries 0x800000 (or 0) with no
            // bottom-of-stack bit; it ends the stack too.
            if label.bottom_of_stack() || matches!(label.raw(), 0x80_0000 | 0) {
                break;
            }
        }
        if bits < 64 {
            return Fail::err(format!(
                "VPN NLRI length {total_bits} leaves no room for the route distinguisher"
            ));
        }
        let (input, rd) = take(8usize)(input)?;
        let rd = RouteDistinguisher::from_bytes(rd.try_into().expect("8 octets"));
        let prefix_bits = (bits - 64) as u8;
        let (input, prefix) = if v6 {
            let (i, a) = ipv6_bits(input, prefix_bits)?;
            (i, IpNet::V6(Ipv6Net::new(a, prefix_bits).expect("checked")))
        } else {
            let (i, a) = ipv4_bits(input, prefix_bits)?;
            (i, IpNet::V4(Ipv4Net::new(a, prefix_bits).expect("checked")))
        };
        let labels = LabelStack::from_labels(&labels[..depth]).expect("depth checked");
        Ok((input, VpnPrefix { labels, rd, prefix }))
    }

    pub fn encode(&self, buf: &mut BytesMut) {
        let bits = self.labels.bit_len() + 64 + self.prefix.prefix_len() as usize;
        buf.put_u8(bits as u8);
        self.labels.encode(buf);
        self.rd.encode(buf);
        let (octets, _) = addr_octets(&self.prefix);
        put_prefix_bits(buf, &octets, self.prefix.prefix_len());
    }

    /// The largest prefix this NLRI can carry with its label stack.
    pub fn fits(&self) -> bool {
        self.labels.bit_len() + 64 + self.prefix.prefix_len() as usize <= 255
    }
}

impl fmt::Display for VpnPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} label {}", self.rd, self.prefix, self.labels)
    }
}

impl fmt::Debug for VpnPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VpnPrefix({self})")
    }
}
