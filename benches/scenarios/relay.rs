//! The harness floor: a stand-in for the device that keeps no routes. It
//! answers OPEN and copies every UPDATE the injector sends to every sink,
//! as received, so a run against it shows how fast the injector and the
//! sinks themselves go.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};

use ferry_wire::message::capability::Capability;
use ferry_wire::message::open::Open;
use ferry_wire::{EncodeContext, Family, Message};

use crate::{DUT, KEEPALIVE, LOCAL_AS};

/// UPDATEs queued to one sink's writer, in chunks as read from the
/// injector. The injector's reader waits when a sink's queue is full, so
/// at most this many chunks (of up to 1 MiB, shared by every sink) live.
const QUEUE: usize = 64;

type Sinks = Arc<Mutex<Vec<SyncSender<Arc<[u8]>>>>>;

/// Serves on 127.0.0.1:179 until killed.
pub(crate) fn serve() {
    let listener = match TcpListener::bind((DUT, 179)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("relay: bind {DUT}:179: {e}");
            std::process::exit(1);
        }
    };
    let sinks: Sinks = Arc::default();
    for conn in listener.incoming() {
        let Ok(s) = conn else { continue };
        let sinks = sinks.clone();
        let _ = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || session(s, sinks));
    }
}

fn session(mut s: TcpStream, sinks: Sinks) {
    s.set_nodelay(true).ok();
    let Ok(SocketAddr::V4(peer)) = s.peer_addr() else {
        return;
    };
    let caps = vec![
        Capability::Multiprotocol {
            family: Family::VPNV4,
        },
        Capability::Multiprotocol {
            family: Family::EVPN,
        },
        Capability::RouteRefresh,
        Capability::FourOctetAs { asn: LOCAL_AS },
    ];
    let Ok(open) =
        Message::Open(Open::new(LOCAL_AS, 240, DUT, caps)).to_bytes(&EncodeContext::default())
    else {
        return;
    };
    if s.write_all(&open)
        .and_then(|_| s.write_all(&KEEPALIVE))
        .is_err()
    {
        return;
    }
    if peer.ip().octets()[..3] == [127, 0, 3] {
        return injector(s, &sinks);
    }
    let (tx, rx) = sync_channel::<Arc<[u8]>>(QUEUE);
    sinks.lock().expect("lock").push(tx);
    // The sink's OPEN and KEEPALIVEs: read and dropped.
    if let Ok(mut r) = s.try_clone() {
        let _ = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || {
                let mut b = [0u8; 4096];
                while matches!(r.read(&mut b), Ok(n) if n > 0) {}
            });
    }
    for chunk in rx {
        if s.write_all(&chunk).is_err() {
            return;
        }
    }
}

/// Reads the injector's messages and hands its UPDATEs to every sink.
fn injector(mut s: TcpStream, sinks: &Sinks) {
    let mut buf = vec![0u8; 1 << 20];
    let (mut start, mut end) = (0usize, 0usize);
    loop {
        if start > 0 {
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        match s.read(&mut buf[end..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => end += n,
        }
        let mut out = Vec::with_capacity(end - start);
        while end - start >= 19 {
            let len = u16::from_be_bytes([buf[start + 16], buf[start + 17]]) as usize;
            if len < 19 {
                return;
            }
            if end - start < len {
                break;
            }
            if buf[start + 18] == 2 {
                out.extend_from_slice(&buf[start..start + len]);
            }
            start += len;
        }
        if out.is_empty() {
            continue;
        }
        let chunk: Arc<[u8]> = out.into();
        let list = sinks.lock().expect("lock").clone();
        for tx in list {
            let _ = tx.send(chunk.clone());
        }
    }
}
