//! The results: the Markdown table and the SVG plot.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::{scenarios, settings, Args, Device, Outcome, Plan, SKIPPED, VRFS};

/// The numbered scenarios in order, then the others as they first ran.
fn scenario_order(s: &str) -> (u8, bool) {
    match s.as_bytes()[0] {
        d @ b'0'..=b'9' => (d, s.contains("VPNv4 only")),
        _ => (u8::MAX, false),
    }
}

/// The scenarios of `results`, each once, in [`scenario_order`].
fn scenario_list(results: &[Outcome]) -> Vec<&str> {
    let mut scenarios: Vec<&str> = Vec::new();
    for o in results {
        if !scenarios.contains(&o.scenario.as_str()) {
            scenarios.push(&o.scenario);
        }
    }
    scenarios.sort_by_key(|s| scenario_order(s));
    scenarios
}

pub(crate) fn report(
    args: &Args,
    plan: &Plan,
    results: &[Outcome],
    versions: &BTreeMap<Device, String>,
    worker: Option<(u64, u64, u64)>,
) -> String {
    let mut md = String::new();
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{:?}", args.size));
    if !args.scenarios.contains(&scenarios::Set::Standard) {
        let _ = writeln!(md, "# Route reflector side by side ({name})\n");
    } else {
        let _ = writeln!(
        md,
        "# Route reflector side by side ({})\n\n{} EVPN Type-5 routes over {VRFS} VRFs + {} VPNv4 routes ({} in the VPNv4-only runs), \
         {} sink clients; {}. \
         Time: from the first UPDATE sent to the moment every sink holds every route (or none, for withdrawal). \
         Ratio: the device's time over Ferry's (higher is slower). RSS: once converged (peak: the process's high-water mark). Bytes per path: RSS growth over the idle device, per route held (scenario 1).\n",
        name,
        plan.type5,
        plan.vpnv4,
        plan.vpn_only,
        plan.sinks,
        if plan.many_and_churn {
            format!(
                "scenario 2 from {} injectors; churn {} routes/s for {} s",
                plan.injectors_many, plan.churn_rate, plan.churn_secs
            )
        } else {
            "one injector; scenarios 1 and 3 only".into()
        },
    );
    }
    md.push_str(&scenarios::describe(args));
    let scenarios = scenario_list(results);
    let _ = writeln!(
        md,
        "| scenario | device | time (s) | routes/s | vs Ferry | CPU (s) | RSS (MiB) | peak RSS (MiB) | bytes/path | note |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for sc in &scenarios {
        let ferry = results
            .iter()
            .find(|o| o.scenario == *sc && o.device == Device::Ferry)
            .and_then(|o| o.seconds);
        for o in results.iter().filter(|o| o.scenario == *sc) {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {:.1} | {} | {} | {} | {} |",
                o.scenario,
                o.device.name(),
                match o.seconds {
                    Some(s) => format!("{s:.2}"),
                    None if o.note == SKIPPED => "–".into(),
                    None => format!("failed ({}/{})", o.reached, o.routes),
                },
                o.seconds
                    .filter(|_| !o.scenario.starts_with('4'))
                    .map(|s| format!("{:.0}", o.routes as f64 / s))
                    .unwrap_or_else(|| "–".into()),
                match (o.seconds, ferry) {
                    // Churn settles in milliseconds: a ratio would be noise.
                    (Some(s), Some(f)) if f > 0.0 && !o.scenario.starts_with('4') => {
                        format!("{:.2}×", s / f)
                    }
                    _ => "–".into(),
                },
                o.cpu_seconds,
                mib(o.rss),
                mib(o.peak_rss),
                o.bytes_per_path
                    .map(|b| format!("{b:.0}"))
                    .unwrap_or_else(|| "–".into()),
                o.note
            );
        }
    }
    if let Some((rss, anon, file)) = worker {
        let _ = writeln!(
            md,
            "\nFerry worker bgpd, idle (Established with the reflector, VRF `blue` in the kernel, no pods): \
             RSS {:.1} MiB ({:.1} MiB anonymous, {:.1} MiB file-backed).",
            rss as f64 / 1048576.0,
            anon as f64 / 1048576.0,
            file as f64 / 1048576.0
        );
    }
    let _ = writeln!(md, "\n## Devices and settings\n");
    for (d, v) in versions {
        let _ = writeln!(md, "- **{}** ({v}): {}", d.name(), settings(*d));
    }
    let _ = writeln!(
        md,
        "\nInjector and sinks: `benches/sysbench/` (UPDATEs encoded before the clock starts, 100 Type-5 or 200 VPNv4 NLRI \
         per UPDATE; sinks scan NLRI in place). Everything runs in one network namespace over 127.0.0.0/8 on this machine ({}).",
        machine()
    );
    md
}

/// Bytes as MiB for the table; "–" for a device that did not run.
fn mib(b: u64) -> String {
    if b == 0 {
        "–".into()
    } else {
        format!("{:.1}", b as f64 / 1048576.0)
    }
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_default();
    format!("{cpus} CPUs, {model}")
}

/// A bar chart of the convergence times, per scenario and device.
pub(crate) fn svg(results: &[Outcome]) -> String {
    let scenarios = scenario_list(results);
    let devices = [
        Device::Ferry,
        Device::Frr,
        Device::Gobgp,
        Device::Bird,
        Device::Relay,
    ];
    let colors = ["#1b7f5f", "#c0392b", "#2c6fbb", "#8e6c1f", "#888888"];
    // A log scale: the devices differ by orders of magnitude.
    let times = || {
        results
            .iter()
            .filter_map(|o| o.seconds)
            .map(|t| t.max(0.001))
    };
    let lo = times().fold(f64::MAX, f64::min).min(1.0).log10().floor();
    let hi = times()
        .fold(0.001f64, f64::max)
        .log10()
        .ceil()
        .max(lo + 1.0);
    let scale = |t: f64| (t.max(0.001).log10() - lo) / (hi - lo);
    let (bar, gap, left, top, height) = (22.0, 30.0, 60.0, 40.0, 300.0);
    let group_w = devices.len() as f64 * bar + gap;
    let width = left + scenarios.len() as f64 * group_w + 20.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{:.0}\" font-family=\"sans-serif\" font-size=\"11\">",
        top + height + 110.0
    );
    let _ = writeln!(s, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let _ = writeln!(
        s,
        "<text x=\"{left}\" y=\"20\" font-size=\"14\">Time to full convergence at every sink (s, log scale, lower is better)</text>"
    );
    for k in 0..=((hi - lo) as i32) {
        let v = 10f64.powf(lo + k as f64);
        let y = top + height - height * scale(v);
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" x2=\"{width:.0}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"end\">{v}</text>",
            left - 5.0,
            y + 4.0
        );
    }
    for (i, sc) in scenarios.iter().enumerate() {
        let x0 = left + i as f64 * group_w + gap / 2.0;
        for (j, d) in devices.iter().enumerate() {
            let Some(o) = results.iter().find(|o| o.scenario == *sc && o.device == *d) else {
                continue;
            };
            let x = x0 + j as f64 * bar;
            match o.seconds {
                Some(t) => {
                    let h = (height * scale(t)).max(1.0);
                    let _ = writeln!(
                        s,
                        "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\"><title>{} {}: {t:.2} s</title></rect>",
                        top + height - h,
                        bar - 2.0,
                        colors[j],
                        d.name(),
                        sc
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"{}\">✗</text>",
                        x + 5.0,
                        top + height - 4.0,
                        colors[j]
                    );
                }
            }
        }
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" transform=\"rotate(-30 {:.1} {:.1})\">{}</text>",
            x0 + group_w / 2.0,
            top + height + 16.0,
            x0 + group_w / 2.0,
            top + height + 16.0,
            sc
        );
    }
    for (j, d) in devices.iter().enumerate() {
        let x = left + j as f64 * 110.0;
        let y = top + height + 95.0;
        let _ = writeln!(
            s,
            "<rect x=\"{x:.0}\" y=\"{:.0}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{:.0}\" y=\"{y:.0}\">{}</text>",
            y - 10.0,
            colors[j],
            x + 16.0,
            d.name()
        );
    }
    s.push_str("</svg>\n");
    s
}
