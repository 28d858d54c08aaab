//! Session security on the socket: TCP MD5 signatures (RFC 2385) and the
//! Generalized TTL Security Mechanism (RFC 5082).

use std::io;
use std::mem::size_of;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::RawFd;

use ipnet::IpNet;

/// `struct tcp_md5sig` of `linux/tcp.h`.
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: libc::c_int,
    key: [u8; libc::TCP_MD5SIG_MAXKEYLEN],
}

const TCP_MD5SIG_FLAG_PREFIX: u8 = 1;

fn storage(addr: IpAddr) -> libc::sockaddr_storage {
    // SAFETY: sockaddr_storage is plain old data; all zeroes is valid.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match SocketAddr::new(addr, 0) {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 0,
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_in fits in sockaddr_storage.
            unsafe { std::ptr::write(&mut ss as *mut _ as *mut libc::sockaddr_in, sin) };
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: 0,
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: 0,
            };
            // SAFETY: sockaddr_in6 fits in sockaddr_storage.
            unsafe { std::ptr::write(&mut ss as *mut _ as *mut libc::sockaddr_in6, sin6) };
        }
    }
    ss
}

/// Maps an IPv4 peer to the IPv4-mapped form on an IPv6 (dual-stack)
/// socket, as the kernel sees its connections.
fn for_socket(fd: RawFd, addr: IpAddr) -> IpAddr {
    match (socket_is_v6(fd), addr) {
        (true, IpAddr::V4(v4)) => IpAddr::V6(v4.to_ipv6_mapped()),
        _ => addr,
    }
}

fn socket_is_v6(fd: RawFd) -> bool {
    // SAFETY: getsockname into a sockaddr_storage of the right size.
    unsafe {
        let mut ss: libc::sockaddr_storage = std::mem::zeroed();
        let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        libc::getsockname(fd, &mut ss as *mut _ as *mut libc::sockaddr, &mut len) == 0
            && ss.ss_family as libc::c_int == libc::AF_INET6
    }
}

/// Sets (or, with an empty key, removes) the TCP MD5 key for a peer
/// address or, with `prefix`, for a whole range (a listening socket
/// accepting dynamic neighbours).
pub fn set_md5(fd: RawFd, peer: IpNet, key: &[u8]) -> io::Result<()> {
    if key.len() > libc::TCP_MD5SIG_MAXKEYLEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "TCP MD5 key longer than 80 octets",
        ));
    }
    let addr = for_socket(fd, peer.addr());
    // For an IPv4-mapped address the kernel takes the IPv4 prefix length.
    let prefixlen = peer.prefix_len();
    let mut sig = TcpMd5Sig {
        addr: storage(addr),
        flags: 0,
        prefixlen: 0,
        keylen: key.len() as u16,
        ifindex: 0,
        key: [0; libc::TCP_MD5SIG_MAXKEYLEN],
    };
    sig.key[..key.len()].copy_from_slice(key);
    let whole_host = prefixlen == peer.max_prefix_len();
    let opt = if whole_host {
        libc::TCP_MD5SIG
    } else {
        sig.flags = TCP_MD5SIG_FLAG_PREFIX;
        sig.prefixlen = prefixlen;
        libc::TCP_MD5SIG_EXT
    };
    // SAFETY: setsockopt with a pointer to a properly sized struct.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            opt,
            &sig as *const _ as *const libc::c_void,
            size_of::<TcpMd5Sig>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        let e = io::Error::last_os_error();
        // Removing a key that is not there is fine.
        if key.is_empty() && e.raw_os_error() == Some(libc::ENOENT) {
            return Ok(());
        }
        return Err(io::Error::new(
            e.kind(),
            format!("TCP MD5 key for {peer}: {e}"),
        ));
    }
    Ok(())
}

fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    opt: libc::c_int,
    v: libc::c_int,
) -> io::Result<()> {
    // SAFETY: setsockopt with a c_int value.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            &v as *const _ as *const libc::c_void,
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// GTSM (RFC 5082): send with TTL 255 and accept only packets whose TTL
/// shows at most `hops` hops.
pub fn set_gtsm(fd: RawFd, peer: IpAddr, hops: u8) -> io::Result<()> {
    let min = 256 - hops.max(1) as libc::c_int;
    if socket_is_v6(fd) {
        setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, 255)?;
        setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT, min)?;
        if peer.is_ipv4() || matches!(peer, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some()) {
            // IPv4 on a dual-stack socket.
            setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_TTL, 255)?;
            setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_MINTTL, min)?;
        }
    } else {
        setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_TTL, 255)?;
        setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_MINTTL, min)?;
    }
    Ok(())
}

/// Sends with TTL (hop limit) 255 from a listening socket, so that the
/// SYN-ACK to a GTSM peer already passes its check.
pub fn set_ttl_255(fd: RawFd) -> io::Result<()> {
    if socket_is_v6(fd) {
        setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, 255)?;
    }
    setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_TTL, 255)
}

/// Drops, on a listening socket, every segment (SYN included) whose TTL
/// shows more than `hops` hops: GTSM without a window before `accept`.
pub fn set_listener_min_ttl(fd: RawFd, hops: u8) -> io::Result<()> {
    let min = 256 - hops.max(1) as libc::c_int;
    if socket_is_v6(fd) {
        setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT, min)?;
    }
    setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_MINTTL, min)
}

/// Octets written to a TCP socket and not yet acknowledged by the peer
/// (`SIOCOUTQ`).
pub fn unacknowledged_octets(fd: RawFd) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (= TIOCOUTQ) writes one int.
    if unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut n) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n.max(0) as usize)
}

/// `SO_LINGER` with a zero timeout: closing the socket resets the
/// connection (RST) and discards what is still queued.
pub fn set_linger_zero(fd: RawFd) -> io::Result<()> {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: valid pointer and length of a linger struct.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const _ as *const libc::c_void,
            size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
