"""Certificate rules and AWS4-X509 request signatures, as IAM Roles Anywhere applies them.

The canonical request and string to sign follow the Roles Anywhere credential
helper's signer (aws_signing_helper/signer.go): SigV4's layout with the
certificate's decimal serial in place of an access key and an asymmetric
signature over SHA-256 of the string to sign, for RSA and ECDSA keys alike.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

ALGORITHMS = {
    "AWS4-X509-RSA-SHA256": rsa.RSAPublicKey,
    "AWS4-X509-ECDSA-SHA256": ec.EllipticCurvePublicKey,
}
# SigV4 allows a 5 minute clock skew; Roles Anywhere does the same.
MAX_SKEW = dt.timedelta(minutes=5)


class AuthError(Exception):
    """A request that Roles Anywhere refuses; `code` is the AWS error type."""

    def __init__(self, code: str, message: str, status: int):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def access_denied(message: str) -> AuthError:
    return AuthError("AccessDeniedException", message, 403)


def validation(message: str) -> AuthError:
    return AuthError("ValidationException", message, 400)


def load_pem_bundle(pem: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(pem.encode())
    except ValueError as e:
        raise validation(f"Invalid certificate bundle: {e}") from None
    if not certs:
        raise validation("Invalid certificate bundle: no certificate found")
    return certs


def check_ca_certificate(cert: x509.Certificate) -> None:
    """The checks CreateTrustAnchor applies to a CERTIFICATE_BUNDLE source."""
    if cert.version != x509.Version.v3:
        raise validation("Incorrect basic constraints for CA certificate")
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        raise validation("Incorrect basic constraints for CA certificate") from None
    if not bc.ca:
        raise validation("Incorrect basic constraints for CA certificate")
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise validation("Incorrect key usage for CA certificate") from None
    if not ku.key_cert_sign:
        raise validation("Incorrect key usage for CA certificate")


def _der_cert(b64: str, what: str) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(base64.b64decode(b64.strip(), validate=True))
    except (ValueError, binascii.Error):
        raise validation(f"Invalid {what}") from None


def _verify_with(issuer_key, cert: x509.Certificate) -> bool:
    try:
        if isinstance(issuer_key, rsa.RSAPublicKey):
            issuer_key.verify(
                cert.signature,
                cert.tbs_certificate_bytes,
                padding.PKCS1v15(),
                cert.signature_hash_algorithm,
            )
        elif isinstance(issuer_key, ec.EllipticCurvePublicKey):
            issuer_key.verify(
                cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm)
            )
        else:
            return False
        return True
    except InvalidSignature:
        return False


def _valid_now(cert: x509.Certificate, now: dt.datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def chains_to(
    leaf: x509.Certificate,
    intermediates: list[x509.Certificate],
    anchors: list[x509.Certificate],
    now: dt.datetime,
) -> bool:
    """True when leaf, through the given intermediates, is signed by one of the anchors.

    Every certificate on the path must be inside its validity period; an
    intermediate must be a CA.
    """
    current = leaf
    pool = list(intermediates)
    for _ in range(len(pool) + 1):
        if not _valid_now(current, now):
            return False
        for anchor in anchors:
            if anchor.subject == current.issuer and _valid_now(anchor, now):
                if _verify_with(anchor.public_key(), current):
                    return True
        nxt = None
        for cand in pool:
            if cand.subject != current.issuer:
                continue
            try:
                bc = cand.extensions.get_extension_for_class(x509.BasicConstraints).value
            except x509.ExtensionNotFound:
                continue
            if bc.ca and _verify_with(cand.public_key(), current):
                nxt = cand
                break
        if nxt is None:
            return False
        pool.remove(nxt)
        current = nxt
    return False


_AUTH_RE = re.compile(
    r"^(?P<alg>AWS4-X509-[A-Z]+-SHA256)\s+Credential=(?P<cred>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<sig>[0-9a-fA-F]+)\s*$"
)


@dataclass
class SignedRequest:
    """What a verified CreateSession request proved."""

    certificate: x509.Certificate
    chain: list[x509.Certificate]
    region: str


def _uri_encode(s: str) -> str:
    return quote(s, safe="-_.~")


def canonical_query(raw_query: str) -> str:
    pairs = parse_qsl(raw_query, keep_blank_values=True)
    enc = sorted((_uri_encode(k), _uri_encode(v)) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in enc)


def verify_request(
    method: str,
    path: str,
    raw_query: str,
    headers: dict[str, str],
    body: bytes,
    now: dt.datetime,
) -> SignedRequest:
    """Check an AWS4-X509 signature; `headers` keys are lower case."""
    m = _AUTH_RE.match(headers.get("authorization", ""))
    if not m:
        raise access_denied("Invalid signature")
    alg = m.group("alg")
    if alg not in ALGORITHMS:
        raise access_denied("Invalid signature")
    cred = m.group("cred").split("/")
    if len(cred) != 5 or cred[3] != "rolesanywhere" or cred[4] != "aws4_request":
        raise access_denied("Invalid signature")
    serial, date, region = cred[0], cred[1], cred[2]
    signed = m.group("signed").split(";")
    if "x-amz-x509" not in signed or "x-amz-date" not in signed or "host" not in signed:
        raise access_denied("Invalid signature")
    if signed != sorted(signed):
        raise access_denied("Invalid signature")

    cert_b64 = headers.get("x-amz-x509")
    if not cert_b64:
        raise access_denied("Untrusted signing certificate")
    cert = _der_cert(cert_b64, "X509 certificate")
    chain = []
    if headers.get("x-amz-x509-chain"):
        chain = [_der_cert(c, "X509 certificate chain") for c in headers["x-amz-x509-chain"].split(",")]
    if str(cert.serial_number) != serial:
        raise access_denied("Invalid signature")

    amz_date = headers.get("x-amz-date", "")
    try:
        when = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        raise access_denied("Invalid signature") from None
    if amz_date[:8] != date:
        raise access_denied("Invalid signature")
    if abs(now - when) > MAX_SKEW:
        raise access_denied("Signature expired")

    canon_headers = []
    for h in signed:
        if h not in headers:
            raise access_denied("Invalid signature")
        canon_headers.append(f"{h}:{' '.join(headers[h].split())}")
    payload_hash = hashlib.sha256(body).hexdigest()
    canonical = "\n".join(
        [method, path, canonical_query(raw_query), "\n".join(canon_headers), "", ";".join(signed), payload_hash]
    )
    string_to_sign = "\n".join(
        [alg, amz_date, f"{date}/{region}/rolesanywhere/aws4_request", hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = cert.public_key()
    if not isinstance(key, ALGORITHMS[alg]):
        raise access_denied("Invalid signature")
    sig = bytes.fromhex(m.group("sig"))
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(sig, string_to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())
        else:
            key.verify(sig, string_to_sign.encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise access_denied("Invalid signature") from None
    return SignedRequest(certificate=cert, chain=chain, region=region)


def subject_tags(cert: x509.Certificate) -> dict[str, str]:
    """Session tags Roles Anywhere derives from a certificate (x509Subject/…, x509Issuer/…)."""
    short = {
        x509.NameOID.COMMON_NAME: "CN",
        x509.NameOID.ORGANIZATION_NAME: "O",
        x509.NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
        x509.NameOID.COUNTRY_NAME: "C",
        x509.NameOID.STATE_OR_PROVINCE_NAME: "ST",
        x509.NameOID.LOCALITY_NAME: "L",
    }
    tags = {}
    for prefix, name in (("x509Subject", cert.subject), ("x509Issuer", cert.issuer)):
        for attr in name:
            if attr.oid in short:
                tags[f"{prefix}/{short[attr.oid]}"] = str(attr.value)
    return tags
