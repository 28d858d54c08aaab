#!/usr/bin/env python3
"""Tests of deploy/aws/vpc-peering and deploy/push-images against a local
moto server.

No AWS account is reachable from the test machines, so the EC2 and ECR APIs
are moto's (`moto[server]`, PyPI), serving two regions on 127.0.0.1. The VPCs
are built the way eksctl builds them: tagged with the cluster name, three
route tables, a control-plane group, eksctl's shared node group and the
cluster security group EKS gives managed node groups.

Run: python3 deploy/aws/test_aws.py
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

import boto3

HERE = os.path.dirname(os.path.abspath(__file__))
TOOL = os.path.join(HERE, "vpc-peering")
PUSH_IMAGES = os.path.join(HERE, "..", "push-images")
PEER_PORTS = {("tcp", 179, 179), ("udp", 4784, 4784), ("udp", 4789, 4789), ("icmp", -1, -1)}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoServer:
    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(self.url + "/moto-api/", timeout=1)
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("moto server did not start")
                time.sleep(0.2)

    def reset(self):
        req = urllib.request.Request(self.url + "/moto-api/reset", method="POST")
        urllib.request.urlopen(req, timeout=10)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def tag_list(tags):
    return [{"Key": k, "Value": v} for k, v in tags.items()]


class Cluster:
    """A VPC made the way eksctl makes one for cluster NAME."""

    def __init__(self, region, cidr, name=None):
        self.region = region
        self.cidr = cidr
        self.name = name
        self.ec2 = boto3.client("ec2", region_name=region)
        tags = {"Name": f"eksctl-{name}-cluster/VPC", "alpha.eksctl.io/cluster-name": name,
                "eksctl.cluster.k8s.io/v1alpha1/cluster-name": name} if name else {"Name": "plain"}
        vpc = self.ec2.create_vpc(CidrBlock=cidr, TagSpecifications=[
            {"ResourceType": "vpc", "Tags": tag_list(tags)}])["Vpc"]
        self.vpc_id = vpc["VpcId"]
        for table in ("PublicRouteTable", "PrivateRouteTableUSWEST"):
            self.ec2.create_route_table(VpcId=self.vpc_id, TagSpecifications=[
                {"ResourceType": "route-table", "Tags": tag_list({"Name": table})}])
        self.default_group = self.ec2.describe_security_groups(Filters=[
            {"Name": "vpc-id", "Values": [self.vpc_id]},
            {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]
        if name:
            self.control_plane = self.group("ControlPlaneSecurityGroup", {
                "alpha.eksctl.io/cluster-name": name,
                "aws:cloudformation:logical-id": "ControlPlaneSecurityGroup"})
            self.shared_nodes = self.group("ClusterSharedNodeSecurityGroup", {
                "alpha.eksctl.io/cluster-name": name,
                "aws:cloudformation:logical-id": "ClusterSharedNodeSecurityGroup"})
            self.cluster_group = self.group(f"eks-cluster-sg-{name}", {"aws:eks:cluster-name": name})
            # An operator's own rule, which must survive up and down.
            self.ec2.authorize_security_group_ingress(GroupId=self.shared_nodes, IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                 "IpRanges": [{"CidrIp": "192.0.2.0/24", "Description": "ssh"}]}])

    def group(self, name, tags):
        return self.ec2.create_security_group(
            GroupName=name, Description=name, VpcId=self.vpc_id,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": tag_list(tags)}])["GroupId"]

    def spec(self, by_name=True):
        return f"{self.region}:{self.name if by_name and self.name else self.vpc_id}"

    def route_tables(self):
        return self.ec2.describe_route_tables(
            Filters=[{"Name": "vpc-id", "Values": [self.vpc_id]}])["RouteTables"]

    def routes_to(self, cidr):
        """Per route table, the targets of its routes to CIDR."""
        return {rt["RouteTableId"]: [r.get("VpcPeeringConnectionId") or r.get("GatewayId")
                                     for r in rt["Routes"] if r.get("DestinationCidrBlock") == cidr]
                for rt in self.route_tables()}

    def ingress_from(self, group, cidr):
        """(protocol, from, to) of every ingress rule of GROUP from CIDR, repeats included."""
        g = self.ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]
        out = []
        for perm in g["IpPermissions"]:
            for r in perm.get("IpRanges", []):
                if r["CidrIp"] == cidr:
                    out.append((perm["IpProtocol"], perm.get("FromPort", -1), perm.get("ToPort", -1)))
        return sorted(out)

    def peerings(self):
        found = self.ec2.describe_vpc_peering_connections()["VpcPeeringConnections"]
        return [p for p in found if p["Status"]["Code"] not in ("deleted", "rejected", "failed")
                and self.vpc_id in (p["RequesterVpcInfo"]["VpcId"], p["AccepterVpcInfo"]["VpcId"])]


class MotoTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.moto = MotoServer()
        cls.env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                       AWS_ENDPOINT_URL=cls.moto.url, AWS_CONFIG_FILE="/dev/null",
                       AWS_SHARED_CREDENTIALS_FILE="/dev/null")
        cls.env.pop("AWS_PROFILE", None)
        cls.env.pop("AWS_DEFAULT_REGION", None)
        cls.saved = {k: os.environ.get(k) for k in cls.env if k.startswith("AWS_")}
        os.environ.update({k: v for k, v in cls.env.items() if k.startswith("AWS_")})

    @classmethod
    def tearDownClass(cls):
        cls.moto.stop()
        for k, v in cls.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v



class VpcPeeringTest(MotoTest):
    def setUp(self):
        self.moto.reset()
        self.west1 = Cluster("us-west-1", "10.10.0.0/16", "small-us-west-1")
        self.west2 = Cluster("us-west-2", "10.20.0.0/16", "small-us-west-2")

    def run_tool(self, *args, expect=0):
        p = subprocess.run([sys.executable, TOOL, *args], env=self.env, capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(p.returncode, expect, f"vpc-peering {' '.join(args)}:\n{p.stdout}{p.stderr}")
        self.assertNotIn("Traceback", p.stderr)
        return p.stdout, p.stderr

    def state(self):
        """Everything vpc-peering may touch, to compare runs."""
        out = {}
        for c, peer in ((self.west1, self.west2), (self.west2, self.west1)):
            out[c.region] = {
                "peerings": sorted(p["VpcPeeringConnectionId"] + ":" + p["Status"]["Code"]
                                   for p in c.peerings()),
                "routes": c.routes_to(peer.cidr),
                "groups": {g: c.ingress_from(g, peer.cidr) for g in
                           (c.default_group, c.control_plane, c.shared_nodes, c.cluster_group)},
                "ssh": c.ingress_from(c.shared_nodes, "192.0.2.0/24"),
            }
        return json.dumps(out, sort_keys=True)

    def assert_peered(self):
        pcx = self.west1.peerings()
        self.assertEqual(len(pcx), 1, pcx)
        self.assertEqual(pcx[0]["Status"]["Code"], "active")
        pcx_id = pcx[0]["VpcPeeringConnectionId"]
        self.assertEqual([p["VpcPeeringConnectionId"] for p in self.west2.peerings()], [pcx_id])
        for c, peer in ((self.west1, self.west2), (self.west2, self.west1)):
            routes = c.routes_to(peer.cidr)
            self.assertEqual(len(routes), 3, "eksctl's VPC has three route tables")
            for rt, targets in routes.items():
                self.assertEqual(targets, [pcx_id], f"{c.region} {rt}")
            for g in (c.shared_nodes, c.cluster_group):
                self.assertEqual(set(c.ingress_from(g, peer.cidr)), PEER_PORTS, f"{c.region} {g}")
                self.assertEqual(len(c.ingress_from(g, peer.cidr)), 4, f"{c.region} {g}: duplicates")
            for g in (c.control_plane, c.default_group):
                self.assertEqual(c.ingress_from(g, peer.cidr), [], f"{c.region} {g} must stay closed")
            self.assertEqual(c.ingress_from(c.shared_nodes, "192.0.2.0/24"), [("tcp", 22, 22)])
        return pcx_id

    def assert_unpeered(self):
        self.assertEqual(self.west1.peerings(), [])
        self.assertEqual(self.west2.peerings(), [])
        for c, peer in ((self.west1, self.west2), (self.west2, self.west1)):
            for rt, targets in c.routes_to(peer.cidr).items():
                self.assertEqual(targets, [], f"{c.region} {rt}")
            for g in (c.shared_nodes, c.cluster_group, c.control_plane, c.default_group):
                self.assertEqual(c.ingress_from(g, peer.cidr), [], f"{c.region} {g}")
            self.assertEqual(c.ingress_from(c.shared_nodes, "192.0.2.0/24"), [("tcp", 22, 22)])

    def test_up_twice_plan_and_down(self):
        a, b = self.west1.spec(), self.west2.spec()
        before = self.state()
        out, _ = self.run_tool("plan", a, b)
        self.assertIn("+ peering us-west-1/", out)
        self.assertIn("nothing changed", out)
        # 6 routes (3 tables x 2 VPCs) + 16 rules (2 groups x 4 x 2 VPCs:
        # BGP, BFD multihop, VXLAN, ICMP) + peering + accept
        self.assertEqual(out.count("\n+ "), 23, out)
        self.assertEqual(self.state(), before, "plan changed something")

        out, _ = self.run_tool("up", a, b)
        self.assertIn("24 change(s) made", out)
        pcx_id = self.assert_peered()
        after_up = self.state()

        out, _ = self.run_tool("up", a, b)
        self.assertEqual(out.strip().splitlines()[-1], "no change", out)
        self.assertNotIn("\n+ ", out)
        self.assertEqual(self.state(), after_up, "a second up changed something")

        out, _ = self.run_tool("plan", b, a)  # the other way round finds the same peering
        self.assertIn(f"= peering {pcx_id}", out)
        self.assertEqual(out.strip().splitlines()[-1], "no change", out)

        out, _ = self.run_tool("plan", "--down", a, b)
        self.assertIn(f"- peering {pcx_id}", out)
        self.assertEqual(self.state(), after_up, "plan --down changed something")

        out, _ = self.run_tool("down", a, b)
        self.assertIn("23 change(s) made", out)
        self.assert_unpeered()
        out, _ = self.run_tool("down", a, b)
        self.assertEqual(out.strip().splitlines()[-1], "no change", out)

    def test_rules_already_open_are_kept_by_up_and_down(self):
        # The operator already allows ICMP from the peer into the cluster group.
        self.west1.ec2.authorize_security_group_ingress(GroupId=self.west1.cluster_group, IpPermissions=[
            {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1,
             "IpRanges": [{"CidrIp": "10.20.0.0/16", "Description": "operator"}]}])
        out, _ = self.run_tool("up", self.west1.spec(), self.west2.spec())
        self.assertIn(f"= ingress us-west-1 {self.west1.cluster_group} icmp from 10.20.0.0/16", out)
        self.assert_peered()
        self.run_tool("down", self.west1.spec(), self.west2.spec())
        self.assertEqual(self.west1.ingress_from(self.west1.cluster_group, "10.20.0.0/16"),
                         [("icmp", -1, -1)], "down removed a rule up did not make")

    def test_vpc_ids_without_eksctl_tags_use_the_default_group(self):
        plain1 = Cluster("us-west-1", "10.30.0.0/16")
        plain2 = Cluster("us-west-2", "10.40.0.0/16")
        self.run_tool("up", plain1.spec(), plain2.spec())
        self.assertEqual(set(plain1.ingress_from(plain1.default_group, "10.40.0.0/16")), PEER_PORTS)
        self.assertEqual(set(plain2.ingress_from(plain2.default_group, "10.30.0.0/16")), PEER_PORTS)
        self.assertEqual(len(plain1.peerings()), 1)
        # The eksctl clusters of the fixture are untouched.
        self.assertEqual(self.west1.peerings(), [])
        self.run_tool("down", plain1.spec(), plain2.spec())
        self.assertEqual(plain1.ingress_from(plain1.default_group, "10.40.0.0/16"), [])
        self.assertEqual(plain1.peerings(), [])

    def test_explicit_security_group(self):
        mine = self.west1.group("ferry-nodes", {"Name": "ferry-nodes"})
        self.run_tool("up", self.west1.spec(by_name=False), self.west2.spec(),
                      "--security-group", mine)
        self.assertEqual(set(self.west1.ingress_from(mine, "10.20.0.0/16")), PEER_PORTS)
        self.assertEqual(self.west1.ingress_from(self.west1.shared_nodes, "10.20.0.0/16"), [])
        # The other side, given no group of its own, is found by its tags.
        self.assertEqual(set(self.west2.ingress_from(self.west2.shared_nodes, "10.10.0.0/16")), PEER_PORTS)
        self.run_tool("down", self.west1.spec(), self.west2.spec(), "--security-group", mine)
        self.assertEqual(self.west1.ingress_from(mine, "10.20.0.0/16"), [])
        _, err = self.run_tool("up", self.west1.spec(), self.west2.spec(),
                               "--security-group", "sg-0123456789abcdef0", expect=1)
        self.assertIn("sg-0123456789abcdef0", err)

    def test_errors_change_nothing(self):
        before = self.state()
        _, err = self.run_tool("up", "us-west-1:no-such-cluster", self.west2.spec(), expect=1)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn("'no-such-cluster'", err)
        _, err = self.run_tool("up", "us-west-1", self.west2.spec(), expect=1)
        self.assertIn("REGION:VPC", err)
        _, err = self.run_tool("up", "us-west-1:vpc-0000000000000000f", self.west2.spec(), expect=1)
        self.assertIn("vpc-0000000000000000f", err)
        overlapping = Cluster("us-west-2", "10.10.128.0/17", "overlap")
        _, err = self.run_tool("up", self.west1.spec(), overlapping.spec(), expect=1)
        self.assertIn("overlap", err)
        # A route table already sends the peer's CIDR elsewhere: refused before any change.
        igw = self.west1.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        self.west1.ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=self.west1.vpc_id)
        rt = self.west1.route_tables()[1]["RouteTableId"]
        self.west1.ec2.create_route(RouteTableId=rt, DestinationCidrBlock="10.20.0.0/16", GatewayId=igw)
        before = self.state()
        _, err = self.run_tool("up", self.west1.spec(), self.west2.spec(), expect=1)
        self.assertIn(f"{rt} already routes 10.20.0.0/16 via {igw}", err)
        self.assertEqual(self.state(), before)


FAKE_DOCKER = """#!/bin/sh
# Records what push-images asks of docker.
if [ "$1" = login ]; then
  echo "login $* password=$(cat)" >> "$FAKE_DOCKER_LOG"
else
  echo "$*" >> "$FAKE_DOCKER_LOG"
fi
[ "$1" = build ] && [ -n "$FAKE_DOCKER_FAIL_BUILD" ] && exit 1
exit 0
"""


class PushImagesTest(MotoTest):
    """deploy/push-images with the real AWS CLI against moto's ECR and a
    docker stand-in that records its calls (no Docker engine here)."""

    def setUp(self):
        self.moto.reset()
        self.tmp = tempfile.mkdtemp()
        self.log = os.path.join(self.tmp, "docker.log")
        docker = os.path.join(self.tmp, "docker")
        with open(docker, "w") as f:
            f.write(FAKE_DOCKER)
        os.chmod(docker, 0o755)
        self.push_env = dict(self.env, DOCKER=docker, FAKE_DOCKER_LOG=self.log)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def push(self, *args, expect=0, **env):
        p = subprocess.run(["bash", PUSH_IMAGES, *args], env=dict(self.push_env, **env),
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, expect, f"push-images {' '.join(args)}:\n{p.stdout}{p.stderr}")
        return p.stdout + p.stderr

    def calls(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            lines = f.read().splitlines()
        os.unlink(self.log)
        return lines

    def repositories(self, region):
        ecr = boto3.client("ecr", region_name=region)
        return [r["repositoryUri"] for r in ecr.describe_repositories()["repositories"]]

    def test_creates_repositories_once_and_pushes_to_every_region(self):
        out = self.push("--tag", "1.2.3", "us-west-1", "us-west-2")
        self.assertEqual(out.count("creating ECR repository ferry"), 2, out)
        uris = {}
        for region in ("us-west-1", "us-west-2"):
            repos = self.repositories(region)
            self.assertEqual(len(repos), 1, repos)
            self.assertTrue(repos[0].endswith(f".dkr.ecr.{region}.amazonaws.com/ferry"), repos)
            uris[region] = repos[0]
        calls = self.calls()
        self.assertEqual(calls[0], "build -f deploy/Dockerfile -t ferry:1.2.3 .")
        token = boto3.client("ecr", region_name="us-west-1").get_authorization_token()
        self.assertTrue(token["authorizationData"])
        for region, uri in uris.items():
            registry = uri.split("/")[0]
            logins = [c for c in calls if c.startswith("login ") and c.split()[-2] == registry]
            self.assertEqual(len(logins), 1, calls)
            self.assertIn("--username AWS --password-stdin", logins[0])
            self.assertNotRegex(logins[0], r"password=$", "no password reached docker login")
            self.assertIn(f"tag ferry:1.2.3 {uri}:1.2.3", calls)
            self.assertIn(f"push {uri}:1.2.3", calls)
        self.assertEqual(len([c for c in calls if c.startswith("build")]), 1, "one build for all regions")

        # Again, from $FERRY_REGIONS: the repositories exist, nothing is created.
        out = self.push("--no-build", FERRY_REGIONS="us-west-1 us-west-2")
        self.assertNotIn("creating", out)
        for region, uri in uris.items():
            self.assertEqual(self.repositories(region), [uri])
        calls = self.calls()
        self.assertFalse([c for c in calls if c.startswith("build")], calls)
        self.assertEqual(sorted(c for c in calls if c.startswith("push")),
                         sorted(f"push {uri}:latest" for uri in uris.values()))

    def test_a_failed_build_pushes_nothing(self):
        out = self.push("us-west-1", expect=1, FAKE_DOCKER_FAIL_BUILD="1")
        self.assertEqual(self.calls(), ["build -f deploy/Dockerfile -t ferry:latest ."], out)
        self.assertEqual(self.repositories("us-west-1"), [])

    def test_bad_arguments(self):
        self.assertIn("unknown option --frobnicate", self.push("--frobnicate", expect=2))
        self.assertIn("--tag needs a value", self.push("--tag", expect=2))
        self.assertEqual(self.calls(), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
