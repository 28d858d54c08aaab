//! Control-socket clients that connect and never ask anything.

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use ferry_tests::{eventually, require_root, Ferry, Netns};

pub(crate) fn idle_control_clients_are_bounded_and_dropped() {
    require_root("idle_control_clients_are_bounded_and_dropped");
    let dir = tempfile::tempdir().unwrap();
    let rr_ns = Netns::new("fc");
    let rr = Ferry::start(
        &rr_ns,
        dir.path(),
        "rr",
        "router-id = \"10.10.25.42\"\nlocal-as = 64512\nlisten-address = \"127.0.0.1\"\n",
    );
    let fds = |pid: u32| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let start_fds = fds(rr.proc.pid());
    let opened = Instant::now();
    let mut idle: Vec<UnixStream> = (0..300)
        .map(|_| UnixStream::connect(&rr.socket).expect("control socket"))
        .collect();
    // A normal request is answered at once despite them.
    let t = Instant::now();
    let summary = rr.ctl(&["show", "summary"]);
    assert!(summary.is_ok(), "show summary failed: {summary:?}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // Every idle client is closed by the daemon: most at once (their
    // places went to newer clients), the rest after 10 s without a
    // request.
    let mut closed = 0;
    for s in &mut idle {
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let mut b = [0u8; 256];
        // A signal for another test's child may interrupt the read.
        let r = loop {
            match s.read(&mut b) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => break r,
            }
        };
        match r {
            Ok(_) => closed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => closed += 1,
            Err(e) => panic!(
                "an idle control client still open after {:?}: {e}",
                opened.elapsed()
            ),
        }
    }
    assert_eq!(closed, 300);
    let took = opened.elapsed();
    assert!(took < Duration::from_secs(14), "{took:?}");
    assert!(
        took >= Duration::from_secs(9),
        "closed before the timeout: {took:?}"
    );
    drop(idle);
    eventually("bgpd's descriptors back", Duration::from_secs(5), || {
        let n = fds(rr.proc.pid());
        if n <= start_fds + 2 {
            Ok(())
        } else {
            Err(format!("{n} descriptors, {start_fds} at the start"))
        }
    });
    assert!(rr.ctl(&["show", "summary"]).is_ok());
}
