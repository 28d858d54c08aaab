//! Linux network namespaces as Ferry's tests, lab and benchmarks use them:
//! named namespaces made with `ip netns add` (so that `ip netns exec`,
//! `ip -n` and `/var/run/netns/NAME` reach them), commands run inside,
//! veth pairs, addresses and sysctls, threads that enter a namespace to
//! open sockets there, and clean-up that ends only the namespace's own
//! processes, by PID.
//!
//! A [`Netns`] made by [`Netns::create`] (or [`Netns::create_unique`],
//! [`Netns::replace`]) belongs to its value: dropping it, also while a
//! test panics, kills the processes still inside and deletes it. One
//! named by [`Netns::named`] or made by [`Netns::ensure`] outlives the
//! value (the lab's namespaces outlive `ferry-lab up`); [`Netns::delete`]
//! removes it.
//!
//! ```no_run
//! let a = ferry_netns::Netns::create_unique("ex")?;
//! let b = ferry_netns::Netns::create_unique("ex")?;
//! a.veth_to("eth0", &b, "eth0")?;
//! a.add_addr("eth0", "192.0.2.1/24")?;
//! a.link_up("eth0")?;
//! let local = a.run_in(|| std::net::UdpSocket::bind("192.0.2.1:0").is_ok())?;
//! assert!(local);
//! # Ok::<(), ferry_netns::Error>(())
//! ```
//!
//! Everything is done with `ip` (iproute2) and `sysctl`, as an operator
//! would; the one system call made directly is setns(2), to enter a
//! namespace from a thread (and kill(2), to end its processes).

mod process;
#[cfg(test)]
mod tests;

use std::ffi::OsStr;
use std::fmt;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::Duration;

pub use process::{kill, running, wait_exited, wait_reaped};

/// Where `ip netns` keeps the namespaces' files.
pub const NETNS_DIR: &str = "/var/run/netns";

/// How long clean-up waits for the processes it killed to exit.
pub const EXIT_WAIT: Duration = Duration::from_secs(5);

/// What went wrong: what was run (the command line or the system call),
/// in which namespace, and what it said (its standard error, or the
/// operating system's error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    netns: String,
    what: Option<String>,
    detail: String,
}

impl Error {
    fn new(netns: &str, what: Option<String>, detail: impl Into<String>) -> Error {
        Error {
            netns: netns.to_string(),
            what,
            detail: detail.into(),
        }
    }

    /// The namespace it happened in (or was meant for).
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// The command line run (`ip -n NS link set eth0 up`), or the system
    /// call made (`setns /var/run/netns/NS`); none for processes that do
    /// not exit.
    pub fn what(&self) -> Option<&str> {
        self.what.as_deref()
    }

    /// What the command printed on its standard error (then, if it
    /// printed nothing there, its exit status; its standard output follows
    /// when there was any), or the operating system's error.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.what {
            Some(what) => write!(f, "{what}: {}", self.detail),
            None => f.write_str(&self.detail),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique on this machine while this process runs, short enough
/// for an interface name (15 characters) when `prefix` has at most 3:
/// `prefix`, this process's PID (mod 100000), `x`, a counter.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}x{n}", std::process::id() % 100000)
}

/// A command line as text, for errors.
fn line(program: &OsStr, args: &[&str]) -> String {
    let mut s = program.to_string_lossy().into_owned();
    for a in args {
        s.push(' ');
        s.push_str(a);
    }
    s
}

/// Runs `program args…` and returns its output, whatever its exit status.
fn output_of(netns: &str, mut cmd: Command, what: String) -> Result<Output> {
    cmd.output()
        .map_err(|e| Error::new(netns, Some(what), e.to_string()))
}

/// Runs a command that must succeed and returns its standard output.
fn run_ok(netns: &str, cmd: Command, what: String) -> Result<String> {
    let out = output_of(netns, cmd, what.clone())?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut detail = match stderr.trim() {
        "" => out.status.to_string(),
        e => e.to_string(),
    };
    if !stdout.trim().is_empty() {
        detail.push('\n');
        detail.push_str(stdout.trim_end());
    }
    Err(Error::new(netns, Some(what), detail))
}

/// `ip ARGS…` in the caller's namespace, on behalf of `netns`.
fn ip(netns: &str, args: &[&str]) -> Result<String> {
    let mut cmd = Command::new("ip");
    cmd.args(args);
    run_ok(netns, cmd, line(OsStr::new("ip"), args))
}

/// A network namespace, by name.
#[derive(Debug)]
pub struct Netns {
    name: String,
    /// Deleted (its processes killed) when the value is dropped.
    owned: bool,
}

impl Netns {
    /// Makes namespace `name` with its loopback up; it is deleted, with
    /// every process still inside, when the value is dropped. An error if
    /// it exists already.
    pub fn create(name: &str) -> Result<Netns> {
        ip(name, &["netns", "add", name])?;
        // Owned from here on: a failure below deletes it again.
        let ns = Netns {
            name: name.to_string(),
            owned: true,
        };
        ns.link_up("lo")?;
        Ok(ns)
    }

    /// [`Netns::create`] with a name made by [`unique`].
    pub fn create_unique(prefix: &str) -> Result<Netns> {
        Netns::create(&unique(prefix))
    }

    /// [`Netns::create`], after removing a namespace of that name left by
    /// an earlier run (its processes killed first).
    pub fn replace(name: &str) -> Result<Netns> {
        let old = Netns::named(name);
        if old.exists() {
            old.delete()?;
        }
        Netns::create(name)
    }

    /// Namespace `name`, made (with its loopback up) when it does not
    /// exist; it outlives the value. True when it was made now.
    pub fn ensure(name: &str) -> Result<(Netns, bool)> {
        let ns = Netns::named(name);
        if ns.exists() {
            return Ok((ns, false));
        }
        ip(name, &["netns", "add", name])?;
        ns.link_up("lo")?;
        Ok((ns, true))
    }

    /// The namespace called `name`, which need not exist (yet); it
    /// outlives the value.
    pub fn named(name: &str) -> Netns {
        Netns {
            name: name.to_string(),
            owned: false,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its file, `/var/run/netns/NAME` (what `CNI_NETNS` and
    /// `nsenter --net=` take).
    pub fn path(&self) -> PathBuf {
        PathBuf::from(NETNS_DIR).join(&self.name)
    }

    pub fn exists(&self) -> bool {
        self.path().exists()
    }

    /// `ip netns exec NAME PROGRAM`, to add arguments to and run.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// `args` (program first) run in the namespace: its output, whatever
    /// its exit status; an error when it could not be run at all.
    pub fn output(&self, args: &[&str]) -> Result<Output> {
        let (program, rest) = split(args);
        let mut cmd = self.command(program);
        cmd.args(rest);
        output_of(&self.name, cmd, self.exec_line(args))
    }

    /// `args` (program first) run in the namespace: its standard output,
    /// or an error naming the command, the namespace and its standard
    /// error when it fails.
    pub fn run(&self, args: &[&str]) -> Result<String> {
        let (program, rest) = split(args);
        let mut cmd = self.command(program);
        cmd.args(rest);
        run_ok(&self.name, cmd, self.exec_line(args))
    }

    fn exec_line(&self, args: &[&str]) -> String {
        line(
            OsStr::new("ip"),
            &[&["netns", "exec", &self.name][..], args].concat(),
        )
    }

    /// `ip -n NAME ARGS…`: its standard output, or an error.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        ip(&self.name, &[&["-n", &self.name][..], args].concat())
    }

    /// Whether the namespace has a link called `dev`.
    pub fn has_link(&self, dev: &str) -> bool {
        self.ip(&["link", "show", "dev", dev]).is_ok()
    }

    pub fn link_up(&self, dev: &str) -> Result<()> {
        self.ip(&["link", "set", "dev", dev, "up"]).map(drop)
    }

    /// Adds `cidr` (`10.10.25.42/16`, `fd00::1/64`) to `dev`.
    pub fn add_addr(&self, dev: &str, cidr: &str) -> Result<()> {
        self.ip(&["addr", "add", cidr, "dev", dev]).map(drop)
    }

    /// Adds a bridge called `name`, down.
    pub fn add_bridge(&self, name: &str) -> Result<()> {
        self.ip(&["link", "add", name, "type", "bridge"]).map(drop)
    }

    /// Makes `port` a port of bridge `bridge` and brings it up.
    pub fn set_master(&self, port: &str, bridge: &str) -> Result<()> {
        self.ip(&["link", "set", "dev", port, "master", bridge, "up"])
            .map(drop)
    }

    /// Sets sysctls in the namespace, each `key=value`
    /// (`net.ipv4.ip_forward=1`), with `sysctl -q -w`.
    pub fn sysctl(&self, settings: &[&str]) -> Result<()> {
        self.run(&[&["sysctl", "-q", "-w"][..], settings].concat())
            .map(drop)
    }

    /// A veth pair: `dev` here, `peer_dev` in `peer`, both down.
    pub fn veth_to(&self, dev: &str, peer: &Netns, peer_dev: &str) -> Result<()> {
        ip(
            &self.name,
            &[
                "link", "add", "name", dev, "netns", &self.name, "type", "veth", "peer", "name",
                peer_dev, "netns", &peer.name,
            ],
        )
        .map(drop)
    }

    /// A veth pair into the namespace: `host_dev` in the caller's
    /// namespace, `dev` here, both down.
    pub fn veth_from_host(&self, host_dev: &str, dev: &str) -> Result<()> {
        ip(
            &self.name,
            &[
                "link", "add", "name", host_dev, "type", "veth", "peer", "name", dev, "netns",
                &self.name,
            ],
        )
        .map(drop)
    }

    /// Moves the calling thread into the namespace, for good: the sockets
    /// it opens and the processes it starts from then on live there (a
    /// process's first thread that enters takes the whole process with it
    /// for `/proc/self/net` and the threads it starts later).
    pub fn enter(&self) -> Result<()> {
        let path = self.path();
        let what = || Some(format!("setns {}", path.display()));
        let file = std::fs::File::open(&path)
            .map_err(|e| Error::new(&self.name, what(), e.to_string()))?;
        // SAFETY: setns(2) takes a descriptor, which `file` keeps open for
        // the call, and a namespace type; it changes only the calling
        // thread's network namespace and touches no memory of ours.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            return Err(Error::new(&self.name, what(), e.to_string()));
        }
        Ok(())
    }

    /// Runs `f` on a thread that entered the namespace, and returns what
    /// it returns; `f` may borrow from the caller. A panic in `f` goes on
    /// in the caller.
    pub fn run_in<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T> {
        thread::scope(|scope| {
            let h = thread::Builder::new()
                .name(format!("netns {}", self.name))
                .spawn_scoped(scope, || {
                    self.enter()?;
                    Ok(f())
                })
                .map_err(|e| {
                    Error::new(&self.name, Some("spawning a thread".into()), e.to_string())
                })?;
            h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }

    /// Starts `f` on a thread that enters the namespace, without waiting
    /// for it.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> thread::JoinHandle<Result<T>> {
        let ns = Netns::named(&self.name);
        thread::Builder::new()
            .name(format!("netns {}", self.name))
            .spawn(move || {
                ns.enter()?;
                Ok(f())
            })
            .expect("spawning a thread")
    }

    /// The PIDs of the processes in the namespace (`ip netns pids`), this
    /// process left out.
    pub fn pids(&self) -> Vec<u32> {
        let me = std::process::id();
        ip(&self.name, &["netns", "pids", &self.name])
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .filter(|p| *p != me)
            .collect()
    }

    /// SIGKILLs every process in the namespace (this process left out) and
    /// waits up to `limit` for them to exit: the PIDs killed, or an error
    /// naming those still running.
    pub fn kill_processes(&self, limit: Duration) -> Result<Vec<u32>> {
        let pids = self.pids();
        for pid in &pids {
            kill(*pid, libc::SIGKILL);
        }
        let left = wait_exited(&pids, limit);
        if !left.is_empty() {
            return Err(Error::new(
                &self.name,
                None,
                format!("processes {left:?} in {} do not exit", self.name),
            ));
        }
        Ok(pids)
    }

    /// Kills the processes in the namespace (waiting [`EXIT_WAIT`] for
    /// them) and deletes it, whether this value made it or not.
    pub fn delete(mut self) -> Result<()> {
        self.owned = false;
        self.remove()
    }

    fn remove(&self) -> Result<()> {
        self.kill_processes(EXIT_WAIT)?;
        ip(&self.name, &["netns", "del", &self.name]).map(drop)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if self.owned {
            // Best effort: a namespace that cannot go now is left for
            // `ip netns del`; the processes killed are gone in any case.
            let _ = self.remove();
        }
    }
}

/// The program and its arguments; an empty list runs `true`.
fn split<'a>(args: &'a [&'a str]) -> (&'a str, &'a [&'a str]) {
    match args.split_first() {
        Some((p, rest)) => (p, rest),
        None => ("true", &[]),
    }
}
