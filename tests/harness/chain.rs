//! Roles Anywhere chains: one made with the SDK for a side (anchor, role, profile, secret), or a
//! plan's as boto3 finds it after apply; and the third-party client (iam-rolesanywhere-session)
//! that takes a session through one.

use crate::harness::sent;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{pki, repo, rt, tempdir, unique, Run, Side, Testbed};

/// A Roles Anywhere trust-anchor source from a PEM bundle.
/// A role trust policy for Roles Anywhere sessions under `condition`.
pub fn rolesanywhere_trust(condition: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "rolesanywhere.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
            "Condition": condition,
        }]
    })
}

pub fn ra_source(pem: &str) -> aws_sdk_rolesanywhere::types::Source {
    use aws_sdk_rolesanywhere::types::{Source, SourceData, TrustAnchorType};
    Source::builder()
        .source_type(TrustAnchorType::CertificateBundle)
        .source_data(SourceData::X509CertificateData(pem.to_string()))
        .build()
}

/// What one side needs for CreateSession: a CA-backed anchor, a role that trusts
/// Roles Anywhere (bound to the anchor), a profile, and a secret.
pub struct Chain {
    pub side: Side,
    pub ca: pki::Ca,
    pub anchor_id: String,
    pub anchor_arn: String,
    pub profile_id: String,
    pub profile_arn: String,
    pub role_arn: String,
    pub secret_id: String,
}

pub const SECRET: &str = "hello-from-the-other-partition";

pub async fn chain(tb: &Testbed, side: Side) -> Chain {
    let conf = tb.sdk(side).await;
    let ra = aws_sdk_rolesanywhere::Client::new(&conf);
    let iam = aws_sdk_iam::Client::new(&conf);
    let sm = aws_sdk_secretsmanager::Client::new(&conf);
    let ca = pki::ca(&unique("root"), true);
    let ta = trust_anchor(&ra, &unique("ta"), &ca.pem).await;
    let anchor_arn = ta.trust_anchor_arn().unwrap().to_string();
    let trust =
        rolesanywhere_trust(serde_json::json!({"ArnEquals": {"aws:SourceArn": anchor_arn}}));
    let role = sent!(iam
        .create_role()
        .role_name(unique("reader"))
        .assume_role_policy_document(trust.to_string()))
    .role
    .unwrap();
    let profile = sent!(ra
        .create_profile()
        .name(unique("profile"))
        .role_arns(role.arn())
        .enabled(true))
    .profile
    .unwrap();
    let secret = sent!(sm
        .create_secret()
        .name(unique("secret"))
        .secret_string(SECRET));
    Chain {
        side,
        ca,
        anchor_id: ta.trust_anchor_id().unwrap().to_string(),
        anchor_arn,
        profile_id: profile.profile_id().unwrap().to_string(),
        profile_arn: profile.profile_arn().unwrap().to_string(),
        role_arn: role.arn().to_string(),
        secret_id: secret.arn().unwrap().to_string(),
    }
}

/// A role in China that EC2 may assume, made directly (the IAM types have their own tests): its
/// name, which starts with `prefix`.
pub async fn china_role(tb: &Testbed, prefix: &str) -> String {
    let iam = aws_sdk_iam::Client::new(&tb.sdk(Side::China).await);
    let name = unique(prefix);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com.cn"},"Action":"sts:AssumeRole"}]}"#;
    sent!(iam
        .create_role()
        .role_name(&name)
        .assume_role_policy_document(trust));
    name
}

/// A KMS tag.
pub fn kms_tag(k: &str, v: &str) -> aws_sdk_kms::types::Tag {
    aws_sdk_kms::types::Tag::builder()
        .tag_key(k)
        .tag_value(v)
        .build()
        .unwrap()
}

/// What KMS says of key `id`.
pub async fn key_metadata(kms: &aws_sdk_kms::Client, id: &str) -> aws_sdk_kms::types::KeyMetadata {
    sent!(kms.describe_key().key_id(id)).key_metadata.unwrap()
}

/// An enabled trust anchor of `pem`, named `name`, made directly.
pub async fn trust_anchor(
    ra: &aws_sdk_rolesanywhere::Client,
    name: &str,
    pem: &str,
) -> aws_sdk_rolesanywhere::types::TrustAnchorDetail {
    sent!(ra
        .create_trust_anchor()
        .name(name)
        .source(ra_source(pem))
        .enabled(true))
    .trust_anchor
    .unwrap()
}

/// `xpart credential-process` with a certificate and key, and the trust anchor's, profile's
/// and role's ARNs.
pub fn credential_process_args(
    cert: &str,
    key: &str,
    [anchor, profile, role]: [&str; 3],
) -> Vec<String> {
    [
        "credential-process",
        "--certificate",
        cert,
        "--private-key",
        key,
        "--trust-anchor-arn",
        anchor,
        "--profile-arn",
        profile,
        "--role-arn",
        role,
    ]
    .map(String::from)
    .to_vec()
}

/// Run iam-rolesanywhere-session (a third-party client) against the chain.
pub fn third_party(tb: &Testbed, c: &Chain, leaf: &pki::Leaf, tamper: bool) -> serde_json::Value {
    let dir = tempdir("ira");
    let (cert, key) = leaf.write(&dir, "client");
    let to = ThirdParty {
        side: c.side,
        profile_arn: &c.profile_arn,
        role_arn: &c.role_arn,
        anchor_arn: &c.anchor_arn,
        secret_id: &c.secret_id,
    };
    third_party_files(tb, &to, &cert, &key, tamper)
}

/// Where the third-party client goes: a chain's ARNs.
pub struct ThirdParty<'a> {
    pub side: Side,
    pub profile_arn: &'a str,
    pub role_arn: &'a str,
    pub anchor_arn: &'a str,
    pub secret_id: &'a str,
}

/// `third_party` with a certificate and key in files.
pub fn third_party_files(
    tb: &Testbed,
    c: &ThirdParty,
    cert: &Path,
    key: &Path,
    tamper: bool,
) -> serde_json::Value {
    let host = tb
        .tls_endpoint(c.side)
        .trim_start_matches("https://")
        .to_string();
    let mut cmd = Command::new(tb.python());
    cmd.arg(repo().join("tests/clients/ira_session.py"))
        .args(["--endpoint", &host])
        .args(["--ca-bundle", tb.var("XPART_TESTBED_CA_BUNDLE")])
        .args(["--region", tb.region(c.side)])
        .args(["--profile-arn", c.profile_arn, "--role-arn", c.role_arn])
        .args(["--trust-anchor-arn", c.anchor_arn])
        .args([
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ])
        .args([
            "--service-endpoint",
            tb.endpoint(c.side),
            "--secret-id",
            c.secret_id,
        ])
        .envs(tb.env());
    if tamper {
        cmd.arg("--tamper");
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "client crashed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

/// The plan's CA certificate (PEM) as its trust anchor in `target` holds it: the CA's key is
/// KMS's, and nothing of the CA is kept in files.
pub fn anchor_pem(run: &Run, target: Side) -> String {
    let rt = rt();
    let conf = rt.block_on(run.tb.sdk(target));
    let ra = aws_sdk_rolesanywhere::Client::new(&conf);
    let anchors = rt.block_on(ra.list_trust_anchors().send()).unwrap();
    let anchor = anchors
        .trust_anchors()
        .iter()
        .find(|t| t.name() == Some(&format!("xpart-root-{}", run.suffix)))
        .expect("the plan's trust anchor");
    match anchor.source().and_then(|s| s.source_data()) {
        Some(aws_sdk_rolesanywhere::types::SourceData::X509CertificateData(pem)) => pem.clone(),
        _ => panic!("the anchor holds no certificate: {anchor:?}"),
    }
}

/// Write a certificate and key as the workload holds them (the key 0600), in a fresh directory.
pub fn write_pair(cert: &[u8], key: &[u8]) -> (PathBuf, PathBuf) {
    let dir = tempdir("client-pair");
    let (c, k) = (dir.join("client.crt"), dir.join("client.key"));
    std::fs::write(&c, cert).unwrap();
    std::fs::write(&k, key).unwrap();
    std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o600)).unwrap();
    (c, k)
}

/// The secret that carries the client certificate and key (in the partition other than
/// `target`): its value, read by the SDK with the test-bed's credentials.
pub fn bundle_of(run: &Run, plan: &Path, target: Side) -> String {
    let side = match target {
        Side::Commercial => Side::China,
        Side::China => Side::Commercial,
    };
    let arn = arn_of(run, side, plan, "client_key_secret");
    let rt = rt();
    rt.block_on(async {
        let sm = aws_sdk_secretsmanager::Client::new(&run.tb.sdk(side).await);
        let v = sent!(sm.get_secret_value().secret_id(&arn));
        v.secret_string().unwrap().to_string()
    })
}

/// The client certificate and key the plan issued into its secret (no machine keeps them),
/// written as the workload holds them.
pub fn secret_pair(run: &Run, plan: &Path, target: Side) -> (PathBuf, PathBuf) {
    let bundle = bundle_of(run, plan, target);
    let (cert, key) = split_bundle(&bundle);
    write_pair(cert, key)
}

/// A PEM bundle's certificate part and key part.
pub fn split_bundle(bundle: &str) -> (&[u8], &[u8]) {
    let at = bundle
        // In two halves, so that no scanner takes this source for a key.
        .find(concat!("-----BEGIN ", "PRIVATE KEY-----"))
        .expect("a key in the bundle");
    bundle.as_bytes().split_at(at)
}

/// A resource's ARN as boto3 (an independent client) finds it by the plan's tags.
pub fn arn_of(run: &Run, side: Side, plan: &Path, id: &str) -> String {
    run.inventory(side, plan)
        .into_iter()
        .find(|r| r["id"] == id)
        .and_then(|r| r["arn"].as_str().map(String::from))
        .unwrap_or_else(|| panic!("{id} not found in {side:?}"))
}

/// The client certificate's secret (in China for this plan): its value and its tags.
pub fn client_secret(
    run: &Run,
    plan: &Path,
) -> (String, std::collections::BTreeMap<String, String>) {
    let arn = arn_of(run, Side::China, plan, "client_key_secret");
    rt().block_on(async {
        let sm = aws_sdk_secretsmanager::Client::new(&run.tb.sdk(Side::China).await);
        let v = sent!(sm.get_secret_value().secret_id(&arn));
        let d = sent!(sm.describe_secret().secret_id(&arn));
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
pub fn plan_third_party(run: &Run, plan: &Path, bundle: &str) -> serde_json::Value {
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
    third_party_files(run.tb, &to, &cert, &key, false)
}
