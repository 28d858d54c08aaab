//! The standard scenarios (1 to 4) and how a run is recorded.

use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{
    connect, cpu, feed, keepalives, memory, start, Args, Device, Feed, Mix, Peer, Plan, Running,
    VRFS,
};

/// The note of a device left out of a scenario.
pub(crate) const SKIPPED: &str = "skipped (`--skip`): too slow at this size for this run";

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Outcome {
    pub(crate) scenario: String,
    pub(crate) device: Device,
    pub(crate) routes: u64,
    /// Seconds to full convergence at every sink; None when it timed out.
    pub(crate) seconds: Option<f64>,
    /// What the sinks held when the clock stopped (min over sinks).
    pub(crate) reached: u64,
    pub(crate) cpu_seconds: f64,
    pub(crate) peak_rss: u64,
    /// RSS once converged.
    pub(crate) rss: u64,
    pub(crate) bytes_per_path: Option<f64>,
    pub(crate) note: String,
}

impl<'de> serde::Deserialize<'de> for Device {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Device, D::Error> {
        let name = String::deserialize(d)?;
        [
            Device::Ferry,
            Device::Frr,
            Device::Gobgp,
            Device::Bird,
            Device::Relay,
        ]
        .into_iter()
        .find(|x| x.name() == name)
        .ok_or_else(|| serde::de::Error::custom(format!("unknown device {name:?}")))
    }
}

impl serde::Serialize for Device {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// The device, its sinks, its injectors, and every session (for keepalives).
pub(crate) type SessionSet = (
    Running,
    Vec<Arc<Peer>>,
    Vec<Arc<Peer>>,
    Arc<Mutex<Vec<Arc<Peer>>>>,
);

pub(crate) struct Bench<'a> {
    pub(crate) args: &'a Args,
    pub(crate) plan: Plan,
    pub(crate) results: Vec<Outcome>,
}

/// Waits until every sink holds `want` routes of each family.
pub(crate) fn converge(
    dut: &mut Running,
    sinks: &[Arc<Peer>],
    want: (u64, u64),
    timeout: Duration,
) -> Result<Duration, (String, u64)> {
    let t0 = Instant::now();
    loop {
        let mut least = u64::MAX;
        let mut done = true;
        for s in sinks {
            let (a, b) = (
                s.counts.type5.load(Ordering::Acquire),
                s.counts.vpnv4.load(Ordering::Acquire),
            );
            least = least.min(a + b);
            if (a, b) != want {
                done = false;
            }
            if s.counts.closed.load(Ordering::SeqCst) {
                let why = s.counts.error.lock().expect("lock").clone();
                return Err((
                    format!("sink {}: {}", s.addr, why.unwrap_or_default()),
                    least,
                ));
            }
        }
        if done {
            return Ok(t0.elapsed());
        }
        if !dut.alive() {
            return Err((format!("{} exited", dut.device.name()), least));
        }
        if t0.elapsed() > timeout {
            return Err(("timed out".into(), least));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

pub(crate) fn send_all(
    peer: &Arc<Peer>,
    msgs: &[Vec<u8>],
) -> std::thread::JoinHandle<std::io::Result<()>> {
    let joined: Vec<u8> = msgs.concat();
    let p = peer.clone();
    std::thread::spawn(move || p.send(&joined))
}

impl Bench<'_> {
    pub(crate) fn sizes(&self, device: Device, vpn_only: bool) -> (u32, u32) {
        if device.evpn() && !vpn_only {
            (self.plan.type5, self.plan.vpnv4)
        } else {
            (0, self.plan.vpn_only)
        }
    }

    pub(crate) fn session_set(
        &self,
        device: Device,
        injectors: u32,
        vpn_only: bool,
    ) -> Result<SessionSet, String> {
        let (n5, n4) = self.sizes(device, vpn_only);
        let dut = start(device, self.args)?;
        let evpn = n5 > 0;
        let mut sinks = Vec::new();
        for i in 0..self.plan.sinks {
            sinks.push(connect(
                Ipv4Addr::new(127, 0, 2, 1 + i as u8),
                evpn,
                n5,
                n4,
            )?);
        }
        let mut inj = Vec::new();
        for k in 0..injectors {
            inj.push(connect(
                Ipv4Addr::new(127, 0, 3, 1 + k as u8),
                evpn,
                n5,
                n4,
            )?);
        }
        let all = Arc::new(Mutex::new(sinks.iter().chain(&inj).cloned().collect()));
        keepalives(&all);
        std::thread::sleep(Duration::from_secs(1));
        Ok((dut, sinks, inj, all))
    }

    pub(crate) fn record(
        &mut self,
        scenario: &str,
        dut: &mut Running,
        result: Result<Duration, (String, u64)>,
        routes: u64,
        (cpu0, idle_rss): (f64, u64),
        note: &str,
    ) {
        // Settled memory: what the device keeps for the routes it holds.
        std::thread::sleep(Duration::from_secs_f64(self.args.settle));
        let (rss, hwm) = memory(dut.pid());
        let (seconds, reached, why) = match result {
            Ok(d) => (Some(d.as_secs_f64()), routes, String::new()),
            Err((why, least)) => (None, least, why),
        };
        let per_path = (scenario.starts_with('1') && routes > 0)
            .then(|| rss.saturating_sub(idle_rss) as f64 / routes as f64);
        let o = Outcome {
            scenario: scenario.to_string(),
            device: dut.device,
            routes,
            seconds,
            reached,
            cpu_seconds: cpu(dut.pid()) - cpu0,
            peak_rss: hwm,
            rss,
            bytes_per_path: per_path,
            note: [note, &why]
                .iter()
                .filter(|s| !s.is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join("; "),
        };
        eprintln!(
            "  {:<24} {:<12} {}  cpu {:.1} s  RSS {:.1} MiB (peak {:.1}){}",
            scenario,
            dut.device.name(),
            o.seconds
                .map(|s| format!("{s:.2} s ({:.0} routes/s)", routes as f64 / s))
                .unwrap_or_else(|| format!("FAILED ({} of {routes}): {}", o.reached, o.note)),
            o.cpu_seconds,
            rss as f64 / 1048576.0,
            hwm as f64 / 1048576.0,
            o.bytes_per_path
                .map(|b| format!("  {b:.0} B/path"))
                .unwrap_or_default()
        );
        self.results.push(o);
    }

    /// Scenarios 1, 3 and 4 on one device (one injector).
    pub(crate) fn one_injector(&mut self, device: Device, vpn_only: bool) -> Result<(), String> {
        let (n5, n4) = self.sizes(device, vpn_only);
        let want = (n5 as u64, n4 as u64);
        let total = want.0 + want.1;
        let (mut dut, sinks, inj, _all) = self.session_set(device, 1, vpn_only)?;
        let timeout = Duration::from_secs(self.args.timeout);
        let injector = &inj[0];
        let f = feed(injector.addr, 0..VRFS, n5, n4);
        let (idle_rss, _) = memory(dut.pid());
        let suffix = if device.evpn() && !vpn_only {
            ""
        } else {
            " (VPNv4 only)"
        };
        let label = |s: &str| format!("{s}{suffix}");

        // 1: everything from one injector, reflected to every sink.
        let cpu0 = cpu(dut.pid());
        let sender = send_all(injector, &f.announce);
        let r = converge(&mut dut, &sinks, want, timeout);
        let _ = sender.join();
        let ok = r.is_ok();
        self.record(
            &label("1 reflect"),
            &mut dut,
            r,
            total,
            (cpu0, idle_rss),
            "",
        );
        if !ok || (vpn_only && self.plan.many_and_churn) {
            dut.stop();
            return Ok(());
        }

        // 3: withdrawal of everything.
        let cpu0 = cpu(dut.pid());
        let sender = send_all(injector, &f.withdraw);
        let r = converge(&mut dut, &sinks, (0, 0), timeout);
        let _ = sender.join();
        self.record(
            &label("3 withdraw all"),
            &mut dut,
            r,
            total,
            (cpu0, idle_rss),
            "",
        );
        if !self.plan.many_and_churn {
            dut.stop();
            return Ok(());
        }

        // 4: churn. Everything announced again, then every 100 ms a pack
        // of routes is withdrawn and the previous pack announced again.
        let sender = send_all(injector, &f.announce);
        let _ = sender.join();
        if converge(&mut dut, &sinks, want, timeout).is_err() {
            dut.stop();
            return Err(format!(
                "{}: re-announcement did not converge",
                device.name()
            ));
        }
        let per_tick = (self.plan.churn_rate / 10).max(1) as u64;
        // Churn the Type-5 routes (100 per message), or the VPNv4 routes
        // (200 per message) on a device without EVPN.
        let (msg_routes, churned_msgs) = if n5 > 0 {
            (100u64, (n5 as usize).div_ceil(100))
        } else {
            (200u64, (n4 as usize).div_ceil(200))
        };
        let churned_msgs = churned_msgs.max(1);
        let packs = (per_tick / 2 / msg_routes).max(1) as usize;
        let cpu0 = cpu(dut.pid());
        let started = Instant::now();
        let ticks = self.plan.churn_secs * 10;
        let mut next = 0usize;
        let mut last: Vec<usize> = Vec::new();
        let mut sent_changes = 0u64;
        for t in 0..ticks {
            let mut batch = Vec::new();
            for &j in &last {
                batch.extend_from_slice(&f.announce[j]);
            }
            let now: Vec<usize> = (0..packs).map(|k| (next + k) % churned_msgs).collect();
            next = (next + packs) % churned_msgs;
            for &j in &now {
                batch.extend_from_slice(&f.withdraw[j]);
            }
            sent_changes += (last.len() + now.len()) as u64 * msg_routes;
            last = now;
            if injector.send(&batch).is_err() {
                break;
            }
            let due = started + Duration::from_millis(100 * (t as u64 + 1));
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let mut batch = Vec::new();
        for &j in &last {
            batch.extend_from_slice(&f.announce[j]);
        }
        sent_changes += last.len() as u64 * msg_routes;
        let _ = injector.send(&batch);
        let churn_time = started.elapsed().as_secs_f64();
        let r = converge(&mut dut, &sinks, want, timeout);
        let note = format!(
            "{sent_changes} changes in {churn_time:.1} s ({:.0}/s); time is the settling after the last change",
            sent_changes as f64 / churn_time
        );
        self.record(
            &label("4 churn"),
            &mut dut,
            r,
            sent_changes,
            (cpu0, idle_rss),
            &note,
        );
        dut.stop();
        Ok(())
    }

    /// A row saying that `device` was left out of scenario 1 of `mix`.
    pub(crate) fn skipped(&mut self, device: Device, mix: Mix) {
        let vpn_only = mix == Mix::Vpnv4;
        let (n5, n4) = self.sizes(device, vpn_only);
        let suffix = if vpn_only { " (VPNv4 only)" } else { "" };
        crate::scenarios::skipped(self, device, format!("1 reflect{suffix}"), n5 + n4);
    }

    /// Scenario 2: the same routes from 10 injectors.
    pub(crate) fn many_injectors(&mut self, device: Device) -> Result<(), String> {
        let (n5, n4) = self.sizes(device, false);
        let want = (n5 as u64, n4 as u64);
        let k = self.plan.injectors_many;
        let (mut dut, sinks, inj, _all) = self.session_set(device, k, false)?;
        let per = VRFS / k;
        let feeds: Vec<Feed> = inj
            .iter()
            .enumerate()
            .map(|(j, p)| feed(p.addr, j as u32 * per..(j as u32 + 1) * per, n5, n4))
            .collect();
        let (idle_rss, _) = memory(dut.pid());
        let cpu0 = cpu(dut.pid());
        let senders: Vec<_> = inj
            .iter()
            .zip(&feeds)
            .map(|(p, f)| send_all(p, &f.announce))
            .collect();
        let r = converge(
            &mut dut,
            &sinks,
            want,
            Duration::from_secs(self.args.timeout),
        );
        for s in senders {
            let _ = s.join();
        }
        let suffix = if device.evpn() { "" } else { " (VPNv4 only)" };
        self.record(
            &format!("2 reflect, {k} injectors{suffix}"),
            &mut dut,
            r,
            want.0 + want.1,
            (cpu0, idle_rss),
            "",
        );
        dut.stop();
        Ok(())
    }
}
