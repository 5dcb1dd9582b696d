//! The local PKI as third parties see it: openssl reads and verifies what `xpart::pki` writes,
//! and CAs made by openssl are imported, checked and issued from.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use xpart::pki::{self, Material, PkiAction, PkiError};
use xpart::plan::types::{Curve, Import, KeyAlgorithm, KeySpec, PkiCa, PkiCert, Subject};

use crate::harness::tempdir;

fn openssl(args: &[&str]) -> (bool, String, String) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl on PATH");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn openssl_ok(args: &[&str]) -> String {
    let (ok, stdout, stderr) = openssl(args);
    assert!(ok, "openssl {args:?} failed:\n{stderr}");
    stdout
}

fn text(cert: &Path) -> String {
    openssl_ok(&["x509", "-text", "-noout", "-in", path(cert)])
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// An extension as `openssl x509 -text` shows it: whether critical, and its first value line.
fn extension(text: &str, name: &str) -> Option<(bool, String)> {
    let header = format!("X509v3 {name}:");
    let mut lines = text.lines();
    let line = lines.find(|l| l.trim_start().starts_with(&header))?;
    let critical = line.trim_end().ends_with("critical");
    let value = lines.next()?.trim().to_string();
    Some((critical, value))
}

/// Key identifiers without openssl's optional `keyid:` prefix.
fn key_id(text: &str, name: &str) -> String {
    let (_, value) = extension(text, name).unwrap_or_else(|| panic!("no {name} in\n{text}"));
    value.trim_start_matches("keyid:").to_string()
}

fn subject(cn: &str) -> Subject {
    Subject {
        common_name: cn.into(),
        organization: Some("xpart tests".into()),
        organizational_unit: Some("pki".into()),
        country: Some("CN".into()),
    }
}

fn rsa(bits: u32) -> KeySpec {
    KeySpec {
        algorithm: KeyAlgorithm::Rsa,
        bits: Some(bits),
        curve: None,
    }
}

fn ecdsa(curve: Curve) -> KeySpec {
    KeySpec {
        algorithm: KeyAlgorithm::Ecdsa,
        bits: None,
        curve: Some(curve),
    }
}

fn ca_spec(cn: &str, key: Option<KeySpec>) -> PkiCa {
    PkiCa {
        subject: Some(subject(cn)),
        kms_key: None,
        key,
        validity_days: None,
        dir: None,
        import: None,
    }
}

fn cert_spec(cn: &str, key: Option<KeySpec>) -> PkiCert {
    PkiCert {
        ca: "${root.id}".into(),
        subject: subject(cn),
        key,
        validity_days: None,
        renew_before_days: None,
        dir: None,
    }
}

fn import_spec(cert: &str, key: Option<&str>) -> PkiCa {
    PkiCa {
        subject: None,
        kms_key: None,
        key: None,
        validity_days: None,
        dir: None,
        import: Some(Import {
            certificate_file: cert.into(),
            key_file: key.map(str::to_string),
        }),
    }
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn key_file(m: &Material) -> &Path {
    m.key_file.as_deref().expect("material with a key")
}

fn assert_verifies(ca: &Path, client: &Path) {
    let out = openssl_ok(&["verify", "-CAfile", path(ca), path(client)]);
    assert_eq!(out.trim(), format!("{}: OK", client.display()));
}

/// The key file is PKCS#8 and holds the certificate's key (as openssl sees them).
fn assert_key_pair(m: &Material) {
    let key = fs::read_to_string(key_file(m)).unwrap();
    assert!(
        key.starts_with(&format!("-----BEGIN {}-----\n", "PRIVATE KEY")),
        "not PKCS#8"
    );
    let from_key = openssl_ok(&["pkey", "-in", path(key_file(m)), "-pubout"]);
    let from_cert = openssl_ok(&["x509", "-in", path(&m.cert_file), "-noout", "-pubkey"]);
    assert_eq!(from_key, from_cert);
}

/// A CA and a client certificate of the given kinds, everything openssl can check about them,
/// and a second run that must leave every file as it was.
fn ca_and_client(ca_key: KeySpec, client_key: KeySpec, key_text: [&str; 2]) {
    let dir = tempdir("pki").join("pki");
    let ca = ca_spec("xpart test root", Some(ca_key));
    let client = cert_spec("cn-ec2-workload", Some(client_key));

    let (root, action) = pki::ensure_ca(&dir, "root", &ca, &dir).unwrap();
    assert_eq!(action, PkiAction::Create);
    let (leaf, action) = pki::ensure_cert(&dir, "client", &client, &root).unwrap();
    assert_eq!(action, PkiAction::Create);
    assert_eq!(root.cert_file, dir.join("root.crt"));
    assert_eq!(key_file(&root), dir.join("root.key"));
    assert_eq!(leaf.cert_file, dir.join("client.crt"));
    assert_eq!(key_file(&leaf), dir.join("client.key"));
    assert_eq!(fs::read_to_string(&root.cert_file).unwrap(), root.cert_pem);

    let ca_text = text(&root.cert_file);
    assert!(ca_text.contains("Version: 3 (0x2)"), "{ca_text}");
    assert_eq!(
        extension(&ca_text, "Basic Constraints"),
        Some((true, "CA:TRUE".into())),
        "{ca_text}"
    );
    let (critical, usage) = extension(&ca_text, "Key Usage").unwrap();
    assert!(critical, "{ca_text}");
    for u in ["Digital Signature", "Certificate Sign", "CRL Sign"] {
        assert!(usage.contains(u), "{usage}");
    }
    assert_eq!(
        key_id(&ca_text, "Authority Key Identifier"),
        key_id(&ca_text, "Subject Key Identifier")
    );
    assert!(
        ca_text.contains("Subject: C = CN, O = xpart tests, OU = pki, CN = xpart test root"),
        "{ca_text}"
    );
    assert!(ca_text.contains(key_text[0]), "{ca_text}");

    let leaf_text = text(&leaf.cert_file);
    assert!(leaf_text.contains("Version: 3 (0x2)"), "{leaf_text}");
    assert_eq!(
        extension(&leaf_text, "Basic Constraints"),
        Some((true, "CA:FALSE".into())),
        "{leaf_text}"
    );
    assert_eq!(
        extension(&leaf_text, "Key Usage"),
        Some((true, "Digital Signature".into())),
        "{leaf_text}"
    );
    assert_eq!(
        extension(&leaf_text, "Extended Key Usage").map(|(_, v)| v),
        Some("TLS Web Client Authentication".into()),
        "{leaf_text}"
    );
    assert_eq!(
        key_id(&leaf_text, "Authority Key Identifier"),
        key_id(&ca_text, "Subject Key Identifier")
    );
    assert!(
        leaf_text.contains("Subject: C = CN, O = xpart tests, OU = pki, CN = cn-ec2-workload"),
        "{leaf_text}"
    );
    assert!(leaf_text.contains(key_text[1]), "{leaf_text}");
    let serial = openssl_ok(&["x509", "-in", path(&leaf.cert_file), "-noout", "-serial"]);
    let serial = serial.trim().trim_start_matches("serial=");
    assert_eq!(
        u128::from_str_radix(serial, 16).unwrap().to_string(),
        leaf.serial
    );

    assert_verifies(&root.cert_file, &leaf.cert_file);
    assert_key_pair(&root);
    assert_key_pair(&leaf);

    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(key_file(&root)), 0o600);
    assert_eq!(mode(key_file(&leaf)), 0o600);
    let mut names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["client.crt", "client.key", "root.crt", "root.key"]);

    let files = [
        &root.cert_file,
        key_file(&root),
        &leaf.cert_file,
        key_file(&leaf),
    ];
    let before: Vec<Vec<u8>> = files.iter().map(|f| fs::read(f).unwrap()).collect();
    let (root_again, action) = pki::ensure_ca(&dir, "root", &ca, &dir).unwrap();
    assert_eq!(action, PkiAction::Unchanged);
    let (leaf_again, action) = pki::ensure_cert(&dir, "client", &client, &root_again).unwrap();
    assert_eq!(action, PkiAction::Unchanged);
    assert_eq!((&root_again, &leaf_again), (&root, &leaf));
    let after: Vec<Vec<u8>> = files.iter().map(|f| fs::read(f).unwrap()).collect();
    assert!(before == after, "a second run changed the files");
}

#[test]
fn pki_rsa_2048_by_default() {
    // No key spec at all: RSA 2048 for both.
    let dir = tempdir("pki").join("pki");
    let (root, _) = pki::ensure_ca(&dir, "root", &ca_spec("default root", None), &dir).unwrap();
    let (leaf, _) = pki::ensure_cert(&dir, "client", &cert_spec("client", None), &root).unwrap();
    assert!(text(&root.cert_file).contains("Public-Key: (2048 bit)"));
    assert!(text(&leaf.cert_file).contains("Public-Key: (2048 bit)"));
    assert_verifies(&root.cert_file, &leaf.cert_file);
}

#[test]
fn pki_rsa_2048() {
    ca_and_client(
        rsa(2048),
        rsa(2048),
        ["Public-Key: (2048 bit)", "Public-Key: (2048 bit)"],
    );
}

#[test]
fn pki_rsa_3072() {
    ca_and_client(
        rsa(3072),
        rsa(3072),
        ["Public-Key: (3072 bit)", "Public-Key: (3072 bit)"],
    );
}

#[test]
fn pki_rsa_4096() {
    ca_and_client(
        rsa(4096),
        rsa(4096),
        ["Public-Key: (4096 bit)", "Public-Key: (4096 bit)"],
    );
}

#[test]
fn pki_ecdsa_p256() {
    ca_and_client(
        ecdsa(Curve::P256),
        ecdsa(Curve::P256),
        ["NIST CURVE: P-256", "NIST CURVE: P-256"],
    );
}

#[test]
fn pki_ecdsa_p384() {
    ca_and_client(
        ecdsa(Curve::P384),
        ecdsa(Curve::P384),
        ["NIST CURVE: P-384", "NIST CURVE: P-384"],
    );
}

#[test]
fn pki_rsa_ca_issues_an_ecdsa_client() {
    ca_and_client(
        rsa(2048),
        ecdsa(Curve::P256),
        ["Public-Key: (2048 bit)", "NIST CURVE: P-256"],
    );
}

#[test]
fn pki_a_replaced_ca_reissues_the_client_with_a_new_key() {
    let dir = tempdir("pki").join("pki");
    let key = Some(ecdsa(Curve::P256));
    let client = cert_spec("workload", key.clone());
    let (old_root, _) =
        pki::ensure_ca(&dir, "root", &ca_spec("first root", key.clone()), &dir).unwrap();
    let (old_leaf, _) = pki::ensure_cert(&dir, "client", &client, &old_root).unwrap();
    let old_ca_file = dir.join("old-root.pem");
    fs::copy(&old_root.cert_file, &old_ca_file).unwrap();
    let old_key = fs::read(key_file(&old_leaf)).unwrap();

    let (root, action) =
        pki::ensure_ca(&dir, "root", &ca_spec("second root", key.clone()), &dir).unwrap();
    assert!(matches!(action, PkiAction::Replace { .. }), "{action:?}");
    let planned = pki::plan_cert(&dir, "client", &client, Some(&root)).unwrap();
    assert!(
        matches!(&planned.action, PkiAction::Renew { reason } if reason.contains("not issued by the current CA")),
        "{planned:?}"
    );
    assert_eq!(
        fs::read(key_file(&old_leaf)).unwrap(),
        old_key,
        "planning wrote"
    );

    let (leaf, action) = pki::ensure_cert(&dir, "client", &client, &root).unwrap();
    assert_eq!(action, planned.action);
    assert_ne!(fs::read(key_file(&leaf)).unwrap(), old_key);
    assert_eq!(mode(key_file(&leaf)), 0o600);
    assert_verifies(&root.cert_file, &leaf.cert_file);
    let (ok, _, _) = openssl(&[
        "verify",
        "-CAfile",
        path(&old_ca_file),
        path(&leaf.cert_file),
    ]);
    assert!(!ok, "the new client still verifies against the old CA");
}

/// A self-signed CA made by openssl from `key` with the given basicConstraints.
fn openssl_ca(dir: &Path, name: &str, key: &Path, basic_constraints: &str) -> PathBuf {
    let cfg = dir.join(format!("{name}.cnf"));
    fs::write(
        &cfg,
        format!(
            "[req]\nprompt = no\nutf8 = yes\ndistinguished_name = dn\nx509_extensions = ext\n\
             [dn]\nC = CN\nO = Imported Org\nOU = 测试\nCN = {name}\n\
             [ext]\nbasicConstraints = {basic_constraints}\n\
             keyUsage = critical,keyCertSign,cRLSign,digitalSignature\n\
             subjectKeyIdentifier = hash\n"
        ),
    )
    .unwrap();
    let cert = dir.join(format!("{name}.crt"));
    openssl_ok(&[
        "req",
        "-x509",
        "-new",
        "-key",
        path(key),
        "-config",
        path(&cfg),
        "-days",
        "30",
        "-sha256",
        "-out",
        path(&cert),
    ]);
    cert
}

fn ec_key(dir: &Path, name: &str) -> PathBuf {
    let key = dir.join(format!("{name}.key"));
    openssl_ok(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        path(&key),
    ]);
    key
}

fn rsa_key(dir: &Path, name: &str) -> PathBuf {
    let key = dir.join(format!("{name}.key"));
    openssl_ok(&["genrsa", "-traditional", "-out", path(&key), "2048"]);
    key
}

fn imported_ca_issues_clients(key: &Path, header: &str) {
    let base = key.parent().unwrap();
    assert!(fs::read_to_string(key).unwrap().starts_with(header));
    let cert = openssl_ca(base, "imported", key, "critical,CA:TRUE");
    let spec = import_spec(
        "imported.crt",
        Some(key.file_name().unwrap().to_str().unwrap()),
    );
    let dir = base.join("pki");

    let planned = pki::plan_ca(&dir, "root", &spec, base).unwrap();
    assert_eq!(planned.action, PkiAction::Unchanged);
    let (root, action) = pki::ensure_ca(&dir, "root", &spec, base).unwrap();
    assert_eq!(action, PkiAction::Unchanged);
    assert_eq!(planned.kept.as_ref(), Some(&root));
    assert_eq!(root.cert_file, cert);
    assert_eq!(root.key_file.as_deref(), Some(key));
    assert!(!dir.exists(), "importing wrote into the PKI dir");

    let client = cert_spec("workload", Some(ecdsa(Curve::P384)));
    let (leaf, action) = pki::ensure_cert(&dir, "client", &client, &root).unwrap();
    assert_eq!(action, PkiAction::Create);
    assert_verifies(&cert, &leaf.cert_file);
    let leaf_text = text(&leaf.cert_file);
    assert!(
        leaf_text.contains("Issuer: C = CN, O = Imported Org, OU = 测试, CN = imported")
            || leaf_text.contains("Issuer: C = CN, O = Imported Org, OU = \\E6"),
        "{leaf_text}"
    );
    assert_eq!(
        key_id(&leaf_text, "Authority Key Identifier"),
        key_id(&text(&cert), "Subject Key Identifier")
    );
    let (_, action) = pki::ensure_cert(&dir, "client", &client, &root).unwrap();
    assert_eq!(action, PkiAction::Unchanged);
}

#[test]
fn pki_imported_openssl_ca_with_an_ec_key_issues_clients() {
    let base = tempdir("pki-import");
    imported_ca_issues_clients(
        &ec_key(&base, "ca"),
        &format!("-----BEGIN {}-----", "EC PRIVATE KEY"),
    );
}

#[test]
fn pki_imported_openssl_ca_with_an_rsa_key_issues_clients() {
    let base = tempdir("pki-import");
    imported_ca_issues_clients(
        &rsa_key(&base, "ca"),
        &format!("-----BEGIN {}-----", "RSA PRIVATE KEY"),
    );
}

fn assert_refused(err: &PkiError, file: &Path) {
    let msg = err.to_string();
    assert!(
        matches!(err, PkiError::InvalidCa { path, .. } if path == file),
        "{err:?}"
    );
    assert!(
        msg.starts_with(&format!("{}: ", file.display())),
        "the message does not name the file: {msg}"
    );
    assert!(
        msg.contains("Incorrect basic constraints for CA certificate"),
        "{msg}"
    );
    assert!(!msg.contains("PRIVATE KEY"), "{msg}");
}

#[test]
fn pki_imported_ca_with_ca_false_is_refused_naming_the_file() {
    let base = tempdir("pki-import");
    let key = ec_key(&base, "bad");
    let cert = openssl_ca(&base, "bad", &key, "critical,CA:FALSE");
    let spec = import_spec("bad.crt", Some("bad.key"));
    let dir = base.join("pki");
    assert_refused(
        &pki::plan_ca(&dir, "root", &spec, &base).unwrap_err(),
        &cert,
    );
    assert_refused(
        &pki::ensure_ca(&dir, "root", &spec, &base).unwrap_err(),
        &cert,
    );
    assert!(!dir.exists());
}

#[test]
fn pki_imported_ca_without_basic_constraints_is_refused_naming_the_file() {
    let base = tempdir("pki-import");
    let ca = crate::harness::pki::ca("no-basic-constraints", false);
    let cert = base.join("none.crt");
    fs::write(&cert, &ca.pem).unwrap();
    let spec = import_spec(path(&cert), None);
    assert_refused(
        &pki::ensure_ca(&base.join("pki"), "root", &spec, Path::new("/nonexistent")).unwrap_err(),
        &cert,
    );
}

#[test]
fn pki_imported_ca_with_a_foreign_key_is_refused() {
    let base = tempdir("pki-import");
    let key = ec_key(&base, "ca");
    let other = ec_key(&base, "other");
    let cert = openssl_ca(&base, "ca", &key, "critical,CA:TRUE");
    let err = pki::ensure_ca(
        &base.join("pki"),
        "root",
        &import_spec("ca.crt", Some("other.key")),
        &base,
    )
    .unwrap_err();
    assert!(
        matches!(&err, PkiError::KeyMismatch { cert: c, key: k } if *c == cert && *k == other),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(path(&other)) && msg.contains(path(&cert)),
        "{msg}"
    );
    assert!(!msg.contains("PRIVATE KEY"), "{msg}");
}

#[test]
fn pki_imported_ca_without_its_key_anchors_but_cannot_issue() {
    let base = tempdir("pki-import");
    let key = ec_key(&base, "ca");
    let cert = openssl_ca(&base, "ca", &key, "critical,CA:TRUE");
    let dir = base.join("pki");
    let (root, _) = pki::ensure_ca(&dir, "root", &import_spec("ca.crt", None), &base).unwrap();
    assert_eq!(root.key_file, None);
    assert_eq!(
        root.cert_pem,
        fs::read_to_string(&cert).unwrap(),
        "cert_pem is the CA certificate"
    );

    let err = pki::ensure_cert(&dir, "client", &cert_spec("workload", None), &root).unwrap_err();
    assert!(
        matches!(&err, PkiError::NoCaKey { path } if *path == cert),
        "{err:?}"
    );
    assert!(err.to_string().contains(path(&cert)), "{err}");
    assert!(!dir.join("client.key").exists());
}

#[test]
fn pki_a_broken_key_file_is_reported_without_its_content() {
    let base = tempdir("pki");
    let key = base.join("broken.key");
    let secret = "c2VjcmV0IGtleSBtYXRlcmlhbA==";
    fs::write(
        &key,
        format!(
            "-----BEGIN {k}-----\n{secret}\n-----END {k}-----\n",
            k = "PRIVATE KEY"
        ),
    )
    .unwrap();
    let msg = pki::load_private_key(&key).unwrap_err().to_string();
    assert!(msg.starts_with(&format!("{}: ", key.display())), "{msg}");
    assert!(
        !msg.contains("PRIVATE KEY") && !msg.contains(secret),
        "{msg}"
    );
}
