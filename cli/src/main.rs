//! `bgpctl`: the Ferry operator CLI.

mod decode;

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use ferry_wire::{DecodeContext, Family, FamilySet};

#[derive(Parser)]
#[command(name = "bgpctl", version, about = "Operate and inspect the Ferry BGP daemon")]
struct Cli {
    /// Control socket of the bgpd to talk to.
    #[arg(short = 's', long = "socket", global = true, default_value = "/run/ferry/bgpd.sock")]
    socket: PathBuf,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Decode BGP messages given as hex (as copied from a packet capture).
    Decode(DecodeArgs),
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
    }
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
        println!("{}", serde_json::to_string_pretty(&out.json).unwrap_or_default());
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
        (None, Some(other)) => Err(format!("unexpected argument {other:?}; use --hex, --file or -")),
        (None, None) => Err("give the messages with --hex HEX, --file FILE or - (standard input)".into()),
    }
}
