//! The sessions of the injectors and sinks: OPEN exchange, a sink that
//! counts the routes it holds by scanning NLRI in place, keepalives.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_wire::message::capability::Capability;
use ferry_wire::message::open::Open;
use ferry_wire::{EncodeContext, Family, Message};

use crate::{DUT, LOCAL_AS};

/// Routes a peer holds: a bit per route index, per family.
struct Held {
    bits: Vec<u64>,
    count: u64,
}

impl Held {
    fn new(n: u32) -> Held {
        Held {
            bits: vec![0; (n as usize).div_ceil(64).max(1)],
            count: 0,
        }
    }
    fn set(&mut self, i: u32, on: bool) {
        let (w, b) = ((i / 64) as usize, 1u64 << (i % 64));
        let Some(word) = self.bits.get_mut(w) else {
            return;
        };
        if on && *word & b == 0 {
            *word |= b;
            self.count += 1;
        } else if !on && *word & b != 0 {
            *word &= !b;
            self.count -= 1;
        }
    }
}

#[derive(Default)]
pub(crate) struct Counts {
    pub(crate) type5: AtomicU64,
    pub(crate) vpnv4: AtomicU64,
    pub(crate) updates: AtomicU64,
    pub(crate) closed: AtomicBool,
    pub(crate) error: Mutex<Option<String>>,
}

pub(crate) struct Peer {
    pub(crate) addr: Ipv4Addr,
    pub(crate) stream: TcpStream,
    pub(crate) write: Mutex<()>,
    pub(crate) counts: Arc<Counts>,
}

impl Peer {
    pub(crate) fn send(&self, bytes: &[u8]) -> std::io::Result<()> {
        let _g = self.write.lock().expect("lock");
        (&self.stream).write_all(bytes)
    }
}

fn index_of(prefix: &[u8]) -> Option<u32> {
    let a = u32::from_be_bytes(prefix.get(..4)?.try_into().ok()?);
    a.checked_sub(u32::from(Ipv4Addr::new(10, 0, 0, 0)))
        .map(|d| d >> 2)
}

/// Walks the NLRI of one MP_REACH/MP_UNREACH of EVPN or VPNv4 in place.
fn scan_nlri(afi: u16, safi: u8, mut b: &[u8], on: bool, t5: &mut Held, v4: &mut Held) {
    match (afi, safi) {
        (25, 70) => {
            while b.len() >= 2 {
                let (kind, len) = (b[0], b[1] as usize);
                let Some(body) = b.get(2..2 + len) else {
                    return;
                };
                if kind == 5 && len == 34 {
                    if let Some(i) = index_of(&body[23..27]) {
                        t5.set(i, on);
                    }
                }
                b = &b[2 + len..];
            }
        }
        (1, 128) => {
            while !b.is_empty() {
                let bytes = (b[0] as usize).div_ceil(8);
                let Some(body) = b.get(1..1 + bytes) else {
                    return;
                };
                if bytes >= 15 {
                    if let Some(i) = index_of(&body[11..15]) {
                        v4.set(i, on);
                    }
                }
                b = &b[1 + bytes..];
            }
        }
        _ => {}
    }
}

/// The UPDATE body (after the 19-octet header).
fn scan_update(body: &[u8], t5: &mut Held, v4: &mut Held) {
    let Some(wl) = body
        .get(..2)
        .map(|x| u16::from_be_bytes([x[0], x[1]]) as usize)
    else {
        return;
    };
    let Some(al) = body
        .get(2 + wl..4 + wl)
        .map(|x| u16::from_be_bytes([x[0], x[1]]) as usize)
    else {
        return;
    };
    let Some(mut attrs) = body.get(4 + wl..4 + wl + al) else {
        return;
    };
    while attrs.len() >= 3 {
        let (flags, code) = (attrs[0], attrs[1]);
        let (len, hdr) = if flags & 0x10 != 0 {
            if attrs.len() < 4 {
                return;
            }
            (u16::from_be_bytes([attrs[2], attrs[3]]) as usize, 4)
        } else {
            (attrs[2] as usize, 3)
        };
        let Some(v) = attrs.get(hdr..hdr + len) else {
            return;
        };
        if code == 14 && v.len() >= 5 {
            let (afi, safi, nhl) = (u16::from_be_bytes([v[0], v[1]]), v[2], v[3] as usize);
            if let Some(nlri) = v.get(5 + nhl..) {
                scan_nlri(afi, safi, nlri, true, t5, v4);
            }
        } else if code == 15 && v.len() >= 3 {
            scan_nlri(
                u16::from_be_bytes([v[0], v[1]]),
                v[2],
                &v[3..],
                false,
                t5,
                v4,
            );
        }
        attrs = &attrs[hdr + len..];
    }
}

fn read_message(s: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut hdr = [0u8; 19];
    s.read_exact(&mut hdr)?;
    let len = u16::from_be_bytes([hdr[16], hdr[17]]) as usize;
    if !(19..=65535).contains(&len) {
        return Err(std::io::Error::other(format!("bad message length {len}")));
    }
    let mut body = vec![0u8; len - 19];
    s.read_exact(&mut body)?;
    Ok((hdr[18], body))
}

pub(crate) const KEEPALIVE: [u8; 19] = {
    let mut k = [0xffu8; 19];
    k[16] = 0;
    k[17] = 19;
    k[18] = 4;
    k
};

/// Opens a session from `addr` to the device; returns once Established,
/// with a thread counting what the device sends.
pub(crate) fn connect(addr: Ipv4Addr, evpn: bool, n5: u32, n4: u32) -> Result<Arc<Peer>, String> {
    connect_sink(addr, evpn, n5, n4, 1 << 18)
}

/// [`connect`] with a sink reading into a buffer of `buf` octets.
pub(crate) fn connect_sink(
    addr: Ipv4Addr,
    evpn: bool,
    n5: u32,
    n4: u32,
    buf: usize,
) -> Result<Arc<Peer>, String> {
    let stream = open_session(addr, evpn, None)?;
    let counts = Arc::new(Counts::default());
    let reader = stream.try_clone().map_err(|e| e.to_string())?;
    let c = counts.clone();
    std::thread::Builder::new()
        .name(format!("sink-{addr}"))
        .stack_size(256 * 1024)
        .spawn(move || sink(reader, c, n5, n4, buf))
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(Peer {
        addr,
        stream,
        write: Mutex::new(()),
        counts,
    }))
}

/// Opens a session from `addr` (with a receive buffer of `rcvbuf` octets
/// when given) and returns its stream once Established.
pub(crate) fn open_session(
    addr: Ipv4Addr,
    evpn: bool,
    rcvbuf: Option<usize>,
) -> Result<TcpStream, String> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .map_err(|e| e.to_string())?;
    if let Some(n) = rcvbuf {
        // Before connect(), so the window scale offered stays small.
        sock.set_recv_buffer_size(n).map_err(|e| e.to_string())?;
    }
    sock.bind(&SocketAddr::V4(SocketAddrV4::new(addr, 0)).into())
        .map_err(|e| format!("bind {addr}: {e}"))?;
    sock.connect_timeout(
        &SocketAddr::V4(SocketAddrV4::new(DUT, 179)).into(),
        Duration::from_secs(5),
    )
    .map_err(|e| format!("connect from {addr}: {e}"))?;
    let mut stream: TcpStream = sock.into();
    stream.set_nodelay(true).ok();
    let mut caps = vec![
        Capability::Multiprotocol {
            family: Family::VPNV4,
        },
        Capability::RouteRefresh,
        Capability::FourOctetAs { asn: LOCAL_AS },
    ];
    if evpn {
        caps.push(Capability::Multiprotocol {
            family: Family::EVPN,
        });
    }
    let open = Message::Open(Open::new(LOCAL_AS, 240, addr, caps))
        .to_bytes(&EncodeContext::default())
        .map_err(|e| e.to_string())?;
    stream.write_all(&open).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut opened = false;
    loop {
        let (kind, body) = read_message(&mut stream).map_err(|e| format!("{addr}: {e}"))?;
        match kind {
            1 => {
                opened = true;
                stream.write_all(&KEEPALIVE).map_err(|e| e.to_string())?;
            }
            4 if opened => break,
            3 => {
                return Err(format!(
                    "{addr}: NOTIFICATION {}/{} from the device",
                    body.first().unwrap_or(&0),
                    body.get(1).unwrap_or(&0)
                ))
            }
            _ => {}
        }
    }
    Ok(stream)
}

fn sink(mut s: TcpStream, counts: Arc<Counts>, n5: u32, n4: u32, buf: usize) {
    let (mut t5, mut v4) = (Held::new(n5), Held::new(n4));
    let mut buf = vec![0u8; buf];
    let (mut start, mut end) = (0usize, 0usize);
    s.set_read_timeout(None).ok();
    let fail = |why: String| {
        *counts.error.lock().expect("lock") = Some(why);
        counts.closed.store(true, Ordering::SeqCst);
    };
    loop {
        if end == buf.len() {
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        match s.read(&mut buf[end..]) {
            Ok(0) => return fail("the device closed the session".into()),
            Ok(n) => end += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return fail(e.to_string()),
        }
        let mut seen = false;
        while end - start >= 19 {
            let len = u16::from_be_bytes([buf[start + 16], buf[start + 17]]) as usize;
            if len < 19 {
                return fail(format!("bad message length {len}"));
            }
            if end - start < len {
                break;
            }
            let msg = &buf[start..start + len];
            match msg[18] {
                2 => {
                    scan_update(&msg[19..], &mut t5, &mut v4);
                    counts.updates.fetch_add(1, Ordering::Relaxed);
                    seen = true;
                }
                3 => {
                    return fail(format!(
                        "NOTIFICATION {}/{}",
                        msg.get(19).unwrap_or(&0),
                        msg.get(20).unwrap_or(&0)
                    ))
                }
                _ => {}
            }
            start += len;
        }
        if start == end {
            start = 0;
            end = 0;
        } else if start > buf.len() / 2 {
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        if seen {
            counts.type5.store(t5.count, Ordering::Release);
            counts.vpnv4.store(v4.count, Ordering::Release);
        }
    }
}

/// Sends a KEEPALIVE on every session every 20 s while `peers` lives.
pub(crate) fn keepalives(peers: &Arc<Mutex<Vec<Arc<Peer>>>>) {
    let weak = Arc::downgrade(peers);
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(20));
        let Some(peers) = weak.upgrade() else { return };
        let list = peers.lock().expect("lock").clone();
        for p in list {
            let _ = p.send(&KEEPALIVE);
        }
    });
}
