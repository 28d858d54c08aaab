//! From the raw file to a [`Config`], one section at a time: the top
//! level ([`top`]), the groups with their session settings ([`group`],
//! [`session`]), the worker's VRFs ([`vrf`]) and the cluster mesh
//! ([`mesh`]). Every error names the file, the key and the value.

mod group;
mod mesh;
mod session;
mod top;
mod vrf;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use super::raw::RawConfig;
use super::{Config, ConfigError, StartupValues};

pub(super) struct Validator<'a> {
    file: &'a str,
    /// On reload: the values the daemon runs with, kept.
    pub(super) running: Option<&'a StartupValues>,
}

impl<'a> Validator<'a> {
    pub(super) fn new(file: &'a str) -> Validator<'a> {
        Validator {
            file,
            running: None,
        }
    }

    /// The whole file, section by section.
    pub(super) fn config(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let mut top = self.top(&raw)?;
        self.keep_running(&mut top);
        let mut groups = self.groups(raw.group, &top)?;
        self.not_ourselves(&groups, top.router_id)?;
        let vtep_address = self.optional("vtep-address", raw.vtep_address.as_deref(), Self::ip)?;
        let vrfs = self.vrfs(raw.vrf)?;
        let cluster_mesh = self.cluster_mesh(raw.cluster_mesh, top.cluster_id)?;
        if let Some(mesh) = &cluster_mesh {
            let g = self.mesh_group(mesh, &groups, &top)?;
            groups.push(g);
        }
        Ok(Config {
            origin: self.file.to_string(),
            router_id: top.router_id,
            local_as: top.local_as,
            cluster_id: top.cluster_id,
            control_socket: top.control_socket,
            control_group: top.control_group,
            listen_address: top.listen_address,
            listen_port: top.listen_port,
            hold_time: top.hold_time,
            connect_retry: top.connect_retry,
            graceful_restart_time: top.graceful_restart_time,
            groups,
            vtep_address,
            kernel_sync: raw.kernel_sync.unwrap_or(top.cluster_id.is_none()),
            state_dir: PathBuf::from(raw.state_dir.as_deref().unwrap_or("/var/lib/ferry")),
            vrfs,
            cluster_mesh,
            http_listen: top.http_listen,
            log_format: top.log_format,
            restart_pending: top.restart_pending,
        })
    }

    pub(super) fn err(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        super::invalid(self.file, key, message)
    }

    /// An optional key: `check`ed when the file gives it, `None` when not.
    pub(super) fn optional<T>(
        &self,
        key: &str,
        value: Option<&str>,
        check: impl Fn(&Self, &str, &str) -> Result<T, ConfigError>,
    ) -> Result<Option<T>, ConfigError> {
        value.map(|v| check(self, key, v)).transpose()
    }

    pub(super) fn ipv4(&self, key: &str, v: &str) -> Result<Ipv4Addr, ConfigError> {
        v.parse()
            .map_err(|_| self.err(key, format!("invalid IPv4 address {v:?}")))
    }

    pub(super) fn ip(&self, key: &str, v: &str) -> Result<IpAddr, ConfigError> {
        let a: IpAddr = v
            .parse()
            .map_err(|_| self.err(key, format!("invalid IP address {v:?}")))?;
        if let IpAddr::V6(v6) = a {
            if v6.to_ipv4_mapped().is_some() {
                return Err(self.err(
                    key,
                    format!("{v:?} is an IPv4-mapped IPv6 address: write the IPv4 address"),
                ));
            }
        }
        Ok(a)
    }

    /// `ADDR:PORT`, an IPv6 address in brackets (`[::]:9179`).
    pub(super) fn socket_address(
        &self,
        key: &str,
        v: &str,
    ) -> Result<std::net::SocketAddr, ConfigError> {
        let a: std::net::SocketAddr = v.parse().map_err(|_| {
            self.err(
                key,
                format!(
                    "{v:?} is not ADDR:PORT: write for example \"0.0.0.0:9179\" or \"[::]:9179\""
                ),
            )
        })?;
        if a.port() == 0 {
            return Err(self.err(key, format!("{v:?}: port 0; give the port to listen on")));
        }
        Ok(a)
    }

    pub(super) fn range(&self, key: &str, v: i64, lo: i64, hi: i64) -> Result<i64, ConfigError> {
        if v < lo || v > hi {
            return Err(self.err(key, format!("value {v} outside {lo}..={hi}")));
        }
        Ok(v)
    }

    pub(super) fn hold_time(&self, key: &str, v: i64) -> Result<u16, ConfigError> {
        if v != 0 && !(3..=65535).contains(&v) {
            return Err(self.err(
                key,
                format!("hold time {v}: must be 0 or 3..=65535 seconds (RFC 4271 §4.2)"),
            ));
        }
        Ok(v as u16)
    }
}
