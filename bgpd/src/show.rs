//! The answers to the read-only show requests (`show summary`, `show
//! neighbor`, `show route`, `show memory`): protocol structs built from a
//! [`View`] of the core task's state, which the core lends for the time
//! of one answer. Nothing here changes the RIB; `show route` is built a
//! page at a time ([`ferry_control::MAX_ROUTE_PAGE`] routes at most), so
//! a large table never makes one large answer.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::net::IpAddr;
use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::Arc;

use ferry_control::{
    sort_routes, Body, Family, NeighborDetail, NeighborSummary, PeerTableCounts, Request, Response,
    RouteEntry, RouteQuery, Summary, TableSummary, MAX_ROUTE_PAGE,
};
use ferry_rib::path::Path;
use ferry_rib::peer::LOCAL;
use ferry_rib::{route_key, Rib, RouteKey};
use ferry_wire::nlri::evpn::EvpnRoute;
use ferry_wire::Nlri;

use crate::config::Config;
use crate::fsm::State;
use crate::peer_status::{PeerStatus, PeerTable};

/// What the show answers read of the core task's state.
pub(crate) struct View<'a> {
    pub rib: &'a Rib,
    pub peers: &'a PeerTable,
    /// The sessions the core exports to: ids, addresses, flow control.
    pub sessions: &'a crate::core::Sessions,
    pub config: Arc<Config>,
}

impl View<'_> {
    /// Answers a read-only control request.
    pub(crate) fn answer(&self, request: &Request) -> Response {
        match request {
            Request::Summary => Response::Ok {
                body: Body::Summary(self.summary()),
            },
            Request::Neighbors { address } => {
                let mut neighbors: Vec<NeighborDetail> = self
                    .peers
                    .iter()
                    .filter(|e| address.is_none_or(|a| *e.key() == a))
                    .map(|e| self.neighbor_detail(*e.key(), e.value()))
                    .collect();
                if let (Some(a), true) = (address, neighbors.is_empty()) {
                    return Response::Error {
                        message: format!("no neighbor {a}"),
                    };
                }
                neighbors.sort_by_key(|n| n.summary.address);
                Response::Ok {
                    body: Body::Neighbors { neighbors },
                }
            }
            Request::Memory => Response::Ok {
                body: Body::Memory(crate::memory::now(self.rib.memory())),
            },
            Request::Routes(q) => match self.routes(q) {
                Ok((routes, next)) => Response::Ok {
                    body: Body::Routes { routes, next },
                },
                Err(message) => Response::Error { message },
            },
            _ => Response::Error {
                message: "not a read-only request".into(),
            },
        }
    }

    fn neighbor_summary(&self, addr: IpAddr, st: &PeerStatus) -> NeighborSummary {
        let d = st.detail();
        let cfg = st.config();
        let tables = match (d.state, self.sessions.id(&addr)) {
            (State::Established, Some(id)) => d
                .negotiated
                .as_ref()
                .map(|n| n.families.iter().collect::<Vec<_>>())
                .unwrap_or_default()
                .into_iter()
                .map(|f| {
                    let c = self.rib.counts(id, f);
                    PeerTableCounts {
                        table: f.table_name().unwrap_or("?").to_string(),
                        family: f.into(),
                        active: c.active,
                        received: c.received,
                        accepted: c.accepted,
                    }
                })
                .collect(),
            _ => Vec::new(),
        };
        NeighborSummary {
            address: addr,
            asn: d
                .negotiated
                .as_ref()
                .map_or(cfg.session.peer_as, |n| n.peer_as),
            group: cfg.group.clone(),
            in_messages: st.in_messages.load(AtomicOrdering::Relaxed),
            out_messages: st.out_messages.load(AtomicOrdering::Relaxed),
            out_queue: st.out_queue.load(AtomicOrdering::Relaxed),
            flaps: st.flaps.load(AtomicOrdering::Relaxed),
            last_change_secs: d.last_change.elapsed().as_secs(),
            state: d.state.name().to_string(),
            tables,
        }
    }

    fn neighbor_detail(&self, addr: IpAddr, st: &PeerStatus) -> NeighborDetail {
        let summary = self.neighbor_summary(addr, st);
        let d = st.detail();
        let cfg = st.config();
        let id = self.sessions.id(&addr);
        let rib_peer = id.and_then(|id| self.rib.peer(id));
        let tav = rib_peer.map_or(0, |p| p.counters.treat_as_withdraw);
        let backlog = id.and_then(|id| self.rib.backlog(id));
        NeighborDetail {
            summary,
            local_address: d.local_address.or(cfg.session.local_address),
            router_id: d.negotiated.as_ref().map(|n| n.peer_router_id),
            peer_type: cfg.session.peer_type.as_str().to_string(),
            route_reflector_client: cfg.session.route_reflector_client,
            dynamic: cfg.dynamic,
            hold_time: d
                .negotiated
                .as_ref()
                .map_or(cfg.session.hold_time, |n| n.hold_time),
            keepalive: d
                .negotiated
                .as_ref()
                .map_or(cfg.session.hold_time / 3, |n| n.keepalive),
            families: d
                .negotiated
                .as_ref()
                .map(|n| n.families.iter().map(Family::from).collect())
                .unwrap_or_else(|| {
                    cfg.session
                        .families
                        .iter()
                        .map(|f| Family::from(*f))
                        .collect()
                }),
            peer_capabilities: d
                .negotiated
                .as_ref()
                .map(|n| n.peer_capabilities.clone())
                .unwrap_or_default(),
            last_error: d.last_error.clone(),
            treat_as_withdraw: tav,
            oversize_paths_not_sent: st.oversize_paths_not_sent.load(AtomicOrdering::Relaxed),
            out_queue_octets: st.out_queue_bytes.load(AtomicOrdering::Relaxed),
            send_hold_time: cfg
                .session
                .send_hold_time(
                    d.negotiated
                        .as_ref()
                        .map_or(cfg.session.hold_time, |n| n.hold_time),
                )
                .map_or(0, |t| t.as_secs()),
            send_hold_timer_expired: st.send_hold_timer_expired.load(AtomicOrdering::Relaxed),
            output_throttled: id.is_some_and(|id| self.sessions.is_throttled(id)),
            pending_routes: backlog.map_or(0, |b| b.routes() as u64),
            pending_tables: backlog.map_or(0, |b| b.tables() as u64),
            route_refresh_coalesced: rib_peer.map_or(0, |p| p.counters.refresh_coalesced),
        }
    }

    fn summary(&self) -> Summary {
        let cfg = &self.config;
        let mut neighbors: Vec<NeighborSummary> = self
            .peers
            .iter()
            .map(|e| self.neighbor_summary(*e.key(), e.value()))
            .collect();
        neighbors.sort_by_key(|n| n.address);
        let down = neighbors
            .iter()
            .filter(|n| n.state != "Established")
            .count();
        let unconfigured = self
            .peers
            .iter()
            .filter(|e| e.value().config().dynamic)
            .count();
        let families: Vec<ferry_wire::Family> = ferry_wire::Family::SUPPORTED
            .into_iter()
            .filter(|f| cfg.families().contains(*f))
            .collect();
        Summary {
            router_id: cfg.router_id,
            local_as: cfg.local_as,
            cluster_id: cfg.cluster_id,
            groups: cfg.groups.len(),
            peers: neighbors.len(),
            down_peers: down,
            unconfigured_peers: unconfigured,
            tables: families
                .into_iter()
                .map(|f| {
                    let c = self.rib.table_counts(f);
                    TableSummary {
                        table: f.table_name().unwrap_or("?").to_string(),
                        family: f.into(),
                        total_paths: c.paths,
                        active_paths: c.active,
                    }
                })
                .collect(),
            neighbors,
            restart_pending: cfg.restart_pending.clone(),
        }
    }

    /// One page of `show route`: up to the query's `limit` routes (at
    /// most [`MAX_ROUTE_PAGE`]) after its `after` key, in route key order,
    /// each with all its paths that match; and the key to continue from
    /// when more follow. One walk of the table per page, holding only the
    /// page.
    fn routes(&self, q: &RouteQuery) -> Result<(Vec<RouteEntry>, Option<String>), String> {
        let family = match &q.family {
            Some(name) => Some(ferry_wire::Family::from_name(name).ok_or_else(|| {
                format!("unknown family {name:?}: use evpn, inet-vpn, inet6-vpn, inet or inet6")
            })?),
            None => None,
        };
        let rd = match &q.rd {
            Some(text) => Some(
                text.parse::<ferry_wire::RouteDistinguisher>()
                    .map_err(|e| e.to_string())?,
            ),
            None => None,
        };
        let prefix = match &q.prefix {
            Some(text) => Some(
                text.parse::<ipnet::IpNet>()
                    .or_else(|_| text.parse::<IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| format!("invalid prefix {text:?}"))?,
            ),
            None => None,
        };
        let peer_id = |addr: &IpAddr| {
            self.sessions
                .id(addr)
                .ok_or_else(|| format!("no Established session with {addr}"))
        };
        let received_from = q.received_from.as_ref().map(peer_id).transpose()?;
        let advertised_to = q.advertised_to.as_ref().map(peer_id).transpose()?;
        let after = q.after.as_deref().map(cursor::decode).transpose()?;
        let limit = q.limit.unwrap_or(MAX_ROUTE_PAGE).clamp(1, MAX_ROUTE_PAGE);

        let keep_key = |key: &RouteKey| {
            after.as_ref().is_none_or(|a| key > a)
                && family.is_none_or(|f| key.family() == f)
                && rd.is_none_or(|r| key.rd() == Some(r))
                && prefix.is_none_or(|p| key_matches_prefix(key, &p))
        };
        let mut out = Vec::new();
        let (last, more) = if let Some(to) = advertised_to {
            let advertised = self.rib.advertised_to(to);
            let (page, more) = first_keys(
                advertised.into_iter().filter(|(k, _)| keep_key(k)),
                limit,
                |&(k, _)| k,
            );
            for (key, path) in &page {
                out.push(self.route_entry(key, path, true));
            }
            (page.last().map(|(k, _)| *k), more)
        } else {
            let from = |path: &Path| received_from.is_none_or(|id| path.peer() == id);
            let (page, more) = first_keys(
                self.rib
                    .entries()
                    .filter(|(k, e)| keep_key(k) && e.paths.iter().any(from)),
                limit,
                |&(k, _)| k,
            );
            for (key, entry) in &page {
                for (i, path) in entry.paths.iter().enumerate() {
                    if from(path) {
                        out.push(self.route_entry(key, path, i == 0 && path.is_eligible()));
                    }
                }
            }
            (page.last().map(|(k, _)| *k), more)
        };
        sort_routes(&mut out);
        Ok((out, last.filter(|_| more).map(cursor::encode)))
    }

    fn route_entry(&self, key: &RouteKey, path: &Path, best: bool) -> RouteEntry {
        let nlri = route_key::join(key, &path.attrs.extra);
        let a = &path.attrs.path;
        RouteEntry {
            family: key.family().into(),
            rd: key.rd(),
            nlri: nlri.to_string(),
            prefix: short_prefix(&nlri),
            best,
            from: if path.peer() == LOCAL {
                "local".into()
            } else {
                self.sessions
                    .addr(path.peer())
                    .map_or_else(|| "?".into(), |a| a.to_string())
            },
            next_hop: path.attrs.next_hop.to_string(),
            as_path: a
                .as_path
                .as_ref()
                .map_or_else(|| "I".into(), |p| p.to_string()),
            local_pref: a.local_pref,
            med: a.med,
            origin: a.origin.map_or_else(|| "?".into(), |o| o.to_string()),
            communities: a.communities.iter().map(|c| c.to_string()).collect(),
            extended_communities: a
                .extended_communities
                .iter()
                .map(|c| c.to_string())
                .collect(),
            originator_id: a.originator_id,
            cluster_list: a.cluster_list.clone(),
            label: path.attrs.extra.label().map(|l| match nlri {
                Nlri::Vpn(_) => l.mpls_value(),
                _ => l.as_vni(),
            }),
            eligible: path.is_eligible(),
        }
    }
}

/// The first `n` items of `items` in the order of their route keys (keys
/// are unique), and whether more follow: one pass, holding `n` items.
fn first_keys<'k, T>(
    items: impl Iterator<Item = T>,
    n: usize,
    key: impl Fn(&T) -> &'k RouteKey,
) -> (Vec<T>, bool) {
    struct ByKey<'k, T>(&'k RouteKey, T);
    impl<T> PartialEq for ByKey<'_, T> {
        fn eq(&self, other: &Self) -> bool {
            self.0 == other.0
        }
    }
    impl<T> Eq for ByKey<'_, T> {}
    impl<T> PartialOrd for ByKey<'_, T> {
        fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
            Some(self.cmp(other))
        }
    }
    impl<T> Ord for ByKey<'_, T> {
        fn cmp(&self, other: &Self) -> Ordering {
            self.0.cmp(other.0)
        }
    }
    let mut heap: BinaryHeap<ByKey<'k, T>> = BinaryHeap::with_capacity(n + 1);
    let mut more = false;
    for item in items {
        let k = key(&item);
        if heap.len() < n {
            heap.push(ByKey(k, item));
        } else {
            more = true;
            if heap.peek().is_some_and(|top| k < top.0) {
                heap.pop();
                heap.push(ByKey(k, item));
            }
        }
    }
    let page = heap.into_sorted_vec().into_iter().map(|b| b.1).collect();
    (page, more)
}

/// The prefix (or MAC/IP, or originator) of an NLRI, for the narrow column.
fn short_prefix(nlri: &Nlri) -> String {
    match nlri {
        Nlri::Ipv4(p) => p.to_string(),
        Nlri::Ipv6(p) => p.to_string(),
        Nlri::Vpn(v) => v.prefix.to_string(),
        Nlri::Evpn(e) => match e {
            EvpnRoute::IpPrefix(r) => r.prefix.to_string(),
            EvpnRoute::MacIp(r) => match r.ip {
                Some(ip) => format!("{} {}", r.mac, ip),
                None => r.mac.to_string(),
            },
            EvpnRoute::InclusiveMulticast(r) => r.originator.to_string(),
            EvpnRoute::EthernetSegment(r) => r.originator.to_string(),
            EvpnRoute::EthernetAutoDiscovery(r) => format!("esi {}", r.esi),
            EvpnRoute::Unknown { route_type, .. } => format!("type-{route_type}"),
        },
    }
}

fn key_matches_prefix(key: &RouteKey, p: &ipnet::IpNet) -> bool {
    match key.nlri() {
        Nlri::Ipv4(k) => ipnet::IpNet::V4(k) == *p,
        Nlri::Ipv6(k) => ipnet::IpNet::V6(k) == *p,
        Nlri::Vpn(v) => v.prefix == *p,
        Nlri::Evpn(EvpnRoute::IpPrefix(r)) => r.prefix == *p,
        Nlri::Evpn(EvpnRoute::MacIp(r)) => r.ip.is_some_and(|ip| p.contains(&ip)),
        Nlri::Evpn(EvpnRoute::InclusiveMulticast(r)) => p.contains(&r.originator),
        _ => false,
    }
}

/// The continuation key of `show route`: the last route key of a page as
/// its family and its NLRI's octets in hex (`inet-vpn 70000001…`).
mod cursor {
    use std::fmt::Write as _;

    use ferry_rib::RouteKey;
    use ferry_wire::Family;

    pub fn encode(key: &RouteKey) -> String {
        let mut octets = bytes::BytesMut::new();
        key.nlri().encode(&mut octets);
        let mut text = format!("{} ", key.family());
        for b in octets.iter() {
            let _ = write!(text, "{b:02x}");
        }
        text
    }

    pub fn decode(text: &str) -> Result<RouteKey, String> {
        let bad = || format!("invalid continuation key {text:?}");
        let (name, hex) = text.split_once(' ').ok_or_else(bad)?;
        let family = Family::from_name(name).ok_or_else(bad)?;
        if hex.len() % 2 != 0 || !hex.is_ascii() {
            return Err(bad());
        }
        let octets = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| bad())?;
        match ferry_wire::nlri::decode_nlri_list(&octets, family, false)
            .map_err(|_| bad())?
            .as_slice()
        {
            [one] => Ok(RouteKey::of(&one.nlri)),
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use ferry_rib::SpeakerConfig;
    use ferry_wire::nlri::evpn::{
        Esi, EthernetAutoDiscovery, InclusiveMulticast, IpPrefixRoute, MacIpAdvertisement,
    };
    use ferry_wire::{
        Label, LabelStack, MacAddress, NextHop, PathAttributes, RouteDistinguisher, VpnPrefix,
    };

    use super::*;

    fn rd(text: &str) -> RouteDistinguisher {
        text.parse().unwrap()
    }

    /// One NLRI of each kind the RIB keys differently.
    fn every_kind() -> Vec<Nlri> {
        let mac = MacAddress([2, 0, 0, 0, 0, 1]);
        vec![
            Nlri::Ipv4("10.1.0.0/24".parse().unwrap()),
            Nlri::Ipv6("2001:db8::/64".parse().unwrap()),
            Nlri::Vpn(VpnPrefix {
                labels: LabelStack::single(Label::mpls(100)),
                rd: rd("64512:10"),
                prefix: "10.2.0.0/24".parse().unwrap(),
            }),
            Nlri::Vpn(VpnPrefix {
                labels: LabelStack::single(Label::mpls(100)),
                rd: rd("10.0.0.1:3"),
                prefix: "2001:db8:1::/48".parse().unwrap(),
            }),
            Nlri::Evpn(EvpnRoute::IpPrefix(IpPrefixRoute {
                rd: rd("64512:20"),
                esi: Esi::ZERO,
                ethernet_tag: 0,
                gateway: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                prefix: "1.1.1.0/30".parse().unwrap(),
                label: Label::vni(10),
            })),
            Nlri::Evpn(EvpnRoute::InclusiveMulticast(InclusiveMulticast {
                rd: rd("64512:20"),
                ethernet_tag: 0,
                originator: IpAddr::V6(Ipv6Addr::LOCALHOST),
            })),
            Nlri::Evpn(EvpnRoute::MacIp(MacIpAdvertisement {
                rd: rd("64512:20"),
                esi: Esi::ZERO,
                ethernet_tag: 0,
                mac,
                ip: Some("1.1.1.2".parse().unwrap()),
                label1: Label::vni(10),
                label2: None,
            })),
            Nlri::Evpn(EvpnRoute::MacIp(MacIpAdvertisement {
                rd: rd("64512:20"),
                esi: Esi::ZERO,
                ethernet_tag: 0,
                mac,
                ip: Some("2001:db8::2".parse().unwrap()),
                label1: Label::vni(10),
                label2: None,
            })),
            Nlri::Evpn(EvpnRoute::EthernetAutoDiscovery(EthernetAutoDiscovery {
                rd: rd("64512:20"),
                esi: Esi([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
                ethernet_tag: 7,
                label: Label::mpls(5),
            })),
        ]
    }

    #[test]
    fn continuation_keys_read_back_as_the_same_route_key() {
        for nlri in every_kind() {
            let key = RouteKey::of(&nlri);
            let text = cursor::encode(&key);
            assert_eq!(cursor::decode(&text), Ok(key), "{nlri} as {text:?}");
        }
        for bad in [
            "",
            "inet",
            "inet zz",
            "inet 18",
            "bogus 180a01",
            "inet 180a0100ff",
        ] {
            assert!(cursor::decode(bad).is_err(), "{bad:?}");
        }
    }

    fn rib_with(n: u32) -> Rib {
        let mut rib = Rib::new(SpeakerConfig {
            local_as: 64512,
            router_id: Ipv4Addr::new(10, 0, 0, 1),
            cluster_id: None,
        });
        let attrs = PathAttributes::default();
        let hop = NextHop::Ipv4(Ipv4Addr::new(10, 0, 0, 1));
        for nlri in every_kind() {
            rib.originate(&nlri, attrs.clone(), hop.clone());
        }
        for i in 0..n {
            let [a, b, c, _] = (0x0b00_0000 + (i << 8)).to_be_bytes();
            let p = format!("{a}.{b}.{c}.0/24").parse().unwrap();
            rib.originate(&Nlri::Ipv4(p), attrs.clone(), hop.clone());
            rib.originate(
                &Nlri::Vpn(VpnPrefix {
                    labels: LabelStack::single(Label::mpls(16 + i)),
                    rd: rd(&format!("64512:{}", i % 7)),
                    prefix: p.into(),
                }),
                attrs.clone(),
                hop.clone(),
            );
        }
        rib
    }

    /// Page after page, `show route` gives every route once: together,
    /// in `show route` order, the pages are the whole table.
    #[test]
    fn pages_put_together_are_the_whole_table() {
        let rib = rib_with(600);
        let config = Arc::new(
            crate::config::from_str("router-id = \"10.0.0.1\"\nlocal-as = 64512\n", "t").unwrap(),
        );
        let (peers, sessions) = Default::default();
        let view = View {
            rib: &rib,
            peers: &peers,
            sessions: &sessions,
            config,
        };
        for family in [None, Some("inet-vpn"), Some("evpn")] {
            let query = RouteQuery {
                family: family.map(String::from),
                ..RouteQuery::default()
            };
            let (whole, next) = view.routes(&query).unwrap();
            assert_eq!(next, None, "one page holds {} routes", whole.len());
            let mut paged = Vec::new();
            let mut q = RouteQuery {
                limit: Some(97),
                ..query.clone()
            };
            let mut pages = 0;
            loop {
                let (page, next) = view.routes(&q).unwrap();
                assert!(page.len() <= 97);
                pages += 1;
                paged.extend(page);
                match next {
                    Some(key) => q.after = Some(key),
                    None => break,
                }
            }
            sort_routes(&mut paged);
            assert_eq!(paged, whole, "{family:?}");
            assert_eq!(pages, whole.len().div_ceil(97).max(1), "{family:?}");
        }
        let (all, _) = view.routes(&RouteQuery::default()).unwrap();
        assert_eq!(all.len(), 1200 + every_kind().len());
        // Never more than a page, whatever is asked.
        let big = rib_with(MAX_ROUTE_PAGE as u32);
        let view = View { rib: &big, ..view };
        let (page, next) = view
            .routes(&RouteQuery {
                limit: Some(usize::MAX),
                ..RouteQuery::default()
            })
            .unwrap();
        assert_eq!(page.len(), MAX_ROUTE_PAGE);
        assert!(next.is_some());
        let bad = RouteQuery {
            after: Some("nonsense".into()),
            ..RouteQuery::default()
        };
        assert!(view.routes(&bad).unwrap_err().contains("continuation key"));
    }
}
