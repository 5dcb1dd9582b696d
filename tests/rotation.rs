//! Rotating the CA with no outage (README, "Rotating the CA"): a successor CA beside the current
//! one in the trust anchor's bundle, the workload's certificate issued again by it through the
//! renewal path, the old CA retired. Each step is a plan change `plan` shows and `apply` makes,
//! and the workload's certificate in use at each moment keeps getting credentials.

use std::path::Path;

use crate::harness::{self, client_secret, plan_third_party, Run};

const NEXT: &str = "  ca_key_next:
    type: kms.key
    partition: commercial
    properties:
      alias: alias/xpart-root-ca-next-${var.suffix}
      usage: sign
      key_spec: rsa_3072
      deletion_window_days: 7

  root_ca_next:
    type: pki.ca
    properties:
      subject: {common_name: \"xpart-root-ca-next-${var.suffix}\", organization: xpart}
      kms_key: ${ca_key_next.arn}
      validity_days: 3650

";

/// `src` with `from` replaced by `to` exactly once.
fn edit(src: &str, from: &str, to: &str) -> String {
    assert_eq!(
        src.matches(from).count(),
        1,
        "`{from}` not once in the plan"
    );
    src.replacen(from, to, 1)
}

/// Write `src` as the plan, show its plan (exit 2) and check `shows` and `hides`, apply it.
fn step(run: &Run, plan: &Path, src: &str, shows: &[&str], hides: &[&str]) {
    run.edited(plan, src, shows, hides);
    run.ok(&["apply", "--yes"], plan);
}

#[test]
fn a_ca_is_rotated_with_no_gap_in_service() {
    let (run, plan, src) = harness::applied_own("china-to-commercial.yaml");
    let (old, _) = client_secret(&run, &plan);
    let works = |bundle: &str| plan_third_party(&run, &plan, bundle)["ok"] == true;
    assert!(works(&old));

    // 1. The successor beside the current CA: the anchor accepts both.
    let s1 = edit(
        &src,
        "  # ---- commercial (us-west-2): the secret",
        &format!("{NEXT}  # ---- commercial (us-west-2): the secret"),
    );
    let s1 = edit(
        &s1,
        "      ca: ${root_ca.id}\n      # Roles Anywhere warns",
        "      cas: [\"${root_ca.id}\", \"${root_ca_next.id}\"]\n      # Roles Anywhere warns",
    );
    step(
        &run,
        &plan,
        &s1,
        &[
            "+ kms.key ca_key_next",
            "+ pki.ca root_ca_next",
            "~ rolesanywhere.trust_anchor trust_anchor",
        ],
        &["client_key_secret", "ec2.instance", "-/+"],
    );
    assert!(
        works(&old),
        "the current certificate stops working when the successor is added"
    );

    // 2. The workload's certificate from the successor, through the renewal path.
    let s2 = edit(
        &s1,
        "          ca: ${root_ca.id}\n",
        "          ca: ${root_ca_next.id}\n",
    );
    step(
        &run,
        &plan,
        &s2,
        &["~ secretsmanager.secret client_key_secret"],
        &["ec2.instance"],
    );
    let (new, _) = client_secret(&run, &plan);
    assert_ne!(new, old);
    assert!(works(&new), "the successor's certificate is refused");
    assert!(
        works(&old),
        "the old certificate stops working before the workload has the new one"
    );

    // 3. The old CA retired: out of the anchor, its CRL signed by the successor, its key gone.
    let at = s2.find("  ca_key:\n").unwrap();
    let end = s2.find("  ca_key_next:\n").unwrap();
    let s3 = format!("{}{}", &s2[..at], &s2[end..]);
    let s3 = edit(
        &s3,
        "      cas: [\"${root_ca.id}\", \"${root_ca_next.id}\"]\n",
        "      ca: ${root_ca_next.id}\n",
    );
    let s3 = edit(
        &s3,
        "      ca: ${root_ca.id}\n      revoked",
        "      ca: ${root_ca_next.id}\n      revoked",
    );
    step(
        &run,
        &plan,
        &s3,
        &[
            "~ rolesanywhere.trust_anchor trust_anchor",
            "~ rolesanywhere.crl revoked_certificates",
            "- kms.key ca_key",
        ],
        &["client_key_secret", "ec2.instance"],
    );
    assert!(
        !works(&old),
        "the retired CA's certificate still gets credentials"
    );
    assert!(works(&new));
    run.ok(&["verify"], &plan);
    run.converged_then_destroyed(&plan);
}
