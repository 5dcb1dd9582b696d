"""boto3's side of the security tests (tests/security.rs): an independent client reads what
xpart made, and makes things xpart must leave alone.

  trust    --role NAME         the role's live trust policy, as JSON
  secret   --id ARN            {"value": the secret's current value}
  lookalikes --suffix S --plan P --ca-pem FILE
                               make, in this partition, resources named like the plan's but not
                               its own (untagged, tagged with another plan, or with an id but no
                               plan); prints them as a JSON list of {"kind", "ref"}
  describe --items FILE        {"kind ref": what it looks like now, or null when gone}, for
                               the items `lookalikes` printed
  delete   --items FILE        remove them again (the shared test-bed is left as found)

Every command takes --endpoint URL --region REGION.
"""

import argparse
import json

import boto3
import botocore.exceptions

ap = argparse.ArgumentParser()
ap.add_argument("command", choices=["trust", "secret", "lookalikes", "describe", "delete"])
ap.add_argument("--endpoint", required=True)
ap.add_argument("--region", required=True)
ap.add_argument("--role")
ap.add_argument("--id")
ap.add_argument("--suffix")
ap.add_argument("--plan")
ap.add_argument("--ca-pem")
ap.add_argument("--items")
a = ap.parse_args()

s = boto3.session.Session(aws_access_key_id="security", aws_secret_access_key="security", region_name=a.region)
c = lambda svc: s.client(svc, endpoint_url=a.endpoint)
iam, sm, kms, ec2, ra = c("iam"), c("secretsmanager"), c("kms"), c("ec2"), c("rolesanywhere")

GONE = {"NoSuchEntity", "NotFoundException", "ResourceNotFoundException", "InvalidVpcID.NotFound", "InvalidGroup.NotFound"}


def gone(call):
    try:
        return call()
    except botocore.exceptions.ClientError as e:
        if e.response.get("Error", {}).get("Code") in GONE:
            return None
        raise


def kv(tags, k="Key", v="Value"):
    return sorted([t[k], t[v]] for t in tags or [])


def lookalikes():
    sfx, plan = a.suffix, a.plan
    other = {"xpart:plan": f"{plan}-other"}
    # The plan's own name, but another lineage: a plan whose name only renders alike.
    foreign = {"xpart:plan": plan, "xpart:lineage": "0123456789abcdef"}
    items = []

    def tags(d, k="Key", v="Value"):
        return [{k: key, v: val} for key, val in d.items()]

    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    roles = [
        (f"xpart-workload-{sfx}-lookalike", {}),
        (f"xpart-secret-reader-{sfx}-other", {**other, "xpart:id": "reader_role"}),
        (f"xpart-secret-reader-{sfx}-foreign", {**foreign, "xpart:id": "reader_role"}),
        # An id tag without the plan tag: ownership needs both.
        (f"copy-xpart-workload-{sfx}", {"xpart:id": "instance_role"}),
    ]
    role_arns = []
    for name, t in roles:
        r = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust, Tags=tags(t))["Role"]
        role_arns.append(r["Arn"])
        items.append({"kind": "iam.role", "ref": name})
    name = f"xpart-workload-{sfx}-lookalike"
    iam.create_instance_profile(InstanceProfileName=name)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=roles[0][0])
    items.append({"kind": "iam.instance_profile", "ref": name})

    for name, t in [
        (f"xpart/app-secret-{sfx}-lookalike", {}),
        (f"xpart/workload-key-{sfx}-other", {**other, "xpart:id": "client_key_secret"}),
        (f"xpart/workload-key-{sfx}-foreign", {**foreign, "xpart:id": "client_key_secret"}),
    ]:
        arn = sm.create_secret(Name=name, SecretString="look-alike", Tags=tags(t))["ARN"]
        items.append({"kind": "secretsmanager.secret", "ref": arn})

    for alias, t in [
        (f"alias/xpart-workload-key-{sfx}-lookalike", {}),
        (f"alias/xpart-workload-key-{sfx}-other", {**other, "xpart:id": "client_key_key"}),
    ]:
        key = kms.create_key(Description="look-alike", Tags=tags(t, "TagKey", "TagValue"))["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=alias, TargetKeyId=key)
        items.append({"kind": "kms.key", "ref": key})

    for name, t, cidr in [
        (f"xpart-{sfx}-lookalike", {}, "10.98.0.0/16"),
        (f"xpart-{sfx}-other", {**other, "xpart:id": "vpc"}, "10.99.0.0/16"),
        (f"xpart-{sfx}-foreign", {**foreign, "xpart:id": "vpc"}, "10.97.0.0/16"),
    ]:
        vpc = ec2.create_vpc(CidrBlock=cidr, TagSpecifications=[{"ResourceType": "vpc", "Tags": tags({"Name": name, **t})}])["Vpc"]["VpcId"]
        items.append({"kind": "ec2.vpc", "ref": vpc})
        sg = ec2.create_security_group(
            GroupName=name.replace("xpart-", "xpart-ssh-", 1), Description="look-alike", VpcId=vpc,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": tags({"Name": name, **t})}],
        )["GroupId"]
        items.append({"kind": "ec2.security_group", "ref": sg})

    ca = open(a.ca_pem).read()
    source = {"sourceType": "CERTIFICATE_BUNDLE", "sourceData": {"x509CertificateData": ca}}
    for name, t in [(f"xpart-root-{sfx}-lookalike", {}), (f"xpart-root-{sfx}-other", {**other, "xpart:id": "trust_anchor"}),
                    (f"xpart-root-{sfx}-foreign", {**foreign, "xpart:id": "trust_anchor"})]:
        kw = {"tags": tags(t, "key", "value")} if t else {}
        ta = ra.create_trust_anchor(name=name, source=source, enabled=True, **kw)["trustAnchor"]
        items.append({"kind": "rolesanywhere.trust_anchor", "ref": ta["trustAnchorId"]})
    for name, t in [(f"xpart-secret-reader-{sfx}-lookalike", {}), (f"xpart-secret-reader-{sfx}-other", {**other, "xpart:id": "ra_profile"})]:
        kw = {"tags": tags(t, "key", "value")} if t else {}
        p = ra.create_profile(name=name, roleArns=[role_arns[0]], enabled=True, **kw)["profile"]
        items.append({"kind": "rolesanywhere.profile", "ref": p["profileId"]})
    print(json.dumps(items))


def describe_one(kind, ref):
    """What a resource looks like: everything destroy could have changed (gone, disabled,
    scheduled for deletion, untagged, emptied)."""
    if kind == "iam.role":
        r = gone(lambda: iam.get_role(RoleName=ref)["Role"])
        return r and {"arn": r["Arn"], "trust": r["AssumeRolePolicyDocument"], "tags": kv(iam.list_role_tags(RoleName=ref)["Tags"]),
                      "profiles": sorted(p["InstanceProfileName"] for p in iam.list_instance_profiles_for_role(RoleName=ref)["InstanceProfiles"])}
    if kind == "iam.instance_profile":
        p = gone(lambda: iam.get_instance_profile(InstanceProfileName=ref)["InstanceProfile"])
        return p and {"arn": p["Arn"], "roles": sorted(r["RoleName"] for r in p["Roles"]), "tags": kv(p.get("Tags"))}
    if kind == "secretsmanager.secret":
        d = gone(lambda: sm.describe_secret(SecretId=ref))
        if d is None or d.get("DeletedDate"):
            return None
        return {"name": d["Name"], "tags": kv(d.get("Tags")), "value": sm.get_secret_value(SecretId=ref)["SecretString"]}
    if kind == "kms.key":
        m = gone(lambda: kms.describe_key(KeyId=ref)["KeyMetadata"])
        if m is None or m["KeyState"] == "PendingDeletion":
            return None
        aliases = sorted(x["AliasName"] for x in kms.list_aliases(KeyId=ref)["Aliases"])
        return {"state": m["KeyState"], "enabled": m["Enabled"], "aliases": aliases, "tags": kv(kms.list_resource_tags(KeyId=ref)["Tags"], "TagKey", "TagValue")}
    if kind == "ec2.vpc":
        v = gone(lambda: ec2.describe_vpcs(VpcIds=[ref])["Vpcs"])
        return v and {"cidr": v[0]["CidrBlock"], "tags": kv(v[0].get("Tags"))}
    if kind == "ec2.security_group":
        g = gone(lambda: ec2.describe_security_groups(GroupIds=[ref])["SecurityGroups"])
        return g and {"name": g[0]["GroupName"], "vpc": g[0]["VpcId"], "tags": kv(g[0].get("Tags")),
                      "ingress": g[0]["IpPermissions"], "egress": g[0]["IpPermissionsEgress"]}
    if kind == "rolesanywhere.trust_anchor":
        t = gone(lambda: ra.get_trust_anchor(trustAnchorId=ref)["trustAnchor"])
        return t and {"name": t["name"], "enabled": t["enabled"], "tags": kv(ra.list_tags_for_resource(resourceArn=t["trustAnchorArn"])["tags"], "key", "value")}
    if kind == "rolesanywhere.profile":
        p = gone(lambda: ra.get_profile(profileId=ref)["profile"])
        return p and {"name": p["name"], "enabled": p["enabled"], "roles": p["roleArns"],
                      "tags": kv(ra.list_tags_for_resource(resourceArn=p["profileArn"])["tags"], "key", "value")}
    raise ValueError(kind)


def delete_one(kind, ref):
    if kind == "iam.instance_profile":
        for r in iam.get_instance_profile(InstanceProfileName=ref)["InstanceProfile"]["Roles"]:
            iam.remove_role_from_instance_profile(InstanceProfileName=ref, RoleName=r["RoleName"])
        iam.delete_instance_profile(InstanceProfileName=ref)
    elif kind == "iam.role":
        iam.delete_role(RoleName=ref)
    elif kind == "secretsmanager.secret":
        sm.delete_secret(SecretId=ref, ForceDeleteWithoutRecovery=True)
    elif kind == "kms.key":
        for x in kms.list_aliases(KeyId=ref)["Aliases"]:
            kms.delete_alias(AliasName=x["AliasName"])
        kms.schedule_key_deletion(KeyId=ref, PendingWindowInDays=7)
    elif kind == "ec2.security_group":
        ec2.delete_security_group(GroupId=ref)
    elif kind == "ec2.vpc":
        ec2.delete_vpc(VpcId=ref)
    elif kind == "rolesanywhere.profile":
        ra.delete_profile(profileId=ref)
    elif kind == "rolesanywhere.trust_anchor":
        ra.delete_trust_anchor(trustAnchorId=ref)


if a.command == "trust":
    print(json.dumps(iam.get_role(RoleName=a.role)["Role"]["AssumeRolePolicyDocument"]))
elif a.command == "secret":
    print(json.dumps({"value": sm.get_secret_value(SecretId=a.id)["SecretString"]}))
elif a.command == "lookalikes":
    lookalikes()
elif a.command == "describe":
    items = json.load(open(a.items))
    print(json.dumps({f'{i["kind"]} {i["ref"]}': describe_one(i["kind"], i["ref"]) for i in items}))
elif a.command == "delete":
    # Dependents first: profiles before roles, groups before VPCs.
    order = ["rolesanywhere.profile", "rolesanywhere.trust_anchor", "iam.instance_profile", "iam.role",
             "secretsmanager.secret", "kms.key", "ec2.security_group", "ec2.vpc"]
    items = json.load(open(a.items))
    for kind in order:
        for i in items:
            if i["kind"] == kind:
                gone(lambda: delete_one(kind, i["ref"]))
