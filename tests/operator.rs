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

/// `bgpd --check` of `text`: (success, stdout, stderr); the file is named `name`.
fn check(dir: &std::path::Path, name: &str, text: &str) -> (bool, String, String) {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let out = output(
        bin("bgpd").to_str().unwrap(),
        &["--check", path.to_str().unwrap()],
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What the file cannot mean is refused, naming the file, the key and the
/// value: wrongly-cased keys, numbers written as strings, prefixes with
/// host bits, a neighbor at our own address, two VRFs on one kernel table.
#[test]
fn check_refuses_keys_types_and_values_that_cannot_be_meant() {
    let dir = tempfile::tempdir().unwrap();
    let vrfs = "[[vrf]]\nname = \"blue\"\nvni = 7\nroute-target = \"11:7\"\ntable = 1000001\n\
                [[vrf]]\nname = \"red\"\nvni = 1\nroute-target = \"11:1\"\n";
    let cases: &[(&str, String, &[&str])] = &[
        (
            "case.toml",
            RR.replace("local-as = 64512", "LOCAL-AS = 64512"),
            &["LOCAL-AS", "\"local-as\""],
        ),
        (
            "string.toml",
            RR.replace("local-as = 64512", "local-as = \"64512\""),
            &["local-as", "\"64512\"", "integer"],
        ),
        (
            "hold.toml",
            RR.replace("hold-time = 90", "hold-time = \"90\""),
            &["group[0].hold-time", "\"90\""],
        ),
        (
            "hostbits.toml",
            RR.replace("10.10.0.0/16", "10.10.2.3/16"),
            &["group[0].allow[0]", "10.10.2.3/16", "10.10.0.0/16"],
        ),
        (
            "self.toml",
            RR.replace(
                "hold-time = 90",
                "hold-time = 90\nneighbors = [\"10.10.25.42\"]",
            ),
            &["group[0].neighbors[0]", "10.10.25.42"],
        ),
        (
            "tables.toml",
            format!("{RR}{vrfs}"),
            &["vrf[1].vni", "1000001", "\"blue\"", "\"red\""],
        ),
    ];
    for (name, text, needles) in cases {
        let (ok, _, err) = check(dir.path(), name, text);
        assert!(!ok, "{name} accepted");
        let file = dir.path().join(name);
        assert!(err.contains(file.to_str().unwrap()), "{name}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{name}: {err}");
        for n in *needles {
            assert!(err.contains(n), "{name}: {n:?} missing from {err}");
        }
    }
    // The same file without the mistakes is fine.
    let fixed = format!(
        "{}{}",
        RR.replace(
            "hold-time = 90",
            "hold-time = 90\nneighbors = [\"10.10.25.1\"]"
        ),
        vrfs.replace("1000001", "1000100")
    );
    let (ok, out, err) = check(dir.path(), "fixed.toml", &fixed);
    assert!(ok, "{err}");
    assert!(
        out.contains("configuration OK (1 groups, 1 neighbors)"),
        "{out}"
    );
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
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn the_control_socket_is_private_and_show_commands_explain_mistakes() {
    require_root("the_control_socket_is_private_and_show_commands_explain_mistakes");
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

fn ferry_cni(env: &[(&str, &str)], stdin: &str) -> (Option<i32>, serde_json::Value) {
    use std::io::Write;
    let mut c = std::process::Command::new(bin("ferry"))
        .env_clear()
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = c.wait_with_output().unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code(), v)
}

#[test]
fn the_cni_plugin_answers_version_and_reports_errors_as_the_spec_says() {
    let (code, v) = ferry_cni(&[("CNI_COMMAND", "VERSION")], "");
    assert_eq!(code, Some(0));
    assert_eq!(v["cniVersion"], "1.0.0");
    let versions: Vec<&str> = v["supportedVersions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert!(
        versions.contains(&"0.4.0") && versions.contains(&"1.0.0"),
        "{v}"
    );

    // ADD without the container's environment: error code 4 (invalid
    // necessary environment variables, CNI spec), in the configuration's
    // version.
    let conf = r#"{"cniVersion":"0.4.0","name":"blue-net","type":"ferry","args":{"vxlanVNI":"10002","vrfName":"blue","vrfTarget":"11:11"}}"#;
    let (code, v) = ferry_cni(&[("CNI_COMMAND", "ADD")], conf);
    assert_eq!(code, Some(1));
    assert_eq!(v["code"], 4, "{v}");
    assert_eq!(v["cniVersion"], "0.4.0");
    assert!(
        v["msg"].as_str().unwrap().contains("CNI_CONTAINERID"),
        "{v}"
    );

    // A configuration error names the key: code 7 (invalid network config).
    let env = [
        ("CNI_COMMAND", "ADD"),
        ("CNI_CONTAINERID", "c1"),
        ("CNI_NETNS", "/nonexistent"),
        ("CNI_IFNAME", "net1"),
    ];
    let (code, v) = ferry_cni(&env, &conf.replace("10002", "99999999"));
    assert_eq!(code, Some(1));
    assert_eq!(v["code"], 7, "{v}");
    assert!(v["msg"].as_str().unwrap().contains("args.vxlanVNI"), "{v}");
    let (_, v) = ferry_cni(&[("CNI_COMMAND", "FROB")], conf);
    assert!(v["msg"].as_str().unwrap().contains("FROB"), "{v}");
}

#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn a_control_group_opens_the_socket_to_its_members_only() {
    require_root("a_control_group_opens_the_socket_to_its_members_only");
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let lan = Lan::new();
    let ns = Netns::new("fo");
    lan.attach(&ns, "eth0", "10.10.25.42/16");
    let rr = Ferry::start(
        &ns,
        dir.path(),
        "rr",
        &format!("control-group = \"daemon\"\n{RR}"),
    );
    let meta = std::fs::metadata(&rr.socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!(
        std::os::unix::fs::MetadataExt::gid(&meta),
        1,
        "group daemon"
    );
    let as_user = |gid: &str| {
        output(
            "setpriv",
            &[
                "--reuid=65534",
                &format!("--regid={gid}"),
                "--clear-groups",
                bin("bgpctl").to_str().unwrap(),
                "-s",
                rr.socket.to_str().unwrap(),
                "show",
                "summary",
            ],
        )
    };
    let member = as_user("1");
    assert!(member.status.success(), "{member:?}");
    let stranger = as_user("65534");
    assert!(!stranger.status.success());
    let err = String::from_utf8_lossy(&stranger.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("Permission denied") && err.contains("run bgpctl as root"),
        "{err}"
    );
}
