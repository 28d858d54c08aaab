//! The side-by-side system benchmark: Ferry's bgpd, FRR's bgpd, GoBGP and
//! BIRD as route reflectors on one machine, fed by the same injector and
//! read by the same sinks.
//!
//! Runs inside a network namespace of its own (`benches/run` makes it):
//! the device under test listens on 127.0.0.1:179, sinks connect from
//! 127.0.2.x and injectors from 127.0.3.x. Injectors send UPDATEs encoded
//! before the clock starts; sinks count the NLRI they hold (a bit per
//! route, set by announcements and cleared by withdrawals) with a scanner
//! that reads the NLRI in place, so neither side is the bottleneck.
//! The scenario sets beyond the standard four (a stuck client, a
//! ROUTE-REFRESH storm, 1000 sinks from 127.1.0.0/16) and the relay that
//! measures the harness floor are in `scenarios/`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use ferry_benches::{type5_from, vpnv4, worker_attributes};
use ferry_wire::message::capability::Capability;
use ferry_wire::message::open::Open;
use ferry_wire::{
    EncodeContext, Family, Message, MpReachNlri, MpUnreachNlri, NextHop, Nlri, NlriEntry, Update,
};

const DUT: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const LOCAL_AS: u32 = 64512;
const VRFS: u32 = 100;
/// Where the sinks of the fanout run connect from.
const FANOUT_RANGE: &str = "127.1.0.0/16";

mod scenarios;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
enum Device {
    Ferry,
    Frr,
    Gobgp,
    Bird,
    /// The harness floor: a relay that forwards the injector's UPDATEs to
    /// every sink byte for byte, holding no routes (`scenarios/relay.rs`).
    Relay,
}

impl Device {
    fn name(self) -> &'static str {
        match self {
            Device::Ferry => "Ferry bgpd",
            Device::Frr => "FRR bgpd",
            Device::Gobgp => "GoBGP",
            Device::Bird => "BIRD 2",
            Device::Relay => "harness floor (relay)",
        }
    }
    /// BIRD 2 has no EVPN: it runs the VPNv4 half of every scenario.
    fn evpn(self) -> bool {
        self != Device::Bird
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Size {
    Small,
    Full,
    /// A million routes, one injector, 4 sinks: scenario 1 (500k EVPN +
    /// 500k VPNv4; 1M VPNv4 for every device) and 3, where memory shows.
    Million,
}

/// The two kinds of route set a scenario reflects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mix {
    /// EVPN Type-5 and VPNv4 routes, half each.
    Mixed,
    /// VPNv4 routes only (every device runs these; BIRD runs only these).
    Vpnv4,
}

/// What `--skip DEVICE:PART` leaves out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Part {
    /// Scenario 1 (and 3, 4) with EVPN + VPNv4.
    Mixed,
    /// Scenario 1 (and 3) with VPNv4 only.
    Vpnv4,
    /// The stuck-client runs.
    Stuck,
    /// The ROUTE-REFRESH storm runs.
    Storm,
    /// The many-sinks run.
    Fanout,
}

impl From<Mix> for Part {
    fn from(m: Mix) -> Part {
        match m {
            Mix::Mixed => Part::Mixed,
            Mix::Vpnv4 => Part::Vpnv4,
        }
    }
}

/// `DEVICE` or `DEVICE:PART` (`gobgp:mixed`, `gobgp:fanout`): a device
/// left out of a scenario, with a note in the table.
#[derive(Clone, Copy, Debug)]
struct Skip {
    device: Device,
    mix: Option<Part>,
}

impl Args {
    /// `device` is left out of `part` by `--skip`.
    fn skips(&self, device: Device, part: Part) -> bool {
        self.skip
            .iter()
            .any(|s| s.device == device && (s.mix.is_none() || s.mix == Some(part)))
    }
}

impl std::str::FromStr for Skip {
    type Err = String;
    fn from_str(s: &str) -> Result<Skip, String> {
        let (d, m) = match s.split_once(':') {
            Some((d, m)) => (d, Some(m)),
            None => (s, None),
        };
        Ok(Skip {
            device: Device::from_str(d, true)?,
            mix: m.map(|m| Part::from_str(m, true)).transpose()?,
        })
    }
}

#[derive(Parser)]
#[command(about = "Side-by-side route-reflector benchmark (run through benches/run)")]
struct Args {
    /// small: a few minutes; full: the published figures.
    #[arg(long, value_enum, default_value = "small")]
    size: Size,
    /// Devices under test, in order.
    #[arg(long, value_enum, value_delimiter = ',', default_values = ["ferry", "frr", "gobgp", "bird"])]
    devices: Vec<Device>,
    /// Where Ferry's bgpd is.
    #[arg(long, default_value = "target/release/bgpd")]
    ferry_bgpd: PathBuf,
    /// Results directory (Markdown table, SVG plot, JSON).
    #[arg(long, default_value = "benches/results")]
    out: PathBuf,
    /// Scratch directory for configurations and logs.
    #[arg(long, default_value = "/tmp/ferry-sysbench")]
    work: PathBuf,
    /// Give up on a scenario after this many seconds.
    #[arg(long, default_value = "900")]
    timeout: u64,
    /// Draw the plot of an earlier run's JSON again (no benchmark).
    #[arg(long, value_name = "JSON")]
    replot: Option<PathBuf>,
    /// Routes of scenario 1 instead of the size's (half EVPN, half VPNv4;
    /// all VPNv4 in the VPNv4-only runs of the million size).
    #[arg(long)]
    routes: Option<u32>,
    /// Sink clients instead of the size's.
    #[arg(long)]
    sinks: Option<u32>,
    /// Leave a device out of the big scenarios: `gobgp` or `gobgp:PART`
    /// (mixed: EVPN + VPNv4; vpnv4: VPNv4 only; stuck, storm, fanout).
    #[arg(long, value_delimiter = ',')]
    skip: Vec<Skip>,
    /// Scenario sets to run: standard (1-4), stuck, storm, fanout.
    #[arg(long, value_enum, value_delimiter = ',', default_values = ["standard"])]
    scenarios: Vec<scenarios::Set>,
    #[command(flatten)]
    extra: scenarios::Options,
    /// Serve as the harness-floor relay on 127.0.0.1:179 (internal).
    #[arg(long, hide = true)]
    relay: bool,
    /// Seconds between convergence and the RSS reading.
    #[arg(long, default_value = "2")]
    settle: f64,
    /// The results' file name (default: the size).
    #[arg(long)]
    name: Option<String>,
}

struct Plan {
    type5: u32,
    vpnv4: u32,
    /// VPNv4 routes of the VPNv4-only runs.
    vpn_only: u32,
    sinks: u32,
    /// Scenarios 2 (many injectors) and 4 (churn) run.
    many_and_churn: bool,
    injectors_many: u32,
    churn_rate: u32,
    churn_secs: u32,
}

impl Plan {
    fn of(args: &Args) -> Plan {
        let mut plan = match args.size {
            Size::Small => Plan {
                type5: 10_000,
                vpnv4: 10_000,
                vpn_only: 10_000,
                many_and_churn: true,
                sinks: 10,
                injectors_many: 10,
                churn_rate: 10_000,
                churn_secs: 10,
            },
            Size::Full => Plan {
                type5: 100_000,
                vpnv4: 100_000,
                vpn_only: 100_000,
                many_and_churn: true,
                sinks: 50,
                injectors_many: 10,
                churn_rate: 10_000,
                churn_secs: 60,
            },
            Size::Million => Plan {
                type5: 500_000,
                vpnv4: 500_000,
                vpn_only: 1_000_000,
                many_and_churn: false,
                sinks: 4,
                injectors_many: 10,
                churn_rate: 0,
                churn_secs: 0,
            },
        };
        if let Some(n) = args.routes {
            // A multiple of the VRFs and of 2: every VRF gets its share.
            let n = (n / (2 * VRFS)).max(1) * 2 * VRFS;
            plan.type5 = n / 2;
            plan.vpnv4 = n / 2;
            plan.vpn_only = if matches!(args.size, Size::Million) {
                n
            } else {
                n / 2
            };
        }
        if let Some(n) = args.sinks {
            plan.sinks = n.clamp(1, 200);
        }
        plan
    }
}

// ---------------------------------------------------------------- sessions

/// Routes a peer holds: a bit per route index, per family.
struct Held {
    bits: Vec<u64>,
    count: u64,
}

impl Held {
    fn new(n: u32) -> Held {
        Held {
            bits: vec![0; (n as usize).div_ceil(64).max(1)],
            count: 0,
        }
    }
    fn set(&mut self, i: u32, on: bool) {
        let (w, b) = ((i / 64) as usize, 1u64 << (i % 64));
        let Some(word) = self.bits.get_mut(w) else {
            return;
        };
        if on && *word & b == 0 {
            *word |= b;
            self.count += 1;
        } else if !on && *word & b != 0 {
            *word &= !b;
            self.count -= 1;
        }
    }
}

#[derive(Default)]
struct Counts {
    type5: AtomicU64,
    vpnv4: AtomicU64,
    updates: AtomicU64,
    closed: AtomicBool,
    error: Mutex<Option<String>>,
}

struct Peer {
    addr: Ipv4Addr,
    stream: TcpStream,
    write: Mutex<()>,
    counts: Arc<Counts>,
}

impl Peer {
    fn send(&self, bytes: &[u8]) -> std::io::Result<()> {
        let _g = self.write.lock().expect("lock");
        (&self.stream).write_all(bytes)
    }
}

fn index_of(prefix: &[u8]) -> Option<u32> {
    let a = u32::from_be_bytes(prefix.get(..4)?.try_into().ok()?);
    a.checked_sub(u32::from(Ipv4Addr::new(10, 0, 0, 0)))
        .map(|d| d >> 2)
}

/// Walks the NLRI of one MP_REACH/MP_UNREACH of EVPN or VPNv4 in place.
fn scan_nlri(afi: u16, safi: u8, mut b: &[u8], on: bool, t5: &mut Held, v4: &mut Held) {
    match (afi, safi) {
        (25, 70) => {
            while b.len() >= 2 {
                let (kind, len) = (b[0], b[1] as usize);
                let Some(body) = b.get(2..2 + len) else {
                    return;
                };
                if kind == 5 && len == 34 {
                    if let Some(i) = index_of(&body[23..27]) {
                        t5.set(i, on);
                    }
                }
                b = &b[2 + len..];
            }
        }
        (1, 128) => {
            while !b.is_empty() {
                let bytes = (b[0] as usize).div_ceil(8);
                let Some(body) = b.get(1..1 + bytes) else {
                    return;
                };
                if bytes >= 15 {
                    if let Some(i) = index_of(&body[11..15]) {
                        v4.set(i, on);
                    }
                }
                b = &b[1 + bytes..];
            }
        }
        _ => {}
    }
}

/// The UPDATE body (after the 19-octet header).
fn scan_update(body: &[u8], t5: &mut Held, v4: &mut Held) {
    let Some(wl) = body
        .get(..2)
        .map(|x| u16::from_be_bytes([x[0], x[1]]) as usize)
    else {
        return;
    };
    let Some(al) = body
        .get(2 + wl..4 + wl)
        .map(|x| u16::from_be_bytes([x[0], x[1]]) as usize)
    else {
        return;
    };
    let Some(mut attrs) = body.get(4 + wl..4 + wl + al) else {
        return;
    };
    while attrs.len() >= 3 {
        let (flags, code) = (attrs[0], attrs[1]);
        let (len, hdr) = if flags & 0x10 != 0 {
            if attrs.len() < 4 {
                return;
            }
            (u16::from_be_bytes([attrs[2], attrs[3]]) as usize, 4)
        } else {
            (attrs[2] as usize, 3)
        };
        let Some(v) = attrs.get(hdr..hdr + len) else {
            return;
        };
        if code == 14 && v.len() >= 5 {
            let (afi, safi, nhl) = (u16::from_be_bytes([v[0], v[1]]), v[2], v[3] as usize);
            if let Some(nlri) = v.get(5 + nhl..) {
                scan_nlri(afi, safi, nlri, true, t5, v4);
            }
        } else if code == 15 && v.len() >= 3 {
            scan_nlri(
                u16::from_be_bytes([v[0], v[1]]),
                v[2],
                &v[3..],
                false,
                t5,
                v4,
            );
        }
        attrs = &attrs[hdr + len..];
    }
}

fn read_message(s: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut hdr = [0u8; 19];
    s.read_exact(&mut hdr)?;
    let len = u16::from_be_bytes([hdr[16], hdr[17]]) as usize;
    if !(19..=65535).contains(&len) {
        return Err(std::io::Error::other(format!("bad message length {len}")));
    }
    let mut body = vec![0u8; len - 19];
    s.read_exact(&mut body)?;
    Ok((hdr[18], body))
}

const KEEPALIVE: [u8; 19] = {
    let mut k = [0xffu8; 19];
    k[16] = 0;
    k[17] = 19;
    k[18] = 4;
    k
};

/// Opens a session from `addr` to the device; returns once Established,
/// with a thread counting what the device sends.
fn connect(addr: Ipv4Addr, evpn: bool, n5: u32, n4: u32) -> Result<Arc<Peer>, String> {
    connect_sink(addr, evpn, n5, n4, 1 << 18)
}

/// [`connect`] with a sink reading into a buffer of `buf` octets.
fn connect_sink(
    addr: Ipv4Addr,
    evpn: bool,
    n5: u32,
    n4: u32,
    buf: usize,
) -> Result<Arc<Peer>, String> {
    let stream = open_session(addr, evpn, None)?;
    let counts = Arc::new(Counts::default());
    let reader = stream.try_clone().map_err(|e| e.to_string())?;
    let c = counts.clone();
    std::thread::Builder::new()
        .name(format!("sink-{addr}"))
        .stack_size(256 * 1024)
        .spawn(move || sink(reader, c, n5, n4, buf))
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(Peer {
        addr,
        stream,
        write: Mutex::new(()),
        counts,
    }))
}

/// Opens a session from `addr` (with a receive buffer of `rcvbuf` octets
/// when given) and returns its stream once Established.
fn open_session(addr: Ipv4Addr, evpn: bool, rcvbuf: Option<usize>) -> Result<TcpStream, String> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .map_err(|e| e.to_string())?;
    if let Some(n) = rcvbuf {
        // Before connect(), so the window scale offered stays small.
        sock.set_recv_buffer_size(n).map_err(|e| e.to_string())?;
    }
    sock.bind(&SocketAddr::V4(SocketAddrV4::new(addr, 0)).into())
        .map_err(|e| format!("bind {addr}: {e}"))?;
    sock.connect_timeout(
        &SocketAddr::V4(SocketAddrV4::new(DUT, 179)).into(),
        Duration::from_secs(5),
    )
    .map_err(|e| format!("connect from {addr}: {e}"))?;
    let mut stream: TcpStream = sock.into();
    stream.set_nodelay(true).ok();
    let mut caps = vec![
        Capability::Multiprotocol {
            family: Family::VPNV4,
        },
        Capability::RouteRefresh,
        Capability::FourOctetAs { asn: LOCAL_AS },
    ];
    if evpn {
        caps.push(Capability::Multiprotocol {
            family: Family::EVPN,
        });
    }
    let open = Message::Open(Open::new(LOCAL_AS, 240, addr, caps))
        .to_bytes(&EncodeContext::default())
        .map_err(|e| e.to_string())?;
    stream.write_all(&open).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut opened = false;
    loop {
        let (kind, body) = read_message(&mut stream).map_err(|e| format!("{addr}: {e}"))?;
        match kind {
            1 => {
                opened = true;
                stream.write_all(&KEEPALIVE).map_err(|e| e.to_string())?;
            }
            4 if opened => break,
            3 => {
                return Err(format!(
                    "{addr}: NOTIFICATION {}/{} from the device",
                    body.first().unwrap_or(&0),
                    body.get(1).unwrap_or(&0)
                ))
            }
            _ => {}
        }
    }
    Ok(stream)
}

fn sink(mut s: TcpStream, counts: Arc<Counts>, n5: u32, n4: u32, buf: usize) {
    let (mut t5, mut v4) = (Held::new(n5), Held::new(n4));
    let mut buf = vec![0u8; buf];
    let (mut start, mut end) = (0usize, 0usize);
    s.set_read_timeout(None).ok();
    let fail = |why: String| {
        *counts.error.lock().expect("lock") = Some(why);
        counts.closed.store(true, Ordering::SeqCst);
    };
    loop {
        if end == buf.len() {
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        match s.read(&mut buf[end..]) {
            Ok(0) => return fail("the device closed the session".into()),
            Ok(n) => end += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return fail(e.to_string()),
        }
        let mut seen = false;
        while end - start >= 19 {
            let len = u16::from_be_bytes([buf[start + 16], buf[start + 17]]) as usize;
            if len < 19 {
                return fail(format!("bad message length {len}"));
            }
            if end - start < len {
                break;
            }
            let msg = &buf[start..start + len];
            match msg[18] {
                2 => {
                    scan_update(&msg[19..], &mut t5, &mut v4);
                    counts.updates.fetch_add(1, Ordering::Relaxed);
                    seen = true;
                }
                3 => {
                    return fail(format!(
                        "NOTIFICATION {}/{}",
                        msg.get(19).unwrap_or(&0),
                        msg.get(20).unwrap_or(&0)
                    ))
                }
                _ => {}
            }
            start += len;
        }
        if start == end {
            start = 0;
            end = 0;
        } else if start > buf.len() / 2 {
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        if seen {
            counts.type5.store(t5.count, Ordering::Release);
            counts.vpnv4.store(v4.count, Ordering::Release);
        }
    }
}

/// Sends a KEEPALIVE on every session every 20 s while `peers` lives.
fn keepalives(peers: &Arc<Mutex<Vec<Arc<Peer>>>>) {
    let weak = Arc::downgrade(peers);
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(20));
        let Some(peers) = weak.upgrade() else { return };
        let list = peers.lock().expect("lock").clone();
        for p in list {
            let _ = p.send(&KEEPALIVE);
        }
    });
}

// ---------------------------------------------------------------- routes

/// The next hop (and RD address) an injector announces: a VTEP-like
/// address derived from its session address (the devices refuse loopback
/// next hops as martians).
fn vtep(injector: Ipv4Addr) -> Ipv4Addr {
    Ipv4Addr::new(10, 255, injector.octets()[2], injector.octets()[3])
}

/// One injector's routes, encoded: announcements and withdrawals, one
/// message each per pack of routes of one VRF.
struct Feed {
    announce: Vec<Vec<u8>>,
    withdraw: Vec<Vec<u8>>,
}

fn feed(injector: Ipv4Addr, vrfs: std::ops::Range<u32>, n5: u32, n4: u32) -> Feed {
    let enc = EncodeContext::default();
    let mut f = Feed {
        announce: Vec::new(),
        withdraw: Vec::new(),
    };
    let rd = vtep(injector);
    let evpn = |i, vrf| type5_from(rd, i, vrf);
    type Make<'a> = &'a dyn Fn(u32, u32) -> Nlri;
    let routes: [(Family, u32, u32, Make); 2] = [
        (Family::EVPN, n5, 100, &evpn),
        (Family::VPNV4, n4, 200, &vpnv4),
    ];
    for (family, n, per_msg, make) in routes {
        let per_vrf = n / VRFS;
        for vrf in vrfs.clone() {
            let all: Vec<u32> = (vrf * per_vrf..(vrf + 1) * per_vrf).collect();
            for chunk in all.chunks(per_msg as usize) {
                let nlri: Vec<NlriEntry> = chunk
                    .iter()
                    .map(|&i| NlriEntry::new(make(i, vrf)))
                    .collect();
                let up = Update {
                    attributes: worker_attributes(vrf),
                    mp_reach: Some(MpReachNlri {
                        family,
                        next_hop: NextHop::Ipv4(vtep(injector)),
                        nlri: nlri.clone(),
                        undecoded: Vec::new(),
                    }),
                    ..Default::default()
                };
                let down = Update {
                    mp_unreach: Some(MpUnreachNlri {
                        family,
                        withdrawn: nlri,
                        undecoded: Vec::new(),
                    }),
                    ..Default::default()
                };
                f.announce
                    .push(Message::Update(up).to_bytes(&enc).expect("fits").to_vec());
                f.withdraw
                    .push(Message::Update(down).to_bytes(&enc).expect("fits").to_vec());
            }
        }
    }
    f
}

// ---------------------------------------------------------------- devices

struct Running {
    device: Device,
    child: Child,
    dir: PathBuf,
}

impl Running {
    fn pid(&self) -> u32 {
        self.child.id()
    }
    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
    fn stop(mut self) {
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

fn settings(device: Device) -> &'static str {
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

fn start(device: Device, args: &Args) -> Result<Running, String> {
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
fn memory(pid: u32) -> (u64, u64) {
    let [rss, hwm] = status_bytes(pid, ["VmRSS", "VmHWM"]);
    (rss, hwm)
}

/// User + system CPU seconds of the process.
fn cpu(pid: u32) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = text.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) as f64 / hz
}

// ---------------------------------------------------------------- scenarios

/// The note of a device left out of a scenario.
const SKIPPED: &str = "skipped (`--skip`): too slow at this size for this run";

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Outcome {
    scenario: String,
    device: Device,
    routes: u64,
    /// Seconds to full convergence at every sink; None when it timed out.
    seconds: Option<f64>,
    /// What the sinks held when the clock stopped (min over sinks).
    reached: u64,
    cpu_seconds: f64,
    peak_rss: u64,
    /// RSS once converged.
    rss: u64,
    bytes_per_path: Option<f64>,
    note: String,
}

impl<'de> serde::Deserialize<'de> for Device {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Device, D::Error> {
        let name = String::deserialize(d)?;
        [
            Device::Ferry,
            Device::Frr,
            Device::Gobgp,
            Device::Bird,
            Device::Relay,
        ]
        .into_iter()
        .find(|x| x.name() == name)
        .ok_or_else(|| serde::de::Error::custom(format!("unknown device {name:?}")))
    }
}

impl serde::Serialize for Device {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// The device, its sinks, its injectors, and every session (for keepalives).
type SessionSet = (
    Running,
    Vec<Arc<Peer>>,
    Vec<Arc<Peer>>,
    Arc<Mutex<Vec<Arc<Peer>>>>,
);

struct Bench<'a> {
    args: &'a Args,
    plan: Plan,
    results: Vec<Outcome>,
}

/// Waits until every sink holds `want` routes of each family.
fn converge(
    dut: &mut Running,
    sinks: &[Arc<Peer>],
    want: (u64, u64),
    timeout: Duration,
) -> Result<Duration, (String, u64)> {
    let t0 = Instant::now();
    loop {
        let mut least = u64::MAX;
        let mut done = true;
        for s in sinks {
            let (a, b) = (
                s.counts.type5.load(Ordering::Acquire),
                s.counts.vpnv4.load(Ordering::Acquire),
            );
            least = least.min(a + b);
            if (a, b) != want {
                done = false;
            }
            if s.counts.closed.load(Ordering::SeqCst) {
                let why = s.counts.error.lock().expect("lock").clone();
                return Err((
                    format!("sink {}: {}", s.addr, why.unwrap_or_default()),
                    least,
                ));
            }
        }
        if done {
            return Ok(t0.elapsed());
        }
        if !dut.alive() {
            return Err((format!("{} exited", dut.device.name()), least));
        }
        if t0.elapsed() > timeout {
            return Err(("timed out".into(), least));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn send_all(peer: &Arc<Peer>, msgs: &[Vec<u8>]) -> std::thread::JoinHandle<std::io::Result<()>> {
    let joined: Vec<u8> = msgs.concat();
    let p = peer.clone();
    std::thread::spawn(move || p.send(&joined))
}

impl Bench<'_> {
    fn sizes(&self, device: Device, vpn_only: bool) -> (u32, u32) {
        if device.evpn() && !vpn_only {
            (self.plan.type5, self.plan.vpnv4)
        } else {
            (0, self.plan.vpn_only)
        }
    }

    fn session_set(
        &self,
        device: Device,
        injectors: u32,
        vpn_only: bool,
    ) -> Result<SessionSet, String> {
        let (n5, n4) = self.sizes(device, vpn_only);
        let dut = start(device, self.args)?;
        let evpn = n5 > 0;
        let mut sinks = Vec::new();
        for i in 0..self.plan.sinks {
            sinks.push(connect(
                Ipv4Addr::new(127, 0, 2, 1 + i as u8),
                evpn,
                n5,
                n4,
            )?);
        }
        let mut inj = Vec::new();
        for k in 0..injectors {
            inj.push(connect(
                Ipv4Addr::new(127, 0, 3, 1 + k as u8),
                evpn,
                n5,
                n4,
            )?);
        }
        let all = Arc::new(Mutex::new(sinks.iter().chain(&inj).cloned().collect()));
        keepalives(&all);
        std::thread::sleep(Duration::from_secs(1));
        Ok((dut, sinks, inj, all))
    }

    fn record(
        &mut self,
        scenario: &str,
        dut: &mut Running,
        result: Result<Duration, (String, u64)>,
        routes: u64,
        (cpu0, idle_rss): (f64, u64),
        note: &str,
    ) {
        // Settled memory: what the device keeps for the routes it holds.
        std::thread::sleep(Duration::from_secs_f64(self.args.settle));
        let (rss, hwm) = memory(dut.pid());
        let (seconds, reached, why) = match result {
            Ok(d) => (Some(d.as_secs_f64()), routes, String::new()),
            Err((why, least)) => (None, least, why),
        };
        let per_path = (scenario.starts_with('1') && routes > 0)
            .then(|| rss.saturating_sub(idle_rss) as f64 / routes as f64);
        let o = Outcome {
            scenario: scenario.to_string(),
            device: dut.device,
            routes,
            seconds,
            reached,
            cpu_seconds: cpu(dut.pid()) - cpu0,
            peak_rss: hwm,
            rss,
            bytes_per_path: per_path,
            note: [note, &why]
                .iter()
                .filter(|s| !s.is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join("; "),
        };
        eprintln!(
            "  {:<24} {:<12} {}  cpu {:.1} s  RSS {:.1} MiB (peak {:.1}){}",
            scenario,
            dut.device.name(),
            o.seconds
                .map(|s| format!("{s:.2} s ({:.0} routes/s)", routes as f64 / s))
                .unwrap_or_else(|| format!("FAILED ({} of {routes}): {}", o.reached, o.note)),
            o.cpu_seconds,
            rss as f64 / 1048576.0,
            hwm as f64 / 1048576.0,
            o.bytes_per_path
                .map(|b| format!("  {b:.0} B/path"))
                .unwrap_or_default()
        );
        self.results.push(o);
    }

    /// Scenarios 1, 3 and 4 on one device (one injector).
    fn one_injector(&mut self, device: Device, vpn_only: bool) -> Result<(), String> {
        let (n5, n4) = self.sizes(device, vpn_only);
        let want = (n5 as u64, n4 as u64);
        let total = want.0 + want.1;
        let (mut dut, sinks, inj, _all) = self.session_set(device, 1, vpn_only)?;
        let timeout = Duration::from_secs(self.args.timeout);
        let injector = &inj[0];
        let f = feed(injector.addr, 0..VRFS, n5, n4);
        let (idle_rss, _) = memory(dut.pid());
        let suffix = if device.evpn() && !vpn_only {
            ""
        } else {
            " (VPNv4 only)"
        };
        let label = |s: &str| format!("{s}{suffix}");

        // 1: everything from one injector, reflected to every sink.
        let cpu0 = cpu(dut.pid());
        let sender = send_all(injector, &f.announce);
        let r = converge(&mut dut, &sinks, want, timeout);
        let _ = sender.join();
        let ok = r.is_ok();
        self.record(
            &label("1 reflect"),
            &mut dut,
            r,
            total,
            (cpu0, idle_rss),
            "",
        );
        if !ok || (vpn_only && self.plan.many_and_churn) {
            dut.stop();
            return Ok(());
        }

        // 3: withdrawal of everything.
        let cpu0 = cpu(dut.pid());
        let sender = send_all(injector, &f.withdraw);
        let r = converge(&mut dut, &sinks, (0, 0), timeout);
        let _ = sender.join();
        self.record(
            &label("3 withdraw all"),
            &mut dut,
            r,
            total,
            (cpu0, idle_rss),
            "",
        );
        if !self.plan.many_and_churn {
            dut.stop();
            return Ok(());
        }

        // 4: churn. Everything announced again, then every 100 ms a pack
        // of routes is withdrawn and the previous pack announced again.
        let sender = send_all(injector, &f.announce);
        let _ = sender.join();
        if converge(&mut dut, &sinks, want, timeout).is_err() {
            dut.stop();
            return Err(format!(
                "{}: re-announcement did not converge",
                device.name()
            ));
        }
        let per_tick = (self.plan.churn_rate / 10).max(1) as u64;
        // Churn the Type-5 routes (100 per message), or the VPNv4 routes
        // (200 per message) on a device without EVPN.
        let (msg_routes, churned_msgs) = if n5 > 0 {
            (100u64, (n5 as usize).div_ceil(100))
        } else {
            (200u64, (n4 as usize).div_ceil(200))
        };
        let churned_msgs = churned_msgs.max(1);
        let packs = (per_tick / 2 / msg_routes).max(1) as usize;
        let cpu0 = cpu(dut.pid());
        let started = Instant::now();
        let ticks = self.plan.churn_secs * 10;
        let mut next = 0usize;
        let mut last: Vec<usize> = Vec::new();
        let mut sent_changes = 0u64;
        for t in 0..ticks {
            let mut batch = Vec::new();
            for &j in &last {
                batch.extend_from_slice(&f.announce[j]);
            }
            let now: Vec<usize> = (0..packs).map(|k| (next + k) % churned_msgs).collect();
            next = (next + packs) % churned_msgs;
            for &j in &now {
                batch.extend_from_slice(&f.withdraw[j]);
            }
            sent_changes += (last.len() + now.len()) as u64 * msg_routes;
            last = now;
            if injector.send(&batch).is_err() {
                break;
            }
            let due = started + Duration::from_millis(100 * (t as u64 + 1));
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let mut batch = Vec::new();
        for &j in &last {
            batch.extend_from_slice(&f.announce[j]);
        }
        sent_changes += last.len() as u64 * msg_routes;
        let _ = injector.send(&batch);
        let churn_time = started.elapsed().as_secs_f64();
        let r = converge(&mut dut, &sinks, want, timeout);
        let note = format!(
            "{sent_changes} changes in {churn_time:.1} s ({:.0}/s); time is the settling after the last change",
            sent_changes as f64 / churn_time
        );
        self.record(
            &label("4 churn"),
            &mut dut,
            r,
            sent_changes,
            (cpu0, idle_rss),
            &note,
        );
        dut.stop();
        Ok(())
    }

    /// A row saying that `device` was left out of scenario 1 of `mix`.
    fn skipped(&mut self, device: Device, mix: Mix) {
        let vpn_only = mix == Mix::Vpnv4;
        let (n5, n4) = self.sizes(device, vpn_only);
        let suffix = if vpn_only { " (VPNv4 only)" } else { "" };
        self.results.push(Outcome {
            scenario: format!("1 reflect{suffix}"),
            device,
            routes: (n5 + n4) as u64,
            seconds: None,
            reached: 0,
            cpu_seconds: 0.0,
            peak_rss: 0,
            rss: 0,
            bytes_per_path: None,
            note: SKIPPED.into(),
        });
    }

    /// Scenario 2: the same routes from 10 injectors.
    fn many_injectors(&mut self, device: Device) -> Result<(), String> {
        let (n5, n4) = self.sizes(device, false);
        let want = (n5 as u64, n4 as u64);
        let k = self.plan.injectors_many;
        let (mut dut, sinks, inj, _all) = self.session_set(device, k, false)?;
        let per = VRFS / k;
        let feeds: Vec<Feed> = inj
            .iter()
            .enumerate()
            .map(|(j, p)| feed(p.addr, j as u32 * per..(j as u32 + 1) * per, n5, n4))
            .collect();
        let (idle_rss, _) = memory(dut.pid());
        let cpu0 = cpu(dut.pid());
        let senders: Vec<_> = inj
            .iter()
            .zip(&feeds)
            .map(|(p, f)| send_all(p, &f.announce))
            .collect();
        let r = converge(
            &mut dut,
            &sinks,
            want,
            Duration::from_secs(self.args.timeout),
        );
        for s in senders {
            let _ = s.join();
        }
        let suffix = if device.evpn() { "" } else { " (VPNv4 only)" };
        self.record(
            &format!("2 reflect, {k} injectors{suffix}"),
            &mut dut,
            r,
            want.0 + want.1,
            (cpu0, idle_rss),
            "",
        );
        dut.stop();
        Ok(())
    }
}

// ---------------------------------------------------------------- worker

/// An idle Ferry worker: Established with a Ferry reflector, one VRF
/// programmed into the kernel, no pods. Returns (RSS, anonymous,
/// file-backed) bytes.
fn worker_idle(args: &Args) -> Result<(u64, u64, u64), String> {
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
fn established(addr: Ipv4Addr) -> bool {
    let local = format!("{:08X}:", u32::from_le_bytes(addr.octets()));
    tcp_sockets("/proc/net/tcp")
        .iter()
        .any(|(l, r, state)| l.starts_with(&local) && r.ends_with(":00B3") && state == "01")
}

// ---------------------------------------------------------------- report

/// The numbered scenarios in order, then the others as they first ran.
fn scenario_order(s: &str) -> (u8, bool) {
    match s.as_bytes()[0] {
        d @ b'0'..=b'9' => (d, s.contains("VPNv4 only")),
        _ => (u8::MAX, false),
    }
}

/// The scenarios of `results`, each once, in [`scenario_order`].
fn scenario_list(results: &[Outcome]) -> Vec<&str> {
    let mut scenarios: Vec<&str> = Vec::new();
    for o in results {
        if !scenarios.contains(&o.scenario.as_str()) {
            scenarios.push(&o.scenario);
        }
    }
    scenarios.sort_by_key(|s| scenario_order(s));
    scenarios
}

fn report(
    args: &Args,
    plan: &Plan,
    results: &[Outcome],
    versions: &BTreeMap<Device, String>,
    worker: Option<(u64, u64, u64)>,
) -> String {
    let mut md = String::new();
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{:?}", args.size));
    if !args.scenarios.contains(&scenarios::Set::Standard) {
        let _ = writeln!(md, "# Route reflector side by side ({name})\n");
    } else {
        let _ = writeln!(
        md,
        "# Route reflector side by side ({})\n\n{} EVPN Type-5 routes over {VRFS} VRFs + {} VPNv4 routes ({} in the VPNv4-only runs), \
         {} sink clients; {}. \
         Time: from the first UPDATE sent to the moment every sink holds every route (or none, for withdrawal). \
         Ratio: the device's time over Ferry's (higher is slower). RSS: once converged (peak: the process's high-water mark). Bytes per path: RSS growth over the idle device, per route held (scenario 1).\n",
        name,
        plan.type5,
        plan.vpnv4,
        plan.vpn_only,
        plan.sinks,
        if plan.many_and_churn {
            format!(
                "scenario 2 from {} injectors; churn {} routes/s for {} s",
                plan.injectors_many, plan.churn_rate, plan.churn_secs
            )
        } else {
            "one injector; scenarios 1 and 3 only".into()
        },
    );
    }
    md.push_str(&scenarios::describe(args));
    let scenarios = scenario_list(results);
    let _ = writeln!(
        md,
        "| scenario | device | time (s) | routes/s | vs Ferry | CPU (s) | RSS (MiB) | peak RSS (MiB) | bytes/path | note |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for sc in &scenarios {
        let ferry = results
            .iter()
            .find(|o| o.scenario == *sc && o.device == Device::Ferry)
            .and_then(|o| o.seconds);
        for o in results.iter().filter(|o| o.scenario == *sc) {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {:.1} | {} | {} | {} | {} |",
                o.scenario,
                o.device.name(),
                match o.seconds {
                    Some(s) => format!("{s:.2}"),
                    None if o.note == SKIPPED => "–".into(),
                    None => format!("failed ({}/{})", o.reached, o.routes),
                },
                o.seconds
                    .filter(|_| !o.scenario.starts_with('4'))
                    .map(|s| format!("{:.0}", o.routes as f64 / s))
                    .unwrap_or_else(|| "–".into()),
                match (o.seconds, ferry) {
                    // Churn settles in milliseconds: a ratio would be noise.
                    (Some(s), Some(f)) if f > 0.0 && !o.scenario.starts_with('4') => {
                        format!("{:.2}×", s / f)
                    }
                    _ => "–".into(),
                },
                o.cpu_seconds,
                mib(o.rss),
                mib(o.peak_rss),
                o.bytes_per_path
                    .map(|b| format!("{b:.0}"))
                    .unwrap_or_else(|| "–".into()),
                o.note
            );
        }
    }
    if let Some((rss, anon, file)) = worker {
        let _ = writeln!(
            md,
            "\nFerry worker bgpd, idle (Established with the reflector, VRF `blue` in the kernel, no pods): \
             RSS {:.1} MiB ({:.1} MiB anonymous, {:.1} MiB file-backed).",
            rss as f64 / 1048576.0,
            anon as f64 / 1048576.0,
            file as f64 / 1048576.0
        );
    }
    let _ = writeln!(md, "\n## Devices and settings\n");
    for (d, v) in versions {
        let _ = writeln!(md, "- **{}** ({v}): {}", d.name(), settings(*d));
    }
    let _ = writeln!(
        md,
        "\nInjector and sinks: `benches/sysbench.rs` (UPDATEs encoded before the clock starts, 100 Type-5 or 200 VPNv4 NLRI \
         per UPDATE; sinks scan NLRI in place). Everything runs in one network namespace over 127.0.0.0/8 on this machine ({}).",
        machine()
    );
    md
}

/// Bytes as MiB for the table; "–" for a device that did not run.
fn mib(b: u64) -> String {
    if b == 0 {
        "–".into()
    } else {
        format!("{:.1}", b as f64 / 1048576.0)
    }
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_default();
    format!("{cpus} CPUs, {model}")
}

/// A bar chart of the convergence times, per scenario and device.
fn svg(results: &[Outcome]) -> String {
    let scenarios = scenario_list(results);
    let devices = [
        Device::Ferry,
        Device::Frr,
        Device::Gobgp,
        Device::Bird,
        Device::Relay,
    ];
    let colors = ["#1b7f5f", "#c0392b", "#2c6fbb", "#8e6c1f", "#888888"];
    // A log scale: the devices differ by orders of magnitude.
    let times = || {
        results
            .iter()
            .filter_map(|o| o.seconds)
            .map(|t| t.max(0.001))
    };
    let lo = times().fold(f64::MAX, f64::min).min(1.0).log10().floor();
    let hi = times()
        .fold(0.001f64, f64::max)
        .log10()
        .ceil()
        .max(lo + 1.0);
    let scale = |t: f64| (t.max(0.001).log10() - lo) / (hi - lo);
    let (bar, gap, left, top, height) = (22.0, 30.0, 60.0, 40.0, 300.0);
    let group_w = devices.len() as f64 * bar + gap;
    let width = left + scenarios.len() as f64 * group_w + 20.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{:.0}\" font-family=\"sans-serif\" font-size=\"11\">",
        top + height + 110.0
    );
    let _ = writeln!(s, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let _ = writeln!(
        s,
        "<text x=\"{left}\" y=\"20\" font-size=\"14\">Time to full convergence at every sink (s, log scale, lower is better)</text>"
    );
    for k in 0..=((hi - lo) as i32) {
        let v = 10f64.powf(lo + k as f64);
        let y = top + height - height * scale(v);
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" x2=\"{width:.0}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"end\">{v}</text>",
            left - 5.0,
            y + 4.0
        );
    }
    for (i, sc) in scenarios.iter().enumerate() {
        let x0 = left + i as f64 * group_w + gap / 2.0;
        for (j, d) in devices.iter().enumerate() {
            let Some(o) = results.iter().find(|o| o.scenario == *sc && o.device == *d) else {
                continue;
            };
            let x = x0 + j as f64 * bar;
            match o.seconds {
                Some(t) => {
                    let h = (height * scale(t)).max(1.0);
                    let _ = writeln!(
                        s,
                        "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\"><title>{} {}: {t:.2} s</title></rect>",
                        top + height - h,
                        bar - 2.0,
                        colors[j],
                        d.name(),
                        sc
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"{}\">✗</text>",
                        x + 5.0,
                        top + height - 4.0,
                        colors[j]
                    );
                }
            }
        }
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" transform=\"rotate(-30 {:.1} {:.1})\">{}</text>",
            x0 + group_w / 2.0,
            top + height + 16.0,
            x0 + group_w / 2.0,
            top + height + 16.0,
            sc
        );
    }
    for (j, d) in devices.iter().enumerate() {
        let x = left + j as f64 * 110.0;
        let y = top + height + 95.0;
        let _ = writeln!(
            s,
            "<rect x=\"{x:.0}\" y=\"{:.0}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{:.0}\" y=\"{y:.0}\">{}</text>",
            y - 10.0,
            colors[j],
            x + 16.0,
            d.name()
        );
    }
    s.push_str("</svg>\n");
    s
}

fn version(device: Device, args: &Args) -> String {
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

type Step = Box<dyn Fn(&mut Bench) -> Result<(), String>>;

fn main() {
    let args = Args::parse();
    if args.relay {
        scenarios::relay::serve();
        return;
    }
    scenarios::raise_nofile();
    if let Some(json) = &args.replot {
        let results: Vec<Outcome> = match std::fs::read_to_string(json)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(r) => r,
            Err(e) => {
                eprintln!("sysbench: {}: {e}", json.display());
                std::process::exit(1);
            }
        };
        let out = json.with_extension("svg");
        if let Err(e) = std::fs::write(&out, svg(&results)) {
            eprintln!("sysbench: {}: {e}", out.display());
            std::process::exit(1);
        }
        println!("{}", out.display());
        return;
    }
    let plan = Plan::of(&args);
    let mut bench = Bench {
        args: &args,
        plan,
        results: Vec::new(),
    };
    let mut versions = BTreeMap::new();
    let mut failed = false;
    let standard = args.scenarios.contains(&scenarios::Set::Standard);
    for &d in &args.devices {
        versions.insert(d, version(d, &args));
        eprintln!("== {} ({})", d.name(), versions[&d]);
        if !standard {
            failed |= scenarios::run_sets(&mut bench, d);
            continue;
        }
        let first = if d.evpn() { Mix::Mixed } else { Mix::Vpnv4 };
        let mut steps: Vec<(&str, Mix, Step)> = vec![(
            "scenarios 1, 3, 4",
            first,
            Box::new(move |b: &mut Bench| b.one_injector(d, false)),
        )];
        if bench.plan.many_and_churn {
            steps.push((
                "scenario 2",
                first,
                Box::new(move |b: &mut Bench| b.many_injectors(d)),
            ));
        }
        if d.evpn() && (args.devices.contains(&Device::Bird) || !bench.plan.many_and_churn) {
            steps.push((
                "scenario 1, VPNv4 only",
                Mix::Vpnv4,
                Box::new(move |b: &mut Bench| b.one_injector(d, true)),
            ));
        }
        for (what, mix, step) in steps {
            if args.skips(d, mix.into()) {
                eprintln!("  {what}: {} skipped (--skip)", d.name());
                bench.skipped(d, mix);
                continue;
            }
            if let Err(e) = step(&mut bench) {
                eprintln!("  {what}: {e}");
                failed = true;
            }
        }
        failed |= scenarios::run_sets(&mut bench, d);
    }
    let mut worker = None;
    if standard && args.devices.contains(&Device::Ferry) {
        match worker_idle(&args) {
            Ok(w) => {
                eprintln!(
                    "  worker idle              Ferry bgpd   RSS {:.1} MiB ({:.1} MiB anonymous)",
                    w.0 as f64 / 1048576.0,
                    w.1 as f64 / 1048576.0
                );
                worker = Some(w);
            }
            Err(e) => {
                eprintln!("  worker idle: {e}");
                failed = true;
            }
        }
    }
    let results = bench.results;
    let md = report(&args, &bench.plan, &results, &versions, worker);
    let size = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{:?}", args.size).to_lowercase());
    let _ = std::fs::create_dir_all(&args.out);
    let write = |name: String, text: &str| {
        let p = args.out.join(name);
        if let Err(e) = std::fs::write(&p, text) {
            eprintln!("sysbench: {}: {e}", p.display());
        }
    };
    write(format!("{size}.md"), &md);
    write(format!("{size}.svg"), &svg(&results));
    write(
        format!("{size}.json"),
        &serde_json::to_string_pretty(&results).unwrap_or_default(),
    );
    println!("{md}");
    println!(
        "Results: {}/{size}.md, {size}.svg, {size}.json",
        args.out.display()
    );
    // Ferry's time for scenario 1 divided into the fastest other device's.
    let s1 = |d: Device| {
        results
            .iter()
            .find(|o| o.device == d && o.scenario == "1 reflect")
            .and_then(|o| o.seconds)
    };
    let s1v4 = |d: Device| {
        results
            .iter()
            .find(|o| o.device == d && o.scenario == "1 reflect (VPNv4 only)")
            .and_then(|o| o.seconds)
    };
    let fastest = |f: &dyn Fn(Device) -> Option<f64>| {
        args.devices
            .iter()
            .filter(|&&d| d != Device::Ferry)
            .filter_map(|&d| f(d).map(|t| (t, d)))
            .min_by(|a, b| a.0.total_cmp(&b.0))
    };
    if let (Some(f), Some((t, d))) = (s1v4(Device::Ferry), fastest(&s1v4)) {
        println!(
            "VPNv4 only (every device): Ferry {f:.2} s, fastest other {} {t:.2} s: {:.2}×",
            d.name(),
            t / f
        );
    }
    match (s1(Device::Ferry), fastest(&s1)) {
        (Some(f), Some((t, d))) => {
            println!(
                "scenario 1: Ferry {f:.2} s, fastest other {} {t:.2} s",
                d.name()
            );
            println!("speedup-vs-fastest-peer: {:.2}", t / f);
        }
        _ => {
            println!("speedup-vs-fastest-peer: n/a");
            failed |= standard;
        }
    }
    if failed {
        std::process::exit(1);
    }
}
