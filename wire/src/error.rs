//! Decoding errors and the answers the RFCs require for them.
//!
//! Two kinds of failure exist on the wire:
//!
//! * [`MessageError`]: the session must be reset. It carries the
//!   NOTIFICATION code, subcode and data of RFC 4271 §6 (or of the later RFC
//!   named in `rfc`) that the receiver sends before closing.
//! * [`AttributeError`]: an UPDATE path attribute is malformed but the
//!   session survives, as RFC 7606 requires: the attribute is discarded, or
//!   the whole UPDATE is treated as a withdrawal of the NLRI it carries.
//!
//! RFC 7606 also allows "AFI/SAFI disable" where "session reset" is
//! required; Ferry always chooses session reset, the stronger of the two,
//! because a route reflector with a family silently disabled would hide the
//! fault from every client behind it.

use std::fmt;

use crate::iana::notification as code;

/// A fatal error: the session is reset with this NOTIFICATION.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} (NOTIFICATION {code}/{subcode} {name}, {rfc})")]
pub struct MessageError {
    pub code: u8,
    pub subcode: u8,
    /// The NOTIFICATION data field, as the RFC prescribes for this error.
    pub data: Vec<u8>,
    /// What was wrong, naming the field and the value.
    pub reason: String,
    /// The RFC section that prescribes this answer.
    pub rfc: &'static str,
    /// The error code and subcode in words.
    pub name: &'static str,
}

impl fmt::Debug for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageError({self})")
    }
}

impl MessageError {
    pub fn new(
        code: u8,
        subcode: u8,
        data: impl Into<Vec<u8>>,
        reason: impl Into<String>,
        rfc: &'static str,
    ) -> MessageError {
        MessageError {
            code,
            subcode,
            data: data.into(),
            reason: reason.into(),
            rfc,
            name: error_name(code, subcode),
        }
    }

    /// Message Header Error (RFC 4271 §6.1).
    pub fn header(subcode: u8, data: impl Into<Vec<u8>>, reason: impl Into<String>) -> Self {
        MessageError::new(
            code::MESSAGE_HEADER_ERROR,
            subcode,
            data,
            reason,
            "RFC 4271 §6.1",
        )
    }

    /// OPEN Message Error (RFC 4271 §6.2).
    pub fn open(subcode: u8, data: impl Into<Vec<u8>>, reason: impl Into<String>) -> Self {
        MessageError::new(
            code::OPEN_MESSAGE_ERROR,
            subcode,
            data,
            reason,
            "RFC 4271 §6.2",
        )
    }

    /// UPDATE Message Error (RFC 4271 §6.3) with the section that demands it.
    pub fn update(
        subcode: u8,
        data: impl Into<Vec<u8>>,
        reason: impl Into<String>,
        rfc: &'static str,
    ) -> Self {
        MessageError::new(code::UPDATE_MESSAGE_ERROR, subcode, data, reason, rfc)
    }
}

/// What RFC 7606 tells the receiver to do with a malformed attribute when
/// the session may survive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttrAction {
    /// RFC 7606 §2 "attribute discard": drop the attribute, keep the routes.
    Discard,
    /// RFC 7606 §2 "treat-as-withdraw": every NLRI of the UPDATE is
    /// withdrawn, the session stays up.
    TreatAsWithdraw,
}

impl fmt::Display for AttrAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AttrAction::Discard => "attribute discard",
            AttrAction::TreatAsWithdraw => "treat-as-withdraw",
        })
    }
}

/// A malformed path attribute that does not reset the session.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AttributeError {
    /// The attribute's type code.
    pub type_code: u8,
    pub action: AttrAction,
    /// What was wrong, naming the field and the value.
    pub reason: String,
    /// The RFC section that prescribes the action.
    pub rfc: &'static str,
}

impl fmt::Display for AttributeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "attribute {} ({}): {}: {} ({})",
            self.type_code,
            crate::attribute::type_name(self.type_code),
            self.reason,
            self.action,
            self.rfc
        )
    }
}

/// A failure to encode: the value cannot be put on the wire.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("message of {length} octets exceeds the maximum of {max}")]
    MessageTooLong { length: usize, max: usize },
    #[error("{field} value {value} does not fit on the wire")]
    ValueOutOfRange { field: &'static str, value: String },
}

/// The NOTIFICATION code and subcode in words, as RFC 4271 §4.5 and its
/// successors name them.
pub fn error_name(code: u8, subcode: u8) -> &'static str {
    use code::*;
    match (code, subcode) {
        (MESSAGE_HEADER_ERROR, 1) => "Message Header Error / Connection Not Synchronized",
        (MESSAGE_HEADER_ERROR, 2) => "Message Header Error / Bad Message Length",
        (MESSAGE_HEADER_ERROR, 3) => "Message Header Error / Bad Message Type",
        (MESSAGE_HEADER_ERROR, _) => "Message Header Error",
        (OPEN_MESSAGE_ERROR, 1) => "OPEN Message Error / Unsupported Version Number",
        (OPEN_MESSAGE_ERROR, 2) => "OPEN Message Error / Bad Peer AS",
        (OPEN_MESSAGE_ERROR, 3) => "OPEN Message Error / Bad BGP Identifier",
        (OPEN_MESSAGE_ERROR, 4) => "OPEN Message Error / Unsupported Optional Parameter",
        (OPEN_MESSAGE_ERROR, 6) => "OPEN Message Error / Unacceptable Hold Time",
        (OPEN_MESSAGE_ERROR, 7) => "OPEN Message Error / Unsupported Capability",
        (OPEN_MESSAGE_ERROR, 11) => "OPEN Message Error / Role Mismatch",
        (OPEN_MESSAGE_ERROR, _) => "OPEN Message Error",
        (UPDATE_MESSAGE_ERROR, 1) => "UPDATE Message Error / Malformed Attribute List",
        (UPDATE_MESSAGE_ERROR, 2) => "UPDATE Message Error / Unrecognized Well-known Attribute",
        (UPDATE_MESSAGE_ERROR, 3) => "UPDATE Message Error / Missing Well-known Attribute",
        (UPDATE_MESSAGE_ERROR, 4) => "UPDATE Message Error / Attribute Flags Error",
        (UPDATE_MESSAGE_ERROR, 5) => "UPDATE Message Error / Attribute Length Error",
        (UPDATE_MESSAGE_ERROR, 6) => "UPDATE Message Error / Invalid ORIGIN Attribute",
        (UPDATE_MESSAGE_ERROR, 8) => "UPDATE Message Error / Invalid NEXT_HOP Attribute",
        (UPDATE_MESSAGE_ERROR, 9) => "UPDATE Message Error / Optional Attribute Error",
        (UPDATE_MESSAGE_ERROR, 10) => "UPDATE Message Error / Invalid Network Field",
        (UPDATE_MESSAGE_ERROR, 11) => "UPDATE Message Error / Malformed AS_PATH",
        (UPDATE_MESSAGE_ERROR, _) => "UPDATE Message Error",
        (HOLD_TIMER_EXPIRED, _) => "Hold Timer Expired",
        (FSM_ERROR, 1) => "Finite State Machine Error / Unexpected Message in OpenSent",
        (FSM_ERROR, 2) => "Finite State Machine Error / Unexpected Message in OpenConfirm",
        (FSM_ERROR, 3) => "Finite State Machine Error / Unexpected Message in Established",
        (FSM_ERROR, _) => "Finite State Machine Error",
        (CEASE, 1) => "Cease / Maximum Number of Prefixes Reached",
        (CEASE, 2) => "Cease / Administrative Shutdown",
        (CEASE, 3) => "Cease / Peer De-configured",
        (CEASE, 4) => "Cease / Administrative Reset",
        (CEASE, 5) => "Cease / Connection Rejected",
        (CEASE, 6) => "Cease / Other Configuration Change",
        (CEASE, 7) => "Cease / Connection Collision Resolution",
        (CEASE, 8) => "Cease / Out of Resources",
        (CEASE, 9) => "Cease / Hard Reset",
        (CEASE, 10) => "Cease / BFD Down",
        (CEASE, _) => "Cease",
        (ROUTE_REFRESH_MESSAGE_ERROR, 1) => "ROUTE-REFRESH Message Error / Invalid Message Length",
        (ROUTE_REFRESH_MESSAGE_ERROR, _) => "ROUTE-REFRESH Message Error",
        (SEND_HOLD_TIMER_EXPIRED, _) => "Send Hold Timer Expired",
        _ => "Unknown Error Code",
    }
}

/// The error of the `nom` parsers inside this crate: a reason in words.
/// Every caller maps it to the NOTIFICATION or RFC 7606 action of the field
/// it was reading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fail(pub std::borrow::Cow<'static, str>);

impl<'a> nom::error::ParseError<&'a [u8]> for Fail {
    fn from_error_kind(input: &'a [u8], _kind: nom::error::ErrorKind) -> Self {
        Fail(format!("truncated: {} octets left", input.len()).into())
    }

    fn append(_input: &'a [u8], _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

impl Fail {
    /// A parser failure with this reason.
    pub(crate) fn err<T>(
        reason: impl Into<std::borrow::Cow<'static, str>>,
    ) -> Result<T, nom::Err<Fail>> {
        Err(nom::Err::Error(Fail(reason.into())))
    }

    /// The reason out of any `nom` error.
    pub(crate) fn reason(e: nom::Err<Fail>) -> String {
        match e {
            nom::Err::Error(f) | nom::Err::Failure(f) => f.0.into_owned(),
            nom::Err::Incomplete(_) => "truncated".to_string(),
        }
    }
}

/// The result type of the crate's `nom` parsers.
pub(crate) type Nom<'a, T> = nom::IResult<&'a [u8], T, Fail>;
