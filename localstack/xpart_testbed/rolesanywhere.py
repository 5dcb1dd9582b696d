"""IAM Roles Anywhere emulation: trust anchors, profiles, tags and CreateSession.

Speaks the service's REST-JSON protocol (botocore's rolesanywhere 2018-05-10
model) so unmodified SDK clients work. CreateSession verifies the AWS4-X509
signature and the certificate chain, checks the profile and the role's trust
policy, then mints credentials through moto's STS for the same partition, so
they are accepted by that partition's other services.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import threading
import time
import uuid
from typing import Any, Callable

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from werkzeug.wrappers import Request, Response

from . import policy, x509auth
from .x509auth import AuthError, access_denied, validation

NAME_RE = re.compile(r"^[ a-zA-Z0-9\-_]{1,255}$")
ROLE_ARN_RE = re.compile(r"^arn:(aws[a-zA-Z-]*):iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
DEFAULT_DURATION = 3600
SESSION_ACTIONS = ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def not_found(message: str) -> AuthError:
    return AuthError("ResourceNotFoundException", message, 404)


class Store:
    """All Roles Anywhere state of one partition, keyed by ARN."""

    def __init__(self, account: str, partition: str):
        self.account = account
        self.partition = partition
        self.lock = threading.RLock()
        self.anchors: dict[str, dict] = {}
        self.profiles: dict[str, dict] = {}
        self.crls: dict[str, dict] = {}
        self.tags: dict[str, dict[str, str]] = {}
        # The subjects CreateSession met, by subject id (ListSubjects, GetSubject).
        self.subjects: dict[str, dict] = {}

    def subjects_by_arn(self) -> dict[str, dict]:
        with self.lock:
            return {v["subjectArn"]: v for v in self.subjects.values()}

    def arn(self, region: str, kind: str, rid: str) -> str:
        return f"arn:{self.partition}:rolesanywhere:{region}:{self.account}:{kind}/{rid}"


NOTIFICATION_EVENTS = ("CA_CERTIFICATE_EXPIRY", "END_ENTITY_CERTIFICATE_EXPIRY")
CERTIFICATE_FIELDS = ("x509Subject", "x509Issuer", "x509SAN")


def default_notifications() -> list[dict]:
    """A new anchor's settings: both events on, through every channel, set by Roles Anywhere
    itself (`configuredBy` its principal, as NotificationSettingDetail documents). The
    threshold of the service's default is not documented; 45 days here, and xpart compares a
    default setting by who set it, never by its values."""
    return [{"enabled": True, "event": e, "threshold": 45, "channel": "ALL",
             "configuredBy": "rolesanywhere.amazonaws.com"} for e in NOTIFICATION_EVENTS]


def default_mappings() -> list[dict]:
    """A new profile's attribute mapping (User Guide, "Certificate attribute mapping":
    default mapping behavior)."""
    return [
        {"certificateField": "x509Subject", "mappingRules": [{"specifier": "*"}]},
        {"certificateField": "x509Issuer", "mappingRules": [{"specifier": "*"}]},
        {"certificateField": "x509SAN", "mappingRules": [{"specifier": s} for s in ("DNS", "URI", "Name/*")]},
    ]


def _region_from_sigv4(auth: str) -> str | None:
    m = re.search(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request", auth)
    return m.group(1) if m else None


def is_rolesanywhere(environ: dict) -> bool:
    """Route a request here when it is signed for the rolesanywhere service or is a CreateSession."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if auth.startswith("AWS4-X509-"):
        return True
    return "/rolesanywhere/aws4_request" in auth


def _tags_in(body: dict) -> dict[str, str]:
    tags = body.get("tags") or []
    if not isinstance(tags, list) or len(tags) > 200:
        raise validation("Invalid tags")
    out = {}
    for t in tags:
        if not isinstance(t, dict) or "key" not in t or "value" not in t:
            raise validation("Tag must have a key and a value")
        k, v = str(t["key"]), str(t["value"])
        if not (1 <= len(k) <= 128) or len(v) > 256 or k.lower().startswith("aws:"):
            raise validation(f"Invalid tag key or value: {k}")
        out[k] = v
    return out


class Quotas:
    """Roles Anywhere's request-rate quotas, per account and Region (Roles Anywhere User Guide,
    "Quotas for AWS Identity and Access Management Roles Anywhere"): the trust anchor requests
    combined (List/Create/Get/Update/Delete/Enable/DisableTrustAnchor) 1 per second; the
    profile requests combined 1 per second; the tagging requests combined (TagResource,
    UntagResource, ListTagsForResource) 1 per second; CreateSession 10 per second. The CRL
    requests (ImportCrl, …Crl) and the notification settings are held to 1 per second too, with
    their siblings' rate: the stricter reading where the page gives no figure of their own. A
    request over its rate is answered 429 ThrottlingException. On when the fault file says
    `quotas=1`.
    """

    RATES = {"trust anchor": 1.0, "profile": 1.0, "crl": 1.0, "tagging": 1.0, "session": 10.0}

    def __init__(self, on: Callable[[], bool]):
        self.on = on
        self.lock = threading.Lock()
        # Per group: (tokens, when last filled). A bucket holds at most one second's rate.
        self.buckets: dict[str, tuple[float, float]] = {}
        self.throttled: dict[str, int] = {}

    @staticmethod
    def group(path: str) -> str | None:
        if path == "/sessions":
            return "session"
        if path.startswith("/trustanchor") or path.endswith("-notifications-settings"):
            return "trust anchor"
        if path.startswith("/profile"):
            return "profile"
        if path.startswith("/crl"):
            return "crl"
        if path in ("/TagResource", "/UntagResource", "/ListTagsForResource"):
            return "tagging"
        return None

    def take(self, path: str, arrived: float | None = None) -> bool:
        """Whether a request to `path`, which arrived at `arrived` (monotonic; now if None), is
        within its rate (and uses it up)."""
        group = self.group(path)
        if group is None or not self.on():
            return True
        rate = self.RATES[group]
        now = arrived if arrived is not None else time.monotonic()
        with self.lock:
            tokens, then = self.buckets.get(group, (rate, now))
            # Requests that arrived together may be judged out of order: never refill backwards.
            tokens = min(rate, tokens + max(0.0, now - then) * rate)
            now = max(now, then)
            if tokens < 1:
                self.buckets[group] = (tokens, now)
                self.throttled[group] = self.throttled.get(group, 0) + 1
                return False
            self.buckets[group] = (tokens - 1, now)
            return True

    def stats(self) -> dict:
        with self.lock:
            return dict(self.throttled)

    def rested(self) -> bool:
        """Whether every group's bucket is full again (a caller may start afresh)."""
        now = time.monotonic()
        with self.lock:
            return all(
                min(self.RATES[g], tokens + (now - then) * self.RATES[g]) >= self.RATES[g]
                for g, (tokens, then) in self.buckets.items()
            )

    def reset(self) -> None:
        with self.lock:
            self.throttled.clear()


class RolesAnywhere:
    """The WSGI application for both control plane and CreateSession."""

    def __init__(self, store: Store, sts_lookup: Callable[[], Any], iam_lookup: Callable[[], Any]):
        self.s = store
        self.sts = sts_lookup
        self.iam = iam_lookup
        self.routes: list[tuple[str, re.Pattern, Callable]] = []
        for method, pattern, fn in [
            ("POST", r"/sessions", self.create_session),
            ("POST", r"/trustanchors", self.create_trust_anchor),
            ("GET", r"/trustanchors", self.list_trust_anchors),
            ("GET", r"/trustanchor/(?P<id>[^/]+)", self.get_trust_anchor),
            ("PATCH", r"/trustanchor/(?P<id>[^/]+)", self.update_trust_anchor),
            ("DELETE", r"/trustanchor/(?P<id>[^/]+)", self.delete_trust_anchor),
            ("POST", r"/trustanchor/(?P<id>[^/]+)/enable", self.enable_trust_anchor),
            ("POST", r"/trustanchor/(?P<id>[^/]+)/disable", self.disable_trust_anchor),
            ("PATCH", r"/put-notifications-settings", self.put_notification_settings),
            ("PATCH", r"/reset-notifications-settings", self.reset_notification_settings),
            ("PUT", r"/profiles/(?P<id>[^/]+)/mappings", self.put_attribute_mapping),
            ("DELETE", r"/profiles/(?P<id>[^/]+)/mappings", self.delete_attribute_mapping),
            ("POST", r"/crls", self.import_crl),
            ("GET", r"/crls", self.list_crls),
            ("GET", r"/crl/(?P<id>[^/]+)", self.get_crl),
            ("PATCH", r"/crl/(?P<id>[^/]+)", self.update_crl),
            ("DELETE", r"/crl/(?P<id>[^/]+)", self.delete_crl),
            ("POST", r"/crl/(?P<id>[^/]+)/enable", self.enable_crl),
            ("POST", r"/crl/(?P<id>[^/]+)/disable", self.disable_crl),
            ("POST", r"/profiles", self.create_profile),
            ("GET", r"/profiles", self.list_profiles),
            ("GET", r"/profile/(?P<id>[^/]+)", self.get_profile),
            ("PATCH", r"/profile/(?P<id>[^/]+)", self.update_profile),
            ("DELETE", r"/profile/(?P<id>[^/]+)", self.delete_profile),
            ("POST", r"/profile/(?P<id>[^/]+)/enable", self.enable_profile),
            ("POST", r"/profile/(?P<id>[^/]+)/disable", self.disable_profile),
            ("GET", r"/subjects", self.list_subjects),
            ("GET", r"/subject/(?P<id>[^/]+)", self.get_subject),
            ("POST", r"/TagResource", self.tag_resource),
            ("POST", r"/UntagResource", self.untag_resource),
            ("GET", r"/ListTagsForResource", self.list_tags),
        ]:
            self.routes.append((method, re.compile(f"^{pattern}$"), fn))

    # ---- WSGI plumbing -------------------------------------------------

    def __call__(self, environ, start_response):
        # The rate quotas are judged in server.py, at the request's arrival, before it waits for
        # the partition's lock.
        req = Request(environ)
        try:
            for method, pattern, fn in self.routes:
                m = pattern.match(req.path)
                if m and req.method == method:
                    status, payload = fn(req, **m.groupdict())
                    resp = Response(json.dumps(payload), status=status, mimetype="application/json")
                    break
            else:
                raise AuthError("UnknownOperationException", f"No route for {req.method} {req.path}", 404)
        except AuthError as e:
            resp = Response(
                json.dumps({"message": e.message, "__type": e.code}),
                status=e.status,
                mimetype="application/json",
                headers={"x-amzn-ErrorType": e.code},
            )
        resp.headers["x-amzn-RequestId"] = str(uuid.uuid4())
        return resp(environ, start_response)

    def _body(self, req: Request) -> dict:
        raw = req.get_data()
        if not raw:
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            raise validation("Request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise validation("Request body must be a JSON object")
        return body

    def _region(self, req: Request) -> str:
        region = _region_from_sigv4(req.headers.get("Authorization", ""))
        if not region:
            raise AuthError("MissingAuthenticationTokenException", "Missing Authentication Token", 403)
        return region

    # ---- trust anchors -------------------------------------------------

    def _check_source(self, source: Any) -> dict:
        if not isinstance(source, dict):
            raise validation("source is required")
        st = source.get("sourceType")
        data = source.get("sourceData") or {}
        if st != "CERTIFICATE_BUNDLE":
            raise validation(f"Unsupported sourceType in this emulator: {st}")
        pem = data.get("x509CertificateData")
        if not isinstance(pem, str) or not (1 <= len(pem) <= 8000):
            raise validation("x509CertificateData is required and must be 1-8000 characters")
        for cert in x509auth.load_pem_bundle(pem):
            x509auth.check_ca_certificate(cert)
        return {"sourceType": st, "sourceData": {"x509CertificateData": pem}}

    def _anchor(self, req: Request, tid: str) -> dict:
        region = self._region(req)
        arn = self.s.arn(region, "trust-anchor", tid)
        with self.s.lock:
            ta = self.s.anchors.get(arn)
        if ta is None:
            raise not_found("Resource not found")
        return ta

    def create_trust_anchor(self, req: Request):
        body = self._body(req)
        region = self._region(req)
        name = body.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise validation("name must be 1-255 characters of [ a-zA-Z0-9-_]")
        source = self._check_source(body.get("source"))
        tags = _tags_in(body)
        tid = str(uuid.uuid4())
        now = _iso(_now())
        arn = self.s.arn(region, "trust-anchor", tid)
        ta = {
            "trustAnchorId": tid,
            "trustAnchorArn": arn,
            "name": name,
            "source": source,
            "enabled": bool(body.get("enabled", False)),
            "createdAt": now,
            "updatedAt": now,
            "notificationSettings": default_notifications(),
        }
        self._set_notifications(ta, body.get("notificationSettings") or [])
        with self.s.lock:
            self.s.anchors[arn] = ta
            self.s.tags[arn] = tags
        return 201, {"trustAnchor": ta}

    def list_trust_anchors(self, req: Request):
        return self._list(req, self.s.anchors, "trustAnchors")

    def get_trust_anchor(self, req: Request, id: str):
        return 200, {"trustAnchor": self._anchor(req, id)}

    def update_trust_anchor(self, req: Request, id: str):
        body = self._body(req)
        ta = self._anchor(req, id)
        if "name" in body:
            if not isinstance(body["name"], str) or not NAME_RE.match(body["name"]):
                raise validation("name must be 1-255 characters of [ a-zA-Z0-9-_]")
        source = self._check_source(body["source"]) if "source" in body else None
        with self.s.lock:
            if "name" in body:
                ta["name"] = body["name"]
            if source:
                ta["source"] = source
            ta["updatedAt"] = _iso(_now())
        return 200, {"trustAnchor": ta}

    def delete_trust_anchor(self, req: Request, id: str):
        ta = self._anchor(req, id)
        with self.s.lock:
            self.s.anchors.pop(ta["trustAnchorArn"], None)
            self.s.tags.pop(ta["trustAnchorArn"], None)
        return 200, {"trustAnchor": ta}

    def _set_notifications(self, ta: dict, settings: Any) -> None:
        """Customize `ta`'s settings of the events in `settings` (NotificationSetting, API
        reference: a threshold "is required for a notification setting that is enabled")."""
        if not isinstance(settings, list):
            raise validation("notificationSettings must be a list")
        for s in settings:
            if not isinstance(s, dict) or s.get("event") not in NOTIFICATION_EVENTS:
                raise validation("notificationSettings: each needs an event")
            if s.get("enabled") and s.get("threshold") is None:
                raise validation("threshold is required for a notification setting that is enabled")
        with self.s.lock:
            for s in settings:
                for d in ta["notificationSettings"]:
                    if d["event"] == s["event"]:
                        d.update({"enabled": bool(s["enabled"]), "channel": s.get("channel") or "ALL",
                                  "configuredBy": self.s.account})
                        if s.get("threshold") is not None:
                            d["threshold"] = s["threshold"]
            ta["updatedAt"] = _iso(_now())

    def put_notification_settings(self, req: Request):
        body = self._body(req)
        ta = self._anchor(req, str(body.get("trustAnchorId")))
        self._set_notifications(ta, body.get("notificationSettings"))
        return 200, {"trustAnchor": ta}

    def reset_notification_settings(self, req: Request):
        body = self._body(req)
        ta = self._anchor(req, str(body.get("trustAnchorId")))
        keys = body.get("notificationSettingKeys")
        if not isinstance(keys, list):
            raise validation("notificationSettingKeys must be a list")
        events = {k.get("event") for k in keys if isinstance(k, dict)}
        with self.s.lock:
            ta["notificationSettings"] = [
                d if d["event"] not in events else next(x for x in default_notifications() if x["event"] == d["event"])
                for d in ta["notificationSettings"]
            ]
            ta["updatedAt"] = _iso(_now())
        return 200, {"trustAnchor": ta}

    def enable_trust_anchor(self, req: Request, id: str):
        return self._set_enabled(self._anchor(req, id), True, "trustAnchor")

    def disable_trust_anchor(self, req: Request, id: str):
        return self._set_enabled(self._anchor(req, id), False, "trustAnchor")

    # ---- certificate revocation lists -----------------------------------

    def _crl(self, req: Request, cid: str) -> dict:
        region = self._region(req)
        arn = self.s.arn(region, "crl", cid)
        with self.s.lock:
            c = self.s.crls.get(arn)
        if c is None:
            raise not_found("Resource not found")
        return c

    def _check_crl(self, data: Any, anchor: dict) -> str:
        """The CRL's base64 text as kept, once it is known to be a PEM CRL ("In order to be
        properly imported, a CRL must be in PEM format": ImportCrl, API reference) signed by a
        CA of `anchor`'s bundle."""
        if not isinstance(data, str):
            raise validation("crlData is required")
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise validation("crlData is not base64") from None
        if not (1 <= len(raw) <= 300000):
            raise validation("crlData must be 1-300000 bytes")
        try:
            crl = x509.load_pem_x509_crl(raw)
        except ValueError:
            raise validation("crlData is not a CRL in PEM format") from None
        cas = x509auth.load_pem_bundle(anchor["source"]["sourceData"]["x509CertificateData"])
        if not any(ca.subject == crl.issuer and crl.is_signature_valid(ca.public_key()) for ca in cas):
            raise validation("The CRL is not signed by a certificate authority of the trust anchor")
        return data

    def import_crl(self, req: Request):
        body = self._body(req)
        region = self._region(req)
        name = body.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise validation("name must be 1-255 characters of [ a-zA-Z0-9-_]")
        anchor_arn = body.get("trustAnchorArn")
        with self.s.lock:
            anchor = self.s.anchors.get(anchor_arn) if isinstance(anchor_arn, str) else None
        if anchor is None:
            raise not_found("Trust anchor not found")
        data = self._check_crl(body.get("crlData"), anchor)
        tags = _tags_in(body)
        cid = str(uuid.uuid4())
        now = _iso(_now())
        arn = self.s.arn(region, "crl", cid)
        c = {"crlId": cid, "crlArn": arn, "name": name, "enabled": bool(body.get("enabled", False)),
             "crlData": data, "trustAnchorArn": anchor_arn, "createdAt": now, "updatedAt": now}
        with self.s.lock:
            self.s.crls[arn] = c
            self.s.tags[arn] = tags
        return 201, {"crl": c}

    def list_crls(self, req: Request):
        return self._list(req, self.s.crls, "crls")

    def get_crl(self, req: Request, id: str):
        return 200, {"crl": self._crl(req, id)}

    def update_crl(self, req: Request, id: str):
        body = self._body(req)
        c = self._crl(req, id)
        if "name" in body and (not isinstance(body["name"], str) or not NAME_RE.match(body["name"])):
            raise validation("name must be 1-255 characters of [ a-zA-Z0-9-_]")
        data = None
        if "crlData" in body:
            with self.s.lock:
                anchor = self.s.anchors.get(c["trustAnchorArn"])
            if anchor is None:
                raise validation("The CRL's trust anchor no longer exists")
            data = self._check_crl(body["crlData"], anchor)
        with self.s.lock:
            if "name" in body:
                c["name"] = body["name"]
            if data:
                c["crlData"] = data
            c["updatedAt"] = _iso(_now())
        return 200, {"crl": c}

    def delete_crl(self, req: Request, id: str):
        c = self._crl(req, id)
        with self.s.lock:
            self.s.crls.pop(c["crlArn"], None)
            self.s.tags.pop(c["crlArn"], None)
        return 200, {"crl": c}

    def enable_crl(self, req: Request, id: str):
        return self._set_enabled(self._crl(req, id), True, "crl")

    def disable_crl(self, req: Request, id: str):
        return self._set_enabled(self._crl(req, id), False, "crl")

    def revoked(self, anchor_arn: str, cert: x509.Certificate) -> bool:
        """Whether an enabled CRL of the anchor, signed by the certificate's issuer, lists it
        (Roles Anywhere "validates against the CRL before issuing credentials")."""
        with self.s.lock:
            lists = [c for c in self.s.crls.values() if c["trustAnchorArn"] == anchor_arn and c["enabled"]]
        for c in lists:
            crl = x509.load_pem_x509_crl(base64.b64decode(c["crlData"]))
            if crl.issuer == cert.issuer and crl.get_revoked_certificate_by_serial_number(cert.serial_number):
                return True
        return False

    # ---- profiles ------------------------------------------------------

    def _profile(self, req: Request, pid: str) -> dict:
        region = self._region(req)
        arn = self.s.arn(region, "profile", pid)
        with self.s.lock:
            p = self.s.profiles.get(arn)
        if p is None:
            raise not_found("Resource not found")
        return p

    def _check_profile_fields(self, body: dict) -> None:
        if "name" in body and (not isinstance(body["name"], str) or not NAME_RE.match(body["name"])):
            raise validation("name must be 1-255 characters of [ a-zA-Z0-9-_]")
        if "durationSeconds" in body:
            d = body["durationSeconds"]
            if not isinstance(d, int) or not (900 <= d <= 43200):
                raise validation("durationSeconds must be between 900 and 43200")
        if "roleArns" in body:
            arns = body["roleArns"]
            if not isinstance(arns, list) or len(arns) > 250:
                raise validation("roleArns must be a list of at most 250 role ARNs")
            for a in arns:
                m = ROLE_ARN_RE.match(a) if isinstance(a, str) else None
                if not m:
                    raise validation(f"Invalid role ARN: {a}")
                if m.group(1) != self.s.partition:
                    raise validation(f"Role ARN {a} is not in partition {self.s.partition}")
        if "managedPolicyArns" in body and not isinstance(body["managedPolicyArns"], list):
            raise validation("managedPolicyArns must be a list")
        if "sessionPolicy" in body and body["sessionPolicy"] is not None:
            try:
                json.loads(body["sessionPolicy"])
            except (TypeError, ValueError):
                raise validation("sessionPolicy is not valid JSON") from None

    def create_profile(self, req: Request):
        body = self._body(req)
        region = self._region(req)
        if "name" not in body or "roleArns" not in body:
            raise validation("name and roleArns are required")
        self._check_profile_fields(body)
        tags = _tags_in(body)
        pid = str(uuid.uuid4())
        now = _iso(_now())
        arn = self.s.arn(region, "profile", pid)
        p = {
            "profileId": pid,
            "profileArn": arn,
            "name": body["name"],
            "requireInstanceProperties": bool(body.get("requireInstanceProperties", False)),
            "enabled": bool(body.get("enabled", False)),
            "createdBy": f"arn:{self.s.partition}:iam::{self.s.account}:root",
            "sessionPolicy": body.get("sessionPolicy"),
            "roleArns": list(body["roleArns"]),
            "managedPolicyArns": list(body.get("managedPolicyArns") or []),
            "createdAt": now,
            "updatedAt": now,
            "durationSeconds": body.get("durationSeconds", DEFAULT_DURATION),
            "acceptRoleSessionName": bool(body.get("acceptRoleSessionName", False)),
            "attributeMappings": default_mappings(),
        }
        if p["sessionPolicy"] is None:
            del p["sessionPolicy"]
        with self.s.lock:
            self.s.profiles[arn] = p
            self.s.tags[arn] = tags
        return 201, {"profile": p}

    def list_profiles(self, req: Request):
        return self._list(req, self.s.profiles, "profiles")

    def get_profile(self, req: Request, id: str):
        return 200, {"profile": self._profile(req, id)}

    def update_profile(self, req: Request, id: str):
        body = self._body(req)
        p = self._profile(req, id)
        self._check_profile_fields(body)
        with self.s.lock:
            for k in ("name", "sessionPolicy", "roleArns", "managedPolicyArns", "durationSeconds", "acceptRoleSessionName"):
                if k in body:
                    p[k] = body[k]
            p["updatedAt"] = _iso(_now())
        return 200, {"profile": p}

    def delete_profile(self, req: Request, id: str):
        p = self._profile(req, id)
        with self.s.lock:
            self.s.profiles.pop(p["profileArn"], None)
            self.s.tags.pop(p["profileArn"], None)
        return 200, {"profile": p}

    def put_attribute_mapping(self, req: Request, id: str):
        """Adds the rules to the field's (AWS's API reference says "put an entry"; whether it
        replaces a field's rules is not stated, so the emulation takes the stricter reading
        for a client: what was there stays until deleted)."""
        body = self._body(req)
        p = self._profile(req, id)
        field = body.get("certificateField")
        rules = body.get("mappingRules")
        if field not in CERTIFICATE_FIELDS or not isinstance(rules, list):
            raise validation("certificateField and mappingRules are required")
        specs = [r.get("specifier") for r in rules if isinstance(r, dict)]
        if any(not isinstance(s, str) or len(s) > 60 for s in specs):
            raise validation("each mapping rule needs a specifier of at most 60 characters")
        with self.s.lock:
            m = next((m for m in p["attributeMappings"] if m["certificateField"] == field), None)
            if m is None:
                m = {"certificateField": field, "mappingRules": []}
                p["attributeMappings"].append(m)
            have = [r["specifier"] for r in m["mappingRules"]]
            m["mappingRules"] += [{"specifier": s} for s in specs if s not in have]
            p["updatedAt"] = _iso(_now())
        return 200, {"profile": p}

    def delete_attribute_mapping(self, req: Request, id: str):
        p = self._profile(req, id)
        field = req.args.get("certificateField")
        specifiers = req.args.getlist("specifiers")
        if field not in CERTIFICATE_FIELDS:
            raise validation("certificateField is required")
        with self.s.lock:
            for m in p["attributeMappings"]:
                if m["certificateField"] == field:
                    m["mappingRules"] = [r for r in m["mappingRules"]
                                         if specifiers and r["specifier"] not in specifiers]
            p["attributeMappings"] = [m for m in p["attributeMappings"] if m["mappingRules"]]
            p["updatedAt"] = _iso(_now())
        return 200, {"profile": p}

    def enable_profile(self, req: Request, id: str):
        return self._set_enabled(self._profile(req, id), True, "profile")

    def disable_profile(self, req: Request, id: str):
        return self._set_enabled(self._profile(req, id), False, "profile")

    # ---- shared --------------------------------------------------------

    def _set_enabled(self, item: dict, enabled: bool, key: str):
        with self.s.lock:
            item["enabled"] = enabled
            item["updatedAt"] = _iso(_now())
        return 200, {key: item}

    def _list(self, req: Request, table: dict, key: str):
        region = self._region(req)
        page_size = req.args.get("pageSize", type=int) or 50
        if not (1 <= page_size <= 100):
            raise validation("pageSize must be between 1 and 100")
        prefix = f"arn:{self.s.partition}:rolesanywhere:{region}:"
        with self.s.lock:
            items = sorted((v for k, v in table.items() if k.startswith(prefix)), key=lambda x: x["createdAt"])
        start = 0
        token = req.args.get("nextToken")
        if token:
            try:
                start = int(token)
            except ValueError:
                raise validation("Invalid nextToken") from None
        page = items[start : start + page_size]
        out: dict[str, Any] = {key: page}
        if start + page_size < len(items):
            out["nextToken"] = str(start + page_size)
        return 200, out

    def _resource(self, arn: Any) -> str:
        if not isinstance(arn, str):
            raise validation("resourceArn is required")
        with self.s.lock:
            if arn not in self.s.anchors and arn not in self.s.profiles and arn not in self.s.crls:
                raise not_found("Resource not found")
        return arn

    def tag_resource(self, req: Request):
        body = self._body(req)
        arn = self._resource(body.get("resourceArn"))
        tags = _tags_in(body)
        with self.s.lock:
            merged = {**self.s.tags.get(arn, {}), **tags}
            if len(merged) > 200:
                raise AuthError("TooManyTagsException", "Too many tags", 400)
            self.s.tags[arn] = merged
        return 201, {}

    def untag_resource(self, req: Request):
        body = self._body(req)
        arn = self._resource(body.get("resourceArn"))
        keys = body.get("tagKeys")
        if not isinstance(keys, list):
            raise validation("tagKeys is required")
        with self.s.lock:
            for k in keys:
                self.s.tags.get(arn, {}).pop(k, None)
        return 200, {}

    def list_tags(self, req: Request):
        arn = self._resource(req.args.get("resourceArn"))
        with self.s.lock:
            tags = [{"key": k, "value": v} for k, v in self.s.tags.get(arn, {}).items()]
        return 200, {"tags": tags}

    # ---- CreateSession -------------------------------------------------

    # ---- subjects: what CreateSession met ------------------------------
    # Roles Anywhere keeps, per certificate subject, the certificates it was presented and
    # whether each attempt failed (ListSubjects, GetSubject: SubjectDetail.credentials[] with
    # `failed`, `seenAt`, `serialNumber`, `issuer`; instanceProperties[] with `failed`,
    # `seenAt`), which is how an operator sees refused sessions of a workload.

    KEEP_PER_SUBJECT = 10

    def _record(self, region: str, cert: x509.Certificate, failed: bool) -> None:
        subject = str(cert.subject.rfc4514_string())
        sid = str(uuid.uuid5(uuid.NAMESPACE_OID, subject))
        now = _iso(_now())
        pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        with self.s.lock:
            item = self.s.subjects.setdefault(sid, {
                "subjectArn": self.s.arn(region, "subject", sid),
                "subjectId": sid,
                "enabled": True,
                "x509Subject": subject,
                "createdAt": now,
                "credentials": [],
                "instanceProperties": [],
            })
            item["lastSeenAt"] = now
            item["updatedAt"] = now
            item["credentials"].insert(0, {
                "enabled": True,
                "failed": failed,
                "issuer": str(cert.issuer.rfc4514_string()),
                "seenAt": now,
                "serialNumber": format(cert.serial_number, "x"),
                "x509CertificateData": pem,
            })
            item["instanceProperties"].insert(0, {"failed": failed, "seenAt": now, "properties": {}})
            del item["credentials"][self.KEEP_PER_SUBJECT:]
            del item["instanceProperties"][self.KEEP_PER_SUBJECT:]

    def list_subjects(self, req: Request):
        summary = ("subjectArn", "subjectId", "enabled", "x509Subject", "lastSeenAt", "createdAt", "updatedAt")
        _, page = self._list(req, self.s.subjects_by_arn(), "subjects")
        page["subjects"] = [{k: v[k] for k in summary if k in v} for v in page["subjects"]]
        return 200, page

    def get_subject(self, req: Request, id: str):
        with self.s.lock:
            item = self.s.subjects.get(id)
            if item is None:
                raise not_found("Subject not found")
            return 200, {"subject": json.loads(json.dumps(item))}

    def create_session(self, req: Request):
        headers = {k.lower(): v for k, v in req.headers.items()}
        signed = x509auth.verify_request(
            req.method, req.path, req.query_string.decode(), headers, req.get_data(), _now()
        )
        try:
            answer = self._create_session(req, signed)
        except AuthError:
            self._record(signed.region, signed.certificate, True)
            raise
        self._record(signed.region, signed.certificate, False)
        return answer

    def _create_session(self, req: Request, signed):
        body = self._body(req)
        q = req.args
        profile_arn = q.get("profileArn") or body.get("profileArn")
        role_arn = q.get("roleArn") or body.get("roleArn")
        anchor_arn = q.get("trustAnchorArn") or body.get("trustAnchorArn")
        if not profile_arn or not role_arn or not anchor_arn:
            raise validation("profileArn, roleArn and trustAnchorArn are required")
        region = signed.region
        with self.s.lock:
            anchor = self.s.anchors.get(anchor_arn)
            profile = self.s.profiles.get(profile_arn)
        if anchor is None or not anchor_arn.startswith(f"arn:{self.s.partition}:rolesanywhere:{region}:"):
            raise not_found("Trust anchor not found")
        if profile is None or not profile_arn.startswith(f"arn:{self.s.partition}:rolesanywhere:{region}:"):
            raise not_found("Profile not found")
        if not anchor["enabled"]:
            raise access_denied("Untrusted signing certificate")
        anchors = x509auth.load_pem_bundle(anchor["source"]["sourceData"]["x509CertificateData"])
        if not x509auth.chains_to(signed.certificate, signed.chain, anchors, _now()):
            raise access_denied("Untrusted signing certificate")
        if self.revoked(anchor_arn, signed.certificate):
            raise access_denied("Certificate revoked")
        if not profile["enabled"]:
            raise access_denied("Profile is disabled")
        if role_arn not in profile["roleArns"]:
            raise access_denied("Role is not associated with the profile")

        role_name = role_arn.split("/")[-1]
        role = next((r for r in self.iam().roles.values() if r.arn == role_arn), None)
        if role is None:
            raise access_denied(f"Unable to assume role {role_name}: role does not exist")
        cert = signed.certificate
        context = {"aws:SourceArn": anchor_arn, "aws:SourceAccount": self.s.account}
        # Only what the profile's attribute mapping maps becomes a session tag ("If a profile
        # is used with an Attribute Mapping field that lacks specifier: CN or specifier: *",
        # a condition on it does not match: User Guide, "Attribute mapping and trust policy").
        mapped = {m["certificateField"]: {r["specifier"] for r in m["mappingRules"]}
                  for m in profile.get("attributeMappings", [])}
        context.update({
            f"aws:PrincipalTag/{k}": v for k, v in x509auth.subject_tags(cert).items()
            if {"*", k.split("/", 1)[1]} & mapped.get(k.split("/", 1)[0], set())
        })
        if not policy.trust_allows(role.assume_role_policy_document, "rolesanywhere.amazonaws.com", SESSION_ACTIONS, context):
            raise access_denied("Unable to assume role: the role's trust policy does not allow this session")

        requested = body.get("durationSeconds", 3600)
        if not isinstance(requested, int) or not (900 <= requested <= 43200):
            raise validation("durationSeconds must be between 900 and 43200")
        duration = min(requested, int(profile["durationSeconds"]))
        session_name = format(cert.serial_number, "x")
        if body.get("roleSessionName"):
            if not profile.get("acceptRoleSessionName"):
                raise validation("Profile does not accept a custom role session name")
            session_name = str(body["roleSessionName"])
        assumed = self.sts().assume_role(
            region_name=region,
            role_session_name=session_name,
            role_arn=role_arn,
            policy=profile.get("sessionPolicy") or "",
            duration=duration,
            external_id="",
        )
        subject = str(cert.subject.rfc4514_string())
        return 201, {
            "credentialSet": [
                {
                    "assumedRoleUser": {"arn": assumed.arn, "assumedRoleId": assumed.user_id},
                    "credentials": {
                        "accessKeyId": assumed.access_key_id,
                        "secretAccessKey": assumed.secret_access_key,
                        "sessionToken": assumed.session_token,
                        "expiration": _iso(_now() + dt.timedelta(seconds=duration)),
                    },
                    "packedPolicySize": 0,
                    "roleArn": role_arn,
                    "sourceIdentity": subject,
                }
            ],
            "subjectArn": self.s.arn(region, "subject", str(uuid.uuid5(uuid.NAMESPACE_OID, subject))),
        }
