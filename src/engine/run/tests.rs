//! The pure core of a run, without a test-bed: one resource's comparison (`compare`), the
//! attributes a delete shows, the prune guard and the orphans' changes, and that what a type
//! declares sensitive stays hidden in every view of the plan.

use super::*;
use crate::view::{json, markdown, text, Style};
use serde_json::json;

fn live(attrs: Json, owned: bool) -> Live {
    let attrs = serde_json::from_value(attrs).unwrap();
    Live::new(BTreeMap::new(), attrs, owned)
}

fn want(attrs: Json) -> Desired {
    Desired {
        attrs: serde_json::from_value(attrs).unwrap(),
        ..Desired::default()
    }
}

fn names(attrs: &[AttrChange]) -> Vec<&str> {
    attrs.iter().map(|a| a.name.as_str()).collect()
}

#[test]
fn nothing_live_is_a_create_of_every_attribute() {
    let d = want(json!({"name": "v", "cidr": "10.0.0.0/16"}));
    let (action, attrs, reason) = compare(&d, None, false);
    assert_eq!(action, Action::Create);
    assert_eq!(names(&attrs), ["cidr", "name"]);
    assert!(attrs
        .iter()
        .all(|a| a.before.is_none() && a.after.is_some()));
    assert_eq!(reason, None);
}

#[test]
fn the_same_attributes_are_no_change() {
    let d = want(json!({"name": "v", "cidr": "10.0.0.0/16"}));
    // Live attributes the plan does not ask about are not compared.
    let l = live(
        json!({"name": "v", "cidr": "10.0.0.0/16", "id": "vpc-1"}),
        true,
    );
    assert_eq!(compare(&d, Some(&l), false), (Action::NoOp, vec![], None));
}

#[test]
fn a_changed_attribute_is_an_update_of_it_alone() {
    let d = want(json!({"name": "v", "description": "new"}));
    let l = live(json!({"name": "v", "description": "old"}), true);
    let (action, attrs, _) = compare(&d, Some(&l), false);
    assert_eq!(action, Action::Update);
    assert_eq!(names(&attrs), ["description"]);
    assert_eq!(attrs[0].before, Some(json!("old")));
    assert_eq!(attrs[0].after, Some(json!("new")));
    assert!(!attrs[0].forces_replacement);
}

#[test]
fn a_change_that_cannot_be_made_in_place_is_a_replace() {
    let d = want(json!({"name": "v", "cidr": "10.1.0.0/16", "description": "new"}))
        .forces_replacement(&["cidr"]);
    let l = live(
        json!({"name": "v", "cidr": "10.0.0.0/16", "description": "old"}),
        true,
    );
    let (action, attrs, _) = compare(&d, Some(&l), false);
    assert_eq!(action, Action::Replace);
    let cidr = attrs.iter().find(|a| a.name == "cidr").unwrap();
    assert!(cidr.forces_replacement);
}

#[test]
fn an_unowned_resource_is_an_update_that_names_the_ownership_and_adoption() {
    let d = want(json!({"name": "v"}));
    let l = live(json!({"name": "v"}), false);
    for (adopt, reason) in [
        (false, "exists without this plan's ownership tags"),
        (true, "adopt: add this plan's ownership tags"),
    ] {
        let (action, attrs, why) = compare(&d, Some(&l), adopt);
        assert_eq!(action, Action::Update);
        assert_eq!(names(&attrs), ["ownership"]);
        assert_eq!(attrs[0].before, Some(json!("unowned")));
        assert_eq!(attrs[0].after, Some(json!("owned")));
        assert_eq!(why.as_deref(), Some(reason));
    }
}

#[test]
fn a_sensitive_change_shows_neither_value_but_still_changes() {
    let d = want(json!({"name": "s", "value": "new-secret"})).sensitive("value");
    let l = live(json!({"name": "s", "value": "old-secret"}), true);
    let (action, attrs, _) = compare(&d, Some(&l), false);
    assert_eq!(action, Action::Update);
    let value = &attrs[0];
    assert!(value.sensitive);
    assert_eq!(value.before, Some(json!(SENSITIVE)));
    assert_eq!(value.after, None);
    assert!(value.changed(), "a view must still show `~`");
    // A create of it hides the value too.
    let (_, attrs, _) = compare(&d, None, false);
    let value = attrs.iter().find(|a| a.name == "value").unwrap();
    assert_eq!((value.before.as_ref(), value.after.as_ref()), (None, None));
}

#[test]
fn a_value_not_known_yet_is_a_change_even_where_live_shows_the_same_text() {
    let d = want(json!({"vpc": Unknown::TEXT, "name": "s"}));
    let l = live(json!({"vpc": Unknown::TEXT, "name": "s"}), true);
    let (action, attrs, _) = compare(&d, Some(&l), false);
    assert_eq!(action, Action::Update);
    assert_eq!(names(&attrs), ["vpc"]);
    // Inside a document too.
    let d = want(json!({"routes": [{"gateway": Unknown::TEXT}]}));
    let l = live(json!({"routes": [{"gateway": Unknown::TEXT}]}), true);
    assert_eq!(changed_attrs(&d, &l), ["routes".to_string()].into());
}

/// A type with two sensitive properties, declared as the catalogue declares its types: the
/// engine must hide both wherever a delete shows attributes.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct TwoSecrets {}

impl crate::plan::types::Member for TwoSecrets {
    fn into_kind(self) -> Kind {
        unreachable!("a test type is never in a plan")
    }
    fn from_kind(_: &Kind) -> Option<&Self> {
        None
    }
}

impl Declared for TwoSecrets {
    const NAME: &'static str = "test.two_secrets";
    const ATTRS: &'static [&'static str] = &["arn"];
    const FOUND: Found = Found::Local;
    const DELETE_RANK: u8 = 0;
    const REFERENCES: &'static [(&'static str, &'static str)] = &[];
    const SENSITIVE: &'static [&'static str] = &["value", "private_key"];
}

const SECRETS: [&str; 2] = ["hunter2-value", "hunter2-private-key"];

fn two_secrets_live() -> Live {
    live(
        json!({"name": "pair", "value": SECRETS[0], "private_key": SECRETS[1]}),
        true,
    )
}

/// A plan that deletes `attrs`, in every view.
fn views_of(attrs: Vec<AttrChange>) -> [String; 3] {
    let change = Change {
        id: "pair".into(),
        type_name: TwoSecrets::NAME.into(),
        partition: Some("china".into()),
        action: Action::Delete,
        attrs,
        reason: None,
    };
    let plan = ChangeSet {
        format_version: FORMAT_VERSION,
        plan: "p".into(),
        partitions: vec![PartitionInfo {
            name: "china".into(),
            partition: "aws-cn".into(),
            region: "cn-north-1".into(),
            account: None,
        }],
        changes: vec![change],
    };
    [
        text(&plan, Style { color: false }),
        markdown(&plan),
        json(&plan),
    ]
}

#[test]
fn a_delete_hides_every_property_its_type_declares_sensitive_in_every_view() {
    let attrs = deleted_attrs(Some(TwoSecrets::SENSITIVE), &two_secrets_live());
    let hidden: Vec<&str> = attrs
        .iter()
        .filter(|a| a.sensitive)
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(hidden, ["private_key", "value"]);
    assert!(attrs.iter().all(|a| !a.sensitive || a.before.is_none()));
    let [text, markdown, json] = views_of(attrs);
    for view in [&text, &markdown, &json] {
        for secret in SECRETS {
            assert!(!view.contains(secret), "{secret} shown:\n{view}");
        }
    }
    for name in ["value", "private_key"] {
        let line = format!("- {name} = {SENSITIVE}");
        assert!(text.contains(&line), "{text}");
        assert!(markdown.contains(&line), "{markdown}");
    }
    assert!(text.contains("- name = \"pair\""), "{text}");
    let v: Json = serde_json::from_str(&json).unwrap();
    let sensitive: Vec<&Json> = v["changes"][0]["attrs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["sensitive"] == true)
        .map(|a| &a["name"])
        .collect();
    assert_eq!(sensitive, [&json!("private_key"), &json!("value")]);
}

#[test]
fn a_delete_of_a_type_the_engine_does_not_know_hides_everything() {
    let attrs = delete_attrs("test.unknown", &two_secrets_live());
    assert!(attrs.iter().all(|a| a.sensitive && a.before.is_none()));
}

#[test]
fn a_real_type_hides_exactly_what_it_declares() {
    let l = live(
        json!({"name": "s", "value": "hunter2", "description": "d"}),
        true,
    );
    let attrs = delete_attrs("secretsmanager.secret", &l);
    let hidden: Vec<&str> = attrs
        .iter()
        .filter(|a| a.sensitive)
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(hidden, ["value"]);
    let attrs = delete_attrs("ec2.vpc", &live(json!({"name": "v"}), true));
    assert!(!attrs[0].sensitive);
}

fn orphan(id: &str, type_name: &str, replaced: bool) -> Orphan {
    Orphan {
        id: id.into(),
        type_name: type_name.into(),
        partition: "china".into(),
        live: live(json!({"name": id, "value": "hunter2"}), true),
        replaced,
    }
}

#[test]
fn an_orphan_is_a_delete_that_says_why_and_hides_its_sensitive_values() {
    let gone = Engine::orphan_change(&orphan("old", "secretsmanager.secret", false));
    assert_eq!(gone.action, Action::Delete);
    assert_eq!(gone.partition.as_deref(), Some("china"));
    assert_eq!(
        gone.reason.as_deref(),
        Some("owned by this plan, which no longer has it")
    );
    let value = gone.attrs.iter().find(|a| a.name == "value").unwrap();
    assert!(value.sensitive && value.before.is_none());
    let name = gone.attrs.iter().find(|a| a.name == "name").unwrap();
    assert_eq!(name.before, Some(json!("old")));

    let moved = Engine::orphan_change(&orphan("kept", "ec2.vpc", true));
    assert!(
        moved
            .reason
            .as_deref()
            .unwrap()
            .contains("owned by this plan as `kept`"),
        "{moved:?}"
    );
}

/// A plan of `n` VPCs in one partition.
fn plan_of_vpcs(n: usize) -> Plan {
    let mut text = String::from(
        "version: 1\nname: guard\npartitions:\n  china: {region: cn-north-1}\nresources:\n",
    );
    for i in 0..n {
        text.push_str(&format!(
            "  vpc{i}: {{type: ec2.vpc, partition: china, properties: {{name: v{i}, cidr: 10.{i}.0.0/16}}}}\n"
        ));
    }
    let (plan, findings) = crate::plan::load("guard.yaml", &text, &Default::default());
    plan.unwrap_or_else(|| panic!("{findings:?}"))
}

fn planned(plan: &Plan, action: Action, orphans: Vec<Orphan>) -> Planned {
    let steps = plan
        .resources
        .keys()
        .map(|id| (id.clone(), Step { live: None, action }))
        .collect();
    Planned {
        plan: plan_for(plan, vec![], |_| None),
        steps,
        unowned: vec![],
        orphans,
    }
}

#[test]
fn the_prune_guard_refuses_more_undeclared_deletes_than_declared_resources() {
    let plan = plan_of_vpcs(2);
    let orphans = |n: usize| -> Vec<Orphan> {
        (0..n)
            .map(|i| orphan(&format!("gone{i}"), "ec2.vpc", false))
            .collect()
    };
    assert!(planned(&plan, Action::NoOp, orphans(2))
        .prune_guard(&plan, false)
        .is_none());
    let guard = planned(&plan, Action::NoOp, orphans(3))
        .prune_guard(&plan, false)
        .expect("three undeclared against two declared");
    assert_eq!(guard.declared, 2);
    assert_eq!(guard.undeclared.len(), 3);
    assert_eq!(guard.undeclared[0], "gone0 (ec2.vpc, china)");
}

#[test]
fn the_prune_guard_does_not_count_a_renamed_resource() {
    let plan = plan_of_vpcs(1);
    let orphans = vec![
        orphan("vpc0", "ec2.vpc", true),
        orphan("other", "ec2.vpc", false),
    ];
    assert!(planned(&plan, Action::NoOp, orphans)
        .prune_guard(&plan, false)
        .is_none());
}

#[test]
fn on_destroy_the_prune_guard_counts_only_what_is_deleted_by_declaration() {
    let plan = plan_of_vpcs(2);
    let orphans = vec![orphan("gone", "ec2.vpc", false)];
    // Nothing of the plan exists to delete: one undeclared delete is more than none.
    let guard = planned(&plan, Action::NoOp, orphans.clone()).prune_guard(&plan, true);
    assert_eq!(guard.map(|g| g.declared), Some(0));
    assert!(planned(&plan, Action::Delete, orphans)
        .prune_guard(&plan, true)
        .is_none());
}
