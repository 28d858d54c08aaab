#!/usr/bin/env python3
"""Checks deploy/monitoring offline (deploy/test runs it):

* the PrometheusRule's spec passes `promtool check rules`, and its alerts
  fire as rules-test.yaml says (`promtool test rules`);
* every query of the Grafana dashboard parses (as a recording rule for
  `promtool check rules`, Grafana's variables filled in);
* a real bgpd (a reflector on 127.0.0.1) serves /metrics that pass
  `promtool check metrics`, and every metric the rules and the dashboard
  name is one bgpd exposes (the worker-only ones listed below).

Usage: test_monitoring.py BIN_DIR
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
# Exposed by workers only (kernel sync on), and by Prometheus itself.
WORKER_ONLY = {"ferry_kernel_routes", "ferry_pods", "ferry_kernel_ops_total", "ferry_kernel_in_sync"}
PROMETHEUS_OWN = {"up"}
# Exposed once a session is Established (a series per peer and family).
SESSION_ONLY = {"ferry_bgp_prefixes_received", "ferry_bgp_prefixes_accepted", "ferry_bgp_prefixes_advertised"}


def promtool(*args, stdin=None):
    r = subprocess.run(["promtool", *args], input=stdin, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"promtool {' '.join(args)}: {r.stdout}{r.stderr}")
    return r.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(bin_dir, tmp):
    http_port, bgp_port = free_port(), free_port()
    conf = os.path.join(tmp, "rr.toml")
    with open(conf, "w") as f:
        f.write(
            f'http-listen = "127.0.0.1:{http_port}"\n'
            f'control-socket = "{tmp}/rr.sock"\n'
            'listen-address = "127.0.0.1"\n'
            f"listen-port = {bgp_port}\n"
            'router-id = "10.10.25.42"\nlocal-as = 64512\ncluster-id = "10.10.25.42"\n'
            '[[group]]\nname = "workers"\nroute-reflector-client = true\n'
            'neighbors = ["127.0.0.2"]\npassive = true\n'
            "[group.prefix-limit.evpn]\nmaximum = 1000\n"
        )
    log = open(os.path.join(tmp, "rr.log"), "w")
    proc = subprocess.Popen([os.path.join(bin_dir, "bgpd"), "--config", conf], stderr=log)
    try:
        deadline = time.time() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=3) as r:
                    return r.read().decode()
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    sys.exit(f"bgpd /metrics did not answer: {open(log.name).read()}")
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(10)


def names_in(expr):
    return set(re.findall(r"\b((?:ferry|process)_[a-z_]+|up)\b(?=\s*[{\[)\s]|$)", expr))


def main():
    bin_dir = sys.argv[1] if len(sys.argv) > 1 else "target/debug"
    if not shutil.which("promtool"):
        sys.exit("test_monitoring.py: promtool missing (Debian package prometheus)")
    tmp = tempfile.mkdtemp()
    try:
        rule = yaml.safe_load(open(os.path.join(HERE, "prometheus-rule.yaml")))
        assert rule["apiVersion"] == "monitoring.coreos.com/v1" and rule["kind"] == "PrometheusRule"
        rules_file = os.path.join(tmp, "ferry-rules.yaml")
        with open(rules_file, "w") as f:
            yaml.safe_dump(rule["spec"], f)
        promtool("check", "rules", rules_file)
        shutil.copy(os.path.join(HERE, "rules-test.yaml"), tmp)
        promtool("test", "rules", os.path.join(tmp, "rules-test.yaml"))
        alerts = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]}
        for wanted in ["FerryBgpSessionDown", "FerryWorkerNotReady", "FerryConfigReloadFailed", "FerryPrefixesNearLimit"]:
            assert wanted in alerts, wanted
        exprs = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]

        dash = json.load(open(os.path.join(HERE, "grafana-dashboard.json")))
        queries = []
        for p in dash["panels"]:
            for t in p.get("targets", []):
                queries.append(t["expr"])
        assert queries, "the dashboard has no queries"
        filled = [q.replace("$__rate_interval", "5m").replace("$instance", ".*") for q in queries]
        recording = {"groups": [{"name": "dashboard", "rules": [
            {"record": f"dashboard:query{i}", "expr": q} for i, q in enumerate(filled)]}]}
        dash_file = os.path.join(tmp, "dashboard-queries.yaml")
        with open(dash_file, "w") as f:
            yaml.safe_dump(recording, f)
        promtool("check", "rules", dash_file)
        exprs += queries

        text = scrape(bin_dir, tmp)
        promtool("check", "metrics", stdin=text)
        exposed = {l.split()[2] for l in text.splitlines() if l.startswith("# TYPE ")}
        for name in ["ferry_bgp_session_up", "ferry_bgp_prefix_limit", "process_resident_memory_bytes",
                     "process_cpu_seconds_total", "process_open_fds", "process_start_time_seconds"]:
            assert name in exposed, f"{name} not exposed:\n{text}"
        known = exposed | WORKER_ONLY | PROMETHEUS_OWN | SESSION_ONLY
        for e in exprs:
            unknown = names_in(e) - known
            assert not unknown, f"{e!r} names {unknown}, which bgpd does not expose"
        print(f"monitoring: {len(alerts)} alerts, {len(queries)} dashboard queries, "
              f"{len(exposed)} metric families checked")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
