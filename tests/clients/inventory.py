"""Independent inventory for the tests: what a plan owns in one partition, found with boto3.

Lists every resource carrying the tag xpart:plan = PLAN (and xpart:lineage = LINEAGE when
given: another plan may render the same name) (IAM roles and instance profiles,
Secrets Manager secrets, KMS keys, Roles Anywhere trust anchors, profiles and CRLs, EC2 VPC pieces
and instances), skipping what is already on its way out (KMS keys pending deletion, secrets
scheduled for deletion, terminated instances). With --name SUBSTR it also lists, tagged or not,
every such live resource whose name contains SUBSTR (IAM, Secrets Manager and Roles Anywhere
names, KMS aliases, EC2 `Name` tags and group names): a copy made without the plan's tags
escapes the tag-based list (and destroy), but not this one.
Prints one JSON object: {"owned": [{"id", "type", "arn", "tags"}],
"named": [{"type", "name", "arn", "tags"}]}.
"""

import argparse
import json

import boto3
import botocore.exceptions

ap = argparse.ArgumentParser()
ap.add_argument("--endpoint", required=True)
ap.add_argument("--region", required=True)
ap.add_argument("--plan", required=True)
ap.add_argument("--lineage", help="owned only with this xpart:lineage too (plans whose names render alike)")
ap.add_argument("--name", help="also list live resources whose name contains this, tagged or not")
a = ap.parse_args()

s = boto3.session.Session(aws_access_key_id="inventory", aws_secret_access_key="inventory", region_name=a.region)
c = lambda svc: s.client(svc, endpoint_url=a.endpoint)
owned = []
named = []


GONE = {"NoSuchEntity", "NotFoundException", "ResourceNotFoundException"}


def alive(call, default=None):
    """Other tests delete their resources while this lists: a vanished item is skipped."""
    try:
        return call()
    except botocore.exceptions.ClientError as e:
        if e.response.get("Error", {}).get("Code") in GONE:
            return default
        raise


def tagdict(tags, k="Key", v="Value"):
    return {t[k]: t[v] for t in tags or []}


def add(kind, arn, tags, names=()):
    if tags.get("xpart:plan") == a.plan and (a.lineage is None or tags.get("xpart:lineage") == a.lineage):
        owned.append({"id": tags.get("xpart:id"), "type": kind, "arn": arn, "tags": tags})
    if a.name:
        hit = next((n for n in names if n and a.name in n), None)
        if hit is not None:
            named.append({"type": kind, "name": hit, "arn": arn, "tags": tags})


iam = c("iam")
for page in iam.get_paginator("list_roles").paginate():
    for r in page["Roles"]:
        tags = tagdict(alive(lambda: iam.list_role_tags(RoleName=r["RoleName"])["Tags"], []))
        add("iam.role", r["Arn"], tags, [r["RoleName"]])
for page in iam.get_paginator("list_instance_profiles").paginate():
    for p in page["InstanceProfiles"]:
        tags = tagdict(alive(lambda: iam.get_instance_profile(InstanceProfileName=p["InstanceProfileName"])["InstanceProfile"].get("Tags"), []))
        add("iam.instance_profile", p["Arn"], tags, [p["InstanceProfileName"]])

sm = c("secretsmanager")
# Untagged secrets matter only with --name; without it, the tag filter keeps the listing short.
sm_filters = [] if a.name else [{"Key": "tag-key", "Values": ["xpart:plan"]}]
for page in sm.get_paginator("list_secrets").paginate(Filters=sm_filters):
    for sec in page["SecretList"]:
        if sec.get("DeletedDate"):
            continue
        add("secretsmanager.secret", sec["ARN"], tagdict(sec.get("Tags")), [sec["Name"]])

kms = c("kms")
aliases = {}
if a.name:
    for page in kms.get_paginator("list_aliases").paginate():
        for al in page["Aliases"]:
            if al.get("TargetKeyId"):
                aliases.setdefault(al["TargetKeyId"], []).append(al["AliasName"])
for page in kms.get_paginator("list_keys").paginate():
    for k in page["Keys"]:
        meta = alive(lambda: kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"])
        if meta is None or meta["KeyState"] == "PendingDeletion":
            continue
        tags = tagdict(alive(lambda: kms.list_resource_tags(KeyId=k["KeyId"])["Tags"], []), "TagKey", "TagValue")
        add("kms.key", meta["Arn"], tags, aliases.get(k["KeyId"], []))

ra = c("rolesanywhere")
# Every page: Roles Anywhere lists 50 a page by default, and a test-bed shared by the suite
# (a fleet alone has twenty profiles) holds more.
def ra_all(op, key):
    return [x for page in ra.get_paginator(op).paginate() for x in page[key]]
for item in ra_all("list_trust_anchors", "trustAnchors"):
    add("rolesanywhere.trust_anchor", item["trustAnchorArn"], tagdict(alive(lambda: ra.list_tags_for_resource(resourceArn=item["trustAnchorArn"])["tags"], []), "key", "value"), [item.get("name")])
for item in ra_all("list_profiles", "profiles"):
    add("rolesanywhere.profile", item["profileArn"], tagdict(alive(lambda: ra.list_tags_for_resource(resourceArn=item["profileArn"])["tags"], []), "key", "value"), [item.get("name")])
for item in ra_all("list_crls", "crls"):
    add("rolesanywhere.crl", item["crlArn"], tagdict(alive(lambda: ra.list_tags_for_resource(resourceArn=item["crlArn"])["tags"], []), "key", "value"), [item.get("name")])

ec2 = c("ec2")
account = c("sts").get_caller_identity()["Account"]
part = "aws-cn" if a.region.startswith("cn-") else "aws"
# Untagged EC2 resources matter only with --name; without it, the tag filter does the work.
flt = [] if a.name else [{"Name": "tag:xpart:plan", "Values": [a.plan]}]
def ec2arn(kind, rid):
    return f"arn:{part}:ec2:{a.region}:{account}:{kind}/{rid}"
def ec2add(kind, arn_kind, rid, item, extra_names=()):
    tags = tagdict(item.get("Tags"))
    add(kind, ec2arn(arn_kind, rid), tags, [tags.get("Name"), *extra_names])
for v in ec2.describe_vpcs(Filters=flt)["Vpcs"]:
    ec2add("ec2.vpc", "vpc", v["VpcId"], v)
for v in ec2.describe_subnets(Filters=flt)["Subnets"]:
    ec2add("ec2.subnet", "subnet", v["SubnetId"], v)
for v in ec2.describe_internet_gateways(Filters=flt)["InternetGateways"]:
    ec2add("ec2.internet_gateway", "internet-gateway", v["InternetGatewayId"], v)
for v in ec2.describe_route_tables(Filters=flt)["RouteTables"]:
    ec2add("ec2.route_table", "route-table", v["RouteTableId"], v)
for v in ec2.describe_security_groups(Filters=flt)["SecurityGroups"]:
    ec2add("ec2.security_group", "security-group", v["GroupId"], v, [v.get("GroupName")])
for r in ec2.describe_instances(Filters=flt + [{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}])["Reservations"]:
    for i in r["Instances"]:
        ec2add("ec2.instance", "instance", i["InstanceId"], i)

print(json.dumps({"owned": owned, "named": named}))
