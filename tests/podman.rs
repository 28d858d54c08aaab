//! Ferry under a real container runtime: podman (its CNI backend, runc)
//! runs containers of the seed's blue-net on two worker nodes with the
//! reflector between them, from an image made here with `podman import`
//! of a busybox-static root file system (no registry). Many containers
//! share the one network: their addresses and MACs come from podman
//! (`--ip`, `--mac-address`, passed as `CNI_ARGS` `IP` and `MAC`).
//!
//! Everything podman uses is private to the test: its configuration
//! (`CONTAINERS_CONF`), storage (`--root`, `--runroot`, `--tmpdir`) and
//! CNI configuration directory; nothing of the machine's configuration
//! changes. podman, runc and busybox-static are required: the test fails
//! when they are missing (tests/run installs them).

#[path = "pod_site.rs"]
mod pod_site;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use ferry_tests::{bin, eventually, require_root, Netns};
use pod_site::*;
use serde_json::json;

const IMAGE: &str = "localhost/ferry-busybox:test";

/// One podman instance: its own storage, run state and CNI configuration,
/// run inside a worker node's namespace (so the plugin runs there).
struct Podman {
    node: String,
    root: PathBuf,
    conf: PathBuf,
    cni_dir: PathBuf,
}

impl Podman {
    fn new(dir: &Path, name: &str, node: &Netns, socket: &str, image_tar: &Path) -> Podman {
        let root = dir.join(name);
        let plugins = root.join("cni-bin");
        let cni_dir = root.join("cni-conf");
        std::fs::create_dir_all(&plugins).unwrap();
        std::fs::create_dir_all(&cni_dir).unwrap();
        std::os::unix::fs::symlink(bin("ferry"), plugins.join("ferry")).unwrap();
        let mut plugin = shared_netconf(socket);
        plugin.as_object_mut().unwrap().remove("cniVersion");
        plugin.as_object_mut().unwrap().remove("name");
        let list = json!({"cniVersion": "1.0.0", "name": "blue-net", "plugins": [plugin]});
        std::fs::write(cni_dir.join("blue-net.conflist"), list.to_string()).unwrap();
        // runc sets the container's limits; they may not exceed this
        // process's hard limits.
        let hard = |res| {
            let mut l = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit fills the struct it is given.
            unsafe { libc::getrlimit(res, &mut l) };
            l.rlim_max.min(1024)
        };
        let nofile = hard(libc::RLIMIT_NOFILE);
        let nproc = hard(libc::RLIMIT_NPROC);
        let conf = root.join("containers.conf");
        std::fs::write(
            &conf,
            format!(
                r#"[containers]
default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]

[network]
network_backend = "cni"
cni_plugin_dirs = ["{}"]
network_config_dir = "{}"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"#,
                plugins.display(),
                cni_dir.display()
            ),
        )
        .unwrap();
        let p = Podman {
            node: node.name.clone(),
            root,
            conf,
            cni_dir,
        };
        p.ok(&["import", image_tar.to_str().unwrap(), IMAGE]);
        p
    }

    fn run(&self, args: &[&str]) -> Output {
        let r = |d: &str| self.root.join(d).to_str().unwrap().to_string();
        // nsenter, not `ip netns exec`: that one mounts a sysfs of its own,
        // which hides the cgroup file system runc needs.
        Command::new("nsenter")
            .arg(format!("--net=/var/run/netns/{}", self.node))
            .arg("podman")
            .args([
                "--root",
                &r("storage"),
                "--runroot",
                &r("run"),
                "--tmpdir",
                &r("tmp"),
            ])
            .args(["--storage-driver", "vfs", "--cni-config-dir"])
            .arg(&self.cni_dir)
            .args(["--network-backend", "cni", "--runtime", "runc"])
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .args(args)
            .env("CONTAINERS_CONF", &self.conf)
            .env_remove("CONTAINERS_REGISTRIES_CONF")
            .output()
            .unwrap_or_else(|e| panic!("podman {args:?}: {e}"))
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "podman {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Starts a container of blue-net; returns its ID.
    fn start(&self, name: &str, ip: &str, mac: &str) -> String {
        self.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "blue-net",
            "--ip",
            ip,
            "--mac-address",
            mac,
            IMAGE,
            "sleep",
            "600",
        ])
    }

    fn exec(&self, name: &str, cmd: &[&str]) -> Output {
        let mut args = vec!["exec", name];
        args.extend_from_slice(cmd);
        self.run(&args)
    }

    /// The pod's network namespace as podman gave it to the plugin.
    fn netns(&self, name: &str) -> String {
        self.ok(&[
            "inspect",
            "--format",
            "{{.NetworkSettings.SandboxKey}}",
            name,
        ])
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // Every container of this private instance (the DEL of each runs).
        let _ = self.run(&["rm", "-a", "-f", "-t", "0"]);
    }
}

/// A busybox-static root file system as an image tarball.
fn busybox_image(dir: &Path) -> PathBuf {
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.exists(),
        "busybox-static is missing (/bin/busybox): tests/run installs it"
    );
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    for d in ["proc", "sys", "dev", "etc", "tmp", "run"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy(busybox, rootfs.join("bin/busybox")).unwrap();
    for tool in ["sh", "sleep", "ping", "ip", "cat"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(tool)).unwrap();
    }
    let tar = dir.join("rootfs.tar");
    ferry_tests::run(
        "tar",
        &[
            "-C",
            rootfs.to_str().unwrap(),
            "-cf",
            tar.to_str().unwrap(),
            ".",
        ],
    );
    tar
}

fn require_tools() {
    for (tool, arg) in [
        ("podman", "--version"),
        ("runc", "--version"),
        ("conmon", "--version"),
    ] {
        let found = Command::new(tool)
            .arg(arg)
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "{tool} is missing: the podman test needs podman, runc and containernetworking-plugins (tests/run installs them)"
        );
    }
}

/// podman's cached ADD result for a container (its prevResult).
fn cached_result(id: &str) -> serde_json::Value {
    let path = format!("/var/lib/cni/results/blue-net-{id}-eth0");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["result"].clone()
}

#[test]
#[ignore = "needs root (network namespaces); tests/run runs it with --include-ignored"]
fn podman_containers_on_two_workers_reach_each_other_over_vxlan() {
    require_root("podman_containers_on_two_workers_reach_each_other_over_vxlan");
    require_tools();
    let s = site();
    let (n1, n2) = (&s.nodes[1], &s.nodes[2]);
    let dir = tempfile::tempdir().unwrap();
    let image = busybox_image(dir.path());
    let pm1 = Podman::new(dir.path(), "pm1", n1, &s.sock1(), &image);
    let pm2 = Podman::new(dir.path(), "pm2", n2, &s.sock2(), &image);

    // ADD: two containers of blue-net on node 1, one on node 2.
    let a = pm1.start("fa", "1.1.1.2", "aa:bb:cc:dd:01:01");
    let a2 = pm1.start("fa2", "1.1.1.6", "aa:bb:cc:dd:01:06");
    let b = pm2.start("fb", "1.2.2.2", "aa:bb:cc:dd:02:02");
    let addr = pm1.exec("fa", &["ip", "addr", "show", "eth0"]);
    let addr = String::from_utf8_lossy(&addr.stdout).to_string();
    assert!(
        addr.contains("inet 1.1.1.2/30") && addr.contains("aa:bb:cc:dd:01:01"),
        "{addr}"
    );
    let routes = String::from_utf8_lossy(&pm2.exec("fb", &["ip", "route"]).stdout).to_string();
    assert!(
        routes.contains("1.0.0.0/8 via 1.2.2.1 dev eth0"),
        "{routes}"
    );
    let vrf = s.n1.ctl(&["show", "vrf", "blue"]).unwrap();
    assert_eq!(
        vrf[0]["pods"],
        json!([format!("{a}/eth0"), format!("{a2}/eth0")])
    );

    // Across nodes over VXLAN, both ways, and within node 1.
    let ping = |pm: &Podman, c: &str, to: &str| {
        pm.exec(c, &["ping", "-c", "1", "-W", "1", to])
            .status
            .success()
    };
    eventually("fa pings fb over VXLAN", Duration::from_secs(30), || {
        if ping(&pm1, "fa", "1.2.2.2") {
            Ok(())
        } else {
            Err(table(n1, false))
        }
    });
    assert!(ping(&pm2, "fb", "1.1.1.2"));
    assert!(ping(&pm2, "fb", "1.1.1.6"));
    assert!(ping(&pm1, "fa2", "1.1.1.2"));
    let t = table(n1, false);
    assert!(
        t.contains("1.2.2.0/30 via 10.10.29.243 dev br-10002 proto 199 onlink"),
        "{t}"
    );

    // CHECK, as a runtime runs it, with podman's cached result.
    let prev = cached_result(&a);
    let mut conf = shared_netconf(&s.sock1());
    conf["prevResult"] = prev;
    let args = "IgnoreUnknown=1;K8S_POD_NAME=fa;MAC=aa:bb:cc:dd:01:01;IP=1.1.1.2";
    let check = cni_env(
        n1,
        "CHECK",
        &a,
        &pm1.netns("fa"),
        "eth0",
        &conf.to_string(),
        &[("CNI_ARGS", args)],
    );
    assert!(check.ok, "{} {}", check.out, check.stderr);

    // DEL: removing fa withdraws its prefix from node 2 and leaves fa2.
    pm1.ok(&["rm", "-f", "-t", "0", "fa"]);
    assert!(
        !std::path::Path::new(&format!("/var/lib/cni/results/blue-net-{a}-eth0")).exists(),
        "podman's result cache of fa is gone"
    );
    eventually(
        "fa's prefix withdrawn from node 2",
        Duration::from_secs(10),
        || {
            let t = table(n2, false);
            if t.contains("1.1.1.0/30") {
                Err(t)
            } else {
                Ok(())
            }
        },
    );
    let links = n1.exec_ok(&["ip", "-o", "link"]);
    assert!(!links.contains(&host_link(&a, "eth0")), "{links}");
    let vrf = s.n1.ctl(&["show", "vrf", "blue"]).unwrap();
    assert_eq!(vrf[0]["pods"], json!([format!("{a2}/eth0")]));
    assert!(ping(&pm2, "fb", "1.1.1.6"));
    pm1.ok(&["rm", "-f", "-t", "0", "fa2"]);
    pm2.ok(&["rm", "-f", "-t", "0", "fb"]);
    let vrf = s.n2.ctl(&["show", "vrf", "blue"]).unwrap();
    assert_eq!(vrf[0]["pods"], json!([]));
    let _ = b;
}
