"""The critical-path bound of a plan: the fewest sequential API round trips any tool needs
to create it, times each partition's latency. A CA held by a KMS key costs its public key and
its signature, in the key's partition; a certificate issued into a secret one more signature.

A resource's create needs this many dependent round trips (calls that can go in parallel
count once): what the API requires, not what xpart happens to do. Plus one round trip of the
slowest partition before anything: a tool without a state file must read before it writes
(and the identity check goes in parallel with that read). Plus four round trips of the
partition that keeps the plan's lease (a tool two machines may run must hold one, see
src/engine/lease.rs): the caller's identity there before its first write, the conditional
create, and at the end the read that proves the lease is still ours and the delete.

The quotas the test-bed enforces set a floor too: Roles Anywhere takes one request a second per
group (trust anchors, profiles, CRLs), so twenty profiles take nineteen seconds after the first
can start, however the plan is ordered. The bound is the longer of the two.

`--destroy` gives the bound of deleting the plan instead: each resource's delete (what the API
requires: an IAM role's inline policies go before the role) from a first read, and the same
quota floor, plus the lease.

Blocks (`blocks:` instantiated by `block:` with `inputs:` and `for_each:`) are expanded first,
as docs/plan.md describes them: ids ENTRY.KEY.ID, `${each.key}`, `${input.x}` and a sibling's
`${id.attr}` rewritten.

    python tests/bench_critical_path.py PLAN.yaml commercial=80 china=600 [--destroy]
Prints JSON: {"bound_ms", "path": [ids], "round_trips": n, "quota_floor_ms", "quota_group"}.
"""

import json
import os
import re
import sys

import yaml

# Minimal dependent round trips per create, by type (see the module docstring), in the
# resource's own partition (a CA held by KMS: its key's). A certificate issued into a secret
# adds one Sign in its CA key's partition (`signing`).
ROUND_TRIPS = {
    "pki.ca": lambda p: 2 if p.get("kms_key") else 0,          # GetPublicKey, Sign (the key's CreateKey answer gives its ARN and date)
    "pki.cert": lambda p: 0,
    "secretsmanager.secret": lambda p: 1,                      # CreateSecret (value included)
    "kms.key": lambda p: 1,                                    # CreateKey; CreateAlias goes alongside what follows unless a resource refers to the alias (`alias_waits`)
    "iam.role": lambda p: 2 if p.get("policies") or p.get("managed_policy_arns") else 1,  # CreateRole, then PutRolePolicy/AttachRolePolicy in parallel
    "iam.instance_profile": lambda p: 2,                       # CreateInstanceProfile, AddRoleToInstanceProfile
    "rolesanywhere.trust_anchor": lambda p: 1,                 # CreateTrustAnchor (enabled at create)
    "rolesanywhere.profile": lambda p: 1,                      # CreateProfile
    "rolesanywhere.crl": lambda p: 1,                          # ImportCrl (after the CA's Sign, see `signing`)
    "ec2.vpc": lambda p: 1,                                    # CreateVpc with tags
    "ec2.subnet": lambda p: 2 if p.get("map_public_ip_on_launch") else 1,  # CreateSubnet, ModifySubnetAttribute
    "ec2.internet_gateway": lambda p: 2,                       # CreateInternetGateway, AttachInternetGateway
    "ec2.route_table": lambda p: 2 if p.get("routes") or p.get("subnets") else 1,  # CreateRouteTable, then routes and associations in parallel
    "ec2.security_group": lambda p: 2 if p.get("ingress") else 1,  # CreateSecurityGroup, AuthorizeSecurityGroupIngress
    "ec2.instance": lambda p: 1,                               # RunInstances
}

# Round trips of each delete that the API requires, by type (parallel calls count once).
DELETE_TRIPS = {
    "iam.role": 2,                  # DeleteRolePolicy / DetachRolePolicy, then DeleteRole
    "iam.instance_profile": 2,      # RemoveRoleFromInstanceProfile, then DeleteInstanceProfile
    "pki.ca": 0, "pki.cert": 0,     # nothing in AWS (the CA goes with its key)
    "ec2.internet_gateway": 2,      # DetachInternetGateway, then DeleteInternetGateway
}

# Roles Anywhere's request-rate groups (the test-bed's `quotas=1`, from its quotas page).
QUOTA_GROUPS = {
    "rolesanywhere.trust_anchor": ("trust anchor", 1.0),
    "rolesanywhere.profile": ("profile", 1.0),
    "rolesanywhere.crl": ("crl", 1.0),
}

# `${id.attr}`: an id may hold dots (a block instance's resources: ENTRY.KEY.ID).
REF = re.compile(r"\$\{([A-Za-z0-9_.-]+)\.[A-Za-z0-9_]+\}")
SCOPES = ("var", "partitions", "each", "input")


def refs(v):
    if isinstance(v, str):
        return set(m for m in REF.findall(v) if m.split(".")[0] not in SCOPES)
    if isinstance(v, list):
        return set().union(*map(refs, v)) if v else set()
    if isinstance(v, dict):
        return set().union(*map(refs, v.values())) if v else set()
    return set()


def substitute(v, f):
    if isinstance(v, str):
        return f(v)
    if isinstance(v, list):
        return [substitute(x, f) for x in v]
    if isinstance(v, dict):
        return {k: substitute(x, f) for k, x in v.items()}
    return v


def expand(plan, plan_dir):
    """The plan's resources with every block instantiated."""
    blocks = {}
    for name, b in (plan.get("blocks") or {}).items():
        if "source" in b:
            b = yaml.safe_load(open(os.path.join(plan_dir, b["source"])))
        blocks[name] = b
    out = {}
    for rid, r in plan["resources"].items():
        if "block" not in r:
            out[rid] = r
            continue
        block = blocks[r["block"]]
        keys = r.get("for_each") or {None: {}}
        for key, own in keys.items():
            prefix = f"{rid}.{key}" if key is not None else rid
            each = lambda t: t.replace("${each.key}", key or "")  # noqa: E731
            inputs = {n: each(str(d["default"])) for n, d in (block.get("inputs") or {}).items()
                      if isinstance(d, dict) and "default" in d}
            inputs.update({n: each(str(v)) for n, v in (r.get("inputs") or {}).items()})
            inputs.update({n: each(str(v)) for n, v in (own or {}).items()})
            siblings = set(block["resources"])

            def rewrite(t):
                t = each(t)
                t = re.sub(r"\$\{input\.([A-Za-z0-9_-]+)\}", lambda m: inputs.get(m.group(1), m.group(0)), t)
                return re.sub(r"\$\{([A-Za-z0-9_-]+)\.",
                              lambda m: "${" + (f"{prefix}.{m.group(1)}" if m.group(1) in siblings else m.group(1)) + ".", t)
            for sid, sr in block["resources"].items():
                out[f"{prefix}.{sid}"] = substitute(sr, rewrite)
    return out


def main():
    plan = yaml.safe_load(open(sys.argv[1]))
    destroy = "--destroy" in sys.argv[2:]
    latency = dict(a.split("=") for a in sys.argv[2:] if "=" in a and not a.startswith("--"))
    latency = {k: float(v) for k, v in latency.items()}
    res = expand(plan, os.path.dirname(os.path.abspath(sys.argv[1])))
    deps = {rid: (refs(r.get("properties", {})) | set(r.get("depends_on", []))) & set(res) for rid, r in res.items()}
    memo = {}

    def home(rid):
        """Where a resource's calls go: its partition, or for a local one (a CA held by a KMS
        key), the partition of the first resource it uses that has one."""
        r = res[rid]
        if r.get("partition"):
            return r["partition"]
        return next((h for h in map(home, sorted(deps[rid])) if h), None)

    def signing(rid):
        """The latency of the Sign a certificate issued into this secret, or a CRL, needs."""
        props = res[rid].get("properties") or {}
        cert = (props.get("value") or {}).get("certificate")
        if res[rid]["type"] == "rolesanywhere.crl":
            cert = props
        if not cert:
            return 0.0
        ca = next(iter(refs(cert.get("ca", ""))), None)
        return latency.get(home(ca), 0.0) if ca in res and res[ca]["properties"].get("kms_key") else 0.0

    text = json.dumps(res)

    def alias_waits(rid):
        """A key whose alias another resource refers to: CreateAlias before that resource."""
        return res[rid]["type"] == "kms.key" and re.search(r"\$\{" + re.escape(rid) + r"\.alias(_arn)?\}", text) is not None

    def trips(rid):
        r = res[rid]
        return ROUND_TRIPS[r["type"]](r.get("properties", {})) + (1 if alias_waits(rid) else 0)

    def own(rid):
        if destroy:
            return DELETE_TRIPS.get(res[rid]["type"], 1) * latency.get(home(rid), 0.0)
        return trips(rid) * latency.get(home(rid), 0.0) + signing(rid)

    def longest(rid):
        if rid not in memo:
            # A delete waits for nothing the API requires: each starts after the first read.
            before = [] if destroy else deps[rid]
            best = max((longest(d) for d in before), default=(0.0, []), key=lambda x: x[0])
            memo[rid] = (own(rid) + best[0], best[1] + [rid])
        return memo[rid]

    total, path = max((longest(r) for r in res), key=lambda x: x[0])
    # The quotas: the requests of one group go one per 1/rate seconds, from the earliest any
    # of them can start; the last then takes its own round trip.
    floor, floor_group = 0.0, None
    groups = {}
    for rid, r in res.items():
        if r["type"] in QUOTA_GROUPS:
            groups.setdefault(QUOTA_GROUPS[r["type"]], []).append(rid)
    for (group, rate), ids in groups.items():
        start = min(longest(i)[0] - own(i) for i in ids)
        last = start + (len(ids) - 1) * 1000.0 / rate + max(own(i) for i in ids)
        if last > floor:
            floor, floor_group = last, f"{group}: {len(ids)} at {rate:g}/s"
    first_read = max(latency.get(r.get("partition"), 0.0) for r in res.values())
    lease = lease_partition(plan)
    lease_ms = 4 * latency.get(lease, 0.0) if lease else 0.0
    trips_of = (lambda r: DELETE_TRIPS.get(res[r]["type"], 1)) if destroy else trips
    n = sum(trips_of(r) for r in path) + 1
    n += 0 if destroy else sum(1 for r in path if signing(r))
    n += 4 if lease else 0
    print(json.dumps({"bound_ms": max(total, floor) + first_read + lease_ms, "path": path,
                      "round_trips": n, "quota_floor_ms": floor, "quota_group": floor_group,
                      "resources": len(res)}))


def lease_partition(plan):
    """The partition that keeps the lease: the plan's `lease.partition`, else the first `aws`
    partition by name (a region without `cn-`), else the first."""
    asked = (plan.get("lease") or {}).get("partition")
    if asked:
        return asked
    parts = sorted(plan.get("partitions") or {})
    aws = [p for p in parts if not plan["partitions"][p]["region"].startswith("cn-")]
    return (aws or parts or [None])[0]


main()
