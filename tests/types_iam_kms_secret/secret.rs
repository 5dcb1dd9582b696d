//! `secretsmanager.secret`: lifecycle, value sources and their errors, restore and adoption.

use super::*;

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
    in_partition(Side::Commercial, "generated", async |tb, _, cx| {
        let name = harness::unique("g");
        let p = secret_props(&format!(
            "name: {name}\nvalue: {{generate: {{length: 40, exclude_punctuation: true}}}}\nforce_delete: true"
        ));
        let live = Secret::create(&p, &cx).await.unwrap();
        assert!(live.outputs["arn"].starts_with("arn:aws:secretsmanager:us-west-2:"));
        let value = secret_value(tb, Side::Commercial, &live.outputs["arn"]).await;
        assert_eq!(value.len(), 40);
        assert!(
            value.chars().all(|c| c.is_ascii_alphanumeric()),
            "punctuation in the password"
        );
        assert!(!format!("{live:?}").contains(&value));
        let want = Secret::desired(&p, &cx).unwrap();
        let again = assert_read_back::<Secret>(&p, &cx, &live).await;
        assert_eq!(diff(&want, &again), set(&[]));
        // A second create (a retry) finds it and keeps the value.
        let twice = Secret::create(&p, &cx).await.unwrap();
        assert_eq!(twice.outputs["arn"], live.outputs["arn"]);
        assert_read_back::<Secret>(&p, &cx, &twice).await;
        assert_eq!(
            secret_value(tb, Side::Commercial, &live.outputs["arn"]).await,
            value
        );
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
