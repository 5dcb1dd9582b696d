//! `kms.key`: lifecycle, signing keys, alias ownership, reuse after a lost answer, and key policies.

use super::*;

fn key_props(yaml: &str) -> KmsKey {
    serde_yaml::from_str(yaml).unwrap()
}

/// Keys carrying this resource's ownership tags, pending deletion or not.
async fn owned_keys(tb: &Testbed, side: Side, plan: &str, id: &str) -> Vec<(String, bool)> {
    let kms = aws_sdk_kms::Client::new(&tb.sdk(side).await);
    let mut found = vec![];
    for k in sent!(kms.list_keys()).keys() {
        let key_id = k.key_id().unwrap();
        let tags = sent!(kms.list_resource_tags().key_id(key_id));
        let has = |tk: &str, tv: &str| {
            tags.tags()
                .iter()
                .any(|t| t.tag_key() == tk && t.tag_value() == tv)
        };
        if has(TAG_PLAN, plan) && has(TAG_ID, id) {
            let meta = harness::key_metadata(&kms, key_id).await;
            let pending = meta.key_state() == Some(&aws_sdk_kms::types::KeyState::PendingDeletion);
            found.push((key_id.to_string(), pending));
        }
    }
    found
}

#[test]
fn kms_key_lifecycle_in_china() {
    in_china("key", async |tb, _plan, cx| {
        let account = tb.account(Side::China);
        let role = harness::china_role(tb, "role").await;
        let alias = format!("alias/{}", harness::unique("k"));
        let mut p = key_props(&format!(
            "alias: {alias}\ndescription: first\ndeletion_window_days: 9\nusers: [\"arn:aws-cn:iam::{account}:role/{role}\"]\ntags: {{team: a}}"
        ));
        harness::assert_absent::<KmsKey>(&p, &cx).await;

        let created = KmsKey::create(&p, &cx).await.unwrap();
        assert!(created.owned);
        let arn = &created.outputs["arn"];
        assert!(
            arn.starts_with(&format!("arn:aws-cn:kms:cn-north-1:{account}:key/")),
            "{arn}"
        );
        assert_eq!(
            created.outputs["alias_arn"],
            format!("arn:aws-cn:kms:cn-north-1:{account}:{alias}")
        );
        assert_eq!(created.outputs["alias"], alias);
        assert!(arn.ends_with(&created.outputs["id"]));
        let want = KmsKey::desired(&p, &cx).unwrap();
        // The generated policy names the China account principal and the role.
        let pol = want.attrs["policy"].to_string();
        assert!(
            pol.contains(&format!("arn:aws-cn:iam::{account}:root")),
            "{pol}"
        );
        // The plan's pending window (9 days) is unknown once the plan no longer has the key.
        let live = harness::assert_created(&p, &cx, &created, &["deletion_window_days"]).await;

        // Change the description, the policy (no more users) and the tags.
        p.description = Some("second".into());
        p.users.clear();
        p.tags.insert("team".into(), "b".into());
        let live =
            harness::changed_in_place(&p, &live, &cx, &["description", "policy", "tags"]).await;
        assert_eq!(live.outputs["id"], created.outputs["id"]);

        harness::deleted::<KmsKey>(&p, &live, &cx).await;
        let kms = aws_sdk_kms::Client::new(&tb.sdk(Side::China).await);
        let meta = harness::key_metadata(&kms, &live.outputs["id"]).await;
        assert_eq!(
            meta.key_state(),
            Some(&aws_sdk_kms::types::KeyState::PendingDeletion)
        );
        // The alias went with it, so the name is free for a new key.
        let err = kms.describe_key().key_id(&alias).send().await.unwrap_err();
        assert_eq!(
            err.into_service_error().meta().code(),
            Some("NotFoundException")
        );
    });
}

/// A signing key: asymmetric, made as the plan asks (SIGN_VERIFY, its key spec), read back
/// without a difference, its signers allowed to sign and read the public key only; a change of
/// spec replaces it. Its public key verifies what it signs.
#[test]
fn kms_signing_key_lifecycle() {
    in_partition(Side::Commercial, "ca_key", async |tb, _, cx| {
        let account = tb.account(Side::Commercial);
        let alias = format!("alias/{}", harness::unique("ca"));
        let p = key_props(&format!(
            "alias: {alias}\nusage: sign\nkey_spec: rsa_2048\nsigners: [\"arn:aws:iam::{account}:root\"]"
        ));
        let created = KmsKey::create(&p, &cx).await.unwrap();
        let kms = aws_sdk_kms::Client::new(&tb.sdk(Side::Commercial).await);
        let meta = harness::key_metadata(&kms, &created.outputs["id"]).await;
        assert_eq!(meta.key_usage().map(|u| u.as_str()), Some("SIGN_VERIFY"));
        assert_eq!(meta.key_spec().map(|s| s.as_str()), Some("RSA_2048"));
        let want = KmsKey::desired(&p, &cx).unwrap();
        let live = assert_read_back::<KmsKey>(&p, &cx, &created).await;
        assert_eq!(diff(&want, &live), set(&[]));
        let pol = want.attrs["policy"].to_string();
        assert!(
            pol.contains("kms:Sign")
                && pol.contains("kms:GetPublicKey")
                && !pol.contains("kms:Decrypt"),
            "{pol}"
        );
        // What it signs, its public key verifies (KMS's own check of its RSA signature).
        let msg = aws_sdk_kms::primitives::Blob::new(b"to be signed".to_vec());
        let alg = aws_sdk_kms::types::SigningAlgorithmSpec::RsassaPkcs1V15Sha256;
        let sig = sent!(kms
            .sign()
            .key_id(&alias)
            .message(msg.clone())
            .signing_algorithm(alg.clone()));
        let ok = sent!(kms
            .verify()
            .key_id(&alias)
            .message(msg)
            .signature(sig.signature().unwrap().clone())
            .signing_algorithm(alg));
        assert!(ok.signature_valid());
        // Another key spec cannot be had in place.
        let mut p4 = p.clone();
        p4.key_spec = Some(xpart::plan::types::KmsKeySpec::Rsa4096);
        let want4 = KmsKey::desired(&p4, &cx).unwrap();
        assert_eq!(diff(&want4, &live), set(&["key_spec"]));
        assert!(want4.replace_on.contains("key_spec"));
        KmsKey::delete(&live, &cx).await.unwrap();
        harness::assert_absent::<KmsKey>(&p, &cx).await;
    });
}

#[test]
fn kms_key_found_by_an_alias_it_does_not_own_reads_unowned() {
    in_china("key", async |tb, plan, cx| {
        let kms = aws_sdk_kms::Client::new(&tb.sdk(Side::China).await);
        let alias = format!("alias/{}", harness::unique("k"));
        let theirs = sent!(kms.create_key()).key_metadata.unwrap().key_id;
        sent!(kms.create_alias().alias_name(&alias).target_key_id(&theirs));
        let p = key_props(&format!("alias: {alias}"));
        let live = KmsKey::read(&p, &cx).await.unwrap().unwrap();
        assert!(!live.owned);
        assert_eq!(live.outputs["id"], theirs);
        // Create never takes the alias from a key the plan does not own. The alias is made
        // after the create returns (nothing of the plan waits for it), in work the run awaits
        // before it ends: the refusal comes from there.
        let made = KmsKey::create(&p, &cx).await;
        let err = match made {
            Err(e) => e.to_string(),
            Ok(_) => {
                // Left to the run: the alias, and the plan's policy in place of KMS's default.
                let tails = cx.part().tails();
                assert_eq!(
                    tails.len(),
                    2,
                    "the alias and the policy are left to the run"
                );
                let mut errs = vec![];
                for (id, work) in tails {
                    assert_eq!(id, cx.id);
                    errs.extend(work.await.unwrap().err().map(|e| e.to_string()));
                }
                assert_eq!(errs.len(), 1, "only the alias fails: {errs:?}");
                errs.remove(0)
            }
        };
        assert!(err.contains("does not own"), "{err}");
        let target = harness::key_metadata(&kms, &alias).await;
        assert_eq!(target.key_id, theirs);
        // The key create made before it found the alias taken is ours and aliasless: once the
        // alias is free, read finds it with no alias, and the update gives it the alias.
        sent!(kms.delete_alias().alias_name(&alias));
        let before = owned_keys(tb, Side::China, &plan, "key").await;
        assert_eq!(before.len(), 1, "{before:?}");
        let found = KmsKey::read(&p, &without_account(&cx))
            .await
            .unwrap()
            .unwrap();
        assert!(found.owned);
        assert_eq!(found.outputs["id"], before[0].0);
        assert_eq!(found.attrs["alias"], Json::Null);
        let want = KmsKey::desired(&p, &cx).unwrap();
        let changed = diff(&want, &found);
        assert_eq!(changed, set(&["alias"]));
        let live = KmsKey::update(&p, &found, &changed, &cx).await.unwrap();
        assert_eq!(live.outputs["id"], before[0].0);
        assert_eq!(live.outputs["alias"], alias);
        assert_read_back::<KmsKey>(&p, &cx, &live).await;
        assert_eq!(owned_keys(tb, Side::China, &plan, "key").await.len(), 1);
        KmsKey::delete(&live, &cx).await.unwrap();
    });
}

#[test]
fn kms_key_left_without_alias_is_reused() {
    in_china("key", async |tb, plan, cx| {
        let kms = aws_sdk_kms::Client::new(&tb.sdk(Side::China).await);
        // A run killed between CreateKey and CreateAlias: a tagged key, no alias.
        let tag = harness::kms_tag;
        let orphan = sent!(kms
            .create_key()
            .description("old")
            .tags(tag(TAG_PLAN, &plan))
            .tags(tag(TAG_LINEAGE, &cx.owner.lineage))
            .tags(tag(TAG_ID, "key")))
        .key_metadata
        .unwrap()
        .key_id;
        let alias = format!("alias/{}", harness::unique("k"));
        let p = key_props(&format!("alias: {alias}\ndescription: new"));
        // Read finds it, with no alias: the plan shows an update (not a replacement) that adds
        // the alias, and creates no second key.
        let found = KmsKey::read(&p, &without_account(&cx))
            .await
            .unwrap()
            .unwrap();
        assert!(found.owned);
        assert_eq!(found.outputs["id"], orphan);
        assert_eq!(found.attrs["alias"], Json::Null);
        assert!(!found.outputs.contains_key("alias") && !found.outputs.contains_key("alias_arn"));
        let want = KmsKey::desired(&p, &cx).unwrap();
        let changed = diff(&want, &found);
        // The orphan has KMS's default policy and an old description.
        assert_eq!(changed, set(&["alias", "description", "policy"]));
        assert!(!want.replace_on.contains("alias"));
        let live = KmsKey::update(&p, &found, &changed, &cx).await.unwrap();
        assert_eq!(live.outputs["id"], orphan);
        assert_eq!(diff(&want, &live), set(&[]));
        assert_read_back::<KmsKey>(&p, &cx, &live).await;
        assert_eq!(owned_keys(tb, Side::China, &plan, "key").await.len(), 1);
        KmsKey::delete(&live, &cx).await.unwrap();
        // A key pending deletion is never reused: read finds none, and create makes a new one.
        harness::assert_absent::<KmsKey>(&p, &cx).await;
        let again = KmsKey::create(&p, &cx).await.unwrap();
        assert_ne!(again.outputs["id"], orphan);
        assert_read_back::<KmsKey>(&p, &cx, &again).await;
        KmsKey::delete(&again, &cx).await.unwrap();
    });
}

#[test]
fn kms_key_without_alias_is_found_by_its_tags() {
    in_partition(Side::Commercial, "bare", async |_, _, cx| {
        let p = key_props("description: no alias");
        harness::assert_absent::<KmsKey>(&p, &cx).await;
        let live = KmsKey::create(&p, &cx).await.unwrap();
        assert!(live.outputs["arn"].starts_with("arn:aws:kms:us-west-2:"));
        assert!(!live.outputs.contains_key("alias"));
        let again = assert_read_back::<KmsKey>(&p, &cx, &live).await;
        assert_eq!(diff(&KmsKey::desired(&p, &cx).unwrap(), &again), set(&[]));
        harness::assert_found_as_read::<KmsKey>(&without_account(&cx), &again, &[]).await;
        KmsKey::delete(&again, &cx).await.unwrap();
        harness::assert_absent::<KmsKey>(&p, &cx).await;
        harness::assert_not_found::<KmsKey>(&cx).await;
    });
}

#[test]
fn kms_create_is_not_duplicated_after_a_lost_response() {
    let tb = Testbed::private();
    tb.set_faults(
        Side::China,
        "seed=1 lost_response=1.0 match=CreateKey max_faults=1",
    );
    harness::rt().block_on(async {
        let plan = harness::unique("p");
        let cx = ctx(&tb, Side::China, &plan, "key").await;
        let alias = format!("alias/{}", harness::unique("k"));
        let p = key_props(&format!("alias: {alias}\ndescription: once"));
        let live = KmsKey::create(&p, &cx).await.unwrap();
        let stats = tb.stats(Side::China);
        assert_eq!(stats["injected"]["lost_response"], 1, "{stats}");
        assert_eq!(stats["calls"]["CreateKey"], 1, "{stats}");
        let keys = owned_keys(&tb, Side::China, &plan, "key").await;
        assert_eq!(keys, vec![(live.outputs["id"].clone(), false)]);
        assert_eq!(diff(&KmsKey::desired(&p, &cx).unwrap(), &live), set(&[]));
        tb.set_faults(Side::China, "off");
        assert_read_back::<KmsKey>(&p, &cx, &live).await;
    });
}

// ---- secrets -------------------------------------------------------------

/// A key policy KMS refuses for its account principal (here the commercial form, in China) is
/// reported at once with the reason: no propagation cures it, so it is not retried for the
/// propagation bound (20 s in these tests, 3 min by default).
#[test]
fn kms_key_policy_naming_only_a_foreign_account_fails_at_once() {
    in_china("key", async |tb, _plan, cx| {
        let account = tb.account(Side::China);
        let p = key_props(&format!(
            "policy: {{Version: \"2012-10-17\", Statement: [{{Effect: Allow, Principal: {{AWS: \"arn:aws:iam::{account}:root\"}}, Action: \"kms:*\", Resource: \"*\"}}]}}"
        ));
        let t0 = std::time::Instant::now();
        let e = KmsKey::create(&p, &cx).await.unwrap_err().to_string();
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(10),
            "waited {:?}",
            t0.elapsed()
        );
        assert!(e.contains("MalformedPolicyDocumentException"), "{e}");
        assert!(e.contains("no propagation"), "{e}");
        assert!(e.contains("arn:aws-cn:iam::<account>:root"), "{e}");
    });
}
