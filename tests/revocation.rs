//! Revoking a certificate (`rolesanywhere.crl`): the plan's CRL signed by its CA (held by KMS),
//! a serial added to it refused by Roles Anywhere, the workload's certificate issued again in the
//! same apply.

use std::path::Path;

use crate::engine::{text, Run};
use crate::util::{self, Side, ThirdParty};
use crate::verify::{arn_of, split_bundle, write_pair};

/// The client certificate's secret (in China for this plan): its value and its tags.
pub fn client_secret(
    run: &Run,
    plan: &Path,
) -> (String, std::collections::BTreeMap<String, String>) {
    let arn = arn_of(run, Side::China, plan, "client_key_secret");
    util::rt().block_on(async {
        let sm = aws_sdk_secretsmanager::Client::new(&run.tb.sdk(Side::China).await);
        let v = sm.get_secret_value().secret_id(&arn).send().await.unwrap();
        let d = sm.describe_secret().secret_id(&arn).send().await.unwrap();
        let tags = d
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect();
        (v.secret_string().unwrap().to_string(), tags)
    })
}

/// The third-party client (iam-rolesanywhere-session) with `bundle`'s pair against the plan's
/// commercial chain: its JSON answer.
pub fn third_party(run: &Run, plan: &Path, bundle: &str) -> serde_json::Value {
    let (cert, key) = split_bundle(bundle);
    let (cert, key) = write_pair(cert, key);
    let arn = |id| arn_of(run, Side::Commercial, plan, id);
    let (profile, role, anchor, secret) = (
        arn("ra_profile"),
        arn("reader_role"),
        arn("trust_anchor"),
        arn("app_secret"),
    );
    let to = ThirdParty {
        side: Side::Commercial,
        profile_arn: &profile,
        role_arn: &role,
        anchor_arn: &anchor,
        secret_id: &secret,
    };
    util::third_party_files(run.tb, &to, &cert, &key, false)
}

#[test]
fn a_revoked_certificate_is_refused_and_the_workload_gets_a_new_one() {
    let tb = util::testbed();
    let run = Run::new(tb);
    let (plan, src) = run.own_plan("china-to-commercial.yaml");
    run.ok(&["apply", "--yes"], &plan);
    let (old, tags) = client_secret(&run, &plan);
    let serial = tags["xpart:cert-serial-hex"].clone();
    assert!(!serial.is_empty(), "{tags:?}");
    let v = third_party(&run, &plan, &old);
    assert_eq!(
        v["ok"], true,
        "the certificate works before it is revoked: {v}"
    );

    // The revocation: one serial in the plan's CRL.
    let revoking = src.replace(
        "      revoked: []\n",
        &format!("      revoked: [\"{serial}\"]\n"),
    );
    assert_ne!(revoking, src);
    std::fs::write(&plan, &revoking).unwrap();
    let o = run.run(&["plan", "--detailed-exitcode"], &plan);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let shown = String::from_utf8_lossy(&o.stdout).to_string();
    for line in [
        "~ rolesanywhere.crl revoked_certificates",
        "~ secretsmanager.secret client_key_secret",
        &format!("serial {serial} is revoked by the plan"),
    ] {
        assert!(shown.contains(line), "`{line}` missing:\n{shown}");
    }
    assert!(
        !shown.contains("ec2.instance"),
        "the workload is not replaced:\n{shown}"
    );
    run.ok(&["apply", "--yes"], &plan);

    // The revoked certificate is refused, by the third-party client and by verify (which tries
    // the secret's previous version); the one issued in its place works.
    let v = third_party(&run, &plan, &old);
    assert_eq!(v["ok"], false, "a revoked certificate got credentials: {v}");
    assert!(v.to_string().contains("revoked"), "{v}");
    let (new, tags) = client_secret(&run, &plan);
    assert_ne!(tags["xpart:cert-serial-hex"], serial);
    let v = third_party(&run, &plan, &new);
    assert_eq!(v["ok"], true, "the re-issued certificate is refused: {v}");
    let o = run.ok(&["verify"], &plan);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let line = format!("ok   revoked certificate {serial} is refused");
    assert!(out.contains(&line), "`{line}` missing:\n{out}");

    run.ok(&["plan", "--detailed-exitcode"], &plan);
    run.ok(&["destroy", "--yes", "--force-delete-secrets"], &plan);
}
