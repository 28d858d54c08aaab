//! What to run: the devices, the sizes, the scenario parts `--skip` leaves
//! out, the command line, and the plan of routes and sessions it makes.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::{scenarios, VRFS};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub(crate) enum Device {
    Ferry,
    Frr,
    Gobgp,
    Bird,
    /// The harness floor: a relay that forwards the injector's UPDATEs to
    /// every sink byte for byte, holding no routes (`scenarios/relay.rs`).
    Relay,
}

impl Device {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Device::Ferry => "Ferry bgpd",
            Device::Frr => "FRR bgpd",
            Device::Gobgp => "GoBGP",
            Device::Bird => "BIRD 2",
            Device::Relay => "harness floor (relay)",
        }
    }
    /// BIRD 2 has no EVPN: it runs the VPNv4 half of every scenario.
    pub(crate) fn evpn(self) -> bool {
        self != Device::Bird
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Size {
    Small,
    Full,
    /// A million routes, one injector, 4 sinks: scenario 1 (500k EVPN +
    /// 500k VPNv4; 1M VPNv4 for every device) and 3, where memory shows.
    Million,
}

/// The two kinds of route set a scenario reflects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Mix {
    /// EVPN Type-5 and VPNv4 routes, half each.
    Mixed,
    /// VPNv4 routes only (every device runs these; BIRD runs only these).
    Vpnv4,
}

/// What `--skip DEVICE:PART` leaves out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Part {
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
pub(crate) struct Skip {
    pub(crate) device: Device,
    pub(crate) mix: Option<Part>,
}

impl Args {
    /// `device` is left out of `part` by `--skip`.
    pub(crate) fn skips(&self, device: Device, part: Part) -> bool {
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
pub(crate) struct Args {
    /// small: a few minutes; full: the published figures.
    #[arg(long, value_enum, default_value = "small")]
    pub(crate) size: Size,
    /// Devices under test, in order.
    #[arg(long, value_enum, value_delimiter = ',', default_values = ["ferry", "frr", "gobgp", "bird"])]
    pub(crate) devices: Vec<Device>,
    /// Where Ferry's bgpd is.
    #[arg(long, default_value = "target/release/bgpd")]
    pub(crate) ferry_bgpd: PathBuf,
    /// Results directory (Markdown table, SVG plot, JSON).
    #[arg(long, default_value = "benches/results")]
    pub(crate) out: PathBuf,
    /// Scratch directory for configurations and logs.
    #[arg(long, default_value = "/tmp/ferry-sysbench")]
    pub(crate) work: PathBuf,
    /// Give up on a scenario after this many seconds.
    #[arg(long, default_value = "900")]
    pub(crate) timeout: u64,
    /// Draw the plot of an earlier run's JSON again (no benchmark).
    #[arg(long, value_name = "JSON")]
    pub(crate) replot: Option<PathBuf>,
    /// Routes of scenario 1 instead of the size's (half EVPN, half VPNv4;
    /// all VPNv4 in the VPNv4-only runs of the million size).
    #[arg(long)]
    pub(crate) routes: Option<u32>,
    /// Sink clients instead of the size's.
    #[arg(long)]
    pub(crate) sinks: Option<u32>,
    /// Leave a device out of the big scenarios: `gobgp` or `gobgp:PART`
    /// (mixed: EVPN + VPNv4; vpnv4: VPNv4 only; stuck, storm, fanout).
    #[arg(long, value_delimiter = ',')]
    pub(crate) skip: Vec<Skip>,
    /// Scenario sets to run: standard (1-4), stuck, storm, fanout.
    #[arg(long, value_enum, value_delimiter = ',', default_values = ["standard"])]
    pub(crate) scenarios: Vec<scenarios::Set>,
    #[command(flatten)]
    pub(crate) extra: scenarios::Options,
    /// Make network namespace NAME (loopback up, the TCP buffers of a
    /// benchmark run), run everything in it and delete it at the end, with
    /// whatever still runs in it (also on SIGINT, SIGTERM, SIGHUP).
    /// Without it, sysbench runs where it is started.
    #[arg(long, value_name = "NAME")]
    pub(crate) netns: Option<String>,
    /// Serve as the harness-floor relay on 127.0.0.1:179 (internal).
    #[arg(long, hide = true)]
    pub(crate) relay: bool,
    /// Seconds between convergence and the RSS reading.
    #[arg(long, default_value = "2")]
    pub(crate) settle: f64,
    /// The results' file name (default: the size).
    #[arg(long)]
    pub(crate) name: Option<String>,
}

pub(crate) struct Plan {
    pub(crate) type5: u32,
    pub(crate) vpnv4: u32,
    /// VPNv4 routes of the VPNv4-only runs.
    pub(crate) vpn_only: u32,
    pub(crate) sinks: u32,
    /// Scenarios 2 (many injectors) and 4 (churn) run.
    pub(crate) many_and_churn: bool,
    pub(crate) injectors_many: u32,
    pub(crate) churn_rate: u32,
    pub(crate) churn_secs: u32,
}

impl Plan {
    pub(crate) fn of(args: &Args) -> Plan {
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
