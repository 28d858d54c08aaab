//! The control socket: a Unix domain socket (mode 0600, or 0660 for the
//! `control-group`) on which `bgpctl`
//! asks one question per connection. See [`ferry_control`] for the protocol.
//!
//! At most [`MAX_CLIENTS`] clients are served at once. A client must send
//! its request within [`REQUEST_TIMEOUT`]; when every place is taken, the
//! oldest client that has sent nothing yet gives its place to the new one,
//! and when every place is busy answering, the new client gets an error
//! answer (`too many control clients`) and is closed.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ferry_control::{Body, Request, Response};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tracing::{debug, warn};

use crate::bfd::BfdHandle;
use crate::core::CoreEvent;

/// The longest request line accepted.
const MAX_REQUEST: usize = 64 * 1024;

/// Clients served at once; one more is told so and closed.
pub const MAX_CLIENTS: usize = 64;

/// A client must send its whole request line within this time.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A client must take the whole answer within this time (large RIB
/// dumps included).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// A reload request to the daemon, with where to send its answer.
pub type ReloadRequest = oneshot::Sender<Response>;

/// Binds the control socket. A socket file left by a daemon that is gone
/// is replaced; one that still answers means another bgpd runs, which is
/// an error naming the path.
pub async fn bind(path: &Path, group: Option<u32>) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).map_err(|e| {
                io::Error::new(e.kind(), format!("creating {}: {e}", dir.display()))
            })?;
        }
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
        if UnixStream::connect(path).await.is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!(
                    "{}: another bgpd is answering on this socket",
                    path.display()
                ),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)
        .map_err(|e| io::Error::new(e.kind(), format!("binding {}: {e}", path.display())))?;
    match group {
        Some(gid) => {
            std::os::unix::fs::chown(path, None, Some(gid))
                .map_err(|e| io::Error::new(e.kind(), format!("chown {}: {e}", path.display())))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
        }
        None => std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?,
    }
    Ok(listener)
}

/// Clients connected but whose request has not arrived, oldest first,
/// each with the order to give up its place.
#[derive(Default)]
struct Waiting {
    next: u64,
    clients: std::collections::VecDeque<(u64, oneshot::Sender<()>)>,
}

type WaitingList = Arc<std::sync::Mutex<Waiting>>;

/// Serves control requests until the listener fails, to at most
/// [`MAX_CLIENTS`] clients at a time. When all places are taken, a new
/// client takes the place of the oldest one that has not sent its request
/// yet; when every place is busy answering, the new client gets an error
/// answer and is closed. A client that sends no request within
/// [`REQUEST_TIMEOUT`] is dropped.
pub async fn serve(
    listener: UnixListener,
    core: mpsc::Sender<CoreEvent>,
    reload: mpsc::Sender<ReloadRequest>,
    bfd: BfdHandle,
) {
    let places = Arc::new(Semaphore::new(MAX_CLIENTS));
    let waiting: WaitingList = Arc::default();
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let core = core.clone();
                let reload = reload.clone();
                let bfd = bfd.clone();
                let places = places.clone();
                let waiting = waiting.clone();
                tokio::spawn(async move {
                    let place = match places.clone().try_acquire_owned() {
                        Ok(p) => Some(p),
                        Err(_) if evict_oldest(&waiting) => {
                            tokio::time::timeout(Duration::from_secs(1), places.acquire_owned())
                                .await
                                .ok()
                                .and_then(Result::ok)
                        }
                        Err(_) => None,
                    };
                    let Some(place) = place else {
                        warn!(
                            limit = MAX_CLIENTS,
                            "control socket: every place busy; a client refused"
                        );
                        refuse(stream).await;
                        return;
                    };
                    if let Err(e) = answer(stream, core, reload, bfd, &waiting).await {
                        debug!(error = %e, "control connection");
                    }
                    drop(place);
                });
            }
            Err(e) => {
                warn!(error = %e, "control socket accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// Tells a client beyond [`MAX_CLIENTS`] to come back later.
async fn refuse(stream: UnixStream) {
    let response = Response::Error {
        message: format!("too many control clients (limit {MAX_CLIENTS}); try again"),
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), send_answer(stream, &response)).await;
}

async fn send_answer(mut stream: UnixStream, response: &Response) -> io::Result<()> {
    let mut text = serde_json::to_string(response).unwrap_or_else(|e| {
        format!("{{\"status\":\"error\",\"message\":\"encoding the answer: {e}\"}}")
    });
    text.push('\n');
    stream.write_all(text.as_bytes()).await?;
    stream.shutdown().await
}

/// Tells the oldest client still without a request to give up its
/// place; false when there is none.
fn evict_oldest(waiting: &WaitingList) -> bool {
    let mut w = waiting.lock().unwrap_or_else(|e| e.into_inner());
    while let Some((_, leave)) = w.clients.pop_front() {
        if leave.send(()).is_ok() {
            return true;
        }
    }
    false
}

async fn answer(
    stream: UnixStream,
    core: mpsc::Sender<CoreEvent>,
    reload: mpsc::Sender<ReloadRequest>,
    bfd: BfdHandle,
    waiting: &WaitingList,
) -> io::Result<()> {
    let mut stream = stream;
    let (leave_tx, leave) = oneshot::channel();
    let id = {
        let mut w = waiting.lock().unwrap_or_else(|e| e.into_inner());
        w.next += 1;
        let id = w.next;
        w.clients.push_back((id, leave_tx));
        id
    };
    let mut line = String::new();
    let mut reader = BufReader::new(&mut stream).take(MAX_REQUEST as u64);
    let read = tokio::select! {
        r = tokio::time::timeout(REQUEST_TIMEOUT, reader.read_line(&mut line)) => r.ok(),
        _ = leave => None,
    };
    waiting
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clients
        .retain(|(i, _)| *i != id);
    match read {
        Some(r) => {
            r?;
        }
        None => {
            debug!("control client sent no request in time; closed");
            return Ok(());
        }
    }
    drop(reader);
    let response = match serde_json::from_str::<Request>(line.trim()) {
        Err(e) => Response::Error {
            message: format!("invalid request: {e}"),
        },
        Ok(Request::Reload) => {
            let (tx, rx) = oneshot::channel();
            if reload.send(tx).await.is_err() {
                Response::Error {
                    message: "daemon is shutting down".into(),
                }
            } else {
                rx.await.unwrap_or(Response::Error {
                    message: "reload aborted".into(),
                })
            }
        }
        Ok(Request::BfdSessions) => Response::Ok {
            body: Body::BfdSessions {
                sessions: bfd.show().await,
            },
        },
        Ok(request) => {
            let (tx, rx) = oneshot::channel();
            if core
                .send(CoreEvent::Control { request, reply: tx })
                .await
                .is_err()
            {
                Response::Error {
                    message: "daemon is shutting down".into(),
                }
            } else {
                rx.await.unwrap_or(Response::Error {
                    message: "request dropped".into(),
                })
            }
        }
    };
    match tokio::time::timeout(ANSWER_TIMEOUT, send_answer(stream, &response)).await {
        Ok(sent) => sent,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "control client did not take its answer",
        )),
    }
}

use tokio::io::AsyncReadExt as _;

#[cfg(test)]
mod tests {
    use super::*;

    /// Asks a running daemon one question.
    async fn request(path: &Path, request: &Request) -> io::Result<Response> {
        let stream = UnixStream::connect(path).await?;
        let (read, mut write) = stream.into_split();
        let mut text = serde_json::to_string(request).map_err(io::Error::other)?;
        text.push('\n');
        write.write_all(text.as_bytes()).await?;
        let mut line = String::new();
        BufReader::new(read).read_line(&mut line).await?;
        serde_json::from_str(&line).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// With every place busy answering (a core that never replies), a new
    /// client gets an error line and is closed, while a silent one gives
    /// its place away.
    #[tokio::test]
    async fn clients_beyond_the_limit_are_told_and_closed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bgpd.sock");
        let listener = bind(&path, None).await.unwrap();
        // Nobody reads the core's queue: requests wait for ever.
        let (core, _core_rx) = mpsc::channel(1024);
        let (reload, _reload_rx) = mpsc::channel(8);
        tokio::spawn(serve(
            listener,
            core,
            reload,
            crate::bfd::BfdHandle::start(),
        ));
        let mut busy = Vec::new();
        for _ in 0..MAX_CLIENTS {
            let mut s = UnixStream::connect(&path).await.unwrap();
            s.write_all(b"{\"command\":\"summary\"}\n").await.unwrap();
            busy.push(s);
        }
        // Let the daemon take every request.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let answer = request(&path, &Request::Summary).await.unwrap();
        match answer {
            Response::Error { message } => assert!(message.contains("too many"), "{message}"),
            other => panic!("expected an error, got {other:?}"),
        }
        // The busy ones are still held.
        let mut b = [0u8; 1];
        for s in &mut busy {
            let r = tokio::time::timeout(Duration::from_millis(20), s.read(&mut b)).await;
            assert!(r.is_err(), "a busy client was closed");
        }
    }
}
