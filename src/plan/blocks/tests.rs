//! Unit tests of blocks: expansion, ids, scope, outputs and where findings point.

use super::super::{load, LoadOptions};

const FLEET: &str = include_str!("../../../plans/fleet.yaml");

#[test]
fn the_fleet_expands_into_twenty_workloads_of_four_resources() {
    let (spec, findings) = load("plans/fleet.yaml", FLEET, &LoadOptions::default());
    assert!(findings.is_empty(), "{findings:#?}");
    let spec = spec.unwrap();
    let ids: Vec<&str> = spec.resources.keys().map(String::as_str).collect();
    assert_eq!(ids.len(), 3 + 20 * 4, "{ids:?}");
    for shared in ["ca_key", "root_ca", "trust_anchor"] {
        assert!(spec.resources.contains_key(shared), "{shared}");
    }
    let orders: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|i| i.starts_with("workloads.orders."))
        .collect();
    assert_eq!(
        orders,
        [
            "workloads.orders.app_secret",
            "workloads.orders.client_cert",
            "workloads.orders.profile",
            "workloads.orders.role"
        ]
    );
    // Each instance's references are its own; shared ones come in through inputs.
    let role = &spec.resources["workloads.orders.role"];
    let deps: Vec<&str> = role.deps.iter().map(String::as_str).collect();
    assert_eq!(deps, ["trust_anchor", "workloads.orders.app_secret"]);
    let trust = &role.properties["trust"]["roles_anywhere"];
    assert_eq!(trust["subject_cn"].as_str(), Some("fleet-orders"));
    let audit = &spec.resources["workloads.audit.role"].properties;
    assert_eq!(
        audit["trust"]["roles_anywhere"]["subject_cn"].as_str(),
        Some("fleet-audit-eu")
    );
    assert_eq!(
        audit["name"].as_str(),
        Some("xpart-fleet-audit-dev"),
        "variables and each.key rendered"
    );
    // The dependency order puts every instance after what it uses.
    let pos = |id: &str| spec.order.iter().position(|o| o == id).unwrap();
    assert!(pos("trust_anchor") < pos("workloads.tax.role"));
    assert!(pos("workloads.tax.role") < pos("workloads.tax.profile"));
}
