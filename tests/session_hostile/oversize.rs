//! What a peer sends: a 65535-octet UPDATE with an unrecognised
//! well-known attribute on a session with Extended Message.

use std::net::Ipv4Addr;
use std::time::Duration;

use ferry_tests::{eventually, require_root, Ferry, Lan, Netns, RR};
use ferry_wire::Message;

use super::{
    alive, establish, max_len, notification, recv, route, route_count, spawn_in, state_of,
};

/// `update` with one more path attribute: flags 0x50 (transitive,
/// extended length, well-known), type 201, as long as makes the whole
/// UPDATE `total` octets.
fn with_big_well_known_attribute(update: &[u8], total: usize) -> Vec<u8> {
    let value_len = total - update.len() - 4;
    let mut out = update.to_vec();
    out.extend_from_slice(&[0x50, 201]);
    out.extend_from_slice(&(value_len as u16).to_be_bytes());
    out.resize(total, 0x5a);
    out[16..18].copy_from_slice(&(total as u16).to_be_bytes());
    let alen = u16::from_be_bytes([out[21], out[22]]) as usize + 4 + value_len;
    out[21..23].copy_from_slice(&(alen as u16).to_be_bytes());
    out
}

pub(crate) fn oversize_attribute_gets_a_notification_that_fits_and_the_peer_comes_back() {
    require_root("oversize_attribute_gets_a_notification_that_fits_and_the_peer_comes_back");
    let dir = tempfile::tempdir().unwrap();
    let lan = Lan::new();
    let rr_ns = Netns::new("fh");
    let cl_ns = Netns::new("fh");
    lan.attach(&rr_ns, "eth0", "10.10.25.42/16");
    lan.attach(&cl_ns, "eth0", "10.10.93.12/16");
    cl_ns.addr("eth0", "10.10.93.99/16");
    let rr = Ferry::start(&rr_ns, dir.path(), "rr", RR);
    let hostile = Ipv4Addr::new(10, 10, 93, 12);
    let bystander_addr = Ipv4Addr::new(10, 10, 93, 99);

    // The bystander and the hostile peer, both Established; the
    // bystander sees the hostile peer's route reflected.
    let (tx, rx) = std::sync::mpsc::channel::<&'static str>();
    let (back_tx, back_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let worker = spawn_in(&cl_ns, move || async move {
        let r: Result<(), String> = async {
            let mut bystander = establish(bystander_addr, 90, false, None)
                .await
                .map_err(|e| format!("bystander: {e}"))?;
            let mut h = establish(hostile, 90, true, None)
                .await
                .map_err(|e| format!("hostile: {e}"))?;
            if !h.extended_message {
                return Err("Extended Message not negotiated".into());
            }
            let base = route("1.1.1.0/30", hostile);
            h.send_raw(&base).await.map_err(|e| e.to_string())?;
            // The bystander gets the route.
            let mut seen = false;
            for _ in 0..20 {
                match recv(&mut bystander, Duration::from_millis(500)).await {
                    Ok(Message::Update(u)) if u.mp_reach.is_some() => {
                        seen = true;
                        break;
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(e) => return Err(format!("bystander: {e}")),
                }
            }
            if !seen {
                return Err("the bystander never got the hostile peer's route".into());
            }
            back_tx.send(Ok(())).ok();
            // Wait for the main thread to check the RIB.
            let _ = rx.recv();
            let big = with_big_well_known_attribute(&base, 65535);
            h.send_raw(&big).await.map_err(|e| e.to_string())?;
            let n = notification(&mut h, Duration::from_secs(5))
                .await
                .ok_or("no NOTIFICATION after the 65535-octet UPDATE")?;
            let len = u16::from_be_bytes([n[16], n[17]]) as usize;
            if len != n.len() || len > max_len(&h) {
                return Err(format!(
                    "NOTIFICATION of {} octets (length field {len}), maximum {}",
                    n.len(),
                    max_len(&h)
                ));
            }
            if (n[19], n[20]) != (3, 2) {
                return Err(format!("NOTIFICATION {}/{}, 3/2 expected", n[19], n[20]));
            }
            // RFC 4271 §6.3: the data is the attribute (cut to
            // what fits).
            if n.len() > 21 && n[21..23] != [0x50, 201] {
                return Err(format!("NOTIFICATION data starts {:?}", &n[21..23]));
            }
            // The connection is closed after it.
            match h.recv_raw(Duration::from_secs(3)).await {
                Err(e) if e.kind() != std::io::ErrorKind::TimedOut => {}
                other => return Err(format!("connection still open: {other:?}")),
            }
            // The bystander loses the hostile peer's route.
            let mut withdrawn = false;
            for _ in 0..20 {
                match recv(&mut bystander, Duration::from_millis(500)).await {
                    Ok(Message::Update(u))
                        if u.mp_unreach
                            .as_ref()
                            .is_some_and(|m| !m.withdrawn.is_empty()) =>
                    {
                        withdrawn = true;
                        break;
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                        let _ = bystander.send(&Message::Keepalive).await;
                    }
                    Err(e) => return Err(format!("bystander: {e}")),
                }
            }
            if !withdrawn {
                return Err("the bystander's view kept the hostile peer's route".into());
            }
            back_tx.send(Ok(())).ok();
            let _ = rx.recv();
            // The same address connects again.
            let mut again = establish(hostile, 90, true, None)
                .await
                .map_err(|e| format!("reconnecting: {e}"))?;
            again.send_raw(&base).await.map_err(|e| e.to_string())?;
            back_tx.send(Ok(())).ok();
            let _ = rx.recv();
            drop(bystander);
            Ok(())
        }
        .await;
        if let Err(e) = &r {
            let _ = back_tx.send(Err(e.clone()));
        }
        r
    });

    let step = |what: &str| match back_rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("{what}: {e}"),
        Err(_) => {
            panic!("{what}: the raw peers stopped\n{}", rr.proc.log_text())
        }
    };
    step("both peers up");
    assert_eq!(route_count(&rr, "1.1.1.0/30"), 1);
    tx.send("send the big UPDATE").unwrap();
    step("after the big UPDATE");
    assert!(alive(&rr), "bgpd died:\n{}", rr.proc.log_text());
    eventually(
        "the hostile peer leaves Established",
        Duration::from_secs(5),
        || match state_of(&rr, "10.10.93.12") {
            Some(s) if s == "Established" => Err(format!("still {s}")),
            _ => Ok(()),
        },
    );
    assert_eq!(route_count(&rr, "1.1.1.0/30"), 0);
    tx.send("connect again").unwrap();
    step("reconnected");
    rr.wait_established(&["10.10.93.12", "10.10.93.99"]);
    eventually(
        "the route is back",
        Duration::from_secs(5),
        || match route_count(&rr, "1.1.1.0/30") {
            1 => Ok(()),
            n => Err(format!("{n} paths")),
        },
    );
    tx.send("done").unwrap();
    let r = worker.join().unwrap();
    assert_eq!(r, Ok(()));
    assert!(alive(&rr), "bgpd died:\n{}", rr.proc.log_text());
    assert!(
        !rr.proc.log_text().contains("panicked"),
        "{}",
        rr.proc.log_text()
    );
}
