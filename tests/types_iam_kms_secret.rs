//! The `iam.role`, `kms.key`, `secretsmanager.secret` and `iam.instance_profile` types against
//! the test-bed: lifecycle (create, no diff, change, update, delete), ownership, and no duplicate
//! after a lost CreateKey answer or a run killed before CreateAlias. What create and update
//! return (they do not read back) must be what `read` finds right after; reads and listings run
//! without the caller's account, as the engine runs them alongside the identity check.

use crate::harness::sent;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value as Json;
use xpart::engine::resource::{Ctx, Options, Resource, TAG_ID, TAG_LINEAGE, TAG_PLAN};
use xpart::plan::types::{InstanceProfile, KmsKey, Role, Secret};

use crate::harness::{self, assert_read_back, diff, set, without_account, Side, Testbed};

/// A context with short propagation bounds, so a wrong retry shows as a failure, not a hang.
async fn ctx(tb: &Testbed, side: Side, plan: &str, id: &str) -> Ctx {
    let mut cx = tb.ctx(side, plan, id).await;
    cx.opts = Arc::new(Options {
        iam_propagation: Some(Duration::from_secs(20)),
        kms_propagation: Some(Duration::from_secs(20)),
        ..Options::default()
    });
    cx.notify = Arc::new(|id, msg| eprintln!("{id}: {msg}"));
    cx
}

/// A test of one resource `id` in China: the shared test-bed, a plan name of its own, and a
/// context for it.
fn in_china(id: &str, test: impl AsyncFnOnce(&'static Testbed, String, Ctx)) {
    let tb = harness::testbed();
    harness::rt().block_on(async {
        let plan = harness::unique("p");
        let cx = ctx(tb, Side::China, &plan, id).await;
        test(tb, plan, cx).await
    })
}

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
    let tb = harness::testbed();
    harness::rt().block_on(async {
        let plan = harness::unique("p");
        let cx = ctx(tb, Side::Commercial, &plan, "ca_key").await;
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
            pol.contains("kms:Sign") && pol.contains("kms:GetPublicKey") && !pol.contains("kms:Decrypt"),
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
    let tb = harness::testbed();
    harness::rt().block_on(async {
        let plan = harness::unique("p");
        let cx = ctx(tb, Side::Commercial, &plan, "bare").await;
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

fn secret_props(yaml: &str) -> Secret {
    serde_yaml::from_str(yaml).unwrap()
}

/// The current value. The stage is named because moto, unlike AWS, answers an unstaged
/// GetSecretValue with the last version written, not the one labelled AWSCURRENT.
async fn secret_value(tb: &Testbed, side: Side, id: &str) -> String {
    let sm = aws_sdk_secretsmanager::Client::new(&tb.sdk(side).await);
    let out = sent!(sm
        .get_secret_value()
        .secret_id(id)
        .version_stage("AWSCURRENT"));
    out.secret_string().unwrap().to_string()
}

#[test]
fn secret_lifecycle_from_a_file_in_china() {
    in_china("secret", async |tb, _plan, cx| {
        let account = tb.account(Side::China);
        let name = harness::unique("s");
        let first = "first-value-Zq81";
        std::fs::write(cx.path("value.txt"), first).unwrap();
        let mut p = secret_props(&format!(
            "name: {name}\ndescription: one\nvalue: {{file: value.txt}}\nforce_delete: true\ntags: {{team: a}}"
        ));
        harness::assert_absent::<Secret>(&p, &cx).await;
        let want = Secret::desired(&p, &cx).unwrap();
        assert!(want.sensitive.contains("value"));

        let created = Secret::create(&p, &cx).await.unwrap();
        assert!(created.owned);
        let arn = &created.outputs["arn"];
        assert!(
            arn.starts_with(&format!(
                "arn:aws-cn:secretsmanager:cn-north-1:{account}:secret:{name}-"
            )),
            "{arn}"
        );
        assert_eq!(created.outputs["id"], *arn);
        assert_eq!(created.outputs["name"], name);
        assert_eq!(secret_value(tb, Side::China, arn).await, first);
        let live = assert_read_back::<Secret>(&p, &cx, &created).await;
        assert_eq!(diff(&want, &live), set(&[]));
        let shown = format!("{live:?} {want:?}");
        assert!(!shown.contains(first), "{shown}");
        // The value is not read for a secret the plan no longer has, nor its settings known.
        harness::assert_found_as_read::<Secret>(
            &without_account(&cx),
            &live,
            &["value", "force_delete"],
        )
        .await;

        // A new value in the file, and a new description.
        let second = "second-value-Pw22";
        std::fs::write(cx.path("value.txt"), second).unwrap();
        p.description = Some("two".into());
        let updated = harness::changed_in_place(&p, &live, &cx, &["description", "value"]).await;
        assert_eq!(secret_value(tb, Side::China, arn).await, second);
        // Back to the first value in the same run: the token of the first version is reused,
        // and the value still becomes current.
        std::fs::write(cx.path("value.txt"), first).unwrap();
        let updated = harness::changed_in_place(&p, &updated, &cx, &["value"]).await;
        assert_eq!(secret_value(tb, Side::China, arn).await, first);

        harness::deleted::<Secret>(&p, &updated, &cx).await;
    });
}

#[test]
fn secret_value_errors_name_the_source_never_the_value() {
    let tb = harness::testbed();
    harness::rt().block_on(async {
        let cx = ctx(tb, Side::China, &harness::unique("p"), "secret").await;
        let missing = secret_props("name: x\nvalue: {file: nowhere/value.pem}");
        let err = Secret::desired(&missing, &cx).unwrap_err().to_string();
        assert!(err.contains("nowhere/value.pem"), "{err}");
        let var = format!("XPART_TEST_UNSET_{}", std::process::id());
        let unset = secret_props(&format!("name: x\nvalue: {{env: {var}}}"));
        let err = Secret::desired(&unset, &cx).unwrap_err().to_string();
        assert!(err.contains(&var), "{err}");
        let literal = secret_props("name: x\nvalue: {literal: s3cr3t-Lit}");
        let err = Secret::desired(&literal, &cx).unwrap_err().to_string();
        assert!(
            err.contains("allow_literal") && !err.contains("s3cr3t-Lit"),
            "{err}"
        );
        let two =
            secret_props("name: x\nvalue: {literal: s3cr3t-Lit, env: HOME}\nallow_literal: true");
        let err = Secret::desired(&two, &cx).unwrap_err().to_string();
        assert!(
            err.contains("exactly one") && !err.contains("s3cr3t-Lit"),
            "{err}"
        );
        // A value from a resource not created yet is not an error while planning.
        let later = secret_props(&format!(
            "name: x\nvalue: {{file: \"{}\"}}",
            xpart::unknown::Unknown::TEXT
        ));
        let want = Secret::desired(&later, &cx).unwrap();
        assert_eq!(want.attrs["value"], xpart::unknown::Unknown::TEXT);
        // And a create that fails says nothing of the value either.
        let bad = secret_props(
            "name: \"bad name with spaces!!\"\nvalue: {literal: s3cr3t-Lit}\nallow_literal: true",
        );
        match Secret::create(&bad, &cx).await {
            Err(e) => {
                let err = format!("{e} {e:?}");
                assert!(!err.contains("s3cr3t-Lit"), "{err}");
            }
            // moto takes names AWS refuses.
            Ok(live) => Secret::delete(&live, &cx).await.unwrap(),
        }
    });
}

#[test]
fn generated_secret_is_never_regenerated() {
    let tb = harness::testbed();
    harness::rt().block_on(async {
        let plan = harness::unique("p");
        let cx = ctx(tb, Side::Commercial, &plan, "generated").await;
        let name = harness::unique("g");
        let p = secret_props(&format!(
            "name: {name}\nvalue: {{generate: {{length: 40, exclude_punctuation: true}}}}\nforce_delete: true"
        ));
        let live = Secret::create(&p, &cx).await.unwrap();
        assert!(live.outputs["arn"].starts_with("arn:aws:secretsmanager:us-west-2:"));
        let value = secret_value(tb, Side::Commercial, &live.outputs["arn"]).await;
        assert_eq!(value.len(), 40);
        assert!(value.chars().all(|c| c.is_ascii_alphanumeric()), "punctuation in the password");
        assert!(!format!("{live:?}").contains(&value));
        let want = Secret::desired(&p, &cx).unwrap();
        let again = assert_read_back::<Secret>(&p, &cx, &live).await;
        assert_eq!(diff(&want, &again), set(&[]));
        // A second create (a retry) finds it and keeps the value.
        let twice = Secret::create(&p, &cx).await.unwrap();
        assert_eq!(twice.outputs["arn"], live.outputs["arn"]);
        assert_read_back::<Secret>(&p, &cx, &twice).await;
        assert_eq!(secret_value(tb, Side::Commercial, &live.outputs["arn"]).await, value);
        Secret::delete(&again, &cx).await.unwrap();
        harness::assert_absent::<Secret>(&p, &cx).await;
    });
}

#[test]
fn secret_scheduled_for_deletion_is_restored() {
    in_china("secret", async |tb, _plan, mut cx| {
        let name = harness::unique("s");
        let var = format!("XPART_TEST_SECRET_{}", std::process::id());
        std::env::set_var(&var, "from-env-Kx7");
        let p = secret_props(&format!(
            "name: {name}\nvalue: {{env: {var}}}\nrecovery_window_days: 7"
        ));
        let want = Secret::desired(&p, &cx).unwrap();
        let live = Secret::create(&p, &cx).await.unwrap();
        assert_read_back::<Secret>(&p, &cx, &live).await;
        Secret::delete(&live, &cx).await.unwrap();
        let scheduled = Secret::read(&p, &without_account(&cx))
            .await
            .unwrap()
            .unwrap();
        assert!(scheduled.owned);
        assert_eq!(scheduled.attrs["scheduled_for_deletion"], true);
        let changed = diff(&want, &scheduled);
        assert!(changed.contains("scheduled_for_deletion"), "{changed:?}");
        // Deleting again while scheduled is done already.
        Secret::delete(&scheduled, &cx).await.unwrap();
        let restored = Secret::update(&p, &scheduled, &changed, &cx).await.unwrap();
        assert_eq!(diff(&want, &restored), set(&[]));
        assert_read_back::<Secret>(&p, &cx, &restored).await;
        assert_eq!(
            secret_value(tb, Side::China, &live.outputs["arn"]).await,
            "from-env-Kx7"
        );
        // Restoring found the value unchanged: no new version.
        let sm = aws_sdk_secretsmanager::Client::new(&tb.sdk(Side::China).await);
        let versions = sent!(sm.list_secret_version_ids().secret_id(&name));
        assert_eq!(versions.versions().len(), 1);
        // Tests force-delete whatever the plan says.
        cx.opts = Arc::new(Options {
            force_delete_secrets: true,
            ..Options::default()
        });
        Secret::delete(&restored, &cx).await.unwrap();
        harness::assert_absent::<Secret>(&p, &cx).await;
        std::env::remove_var(&var);
    });
}

#[test]
fn secret_made_outside_xpart_reads_unowned_and_is_adopted() {
    in_china("secret", async |tb, _plan, cx| {
        let conf = tb.sdk(Side::China).await;
        let kms = aws_sdk_kms::Client::new(&conf);
        let sm = aws_sdk_secretsmanager::Client::new(&conf);
        let key = sent!(kms.create_key()).key_metadata.unwrap();
        let name = harness::unique("s");
        // Made by hand: no tags, and the key named by its bare id.
        sent!(sm
            .create_secret()
            .name(&name)
            .kms_key_id(&key.key_id)
            .secret_string("by-hand-Qq3"));
        let p = secret_props(&format!(
            "name: {name}\nvalue: {{literal: by-hand-Qq3}}\nallow_literal: true\nkms_key: {}\nforce_delete: true",
            key.arn.as_deref().unwrap()
        ));
        let live = Secret::read(&p, &cx).await.unwrap().unwrap();
        assert!(!live.owned);
        let want = Secret::desired(&p, &cx).unwrap();
        // The bare key id matches the plan's key ARN; the value matches too.
        assert_eq!(diff(&want, &live), set(&[]));
        // Create refuses to take it over.
        let err = Secret::create(&p, &cx).await.unwrap_err().to_string();
        assert!(err.contains("not owned"), "{err}");
        // Adoption (update of an unowned secret) adds the ownership tags.
        let adopted = Secret::update(&p, &live, &BTreeSet::new(), &cx)
            .await
            .unwrap();
        assert!(adopted.owned);
        assert_read_back::<Secret>(&p, &cx, &adopted).await;
        Secret::delete(&adopted, &cx).await.unwrap();
    });
}

// ---- instance profiles ---------------------------------------------------

fn profile_props(yaml: &str) -> InstanceProfile {
    serde_yaml::from_str(yaml).unwrap()
}

#[test]
fn instance_profile_lifecycle_in_china() {
    in_china("profile", async |tb, plan, cx| {
        let account = tb.account(Side::China);
        let (r1, r2) = (
            harness::china_role(tb, "role").await,
            harness::china_role(tb, "role").await,
        );
        let name = harness::unique("ip");
        let mut p = profile_props(&format!("name: {name}\nrole: {r1}\ntags: {{team: a}}"));
        harness::assert_absent::<InstanceProfile>(&p, &cx).await;
        let created = InstanceProfile::create(&p, &cx).await.unwrap();
        assert!(created.owned);
        assert_eq!(
            created.outputs["arn"],
            format!("arn:aws-cn:iam::{account}:instance-profile/xpart/{plan}/{name}")
        );
        let _want = InstanceProfile::desired(&p, &cx).unwrap();
        let live = harness::assert_created(&p, &cx, &created, &[]).await;
        // A retried create finds its own profile.
        let again = InstanceProfile::create(&p, &cx).await.unwrap();
        assert_eq!(again, live);

        p.role = r2.clone();
        p.tags.clear();
        let updated = harness::changed_in_place(&p, &live, &cx, &["role", "tags"]).await;
        assert_eq!(updated.attrs["role"], Json::from(r2));

        harness::deleted::<InstanceProfile>(&p, &updated, &cx).await;
    });
}

#[test]
fn instance_profile_waits_for_a_new_role() {
    in_china("profile", async |tb, _plan, cx| {
        let role = harness::unique("late");
        let name = harness::unique("ip");
        let p = profile_props(&format!("name: {name}\nrole: {role}"));
        // The role appears only after the profile has asked for it (and been told there is
        // none), as a new role does while IAM propagates it.
        let iam = aws_sdk_iam::Client::new(&tb.sdk(Side::China).await);
        let asked = tb.calls(Side::China, "AddRoleToInstanceProfile");
        let later = tokio::spawn({
            let role = role.clone();
            async move {
                tokio::task::block_in_place(|| {
                    harness::testbed().await_calls(
                        Side::China,
                        "AddRoleToInstanceProfile",
                        asked,
                        1,
                    )
                });
                let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com.cn"},"Action":"sts:AssumeRole"}]}"#;
                sent!(iam
                    .create_role()
                    .role_name(&role)
                    .assume_role_policy_document(trust));
            }
        });
        let live = InstanceProfile::create(&p, &cx).await.unwrap();
        later.await.unwrap();
        assert_eq!(live.attrs["role"], Json::from(role));
        assert_read_back::<InstanceProfile>(&p, &cx, &live).await;
        InstanceProfile::delete(&live, &cx).await.unwrap();
    });
}

#[test]
fn instance_profile_made_outside_xpart_reads_unowned() {
    in_china("profile", async |tb, _plan, cx| {
        let iam = aws_sdk_iam::Client::new(&tb.sdk(Side::China).await);
        let name = harness::unique("ip");
        sent!(iam.create_instance_profile().instance_profile_name(&name));
        let role = harness::china_role(tb, "role").await;
        let p = profile_props(&format!("name: {name}\nrole: {role}"));
        let live = InstanceProfile::read(&p, &cx).await.unwrap().unwrap();
        assert!(!live.owned);
        assert_eq!(live.attrs["role"], Json::Null);
        let err = InstanceProfile::create(&p, &cx)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("not owned"), "{err}");
        // Nothing was changed on it.
        let ip = sent!(iam.get_instance_profile().instance_profile_name(&name));
        assert!(ip.instance_profile.unwrap().roles.is_empty());
        sent!(iam.delete_instance_profile().instance_profile_name(&name));
    });
}

// ---- roles ---------------------------------------------------------------

fn role_props(yaml: &str) -> Role {
    serde_yaml::from_str(yaml).unwrap()
}

/// A customer managed policy to attach, made by hand.
async fn china_policy(tb: &Testbed) -> String {
    let iam = aws_sdk_iam::Client::new(&tb.sdk(Side::China).await);
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}"#;
    let out = sent!(iam
        .create_policy()
        .policy_name(harness::unique("pol"))
        .policy_document(doc));
    out.policy.unwrap().arn.unwrap()
}

#[test]
fn iam_role_lifecycle_in_china() {
    in_china("role", async |tb, plan, cx| {
        let account = tb.account(Side::China);
        let (m1, m2) = (china_policy(tb).await, china_policy(tb).await);
        let name = harness::unique("role");
        let yaml = |rest: &str| format!("name: {name}\n{rest}");
        let p = role_props(&yaml(&format!(
            "description: first\ntrust: {{service: ec2}}\n\
             policies:\n  list: {{statements: [{{actions: ['ec2:DescribeInstances'], resources: ['*']}}]}}\n  \
             read: {{statements: [{{actions: ['s3:GetObject'], resources: ['arn:aws-cn:s3:::b/*']}}]}}\n\
             managed_policy_arns: ['{m1}']\ntags: {{team: a}}"
        )));
        assert!(Role::read(&p, &without_account(&cx))
            .await
            .unwrap()
            .is_none());
        let want = Role::desired(&p, &cx).unwrap();

        let created = Role::create(&p, &cx).await.unwrap();
        assert!(created.owned);
        // Under the plan's IAM path, where `find_owned` lists it.
        assert_eq!(
            created.outputs["arn"],
            format!("arn:aws-cn:iam::{account}:role/xpart/{plan}/{name}")
        );
        assert_eq!(diff(&want, &created), set(&[]));
        let live = assert_read_back::<Role>(&p, &cx, &created).await;
        harness::assert_found_as_read::<Role>(&without_account(&cx), &live, &[]).await;
        // A retried create (EntityAlreadyExists) finds its own role as it is.
        let again = Role::create(&p, &cx).await.unwrap();
        assert_eq!(again, live);

        // Every part changes: trust, settings, one policy changed, one gone, one new, the
        // managed policies swapped, the tags.
        let p = role_props(&yaml(&format!(
            "description: second\ntrust: {{service: lambda}}\nmax_session_duration: 7200\n\
             policies:\n  list: {{statements: [{{actions: ['ec2:DescribeVpcs'], resources: ['*']}}]}}\n  \
             write: {{statements: [{{actions: ['s3:PutObject'], resources: ['arn:aws-cn:s3:::b/*']}}]}}\n\
             managed_policy_arns: ['{m2}']\ntags: {{env: dev}}"
        )));
        let live = harness::changed_in_place(
            &p,
            &live,
            &cx,
            &[
                "description",
                "managed_policy_arns",
                "max_session_duration",
                "policies",
                "tags",
                "trust",
            ],
        )
        .await;

        harness::deleted::<Role>(&p, &live, &cx).await;
    });
}

#[test]
fn iam_role_made_outside_xpart_reads_unowned_and_is_adopted() {
    in_china("role", async |tb, _plan, cx| {
        let name = harness::china_role(tb, "role").await;
        // Adopted where it is (`path: /`): IAM cannot move a role.
        let p = role_props(&format!(
            "name: {name}\npath: /\ntrust: {{service: ec2}}\npolicies:\n  list: {{statements: [{{actions: ['ec2:DescribeInstances'], resources: ['*']}}]}}"
        ));
        let live = Role::read(&p, &without_account(&cx))
            .await
            .unwrap()
            .unwrap();
        assert!(!live.owned);
        let want = Role::desired(&p, &cx).unwrap();
        let changed = diff(&want, &live);
        assert_eq!(changed, set(&["policies"]));
        // Create never takes it over, and changes nothing on it.
        let err = Role::create(&p, &cx).await.unwrap_err().to_string();
        assert!(err.contains("not owned"), "{err}");
        assert_eq!(Role::read(&p, &cx).await.unwrap().unwrap(), live);
        // Adoption: the ownership tags and the plan's policy.
        let adopted = Role::update(&p, &live, &changed, &cx).await.unwrap();
        assert!(adopted.owned);
        assert_eq!(diff(&want, &adopted), set(&[]));
        assert_read_back::<Role>(&p, &cx, &adopted).await;
        Role::delete(&adopted, &cx).await.unwrap();
    });
}

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
