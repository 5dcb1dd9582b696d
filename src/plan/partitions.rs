//! The plan's partitions: region, partition, account and tuning of each, checked.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml::Value;

use super::loader::{entries, Entries, Loader};
use super::types::PartitionEntry;
use super::{PartitionDef, Path};
use crate::diag::Finding;
use crate::partition::Partition;

/// The partitions as loaded.
#[derive(Debug, Default)]
pub(super) struct Partitions {
    pub(super) defs: BTreeMap<String, PartitionDef>,
    /// Declared but unusable (malformed, unknown region): already reported, so resources in
    /// them are skipped quietly instead of each repeating the same problem.
    broken: BTreeSet<String>,
    /// `partitions` is missing or not a mapping: every partition a resource names is unknown.
    all_broken: bool,
}

impl Partitions {
    /// Each partition on its own, like variables.
    pub(super) fn read(l: &mut Loader, value: Option<Value>) -> Partitions {
        let at = Path::root().key("partitions");
        let mut parts = Partitions::default();
        let missing = value.is_none();
        let mut specs: BTreeMap<String, PartitionEntry> = BTreeMap::new();
        match entries(l, value, &at) {
            Entries::All(m) => {
                for (k, v) in m {
                    match l.typed(v, &at.key(&k)) {
                        Some(ps) => {
                            specs.insert(k, ps);
                        }
                        None => {
                            parts.broken.insert(k);
                        }
                    }
                }
            }
            Entries::Broken => parts.all_broken = true,
        }
        if missing {
            l.push(
                Finding::error("XP004", "missing field `partitions` in the plan")
                    .at(l.src.span(0, 1))
                    .hint("add `partitions:` with a region for each"),
            );
            parts.all_broken = true;
        }
        for (pname, ps) in specs {
            let at = at.key(&pname);
            match check(l, &at, &ps) {
                Some(partition) => {
                    parts
                        .defs
                        .insert(pname.clone(), PartitionDef::new(&pname, partition, ps));
                }
                None => {
                    parts.broken.insert(pname);
                }
            }
        }
        parts
    }

    /// Whether partition `name` is unusable and reported already.
    pub(super) fn reported(&self, name: &str) -> bool {
        self.broken.contains(name) || self.all_broken
    }

    /// The declared partitions' names, for hints.
    pub(super) fn names(&self) -> String {
        self.defs.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// The partition of one declaration's region, or None (reported) when it has none.
fn check(l: &mut Loader, at: &Path, ps: &PartitionEntry) -> Option<Partition> {
    let Some(partition) = Partition::of_region(&ps.region) else {
        l.push(
            Finding::error("XP030", format!("region `{}` is not in a partition xpart knows", ps.region))
                .at(l.src.value_span(&at.key("region")))
                .hint("use a commercial region (e.g. us-west-2) or a China region (cn-north-1, cn-northwest-1)"),
        );
        return None;
    };
    if let Some(declared) = &ps.partition {
        if declared != partition.id() {
            l.push(
                Finding::error(
                    "XP030",
                    format!(
                        "region `{}` is in partition {partition}, not {declared}",
                        ps.region
                    ),
                )
                .at(l.src.value_span(&at.key("region")))
                .hint(format!(
                    "pick a region of {declared} ({})",
                    Partition::from_id(declared)
                        .map(|p| p.regions().join(", "))
                        .unwrap_or_else(|| "unknown partition".into())
                )),
            );
        }
    }
    if let Some(acct) = &ps.account {
        if acct.len() != 12 || !acct.chars().all(|c| c.is_ascii_digit()) {
            l.push(
                Finding::error(
                    "XP031",
                    format!("account `{acct}` is not a 12-digit account id"),
                )
                .at(l.src.value_span(&at.key("account")))
                .hint("quote it as a string of 12 digits, e.g. \"111122223333\""),
            );
        }
    }
    Some(partition)
}
