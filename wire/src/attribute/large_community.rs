//! LARGE_COMMUNITY (RFC 8092).
//!
//! ```text
//! +-----------------------------------------------+
//! |          Global Administrator (4 octets)      |
//! +-----------------------------------------------+
//! |          Local Data Part 1 (4 octets)         |
//! +-----------------------------------------------+
//! |          Local Data Part 2 (4 octets)         |
//! +-----------------------------------------------+
//! ```

use std::fmt;
use std::str::FromStr;

use bytes::{BufMut, BytesMut};

/// One large community.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity {
    pub global: u32,
    pub local1: u32,
    pub local2: u32,
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.global, self.local1, self.local2)
    }
}

/// The text is not a large community.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid large community {0:?}: expected GLOBAL:LOCAL1:LOCAL2, each below 2^32")]
pub struct ParseLargeCommunityError(pub String);

impl FromStr for LargeCommunity {
    type Err = ParseLargeCommunityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseLargeCommunityError(s.to_string());
        let mut it = s.split(':').map(|p| p.parse::<u32>().map_err(|_| err()));
        let c = LargeCommunity {
            global: it.next().ok_or_else(err)??,
            local1: it.next().ok_or_else(err)??,
            local2: it.next().ok_or_else(err)??,
        };
        if it.next().is_some() {
            return Err(err());
        }
        Ok(c)
    }
}

impl serde::Serialize for LargeCommunity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Reads the attribute value. RFC 8092 §6: a length that is not a
/// multiple of 12 is malformed (treat-as-withdraw, applied by the caller).
pub fn decode_large_communities(value: &[u8]) -> Result<Vec<LargeCommunity>, String> {
    if !value.len().is_multiple_of(12) {
        return Err(format!("length {} is not a multiple of 12", value.len()));
    }
    let word = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    Ok(value
        .chunks_exact(12)
        .map(|c| LargeCommunity {
            global: word(&c[0..4]),
            local1: word(&c[4..8]),
            local2: word(&c[8..12]),
        })
        .collect())
}

pub fn encode_large_communities(list: &[LargeCommunity], buf: &mut BytesMut) {
    for c in list {
        buf.put_u32(c.global);
        buf.put_u32(c.local1);
        buf.put_u32(c.local2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let c: LargeCommunity = "64512:1:2".parse().unwrap();
        assert_eq!(c.to_string(), "64512:1:2");
        let mut b = BytesMut::new();
        encode_large_communities(&[c], &mut b);
        assert_eq!(decode_large_communities(&b).unwrap(), vec![c]);
        assert!(decode_large_communities(&[0; 13])
            .unwrap_err()
            .contains("13"));
        assert!("1:2".parse::<LargeCommunity>().is_err());
        assert!("1:2:3:4".parse::<LargeCommunity>().is_err());
    }
}
