//! OPEN (RFC 4271 §4.2) with capabilities (RFC 5492) and the extended
//! optional parameters length of RFC 9072.

use std::fmt;
use std::net::Ipv4Addr;

use bytes::{BufMut, BytesMut};

use super::capability::Capability;
use crate::error::MessageError;
use crate::iana::{notification::open as subcode, open_param};

/// The OPEN message body.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+
/// |    Version    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     My Autonomous System      |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |           Hold Time           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         BGP Identifier                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Opt Parm Len  |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |             Optional Parameters (variable)                    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///
/// RFC 9072 extended form: Opt Parm Len = 255, then a Non-Ext OP Type
/// octet of 255, a 2-octet Extended Opt. Parm. Length, and parameters with
/// 2-octet lengths:
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Non-Ext OP Len|Non-Ext OP Type|  Extended Opt. Parm. Length   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Open {
    pub version: u8,
    /// The 2-octet My Autonomous System field (AS_TRANS for a 4-octet AS).
    pub my_as: u16,
    pub hold_time: u16,
    pub bgp_identifier: Ipv4Addr,
    pub parameters: Vec<OptionalParameter>,
    /// The parameters used the RFC 9072 extended length encoding.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub extended_parameters: bool,
}

/// One optional parameter of OPEN.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptionalParameter {
    /// Parameter type 2 (RFC 5492), holding one or more capabilities.
    Capabilities(Vec<Capability>),
    /// Any other type (deprecated authentication, …), kept as received.
    Other { kind: u8, value: Vec<u8> },
}

impl Open {
    /// An OPEN carrying `capabilities` in one optional parameter; the AS
    /// field is AS_TRANS when `asn` needs 4 octets (RFC 6793 §4.1).
    pub fn new(
        asn: u32,
        hold_time: u16,
        bgp_identifier: Ipv4Addr,
        capabilities: Vec<Capability>,
    ) -> Open {
        Open {
            version: 4,
            my_as: u16::try_from(asn).unwrap_or(crate::attribute::AS_TRANS as u16),
            hold_time,
            bgp_identifier,
            parameters: vec![OptionalParameter::Capabilities(capabilities)],
            extended_parameters: false,
        }
    }

    /// Every capability, across all parameters.
    pub fn capabilities(&self) -> impl Iterator<Item = &Capability> {
        self.parameters.iter().flat_map(|p| match p {
            OptionalParameter::Capabilities(c) => c.as_slice(),
            OptionalParameter::Other { .. } => &[],
        })
    }

    /// The speaker's AS: from the 4-octet AS capability when present.
    pub fn asn(&self) -> u32 {
        self.capabilities()
            .find_map(|c| match c {
                Capability::FourOctetAs { asn } => Some(*asn),
                _ => None,
            })
            .unwrap_or(self.my_as as u32)
    }

    /// Decodes an OPEN body and checks what RFC 4271 §6.2 checks without
    /// session configuration: version, hold time, identifier and the
    /// optional parameters' syntax.
    pub fn decode(body: &[u8]) -> Result<Open, MessageError> {
        if body.len() < 10 {
            return Err(MessageError::header(
                crate::iana::notification::header::BAD_MESSAGE_LENGTH,
                ((body.len() + 19) as u16).to_be_bytes(),
                format!("OPEN of {} octets is shorter than 29", body.len() + 19),
            ));
        }
        let version = body[0];
        if version != 4 {
            return Err(MessageError::open(
                subcode::UNSUPPORTED_VERSION_NUMBER,
                4u16.to_be_bytes(),
                format!("BGP version {version}, only 4 is supported"),
            ));
        }
        let my_as = u16::from_be_bytes([body[1], body[2]]);
        let hold_time = u16::from_be_bytes([body[3], body[4]]);
        if hold_time == 1 || hold_time == 2 {
            return Err(MessageError::open(
                subcode::UNACCEPTABLE_HOLD_TIME,
                Vec::new(),
                format!("hold time {hold_time} s: must be 0 or at least 3"),
            ));
        }
        let bgp_identifier = Ipv4Addr::new(body[5], body[6], body[7], body[8]);
        if bgp_identifier.is_unspecified() {
            // RFC 6286 §2.2: the identifier must be non-zero.
            return Err(MessageError::open(
                subcode::BAD_BGP_IDENTIFIER,
                Vec::new(),
                "BGP identifier 0.0.0.0".to_string(),
            ));
        }
        let mut opt_len = body[9] as usize;
        let mut rest = &body[10..];
        let mut extended = false;
        // RFC 9072 §2: Non-Ext OP Len 255 followed by Non-Ext OP Type 255.
        if opt_len == 255 && rest.first() == Some(&open_param::EXTENDED_LENGTH) {
            if rest.len() < 3 {
                return Err(bad_params("extended optional parameters length truncated"));
            }
            opt_len = u16::from_be_bytes([rest[1], rest[2]]) as usize;
            rest = &rest[3..];
            extended = true;
        }
        if rest.len() != opt_len {
            return Err(bad_params(&format!(
                "optional parameters length {opt_len} but {} octets follow",
                rest.len()
            )));
        }
        let mut parameters = Vec::new();
        let head = if extended { 3 } else { 2 };
        while !rest.is_empty() {
            if rest.len() < head {
                return Err(bad_params("optional parameter header truncated"));
            }
            let kind = rest[0];
            let len = if extended {
                u16::from_be_bytes([rest[1], rest[2]]) as usize
            } else {
                rest[1] as usize
            };
            if rest.len() < head + len {
                return Err(bad_params(&format!(
                    "optional parameter type {kind} length {len} overruns the OPEN"
                )));
            }
            let value = &rest[head..head + len];
            rest = &rest[head + len..];
            if kind != open_param::CAPABILITIES {
                return Err(MessageError::open(
                    subcode::UNSUPPORTED_OPTIONAL_PARAMETER,
                    Vec::new(),
                    format!("optional parameter type {kind} is not supported"),
                ));
            }
            parameters.push(OptionalParameter::Capabilities(decode_capabilities(value)?));
        }
        Ok(Open {
            version,
            my_as,
            hold_time,
            bgp_identifier,
            parameters,
            extended_parameters: extended,
        })
    }

    /// Writes the OPEN body. The RFC 9072 form is used when the
    /// parameters do not fit the one-octet lengths, or when
    /// `extended_parameters` asks for it.
    pub fn encode_body(&self, buf: &mut BytesMut) {
        let mut params = BytesMut::new();
        let encode_params = |extended: bool, params: &mut BytesMut| {
            params.clear();
            for p in &self.parameters {
                let (kind, value) = match p {
                    OptionalParameter::Capabilities(caps) => {
                        let mut v = BytesMut::new();
                        caps.iter().for_each(|c| c.encode(&mut v));
                        (open_param::CAPABILITIES, v)
                    }
                    OptionalParameter::Other { kind, value } => (*kind, BytesMut::from(&value[..])),
                };
                params.put_u8(kind);
                if extended {
                    params.put_u16(value.len() as u16);
                } else {
                    params.put_u8(value.len() as u8);
                }
                params.put_slice(&value);
            }
        };
        let mut extended = self.extended_parameters;
        if !extended {
            let too_long = self.parameters.iter().any(|p| match p {
                OptionalParameter::Capabilities(caps) => {
                    caps.iter().map(|c| 2 + capability_len(c)).sum::<usize>() > 255
                }
                OptionalParameter::Other { value, .. } => value.len() > 255,
            });
            encode_params(false, &mut params);
            extended = too_long || params.len() > 254;
        }
        if extended {
            encode_params(true, &mut params);
        }
        buf.put_u8(self.version);
        buf.put_u16(self.my_as);
        buf.put_u16(self.hold_time);
        buf.put_slice(&self.bgp_identifier.octets());
        if extended {
            buf.put_u8(255);
            buf.put_u8(open_param::EXTENDED_LENGTH);
            buf.put_u16(params.len() as u16);
        } else {
            buf.put_u8(params.len() as u8);
        }
        buf.put_slice(&params);
    }
}

fn capability_len(c: &Capability) -> usize {
    let mut b = BytesMut::new();
    c.encode(&mut b);
    b.len() - 2
}

fn bad_params(reason: &str) -> MessageError {
    // RFC 4271 §6.2 names no subcode for a malformed parameter list; like
    // other implementations, answer with OPEN Message Error, subcode 0.
    MessageError::open(0, Vec::new(), reason.to_string())
}

fn decode_capabilities(mut value: &[u8]) -> Result<Vec<Capability>, MessageError> {
    let mut caps = Vec::new();
    while !value.is_empty() {
        if value.len() < 2 {
            return Err(bad_params("capability header truncated"));
        }
        let code = value[0];
        let len = value[1] as usize;
        if value.len() < 2 + len {
            return Err(bad_params(&format!(
                "capability {code} length {len} overruns its parameter"
            )));
        }
        let cap =
            Capability::decode(code, &value[2..2 + len]).map_err(|reason| bad_params(&reason))?;
        caps.push(cap);
        value = &value[2 + len..];
    }
    Ok(caps)
}

impl fmt::Display for Open {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "OPEN version {} as {} hold-time {} id {}",
            self.version,
            self.asn(),
            self.hold_time,
            self.bgp_identifier
        )
    }
}
