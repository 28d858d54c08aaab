//! Reloads: what a changed file resets, and what it keeps until a
//! restart.

use std::net::Ipv4Addr;

use super::{from_str, SEED};
use crate::config::*;

#[test]
fn diff_sorts_neighbors() {
    let a = from_str(SEED, "a").unwrap();
    let b = from_str(
        &SEED.replace(
            "neighbors = [\"10.20.63.45\"]",
            "neighbors = [\"10.30.0.1\"]\nhold-time = 30",
        ),
        "b",
    )
    .unwrap();
    let plan = diff(&a, &b);
    assert_eq!(plan.added.len(), 1);
    assert_eq!(plan.removed.len(), 1);
    let c = from_str(
        &SEED.replace(
            "neighbors = [\"10.20.63.45\"]",
            "neighbors = [\"10.20.63.45\"]\nhold-time = 30",
        ),
        "c",
    )
    .unwrap();
    let plan = diff(&a, &c);
    assert_eq!(plan.changed.len(), 1);
    assert!(plan.unchanged.is_empty());
    assert!(diff(&a, &a).changed.is_empty());
    assert_eq!(diff(&a, &a).unchanged.len(), 1);
}

/// Writes `text` to a file and reloads it over a daemon running `running`.
fn reload_text(
    running: &Config,
    text: &str,
) -> (tempfile::NamedTempFile, Result<Config, ConfigError>) {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), text).unwrap();
    let r = reload(f.path(), &StartupValues::of(running));
    (f, r)
}

#[test]
fn a_reload_keeps_the_running_identity_and_says_a_restart_is_pending() {
    let running = from_str(SEED, "seed.toml").unwrap();
    assert!(running.restart_pending.is_empty());
    // A new local-as, router-id and cluster-id, and one more neighbour.
    let text = SEED
        .replace("local-as = 64512", "local-as = 64513")
        .replace("router-id = \"10.10.25.42\"", "router-id = \"10.10.25.43\"")
        .replace(
            "cluster-id = \"10.10.25.42\"",
            "cluster-id = \"10.10.25.44\"",
        )
        .replace("[\"10.20.63.45\"]", "[\"10.20.63.45\", \"10.20.63.46\"]");
    let (_f, r) = reload_text(&running, &text);
    let c = r.unwrap();
    assert_eq!(
        c.restart_pending,
        vec![
            "router-id 10.10.25.43 (running 10.10.25.42)".to_string(),
            "local-as 64513 (running 64512)".to_string(),
            "cluster-id 10.10.25.44 (running 10.10.25.42)".to_string(),
        ]
    );
    assert_eq!(c.local_as, 64512);
    assert_eq!(c.router_id, Ipv4Addr::new(10, 10, 25, 42));
    assert_eq!(c.cluster_id, Some(Ipv4Addr::new(10, 10, 25, 42)));
    // Sessions and dynamic neighbours keep the running AS: nothing is
    // reset, the new neighbour is added.
    let plan = diff(&running, &c);
    assert!(
        plan.changed.is_empty() && plan.removed.is_empty(),
        "{plan:?}"
    );
    assert_eq!(plan.added.len(), 1);
    assert_eq!(plan.added[0].session.peer_as, 64512);
    assert!(!plan.allow_changed);
    let d = c.match_dynamic("10.10.93.12".parse().unwrap()).unwrap();
    assert_eq!(
        d,
        running
            .match_dynamic("10.10.93.12".parse().unwrap())
            .unwrap()
    );
    // What a restart will use.
    let restarted = from_str(&text, "seed.toml").unwrap();
    assert_eq!(restarted.local_as, 64513);
    assert!(restarted.restart_pending.is_empty());

    // The file back at the running value: nothing pending.
    let (_f, r) = reload_text(
        &c,
        &SEED.replace("local-as = 64512", "local-as = 64512 # again"),
    );
    let back = r.unwrap();
    assert!(
        back.restart_pending.is_empty(),
        "{:?}",
        back.restart_pending
    );
    assert_eq!(
        Config {
            origin: running.origin.clone(),
            ..back
        },
        running
    );

    // An internal group that spells out the new AS stays internal with the running one.
    let (_f, r) = reload_text(
        &running,
        &SEED
            .replace("local-as = 64512", "local-as = 64513")
            .replace("hold-time = 90", "hold-time = 90\npeer-as = 64513"),
    );
    let c = r.unwrap();
    assert_eq!(
        c.restart_pending,
        vec!["local-as 64513 (running 64512)".to_string()]
    );
    assert_eq!(c.groups[0].session.peer_as, 64512);

    // The sockets too.
    let (_f, r) = reload_text(&running, &format!("listen-port = 1179\n{SEED}"));
    assert_eq!(
        r.unwrap().restart_pending,
        vec!["listen-port 1179 (running 179)".to_string()]
    );
}

#[test]
fn a_reload_refuses_a_file_invalid_as_written_or_with_the_running_identity() {
    let running = from_str(SEED, "seed.toml").unwrap();
    // Invalid as written: the reload is refused, nothing is pending.
    let (f, r) = reload_text(
        &running,
        &SEED.replace("local-as = 64512", "local-as = \"64513\""),
    );
    let e = r.unwrap_err().to_string();
    assert!(
        e.contains(&f.path().display().to_string()) && e.contains("\"64513\""),
        "{e}"
    );
    // Valid as written, but an external group of the running AS.
    let text = format!(
        "{}[[group]]\nname = \"ext\"\ntype = \"external\"\npeer-as = 64512\n",
        SEED.replace("local-as = 64512", "local-as = 64513")
    );
    assert!(from_str(&text, "t").is_ok());
    let (_f, r) = reload_text(&running, &text);
    let e = r.unwrap_err().to_string();
    assert!(
        e.contains("group[2].peer-as") && e.contains("running") && e.contains("local-as 64512"),
        "{e}"
    );
}

#[test]
fn a_reload_keeps_http_listen_and_log_format_until_a_restart() {
    let base = "router-id = \"1.1.1.1\"\nlocal-as = 1\n";
    let running = from_str(
        &format!("http-listen = \"127.0.0.1:9179\"\n{base}"),
        "test.toml",
    )
    .unwrap();
    let (_f, r) = reload_text(
        &running,
        &format!("http-listen = \"127.0.0.1:9180\"\nlog-format = \"json\"\n{base}"),
    );
    let c = r.unwrap();
    assert_eq!(c.http_listen, running.http_listen);
    assert_eq!(c.log_format, LogFormat::Text);
    assert_eq!(
        c.restart_pending,
        vec![
            "http-listen 127.0.0.1:9180 (running 127.0.0.1:9179)".to_string(),
            "log-format json (running text)".to_string()
        ]
    );
}

#[test]
fn a_reload_resets_the_neighbours_whose_session_settings_changed() {
    let old = from_str(SEED, "seed.toml").unwrap();
    // A dynamic neighbour of "workers" runs with the group's settings.
    let d = old.match_dynamic("10.10.93.12".parse().unwrap()).unwrap();
    assert_eq!(d.session, old.groups[0].session);
    // Session settings of "inter-cluster" change: its neighbour resets.
    for extra in [
        "[group.prefix-limit.evpn]\nmaximum = 1000\n",
        "[group.bfd-liveness-detection]\nminimum-interval = 300\n",
        "ttl-security = 1\n",
        "passive = true\n",
    ] {
        let new = from_str(&format!("{SEED}{extra}"), "seed.toml").unwrap();
        let plan = diff(&old, &new);
        assert_eq!(plan.changed.len(), 1, "{extra}: {plan:?}");
        assert_eq!(plan.changed[0].1.address.to_string(), "10.20.63.45");
        assert!(!plan.allow_changed, "{extra}");
    }
    // Another range for dynamic neighbours: no configured session resets.
    let new = from_str(
        &SEED.replace(
            "allow = [\"10.10.0.0/16\"]",
            "allow = [\"10.10.0.0/16\", \"10.11.0.0/16\"]",
        ),
        "seed.toml",
    )
    .unwrap();
    let plan = diff(&old, &new);
    assert!(plan.changed.is_empty() && plan.added.is_empty(), "{plan:?}");
    assert!(plan.allow_changed);
    assert_eq!(plan.unchanged.len(), 1);
}

#[test]
fn a_reload_keeps_the_listening_and_control_sockets_until_a_restart() {
    let base = "router-id = \"1.1.1.1\"\nlocal-as = 1\ncluster-id = \"1.1.1.1\"\n";
    let running = from_str(
        &format!("listen-address = \"127.0.0.1\"\ncontrol-socket = \"/run/a.sock\"\n{base}"),
        "test.toml",
    )
    .unwrap();
    let (_f, r) = reload_text(
        &running,
        "router-id = \"1.1.1.1\"\nlocal-as = 1\nlisten-address = \"::1\"\ncontrol-socket = \"/run/b.sock\"\ncontrol-group = \"root\"\n",
    );
    let c = r.unwrap();
    assert_eq!(c.listen_address, running.listen_address);
    assert_eq!(c.control_socket, running.control_socket);
    assert_eq!(c.control_group, None);
    assert_eq!(c.cluster_id, running.cluster_id);
    assert_eq!(
        c.restart_pending,
        vec![
            "cluster-id none (running 1.1.1.1)".to_string(),
            "control-socket /run/b.sock (running /run/a.sock)".to_string(),
            "control-group root (running none)".to_string(),
            "listen-address ::1 (running 127.0.0.1)".to_string(),
        ]
    );
    // And back: the file without a listen-address over a running one.
    let (_f, r) = reload_text(
        &running,
        &format!("control-socket = \"/run/a.sock\"\n{base}"),
    );
    assert_eq!(
        r.unwrap().restart_pending,
        vec!["listen-address none (running 127.0.0.1)".to_string()]
    );
}
