//! Encodings: PEM to DER and back, X.509 parsing, and the hex and dates shown to users.

use ::time::OffsetDateTime;
use base64::Engine as _;
use x509_parser::prelude::*;

pub(super) fn first_cert_der(pem: &[u8]) -> Result<Vec<u8>, String> {
    let (_, block) = parse_x509_pem(pem).map_err(|e| e.to_string())?;
    if block.label != "CERTIFICATE" {
        return Err(format!("found a PEM `{}` block first", block.label));
    }
    Ok(block.contents)
}

pub(super) fn parse_cert(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    X509Certificate::from_der(der)
        .map(|(_, cert)| cert)
        .map_err(|e| e.to_string())
}

pub(super) fn pem_encode(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

pub(super) use crate::hex::hex;

pub(super) fn day(t: OffsetDateTime) -> String {
    format!("{}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}
