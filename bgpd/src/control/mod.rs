//! The control socket: a Unix domain socket (mode 0600, or 0660 for the
//! `control-group`) on which `bgpctl`
//! asks one question per connection. See [`proto`] for the protocol.

pub mod proto;

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

use crate::bfd::BfdHandle;
use crate::core::CoreEvent;
use proto::{Request, Response};

/// The longest request line accepted.
const MAX_REQUEST: usize = 64 * 1024;

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

/// Serves control requests until the listener fails.
pub async fn serve(
    listener: UnixListener,
    core: mpsc::Sender<CoreEvent>,
    reload: mpsc::Sender<ReloadRequest>,
    bfd: BfdHandle,
) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let core = core.clone();
                let reload = reload.clone();
                let bfd = bfd.clone();
                tokio::spawn(async move {
                    if let Err(e) = answer(stream, core, reload, bfd).await {
                        debug!(error = %e, "control connection");
                    }
                });
            }
            Err(e) => {
                warn!(error = %e, "control socket accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn answer(
    stream: UnixStream,
    core: mpsc::Sender<CoreEvent>,
    reload: mpsc::Sender<ReloadRequest>,
    bfd: BfdHandle,
) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read).take(MAX_REQUEST as u64);
    reader.read_line(&mut line).await?;
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
            body: proto::Body::BfdSessions {
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
    let mut text = serde_json::to_string(&response).unwrap_or_else(|e| {
        format!("{{\"status\":\"error\",\"message\":\"encoding the answer: {e}\"}}")
    });
    text.push('\n');
    write.write_all(text.as_bytes()).await?;
    write.shutdown().await
}

/// Asks a running daemon one question (used by `bgpctl` and tests).
pub async fn request(path: &PathBuf, request: &Request) -> io::Result<Response> {
    let stream = UnixStream::connect(path).await?;
    let (read, mut write) = stream.into_split();
    let mut text = serde_json::to_string(request).map_err(io::Error::other)?;
    text.push('\n');
    write.write_all(text.as_bytes()).await?;
    let mut line = String::new();
    BufReader::new(read).read_line(&mut line).await?;
    serde_json::from_str(&line).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

use tokio::io::AsyncReadExt as _;
