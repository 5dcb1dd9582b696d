"""Eventual consistency of IAM, seeded, on by a setting (`consistency_s=N` in the fault file).

AWS: "IAM … is eventually consistent … changes that you make … take time to become visible to
other services" (IAM User Guide, troubleshooting: "Changes that I make are not always
immediately visible"). The Terraform AWS provider retries each symptom for minutes: KMS
CreateKey/PutKeyPolicy `MalformedPolicyDocumentException` naming a principal made seconds
ago; EC2 RunInstances / AssociateIamInstanceProfile `InvalidParameterValue` "Invalid IAM
Instance Profile name" and "… has no associated IAM Roles".

Here, after a write to an IAM principal (CreateRole, UpdateAssumeRolePolicy,
CreateInstanceProfile, AddRoleToInstanceProfile), for a seeded random delay of up to
`consistency_s` seconds (at least half of it):
- a KMS key policy naming the role is refused (MalformedPolicyDocumentException);
- RunInstances / AssociateIamInstanceProfile with the instance profile is refused as EC2
  refuses it (unknown profile, or a profile whose role is not there yet);
- CreateSession into the role (created, or its trust changed) is denied (AccessDeniedException).
- the tag index (GetResources) lists a resource only a seeded delay after it first could
  (`stale_index` in the fault settings hides everything, at once);
- a read straight after a create may not find it: for a seeded delay after CreateRole,
  CreateInstanceProfile, an EC2 create (VPC, subnet, security group, internet gateway, route
  table, instance) or CreateSecret, reads of it by name or id answer the service's "not
  found" and listings leave it out. The EC2 API reference says so of its own API ("if you run
  a command to modify or describe the resource that you just created, its ID might not have
  propagated throughout the system, and you will get an error responding that the resource
  does not exist": Eventual consistency in the Amazon EC2 API); the Terraform AWS provider
  retries IAM reads after a create for two minutes (`RetryWhenNewResourceNotFound`); Secrets
  Manager's ListSecrets "might not reflect changes from the last five minutes", while
  DescribeSecret is current (ListSecrets API reference), so only the listing lags here.
Refusals are counted in the stats (`consistency`), by service, and the reads that missed a
create as `read:<service>`, so a campaign can tell that it met some.
"""

from __future__ import annotations

import json
import random
import re
import xml.etree.ElementTree as ET
import threading
import time
import uuid
from collections import Counter
from urllib.parse import parse_qs


class Lag:
    def __init__(self, settings):
        # settings() -> (seed, consistency_s) as the fault file says now.
        self.settings = settings
        self.lock = threading.Lock()
        self.visible_at: dict[tuple[str, str], float] = {}
        self.draws = Counter()
        self.refused = Counter()
        self.index_at: dict[str, float] = {}

    def note(self, kind: str, name: str) -> None:
        seed, max_s = self.settings()
        if max_s <= 0:
            return
        with self.lock:
            n = self.draws[(kind, name)]
            self.draws[(kind, name)] += 1
            # Between half and all of the setting: long enough that what follows a write
            # within a second or two meets it, as it may on AWS.
            delay = random.Random(f"{seed}:{kind}:{name}:{n}").uniform(max_s / 2, max_s)
            self.visible_at[(kind, name)] = time.monotonic() + delay

    def indexed(self, arn: str) -> bool:
        """Whether the tag index lists `arn` yet: in this mode, a resource joins the index a
        seeded delay after the index could first have listed it (its first GetResources),
        as AWS's index lags a create. Always, with the mode off."""
        seed, max_s = self.settings()
        if max_s <= 0:
            return True
        now = time.monotonic()
        with self.lock:
            if arn not in self.index_at:
                delay = random.Random(f"{seed}:index:{arn}").uniform(max_s / 2, max_s)
                self.index_at[arn] = now + delay
            return self.index_at[arn] <= now

    def pending(self, kind: str, name: str) -> bool:
        with self.lock:
            return self.visible_at.get((kind, name), 0) > time.monotonic()

    def stats(self) -> dict:
        with self.lock:
            return dict(self.refused)

    def reset(self) -> None:
        with self.lock:
            self.refused.clear()

    # ---- the requests ----

    def before(self, op: str, protocol: str, params: dict, body: bytes, role_arn: str | None):
        """A refusal (status, content type, body) for a request that meets an IAM change not
        visible yet, or None."""
        if op in ("CreateKey", "PutKeyPolicy") and protocol == "json":
            try:
                doc = json.loads(json.loads(body or b"{}").get("Policy") or "{}")
            except ValueError:
                return None
            for arn in _principals(doc):
                if ":role/" in arn and self.pending("role", arn.rsplit("/", 1)[-1]):
                    return self._refuse("kms", 400, "application/x-amz-json-1.1", json.dumps({
                        "__type": "MalformedPolicyDocumentException",
                        "message": "Policy contains a statement with one or more invalid principals.",
                    }).encode())
        if op in ("RunInstances", "AssociateIamInstanceProfile") and protocol == "ec2":
            name = _first(params, "IamInstanceProfile.Name")
            arn = _first(params, "IamInstanceProfile.Arn")
            name = name or (arn.rsplit("/", 1)[-1] if arn else None)
            if name and self.pending("profile", name):
                return self._ec2(f"Value ({name}) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name")
            if name and self.pending("membership", name):
                return self._ec2(f"Value ({name}) for parameter iamInstanceProfile.name is invalid. The instance profile {name} has no associated IAM Roles")
        if op == "POST /sessions" and role_arn:
            name = role_arn.rsplit("/", 1)[-1]
            if self.pending("role", name) or self.pending("trust", name):
                return self._refuse("sts", 403, "application/json", json.dumps({
                    "message": f"Unable to assume role for arn: {role_arn}",
                }).encode(), headers=[("x-amzn-ErrorType", "AccessDeniedException")])
        return None

    def after(self, op: str, protocol: str, params: dict, status: str, body: bytes = b"") -> None:
        """Note the writes that succeeded: IAM principals, and the creates whose reads lag."""
        if not status.startswith("200"):
            return
        if protocol == "query":
            kinds = {
                "CreateRole": ("role", "RoleName"),
                "UpdateAssumeRolePolicy": ("trust", "RoleName"),
                "CreateInstanceProfile": ("profile", "InstanceProfileName"),
                "AddRoleToInstanceProfile": ("membership", "InstanceProfileName"),
            }
            if op in kinds:
                kind, key = kinds[op]
                name = _first(params, key)
                if name:
                    self.note(kind, name)
        elif protocol == "ec2" and op in EC2_CREATES:
            tag = EC2_CREATES[op]
            ids = re.findall(rf"<{tag}>([^<]+)</{tag}>".encode(), body)
            # A create answers its own id first; RunInstances lists each instance it launched.
            for rid in (ids if op == "RunInstances" else ids[:1]):
                self.note("ec2", rid.decode())
        elif protocol == "json" and op == "CreateSecret":
            try:
                name = json.loads(body or b"{}").get("Name")
            except ValueError:
                name = None
            if name:
                self.note("secret", name)

    def hide(self, op: str, protocol: str, params: dict, status: str, body: bytes):
        """What a read answers while what it asks for was created too recently to be seen:
        (status, headers, body) to answer instead, or None to answer as the service did."""
        if not status.startswith("200") or not self.visible_at or self.settings()[1] <= 0:
            return None
        if protocol == "query" and op in IAM_READS:
            kind, key = IAM_READS[op]
            name = _first(params, key)
            if name and self.pending(kind, name):
                noun = "role" if kind == "role" else "Instance Profile"
                return self._xml("read:iam", 404, "NoSuchEntity", f"The {noun} with name {name} cannot be found.", iam=True)
            return None
        if protocol == "query" and op in IAM_LISTS:
            return self._strip(body, "read:iam", IAM_LISTS[op])
        if protocol == "ec2" and op in EC2_READS:
            set_tag, id_tag, param, code = EC2_READS[op]
            for k, vs in params.items():
                if k.startswith(f"{param}.") and any(self.pending("ec2", v) for v in vs):
                    return self._xml("read:ec2", 400, code, f"The ID '{vs[0]}' does not exist")
            return self._strip(body, "read:ec2", [(set_tag, id_tag, "ec2")])
        if protocol == "json" and op == "ListSecrets":
            try:
                page = json.loads(body or b"{}")
            except ValueError:
                return None
            kept = [s for s in page.get("SecretList", []) if not self.pending("secret", s.get("Name", ""))]
            if len(kept) == len(page.get("SecretList", [])):
                return None
            self._count("read:secretsmanager")
            page["SecretList"] = kept
            return 200, [("Content-Type", "application/x-amz-json-1.1")], json.dumps(page).encode()
        return None

    def _strip(self, body: bytes, service: str, sets):
        """`body` without the items of each (set, id element, kind) whose id is pending, and
        (for instances) without the reservations that are then empty."""
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            return None
        ns = root.tag[1:].split("}")[0] if root.tag.startswith("{") else ""
        q = (lambda t: f"{{{ns}}}{t}") if ns else (lambda t: t)
        removed = 0
        for set_tag, id_tag, kind in sets:
            for holder in root.iter(q(set_tag)):
                for item in list(holder):
                    rid = item.findtext(q(id_tag))
                    if rid and self.pending(kind, rid):
                        holder.remove(item)
                        removed += 1
        if not removed:
            return None
        for reservations in root.iter(q("reservationSet")):
            for r in list(reservations):
                inst = r.find(q("instancesSet"))
                if inst is not None and len(inst) == 0:
                    reservations.remove(r)
        self._count(service)
        ET.register_namespace("", ns)
        return 200, [("Content-Type", "text/xml")], ET.tostring(root, encoding="utf-8", xml_declaration=True)

    def _xml(self, service: str, status: int, code: str, message: str, iam: bool = False):
        if iam:
            body = (
                '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
                f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
            ).encode()
        else:
            body = (
                f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message>"
                f"</Error></Errors><RequestID>{uuid.uuid4()}</RequestID></Response>"
            ).encode()
        return self._refuse(service, status, "text/xml", body)

    def _count(self, service: str) -> None:
        with self.lock:
            self.refused[service] += 1

    def _ec2(self, message: str):
        body = (
            f"<Response><Errors><Error><Code>InvalidParameterValue</Code><Message>{message}</Message>"
            f"</Error></Errors><RequestID>{uuid.uuid4()}</RequestID></Response>"
        ).encode()
        return self._refuse("ec2", 400, "text/xml", body)

    def _refuse(self, service: str, status: int, ctype: str, body: bytes, headers=()):
        self._count(service)
        return status, [("Content-Type", ctype), *headers], body


# The EC2 creates whose reads lag, by the element of the answer that holds the new id.
EC2_CREATES = {
    "CreateVpc": "vpcId", "CreateSubnet": "subnetId", "CreateSecurityGroup": "groupId",
    "CreateInternetGateway": "internetGatewayId", "CreateRouteTable": "routeTableId",
    "RunInstances": "instanceId",
}
# The EC2 reads: the set of the answer, its items' id element, the request's id parameter,
# and the code EC2 answers for an id it does not know.
EC2_READS = {
    "DescribeVpcs": ("vpcSet", "vpcId", "VpcId", "InvalidVpcID.NotFound"),
    "DescribeSubnets": ("subnetSet", "subnetId", "SubnetId", "InvalidSubnetID.NotFound"),
    "DescribeSecurityGroups": ("securityGroupInfo", "groupId", "GroupId", "InvalidGroup.NotFound"),
    "DescribeInternetGateways": ("internetGatewaySet", "internetGatewayId", "InternetGatewayId",
                                 "InvalidInternetGatewayID.NotFound"),
    "DescribeRouteTables": ("routeTableSet", "routeTableId", "RouteTableId", "InvalidRouteTableID.NotFound"),
    "DescribeInstances": ("instancesSet", "instanceId", "InstanceId", "InvalidInstanceID.NotFound"),
}
# IAM reads of one principal by name, and listings (set, name element, kind).
IAM_READS = {
    op: ("role", "RoleName")
    for op in ("GetRole", "ListRolePolicies", "ListAttachedRolePolicies", "ListRoleTags", "GetRolePolicy")
} | {op: ("profile", "InstanceProfileName") for op in ("GetInstanceProfile", "ListInstanceProfileTags")}
IAM_LISTS = {
    "GetAccountAuthorizationDetails": [("RoleDetailList", "RoleName", "role")],
    "ListRoles": [("Roles", "RoleName", "role")],
    "ListInstanceProfiles": [("InstanceProfiles", "InstanceProfileName", "profile")],
}


def _first(params: dict, key: str) -> str | None:
    v = params.get(key)
    return v[0] if v else None


def _principals(doc) -> list[str]:
    out: list[str] = []
    statements = doc.get("Statement", []) if isinstance(doc, dict) else []
    if isinstance(statements, dict):
        statements = [statements]
    for st in statements:
        p = st.get("Principal") if isinstance(st, dict) else None
        aws = p.get("AWS") if isinstance(p, dict) else None
        if isinstance(aws, str):
            out.append(aws)
        elif isinstance(aws, list):
            out.extend(a for a in aws if isinstance(a, str))
    return out


def params_of(body: bytes, query: str, ctype: str) -> dict:
    params = parse_qs(query or "")
    if "x-www-form-urlencoded" in ctype:
        params.update(parse_qs(body.decode(errors="replace")))
    return params
