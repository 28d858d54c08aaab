//! `ferry-bgpd`: the Ferry BGP daemon, as a library for its binary, for
//! `bgpctl` (the control protocol) and for tests.
//!
//! ```text
//!  listener ─▶ session tasks (FSM, timers, framing) ─▶ core task (the RIB)
//!                   ▲                                      │
//!                   └──── writer tasks ◀── UPDATE octets ──┘
//!  control socket ─▶ core task (show) / daemon (reload)
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
pub mod memory;
pub mod metrics;
pub mod negotiate;
pub mod origination;
pub mod peer_status;
pub mod session;
pub mod sockopt;
pub mod worker;
