//! Commands and processes: root check, commands that must succeed, the
//! processes a test starts (killed by their PID on drop), polling, and
//! the workspace's built binaries.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::netns::Netns;

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
