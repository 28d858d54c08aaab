//! `ferry-control`: the protocol of bgpd's control socket, shared by the
//! daemon (`bgpd`), the operator CLI (`bgpctl`) and the CNI plugin
//! (`ferry`).
//!
//! # Framing
//!
//! The socket is a Unix stream socket (`/run/ferry/bgpd.sock` by default).
//! One question per connection: the client writes one [`Request`] as one
//! line of JSON (a single object, ended by `\n`, at most 64 KiB); the
//! daemon answers with one [`Response`] as one line of JSON and closes
//! the connection.
//!
//! ```text
//! → {"command":"routes","family":"inet-vpn","limit":10000}
//! ← {"status":"ok","body":{"kind":"routes","routes":[…],"next":"inet-vpn 70000…"}}
//! ```
//!
//! Field names are kebab-case; the request is tagged by `command`, the
//! answer by `status` (`ok` with a `body` tagged by `kind`, or `error`
//! with a `message`). Fields added later are optional, so that an older
//! client still reads a newer daemon's answers. Addresses, families and
//! route distinguishers are typed here but travel as their usual text
//! (`10.0.0.1`, `inet-vpn`, `64512:10`).
//!
//! # Paging
//!
//! A route table can hold millions of paths: `show route` is answered a
//! page at a time. A [`RouteQuery`] may give a `limit` (routes per page;
//! the daemon never sends more than [`MAX_ROUTE_PAGE`]) and `after`, the
//! continuation key of the previous page. An answer that has more to
//! follow carries that key as `next`; `bgpctl` asks again until an answer
//! comes without one, so its output is the whole table.

mod bfd;
mod family;
mod memory;
pub mod pod;
mod request;
mod response;

pub use bfd::{BfdSessionInfo, BfdState};
pub use family::Family;
pub use memory::{Allocator, MemoryReport, RibMemory};
pub use request::{PodAttach, Request, RouteQuery};
pub use response::{
    sort_routes, Body, NeighborDetail, NeighborSummary, PeerTableCounts, ReloadReport, Response,
    RouteEntry, Summary, TableSummary, VrfInfo, VrfKernelRoute, VrfRibRoute,
};

/// The most routes (route keys, with all their paths) the daemon puts in
/// one `show route` answer.
pub const MAX_ROUTE_PAGE: usize = 10_000;
