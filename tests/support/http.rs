//! HTTP from inside a namespace, and Prometheus samples.

use std::time::Duration;

use super::netns::{in_netns, Netns};

/// `GET path` from `addr` (`ADDR:PORT`, inside `ns`): the status code and
/// the body, or why there was none.
pub fn http_get(ns: &Netns, addr: &str, path: &str) -> Result<(u16, String), String> {
    use std::io::{Read, Write};
    let addr = addr.to_string();
    let path = path.to_string();
    in_netns(ns, move || {
        let sa: std::net::SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
        let mut s = std::net::TcpStream::connect_timeout(&sa, Duration::from_secs(3))
            .map_err(|e| format!("connect {addr}: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).map_err(|e| format!("read: {e}"))?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text
            .split_once("\r\n\r\n")
            .ok_or_else(|| format!("no HTTP header in {text:?}"))?;
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("no status in {head:?}"))?;
        Ok((status, body.to_string()))
    })
}

/// The value of the sample `series` (name and labels exactly as exposed,
/// `ferry_bgp_session_up{peer="10.10.1.1",group="workers"}`) in a
/// Prometheus text exposition.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}
