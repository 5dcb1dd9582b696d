"""Everything a test-bed holds, tags or not: the bad-input campaign's "nothing new appeared".

Lists, in every partition given as --side NAME ENDPOINT REGION: IAM roles and instance
profiles, Secrets Manager secrets (scheduled for deletion too), KMS keys (pending deletion too)
and aliases, Roles Anywhere trust anchors and profiles, and EC2 VPCs, subnets, internet
gateways, route tables, security groups and instances (in any state). Each item is one string,
`<side> <kind> <identifier> [<name>]`.

Stays up: every line read on stdin asks for a snapshot, answered with one JSON line
{"items": [...]}, so a campaign of many cases pays Python's and boto3's start-up once.
"""

import argparse
import concurrent.futures
import json
import sys

import boto3

ap = argparse.ArgumentParser()
ap.add_argument("--side", nargs=3, action="append", metavar=("NAME", "ENDPOINT", "REGION"), required=True)
a = ap.parse_args()


class Side:
    def __init__(self, name, endpoint, region):
        s = boto3.session.Session(aws_access_key_id="snapshot", aws_secret_access_key="snapshot", region_name=region)
        c = lambda svc: s.client(svc, endpoint_url=endpoint)
        self.name = name
        self.iam, self.sm, self.kms, self.ra, self.ec2 = c("iam"), c("secretsmanager"), c("kms"), c("rolesanywhere"), c("ec2")

    def listers(self):
        """One function per kind, each returning its items; they run in parallel."""
        item = lambda kind, ident, name="": f"{self.name} {kind} {ident} {name}".rstrip()

        def name(tags):
            return next((t["Value"] for t in tags or [] if t["Key"] == "Name"), "")

        def pages(client, op, key, **kw):
            return [x for page in client.get_paginator(op).paginate(**kw) for x in page[key]]

        return [
            lambda: [item("iam.role", r["Arn"]) for r in pages(self.iam, "list_roles", "Roles")],
            lambda: [item("iam.instance_profile", p["Arn"]) for p in pages(self.iam, "list_instance_profiles", "InstanceProfiles")],
            lambda: [
                item("secretsmanager.secret", s["ARN"], "(scheduled for deletion)" if s.get("DeletedDate") else "")
                for s in pages(self.sm, "list_secrets", "SecretList", IncludePlannedDeletion=True)
            ],
            lambda: [item("kms.key", k["KeyArn"]) for k in pages(self.kms, "list_keys", "Keys")],
            lambda: [
                item("kms.alias", al["AliasName"])
                for al in pages(self.kms, "list_aliases", "Aliases")
                if not al["AliasName"].startswith("alias/aws/")
            ],
            lambda: [item("rolesanywhere.trust_anchor", t["trustAnchorArn"], t.get("name", "")) for t in self.ra.list_trust_anchors()["trustAnchors"]],
            lambda: [item("rolesanywhere.profile", p["profileArn"], p.get("name", "")) for p in self.ra.list_profiles()["profiles"]],
            lambda: [item("ec2.vpc", v["VpcId"], name(v.get("Tags"))) for v in self.ec2.describe_vpcs()["Vpcs"]],
            lambda: [item("ec2.subnet", v["SubnetId"], name(v.get("Tags"))) for v in self.ec2.describe_subnets()["Subnets"]],
            lambda: [
                item("ec2.internet_gateway", v["InternetGatewayId"], name(v.get("Tags")))
                for v in self.ec2.describe_internet_gateways()["InternetGateways"]
            ],
            lambda: [item("ec2.route_table", v["RouteTableId"], name(v.get("Tags"))) for v in self.ec2.describe_route_tables()["RouteTables"]],
            lambda: [item("ec2.security_group", v["GroupId"], v["GroupName"]) for v in self.ec2.describe_security_groups()["SecurityGroups"]],
            lambda: [
                item("ec2.instance", i["InstanceId"], name(i.get("Tags")))
                for r in self.ec2.describe_instances()["Reservations"]
                for i in r["Instances"]
            ],
        ]


sides = [Side(*s) for s in a.side]
listers = [f for s in sides for f in s.listers()]
pool = concurrent.futures.ThreadPoolExecutor(max_workers=8)
for _ in sys.stdin:
    items = sorted(i for found in pool.map(lambda f: f(), listers) for i in found)
    print(json.dumps({"items": items}), flush=True)
