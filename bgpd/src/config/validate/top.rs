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
        let cluster_id = self.optional("cluster-id", raw.cluster_id.as_deref(), Self::ipv4)?;
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
        let listen_address =
            self.optional("listen-address", raw.listen_address.as_deref(), Self::ip)?;
        let http_listen = self.optional(
            "http-listen",
            raw.http_listen.as_deref(),
            Self::socket_address,
        )?;
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
        let mut p = Pending(&mut t.restart_pending);
        p.keep("router-id", &mut t.router_id, &r.router_id, text);
        p.keep("local-as", &mut t.local_as, &r.local_as, text);
        p.keep("cluster-id", &mut t.cluster_id, &r.cluster_id, or_none);
        p.keep(
            "control-socket",
            &mut t.control_socket,
            &r.control_socket,
            |s| s.display().to_string(),
        );
        // The group is compared by name; the running name's id is looked up again.
        let group_name = t.control_group.as_ref().map(|g| g.0.clone());
        if group_name != r.control_group {
            p.add(
                "control-group",
                or_none(&group_name),
                or_none(&r.control_group),
            );
            t.control_group = match &r.control_group {
                None => None,
                Some(name) => group_id(name).map(|gid| (name.clone(), gid)),
            };
        }
        p.keep(
            "listen-address",
            &mut t.listen_address,
            &r.listen_address,
            or_none,
        );
        p.keep("listen-port", &mut t.listen_port, &r.listen_port, text);
        p.keep("http-listen", &mut t.http_listen, &r.http_listen, or_none);
        p.keep("log-format", &mut t.log_format, &r.log_format, |f| {
            f.as_str().to_string()
        });
    }
}

/// The restart-pending lines of a reload, `KEY NEW (running OLD)`.
struct Pending<'a>(&'a mut Vec<String>);

impl Pending<'_> {
    fn add(&mut self, key: &str, new: String, running: String) {
        self.0.push(format!("{key} {new} (running {running})"));
    }

    /// When the file's `value` of `key` differs from the `running` one:
    /// lists the change (both values written by `show`) and puts the
    /// running value back.
    fn keep<T: PartialEq + Clone>(
        &mut self,
        key: &str,
        value: &mut T,
        running: &T,
        show: impl Fn(&T) -> String,
    ) {
        if value != running {
            self.add(key, show(value), show(running));
            *value = running.clone();
        }
    }
}

fn text<T: ToString>(v: &T) -> String {
    v.to_string()
}

/// An optional value as text, `none` when absent.
fn or_none<T: ToString>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "none".to_string(), ToString::to_string)
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
