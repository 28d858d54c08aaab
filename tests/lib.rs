//! Test harness for Ferry's integration and interop tests: network
//! namespaces with unique names, links between them, and processes that
//! are killed (by their PID) and cleaned up even when a test fails.
//!
//! Every test that needs root is `#[ignore]`d, so that `cargo test` lists
//! it as ignored instead of passing it unrun, and calls [`require_root`]
//! first. `tests/run` runs them as root with `--include-ignored`.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Fails the test at once, saying why, when it does not run as root: a
/// root-only test never passes without having run.
pub fn require_root(test: &str) {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert!(
        euid == 0,
        "{test} needs root (network namespaces): run tests/run as root, or `cargo test -- --include-ignored` as root"
    );
}

/// A unique short name (interface names are limited to 15 characters).
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}x{n}", std::process::id() % 100000)
}

/// Runs a command, failing the test with its output when it fails.
pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {cmd} {args:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{cmd} {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command and returns its whole output, success or not.
pub fn output(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {cmd} {args:?}: {e}"))
}

/// A network namespace, deleted (with every process still in it) on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(prefix: &str) -> Netns {
        let name = unique(prefix);
        run("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        ns.exec_ok(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// A command line run inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    pub fn exec(&self, args: &[&str]) -> Output {
        let mut full = vec!["netns", "exec", &self.name];
        full.extend_from_slice(args);
        output("ip", &full)
    }

    pub fn exec_ok(&self, args: &[&str]) -> String {
        let mut full = vec!["netns", "exec", &self.name];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// Adds an address to an interface of the namespace.
    pub fn addr(&self, dev: &str, cidr: &str) {
        self.exec_ok(&["ip", "addr", "add", cidr, "dev", dev]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Processes left inside were started by the test: end them.
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if let Ok(pid) = pid.parse::<i32>() {
                    // SAFETY: plain kill(2) on a PID inside our namespace.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// A LAN: a bridge in its own namespace, to which nodes attach.
pub struct Lan {
    pub ns: Netns,
    bridge: String,
}

impl Lan {
    pub fn new() -> Lan {
        let ns = Netns::new("fl");
        let bridge = "br0".to_string();
        ns.exec_ok(&["ip", "link", "add", &bridge, "type", "bridge"]);
        ns.exec_ok(&["ip", "link", "set", &bridge, "up"]);
        Lan { ns, bridge }
    }

    /// Connects `node` with interface `dev` holding `cidr` (e.g.
    /// `10.10.25.42/16`).
    pub fn attach(&self, node: &Netns, dev: &str, cidr: &str) {
        let outside = unique("v");
        run(
            "ip",
            &[
                "link",
                "add",
                &outside,
                "netns",
                &self.ns.name,
                "type",
                "veth",
                "peer",
                "name",
                dev,
                "netns",
                &node.name,
            ],
        );
        self.ns
            .exec_ok(&["ip", "link", "set", &outside, "master", &self.bridge]);
        self.ns.exec_ok(&["ip", "link", "set", &outside, "up"]);
        node.exec_ok(&["ip", "link", "set", dev, "up"]);
        node.addr(dev, cidr);
    }
}

impl Default for Lan {
    fn default() -> Self {
        Lan::new()
    }
}

/// A process started by a test, killed by its PID on drop.
pub struct Proc {
    pub name: String,
    child: Child,
    pub log: PathBuf,
}

impl Proc {
    /// Starts `program args…` inside `ns`, stdout and stderr to `log`.
    pub fn spawn(name: &str, ns: &Netns, program: &str, args: &[&str], log: &Path) -> Proc {
        let file = fs::File::create(log).expect("log file");
        let child = ns
            .command(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {program}: {e}"));
        Proc {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (SIGTERM, SIGHUP, …).
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on the PID of our own child.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// Waits for the process to exit, up to `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Resident memory (VmRSS) in KiB; 0 once the process is gone.
    pub fn rss_kib(&self) -> u64 {
        fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` until it returns `Some`, or fails the test after `timeout`
/// with `what` and the last value seen.
pub fn eventually<T, F: FnMut() -> Result<T, String>>(
    what: &str,
    timeout: Duration,
    mut f: F,
) -> T {
    let end = Instant::now() + timeout;
    loop {
        let last = match f() {
            Ok(v) => return v,
            Err(e) => e,
        };
        if Instant::now() > end {
            panic!("timed out after {timeout:?} waiting for {what}: {last}");
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// The directory of the workspace's built binaries (`target/debug`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/debug/deps/<test> → target/debug
    exe.parent()
        .and_then(|p| p.parent())
        .map(Path::to_path_buf)
        .expect("target directory")
}

/// The path of a workspace binary (`bgpd`, `bgpctl`, `ferry`), built by
/// `cargo test --workspace`.
pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "{} not built; run cargo build --workspace first",
        p.display()
    );
    p
}

/// The address part of a CIDR string.
pub fn ip_of(cidr: &str) -> IpAddr {
    cidr.split('/')
        .next()
        .and_then(|a| a.parse().ok())
        .expect("address")
}

/// A Ferry `bgpd` running in a namespace, with its control socket.
pub struct Ferry {
    pub proc: Proc,
    pub socket: PathBuf,
    pub config: PathBuf,
}

/// The control socket and (for workers) the state directory, beside the
/// socket, put before a test's configuration.
fn preamble(socket: &Path, config: &str) -> String {
    let state = socket.with_extension("state");
    format!(
        "control-socket = \"{}\"\nstate-dir = \"{}\"\n{config}",
        socket.display(),
        state.display()
    )
}

impl Ferry {
    /// Writes `config` (with `control-socket` added) and starts bgpd.
    pub fn start(ns: &Netns, dir: &Path, name: &str, config: &str) -> Ferry {
        let socket = dir.join(format!("{name}.sock"));
        let path = dir.join(format!("{name}.toml"));
        fs::write(&path, preamble(&socket, config)).unwrap();
        let proc = Proc::spawn(
            name,
            ns,
            bin("bgpd").to_str().unwrap(),
            &[
                "--config",
                path.to_str().unwrap(),
                "--log",
                &std::env::var("FERRY_TEST_LOG").unwrap_or_else(|_| "info".into()),
            ],
            &dir.join(format!("{name}.log")),
        );
        let f = Ferry {
            proc,
            socket,
            config: path,
        };
        eventually(
            &format!("{name} control socket"),
            Duration::from_secs(10),
            || {
                if f.socket.exists() {
                    Ok(())
                } else {
                    Err(f.proc.log_text())
                }
            },
        );
        f
    }

    /// Rewrites the configuration file (control socket kept).
    pub fn rewrite(&self, config: &str) {
        fs::write(&self.config, preamble(&self.socket, config)).unwrap();
    }

    /// `bgpctl -s SOCKET --json ARGS…`, parsed.
    pub fn ctl(&self, args: &[&str]) -> Result<serde_json::Value, String> {
        let mut full = vec!["-s", self.socket.to_str().unwrap(), "--json"];
        full.extend_from_slice(args);
        let out = output(bin("bgpctl").to_str().unwrap(), &full);
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
    }

    /// As [`Ferry::ctl`], but an error when bgpctl has no answer within
    /// `timeout` (the bgpctl process is then killed).
    pub fn ctl_within(
        &self,
        args: &[&str],
        timeout: Duration,
    ) -> Result<serde_json::Value, String> {
        let out_path = self
            .socket
            .with_extension(format!("out{}", COUNTER.fetch_add(1, Ordering::Relaxed)));
        let out = fs::File::create(&out_path).map_err(|e| e.to_string())?;
        let mut child = Command::new(bin("bgpctl"))
            .args(["-s", self.socket.to_str().unwrap(), "--json"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let end = Instant::now() + timeout;
        let status = loop {
            if let Ok(Some(s)) = child.try_wait() {
                break s;
            }
            if Instant::now() > end {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("bgpctl {args:?}: no answer within {timeout:?}"));
            }
            thread::sleep(Duration::from_millis(20));
        };
        let text = fs::read(&out_path).unwrap_or_default();
        let _ = fs::remove_file(&out_path);
        if !status.success() {
            return Err(format!("bgpctl {args:?}: {status}"));
        }
        serde_json::from_slice(&text).map_err(|e| e.to_string())
    }

    /// `show neighbor ADDR` as JSON (the one neighbour's object).
    pub fn neighbor(&self, addr: &str) -> Result<serde_json::Value, String> {
        let v = self.ctl(&["show", "neighbor", addr])?;
        match v {
            serde_json::Value::Array(mut a) if !a.is_empty() => Ok(a.swap_remove(0)),
            serde_json::Value::Array(_) => Err(format!("no neighbor {addr}")),
            other => Ok(other),
        }
    }

    /// The summary's neighbors, by address: (state, flaps, last-change-secs).
    pub fn sessions(&self) -> Vec<(String, String, u64, u64)> {
        let s = self.ctl(&["show", "summary"]).unwrap_or_default();
        s["neighbors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|n| {
                        (
                            n["address"].as_str().unwrap_or("").to_string(),
                            n["state"].as_str().unwrap_or("").to_string(),
                            n["flaps"].as_u64().unwrap_or(0),
                            n["last-change-secs"].as_u64().unwrap_or(0),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until `addrs` are all Established.
    pub fn wait_established(&self, addrs: &[&str]) {
        eventually("sessions Established", Duration::from_secs(60), || {
            let s = self.sessions();
            let up = |a: &&str| s.iter().any(|(x, st, _, _)| x == a && st == "Established");
            if addrs.iter().all(up) {
                Ok(())
            } else {
                Err(format!("{s:?}\n{}", self.proc.log_text()))
            }
        });
    }

    /// Sends one raw control request (a JSON object) and returns the answer.
    pub fn request(&self, request: serde_json::Value) -> serde_json::Value {
        use std::io::{BufRead, Write};
        let mut s = std::os::unix::net::UnixStream::connect(&self.socket).expect("control socket");
        writeln!(s, "{request}").unwrap();
        let mut line = String::new();
        std::io::BufReader::new(&s).read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap()
    }

    /// `show route` as JSON, with extra arguments.
    pub fn routes(&self, args: &[&str]) -> Vec<serde_json::Value> {
        let mut full = vec!["show", "route"];
        full.extend_from_slice(args);
        self.ctl(&full)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }
}

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

/// FRR's bgpd without zebra in a namespace.
pub struct Frr<'a> {
    pub ns: &'a Netns,
    dir: PathBuf,
}

impl<'a> Frr<'a> {
    pub fn start(ns: &'a Netns, dir: &Path, name: &str, conf: &str) -> Frr<'a> {
        let dir = dir.join(name);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("bgpd.conf"), conf).unwrap();
        let frr = Frr { ns, dir };
        frr.start_bgpd();
        frr
    }

    /// Starts FRR's bgpd (again) with the configuration given to `start`.
    pub fn start_bgpd(&self) {
        let (ns, dir) = (self.ns, &self.dir);
        let conf_path = dir.join("bgpd.conf");
        ns.exec_ok(&[
            "/usr/lib/frr/bgpd",
            "-Z",
            "-n",
            "-S",
            "-f",
            conf_path.to_str().unwrap(),
            "-i",
            dir.join("bgpd.pid").to_str().unwrap(),
            "--vty_socket",
            dir.to_str().unwrap(),
            "-d",
        ]);
    }

    /// SIGKILLs FRR's bgpd (bfdd, if started, goes on) and waits until it
    /// has exited.
    pub fn kill_bgpd(&self) {
        let pid_file = self.dir.join("bgpd.pid");
        let pid: i32 = fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // SAFETY: kill(2) on the PID of the bgpd this test started.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
        eventually("FRR's bgpd gone", Duration::from_secs(10), || {
            // SAFETY: kill(2) with signal 0 only checks the PID.
            if unsafe { libc::kill(pid, 0) } != 0 {
                Ok(())
            } else {
                Err(format!("PID {pid} still there"))
            }
        });
        let _ = fs::remove_file(pid_file);
    }

    pub fn vtysh(&self, cmd: &str) -> String {
        let out = output(
            "vtysh",
            &["--vty_socket", self.dir.to_str().unwrap(), "-c", cmd],
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts FRR's bfdd beside bgpd with `conf` (a `bfd` block with
    /// static `peer`s: without zebra, FRR's bgpd cannot register its
    /// neighbours with bfdd itself). bfdd has no option to skip dropping
    /// to the `frr` user, so the directory is opened to it.
    pub fn start_bfdd(&self, conf: &str) {
        use std::os::unix::fs::PermissionsExt;
        if let Some(parent) = self.dir.parent() {
            fs::set_permissions(parent, fs::Permissions::from_mode(0o755)).unwrap();
        }
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o777)).unwrap();
        let conf_path = self.dir.join("bfdd.conf");
        fs::write(&conf_path, conf).unwrap();
        fs::set_permissions(&conf_path, fs::Permissions::from_mode(0o644)).unwrap();
        let d = |f: &str| self.dir.join(f).to_str().unwrap().to_string();
        self.ns.exec_ok(&[
            "/usr/lib/frr/bfdd",
            "-u",
            "frr",
            "-g",
            "frr",
            "-f",
            &d("bfdd.conf"),
            "-i",
            &d("bfdd.pid"),
            "--vty_socket",
            self.dir.to_str().unwrap(),
            "--bfdctl",
            &d("bfdd.sock"),
            "-z",
            &d("zserv.api"),
            "--log",
            &format!("file:{}", d("bfdd.log")),
            "-d",
        ]);
        eventually("bfdd started", Duration::from_secs(10), || {
            if self.dir.join("bfdd.pid").exists() {
                Ok(())
            } else {
                Err("no bfdd.pid".into())
            }
        });
    }
}

impl Drop for Frr<'_> {
    fn drop(&mut self) {
        if let Ok(pid) = fs::read_to_string(self.dir.join("bfdd.pid")) {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                // SAFETY: kill(2) on the PID of the bfdd this test started.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
        if let Ok(pid) = fs::read_to_string(self.dir.join("bgpd.pid")) {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                // SAFETY: kill(2) on the PID of the bgpd this test started.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
}

/// Runs `f` on a thread that entered the network namespace `ns`, so that
/// the sockets it opens live there.
pub fn in_netns<T: Send + 'static>(ns: &Netns, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{}", ns.name);
    thread::spawn(move || {
        let file = fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // SAFETY: setns(2) on a namespace file we opened, for this thread only.
        let rc = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .expect("namespace thread")
}

/// Runs the future `f` makes on a thread that entered the network
/// namespace `ns` (a single-threaded tokio runtime), borrowing freely from
/// the caller: sockets it opens live in `ns`.
pub fn block_in<T, Fut>(ns: &Netns, f: impl FnOnce() -> Fut + Send) -> T
where
    T: Send,
    Fut: std::future::Future<Output = T>,
{
    let path = format!("/var/run/netns/{}", ns.name);
    thread::scope(|scope| {
        scope
            .spawn(move || {
                let file = fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
                // SAFETY: setns(2) on a namespace file we opened, for this thread only.
                let rc = unsafe {
                    libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET)
                };
                assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(f())
            })
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// A VPNv4 UPDATE announcing `prefixes` with RD `rd`, label 100, ORIGIN
/// IGP, an empty AS_PATH, LOCAL_PREF 100 and next hop `next_hop`.
pub fn vpnv4_update(
    next_hop: std::net::Ipv4Addr,
    rd: &str,
    prefixes: impl IntoIterator<Item = ipnet::Ipv4Net>,
) -> ferry_wire::Update {
    use ferry_wire::{
        Family, Label, LabelStack, MpReachNlri, NextHop, Nlri, NlriEntry, Origin, PathAttributes,
        Update, VpnPrefix,
    };
    let rd = rd.parse().expect("route distinguisher");
    Update {
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(Default::default()),
            local_pref: Some(100),
            ..Default::default()
        },
        mp_reach: Some(MpReachNlri {
            family: Family::VPNV4,
            next_hop: NextHop::Ipv4(next_hop),
            nlri: prefixes
                .into_iter()
                .map(|p| {
                    NlriEntry::new(Nlri::Vpn(VpnPrefix {
                        labels: LabelStack::single(Label::mpls(100)),
                        rd,
                        prefix: ipnet::IpNet::V4(p),
                    }))
                })
                .collect(),
            undecoded: Vec::new(),
        }),
        ..Default::default()
    }
}

/// An UPDATE encoded for a session with extended messages (RFC 8654).
pub fn encode_extended(u: ferry_wire::Update) -> Vec<u8> {
    ferry_wire::Message::Update(u)
        .to_bytes(&ferry_wire::EncodeContext {
            extended_message: true,
            ..Default::default()
        })
        .expect("UPDATE fits 65535 octets")
        .to_vec()
}

/// Appends raw attribute octets to an encoded UPDATE that has no IPv4
/// NLRI, fixing the message and attribute lengths.
pub fn with_attribute(update: &[u8], attr: &[u8]) -> Vec<u8> {
    let mut out = update.to_vec();
    let wlen = u16::from_be_bytes([out[19], out[20]]) as usize;
    let at = 21 + wlen;
    out.extend_from_slice(attr);
    let total = u16::try_from(out.len()).expect("message of at most 65535 octets");
    out[16..18].copy_from_slice(&total.to_be_bytes());
    let alen = u16::from_be_bytes([out[at], out[at + 1]]) as usize + attr.len();
    out[at..at + 2].copy_from_slice(&(alen as u16).to_be_bytes());
    out
}

/// Pads an encoded UPDATE (no IPv4 NLRI) to exactly `total` octets with
/// an unknown optional transitive attribute (type 200, extended length):
/// a legal message that a reflector passes on.
pub fn pad_to(update: &[u8], total: usize) -> Vec<u8> {
    let n = total
        .checked_sub(update.len() + 4)
        .expect("UPDATE already too long to pad");
    let mut attr = vec![0xd0, 200];
    attr.extend_from_slice(&(n as u16).to_be_bytes());
    attr.resize(4 + n, 0x5a);
    let out = with_attribute(update, &attr);
    assert_eq!(out.len(), total);
    out
}

/// A route reflector at 10.10.25.42 for the clients of 10.10.0.0/16
/// (dynamic, every family), as the daemon and RFC 7606 tests run it; the
/// interop, security and worker tests append keys of the group to it.
pub const RR: &str = r#"
router-id = "10.10.25.42"
local-as = 64512
cluster-id = "10.10.25.42"
[[group]]
name = "workers"
local-address = "10.10.25.42"
route-reflector-client = true
allow = ["10.10.0.0/16"]
"#;

/// A worker's EVPN Type-5 UPDATE for `prefix` from VTEP `vtep`: ORIGIN,
/// AS_PATH, LOCAL_PREF, route target 11:11, VXLAN encapsulation, VNI 10002.
pub fn type5_update(prefix: &str, vtep: std::net::Ipv4Addr) -> ferry_wire::Update {
    use ferry_wire::nlri::evpn::{Esi, EvpnRoute, IpPrefixRoute};
    use ferry_wire::{
        ExtendedCommunity, Family, Label, MpReachNlri, NextHop, Nlri, NlriEntry, Origin,
        PathAttributes, Update,
    };
    Update {
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(Default::default()),
            local_pref: Some(100),
            extended_communities: vec![
                "target:11:11".parse::<ExtendedCommunity>().unwrap(),
                "encap:vxlan".parse().unwrap(),
            ],
            ..Default::default()
        },
        mp_reach: Some(MpReachNlri {
            family: Family::EVPN,
            next_hop: NextHop::Ipv4(vtep),
            nlri: vec![NlriEntry::new(Nlri::Evpn(EvpnRoute::IpPrefix(
                IpPrefixRoute {
                    rd: format!("{vtep}:1").parse().unwrap(),
                    esi: Esi::ZERO,
                    ethernet_tag: 0,
                    prefix: prefix.parse().unwrap(),
                    gateway: "0.0.0.0".parse().unwrap(),
                    label: Label::vni(10002),
                },
            )))],
            undecoded: Vec::new(),
        }),
        ..Default::default()
    }
}

/// A minimal BGP speaker for tests: OPEN, KEEPALIVE, then raw messages.
pub mod raw {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    use std::time::Duration;

    use bytes::{Bytes, BytesMut};
    use ferry_wire::message::Capability;
    use ferry_wire::{
        frame_length, DecodeContext, EncodeContext, Family, Message, Notification, Open,
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpSocket, TcpStream};

    /// An Established session.
    pub struct Session {
        pub stream: TcpStream,
        buf: BytesMut,
        /// Both OPENs had the extended message capability (RFC 8654):
        /// messages are decoded up to 65535 octets.
        pub extended_message: bool,
        /// The peer's OPEN, once received.
        pub peer_open: Option<Open>,
    }

    /// The capabilities of [`connect`]'s OPEN: EVPN, VPNv4, 4-octet AS
    /// `asn`.
    pub fn capabilities(asn: u32) -> Vec<Capability> {
        vec![
            Capability::Multiprotocol {
                family: Family::EVPN,
            },
            Capability::Multiprotocol {
                family: Family::VPNV4,
            },
            Capability::FourOctetAs { asn },
        ]
    }

    /// Connects from `local` to `peer`:179 as AS 64512 with the seed's
    /// families and completes the OPEN exchange.
    pub async fn connect(
        local: Ipv4Addr,
        peer: Ipv4Addr,
        router_id: Ipv4Addr,
    ) -> std::io::Result<Session> {
        connect_with(
            local,
            peer,
            Open::new(64512, 90, router_id, capabilities(64512)),
        )
        .await
    }

    /// Connects and completes the OPEN exchange with `open`; a NOTIFICATION
    /// in answer is an error holding its text.
    pub async fn connect_with(
        local: Ipv4Addr,
        peer: Ipv4Addr,
        open: Open,
    ) -> std::io::Result<Session> {
        let mut s = tcp(local, peer, None).await?;
        match s.handshake(&open).await? {
            Ok(_) => Ok(s),
            Err(n) => Err(std::io::Error::other(n.to_string())),
        }
    }

    /// A TCP connection from `local` to `peer`:179 with nothing sent yet;
    /// `recv_buffer` sets SO_RCVBUF first.
    pub async fn tcp(
        local: Ipv4Addr,
        peer: Ipv4Addr,
        recv_buffer: Option<u32>,
    ) -> std::io::Result<Session> {
        let socket = TcpSocket::new_v4()?;
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size)?;
        }
        socket.bind(SocketAddr::new(IpAddr::V4(local), 0))?;
        let stream = socket
            .connect(SocketAddr::new(IpAddr::V4(peer), 179))
            .await?;
        Ok(Session {
            stream,
            buf: BytesMut::new(),
            extended_message: false,
            peer_open: None,
        })
    }

    impl Session {
        /// Sends `open`, answers the peer's OPEN with a KEEPALIVE and waits
        /// for its KEEPALIVE: the peer's OPEN, or the NOTIFICATION it sent.
        pub async fn handshake(
            &mut self,
            open: &Open,
        ) -> std::io::Result<Result<Open, Notification>> {
            self.send(&Message::Open(open.clone())).await?;
            let ours = open
                .capabilities()
                .any(|c| *c == Capability::ExtendedMessage);
            loop {
                match self.recv(Duration::from_secs(10)).await? {
                    Message::Open(o) => {
                        self.extended_message =
                            ours && o.capabilities().any(|c| *c == Capability::ExtendedMessage);
                        self.peer_open = Some(o);
                        self.send(&Message::Keepalive).await?;
                    }
                    Message::Keepalive => {
                        return Ok(Ok(self.peer_open.clone().unwrap_or_else(|| open.clone())))
                    }
                    Message::Notification(n) => return Ok(Err(n)),
                    _ => {}
                }
            }
        }

        /// How this session's messages are decoded.
        pub fn decode_context(&self) -> DecodeContext {
            DecodeContext {
                extended_message: self.extended_message,
                ..DecodeContext::default()
            }
        }

        pub async fn send(&mut self, m: &Message) -> std::io::Result<()> {
            let ctx = EncodeContext {
                extended_message: self.extended_message,
                ..EncodeContext::default()
            };
            let b = m.to_bytes(&ctx).map_err(std::io::Error::other)?;
            self.stream.write_all(&b).await
        }

        pub async fn send_raw(&mut self, b: &[u8]) -> std::io::Result<()> {
            self.stream.write_all(b).await
        }

        /// The next message, decoded.
        pub async fn recv(&mut self, timeout: Duration) -> std::io::Result<Message> {
            let raw = self.recv_raw(timeout).await?;
            Message::decode(&raw, &self.decode_context()).map_err(std::io::Error::other)
        }

        /// The next whole message, undecoded.
        pub async fn recv_raw(&mut self, timeout: Duration) -> std::io::Result<Bytes> {
            tokio::time::timeout(timeout, async {
                loop {
                    if let Some(len) =
                        frame_length(&self.buf, 65535).map_err(std::io::Error::other)?
                    {
                        return Ok(self.buf.split_to(len).freeze());
                    }
                    if self.stream.read_buf(&mut self.buf).await? == 0 {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "closed",
                        ));
                    }
                }
            })
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no message"))?
        }
    }
}

/// `GET path` from `addr` (`ADDR:PORT`, inside `ns`): the status code and
/// the body, or why there was none.
pub fn http_get(ns: &Netns, addr: &str, path: &str) -> Result<(u16, String), String> {
    use std::io::{Read, Write};
    let addr = addr.to_string();
    let path = path.to_string();
    in_netns(ns, move || {
        let sa: std::net::SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
        let mut s = std::net::TcpStream::connect_timeout(&sa, Duration::from_secs(3))
            .map_err(|e| format!("connect {addr}: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).map_err(|e| format!("read: {e}"))?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text
            .split_once("\r\n\r\n")
            .ok_or_else(|| format!("no HTTP header in {text:?}"))?;
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("no status in {head:?}"))?;
        Ok((status, body.to_string()))
    })
}

/// The value of the sample `series` (name and labels exactly as exposed,
/// `ferry_bgp_session_up{peer="10.10.1.1",group="workers"}`) in a
/// Prometheus text exposition.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}
