//! The `pki.ca`, `pki.cert`, `rolesanywhere.trust_anchor` and `rolesanywhere.profile` type
//! modules, called directly (no planner) against local files and the test-bed. What create and
//! update of the Roles Anywhere types return (they do not read back) must be what `read` finds
//! right after; reads and listings run without the caller's account.

use crate::harness::sent;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;

use serde_json::json;
use xpart::engine::resource::{Ctx, Resource, TAG_ID, TAG_PLAN};
const UNKNOWN: &str = xpart::unknown::Unknown::TEXT;
use xpart::plan::types::{PkiCa, PkiCert, Profile, TrustAnchor};

use crate::harness::{self, assert_read_back, diff, set, without_account, Side, Testbed};

fn props<T: serde::de::DeserializeOwned>(yaml: &str) -> T {
    serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

/// A context for a local (pki.*) resource.
async fn local(tb: &Testbed, plan: &str, id: &str) -> Ctx {
    let mut cx = tb.ctx(Side::Commercial, plan, id).await;
    cx.part = None;
    cx
}

fn ca_props(cn: &str) -> PkiCa {
    props(&format!(
        "subject: {{common_name: {cn}, organization: xpart tests}}\nkey: {{algorithm: ecdsa, curve: p256}}\n"
    ))
}

/// A CA made by the `pki.ca` type, and its outputs as the executor would pass them on.
async fn make_ca(tb: &Testbed, plan: &str, id: &str) -> BTreeMap<String, String> {
    let cx = local(tb, plan, id).await;
    PkiCa::create(&ca_props(id), &cx).await.unwrap().outputs
}

fn mode(path: &str) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn pki_ca_is_created_once_and_kept() {
    let tb = harness::testbed();
    harness::rt().block_on(async {
        let cx = local(tb, "p", "root").await;
        let p = ca_props("root");
        let want = PkiCa::desired(&p, &cx).unwrap();
        assert_eq!(want.attrs["status"], json!("valid"));
        assert_eq!(PkiCa::read(&p, &cx).await.unwrap(), None);

        let made = PkiCa::create(&p, &cx).await.unwrap();
        assert_eq!(made.outputs["id"], "root");
        let (cert, key) = (made.outputs["cert_file"].clone(), made.outputs["key_file"].clone());
        assert!(cert.starts_with(&cx.state_dir.join("pki").display().to_string()), "{cert}");
        assert_eq!(mode(&key), 0o600);
        assert!(made.outputs["cert_pem"].starts_with("-----BEGIN CERTIFICATE-----"));
        // The key is never an attribute or an output.
        let shown = format!("{:?}{:?}", made.attrs, made.outputs);
        assert!(!shown.contains("PRIVATE"), "{shown}");

        let live = PkiCa::read(&p, &cx).await.unwrap().unwrap();
        assert_eq!(diff(&want, &live), set(&[]));
        assert_eq!(live.outputs, made.outputs);

        // Another run keeps both files byte for byte.
        let before = (std::fs::read(&cert).unwrap(), std::fs::read(&key).unwrap());
        let again = PkiCa::update(&p, &live, &BTreeSet::new(), &cx).await.unwrap();
        let again2 = PkiCa::create(&p, &cx).await.unwrap();
        assert_eq!(again.outputs, made.outputs);
        assert_eq!(again2.outputs, made.outputs);
        assert_eq!(before, (std::fs::read(&cert).unwrap(), std::fs::read(&key).unwrap()));
        assert_eq!(mode(&key), 0o600);

        // A plan asking for another key type replaces it, and says why.
        let p384: PkiCa = props("subject: {common_name: root, organization: xpart tests}\nkey: {algorithm: ecdsa, curve: p384}\n");
        let want384 = PkiCa::desired(&p384, &cx).unwrap();
        let live = PkiCa::read(&p384, &cx).await.unwrap().unwrap();
        assert_eq!(diff(&want384, &live), set(&["material"]));
        assert!(want384.replace_on.contains("material") && !want384.replace_on.contains("status"));
        assert_eq!(
            live.attrs["material"],
            json!("the key is ECDSA P-256, the plan asks for ECDSA P-384")
        );
        // What dependents would get from it is only known after apply.
        assert_eq!(live.outputs["cert_pem"], UNKNOWN);

        PkiCa::delete(&live, &cx).await.unwrap();
        assert!(!std::path::Path::new(&cert).exists() && !std::path::Path::new(&key).exists());
        assert_eq!(PkiCa::read(&p, &cx).await.unwrap(), None);
        PkiCa::delete(&live, &cx).await.unwrap();
    });
}

#[test]
fn pki_imported_ca_is_never_deleted() {
    let tb = harness::testbed();
    harness::rt().block_on(async {
        let cx = local(tb, "p", "imported").await;
        let ca = harness::pki::ca("imported root", true);
        let file = cx.base.join("ca.pem");
        std::fs::write(&file, &ca.pem).unwrap();
        let p: PkiCa = props("import: {certificate_file: ca.pem}\n");
        let want = PkiCa::desired(&p, &cx).unwrap();
        let live = PkiCa::read(&p, &cx).await.unwrap().unwrap();
        assert_eq!(diff(&want, &live), set(&[]));
        assert_eq!(live.outputs["cert_file"], file.display().to_string());
        assert_eq!(live.outputs["key_file"], "");
        PkiCa::delete(&live, &cx).await.unwrap();
        assert!(file.exists());
    });
}

#[test]
fn pki_cert_inside_its_renewal_window_reads_as_a_renewal() {
    let tb = harness::testbed();
    harness::rt().block_on(async {
        let ca = make_ca(tb, "p", "issuer").await;
        let mut cx = local(tb, "p", "client").await;
        let p: PkiCert = props(
            "ca: issuer\nsubject: {common_name: workload}\nkey: {algorithm: ecdsa, curve: p256}\nvalidity_days: 10\nrenew_before_days: 30\n",
        );
        let want = PkiCert::desired(&p, &cx).unwrap();

        // Without the CA's outputs there is nothing to issue from.
        let err = PkiCert::create(&p, &cx).await.unwrap_err().to_string();
        assert!(err.contains("CA `issuer`"), "{err}");

        cx.refs.insert("issuer".into(), ca.clone());
        let made = PkiCert::create(&p, &cx).await.unwrap();
        assert_eq!(mode(&made.outputs["key_file"]), 0o600);
        assert!(made.outputs["serial"].bytes().all(|b| b.is_ascii_digit()));

        let live = PkiCert::read(&p, &cx).await.unwrap().unwrap();
        assert_eq!(diff(&want, &live), set(&["status"]));
        let status = live.attrs["status"].as_str().unwrap();
        assert!(status.starts_with("renew: expires on") && status.contains("fewer than 30 days"), "{status}");
        assert!(!want.replace_on.contains("status"));
        assert_eq!(live.outputs["serial"], UNKNOWN);

        // Outside the window it is current, and a CA about to change re-issues it.
        let p5: PkiCert = props(
            "ca: issuer\nsubject: {common_name: workload}\nkey: {algorithm: ecdsa, curve: p256}\nvalidity_days: 10\nrenew_before_days: 5\n",
        );
        let live = PkiCert::read(&p5, &cx).await.unwrap().unwrap();
        assert_eq!(diff(&PkiCert::desired(&p5, &cx).unwrap(), &live), set(&[]));
        assert_eq!(live.outputs["serial"], made.outputs["serial"]);
        let mut pending = cx.clone();
        pending.refs.get_mut("issuer").unwrap().insert("cert_pem".into(), UNKNOWN.into());
        let live = PkiCert::read(&p5, &pending).await.unwrap().unwrap();
        assert_eq!(live.attrs["status"], json!("renew: its CA is to be created or replaced"));

        // The renewal itself: a new certificate and key, then current.
        let old_key = std::fs::read(&made.outputs["key_file"]).unwrap();
        let renewed = PkiCert::update(&p, &live, &set(&["status"]), &cx).await.unwrap();
        assert_ne!(renewed.outputs["serial"], made.outputs["serial"]);
        assert_ne!(std::fs::read(&renewed.outputs["key_file"]).unwrap(), old_key);

        PkiCert::delete(&renewed, &cx).await.unwrap();
        assert_eq!(PkiCert::read(&p, &cx).await.unwrap(), None);
    });
}

/// The trust anchor's props for CA `ca`.
fn anchor_props(name: &str, ca: &str, extra: &str) -> TrustAnchor {
    props(&format!(
        "name: {name}\nca: {ca}\ntags: {{team: xpart}}\n{extra}"
    ))
}

#[test]
fn trust_anchor_lifecycle() {
    let tb = harness::testbed();
    harness::rt().block_on(async {
        let plan = harness::unique("plan");
        let ca = make_ca(tb, &plan, "root").await;
        let mut cx = tb.ctx(Side::Commercial, &plan, "anchor").await;
        let name = harness::unique("ta");
        let p = anchor_props(&name, "root", "");

        // Planning before the CA exists must not fail.
        assert_eq!(
            TrustAnchor::desired(&p, &cx).unwrap().attrs["certificate"],
            json!(UNKNOWN)
        );
        let unknown = anchor_props(&name, UNKNOWN, "");
        assert_eq!(
            TrustAnchor::desired(&unknown, &cx).unwrap().attrs["certificate"],
            json!(UNKNOWN)
        );

        cx.refs.insert("root".into(), ca.clone());
        let want = TrustAnchor::desired(&p, &cx).unwrap();
        assert_eq!(TrustAnchor::read(&p, &cx).await.unwrap(), None);
        let made = TrustAnchor::create(&p, &cx).await.unwrap();
        let arn = &made.outputs["arn"];
        let prefix = format!(
            "arn:aws:rolesanywhere:{}:{}:trust-anchor/",
            tb.region(Side::Commercial),
            tb.account(Side::Commercial)
        );
        assert!(arn.starts_with(&prefix), "{arn}");
        assert_eq!(made.outputs["name"], name);

        let live = assert_read_back::<TrustAnchor>(&p, &cx, &made).await;
        assert!(live.owned);
        assert_eq!(diff(&want, &live), set(&[]));
        harness::assert_found_as_read::<TrustAnchor>(&without_account(&cx), &live, &[]).await;
        assert_eq!(live.attrs["tags"], json!({"team": "xpart"}));
        assert_eq!(live.attrs["enabled"], json!(true));

        // The ownership tags are on it.
        let ra = &cx.clients().rolesanywhere;
        let tags = sent!(ra.list_tags_for_resource().resource_arn(arn));
        let tags: BTreeMap<&str, &str> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
        assert_eq!(tags.get(TAG_PLAN), Some(&plan.as_str()));
        assert_eq!(tags.get(TAG_ID), Some(&"anchor"));

        // Disabled, another certificate and other tags: each a diff, each converging.
        let disabled = anchor_props(&name, "root", "enabled: false\n");
        let live = harness::changed_in_place(&disabled, &live, &cx, &["enabled"]).await;

        let other = make_ca(tb, &plan, "other").await;
        cx.refs.insert("other".into(), other.clone());
        let moved: TrustAnchor = props(&format!(
            "name: {name}\nca: other\nenabled: false\ntags: {{team: platform, env: dev}}\n"
        ));
        let live = harness::changed_in_place(&moved, &live, &cx, &["certificate", "tags"]).await;
        assert_eq!(live.attrs["certificate"], json!(other["cert_pem"].trim()));
        assert!(live.owned);

        // A new name in the plan finds the same anchor by its tags and renames it.
        let renamed_to = harness::unique("ta");
        let renamed: TrustAnchor = props(&format!(
            "name: {renamed_to}\nca: other\nenabled: false\ntags: {{team: platform, env: dev}}\n"
        ));
        let found = TrustAnchor::read(&renamed, &cx).await.unwrap().unwrap();
        assert_eq!(found.outputs["arn"], made.outputs["arn"]);
        let live = harness::changed_in_place(&renamed, &found, &cx, &["name"]).await;
        assert_eq!(live.outputs["name"], renamed_to);

        harness::deleted::<TrustAnchor>(&renamed, &live, &cx).await;
    });
}

#[test]
fn trust_anchor_from_a_certificate_file() {
    let tb = harness::testbed();
    harness::rt().block_on(async {
        let cx = tb
            .ctx(Side::Commercial, &harness::unique("plan"), "anchor")
            .await;
        let ca = harness::pki::ca("file root", true);
        // CRLF and blank lines around it are not a difference.
        std::fs::write(
            cx.base.join("ca.pem"),
            format!("\n{}\n", ca.pem.replace('\n', "\r\n")),
        )
        .unwrap();
        let p: TrustAnchor = props(&format!(
            "name: {}\ncertificate_file: ca.pem\n",
            harness::unique("ta")
        ));
        let want = TrustAnchor::desired(&p, &cx).unwrap();
        assert_eq!(want.attrs["certificate"], json!(ca.pem.trim()));
        let made = TrustAnchor::create(&p, &cx).await.unwrap();
        let live = assert_read_back::<TrustAnchor>(&p, &cx, &made).await;
        assert_eq!(diff(&want, &live), set(&[]));
        TrustAnchor::delete(&made, &cx).await.unwrap();
    });
}

#[test]
fn a_same_named_anchor_without_our_tags_is_not_ours_until_adopted() {
    let tb = harness::testbed();
    harness::rt().block_on(async {
        let plan = harness::unique("plan");
        let ca = make_ca(tb, &plan, "root").await;
        let mut cx = tb.ctx(Side::Commercial, &plan, "anchor").await;
        cx.refs.insert("root".into(), ca.clone());
        let name = harness::unique("ta");
        sent!(cx
            .clients()
            .rolesanywhere
            .create_trust_anchor()
            .name(&name)
            .source(harness::ra_source(&ca["cert_pem"]))
            .enabled(true));
        let p = anchor_props(&name, "root", "");
        let live = TrustAnchor::read(&p, &cx).await.unwrap().unwrap();
        assert!(!live.owned);
        assert_eq!(live.attrs["tags"], json!({}));

        // Adoption: the update takes ownership even when nothing else differs.
        let want = TrustAnchor::desired(&p, &cx).unwrap();
        let changed = diff(&want, &live);
        assert_eq!(changed, set(&["tags"]));
        let adopted = TrustAnchor::update(&p, &live, &BTreeSet::new(), &cx)
            .await
            .unwrap();
        assert!(adopted.owned);
        assert_eq!(diff(&want, &adopted), set(&[]));
        assert_read_back::<TrustAnchor>(&p, &cx, &adopted).await;
        TrustAnchor::delete(&adopted, &cx).await.unwrap();
    });
}

#[test]
fn profile_lifecycle() {
    let tb = harness::testbed();
    harness::rt().block_on(async {
        let cx = tb.ctx(Side::Commercial, &harness::unique("plan"), "profile").await;
        let account = tb.account(Side::Commercial);
        let name = harness::unique("profile");
        let yaml = |duration: u32| {
            format!(
                "name: {name}\nroles: ['arn:aws:iam::{account}:role/b-{name}', 'arn:aws:iam::{account}:role/a-{name}']\n\
                 duration_seconds: {duration}\nmanaged_policy_arns: ['arn:aws:iam::aws:policy/ReadOnlyAccess']\n\
                 session_policy:\n  Version: '2012-10-17'\n  Statement:\n    - Effect: Allow\n      Action: ['secretsmanager:GetSecretValue']\n      Resource: ['*']\n\
                 tags: {{team: xpart}}\n"
            )
        };
        let p: Profile = props(&yaml(3600));
        let want = Profile::desired(&p, &cx).unwrap();
        assert_eq!(Profile::read(&p, &cx).await.unwrap(), None);
        let made = Profile::create(&p, &cx).await.unwrap();
        assert!(made.outputs["arn"].starts_with("arn:aws:rolesanywhere:"), "{:?}", made.outputs);
        let live = assert_read_back::<Profile>(&p, &cx, &made).await;
        assert!(live.owned);
        assert_eq!(diff(&want, &live), set(&[]), "{:#?}\n{:#?}", want.attrs, live.attrs);
        assert_eq!(live.attrs["session_policy"]["Statement"]["Action"], json!("secretsmanager:GetSecretValue"));
        harness::assert_found_as_read::<Profile>(&without_account(&cx), &live, &[]).await;

        let longer: Profile = props(&yaml(7200));
        let live = harness::changed_in_place(&longer, &live, &cx, &["duration_seconds"]).await;
        assert_eq!(live.attrs["duration_seconds"], json!(7200));

        let disabled: Profile = props(&format!("{}enabled: false\n", yaml(7200)));
        let live = harness::changed_in_place(&disabled, &live, &cx, &["enabled"]).await;

        harness::deleted::<Profile>(&p, &live, &cx).await;
    });
}

#[test]
fn trust_anchor_create_is_not_duplicated_after_a_lost_response() {
    let tb = Testbed::private();
    harness::rt().block_on(async {
        let plan = harness::unique("plan");
        let ca = make_ca(&tb, &plan, "root").await;
        let mut cx = tb.ctx(Side::Commercial, &plan, "anchor").await;
        cx.refs.insert("root".into(), ca);
        let name = harness::unique("ta");
        let p = anchor_props(&name, "root", "");
        // REST-JSON operations are named by method and path in the fault layer; the JSON form
        // allows the space. The lookups (GET /trustanchors) stay calm.
        tb.set_faults(
            Side::Commercial,
            r#"{"seed": 1, "lost_response": 1.0, "match": ["POST /trustanchors"], "max_faults": 1}"#,
        );
        let made = TrustAnchor::create(&p, &cx).await.unwrap();
        tb.set_faults(Side::Commercial, "off");
        let stats = tb.stats(Side::Commercial);
        assert_eq!(stats["injected"]["lost_response"], json!(1), "{stats}");
        assert_eq!(stats["calls"]["POST /trustanchors"], json!(1), "{stats}");

        let ra = &cx.clients().rolesanywhere;
        let all = sent!(ra.list_trust_anchors());
        let named: Vec<_> = all.trust_anchors().iter().filter(|t| t.name() == Some(name.as_str())).collect();
        assert_eq!(named.len(), 1, "{named:#?}");
        assert_eq!(named[0].trust_anchor_arn(), Some(made.outputs["arn"].as_str()));
        let live = TrustAnchor::read(&p, &cx).await.unwrap().unwrap();
        assert!(live.owned);
        assert_eq!(live.attrs["tags"], json!({"team": "xpart"}));
        TrustAnchor::delete(&live, &cx).await.unwrap();
    });
}
