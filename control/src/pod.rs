//! The pods the CNI plugin hands to bgpd: the name of a pod's host link
//! and the addresses a pod may have. The plugin and the daemon both
//! apply these rules, so that a pod the plugin sets up is one the daemon
//! takes.

use std::net::IpAddr;

use ipnet::IpNet;

/// The host-side name of a pod's veth: `fy` and twelve hex digits of a
/// hash of the container ID and the interface name in the pod (stable, at
/// most 15 characters as the kernel requires). bgpd attaches no other link.
pub fn pod_host_ifname(container_id: &str, ifname: &str) -> String {
    format!(
        "fy{:012x}",
        pod_hash(container_id, ifname) & 0xffff_ffff_ffff
    )
}

/// FNV-1a of `container_id/ifname`: the source of a pod's link names and
/// derived MAC.
pub fn pod_hash(container_id: &str, ifname: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in container_id.bytes().chain([b'/']).chain(ifname.bytes()) {
        h ^= byte as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The shortest pod prefixes accepted: a pod's subnet is never wider.
pub const POD_MIN_PREFIX_V4: u8 = 16;
pub const POD_MIN_PREFIX_V6: u8 = 64;

/// Why `a` cannot be a pod's address (with its prefix length), if it
/// cannot: unspecified, loopback, multicast, broadcast, link-local, an
/// IPv4-mapped IPv6 address, or a prefix wider than /16 (IPv4) or /64
/// (IPv6). Ferry routes each pod address to the pod's veth and puts a
/// permanent neighbour entry for it there: none of these may be.
pub fn pod_address_problem(a: &IpNet) -> Option<String> {
    let kind = match a.addr() {
        IpAddr::V4(v4) => {
            if v4.is_unspecified() || v4.octets()[0] == 0 {
                Some("an unspecified (0.0.0.0/8) address")
            } else if v4.is_loopback() {
                Some("a loopback address")
            } else if v4.is_multicast() {
                Some("a multicast address")
            } else if v4.is_broadcast() || v4.octets()[0] >= 240 {
                Some("a broadcast or reserved (240.0.0.0/4) address")
            } else if v4.is_link_local() {
                Some("a link-local address")
            } else if a.prefix_len() < POD_MIN_PREFIX_V4 {
                return Some(format!(
                    "{a}: a pod's prefix is at most a /{POD_MIN_PREFIX_V4}"
                ));
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            if v6.is_unspecified() {
                Some("the unspecified address")
            } else if v6.is_loopback() {
                Some("the loopback address")
            } else if v6.is_multicast() {
                Some("a multicast address")
            } else if seg[0] & 0xffc0 == 0xfe80 {
                Some("a link-local address")
            } else if v6.to_ipv4_mapped().is_some() {
                Some("an IPv4-mapped address")
            } else if a.prefix_len() < POD_MIN_PREFIX_V6 {
                return Some(format!(
                    "{a}: a pod's prefix is at most a /{POD_MIN_PREFIX_V6}"
                ));
            } else {
                None
            }
        }
    };
    kind.map(|k| format!("{a} is {k}, not a pod address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_links_keep_their_names() {
        // The names of pods attached before: a restarted bgpd adopts them.
        assert_eq!(pod_host_ifname("c1", "net1"), "fyeed53f7a1e9c");
        assert_ne!(
            pod_host_ifname("pod-one", "net1"),
            pod_host_ifname("pod-one", "net2")
        );
        assert!(pod_host_ifname("c", "eth0").starts_with("fy"));
    }

    #[test]
    fn only_pod_addresses_are_accepted() {
        for good in [
            "1.1.1.2/30",
            "10.0.0.1/16",
            "abcd::1.1.1.2/126",
            "2001:db8::1/64",
        ] {
            let a: IpNet = good.parse().unwrap();
            assert_eq!(pod_address_problem(&a), None, "{good}");
        }
        for bad in [
            "0.0.0.0/0",
            "::/0",
            "0.1.2.3/30",
            "127.0.0.1/8",
            "127.0.0.2/32",
            "::1/128",
            "224.0.0.1/32",
            "ff02::1/128",
            "255.255.255.255/32",
            "240.0.0.1/30",
            "169.254.0.5/30",
            "fe80::1/64",
            "::ffff:1.1.1.2/126",
            "1.0.0.1/8",
            "2001:db8::1/48",
        ] {
            let a: IpNet = bad.parse().unwrap();
            let why = pod_address_problem(&a).expect(bad);
            assert!(why.contains(&a.to_string()), "{why}");
        }
    }
}
