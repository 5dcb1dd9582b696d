"""Third-party Roles Anywhere client for the tests: iam-rolesanywhere-session (PyPI).

Obtains credentials through CreateSession, then calls STS GetCallerIdentity and,
when --secret-id is given, Secrets Manager GetSecretValue with them. Prints one
JSON line: {"ok": true, "arn": …, "account": …, "secret_sha256": …} or
{"ok": false, "status": …, "message": …}. Never prints credentials or the secret.

--tamper flips one byte of the signature after signing, to prove the service
checks it.
"""

import argparse
import hashlib
import json
import sys

from iam_rolesanywhere_session import CredentialsRetrievalError, IAMRolesAnywhereSession
from iam_rolesanywhere_session.iam_rolesanywhere_session import IAMRolesAnywhereSigner, URLLib3Session

ap = argparse.ArgumentParser()
ap.add_argument("--endpoint", required=True, help="host:port of the Roles Anywhere TLS endpoint")
ap.add_argument("--ca-bundle", required=True)
ap.add_argument("--region", required=True)
ap.add_argument("--profile-arn", required=True)
ap.add_argument("--role-arn", required=True)
ap.add_argument("--trust-anchor-arn", required=True)
ap.add_argument("--cert", required=True)
ap.add_argument("--key", required=True)
ap.add_argument("--chain")
ap.add_argument("--service-endpoint", required=True, help="endpoint URL for STS and Secrets Manager")
ap.add_argument("--secret-id")
ap.add_argument("--tamper", action="store_true")
a = ap.parse_args()

if a.tamper:
    inject = IAMRolesAnywhereSigner._inject_signature_to_request

    def tampered(self, request, signature):
        flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
        return inject(self, request, flipped)

    IAMRolesAnywhereSigner._inject_signature_to_request = tampered

# Keep the last CreateSession response's error type: the client reports only the message.
last_error_type = {}
_send = URLLib3Session.send


def recording_send(self, request):
    response = _send(self, request)
    last_error_type["code"] = response.headers.get("x-amzn-ErrorType")
    return response


URLLib3Session.send = recording_send

read = lambda p: open(p, "rb").read()
session = IAMRolesAnywhereSession(
    profile_arn=a.profile_arn,
    role_arn=a.role_arn,
    trust_anchor_arn=a.trust_anchor_arn,
    certificate=read(a.cert),
    private_key=read(a.key),
    certificate_chain=read(a.chain) if a.chain else None,
    region=a.region,
    endpoint=a.endpoint,
    verify=a.ca_bundle,
).get_session()

try:
    sts = session.client("sts", region_name=a.region, endpoint_url=a.service_endpoint)
    ident = sts.get_caller_identity()
    out = {"ok": True, "arn": ident["Arn"], "account": ident["Account"]}
    if a.secret_id:
        sm = session.client("secretsmanager", region_name=a.region, endpoint_url=a.service_endpoint)
        value = sm.get_secret_value(SecretId=a.secret_id)["SecretString"]
        out["secret_sha256"] = hashlib.sha256(value.encode()).hexdigest()
except CredentialsRetrievalError as e:
    out = {"ok": False, "status": e.status_code, "code": last_error_type.get("code"), "message": str(e)}
print(json.dumps(out))
sys.exit(0)
