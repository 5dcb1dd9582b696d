"""Just enough IAM policy reading for the test-bed: principals and trust evaluation.

Used to reject cross-partition principals as AWS does and to decide whether a
role's trust policy lets Roles Anywhere assume it for a given certificate.
Unknown condition operators fail closed.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any, Iterable


def _as_list(v: Any) -> list:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def statements(doc: str | dict) -> list[dict]:
    if isinstance(doc, str):
        doc = json.loads(doc)
    return [s for s in _as_list(doc.get("Statement")) if isinstance(s, dict)]


def principals(doc: str | dict, kind: str) -> Iterable[str]:
    """Every principal of `kind` ("AWS", "Service", …) named in the document."""
    for st in statements(doc):
        p = st.get("Principal")
        if isinstance(p, dict):
            for v in _as_list(p.get(kind)):
                if isinstance(v, str):
                    yield v


def account_of_principal(arn: str) -> str | None:
    """The account an account principal names (an IAM ARN whose resource has no path, such as
    `arn:aws-cn:iam::444455556666:root`), else None."""
    parts = arn.split(":", 5)
    if (len(parts) == 6 and parts[0] == "arn" and parts[2] == "iam" and not parts[3]
            and len(parts[4]) == 12 and parts[4].isdigit() and parts[5] and "/" not in parts[5]):
        return parts[4]
    return None


def foreign_principals(doc: str, partition: str) -> list[str]:
    """AWS principal ARNs whose partition differs from `partition`, and China service
    principals outside aws-cn: both are refused by IAM and KMS."""
    try:
        json.loads(doc)
    except (TypeError, ValueError):
        return []
    bad = []
    for arn in principals(doc, "AWS"):
        if arn.startswith("arn:"):
            parts = arn.split(":")
            if len(parts) > 2 and parts[1] != partition:
                bad.append(f'"AWS":"{arn}"')
    for svc in principals(doc, "Service"):
        if svc.endswith(".amazonaws.com.cn") and partition != "aws-cn":
            bad.append(f'"SERVICE":"{svc}"')
    return bad


def _like(pattern: str, value: str) -> bool:
    # IAM's * and ? wildcards; no character classes.
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


_OPERATORS = {
    "StringEquals": lambda p, v: p == v,
    "StringNotEquals": lambda p, v: p != v,
    "StringEqualsIgnoreCase": lambda p, v: p.lower() == v.lower(),
    "StringLike": _like,
    "StringNotLike": lambda p, v: not _like(p, v),
    "ArnEquals": lambda p, v: p == v,
    "ArnLike": _like,
    "ArnNotEquals": lambda p, v: p != v,
    "ArnNotLike": lambda p, v: not _like(p, v),
}


def _conditions_hold(cond: dict, context: dict[str, str]) -> bool:
    for op, clauses in cond.items():
        if_exists = op.endswith("IfExists")
        base = op[: -len("IfExists")] if if_exists else op
        fn = _OPERATORS.get(base)
        if fn is None or not isinstance(clauses, dict):
            return False
        negated = "Not" in base
        for key, patterns in clauses.items():
            # Condition keys are case-insensitive.
            value = next((v for k, v in context.items() if k.lower() == key.lower()), None)
            if value is None:
                if if_exists or negated:
                    continue
                return False
            pats = [str(p) for p in _as_list(patterns)]
            if negated:
                if not all(fn(p, value) for p in pats):
                    return False
            elif not any(fn(p, value) for p in pats):
                return False
    return True


def _action_matches(actions: Any, action: str) -> bool:
    return any(_like(a.lower(), action.lower()) for a in _as_list(actions) if isinstance(a, str))


def trust_allows(doc: str, service: str, actions: list[str], context: dict[str, str]) -> bool:
    """Whether `service` may perform every action in `actions` under this trust policy."""
    try:
        sts = statements(doc)
    except (TypeError, ValueError):
        return False
    for action in actions:
        allowed = False
        for st in sts:
            p = st.get("Principal")
            names_service = isinstance(p, dict) and service in _as_list(p.get("Service")) or p == "*"
            if not names_service or not _action_matches(st.get("Action"), action):
                continue
            if not _conditions_hold(st.get("Condition") or {}, context):
                continue
            if st.get("Effect") == "Deny":
                return False
            if st.get("Effect") == "Allow":
                allowed = True
        if not allowed:
            return False
    return True
