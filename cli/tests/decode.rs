//! `bgpctl decode` as an engineer uses it: hex copied from a capture in,
//! readable text or JSON out, and the RFC's answer for malformed input.

use std::io::Write;
use std::process::{Command, Stdio};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../wire/tests/fixtures/{name}.txt",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn bgpctl(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bgpctl"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn decodes_a_type5_update_from_a_file() {
    let path = format!(
        "{}/../wire/tests/fixtures/frr-reflected-evpn-type5-ipv4.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    let (code, out, err) = bgpctl(&["decode", "--file", &path], None);
    assert_eq!(code, 0, "{err}");
    for want in [
        "message 1: UPDATE 1 announced, 0 withdrawn",
        "mp-reach evpn next-hop 10.10.93.12",
        "type-5 ip-prefix rd 10.10.93.12:1 esi 0 etag 0 prefix 1.1.1.0/30 gw 0.0.0.0 vni 10002",
        "extended-communities target:11:11 encap:vxlan router-mac:aa:bb:cc:dd:01:01",
        "originator-id 10.10.93.12",
        "cluster-list 10.10.25.42",
        "message 2:",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
}

#[test]
fn reads_hex_from_the_argument_and_from_stdin_with_json() {
    let hex: String = fixture("gobgp-vpnv4-rd-type1")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect();
    let (code, out, _) = bgpctl(&["decode", "--hex", &hex], None);
    assert_eq!(code, 0);
    assert!(out.contains("10.10.93.12:7:10.1.1.0/24 label 101"), "{out}");
    let (code, out, _) = bgpctl(&["decode", "--json", "-"], Some(&fixture("gobgp-open")));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["message"]["type"], "open");
    assert_eq!(v[0]["message"]["bgp-identifier"], "10.10.93.12");
    let (code, out, _) = bgpctl(
        &["decode", "--json", "--file", "-"],
        Some(&fixture("gobgp-evpn-type2")),
    );
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let nlri = &v[0]["message"]["mp-reach"]["nlri"][0];
    assert_eq!(nlri["route-type"], 2);
    assert_eq!(nlri["mac"], "aa:bb:cc:dd:01:01");
    assert_eq!(nlri["rd"], "10.10.93.12:1");
    assert_eq!(nlri["label"], 10002);
}

#[test]
fn malformed_input_prints_the_rfc_answer_and_fails() {
    // ORIGIN with the undefined value 7: RFC 7606 §7.1 treat-as-withdraw.
    let msg = "ffffffffffffffffffffffffffffffff 0029 02 0000 000e 40010107 400200 4003040a0a5d0c 180a0100";
    let (code, out, _) = bgpctl(&["decode", "--hex", msg], None);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("undefined ORIGIN value 7"), "{out}");
    assert!(out.contains("treat-as-withdraw"), "{out}");
    assert!(out.contains("RFC 7606 §7.1"), "{out}");
    // A bad marker: session reset with NOTIFICATION 1/1.
    let (code, out, _) = bgpctl(
        &["decode", "--hex", "ffff0000ffffffffffffffffffffffff001304"],
        None,
    );
    assert_eq!(code, 1);
    assert!(out.contains("NOTIFICATION 1/1"), "{out}");
    assert!(out.contains("Connection Not Synchronized"), "{out}");
    let (code, out, _) = bgpctl(
        &[
            "decode",
            "--json",
            "--hex",
            "ffff0000ffffffffffffffffffffffff001304",
        ],
        None,
    );
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["error"]["notification"]["code"], 1);
    // Not hex at all.
    let (code, _, err) = bgpctl(&["decode", "--hex", "zz"], None);
    assert_eq!(code, 2);
    assert!(err.contains("invalid hex character"), "{err}");
}

#[test]
fn host_bits_and_unknown_evpn_types_are_shown_as_the_daemon_takes_them() {
    // One MP_REACH_NLRI: Type 5 9.9.2.77/24, then an EVPN route of type 77.
    let msg = "ffffffffffffffffffffffffffffffff 0054 02 0000 003d 40010100 400200 \
               900e0032 0019 46 04 0a0a5d0c 00 \
               0522 00010a0a192a0001 00000000000000000000 00000000 18 0909024d 00000000 002712 \
               4d03 010203";
    let (code, out, _) = bgpctl(&["decode", "--hex", msg], None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("UPDATE 1 announced"), "{out}");
    assert!(out.contains("prefix 9.9.2.0/24 gw 0.0.0.0"), "{out}");
    assert!(!out.contains("9.9.2.77"), "{out}");
    assert!(!out.contains("type-77"), "{out}");
    assert!(out.contains("RFC 4271 §4.3"), "{out}");
    assert!(
        out.contains("1 EVPN routes of unknown types ignored (RFC 7606 §5.4)"),
        "{out}"
    );
}
