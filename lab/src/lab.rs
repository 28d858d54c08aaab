//! The lab on this machine: network namespaces for VPC routers, nodes and
//! pods, veth links, bgpd daemons, and the state that lets `down` remove
//! everything even after a crash halfway through `up`.
//!
//! ```text
//!  ns <lab>-<cluster>-vpc:  br0 (VPC router, first address of the VPC) ── p<N> ── peering ── other VPC router
//!        │ veth per node
//!  ns <lab>-<cluster>-master / -worker<i>:  eth0 (node address), bgpd
//!        │ veth made by the ferry CNI plugin
//!  ns <lab>-pod-<pod>:  net1
//! ```
//!
//! Every namespace is written into the state file before it is created;
//! every daemon's PID right after it is started.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ferry_netns::{wait_exited, wait_reaped, Netns};
use serde::{Deserialize, Serialize};

use crate::topology::{gateway_of, Cluster, Pod, Topology};

/// Where every node's bgpd serves `/metrics`, `/livez` and `/readyz`, on
/// the node's address in its namespace.
pub const HTTP_PORT: u16 = 9179;

/// What the lab has made.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct State {
    #[serde(default)]
    pub topology: Option<Topology>,
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Node name → bgpd PID.
    #[serde(default)]
    pub daemons: BTreeMap<String, u32>,
    /// Nodes whose bgpd `ferry-lab stop` took down: `up` leaves them down
    /// until `ferry-lab start`.
    #[serde(default)]
    pub held: BTreeSet<String>,
}

/// A node of the lab.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Node {
    /// `us-west-1-master`, `us-west-1-worker1`, …
    pub name: String,
    pub cluster: String,
    pub master: bool,
    pub address: IpAddr,
    /// The interface name of its link in the VPC namespace.
    pub port: String,
}

pub struct Lab {
    /// Prefix of every namespace (`fl`).
    pub prefix: String,
    pub dir: PathBuf,
    pub bin_dir: PathBuf,
    pub state: State,
}

/// A namespace operation's result, its error as the lab reports it (the
/// command, the namespace, what it said).
fn ok<T>(r: ferry_netns::Result<T>) -> Result<T, String> {
    r.map_err(|e| e.to_string())
}

pub fn nodes(t: &Topology) -> Vec<Node> {
    let mut out = Vec::new();
    for c in &t.clusters {
        // The first reflector keeps the seed's name, the others are
        // numbered from 2.
        for (j, m) in c.reflectors().into_iter().enumerate() {
            let n = if j == 0 {
                String::new()
            } else {
                (j + 1).to_string()
            };
            out.push(Node {
                name: format!("{}-master{n}", c.name),
                cluster: c.name.clone(),
                master: true,
                address: m,
                port: format!("node-m{n}"),
            });
        }
        for (i, w) in c.workers.iter().enumerate() {
            out.push(Node {
                name: format!("{}-worker{}", c.name, i + 1),
                cluster: c.name.clone(),
                master: false,
                address: *w,
                port: format!("node-w{}", i + 1),
            });
        }
    }
    out
}

/// Whether `pid` is a bgpd that still runs (identity by its command line).
pub fn pid_alive(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains("bgpd"))
        .unwrap_or(false)
        && ferry_netns::running(pid)
}

/// Signals a bgpd this lab started (by the PID it recorded).
fn signal(pid: u32, sig: i32) {
    ferry_netns::kill(pid, sig);
}

impl Lab {
    pub fn open(prefix: &str, dir: &Path, bin_dir: &Path) -> Result<Lab, String> {
        let state_path = dir.join("state.json");
        let state = match std::fs::read_to_string(&state_path) {
            Ok(t) => {
                serde_json::from_str(&t).map_err(|e| format!("{}: {e}", state_path.display()))?
            }
            Err(_) => State::default(),
        };
        Ok(Lab {
            prefix: prefix.to_string(),
            dir: dir.to_path_buf(),
            bin_dir: bin_dir.to_path_buf(),
            state,
        })
    }

    pub fn save(&self) -> Result<(), String> {
        std::fs::create_dir_all(&self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        let p = self.dir.join("state.json");
        let tmp = self.dir.join("state.json.tmp");
        let text = serde_json::to_vec_pretty(&self.state).map_err(|e| e.to_string())?;
        std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &p).map_err(|e| format!("{}: {e}", p.display()))
    }

    pub fn vpc_ns(&self, cluster: &str) -> String {
        format!("{}-{cluster}-vpc", self.prefix)
    }

    pub fn node_ns(&self, node: &str) -> String {
        format!("{}-{node}", self.prefix)
    }

    pub fn pod_ns(&self, pod: &str) -> String {
        format!("{}-pod-{pod}", self.prefix)
    }

    pub fn socket(&self, node: &str) -> PathBuf {
        self.dir.join(format!("{node}.sock"))
    }

    /// The namespace of a node or pod name.
    pub fn namespace_of(&self, name: &str) -> Option<String> {
        let t = self.state.topology.as_ref()?;
        if nodes(t).iter().any(|n| n.name == name) {
            return Some(self.node_ns(name));
        }
        if t.pod(name).is_some() {
            return Some(self.pod_ns(name));
        }
        if t.cluster(name.trim_end_matches("-vpc")).is_some() && name.ends_with("-vpc") {
            return Some(self.vpc_ns(name.trim_end_matches("-vpc")));
        }
        None
    }

    /// Creates a namespace (recorded first, so that `down` finds it).
    fn ensure_ns(&mut self, name: &str) -> Result<bool, String> {
        if !self.state.namespaces.iter().any(|n| n == name) {
            self.state.namespaces.push(name.to_string());
            self.save()?;
        }
        Ok(ok(Netns::ensure(name))?.1)
    }

    fn has_link(ns: &str, dev: &str) -> bool {
        Netns::named(ns).has_link(dev)
    }

    /// A cluster's VPC: a namespace with the VPC router's bridge.
    pub fn ensure_vpc(&mut self, c: &Cluster) -> Result<(), String> {
        let ns = self.vpc_ns(&c.name);
        self.ensure_ns(&ns)?;
        let vpc = Netns::named(&ns);
        if !vpc.has_link("br0") {
            ok(vpc.add_bridge("br0"))?;
            let gw = format!("{}/{}", gateway_of(&c.vpc), c.vpc.prefix_len());
            ok(vpc.add_addr("br0", &gw))?;
            ok(vpc.link_up("br0"))?;
        }
        ok(vpc.sysctl(&["net.ipv4.ip_forward=1"]))
    }

    /// A node: its namespace, its link into the VPC, its default route.
    pub fn ensure_node(&mut self, n: &Node, c: &Cluster) -> Result<(), String> {
        let ns = self.node_ns(&n.name);
        let vpc = self.vpc_ns(&c.name);
        self.ensure_ns(&ns)?;
        let (node, vpc) = (Netns::named(&ns), Netns::named(&vpc));
        if !node.has_link("eth0") {
            if vpc.has_link(&n.port) {
                ok(vpc.ip(&["link", "del", &n.port]))?;
            }
            ok(vpc.veth_to(&n.port, &node, "eth0"))?;
            ok(vpc.set_master(&n.port, "br0"))?;
            ok(node.add_addr("eth0", &format!("{}/{}", n.address, c.vpc.prefix_len())))?;
            ok(node.link_up("eth0"))?;
            ok(node.ip(&[
                "route",
                "add",
                "default",
                "via",
                &gateway_of(&c.vpc).to_string(),
            ]))?;
        }
        Ok(())
    }

    /// VPC peering: a link between the two VPC routers that routes only
    /// the two VPC CIDRs, no NAT.
    pub fn ensure_peering(&mut self, index: usize, a: &Cluster, b: &Cluster) -> Result<(), String> {
        let (na, nb) = (
            Netns::named(&self.vpc_ns(&a.name)),
            Netns::named(&self.vpc_ns(&b.name)),
        );
        let dev = format!("p{index}");
        if !na.has_link(&dev) {
            ok(na.veth_to(&dev, &nb, &dev))?;
            let (la, lb) = peering_addresses(index);
            ok(na.add_addr(&dev, &format!("{la}/30")))?;
            ok(nb.add_addr(&dev, &format!("{lb}/30")))?;
            ok(na.link_up(&dev))?;
            ok(nb.link_up(&dev))?;
            ok(na.ip(&["route", "replace", &b.vpc.to_string(), "via", &lb]))?;
            ok(nb.ip(&["route", "replace", &a.vpc.to_string(), "via", &la]))?;
        }
        Ok(())
    }

    pub fn set_peering(
        &self,
        index: usize,
        a: &Cluster,
        b: &Cluster,
        up: bool,
    ) -> Result<(), String> {
        let dev = format!("p{index}");
        let state = if up { "up" } else { "down" };
        let (na, nb) = (
            Netns::named(&self.vpc_ns(&a.name)),
            Netns::named(&self.vpc_ns(&b.name)),
        );
        ok(na.ip(&["link", "set", &dev, state]))?;
        ok(nb.ip(&["link", "set", &dev, state]))?;
        if up {
            let (la, lb) = peering_addresses(index);
            ok(na.ip(&["route", "replace", &b.vpc.to_string(), "via", &lb]))?;
            ok(nb.ip(&["route", "replace", &a.vpc.to_string(), "via", &la]))?;
        }
        Ok(())
    }

    /// The bgpd configuration of a node.
    pub fn bgpd_config(&self, t: &Topology, n: &Node) -> String {
        let c = t.cluster(&n.cluster).expect("node's cluster");
        let mut s = format!(
            "# Written by ferry-lab.\nrouter-id = \"{a}\"\nlocal-as = 64512\ncontrol-socket = \"{sock}\"\nstate-dir = \"{state}\"\nhold-time = 30\nhttp-listen = \"{a}:{HTTP_PORT}\"\n",
            a = n.address,
            sock = self.socket(&n.name).display(),
            state = self.dir.join(format!("{}.state", n.name)).display(),
        );
        let quoted = |c: &crate::topology::Cluster| {
            c.reflectors()
                .iter()
                .map(|a| format!("\"{a}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let bfd = |table: &str, out: &mut String| {
            if let Some(b) = t.bfd {
                out.push_str(&format!(
                    "\n[{table}.bfd-liveness-detection]\nminimum-interval = {}\nmultiplier = {}\n",
                    b.minimum_interval, b.multiplier
                ));
            }
        };
        if n.master {
            // The reflectors of a cluster share its cluster-id: the first
            // reflector's address.
            let cluster_id = c.reflectors()[0];
            s.push_str(&format!(
                "cluster-id = \"{cluster_id}\"\n\n[[group]]\nname = \"workers\"\ntype = \"internal\"\nlocal-address = \"{a}\"\nfamilies = [\"inet-vpn\", \"inet6-vpn\", \"evpn\"]\nroute-reflector-client = true\nallow = [\"{vpc}\"]\n",
                a = n.address,
                vpc = c.vpc,
            ));
            bfd("group", &mut s);
            s.push_str(&format!(
                "\n[cluster-mesh]\nlocal-cluster = \"{cl}\"\nlocal-address = \"{a}\"\n",
                a = n.address,
                cl = c.name
            ));
            bfd("cluster-mesh", &mut s);
            for other in &t.clusters {
                s.push_str(&format!(
                    "\n[[cluster-mesh.clusters]]\nname = \"{}\"\nroute-reflectors = [{}]\n",
                    other.name,
                    quoted(other)
                ));
            }
        } else {
            s.push_str(&format!(
                "vtep-address = \"{a}\"\n\n[[group]]\nname = \"reflectors\"\ntype = \"internal\"\nlocal-address = \"{a}\"\nfamilies = [\"evpn\"]\nneighbors = [{rr}]\n",
                a = n.address,
                rr = quoted(c)
            ));
            bfd("group", &mut s);
        }
        s
    }

    /// `GET /readyz` of a node's bgpd, in the node's namespace: ready or
    /// not with the reasons, or why there was no answer.
    pub fn readiness(&self, n: &Node) -> Result<(bool, Vec<String>), String> {
        let addr = std::net::SocketAddr::new(n.address, HTTP_PORT);
        ok(Netns::named(&self.node_ns(&n.name)).run_in(move || {
            use std::io::Read;
            let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
                .map_err(|e| format!("{addr}: {e}"))?;
            s.set_read_timeout(Some(Duration::from_secs(3)))
                .map_err(|e| e.to_string())?;
            write!(
                s,
                "GET /readyz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
            )
            .map_err(|e| e.to_string())?;
            let mut text = String::new();
            s.read_to_string(&mut text).map_err(|e| e.to_string())?;
            let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
            let ready = head.starts_with("HTTP/1.1 200");
            let reasons = if ready {
                Vec::new()
            } else {
                body.lines().map(str::to_string).collect()
            };
            Ok((ready, reasons))
        }))?
    }

    /// A node of the lab's topology by name.
    pub fn node(&self, name: &str) -> Result<Node, String> {
        let t = self
            .state
            .topology
            .as_ref()
            .ok_or("no lab is up (ferry-lab up)")?;
        nodes(t)
            .into_iter()
            .find(|n| n.name == name)
            .ok_or_else(|| format!("no node {name:?}"))
    }

    pub fn daemon_running(&self, node: &str) -> bool {
        self.state.daemons.get(node).is_some_and(|p| pid_alive(*p))
    }

    /// Starts a node's bgpd (or reloads it when its configuration changed).
    /// Returns what it did.
    pub fn ensure_daemon(&mut self, t: &Topology, n: &Node) -> Result<&'static str, String> {
        let conf_path = self.dir.join(format!("{}.toml", n.name));
        let conf = self.bgpd_config(t, n);
        let old = std::fs::read_to_string(&conf_path).ok();
        if old.as_deref() != Some(conf.as_str()) {
            std::fs::write(&conf_path, &conf)
                .map_err(|e| format!("{}: {e}", conf_path.display()))?;
        }
        if self.state.held.contains(&n.name) {
            return Ok("stopped by `ferry-lab stop`: left down");
        }
        if self.daemon_running(&n.name) {
            if old.as_deref() != Some(conf.as_str()) {
                self.bgpctl(&n.name, &["reload"])?;
                return Ok("reloaded");
            }
            return Ok("running");
        }
        self.start_daemon(n)?;
        Ok("started")
    }

    pub fn start_daemon(&mut self, n: &Node) -> Result<(), String> {
        let conf_path = self.dir.join(format!("{}.toml", n.name));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{}.log", n.name)))
            .map_err(|e| e.to_string())?;
        let sock = self.socket(&n.name);
        let _ = std::fs::remove_file(&sock);
        let bgpd = self.bin_dir.join("bgpd");
        let child = {
            use std::os::unix::process::CommandExt;
            Netns::named(&self.node_ns(&n.name))
                .command(&bgpd)
                .args([
                    "--config",
                    conf_path.to_str().unwrap_or_default(),
                    "--log",
                    "info",
                ])
                .stdin(Stdio::null())
                .stdout(log.try_clone().map_err(|e| e.to_string())?)
                .stderr(log)
                .process_group(0)
                .spawn()
                .map_err(|e| format!("starting {}: {e}", bgpd.display()))?
        };
        self.state.daemons.insert(n.name.clone(), child.id());
        self.save()?;
        let start = Instant::now();
        while !sock.exists() {
            if start.elapsed() > Duration::from_secs(10) {
                return Err(format!(
                    "bgpd of {} did not open its control socket; see {}",
                    n.name,
                    self.dir.join(format!("{}.log", n.name)).display()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Stops a node's bgpd (SIGTERM, or SIGKILL with `kill`) and returns
    /// once it has exited (its sockets closed, its port free; `restart`
    /// starts the new one at once, without waiting for init to reap the old).
    pub fn stop_daemon(&mut self, node: &str, kill: bool) -> Result<(), String> {
        self.stop_daemons(&[node.to_string()], kill, false)
    }

    /// Stops the bgpd of each node at once and returns when all have exited
    /// (SIGKILL after 5 s; an error if even that does not end one) and, with
    /// `reaped`, left the process table.
    pub fn stop_daemons(
        &mut self,
        nodes: &[String],
        kill: bool,
        reaped: bool,
    ) -> Result<(), String> {
        let mut ours = Vec::new();
        for node in nodes {
            let Some(pid) = self.state.daemons.get(node).copied() else {
                continue;
            };
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            // A PID now running something else is not ours to wait for; one
            // with no command line left is our bgpd, still exiting.
            if !cmdline.is_empty() && !String::from_utf8_lossy(&cmdline).contains("bgpd") {
                continue;
            }
            if pid_alive(pid) {
                signal(pid, if kill { libc::SIGKILL } else { libc::SIGTERM });
            }
            ours.push((node.clone(), pid));
        }
        let pids: Vec<u32> = ours.iter().map(|(_, p)| *p).collect();
        for pid in wait_exited(&pids, Duration::from_secs(5)) {
            signal(pid, libc::SIGKILL);
        }
        let stuck = wait_exited(&pids, Duration::from_secs(5));
        for node in nodes {
            if let Some(pid) = self.state.daemons.get(node) {
                if !stuck.contains(pid) {
                    self.state.daemons.remove(node);
                }
            }
        }
        self.save()?;
        if !stuck.is_empty() {
            let names: Vec<String> = ours
                .iter()
                .filter(|(_, p)| stuck.contains(p))
                .map(|(n, p)| format!("bgpd of {n} (PID {p})"))
                .collect();
            return Err(format!("{} does not exit", names.join(", ")));
        }
        if reaped {
            for pid in wait_reaped(&pids, Duration::from_secs(5)) {
                eprintln!("ferry-lab: bgpd PID {pid} has exited; its parent has not reaped it yet");
            }
        }
        Ok(())
    }

    /// `bgpctl -s SOCKET ARGS…` for a node.
    pub fn bgpctl(&self, node: &str, args: &[&str]) -> Result<String, String> {
        let out = Command::new(self.bin_dir.join("bgpctl"))
            .arg("-s")
            .arg(self.socket(node))
            .args(args)
            .output()
            .map_err(|e| format!("bgpctl: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    /// A pod: its namespace and its attachment by the ferry CNI plugin,
    /// called as a runtime would.
    pub fn ensure_pod(&mut self, t: &Topology, p: &Pod) -> Result<bool, String> {
        let ns = self.pod_ns(&p.name);
        self.ensure_ns(&ns)?;
        if Self::has_link(&ns, "net1") {
            return Ok(false);
        }
        let c = t.cluster(&p.cluster).expect("pod's cluster");
        let node = format!("{}-worker{}", c.name, p.worker + 1);
        let nad = t.nad(&p.nad).expect("pod's NAD");
        let mut ip_config = serde_json::Map::new();
        for (key, cfg) in [("ipv4", &p.ipv4), ("ipv6", &p.ipv6)] {
            if let Some(cfg) = cfg {
                let mut v = serde_json::json!({"address": cfg.address.to_string(),
                    "routes": cfg.routes.iter().map(|r| r.to_string()).collect::<Vec<_>>()});
                if let Some(g) = cfg.gateway {
                    v["gateway"] = serde_json::json!(g.to_string());
                }
                ip_config.insert(key.to_string(), v);
            }
        }
        let mut cni_args = serde_json::json!({"dataplane": "linux", "ipConfig": ip_config});
        if let Some(m) = &p.mac {
            cni_args["mac"] = serde_json::json!(m);
        }
        let conf = serde_json::json!({
            "cniVersion": "0.4.0",
            "name": nad.name,
            "type": "ferry",
            "args": {"applyGroups": "evpn-type5", "vxlanVNI": nad.vni.to_string(),
                     "vrfName": nad.vrf, "vrfTarget": nad.route_target, "cni": cni_args},
            "kubeConfig": "/etc/kubernetes/kubelet.conf",
            "bgpdSocket": self.socket(&node),
        });
        let mut child = Netns::named(&self.node_ns(&node))
            .command(self.bin_dir.join("ferry"))
            .env("CNI_COMMAND", "ADD")
            .env("CNI_CONTAINERID", format!("{}-{}", self.prefix, p.name))
            .env("CNI_NETNS", format!("/var/run/netns/{ns}"))
            .env("CNI_IFNAME", "net1")
            .env("CNI_PATH", &self.bin_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("running the ferry CNI plugin: {e}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(conf.to_string().as_bytes())
                .map_err(|e| e.to_string())?;
        }
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "CNI ADD of {}: {}",
                p.name,
                String::from_utf8_lossy(&out.stdout).trim()
            ));
        }
        Ok(true)
    }

    /// Removes every daemon and namespace the lab made, and its state.
    /// Returns once every process the lab started has exited; an error
    /// names what would not go (and the state is kept for another `down`).
    pub fn down(&mut self) -> Result<Vec<String>, String> {
        let mut done = Vec::new();
        let mut errors = Vec::new();
        let nodes: Vec<String> = self.state.daemons.keys().cloned().collect();
        match self.stop_daemons(&nodes, false, true) {
            Ok(()) => done.extend(nodes.iter().map(|n| format!("stopped bgpd of {n}"))),
            Err(e) => errors.push(e),
        }
        for ns in self.state.namespaces.clone().iter().rev() {
            let netns = Netns::named(ns);
            if netns.exists() {
                // Anything still running inside was started by the lab.
                let pids = match netns.kill_processes(Duration::from_secs(5)) {
                    Ok(pids) => pids,
                    Err(e) => {
                        errors.push(e.to_string());
                        continue;
                    }
                };
                wait_reaped(&pids, Duration::from_secs(5));
                let _ = netns.delete();
                done.push(format!("deleted namespace {ns}"));
            }
        }
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
        self.state = State::default();
        let _ = std::fs::remove_dir_all(&self.dir);
        Ok(done)
    }
}

pub fn peering_addresses(index: usize) -> (String, String) {
    let i = index % 64;
    (
        format!("169.254.{}.{}", 100 + index / 64, i * 4 + 1),
        format!("169.254.{}.{}", 100 + index / 64, i * 4 + 2),
    )
}

/// Pings once from a namespace.
pub fn ping(ns: &str, to: IpAddr) -> bool {
    let fam = if to.is_ipv6() { "-6" } else { "-4" };
    Netns::named(ns)
        .output(&["ping", fam, "-c", "1", "-W", "1", &to.to_string()])
        .is_ok_and(|o| o.status.success())
}
