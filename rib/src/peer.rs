//! What the RIB knows of a peer: how it relates to us (RFC 4456 client,
//! non-client, external), what was negotiated, and its counters.

use std::net::{IpAddr, Ipv4Addr};

use ferry_wire::{EncodeContext, Family, FamilySet};

/// A peer's index in the RIB; [`LOCAL`] is this speaker's own routes.
pub type PeerId = u32;

/// The source of locally originated routes.
pub const LOCAL: PeerId = 0;

/// How a peer relates to this speaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// iBGP peer that is a route reflector client (RFC 4456 §2).
    Client,
    /// iBGP peer that is not a client (another reflector, or our reflector
    /// when we are a client).
    NonClient,
    /// eBGP peer.
    External,
}

/// A peer as the RIB sees it once its session is established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    pub role: Role,
    /// The peer's AS.
    pub asn: u32,
    /// The peer's BGP identifier (RFC 4271 §9.1.2.2 f; RFC 4456 ORIGINATOR_ID).
    pub router_id: Ipv4Addr,
    /// The peer's address (the last tie-breaker, RFC 4271 §9.1.2.2 g).
    pub address: IpAddr,
    /// Our address on the session (next hop for eBGP unicast).
    pub local_address: IpAddr,
    /// Families negotiated on the session.
    pub families: FamilySet,
    /// How to write messages for this session.
    pub encode: EncodeContext,
    /// Both sides announced enhanced route refresh (RFC 7313).
    pub enhanced_refresh: bool,
}

/// Per-family route counts of one peer, as `show bgp summary` prints
/// them: Active/Received/Accepted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct FamilyCounts {
    /// Paths of this peer selected as best.
    pub active: u64,
    /// Paths held from this peer (Adj-RIB-In).
    pub received: u64,
    /// Paths eligible for selection (not rejected as loops).
    pub accepted: u64,
}

/// Counters of one peer, per family in [`Family::SUPPORTED`] order.
#[derive(Clone, Debug, Default)]
pub struct PeerCounters {
    pub families: [FamilyCounts; Family::SUPPORTED.len()],
    /// UPDATEs whose routes were treated as withdrawn (RFC 7606).
    pub treat_as_withdraw: u64,
    /// ROUTE-REFRESH requests folded into one for the same family still
    /// pending.
    pub refresh_coalesced: u64,
}

impl PeerCounters {
    pub fn family(&mut self, f: Family) -> Option<&mut FamilyCounts> {
        let i = Family::SUPPORTED.iter().position(|x| *x == f)?;
        Some(&mut self.families[i])
    }

    pub fn get(&self, f: Family) -> FamilyCounts {
        Family::SUPPORTED
            .iter()
            .position(|x| *x == f)
            .map(|i| self.families[i])
            .unwrap_or_default()
    }
}

/// A registered peer.
#[derive(Clone, Debug)]
pub struct PeerState {
    pub info: PeerInfo,
    pub counters: PeerCounters,
    /// The session is down and the peer restarting (RFC 4724 §4.2): its
    /// paths are kept, stale, and it gets no updates.
    pub restarting: bool,
    /// Families whose paths from this peer are stale until its End-of-RIB.
    pub stale: ferry_wire::FamilySet,
}
