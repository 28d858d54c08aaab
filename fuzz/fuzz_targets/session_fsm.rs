//! bgpd's session logic without the sockets: the FSM (`ferry_bgpd::fsm`)
//! driven from Idle through the OPEN exchange — with or without the
//! Extended Message capability, as the input chooses — and on with
//! timers, TCP events and arbitrary messages of up to 65535 octets, read
//! the way the session reads them (framing at the negotiated maximum,
//! then `Event::from_message`).
//!
//! Every message an action asks to send (OPEN, KEEPALIVE, NOTIFICATION)
//! is encoded with the session's own `encode_message` and the context the
//! FSM names for it; encoding must never fail, the result must fit the
//! negotiated maximum (4096 octets for OPEN and KEEPALIVE, RFC 8654 §4)
//! and the peer must be able to read it back.
//!
//! Input: one byte of session options, then operations, each a tag byte
//! and its operands (see `Op`). Short inputs describe long messages: a
//! message is given by its declared length, a few octets of content and
//! a fill octet.
#![no_main]

use std::net::Ipv4Addr;

use ferry_bgpd::fsm::{Action, Event, Fsm, State};
use ferry_bgpd::negotiate::LocalParams;
use ferry_bgpd::session::encode_message;
use ferry_wire::context::MAX_MESSAGE_LEN;
use ferry_wire::{frame_length, Family, FamilySet, Message};
use libfuzzer_sys::fuzz_target;

const LOCAL_AS: u32 = 64512;
const LOCAL_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (b, rest) = self.0.split_at(n);
        self.0 = rest;
        b
    }
}

/// A whole message: marker, `len` (at least the header), type, then
/// `content` padded with `fill` (or cut) to `len`.
fn message(kind: u8, len: u16, content: &[u8], fill: u8) -> Vec<u8> {
    let len = (len as usize).max(19);
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&(len as u16).to_be_bytes());
    m.push(kind);
    m.extend_from_slice(content);
    m.resize(len, fill);
    m
}

/// An OPEN from the peer. Options (bits of `opt`): 0 extended message,
/// 1 a 4-octet AS capability, 2 a second one with another AS, 3 My AS is
/// AS_TRANS, 4 wrong AS, 5 graceful restart, 6 same identifier as ours,
/// 7 hold time from the input (else 90).
fn peer_open(opt: u8, hold: u16, peer_as: u32, extra: &[u8]) -> Vec<u8> {
    let asn = if opt & 16 != 0 { peer_as ^ 1 } else { peer_as };
    let my_as: u16 = if opt & 8 != 0 {
        23456
    } else {
        u16::try_from(asn).unwrap_or(23456)
    };
    let mut caps = Vec::new();
    let mut cap = |code: u8, value: &[u8]| {
        caps.push(code);
        caps.push(value.len() as u8);
        caps.extend_from_slice(value);
    };
    for f in [Family::EVPN, Family::IPV4_UNICAST] {
        let mut v = f.afi.to_be_bytes().to_vec();
        v.push(0);
        v.push(f.safi);
        cap(1, &v);
    }
    cap(2, &[]);
    if opt & 1 != 0 {
        cap(6, &[]);
    }
    if opt & 2 != 0 {
        cap(65, &asn.to_be_bytes());
    }
    if opt & 4 != 0 {
        cap(65, &(asn.wrapping_add(7)).to_be_bytes());
    }
    if opt & 32 != 0 {
        cap(64, &[0x80, 120, 0, 25, 70, 0x80]);
    }
    // Whatever else the input adds, as one more capability.
    if !extra.is_empty() {
        cap(extra[0], &extra[1..extra.len().min(200)]);
    }
    let mut body = vec![4];
    body.extend_from_slice(&my_as.to_be_bytes());
    body.extend_from_slice(&(if opt & 128 != 0 { hold } else { 90 }).to_be_bytes());
    let id = if opt & 64 != 0 {
        LOCAL_ID
    } else {
        Ipv4Addr::new(10, 0, 0, 2)
    };
    body.extend_from_slice(&id.octets());
    body.push((caps.len() + 2) as u8);
    body.push(2);
    body.push(caps.len() as u8);
    body.extend_from_slice(&caps);
    message(1, (19 + body.len()) as u16, &body, 0)
}

/// An UPDATE with one path attribute of `attr_len` octets (extended
/// length), filled with `fill`, and as long as the attribute makes it.
fn update_with_attribute(flags: u8, code: u8, attr_len: u16, fill: u8) -> Vec<u8> {
    let attr_len = (attr_len as usize).min(65535 - 19 - 4 - 4);
    let mut body = vec![0, 0];
    body.extend_from_slice(&((attr_len + 4) as u16).to_be_bytes());
    body.push(flags | 0x10);
    body.push(code);
    body.extend_from_slice(&(attr_len as u16).to_be_bytes());
    body.resize(body.len() + attr_len, fill);
    message(2, (19 + body.len()) as u16, &body, fill)
}

/// Checks and "sends" what the actions ask for.
fn carry_out(fsm: &Fsm, actions: &[Action], connected: &mut bool) {
    let ctx = fsm.send_context();
    for a in actions {
        let m = match a {
            Action::SendOpen(o) => Message::Open((**o).clone()),
            Action::SendKeepalive => Message::Keepalive,
            Action::SendNotification(n) => Message::Notification(n.clone()),
            Action::DropConnection => {
                *connected = false;
                continue;
            }
            _ => continue,
        };
        let bytes = match encode_message(&m, &ctx) {
            Ok(b) => b,
            Err(e) => panic!("{m} not encoded: {e}"),
        };
        let max = match m {
            Message::Open(_) | Message::Keepalive => MAX_MESSAGE_LEN,
            _ => ctx.max_message_len(),
        };
        assert!(bytes.len() <= max, "{} octets, maximum {max}", bytes.len());
        assert_eq!(frame_length(&bytes, max), Ok(Some(bytes.len())));
        let back = Message::decode(&bytes, &ctx.as_decode());
        assert!(back.is_ok(), "{m} does not decode: {back:?}");
        if let (Message::Notification(sent), Ok(Message::Notification(read))) = (&m, back) {
            assert_eq!((sent.code, sent.subcode), (read.code, read.subcode));
            assert!(sent.data.starts_with(&read.data));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let Some(options) = input.u8() else { return };
    let peer_as = if options & 1 != 0 { 65001 } else { LOCAL_AS };
    let local = LocalParams {
        asn: LOCAL_AS,
        router_id: LOCAL_ID,
        hold_time: if options & 2 != 0 { 3 } else { 90 },
        families: FamilySet::from_iter([Family::EVPN, Family::IPV4_UNICAST]),
        peer_as,
        graceful_restart_time: (options & 4 != 0).then_some(120),
    };
    let mut fsm = Fsm::new(local);
    let mut connected = false;
    // The bytes of the connection not yet framed.
    let mut stream: Vec<u8> = Vec::new();
    let mut steps = 0;
    while let Some(tag) = input.u8() {
        steps += 1;
        if steps > 256 {
            break;
        }
        let event = match tag % 18 {
            0 => Event::Start,
            1 => Event::StartPassive,
            2 => Event::ManualStop,
            3 => Event::AutomaticStop(input.u8().unwrap_or(3)),
            4 => Event::ConnectRetryTimerExpires,
            5 => Event::HoldTimerExpires,
            6 => Event::KeepaliveTimerExpires,
            7 | 8 => {
                connected = true;
                stream.clear();
                if tag % 18 == 7 {
                    Event::TcpCrAcked
                } else {
                    Event::TcpConnectionConfirmed
                }
            }
            9 => {
                connected = false;
                Event::TcpConnectionFails
            }
            10 => Event::OpenCollisionDump,
            11..=16 => {
                let bytes = match tag % 18 {
                    11 => {
                        let opt = input.u8().unwrap_or(0);
                        let hold = input.u16().unwrap_or(90);
                        let n = input.u8().unwrap_or(0) as usize;
                        peer_open(opt, hold, peer_as, input.bytes(n))
                    }
                    12 => message(4, 19, &[], 0),
                    13 => {
                        let flags = input.u8().unwrap_or(0x40);
                        let code = input.u8().unwrap_or(0);
                        let len = input.u16().unwrap_or(0);
                        let fill = input.u8().unwrap_or(0);
                        update_with_attribute(flags, code, len, fill)
                    }
                    14 => {
                        let kind = input.u8().unwrap_or(2);
                        let len = input.u16().unwrap_or(19);
                        let n = input.u8().unwrap_or(0) as usize;
                        let content = input.bytes(n);
                        let fill = input.u8().unwrap_or(0);
                        message(kind, len, content, fill)
                    }
                    15 => {
                        // Raw octets of the stream, framing errors included.
                        let n = input.u8().unwrap_or(0) as usize;
                        input.bytes(n).to_vec()
                    }
                    _ => {
                        // An UPDATE Message Error's reply of the largest
                        // kind: unrecognised well-known attribute.
                        let len = input.u16().unwrap_or(65000);
                        update_with_attribute(0x40, 200, len, 0xab)
                    }
                };
                if !connected {
                    continue;
                }
                stream.extend_from_slice(&bytes);
                // Frame as the session does, at what it accepts now.
                let max = fsm.receive_context().max_message_len();
                match frame_length(&stream, max) {
                    Ok(Some(len)) => {
                        let msg: Vec<u8> = stream.drain(..len).collect();
                        Event::from_message(&msg, &fsm.receive_context())
                    }
                    Ok(None) => continue,
                    Err(e) => {
                        stream.clear();
                        Event::MessageError(e)
                    }
                }
            }
            _ => {
                // Stop feeding the current stream.
                stream.clear();
                continue;
            }
        };
        let before = fsm.state();
        let actions = fsm.handle(event);
        carry_out(&fsm, &actions, &mut connected);
        let after = fsm.state();
        let up = actions.iter().any(|a| matches!(a, Action::Established(_)));
        assert_eq!(
            up,
            before == State::OpenConfirm && after == State::Established
        );
        let down = actions
            .iter()
            .any(|a| matches!(a, Action::SessionDown { .. }));
        assert_eq!(
            down,
            before == State::Established && after != State::Established
        );
        if after == State::Idle {
            assert!(fsm.negotiated().is_none());
            stream.clear();
        }
        if matches!(after, State::OpenConfirm | State::Established) {
            assert!(fsm.negotiated().is_some());
        }
    }
});
