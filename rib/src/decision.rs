//! The decision process: which of the paths to one destination is best.
//!
//! RFC 4271 §9.1.2.2 breaks ties in a fixed order; RFC 4456 §9 changes two
//! steps for route reflection. Each step is one function below, applied in
//! [`STEPS`] order until one prefers a path.
//!
//! | step | rule                                                   | source            |
//! |------|--------------------------------------------------------|-------------------|
//! | 0    | locally originated routes first                        | (implementation)  |
//! | 1    | highest LOCAL_PREF (100 when absent)                   | RFC 4271 §9.1.1   |
//! | 2    | shortest AS_PATH                                       | §9.1.2.2 a        |
//! | 3    | lowest ORIGIN                                          | §9.1.2.2 b        |
//! | 4    | lowest MED among paths from the same neighbouring AS   | §9.1.2.2 c        |
//! | 5    | eBGP over iBGP                                         | §9.1.2.2 d        |
//! | 6    | lowest BGP identifier, ORIGINATOR_ID when present      | §9.1.2.2 f, RFC 4456 §9 |
//! | 7    | shortest CLUSTER_LIST                                  | RFC 4456 §9       |
//! | 8    | lowest peer address                                    | §9.1.2.2 g        |
//! | 9    | lowest path identifier (deterministic with ADD-PATH)   | (implementation)  |
//!
//! Step e (interior cost to the next hop) is skipped: a route reflector
//! does not resolve next hops, every next hop counts as equally near.

use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr};

use ferry_wire::Origin;

use crate::path::Path;
use crate::peer::{PeerId, PeerState, Role, LOCAL};

/// The default LOCAL_PREF (RFC 4271 §5.1.5 leaves it to configuration;
/// 100 is what every implementation uses).
pub const DEFAULT_LOCAL_PREF: u32 = 100;

/// What the decision process needs to know of a path's source.
pub struct Source<'a> {
    pub peer: PeerId,
    pub state: Option<&'a PeerState>,
}

impl Source<'_> {
    fn is_external(&self) -> bool {
        self.state.is_some_and(|s| s.info.role == Role::External)
    }
    fn router_id(&self) -> Ipv4Addr {
        self.state
            .map_or(Ipv4Addr::UNSPECIFIED, |s| s.info.router_id)
    }
    fn address(&self) -> Option<IpAddr> {
        self.state.map(|s| s.info.address)
    }
}

type Step = fn(&Path, &Source, &Path, &Source) -> Ordering;

/// The steps in the order they apply. `Less` means the first path wins.
pub const STEPS: [(&str, Step); 10] = [
    ("local", prefer_local),
    ("local-pref", prefer_higher_local_pref),
    ("as-path", prefer_shorter_as_path),
    ("origin", prefer_lower_origin),
    ("med", prefer_lower_med),
    ("ebgp", prefer_external),
    ("router-id", prefer_lower_router_id),
    ("cluster-list", prefer_shorter_cluster_list),
    ("peer-address", prefer_lower_peer_address),
    ("path-id", prefer_lower_path_id),
];

/// Compares two paths: `Less` when `a` is better.
pub fn compare(a: &Path, sa: &Source, b: &Path, sb: &Source) -> Ordering {
    for (_, step) in STEPS {
        let o = step(a, sa, b, sb);
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// The name of the step that decided between two paths (for `show route`
/// detail), or `None` when they tie.
pub fn deciding_step(a: &Path, sa: &Source, b: &Path, sb: &Source) -> Option<&'static str> {
    STEPS
        .iter()
        .find(|(_, step)| step(a, sa, b, sb) != Ordering::Equal)
        .map(|(name, _)| *name)
}

fn prefer_local(_: &Path, sa: &Source, _: &Path, sb: &Source) -> Ordering {
    (sb.peer == LOCAL).cmp(&(sa.peer == LOCAL))
}

fn prefer_higher_local_pref(a: &Path, _: &Source, b: &Path, _: &Source) -> Ordering {
    let lp = |p: &Path| p.attrs.path.local_pref.unwrap_or(DEFAULT_LOCAL_PREF);
    lp(b).cmp(&lp(a))
}

fn prefer_shorter_as_path(a: &Path, _: &Source, b: &Path, _: &Source) -> Ordering {
    let len = |p: &Path| p.attrs.path.as_path.as_ref().map_or(0, |x| x.length());
    len(a).cmp(&len(b))
}

fn prefer_lower_origin(a: &Path, _: &Source, b: &Path, _: &Source) -> Ordering {
    let o = |p: &Path| p.attrs.path.origin.unwrap_or(Origin::Incomplete);
    o(a).cmp(&o(b))
}

fn prefer_lower_med(a: &Path, _: &Source, b: &Path, _: &Source) -> Ordering {
    let neighbour = |p: &Path| p.attrs.path.as_path.as_ref().and_then(|x| x.first_as());
    if neighbour(a) != neighbour(b) {
        return Ordering::Equal;
    }
    // A missing MED is the lowest value (RFC 4271 §9.1.2.2 c).
    let med = |p: &Path| p.attrs.path.med.unwrap_or(0);
    med(a).cmp(&med(b))
}

fn prefer_external(_: &Path, sa: &Source, _: &Path, sb: &Source) -> Ordering {
    sb.is_external().cmp(&sa.is_external())
}

fn prefer_lower_router_id(a: &Path, sa: &Source, b: &Path, sb: &Source) -> Ordering {
    let id = |p: &Path, s: &Source| p.attrs.path.originator_id.unwrap_or_else(|| s.router_id());
    id(a, sa).cmp(&id(b, sb))
}

fn prefer_shorter_cluster_list(a: &Path, _: &Source, b: &Path, _: &Source) -> Ordering {
    a.attrs
        .path
        .cluster_list
        .len()
        .cmp(&b.attrs.path.cluster_list.len())
}

fn prefer_lower_peer_address(_: &Path, sa: &Source, _: &Path, sb: &Source) -> Ordering {
    sa.address().cmp(&sb.address())
}

fn prefer_lower_path_id(a: &Path, sa: &Source, b: &Path, sb: &Source) -> Ordering {
    (sa.peer, a.path_id).cmp(&(sb.peer, b.path_id))
}
