//! ROUTE-REFRESH (RFC 2918 §3) with the message subtypes of enhanced route
//! refresh (RFC 7313 §3.2).

use std::fmt;

use bytes::{BufMut, BytesMut};

use crate::error::MessageError;
use crate::iana::{notification, Family};

/// The ROUTE-REFRESH message body.
///
/// ```text
///  0       7      15      23      31
/// +-------+-------+-------+-------+
/// |      AFI      | Subtyp| SAFI  |
/// +-------+-------+-------+-------+
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RouteRefresh {
    pub family: Family,
    pub subtype: RefreshSubtype,
}

/// The message subtype (RFC 7313 §3.2; "Reserved" in RFC 2918).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefreshSubtype {
    /// 0: a request to re-advertise the Adj-RIB-Out.
    Request,
    /// 1: Beginning of Route Refresh.
    BeginningOfRefresh,
    /// 2: End of Route Refresh.
    EndOfRefresh,
    /// 255 and the other reserved values; RFC 7313 §5 says to ignore them.
    Reserved(u8),
}

impl RefreshSubtype {
    fn from_code(c: u8) -> RefreshSubtype {
        match c {
            0 => RefreshSubtype::Request,
            1 => RefreshSubtype::BeginningOfRefresh,
            2 => RefreshSubtype::EndOfRefresh,
            other => RefreshSubtype::Reserved(other),
        }
    }

    fn code(self) -> u8 {
        match self {
            RefreshSubtype::Request => 0,
            RefreshSubtype::BeginningOfRefresh => 1,
            RefreshSubtype::EndOfRefresh => 2,
            RefreshSubtype::Reserved(c) => c,
        }
    }
}

impl RouteRefresh {
    pub fn request(family: Family) -> RouteRefresh {
        RouteRefresh {
            family,
            subtype: RefreshSubtype::Request,
        }
    }

    /// RFC 7313 §5: a length other than 23 is a ROUTE-REFRESH Message
    /// Error / Invalid Message Length, whose data is the whole message.
    pub fn decode(body: &[u8], whole: &[u8]) -> Result<RouteRefresh, MessageError> {
        if body.len() != 4 {
            return Err(MessageError::new(
                notification::ROUTE_REFRESH_MESSAGE_ERROR,
                notification::route_refresh::INVALID_MESSAGE_LENGTH,
                whole.to_vec(),
                format!("ROUTE-REFRESH of {} octets, 23 required", whole.len()),
                "RFC 7313 §5",
            ));
        }
        Ok(RouteRefresh {
            family: Family::new(u16::from_be_bytes([body[0], body[1]]), body[3]),
            subtype: RefreshSubtype::from_code(body[2]),
        })
    }

    pub fn encode_body(&self, buf: &mut BytesMut) {
        buf.put_u16(self.family.afi);
        buf.put_u8(self.subtype.code());
        buf.put_u8(self.family.safi);
    }
}

impl fmt::Display for RouteRefresh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.subtype {
            RefreshSubtype::Request => "request".to_string(),
            RefreshSubtype::BeginningOfRefresh => "BoRR".to_string(),
            RefreshSubtype::EndOfRefresh => "EoRR".to_string(),
            RefreshSubtype::Reserved(c) => format!("subtype {c}"),
        };
        write!(f, "ROUTE-REFRESH {} {what}", self.family)
    }
}
