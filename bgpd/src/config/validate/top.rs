//! The top level: the identity (`router-id`, `local-as`, `cluster-id`),
//! the default timers, graceful restart, the listening, control and HTTP
//! sockets, the log format, and what a reload keeps until a restart.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use super::Validator;
use crate::config::raw::RawConfig;
use crate::config::{ConfigError, LogFormat, DEFAULT_CONTROL_SOCKET};

/// The top-level values, validated.
pub(super) struct Top {
    pub(super) router_id: Ipv4Addr,
    pub(super) local_as: u32,
    /// `local-as` as the file writes it (the running one may differ on
    /// reload).
    pub(super) written_as: u32,
    pub(super) cluster_id: Option<Ipv4Addr>,
    pub(super) hold_time: u16,
    pub(super) connect_retry: u16,
    pub(super) graceful_restart_time: u16,
    pub(super) listen_port: u16,
    pub(super) listen_address: Option<IpAddr>,
    pub(super) http_listen: Option<std::net::SocketAddr>,
    pub(super) log_format: LogFormat,
    pub(super) control_socket: PathBuf,
    pub(super) control_group: Option<(String, u32)>,
    pub(super) restart_pending: Vec<String>,
}

impl Validator<'_> {
    /// The top-level keys as written.
    pub(super) fn top(&self, raw: &RawConfig) -> Result<Top, ConfigError> {
        let router_id = match &raw.router_id {
            Some(v) => self.ipv4("router-id", v)?,
            None => {
                return Err(self.err(
                    "router-id",
                    "missing: the BGP identifier (an IPv4 address) is required",
                ))
            }
        };
        if router_id.is_unspecified() {
            return Err(self.err(
                "router-id",
                "0.0.0.0 is not a valid BGP identifier (RFC 6286)",
            ));
        }
        let local_as = match raw.local_as {
            Some(v) => self.range("local-as", v, 1, u32::MAX as i64)? as u32,
            None => return Err(self.err("local-as", "missing: the local AS number is required")),
        };
        if local_as == 23456 {
            return Err(self.err(
                "local-as",
                "23456 is AS_TRANS (RFC 6793) and cannot be a local AS",
            ));
        }
        let cluster_id = raw
            .cluster_id
            .as_deref()
            .map(|v| self.ipv4("cluster-id", v))
            .transpose()?;
        let hold_time = self.hold_time("hold-time", raw.hold_time.unwrap_or(90))?;
        let connect_retry =
            self.range("connect-retry", raw.connect_retry.unwrap_or(30), 1, 65535)? as u16;
        let graceful_restart_time = self.range(
            "graceful-restart-time",
            raw.graceful_restart_time.unwrap_or(120),
            0,
            4095,
        )? as u16;
        let listen_port =
            self.range("listen-port", raw.listen_port.unwrap_or(179), 1, 65535)? as u16;
        let listen_address = raw
            .listen_address
            .as_deref()
            .map(|v| self.ip("listen-address", v))
            .transpose()?;
        let http_listen = raw
            .http_listen
            .as_deref()
            .map(|v| self.socket_address("http-listen", v))
            .transpose()?;
        let log_format = match raw.log_format.as_deref() {
            None => LogFormat::Text,
            Some(v) => LogFormat::from_name(v).ok_or_else(|| {
                self.err(
                    "log-format",
                    format!("{v:?}: expected \"text\" or \"json\""),
                )
            })?,
        };
        let control_socket = PathBuf::from(
            raw.control_socket
                .clone()
                .unwrap_or_else(|| DEFAULT_CONTROL_SOCKET.into()),
        );
        if control_socket.as_os_str().is_empty() {
            return Err(self.err("control-socket", "empty path"));
        }
        let control_group = match raw.control_group.clone() {
            None => None,
            Some(name) => match group_id(&name) {
                Some(gid) => Some((name, gid)),
                None => return Err(self.err("control-group", format!("{name:?}: no such group"))),
            },
        };
        Ok(Top {
            router_id,
            local_as,
            written_as: local_as,
            cluster_id,
            hold_time,
            connect_retry,
            graceful_restart_time,
            listen_port,
            listen_address,
            http_listen,
            log_format,
            control_socket,
            control_group,
            restart_pending: Vec::new(),
        })
    }

    /// On reload, what the daemon was started with stays until a restart:
    /// each changed value is put back and listed as pending.
    pub(super) fn keep_running(&self, t: &mut Top) {
        let Some(r) = self.running else {
            return;
        };
        let mut pending = |key: &str, new: String, running: String| {
            t.restart_pending
                .push(format!("{key} {new} (running {running})"));
        };
        let opt = |v: Option<String>| v.unwrap_or_else(|| "none".to_string());
        if t.router_id != r.router_id {
            pending(
                "router-id",
                t.router_id.to_string(),
                r.router_id.to_string(),
            );
            t.router_id = r.router_id;
        }
        if t.local_as != r.local_as {
            pending("local-as", t.local_as.to_string(), r.local_as.to_string());
            t.local_as = r.local_as;
        }
        if t.cluster_id != r.cluster_id {
            pending(
                "cluster-id",
                opt(t.cluster_id.map(|c| c.to_string())),
                opt(r.cluster_id.map(|c| c.to_string())),
            );
            t.cluster_id = r.cluster_id;
        }
        if t.control_socket != r.control_socket {
            pending(
                "control-socket",
                t.control_socket.display().to_string(),
                r.control_socket.display().to_string(),
            );
            t.control_socket = r.control_socket.clone();
        }
        let group_name = t.control_group.as_ref().map(|g| g.0.clone());
        if group_name != r.control_group {
            pending(
                "control-group",
                opt(group_name),
                opt(r.control_group.clone()),
            );
            t.control_group = match &r.control_group {
                None => None,
                Some(name) => group_id(name).map(|gid| (name.clone(), gid)),
            };
        }
        if t.listen_address != r.listen_address {
            pending(
                "listen-address",
                opt(t.listen_address.map(|a| a.to_string())),
                opt(r.listen_address.map(|a| a.to_string())),
            );
            t.listen_address = r.listen_address;
        }
        if t.listen_port != r.listen_port {
            pending(
                "listen-port",
                t.listen_port.to_string(),
                r.listen_port.to_string(),
            );
            t.listen_port = r.listen_port;
        }
        if t.http_listen != r.http_listen {
            pending(
                "http-listen",
                opt(t.http_listen.map(|a| a.to_string())),
                opt(r.http_listen.map(|a| a.to_string())),
            );
            t.http_listen = r.http_listen;
        }
        if t.log_format != r.log_format {
            pending(
                "log-format",
                t.log_format.as_str().to_string(),
                r.log_format.as_str().to_string(),
            );
            t.log_format = r.log_format;
        }
    }
}

/// The id of a system group, by name. Blocking (NSS may ask a directory
/// service): called only while loading, off the async runtime.
fn group_id(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: getgrnam with a valid C string; the result is read at once.
    let g = unsafe { libc::getgrnam(c.as_ptr()) };
    if g.is_null() {
        None
    } else {
        // SAFETY: g is a valid group entry.
        Some(unsafe { (*g).gr_gid })
    }
}
