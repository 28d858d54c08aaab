//! Ferry's bgpd in a namespace, driven through bgpctl and its control
//! socket; the route reflector configuration the tests share.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::netns::Netns;
use super::process::{bin, eventually, output, Proc};

/// Numbers the files of [`Ferry::ctl_within`]'s answers.
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A Ferry `bgpd` running in a namespace, with its control socket.
pub struct Ferry {
    pub proc: Proc,
    pub socket: PathBuf,
    pub config: PathBuf,
}

/// The control socket and (for workers) the state directory, beside the
/// socket, put before a test's configuration.
fn preamble(socket: &Path, config: &str) -> String {
    let state = socket.with_extension("state");
    format!(
        "control-socket = \"{}\"\nstate-dir = \"{}\"\n{config}",
        socket.display(),
        state.display()
    )
}

impl Ferry {
    /// Writes `config` (with `control-socket` added) and starts bgpd.
    pub fn start(ns: &Netns, dir: &Path, name: &str, config: &str) -> Ferry {
        let socket = dir.join(format!("{name}.sock"));
        let path = dir.join(format!("{name}.toml"));
        fs::write(&path, preamble(&socket, config)).unwrap();
        let proc = Proc::spawn(
            name,
            ns,
            bin("bgpd").to_str().unwrap(),
            &[
                "--config",
                path.to_str().unwrap(),
                "--log",
                &std::env::var("FERRY_TEST_LOG").unwrap_or_else(|_| "info".into()),
            ],
            &dir.join(format!("{name}.log")),
        );
        let f = Ferry {
            proc,
            socket,
            config: path,
        };
        eventually(
            &format!("{name} control socket"),
            Duration::from_secs(10),
            || {
                if f.socket.exists() {
                    Ok(())
                } else {
                    Err(f.proc.log_text())
                }
            },
        );
        f
    }

    /// Rewrites the configuration file (control socket kept).
    pub fn rewrite(&self, config: &str) {
        fs::write(&self.config, preamble(&self.socket, config)).unwrap();
    }

    /// `bgpctl -s SOCKET --json ARGS…`, parsed.
    pub fn ctl(&self, args: &[&str]) -> Result<serde_json::Value, String> {
        let mut full = vec!["-s", self.socket.to_str().unwrap(), "--json"];
        full.extend_from_slice(args);
        let out = output(bin("bgpctl").to_str().unwrap(), &full);
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
    }

    /// As [`Ferry::ctl`], but an error when bgpctl has no answer within
    /// `timeout` (the bgpctl process is then killed).
    pub fn ctl_within(
        &self,
        args: &[&str],
        timeout: Duration,
    ) -> Result<serde_json::Value, String> {
        let out_path = self
            .socket
            .with_extension(format!("out{}", COUNTER.fetch_add(1, Ordering::Relaxed)));
        let out = fs::File::create(&out_path).map_err(|e| e.to_string())?;
        let mut child = Command::new(bin("bgpctl"))
            .args(["-s", self.socket.to_str().unwrap(), "--json"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let end = Instant::now() + timeout;
        let status = loop {
            if let Ok(Some(s)) = child.try_wait() {
                break s;
            }
            if Instant::now() > end {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("bgpctl {args:?}: no answer within {timeout:?}"));
            }
            thread::sleep(Duration::from_millis(20));
        };
        let text = fs::read(&out_path).unwrap_or_default();
        let _ = fs::remove_file(&out_path);
        if !status.success() {
            return Err(format!("bgpctl {args:?}: {status}"));
        }
        serde_json::from_slice(&text).map_err(|e| e.to_string())
    }

    /// `show neighbor ADDR` as JSON (the one neighbour's object).
    pub fn neighbor(&self, addr: &str) -> Result<serde_json::Value, String> {
        let v = self.ctl(&["show", "neighbor", addr])?;
        match v {
            serde_json::Value::Array(mut a) if !a.is_empty() => Ok(a.swap_remove(0)),
            serde_json::Value::Array(_) => Err(format!("no neighbor {addr}")),
            other => Ok(other),
        }
    }

    /// The summary's neighbors, by address: (state, flaps, last-change-secs).
    pub fn sessions(&self) -> Vec<(String, String, u64, u64)> {
        let s = self.ctl(&["show", "summary"]).unwrap_or_default();
        s["neighbors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|n| {
                        (
                            n["address"].as_str().unwrap_or("").to_string(),
                            n["state"].as_str().unwrap_or("").to_string(),
                            n["flaps"].as_u64().unwrap_or(0),
                            n["last-change-secs"].as_u64().unwrap_or(0),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until `addrs` are all Established.
    pub fn wait_established(&self, addrs: &[&str]) {
        eventually("sessions Established", Duration::from_secs(60), || {
            let s = self.sessions();
            let up = |a: &&str| s.iter().any(|(x, st, _, _)| x == a && st == "Established");
            if addrs.iter().all(up) {
                Ok(())
            } else {
                Err(format!("{s:?}\n{}", self.proc.log_text()))
            }
        });
    }

    /// Sends one raw control request (a JSON object) and returns the answer.
    pub fn request(&self, request: serde_json::Value) -> serde_json::Value {
        use std::io::{BufRead, Write};
        let mut s = std::os::unix::net::UnixStream::connect(&self.socket).expect("control socket");
        writeln!(s, "{request}").unwrap();
        let mut line = String::new();
        std::io::BufReader::new(&s).read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap()
    }

    /// `show route` as JSON, with extra arguments.
    pub fn routes(&self, args: &[&str]) -> Vec<serde_json::Value> {
        let mut full = vec!["show", "route"];
        full.extend_from_slice(args);
        self.ctl(&full)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }
}

/// A route reflector at 10.10.25.42 for the clients of 10.10.0.0/16
/// (dynamic, every family), as the daemon and RFC 7606 tests run it; the
/// interop, security and worker tests append keys of the group to it.
pub const RR: &str = r#"
router-id = "10.10.25.42"
local-as = 64512
cluster-id = "10.10.25.42"
[[group]]
name = "workers"
local-address = "10.10.25.42"
route-reflector-client = true
allow = ["10.10.0.0/16"]
"#;
