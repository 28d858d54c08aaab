//! PMSI_TUNNEL (RFC 6514 §5), carried by EVPN Inclusive Multicast routes
//! (RFC 7432 §11.2); with VXLAN ingress replication the label field holds
//! the VNI (RFC 8365 §5.1.3).
//!
//! ```text
//! +---------------------------------+
//! |  Flags (1 octet)                |
//! +---------------------------------+
//! |  Tunnel Type (1 octet)          |
//! +---------------------------------+
//! |  MPLS Label (3 octets)          |
//! +---------------------------------+
//! |  Tunnel Identifier (variable)   |
//! +---------------------------------+
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, BytesMut};

use crate::nlri::Label;

/// Tunnel type 6: Ingress Replication (RFC 6514 §5).
pub const INGRESS_REPLICATION: u8 = 6;

/// The tunnel identifier.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PmsiTunnelId {
    /// Ingress replication to this address.
    IngressReplication(IpAddr),
    /// Any other tunnel type or shape, kept as received.
    Raw(Vec<u8>),
}

/// The PMSI Tunnel attribute.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PmsiTunnel {
    pub flags: u8,
    pub tunnel_type: u8,
    pub label: Label,
    pub tunnel_id: PmsiTunnelId,
}

impl PmsiTunnel {
    /// Ingress replication to `endpoint` for VNI `vni`.
    pub fn ingress_replication(endpoint: IpAddr, vni: u32) -> PmsiTunnel {
        PmsiTunnel {
            flags: 0,
            tunnel_type: INGRESS_REPLICATION,
            label: Label::vni(vni),
            tunnel_id: PmsiTunnelId::IngressReplication(endpoint),
        }
    }

    /// Reads the attribute value; fewer than 5 octets is malformed.
    pub fn decode_value(value: &[u8]) -> Result<PmsiTunnel, String> {
        if value.len() < 5 {
            return Err(format!("length {} is shorter than 5", value.len()));
        }
        let id = &value[5..];
        let tunnel_id = match (value[1], id.len()) {
            (INGRESS_REPLICATION, 4) => PmsiTunnelId::IngressReplication(IpAddr::V4(
                Ipv4Addr::new(id[0], id[1], id[2], id[3]),
            )),
            (INGRESS_REPLICATION, 16) => {
                let mut o = [0u8; 16];
                o.copy_from_slice(id);
                PmsiTunnelId::IngressReplication(IpAddr::V6(Ipv6Addr::from(o)))
            }
            _ => PmsiTunnelId::Raw(id.to_vec()),
        };
        Ok(PmsiTunnel {
            flags: value[0],
            tunnel_type: value[1],
            label: Label::from_bytes([value[2], value[3], value[4]]),
            tunnel_id,
        })
    }

    pub fn encode_value(&self, buf: &mut BytesMut) {
        buf.put_u8(self.flags);
        buf.put_u8(self.tunnel_type);
        self.label.encode(buf);
        match &self.tunnel_id {
            PmsiTunnelId::IngressReplication(IpAddr::V4(a)) => buf.put_slice(&a.octets()),
            PmsiTunnelId::IngressReplication(IpAddr::V6(a)) => buf.put_slice(&a.octets()),
            PmsiTunnelId::Raw(b) => buf.put_slice(b),
        }
    }

    pub fn value_len(&self) -> usize {
        5 + match &self.tunnel_id {
            PmsiTunnelId::IngressReplication(IpAddr::V4(_)) => 4,
            PmsiTunnelId::IngressReplication(IpAddr::V6(_)) => 16,
            PmsiTunnelId::Raw(b) => b.len(),
        }
    }
}

impl fmt::Display for PmsiTunnel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.tunnel_id {
            PmsiTunnelId::IngressReplication(a) => {
                write!(f, "ingress-replication {a} vni {}", self.label.as_vni())
            }
            PmsiTunnelId::Raw(b) => {
                write!(
                    f,
                    "type {} label {} id 0x",
                    self.tunnel_type,
                    self.label.raw()
                )?;
                b.iter().try_for_each(|x| write!(f, "{x:02x}"))
            }
        }
    }
}

impl serde::Serialize for PmsiTunnel {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingress_replication_round_trips() {
        let p = PmsiTunnel::ingress_replication("10.10.25.42".parse().unwrap(), 10002);
        let mut b = BytesMut::new();
        p.encode_value(&mut b);
        assert_eq!(&b[..], &[0, 6, 0x00, 0x27, 0x12, 10, 10, 25, 42]);
        assert_eq!(b.len(), p.value_len());
        assert_eq!(PmsiTunnel::decode_value(&b).unwrap(), p);
        assert_eq!(p.to_string(), "ingress-replication 10.10.25.42 vni 10002");
        let raw = PmsiTunnel::decode_value(&[1, 3, 0, 0, 1, 9, 9]).unwrap();
        assert!(matches!(raw.tunnel_id, PmsiTunnelId::Raw(_)));
        assert!(PmsiTunnel::decode_value(&[0, 6, 0, 0]).is_err());
    }
}
