//! IANA-assigned numbers used on the wire: message types, address families,
//! path attribute type codes, capability codes and NOTIFICATION codes.
//!
//! Every number here is taken from the IANA "Border Gateway Protocol (BGP)
//! Parameters" and "Address Family Numbers" registries; the RFC that assigns
//! each one is named beside it.

use std::fmt;

/// BGP message type codes (RFC 4271 §4.1, RFC 2918).
pub mod message_type {
    pub const OPEN: u8 = 1;
    pub const UPDATE: u8 = 2;
    pub const NOTIFICATION: u8 = 3;
    pub const KEEPALIVE: u8 = 4;
    /// RFC 2918.
    pub const ROUTE_REFRESH: u8 = 5;
}

/// Address Family Identifiers.
pub mod afi {
    pub const IPV4: u16 = 1;
    pub const IPV6: u16 = 2;
    /// RFC 7432.
    pub const L2VPN: u16 = 25;
}

/// Subsequent Address Family Identifiers.
pub mod safi {
    pub const UNICAST: u8 = 1;
    pub const MULTICAST: u8 = 2;
    /// RFC 8277.
    pub const LABELED_UNICAST: u8 = 4;
    /// RFC 7432.
    pub const EVPN: u8 = 70;
    /// RFC 4364 / RFC 4659.
    pub const MPLS_VPN: u8 = 128;
}

/// Path attribute type codes.
pub mod attr {
    pub const ORIGIN: u8 = 1;
    pub const AS_PATH: u8 = 2;
    pub const NEXT_HOP: u8 = 3;
    pub const MULTI_EXIT_DISC: u8 = 4;
    pub const LOCAL_PREF: u8 = 5;
    pub const ATOMIC_AGGREGATE: u8 = 6;
    pub const AGGREGATOR: u8 = 7;
    /// RFC 1997.
    pub const COMMUNITIES: u8 = 8;
    /// RFC 4456.
    pub const ORIGINATOR_ID: u8 = 9;
    /// RFC 4456.
    pub const CLUSTER_LIST: u8 = 10;
    /// RFC 4760.
    pub const MP_REACH_NLRI: u8 = 14;
    /// RFC 4760.
    pub const MP_UNREACH_NLRI: u8 = 15;
    /// RFC 4360.
    pub const EXTENDED_COMMUNITIES: u8 = 16;
    /// RFC 6793.
    pub const AS4_PATH: u8 = 17;
    /// RFC 6793.
    pub const AS4_AGGREGATOR: u8 = 18;
    /// RFC 6514.
    pub const PMSI_TUNNEL: u8 = 22;
    /// RFC 8092.
    pub const LARGE_COMMUNITY: u8 = 32;
}

/// Path attribute flag bits (RFC 4271 §4.3).
pub mod attr_flags {
    pub const OPTIONAL: u8 = 0x80;
    pub const TRANSITIVE: u8 = 0x40;
    pub const PARTIAL: u8 = 0x20;
    pub const EXTENDED_LENGTH: u8 = 0x10;
}

/// Capability codes (RFC 5492 and the RFCs named).
pub mod capability {
    /// RFC 4760.
    pub const MULTIPROTOCOL: u8 = 1;
    /// RFC 2918.
    pub const ROUTE_REFRESH: u8 = 2;
    /// RFC 8950.
    pub const EXTENDED_NEXT_HOP: u8 = 5;
    /// RFC 8654.
    pub const EXTENDED_MESSAGE: u8 = 6;
    /// RFC 4724.
    pub const GRACEFUL_RESTART: u8 = 64;
    /// RFC 6793.
    pub const FOUR_OCTET_AS: u8 = 65;
    /// RFC 7911.
    pub const ADD_PATH: u8 = 69;
    /// RFC 7313.
    pub const ENHANCED_ROUTE_REFRESH: u8 = 70;
}

/// OPEN optional parameter types (RFC 5492, RFC 9072).
pub mod open_param {
    /// RFC 5492.
    pub const CAPABILITIES: u8 = 2;
    /// RFC 9072: marks the extended optional parameters length encoding.
    pub const EXTENDED_LENGTH: u8 = 255;
}

/// NOTIFICATION error codes and subcodes (RFC 4271 §4.5 and §6, with the
/// later RFCs named).
pub mod notification {
    pub const MESSAGE_HEADER_ERROR: u8 = 1;
    pub const OPEN_MESSAGE_ERROR: u8 = 2;
    pub const UPDATE_MESSAGE_ERROR: u8 = 3;
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    pub const FSM_ERROR: u8 = 5;
    pub const CEASE: u8 = 6;
    /// RFC 7313.
    pub const ROUTE_REFRESH_MESSAGE_ERROR: u8 = 7;
    /// RFC 9687: the peer read nothing for the SendHoldTime.
    pub const SEND_HOLD_TIMER_EXPIRED: u8 = 8;

    /// Message Header Error subcodes.
    pub mod header {
        pub const CONNECTION_NOT_SYNCHRONIZED: u8 = 1;
        pub const BAD_MESSAGE_LENGTH: u8 = 2;
        pub const BAD_MESSAGE_TYPE: u8 = 3;
    }
    /// OPEN Message Error subcodes.
    pub mod open {
        pub const UNSUPPORTED_VERSION_NUMBER: u8 = 1;
        pub const BAD_PEER_AS: u8 = 2;
        pub const BAD_BGP_IDENTIFIER: u8 = 3;
        pub const UNSUPPORTED_OPTIONAL_PARAMETER: u8 = 4;
        pub const UNACCEPTABLE_HOLD_TIME: u8 = 6;
        /// RFC 5492.
        pub const UNSUPPORTED_CAPABILITY: u8 = 7;
    }
    /// UPDATE Message Error subcodes.
    pub mod update {
        pub const MALFORMED_ATTRIBUTE_LIST: u8 = 1;
        pub const UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE: u8 = 2;
        pub const MISSING_WELL_KNOWN_ATTRIBUTE: u8 = 3;
        pub const ATTRIBUTE_FLAGS_ERROR: u8 = 4;
        pub const ATTRIBUTE_LENGTH_ERROR: u8 = 5;
        pub const INVALID_ORIGIN_ATTRIBUTE: u8 = 6;
        pub const INVALID_NEXT_HOP_ATTRIBUTE: u8 = 8;
        pub const OPTIONAL_ATTRIBUTE_ERROR: u8 = 9;
        pub const INVALID_NETWORK_FIELD: u8 = 10;
        pub const MALFORMED_AS_PATH: u8 = 11;
    }
    /// Finite State Machine Error subcodes (RFC 6608).
    pub mod fsm {
        pub const UNSPECIFIED: u8 = 0;
        pub const UNEXPECTED_IN_OPENSENT: u8 = 1;
        pub const UNEXPECTED_IN_OPENCONFIRM: u8 = 2;
        pub const UNEXPECTED_IN_ESTABLISHED: u8 = 3;
    }
    /// Cease subcodes (RFC 4486, RFC 8538).
    pub mod cease {
        pub const MAXIMUM_PREFIXES_REACHED: u8 = 1;
        pub const ADMINISTRATIVE_SHUTDOWN: u8 = 2;
        pub const PEER_DECONFIGURED: u8 = 3;
        pub const ADMINISTRATIVE_RESET: u8 = 4;
        pub const CONNECTION_REJECTED: u8 = 5;
        pub const OTHER_CONFIGURATION_CHANGE: u8 = 6;
        pub const CONNECTION_COLLISION_RESOLUTION: u8 = 7;
        pub const OUT_OF_RESOURCES: u8 = 8;
        /// RFC 8538.
        pub const HARD_RESET: u8 = 9;
        /// RFC 9384.
        pub const BFD_DOWN: u8 = 10;
    }
    /// ROUTE-REFRESH Message Error subcodes (RFC 7313).
    pub mod route_refresh {
        pub const INVALID_MESSAGE_LENGTH: u8 = 1;
    }
}

/// An address family: AFI and SAFI together (RFC 4760).
///
/// Unknown combinations are representable so that capabilities naming
/// families Ferry does not carry can still be decoded and shown.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Family {
    pub afi: u16,
    pub safi: u8,
}

impl Family {
    pub const IPV4_UNICAST: Family = Family::new(afi::IPV4, safi::UNICAST);
    pub const IPV6_UNICAST: Family = Family::new(afi::IPV6, safi::UNICAST);
    pub const VPNV4: Family = Family::new(afi::IPV4, safi::MPLS_VPN);
    pub const VPNV6: Family = Family::new(afi::IPV6, safi::MPLS_VPN);
    pub const EVPN: Family = Family::new(afi::L2VPN, safi::EVPN);

    /// The families Ferry decodes NLRI for.
    pub const SUPPORTED: [Family; 5] = [
        Family::IPV4_UNICAST,
        Family::IPV6_UNICAST,
        Family::VPNV4,
        Family::VPNV6,
        Family::EVPN,
    ];

    pub const fn new(afi: u16, safi: u8) -> Family {
        Family { afi, safi }
    }

    /// True for the families whose NLRI this codec understands.
    pub fn is_supported(self) -> bool {
        Family::SUPPORTED.contains(&self)
    }

    /// The Junos-style name used in configuration and by `bgpctl`
    /// (`inet`, `inet6`, `inet-vpn`, `inet6-vpn`, `evpn`).
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Family::IPV4_UNICAST => "inet",
            Family::IPV6_UNICAST => "inet6",
            Family::VPNV4 => "inet-vpn",
            Family::VPNV6 => "inet6-vpn",
            Family::EVPN => "evpn",
            _ => return None,
        })
    }

    /// The Junos table name shown by `show bgp summary` (`bgp.l3vpn.0`, …).
    pub fn table_name(self) -> Option<&'static str> {
        Some(match self {
            Family::IPV4_UNICAST => "inet.0",
            Family::IPV6_UNICAST => "inet6.0",
            Family::VPNV4 => "bgp.l3vpn.0",
            Family::VPNV6 => "bgp.l3vpn-inet6.0",
            Family::EVPN => "bgp.evpn.0",
            _ => return None,
        })
    }

    /// Parses a Junos-style family name; also accepts the AFI/SAFI names
    /// other implementations use (`ipv4-unicast`, `l3vpn-ipv4-unicast`,
    /// `l2vpn-evpn`, …).
    pub fn from_name(name: &str) -> Option<Family> {
        Some(match name {
            "inet" | "ipv4" | "ipv4-unicast" => Family::IPV4_UNICAST,
            "inet6" | "ipv6" | "ipv6-unicast" => Family::IPV6_UNICAST,
            "inet-vpn" | "vpnv4" | "l3vpn-ipv4-unicast" => Family::VPNV4,
            "inet6-vpn" | "vpnv6" | "l3vpn-ipv6-unicast" => Family::VPNV6,
            "evpn" | "l2vpn-evpn" => Family::EVPN,
            _ => return None,
        })
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "afi {} safi {}", self.afi, self.safi),
        }
    }
}

impl fmt::Debug for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Family({self})")
    }
}
