//! BIRD 2 in a namespace.

use std::path::{Path, PathBuf};

use super::netns::Netns;
use super::process::{output, Proc};

/// A BIRD daemon in a namespace, killed on drop.
pub struct Bird {
    /// Its control socket, for `birdc -s`.
    pub socket: PathBuf,
    _proc: Proc,
}

impl Bird {
    /// Writes `conf` to `dir/bird.conf` and starts BIRD in the foreground
    /// in `ns`, its control socket `dir/bird.ctl`, its log `dir/bird.log`.
    pub fn start(ns: &Netns, dir: &Path, conf: &str) -> Bird {
        let path = dir.join("bird.conf");
        std::fs::write(&path, conf).unwrap();
        let socket = dir.join("bird.ctl");
        let proc = Proc::spawn(
            "bird",
            ns,
            "bird",
            &[
                "-f",
                "-c",
                path.to_str().unwrap(),
                "-s",
                socket.to_str().unwrap(),
                "-P",
                dir.join("bird.pid").to_str().unwrap(),
            ],
            &dir.join("bird.log"),
        );
        Bird {
            socket,
            _proc: proc,
        }
    }

    /// `birdc ARGS`: what it printed.
    pub fn birdc(&self, args: &[&str]) -> String {
        let mut full = vec!["-s", self.socket.to_str().unwrap()];
        full.extend_from_slice(args);
        String::from_utf8_lossy(&output("birdc", &full).stdout).into_owned()
    }
}
