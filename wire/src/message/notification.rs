//! NOTIFICATION (RFC 4271 §4.5), with the Shutdown Communication of
//! RFC 9003 for Cease / Administrative Shutdown and Administrative Reset.

use std::fmt;

use bytes::{BufMut, BytesMut};

use crate::error::{error_name, MessageError};
use crate::iana::notification::{cease, CEASE};

/// The NOTIFICATION message body.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Error code    | Error subcode |   Data (variable)             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///
/// RFC 9003, Cease subcodes 2 and 4: Data is
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Length        | Shutdown Communication (UTF-8, Length octets) |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Notification {
    pub code: u8,
    pub subcode: u8,
    #[serde(serialize_with = "hex")]
    pub data: Vec<u8>,
}

fn hex<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&v.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

impl Notification {
    pub fn new(code: u8, subcode: u8, data: Vec<u8>) -> Notification {
        Notification {
            code,
            subcode,
            data,
        }
    }

    /// Cease with a Shutdown Communication (RFC 9003 §2). The text is cut
    /// at 255 octets, on a character boundary.
    pub fn cease_with_message(subcode: u8, message: &str) -> Notification {
        let mut end = message.len().min(255);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let text = &message.as_bytes()[..end];
        let mut data = Vec::with_capacity(1 + text.len());
        if !text.is_empty() {
            data.push(text.len() as u8);
            data.extend_from_slice(text);
        }
        Notification::new(CEASE, subcode, data)
    }

    /// The Shutdown Communication, when this is a Cease / Administrative
    /// Shutdown or Reset carrying a well-formed one.
    pub fn shutdown_communication(&self) -> Option<&str> {
        if self.code != CEASE
            || !matches!(
                self.subcode,
                cease::ADMINISTRATIVE_SHUTDOWN | cease::ADMINISTRATIVE_RESET
            )
        {
            return None;
        }
        let (&len, text) = self.data.split_first()?;
        if len as usize != text.len() || text.is_empty() {
            return None;
        }
        std::str::from_utf8(text).ok()
    }

    /// The code and subcode in words.
    pub fn name(&self) -> &'static str {
        error_name(self.code, self.subcode)
    }

    pub fn decode(body: &[u8]) -> Result<Notification, MessageError> {
        if body.len() < 2 {
            return Err(MessageError::header(
                crate::iana::notification::header::BAD_MESSAGE_LENGTH,
                ((body.len() + 19) as u16).to_be_bytes(),
                format!(
                    "NOTIFICATION of {} octets is shorter than 21",
                    body.len() + 19
                ),
            ));
        }
        Ok(Notification::new(body[0], body[1], body[2..].to_vec()))
    }

    pub fn encode_body(&self, buf: &mut BytesMut) {
        buf.put_u8(self.code);
        buf.put_u8(self.subcode);
        buf.put_slice(&self.data);
    }
}

impl From<&MessageError> for Notification {
    fn from(e: &MessageError) -> Self {
        Notification::new(e.code, e.subcode, e.data.clone())
    }
}

impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "NOTIFICATION {}/{} {}",
            self.code,
            self.subcode,
            self.name()
        )?;
        if let Some(text) = self.shutdown_communication() {
            write!(f, ": \"{text}\"")
        } else if !self.data.is_empty() {
            f.write_str(" data ")?;
            self.data.iter().try_for_each(|b| write!(f, "{b:02x}"))
        } else {
            Ok(())
        }
    }
}
