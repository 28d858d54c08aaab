//! The file as written: the TOML syntax, then every key and the type of
//! every value checked against the schema tables, then the raw structs
//! the `config` crate fills from the checked text. Values are validated
//! afterwards (`validate`).

use serde::Deserialize;

use super::ConfigError;

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawConfig {
    pub(super) router_id: Option<String>,
    pub(super) local_as: Option<i64>,
    pub(super) cluster_id: Option<String>,
    pub(super) control_socket: Option<String>,
    pub(super) control_group: Option<String>,
    pub(super) listen_address: Option<String>,
    pub(super) listen_port: Option<i64>,
    pub(super) hold_time: Option<i64>,
    pub(super) connect_retry: Option<i64>,
    pub(super) graceful_restart_time: Option<i64>,
    #[serde(default)]
    pub(super) group: Vec<RawGroup>,
    pub(super) vtep_address: Option<String>,
    pub(super) kernel_sync: Option<bool>,
    pub(super) state_dir: Option<String>,
    #[serde(default)]
    pub(super) vrf: Vec<RawVrf>,
    pub(super) cluster_mesh: Option<RawMesh>,
    pub(super) http_listen: Option<String>,
    pub(super) log_format: Option<String>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawGroup {
    pub(super) name: Option<String>,
    #[serde(rename = "type")]
    pub(super) kind: Option<String>,
    pub(super) peer_as: Option<i64>,
    pub(super) local_address: Option<String>,
    pub(super) families: Option<Vec<String>>,
    pub(super) route_reflector_client: Option<bool>,
    #[serde(default)]
    pub(super) allow: Vec<String>,
    #[serde(default)]
    pub(super) neighbors: Vec<String>,
    pub(super) hold_time: Option<i64>,
    pub(super) connect_retry: Option<i64>,
    pub(super) passive: Option<bool>,
    pub(super) peer_port: Option<i64>,
    pub(super) authentication_key: Option<String>,
    pub(super) ttl_security: Option<i64>,
    pub(super) send_hold_time: Option<i64>,
    #[serde(default)]
    pub(super) prefix_limit: std::collections::BTreeMap<String, RawPrefixLimit>,
    pub(super) bfd_liveness_detection: Option<RawBfd>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawBfd {
    pub(super) minimum_interval: Option<i64>,
    pub(super) multiplier: Option<i64>,
    pub(super) multihop: Option<bool>,
    pub(super) check_control_plane_failure: Option<bool>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawPrefixLimit {
    pub(super) maximum: Option<i64>,
    pub(super) teardown: Option<bool>,
    pub(super) restart: Option<i64>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawVrf {
    pub(super) name: Option<String>,
    pub(super) vni: Option<i64>,
    pub(super) route_target: Option<String>,
    #[serde(default)]
    pub(super) import: Vec<String>,
    #[serde(default)]
    pub(super) export: Vec<String>,
    pub(super) rd: Option<String>,
    pub(super) table: Option<i64>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawMesh {
    pub(super) local_cluster: Option<String>,
    pub(super) local_address: Option<String>,
    #[serde(default)]
    pub(super) clusters: Vec<RawCluster>,
    pub(super) bfd_liveness_detection: Option<RawBfd>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawCluster {
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) route_reflectors: Vec<String>,
}

/// The shape of a value in the file.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
    Bool,
    StrList,
    /// A table with these keys.
    Table(&'static [(&'static str, Kind)]),
    /// An array of tables (`[[group]]`) with these keys.
    Tables(&'static [(&'static str, Kind)]),
    /// A table whose keys are names (families), each a table with these keys.
    Named(&'static [(&'static str, Kind)]),
}

const PREFIX_LIMIT_KEYS: &[(&str, Kind)] = &[
    ("maximum", Kind::Int),
    ("teardown", Kind::Bool),
    ("restart", Kind::Int),
];

const GROUP_KEYS: &[(&str, Kind)] = &[
    ("name", Kind::Str),
    ("type", Kind::Str),
    ("peer-as", Kind::Int),
    ("local-address", Kind::Str),
    ("families", Kind::StrList),
    ("route-reflector-client", Kind::Bool),
    ("allow", Kind::StrList),
    ("neighbors", Kind::StrList),
    ("hold-time", Kind::Int),
    ("connect-retry", Kind::Int),
    ("passive", Kind::Bool),
    ("peer-port", Kind::Int),
    ("authentication-key", Kind::Str),
    ("ttl-security", Kind::Int),
    ("send-hold-time", Kind::Int),
    ("prefix-limit", Kind::Named(PREFIX_LIMIT_KEYS)),
    ("bfd-liveness-detection", Kind::Table(BFD_KEYS)),
];

const BFD_KEYS: &[(&str, Kind)] = &[
    ("minimum-interval", Kind::Int),
    ("multiplier", Kind::Int),
    ("multihop", Kind::Bool),
    ("check-control-plane-failure", Kind::Bool),
];

const VRF_KEYS: &[(&str, Kind)] = &[
    ("name", Kind::Str),
    ("vni", Kind::Int),
    ("route-target", Kind::Str),
    ("import", Kind::StrList),
    ("export", Kind::StrList),
    ("rd", Kind::Str),
    ("table", Kind::Int),
];

const CLUSTER_KEYS: &[(&str, Kind)] = &[("name", Kind::Str), ("route-reflectors", Kind::StrList)];

const MESH_KEYS: &[(&str, Kind)] = &[
    ("local-cluster", Kind::Str),
    ("local-address", Kind::Str),
    ("clusters", Kind::Tables(CLUSTER_KEYS)),
    ("bfd-liveness-detection", Kind::Table(BFD_KEYS)),
];

const TOP_KEYS: &[(&str, Kind)] = &[
    ("router-id", Kind::Str),
    ("local-as", Kind::Int),
    ("cluster-id", Kind::Str),
    ("control-socket", Kind::Str),
    ("control-group", Kind::Str),
    ("listen-address", Kind::Str),
    ("listen-port", Kind::Int),
    ("hold-time", Kind::Int),
    ("connect-retry", Kind::Int),
    ("graceful-restart-time", Kind::Int),
    ("group", Kind::Tables(GROUP_KEYS)),
    ("vtep-address", Kind::Str),
    ("kernel-sync", Kind::Bool),
    ("state-dir", Kind::Str),
    ("vrf", Kind::Tables(VRF_KEYS)),
    ("cluster-mesh", Kind::Table(MESH_KEYS)),
    ("http-listen", Kind::Str),
    ("log-format", Kind::Str),
];

/// The TOML text as the raw configuration: syntax, then every key and the
/// type of every value, checked against [`TOP_KEYS`].
pub(super) fn parse(text: &str, origin: &str) -> Result<RawConfig, ConfigError> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::File {
            file: origin.to_string(),
            message: toml_error(text, &e),
        })?;
    Schema { file: origin }.keys("", &table, TOP_KEYS)?;
    // Every key is spelled exactly and every value has its type: the
    // `config` crate (which folds key case and reads "64512" as a number)
    // now only maps the checked text onto the configuration structs.
    config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .build()
        .and_then(|c| c.try_deserialize())
        .map_err(|e| ConfigError::File {
            file: origin.to_string(),
            message: e.to_string().trim().replace('\n', "; "),
        })
}

/// A TOML syntax error on one line: `line 2, column 12: …`.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

/// A value as the error messages show it: its TOML type and text.
fn describe(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("the string {s:?}"),
        toml::Value::Integer(i) => format!("the integer {i}"),
        toml::Value::Float(f) => format!("the number {f}"),
        toml::Value::Boolean(b) => format!("the boolean {b}"),
        toml::Value::Datetime(d) => format!("the date {d}"),
        toml::Value::Array(_) => "an array".to_string(),
        toml::Value::Table(_) => "a table".to_string(),
    }
}

/// Checks keys and value types against the schema tables; errors name
/// `file`.
struct Schema<'a> {
    file: &'a str,
}

impl Schema<'_> {
    /// Every key of `t` is one of `keys`, spelled exactly, and its value
    /// has the type the key wants.
    fn keys(
        &self,
        prefix: &str,
        t: &toml::Table,
        keys: &[(&str, Kind)],
    ) -> Result<(), ConfigError> {
        for (k, v) in t {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            let Some((_, kind)) = keys.iter().find(|(name, _)| *name == k) else {
                let wanted = k.to_ascii_lowercase().replace('_', "-");
                let message = match keys.iter().find(|(name, _)| *name == wanted) {
                    Some((name, _)) => {
                        format!("unknown key {k:?}: keys are lowercase with dashes, write {name:?}")
                    }
                    None => {
                        let known: Vec<&str> = keys.iter().map(|(name, _)| *name).collect();
                        format!("unknown key {k:?}: expected one of {}", known.join(", "))
                    }
                };
                return Err(self.err(path, message));
            };
            self.value(&path, v, *kind)?;
        }
        Ok(())
    }

    fn value(&self, path: &str, v: &toml::Value, kind: Kind) -> Result<(), ConfigError> {
        let wrong = |what: &str| {
            let mut message = format!("{} where {what} is expected", describe(v));
            if let (toml::Value::String(s), Kind::Int) = (v, kind) {
                if let Ok(i) = s.trim().parse::<i64>() {
                    message.push_str(&format!(": write {i} without quotes"));
                }
            }
            Err(self.err(path, message))
        };
        match (kind, v) {
            (Kind::Str, toml::Value::String(_))
            | (Kind::Int, toml::Value::Integer(_))
            | (Kind::Bool, toml::Value::Boolean(_)) => Ok(()),
            (Kind::Str, _) => wrong("a string"),
            (Kind::Int, _) => wrong("an integer"),
            (Kind::Bool, _) => wrong("true or false"),
            (Kind::StrList, toml::Value::Array(a)) => {
                for (i, e) in a.iter().enumerate() {
                    self.value(&format!("{path}[{i}]"), e, Kind::Str)?;
                }
                Ok(())
            }
            (Kind::StrList, _) => wrong("an array of strings"),
            (Kind::Table(keys), toml::Value::Table(t)) => self.keys(path, t, keys),
            (Kind::Table(_), _) => wrong("a table"),
            (Kind::Tables(keys), toml::Value::Array(a)) => {
                for (i, e) in a.iter().enumerate() {
                    let at = format!("{path}[{i}]");
                    match e {
                        toml::Value::Table(t) => self.keys(&at, t, keys)?,
                        other => {
                            return Err(self
                                .err(at, format!("{} where a table is expected", describe(other))))
                        }
                    }
                }
                Ok(())
            }
            (Kind::Tables(_), _) => wrong("an array of tables"),
            (Kind::Named(keys), toml::Value::Table(t)) => {
                for (name, e) in t {
                    self.value(&format!("{path}.{name}"), e, Kind::Table(keys))?;
                }
                Ok(())
            }
            (Kind::Named(_), _) => wrong("a table"),
        }
    }

    fn err(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        super::invalid(self.file, key, message)
    }
}
