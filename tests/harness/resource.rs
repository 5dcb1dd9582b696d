//! Resource type modules called directly (no binary): an engine context on the test-bed, and
//! what every type must keep true between `create`, `read`, `update`, `find_owned` and `delete`;
//! and the lifecycle steps each type's test takes, as terraform-provider-aws's acceptance steps
//! do (absent → create → read back → change in place → delete → absent), each checking what it
//! did the way the engine would see it.

use std::collections::BTreeSet;

use xpart::engine::resource::{Ctx, Live, Resource};

use super::{tempdir, Side, Testbed};

impl Testbed {
    /// An engine context for resource `id` of plan `plan` in one partition of this test-bed,
    /// for testing resource type modules directly. Local state goes to a fresh temp dir.
    pub async fn ctx(&self, side: Side, plan: &str, id: &str) -> Ctx {
        use std::sync::Arc;
        use xpart::engine::resource::{Options, PartCtx};
        let spec: xpart::plan::types::PartitionEntry = serde_yaml::from_str(&format!(
            "region: {}\nprofile: {}\ntimeouts: {{operation_ms: 60000}}",
            self.region(side),
            side.profile()
        ))
        .unwrap();
        let def = xpart::plan::PartitionDef::new(
            side.name(),
            xpart::partition::Partition::of_region(self.region(side)).unwrap(),
            spec,
        );
        let clients = xpart::aws::Clients::connect(
            &def,
            &xpart::aws::ConnectOptions {
                profile: None,
                config_file: Some(self.config_file().into()),
                log: None,
            },
        )
        .await;
        let dir = tempdir("ctx");
        let part = Arc::new({
            let p = PartCtx::new(def, clients);
            p.account.set(self.account(side).to_string()).unwrap();
            p
        });
        Ctx {
            owner: xpart::plan::PlanIdentity::new(plan, plan),
            id: id.to_string(),
            parts: Arc::new([(side.name().to_string(), part.clone())].into()),
            part: Some(part),
            base: dir.clone(),
            state_dir: dir.join(".xpart").join(plan),
            opts: Arc::new(Options::default()),
            notify: Arc::new(|_, _| {}),
            refs: Default::default(),
            scan: None,
            referenced: Default::default(),
            ext: Default::default(),
        }
    }
}

/// `cx` before the engine's identity check has answered: the caller's account is not known
/// yet (reads run alongside that check), so anything that needs it panics.
pub fn without_account(cx: &xpart::engine::resource::Ctx) -> xpart::engine::resource::Ctx {
    let p = cx.part();
    let mut c = cx.clone();
    c.part = Some(std::sync::Arc::new(xpart::engine::resource::PartCtx::new(
        p.def.clone(),
        p.clients.clone(),
    )));
    c
}

/// What `create` or `update` returned (`got`) is what `read` finds right after (done without
/// the account): outputs, attributes, ownership and handle; after the work the call left
/// running (a key's alias), as a run awaits it before it ends. Returns that read.
pub async fn assert_read_back<T: xpart::engine::resource::Resource>(
    p: &T,
    cx: &xpart::engine::resource::Ctx,
    got: &xpart::engine::resource::Live,
) -> xpart::engine::resource::Live {
    if let Some(part) = &cx.part {
        for (id, work) in part.tails() {
            work.await
                .unwrap()
                .unwrap_or_else(|e| panic!("{id}: the work create left failed: {e}"));
        }
    }
    let read = T::read(p, &without_account(cx))
        .await
        .unwrap()
        .expect("read finds what was made");
    assert_eq!(
        &read, got,
        "read (left) vs what create/update returned (right)"
    );
    read
}

/// `find_owned` as the engine calls it (`cx`'s plan and partition, no resource id) lists
/// `live` (what `read` returned) under `cx.id`: the same outputs and ownership, and each of its
/// attributes and handle fields but those in `except` (the plan decides them, and an orphan's
/// plan is not known). It may show attributes `read` leaves out for the plan's sake.
pub async fn assert_found_as_read<T: xpart::engine::resource::Resource>(
    cx: &xpart::engine::resource::Ctx,
    live: &xpart::engine::resource::Live,
    except: &[&str],
) {
    let mut all = cx.clone();
    all.id = String::new();
    let found = T::find_owned(&all).await.unwrap();
    let mine: Vec<_> = found.iter().filter(|(id, _)| *id == cx.id).collect();
    assert_eq!(
        mine.len(),
        1,
        "find_owned lists `{}` once: {found:#?}",
        cx.id
    );
    let got = &mine[0].1;
    assert_eq!(got.outputs, live.outputs);
    assert!(got.owned);
    for (k, v) in &live.attrs {
        if !except.contains(&k.as_str()) {
            assert_eq!(
                got.attrs.get(k),
                Some(v),
                "attribute {k}: {got:#?} vs {live:#?}"
            );
        }
    }
    let fields = |h: &serde_json::Value| -> serde_json::Value {
        match h {
            serde_json::Value::Object(m) => m
                .iter()
                .filter(|(k, _)| !except.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            other => other.clone(),
        }
    };
    assert_eq!(
        fields(got.handle_json()),
        fields(live.handle_json()),
        "handle"
    );
}

/// `find_owned` no longer lists `cx.id` (deleted, or on its way out).
pub async fn assert_not_found<T: xpart::engine::resource::Resource>(
    cx: &xpart::engine::resource::Ctx,
) {
    let mut all = cx.clone();
    all.id = String::new();
    let found = T::find_owned(&all).await.unwrap();
    assert!(
        found.iter().all(|(id, _)| *id != cx.id),
        "`{}` is still listed: {found:#?}",
        cx.id
    );
}

/// The attributes whose desired and live values differ: what a plan would show. The engine's
/// own function, so the tests judge a difference as the engine does.
pub use xpart::engine::resource::changed_attrs as diff;

pub fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The step before create and after delete: `read` finds nothing of `p`, and `find_owned`
/// lists nothing under `cx.id`.
pub async fn assert_absent<T: Resource>(p: &T, cx: &Ctx) {
    assert!(T::read(p, cx).await.unwrap().is_none(), "{} exists", cx.id);
    assert_not_found::<T>(cx).await;
}

/// Create's check: what `create` returned is what `read` finds right after, the plan `p` shows
/// no difference from it, and `find_owned` lists it as read (but for `except`). Returns that read.
pub async fn assert_created<T: Resource>(p: &T, cx: &Ctx, created: &Live, except: &[&str]) -> Live {
    let want = T::desired(p, cx).unwrap();
    let live = assert_read_back::<T>(p, cx, created).await;
    assert_eq!(diff(&want, &live), set(&[]));
    assert_found_as_read::<T>(&without_account(cx), &live, except).await;
    live
}

/// Change in place: the plan `p` differs from `live` in exactly `expect`; `update` leaves no
/// difference, and what it returned is what `read` finds right after. Returns that read.
pub async fn changed_in_place<T: Resource>(p: &T, live: &Live, cx: &Ctx, expect: &[&str]) -> Live {
    let want = T::desired(p, cx).unwrap();
    let changed = diff(&want, live);
    assert_eq!(changed, set(expect));
    let updated = T::update(p, live, &changed, cx).await.unwrap();
    assert_eq!(diff(&want, &updated), set(&[]));
    assert_read_back::<T>(p, cx, &updated).await
}

/// Delete: afterwards `p` is absent (by `read` and `find_owned`), and deleting again is
/// success, as the engine's retried delete needs.
pub async fn deleted<T: Resource>(p: &T, live: &Live, cx: &Ctx) {
    T::delete(live, cx).await.unwrap();
    assert_absent::<T>(p, cx).await;
    T::delete(live, cx).await.unwrap();
}
