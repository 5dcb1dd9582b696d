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

    python tests/bench_critical_path.py PLAN.yaml commercial=80 china=600 [--var suffix=x]
Prints JSON: {"bound_ms", "path": [ids], "round_trips": n}.
"""

import json
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

    def longest(rid):
        if rid not in memo:
            r = res[rid]
            own = trips(rid) * latency.get(home(rid), 0.0)
            own += signing(rid)
            best = max((longest(d) for d in deps[rid]), default=(0.0, []), key=lambda x: x[0])
            memo[rid] = (own + best[0], best[1] + [rid])
        return memo[rid]

    total, path = max((longest(r) for r in res), key=lambda x: x[0])
    first_read = max(latency.get(r.get("partition"), 0.0) for r in res.values())
    lease = lease_partition(plan)
    lease_ms = 4 * latency.get(lease, 0.0) if lease else 0.0
    n = sum(trips(r) for r in path) + 1
    n += sum(1 for r in path if signing(r))
    n += 4 if lease else 0
    print(json.dumps({"bound_ms": total + first_read + lease_ms, "path": path, "round_trips": n}))


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
