//! AWS4-X509 request signatures, as IAM Roles Anywhere's CreateSession expects them.
//!
//! The layout is the Roles Anywhere credential helper's (aws_signing_helper/signer.go:
//! signRequest, createCanonicalRequest, CreateStringToSign, BuildAuthorizationHeader):
//! SigV4's canonical request and string to sign, with the certificate's decimal serial in
//! place of an access key id, and an asymmetric signature over SHA-256 of the string to sign:
//! RSA PKCS#1 v1.5 (`AWS4-X509-RSA-SHA256`) or ECDSA with an ASN.1 DER signature
//! (`AWS4-X509-ECDSA-SHA256`), SHA-256 for P-384 keys too.
//!
//! Nothing here reads files or talks to the network; key material never leaves [`Signer`]
//! (its `Debug` prints only the key type).

use std::fmt;

use ::time::OffsetDateTime;
use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use base64::Engine;
use x509_parser::prelude::*;

use crate::hex::{hex, sha256_hex};

/// The signing name of IAM Roles Anywhere.
pub const SERVICE: &str = "rolesanywhere";
pub const RSA_ALGORITHM: &str = "AWS4-X509-RSA-SHA256";
pub const ECDSA_ALGORITHM: &str = "AWS4-X509-ECDSA-SHA256";

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";

/// One PEM block: its label (`CERTIFICATE`, `PRIVATE KEY`, …) and DER contents.
#[derive(Clone)]
pub struct PemBlock {
    pub label: String,
    pub der: Vec<u8>,
}

/// All PEM blocks of a file, in order; text outside blocks is ignored.
pub fn pem_blocks(data: &[u8]) -> Result<Vec<PemBlock>, String> {
    let mut out = vec![];
    for block in x509_parser::pem::Pem::iter_from_buffer(data) {
        let block = block.map_err(|e| format!("malformed PEM: {e}"))?;
        out.push(PemBlock {
            label: block.label,
            der: block.contents,
        });
    }
    Ok(out)
}

/// The DER of every `CERTIFICATE` block of a PEM file.
pub fn pem_certificates(data: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    Ok(pem_blocks(data)?
        .into_iter()
        .filter(|b| b.label == "CERTIFICATE")
        .map(|b| b.der)
        .collect())
}

/// The kind of key a certificate or private key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Rsa,
    EcP256,
    EcP384,
}

impl KeyType {
    /// The AWS4-X509 algorithm name for this key type.
    pub fn algorithm(self) -> &'static str {
        match self {
            KeyType::Rsa => RSA_ALGORITHM,
            KeyType::EcP256 | KeyType::EcP384 => ECDSA_ALGORITHM,
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyType::Rsa => "RSA",
            KeyType::EcP256 => "EC P-256",
            KeyType::EcP384 => "EC P-384",
        })
    }
}

/// What a request signature needs from the client certificate.
#[derive(Debug, Clone)]
pub struct Certificate {
    pub der: Vec<u8>,
    /// The serial number in decimal, as the `Credential=` part of the authorization header wants it.
    pub serial: String,
    pub subject: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// `None` for a key type Roles Anywhere does not accept (e.g. Ed25519, P-521).
    pub key_type: Option<KeyType>,
    /// The SubjectPublicKeyInfo's key bits: an RSAPublicKey (DER) or an EC point.
    pub public_key: Vec<u8>,
}

impl Certificate {
    pub fn from_der(der: &[u8]) -> Result<Certificate, String> {
        let (rest, cert) =
            parse_x509_certificate(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
        if !rest.is_empty() {
            return Err("trailing bytes after the certificate".into());
        }
        let spki = cert.public_key();
        let key_type = match spki.algorithm.algorithm.to_id_string().as_str() {
            OID_RSA => Some(KeyType::Rsa),
            OID_EC => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|o| o.to_id_string());
                match curve.as_deref() {
                    Some(OID_P256) => Some(KeyType::EcP256),
                    Some(OID_P384) => Some(KeyType::EcP384),
                    _ => None,
                }
            }
            _ => None,
        };
        Ok(Certificate {
            der: der.to_vec(),
            serial: cert.tbs_certificate.serial.to_string(),
            subject: cert.subject().to_string(),
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
            key_type,
            public_key: spki.subject_public_key.data.to_vec(),
        })
    }

    /// Base64 of the DER, the value of `X-Amz-X509` (and of one `X-Amz-X509-Chain` item).
    pub fn base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.der)
    }
}

/// Why a private key could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// No PEM private key block in the file.
    NoKey,
    /// An encrypted key (PKCS#8 `ENCRYPTED PRIVATE KEY` or a traditional `Proc-Type: 4,ENCRYPTED`).
    Encrypted,
    /// A block that is no key type Roles Anywhere signs with, or that does not parse.
    Unsupported(String),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::NoKey => f.write_str(
                "no PEM private key in it (expected PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)",
            ),
            KeyError::Encrypted => {
                f.write_str("it is encrypted; xpart reads unencrypted PEM keys only")
            }
            KeyError::Unsupported(why) => f.write_str(why),
        }
    }
}

enum Key {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair, KeyType),
}

/// A private key that signs AWS4-X509 requests.
pub struct Signer {
    key: Key,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signer({})", self.key_type())
    }
}

impl Signer {
    /// Load an unencrypted PEM private key: PKCS#8 (`PRIVATE KEY`), PKCS#1
    /// (`RSA PRIVATE KEY`) or SEC 1 (`EC PRIVATE KEY`, with or without `EC PARAMETERS`).
    pub fn from_pem(pem: &[u8]) -> Result<Signer, KeyError> {
        let marker = b"Proc-Type: 4,ENCRYPTED";
        if pem.windows(marker.len()).any(|w| w == marker) {
            return Err(KeyError::Encrypted);
        }
        let blocks = pem_blocks(pem).map_err(KeyError::Unsupported)?;
        let block = blocks
            .iter()
            .find(|b| b.label.ends_with("PRIVATE KEY"))
            .ok_or(KeyError::NoKey)?;
        Signer::from_der(&block.label, &block.der)
    }

    /// Load a DER private key; `label` is its PEM label.
    pub fn from_der(label: &str, der: &[u8]) -> Result<Signer, KeyError> {
        let ec = |parse: &dyn Fn(
            &'static signature::EcdsaSigningAlgorithm,
        )
            -> Result<EcdsaKeyPair, aws_lc_rs::error::KeyRejected>| {
            parse(&signature::ECDSA_P256_SHA256_ASN1_SIGNING)
                .map(|k| Key::Ec(k, KeyType::EcP256))
                .or_else(|_| {
                    parse(&signature::ECDSA_P384_SHA384_ASN1_SIGNING)
                        .map(|k| Key::Ec(k, KeyType::EcP384))
                })
        };
        let key = match label {
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(der)
                .map(Key::Rsa)
                .or_else(|rsa_err| {
                    ec(&|alg| EcdsaKeyPair::from_pkcs8(alg, der)).map_err(|_| rsa_err)
                })
                .map_err(|e| {
                    KeyError::Unsupported(format!(
                        "its PKCS#8 key is neither RSA (2048-8192 bits) nor EC P-256/P-384 ({e})"
                    ))
                })?,
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(der).map(Key::Rsa).map_err(|e| {
                KeyError::Unsupported(format!("its RSA PRIVATE KEY does not parse ({e})"))
            })?,
            "EC PRIVATE KEY" => ec(&|alg| EcdsaKeyPair::from_private_key_der(alg, der))
                .map_err(|e| {
                    KeyError::Unsupported(format!(
                        "its EC PRIVATE KEY is not a P-256 or P-384 key ({e})"
                    ))
                })?,
            "ENCRYPTED PRIVATE KEY" => return Err(KeyError::Encrypted),
            other => {
                return Err(KeyError::Unsupported(format!(
                    "its key block `{other}` is not supported (expected PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)"
                )))
            }
        };
        Ok(Signer { key })
    }

    pub fn key_type(&self) -> KeyType {
        match &self.key {
            Key::Rsa(_) => KeyType::Rsa,
            Key::Ec(_, t) => *t,
        }
    }

    pub fn algorithm(&self) -> &'static str {
        self.key_type().algorithm()
    }

    /// Whether this key is the private half of the certificate's public key.
    pub fn matches(&self, cert: &Certificate) -> bool {
        if cert.key_type != Some(self.key_type()) {
            return false;
        }
        match &self.key {
            Key::Rsa(k) => k.public_key().as_ref() == cert.public_key.as_slice(),
            Key::Ec(k, _) => {
                let ours = k.public_key().as_ref(); // 04 || X || Y
                let theirs = cert.public_key.as_slice();
                match theirs.first() {
                    Some(0x04) => ours == theirs,
                    // A compressed point: X and the parity of Y.
                    Some(&tag @ (0x02 | 0x03)) => {
                        let n = (ours.len() - 1) / 2;
                        theirs.len() == n + 1
                            && ours[1..=n] == theirs[1..]
                            && (ours[ours.len() - 1] & 1) == (tag & 1)
                    }
                    _ => false,
                }
            }
        }
    }

    /// Sign `message`: RSA PKCS#1 v1.5 with SHA-256, or ECDSA over SHA-256 with an ASN.1 DER
    /// signature (for P-384 as well, as signer.go does).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        let rng = SystemRandom::new();
        match &self.key {
            Key::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .map_err(|_| "RSA signing failed".to_string())?;
                Ok(sig)
            }
            Key::Ec(k, KeyType::EcP256) => k
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| "ECDSA signing failed".to_string()),
            Key::Ec(k, _) => {
                // aws-lc-rs has no P-384 signing algorithm with SHA-256. ECDSA turns the digest
                // into an integer (its leftmost bits, up to the order's size), so the SHA-256
                // digest left-padded with zeros to 48 bytes is the same integer: signing it as a
                // 48-byte digest is ECDSA-P384 with SHA-256 exactly (checked by a unit test with
                // aws-lc-rs's ECDSA_P384_SHA256_ASN1 verifier).
                let h = digest::digest(&digest::SHA256, message);
                let mut padded = [0u8; 48];
                padded[16..].copy_from_slice(h.as_ref());
                let d = digest::Digest::import_less_safe(&padded, &digest::SHA384)
                    .map_err(|_| "ECDSA digest import failed".to_string())?;
                k.sign_digest(&d)
                    .map(|s| s.as_ref().to_vec())
                    .map_err(|_| "ECDSA signing failed".to_string())
            }
        }
    }
}

/// `YYYYMMDDTHHMMSSZ`, SigV4's `X-Amz-Date`.
pub fn amz_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(::time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// SigV4's URI encoding: everything but `A-Z a-z 0-9 - _ . ~` as `%XX` (upper-case hex).
pub fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A query string in canonical form (and so also the one to send): pairs URI-encoded, sorted.
pub fn canonical_query(pairs: &[(&str, &str)]) -> String {
    let mut enc: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (uri_encode(k), uri_encode(v)))
        .collect();
    enc.sort();
    enc.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The parts of a CreateSession request that the signature covers.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// Already canonical (see [`canonical_query`]); sent as is.
    pub query: &'a str,
    /// `host` or `host:port`, exactly as sent in the Host header.
    pub host: &'a str,
    pub content_type: &'a str,
    pub body: &'a [u8],
}

/// Every intermediate step, for `--debug` and for tests.
#[derive(Debug, Clone)]
pub struct Signature {
    /// Headers to send, lower-case names: host, content-type, x-amz-date, x-amz-x509,
    /// x-amz-x509-chain (when there is a chain) and authorization.
    pub headers: Vec<(String, String)>,
    pub canonical_request: String,
    pub string_to_sign: String,
    pub signed_headers: String,
}

impl Signature {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The canonical request and the signed-headers list for sorted, lower-case `headers`.
pub fn canonical_request(req: &Request, headers: &[(String, String)]) -> (String, String) {
    let canon_headers: Vec<String> = headers
        .iter()
        .map(|(k, v)| format!("{k}:{}", v.split_whitespace().collect::<Vec<_>>().join(" ")))
        .collect();
    let signed: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    let signed = signed.join(";");
    let canonical = [
        req.method,
        req.path,
        req.query,
        &canon_headers.join("\n"),
        "",
        &signed,
        &sha256_hex(req.body),
    ]
    .join("\n");
    (canonical, signed)
}

/// `<yyyymmdd>/<region>/rolesanywhere/aws4_request`.
pub fn scope(date: &str, region: &str) -> String {
    format!("{}/{region}/{SERVICE}/aws4_request", &date[..8])
}

/// `ALGORITHM \n AMZDATE \n SCOPE \n hex(sha256(canonical request))`.
pub fn string_to_sign(algorithm: &str, amz_date: &str, region: &str, canonical: &str) -> String {
    format!(
        "{algorithm}\n{amz_date}\n{}\n{}",
        scope(amz_date, region),
        sha256_hex(canonical.as_bytes())
    )
}

/// Sign a request at time `now` with the certificate (and chain) and its key.
pub fn sign(
    req: &Request,
    signer: &Signer,
    cert: &Certificate,
    chain: &[Certificate],
    region: &str,
    now: OffsetDateTime,
) -> Result<Signature, String> {
    let date = amz_date(now);
    let mut headers: Vec<(String, String)> = vec![
        ("content-type".into(), req.content_type.into()),
        ("host".into(), req.host.into()),
        ("x-amz-date".into(), date.clone()),
        ("x-amz-x509".into(), cert.base64()),
    ];
    if !chain.is_empty() {
        let value = chain
            .iter()
            .map(Certificate::base64)
            .collect::<Vec<_>>()
            .join(",");
        headers.push(("x-amz-x509-chain".into(), value));
    }
    headers.sort();
    let (canonical, signed) = canonical_request(req, &headers);
    let algorithm = signer.algorithm();
    let sts = string_to_sign(algorithm, &date, region, &canonical);
    let sig = signer.sign(sts.as_bytes())?;
    let authorization = format!(
        "{algorithm} Credential={}/{}, SignedHeaders={signed}, Signature={}",
        cert.serial,
        scope(&date, region),
        hex(&sig)
    );
    headers.push(("authorization".into(), authorization));
    Ok(Signature {
        headers,
        canonical_request: canonical,
        string_to_sign: sts,
        signed_headers: signed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::UnparsedPublicKey;

    fn pem(label: &str, der: &[u8]) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let mut s = format!("-----BEGIN {label}-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            s.push_str(std::str::from_utf8(chunk).unwrap());
            s.push('\n');
        }
        s.push_str(&format!("-----END {label}-----\n"));
        s
    }

    fn cert_for(key: &rcgen::KeyPair, serial: u64) -> Certificate {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.serial_number = Some(rcgen::SerialNumber::from(serial));
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "unit");
        let cert = params.self_signed(key).unwrap();
        Certificate::from_der(cert.der()).unwrap()
    }

    fn rsa_key() -> (rcgen::KeyPair, Vec<u8>) {
        let k = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&k)
            .unwrap()
            .as_ref()
            .to_vec();
        let rc = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
            &der.clone().into(),
            &rcgen::PKCS_RSA_SHA256,
        )
        .unwrap();
        (rc, der)
    }

    const FIXED: &str = "20240501T123456Z";
    /// `printf %s '{"durationSeconds":3600}' | sha256sum`
    const PAYLOAD_SHA256: &str = "1a15f67f6619aa540b13e9a4c37d149fb2c9bdea25d82b73a3878826694dfe27";

    fn fixed_now() -> OffsetDateTime {
        // 2024-05-01T12:34:56Z (`date -u -d 2024-05-01T12:34:56Z +%s`)
        OffsetDateTime::from_unix_timestamp(1_714_566_896).unwrap()
    }

    #[test]
    fn dates_and_encoding() {
        assert_eq!(amz_date(fixed_now()), FIXED);
        assert_eq!(
            scope(FIXED, "cn-north-1"),
            "20240501/cn-north-1/rolesanywhere/aws4_request"
        );
        assert_eq!(
            uri_encode("arn:aws-cn:iam::1:role/a b+c~d"),
            "arn%3Aaws-cn%3Aiam%3A%3A1%3Arole%2Fa%20b%2Bc~d"
        );
        assert_eq!(
            canonical_query(&[
                ("trustAnchorArn", "t"),
                ("profileArn", "p/1"),
                ("roleArn", "r")
            ]),
            "profileArn=p%2F1&roleArn=r&trustAnchorArn=t"
        );
    }

    /// The canonical request and string to sign for fixed inputs, written out by hand from
    /// signer.go's layout (createCanonicalRequest, CreateStringToSign, BuildAuthorizationHeader).
    #[test]
    fn canonical_request_and_string_to_sign_follow_signer_go() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = cert_for(&key, 4660);
        let signer = Signer::from_pem(key.serialize_pem().as_bytes()).unwrap();
        let query = canonical_query(&[
            (
                "trustAnchorArn",
                "arn:aws:rolesanywhere:us-west-2:111122223333:trust-anchor/t",
            ),
            (
                "profileArn",
                "arn:aws:rolesanywhere:us-west-2:111122223333:profile/p",
            ),
            ("roleArn", "arn:aws:iam::111122223333:role/r"),
        ]);
        let req = Request {
            method: "POST",
            path: "/sessions",
            query: &query,
            host: "rolesanywhere.us-west-2.amazonaws.com",
            content_type: "application/json",
            body: br#"{"durationSeconds":3600}"#,
        };
        let sig = sign(&req, &signer, &cert, &[], "us-west-2", fixed_now()).unwrap();
        let expected = format!(
            "POST\n\
             /sessions\n\
             profileArn=arn%3Aaws%3Arolesanywhere%3Aus-west-2%3A111122223333%3Aprofile%2Fp\
             &roleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2Fr\
             &trustAnchorArn=arn%3Aaws%3Arolesanywhere%3Aus-west-2%3A111122223333%3Atrust-anchor%2Ft\n\
             content-type:application/json\n\
             host:rolesanywhere.us-west-2.amazonaws.com\n\
             x-amz-date:20240501T123456Z\n\
             x-amz-x509:{}\n\
             \n\
             content-type;host;x-amz-date;x-amz-x509\n\
             {PAYLOAD_SHA256}",
            cert.base64()
        );
        assert_eq!(sig.canonical_request, expected);
        assert_eq!(
            sig.signed_headers,
            "content-type;host;x-amz-date;x-amz-x509"
        );
        assert_eq!(
            sig.string_to_sign,
            format!(
                "AWS4-X509-ECDSA-SHA256\n\
                 20240501T123456Z\n\
                 20240501/us-west-2/rolesanywhere/aws4_request\n{}",
                sha256_hex(expected.as_bytes())
            )
        );
        assert_eq!(sig.header("x-amz-date"), Some(FIXED));
        assert_eq!(sig.header("x-amz-x509").unwrap(), cert.base64());
        let auth = sig.header("authorization").unwrap();
        let prefix = "AWS4-X509-ECDSA-SHA256 \
                      Credential=4660/20240501/us-west-2/rolesanywhere/aws4_request, \
                      SignedHeaders=content-type;host;x-amz-date;x-amz-x509, Signature=";
        let sig_hex = auth
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("{auth}"));
        let sig_bytes: Vec<u8> = (0..sig_hex.len() / 2)
            .map(|i| u8::from_str_radix(&sig_hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, &cert.public_key)
            .verify(sig.string_to_sign.as_bytes(), &sig_bytes)
            .expect("the signature verifies over the string to sign");
    }

    #[test]
    fn hashes_are_sha256_hex() {
        assert_eq!(sha256_hex(br#"{"durationSeconds":3600}"#), PAYLOAD_SHA256);
        // Independent value: `printf '' | sha256sum`.
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn chain_header_is_signed_and_comma_separated() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = cert_for(&key, 7);
        let a = cert_for(
            &rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap(),
            8,
        );
        let b = cert_for(
            &rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap(),
            9,
        );
        let signer = Signer::from_pem(key.serialize_pem().as_bytes()).unwrap();
        let req = Request {
            method: "POST",
            path: "/sessions",
            query: "",
            host: "127.0.0.1:8080",
            content_type: "application/json",
            body: b"{}",
        };
        let sig = sign(
            &req,
            &signer,
            &cert,
            &[a.clone(), b.clone()],
            "r",
            fixed_now(),
        )
        .unwrap();
        assert_eq!(
            sig.signed_headers,
            "content-type;host;x-amz-date;x-amz-x509;x-amz-x509-chain"
        );
        assert_eq!(
            sig.header("x-amz-x509-chain").unwrap(),
            format!("{},{}", a.base64(), b.base64())
        );
        assert!(sig.canonical_request.contains(&format!(
            "\nx-amz-x509-chain:{},{}\n",
            a.base64(),
            b.base64()
        )));
    }

    #[test]
    fn rsa_signatures_verify_and_keys_match_their_certificate() {
        let (rc, der) = rsa_key();
        let cert = cert_for(&rc, 1);
        assert_eq!(cert.key_type, Some(KeyType::Rsa));
        let signer = Signer::from_pem(pem("PRIVATE KEY", &der).as_bytes()).unwrap();
        assert_eq!(signer.algorithm(), RSA_ALGORITHM);
        assert!(signer.matches(&cert));
        let sig = signer.sign(b"string to sign").unwrap();
        UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &cert.public_key)
            .verify(b"string to sign", &sig)
            .unwrap();
        let (other, _) = rsa_key();
        assert!(!signer.matches(&cert_for(&other, 2)));
        assert!(!signer.matches(&cert_for(
            &rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap(),
            3
        )));
    }

    #[test]
    fn p384_signs_sha256() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let cert = cert_for(&key, 5);
        assert_eq!(cert.key_type, Some(KeyType::EcP384));
        let signer = Signer::from_pem(key.serialize_pem().as_bytes()).unwrap();
        assert_eq!(signer.key_type(), KeyType::EcP384);
        assert_eq!(signer.algorithm(), ECDSA_ALGORITHM);
        assert!(signer.matches(&cert));
        for msg in [&b"AWS4-X509-ECDSA-SHA256\n..."[..], b"", &[0xff; 1000]] {
            let sig = signer.sign(msg).unwrap();
            UnparsedPublicKey::new(&signature::ECDSA_P384_SHA256_ASN1, &cert.public_key)
                .verify(msg, &sig)
                .expect("ECDSA P-384 with SHA-256");
            assert!(
                UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_ASN1, &cert.public_key)
                    .verify(msg, &sig)
                    .is_err(),
                "not SHA-384"
            );
        }
    }

    #[test]
    fn traditional_pem_keys_load() {
        // SEC 1 (EC PRIVATE KEY) after an EC PARAMETERS block, as `openssl ecparam -genkey` writes.
        for alg in [
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        ] {
            let k = EcdsaKeyPair::generate(alg).unwrap();
            let sec1 = k.private_key().as_der().unwrap();
            let text = format!(
                "{}{}",
                pem("EC PARAMETERS", &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22]),
                pem("EC PRIVATE KEY", sec1.as_ref())
            );
            let s = Signer::from_pem(text.as_bytes()).unwrap();
            assert_eq!(s.key_type().algorithm(), ECDSA_ALGORITHM);
            let pkcs8 = k.to_pkcs8v1().unwrap();
            let s8 = Signer::from_pem(pem("PRIVATE KEY", pkcs8.as_ref()).as_bytes()).unwrap();
            assert_eq!(s.key_type(), s8.key_type());
        }
        // PKCS#1 (RSA PRIVATE KEY): openssl writes it with -traditional.
        let dir = std::env::temp_dir().join(format!("xpart-x509sign-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("rsa.key");
        let out = std::process::Command::new("openssl")
            .args(["genrsa", "-traditional", "-out"])
            .arg(&path)
            .arg("2048")
            .output()
            .expect("openssl on PATH");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(String::from_utf8_lossy(&text).contains("BEGIN RSA PRIVATE KEY"));
        assert_eq!(Signer::from_pem(&text).unwrap().key_type(), KeyType::Rsa);
    }

    #[test]
    fn unusable_keys_are_named() {
        assert_eq!(Signer::from_pem(b"").unwrap_err(), KeyError::NoKey);
        let cert = rcgen::KeyPair::generate().unwrap();
        let c = rcgen::CertificateParams::new(vec!["x".into()])
            .unwrap()
            .self_signed(&cert)
            .unwrap()
            .pem();
        assert_eq!(Signer::from_pem(c.as_bytes()).unwrap_err(), KeyError::NoKey);
        assert_eq!(
            Signer::from_pem(pem("ENCRYPTED PRIVATE KEY", b"x").as_bytes()).unwrap_err(),
            KeyError::Encrypted
        );
        // Built at run time so the source holds no key-shaped block.
        let legacy = format!(
            "-----BEGIN {k}-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END {k}-----\n",
            k = "RSA PRIVATE KEY"
        );
        assert_eq!(
            Signer::from_pem(legacy.as_bytes()).unwrap_err(),
            KeyError::Encrypted
        );
        let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let err = Signer::from_pem(ed.serialize_pem().as_bytes()).unwrap_err();
        assert!(
            matches!(err, KeyError::Unsupported(ref m) if m.contains("neither RSA")),
            "{err:?}"
        );
        // Debug never shows key material.
        let k = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let s = Signer::from_pem(k.serialize_pem().as_bytes()).unwrap();
        assert_eq!(format!("{s:?}"), "Signer(EC P-256)");
    }
}
