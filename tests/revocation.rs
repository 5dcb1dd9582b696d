//! Revoking a certificate (`rolesanywhere.crl`): the plan's CRL signed by its CA (held by KMS),
//! a serial added to it refused by Roles Anywhere, the workload's certificate issued again in the
//! same apply.

use crate::harness::{self, client_secret, plan_third_party};

#[test]
fn a_revoked_certificate_is_refused_and_the_workload_gets_a_new_one() {
    let (run, plan, src) = harness::applied_own("china-to-commercial.yaml");
    let (old, tags) = client_secret(&run, &plan);
    let serial = tags["xpart:cert-serial-hex"].clone();
    assert!(!serial.is_empty(), "{tags:?}");
    let v = plan_third_party(&run, &plan, &old);
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
    run.edited(
        &plan,
        &revoking,
        &[
            "~ rolesanywhere.crl revoked_certificates",
            "~ secretsmanager.secret client_key_secret",
            &format!("serial {serial} is revoked by the plan"),
        ],
        &["ec2.instance"],
    );
    run.ok(&["apply", "--yes"], &plan);

    // The revoked certificate is refused, by the third-party client and by verify (which tries
    // the secret's previous version); the one issued in its place works.
    let v = plan_third_party(&run, &plan, &old);
    assert_eq!(v["ok"], false, "a revoked certificate got credentials: {v}");
    assert!(v.to_string().contains("revoked"), "{v}");
    let (new, tags) = client_secret(&run, &plan);
    assert_ne!(tags["xpart:cert-serial-hex"], serial);
    let v = plan_third_party(&run, &plan, &new);
    assert_eq!(v["ok"], true, "the re-issued certificate is refused: {v}");
    let o = run.ok(&["verify"], &plan);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let line = format!("ok   revoked certificate {serial} is refused");
    assert!(out.contains(&line), "`{line}` missing:\n{out}");

    run.converged_then_destroyed(&plan);
}
