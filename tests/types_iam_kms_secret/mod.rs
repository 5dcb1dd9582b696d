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

mod iam;
mod kms;
mod secret;

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

/// A test of one resource `id` in `side`: the shared test-bed, a plan name of its own, and a
/// context for it.
fn in_partition(side: Side, id: &str, test: impl AsyncFnOnce(&'static Testbed, String, Ctx)) {
    let tb = harness::testbed();
    harness::rt().block_on(async {
        let plan = harness::unique("p");
        let cx = ctx(tb, side, &plan, id).await;
        test(tb, plan, cx).await
    })
}

/// [`in_partition`] China, where most types' tests run.
fn in_china(id: &str, test: impl AsyncFnOnce(&'static Testbed, String, Ctx)) {
    in_partition(Side::China, id, test)
}
