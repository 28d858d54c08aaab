//! The BFD Control packet (RFC 5880 §4.1): decode with every reception
//! check of §6.8.6 that needs no session, encode into 24 octets.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       My Discriminator                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Your Discriminator                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Desired Min TX Interval                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                   Required Min RX Interval                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Required Min Echo RX Interval                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Ferry runs BFD without authentication: a packet with the A bit is
//! discarded (§6.8.6: "If the A bit is set and no authentication is in
//! use … the packet MUST be discarded"), and the protection is the TTL
//! check of RFC 5881 §5 on single-hop sessions.

use std::fmt;

/// The length of a Control packet without authentication.
pub const PACKET_LEN: usize = 24;

/// A session state (§4.1 "Sta"); `show bfd session` shows it by name.
pub use ferry_control::BfdState as State;

fn state_from_bits(b: u8) -> State {
    match b & 3 {
        0 => State::AdminDown,
        1 => State::Down,
        2 => State::Init,
        _ => State::Up,
    }
}

fn state_bits(s: State) -> u8 {
    match s {
        State::AdminDown => 0,
        State::Down => 1,
        State::Init => 2,
        State::Up => 3,
    }
}

/// A diagnostic code (§4.1 "Diag").
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Diagnostic {
    None,
    ControlDetectionTimeExpired,
    EchoFunctionFailed,
    NeighborSignaledSessionDown,
    ForwardingPlaneReset,
    PathDown,
    ConcatenatedPathDown,
    AdministrativelyDown,
    ReverseConcatenatedPathDown,
    /// 9–31: reserved for future use; kept as received.
    Reserved(u8),
}

impl Diagnostic {
    fn from_bits(b: u8) -> Diagnostic {
        match b & 0x1f {
            0 => Diagnostic::None,
            1 => Diagnostic::ControlDetectionTimeExpired,
            2 => Diagnostic::EchoFunctionFailed,
            3 => Diagnostic::NeighborSignaledSessionDown,
            4 => Diagnostic::ForwardingPlaneReset,
            5 => Diagnostic::PathDown,
            6 => Diagnostic::ConcatenatedPathDown,
            7 => Diagnostic::AdministrativelyDown,
            8 => Diagnostic::ReverseConcatenatedPathDown,
            n => Diagnostic::Reserved(n),
        }
    }

    fn bits(self) -> u8 {
        match self {
            Diagnostic::None => 0,
            Diagnostic::ControlDetectionTimeExpired => 1,
            Diagnostic::EchoFunctionFailed => 2,
            Diagnostic::NeighborSignaledSessionDown => 3,
            Diagnostic::ForwardingPlaneReset => 4,
            Diagnostic::PathDown => 5,
            Diagnostic::ConcatenatedPathDown => 6,
            Diagnostic::AdministrativelyDown => 7,
            Diagnostic::ReverseConcatenatedPathDown => 8,
            Diagnostic::Reserved(n) => n & 0x1f,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Diagnostic::None => f.write_str("None"),
            Diagnostic::ControlDetectionTimeExpired => {
                f.write_str("Control Detection Time Expired")
            }
            Diagnostic::EchoFunctionFailed => f.write_str("Echo Function Failed"),
            Diagnostic::NeighborSignaledSessionDown => {
                f.write_str("Neighbor Signaled Session Down")
            }
            Diagnostic::ForwardingPlaneReset => f.write_str("Forwarding Plane Reset"),
            Diagnostic::PathDown => f.write_str("Path Down"),
            Diagnostic::ConcatenatedPathDown => f.write_str("Concatenated Path Down"),
            Diagnostic::AdministrativelyDown => f.write_str("Administratively Down"),
            Diagnostic::ReverseConcatenatedPathDown => {
                f.write_str("Reverse Concatenated Path Down")
            }
            Diagnostic::Reserved(n) => write!(f, "reserved ({n})"),
        }
    }
}

/// A Control packet, without authentication section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlPacket {
    pub diagnostic: Diagnostic,
    pub state: State,
    /// P: the sender starts a Poll Sequence.
    pub poll: bool,
    /// F: the answer to a Poll.
    pub fin: bool,
    /// C: the sender's BFD does not share fate with its control plane.
    pub control_plane_independent: bool,
    /// D: Demand mode (Ferry never asks for it).
    pub demand: bool,
    pub detect_mult: u8,
    pub my_discriminator: u32,
    pub your_discriminator: u32,
    /// Microseconds.
    pub desired_min_tx: u32,
    /// Microseconds.
    pub required_min_rx: u32,
    /// Microseconds; Ferry sends 0 (no Echo function).
    pub required_min_echo_rx: u32,
}

/// Why a received packet is discarded (RFC 5880 §6.8.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("{0} octets: shorter than a BFD Control packet (24)")]
    Short(usize),
    #[error("version {0}: only version 1 exists")]
    Version(u8),
    #[error("length field {length} with {received} octets received")]
    Length { length: u8, received: usize },
    #[error("authentication present (A bit): Ferry runs BFD without authentication")]
    Authentication,
    #[error("Detect Mult is zero")]
    ZeroDetectMult,
    #[error("Multipoint (M) bit set")]
    Multipoint,
    #[error("My Discriminator is zero")]
    ZeroMyDiscriminator,
    #[error("Your Discriminator is zero in state {0}")]
    ZeroYourDiscriminator(State),
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl ControlPacket {
    /// Decodes a received packet, applying the checks of §6.8.6 that do
    /// not need the session. Never panics.
    pub fn decode(b: &[u8]) -> Result<ControlPacket, PacketError> {
        if b.len() < PACKET_LEN {
            return Err(PacketError::Short(b.len()));
        }
        let version = b[0] >> 5;
        if version != 1 {
            return Err(PacketError::Version(version));
        }
        let flags = b[1];
        let length = b[3];
        let auth = flags & 0x04 != 0;
        let min = if auth { 26 } else { PACKET_LEN };
        if (length as usize) < min || length as usize > b.len() {
            return Err(PacketError::Length {
                length,
                received: b.len(),
            });
        }
        if auth {
            return Err(PacketError::Authentication);
        }
        let p = ControlPacket {
            diagnostic: Diagnostic::from_bits(b[0]),
            state: state_from_bits(flags >> 6),
            poll: flags & 0x20 != 0,
            fin: flags & 0x10 != 0,
            control_plane_independent: flags & 0x08 != 0,
            demand: flags & 0x02 != 0,
            detect_mult: b[2],
            my_discriminator: be32(b, 4),
            your_discriminator: be32(b, 8),
            desired_min_tx: be32(b, 12),
            required_min_rx: be32(b, 16),
            required_min_echo_rx: be32(b, 20),
        };
        if p.detect_mult == 0 {
            return Err(PacketError::ZeroDetectMult);
        }
        if flags & 0x01 != 0 {
            return Err(PacketError::Multipoint);
        }
        if p.my_discriminator == 0 {
            return Err(PacketError::ZeroMyDiscriminator);
        }
        if p.your_discriminator == 0 && !matches!(p.state, State::Down | State::AdminDown) {
            return Err(PacketError::ZeroYourDiscriminator(p.state));
        }
        Ok(p)
    }

    /// The 24 octets on the wire.
    pub fn encode(&self) -> [u8; PACKET_LEN] {
        let mut b = [0u8; PACKET_LEN];
        b[0] = (1 << 5) | self.diagnostic.bits();
        b[1] = (state_bits(self.state) << 6)
            | (u8::from(self.poll) << 5)
            | (u8::from(self.fin) << 4)
            | (u8::from(self.control_plane_independent) << 3)
            | (u8::from(self.demand) << 1);
        b[2] = self.detect_mult;
        b[3] = PACKET_LEN as u8;
        b[4..8].copy_from_slice(&self.my_discriminator.to_be_bytes());
        b[8..12].copy_from_slice(&self.your_discriminator.to_be_bytes());
        b[12..16].copy_from_slice(&self.desired_min_tx.to_be_bytes());
        b[16..20].copy_from_slice(&self.required_min_rx.to_be_bytes());
        b[20..24].copy_from_slice(&self.required_min_echo_rx.to_be_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ControlPacket {
        ControlPacket {
            diagnostic: Diagnostic::ControlDetectionTimeExpired,
            state: State::Up,
            poll: true,
            fin: false,
            control_plane_independent: false,
            demand: false,
            detect_mult: 3,
            my_discriminator: 0x0102_0304,
            your_discriminator: 0x0a0b_0c0d,
            desired_min_tx: 100_000,
            required_min_rx: 100_000,
            required_min_echo_rx: 0,
        }
    }

    #[test]
    fn round_trips() {
        let p = sample();
        let b = p.encode();
        assert_eq!(b[0], 0x21);
        assert_eq!(b[1], 0xe0);
        assert_eq!(b[3], 24);
        assert_eq!(ControlPacket::decode(&b), Ok(p));
    }

    /// A first packet as a peer sends it, built by hand from RFC 5880
    /// §4.1: Down, C bit, Your Discriminator 0, 1 s slow-start transmit
    /// interval (§6.8.3), 300 ms receive, 50 ms Echo.
    #[test]
    fn decodes_a_down_packet() {
        let b = [
            0x20, 0x48, 0x03, 0x18, 0x5a, 0x1b, 0x7e, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0f,
            0x42, 0x40, 0x00, 0x04, 0x93, 0xe0, 0x00, 0x00, 0xc3, 0x50,
        ];
        let p = ControlPacket::decode(&b).unwrap();
        assert_eq!(p.state, State::Down);
        assert!(p.control_plane_independent);
        assert_eq!(p.your_discriminator, 0);
        assert_eq!(p.desired_min_tx, 1_000_000);
        assert_eq!(p.required_min_rx, 300_000);
        assert_eq!(p.required_min_echo_rx, 50_000);
    }

    #[test]
    fn rejects_what_section_6_8_6_discards() {
        let good = sample().encode();
        let mut b = good;
        b[0] = 0x41;
        assert_eq!(ControlPacket::decode(&b), Err(PacketError::Version(2)));
        let mut b = good;
        b[3] = 23;
        assert!(matches!(
            ControlPacket::decode(&b),
            Err(PacketError::Length { .. })
        ));
        let mut b = good;
        b[3] = 30;
        assert!(matches!(
            ControlPacket::decode(&b),
            Err(PacketError::Length { .. })
        ));
        let mut b = good;
        b[2] = 0;
        assert_eq!(ControlPacket::decode(&b), Err(PacketError::ZeroDetectMult));
        let mut b = good;
        b[1] |= 1;
        assert_eq!(ControlPacket::decode(&b), Err(PacketError::Multipoint));
        let mut b = good;
        b[4..8].fill(0);
        assert_eq!(
            ControlPacket::decode(&b),
            Err(PacketError::ZeroMyDiscriminator)
        );
        let mut b = good;
        b[8..12].fill(0);
        assert_eq!(
            ControlPacket::decode(&b),
            Err(PacketError::ZeroYourDiscriminator(State::Up))
        );
        let mut long = good.to_vec();
        long.extend_from_slice(&[1, 2, 0, 0]);
        long[1] |= 0x04;
        long[3] = 28;
        assert_eq!(
            ControlPacket::decode(&long),
            Err(PacketError::Authentication)
        );
        assert_eq!(
            ControlPacket::decode(&good[..10]),
            Err(PacketError::Short(10))
        );
    }

    /// Every input of every length up to 40 octets, from a simple
    /// generator: decode returns, never panics, and what it accepts
    /// encodes back to its first 24 octets (flags it ignores aside).
    #[test]
    fn never_panics() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 0..40usize {
            for _ in 0..2000 {
                let mut b = vec![0u8; len];
                for o in b.iter_mut() {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    *o = x as u8;
                }
                if len >= 4 {
                    // Make acceptance likely enough to exercise encode.
                    b[0] = (b[0] & 0x1f) | 0x20;
                    b[1] &= !0x05;
                    b[3] = 24;
                }
                if let Ok(p) = ControlPacket::decode(&b) {
                    let e = p.encode();
                    assert_eq!(&e[4..], &b[4..24]);
                }
            }
        }
    }
}
