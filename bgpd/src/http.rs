//! The HTTP endpoints of `http-listen`, for Prometheus and Kubernetes:
//!
//! * `GET /metrics` — the Prometheus text exposition ([`crate::metrics`]);
//! * `GET /livez` — 200 when the core task answers within 1 s, else 503;
//! * `GET /readyz` — 200 when the daemon serves its role, else 503 with
//!   the reasons, one per line ([`readiness`]).
//!
//! Connections are served one request each (no keep-alive), at most
//! [`MAX_CONNECTIONS`] at once, each within [`CONNECTION_TIME`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferry_control::{self as proto, Body, VrfInfo};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tracing::{debug, info, warn};

use crate::config::{Config, MESH_GROUP};
use crate::core::{current, CoreEvent, SharedConfig};
use crate::fsm::State;
use crate::metrics::{ReloadCounters, RibSnapshot, Scrape, KERNEL};
use crate::peer_status::PeerTable;

/// Connections served at once; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 32;
/// How long one connection may take, request and answer.
pub const CONNECTION_TIME: Duration = Duration::from_secs(10);
/// How long the core (and the worker) may take to answer.
pub const CORE_ANSWER_TIME: Duration = Duration::from_secs(1);

/// What the endpoints read.
pub struct HttpState {
    pub config: SharedConfig,
    pub peers: PeerTable,
    pub core: mpsc::Sender<CoreEvent>,
    pub reloads: Arc<ReloadCounters>,
}

/// Binds `http-listen`.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves the endpoints until the runtime stops.
pub async fn serve(listener: TcpListener, state: Arc<HttpState>) {
    info!(address = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "serving /metrics, /livez and /readyz");
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let (stream, from) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "http: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(answer(&state, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            match tokio::time::timeout(CONNECTION_TIME, conn).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => debug!(%from, error = %e, "http: connection"),
                Err(_) => debug!(%from, "http: connection took too long; closed"),
            }
            drop(permit);
        });
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

async fn answer(state: &HttpState, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n".into());
    }
    match req.uri().path() {
        "/livez" => {
            if ping(&state.core).await {
                text(StatusCode::OK, "ok\n".into())
            } else {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the core task did not answer within 1 s\n".into(),
                )
            }
        }
        "/readyz" => {
            let cfg = current(&state.config);
            let core_ok = ping(&state.core).await;
            let vrfs = if cfg.kernel_sync {
                vrfs(&state.core).await
            } else {
                None
            };
            let reasons = readiness(&cfg, &state.peers, core_ok, vrfs.as_deref());
            if reasons.is_empty() {
                text(StatusCode::OK, "ready\n".into())
            } else {
                let mut body = reasons.join("\n");
                body.push('\n');
                text(StatusCode::SERVICE_UNAVAILABLE, body)
            }
        }
        "/metrics" => {
            let cfg = current(&state.config);
            let rib = rib_snapshot(&state.core).await;
            let vrfs = if cfg.kernel_sync {
                vrfs(&state.core).await
            } else {
                None
            };
            let ready = readiness(&cfg, &state.peers, rib.is_some(), vrfs.as_deref()).is_empty();
            let body = crate::metrics::render(&Scrape {
                config: &cfg,
                peers: &state.peers,
                rib: rib.as_ref(),
                vrfs: vrfs.as_deref(),
                reloads: &state.reloads,
                ready,
            });
            let mut r = text(StatusCode::OK, body);
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(
                    prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
                ),
            );
            r
        }
        "/" => text(StatusCode::OK, "bgpd: /metrics /livez /readyz\n".into()),
        other => text(StatusCode::NOT_FOUND, format!("no such page {other:?}\n")),
    }
}

/// Sends `ev` to the core and waits for its answer, within
/// [`CORE_ANSWER_TIME`] in all (a full queue counts against it).
async fn ask<T>(
    core: &mpsc::Sender<CoreEvent>,
    ev: CoreEvent,
    rx: oneshot::Receiver<T>,
) -> Option<T> {
    tokio::time::timeout(CORE_ANSWER_TIME, async {
        core.send(ev).await.ok()?;
        rx.await.ok()
    })
    .await
    .ok()
    .flatten()
}

async fn ping(core: &mpsc::Sender<CoreEvent>) -> bool {
    let (reply, rx) = oneshot::channel();
    ask(core, CoreEvent::Ping { reply }, rx).await.is_some()
}

async fn rib_snapshot(core: &mpsc::Sender<CoreEvent>) -> Option<RibSnapshot> {
    let (reply, rx) = oneshot::channel();
    ask(core, CoreEvent::Metrics { reply }, rx).await
}

async fn vrfs(core: &mpsc::Sender<CoreEvent>) -> Option<Vec<VrfInfo>> {
    let (reply, rx) = oneshot::channel();
    let ev = CoreEvent::Control {
        request: proto::Request::Vrfs { name: None },
        reply,
    };
    match ask(core, ev, rx).await? {
        proto::Response::Ok {
            body: Body::Vrfs { vrfs },
        } => Some(vrfs),
        _ => None,
    }
}

/// Why the daemon does not serve its role now, one reason per line; empty
/// when it does.
///
/// * A worker: an Established session with at least one route reflector
///   that has sent End-of-RIB for every family of the session, and (with
///   kernel sync) the kernel in sync.
/// * A route reflector: its configuration loaded and its BGP socket
///   listening (both hold once the endpoints are served), and with a
///   cluster mesh, at least one session with another cluster's reflector
///   Established.
///
/// Either way the core task must answer (`core_ok`). `vrfs` is the
/// worker's VRFs, `None` when it did not answer.
pub fn readiness(
    cfg: &Config,
    peers: &PeerTable,
    core_ok: bool,
    vrfs: Option<&[VrfInfo]>,
) -> Vec<String> {
    let mut reasons = Vec::new();
    if !core_ok {
        reasons.push("the core task did not answer within 1 s".to_string());
    }
    let mut list: Vec<(std::net::IpAddr, String, State, Vec<ferry_wire::Family>)> = peers
        .iter()
        .map(|e| {
            let st = e.value();
            let d = st.detail();
            let missing = match (&d.negotiated, d.state) {
                (Some(n), State::Established) => n
                    .families
                    .iter()
                    .filter(|f| !st.has_end_of_rib(*f))
                    .collect(),
                _ => Vec::new(),
            };
            (*e.key(), st.config().group, d.state, missing)
        })
        .collect();
    list.sort_by_key(|p| p.0);
    let states = |ps: &[&(std::net::IpAddr, String, State, Vec<ferry_wire::Family>)]| {
        ps.iter()
            .map(|p| format!("{} {}", p.0, p.2.name()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if cfg.is_reflector() {
        if let Some(mesh) = &cfg.cluster_mesh {
            let others = mesh
                .clusters
                .iter()
                .filter(|c| c.name != mesh.local_cluster)
                .count();
            let sessions: Vec<_> = list.iter().filter(|p| p.1 == MESH_GROUP).collect();
            if others > 0 && sessions.is_empty() {
                reasons.push(
                    "cluster mesh: no route reflector of another cluster resolves".to_string(),
                );
            } else if !sessions.is_empty() && !sessions.iter().any(|p| p.2 == State::Established) {
                reasons.push(format!(
                    "cluster mesh: no session with another cluster's route reflector is Established ({})",
                    states(&sessions)
                ));
            }
        }
    } else {
        let all: Vec<_> = list.iter().collect();
        let up: Vec<_> = list.iter().filter(|p| p.2 == State::Established).collect();
        if all.is_empty() {
            reasons.push("no route reflector is configured".to_string());
        } else if up.is_empty() {
            reasons.push(format!(
                "no Established session with a route reflector ({})",
                states(&all)
            ));
        } else if !up.iter().any(|p| p.3.is_empty()) {
            let waiting = up
                .iter()
                .map(|p| {
                    let fams: Vec<String> = p.3.iter().map(|f| f.to_string()).collect();
                    format!("{} ({})", p.0, fams.join(", "))
                })
                .collect::<Vec<_>>()
                .join(", ");
            reasons.push(format!(
                "no End-of-RIB yet from a route reflector: waiting for {waiting}"
            ));
        }
        if cfg.kernel_sync {
            match vrfs {
                None => reasons.push("the worker task did not answer within 1 s".to_string()),
                Some(v) => reasons.extend(KERNEL.not_in_sync(v)),
            }
        }
    }
    reasons
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use dashmap::DashMap;

    use super::*;
    use crate::config::from_str;
    use crate::peer_status::PeerStatus;

    fn table(cfg: &Config, states: &[(&str, State)]) -> PeerTable {
        let peers: PeerTable = Arc::new(DashMap::new());
        for (addr, state) in states {
            let a = addr.parse().unwrap();
            let n = cfg
                .neighbor(a)
                .or_else(|| cfg.match_dynamic(a))
                .expect("a neighbour of the configuration");
            let st = PeerStatus::new(n);
            st.set_state(*state);
            let (commands, _) = tokio::sync::mpsc::channel(1);
            peers.insert(
                a,
                crate::peer_status::Neighbor {
                    status: Arc::new(st),
                    commands,
                },
            );
        }
        peers
    }

    const MESH: &str = r#"
router-id = "10.0.0.1"
local-as = 64512
cluster-id = "10.0.0.1"
[[group]]
name = "workers"
route-reflector-client = true
allow = ["10.10.0.0/16"]
[cluster-mesh]
local-cluster = "a"
clusters = [{ name = "a", route-reflectors = ["10.0.0.1"] },
            { name = "b", route-reflectors = ["10.0.1.1", "10.0.1.2"] }]
"#;

    #[test]
    fn a_reflector_of_a_mesh_is_ready_with_one_session_to_another_cluster() {
        let cfg = from_str(MESH, "test.toml").unwrap();
        let down = table(
            &cfg,
            &[("10.0.1.1", State::Active), ("10.0.1.2", State::Connect)],
        );
        assert_eq!(
            readiness(&cfg, &down, true, None),
            vec!["cluster mesh: no session with another cluster's route reflector is Established (10.0.1.1 Active, 10.0.1.2 Connect)".to_string()]
        );
        let one = table(
            &cfg,
            &[
                ("10.0.1.1", State::Established),
                ("10.0.1.2", State::Connect),
            ],
        );
        assert!(readiness(&cfg, &one, true, None).is_empty());
        assert_eq!(
            readiness(&cfg, &one, false, None),
            vec!["the core task did not answer within 1 s".to_string()]
        );
        // Clients do not matter to a reflector.
        let plain = from_str(&MESH[..MESH.find("[cluster-mesh]").unwrap()], "t").unwrap();
        assert!(readiness(&plain, &table(&plain, &[]), true, None).is_empty());
    }

    #[test]
    fn a_worker_is_ready_with_a_reflectors_end_of_rib() {
        let cfg = from_str(
            "router-id = \"10.0.0.9\"\nlocal-as = 64512\nkernel-sync = false\n[[group]]\nname = \"rr\"\nneighbors = [\"10.0.0.1\", \"10.0.0.2\"]\nfamilies = [\"evpn\"]\n",
            "test.toml",
        )
        .unwrap();
        let peers = table(
            &cfg,
            &[("10.0.0.1", State::Idle), ("10.0.0.2", State::Active)],
        );
        assert_eq!(
            readiness(&cfg, &peers, true, None),
            vec![
                "no Established session with a route reflector (10.0.0.1 Idle, 10.0.0.2 Active)"
                    .to_string()
            ]
        );
        let none = from_str(
            "router-id = \"10.0.0.9\"\nlocal-as = 64512\nkernel-sync = false\n",
            "t",
        )
        .unwrap();
        assert_eq!(
            readiness(&none, &table(&none, &[]), true, None),
            vec!["no route reflector is configured".to_string()]
        );
    }
}
