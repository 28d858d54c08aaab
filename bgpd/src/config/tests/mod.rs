//! Loading and validating: what a file yields, and the errors that name
//! the file, the key and the value.

mod reload;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use ferry_wire::Family;
use ipnet::IpNet;

use super::*;

const SEED: &str = r#"
router-id = "10.10.25.42"
local-as = 64512
cluster-id = "10.10.25.42"          # present: this speaker reflects
control-socket = "/run/ferry/bgpd.sock"
[[group]]
name = "workers"
type = "internal"                    # or "external" with peer-as
local-address = "10.10.25.42"
families = ["inet-vpn", "inet6-vpn", "evpn"]
route-reflector-client = true
allow = ["10.10.0.0/16"]             # dynamic neighbours
neighbors = []
hold-time = 90
[[group]]
name = "inter-cluster"
type = "internal"
local-address = "10.10.25.42"
families = ["inet-vpn", "inet6-vpn", "evpn"]
neighbors = ["10.20.63.45"]
"#;

fn err(text: &str) -> String {
    from_str(text, "test.toml").unwrap_err().to_string()
}

#[test]
fn the_cluster_mesh_peers_with_every_other_clusters_reflectors() {
    let base = SEED.replace("neighbors = [\"10.20.63.45\"]", "neighbors = []");
    let mesh =
        |clusters: &str| format!("{base}[cluster-mesh]\nlocal-cluster = \"us-west-1\"\n{clusters}");
    let two = mesh(
        "[[cluster-mesh.clusters]]\nname = \"us-west-1\"\nroute-reflectors = [\"10.10.25.42\"]\n\
         [[cluster-mesh.clusters]]\nname = \"us-west-2\"\nroute-reflectors = [\"10.20.63.45\", \"localhost\"]\n",
    );
    let c = from_str(&two, "mesh.toml").unwrap();
    let g = c.groups.iter().find(|g| g.name == MESH_GROUP).unwrap();
    assert_eq!(
        g.session.local_address,
        Some("10.10.25.42".parse().unwrap())
    );
    assert!(g.neighbors.contains(&"10.20.63.45".parse().unwrap()));
    assert!(
        g.neighbors.contains(&"127.0.0.1".parse().unwrap()),
        "{:?}",
        g.neighbors
    );
    assert!(!g.neighbors.contains(&"10.10.25.42".parse().unwrap()));
    assert_eq!(
        g.session.families,
        vec![Family::VPNV4, Family::VPNV6, Family::EVPN]
    );
    // A third cluster is one entry; a reload adds its reflector only.
    let three = format!(
        "{two}[[cluster-mesh.clusters]]\nname = \"eu-west-1\"\nroute-reflectors = [\"10.30.0.10\"]\n"
    );
    let c3 = from_str(&three, "mesh.toml").unwrap();
    let plan = diff(&c, &c3);
    assert_eq!(plan.added.len(), 1);
    assert_eq!(
        plan.added[0].address,
        "10.30.0.10".parse::<IpAddr>().unwrap()
    );
    assert!(plan.removed.is_empty() && plan.changed.is_empty());
}

#[test]
fn the_seed_configuration_loads() {
    let c = from_str(SEED, "seed.toml").unwrap();
    assert_eq!(c.router_id, Ipv4Addr::new(10, 10, 25, 42));
    assert_eq!(c.local_as, 64512);
    assert!(c.is_reflector());
    assert_eq!(c.groups.len(), 2);
    assert_eq!(
        c.groups[0].allow,
        vec!["10.10.0.0/16".parse::<IpNet>().unwrap()]
    );
    let n = c.neighbors();
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].address, "10.20.63.45".parse::<IpAddr>().unwrap());
    assert_eq!(n[0].group, "inter-cluster");
    assert_eq!(n[0].session.peer_as, 64512);
    assert_eq!(n[0].session.families, DEFAULT_FAMILIES.to_vec());
    let d = c.match_dynamic("10.10.93.12".parse().unwrap()).unwrap();
    assert!(d.dynamic && d.session.route_reflector_client);
    assert_eq!(d.group, "workers");
    assert!(c.match_dynamic("10.20.63.45".parse().unwrap()).is_none());
    assert!(c.match_dynamic("192.0.2.1".parse().unwrap()).is_none());
}

#[test]
fn defaults_apply() {
    let c = from_str("router-id = \"1.1.1.1\"\nlocal-as = 65000\n", "t").unwrap();
    assert_eq!(c.control_socket, PathBuf::from(DEFAULT_CONTROL_SOCKET));
    assert_eq!((c.hold_time, c.connect_retry, c.listen_port), (90, 30, 179));
    assert!(!c.is_reflector());
}

#[test]
fn bfd_liveness_detection_per_group_and_for_the_mesh() {
    let base = "router-id = \"1.1.1.1\"\nlocal-as = 65000\ncluster-id = \"1.1.1.1\"\n";
    let text = format!(
        "{base}[[group]]\nname = \"workers\"\nneighbors = [\"10.0.0.2\"]\n\
         [group.bfd-liveness-detection]\nminimum-interval = 100\nmultiplier = 3\n\
         [cluster-mesh]\nlocal-cluster = \"a\"\nlocal-address = \"10.9.0.1\"\n\
         [[cluster-mesh.clusters]]\nname = \"b\"\nroute-reflectors = [\"10.9.0.2\"]\n\
         [cluster-mesh.bfd-liveness-detection]\nminimum-interval = 300\n"
    );
    let c = from_str(&text, "test.toml").unwrap();
    let workers = c.neighbor("10.0.0.2".parse().unwrap()).unwrap();
    assert_eq!(
        workers.session.bfd,
        Some(BfdConfig {
            minimum_interval_ms: 100,
            multiplier: 3,
            multihop: false,
            check_control_plane_failure: false,
        })
    );
    let mesh = c.neighbor("10.9.0.2".parse().unwrap()).unwrap();
    assert_eq!(
        mesh.session
            .bfd
            .map(|b| (b.minimum_interval_ms, b.multiplier, b.multihop)),
        Some((300, 3, true))
    );
    let g = "[[group]]\nname = \"g\"\n[group.bfd-liveness-detection]\n";
    let cases: &[(String, &[&str])] = &[
        (
            format!("{base}{g}multiplier = 3\n"),
            &[
                "group[0].bfd-liveness-detection.minimum-interval",
                "missing",
            ],
        ),
        (
            format!("{base}{g}minimum-interval = 5\n"),
            &["group[0].bfd-liveness-detection.minimum-interval", "5"],
        ),
        (
            format!("{base}{g}minimum-interval = 100\nmultiplier = 0\n"),
            &["group[0].bfd-liveness-detection.multiplier", "0"],
        ),
        (
            format!("{base}{g}minimum-interval = \"100\"\n"),
            &[
                "group[0].bfd-liveness-detection.minimum-interval",
                "without quotes",
            ],
        ),
        (
            format!("{base}{g}minimum_interval = 100\n"),
            &[
                "group[0].bfd-liveness-detection.minimum_interval",
                "minimum-interval",
            ],
        ),
        (
            format!("{base}{g}minimum-interval = 100\nsession-mode = \"x\"\n"),
            &["session-mode", "expected one of"],
        ),
    ];
    for (text, needles) in cases {
        let e = err(text);
        assert!(e.starts_with("test.toml: "), "{e}");
        for n in *needles {
            assert!(e.contains(n), "{e:?} should contain {n:?}");
        }
    }
}

#[test]
fn send_hold_time_defaults_to_the_rfc_9687_suggestion() {
    let base = "router-id = \"1.1.1.1\"\nlocal-as = 65000\n[[group]]\nname = \"g\"\nneighbors = [\"10.0.0.2\"]\n";
    let secs = |text: &str, hold: u16| {
        let c = from_str(text, "t").unwrap();
        c.neighbors()[0]
            .session
            .send_hold_time(hold)
            .map(|d| d.as_secs())
    };
    // The greater of 8 minutes or twice the hold time.
    assert_eq!(secs(base, 90), Some(480));
    assert_eq!(secs(base, 0), Some(480));
    assert_eq!(secs(base, 600), Some(1200));
    assert_eq!(secs(&format!("{base}send-hold-time = 3\n"), 90), Some(3));
    assert_eq!(secs(&format!("{base}send-hold-time = 0\n"), 90), None);
}

#[test]
fn errors_name_the_key_and_the_value() {
    let base = "router-id = \"1.1.1.1\"\nlocal-as = 65000\n";
    let cases: &[(&str, &[&str])] = &[
        ("local-as = 65000\n", &["router-id", "missing"]),
        ("router-id = \"1.1.1.300\"\nlocal-as = 1\n", &["router-id", "1.1.1.300"]),
        ("router-id = \"1.1.1.1\"\nlocal-as = 23456\n", &["local-as", "23456"]),
        ("router-id = \"1.1.1.1\"\nlocal-as = 0\n", &["local-as", "0"]),
        (&format!("{base}hold-time = 2\n"), &["hold-time", "2"]),
        (&format!("{base}[[group]]\nname = \"g\"\nsend-hold-time = 2\n"), &["group[0].send-hold-time", "2", "RFC 9687"]),
        (&format!("{base}[[group]]\nname = \"g\"\nallow = [\"10.0.0.0/33\"]\n"), &["group[0].allow[0]", "10.0.0.0/33"]),
        (&format!("{base}[[group]]\nname = \"g\"\nneighbors = [\"10.0.0.999\"]\n"), &["group[0].neighbors[0]", "10.0.0.999"]),
        (&format!("{base}[[group]]\nname = \"g\"\nfamilies = [\"evpn\", \"l2vpn\"]\n"), &["group[0].families[1]", "l2vpn"]),
        (&format!("{base}[[group]]\nname = \"g\"\ntype = \"ebgp\"\n"), &["group[0].type", "ebgp"]),
        (&format!("{base}[[group]]\nname = \"g\"\ntype = \"external\"\n"), &["group[0].peer-as", "missing"]),
        (&format!("{base}[[group]]\nname = \"g\"\nroute-reflector-client = true\n"), &["group[0].route-reflector-client", "cluster-id"]),
        (&format!("{base}[[group]]\nname = \"g\"\n[[group]]\nname = \"g\"\n"), &["group[1].name", "\"g\""]),
        (&format!("{base}[[group]]\nname = \"a\"\nneighbors = [\"1.2.3.4\"]\n[[group]]\nname = \"b\"\nneighbors = [\"1.2.3.4\"]\n"), &["group[1].neighbors[0]", "1.2.3.4", "\"a\""]),
        (&format!("{base}[[group]]\nname = \"g\"\nlocal-address = \"10.0.0.1\"\nneighbors = [\"2001:db8::1\"]\n"), &["group[0].neighbors[0]", "2001:db8::1"]),
        (&format!("{base}[[vrf]]\nname = \"blue\"\nvni = 16777216\nroute-target = \"11:11\"\n"), &["vrf[0].vni", "16777216"]),
        (&format!("{base}[[vrf]]\nname = \"blue\"\nvni = 10002\nroute-target = \"11\"\n"), &["vrf[0].route-target", "\"11\""]),
    ];
    for (text, needles) in cases {
        let e = err(text);
        assert!(e.starts_with("test.toml: "), "{e}");
        for n in *needles {
            assert!(e.contains(n), "{e:?} should contain {n:?}");
        }
    }
}

#[test]
fn unknown_keys_and_syntax_errors_are_reported() {
    let e = err("router-id = \"1.1.1.1\"\nlocal-as = 1\nhold-tim = 3\n");
    assert!(e.contains("hold-tim"), "{e}");
    let e = err("router-id = \"1.1.1.1\"\nlocal-as = \n");
    assert!(e.contains("line 2") || e.contains("2:"), "{e}");
    let e = load(Path::new("/nonexistent/ferry.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/ferry.toml"), "{e}");
}

#[test]
fn longest_allow_prefix_wins() {
    let c = from_str(
        "router-id = \"1.1.1.1\"\nlocal-as = 1\ncluster-id = \"1.1.1.1\"\n[[group]]\nname = \"wide\"\nallow = [\"10.0.0.0/8\"]\n[[group]]\nname = \"narrow\"\nroute-reflector-client = true\nallow = [\"10.10.0.0/16\"]\n",
        "t",
    )
    .unwrap();
    assert_eq!(
        c.match_dynamic("10.10.1.1".parse().unwrap()).unwrap().group,
        "narrow"
    );
    assert_eq!(
        c.match_dynamic("10.20.1.1".parse().unwrap()).unwrap().group,
        "wide"
    );
}

/// `err(text)` contains every needle, and starts with the file.
fn rejects(text: &str, needles: &[&str]) {
    let e = err(text);
    assert!(e.starts_with("test.toml: "), "{e}");
    for n in needles {
        assert!(e.contains(n), "{e:?} should contain {n:?}");
    }
}

const BASE: &str = "router-id = \"1.1.1.1\"\nlocal-as = 65000\n";

#[test]
fn two_vrfs_never_share_a_kernel_table() {
    let vrf = |name: &str, vni: u32, table: Option<u32>| {
        let t = table.map(|t| format!("table = {t}\n")).unwrap_or_default();
        format!("[[vrf]]\nname = \"{name}\"\nvni = {vni}\nroute-target = \"11:{vni}\"\n{t}")
    };
    // An explicit table equal to another VRF's default one, both ways.
    rejects(
        &format!(
            "{BASE}{}{}",
            vrf("blue", 5, Some(1_000_001)),
            vrf("red", 1, None)
        ),
        &[
            "vrf[1].vni",
            "1000001",
            "\"blue\"",
            "\"red\"",
            "1000000 + VNI 1",
        ],
    );
    rejects(
        &format!(
            "{BASE}{}{}",
            vrf("red", 1, None),
            vrf("blue", 5, Some(1_000_001))
        ),
        &["vrf[1].table", "1000001", "\"blue\"", "\"red\""],
    );
    // Two explicit tables.
    rejects(
        &format!(
            "{BASE}{}{}",
            vrf("blue", 5, Some(100)),
            vrf("red", 6, Some(100))
        ),
        &["vrf[1].table", "100", "\"blue\"", "\"red\""],
    );
    // Distinct tables, explicit or derived, are fine.
    let c = from_str(
        &format!(
            "{BASE}{}{}{}",
            vrf("blue", 5, Some(1_000_001)),
            vrf("red", 2, None),
            vrf("green", 3, Some(100))
        ),
        "test.toml",
    )
    .unwrap();
    assert_eq!(c.vrfs.len(), 3);
}

#[test]
fn keys_are_matched_exactly() {
    rejects(
        "router-id = \"1.1.1.1\"\nLOCAL-AS = 64512\n",
        &["LOCAL-AS", "write \"local-as\""],
    );
    rejects(
        &format!("{BASE}hold_time = 90\n"),
        &["hold_time", "write \"hold-time\""],
    );
    rejects(
        &format!("{BASE}[[group]]\nname = \"g\"\nHold-Time = 90\n"),
        &["group[0].Hold-Time", "write \"hold-time\""],
    );
    rejects(
        &format!("{BASE}[[vrf]]\nname = \"b\"\nVNI = 1\nroute-target = \"1:1\"\n"),
        &["vrf[0].VNI", "write \"vni\""],
    );
    rejects(
        &format!("{BASE}[[group]]\nname = \"g\"\n[group.prefix-limit.evpn]\nMaximum = 5\n"),
        &["group[0].prefix-limit.evpn.Maximum", "\"maximum\""],
    );
    rejects(
        &format!("{BASE}[cluster-mesh]\nLocal-Cluster = \"a\"\n"),
        &["cluster-mesh.Local-Cluster", "\"local-cluster\""],
    );
    rejects(
        &format!("{BASE}routerid = \"1.1.1.1\"\n"),
        &["routerid", "expected one of", "router-id"],
    );
}

#[test]
fn numbers_must_be_toml_integers() {
    rejects(
        "router-id = \"1.1.1.1\"\nlocal-as = \"64512\"\n",
        &[
            "local-as",
            "\"64512\"",
            "an integer",
            "write 64512 without quotes",
        ],
    );
    let cases: &[(&str, &[&str])] = &[
        ("hold-time = \"90\"\n", &["hold-time", "\"90\""]),
        ("listen-port = \"179\"\n", &["listen-port", "\"179\""]),
        ("connect-retry = 3.5\n", &["connect-retry", "3.5"]),
        (
            "graceful-restart-time = true\n",
            &["graceful-restart-time", "true"],
        ),
        (
            "kernel-sync = \"yes\"\n",
            &["kernel-sync", "\"yes\"", "true or false"],
        ),
        (
            "vtep-address = 1\n",
            &["vtep-address", "integer 1", "a string"],
        ),
        (
            "[[group]]\nname = \"g\"\nhold-time = \"30\"\n",
            &["group[0].hold-time", "\"30\""],
        ),
        (
            "[[group]]\nname = \"g\"\npeer-port = \"1179\"\n",
            &["group[0].peer-port", "\"1179\""],
        ),
        (
            "[[group]]\nname = \"g\"\nttl-security = \"1\"\n",
            &["group[0].ttl-security", "\"1\""],
        ),
        (
            "[[group]]\nname = \"g\"\nallow = [10]\n",
            &["group[0].allow[0]", "integer 10"],
        ),
        (
            "[[group]]\nname = \"g\"\nneighbors = \"10.0.0.1\"\n",
            &["group[0].neighbors", "\"10.0.0.1\"", "an array"],
        ),
        (
            "[[group]]\nname = \"g\"\n[group.prefix-limit.evpn]\nmaximum = \"5\"\n",
            &["group[0].prefix-limit.evpn.maximum", "\"5\""],
        ),
        (
            "[[vrf]]\nname = \"b\"\nvni = \"10\"\nroute-target = \"1:1\"\n",
            &["vrf[0].vni", "\"10\""],
        ),
        (
            "[[vrf]]\nname = \"b\"\nvni = 10\ntable = \"100\"\nroute-target = \"1:1\"\n",
            &["vrf[0].table", "\"100\""],
        ),
    ];
    for (extra, needles) in cases {
        rejects(&format!("{BASE}{extra}"), needles);
    }
}

#[test]
fn prefixes_with_host_bits_are_refused() {
    let allow =
        |p: &str| format!("{BASE}[[group]]\nname = \"g\"\nallow = [\"10.10.0.0/16\", \"{p}\"]\n");
    rejects(
        &allow("10.1.2.3/8"),
        &["group[0].allow[1]", "10.1.2.3/8", "host bits", "10.0.0.0/8"],
    );
    rejects(
        &allow("2001:db8::1/32"),
        &["group[0].allow[1]", "2001:db8::1/32", "2001:db8::/32"],
    );
    for ok in ["10.0.0.0/8", "10.1.2.3/32", "2001:db8::/32", "0.0.0.0/0"] {
        let c = from_str(&allow(ok), "test.toml").unwrap();
        assert_eq!(c.groups[0].allow[1], ok.parse::<IpNet>().unwrap());
    }
}

#[test]
fn a_neighbor_is_never_ourselves() {
    rejects(
        &format!("{BASE}[[group]]\nname = \"g\"\nneighbors = [\"10.0.0.2\", \"1.1.1.1\"]\n"),
        &["group[0].neighbors[1]", "1.1.1.1", "router-id"],
    );
    rejects(
        &format!("{BASE}[[group]]\nname = \"a\"\nneighbors = [\"10.0.0.9\"]\n[[group]]\nname = \"b\"\nlocal-address = \"10.0.0.9\"\n"),
        &["group[0].neighbors[0]", "10.0.0.9", "group[1].local-address"],
    );
    rejects(
        &format!("{BASE}[[group]]\nname = \"a\"\nlocal-address = \"10.0.0.9\"\nneighbors = [\"10.0.0.9\"]\n"),
        &["group[0].neighbors[0]", "10.0.0.9", "group[0].local-address"],
    );
    let c = from_str(
        &format!("{BASE}[[group]]\nname = \"a\"\nlocal-address = \"10.0.0.9\"\nneighbors = [\"10.0.0.10\"]\n"),
        "test.toml",
    )
    .unwrap();
    assert_eq!(c.neighbors().len(), 1);
}

#[test]
fn syntax_errors_name_the_line() {
    let e = err("router-id = \"1.1.1.1\"\nlocal-as = 1\nlocal-as = 2\n");
    assert!(e.starts_with("test.toml: line 3"), "{e}");
    assert!(!e.contains('\n'), "{e}");
    let e = err("router-id = \"1.1.1.1\"\nlocal-as = @AS@\n");
    assert!(e.starts_with("test.toml: line 2, column 12: "), "{e}");
    assert!(!e.contains('\n'), "{e}");
}

#[test]
fn http_listen_and_log_format() {
    let base = "router-id = \"1.1.1.1\"\nlocal-as = 1\n";
    let c = from_str(base, "test.toml").unwrap();
    assert_eq!(c.http_listen, None);
    assert_eq!(c.log_format, LogFormat::Text);
    let c = from_str(
        &format!("http-listen = \"[::]:9179\"\nlog-format = \"json\"\n{base}"),
        "test.toml",
    )
    .unwrap();
    assert_eq!(c.http_listen, Some("[::]:9179".parse().unwrap()));
    assert_eq!(c.log_format, LogFormat::Json);
    for (bad, needle) in [
        (
            "http-listen = \"9179\"",
            "test.toml: http-listen: \"9179\" is not ADDR:PORT",
        ),
        (
            "http-listen = \"0.0.0.0\"",
            "test.toml: http-listen: \"0.0.0.0\" is not ADDR:PORT",
        ),
        (
            "http-listen = \":::9179\"",
            "test.toml: http-listen: \":::9179\" is not ADDR:PORT",
        ),
        (
            "http-listen = \"0.0.0.0:0\"",
            "test.toml: http-listen: \"0.0.0.0:0\": port 0",
        ),
        (
            "http-listen = 9179",
            "test.toml: http-listen: the integer 9179 where a string is expected",
        ),
        (
            "log-format = \"xml\"",
            "test.toml: log-format: \"xml\": expected \"text\" or \"json\"",
        ),
        ("http_listen = \"0.0.0.0:9179\"", "write \"http-listen\""),
    ] {
        let e = err(&format!("{bad}\n{base}"));
        assert!(e.contains(needle), "{bad}: {e}");
    }
}

#[test]
fn the_log_format_is_read_before_validation() {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), "log-format = \"json\"\nlocal-as = \"bad\"\n").unwrap();
    assert_eq!(log_format_of(f.path()), Some(LogFormat::Json));
    std::fs::write(f.path(), "local-as = 1\n").unwrap();
    assert_eq!(log_format_of(f.path()), None);
}

#[test]
fn address_errors_name_the_file_the_key_and_the_value_exactly() {
    let base = "router-id = \"1.1.1.1\"\nlocal-as = 1\n";
    for (bad, want) in [
        (
            "listen-address = \"10.0.0.300\"",
            "test.toml: listen-address: invalid IP address \"10.0.0.300\"",
        ),
        (
            "listen-address = \"::ffff:10.0.0.1\"",
            "test.toml: listen-address: \"::ffff:10.0.0.1\" is an IPv4-mapped IPv6 address: write the IPv4 address",
        ),
        (
            "cluster-id = \"2001:db8::1\"",
            "test.toml: cluster-id: invalid IPv4 address \"2001:db8::1\"",
        ),
        (
            "vtep-address = \"vtep\"",
            "test.toml: vtep-address: invalid IP address \"vtep\"",
        ),
        (
            "http-listen = \"localhost:9179\"",
            "test.toml: http-listen: \"localhost:9179\" is not ADDR:PORT: write for example \"0.0.0.0:9179\" or \"[::]:9179\"",
        ),
        (
            "http-listen = \"[::1]:0\"",
            "test.toml: http-listen: \"[::1]:0\": port 0; give the port to listen on",
        ),
        ("control-socket = \"\"", "test.toml: control-socket: empty path"),
        (
            "control-group = \"no-such-group-for-ferry\"",
            "test.toml: control-group: \"no-such-group-for-ferry\": no such group",
        ),
    ] {
        assert_eq!(err(&format!("{bad}\n{base}")), want, "{bad}");
    }
    for (bad, want) in [
        (
            "local-address = \"10.0.0.300\"",
            "test.toml: group[0].local-address: invalid IP address \"10.0.0.300\"",
        ),
        (
            "local-address = \"::ffff:10.0.0.1\"",
            "test.toml: group[0].local-address: \"::ffff:10.0.0.1\" is an IPv4-mapped IPv6 address: write the IPv4 address",
        ),
    ] {
        let text = format!("{base}[[group]]\nname = \"g\"\n{bad}\nneighbors = [\"10.0.0.2\"]\n");
        assert_eq!(err(&text), want, "{bad}");
    }
}
