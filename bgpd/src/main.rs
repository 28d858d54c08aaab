//! `bgpd`: the Ferry BGP daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ferry_bgpd::{config, daemon};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "bgpd",
    version,
    about = "Ferry BGP daemon: route reflector and worker"
)]
struct Args {
    /// Configuration file (TOML).
    #[arg(short, long, default_value = "/etc/ferry/bgpd.toml")]
    config: PathBuf,
    /// Validate this configuration file and exit.
    #[arg(long, value_name = "FILE")]
    check: Option<PathBuf>,
    /// Log filter (tracing syntax); RUST_LOG overrides it.
    #[arg(long, default_value = "info")]
    log: String,
    /// Log lines as `text` or `json` (one object per line); overrides the
    /// configuration's `log-format`.
    #[arg(long, value_name = "FORMAT", value_parser = ["text", "json"])]
    log_format: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(path) = args.check {
        return match config::load(&path) {
            Ok(c) => {
                println!(
                    "{}: configuration OK ({} groups, {} neighbors)",
                    path.display(),
                    c.groups.len(),
                    c.neighbors().len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    // Logging starts before the configuration is validated, so that what
    // loading it logs (cluster-mesh names that do not resolve) is seen.
    let format = args
        .log_format
        .as_deref()
        .and_then(config::LogFormat::from_name)
        .or_else(|| config::log_format_of(&args.config))
        .unwrap_or_default();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&args.log));
    match format {
        config::LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_target(false)
            .init(),
        // One object per line: timestamp, level, fields (the message among
        // them), target.
        config::LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
    // Loaded before the runtime exists: loading blocks (cluster-mesh
    // names, the control group); a reload runs it on a blocking thread.
    let cfg = match config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bgpd: {e}");
            return ExitCode::FAILURE;
        }
    };
    tune_allocator();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bgpd: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(daemon::run(&args.config, cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bgpd: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Allocations of 128 KiB and more (UPDATE batches, the route table as it
/// grows) get pages of their own, returned to the system when freed.
/// glibc's default raises that threshold as such blocks are freed, after
/// which they land in the heap and stay resident after a burst.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets glibc's own parameters; called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
