//! GoBGP in a namespace.

use std::fs;
use std::path::Path;
use std::time::Duration;

use super::netns::Netns;
use super::process::{eventually, Proc};

/// A GoBGP daemon in a namespace, peering with `neighbors`.
pub struct GoBgp<'a> {
    pub ns: &'a Netns,
    pub proc: Proc,
}

impl<'a> GoBgp<'a> {
    pub fn start(ns: &'a Netns, dir: &Path, router_id: &str, neighbors: &[&str]) -> GoBgp<'a> {
        let mut conf =
            format!("[global.config]\n  as = 64512\n  router-id = \"{router_id}\"\n  port = -1\n");
        for n in neighbors {
            conf.push_str(&format!(
                "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{n}\"\n    peer-as = 64512\n  [neighbors.timers.config]\n    connect-retry = 1\n"
            ));
            for f in ["l2vpn-evpn", "l3vpn-ipv4-unicast", "l3vpn-ipv6-unicast"] {
                conf.push_str(&format!(
                    "  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"{f}\"\n"
                ));
            }
        }
        let path = dir.join(format!("gobgp-{router_id}.toml"));
        fs::write(&path, conf).unwrap();
        let proc = Proc::spawn(
            "gobgpd",
            ns,
            "gobgpd",
            &[
                "-f",
                path.to_str().unwrap(),
                "--api-hosts",
                "127.0.0.1:50051",
                "-l",
                "warn",
            ],
            &dir.join(format!("gobgp-{router_id}.log")),
        );
        GoBgp { ns, proc }
    }

    /// Runs `gobgp ARGS…` in the namespace.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut full = vec!["gobgp"];
        full.extend_from_slice(args);
        let out = self.ns.exec(&full);
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }

    /// `gobgp global rib -a FAMILY -j`.
    pub fn rib(&self, family: &str) -> String {
        self.cli(&["global", "rib", "-a", family, "-j"])
    }

    pub fn wait_established(&self) {
        eventually("GoBGP session Established", Duration::from_secs(60), || {
            let out = self.cli(&["neighbor"]);
            if out.contains("Establ") {
                Ok(())
            } else {
                Err(out)
            }
        });
    }
}
