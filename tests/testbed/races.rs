//! Fidelity under concurrency and KMS's signing: races have one winner, as in AWS, and KMS signs as AWS does.

use super::*;

/// Of racing requests for one name: exactly one success, every other refused with `code`.
fn assert_one_winner(codes: &[Option<String>], code: &str, what: &str) {
    let wins = codes.iter().filter(|c| c.is_none()).count();
    assert_eq!(wins, 1, "{what}: {codes:?}");
    assert!(
        codes.iter().flatten().all(|c| c.contains(code)),
        "{what}: {codes:?}"
    );
}

/// Sixteen concurrent creates of one name, as AWS answers them: one success, and the service's
/// "already exists" for every other (never a 500 from a race); sixty-four of distinct names:
/// sixty-four successes. IAM roles, secrets and KMS aliases. xpart's duplicate-freedom rests
/// on this (a create retried after a lost answer finds its own resource).
#[test]
fn concurrent_creates_of_one_name_have_one_winner() {
    let tb = testbed();
    rt().block_on(async {
        for side in [Side::Commercial, Side::China] {
            let conf = no_retry(tb, side).await;
            let iam = aws_sdk_iam::Client::new(&conf);
            let role = unique("race-role");
            let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
            let tries = (0..16).map(|_| {
                iam.create_role()
                    .role_name(&role)
                    .assume_role_policy_document(trust)
                    .send()
            });
            let codes = codes_of(tries).await;
            // Creates of different names at once all succeed (moto alone iterates a dict
            // another thread changes, and answers 500).
            let names: Vec<String> = (0..64).map(|i| format!("{role}-{i}")).collect();
            let tries = names.iter().map(|n| {
                iam.create_role()
                    .role_name(n)
                    .assume_role_policy_document(trust)
                    .send()
            });
            let failed: Vec<String> = futures::future::join_all(tries)
                .await
                .into_iter()
                .filter_map(|r| r.err().map(|e| format!("{e:?}")))
                .collect();
            assert!(failed.is_empty(), "{side:?} CreateRole of distinct names: {failed:?}");
            assert_one_winner(&codes, "EntityAlreadyExists", &format!("{side:?} CreateRole"));

            let sm = aws_sdk_secretsmanager::Client::new(&conf);
            let name = unique("race-secret");
            let tries = (0..16).map(|i| {
                sm.create_secret()
                    .name(&name)
                    .secret_string(format!("v{i}"))
                    .send()
            });
            let codes = codes_of(tries).await;
            assert_one_winner(&codes, "ResourceExistsException", &format!("{side:?} CreateSecret"));
            let tries = (0..64).map(|i| {
                sm.create_secret()
                    .name(format!("{name}-{i}"))
                    .secret_string("v")
                    .send()
            });
            let codes = codes_of(tries).await;
            assert!(
                codes.iter().all(Option::is_none),
                "{side:?} CreateSecret of distinct names: {codes:?}"
            );

            // A KMS alias names one key: of sixteen keys racing for it, one gets it.
            let kms = aws_sdk_kms::Client::new(&conf);
            let alias = format!("alias/{}", unique("race-alias"));
            let mut keys = vec![];
            for _ in 0..16 {
                let k = sent!(kms.create_key());
                keys.push(k.key_metadata().unwrap().key_id().to_string());
            }
            let tries = keys.iter().map(|k| {
                kms.create_alias()
                    .alias_name(&alias)
                    .target_key_id(k)
                    .send()
            });
            let codes = codes_of(tries).await;
            assert_one_winner(&codes, "AlreadyExistsException", &format!("{side:?} CreateAlias"));
        }
    });
}

/// A compare-and-swap: sixteen concurrent moves of AWSCURRENT away from one version, each to
/// its own new version. Secrets Manager fails the move when RemoveFromVersionId is no longer
/// the current version, so exactly one wins and the current version is the winner's. (A lease
/// kept in a secret takes over a stale holder this way.)
#[test]
fn a_conditional_stage_move_has_one_winner() {
    let tb = testbed();
    rt().block_on(async {
        let conf = no_retry(tb, Side::China).await;
        let sm = aws_sdk_secretsmanager::Client::new(&conf);
        let name = unique("cas-secret");
        let first = sent!(sm.create_secret().name(&name).secret_string("holder-0"));
        let base = first.version_id().unwrap().to_string();
        let mut versions = vec![];
        for i in 1..=16 {
            let put = sent!(sm
                .put_secret_value()
                .secret_id(&name)
                .secret_string(format!("holder-{i}"))
                .version_stages(format!("CANDIDATE{i}")));
            versions.push(put.version_id().unwrap().to_string());
        }
        // Staged versions leave the current one alone.
        let now = sent!(sm.get_secret_value().secret_id(&name));
        assert_eq!(now.secret_string(), Some("holder-0"));
        let moves = versions.iter().map(|v| {
            sm.update_secret_version_stage()
                .secret_id(&name)
                .version_stage("AWSCURRENT")
                .remove_from_version_id(&base)
                .move_to_version_id(v)
                .send()
        });
        let results = futures::future::join_all(moves).await;
        let winners: Vec<&String> = versions
            .iter()
            .zip(&results)
            .filter(|(_, r)| r.is_ok())
            .map(|(v, _)| v)
            .collect();
        assert_eq!(winners.len(), 1, "{results:?}");
        for r in results.iter().filter_map(|r| r.as_ref().err()) {
            let code = r.as_service_error().and_then(|e| e.meta().code());
            assert_eq!(code, Some("InvalidParameterException"), "{r:?}");
        }
        let now = sent!(sm.get_secret_value().secret_id(&name));
        assert_eq!(now.version_id(), Some(winners[0].as_str()));
    });
}

/// KMS signs with asymmetric keys on both partitions, and the signature checks out against the
/// public key GetPublicKey returns (checked by another implementation: Python's
/// `cryptography`). A CA held in KMS signs every certificate this way.
#[test]
fn kms_signs_with_asymmetric_keys_on_both_partitions() {
    use aws_sdk_kms::types::{KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec};
    let tb = testbed();
    rt().block_on(async {
        for side in [Side::Commercial, Side::China] {
            let kms = aws_sdk_kms::Client::new(&tb.sdk(side).await);
            for (spec, alg) in [
                (KeySpec::Rsa2048, SigningAlgorithmSpec::RsassaPkcs1V15Sha256),
                (KeySpec::EccNistP256, SigningAlgorithmSpec::EcdsaSha256),
            ] {
                let key = sent!(kms
                    .create_key()
                    .key_usage(KeyUsageType::SignVerify)
                    .key_spec(spec.clone()));
                let meta = key.key_metadata().unwrap();
                assert!(
                    meta.arn()
                        .unwrap()
                        .starts_with(&format!("arn:{}:kms:", side.partition())),
                    "{:?}",
                    meta.arn()
                );
                let message = b"tbsCertificate bytes stand here".to_vec();
                let signed = sent!(kms
                    .sign()
                    .key_id(meta.key_id())
                    .message(aws_sdk_kms::primitives::Blob::new(message.clone()))
                    .message_type(MessageType::Raw)
                    .signing_algorithm(alg.clone()));
                let public = sent!(kms.get_public_key().key_id(meta.key_id()));
                let der = public.public_key().unwrap().as_ref().to_vec();
                let sig = signed.signature().unwrap().as_ref().to_vec();
                let check = r#"
import sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
key = serialization.load_der_public_key(bytes.fromhex(sys.argv[1]))
sig, msg = bytes.fromhex(sys.argv[2]), bytes.fromhex(sys.argv[3])
if isinstance(key, rsa.RSAPublicKey):
    key.verify(sig, msg, padding.PKCS1v15(), hashes.SHA256())
else:
    key.verify(sig, msg, ec.ECDSA(hashes.SHA256()))
print("verified")
"#;
                let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
                let out = Command::new(tb.python())
                    .args(["-c", check, &hex(&der), &hex(&sig), &hex(&message)])
                    .output()
                    .unwrap();
                assert!(
                    out.status.success()
                        && String::from_utf8_lossy(&out.stdout).contains("verified"),
                    "{side:?} {spec:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                // The same check fails on another message: the verifier is not a rubber stamp.
                let out = Command::new(tb.python())
                    .args([
                        "-c",
                        check,
                        &hex(&der),
                        &hex(&sig),
                        &hex(b"another message"),
                    ])
                    .output()
                    .unwrap();
                assert!(
                    !out.status.success(),
                    "{side:?} {spec:?}: a forged message verified"
                );
            }
        }
    });
}

/// KMS's limits that a CA held by KMS relies on, as AWS states them: Sign takes at most 4096
/// bytes of message, a tag value at most 256 characters, a key at most 50 tags.
#[test]
fn kms_refuses_oversized_messages_and_tags() {
    use aws_sdk_kms::error::ProvideErrorMetadata;
    use aws_sdk_kms::primitives::Blob;
    use aws_sdk_kms::types::{KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec, Tag};
    let tb = testbed();
    rt().block_on(async {
        let kms = aws_sdk_kms::Client::new(&tb.sdk(Side::China).await);
        let key = sent!(kms
            .create_key()
            .key_usage(KeyUsageType::SignVerify)
            .key_spec(KeySpec::Rsa2048));
        let id = key.key_metadata().unwrap().key_id().to_string();
        let sign = |n: usize| {
            kms.sign()
                .key_id(&id)
                .message(Blob::new(vec![7u8; n]))
                .message_type(MessageType::Raw)
                .signing_algorithm(SigningAlgorithmSpec::RsassaPkcs1V15Sha256)
                .send()
        };
        assert!(sign(4096).await.is_ok());
        let e = sign(4097).await.unwrap_err();
        assert_eq!(e.code(), Some("ValidationException"), "{e:?}");
        let tag = |k: String, len: usize| {
            Tag::builder()
                .tag_key(k)
                .tag_value("v".repeat(len))
                .build()
                .unwrap()
        };
        assert!(kms
            .tag_resource()
            .key_id(&id)
            .tags(tag("a".into(), 256))
            .send()
            .await
            .is_ok());
        let e = kms
            .tag_resource()
            .key_id(&id)
            .tags(tag("b".into(), 257))
            .send()
            .await
            .unwrap_err();
        // Checked against the model, as the service checks it first.
        assert_eq!(e.code(), Some("ValidationException"), "{e:?}");
        let many: Vec<Tag> = (0..50).map(|i| tag(format!("k{i}"), 1)).collect();
        let e = kms
            .tag_resource()
            .key_id(&id)
            .set_tags(Some(many))
            .send()
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some("LimitExceededException"), "{e:?}");
    });
}
