//! IP prefixes in NLRI encoding (RFC 4271 §4.3): a length in bits followed
//! by the fewest octets that hold it.
//!
//! ```text
//! +---------------------------+
//! |   Length (1 octet)        |
//! +---------------------------+
//! |   Prefix (variable)       |
//! +---------------------------+
//! ```
//!
//! Trailing bits past the length are read as received here; an UPDATE
//! clears them before anyone uses the prefix (RFC 4271 §4.3 calls them
//! irrelevant; see [`crate::Nlri::clear_host_bits`]).

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, BytesMut};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use nom::bytes::complete::take;

use crate::error::{Fail, Nom};

/// Octets needed for `bits` bits.
pub(crate) fn octets_for(bits: usize) -> usize {
    bits.div_ceil(8)
}

/// Reads `bits` bits of an IPv4 address (the octets that hold them).
pub(crate) fn ipv4_bits(input: &[u8], bits: u8) -> Nom<'_, Ipv4Addr> {
    if bits > 32 {
        return Fail::err(format!("IPv4 prefix length {bits} exceeds 32"));
    }
    let (rest, b) = take(octets_for(bits as usize))(input)?;
    let mut o = [0u8; 4];
    o[..b.len()].copy_from_slice(b);
    Ok((rest, Ipv4Addr::from(o)))
}

/// Reads `bits` bits of an IPv6 address (the octets that hold them).
pub(crate) fn ipv6_bits(input: &[u8], bits: u8) -> Nom<'_, Ipv6Addr> {
    if bits > 128 {
        return Fail::err(format!("IPv6 prefix length {bits} exceeds 128"));
    }
    let (rest, b) = take(octets_for(bits as usize))(input)?;
    let mut o = [0u8; 16];
    o[..b.len()].copy_from_slice(b);
    Ok((rest, Ipv6Addr::from(o)))
}

/// Reads a length-prefixed IPv4 prefix.
pub(crate) fn decode_ipv4_prefix(input: &[u8]) -> Nom<'_, Ipv4Net> {
    let (input, bits) = nom::number::complete::be_u8(input)?;
    let (input, addr) = ipv4_bits(input, bits)?;
    Ok((input, Ipv4Net::new(addr, bits).expect("length checked")))
}

/// Reads a length-prefixed IPv6 prefix.
pub(crate) fn decode_ipv6_prefix(input: &[u8]) -> Nom<'_, Ipv6Net> {
    let (input, bits) = nom::number::complete::be_u8(input)?;
    let (input, addr) = ipv6_bits(input, bits)?;
    Ok((input, Ipv6Net::new(addr, bits).expect("length checked")))
}

/// Writes the octets that hold the first `bits` bits of `octets`.
pub(crate) fn put_prefix_bits(buf: &mut BytesMut, octets: &[u8], bits: u8) {
    buf.put_slice(&octets[..octets_for(bits as usize)]);
}

/// Writes a length-prefixed prefix.
pub fn encode_prefix(prefix: &IpNet, buf: &mut BytesMut) {
    buf.put_u8(prefix.prefix_len());
    match prefix {
        IpNet::V4(p) => put_prefix_bits(buf, &p.addr().octets(), p.prefix_len()),
        IpNet::V6(p) => put_prefix_bits(buf, &p.addr().octets(), p.prefix_len()),
    }
}

/// The octets of an address, whatever its family.
pub(crate) fn addr_octets(prefix: &IpNet) -> ([u8; 16], usize) {
    let mut o = [0u8; 16];
    match prefix {
        IpNet::V4(p) => {
            o[..4].copy_from_slice(&p.addr().octets());
            (o, 4)
        }
        IpNet::V6(p) => {
            o.copy_from_slice(&p.addr().octets());
            (o, 16)
        }
    }
}
