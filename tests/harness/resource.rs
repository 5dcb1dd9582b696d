//! Resource type modules called directly (no binary): an engine context on the test-bed, and
//! what every type must keep true between `create`, `read`, `update`, `find_owned` and `delete`.

use super::{tempdir, Testbed};
use crate::harness::Side;

impl Testbed {
    /// An engine context for resource `id` of plan `plan` in one partition of this test-bed,
    /// for testing resource type modules directly. Local state goes to a fresh temp dir.
    pub async fn ctx(&self, side: Side, plan: &str, id: &str) -> xpart::engine::resource::Ctx {
        use std::sync::Arc;
        use xpart::engine::resource::{Ctx, Options, PartCtx};
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
            skip_names: Default::default(),
            scan: None,
            ra_tags: None,
            revoked: Default::default(),
            referenced: Default::default(),
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
    assert_eq!(fields(&got.handle), fields(&live.handle), "handle");
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
