//! The issue's security checks, made from outside xpart: no secret value, private key or
//! session token in anything it prints at any verbosity; private key files 0600; the trust
//! policies it generates bind the trust anchor and the certificate subject; destroy leaves
//! alone what it does not own.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value as Json;

use crate::harness::{self, assert_nothing_left, files_under, plan_file, text, Run, Side, Testbed};

/// Each plan with the partition of its secret, trust anchor and reader role.
const PLANS: [(&str, Side); 2] = [
    ("china-to-commercial.yaml", Side::Commercial),
    ("commercial-to-china.yaml", Side::China),
];

fn other(side: Side) -> Side {
    match side {
        Side::China => Side::Commercial,
        Side::Commercial => Side::China,
    }
}

/// The end of a PEM private key's armour line, built at run time so that no key header is
/// committed (secret scanners flag them).
fn key_armour() -> String {
    format!("{} KEY-----", "PRIVATE")
}

/// The prefix of every session token the test-bed (moto's STS) hands out: finds tokens of
/// sessions the test never sees, such as verify's own.
const SESSION_TOKEN_PREFIX: &str = "FQoGZXIvYXdzE";

fn expect(o: Output, code: i32) -> Output {
    assert_eq!(o.status.code(), Some(code), "{}", text(&o));
    o
}

/// boto3 (tests/clients/security.py) in one partition; its JSON answer.
fn boto3(tb: &Testbed, side: Side, args: &[&str]) -> Json {
    let mut c = Command::new(tb.python());
    c.arg(harness::repo().join("tests/clients/security.py"))
        .args(args)
        .args(["--endpoint", tb.endpoint(side), "--region", tb.region(side)]);
    let o = harness::bounded(&mut c);
    assert!(o.status.success(), "security.py {args:?}: {}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap_or(Json::Null)
}

/// The ARNs of the plan's resources in one partition by resource id, as boto3 finds them by
/// their tags (one listing: it reads every role's tags).
fn arns(run: &Run, side: Side, plan: &Path) -> BTreeMap<String, String> {
    run.inventory(side, plan)
        .into_iter()
        .filter_map(|r| {
            Some((
                r["id"].as_str()?.to_string(),
                r["arn"].as_str()?.to_string(),
            ))
        })
        .collect()
}

fn arn<'a>(arns: &'a BTreeMap<String, String>, id: &str) -> &'a str {
    arns.get(id)
        .unwrap_or_else(|| panic!("no {id} among {arns:?}"))
}

/// `xpart credential-process` for the plan's chain in `target` (whose ARNs are `arns`), with
/// `cert` and `key`.
fn credential_process(
    run: &Run,
    target: Side,
    arns: &BTreeMap<String, String>,
    cert: &Path,
    key: &Path,
    extra: &[&str],
) -> Command {
    let mut c = harness::xpart();
    c.arg("credential-process")
        .arg("--certificate")
        .arg(cert)
        .arg("--private-key")
        .arg(key)
        .args([
            "--trust-anchor-arn",
            arn(arns, "trust_anchor"),
            "--profile-arn",
            arn(arns, "ra_profile"),
            "--role-arn",
            arn(arns, "reader_role"),
            "--endpoint",
            run.tb.endpoint(target),
        ])
        .args(extra)
        .envs(run.tb.env());
    c
}

fn is_private_key(f: &Path) -> bool {
    f.extension().is_some_and(|e| e == "key")
        || std::fs::read_to_string(f).is_ok_and(|s| s.contains(&key_armour()))
}

/// The base64 bodies, each joined into one line, of every certificate PEM under `dir`.
fn certificate_bodies(dir: &Path) -> Vec<String> {
    files_under(dir)
        .into_iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .filter(|s| s.contains("-----BEGIN CERTIFICATE-----"))
        .map(|s| {
            s.lines()
                .map(str::trim)
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>()
        })
        .collect()
}

/// The base64 lines of a PEM body: any one of them in an output is a leak of the key.
fn pem_body_lines(pem: &str) -> Vec<String> {
    pem.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        .map(String::from)
        .collect()
}

/// Everything xpart printed or left in files during a run, by where it came from.
#[derive(Default)]
struct Transcript(Vec<(String, String)>);

impl Transcript {
    fn add(&mut self, label: &str, o: &Output) {
        self.add_text(&format!("{label} stdout"), &o.stdout);
        self.add_text(&format!("{label} stderr"), &o.stderr);
    }
    fn add_text(&mut self, label: &str, b: &[u8]) {
        self.0
            .push((label.to_string(), String::from_utf8_lossy(b).into_owned()));
    }
    /// Every file of the state dir but the private keys (their content is the key itself).
    fn add_state_files(&mut self, state: &Path, when: &str) {
        for f in files_under(state) {
            if !is_private_key(&f) {
                let b = std::fs::read(&f).unwrap_or_default();
                self.add_text(&format!("{} ({when})", f.display()), &b);
            }
        }
    }
    /// Where any of `needles` (what, value) shows.
    fn search(&self, needles: &[(String, String)]) -> Vec<String> {
        let mut hits = vec![];
        for (label, text) in &self.0 {
            for (what, value) in needles {
                if text.contains(value.as_str()) {
                    hits.push(format!("{what} in {label}"));
                }
            }
        }
        hits
    }
}

/// The long-term secret keys of the test-bed's profiles, which xpart signs with.
fn profile_secrets(tb: &Testbed) -> Vec<String> {
    std::fs::read_to_string(tb.config_file())
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| k.trim() == "aws_secret_access_key")
        .map(|(_, v)| v.trim().to_string())
        .collect()
}

/// A full run of `plan` — lint, plan, apply, verify, a no-op plan in every format,
/// credential-process, destroy — with `verbose` flags on every command that has one; then every
/// output and state file is searched for the run's secrets.
fn nothing_secret_in_any_output(plan_name: &str, target: Side, verbose: bool) {
    let tb = harness::testbed();
    let run = Run::new(tb);
    let plan = plan_file(plan_name);
    // `-v` is the engine commands' only verbosity flag; `--debug` credential-process's.
    let v: &[&str] = if verbose { &["-v"] } else { &[] };
    let with_v =
        |args: &[&str]| -> Vec<String> { args.iter().chain(v).map(|s| s.to_string()).collect() };
    let go = |args: &[&str]| {
        let a = with_v(args);
        run.within(&a.iter().map(String::as_str).collect::<Vec<_>>(), &plan)
    };
    let mut t = Transcript::default();

    // lint takes neither --state-dir nor -v.
    let mut lint = harness::xpart();
    lint.arg("lint")
        .arg(&plan)
        .args(["--var", &format!("suffix={}", run.suffix)]);
    let o = expect(harness::bounded(&mut lint), 0);
    t.add("lint", &o);
    t.add("plan", &expect(go(&["plan", "--detailed-exitcode"]), 2));
    t.add("apply", &expect(go(&["apply", "--yes"]), 0));
    t.add("verify", &expect(go(&["verify"]), 0));
    t.add(
        "plan (no-op)",
        &expect(go(&["plan", "--detailed-exitcode"]), 0),
    );
    t.add(
        "plan --format json",
        &expect(go(&["plan", "--format", "json"]), 0),
    );
    t.add(
        "plan --format markdown",
        &expect(go(&["plan", "--format", "markdown"]), 0),
    );

    let mut needles: Vec<(String, String)> = vec![];
    // credential-process prints credentials on stdout by design; its stderr must be clean.
    let (cert, key) = client_pair(&run, &plan, target);
    let cp_flags: &[&str] = if verbose {
        &["--no-cache", "--debug"]
    } else {
        &["--no-cache"]
    };
    let live = [
        (target, arns(&run, target, &plan)),
        (other(target), arns(&run, other(target), &plan)),
    ];
    let mut cp = credential_process(&run, target, &live[0].1, &cert, &key, cp_flags);
    let o = expect(harness::bounded(&mut cp), 0);
    t.add_text("credential-process stderr", &o.stderr);
    let creds: Json = serde_json::from_slice(&o.stdout).expect("credential-process JSON");
    for field in ["SecretAccessKey", "SessionToken"] {
        let value = creds[field].as_str().unwrap_or_default().to_string();
        assert!(
            value.len() >= 16,
            "credential-process gave no {field}: {creds}"
        );
        needles.push((format!("credential-process's {field}"), value));
    }
    let cp_stdout = String::from_utf8_lossy(&o.stdout).into_owned();

    // The secrets' live values, read by boto3.
    for ((side, arns), id) in live.iter().zip(["app_secret", "client_key_secret"]) {
        let v = boto3(tb, *side, &["secret", "--id", arn(arns, id)]);
        let value = v["value"].as_str().unwrap().to_string();
        assert!(value.len() >= 16, "{id}: {v}");
        needles.extend(
            pem_body_lines(&value)
                .into_iter()
                .map(|l| (format!("a line of secret {id}"), l)),
        );
        needles.push((format!("secret {id}"), value));
    }
    // Every private key xpart wrote: the plan's PKI and verify's stranger certificate.
    t.add_state_files(&run.state, "before destroy");
    let mut keys: Vec<PathBuf> = files_under(&run.state)
        .into_iter()
        .filter(|f| is_private_key(f))
        .collect();
    // The CA's key never leaves KMS; the client's exists only in its secret (and the copy the
    // credential process above used, as the workload's).
    assert!(
        keys.iter().all(|k| k.ends_with("stranger.key")),
        "private keys in the state directory: {keys:?}"
    );
    keys.push(key.clone());
    assert!(
        keys.len() >= 2,
        "expected the client's and verify's keys: {keys:?}"
    );
    for k in &keys {
        let lines = pem_body_lines(&std::fs::read_to_string(k).unwrap());
        assert!(lines.len() >= 2, "{}: no PEM body", k.display());
        needles.extend(
            lines
                .into_iter()
                .map(|l| (format!("a line of private key {}", k.display()), l)),
        );
    }

    // An RSA key also holds its public modulus, which the certificate carries too: a key line
    // encoding only public bytes can recur in a certificate (when the base64 alignment agrees)
    // and leaks nothing. Such lines are not searched; every other line still is.
    let mut public = certificate_bodies(&run.state);
    public.extend(certificate_bodies(cert.parent().unwrap()));
    needles.retain(|(what, line)| {
        !(what.starts_with("a line of") && public.iter().any(|b| b.contains(line.as_str())))
    });

    t.add(
        "destroy",
        &expect(go(&["destroy", "--yes", "--force-delete-secrets"]), 0),
    );
    t.add_state_files(&run.state, "after destroy");

    needles.push(("a private key's armour".into(), key_armour()));
    needles.push((
        "a session token (moto's prefix)".into(),
        SESSION_TOKEN_PREFIX.into(),
    ));
    for s in profile_secrets(tb) {
        needles.push(("the profile's secret access key".into(), s));
    }
    let hits = t.search(&needles);
    assert!(
        hits.is_empty(),
        "{plan_name} (verbose: {verbose}) printed secrets:\n{}",
        hits.join("\n")
    );
    // The search finds what it looks for where it is meant to be.
    let control =
        Transcript(vec![("credential-process stdout".into(), cp_stdout)]).search(&needles);
    assert!(
        control.iter().any(|h| h.contains("SessionToken"))
            && control.iter().any(|h| h.contains("moto's prefix")),
        "{control:?}"
    );
    assert!(
        t.0.iter().map(|(_, s)| s.len()).sum::<usize>() > 1000,
        "the transcript is nearly empty"
    );
}

#[test]
fn security_no_secret_in_any_output_default() {
    for (plan, target) in PLANS {
        nothing_secret_in_any_output(plan, target, false);
    }
}

#[test]
fn security_no_secret_in_any_output_verbose() {
    for (plan, target) in PLANS {
        nothing_secret_in_any_output(plan, target, true);
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Every private key file xpart writes (the plan's CA and client keys, verify's stranger key)
/// is 0600; credential-process's cache is 0700 with 0600 files and holds no key.
#[test]
fn security_private_key_files_are_0600() {
    let tb = harness::testbed();
    for (name, target) in PLANS {
        let run = Run::new(tb);
        let plan = plan_file(name);
        expect(run.within(&["apply", "--yes"], &plan), 0);
        expect(run.within(&["verify"], &plan), 0);
        let cache = harness::tempdir("cache");
        let (cert, key) = client_pair(&run, &plan, target);
        let mut cp = credential_process(&run, target, &arns(&run, target, &plan), &cert, &key, &[]);
        cp.env("XDG_CACHE_HOME", &cache);
        expect(harness::bounded(&mut cp), 0);

        let keys: Vec<PathBuf> = files_under(&run.state)
            .into_iter()
            .filter(|f| is_private_key(f))
            .collect();
        let names: Vec<String> = keys
            .iter()
            .map(|k| k.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        // The CA's key is KMS's and the client's is in its secret: the only key file in the
        // state directory is the one verify makes for its stranger.
        assert_eq!(names, ["stranger.key"], "{keys:?}");
        for k in &keys {
            assert_eq!(mode(k), 0o600, "{} is {:o}", k.display(), mode(k));
        }

        let cached = files_under(&cache);
        assert!(!cached.is_empty(), "credential-process cached nothing");
        let body = pem_body_lines(&std::fs::read_to_string(&key).unwrap());
        for f in &cached {
            assert_eq!(mode(f), 0o600, "{} is {:o}", f.display(), mode(f));
            assert_eq!(
                mode(f.parent().unwrap()),
                0o700,
                "{}",
                f.parent().unwrap().display()
            );
            let s = std::fs::read_to_string(f).unwrap();
            assert!(
                !s.contains(&key_armour()) && body.iter().all(|l| !s.contains(l.as_str())),
                "{} holds the private key",
                f.display()
            );
        }
        expect(
            run.within(&["destroy", "--yes", "--force-delete-secrets"], &plan),
            0,
        );
    }
}

/// The client pair from the plan's secret, as the workload holds it.
fn client_pair(run: &Run, plan: &Path, target: Side) -> (PathBuf, PathBuf) {
    crate::harness::secret_pair(run, plan, target)
}

/// A client certificate for `cn` signed by the plan's own CA, whose key only KMS holds: signed
/// here through KMS `Sign` with the test-bed's credentials (as any principal the key policy
/// lets sign could), not by xpart.
fn issue_with_plan_ca(run: &Run, target: Side, cn: &str) -> (PathBuf, PathBuf) {
    use aws_sdk_kms::primitives::Blob;
    use xpart::pki::remote::{algorithms, issue, ClientTerms, HeldKey};
    let rt = harness::rt();
    let sfx = &run.suffix;
    let alias = format!("alias/xpart-root-ca-{sfx}");
    let conf = rt.block_on(run.tb.sdk(target));
    let kms = aws_sdk_kms::Client::new(&conf);
    let public = rt
        .block_on(kms.get_public_key().key_id(&alias).send())
        .unwrap();
    let meta = rt
        .block_on(kms.describe_key().key_id(&alias).send())
        .unwrap();
    let spec = meta
        .key_metadata()
        .unwrap()
        .key_spec()
        .unwrap()
        .as_str()
        .to_string();
    let spki = public.public_key().unwrap().as_ref().to_vec();
    let ca_pem = crate::harness::anchor_pem(run, target);
    let (_, alg) = algorithms(&spec).unwrap();
    let sign = |m: &[u8]| -> Result<Vec<u8>, String> {
        let sent = kms
            .sign()
            .key_id(&alias)
            .message(Blob::new(m.to_vec()))
            .message_type(aws_sdk_kms::types::MessageType::Raw)
            .signing_algorithm(alg.into())
            .send();
        rt.block_on(sent)
            .map(|o| o.signature.unwrap().into_inner())
            .map_err(|e| format!("{e:?}"))
    };
    let subject = xpart::plan::types::Subject {
        common_name: cn.into(),
        organization: Some("xpart".into()),
        organizational_unit: None,
        country: None,
    };
    let terms = ClientTerms {
        subject: &subject,
        key: None,
        validity_days: 2,
    };
    let key = HeldKey::new(&spki, &spec, &sign).unwrap();
    let issued = issue(Path::new("test"), &ca_pem, key, &terms).unwrap();
    let (cert, key) = crate::harness::split_bundle(&issued.bundle);
    crate::harness::write_pair(cert, key)
}

/// The CN of a certificate's subject, as openssl reads it.
fn subject_cn(cert: &Path) -> String {
    let o = harness::bounded(
        Command::new("openssl")
            .args(["x509", "-noout", "-subject", "-nameopt", "multiline", "-in"])
            .arg(cert),
    );
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("commonName")
                .map(|v| v.trim_start_matches([' ', '=']).trim().to_string())
        })
        .expect("a subject CN")
}

/// One string of a condition value, which IAM may hold as a string or a one-item list.
fn one_string(v: &Json) -> Option<&str> {
    match v {
        Json::String(s) => Some(s),
        Json::Array(a) if a.len() == 1 => a[0].as_str(),
        _ => None,
    }
}

/// The live trust policy (read by boto3) of the one role that trusts Roles Anywhere binds it to
/// the plan's trust anchor (`aws:SourceArn`) and the client certificate's CN, and the
/// test-bed enforces both: a certificate of the same CA with another CN is refused.
#[test]
fn security_trust_policy_binds_the_anchor_and_the_subject() {
    let tb = harness::testbed();
    for (name, target) in PLANS {
        let run = Run::new(tb);
        let plan = plan_file(name);
        expect(run.within(&["apply", "--yes"], &plan), 0);
        let live = arns(&run, target, &plan);
        let anchor = arn(&live, "trust_anchor").to_string();
        let cn = subject_cn(&client_pair(&run, &plan, target).0);

        let mut trusting = vec![];
        for side in [Side::Commercial, Side::China] {
            for r in run.inventory(side, &plan) {
                if r["type"] != "iam.role" {
                    continue;
                }
                let role = r["arn"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_string();
                let doc = boto3(tb, side, &["trust", "--role", &role]);
                let text = doc.to_string();
                if text.contains("rolesanywhere") {
                    trusting.push((r["id"].as_str().unwrap().to_string(), side, doc));
                }
            }
        }
        assert_eq!(
            trusting.len(),
            1,
            "{name}: roles trusting Roles Anywhere: {trusting:?}"
        );
        let (id, side, doc) = &trusting[0];
        assert_eq!((id.as_str(), *side), ("reader_role", target), "{doc}");
        let statements = doc["Statement"].as_array().expect("a list of statements");
        assert!(!statements.is_empty(), "{doc}");
        for st in statements {
            assert_eq!(st["Effect"], "Allow", "{st}");
            assert_eq!(
                st["Principal"]["Service"], "rolesanywhere.amazonaws.com",
                "{st}"
            );
            let c = &st["Condition"];
            assert_eq!(
                one_string(&c["ArnEquals"]["aws:SourceArn"]),
                Some(anchor.as_str()),
                "{name}: not bound to the trust anchor {anchor}: {st}"
            );
            assert_eq!(
                one_string(&c["StringEquals"]["aws:PrincipalTag/x509Subject/CN"]),
                Some(cn.as_str()),
                "{name}: not bound to the subject CN {cn}: {st}"
            );
        }

        // Enforced: the same CA, another CN: refused; the same CA and CN, made the same way:
        // accepted (so the refusal is the CN's doing).
        let (cert, key) = issue_with_plan_ca(&run, target, "someone-else");
        let mut cp = credential_process(&run, target, &live, &cert, &key, &["--no-cache"]);
        let o = harness::bounded(&mut cp);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("AccessDenied"),
            "{}",
            text(&o)
        );
        let (cert, key) = issue_with_plan_ca(&run, target, &cn);
        let mut cp = credential_process(&run, target, &live, &cert, &key, &["--no-cache"]);
        expect(harness::bounded(&mut cp), 0);

        expect(
            run.within(&["destroy", "--yes", "--force-delete-secrets"], &plan),
            0,
        );
    }
}

/// Destroy deletes the plan's resources and leaves alone, unchanged, resources named like
/// them: untagged, tagged with another plan (whose name starts with this one's), with this
/// plan's name but another lineage (a plan whose name renders alike), or with an `xpart:id` but
/// no `xpart:plan`. (A same-named untagged role: engine.rs,
/// `engine_refuses_a_same_named_role_it_does_not_own`.)
#[test]
fn security_destroy_leaves_untagged_and_foreign_resources_alone() {
    let tb = harness::testbed();
    let run = Run::new(tb);
    let plan = plan_file("china-to-commercial.yaml");
    expect(run.within(&["apply", "--yes"], &plan), 0);

    let ca = run.state.join("lookalike-ca.pem");
    std::fs::write(&ca, harness::pki::ca("look-alike", true).pem).unwrap();
    let mut made = vec![];
    for side in [Side::Commercial, Side::China] {
        let items = boto3(
            tb,
            side,
            &[
                "lookalikes",
                "--suffix",
                &run.suffix,
                "--plan",
                &run.plan_name(&plan),
                "--ca-pem",
                ca.to_str().unwrap(),
            ],
        );
        let file = run.state.join(format!("lookalikes-{}.json", side.name()));
        std::fs::write(&file, items.to_string()).unwrap();
        assert!(items.as_array().is_some_and(|a| a.len() >= 10), "{items}");
        let before = boto3(tb, side, &["describe", "--items", file.to_str().unwrap()]);
        made.push((side, file, before));
    }

    expect(
        run.within(&["destroy", "--yes", "--force-delete-secrets"], &plan),
        0,
    );
    // Destroy did its work, so what it left is what it chose to leave.
    assert_nothing_left(&run, &plan);
    for (side, file, before) in &made {
        let after = boto3(tb, *side, &["describe", "--items", file.to_str().unwrap()]);
        for (what, state) in before.as_object().unwrap() {
            assert!(!state.is_null(), "{what} vanished before destroy");
            assert_eq!(&after[what], state, "destroy touched {what} in {side:?}");
        }
        boto3(tb, *side, &["delete", "--items", file.to_str().unwrap()]);
    }
}
