//! `show bfd session`.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// A BFD session state (RFC 5880 §4.1 "Sta"), by its RFC name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BfdState {
    AdminDown,
    Down,
    Init,
    Up,
}

impl fmt::Display for BfdState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BfdState::AdminDown => "AdminDown",
            BfdState::Down => "Down",
            BfdState::Init => "Init",
            BfdState::Up => "Up",
        })
    }
}

/// One neighbour's BFD session, as `bgpctl show bfd session` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BfdSessionInfo {
    pub address: IpAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_address: Option<IpAddr>,
    pub state: BfdState,
    pub remote_state: BfdState,
    pub multihop: bool,
    pub local_diagnostic: String,
    pub local_discriminator: u32,
    pub remote_discriminator: u32,
    /// The configured minimum interval.
    pub minimum_interval_ms: u32,
    /// The interval between our packets now.
    pub transmit_interval_ms: u32,
    /// The interval agreed for the peer's packets.
    pub receive_interval_ms: u32,
    pub multiplier: u8,
    pub remote_multiplier: u8,
    /// How long without a packet before the session goes Down.
    pub detection_time_ms: u64,
    /// Seconds Up, while Up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_secs: Option<u64>,
    /// Seconds since the last state change.
    pub last_change_secs: u64,
    /// Times the session left Up.
    pub flaps: u64,
    /// The peer's C bit.
    pub remote_control_plane_independent: bool,
}
