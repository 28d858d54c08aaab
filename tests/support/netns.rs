//! The tests' network namespaces: [`ferry_netns::Netns`] with methods
//! that fail the test instead of returning errors, a LAN (a bridge in a
//! namespace of its own) and closures run inside a namespace.

use std::ops::Deref;
use std::process::Output;

/// A network namespace with a unique name, deleted (with every process
/// still in it) on drop, also when the test fails. Every method of
/// [`ferry_netns::Netns`] works on it too (`veth_to`, `run_in`, `pids`, …).
pub struct Netns {
    /// Its name, as `ip netns` knows it.
    pub name: String,
    ns: ferry_netns::Netns,
}

/// Fails the test with what went wrong (command, namespace, its stderr).
fn ok<T>(r: ferry_netns::Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

impl Netns {
    /// A new namespace named `prefix` and a unique suffix, loopback up.
    pub fn new(prefix: &str) -> Netns {
        let ns = ok(ferry_netns::Netns::create_unique(prefix));
        Netns {
            name: ns.name().to_string(),
            ns,
        }
    }

    /// Runs `args` (program first) inside: its whole output, success or not.
    pub fn exec(&self, args: &[&str]) -> Output {
        ok(self.ns.output(args))
    }

    /// Runs `args` (program first) inside, failing the test when it
    /// fails: its standard output.
    pub fn exec_ok(&self, args: &[&str]) -> String {
        ok(self.ns.run(args))
    }

    /// Adds an address to an interface of the namespace.
    pub fn addr(&self, dev: &str, cidr: &str) {
        ok(self.ns.add_addr(dev, cidr));
    }
}

impl Deref for Netns {
    type Target = ferry_netns::Netns;

    fn deref(&self) -> &ferry_netns::Netns {
        &self.ns
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
        ok(ns.add_bridge(&bridge));
        ok(ns.link_up(&bridge));
        Lan { ns, bridge }
    }

    /// Connects `node` with interface `dev` holding `cidr` (e.g.
    /// `10.10.25.42/16`).
    pub fn attach(&self, node: &Netns, dev: &str, cidr: &str) {
        let outside = ferry_netns::unique("v");
        ok(self.ns.veth_to(&outside, node, dev));
        ok(self.ns.set_master(&outside, &self.bridge));
        ok(node.link_up(dev));
        node.addr(dev, cidr);
    }
}

impl Default for Lan {
    fn default() -> Self {
        Lan::new()
    }
}

/// Runs `f` on a thread that entered the network namespace `ns`, so that
/// the sockets it opens live there; a panic in `f` fails the caller.
pub fn in_netns<T: Send>(ns: &Netns, f: impl FnOnce() -> T + Send) -> T {
    ok(ns.run_in(f))
}

/// Runs the future `f` makes on a thread that entered the network
/// namespace `ns` (a single-threaded tokio runtime), borrowing freely from
/// the caller: sockets it opens live in `ns`.
pub fn block_in<T, Fut>(ns: &Netns, f: impl FnOnce() -> Fut + Send) -> T
where
    T: Send,
    Fut: std::future::Future<Output = T>,
{
    in_netns(ns, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f())
    })
}
