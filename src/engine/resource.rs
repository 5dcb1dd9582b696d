//! The contract every resource type implements, and the vocabulary a type module needs, in
//! one import: its context (`context`), live and desired state (`state`), errors (`error`),
//! ownership tags (`tags`) and the engine's retries (`retry`).
//!
//! A type module (one per plan type, in `engine/types/`) knows how to find its resource, what
//! attributes to compare, and how to create, update and delete it. It never decides *whether*
//! to do so: the planner compares `Desired` with `Live` and the executor calls the type.
//!
//! Facts about a type that only the engine acts on (whether its reads lag its creates, which
//! property names it for the orphan search, what it keeps from the plan between read and
//! apply) are items of `Resource`, declared in the type's module and read by the run through
//! the generated dispatch (`with_type!`), so the run never tests a type's name. Facts every
//! layer needs (its name, attributes, sensitive properties) stay on `plan::types::Declared`,
//! which knows nothing of the engine.

use std::collections::BTreeSet;
use std::future::Future;

use crate::plan::types::Declared;

pub use super::context::{Ctx, Extensions, Notify, Options, PartCtx, PlannedNames, Slots};
pub use super::error::{Error, Result};
pub use super::retry::{
    create_once, jitter, retry_propagation, until_seen, until_seen_for, Propagation,
};
pub use super::state::{changed_attrs, Attrs, Desired, Handle, Live};
pub use super::tags::{
    is_xpart_tag, owned_id, owned_in_order, plan_tags, sorted, user_tags, TAG_ID, TAG_LINEAGE,
    TAG_PLAN,
};

/// The engine's part of one plan resource type, implemented on its typed properties (with
/// every reference rendered: during planning, a reference to something not yet created reads
/// `unknown::Unknown`). The dispatch is generated from the type catalogue
/// (`plan::types::with_props!`), so a type without this impl does not compile.
///
/// Each method makes as few calls as it can: `read` at most a handful, all reads.
pub trait Resource: Declared {
    /// Whether a read may miss what a create just made for a while, so that a run confirms
    /// each of its creates by reading it back (`until_seen`) before it ends. Types that find
    /// their resources through the tag index have a search of their own for its lag and
    /// answer false.
    const READS_LAG: bool;

    /// The property that names the resource uniquely in its partition, if any: the orphan
    /// search skips the names the plan has (`PlannedNames`), which were just read by name.
    const NAME_PROPERTY: Option<&'static str>;

    /// Keep what the type needs from the whole plan (not only its own properties) for
    /// resource `id`, in `ext`, which every call for `id` gets as `Ctx::ext`. Pure; most
    /// types keep nothing.
    fn prepare(plan: &crate::plan::Plan, id: &str, ext: &mut Extensions) {
        let _ = (plan, id, ext);
    }
    /// What update and delete need besides the outputs, kept in `Live` (`Live::with_handle`,
    /// `Live::handle`); `()` when nothing. A struct with a stable serde shape: the saved plan
    /// writes it.
    type Handle: Handle;

    /// The attributes the plan asks for. Pure: no calls.
    fn desired(p: &Self, cx: &Ctx) -> Result<Desired>;

    /// Find the live resource: by name where names are unique (reporting `owned` from its
    /// tags), else by the ownership tags. None when it does not exist (deleted or pending
    /// deletion counts as not existing unless it can be restored in place).
    fn read(p: &Self, cx: &Ctx) -> impl Future<Output = Result<Option<Live>>> + Send;

    /// Create it, tagged as owned; must not duplicate after an uncertain outcome (see the
    /// design doc's table): look up by tags before creating again.
    fn create(p: &Self, cx: &Ctx) -> impl Future<Output = Result<Live>> + Send;

    /// Bring the live resource to the plan; `changed` names the differing attributes. When
    /// `live.owned` is false this is an adoption: add the ownership tags too.
    fn update(
        p: &Self,
        live: &Live,
        changed: &BTreeSet<String>,
        cx: &Ctx,
    ) -> impl Future<Output = Result<Live>> + Send;

    /// Delete it (and what only it holds: inline policies, associations, aliases). Deleting
    /// something already gone is success.
    fn delete(live: &Live, cx: &Ctx) -> impl Future<Output = Result<()>> + Send;

    /// Every live resource of this type in `cx`'s partition owned by `cx.owner` (`owned_id`),
    /// with its `xpart:id`, each as `read` would describe it (so `delete` can take it): how
    /// resources the plan no longer has are found without a state file.
    /// Local types have none to find: they answer empty. No default, so that a new partition
    /// type cannot leave its orphans unfound by forgetting this.
    fn find_owned(cx: &Ctx) -> impl Future<Output = Result<Vec<(String, Live)>>> + Send;
}
