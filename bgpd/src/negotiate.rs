//! What an OPEN exchange settles: hold time, families and the capabilities
//! both sides announced (RFC 4271 §4.2, RFC 5492, and the RFCs of each
//! capability).

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};

use ferry_wire::iana::notification::open as subcode;
use ferry_wire::message::Capability;
use ferry_wire::{DecodeContext, EncodeContext, Family, FamilySet, MessageError, Open};

/// True while this speaker is in the restart phase of RFC 4724 §4.1 (it
/// started with graceful restart on and defers route selection): its
/// OPENs set the Restart State (R) bit, so that a peer restarting at the
/// same time does not wait for its End-of-RIB, nor it for the peer's.
/// Set and cleared by the task that owns the RIB; one per process.
static RESTARTING: AtomicBool = AtomicBool::new(false);

/// Marks the start (true) or the end (false) of this speaker's restart phase.
pub fn set_restarting(on: bool) {
    RESTARTING.store(on, Ordering::Relaxed);
}

/// True while this speaker is in its restart phase.
pub fn restarting() -> bool {
    RESTARTING.load(Ordering::Relaxed)
}

/// What this speaker offers and expects on one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalParams {
    pub asn: u32,
    pub router_id: Ipv4Addr,
    pub hold_time: u16,
    /// Families to announce (RFC 4760 multiprotocol capabilities).
    pub families: FamilySet,
    /// The AS the peer must have.
    pub peer_as: u32,
    /// Graceful restart time to announce; `None` announces no graceful
    /// restart capability.
    pub graceful_restart_time: Option<u16>,
}

impl LocalParams {
    /// The OPEN this speaker sends.
    pub fn open(&self) -> Open {
        let mut caps: Vec<Capability> = self
            .families
            .iter()
            .map(|family| Capability::Multiprotocol { family })
            .collect();
        caps.push(Capability::RouteRefresh);
        caps.push(Capability::EnhancedRouteRefresh);
        caps.push(Capability::FourOctetAs { asn: self.asn });
        caps.push(Capability::ExtendedMessage);
        if let Some(time) = self.graceful_restart_time {
            // RFC 4724 with RFC 8538's N bit. Forwarding is preserved
            // across a restart: a worker's kernel state stays, and a
            // reflector's clients forward on their own.
            caps.push(Capability::GracefulRestart {
                restarted: RESTARTING.load(Ordering::Relaxed),
                notification: true,
                restart_time: time,
                families: self
                    .families
                    .iter()
                    .map(
                        |family| ferry_wire::message::capability::GracefulRestartFamily {
                            family,
                            forwarding_preserved: true,
                            other_flags: 0,
                        },
                    )
                    .collect(),
            });
        }
        Open::new(self.asn, self.hold_time, self.router_id, caps)
    }
}

/// Graceful restart on a session where both sides announced it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GracefulRestart {
    /// How long the peer asks us to keep its routes when it restarts.
    pub restart_time: u16,
    /// Both sides set the N bit: a NOTIFICATION other than Hard Reset
    /// keeps the routes too (RFC 8538).
    pub notification: bool,
    /// Negotiated families the peer listed.
    pub families: FamilySet,
    /// Of those, the ones whose forwarding state the peer preserved (F bit).
    pub preserved: FamilySet,
    /// The peer set the Restart State (R) bit: it has just restarted, and
    /// we must not wait for its End-of-RIB before sending it our routes
    /// (RFC 4724 §3, §4.1).
    pub peer_restarted: bool,
}

/// The outcome of a successful OPEN exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// min(ours, theirs); 0 disables keepalives and the hold timer.
    pub hold_time: u16,
    /// One third of the hold time (RFC 4271 §10).
    pub keepalive: u16,
    pub families: FamilySet,
    pub four_octet_as: bool,
    pub extended_message: bool,
    pub route_refresh: bool,
    pub enhanced_route_refresh: bool,
    /// Families in which the peer sends path identifiers to us.
    pub add_path_receive: FamilySet,
    /// The peer's graceful restart time, if it announced the capability.
    pub peer_restart_time: Option<u16>,
    /// Graceful restart as both sides announced it (RFC 4724 §3).
    pub graceful_restart: Option<GracefulRestart>,
    pub peer_as: u32,
    pub peer_router_id: Ipv4Addr,
    /// The capabilities the peer announced, as text, for `show neighbor`.
    pub peer_capabilities: Vec<String>,
}

impl Negotiated {
    pub fn decode_context(&self) -> DecodeContext {
        DecodeContext {
            four_octet_as: self.four_octet_as,
            add_path: self.add_path_receive,
            extended_message: self.extended_message,
        }
    }

    pub fn encode_context(&self) -> EncodeContext {
        EncodeContext {
            four_octet_as: self.four_octet_as,
            add_path: FamilySet::EMPTY,
            extended_message: self.extended_message,
        }
    }
}

/// Checks the peer's OPEN against what we expect (RFC 4271 §6.2) and
/// settles the session parameters.
pub fn negotiate(local: &LocalParams, peer: &Open) -> Result<Negotiated, MessageError> {
    check_peer_as_fields(peer)?;
    let peer_as = peer.asn();
    if peer_as != local.peer_as {
        return Err(MessageError::open(
            subcode::BAD_PEER_AS,
            Vec::new(),
            format!("peer AS {peer_as}, expected {}", local.peer_as),
        ));
    }
    // RFC 6286 §2.2: within one AS the identifiers must differ.
    if peer_as == local.asn && peer.bgp_identifier == local.router_id {
        return Err(MessageError::open(
            subcode::BAD_BGP_IDENTIFIER,
            Vec::new(),
            format!(
                "peer BGP identifier {} equals ours in the same AS",
                peer.bgp_identifier
            ),
        ));
    }
    let hold_time = local.hold_time.min(peer.hold_time);
    let mut peer_families = FamilySet::EMPTY;
    let mut any_mp = false;
    let mut four_octet_as = false;
    let mut extended_message = false;
    let mut route_refresh = false;
    let mut enhanced_route_refresh = false;
    // Ferry announces no ADD-PATH capability (a reflector needs one path
    // per client), so a peer never sends path identifiers (RFC 7911 §4).
    let add_path_receive = FamilySet::EMPTY;
    let mut peer_restart_time = None;
    let mut peer_gr = None;
    let mut peer_capabilities = Vec::new();
    for cap in peer.capabilities() {
        peer_capabilities.push(cap.to_string());
        match cap {
            Capability::Multiprotocol { family } => {
                any_mp = true;
                peer_families.insert(*family);
            }
            Capability::FourOctetAs { .. } => four_octet_as = true,
            // RFC 8654 §3: 65535-octet messages once both sides announced
            // the capability. Ours always carries it (`LocalParams::open`),
            // so the peer's announcement completes it; without it every
            // message to the peer stays within 4096 octets.
            Capability::ExtendedMessage => {
                extended_message = local
                    .open()
                    .capabilities()
                    .any(|c| matches!(c, Capability::ExtendedMessage))
            }
            Capability::RouteRefresh => route_refresh = true,
            Capability::EnhancedRouteRefresh => enhanced_route_refresh = true,
            Capability::GracefulRestart {
                restart_time,
                notification,
                families,
                restarted,
            } => {
                peer_restart_time = Some(*restart_time);
                peer_gr = Some((*restart_time, *notification, *restarted, families.clone()));
            }
            _ => {}
        }
    }
    // RFC 4760 §8: a speaker announcing no multiprotocol capability
    // carries IPv4 unicast only.
    if !any_mp {
        peer_families.insert(Family::IPV4_UNICAST);
    }
    let families: FamilySet = local
        .families
        .iter()
        .filter(|f| peer_families.contains(*f))
        .collect();
    let graceful_restart = match (local.graceful_restart_time, peer_gr) {
        (Some(_), Some((restart_time, notification, peer_restarted, list))) => {
            Some(GracefulRestart {
                restart_time,
                notification,
                peer_restarted,
                families: list
                    .iter()
                    .map(|f| f.family)
                    .filter(|f| families.contains(*f))
                    .collect(),
                preserved: list
                    .iter()
                    .filter(|f| f.forwarding_preserved)
                    .map(|f| f.family)
                    .filter(|f| families.contains(*f))
                    .collect(),
            })
        }
        _ => None,
    };
    Ok(Negotiated {
        graceful_restart,
        hold_time,
        keepalive: hold_time / 3,
        families,
        four_octet_as,
        extended_message,
        route_refresh,
        enhanced_route_refresh,
        add_path_receive,
        peer_restart_time,
        peer_as,
        peer_router_id: peer.bgp_identifier,
        peer_capabilities,
    })
}

/// AS_TRANS (RFC 6793 §9).
const AS_TRANS: u32 = 23456;

/// The AS fields of an OPEN must agree (RFC 6793 §4.1, RFC 7607).
///
/// Answered as FRR's `bgp_open_receive` answers them, with OPEN Message
/// Error / Bad Peer AS (2/2): My AS 0 (RFC 7607 §2); a 4-octet AS
/// capability of 0 ("got AS4 capability, but AS4 set to 0") or of
/// AS_TRANS ("NEW speaker using AS_TRANS for AS4"); and My AS other than
/// AS_TRANS that differs from the capability ("got AS4 capability, but
/// remote_as mismatch with 16bit 'myasn'"), whose data is the 4-octet AS.
/// Two 4-octet AS capabilities naming different ASes get the same answer:
/// FRR would believe the first and OpenBGPD the last, so no AS of such an
/// OPEN can be trusted, and the mismatch is of the same kind.
fn check_peer_as_fields(peer: &Open) -> Result<(), MessageError> {
    let bad =
        |data: Vec<u8>, reason: String| Err(MessageError::open(subcode::BAD_PEER_AS, data, reason));
    let my_as = u32::from(peer.my_as);
    if my_as == 0 {
        return bad(
            peer.my_as.to_be_bytes().to_vec(),
            "My AS 0 in OPEN (RFC 7607)".into(),
        );
    }
    let mut four_octet: Option<u32> = None;
    for cap in peer.capabilities() {
        if let Capability::FourOctetAs { asn } = cap {
            match four_octet {
                Some(first) if first != *asn => {
                    return bad(
                        asn.to_be_bytes().to_vec(),
                        format!("two 4-octet AS capabilities, AS {first} and AS {asn}"),
                    );
                }
                _ => four_octet = Some(*asn),
            }
        }
    }
    let Some(as4) = four_octet else {
        return Ok(());
    };
    if as4 == 0 || as4 == AS_TRANS {
        return bad(
            as4.to_be_bytes().to_vec(),
            format!("4-octet AS capability names AS {as4} (RFC 6793 §4.1, RFC 7607)"),
        );
    }
    if my_as != AS_TRANS && my_as != as4 {
        return bad(
            as4.to_be_bytes().to_vec(),
            format!(
                "My AS {my_as} disagrees with the 4-octet AS capability's AS {as4} (RFC 6793 §4.1)"
            ),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> LocalParams {
        LocalParams {
            asn: 64512,
            router_id: Ipv4Addr::new(10, 10, 25, 42),
            hold_time: 90,
            families: [Family::VPNV4, Family::VPNV6, Family::EVPN]
                .into_iter()
                .collect(),
            peer_as: 64512,
            graceful_restart_time: None,
        }
    }

    #[test]
    fn families_are_the_intersection_and_hold_time_the_minimum() {
        let peer = Open::new(
            64512,
            30,
            Ipv4Addr::new(10, 10, 93, 12),
            vec![
                Capability::Multiprotocol {
                    family: Family::EVPN,
                },
                Capability::Multiprotocol {
                    family: Family::IPV4_UNICAST,
                },
                Capability::FourOctetAs { asn: 64512 },
            ],
        );
        let n = negotiate(&local(), &peer).unwrap();
        assert_eq!(n.families.iter().collect::<Vec<_>>(), vec![Family::EVPN]);
        assert_eq!((n.hold_time, n.keepalive), (30, 10));
        assert!(n.four_octet_as);
        assert!(!n.extended_message);
        assert_eq!(n.encode_context().max_message_len(), 4096);
        assert_eq!(n.decode_context().max_message_len(), 4096);
    }

    #[test]
    fn extended_messages_need_the_capability_from_the_peer() {
        let peer = Open::new(
            64512,
            90,
            Ipv4Addr::new(10, 10, 93, 12),
            vec![
                Capability::Multiprotocol {
                    family: Family::EVPN,
                },
                Capability::ExtendedMessage,
            ],
        );
        assert!(local()
            .open()
            .capabilities()
            .any(|c| *c == Capability::ExtendedMessage));
        let n = negotiate(&local(), &peer).unwrap();
        assert!(n.extended_message);
        assert_eq!(n.encode_context().max_message_len(), 65535);
        assert_eq!(n.decode_context().max_message_len(), 65535);
    }

    #[test]
    fn the_peers_restart_state_bit_is_kept() {
        let mut l = local();
        l.graceful_restart_time = Some(120);
        for restarted in [false, true] {
            let peer = Open::new(
                64512,
                90,
                Ipv4Addr::new(10, 10, 93, 12),
                vec![
                    Capability::Multiprotocol {
                        family: Family::EVPN,
                    },
                    Capability::GracefulRestart {
                        restarted,
                        notification: true,
                        restart_time: 120,
                        families: vec![],
                    },
                ],
            );
            let gr = negotiate(&l, &peer).unwrap().graceful_restart.unwrap();
            assert_eq!(gr.peer_restarted, restarted);
        }
    }

    fn open_with(my_as: u16, caps: Vec<Capability>) -> Open {
        let mut o = Open::new(64512, 90, Ipv4Addr::new(10, 10, 93, 12), caps);
        o.my_as = my_as;
        o
    }

    #[test]
    fn my_as_and_four_octet_capability_must_agree() {
        let l = local();
        // 65000 in My AS, 64512 in the capability: Bad Peer AS, with the
        // capability's AS as data.
        let e = negotiate(
            &l,
            &open_with(65000, vec![Capability::FourOctetAs { asn: 64512 }]),
        )
        .unwrap_err();
        assert_eq!((e.code, e.subcode), (2, 2));
        assert_eq!(e.data, 64512u32.to_be_bytes());
        // AS_TRANS in My AS defers to the capability.
        let mut l4 = l.clone();
        l4.peer_as = 4_200_000_000;
        let n = negotiate(
            &l4,
            &open_with(23456, vec![Capability::FourOctetAs { asn: 4_200_000_000 }]),
        )
        .unwrap();
        assert_eq!(n.peer_as, 4_200_000_000);
        // Agreeing fields pass.
        assert!(negotiate(
            &l,
            &open_with(64512, vec![Capability::FourOctetAs { asn: 64512 }])
        )
        .is_ok());
    }

    #[test]
    fn conflicting_zero_and_as_trans_four_octet_capabilities_are_refused() {
        let l = local();
        let two = open_with(
            64512,
            vec![
                Capability::FourOctetAs { asn: 64512 },
                Capability::FourOctetAs { asn: 65001 },
            ],
        );
        let e = negotiate(&l, &two).unwrap_err();
        assert_eq!((e.code, e.subcode), (2, 2));
        // The same capability twice is not a conflict.
        let same = open_with(
            64512,
            vec![
                Capability::FourOctetAs { asn: 64512 },
                Capability::FourOctetAs { asn: 64512 },
            ],
        );
        assert!(negotiate(&l, &same).is_ok());
        for asn in [0, 23456] {
            let e = negotiate(&l, &open_with(23456, vec![Capability::FourOctetAs { asn }]))
                .unwrap_err();
            assert_eq!((e.code, e.subcode), (2, 2), "AS {asn}");
        }
        let e = negotiate(&l, &open_with(0, vec![])).unwrap_err();
        assert_eq!((e.code, e.subcode), (2, 2));
    }

    #[test]
    fn wrong_as_and_same_identifier_are_refused() {
        let mut l = local();
        let peer = Open::new(64513, 90, Ipv4Addr::new(1, 1, 1, 1), vec![]);
        assert_eq!(negotiate(&l, &peer).unwrap_err().subcode, 2);
        let peer = Open::new(64512, 90, l.router_id, vec![]);
        assert_eq!(negotiate(&l, &peer).unwrap_err().subcode, 3);
        // Without multiprotocol capabilities only IPv4 unicast is implied.
        l.families.insert(Family::IPV4_UNICAST);
        let peer = Open::new(64512, 90, Ipv4Addr::new(1, 1, 1, 1), vec![]);
        let n = negotiate(&l, &peer).unwrap();
        assert_eq!(
            n.families.iter().collect::<Vec<_>>(),
            vec![Family::IPV4_UNICAST]
        );
    }
}
