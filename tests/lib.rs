//! Test harness for Ferry's integration and interop tests: network
//! namespaces with unique names, links between them, and processes that
//! are killed (by their PID) and cleaned up even when a test fails.
//!
//! Every test that needs root calls [`require_root`] first: without root
//! (or with `FERRY_SKIP_ROOT_TESTS=1`) it says so and the test returns.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// True when the root-only tests can run here.
pub fn require_root(test: &str) -> bool {
    if std::env::var_os("FERRY_SKIP_ROOT_TESTS").is_some() {
        eprintln!("{test}: skipped (FERRY_SKIP_ROOT_TESTS set)");
        return false;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("{test}: skipped (needs root for network namespaces)");
        return false;
    }
    true
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
