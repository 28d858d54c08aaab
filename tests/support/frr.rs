//! FRR's bgpd (and bfdd) in a namespace.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::netns::Netns;
use super::process::{eventually, output};

/// FRR's bgpd without zebra in a namespace.
pub struct Frr<'a> {
    pub ns: &'a Netns,
    dir: PathBuf,
}

impl<'a> Frr<'a> {
    pub fn start(ns: &'a Netns, dir: &Path, name: &str, conf: &str) -> Frr<'a> {
        let dir = dir.join(name);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("bgpd.conf"), conf).unwrap();
        let frr = Frr { ns, dir };
        frr.start_bgpd();
        frr
    }

    /// Starts FRR's bgpd (again) with the configuration given to `start`.
    pub fn start_bgpd(&self) {
        let (ns, dir) = (self.ns, &self.dir);
        let conf_path = dir.join("bgpd.conf");
        ns.exec_ok(&[
            "/usr/lib/frr/bgpd",
            "-Z",
            "-n",
            "-S",
            "-f",
            conf_path.to_str().unwrap(),
            "-i",
            dir.join("bgpd.pid").to_str().unwrap(),
            "--vty_socket",
            dir.to_str().unwrap(),
            "-d",
        ]);
    }

    /// SIGKILLs FRR's bgpd (bfdd, if started, goes on) and waits until it
    /// has exited.
    pub fn kill_bgpd(&self) {
        let pid_file = self.dir.join("bgpd.pid");
        let pid: i32 = fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // SAFETY: kill(2) on the PID of the bgpd this test started.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
        eventually("FRR's bgpd gone", Duration::from_secs(10), || {
            // SAFETY: kill(2) with signal 0 only checks the PID.
            if unsafe { libc::kill(pid, 0) } != 0 {
                Ok(())
            } else {
                Err(format!("PID {pid} still there"))
            }
        });
        let _ = fs::remove_file(pid_file);
    }

    pub fn vtysh(&self, cmd: &str) -> String {
        let out = output(
            "vtysh",
            &["--vty_socket", self.dir.to_str().unwrap(), "-c", cmd],
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts FRR's bfdd beside bgpd with `conf` (a `bfd` block with
    /// static `peer`s: without zebra, FRR's bgpd cannot register its
    /// neighbours with bfdd itself). bfdd has no option to skip dropping
    /// to the `frr` user, so the directory is opened to it.
    pub fn start_bfdd(&self, conf: &str) {
        use std::os::unix::fs::PermissionsExt;
        if let Some(parent) = self.dir.parent() {
            fs::set_permissions(parent, fs::Permissions::from_mode(0o755)).unwrap();
        }
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o777)).unwrap();
        let conf_path = self.dir.join("bfdd.conf");
        fs::write(&conf_path, conf).unwrap();
        fs::set_permissions(&conf_path, fs::Permissions::from_mode(0o644)).unwrap();
        let d = |f: &str| self.dir.join(f).to_str().unwrap().to_string();
        self.ns.exec_ok(&[
            "/usr/lib/frr/bfdd",
            "-u",
            "frr",
            "-g",
            "frr",
            "-f",
            &d("bfdd.conf"),
            "-i",
            &d("bfdd.pid"),
            "--vty_socket",
            self.dir.to_str().unwrap(),
            "--bfdctl",
            &d("bfdd.sock"),
            "-z",
            &d("zserv.api"),
            "--log",
            &format!("file:{}", d("bfdd.log")),
            "-d",
        ]);
        eventually("bfdd started", Duration::from_secs(10), || {
            if self.dir.join("bfdd.pid").exists() {
                Ok(())
            } else {
                Err("no bfdd.pid".into())
            }
        });
    }
}

impl Drop for Frr<'_> {
    fn drop(&mut self) {
        if let Ok(pid) = fs::read_to_string(self.dir.join("bfdd.pid")) {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                // SAFETY: kill(2) on the PID of the bfdd this test started.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
        if let Ok(pid) = fs::read_to_string(self.dir.join("bgpd.pid")) {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                // SAFETY: kill(2) on the PID of the bgpd this test started.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
}
