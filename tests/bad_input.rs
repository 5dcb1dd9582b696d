//! Bad input that only a run can see (lint refuses the rest, in process: `tests/lint/campaign/`,
//! with `a_plan_with_lint_errors_makes_no_aws_request` here for the commands): files with a mode,
//! devices and pipes, profiles and endpoints, imported PKI files, credential-process inputs, and
//! the plans of `tests/bad_input/*.yaml` whose fault lies in a `--var`, a file or the account.
//! Each run must end with exit code 1 (usage errors too: 2 means "changes present"), a message
//! on stderr that says what is wrong and where, no panic, and no partial write: nothing of the
//! case's own name in either partition of the test-bed (by boto3, tagged or not) and no key or
//! certificate in local state or the cache.
//!
//! A plan file of `tests/bad_input/` says in its head comment what to expect:
//!
//! ```text
//! # expect: <a substring of stderr>      (one or more)
//! # where: LINE:COL                      (the plan file's position, printed as path:LINE:COL)
//! # args: apply --yes                    (one run per line; `apply --yes` when there is none)
//! # never: <text that must not be printed>
//! ```
//!
//! Each fault is its own test on the shared test-bed, so they run side by side; a write is
//! found by the case's own suffix, which every name of the base plan carries.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::harness::pki::{KeyAlg, Leaf};
use crate::harness::refusal::*;
use crate::harness::{self, files_under, Side, Testbed};

/// The plan files of `tests/bad_input/`, a test each: faults in a file the plan reads, a
/// `--var`, or the account, which lint cannot see.
macro_rules! corpus_tests {
    ($($test:ident: $file:literal,)*) => {$(
        #[test]
        fn $test() {
            check(corpus_case($file));
        }
    )*};
}

corpus_tests! {
    a_secret_file_that_does_not_exist: "093-secret-file-missing.yaml",
    a_secret_env_var_that_is_not_set: "094-secret-env-unset.yaml",
    a_secret_file_that_is_a_directory: "095-secret-file-is-directory.yaml",
    a_var_flag_the_plan_does_not_declare: "152-undeclared-var-flag.yaml",
    a_var_that_makes_a_bad_cidr: "153-var-makes-bad-cidr.yaml",
    an_expected_account_the_credentials_are_not_for: "163-account-mismatch.yaml",
    china_expecting_the_commercial_account: "164-account-mismatch-china.yaml",
    verify_before_apply: "180-verify-before-apply.yaml",
    a_var_whose_name_escapes_the_state_dir: "187-name-escape-in-var.yaml",
    a_var_value_that_is_no_template: "189-var-value-is-no-template.yaml",
}

/// A self-signed CA, its certificate and key PEM; `expired` puts its validity in the past.
fn ca_pem(cn: &str, expired: bool) -> (String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = time::OffsetDateTime::now_utc();
    if expired {
        p.not_before = now - time::Duration::days(30);
        p.not_after = now - time::Duration::days(1);
    } else {
        p.not_before = now - time::Duration::days(1);
        p.not_after = now + time::Duration::days(30);
    }
    let key = KeyPair::generate().unwrap();
    (p.self_signed(&key).unwrap().pem(), key.serialize_pem())
}

/// The base plan with its `ca` imported from `cert` (and `key`), written next to them.
fn import_plan(dir: &Path, cert: &str, key: Option<&str>) -> PathBuf {
    let base = std::fs::read_to_string(base_plan()).unwrap();
    let from = "      subject: {common_name: \"bad-input-root-${var.suffix}\"}\n      key: {algorithm: ecdsa}\n";
    assert!(base.contains(from));
    let import = match key {
        Some(k) => format!("      import: {{certificate_file: {cert}, key_file: {k}}}\n"),
        None => format!("      import: {{certificate_file: {cert}}}\n"),
    };
    let plan = dir.join("import.yaml");
    std::fs::write(&plan, base.replacen(from, &import, 1)).unwrap();
    plan
}

/// A scratch dir of the test's own.
fn scratch(name: &str) -> PathBuf {
    harness::tempdir(&format!("bad-input-{name}"))
}

#[test]
fn a_plan_file_that_is_a_directory() {
    let d = scratch("dir").join("a-directory.yaml");
    std::fs::create_dir_all(&d).unwrap();
    let ds = d.display().to_string();
    check(vec![Case::plan(
        "plan file is a directory",
        &["apply", "--yes"],
        &d,
        &["plan file", &ds, "is not a regular file (a directory)"],
    )]);
}

#[test]
fn an_empty_plan_file_and_one_of_comments_only() {
    let dir = scratch("empty");
    let (empty, comments) = (dir.join("empty.yaml"), dir.join("only-comments.yaml"));
    std::fs::write(&empty, "").unwrap();
    std::fs::write(&comments, "# nothing but a comment\n").unwrap();
    let es = format!("{}:1:1", empty.display());
    check(vec![
        Case::plan(
            "empty plan file",
            &["apply", "--yes"],
            &empty,
            &["error[XP002]", "a plan is a mapping", &es],
        ),
        Case::plan(
            "plan file of comments only",
            &["plan"],
            &comments,
            &["error[XP002]", "a plan is a mapping"],
        ),
    ]);
}

#[test]
fn a_binary_plan_file() {
    let binary = scratch("binary").join("binary.yaml");
    std::fs::write(&binary, (0..=255u8).cycle().take(4096).collect::<Vec<u8>>()).unwrap();
    let bs = binary.display().to_string();
    check(vec![Case::plan(
        "binary plan file",
        &["apply", "--yes"],
        &binary,
        &["cannot read", &bs, "UTF-8"],
    )]);
}

#[test]
fn a_plan_file_that_does_not_exist_or_is_unreadable() {
    let dir = scratch("missing");
    let missing = dir.join("no-such-plan.yaml");
    let ms = missing.display().to_string();
    let mut cases = vec![Case::plan(
        "plan file that does not exist",
        &["destroy", "--yes"],
        &missing,
        &["cannot read", &ms, "No such file"],
    )];
    // Root reads a mode-0000 file anyway.
    if !is_root() {
        let locked = dir.join("unreadable.yaml");
        std::fs::copy(base_plan(), &locked).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        let ls = locked.display().to_string();
        cases.push(Case::plan(
            "plan file of mode 0000",
            &["apply", "--yes"],
            &locked,
            &["cannot read", &ls, "Permission denied"],
        ));
    }
    check(cases);
}

/// Inputs that never end or would not fit in memory: refused before reading.
#[test]
fn a_plan_file_that_never_ends_or_would_not_fit() {
    let (fifo, huge) = harness::unbounded_files(&scratch("unbounded"));
    let mut cases = vec![];
    for (name, path, expect) in [
        (
            "plan file is /dev/zero",
            PathBuf::from("/dev/zero"),
            "a character device",
        ),
        ("plan file is a FIFO", fifo, "a named pipe"),
        ("plan file of 9 GiB", huge, "larger than"),
    ] {
        let ps = path.display().to_string();
        for args in [&["plan"][..], &["apply", "--yes"]] {
            let name = format!("{name} ({})", args[0]);
            cases.push(Case::plan(name, args, &path, &[&ps, expect]));
        }
    }
    check(cases);
}

#[test]
fn a_profile_of_the_other_partition_or_none_at_all() {
    let base = base_plan();
    check(vec![
        Case::plan(
            "--profile of the other partition (china=xpart-commercial)",
            &["apply", "--yes", "--profile", "china=xpart-commercial"],
            &base,
            &[
                "partition `china`",
                "profile `xpart-commercial`",
                "other partition",
            ],
        ),
        Case::plan(
            "no shared config file at all",
            &["apply", "--yes"],
            &base,
            &[
                "no credentials for profile `xpart-",
                "/nonexistent/aws-config",
            ],
        )
        .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials"),
        Case::plan(
            "--profile naming a profile that does not exist",
            &["apply", "--yes", "--profile", "commercial=no-such-profile"],
            &base,
            &[
                "partition `commercial`",
                "profile `no-such-profile` was not defined",
            ],
        ),
    ]);
}

#[test]
fn an_endpoint_that_refuses_connections() {
    let tb = harness::testbed();
    let dir = scratch("closed");
    let config = dir.join("aws-config");
    let port = closed_port();
    let mut text = std::fs::read_to_string(tb.config_file()).unwrap();
    text.push_str(&format!(
        "\n[profile closed]\nregion = cn-north-1\nendpoint_url = http://127.0.0.1:{port}\naws_access_key_id = closed\naws_secret_access_key = closed\n"
    ));
    std::fs::write(&config, text).unwrap();
    let closed = replaced(
        &base_plan(),
        "china: {region: cn-north-1, profile: xpart-china}",
        "china: {region: cn-north-1, profile: closed, timeouts: {connect_ms: 500, attempt_ms: 2000, operation_ms: 5000}, retry: {max_attempts: 2}}",
        &dir.join("closed.yaml"),
    );
    let runs: [&[&str]; 4] = [
        &["apply", "--yes"],
        &["plan"],
        &["destroy", "--yes"],
        &["verify"],
    ];
    check(
        runs.iter()
            .map(|args| {
                Case::plan(
                    format!("china's endpoint refuses connections ({})", args.join(" ")),
                    args,
                    &closed,
                    &[
                        "partition `china`",
                        "GetCallerIdentity",
                        "Connection refused",
                    ],
                )
                .env("AWS_CONFIG_FILE", config.display().to_string())
            })
            .collect(),
    );
}

#[test]
fn a_state_dir_that_is_a_file_and_apply_without_a_terminal() {
    let file = scratch("state-file").join("state-is-a-file");
    std::fs::write(&file, "not a directory\n").unwrap();
    let mut c = Case::plan_in(
        "--state-dir is a file",
        &["apply", "--yes"],
        &base_plan(),
        &["cannot create the lock", "Not a directory"],
        file.clone(),
    );
    c.expect.push(file.display().to_string());
    check(vec![
        c,
        Case::plan(
            "apply without --yes and without a terminal",
            &["apply"],
            &base_plan(),
            &["not on a terminal", "pass --yes"],
        ),
    ]);
}

#[test]
fn an_imported_ca_key_open_to_everyone_missing_or_not_a_key() {
    let dir = scratch("import");
    let (cert_pem, key_pem) = ca_pem("bad-input imported root", false);
    let import = |name: &str, key: &[u8], mode: u32| {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("ca.crt"), &cert_pem).unwrap();
        write_mode(&d.join("ca.key"), key, mode);
        let ks = d.join("ca.key").display().to_string();
        (import_plan(&d, "ca.crt", Some("ca.key")), ks)
    };
    let (open, open_key) = import("import-0644", key_pem.as_bytes(), 0o644);
    let (_, other_key) = ca_pem("another root", false);
    let (wrong, wrong_key) = import("import-wrong-key", other_key.as_bytes(), 0o600);
    let (is_cert, is_cert_key) = import("import-key-is-cert", cert_pem.as_bytes(), 0o600);
    let d = dir.join("import-no-key-file");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("ca.crt"), &cert_pem).unwrap();
    let missing = d.join("missing.key").display().to_string();
    check(vec![
        Case::plan(
            "imported CA key of mode 0644",
            &["apply", "--yes"],
            &open,
            &["ca (pki.ca)", &open_key, "mode 0644", "open to every user"],
        ),
        Case::plan(
            "imported CA with another CA's key",
            &["plan"],
            &wrong,
            &[
                "ca (pki.ca)",
                &wrong_key,
                "does not belong to the certificate",
            ],
        ),
        Case::plan(
            "imported CA key file that does not exist",
            &["apply", "--yes"],
            &import_plan(&d, "ca.crt", Some("missing.key")),
            &["ca (pki.ca)", &missing, "No such file"],
        ),
        Case::plan(
            "imported CA key file that holds a certificate",
            &["apply", "--yes"],
            &is_cert,
            &[
                "ca (pki.ca)",
                &is_cert_key,
                "not an unencrypted private key",
            ],
        ),
    ]);
}

#[test]
fn an_imported_ca_that_has_expired() {
    let d = scratch("import-expired");
    let (old_pem, old_key) = ca_pem("bad-input expired root", true);
    std::fs::write(d.join("ca.crt"), &old_pem).unwrap();
    write_mode(&d.join("ca.key"), old_key.as_bytes(), 0o600);
    check(vec![Case::plan(
        "imported CA that has expired",
        &["apply", "--yes"],
        &import_plan(&d, "ca.crt", Some("ca.key")),
        &["ca (pki.ca)", "expired"],
    )]);
}

#[test]
fn a_trust_anchor_certificate_of_mode_0000() {
    // Root reads a mode-0000 file: the lint corpus covers an unreadable path with a directory.
    if is_root() {
        return;
    }
    let d = scratch("anchor-0000");
    let (cert_pem, _) = ca_pem("bad-input imported root", false);
    write_mode(&d.join("ca.pem"), cert_pem.as_bytes(), 0o000);
    let plan = replaced(
        &base_plan(),
        "properties: {name: \"bad-input-${var.suffix}\", ca: \"${ca.id}\"}",
        "properties: {name: \"bad-input-${var.suffix}\", certificate_file: ca.pem}",
        &d.join("plan.yaml"),
    );
    check(vec![Case::plan(
        "trust anchor certificate of mode 0000",
        &["apply", "--yes"],
        &plan,
        &["error[XP056]", "Permission denied"],
    )]);
}

/// A private key in user data, which anything on the instance can read: refused, and never
/// printed.
#[test]
fn a_private_key_in_the_bootstrap_settings() {
    let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let body_line = key.lines().nth(1).unwrap().to_string();
    let indented: String = key.lines().map(|l| format!("          {l}\n")).collect();
    let d = scratch("bootstrap-key");
    let plan = replaced(
        &base_plan(),
        "  sg:\n",
        &format!(
            "  subnet:\n    type: ec2.subnet\n    partition: china\n    properties: {{name: \"bad-input-${{var.suffix}}\", vpc: \"${{vpc.id}}\", cidr: 10.0.1.0/24}}\n  \
             vm:\n    type: ec2.instance\n    partition: china\n    properties:\n      name: bad-input-${{var.suffix}}\n      \
             ami: ami-062d2c5b771a4b959\n      instance_type: t3.micro\n      subnet: ${{subnet.id}}\n      security_groups: [\"${{sg.id}}\"]\n      \
             bootstrap:\n        run_as: ubuntu\n        key_secret: ${{secret.arn}}\n        certificate: |\n{indented}        \
             trust_anchor_arn: ${{anchor.arn}}\n        profile_arn: ${{profile.arn}}\n        role_arn: ${{reader.arn}}\n        \
             target_region: us-west-2\n        aws_profile: commercial\n  sg:\n"
        ),
        &d.join("plan.yaml"),
    );
    let mut c = Case::plan(
        "a private key in the bootstrap settings (user data)",
        &["apply", "--yes"],
        &plan,
        &["error[XP065]", "bootstrap.certificate holds a private key"],
    );
    c.never.push(body_line);
    check(vec![c]);
}

/// A client certificate and key for credential-process, and its arguments around them: ARNs
/// of nothing, and the test-bed's endpoint, never the one the trust anchor's region implies.
struct Cp {
    dir: PathBuf,
    ca: harness::pki::Ca,
    good: Leaf,
    cert: String,
    key: String,
    endpoint: String,
}

impl Cp {
    fn new(name: &str) -> Cp {
        let dir = scratch(name);
        let ca = harness::pki::ca(&harness::unique("bad-input-cp"), true);
        let good = ca.issue_with("workload", KeyAlg::P256, false);
        let (cert, key) = good.write(&dir, "client");
        Cp {
            dir,
            ca,
            good,
            cert: cert.display().to_string(),
            key: key.display().to_string(),
            endpoint: harness::testbed().endpoint(Side::Commercial).to_string(),
        }
    }

    fn args(&self, cert: &str, key: &str, extra: &[&str]) -> Vec<String> {
        let mut v = harness::credential_process_args(
            cert,
            key,
            [
                "arn:aws:rolesanywhere:us-west-2:111122223333:trust-anchor/00000000-0000-0000-0000-000000000000",
                "arn:aws:rolesanywhere:us-west-2:111122223333:profile/00000000-0000-0000-0000-000000000000",
                "arn:aws:iam::111122223333:role/bad-input",
            ],
        );
        // Never the real endpoint the trust anchor's region implies.
        v.extend(["--endpoint", &self.endpoint].map(String::from));
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    }

    /// A case of `args` with `flag`'s value replaced by `value`.
    fn case(
        &self,
        name: &str,
        mut args: Vec<String>,
        set: Option<(&str, &str)>,
        expect: &[&str],
    ) -> Case {
        if let Some((flag, value)) = set {
            let i = args.iter().position(|a| a == flag).unwrap();
            args[i + 1] = value.into();
        }
        let mut c = Case::new(name, &[], expect);
        c.args = args;
        c
    }

    /// The good pair written again into `name`, its key of `mode`.
    fn pair_of_mode(&self, name: &str, mode: u32) -> (String, String) {
        let d = self.dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        let (c, k) = self.good.write(&d, "client");
        std::fs::set_permissions(&k, std::fs::Permissions::from_mode(mode)).unwrap();
        (c.display().to_string(), k.display().to_string())
    }
}

#[test]
fn credential_process_with_a_key_open_to_everyone_or_unreadable() {
    let cp = Cp::new("cp-modes");
    if is_root() {
        // The seed runbook's failure: root's 0600 key, read by another user.
        std::fs::set_permissions(&cp.dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let (c2, k2) = cp.pair_of_mode("cp-root-only", 0o600);
        let mut root_only = cp.case(
            "key readable only by its owner (root), run as nobody",
            cp.args(&c2, &k2, &["--no-cache"]),
            None,
            &[
                "cannot read private key",
                &k2,
                "owner root, mode 0600",
                "Permission denied",
            ],
        );
        root_only.as_nobody = true;
        // A key every user can read, owned by someone else.
        let (c3, k3) = cp.pair_of_mode("cp-0644-nobody", 0o644);
        std::os::unix::fs::chown(&k3, Some(65534), Some(65534)).unwrap();
        check(vec![
            root_only,
            cp.case(
                "key of mode 0644 owned by another user",
                cp.args(&c3, &k3, &[]),
                None,
                &[&k3, "mode 0644", "open to every user"],
            ),
        ]);
    } else {
        let (c2, k2) = cp.pair_of_mode("cp-0000", 0o000);
        let (c3, k3) = cp.pair_of_mode("cp-0644", 0o644);
        check(vec![
            cp.case(
                "key of mode 0000",
                cp.args(&c2, &k2, &[]),
                None,
                &["cannot read private key", &k2, "mode 0000"],
            ),
            cp.case(
                "key of mode 0644",
                cp.args(&c3, &k3, &[]),
                None,
                &[&k3, "mode 0644", "open to every user"],
            ),
        ]);
    }
}

#[test]
fn credential_process_with_a_certificate_or_key_that_is_wrong() {
    let cp = Cp::new("cp-files");
    let (cs, ks) = (cp.cert.as_str(), cp.key.as_str());
    let other = cp.ca.issue_with("workload", KeyAlg::P256, false);
    let (_, other_key) = other.write(&cp.dir, "other");
    let expired = cp.ca.issue_with("workload", KeyAlg::P256, true);
    let expired_dir = cp.dir.join("expired");
    std::fs::create_dir_all(&expired_dir).unwrap();
    let (ec, ek) = expired.write(&expired_dir, "expired");
    let ecs = ec.display().to_string();
    let dds = cp.dir.join("cert-dir");
    std::fs::create_dir_all(&dds).unwrap();
    let dds = dds.display().to_string();
    let nope = cp.dir.join("no-such.crt").display().to_string();
    let garbage = cp.dir.join("garbage.key");
    write_mode(&garbage, b"this is not a key\n", 0o600);
    let gs = garbage.display().to_string();
    let device = "a character device, not a regular file";
    check(vec![
        cp.case(
            "a key that is not the certificate's",
            cp.args(cs, &other_key.display().to_string(), &[]),
            None,
            &["does not match certificate", cs],
        ),
        cp.case(
            "an expired certificate",
            cp.args(&ecs, &ek.display().to_string(), &[]),
            None,
            &["expired at", &ecs],
        ),
        cp.case(
            "a certificate path that is a directory",
            cp.args(&dds, ks, &[]),
            None,
            &["certificate", &dds, "a directory, not a regular file"],
        ),
        cp.case(
            "a certificate that is /dev/zero",
            cp.args("/dev/zero", ks, &[]),
            None,
            &["/dev/zero", device],
        ),
        cp.case(
            "a private key that is /dev/zero",
            cp.args(cs, "/dev/zero", &[]),
            None,
            &["/dev/zero", device],
        ),
        cp.case(
            "a certificate that does not exist",
            cp.args(&nope, ks, &[]),
            None,
            &["cannot read certificate", &nope, "No such file"],
        ),
        cp.case(
            "a key file that holds no key",
            cp.args(cs, &gs, &[]),
            None,
            &["private key", &gs],
        ),
    ]);
}

#[test]
fn credential_process_with_arns_or_an_endpoint_that_are_wrong() {
    let cp = Cp::new("cp-arns");
    let args = |extra: &[&str]| cp.args(&cp.cert, &cp.key, extra);
    let refused_url = format!("http://127.0.0.1:{}", closed_port());
    check(vec![
        cp.case(
            "a role of another partition than the trust anchor",
            args(&[]),
            Some(("--role-arn", "arn:aws-cn:iam::444455556666:role/bad-input")),
            &["the trust anchor is in partition aws but the role in aws-cn"],
        ),
        cp.case(
            "a trust anchor ARN that is not an ARN",
            args(&[]),
            Some(("--trust-anchor-arn", "not-an-arn")),
            &["not-an-arn"],
        ),
        cp.case(
            "an endpoint that refuses connections",
            args(&["--no-cache"]),
            Some(("--endpoint", &refused_url)),
            &["cannot reach", &refused_url],
        ),
        cp.case(
            "--session-duration below 900",
            args(&["--session-duration", "100"]),
            None,
            &["100", "900"],
        ),
    ]);
}

/// Usage errors: exit code 1, as every error (2 means "changes present").
#[test]
fn usage_errors_exit_1() {
    let b = base_plan().display().to_string();
    let cases: [(&str, &[&str], &str); 8] = [
        (
            "--var without =",
            &["apply", "--yes", &b, "--var", "novalue"],
            "novalue",
        ),
        (
            "--var with an empty name",
            &["destroy", "--yes", &b, "--var", "=x"],
            "=x",
        ),
        (
            "--profile without =",
            &["apply", "--yes", &b, "--profile", "commercial"],
            "commercial",
        ),
        (
            "--concurrency that is not a number",
            &["apply", "--yes", &b, "--concurrency", "many"],
            "many",
        ),
        ("--format yaml", &["plan", &b, "--format", "yaml"], "yaml"),
        (
            "an unknown flag",
            &["apply", "--yes", &b, "--no-such-flag"],
            "--no-such-flag",
        ),
        ("no plan file", &["apply", "--yes"], "<PLAN>"),
        (
            "--offline without --against",
            &["plan", &b, "--offline"],
            "--against",
        ),
    ];
    check(
        cases
            .iter()
            .map(|(name, args, expect)| Case::new(*name, args, &[expect]))
            .collect(),
    );
}

/// The control: the base plan applies and the snapshot sees its resources by their suffix, and
/// local state holds its PKI key; so an empty finding of the checks above means something.
#[test]
fn the_control_applies_and_the_checks_see_it() {
    let tb = harness::testbed();
    let mut snaps = Snapshots::start(tb);
    let state = harness::tempdir("bad-input-control");
    let suffix = harness::unique("control");
    let control = |args: &[&str]| {
        let mut c = tb.xpart(args);
        c.arg(base_plan())
            .args(["--var", &format!("suffix={suffix}"), "--state-dir"])
            .arg(&state);
        harness::bounded(&mut c)
    };
    let o = control(&["apply", "--yes"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "the control apply failed: {}",
        harness::text(&o)
    );
    let seen: Vec<_> = snaps
        .take()
        .into_iter()
        .filter(|i| i.contains(&suffix))
        .collect();
    assert!(
        seen.len() >= 6,
        "the snapshot does not see the control's resources: {seen:?}"
    );
    assert!(
        files_under(&state)
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "key")),
        "no PKI key from the control"
    );
    let o = control(&["destroy", "--yes", "--force-delete-secrets"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "the control destroy failed: {}",
        harness::text(&o)
    );
    let _ = std::fs::remove_dir_all(&state);
}

/// Every command lints the plan first: one with lint errors (the lint corpus holds the rest)
/// is refused by each with the finding, and makes no request of AWS at all, by the count of a
/// private test-bed.
#[test]
fn a_plan_with_lint_errors_makes_no_aws_request() {
    let tb = Testbed::private();
    let plan = harness::repo().join("tests/lint/campaign/181-bad-plan-destroy-and-plan.yaml");
    for side in [Side::Commercial, Side::China] {
        tb.reset_stats(side);
    }
    let state = harness::tempdir("bad-input-lint");
    let runs: [&[&str]; 5] = [
        &["apply", "--yes"],
        &["plan"],
        &["destroy", "--yes"],
        &["unlock"],
        &["verify"],
    ];
    for args in runs {
        let mut c = tb.xpart(args);
        c.arg(&plan)
            .args(["--var", "suffix=lint", "--state-dir"])
            .arg(&state);
        let o = harness::bounded(&mut c);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", harness::text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("error[XP020]"),
            "{args:?}: {}",
            harness::text(&o)
        );
    }
    for side in [Side::Commercial, Side::China] {
        let calls = tb.stats(side)["calls"].clone();
        let made: Vec<_> = calls
            .as_object()
            .unwrap()
            .iter()
            .filter(|(op, n)| !op.is_empty() && n.as_u64() != Some(0))
            .collect();
        assert!(made.is_empty(), "{side:?} was asked: {made:?}");
    }
}
