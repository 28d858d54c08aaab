//! Text output of the show commands, in the style of Junos `show bgp`.

use std::fmt::Write as _;

use ferry_control::{
    BfdSessionInfo, BfdState, MemoryReport, NeighborDetail, ReloadReport, RouteEntry, Summary,
    VrfInfo, VrfKernelRoute, VrfRibRoute,
};

/// `show bfd session`, in the columns of Junos `show bfd session` (times
/// in seconds), with the mode, uptime and flaps beside them.
pub fn bfd_sessions(sessions: &[BfdSessionInfo]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<40} {:<9} {:<10} {:>7} {:>9} {:>10} {:>10} {:>6}",
        "", "", "", "Detect", "Transmit", "", "", ""
    );
    let _ = writeln!(
        out,
        "{:<40} {:<9} {:<10} {:>7} {:>9} {:>10} {:>10} {:>6}",
        "Address", "State", "Mode", "Time", "Interval", "Multiplier", "Uptime", "Flaps"
    );
    for s in sessions {
        let mode = if s.multihop { "multihop" } else { "single-hop" };
        let uptime = s.uptime_secs.map(duration).unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "{:<40} {:<9} {:<10} {:>7.3} {:>9.3} {:>10} {:>10} {:>6}",
            s.address.to_string(),
            s.state.to_string(),
            mode,
            s.detection_time_ms as f64 / 1000.0,
            f64::from(s.transmit_interval_ms) / 1000.0,
            s.multiplier,
            uptime,
            s.flaps
        );
        if s.state != BfdState::Up {
            let _ = writeln!(
                out,
                "  Local diagnostic {}, remote state {}, last change {} ago",
                s.local_diagnostic,
                s.remote_state,
                duration(s.last_change_secs)
            );
        }
    }
    let up = sessions.iter().filter(|s| s.state == BfdState::Up).count();
    let _ = writeln!(out, "\n{} sessions, {} up", sessions.len(), up);
    out
}

/// `1d 02:03:04`, `02:03:04` or seconds below a minute, as Junos prints
/// Last Up/Dwn.
pub fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h}:{m:02}:{s:02}")
    } else if secs >= 60 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{s}")
    }
}

fn short_state(state: &str) -> &str {
    if state == "Established" {
        "Establ"
    } else {
        state
    }
}

pub fn summary(s: &Summary) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Router ID: {}  Local AS: {}{}",
        s.router_id,
        s.local_as,
        s.cluster_id
            .as_ref()
            .map(|c| format!("  Cluster ID: {c} (route reflector)"))
            .unwrap_or_default()
    );
    for p in &s.restart_pending {
        let _ = writeln!(o, "Restart pending: {p}");
    }
    let _ = writeln!(
        o,
        "Groups: {} Peers: {} Down peers: {}",
        s.groups, s.peers, s.down_peers
    );
    if s.unconfigured_peers > 0 {
        let _ = writeln!(o, "Unconfigured peers: {}", s.unconfigured_peers);
    }
    let _ = writeln!(o, "{:<20} {:>10} {:>10}", "Table", "Tot Paths", "Act Paths");
    for t in &s.tables {
        let _ = writeln!(
            o,
            "{:<20} {:>10} {:>10}",
            t.table, t.total_paths, t.active_paths
        );
    }
    let _ = writeln!(
        o,
        "{:<24} {:>10} {:>10} {:>10} {:>6} {:>6} {:>12} State|#Active/Received/Accepted",
        "Peer", "AS", "InPkt", "OutPkt", "OutQ", "Flaps", "Last Up/Dwn"
    );
    for n in &s.neighbors {
        let _ = writeln!(
            o,
            "{:<24} {:>10} {:>10} {:>10} {:>6} {:>6} {:>12} {}",
            n.address.to_string(),
            n.asn,
            n.in_messages,
            n.out_messages,
            n.out_queue,
            n.flaps,
            duration(n.last_change_secs),
            short_state(&n.state)
        );
        for t in &n.tables {
            let _ = writeln!(
                o,
                "  {}: {}/{}/{}",
                t.table, t.active, t.received, t.accepted
            );
        }
    }
    o
}

pub fn neighbors(list: &[NeighborDetail]) -> String {
    let mut o = String::new();
    for n in list {
        let s = &n.summary;
        let _ = writeln!(
            o,
            "Peer: {} AS {}  Local: {}",
            s.address,
            s.asn,
            n.local_address
                .map(|a| a.to_string())
                .unwrap_or_else(|| "-".into())
        );
        let _ = writeln!(
            o,
            "  Group: {}  Type: {}{}{}  State: {}  Flaps: {}",
            s.group,
            n.peer_type,
            if n.route_reflector_client {
                "  Route reflector client"
            } else {
                ""
            },
            if n.dynamic { "  (dynamic)" } else { "" },
            s.state,
            s.flaps
        );
        let _ = writeln!(
            o,
            "  Peer ID: {}  Holdtime: {}  Keepalive: {}  Last Up/Dwn: {}",
            n.router_id
                .map_or_else(|| "-".to_string(), |r| r.to_string()),
            n.hold_time,
            n.keepalive,
            duration(s.last_change_secs)
        );
        let _ = writeln!(o, "  NLRI for this session: {}", join(&n.families));
        if !n.peer_capabilities.is_empty() {
            let _ = writeln!(o, "  Peer capabilities: {}", n.peer_capabilities.join(", "));
        }
        let _ = writeln!(
            o,
            "  Messages: in {}  out {}  queued {} ({} octets)",
            s.in_messages, s.out_messages, s.out_queue, n.out_queue_octets
        );
        let _ = writeln!(
            o,
            "  Send hold time: {}  Send hold timer expired: {}",
            if n.send_hold_time == 0 {
                "off".to_string()
            } else {
                format!("{} s", n.send_hold_time)
            },
            n.send_hold_timer_expired
        );
        if n.output_throttled || n.pending_routes > 0 || n.pending_tables > 0 {
            let _ = writeln!(
                o,
                "  Output: {}  pending routes {}  pending tables {}",
                if n.output_throttled {
                    "throttled (not reading)"
                } else {
                    "flowing"
                },
                n.pending_routes,
                n.pending_tables
            );
        }
        if n.route_refresh_coalesced > 0 {
            let _ = writeln!(
                o,
                "  ROUTE-REFRESH requests coalesced: {}",
                n.route_refresh_coalesced
            );
        }
        if n.treat_as_withdraw > 0 {
            let _ = writeln!(
                o,
                "  UPDATEs treated as withdraw (RFC 7606): {}",
                n.treat_as_withdraw
            );
        }
        let _ = writeln!(
            o,
            "  Paths not sent (too large for the peer): {}",
            n.oversize_paths_not_sent
        );
        if let Some(e) = &n.last_error {
            let _ = writeln!(o, "  Last error: {e}");
        }
        for t in &s.tables {
            let _ = writeln!(
                o,
                "  Table {}: Active {}  Received {}  Accepted {}",
                t.table, t.active, t.received, t.accepted
            );
        }
        o.push('\n');
    }
    o
}

/// Items' text, a space between them.
fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn routes(list: &[RouteEntry]) -> String {
    let mut o = String::new();
    let mut current = None;
    for r in list {
        if current != Some(r.family) {
            current = Some(r.family);
            let n = list.iter().filter(|x| x.family == r.family).count();
            let _ = writeln!(o, "{}: {n} paths", r.family);
        }
        let mark = if r.best {
            "*"
        } else if r.eligible {
            " "
        } else {
            "x"
        };
        let _ = writeln!(o, "{mark} {}", r.nlri);
        let _ = writeln!(
            o,
            "    from {}  next-hop {}  as-path {}  local-pref {}  origin {}{}",
            r.from,
            r.next_hop,
            r.as_path,
            r.local_pref
                .map(|l| l.to_string())
                .unwrap_or_else(|| "-".into()),
            r.origin,
            r.med.map(|m| format!("  med {m}")).unwrap_or_default()
        );
        if !r.extended_communities.is_empty() || !r.communities.is_empty() {
            let all: Vec<&str> = r
                .communities
                .iter()
                .chain(r.extended_communities.iter())
                .map(String::as_str)
                .collect();
            let _ = writeln!(o, "    communities {}", all.join(" "));
        }
        if r.originator_id.is_some() || !r.cluster_list.is_empty() {
            let _ = writeln!(
                o,
                "    originator {}  cluster-list {}",
                r.originator_id
                    .map_or_else(|| "-".to_string(), |o| o.to_string()),
                join(&r.cluster_list)
            );
        }
        if !r.eligible {
            let _ = writeln!(o, "    rejected: loop (our router id or cluster id)");
        }
    }
    if list.is_empty() {
        o.push_str("no routes\n");
    }
    o
}

pub fn reloaded(r: &ReloadReport) -> String {
    let list = |v: &[String]| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(" ")
        }
    };
    let mut o = format!(
        "configuration reloaded: added {}  removed {}  changed {}  unchanged {}\n",
        list(&r.added),
        list(&r.removed),
        list(&r.changed),
        r.unchanged
    );
    for p in &r.restart_pending {
        let _ = writeln!(o, "Restart pending: {p}");
    }
    o
}

/// `show vrf`.
pub fn vrfs(vrfs: &[VrfInfo]) -> String {
    let mut o = String::new();
    if vrfs.is_empty() {
        o.push_str("No VRF.\n");
        return o;
    }
    for v in vrfs {
        let _ = writeln!(
            o,
            "VRF {}  VNI {}  table {}  RD {}  ({})",
            v.name, v.vni, v.table, v.rd, v.source
        );
        let _ = writeln!(
            o,
            "  Import: {}  Export: {}",
            v.import.join(" "),
            v.export.join(" ")
        );
        let _ = writeln!(
            o,
            "  Kernel: {}{}  bridge {}  vxlan {}",
            v.backend,
            v.vrf_device
                .as_ref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default(),
            v.bridge,
            v.vxlan
        );
        let _ = writeln!(
            o,
            "  Imported routes: {}  installed: {}  kernel repairs: {}",
            v.imported, v.installed, v.kernel_repairs
        );
        if v.pods.is_empty() {
            let _ = writeln!(o, "  Pods: none");
        } else {
            let _ = writeln!(o, "  Pods: {}", v.pods.join(", "));
        }
        if let Some(e) = &v.error {
            let _ = writeln!(o, "  Error: {e}");
        }
    }
    o
}

/// `show route table VRF`.
pub fn vrf_routes(vrf: &str, table: u32, rib: &[VrfRibRoute], kernel: &[VrfKernelRoute]) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "VRF {vrf} (kernel table {table})");
    let _ = writeln!(o, "\nRIB view: {} routes", rib.len());
    let _ = writeln!(
        o,
        "  {:<26} {:<6} {:<9} Next hops",
        "Prefix", "From", "Kernel"
    );
    for r in rib {
        let _ = writeln!(
            o,
            "  {:<26} {:<6} {:<9} {}{}",
            r.prefix,
            r.source,
            if r.installed { "yes" } else { "no" },
            r.nexthops.join(", "),
            r.reason
                .as_ref()
                .map(|x| format!(" ({x})"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(o, "\nKernel view: {} routes", kernel.len());
    for k in kernel {
        let _ = writeln!(
            o,
            "  {:<26} {:<11} {}",
            k.prefix,
            k.kind,
            k.nexthops.join(", ")
        );
    }
    o
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1048576.0)
}

/// `show memory`.
pub fn memory(m: &MemoryReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Resident:        {} (anonymous {}, peak {})",
        mib(m.rss),
        mib(m.rss_anonymous),
        mib(m.rss_peak)
    );
    if let Some(a) = &m.allocator {
        let _ = writeln!(
            out,
            "Allocator:       {} in use ({} mapped apart), {} free",
            mib(a.in_use),
            mib(a.mapped),
            mib(a.free)
        );
    }
    let r = &m.rib;
    let per_path = r
        .table_bytes
        .checked_div(r.paths)
        .map(|b| format!(", {b} B/path"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "Route table:     {} routes, {} paths, {}{per_path}",
        r.routes,
        r.paths,
        mib(r.table_bytes)
    );
    let _ = writeln!(out, "Attribute sets:  {}", r.attribute_sets);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bfd_sessions_in_junos_columns() {
        use ferry_control::BfdState as State;
        let up = BfdSessionInfo {
            address: "10.0.0.2".parse().unwrap(),
            local_address: None,
            state: State::Up,
            remote_state: State::Up,
            multihop: false,
            local_diagnostic: "None".into(),
            local_discriminator: 7,
            remote_discriminator: 9,
            minimum_interval_ms: 100,
            transmit_interval_ms: 100,
            receive_interval_ms: 100,
            multiplier: 3,
            remote_multiplier: 3,
            detection_time_ms: 300,
            uptime_secs: Some(75),
            last_change_secs: 75,
            flaps: 1,
            remote_control_plane_independent: false,
        };
        let mut down = up.clone();
        down.address = "10.9.0.2".parse().unwrap();
        down.state = State::Down;
        down.multihop = true;
        down.uptime_secs = None;
        down.local_diagnostic = "Control Detection Time Expired".into();
        let text = bfd_sessions(&[up, down]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with("Address"), "{text}");
        let row: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(
            row,
            [
                "10.0.0.2",
                "Up",
                "single-hop",
                "0.300",
                "0.100",
                "3",
                "0:01:15",
                "1"
            ]
        );
        assert!(lines[3].starts_with("10.9.0.2"));
        assert!(
            lines[4].contains("Control Detection Time Expired"),
            "{text}"
        );
        assert_eq!(lines.last(), Some(&"2 sessions, 1 up"));
    }

    #[test]
    fn a_pending_restart_is_shown_after_the_router_id_and_after_a_reload() {
        let mut s = Summary {
            router_id: "10.0.0.1".parse().unwrap(),
            local_as: 64512,
            cluster_id: None,
            groups: 1,
            peers: 0,
            down_peers: 0,
            unconfigured_peers: 0,
            tables: Vec::new(),
            neighbors: Vec::new(),
            restart_pending: Vec::new(),
        };
        assert!(!summary(&s).contains("Restart pending"));
        s.restart_pending = vec![
            "router-id 10.0.0.9 (running 10.0.0.1)".into(),
            "local-as 64513 (running 64512)".into(),
        ];
        let text = summary(&s);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("Router ID: 10.0.0.1  Local AS: 64512"));
        assert_eq!(
            lines[1],
            "Restart pending: router-id 10.0.0.9 (running 10.0.0.1)"
        );
        assert_eq!(lines[2], "Restart pending: local-as 64513 (running 64512)");
        assert!(lines[3].starts_with("Groups: 1"));

        let r = ReloadReport {
            unchanged: 2,
            restart_pending: vec!["local-as 64513 (running 64512)".into()],
            ..Default::default()
        };
        assert_eq!(
            reloaded(&r),
            "configuration reloaded: added -  removed -  changed -  unchanged 2\n\
             Restart pending: local-as 64513 (running 64512)\n"
        );
        // An answer of an older bgpd, without the field, still reads.
        let old: ReloadReport =
            serde_json::from_str(r#"{"added":[],"removed":[],"changed":[],"unchanged":0}"#)
                .unwrap();
        assert!(old.restart_pending.is_empty());
    }
}
