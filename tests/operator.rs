//! What an operator sees: `bgpd --check`, `bgpctl` errors, the control
//! socket's permissions, the text of `show summary`.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use ferry_tests::{bin, eventually, output, require_root, Ferry, Lan, Netns};

const RR: &str = r#"
router-id = "10.10.25.42"
local-as = 64512
cluster-id = "10.10.25.42"
[[group]]
name = "workers"
type = "internal"
local-address = "10.10.25.42"
families = ["inet-vpn", "inet6-vpn", "evpn"]
route-reflector-client = true
allow = ["10.10.0.0/16"]
hold-time = 90
"#;

#[test]
fn check_validates_and_names_file_key_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, RR).unwrap();
    let out = output(
        bin("bgpd").to_str().unwrap(),
        &["--check", good.to_str().unwrap()],
    );
    assert!(out.status.success(), "{out:?}");

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, RR.replace("hold-time = 90", "hold-time = 2")).unwrap();
    let out = output(
        bin("bgpd").to_str().unwrap(),
        &["--check", bad.to_str().unwrap()],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for w in [bad.to_str().unwrap(), "hold-time", "2"] {
        assert!(err.contains(w), "{w:?} missing from {err}");
    }
    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, RR.replace("allow =", "alow =")).unwrap();
    let out = output(
        bin("bgpd").to_str().unwrap(),
        &["--check", typo.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("alow"));
}

#[test]
fn bgpctl_without_a_daemon_says_which_socket() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("none.sock");
    let out = output(
        bin("bgpctl").to_str().unwrap(),
        &["-s", sock.to_str().unwrap(), "show", "summary"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(sock.to_str().unwrap()) && err.contains("is bgpd running?"),
        "{err}"
    );
}

#[test]
fn the_control_socket_is_private_and_show_commands_explain_mistakes() {
    if !require_root("the_control_socket_is_private_and_show_commands_explain_mistakes") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let lan = Lan::new();
    let ns = Netns::new("fo");
    lan.attach(&ns, "eth0", "10.10.25.42/16");
    let rr = Ferry::start(&ns, dir.path(), "rr", RR);
    let mode = std::fs::metadata(&rr.socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "socket mode {mode:o}");

    let text = eventually("show summary", Duration::from_secs(5), || {
        let out = output(
            bin("bgpctl").to_str().unwrap(),
            &["-s", rr.socket.to_str().unwrap(), "show", "summary"],
        );
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    });
    for w in [
        "Cluster ID: 10.10.25.42",
        "bgp.l3vpn.0",
        "bgp.l3vpn-inet6.0",
        "bgp.evpn.0",
        "Tot Paths",
        "Act Paths",
    ] {
        assert!(text.contains(w), "{w:?} missing from {text}");
    }
    let e = rr.ctl(&["show", "route", "--family", "mpls"]).unwrap_err();
    assert!(e.contains("mpls"), "{e}");
    let e = rr.ctl(&["show", "neighbor", "10.10.1.1"]).unwrap_err();
    assert!(e.contains("10.10.1.1"), "{e}");
    let e = rr.ctl(&["show", "vrf"]).unwrap_err();
    assert!(e.contains("kernel-sync is off"), "{e}");
    let e = rr.ctl(&["show", "route", "--rd", "1:2:3"]).unwrap_err();
    assert!(e.contains("1:2:3"), "{e}");
}
