"""The critical-path bound of a plan: the fewest sequential API round trips any tool needs
to create it, times each partition's latency.

A resource's create needs this many dependent round trips (calls that can go in parallel
count once): what the API requires, not what xpart happens to do. Plus one round trip of the
slowest partition before anything: a tool without a state file must read before it writes
(and the identity check goes in parallel with that read).

    python tests/bench_critical_path.py PLAN.yaml commercial=80 china=600 [--var suffix=x]
Prints JSON: {"bound_ms", "path": [ids], "round_trips": n}.
"""

import json
import re
import sys

import yaml

# Minimal dependent round trips per create, by type (see the module docstring).
ROUND_TRIPS = {
    "pki.ca": lambda p: 0,
    "pki.cert": lambda p: 0,
    "secretsmanager.secret": lambda p: 1,                      # CreateSecret (value included)
    "kms.key": lambda p: 2 if p.get("alias") else 1,           # CreateKey, CreateAlias
    "iam.role": lambda p: 2 if p.get("policies") or p.get("managed_policy_arns") else 1,  # CreateRole, then PutRolePolicy/AttachRolePolicy in parallel
    "iam.instance_profile": lambda p: 2,                       # CreateInstanceProfile, AddRoleToInstanceProfile
    "rolesanywhere.trust_anchor": lambda p: 1,                 # CreateTrustAnchor (enabled at create)
    "rolesanywhere.profile": lambda p: 1,                      # CreateProfile
    "ec2.vpc": lambda p: 1,                                    # CreateVpc with tags
    "ec2.subnet": lambda p: 2 if p.get("map_public_ip_on_launch") else 1,  # CreateSubnet, ModifySubnetAttribute
    "ec2.internet_gateway": lambda p: 2,                       # CreateInternetGateway, AttachInternetGateway
    "ec2.route_table": lambda p: 2 if p.get("routes") or p.get("subnets") else 1,  # CreateRouteTable, then routes and associations in parallel
    "ec2.security_group": lambda p: 2 if p.get("ingress") else 1,  # CreateSecurityGroup, AuthorizeSecurityGroupIngress
    "ec2.instance": lambda p: 1,                               # RunInstances
}

REF = re.compile(r"\$\{([A-Za-z0-9_-]+)\.[A-Za-z0-9_]+\}")


def refs(v):
    if isinstance(v, str):
        return set(m for m in REF.findall(v) if m not in ("var", "partitions"))
    if isinstance(v, list):
        return set().union(*map(refs, v)) if v else set()
    if isinstance(v, dict):
        return set().union(*map(refs, v.values())) if v else set()
    return set()


def main():
    plan = yaml.safe_load(open(sys.argv[1]))
    latency = dict(a.split("=") for a in sys.argv[2:] if "=" in a and not a.startswith("--"))
    latency = {k: float(v) for k, v in latency.items()}
    res = plan["resources"]
    deps = {rid: (refs(r.get("properties", {})) | set(r.get("depends_on", []))) & set(res) for rid, r in res.items()}
    memo = {}

    def longest(rid):
        if rid not in memo:
            r = res[rid]
            own = ROUND_TRIPS[r["type"]](r.get("properties", {})) * latency.get(r.get("partition"), 0.0)
            best = max((longest(d) for d in deps[rid]), default=(0.0, []), key=lambda x: x[0])
            memo[rid] = (own + best[0], best[1] + [rid])
        return memo[rid]

    total, path = max((longest(r) for r in res), key=lambda x: x[0])
    first_read = max(latency.get(r.get("partition"), 0.0) for r in res.values())
    trips = sum(ROUND_TRIPS[res[r]["type"]](res[r].get("properties", {})) for r in path) + 1
    print(json.dumps({"bound_ms": total + first_read, "path": path, "round_trips": trips}))


main()
