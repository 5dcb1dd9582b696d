"""Independent inventory for the tests: what a plan owns in one partition, found with boto3.

Lists every resource carrying the tag xpart:plan = PLAN (IAM roles and instance profiles,
Secrets Manager secrets, KMS keys, Roles Anywhere trust anchors and profiles, EC2 VPC pieces
and instances), skipping what is already on its way out (KMS keys pending deletion, secrets
scheduled for deletion, terminated instances). Also reports same-named untagged things when
asked with --name. Prints one JSON object: {"owned": [{"id", "type", "arn", "tags"}], ...}.
"""

import argparse
import json

import boto3
import botocore.exceptions

ap = argparse.ArgumentParser()
ap.add_argument("--endpoint", required=True)
ap.add_argument("--region", required=True)
ap.add_argument("--plan", required=True)
a = ap.parse_args()

s = boto3.session.Session(aws_access_key_id="inventory", aws_secret_access_key="inventory", region_name=a.region)
c = lambda svc: s.client(svc, endpoint_url=a.endpoint)
owned = []


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


def add(kind, arn, tags):
    if tags.get("xpart:plan") == a.plan:
        owned.append({"id": tags.get("xpart:id"), "type": kind, "arn": arn, "tags": tags})


iam = c("iam")
for page in iam.get_paginator("list_roles").paginate():
    for r in page["Roles"]:
        tags = tagdict(alive(lambda: iam.list_role_tags(RoleName=r["RoleName"])["Tags"], []))
        add("iam.role", r["Arn"], tags)
for page in iam.get_paginator("list_instance_profiles").paginate():
    for p in page["InstanceProfiles"]:
        tags = tagdict(alive(lambda: iam.get_instance_profile(InstanceProfileName=p["InstanceProfileName"])["InstanceProfile"].get("Tags"), []))
        add("iam.instance_profile", p["Arn"], tags)

sm = c("secretsmanager")
for page in sm.get_paginator("list_secrets").paginate(Filters=[{"Key": "tag-key", "Values": ["xpart:plan"]}]):
    for sec in page["SecretList"]:
        if sec.get("DeletedDate"):
            continue
        add("secretsmanager.secret", sec["ARN"], tagdict(sec.get("Tags")))

kms = c("kms")
for page in kms.get_paginator("list_keys").paginate():
    for k in page["Keys"]:
        meta = alive(lambda: kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"])
        if meta is None or meta["KeyState"] == "PendingDeletion":
            continue
        tags = tagdict(alive(lambda: kms.list_resource_tags(KeyId=k["KeyId"])["Tags"], []), "TagKey", "TagValue")
        add("kms.key", meta["Arn"], tags)

ra = c("rolesanywhere")
for item in ra.list_trust_anchors()["trustAnchors"]:
    add("rolesanywhere.trust_anchor", item["trustAnchorArn"], tagdict(alive(lambda: ra.list_tags_for_resource(resourceArn=item["trustAnchorArn"])["tags"], []), "key", "value"))
for item in ra.list_profiles()["profiles"]:
    add("rolesanywhere.profile", item["profileArn"], tagdict(alive(lambda: ra.list_tags_for_resource(resourceArn=item["profileArn"])["tags"], []), "key", "value"))

ec2 = c("ec2")
account = c("sts").get_caller_identity()["Account"]
part = "aws-cn" if a.region.startswith("cn-") else "aws"
flt = [{"Name": "tag:xpart:plan", "Values": [a.plan]}]
def ec2arn(kind, rid):
    return f"arn:{part}:ec2:{a.region}:{account}:{kind}/{rid}"
for v in ec2.describe_vpcs(Filters=flt)["Vpcs"]:
    add("ec2.vpc", ec2arn("vpc", v["VpcId"]), tagdict(v.get("Tags")))
for v in ec2.describe_subnets(Filters=flt)["Subnets"]:
    add("ec2.subnet", ec2arn("subnet", v["SubnetId"]), tagdict(v.get("Tags")))
for v in ec2.describe_internet_gateways(Filters=flt)["InternetGateways"]:
    add("ec2.internet_gateway", ec2arn("internet-gateway", v["InternetGatewayId"]), tagdict(v.get("Tags")))
for v in ec2.describe_route_tables(Filters=flt)["RouteTables"]:
    add("ec2.route_table", ec2arn("route-table", v["RouteTableId"]), tagdict(v.get("Tags")))
for v in ec2.describe_security_groups(Filters=flt)["SecurityGroups"]:
    add("ec2.security_group", ec2arn("security-group", v["GroupId"]), tagdict(v.get("Tags")))
for r in ec2.describe_instances(Filters=flt + [{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}])["Reservations"]:
    for i in r["Instances"]:
        add("ec2.instance", ec2arn("instance", i["InstanceId"]), tagdict(i.get("Tags")))

print(json.dumps({"owned": owned}))
