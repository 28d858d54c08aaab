//! `ferry-bgpd`: the Ferry BGP daemon, as a library for its binary, the
//! benchmarks and tests. The control protocol `bgpctl` and the CNI plugin
//! speak is the `ferry-control` crate.
//!
//! ```text
//!  listener ─▶ session tasks (FSM, timers, framing) ─▶ core task (the RIB)
//!                   ▲                                      │
//!                   └──── writer tasks ◀── UPDATE octets ──┘
//!  control socket ─▶ core task (show: answers built by `show`, a page of
//!                   routes at a time) / worker (VRFs, pods) / daemon (reload)
//!  http-listen (/metrics, /livez, /readyz) ─▶ core task, peer counters
//! ```

pub mod bfd;
pub mod config;
pub mod control;
pub mod core;
pub mod daemon;
pub mod fib;
pub mod fsm;
pub mod http;
mod memory;
pub mod metrics;
pub mod negotiate;
pub mod origination;
pub mod peer_status;
pub mod session;
mod show;
pub mod sockopt;
pub mod worker;
