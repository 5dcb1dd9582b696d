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
  (`stale_index` in the fault settings hides everything, at once).
Refusals are counted in the stats (`consistency`), so a campaign can tell that it met some.
"""

from __future__ import annotations

import json
import random
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

    def after(self, op: str, protocol: str, params: dict, status: str) -> None:
        """Note the IAM writes that succeeded."""
        if protocol != "query" or not status.startswith("200"):
            return
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

    def _ec2(self, message: str):
        body = (
            f"<Response><Errors><Error><Code>InvalidParameterValue</Code><Message>{message}</Message>"
            f"</Error></Errors><RequestID>{uuid.uuid4()}</RequestID></Response>"
        ).encode()
        return self._refuse("ec2", 400, "text/xml", body)

    def _refuse(self, service: str, status: int, ctype: str, body: bytes, headers=()):
        with self.lock:
            self.refused[service] += 1
        return status, [("Content-Type", ctype), *headers], body


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
