//! The tests that make namespaces need root: they are `#[ignore]`d and run
//! with `cargo test -p ferry-netns -- --include-ignored` as root.

use std::time::Duration;

use super::*;

fn require_root(test: &str) {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert!(euid == 0, "{test} needs root (network namespaces)");
}

#[test]
fn unique_names_differ_and_fit_an_interface() {
    let (a, b) = (unique("fn"), unique("fn"));
    assert_ne!(a, b);
    assert!(a.starts_with("fn") && a.len() <= 15, "{a}");
}

#[test]
fn errors_name_the_command_and_the_namespace() {
    let ns = Netns::named("ferry-netns-none");
    let e = ns.run(&["true"]).unwrap_err();
    assert_eq!(e.netns(), "ferry-netns-none");
    assert_eq!(e.what(), Some("ip netns exec ferry-netns-none true"));
    assert!(!e.detail().is_empty());
    assert!(e
        .to_string()
        .starts_with("ip netns exec ferry-netns-none true: "));
    let e = ns.ip(&["link", "show"]).unwrap_err();
    assert_eq!(e.what(), Some("ip -n ferry-netns-none link show"));
}

#[test]
#[ignore = "needs root"]
fn links_addresses_sysctls_and_threads_inside() {
    require_root("links_addresses_sysctls_and_threads_inside");
    let a = Netns::create_unique("fn").unwrap();
    let b = Netns::create_unique("fn").unwrap();
    assert!(a.exists() && a.path().starts_with(NETNS_DIR));
    a.veth_to("ea", &b, "eb").unwrap();
    a.add_addr("ea", "192.0.2.1/24").unwrap();
    b.add_addr("eb", "192.0.2.2/24").unwrap();
    a.link_up("ea").unwrap();
    b.link_up("eb").unwrap();
    assert!(a.has_link("ea") && !a.has_link("eb") && b.has_link("eb"));
    b.add_bridge("br0").unwrap();
    b.link_up("br0").unwrap();
    // An address of the namespace is there for a thread inside only.
    let bind = || std::net::UdpSocket::bind("192.0.2.1:0").is_ok();
    assert!(a.run_in(bind).unwrap());
    assert!(!b.run_in(bind).unwrap());
    assert!(a.spawn(bind).join().unwrap().unwrap());
    // From a thread inside `a`, `a` is the host side of `b`'s new pair.
    a.run_in(|| b.veth_from_host("ha", "hb")).unwrap().unwrap();
    assert!(a.has_link("ha") && b.has_link("hb"));
    b.set_master("hb", "br0").unwrap();
    assert!(b
        .ip(&["link", "show", "hb"])
        .unwrap()
        .contains("master br0"));
    // Reachable over the pair.
    a.run(&["ping", "-c", "1", "-W", "2", "192.0.2.2"]).unwrap();
    a.sysctl(&[
        "net.ipv4.ip_forward=1",
        "net.ipv4.tcp_rmem=4096 131072 6291456",
    ])
    .unwrap();
    assert_eq!(
        a.run(&["sysctl", "-n", "net.ipv4.ip_forward"]).unwrap(),
        "1\n"
    );
    assert_eq!(
        a.run(&["sysctl", "-n", "net.ipv4.tcp_rmem"])
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["4096", "131072", "6291456"]
    );
    assert_eq!(
        b.run(&["sysctl", "-n", "net.ipv4.ip_forward"]).unwrap(),
        "0\n"
    );
    let e = a.run(&["ip", "link", "set", "nothere", "up"]).unwrap_err();
    assert_eq!(e.netns(), a.name());
    assert!(e.to_string().contains("nothere"), "{e}");
}

#[test]
#[ignore = "needs root"]
fn drop_kills_the_processes_inside_and_deletes() {
    require_root("drop_kills_the_processes_inside_and_deletes");
    let ns = Netns::create_unique("fn").unwrap();
    let mut child = ns.command("sleep").arg("600").spawn().unwrap();
    let pid = child.id();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !ns.pids().contains(&pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "{pid} not in {:?}",
            ns.pids()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let path = ns.path();
    drop(ns);
    assert!(!path.exists());
    // Killed by the drop (SIGKILL), not ended by us.
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
}

#[test]
#[ignore = "needs root"]
fn a_panic_still_deletes() {
    require_root("a_panic_still_deletes");
    let name = unique("fn");
    let n = name.clone();
    let r = std::panic::catch_unwind(move || {
        let _ns = Netns::create(&n).unwrap();
        assert!(Netns::named(&n).exists());
        panic!("a failing test");
    });
    assert!(r.is_err());
    assert!(!Netns::named(&name).exists());
}

#[test]
#[ignore = "needs root"]
fn named_namespaces_outlive_the_value() {
    require_root("named_namespaces_outlive_the_value");
    let name = unique("fn");
    let (ns, made) = Netns::ensure(&name).unwrap();
    assert!(made);
    drop(ns);
    assert!(Netns::named(&name).exists());
    let (_, made) = Netns::ensure(&name).unwrap();
    assert!(!made);
    // Loopback up, as `create` leaves it.
    assert!(Netns::named(&name)
        .ip(&["link", "show", "lo"])
        .unwrap()
        .contains(",UP"));
    assert!(Netns::create(&name).is_err());
    let replaced = Netns::replace(&name).unwrap();
    assert!(replaced.exists());
    drop(replaced);
    assert!(!Netns::named(&name).exists());
    // Delete a named one explicitly.
    let (ns, _) = Netns::ensure(&name).unwrap();
    ns.delete().unwrap();
    assert!(!Netns::named(&name).exists());
    assert!(Netns::named(&name).delete().is_err());
}
