//! Lower-case hex, and the SHA-256 digest in it: fingerprints, tokens, cache keys and the
//! AWS4 signer all spell bytes this way.

/// `bytes` as lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 digest of `data`, as lower-case hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref())
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_and_digest_are_lower_case_and_known() {
        assert_eq!(super::hex(&[0x00, 0xab, 0xff]), "00abff");
        // SHA-256 of the empty string (FIPS 180-4 test vector).
        assert_eq!(
            super::sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
