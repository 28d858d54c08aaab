//! The writing half of a connection: its own task, so that a slow peer
//! never blocks the session or the core; the session's own messages
//! ahead of the UPDATE backlog; closing with a NOTIFICATION in bounded
//! time; and the octet count the core's flow control reads.

use std::io;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::info;

use super::transport::WriteHalf;

use crate::core::CoreEvent;
use crate::peer_status::PeerStatus;

/// Octets to write, as queued by the core task.
#[derive(Clone, Debug)]
pub struct WriterHandle {
    pub(super) tx: mpsc::UnboundedSender<Vec<Bytes>>,
    pub(super) status: Arc<PeerStatus>,
}

/// Output flow control (XON/XOFF): past this many octets queued to a
/// peer, the core stops queuing UPDATEs to it and keeps what it still
/// needs as route keys (`ferry_rib::backlog`). 1 MiB is some 30k VPNv4
/// routes, several times what a socket buffer holds: enough to keep a fast
/// peer's socket busy (a million routes to 4 sinks converge as fast as
/// with 4 MiB), little per stuck one (a stuck client costs a million-route
/// reflector 2 %, a ROUTE-REFRESH storm 10 %: `benches/run --scenarios
/// stuck,storm`).
pub const HIGH_WATER: u64 = 1024 * 1024;

/// The writer tells the core (XON) when what is queued falls below this,
/// so that the core's next UPDATEs arrive before the socket runs dry.
pub const LOW_WATER: u64 = 256 * 1024;

impl WriterHandle {
    /// A handle whose messages go to the returned receiver rather than to
    /// a socket: the core's conformance tests read what it queues.
    pub fn channel(status: Arc<PeerStatus>) -> (WriterHandle, mpsc::UnboundedReceiver<Vec<Bytes>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (WriterHandle { tx, status }, rx)
    }

    /// Octets queued, not yet written.
    pub fn queued_octets(&self) -> u64 {
        self.status.out_queue_bytes.load(Ordering::SeqCst)
    }

    /// XOFF: the core stops queuing to this peer until the writer sends
    /// [`CoreEvent::Xon`]. Returns false when the queue already fell below
    /// [`LOW_WATER`] meanwhile (nothing to wait for: queue more now).
    pub fn throttle(&self) -> bool {
        self.status.xoff.store(true, Ordering::SeqCst);
        if self.queued_octets() < LOW_WATER {
            // Whoever clears the flag owns the XON: if the writer did, it
            // is on its way.
            return !self.status.xoff.swap(false, Ordering::SeqCst);
        }
        true
    }

    /// Queues messages; false when the connection is gone.
    pub fn send(&self, messages: Vec<Bytes>) -> bool {
        // Counted before the writer can take them off the queue.
        self.status.queued(&messages);
        if self.tx.send(messages).is_ok() {
            true
        } else {
            self.status.queue_cleared();
            false
        }
    }
}

/// How long closing a connection may take: finishing the message being
/// written, the NOTIFICATION, and its acknowledgement by the peer.
pub(super) const CLOSE_TIME: Duration = Duration::from_secs(1);

/// The writing half of a connection, owned by its own task so that a slow
/// peer never blocks the session or the core.
pub(super) struct Writer {
    pub(super) data: mpsc::UnboundedSender<Vec<Bytes>>,
    /// The session's own messages (OPEN, KEEPALIVE), written before any
    /// queued UPDATE, between whole messages.
    control: mpsc::Sender<Bytes>,
    status: Arc<PeerStatus>,
    /// Close now, after writing this NOTIFICATION (skipping queued data).
    /// Dropping the sender closes too, without a NOTIFICATION.
    abort: mpsc::UnboundedSender<Option<Bytes>>,
}

/// Why a writer task stopped writing.
enum WriterExit {
    /// Every sender is gone and everything queued was written.
    Drained,
    /// Close now, with this NOTIFICATION if there is one.
    Abort(Option<Bytes>),
    /// The socket failed.
    Failed,
}

impl Writer {
    // The data queue is an unbounded channel so that the core task never
    // waits on a peer, but what it holds is bounded in octets: the core
    // stops queuing at [`HIGH_WATER`] (flow control, XON/XOFF) and keeps
    // the rest as route keys; one event's UPDATEs may pass the mark, and
    // those are octets shared with the peer's update group. Its length is
    // `out_queue` in `show neighbor`; it goes with the connection.
    pub(super) fn spawn(half: WriteHalf, status: Arc<PeerStatus>, xon: Option<Xon>) -> Writer {
        let shared = status.clone();
        let (data, rx) = mpsc::unbounded_channel::<Vec<Bytes>>();
        let (control, control_rx) = mpsc::channel::<Bytes>(CONTROL_QUEUE);
        // At most a few close orders per connection; the first ends it.
        let (abort, abort_rx) = mpsc::unbounded_channel::<Option<Bytes>>();
        tokio::spawn(write_loop(
            half,
            status,
            Queues {
                data: rx,
                control: control_rx,
                abort: abort_rx,
                xon,
            },
        ));
        Writer {
            data,
            control,
            status: shared,
            abort,
        }
    }

    /// Queues a message of the session's own ahead of the UPDATEs. With
    /// [`CONTROL_QUEUE`] messages already waiting (a peer that has not
    /// read for several keepalive intervals) it is dropped: a KEEPALIVE
    /// already waiting says the same.
    pub(super) fn send(&self, m: Bytes) {
        self.status.queued(std::slice::from_ref(&m));
        if let Err(e) = self.control.try_send(m) {
            let m = match e {
                mpsc::error::TrySendError::Full(m) | mpsc::error::TrySendError::Closed(m) => m,
            };
            self.status.dequeued(&m);
        }
    }

    pub(super) fn close_with(&self, notification: Option<Bytes>) {
        let _ = self.abort.send(notification);
    }
}

/// Room for the session's own messages: an OPEN and KEEPALIVEs, one per
/// keepalive interval while the peer does not read.
const CONTROL_QUEUE: usize = 4;

/// Where a writer says XON: the core's queue and the peer's address.
#[derive(Clone)]
pub(super) struct Xon {
    pub(super) core: mpsc::Sender<CoreEvent>,
    pub(super) addr: IpAddr,
}

impl Xon {
    /// Tells the core without waiting for room in its queue: one XON per
    /// XOFF, so at most one per peer is ever waiting.
    fn send(&self) {
        let ev = CoreEvent::Xon { addr: self.addr };
        if let Err(mpsc::error::TrySendError::Full(ev)) = self.core.try_send(ev) {
            let core = self.core.clone();
            tokio::spawn(async move {
                let _ = core.send(ev).await;
            });
        }
    }
}

/// What a writer task reads from.
struct Queues {
    /// UPDATE batches from the core (and the session's messages never).
    data: mpsc::UnboundedReceiver<Vec<Bytes>>,
    /// The session's OPEN and KEEPALIVEs, served first.
    control: mpsc::Receiver<Bytes>,
    abort: mpsc::UnboundedReceiver<Option<Bytes>>,
    /// XON to the core once below [`LOW_WATER`] after an XOFF.
    xon: Option<Xon>,
}

/// Writes queued messages until told to close. A close order is seen at
/// once, even while the peer does not read: it interrupts the write
/// under way, finishes the message being written and sends the
/// NOTIFICATION within [`CLOSE_TIME`], and resets the connection (RST)
/// when octets are still unacknowledged, so that no socket and queue
/// outlive the session.
///
/// The session's own messages (KEEPALIVE above all) never wait behind
/// the UPDATE backlog: each time a whole message is out, the control
/// queue is served first.
async fn write_loop(mut half: WriteHalf, status: Arc<PeerStatus>, queues: Queues) {
    let Queues {
        data: mut rx,
        control: mut control_rx,
        abort: mut abort_rx,
        xon,
    } = queues;
    let mut queue: std::collections::VecDeque<Bytes> = std::collections::VecDeque::new();
    // The message being written and how much of it is out.
    let mut current: Option<(Bytes, usize)> = None;
    let mut data_open = true;
    let exit = loop {
        if current.is_none() {
            if let Ok(m) = control_rx.try_recv() {
                current = Some((m, 0));
            } else if let Some(m) = queue.pop_front() {
                current = Some((m, 0));
            }
            // The send hold timer runs while there is output (RFC 9687).
            match current {
                Some(_) => status.write_pending(),
                None => status.write_progress(false),
            }
        }
        match current.as_mut() {
            None if !data_open => break WriterExit::Drained,
            None => tokio::select! {
                biased;
                last = abort_rx.recv() => break WriterExit::Abort(last.flatten()),
                Some(m) = control_rx.recv() => current = Some((m, 0)),
                batch = rx.recv() => match batch {
                    Some(b) => queue.extend(b),
                    None => data_open = false,
                },
            },
            Some((m, off)) => tokio::select! {
                biased;
                last = abort_rx.recv() => break WriterExit::Abort(last.flatten()),
                // `write` is cancel-safe: nothing is written when the
                // abort branch wins.
                r = half.write(&m[*off..]) => match r {
                    Ok(0) | Err(_) => break WriterExit::Failed,
                    Ok(n) => {
                        *off += n;
                        status.write_progress(true);
                        if *off == m.len() {
                            status.sent(m, true);
                            current = None;
                            if status.xoff.load(Ordering::SeqCst)
                                && status.out_queue_bytes.load(Ordering::SeqCst) < LOW_WATER
                                && status.xoff.swap(false, Ordering::SeqCst)
                            {
                                if let Some(x) = &xon {
                                    x.send();
                                }
                            }
                        }
                    }
                },
            },
        }
    };
    drop(queue);
    rx.close();
    control_rx.close();
    status.queue_cleared();
    status.write_progress(false);
    match exit {
        WriterExit::Drained => {
            let _ = tokio::time::timeout(CLOSE_TIME, half.shutdown()).await;
        }
        WriterExit::Failed => half.reset(),
        WriterExit::Abort(notification) => {
            let until = Instant::now() + CLOSE_TIME;
            let sent = tokio::time::timeout_at(until, async {
                // A NOTIFICATION can follow only a whole message.
                if let Some((m, off)) = &current {
                    half.write_all(&m[*off..]).await?;
                }
                if let Some(n) = &notification {
                    half.write_all(n).await?;
                }
                // Wait for the peer to acknowledge what was written.
                while half.unacknowledged_octets()? > 0 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                io::Result::Ok(())
            })
            .await;
            match sent {
                Ok(Ok(())) => {
                    if let Some(n) = &notification {
                        status.sent(n, false);
                    }
                    let _ = tokio::time::timeout(CLOSE_TIME, half.shutdown()).await;
                }
                _ => {
                    if notification.is_some() {
                        let peer = status.config().address;
                        info!(%peer, "NOTIFICATION not delivered within {CLOSE_TIME:?}; connection reset");
                    }
                    half.reset();
                }
            }
        }
    }
}
