//! Capabilities advertised in OPEN (RFC 5492 and the RFCs named per
//! capability). Unknown capabilities are kept as raw octets.
//!
//! ```text
//! +------------------------------+
//! | Capability Code (1 octet)    |
//! +------------------------------+
//! | Capability Length (1 octet)  |
//! +------------------------------+
//! | Capability Value (variable)  |
//! +------------------------------+
//! ```

use std::fmt;

use bytes::{BufMut, BytesMut};

use crate::iana::{capability as code, Family};

/// The ADD-PATH send/receive mode of one family (RFC 7911 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AddPathMode {
    Receive = 1,
    Send = 2,
    Both = 3,
}

impl AddPathMode {
    pub fn can_send(self) -> bool {
        matches!(self, AddPathMode::Send | AddPathMode::Both)
    }
    pub fn can_receive(self) -> bool {
        matches!(self, AddPathMode::Receive | AddPathMode::Both)
    }
}

/// One family of the graceful restart capability (RFC 4724 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct GracefulRestartFamily {
    pub family: Family,
    /// The F bit: forwarding state was preserved across the restart.
    #[serde(rename = "forwarding-preserved")]
    pub forwarding_preserved: bool,
    /// The other bits of the flags octet, kept as received.
    #[serde(skip)]
    pub other_flags: u8,
}

/// One capability of an OPEN message.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "capability")]
pub enum Capability {
    /// RFC 4760 §8: AFI (2), reserved (1), SAFI (1).
    Multiprotocol { family: Family },
    /// RFC 2918.
    RouteRefresh,
    /// RFC 8950 §3: (NLRI AFI, NLRI SAFI, next hop AFI) triples.
    ExtendedNextHop { entries: Vec<(Family, u16)> },
    /// RFC 8654.
    ExtendedMessage,
    /// RFC 4724 §3 (with the N bit of RFC 8538 §2).
    GracefulRestart {
        /// The R bit: the sender has restarted.
        restarted: bool,
        /// The N bit: the sender supports graceful NOTIFICATION (RFC 8538).
        notification: bool,
        #[serde(rename = "restart-time")]
        restart_time: u16,
        families: Vec<GracefulRestartFamily>,
    },
    /// RFC 6793 §3.
    FourOctetAs { asn: u32 },
    /// RFC 7911 §4.
    AddPath {
        families: Vec<(Family, AddPathMode)>,
    },
    /// RFC 7313 §3.
    EnhancedRouteRefresh,
    /// Any other capability, kept as received.
    Unknown { code: u8, value: Vec<u8> },
}

impl Capability {
    pub fn code(&self) -> u8 {
        match self {
            Capability::Multiprotocol { .. } => code::MULTIPROTOCOL,
            Capability::RouteRefresh => code::ROUTE_REFRESH,
            Capability::ExtendedNextHop { .. } => code::EXTENDED_NEXT_HOP,
            Capability::ExtendedMessage => code::EXTENDED_MESSAGE,
            Capability::GracefulRestart { .. } => code::GRACEFUL_RESTART,
            Capability::FourOctetAs { .. } => code::FOUR_OCTET_AS,
            Capability::AddPath { .. } => code::ADD_PATH,
            Capability::EnhancedRouteRefresh => code::ENHANCED_ROUTE_REFRESH,
            Capability::Unknown { code, .. } => *code,
        }
    }

    /// Decodes one capability value. A capability whose value does not fit
    /// its definition is returned as `Err` naming the problem; the OPEN
    /// handler answers it with an OPEN Message Error.
    pub fn decode(code: u8, value: &[u8]) -> Result<Capability, String> {
        // Multiprotocol: AFI (2), reserved (1), SAFI (1).
        let mp_family = |b: &[u8]| Family::new(u16::from_be_bytes([b[0], b[1]]), b[3]);
        // Graceful restart and ADD-PATH: AFI (2), SAFI (1), then one octet.
        let family_at = |b: &[u8]| Family::new(u16::from_be_bytes([b[0], b[1]]), b[2]);
        let bad_len = |name: &str| {
            Err(format!(
                "{name} capability of length {} is malformed",
                value.len()
            ))
        };
        Ok(match code {
            code::MULTIPROTOCOL => {
                if value.len() != 4 {
                    return bad_len("multiprotocol");
                }
                Capability::Multiprotocol {
                    family: mp_family(value),
                }
            }
            code::ROUTE_REFRESH if value.is_empty() => Capability::RouteRefresh,
            code::ROUTE_REFRESH => return bad_len("route refresh"),
            code::EXTENDED_NEXT_HOP => {
                if !value.len().is_multiple_of(6) {
                    return bad_len("extended next hop");
                }
                let entries = value
                    .chunks_exact(6)
                    .map(|c| {
                        let afi = u16::from_be_bytes([c[0], c[1]]);
                        let safi = u16::from_be_bytes([c[2], c[3]]);
                        let nh = u16::from_be_bytes([c[4], c[5]]);
                        (Family::new(afi, safi as u8), nh)
                    })
                    .collect();
                Capability::ExtendedNextHop { entries }
            }
            code::EXTENDED_MESSAGE if value.is_empty() => Capability::ExtendedMessage,
            code::EXTENDED_MESSAGE => return bad_len("extended message"),
            code::GRACEFUL_RESTART => {
                if value.len() < 2 || !(value.len() - 2).is_multiple_of(4) {
                    return bad_len("graceful restart");
                }
                let head = u16::from_be_bytes([value[0], value[1]]);
                let families = value[2..]
                    .chunks_exact(4)
                    .map(|c| GracefulRestartFamily {
                        family: family_at(c),
                        forwarding_preserved: c[3] & 0x80 != 0,
                        other_flags: c[3] & 0x7f,
                    })
                    .collect();
                Capability::GracefulRestart {
                    restarted: head & 0x8000 != 0,
                    notification: head & 0x4000 != 0,
                    restart_time: head & 0x0fff,
                    families,
                }
            }
            code::FOUR_OCTET_AS => {
                if value.len() != 4 {
                    return bad_len("4-octet AS");
                }
                Capability::FourOctetAs {
                    asn: u32::from_be_bytes([value[0], value[1], value[2], value[3]]),
                }
            }
            code::ADD_PATH => {
                if !value.len().is_multiple_of(4) {
                    return bad_len("ADD-PATH");
                }
                let mut families = Vec::with_capacity(value.len() / 4);
                for c in value.chunks_exact(4) {
                    let mode = match c[3] {
                        1 => AddPathMode::Receive,
                        2 => AddPathMode::Send,
                        3 => AddPathMode::Both,
                        m => return Err(format!("ADD-PATH send/receive value {m} is undefined")),
                    };
                    families.push((family_at(c), mode));
                }
                Capability::AddPath { families }
            }
            code::ENHANCED_ROUTE_REFRESH if value.is_empty() => Capability::EnhancedRouteRefresh,
            code::ENHANCED_ROUTE_REFRESH => return bad_len("enhanced route refresh"),
            _ => Capability::Unknown {
                code,
                value: value.to_vec(),
            },
        })
    }

    /// Writes code, length and value.
    pub fn encode(&self, buf: &mut BytesMut) {
        let start = buf.len();
        buf.put_u8(self.code());
        buf.put_u8(0);
        match self {
            Capability::Multiprotocol { family } => {
                buf.put_u16(family.afi);
                buf.put_u8(0);
                buf.put_u8(family.safi);
            }
            Capability::RouteRefresh
            | Capability::ExtendedMessage
            | Capability::EnhancedRouteRefresh => {}
            Capability::ExtendedNextHop { entries } => {
                for (f, nh) in entries {
                    buf.put_u16(f.afi);
                    buf.put_u16(f.safi as u16);
                    buf.put_u16(*nh);
                }
            }
            Capability::GracefulRestart {
                restarted,
                notification,
                restart_time,
                families,
            } => {
                let mut head = restart_time & 0x0fff;
                if *restarted {
                    head |= 0x8000;
                }
                if *notification {
                    head |= 0x4000;
                }
                buf.put_u16(head);
                for f in families {
                    buf.put_u16(f.family.afi);
                    buf.put_u8(f.family.safi);
                    buf.put_u8(
                        f.other_flags & 0x7f | if f.forwarding_preserved { 0x80 } else { 0 },
                    );
                }
            }
            Capability::FourOctetAs { asn } => buf.put_u32(*asn),
            Capability::AddPath { families } => {
                for (f, mode) in families {
                    buf.put_u16(f.afi);
                    buf.put_u8(f.safi);
                    buf.put_u8(*mode as u8);
                }
            }
            Capability::Unknown { value, .. } => buf.put_slice(value),
        }
        buf[start + 1] = (buf.len() - start - 2) as u8;
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Capability::Multiprotocol { family } => write!(f, "multiprotocol {family}"),
            Capability::RouteRefresh => f.write_str("route-refresh"),
            Capability::ExtendedNextHop { entries } => {
                f.write_str("extended-next-hop")?;
                for (fam, nh) in entries {
                    write!(f, " {fam}/nh-afi-{nh}")?;
                }
                Ok(())
            }
            Capability::ExtendedMessage => f.write_str("extended-message"),
            Capability::GracefulRestart {
                restarted,
                notification,
                restart_time,
                families,
            } => {
                write!(f, "graceful-restart time {restart_time}")?;
                if *restarted {
                    f.write_str(" restarted")?;
                }
                if *notification {
                    f.write_str(" notification")?;
                }
                for fam in families {
                    write!(f, " {}", fam.family)?;
                    if fam.forwarding_preserved {
                        f.write_str("(forwarding)")?;
                    }
                }
                Ok(())
            }
            Capability::FourOctetAs { asn } => write!(f, "4-octet-as {asn}"),
            Capability::AddPath { families } => {
                f.write_str("add-path")?;
                for (fam, mode) in families {
                    write!(f, " {fam}:{}", format!("{mode:?}").to_lowercase())?;
                }
                Ok(())
            }
            Capability::EnhancedRouteRefresh => f.write_str("enhanced-route-refresh"),
            Capability::Unknown { code, value } => {
                write!(f, "capability {code} (")?;
                value.iter().try_for_each(|b| write!(f, "{b:02x}"))?;
                f.write_str(")")
            }
        }
    }
}
