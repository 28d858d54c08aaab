use super::transport::WriteHalf;
use super::*;
use crate::fsm::Fsm;
use ferry_wire::message::Capability;
use ferry_wire::{Family, FamilySet, Open};
use std::net::Ipv4Addr;
use tokio::net::TcpStream;

/// A dynamic route reflector client.
fn neighbor() -> NeighborConfig {
    peer::neighbor(true, false)
}

/// A session task that panics while Established still tells the core
/// that the session is down, and leaves Established.
#[tokio::test]
async fn a_failing_session_reports_down() {
    let (core, mut core_rx) = mpsc::channel(4);
    let status = Arc::new(PeerStatus::new(neighbor()));
    status.set_state(State::Established);
    let local = LocalParams {
        asn: 64512,
        router_id: Ipv4Addr::new(10, 0, 0, 1),
        hold_time: 90,
        families: FamilySet::from_iter([Family::EVPN]),
        peer_as: 64512,
        graceful_restart_time: None,
    };
    let s = Session {
        ctx: SessionContext {
            neighbor: neighbor(),
            local: local.clone(),
            status: status.clone(),
            core,
            dial: Dial::Tcp,
        },
        fsm: Fsm::new(local),
        conn: None,
        pending: None,
        connecting: None,
        connect_retry: None,
        hold: None,
        keepalive: None,
        send_hold: None,
        send_hold_time: None,
        restart: None,
        failures: 0,
        stopping: false,
        up: Some(None),
    };
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _owned = s;
        panic!("a bug in the session task");
    }));
    assert!(failed.is_err());
    match core_rx.try_recv() {
        Ok(CoreEvent::Down { addr, graceful }) => {
            assert_eq!(addr, neighbor().address);
            assert_eq!(graceful, None);
        }
        other => panic!("expected Down, got {other:?}"),
    }
    let d = status.detail();
    assert_eq!(d.state, State::Idle);
    assert_eq!(d.last_error.as_deref(), Some("session task failed"));
}

/// A message of `len` octets and type `kind` (its body is filler).
fn raw_message(kind: u8, len: usize) -> Bytes {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&(len as u16).to_be_bytes());
    m.push(kind);
    m.resize(len, 0);
    Bytes::from(m)
}

/// With 50 MB of UPDATEs queued to a peer that reads slowly, a
/// KEEPALIVE queued afterwards is written before the UPDATEs still
/// queued, and never inside one.
#[tokio::test]
async fn keepalive_jumps_the_update_backlog() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    let mut client = client.unwrap();
    let (server, _) = accepted.unwrap();
    let (_read, write) = server.into_split();
    let status = Arc::new(PeerStatus::new(neighbor()));
    let writer = Writer::spawn(WriteHalf::Tcp(write), status.clone(), None);
    let update = raw_message(2, 4096);
    const UPDATES: usize = 50 * 1024 * 1024 / 4096;
    for _ in 0..UPDATES / 64 {
        assert!(writer.data.send(vec![update.clone(); 64]).is_ok());
    }
    status.queued(&vec![update.clone(); UPDATES / 64 * 64]);
    // Let the writer fill the socket buffers.
    tokio::time::sleep(Duration::from_millis(200)).await;
    writer.send(
        Message::Keepalive
            .to_bytes(&EncodeContext::default())
            .unwrap(),
    );
    // Read slowly, message by message, until the KEEPALIVE.
    let mut buf = BytesMut::new();
    let mut updates_before = 0usize;
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            while buf.len() >= HEADER_LEN {
                let len = u16::from_be_bytes([buf[16], buf[17]]) as usize;
                assert!(len >= HEADER_LEN, "framing lost");
                if buf.len() < len {
                    break;
                }
                let m = buf.split_to(len);
                match m[18] {
                    2 => updates_before += 1,
                    4 => return true,
                    t => panic!("unexpected message type {t}"),
                }
            }
            let mut chunk = [0u8; 16384];
            let n = client.read(&mut chunk).await.unwrap();
            if n == 0 {
                return false;
            }
            buf.extend_from_slice(&chunk[..n]);
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    })
    .await
    .expect("KEEPALIVE within 30 s");
    assert!(found, "connection closed before the KEEPALIVE");
    // Only what was in the socket buffers (a few MB) came first.
    assert!(
        updates_before < UPDATES / 2,
        "{updates_before} of {UPDATES} UPDATEs were written before the KEEPALIVE"
    );
    eprintln!("{updates_before} of {UPDATES} UPDATEs before the KEEPALIVE");
    writer.close_with(None);
}

fn notification(data_len: usize) -> Message {
    Message::Notification(Notification::new(3, 2, vec![0xab; data_len]))
}

#[test]
fn notification_data_is_cut_to_the_peer_maximum() {
    let small = EncodeContext::default();
    let m = encode_message(&notification(65000), &small).unwrap();
    assert_eq!(m.len(), 4096);
    assert_eq!(u16::from_be_bytes([m[16], m[17]]), 4096);
    let ext = EncodeContext {
        extended_message: true,
        ..small
    };
    let m = encode_message(&notification(70000), &ext).unwrap();
    assert_eq!(m.len(), 65535);
    // Data that fits is kept whole.
    let m = encode_message(&notification(10), &small).unwrap();
    assert_eq!(m.len(), 21 + 10);
}

/// The NOTIFICATION that closes an extended-message session is
/// encoded for it, although the FSM is Idle when it is sent.
#[test]
fn closing_notification_uses_the_negotiated_maximum() {
    for extended in [false, true] {
        let mut f = Fsm::new(LocalParams {
            asn: 64512,
            router_id: Ipv4Addr::new(10, 0, 0, 1),
            hold_time: 90,
            families: FamilySet::from_iter([Family::EVPN]),
            peer_as: 64512,
            graceful_restart_time: None,
        });
        f.handle(Event::Start);
        f.handle(Event::TcpCrAcked);
        let mut caps = vec![
            Capability::Multiprotocol {
                family: Family::EVPN,
            },
            Capability::FourOctetAs { asn: 64512 },
        ];
        if extended {
            caps.push(Capability::ExtendedMessage);
        }
        let open = Open::new(64512, 90, Ipv4Addr::new(10, 0, 0, 2), caps);
        f.handle(Event::BgpOpen(Box::new(open)));
        f.handle(Event::KeepAliveMsg);
        assert_eq!(f.state(), State::Established);
        let e = MessageError::update(2, vec![0x40; 65000], "test", "RFC 7606 §3");
        let actions = f.handle(Event::MessageError(e));
        assert_eq!(f.state(), State::Idle);
        let n = actions
            .into_iter()
            .find_map(|a| match a {
                Action::SendNotification(n) => Some(n),
                _ => None,
            })
            .unwrap();
        let bytes = encode_message(&Message::Notification(n), &f.send_context()).unwrap();
        assert_eq!(bytes.len(), if extended { 21 + 65000 } else { 4096 });
    }
}

mod memory;
pub(crate) mod peer;
