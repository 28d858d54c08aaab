//! Route distinguishers (RFC 4364 §4.2).

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use bytes::{BufMut, BytesMut};

/// An 8-octet route distinguisher.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |             Type              |   Administrator  ...          |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     ...  Administrator  |  Assigned Number   ...              |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///   Type 0: 2-octet AS administrator, 4-octet assigned number
///   Type 1: IPv4 address administrator, 2-octet assigned number
///   Type 2: 4-octet AS administrator, 2-octet assigned number
/// ```
///
/// Printed as `64512:10` (type 0), `10.10.25.42:1` (type 1) and
/// `4200000000:1` (type 2; a type-2 RD whose AS fits in 16 bits prints as
/// `100L:1` so that the text reads back to the same type).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RouteDistinguisher {
    As2 {
        asn: u16,
        assigned: u32,
    },
    Ipv4 {
        addr: Ipv4Addr,
        assigned: u16,
    },
    As4 {
        asn: u32,
        assigned: u16,
    },
    /// A type this codec does not know, kept as received.
    Other {
        rd_type: u16,
        value: [u8; 6],
    },
}

impl RouteDistinguisher {
    pub const LEN: usize = 8;

    pub fn from_bytes(b: [u8; 8]) -> RouteDistinguisher {
        let rd_type = u16::from_be_bytes([b[0], b[1]]);
        match rd_type {
            0 => RouteDistinguisher::As2 {
                asn: u16::from_be_bytes([b[2], b[3]]),
                assigned: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            },
            1 => RouteDistinguisher::Ipv4 {
                addr: Ipv4Addr::new(b[2], b[3], b[4], b[5]),
                assigned: u16::from_be_bytes([b[6], b[7]]),
            },
            2 => RouteDistinguisher::As4 {
                asn: u32::from_be_bytes([b[2], b[3], b[4], b[5]]),
                assigned: u16::from_be_bytes([b[6], b[7]]),
            },
            _ => RouteDistinguisher::Other {
                rd_type,
                value: [b[2], b[3], b[4], b[5], b[6], b[7]],
            },
        }
    }

    pub fn to_bytes(&self) -> [u8; 8] {
        let mut b = [0u8; 8];
        match *self {
            RouteDistinguisher::As2 { asn, assigned } => {
                b[2..4].copy_from_slice(&asn.to_be_bytes());
                b[4..8].copy_from_slice(&assigned.to_be_bytes());
            }
            RouteDistinguisher::Ipv4 { addr, assigned } => {
                b[1] = 1;
                b[2..6].copy_from_slice(&addr.octets());
                b[6..8].copy_from_slice(&assigned.to_be_bytes());
            }
            RouteDistinguisher::As4 { asn, assigned } => {
                b[1] = 2;
                b[2..6].copy_from_slice(&asn.to_be_bytes());
                b[6..8].copy_from_slice(&assigned.to_be_bytes());
            }
            RouteDistinguisher::Other { rd_type, value } => {
                b[0..2].copy_from_slice(&rd_type.to_be_bytes());
                b[2..8].copy_from_slice(&value);
            }
        }
        b
    }

    pub fn encode(&self, buf: &mut BytesMut) {
        buf.put_slice(&self.to_bytes());
    }

    /// The RD's type field.
    pub fn rd_type(&self) -> u16 {
        match self {
            RouteDistinguisher::As2 { .. } => 0,
            RouteDistinguisher::Ipv4 { .. } => 1,
            RouteDistinguisher::As4 { .. } => 2,
            RouteDistinguisher::Other { rd_type, .. } => *rd_type,
        }
    }
}

impl fmt::Display for RouteDistinguisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RouteDistinguisher::As2 { asn, assigned } => write!(f, "{asn}:{assigned}"),
            RouteDistinguisher::Ipv4 { addr, assigned } => write!(f, "{addr}:{assigned}"),
            RouteDistinguisher::As4 { asn, assigned } if asn > u16::MAX as u32 => {
                write!(f, "{asn}:{assigned}")
            }
            RouteDistinguisher::As4 { asn, assigned } => write!(f, "{asn}L:{assigned}"),
            RouteDistinguisher::Other { rd_type, value } => {
                write!(f, "type{rd_type}:")?;
                for b in value {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Debug for RouteDistinguisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RD({self})")
    }
}

/// The text is not a route distinguisher.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid route distinguisher {0:?}: expected ASN:NUMBER (64512:10), IPV4:NUMBER (10.10.25.42:1) or ASNL:NUMBER (4200000000L:1)")]
pub struct ParseRdError(pub String);

impl FromStr for RouteDistinguisher {
    type Err = ParseRdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseRdError(s.to_string());
        let (admin, number) = s.rsplit_once(':').ok_or_else(err)?;
        if let Ok(addr) = admin.parse::<Ipv4Addr>() {
            let assigned = number.parse::<u16>().map_err(|_| err())?;
            return Ok(RouteDistinguisher::Ipv4 { addr, assigned });
        }
        if let Some(asn) = admin.strip_suffix(['L', 'l']) {
            let asn = asn.parse::<u32>().map_err(|_| err())?;
            let assigned = number.parse::<u16>().map_err(|_| err())?;
            return Ok(RouteDistinguisher::As4 { asn, assigned });
        }
        let asn = admin.parse::<u32>().map_err(|_| err())?;
        if let Ok(asn16) = u16::try_from(asn) {
            let assigned = number.parse::<u32>().map_err(|_| err())?;
            Ok(RouteDistinguisher::As2 {
                asn: asn16,
                assigned,
            })
        } else {
            let assigned = number.parse::<u16>().map_err(|_| err())?;
            Ok(RouteDistinguisher::As4 { asn, assigned })
        }
    }
}

impl serde::Serialize for RouteDistinguisher {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for RouteDistinguisher {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_for_each_type() {
        for text in ["64512:10", "10.10.25.42:1", "4200000000:1", "100L:7"] {
            let rd: RouteDistinguisher = text.parse().unwrap();
            assert_eq!(rd.to_string(), text);
            assert_eq!(RouteDistinguisher::from_bytes(rd.to_bytes()), rd);
        }
        assert_eq!(
            "64512:10".parse::<RouteDistinguisher>().unwrap().to_bytes(),
            [0, 0, 0xfc, 0x00, 0, 0, 0, 10]
        );
        assert_eq!(
            "10.10.25.42:1"
                .parse::<RouteDistinguisher>()
                .unwrap()
                .to_bytes(),
            [0, 1, 10, 10, 25, 42, 0, 1]
        );
        assert!("4200000000:70000".parse::<RouteDistinguisher>().is_err());
        assert!("foo".parse::<RouteDistinguisher>().is_err());
    }
}
