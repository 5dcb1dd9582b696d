//! The plan's state lives in the cloud: after one machine applies, another with nothing local
//! (a fresh checkout, another state directory) sees no change, applies nothing and verifies
//! the bridge; no private key exists in any file of either, nor in their output; the trust
//! anchor holds the certificate of the KMS key the plan made.

use crate::harness::sent;

use std::path::Path;

use x509_parser::prelude::*;

use crate::harness::{self, assert_nothing_left, plan_file, text, Run, Side};

/// Every file under `dir` whose bytes hold a PEM private key.
fn files_with_keys(dir: &Path) -> Vec<String> {
    let mut found = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p)
                .is_ok_and(|b| String::from_utf8_lossy(&b).contains("PRIVATE KEY-----"))
            {
                found.push(p.display().to_string());
            }
        }
    }
    found
}

#[test]
fn a_second_machine_with_no_local_state_plans_nothing_applies_nothing_and_verifies() {
    let tb = harness::testbed();
    let a = Run::new(tb);
    let plan = plan_file("china-to-commercial.yaml");
    let o = a.ok(&["apply", "--yes", "-v"], &plan);
    let mut shown = text(&o);

    // Machine B: its own copy of the plan in its own directory, and its own state directory.
    let checkout = harness::tempdir("checkout-b");
    let plan_b = checkout.join("china-to-commercial.yaml");
    std::fs::copy(&plan, &plan_b).unwrap();
    let b = Run {
        tb,
        state: checkout.join(".xpart"),
        suffix: a.suffix.clone(),
    };
    let before: Vec<String> = [Side::Commercial, Side::China]
        .iter()
        .flat_map(|s| a.inventory(*s, &plan))
        .map(|r| r["arn"].to_string())
        .collect();
    let o = b.run(&["plan", "--detailed-exitcode", "-v"], &plan_b);
    shown += &text(&o);
    assert_eq!(o.status.code(), Some(0), "B sees changes: {}", text(&o));
    let o = b.run(&["apply", "--yes", "-v"], &plan_b);
    shown += &text(&o);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let after: Vec<String> = [Side::Commercial, Side::China]
        .iter()
        .flat_map(|s| b.inventory(*s, &plan_b))
        .map(|r| r["arn"].to_string())
        .collect();
    assert_eq!(before, after, "B's apply changed what exists");
    let o = b.run(&["verify", "-v"], &plan_b);
    shown += &text(&o);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // No private key in a file of either machine (but the stranger verify mints for its
    // negative check), nor in anything they printed.
    for dir in [&a.state, &checkout] {
        let keys = files_with_keys(dir);
        assert!(
            keys.iter()
                .all(|k| k.ends_with("/verify/commercial/stranger.key")),
            "private keys on disk: {keys:?}"
        );
    }
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");

    // The trust anchor's certificate carries the public key KMS gives for the plan's key.
    let sfx = &a.suffix;
    harness::rt().block_on(async {
        let conf = tb.sdk(Side::Commercial).await;
        let kms = aws_sdk_kms::Client::new(&conf);
        let public = sent!(kms
            .get_public_key()
            .key_id(format!("alias/xpart-root-ca-{sfx}")));
        let ra = aws_sdk_rolesanywhere::Client::new(&conf);
        let anchors = sent!(ra.list_trust_anchors());
        let anchor = anchors
            .trust_anchors()
            .iter()
            .find(|t| t.name() == Some(&format!("xpart-root-{sfx}")))
            .expect("the plan's trust anchor");
        let Some(aws_sdk_rolesanywhere::types::SourceData::X509CertificateData(pem)) =
            anchor.source().and_then(|s| s.source_data())
        else {
            panic!("the anchor holds no certificate: {anchor:?}");
        };
        let (_, block) = parse_x509_pem(pem.as_bytes()).unwrap();
        let (_, cert) = X509Certificate::from_der(&block.contents).unwrap();
        assert_eq!(
            cert.public_key().raw,
            public.public_key().unwrap().as_ref(),
            "the anchor's certificate is not the KMS key's"
        );
    });

    b.ok(&["destroy", "--yes", "--force-delete-secrets"], &plan_b);
    assert_nothing_left(&a, &plan);
}

/// The shipped plan with its CA and client certificate kept as files (the store before the
/// KMS one): a file CA, a `pki.cert`, and the secret carrying the certificate's files.
fn with_files_store(kms_plan: &str) -> String {
    let (start, end) = (
        kms_plan.find("  ca_key:\n").unwrap(),
        kms_plan.find("  # ---- commercial").unwrap(),
    );
    let pki = r#"  root_ca:
    type: pki.ca
    properties:
      subject: {common_name: "xpart-root-ca-${var.suffix}", organization: xpart}
      key: {algorithm: rsa, bits: 2048}
      validity_days: 3650

  workload_cert:
    type: pki.cert
    properties:
      ca: ${root_ca.id}
      subject: {common_name: cn-ec2-workload, organization: xpart, organizational_unit: workloads}
      validity_days: 365
      renew_before_days: 30

"#;
    let plan = format!("{}{pki}{}", &kms_plan[..start], &kms_plan[end..]);
    let from = plan.find("      value:\n        certificate:\n").unwrap();
    let to = plan[from..].find("renew_before_days: 30\n").unwrap() + from + 22;
    format!(
        "{}      value: {{files: [\"${{workload_cert.cert_file}}\", \"${{workload_cert.key_file}}\"]}}\n{}",
        &plan[..from],
        &plan[to..]
    )
}

/// A plan applied with its CA in files moves to the KMS store in one apply: a new key and CA,
/// the anchor and the secret updated, the instance untouched; after it, the plan is settled
/// and verify passes with the pair from the secret.
#[test]
fn a_plan_moves_from_ca_files_to_the_kms_store() {
    let tb = harness::testbed();
    let run = Run::new(tb);
    let dir = harness::tempdir("move");
    let plan = dir.join("china-to-commercial.yaml");
    let kms_plan = std::fs::read_to_string(plan_file("china-to-commercial.yaml")).unwrap();
    std::fs::write(&plan, with_files_store(&kms_plan)).unwrap();
    run.ok(&["apply", "--yes"], &plan);
    let pki = run.state.join(run.plan_name(&plan)).join("pki");
    assert!(
        pki.join("root_ca.key").is_file(),
        "the files store made no CA key"
    );
    run.ok(&["verify"], &plan);

    run.edited(
        &plan,
        &kms_plan,
        &[
            "+ kms.key ca_key",
            "+ pki.ca root_ca",
            "~ rolesanywhere.trust_anchor trust_anchor",
            "~ secretsmanager.secret client_key_secret",
        ],
        &["ec2.instance"],
    );
    run.ok(&["apply", "--yes"], &plan);
    run.ok(&["plan", "--detailed-exitcode"], &plan);
    run.ok(&["verify"], &plan);

    run.ok(&["destroy", "--yes", "--force-delete-secrets"], &plan);
    assert_nothing_left(&run, &plan);
}
