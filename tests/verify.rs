//! `xpart verify` and the runtime path after apply: the chain works from here, the aws CLI reads
//! the secret through a `credential_process = xpart credential-process …` profile, another CA's
//! certificate is refused, and the PKI files are what AWS and the issue ask for.

use crate::harness::assert_shows;

use crate::harness::sent;

use std::path::Path;

use crate::harness::{
    self, anchor_pem, arn_of, bundle_of, plan_file, secret_pair, text, Run, Side,
};

fn openssl_text(cert: &Path) -> String {
    let o = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(cert)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// The issue's acceptance for one plan. `target` is where the secret and role live.
fn runtime_path(plan_name: &str, target: Side) {
    let tb = harness::testbed();
    let run = Run::new(tb);
    let plan = plan_file(plan_name);
    run.ok(&["apply", "--yes"], &plan);

    // The CA (from its trust anchor) and the client pair (from its secret): what
    // `openssl x509 -text` shows.
    let ca = harness::tempdir("ca").join("ca.crt");
    std::fs::write(&ca, anchor_pem(&run, target)).unwrap();
    let (cert, key) = secret_pair(&run, &plan, target);
    let t = openssl_text(&ca);
    assert!(
        t.contains("X509v3 Basic Constraints: critical\n                CA:TRUE"),
        "{t}"
    );
    assert!(t.contains("Certificate Sign"), "{t}");
    let t = openssl_text(&cert);
    assert!(
        t.contains("CA:FALSE") && t.contains("TLS Web Client Authentication"),
        "{t}"
    );
    let before = (anchor_pem(&run, target), bundle_of(&run, &plan, target));

    // verify: exit 0, every step shown, no secret value printed.
    let o = verified(
        &run,
        &plan,
        &[
            "ok   CreateSession",
            "ok   GetCallerIdentity",
            "ok   GetSecretValue app_secret",
            "ok   another CA is refused",
        ],
    );
    // Each chain's refusal is said once (it was printed twice after the revocation check).
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let sessions = out
        .lines()
        .filter(|l| l.starts_with("ok   CreateSession"))
        .count();
    assert_eq!(
        out.matches("another CA is refused").count(),
        sessions,
        "{out}"
    );
    let secret_arn = arn_of(&run, target, &plan, "app_secret");
    let rt = harness::rt();
    let value = rt.block_on(async {
        let sm = aws_sdk_secretsmanager::Client::new(&tb.sdk(target).await);
        sent!(sm.get_secret_value().secret_id(&secret_arn))
            .secret_string()
            .unwrap()
            .to_string()
    });
    assert!(!text(&o).contains(&value), "verify printed the secret");

    // From a machine that never applied the plan (no state directory of its own): the client
    // certificate and key come from the secret that carries them to the workload.
    let elsewhere = Run {
        tb,
        state: harness::tempdir("state-elsewhere"),
        suffix: run.suffix.clone(),
    };
    let o = verified(
        &elsewhere,
        &plan,
        &[
            "ok   GetSecretValue client_key_secret (the client certificate and key: no local copy)",
            "ok   CreateSession",
            "ok   another CA is refused",
        ],
    );
    assert!(!text(&o).contains("PRIVATE KEY"), "verify printed the key");
    // The key read from the secret is not left on this machine (verify's own stranger CA
    // and key, which it mints for the negative check, are its business).
    let left: Vec<_> = harness::files_under(&elsewhere.state);
    assert!(
        left.iter().all(|f| !f
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("bundle")),
        "verify left the bundle behind: {left:?}"
    );

    // Re-running apply leaves the CA certificate and the client pair byte for byte unchanged.
    run.ok(&["apply", "--yes"], &plan);
    let after = (anchor_pem(&run, target), bundle_of(&run, &plan, target));
    assert!(
        before == after,
        "apply issued the CA or the client pair again"
    );

    // The aws CLI with a credential_process profile running xpart reads the secret.
    let anchor = arn_of(&run, target, &plan, "trust_anchor");
    let profile = arn_of(&run, target, &plan, "ra_profile");
    let role = arn_of(&run, target, &plan, "reader_role");
    let config = run.state.join("aws-config");
    std::fs::write(
        &config,
        format!(
            "[profile ira]\nregion = {}\ncredential_process = {} credential-process --certificate {} --private-key {} --trust-anchor-arn {anchor} --profile-arn {profile} --role-arn {role} --endpoint {} --no-cache\n",
            tb.region(target),
            env!("CARGO_BIN_EXE_xpart"),
            cert.display(),
            key.display(),
            tb.endpoint(target),
        ),
    )
    .unwrap();
    let cli = |args: &[&str]| {
        std::process::Command::new("aws")
            .args(args)
            .args([
                "--profile",
                "ira",
                "--endpoint-url",
                tb.endpoint(target),
                "--output",
                "json",
            ])
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap()
    };
    let o = cli(&["sts", "get-caller-identity"]);
    assert!(o.status.success(), "{}", text(&o));
    let who = String::from_utf8_lossy(&o.stdout);
    let role_name = role.rsplit('/').next().unwrap();
    assert!(who.contains(&format!("assumed-role/{role_name}/")), "{who}");
    let o = cli(&[
        "secretsmanager",
        "get-secret-value",
        "--secret-id",
        &secret_arn,
        "--query",
        "SecretString",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(serde_json::from_slice::<String>(&o.stdout).unwrap(), value);

    // A certificate from another CA in place of the plan's: refused, and verify exits 1.
    let other = harness::pki::ca("someone-else", true);
    let leaf = other.issue_with("cn-ec2-workload", harness::pki::KeyAlg::P256, false);
    let (other_cert, other_key) = leaf.write(&run.state, "other");
    // Put in the secret that carries the pair (where verify and the workload take it from).
    let bundle = std::fs::read_to_string(&other_cert).unwrap()
        + &std::fs::read_to_string(&other_key).unwrap();
    let carrier = match target {
        Side::Commercial => Side::China,
        Side::China => Side::Commercial,
    };
    let carrier_arn = arn_of(&run, carrier, &plan, "client_key_secret");
    rt.block_on(async {
        let sm = aws_sdk_secretsmanager::Client::new(&tb.sdk(carrier).await);
        sent!(sm
            .put_secret_value()
            .secret_id(&carrier_arn)
            .secret_string(bundle));
    });
    let o = run.run(&["verify"], &plan);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("AccessDenied"),
        "{}",
        text(&o)
    );

    run.ok(&["destroy", "--yes", "--force-delete-secrets"], &plan);
}

/// `xpart verify` succeeds and shows each of `steps`: its run.
fn verified(run: &Run, plan: &std::path::Path, steps: &[&str]) -> std::process::Output {
    let o = run.ok(&["verify"], plan);
    assert_shows(&String::from_utf8_lossy(&o.stdout), steps);
    o
}

#[test]
fn verify_china_to_commercial() {
    runtime_path("china-to-commercial.yaml", Side::Commercial);
}

#[test]
fn verify_commercial_to_china() {
    runtime_path("commercial-to-china.yaml", Side::China);
}
