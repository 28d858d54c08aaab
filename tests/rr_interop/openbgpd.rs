//! OpenBGPD as clients of the Ferry reflector, with GoBGP. The portable
//! build of OpenBGPD originates IPv4 and IPv6 unicast only (no VPN
//! origination without OpenBSD's mpe interfaces); it negotiates and
//! receives VPNv4.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_tests::{eventually, require_root, Ferry, GoBgp, Lan, Netns, Proc};

/// The reflector, its clients carrying IPv4 unicast as well.
const RR: &str = r#"
router-id = "10.10.25.42"
local-as = 64512
cluster-id = "10.10.25.42"
hold-time = 30
[[group]]
name = "workers"
local-address = "10.10.25.42"
route-reflector-client = true
families = ["inet", "inet-vpn", "inet6-vpn", "evpn"]
allow = ["10.10.0.0/16"]
"#;

/// An OpenBGPD client of 10.10.25.42 in `ns`, originating `networks`.
struct OpenBgpd<'a> {
    ns: &'a Netns,
    socket: PathBuf,
    _proc: Proc,
}

impl<'a> OpenBgpd<'a> {
    fn start(ns: &'a Netns, dir: &Path, addr: &str, networks: &[&str]) -> OpenBgpd<'a> {
        // Its privilege-separated processes chroot here.
        std::fs::create_dir_all("/run/openbgpd").unwrap();
        let socket = dir.join(format!("openbgpd-{addr}.sock"));
        let mut conf = format!(
            "AS 64512\nrouter-id {addr}\nsocket \"{}\"\nlisten on {addr}\n",
            socket.display()
        );
        for n in networks {
            conf.push_str(&format!("network {n}\n"));
        }
        conf.push_str(&format!(
            "neighbor 10.10.25.42 {{\n  remote-as 64512\n  local-address {addr}\n  \
             announce IPv4 unicast\n  announce IPv4 vpn\n}}\nallow from any\nallow to any\n"
        ));
        let path = dir.join(format!("openbgpd-{addr}.conf"));
        std::fs::write(&path, conf).unwrap();
        let proc = Proc::spawn(
            "openbgpd",
            ns,
            "bgpd",
            &["-d", "-f", path.to_str().unwrap()],
            &dir.join(format!("openbgpd-{addr}.log")),
        );
        OpenBgpd {
            ns,
            socket,
            _proc: proc,
        }
    }

    /// `bgpctl -j ARGS`, parsed.
    fn ctl(&self, args: &[&str]) -> serde_json::Value {
        let mut full = vec!["bgpctl", "-j", "-s", self.socket.to_str().unwrap()];
        full.extend_from_slice(args);
        let out = self.ns.exec(&full);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            serde_json::Value::String(format!(
                "{e}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        })
    }

    /// The RIB entries (`show rib detail`).
    fn rib(&self) -> Vec<serde_json::Value> {
        self.ctl(&["show", "rib", "detail"])["rib"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits until the RIB has an entry for `prefix` (or, `present`
    /// false, none); that entry.
    fn wait_for(&self, prefix: &str, present: bool, what: &str) -> Option<serde_json::Value> {
        eventually(what, Duration::from_secs(30), || {
            let rib = self.rib();
            let found = rib.iter().find(|r| r["prefix"] == prefix).cloned();
            match (found, present) {
                (Some(r), true) => Ok(Some(r)),
                (None, false) => Ok(None),
                _ => Err(format!("{rib:?}")),
            }
        })
    }
}

pub(crate) fn openbgpd_clients_with_unicast_and_vpn_routes() {
    require_root("openbgpd_clients_with_unicast_and_vpn_routes");
    let dir = tempfile::tempdir().unwrap();
    let lan = Lan::new();
    let rr_ns = Netns::new("frr");
    let a_ns = Netns::new("foa");
    let b_ns = Netns::new("fob");
    let go_ns = Netns::new("fgo");
    lan.attach(&rr_ns, "eth0", "10.10.25.42/16");
    lan.attach(&a_ns, "eth0", "10.10.50.1/16");
    lan.attach(&b_ns, "eth0", "10.10.50.2/16");
    lan.attach(&go_ns, "eth0", "10.10.93.12/16");
    let rr = Ferry::start(&rr_ns, dir.path(), "rr", RR);
    let a = OpenBgpd::start(&a_ns, dir.path(), "10.10.50.1", &["10.77.0.0/24"]);
    let b = OpenBgpd::start(&b_ns, dir.path(), "10.10.50.2", &[]);
    let go = GoBgp::start(&go_ns, dir.path(), "10.10.93.12", &["10.10.25.42"]);
    rr.wait_established(&["10.10.50.1", "10.10.50.2", "10.10.93.12"]);

    // OpenBGPD's unicast route, as Ferry decoded it.
    let at_rr = eventually("10.77.0.0/24 at Ferry", Duration::from_secs(30), || {
        let r = rr.routes(&["--family", "inet"]);
        r.iter()
            .find(|r| r["prefix"] == "10.77.0.0/24")
            .cloned()
            .ok_or_else(|| format!("{r:?}"))
    });
    assert_eq!(at_rr["from"], "10.10.50.1", "{at_rr}");
    assert_eq!(at_rr["next-hop"], "10.10.50.1", "{at_rr}");
    assert_eq!(at_rr["origin"], "igp", "{at_rr}");

    // Reflected to the other OpenBGPD client (RFC 4456).
    let at_b = b
        .wait_for("10.77.0.0/24", true, "10.77.0.0/24 reflected to OpenBGPD")
        .unwrap();
    let attr = |e: &serde_json::Value, ty: &str, field: &str| {
        e["attributes"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["type"] == ty))
            .map(|x| x[field].clone())
            .unwrap_or_else(|| panic!("no {ty} attribute: {e}"))
    };
    assert_eq!(attr(&at_b, "Originator Id", "originator"), "10.10.50.1");
    assert_eq!(
        attr(&at_b, "Cluster Id List", "cluster_list"),
        serde_json::json!(["10.10.25.42"])
    );
    assert_eq!(at_b["exit_nexthop"], "10.10.50.1", "{at_b}");
    assert_eq!(at_b["valid"], true, "{at_b}");

    // GoBGP's VPNv4 route reaches both OpenBGPD clients.
    let add =
        "global rib -a vpnv4 add 10.1.0.0/24 label 100 rd 64512:10 rt 64512:10 nexthop 10.10.93.12";
    let out = go.cli(&add.split(' ').collect::<Vec<_>>());
    assert!(!out.contains("rror"), "{out}");
    for (c, name) in [(&a, "10.10.50.1"), (&b, "10.10.50.2")] {
        let e = eventually(
            &format!("GoBGP's VPNv4 route at OpenBGPD {name}"),
            Duration::from_secs(30),
            || {
                let rib = c.rib();
                rib.iter()
                    .find(|r| r["prefix"] == "rd 64512:10 10.1.0.0/24")
                    .cloned()
                    .ok_or_else(|| format!("{rib:?}"))
            },
        );
        assert_eq!(e["exit_nexthop"], "10.10.93.12", "{e}");
        assert_eq!(
            e["extended_communities"],
            serde_json::json!(["rt 64512:10"])
        );
        assert_eq!(attr(&e, "Originator Id", "originator"), "10.10.93.12");
        assert_eq!(
            attr(&e, "Cluster Id List", "cluster_list"),
            serde_json::json!(["10.10.25.42"])
        );
        assert_eq!(e["valid"], true, "{e}");
    }

    // OpenBGPD withdraws its route: gone at Ferry and at the other client.
    let out = a.ns.exec(&[
        "bgpctl",
        "-s",
        a.socket.to_str().unwrap(),
        "network",
        "delete",
        "10.77.0.0/24",
    ]);
    assert!(out.status.success(), "{out:?}");
    b.wait_for("10.77.0.0/24", false, "the withdrawal at OpenBGPD");
    eventually("the withdrawal at Ferry", Duration::from_secs(30), || {
        let r = rr.routes(&["--family", "inet"]);
        if r.iter().any(|r| r["prefix"] == "10.77.0.0/24") {
            Err(format!("{r:?}"))
        } else {
            Ok(())
        }
    });

    // Nothing went wrong on the way: every session is still up, with no
    // error recorded.
    for addr in ["10.10.50.1", "10.10.50.2", "10.10.93.12"] {
        let n = rr.neighbor(addr).unwrap();
        assert_eq!(n["state"], "Established", "{n}");
        assert!(n["last-error"].is_null(), "{n}");
        assert_eq!(n["treat-as-withdraw"], 0, "{n}");
    }
}
