//! BGP messages (RFC 4271 §4): the common header, framing of a byte stream
//! into messages, and the message types.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                                                               +
//! |                           Marker                              |
//! +                                                               +
//! |                        (16 octets of 1)                       |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Length               |      Type     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

pub mod capability;
pub mod notification;
pub mod open;
pub mod route_refresh;
pub mod update;

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::context::{DecodeContext, EncodeContext, MAX_EXTENDED_MESSAGE_LEN};
use crate::error::{EncodeError, MessageError};
use crate::iana::{message_type, notification::header};
pub use capability::{AddPathMode, Capability, GracefulRestartFamily};
pub use notification::Notification;
pub use open::{Open, OptionalParameter};
pub use route_refresh::{RefreshSubtype, RouteRefresh};
pub use update::{NlriNotes, Update};

/// Length of the common header.
pub const HEADER_LEN: usize = 19;
/// The 16-octet marker of every message (RFC 4271 §4.1).
pub const MARKER: [u8; 16] = [0xff; 16];

/// Where a message being written starts: [`MessageStart::begin`] writes
/// the header with its length left at zero, [`MessageStart::finish`] sets
/// it once the body is written.
#[derive(Clone, Copy, Debug)]
#[must_use = "the message length is set by finish"]
pub struct MessageStart(usize);

impl MessageStart {
    /// Writes the header of a message of type `kind`: marker, length, type.
    pub fn begin(buf: &mut BytesMut, kind: u8) -> MessageStart {
        let start = buf.len();
        buf.put_slice(&MARKER);
        buf.put_u16(0);
        buf.put_u8(kind);
        MessageStart(start)
    }

    /// Where the message starts in the buffer.
    pub fn offset(self) -> usize {
        self.0
    }

    /// Octets written so far, header included.
    pub fn len(self, buf: &BytesMut) -> usize {
        buf.len() - self.0
    }

    /// Sets the header's length to the octets written since it began.
    pub fn finish(self, buf: &mut BytesMut) {
        let len = self.len(buf);
        buf[self.0 + 16..self.0 + 18].copy_from_slice(&(len as u16).to_be_bytes());
    }
}

/// One BGP message.
///
/// UPDATE is the large variant; it is not boxed because messages are
/// decoded one at a time on the hot path and an allocation per UPDATE would
/// cost more than the moves it saves.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum Message {
    Open(Open),
    Update(Update),
    Notification(Notification),
    Keepalive,
    RouteRefresh(RouteRefresh),
}

/// Looks at the start of a byte stream. Returns the length of the first
/// message when all of it is in `buf`, `None` when more octets are needed,
/// or the Message Header Error that RFC 4271 §6.1 requires.
pub fn frame_length(buf: &[u8], max_len: usize) -> Result<Option<usize>, MessageError> {
    if buf.len() < HEADER_LEN {
        // A wrong marker can be seen before the header is complete.
        if buf.iter().take(16).any(|b| *b != 0xff) {
            return Err(not_synchronized());
        }
        return Ok(None);
    }
    if buf[..16] != MARKER {
        return Err(not_synchronized());
    }
    let len = u16::from_be_bytes([buf[16], buf[17]]) as usize;
    if len < HEADER_LEN || len > max_len {
        return Err(MessageError::header(
            header::BAD_MESSAGE_LENGTH,
            [buf[16], buf[17]],
            format!("message length {len} outside {HEADER_LEN}..={max_len}"),
        ));
    }
    Ok((buf.len() >= len).then_some(len))
}

fn not_synchronized() -> MessageError {
    MessageError::header(
        header::CONNECTION_NOT_SYNCHRONIZED,
        Vec::new(),
        "marker is not 16 octets of 0xff",
    )
}

impl Message {
    /// Decodes exactly one whole message, header included.
    pub fn decode(msg: &[u8], ctx: &DecodeContext) -> Result<Message, MessageError> {
        let len = match frame_length(msg, MAX_EXTENDED_MESSAGE_LEN.max(ctx.max_message_len()))? {
            Some(len) => len,
            None => {
                return Err(MessageError::header(
                    header::BAD_MESSAGE_LENGTH,
                    msg.get(16..18).map(|b| b.to_vec()).unwrap_or_default(),
                    format!("message truncated: {} octets", msg.len()),
                ))
            }
        };
        if len != msg.len() {
            return Err(MessageError::header(
                header::BAD_MESSAGE_LENGTH,
                [msg[16], msg[17]],
                format!("length field {len} but {} octets given", msg.len()),
            ));
        }
        if len > ctx.max_message_len() {
            return Err(MessageError::header(
                header::BAD_MESSAGE_LENGTH,
                [msg[16], msg[17]],
                format!(
                    "message length {len} exceeds {} (extended messages not negotiated)",
                    ctx.max_message_len()
                ),
            ));
        }
        let kind = msg[18];
        let body = &msg[HEADER_LEN..];
        let bad_length = |min: usize| {
            MessageError::header(
                header::BAD_MESSAGE_LENGTH,
                [msg[16], msg[17]],
                format!("length {len} is too short for message type {kind} (minimum {min})"),
            )
        };
        Ok(match kind {
            message_type::OPEN => {
                if len < 29 {
                    return Err(bad_length(29));
                }
                Message::Open(Open::decode(body)?)
            }
            message_type::UPDATE => {
                if len < 23 {
                    return Err(bad_length(23));
                }
                Message::Update(Update::decode(body, ctx)?)
            }
            message_type::NOTIFICATION => {
                if len < 21 {
                    return Err(bad_length(21));
                }
                Message::Notification(Notification::decode(body)?)
            }
            message_type::KEEPALIVE => {
                if len != HEADER_LEN {
                    return Err(MessageError::header(
                        header::BAD_MESSAGE_LENGTH,
                        [msg[16], msg[17]],
                        format!("KEEPALIVE of length {len}, 19 required"),
                    ));
                }
                Message::Keepalive
            }
            message_type::ROUTE_REFRESH => Message::RouteRefresh(RouteRefresh::decode(body, msg)?),
            other => {
                return Err(MessageError::header(
                    header::BAD_MESSAGE_TYPE,
                    [other],
                    format!("message type {other} is not defined"),
                ))
            }
        })
    }

    pub fn type_code(&self) -> u8 {
        match self {
            Message::Open(_) => message_type::OPEN,
            Message::Update(_) => message_type::UPDATE,
            Message::Notification(_) => message_type::NOTIFICATION,
            Message::Keepalive => message_type::KEEPALIVE,
            Message::RouteRefresh(_) => message_type::ROUTE_REFRESH,
        }
    }

    /// Appends the whole message to `buf`. Fails, leaving `buf` as it was,
    /// when the message exceeds the session's maximum length.
    pub fn encode(&self, ctx: &EncodeContext, buf: &mut BytesMut) -> Result<(), EncodeError> {
        let start = MessageStart::begin(buf, self.type_code());
        match self {
            Message::Open(o) => o.encode_body(buf),
            Message::Update(u) => u.encode_body(ctx, buf),
            Message::Notification(n) => n.encode_body(buf),
            Message::Keepalive => {}
            Message::RouteRefresh(r) => r.encode_body(buf),
        }
        let len = start.len(buf);
        // OPEN and KEEPALIVE are limited to 4096 octets whatever was
        // negotiated (RFC 8654 §4).
        let max = match self {
            Message::Open(_) | Message::Keepalive => crate::context::MAX_MESSAGE_LEN,
            _ => ctx.max_message_len(),
        };
        if len > max {
            buf.truncate(start.offset());
            return Err(EncodeError::MessageTooLong { length: len, max });
        }
        start.finish(buf);
        Ok(())
    }

    /// The whole message as bytes.
    pub fn to_bytes(&self, ctx: &EncodeContext) -> Result<Bytes, EncodeError> {
        let mut buf = BytesMut::with_capacity(64);
        self.encode(ctx, &mut buf)?;
        Ok(buf.freeze())
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::Open(o) => write!(f, "{o}"),
            Message::Update(u) => write!(f, "{u}"),
            Message::Notification(n) => write!(f, "{n}"),
            Message::Keepalive => f.write_str("KEEPALIVE"),
            Message::RouteRefresh(r) => write!(f, "{r}"),
        }
    }
}
