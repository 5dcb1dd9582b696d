//! Local PKI: the checks AWS applies to a CA certificate, so a bad CA is caught before any API call.

use x509_parser::prelude::*;

/// What Roles Anywhere would refuse in this PEM bundle's first certificate (empty when fine).
pub fn ca_problems(pem: &[u8]) -> Result<Vec<String>, String> {
    let (_, block) = parse_x509_pem(pem).map_err(|e| format!("not a PEM certificate: {e}"))?;
    let cert = block
        .parse_x509()
        .map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let mut problems = vec![];
    if cert.version() != X509Version::V3 {
        problems.push("Incorrect basic constraints for CA certificate (not X.509 v3)".to_string());
    }
    match cert.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca => {}
        Ok(_) => {
            problems.push("Incorrect basic constraints for CA certificate (no CA:TRUE)".to_string())
        }
        Err(e) => problems.push(format!("unreadable basicConstraints: {e}")),
    }
    match cert.key_usage() {
        Ok(Some(ku)) if ku.value.key_cert_sign() => {}
        Ok(_) => problems.push("the CA's keyUsage lacks keyCertSign".to_string()),
        Err(e) => problems.push(format!("unreadable keyUsage: {e}")),
    }
    Ok(problems)
}
