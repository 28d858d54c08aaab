//! UPDATE messages the tests send: VPNv4 and EVPN Type-5 routes, and
//! raw edits of encoded UPDATEs.

/// A VPNv4 UPDATE announcing `prefixes` with RD `rd`, label 100, ORIGIN
/// IGP, an empty AS_PATH, LOCAL_PREF 100 and next hop `next_hop`.
pub fn vpnv4_update(
    next_hop: std::net::Ipv4Addr,
    rd: &str,
    prefixes: impl IntoIterator<Item = ipnet::Ipv4Net>,
) -> ferry_wire::Update {
    use ferry_wire::{
        Family, Label, LabelStack, MpReachNlri, NextHop, Nlri, NlriEntry, Origin, PathAttributes,
        Update, VpnPrefix,
    };
    let rd = rd.parse().expect("route distinguisher");
    Update {
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(Default::default()),
            local_pref: Some(100),
            ..Default::default()
        },
        mp_reach: Some(MpReachNlri {
            family: Family::VPNV4,
            next_hop: NextHop::Ipv4(next_hop),
            nlri: prefixes
                .into_iter()
                .map(|p| {
                    NlriEntry::new(Nlri::Vpn(VpnPrefix {
                        labels: LabelStack::single(Label::mpls(100)),
                        rd,
                        prefix: ipnet::IpNet::V4(p),
                    }))
                })
                .collect(),
            undecoded: Vec::new(),
        }),
        ..Default::default()
    }
}

/// An UPDATE encoded for a session with extended messages (RFC 8654).
pub fn encode_extended(u: ferry_wire::Update) -> Vec<u8> {
    ferry_wire::Message::Update(u)
        .to_bytes(&ferry_wire::EncodeContext {
            extended_message: true,
            ..Default::default()
        })
        .expect("UPDATE fits 65535 octets")
        .to_vec()
}

/// Appends raw attribute octets to an encoded UPDATE that has no IPv4
/// NLRI, fixing the message and attribute lengths.
pub fn with_attribute(update: &[u8], attr: &[u8]) -> Vec<u8> {
    let mut out = update.to_vec();
    let wlen = u16::from_be_bytes([out[19], out[20]]) as usize;
    let at = 21 + wlen;
    out.extend_from_slice(attr);
    let total = u16::try_from(out.len()).expect("message of at most 65535 octets");
    out[16..18].copy_from_slice(&total.to_be_bytes());
    let alen = u16::from_be_bytes([out[at], out[at + 1]]) as usize + attr.len();
    out[at..at + 2].copy_from_slice(&(alen as u16).to_be_bytes());
    out
}

/// Pads an encoded UPDATE (no IPv4 NLRI) to exactly `total` octets with
/// an unknown optional transitive attribute (type 200, extended length):
/// a legal message that a reflector passes on.
pub fn pad_to(update: &[u8], total: usize) -> Vec<u8> {
    let n = total
        .checked_sub(update.len() + 4)
        .expect("UPDATE already too long to pad");
    let mut attr = vec![0xd0, 200];
    attr.extend_from_slice(&(n as u16).to_be_bytes());
    attr.resize(4 + n, 0x5a);
    let out = with_attribute(update, &attr);
    assert_eq!(out.len(), total);
    out
}

/// A worker's EVPN Type-5 UPDATE for `prefix` from VTEP `vtep`: ORIGIN,
/// AS_PATH, LOCAL_PREF, route target 11:11, VXLAN encapsulation, VNI 10002.
pub fn type5_update(prefix: &str, vtep: std::net::Ipv4Addr) -> ferry_wire::Update {
    use ferry_wire::nlri::evpn::{Esi, EvpnRoute, IpPrefixRoute};
    use ferry_wire::{
        ExtendedCommunity, Family, Label, MpReachNlri, NextHop, Nlri, NlriEntry, Origin,
        PathAttributes, Update,
    };
    Update {
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(Default::default()),
            local_pref: Some(100),
            extended_communities: vec![
                "target:11:11".parse::<ExtendedCommunity>().unwrap(),
                "encap:vxlan".parse().unwrap(),
            ],
            ..Default::default()
        },
        mp_reach: Some(MpReachNlri {
            family: Family::EVPN,
            next_hop: NextHop::Ipv4(vtep),
            nlri: vec![NlriEntry::new(Nlri::Evpn(EvpnRoute::IpPrefix(
                IpPrefixRoute {
                    rd: format!("{vtep}:1").parse().unwrap(),
                    esi: Esi::ZERO,
                    ethernet_tag: 0,
                    prefix: prefix.parse().unwrap(),
                    gateway: "0.0.0.0".parse().unwrap(),
                    label: Label::vni(10002),
                },
            )))],
            undecoded: Vec::new(),
        }),
        ..Default::default()
    }
}
