//! What was negotiated on a session and changes how messages are read and
//! written: 4-octet AS numbers (RFC 6793), ADD-PATH (RFC 7911), extended
//! next hop (RFC 8950) and extended messages (RFC 8654).
//!
//! There is no global state: every decode and encode call is handed the
//! context of the session it belongs to.

use crate::iana::Family;

/// The largest BGP message without the extended message capability.
pub const MAX_MESSAGE_LEN: usize = 4096;
/// The largest BGP message with the extended message capability (RFC 8654).
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;

/// A set of address families, as a bit set over [`Family::SUPPORTED`].
/// Families outside that list are never members.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FamilySet(u8);

impl FamilySet {
    pub const EMPTY: FamilySet = FamilySet(0);
    pub const ALL: FamilySet = FamilySet((1 << Family::SUPPORTED.len()) - 1);

    fn bit(family: Family) -> Option<u8> {
        Family::SUPPORTED
            .iter()
            .position(|f| *f == family)
            .map(|i| 1 << i)
    }

    pub fn contains(self, family: Family) -> bool {
        FamilySet::bit(family).is_some_and(|b| self.0 & b != 0)
    }

    pub fn insert(&mut self, family: Family) {
        if let Some(b) = FamilySet::bit(family) {
            self.0 |= b;
        }
    }

    pub fn remove(&mut self, family: Family) {
        if let Some(b) = FamilySet::bit(family) {
            self.0 &= !b;
        }
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Family> {
        Family::SUPPORTED
            .into_iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, f)| f)
    }
}

impl FromIterator<Family> for FamilySet {
    fn from_iter<I: IntoIterator<Item = Family>>(iter: I) -> Self {
        let mut set = FamilySet::EMPTY;
        for f in iter {
            set.insert(f);
        }
        set
    }
}

impl std::fmt::Debug for FamilySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// How to read messages received on one session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DecodeContext {
    /// Both sides announced the 4-octet AS capability: AS_PATH and
    /// AGGREGATOR carry 4-octet AS numbers (RFC 6793 §4.1).
    pub four_octet_as: bool,
    /// Families in which the peer sends ADD-PATH path identifiers
    /// (RFC 7911: we announced receive, it announced send).
    pub add_path: FamilySet,
    /// Both sides announced the extended message capability (RFC 8654).
    pub extended_message: bool,
}

impl Default for DecodeContext {
    /// The context of a session before OPEN: RFC 6793 §4.1 says a speaker
    /// that has not negotiated the capability uses 2-octet AS numbers, but
    /// most tools that show captured messages come from modern speakers, so
    /// the default here is the negotiated case of every current
    /// implementation: 4-octet AS, no add-path, 4096-octet messages.
    fn default() -> Self {
        DecodeContext {
            four_octet_as: true,
            add_path: FamilySet::EMPTY,
            extended_message: false,
        }
    }
}

impl DecodeContext {
    /// The largest message this session accepts.
    pub fn max_message_len(&self) -> usize {
        if self.extended_message {
            MAX_EXTENDED_MESSAGE_LEN
        } else {
            MAX_MESSAGE_LEN
        }
    }
}

/// How to write messages sent on one session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EncodeContext {
    /// Write 4-octet AS numbers in AS_PATH and AGGREGATOR (RFC 6793).
    pub four_octet_as: bool,
    /// Families in which path identifiers are sent (RFC 7911).
    pub add_path: FamilySet,
    /// Messages may be up to 65535 octets (RFC 8654).
    pub extended_message: bool,
}

impl Default for EncodeContext {
    fn default() -> Self {
        EncodeContext {
            four_octet_as: true,
            add_path: FamilySet::EMPTY,
            extended_message: false,
        }
    }
}

impl EncodeContext {
    /// The largest message this session may send.
    pub fn max_message_len(&self) -> usize {
        if self.extended_message {
            MAX_EXTENDED_MESSAGE_LEN
        } else {
            MAX_MESSAGE_LEN
        }
    }

    /// The context the peer uses to read what we write with `self`.
    pub fn as_decode(&self) -> DecodeContext {
        DecodeContext {
            four_octet_as: self.four_octet_as,
            add_path: self.add_path,
            extended_message: self.extended_message,
        }
    }
}
