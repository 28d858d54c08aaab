//! The devices under test: their configurations, starting and stopping
//! them, reading their memory and CPU time from /proc, their versions,
//! and the idle Ferry worker.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Args, Device, DUT, FANOUT_RANGE, LOCAL_AS};

pub(crate) struct Running {
    pub(crate) device: Device,
    pub(crate) child: Child,
    pub(crate) dir: PathBuf,
}

impl Running {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
    pub(crate) fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
    pub(crate) fn stop(mut self) {
        // SAFETY: signalling our own child by its PID.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !self.alive() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.alive() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub(crate) fn settings(device: Device) -> &'static str {
    match device {
        Device::Ferry => "defaults of a route reflector (`cluster-id` set, so no kernel sync); clients from an `allow` range; log level warn",
        Device::Frr => "`bgpd -Z -n -S` (no zebra, no kernel: FRR's route-reflector setup); a peer group with `bgp listen range`, `route-reflector-client` per family, `no bgp default ipv4-unicast`",
        Device::Gobgp => "`gobgpd -l warn`; a peer group with `route-reflector-client` and `dynamic-neighbors`; default GOMAXPROCS",
        Device::Bird => "`bird -f`; `neighbor range` (dynamic BGP) template with `rr client`, `vpn4 mpls` channel with `next hop keep`, `import all`, `export all`; VPNv4 only (BIRD 2 has no EVPN)",
        Device::Relay => "not a reflector: `sysbench --relay` answers OPEN, then copies every UPDATE from the injector to every sink as received (one writer thread and a bounded queue per sink); it holds no routes: the floor of the injector and sinks",
    }
}

/// Where Ferry serves `/metrics` when `FERRY_BENCH_METRICS` is set.
const HTTP_PORT: u16 = 9179;

/// `FERRY_BENCH_METRICS=MS`: Ferry runs with `http-listen` and its
/// `/metrics` is fetched every MS milliseconds (`1` or empty: 1000) while
/// the benchmark runs, to compare with metrics off.
fn metrics_on() -> Option<Duration> {
    let v = std::env::var("FERRY_BENCH_METRICS").ok()?;
    let ms = v.parse::<u64>().ok().filter(|ms| *ms > 1).unwrap_or(1000);
    Some(Duration::from_millis(ms))
}

/// Fetches Ferry's `/metrics` every `every` until the benchmark ends (the
/// thread ends with the process); failures (no daemon yet) are skipped.
fn start_scraper(every: Duration) {
    use std::sync::Once;
    static STARTED: Once = Once::new();
    STARTED.call_once(|| {
        std::thread::spawn(move || loop {
            let addr = std::net::SocketAddr::new(std::net::IpAddr::V4(DUT), HTTP_PORT);
            if let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
                use std::io::{Read, Write as _};
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = write!(
                    s,
                    "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
                );
                let mut sink = Vec::new();
                let _ = s.read_to_end(&mut sink);
            }
            std::thread::sleep(every);
        });
    });
}

pub(crate) fn start(device: Device, args: &Args) -> Result<Running, String> {
    let dir = args.work.join(format!("{device:?}").to_lowercase());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let log = std::fs::File::create(dir.join("log")).map_err(|e| e.to_string())?;
    let d = dir.display();
    let mut cmd = match device {
        Device::Ferry => {
            let conf = dir.join("bgpd.toml");
            std::fs::write(
                &conf,
                format!(
                    "router-id = \"{DUT}\"\nlocal-as = {LOCAL_AS}\ncluster-id = \"{DUT}\"\n{http}\
                     control-socket = \"{d}/bgpd.sock\"\n\n[[group]]\nname = \"clients\"\n\
                     type = \"internal\"\nlocal-address = \"{DUT}\"\nfamilies = [\"inet-vpn\", \"evpn\"]\n\
                     route-reflector-client = true\nallow = [\"127.0.2.0/24\", \"127.0.3.0/24\", \"{FANOUT_RANGE}\"]\nhold-time = 240\n",
                    http = metrics_on().map_or(String::new(), |_| format!("http-listen = \"{DUT}:{HTTP_PORT}\"\n")),
                ),
            )
            .map_err(|e| e.to_string())?;
            if let Some(every) = metrics_on() {
                start_scraper(every);
            }
            let mut c = Command::new(&args.ferry_bgpd);
            if let Ok(v) = std::env::var("FERRY_BENCH_ARENA") {
                c.env("MALLOC_ARENA_MAX", v);
            }
            c.arg("--config").arg(&conf).arg("--log").arg("warn");
            c
        }
        Device::Frr => {
            let conf = dir.join("bgpd.conf");
            let mut text = format!(
                "hostname sysbench\nlog stdout warnings\n!\nrouter bgp {LOCAL_AS}\n bgp router-id {DUT}\n bgp cluster-id {DUT}\n\
                 no bgp default ipv4-unicast\n no bgp ebgp-requires-policy\n bgp listen limit 5000\n\
                 neighbor clients peer-group\n neighbor clients remote-as {LOCAL_AS}\n neighbor clients timers 80 240\n\
                 bgp listen range 127.0.2.0/24 peer-group clients\n bgp listen range 127.0.3.0/24 peer-group clients\n bgp listen range {FANOUT_RANGE} peer-group clients\n"
            );
            for af in ["ipv4 vpn", "l2vpn evpn"] {
                let _ = write!(
                    text,
                    " address-family {af}\n  neighbor clients activate\n  neighbor clients route-reflector-client\n exit-address-family\n"
                );
            }
            std::fs::write(&conf, text).map_err(|e| e.to_string())?;
            let mut c = Command::new("/usr/lib/frr/bgpd");
            c.args(["-Z", "-n", "-S", "-l", "127.0.0.1", "-f"])
                .arg(&conf)
                .arg("-i")
                .arg(dir.join("bgpd.pid"))
                .arg("--vty_socket")
                .arg(&dir);
            c
        }
        Device::Gobgp => {
            let conf = dir.join("gobgpd.toml");
            std::fs::write(
                &conf,
                format!(
                    "[global.config]\n  as = {LOCAL_AS}\n  router-id = \"{DUT}\"\n  port = 179\n  local-address-list = [\"{DUT}\"]\n\n\
                     [[peer-groups]]\n  [peer-groups.config]\n    peer-group-name = \"clients\"\n    peer-as = {LOCAL_AS}\n\
                     [peer-groups.timers.config]\n    hold-time = 240\n    keepalive-interval = 80\n\
                     [peer-groups.route-reflector.config]\n    route-reflector-client = true\n    route-reflector-cluster-id = \"{DUT}\"\n\
                     [[peer-groups.afi-safis]]\n    [peer-groups.afi-safis.config]\n      afi-safi-name = \"l3vpn-ipv4-unicast\"\n\
                     [[peer-groups.afi-safis]]\n    [peer-groups.afi-safis.config]\n      afi-safi-name = \"l2vpn-evpn\"\n\n\
                     [[dynamic-neighbors]]\n  [dynamic-neighbors.config]\n    prefix = \"127.0.2.0/24\"\n    peer-group = \"clients\"\n\
                     [[dynamic-neighbors]]\n  [dynamic-neighbors.config]\n    prefix = \"127.0.3.0/24\"\n    peer-group = \"clients\"\n\
                     [[dynamic-neighbors]]\n  [dynamic-neighbors.config]\n    prefix = \"{FANOUT_RANGE}\"\n    peer-group = \"clients\"\n"
                ),
            )
            .map_err(|e| e.to_string())?;
            let mut c = Command::new("gobgpd");
            c.arg("-f")
                .arg(&conf)
                .args(["-l", "warn", "--api-hosts", "127.0.0.1:50051"]);
            c
        }
        Device::Bird => {
            let conf = dir.join("bird.conf");
            std::fs::write(
                &conf,
                format!(
                    "router id {DUT};\nlog stderr {{ warning, error, fatal }};\nprotocol device {{ }}\nvpn4 table vpntab;\n\
                     template bgp clients {{\n  local {DUT} as {LOCAL_AS};\n  rr client;\n  rr cluster id {DUT};\n  hold time 240;\n\
                       vpn4 mpls {{ table vpntab; import all; export all; next hop keep; }};\n}}\n\
                     protocol bgp sinks from clients {{ neighbor range 127.0.2.0/24 internal; dynamic name \"sink\"; }}\n\
                     protocol bgp injectors from clients {{ neighbor range 127.0.3.0/24 internal; dynamic name \"inj\"; }}\n\
                     protocol bgp fanout from clients {{ neighbor range {FANOUT_RANGE} internal; dynamic name \"fan\"; }}\n"
                ),
            )
            .map_err(|e| e.to_string())?;
            let mut c = Command::new("bird");
            c.arg("-f")
                .arg("-c")
                .arg(&conf)
                .arg("-s")
                .arg(dir.join("bird.ctl"))
                .arg("-P")
                .arg(dir.join("bird.pid"));
            c
        }
        Device::Relay => {
            let mut c = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
            c.arg("--relay");
            c
        }
    };
    let child = cmd
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("{}: {e}", device.name()))?;
    let mut running = Running { device, child, dir };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !listening(179) {
        if !running.alive() || Instant::now() > deadline {
            return Err(format!(
                "{} did not listen on {DUT}:179; log:\n{}",
                device.name(),
                std::fs::read_to_string(running.dir.join("log")).unwrap_or_default()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(running)
}

fn listening(port: u16) -> bool {
    let port = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        tcp_sockets(table)
            .iter()
            .any(|(local, _, state)| state == "0A" && local.ends_with(&port))
    })
}

/// (local, remote, state) of every socket in a /proc/net/tcp* table, as
/// the kernel prints them (hex).
fn tcp_sockets(table: &str) -> Vec<(String, String, String)> {
    std::fs::read_to_string(table)
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split_whitespace().skip(1);
            Some((
                f.next()?.to_string(),
                f.next()?.to_string(),
                f.next()?.to_string(),
            ))
        })
        .collect()
}

/// The `kB` fields of /proc/PID/status named in `names`, in bytes (0 when
/// absent).
fn status_bytes<const N: usize>(pid: u32, names: [&str; N]) -> [u64; N] {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    names.map(|name| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    })
}

/// (VmRSS, VmHWM) in bytes.
pub(crate) fn memory(pid: u32) -> (u64, u64) {
    let [rss, hwm] = status_bytes(pid, ["VmRSS", "VmHWM"]);
    (rss, hwm)
}

/// User + system CPU seconds of the process.
pub(crate) fn cpu(pid: u32) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = text.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) as f64 / hz
}

/// An idle Ferry worker: Established with a Ferry reflector, one VRF
/// programmed into the kernel, no pods. Returns (RSS, anonymous,
/// file-backed) bytes.
pub(crate) fn worker_idle(args: &Args) -> Result<(u64, u64, u64), String> {
    let mut rr = start(Device::Ferry, args)?;
    let dir = args.work.join("worker");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let addr = Ipv4Addr::new(127, 0, 3, 200);
    let conf = dir.join("bgpd.toml");
    std::fs::write(
        &conf,
        format!(
            "router-id = \"{addr}\"\nlocal-as = {LOCAL_AS}\nstate-dir = \"{d}/state\"\n\
             listen-port = 1179\n\
             control-socket = \"{d}/bgpd.sock\"\n\n[[group]]\nname = \"reflectors\"\n\
             local-address = \"{addr}\"\nfamilies = [\"evpn\"]\nneighbors = [\"{DUT}\"]\n\n\
             [[vrf]]\nname = \"blue\"\nvni = 10002\nroute-target = \"11:11\"\n",
            d = dir.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let log = std::fs::File::create(dir.join("log")).map_err(|e| e.to_string())?;
    let child = Command::new(&args.ferry_bgpd)
        .arg("--config")
        .arg(&conf)
        .args(["--log", "warn"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut worker = Running {
        device: Device::Ferry,
        child,
        dir,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !established(addr) {
        if !worker.alive() || !rr.alive() || Instant::now() > deadline {
            return Err(format!(
                "the worker did not reach Established; log:\n{}",
                std::fs::read_to_string(worker.dir.join("log")).unwrap_or_default()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Idle: a few keepalive-free seconds after the session came up.
    std::thread::sleep(Duration::from_secs(5));
    let [rss, anon, file] = status_bytes(worker.pid(), ["VmRSS", "RssAnon", "RssFile"]);
    let out = (rss, anon, file);
    worker.stop();
    rr.stop();
    Ok(out)
}

/// A session from `addr` to port 179 is Established.
pub(crate) fn established(addr: Ipv4Addr) -> bool {
    let local = format!("{:08X}:", u32::from_le_bytes(addr.octets()));
    tcp_sockets("/proc/net/tcp")
        .iter()
        .any(|(l, r, state)| l.starts_with(&local) && r.ends_with(":00B3") && state == "01")
}

pub(crate) fn version(device: Device, args: &Args) -> String {
    let run = |cmd: &Path, a: &[&str]| {
        Command::new(cmd)
            .args(a)
            .output()
            .map(|o| {
                let mut t = String::from_utf8_lossy(&o.stdout).to_string();
                t.push_str(&String::from_utf8_lossy(&o.stderr));
                t
            })
            .unwrap_or_default()
    };
    let text = match device {
        Device::Ferry => run(&args.ferry_bgpd, &["--version"]),
        Device::Frr => run(Path::new("/usr/lib/frr/bgpd"), &["--version"]),
        Device::Gobgp => run(Path::new("gobgpd"), &["--version"]),
        Device::Bird => run(Path::new("bird"), &["--version"]),
        Device::Relay => "sysbench relay".into(),
    };
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("unknown version")
        .trim()
        .to_string()
}
