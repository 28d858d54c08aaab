//! `ferry-wire`: the BGP-4 and MP-BGP message codec of Ferry.
//!
//! It reads and writes what FRR, GoBGP, BIRD and Junos put on the wire for
//! the families a multi-cluster pod network needs: VPN-IPv4, VPN-IPv6 and
//! EVPN (with IPv4/IPv6 unicast beside them). Decoding uses `nom`, encoding
//! writes into `bytes::BytesMut`; there is no I/O and no global state: each
//! call takes the [`DecodeContext`] or [`EncodeContext`] of its session.
//!
//! Errors carry their RFC answer: a [`MessageError`] is the NOTIFICATION
//! that resets the session (RFC 4271 §6); an [`AttributeError`] in
//! [`Update::errors`] is the RFC 7606 action (attribute discard or
//! treat-as-withdraw) that keeps it. No input makes the codec panic.
//!
//! ```
//! use ferry_wire::{DecodeContext, Message};
//! let keepalive = [0xffu8; 16].iter().copied().chain([0, 19, 4]).collect::<Vec<_>>();
//! assert_eq!(Message::decode(&keepalive, &DecodeContext::default()).unwrap(), Message::Keepalive);
//! ```

#![forbid(unsafe_code)]

pub mod attribute;
pub mod context;
pub mod error;
pub mod iana;
pub mod mac;
pub mod message;
pub mod nlri;

pub use attribute::{
    AsPath, Community, ExtendedCommunity, ExtendedCommunityKind, LargeCommunity, MpReachNlri,
    MpUnreachNlri, NextHop, Origin, PathAttributes, PmsiTunnel, RouteTarget,
};
pub use context::{DecodeContext, EncodeContext, FamilySet};
pub use error::{AttrAction, AttributeError, EncodeError, MessageError};
pub use iana::Family;
pub use mac::MacAddress;
pub use message::{
    frame_length, Capability, Message, NlriNotes, Notification, Open, RouteRefresh, Update,
    HEADER_LEN,
};
pub use nlri::{EvpnRoute, Label, LabelStack, Nlri, NlriEntry, RouteDistinguisher, VpnPrefix};
