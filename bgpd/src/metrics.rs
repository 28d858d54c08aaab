//! `/metrics`: what an operator watches and alerts on, in the Prometheus
//! text exposition format (encoded by `prometheus-client`).
//!
//! Nothing is kept for the metrics alone: each scrape reads the counters
//! the sessions already keep ([`PeerStatus`]), asks the core task for the
//! RIB's counts ([`RibSnapshot`]) and, on a worker, the worker task for its
//! VRFs, and builds the families from them. Peer series exist only for the
//! peers the daemon knows — configured ones and dynamic ones while they are
//! known — so a forgotten dynamic peer's series go with it.
//!
//! | metric | labels |
//! |---|---|
//! | `ferry_bgp_session_up` | peer, group |
//! | `ferry_bgp_session_flaps_total` | peer |
//! | `ferry_bgp_messages_received_total`, `…_sent_total` | peer, type |
//! | `ferry_bgp_prefixes_received`, `…_accepted`, `…_advertised` | peer, family |
//! | `ferry_bgp_prefix_limit` | peer, family |
//! | `ferry_bgp_output_queue_bytes`, `ferry_bgp_output_queue_messages` | peer |
//! | `ferry_rib_routes`, `ferry_rib_paths` | family |
//! | `ferry_config_reloads_total` | result |
//! | `ferry_config_last_reload_successful`, `ferry_config_restart_pending` | |
//! | `ferry_build_info` | version, role |
//! | `ferry_core_up`, `ferry_ready` | |
//! | `ferry_kernel_routes`, `ferry_pods` (workers) | vrf |
//! | `ferry_kernel_ops_total` (workers) | op, result |
//! | `ferry_kernel_in_sync` (workers) | |
//! | `process_*` | |

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use ferry_control::VrfInfo;
use ferry_wire::Family;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family as MetricFamily;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::config::Config;
use crate::fib::plan::KernelOp;
use crate::fsm::State;
use crate::peer_status::{PeerTable, MESSAGE_TYPES};

/// The RIB's counts, as the core task reports them.
#[derive(Clone, Debug, Default)]
pub struct RibSnapshot {
    /// Per family: routes (keys with a best path) and paths.
    pub tables: Vec<(Family, u64, u64)>,
    /// Per Established peer and family: prefixes received and accepted.
    pub received: Vec<(IpAddr, Family, u64, u64)>,
    /// Per Established peer and family: prefixes advertised.
    pub advertised: Vec<(IpAddr, Family, u64)>,
}

/// Configuration reloads.
#[derive(Debug)]
pub struct ReloadCounters {
    pub succeeded: AtomicU64,
    pub failed: AtomicU64,
    pub last_successful: AtomicBool,
}

impl Default for ReloadCounters {
    fn default() -> ReloadCounters {
        ReloadCounters {
            succeeded: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            last_successful: AtomicBool::new(true),
        }
    }
}

impl ReloadCounters {
    pub fn record(&self, ok: bool) {
        if ok {
            self.succeeded.fetch_add(1, Ordering::Relaxed);
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        self.last_successful.store(ok, Ordering::Relaxed);
    }
}

/// Kernel operations by kind, as the metrics name them.
pub const KERNEL_OPS: [&str; 6] = [
    "route-set",
    "route-del",
    "neigh-add",
    "neigh-del",
    "fdb-add",
    "fdb-del",
];

/// The index in [`KERNEL_OPS`] of an operation.
pub fn op_index(op: &KernelOp) -> usize {
    match op {
        KernelOp::RouteSet { .. } => 0,
        KernelOp::RouteDel { .. } => 1,
        KernelOp::NeighAdd { .. } => 2,
        KernelOp::NeighDel { .. } => 3,
        KernelOp::FdbAdd { .. } => 4,
        KernelOp::FdbDel { .. } => 5,
    }
}

/// What the worker tells about the kernel: operations done, and whether
/// the kernel is in sync with the RIB.
#[derive(Debug)]
pub struct KernelCounters {
    /// Per [`KERNEL_OPS`] kind: succeeded, failed.
    ops: [[AtomicU64; 2]; 6],
    /// Routes found at start are kept until End-of-RIB (or the stale timer).
    stale_pending: AtomicBool,
    /// The last batch of operations: how many failed, and the first error.
    last_batch: Mutex<(usize, Option<String>)>,
}

/// The kernel counters of this process (one daemon per process).
pub static KERNEL: KernelCounters = KernelCounters {
    ops: [const { [AtomicU64::new(0), AtomicU64::new(0)] }; 6],
    stale_pending: AtomicBool::new(true),
    last_batch: Mutex::new((0, None)),
};

impl KernelCounters {
    /// Counts one operation's result (`kind`: its [`op_index`]).
    pub fn count(&self, kind: usize, ok: bool) {
        if let Some(c) = self.ops.get(kind) {
            c[usize::from(!ok)].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A batch of operations ended with these errors.
    pub fn batch_done(&self, errors: &[impl std::fmt::Display]) {
        let mut b = self.last_batch.lock().unwrap_or_else(|e| e.into_inner());
        *b = (errors.len(), errors.first().map(|e| e.to_string()));
    }

    /// The routes kept from before a restart were reconciled.
    pub fn stale_swept(&self) {
        self.stale_pending.store(false, Ordering::Relaxed);
    }

    /// Why the kernel is not in sync, one reason per line (empty: in sync).
    pub fn not_in_sync(&self, vrfs: &[VrfInfo]) -> Vec<String> {
        let mut reasons = Vec::new();
        if self.stale_pending.load(Ordering::Relaxed) {
            reasons.push(
                "kernel not in sync: routes from before the start are kept until End-of-RIB from a route reflector".to_string(),
            );
        }
        let b = self.last_batch.lock().unwrap_or_else(|e| e.into_inner());
        if b.0 > 0 {
            reasons.push(format!(
                "kernel not in sync: {} operation(s) of the last batch failed: {}",
                b.0,
                b.1.as_deref().unwrap_or("?")
            ));
        }
        for v in vrfs {
            if let Some(e) = &v.error {
                reasons.push(format!("kernel not in sync: VRF {}: {e}", v.name));
            }
        }
        reasons
    }
}

/// Everything one scrape reads.
pub struct Scrape<'a> {
    pub config: &'a Config,
    pub peers: &'a PeerTable,
    /// `None` when the core task did not answer in time.
    pub rib: Option<&'a RibSnapshot>,
    /// On a worker: its VRFs, when the worker task answered.
    pub vrfs: Option<&'a [VrfInfo]>,
    pub reloads: &'a ReloadCounters,
    pub ready: bool,
}

type Labels = Vec<(&'static str, String)>;

/// Builds the registry of one scrape.
struct Builder {
    registry: Registry,
}

impl Builder {
    fn gauge(&mut self, name: &str, help: &str, samples: Vec<(Labels, i64)>) {
        let family = MetricFamily::<Labels, Gauge>::default();
        for (labels, v) in samples {
            family.get_or_create(&labels).set(v);
        }
        self.registry.register(name, help, family);
    }

    fn gauge_f64(&mut self, name: &str, help: &str, v: f64) {
        let g = Gauge::<f64, AtomicU64>::default();
        g.set(v);
        self.registry.register(name, help, g);
    }

    /// `name` without `_total`: the encoder adds it.
    fn counter(&mut self, name: &str, help: &str, samples: Vec<(Labels, u64)>) {
        let family = MetricFamily::<Labels, Counter>::default();
        for (labels, v) in samples {
            family.get_or_create(&labels).inc_by(v);
        }
        self.registry.register(name, help, family);
    }

    fn one(&mut self, name: &str, help: &str, v: i64) {
        self.gauge(name, help, vec![(Vec::new(), v)]);
    }
}

fn family_name(f: Family) -> String {
    f.name().map_or_else(|| f.to_string(), str::to_string)
}

/// The text of one scrape.
pub fn render(s: &Scrape) -> String {
    let mut b = Builder {
        registry: Registry::default(),
    };
    let mut peers: Vec<(IpAddr, std::sync::Arc<crate::peer_status::PeerStatus>)> = s
        .peers
        .iter()
        .map(|e| (*e.key(), e.value().status.clone()))
        .collect();
    peers.sort_by_key(|(a, _)| *a);
    let known = |a: &IpAddr| peers.binary_search_by_key(a, |(p, _)| *p).is_ok();
    let peer = |a: &IpAddr| vec![("peer", a.to_string())];

    b.gauge(
        "ferry_bgp_session_up",
        "1 when the BGP session with the peer is Established, else 0",
        peers
            .iter()
            .map(|(a, st)| {
                let up = st.detail().state == State::Established;
                (
                    vec![("peer", a.to_string()), ("group", st.config().group)],
                    i64::from(up),
                )
            })
            .collect(),
    );
    b.counter(
        "ferry_bgp_session_flaps",
        "Times the session left Established",
        peers
            .iter()
            .map(|(a, st)| (peer(a), st.flaps.load(Ordering::Relaxed)))
            .collect(),
    );
    let by_type = |sent: bool| {
        let mut v = Vec::new();
        for (a, st) in &peers {
            let counters = if sent {
                &st.sent_by_type
            } else {
                &st.received_by_type
            };
            for (i, t) in MESSAGE_TYPES.iter().enumerate() {
                v.push((
                    vec![("peer", a.to_string()), ("type", t.to_string())],
                    counters[i].load(Ordering::Relaxed),
                ));
            }
        }
        v
    };
    b.counter(
        "ferry_bgp_messages_received",
        "BGP messages received from the peer, by type",
        by_type(false),
    );
    b.counter(
        "ferry_bgp_messages_sent",
        "BGP messages written to the peer, by type",
        by_type(true),
    );
    let pf = |a: &IpAddr, f: Family| vec![("peer", a.to_string()), ("family", family_name(f))];
    if let Some(rib) = s.rib {
        let received = rib.received.iter().filter(|r| known(&r.0));
        b.gauge(
            "ferry_bgp_prefixes_received",
            "Prefixes held from the peer (Adj-RIB-In), per family",
            received
                .clone()
                .map(|(a, f, n, _)| (pf(a, *f), *n as i64))
                .collect(),
        );
        b.gauge(
            "ferry_bgp_prefixes_accepted",
            "Prefixes from the peer eligible for selection, per family",
            received
                .map(|(a, f, _, n)| (pf(a, *f), *n as i64))
                .collect(),
        );
        b.gauge(
            "ferry_bgp_prefixes_advertised",
            "Prefixes advertised to the peer (its Adj-RIB-Out), per family",
            rib.advertised
                .iter()
                .filter(|r| known(&r.0))
                .map(|(a, f, n)| (pf(a, *f), *n as i64))
                .collect(),
        );
        b.gauge(
            "ferry_rib_routes",
            "Routes (prefixes with a best path) in the RIB, per family",
            rib.tables
                .iter()
                .map(|(f, n, _)| (vec![("family", family_name(*f))], *n as i64))
                .collect(),
        );
        b.gauge(
            "ferry_rib_paths",
            "Paths in the RIB, every peer's counted, per family",
            rib.tables
                .iter()
                .map(|(f, _, n)| (vec![("family", family_name(*f))], *n as i64))
                .collect(),
        );
    }
    b.gauge(
        "ferry_bgp_prefix_limit",
        "The configured prefix limit (maximum) of the peer, per family",
        peers
            .iter()
            .flat_map(|(a, st)| {
                st.config()
                    .session
                    .prefix_limits
                    .into_iter()
                    .map(move |(f, l)| (pf(a, f), l.maximum.min(i64::MAX as u64) as i64))
            })
            .collect(),
    );
    b.gauge(
        "ferry_bgp_output_queue_bytes",
        "Octets queued for the peer, not yet written",
        peers
            .iter()
            .map(|(a, st)| (peer(a), st.out_queue_bytes.load(Ordering::Relaxed) as i64))
            .collect(),
    );
    b.counter(
        "ferry_bgp_send_hold_timer_expired",
        "Sessions dropped because the peer read nothing for the send hold time (RFC 9687)",
        peers
            .iter()
            .map(|(a, st)| (peer(a), st.send_hold_timer_expired.load(Ordering::Relaxed)))
            .collect(),
    );
    b.gauge(
        "ferry_bgp_output_queue_messages",
        "Messages queued for the peer, not yet written",
        peers
            .iter()
            .map(|(a, st)| (peer(a), st.out_queue.load(Ordering::Relaxed) as i64))
            .collect(),
    );
    b.counter(
        "ferry_config_reloads",
        "Configuration reloads, by result",
        vec![
            (
                vec![("result", "success".to_string())],
                s.reloads.succeeded.load(Ordering::Relaxed),
            ),
            (
                vec![("result", "failure".to_string())],
                s.reloads.failed.load(Ordering::Relaxed),
            ),
        ],
    );
    b.one(
        "ferry_config_last_reload_successful",
        "1 when the last reload was applied (or none was tried), 0 when it was rejected",
        i64::from(s.reloads.last_successful.load(Ordering::Relaxed)),
    );
    b.one(
        "ferry_config_restart_pending",
        "Values of the configuration file not in force until bgpd restarts",
        s.config.restart_pending.len() as i64,
    );
    let role = if s.config.is_reflector() {
        "reflector"
    } else {
        "worker"
    };
    b.gauge(
        "ferry_build_info",
        "The version of bgpd and its role; always 1",
        vec![(
            vec![
                ("version", env!("CARGO_PKG_VERSION").to_string()),
                ("role", role.to_string()),
            ],
            1,
        )],
    );
    b.one(
        "ferry_core_up",
        "1 when the core task answered this scrape within 1 s",
        i64::from(s.rib.is_some()),
    );
    b.one(
        "ferry_ready",
        "1 when /readyz answers 200",
        i64::from(s.ready),
    );
    if s.config.kernel_sync {
        let vrfs = s.vrfs.unwrap_or(&[]);
        b.gauge(
            "ferry_kernel_routes",
            "Imported routes installed in the kernel, per VRF",
            vrfs.iter()
                .map(|v| (vec![("vrf", v.name.clone())], v.installed as i64))
                .collect(),
        );
        b.gauge(
            "ferry_pods",
            "Pods attached, per VRF",
            vrfs.iter()
                .map(|v| (vec![("vrf", v.name.clone())], v.pods.len() as i64))
                .collect(),
        );
        let mut ops = Vec::new();
        for (i, op) in KERNEL_OPS.iter().enumerate() {
            for (j, result) in ["success", "failure"].iter().enumerate() {
                ops.push((
                    vec![("op", op.to_string()), ("result", result.to_string())],
                    KERNEL.ops[i][j].load(Ordering::Relaxed),
                ));
            }
        }
        b.counter(
            "ferry_kernel_ops",
            "Kernel operations (routes, neighbour and FDB entries), by result",
            ops,
        );
        b.one(
            "ferry_kernel_in_sync",
            "1 when the kernel holds what the RIB wants",
            i64::from(s.vrfs.is_some() && KERNEL.not_in_sync(vrfs).is_empty()),
        );
    }
    process_metrics(&mut b);
    let mut out = String::new();
    // Writing into a String does not fail.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &b.registry);
    out
}

/// What `/proc/self` tells about the process.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub open_fds: u64,
    pub max_fds: u64,
    pub start_time_seconds: f64,
}

impl ProcessStats {
    /// Reads them now; what cannot be read stays 0.
    pub fn now() -> ProcessStats {
        // SAFETY: sysconf only reads system constants.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        // SAFETY: as above.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let boot = std::fs::read_to_string("/proc/stat")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        let mut s = parse_stat(&stat, ticks, page, boot);
        s.open_fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct given.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
            s.max_fds = lim.rlim_cur;
        }
        s
    }
}

/// Parses `/proc/self/stat` (proc(5)): fields after the command name in
/// parentheses, which may itself hold spaces and parentheses.
fn parse_stat(stat: &str, ticks: f64, page: u64, boot_time: f64) -> ProcessStats {
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return ProcessStats::default();
    };
    // `rest` starts with field 3 (state).
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> u64 { f.get(n - 3).and_then(|v| v.parse().ok()).unwrap_or(0) };
    ProcessStats {
        cpu_seconds: (field(14) + field(15)) as f64 / ticks,
        start_time_seconds: boot_time + field(22) as f64 / ticks,
        virtual_bytes: field(23),
        resident_bytes: field(24) * page,
        open_fds: 0,
        max_fds: 0,
    }
}

fn process_metrics(b: &mut Builder) {
    let p = ProcessStats::now();
    let c = Counter::<f64, AtomicU64>::default();
    c.inc_by(p.cpu_seconds);
    b.registry.register(
        "process_cpu_seconds",
        "Total user and system CPU time spent in seconds",
        c,
    );
    b.one(
        "process_resident_memory_bytes",
        "Resident memory size in bytes",
        p.resident_bytes as i64,
    );
    b.one(
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes",
        p.virtual_bytes as i64,
    );
    b.one(
        "process_open_fds",
        "Number of open file descriptors",
        p.open_fds as i64,
    );
    b.one(
        "process_max_fds",
        "Maximum number of open file descriptors",
        p.max_fds.min(i64::MAX as u64) as i64,
    );
    b.gauge_f64(
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds",
        p.start_time_seconds,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_is_read_past_a_command_name_with_spaces_and_parentheses() {
        // Fields 3.. of a real /proc/self/stat line (utime 250, stime 50,
        // starttime 1000, vsize 1 MiB, rss 10 pages), command "bgp d) x".
        let line = "4242 (bgp d) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1000 1048576 10 18446744073709551615";
        let s = parse_stat(line, 100.0, 4096, 1_700_000_000.0);
        assert_eq!(s.cpu_seconds, 3.0);
        assert_eq!(s.start_time_seconds, 1_700_000_010.0);
        assert_eq!(s.virtual_bytes, 1_048_576);
        assert_eq!(s.resident_bytes, 40_960);
        assert_eq!(
            parse_stat("garbage", 100.0, 4096, 0.0),
            ProcessStats::default()
        );
    }

    #[test]
    fn the_process_reads_itself() {
        let s = ProcessStats::now();
        assert!(s.resident_bytes > 0);
        assert!(s.open_fds >= 3);
        assert!(s.start_time_seconds > 1_600_000_000.0);
    }
}
