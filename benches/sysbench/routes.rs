//! The routes an injector sends, encoded before the clock starts.

use std::net::Ipv4Addr;

use ferry_benches::{type5_from, vpnv4, worker_attributes};
use ferry_wire::{
    EncodeContext, Family, Message, MpReachNlri, MpUnreachNlri, NextHop, Nlri, NlriEntry, Update,
};

use crate::VRFS;

/// The next hop (and RD address) an injector announces: a VTEP-like
/// address derived from its session address (the devices refuse loopback
/// next hops as martians).
pub(crate) fn vtep(injector: Ipv4Addr) -> Ipv4Addr {
    Ipv4Addr::new(10, 255, injector.octets()[2], injector.octets()[3])
}

/// One injector's routes, encoded: announcements and withdrawals, one
/// message each per pack of routes of one VRF.
pub(crate) struct Feed {
    pub(crate) announce: Vec<Vec<u8>>,
    pub(crate) withdraw: Vec<Vec<u8>>,
}

pub(crate) fn feed(injector: Ipv4Addr, vrfs: std::ops::Range<u32>, n5: u32, n4: u32) -> Feed {
    let enc = EncodeContext::default();
    let mut f = Feed {
        announce: Vec::new(),
        withdraw: Vec::new(),
    };
    let rd = vtep(injector);
    let evpn = |i, vrf| type5_from(rd, i, vrf);
    type Make<'a> = &'a dyn Fn(u32, u32) -> Nlri;
    let routes: [(Family, u32, u32, Make); 2] = [
        (Family::EVPN, n5, 100, &evpn),
        (Family::VPNV4, n4, 200, &vpnv4),
    ];
    for (family, n, per_msg, make) in routes {
        let per_vrf = n / VRFS;
        for vrf in vrfs.clone() {
            let all: Vec<u32> = (vrf * per_vrf..(vrf + 1) * per_vrf).collect();
            for chunk in all.chunks(per_msg as usize) {
                let nlri: Vec<NlriEntry> = chunk
                    .iter()
                    .map(|&i| NlriEntry::new(make(i, vrf)))
                    .collect();
                let up = Update {
                    attributes: worker_attributes(vrf),
                    mp_reach: Some(MpReachNlri {
                        family,
                        next_hop: NextHop::Ipv4(vtep(injector)),
                        nlri: nlri.clone(),
                        undecoded: Vec::new(),
                    }),
                    ..Default::default()
                };
                let down = Update {
                    mp_unreach: Some(MpUnreachNlri {
                        family,
                        withdrawn: nlri,
                        undecoded: Vec::new(),
                    }),
                    ..Default::default()
                };
                f.announce
                    .push(Message::Update(up).to_bytes(&enc).expect("fits").to_vec());
                f.withdraw
                    .push(Message::Update(down).to_bytes(&enc).expect("fits").to_vec());
            }
        }
    }
    f
}
