#!/usr/bin/env python3
"""Checks the containerlab topologies without Docker (none runs on the test
machines): the topology files hold to the structure containerlab reads
(a schema of the fields they use), every file they bind exists, the Ferry
configurations pass `bgpd --check`, the FRR configurations pass
`vtysh --dryrun`, and each router's neighbours are the addresses the
topology gives the other routers.

Usage: python3 deploy/containerlab/test_topology.py [BIN_DIR]   (holds bgpd)
"""

import glob
import ipaddress
import os
import re
import shutil
import subprocess
import sys

import jsonschema
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
BIN_DIR = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "target", "debug")

NODE = {
    "type": "object",
    "required": ["kind", "image", "mgmt-ipv4"],
    "additionalProperties": False,
    "properties": {
        "kind": {"enum": ["linux", "juniper_crpd"]},
        "image": {"type": "string", "pattern": r"^[a-z0-9./_-]+:[A-Za-z0-9._-]+$"},
        "mgmt-ipv4": {"type": "string"},
        "entrypoint": {"type": "string"},
        "cmd": {"type": "string"},
        "startup-config": {"type": "string"},
        "license": {"type": "string"},
        "binds": {"type": "array", "items": {"type": "string", "pattern": r"^[^:]+:/[^:]+(:ro|:rw)?$"}},
        "exec": {"type": "array", "items": {"type": "string"}},
    },
}
TOPOLOGY = {
    "type": "object",
    "required": ["name", "topology"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": r"^[A-Za-z0-9_-]+$"},
        "mgmt": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"network": {"type": "string"}, "ipv4-subnet": {"type": "string"}},
        },
        "topology": {
            "type": "object",
            "required": ["nodes"],
            "additionalProperties": False,
            "properties": {
                "nodes": {"type": "object", "additionalProperties": NODE, "minProperties": 1},
                "links": {"type": "array", "items": {
                    "type": "object", "required": ["endpoints"],
                    "properties": {"endpoints": {"type": "array", "minItems": 2, "maxItems": 2,
                                                 "items": {"type": "string", "pattern": r"^[^:]+:[^:]+$"}}}}},
            },
        },
    },
}


def fail(msg):
    print(f"containerlab: {msg}", file=sys.stderr)
    sys.exit(1)


def neighbours_ferry(text):
    found = re.findall(r"neighbors\s*=\s*\[([^\]]*)\]", text)
    return {a.strip().strip('"') for group in found for a in group.split(",") if a.strip()}


def neighbours_frr(text):
    return set(re.findall(r"^\s*neighbor (\d+\.\d+\.\d+\.\d+) remote-as", text, re.M))


def neighbours_crpd(text):
    return set(re.findall(r"^\s*neighbor (\d+\.\d+\.\d+\.\d+);", text, re.M))


def check(path):
    base = os.path.dirname(path)
    with open(path) as f:
        topo = yaml.safe_load(f)
    try:
        jsonschema.validate(topo, TOPOLOGY)
    except jsonschema.ValidationError as e:
        fail(f"{path}: {'/'.join(map(str, e.absolute_path))}: {e.message}")
    subnet = ipaddress.ip_network(topo.get("mgmt", {}).get("ipv4-subnet", "172.20.20.0/24"))
    nodes = topo["topology"]["nodes"]
    addr = {}
    for name, node in nodes.items():
        ip = ipaddress.ip_address(node["mgmt-ipv4"])
        if ip not in subnet or ip in (subnet.network_address, subnet.network_address + 1,
                                      subnet.broadcast_address):
            fail(f"{path}: {name}: mgmt-ipv4 {ip} is not a host address of {subnet} (.1 is the gateway)")
        if ip in addr.values():
            fail(f"{path}: {name}: mgmt-ipv4 {ip} used twice")
        addr[name] = str(ip)
    for link in topo["topology"].get("links") or []:
        for end in link["endpoints"]:
            if end.split(":")[0] not in nodes:
                fail(f"{path}: link endpoint {end} names no node")

    for name, node in nodes.items():
        files = {}
        for bind in node.get("binds", []):
            src, dst = bind.split(":")[:2]
            files[dst] = os.path.join(base, src)
        if "startup-config" in node:
            files["startup-config"] = os.path.join(base, node["startup-config"])
        for what, src in files.items():
            if not os.path.isfile(src):
                fail(f"{path}: {name}: {what} comes from {src}, which does not exist")
        others = {a for n, a in addr.items() if n != name}
        for dst, src in files.items():
            with open(src) as f:
                text = f.read()
            if node["image"].startswith("ferry:") and src.endswith(".toml"):
                p = subprocess.run([os.path.join(BIN_DIR, "bgpd"), "--check", src],
                                   capture_output=True, text=True)
                if p.returncode != 0:
                    fail(f"{path}: {name}: bgpd --check: {p.stdout}{p.stderr}")
                peers = neighbours_ferry(text)
                if f'router-id = "{addr[name]}"' not in text:
                    fail(f"{src}: router-id is not the node's address {addr[name]}")
            elif dst == "/etc/frr/frr.conf":
                vtysh = shutil.which("vtysh") or "/usr/bin/vtysh"
                if not os.path.exists(vtysh):
                    fail(f"{path}: {name}: vtysh is missing (Debian frr), {src} cannot be checked")
                else:
                    p = subprocess.run([vtysh, "--dryrun", "-f", src], capture_output=True, text=True)
                    if p.returncode != 0:
                        fail(f"{path}: {name}: vtysh --dryrun: {p.stdout}{p.stderr}")
                peers = neighbours_frr(text)
                if f"bgp router-id {addr[name]}\n" not in text:
                    fail(f"{src}: bgp router-id is not the node's address {addr[name]}")
            elif what == "startup-config" and node["kind"] == "juniper_crpd":
                if text.count("{") != text.count("}"):
                    fail(f"{src}: unbalanced braces")
                peers = neighbours_crpd(text)
                for key in ("router-id", "local-address"):
                    if f"{key} {addr[name]};" not in text:
                        fail(f"{src}: {key} is not the node's address {addr[name]}")
            else:
                continue
            if not peers or not peers <= others:
                fail(f"{src}: neighbours {sorted(peers)} are not among the other nodes {sorted(others)}")
            print(f"containerlab: {os.path.basename(path)} {name}: {os.path.basename(src)} ok, "
                  f"neighbours {', '.join(sorted(peers))}")
    return addr


def main():
    paths = sorted(glob.glob(os.path.join(HERE, "*.clab.yml")))
    if not paths:
        fail(f"no topology in {HERE}")
    for path in paths:
        check(path)


if __name__ == "__main__":
    main()
