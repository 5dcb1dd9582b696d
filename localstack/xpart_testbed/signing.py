"""Requests signed for another partition are refused, as AWS refuses them.

A partition is a separate cloud with its own accounts and credentials, and every SigV4
request names the region it is signed for in its credential scope
(`Credential=AKID/20261128/<region>/<service>/aws4_request`). AWS refuses:

- a scope whose region is not one of this partition's regions ("Credential should be scoped
  to a valid region"): `SignatureDoesNotMatch` (query protocol), `InvalidSignatureException`
  (JSON protocols), `AuthFailure` (EC2). See "Troubleshoot Signature Version 4 errors" in the
  IAM User Guide (docs.aws.amazon.com/IAM/latest/UserGuide/signature-v4-troubleshooting.html);
- an access key the partition never issued (credentials of an AWS account outside China do not
  work in the China regions and the other way round: "Amazon Web Services in China" in the
  AWS China getting-started guide): `InvalidClientTokenId` (query), `UnrecognizedClientException`
  (JSON), `AuthFailure` (EC2).

- a request signed more than five minutes from the service's clock ("In most cases, a request
  must reach AWS within five minutes of the time stamp in the request. Otherwise, AWS denies
  the request": IAM User Guide, "AWS Signature Version 4 for API requests"), with "Signature
  expired: <stamp> is now earlier than <limit> (<now> - 5 min.)" or "Signature not yet current":
  `SignatureDoesNotMatch` (query), `InvalidSignatureException` (JSON), `RequestExpired` (EC2).
  Roles Anywhere's CreateSession (X.509-signed) is checked the same way in x509auth.py.

moto accepts any signature and derives the partition from the signed region, so without this
check a commercial profile pointed at China's region reads as a China caller. The test-bed's own
placeholder keys say which partition they belong to (`testbed-commercial`, `testbed-china`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid

from moto.utilities.utils import get_partition

_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
_QUERY_SCOPE = re.compile(r"X-Amz-Credential=([^/&%]+)(?:/|%2F)\d{8}(?:/|%2F)([^/&%]+)(?:/|%2F)([^/&%]+)")

# The placeholder keys `localstack/up` writes, by the partition that issued them.
_ISSUED_BY = {"testbed-commercial": "aws", "testbed-china": "aws-cn"}


def _error(service: str, kind: str, msg: str = ""):
    """(status, headers, body) of the refusal in the service's protocol."""
    rid = str(uuid.uuid4())
    if kind == "time":
        codes = {"query": (403, "SignatureDoesNotMatch"), "json": (400, "InvalidSignatureException"),
                 "ec2": (400, "RequestExpired")}
    elif kind == "region":
        msg = "Credential should be scoped to a valid region."
        codes = {"query": (403, "SignatureDoesNotMatch"), "json": (400, "InvalidSignatureException"),
                 "ec2": (401, "AuthFailure")}
    else:
        msg = "The security token included in the request is invalid."
        codes = {"query": (403, "InvalidClientTokenId"), "json": (400, "UnrecognizedClientException"),
                 "ec2": (401, "AuthFailure")}
    if service in ("iam", "sts"):
        status, code = codes["query"]
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{msg}</Message>"
                f"</Error><RequestId>{rid}</RequestId></ErrorResponse>").encode()
        return status, [("Content-Type", "text/xml")], body
    if service == "ec2":
        status, code = codes["ec2"]
        body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{msg}</Message></Error></Errors>"
                f"<RequestID>{rid}</RequestID></Response>").encode()
        return status, [("Content-Type", "text/xml")], body
    status, code = codes["json"]
    body = json.dumps({"__type": code, "message": msg}).encode()
    return status, [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)], body


def refusal(environ, partition: str):
    """None when the request may go on; else (status, headers, body) of AWS's refusal."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    m = _SCOPE.search(auth) or _QUERY_SCOPE.search(environ.get("QUERY_STRING", ""))
    if not m:
        return None
    key, region, service = m.groups()
    try:
        region_partition = get_partition(region)
    except Exception:  # noqa: BLE001 - an unknown region is as foreign as another partition's
        region_partition = None
    if region_partition != partition:
        return _error(service, "region")
    issuer = _ISSUED_BY.get(key)
    if issuer is not None and issuer != partition:
        return _error(service, "key")
    stamp = environ.get("HTTP_X_AMZ_DATE") or _query_date(environ.get("QUERY_STRING", ""))
    if stamp:
        try:
            signed = dt.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
        except ValueError:
            return None
        now = dt.datetime.now(dt.timezone.utc)
        fmt = "%Y%m%dT%H%M%SZ"
        if signed < now - SKEW:
            return _error(service, "time", f"Signature expired: {stamp} is now earlier than "
                          f"{(now - SKEW).strftime(fmt)} ({now.strftime(fmt)} - 5 min.)")
        if signed > now + SKEW:
            return _error(service, "time", f"Signature not yet current: {stamp} is still later than "
                          f"{(now + SKEW).strftime(fmt)} ({now.strftime(fmt)} + 5 min.)")
    return None


SKEW = dt.timedelta(minutes=5)


def _query_date(query: str) -> str | None:
    m = re.search(r"X-Amz-Date=(\d{8}T\d{6}Z)", query)
    return m.group(1) if m else None


_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden"}


def respond(start_response, refused):
    status, headers, body = refused
    start_response(f"{status} {_REASONS[status]}",
                   headers + [("Content-Length", str(len(body))), ("x-amzn-RequestId", str(uuid.uuid4()))])
    return [body]
