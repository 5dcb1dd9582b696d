"""Requests checked against the service models, as AWS checks them before anything else.

Every request signed for a service the test-bed serves is parsed with the operation's botocore
model (moto's request parsers) and validated: required members, types, lengths, ranges,
enums and patterns. A violation is answered with the service's validation error (JSON and
REST-JSON services: ValidationException; IAM and STS: ValidationError; EC2:
InvalidParameterValue, or MissingParameter for a missing member), before the request reaches
the emulation: what passes here is a request AWS would have taken in. moto alone checks only
what each of its handlers happens to look at. CreateSession (signed with a certificate, not
SigV4) is the Roles Anywhere emulation's to check.
"""

from __future__ import annotations

import io
import re
import threading
import uuid
from collections import Counter

from botocore.validate import ParamValidator

# SigV4 scope → botocore service name.
SERVICES = {
    "iam": "iam", "sts": "sts", "kms": "kms", "secretsmanager": "secretsmanager",
    "ec2": "ec2", "rolesanywhere": "rolesanywhere", "tagging": "resourcegroupstaggingapi",
}


class Checker:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.refused: Counter = Counter()
        self._routes: dict[str, list] = {}

    def stats(self) -> dict:
        with self.lock:
            return dict(self.refused)

    def check(self, environ, body: bytes):
        """A refusal (status, headers, body) for a request its model does not allow, or None."""
        auth = environ.get("HTTP_AUTHORIZATION", "")
        m = re.search(r"/\d{8}/[^/]+/([^/]+)/aws4_request", auth)
        if not m or m.group(1) not in SERVICES:
            return None
        from moto.core.parse import PROTOCOL_PARSERS
        from moto.core.request import determine_request_protocol
        from moto.core.utils import get_service_model
        from werkzeug.wrappers import Request

        model = get_service_model(SERVICES[m.group(1)])
        environ["wsgi.input"] = io.BytesIO(body)
        req = Request(environ)
        try:
            protocol = determine_request_protocol(model, req.content_type)
        except NotImplementedError:
            protocol = str(model.protocol)
        op, url_params = self._operation(model, protocol, req, body)
        environ["wsgi.input"] = io.BytesIO(body)
        if op is None:
            return None
        try:
            operation = model.operation_model(op)
        except Exception:
            return None
        try:
            parsed = PROTOCOL_PARSERS[protocol](operation).parse({
                "method": req.method, "values": req.values, "headers": req.headers,
                "body": body, "url_path": req.path, "url_params": url_params,
            })
        except Exception:
            return None  # what moto cannot parse, it answers itself
        finally:
            environ["wsgi.input"] = io.BytesIO(body)
        shape = operation.input_shape
        if shape is None:
            return None
        problems = []
        report = ParamValidator().validate(_plain(parsed), shape)
        if report.has_errors():
            problems.append(report.generate_report())
        _limits(parsed, shape, "", problems)
        if not problems:
            return None
        with self.lock:
            self.refused[f"{m.group(1)}:{op}"] += 1
        return _refusal(protocol, op, problems, missing=any("Missing required" in p for p in problems))

    def _operation(self, model, protocol, req, body):
        if protocol in ("query", "ec2"):
            action = req.values.get("Action")
            return action, {}
        if protocol == "json":
            target = req.headers.get("X-Amz-Target", "")
            return (target.rsplit(".", 1)[-1] or None), {}
        # REST: the operation whose method and URI template match.
        name = model.service_name
        if name not in self._routes:
            routes = []
            for op in model.operation_names:
                http = model.operation_model(op).http
                uri = http.get("requestUri", "/").split("?")[0]
                pattern = re.sub(r"\{([^}+]+)\+\}", r"(?P<\1>.+)", uri)
                pattern = re.sub(r"\{([^}]+)\}", r"(?P<\1>[^/]+)", pattern)
                routes.append((http.get("method"), re.compile(f"^{pattern}$"), op))
            self._routes[name] = routes
        for method, pattern, op in self._routes[name]:
            found = pattern.match(req.path)
            if found and method == req.method:
                return op, found.groupdict()
        return None, {}


def _plain(v):
    """moto's parsed form as botocore's validator takes it (plain dicts and lists)."""
    if isinstance(v, dict) or hasattr(v, "items"):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _limits(value, shape, path, problems) -> None:
    """What botocore's validator leaves to the service: maximum lengths and values, enums,
    patterns."""
    t = shape.type_name
    meta = shape.metadata
    where = path or "input"
    if t == "structure" and hasattr(value, "items"):
        for name, member in shape.members.items():
            if name in value and value[name] is not None:
                _limits(value[name], member, f"{path}.{name}" if path else name, problems)
    elif t == "list" and isinstance(value, list):
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{where} has {len(value)} items, more than {meta['max']}")
        for i, item in enumerate(value):
            _limits(item, shape.member, f"{where}[{i}]", problems)
    elif t == "map" and hasattr(value, "items"):
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{where} has {len(value)} entries, more than {meta['max']}")
        for k, item in value.items():
            _limits(k, shape.key, f"{where} key", problems)
            _limits(item, shape.value, f"{where}.{k}", problems)
    elif t == "string" and isinstance(value, str):
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{where} is {len(value)} characters long, more than {meta['max']}")
        if shape.enum and value not in shape.enum:
            problems.append(f"{where} `{value[:64]}` is not one of {', '.join(shape.enum)}")
        pattern = meta.get("pattern")
        if pattern:
            try:
                # Smithy patterns are not implicitly anchored; most models anchor their own.
                ok = re.search(pattern, value, re.S)
            except re.error:
                ok = True  # a Java-only construct: left to the service's own checks
            if not ok:
                problems.append(f"{where} `{value[:64]}` does not match {pattern}")
    elif t in ("integer", "long") and isinstance(value, int):
        if "max" in meta and value > meta["max"]:
            problems.append(f"{where} {value} is more than {meta['max']}")


def _refusal(protocol, op, problems, missing):
    message = "; ".join(p.replace("\n", " ") for p in problems)
    rid = str(uuid.uuid4())
    if protocol == "ec2":
        code = "MissingParameter" if missing else "InvalidParameterValue"
        body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{_xml(message)}</Message>"
                f"</Error></Errors><RequestID>{rid}</RequestID></Response>").encode()
        return 400, [("Content-Type", "text/xml")], body
    if protocol == "query":
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code>"
                f"<Message>{_xml(message)}</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>").encode()
        return 400, [("Content-Type", "text/xml")], body
    import json
    body = json.dumps({"__type": "ValidationException", "message": message}).encode()
    return 400, [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", "ValidationException"),
                 ("x-amzn-RequestId", rid)], body


def _xml(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
