"""A loopback TLS identity for the test-bed: a private CA and a server certificate for 127.0.0.1.

Some clients only speak HTTPS to Roles Anywhere (iam-rolesanywhere-session
builds `https://{endpoint}/sessions`), so each partition also listens with TLS.
Clients trust `ca.pem` from the state directory; nothing here is trusted system-wide.

    python -m xpart_testbed.tls STATE_DIR   # creates STATE_DIR/tls/{ca.pem,server.pem,server.key} once
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "xpart test-bed"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def ensure(state: str) -> str:
    d = os.path.join(state, "tls")
    if os.path.exists(os.path.join(d, "server.key")):
        return d
    os.makedirs(d, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("xpart test-bed CA"))
        .issuer_name(_name("xpart test-bed CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    with open(os.path.join(d, "ca.pem"), "wb") as f:
        f.write(ca.public_bytes(pem))
    with open(os.path.join(d, "server.pem"), "wb") as f:
        f.write(cert.public_bytes(pem))
    fd = os.open(os.path.join(d, "server.key.tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
    os.replace(os.path.join(d, "server.key.tmp"), os.path.join(d, "server.key"))
    return d


if __name__ == "__main__":
    print(ensure(sys.argv[1]))
