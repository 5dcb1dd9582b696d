//! The plan's state lives in the cloud: after one machine applies, another with nothing local
//! (a fresh checkout, another state directory) sees no change, applies nothing and verifies
//! the bridge; no private key exists in any file of either, nor in their output; the trust
//! anchor holds the certificate of the KMS key the plan made.

use std::path::Path;

use x509_parser::prelude::*;

use crate::engine::{assert_nothing_left, plan_file, text, Run};
use crate::util::{self, Side};

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
    let tb = util::testbed();
    let a = Run::new(tb);
    let plan = plan_file("china-to-commercial.yaml");
    let o = a.run(&["apply", "--yes", "-v"], &plan);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let mut shown = text(&o);

    // Machine B: its own copy of the plan in its own directory, and its own state directory.
    let checkout = util::tempdir("checkout-b");
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
    util::rt().block_on(async {
        let conf = tb.sdk(Side::Commercial).await;
        let kms = aws_sdk_kms::Client::new(&conf);
        let public = kms
            .get_public_key()
            .key_id(format!("alias/xpart-root-ca-{sfx}"))
            .send()
            .await
            .unwrap();
        let ra = aws_sdk_rolesanywhere::Client::new(&conf);
        let anchors = ra.list_trust_anchors().send().await.unwrap();
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

    let o = b.run(&["destroy", "--yes", "--force-delete-secrets"], &plan_b);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_nothing_left(&a, &plan);
}
