//! Ownership tags: what marks a resource as one plan's, and tags as compared attributes.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::state::Live;
use crate::plan::PlanIdentity;

/// The tag naming the plan that owns a resource (its identity, rendered).
pub const TAG_PLAN: &str = "xpart:plan";

/// The tag telling that plan from another whose name renders alike (see `PlanIdentity`).
pub const TAG_LINEAGE: &str = "xpart:lineage";

/// The tag naming the resource's id in that plan.
pub const TAG_ID: &str = "xpart:id";

/// A plan identity as part of an AWS name (a lease secret's, an IAM path's): letters and
/// digits and `punctuation` kept, any other character `-`, at most `max` characters. Two
/// identities may come out alike: where that matters, the caller adds a digest.
pub fn name_part(identity: &str, punctuation: &str, max: usize) -> String {
    identity
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || punctuation.contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(max)
        .collect()
}

/// Whether a tag key is one of xpart's own (ownership, or facts xpart keeps on a resource, such
/// as an issued certificate's): never a user tag, and lint refuses user tags under `xpart:`.
pub fn is_xpart_tag(k: &str) -> bool {
    k.starts_with("xpart:")
}

/// The `xpart:id` among `tags`, if they mark the resource as `owner`'s: `xpart:plan` and
/// `xpart:lineage` both match. A resource of a plan whose name only renders alike, or one made
/// before lineages (no `xpart:lineage`), is not this plan's: it is never changed or deleted.
pub fn owned_id<'a>(
    owner: &PlanIdentity,
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<String> {
    let (mut plan, mut lineage, mut id) = (false, false, None);
    for (k, v) in tags {
        plan |= k == TAG_PLAN && v == owner.name;
        lineage |= k == TAG_LINEAGE && v == owner.lineage;
        if k == TAG_ID {
            id = Some(v.to_string());
        }
    }
    id.filter(|_| plan && lineage)
}

/// `find_owned`'s answer in a stable order (by id, then AWS id). Two may carry the same id: a
/// copy of the tags made outside xpart, or a replacement cut short. All are kept: the engine
/// deletes every one that is not the resource `read` found for that id.
pub fn owned_in_order(mut found: Vec<(String, Live)>) -> Vec<(String, Live)> {
    let aws_id = |l: &Live| l.outputs.get("id").cloned();
    found.sort_by(|(a, la), (b, lb)| (a, aws_id(la)).cmp(&(b, aws_id(lb))));
    found
}

/// Strings of a JSON list attribute, sorted: list order rarely means anything to AWS.
pub fn sorted(items: impl IntoIterator<Item = impl Into<String>>) -> Json {
    let mut v: Vec<String> = items.into_iter().map(Into::into).collect();
    v.sort();
    v.dedup();
    Json::from(v)
}

/// The user's tags (without ours) as a JSON object, for comparison.
pub fn user_tags<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> Json {
    let m: serde_json::Map<String, Json> = tags
        .into_iter()
        .filter(|(k, _)| !is_xpart_tag(k))
        .map(|(k, v)| (k.to_string(), Json::from(v)))
        .collect();
    Json::Object(m)
}

/// The plan's tags as `user_tags` shows them.
pub fn plan_tags(tags: &BTreeMap<String, String>) -> Json {
    user_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}
