//! Test harness for Ferry's integration and interop tests: network
//! namespaces with unique names, links between them, and processes that
//! are killed (by their PID) and cleaned up even when a test fails.
//!
//! Every test that needs root is `#[ignore]`d, so that `cargo test` lists
//! it as ignored instead of passing it unrun, and calls [`require_root`]
//! first. `tests/run` runs them as root with `--include-ignored`.
//!
//! By concern: `support/netns.rs` (namespaces, a LAN, closures inside a
//! namespace, on the `ferry-netns` crate), `support/process.rs`
//! (commands, processes, polling, binaries), `support/ferry.rs` (Ferry's
//! bgpd and bgpctl), `support/gobgp.rs`, `support/frr.rs`,
//! `support/updates.rs` (UPDATEs to send), `support/raw.rs` (a minimal BGP
//! speaker), `support/http.rs` (HTTP and Prometheus samples).

mod support {
    pub mod bird;
    pub mod ferry;
    pub mod frr;
    pub mod gobgp;
    pub mod http;
    pub mod netns;
    pub mod process;
    pub mod raw;
    pub mod updates;
}

pub use ferry_netns::unique;
pub use support::bird::Bird;
pub use support::ferry::{Ferry, RR};
pub use support::frr::Frr;
pub use support::gobgp::GoBgp;
pub use support::http::{http_get, sample};
pub use support::netns::{block_in, in_netns, Lan, Netns};
pub use support::process::{bin, bin_dir, eventually, ip_of, output, require_root, run, Proc};
pub use support::raw;
pub use support::updates::{encode_extended, pad_to, type5_update, vpnv4_update, with_attribute};
