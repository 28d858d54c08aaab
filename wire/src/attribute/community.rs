//! COMMUNITIES (RFC 1997), with the well-known values of RFC 1997,
//! RFC 7999, RFC 8326 and RFC 9494.
//!
//! ```text
//! +-------------------------------+-------------------------------+
//! |      AS (2 octets)            |     Value (2 octets)          |
//! +-------------------------------+-------------------------------+
//! ```

use std::fmt;
use std::str::FromStr;

use bytes::{BufMut, BytesMut};

/// One community, kept as its 32-bit wire value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Community(pub u32);

const WELL_KNOWN: &[(u32, &str)] = &[
    (0xFFFF_FF01, "no-export"),
    (0xFFFF_FF02, "no-advertise"),
    (0xFFFF_FF03, "no-export-subconfed"),
    (0xFFFF_0000, "graceful-shutdown"),
    (0xFFFF_029A, "blackhole"),
    (0xFFFF_0006, "llgr-stale"),
    (0xFFFF_0007, "no-llgr"),
];

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((_, name)) = WELL_KNOWN.iter().find(|(v, _)| *v == self.0) {
            return f.write_str(name);
        }
        write!(f, "{}:{}", self.0 >> 16, self.0 & 0xffff)
    }
}

impl fmt::Debug for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Community({self})")
    }
}

/// The text is not a community.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid community {0:?}: expected AS:VALUE with both parts below 65536, or a well-known name (no-export, no-advertise, …)")]
pub struct ParseCommunityError(pub String);

impl FromStr for Community {
    type Err = ParseCommunityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some((v, _)) = WELL_KNOWN.iter().find(|(_, n)| *n == s) {
            return Ok(Community(*v));
        }
        let err = || ParseCommunityError(s.to_string());
        let (a, v) = s.split_once(':').ok_or_else(err)?;
        let a: u16 = a.parse().map_err(|_| err())?;
        let v: u16 = v.parse().map_err(|_| err())?;
        Ok(Community(((a as u32) << 16) | v as u32))
    }
}

impl serde::Serialize for Community {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Reads the attribute value. RFC 7606 §7.8: a length that is not a
/// multiple of 4 is malformed (the caller applies treat-as-withdraw).
pub fn decode_communities(value: &[u8]) -> Result<Vec<Community>, String> {
    if !value.len().is_multiple_of(4) {
        return Err(format!("length {} is not a multiple of 4", value.len()));
    }
    Ok(value
        .chunks_exact(4)
        .map(|c| Community(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
        .collect())
}

pub fn encode_communities(list: &[Community], buf: &mut BytesMut) {
    for c in list {
        buf.put_u32(c.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_wire_round_trip() {
        for t in ["64512:100", "no-export", "blackhole", "0:0"] {
            let c: Community = t.parse().unwrap();
            assert_eq!(c.to_string(), t);
        }
        let list = vec![Community(0xFC00_0064), Community(0xFFFF_FF01)];
        let mut b = BytesMut::new();
        encode_communities(&list, &mut b);
        assert_eq!(&b[..], &[0xfc, 0, 0, 0x64, 0xff, 0xff, 0xff, 1]);
        assert_eq!(decode_communities(&b).unwrap(), list);
        assert!(decode_communities(&[0; 5])
            .unwrap_err()
            .contains("length 5"));
        assert!("70000:1".parse::<Community>().is_err());
    }
}
