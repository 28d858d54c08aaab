//! `bgpctl`: the Ferry operator CLI.

mod client;
mod decode;
mod show;

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use ferry_control::{Body, Request, RouteQuery};
use ferry_wire::{DecodeContext, Family, FamilySet};

#[derive(Parser)]
#[command(
    name = "bgpctl",
    version,
    about = "Operate and inspect the Ferry BGP daemon"
)]
struct Cli {
    /// Control socket of the bgpd to talk to.
    #[arg(
        short = 's',
        long = "socket",
        global = true,
        default_value = "/run/ferry/bgpd.sock"
    )]
    socket: PathBuf,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the daemon's state.
    #[command(subcommand)]
    Show(Show),
    /// Re-read bgpd's configuration file (sessions not concerned keep running).
    Reload,
    /// Decode BGP messages given as hex (as copied from a packet capture).
    Decode(DecodeArgs),
}

#[derive(Subcommand)]
enum Show {
    /// Sessions and table counts, like Junos `show bgp summary`.
    Summary,
    /// One neighbor, or all of them, in detail.
    #[command(alias = "neighbors")]
    Neighbor {
        /// The neighbor's address.
        address: Option<std::net::IpAddr>,
    },
    /// Routes in the RIB.
    #[command(alias = "routes")]
    Route(RouteArgs),
    /// VRFs of a worker: VNI, table, route targets, kernel devices, pods.
    #[command(alias = "vrfs")]
    Vrf {
        /// One VRF by name.
        name: Option<String>,
    },
    /// Memory: resident, the allocator's view, the RIB's size per path.
    Memory,
    /// BFD sessions, like Junos `show bfd session`.
    Bfd {
        #[command(subcommand)]
        which: BfdWhich,
    },
}

#[derive(Subcommand)]
enum BfdWhich {
    /// Every BFD session: state, intervals, multiplier, detection time,
    /// uptime, flaps.
    #[command(alias = "sessions")]
    Session,
}

#[derive(Args)]
struct RouteArgs {
    /// evpn, inet-vpn, inet6-vpn, inet or inet6.
    #[arg(long)]
    family: Option<String>,
    /// Route distinguisher, e.g. 10.10.25.42:1 or 64512:10.
    #[arg(long)]
    rd: Option<String>,
    /// A prefix (or, for EVPN MAC/IP routes, a prefix holding the IP).
    #[arg(long)]
    prefix: Option<String>,
    #[command(subcommand)]
    which: Option<RouteWhich>,
}

#[derive(Subcommand)]
enum RouteWhich {
    /// Paths received from a peer (its Adj-RIB-In).
    ReceivedFrom { peer: std::net::IpAddr },
    /// Routes advertised to a peer (its Adj-RIB-Out).
    AdvertisedTo { peer: std::net::IpAddr },
    /// A worker's VRF table: the routes the RIB wants and what the kernel holds.
    Table { vrf: String },
}

#[derive(Args)]
struct DecodeArgs {
    /// The messages as hex, marker included.
    #[arg(long, conflicts_with = "file")]
    hex: Option<String>,
    /// A file holding the hex; `-` reads standard input. Lines starting
    /// with `#` are comments.
    #[arg(long)]
    file: Option<PathBuf>,
    /// Read `-` (standard input) when neither --hex nor --file is given.
    #[arg(value_name = "-")]
    stdin: Option<String>,
    /// The session did not negotiate 4-octet AS numbers (RFC 6793).
    #[arg(long)]
    two_octet_as: bool,
    /// Families whose NLRI carry ADD-PATH identifiers (inet, inet6,
    /// inet-vpn, inet6-vpn, evpn).
    #[arg(long, value_delimiter = ',')]
    add_path: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Decode(args) => run_decode(args, cli.json),
        Command::Show(show) => run_show(&cli.socket, show, cli.json),
        Command::Reload => run_request(&cli.socket, Request::Reload, cli.json),
    }
}

fn run_show(socket: &std::path::Path, show: Show, json: bool) -> ExitCode {
    let request = match show {
        Show::Summary => Request::Summary,
        Show::Neighbor { address } => Request::Neighbors { address },
        Show::Vrf { name } => Request::Vrfs { name },
        Show::Memory => Request::Memory,
        Show::Bfd {
            which: BfdWhich::Session,
        } => Request::BfdSessions,
        Show::Route(RouteArgs {
            which: Some(RouteWhich::Table { vrf }),
            ..
        }) => Request::VrfRoutes { vrf },
        Show::Route(r) => {
            let (received_from, advertised_to) = match r.which {
                Some(RouteWhich::ReceivedFrom { peer }) => (Some(peer), None),
                Some(RouteWhich::AdvertisedTo { peer }) => (None, Some(peer)),
                Some(RouteWhich::Table { .. }) | None => (None, None),
            };
            Request::Routes(RouteQuery {
                family: r.family,
                rd: r.rd,
                prefix: r.prefix,
                received_from,
                advertised_to,
                limit: None,
                after: None,
            })
        }
    };
    run_request(socket, request, json)
}

fn run_request(socket: &std::path::Path, request: Request, json: bool) -> ExitCode {
    let answer = match &request {
        Request::Routes(query) => client::ask_routes(socket, query),
        other => client::ask(socket, other),
    };
    let body = match answer {
        Ok(b) => b,
        Err(e) => {
            eprintln!("bgpctl: {e}");
            return ExitCode::FAILURE;
        }
    };
    if json {
        let value = match &body {
            Body::Summary(s) => serde_json::to_value(s),
            Body::Neighbors { neighbors } => serde_json::to_value(neighbors),
            Body::Routes { routes, .. } => serde_json::to_value(routes),
            Body::Reloaded(r) => serde_json::to_value(r),
            Body::Done { message } => serde_json::to_value(message),
            Body::Vrfs { vrfs } => serde_json::to_value(vrfs),
            Body::Memory(m) => serde_json::to_value(m),
            Body::BfdSessions { sessions } => serde_json::to_value(sessions),
            Body::VrfRoutes {
                vrf,
                table,
                rib,
                kernel,
            } => Ok(serde_json::json!({"vrf": vrf, "table": table, "rib": rib, "kernel": kernel})),
        };
        match value.and_then(|v| serde_json::to_string_pretty(&v)) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("bgpctl: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        let text = match &body {
            Body::Summary(s) => show::summary(s),
            Body::Neighbors { neighbors } => show::neighbors(neighbors),
            Body::Routes { routes, .. } => show::routes(routes),
            Body::Reloaded(r) => show::reloaded(r),
            Body::Done { message } => format!("{message}\n"),
            Body::Vrfs { vrfs } => show::vrfs(vrfs),
            Body::Memory(m) => show::memory(m),
            Body::BfdSessions { sessions } => show::bfd_sessions(sessions),
            Body::VrfRoutes {
                vrf,
                table,
                rib,
                kernel,
            } => show::vrf_routes(vrf, *table, rib, kernel),
        };
        print!("{text}");
    }
    ExitCode::SUCCESS
}

fn run_decode(args: DecodeArgs, json: bool) -> ExitCode {
    let input = match read_decode_input(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bgpctl decode: {e}");
            return ExitCode::from(2);
        }
    };
    let bytes = match decode::parse_hex(&input) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("bgpctl decode: {e}");
            return ExitCode::from(2);
        }
    };
    let mut add_path = FamilySet::EMPTY;
    for name in &args.add_path {
        match Family::from_name(name) {
            Some(f) => add_path.insert(f),
            None => {
                eprintln!("bgpctl decode: unknown family {name:?} for --add-path");
                return ExitCode::from(2);
            }
        }
    }
    let ctx = DecodeContext {
        four_octet_as: !args.two_octet_as,
        add_path,
        extended_message: true,
    };
    let out = decode::decode_stream(&bytes, &ctx);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&out.json).unwrap_or_default()
        );
    } else {
        print!("{}", out.text);
    }
    if out.malformed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn read_decode_input(args: &DecodeArgs) -> Result<String, String> {
    if let Some(h) = &args.hex {
        return Ok(h.clone());
    }
    let from_stdin = || {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| format!("reading standard input: {e}"))?;
        Ok(s)
    };
    match (&args.file, args.stdin.as_deref()) {
        (Some(p), _) if p.as_os_str() == "-" => from_stdin(),
        (Some(p), _) => std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display())),
        (None, Some("-")) => from_stdin(),
        (None, Some(other)) => Err(format!(
            "unexpected argument {other:?}; use --hex, --file or -"
        )),
        (None, None) => {
            Err("give the messages with --hex HEX, --file FILE or - (standard input)".into())
        }
    }
}
