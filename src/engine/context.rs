//! What a resource type call runs with: the partition (clients, account), the plan's
//! identity, the run's options, and the outputs of the resources it depends on.
//!
//! What one type keeps for itself (Roles Anywhere's tag memo, the serials a secret's CA
//! revokes, the account principal KMS writes) is not a field here: the engine would then name
//! every type's concepts. It rides in typed slots instead (`Extensions` on `Ctx`, `Slots` on
//! `PartCtx` and the read phase's `Scan`), keyed by a type the owning module declares, as
//! `http::Extensions` does; the engine fills them without knowing what they hold.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value as Json;

use super::error::{Error, Result};
pub use super::slots::{Extensions, Slots};
use super::state::Live;
use super::tags::{owned_id, TAG_ID, TAG_LINEAGE, TAG_PLAN};
use crate::aws::Clients;
use crate::plan::{PartitionDef, PlanIdentity};

/// Options of one run that resource types act on.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Delete secrets without a recovery window (tests), whatever the plan says.
    pub force_delete_secrets: bool,
    /// How long to retry IAM eventual-consistency errors (default 2 min, as the Terraform AWS
    /// provider does) and KMS ones (3 min).
    pub iam_propagation: Option<Duration>,
    pub kms_propagation: Option<Duration>,
    /// Wait for EC2 instances to terminate before deleting what they use (default 10 min).
    pub ec2_wait: Option<Duration>,
}

/// A note from a type to whoever shows progress (`attempt 2/8: throttled`, `waiting for…`).
pub type Notify = Arc<dyn Fn(&str, String) + Send + Sync>;

/// One partition as the engine works in it.
#[derive(Debug)]
pub struct PartCtx {
    pub def: PartitionDef,
    pub clients: Clients,
    /// The caller's account (from STS), for ARNs and `${partitions.NAME.account}`. Set once
    /// the identity check is done, which runs alongside the reads: reads must not need it.
    pub account: std::sync::OnceLock<String>,
    /// The caller's ARN, set with `account`.
    pub caller: std::sync::OnceLock<String>,
    /// Lookups a read started for the create that may follow, by resource id (see
    /// `PartCtx::stash`).
    lookups: std::sync::Mutex<BTreeMap<String, tokio::task::JoinHandle<Result<Option<Live>>>>>,
    /// Work a create left running because nothing in the plan waits for it (a key's alias
    /// that no resource refers to), by resource id: the run awaits it before it ends.
    tails: std::sync::Mutex<Vec<(String, tokio::task::JoinHandle<Result<()>>)>>,
    /// What type modules keep for the partition, for the whole run (KMS: the account
    /// principal as it writes it).
    pub slots: Slots,
}

impl PartCtx {
    pub fn new(def: PartitionDef, clients: Clients) -> PartCtx {
        PartCtx {
            def,
            clients,
            account: std::sync::OnceLock::new(),
            caller: std::sync::OnceLock::new(),
            lookups: Default::default(),
            tails: Default::default(),
            slots: Default::default(),
        }
    }

    /// Leave `work` running for resource `id`; the run awaits it before it ends (`tails`).
    pub fn defer(&self, id: &str, work: tokio::task::JoinHandle<Result<()>>) {
        self.tails.lock().unwrap().push((id.to_string(), work));
    }

    /// The work left running so far (taken).
    pub fn tails(&self) -> Vec<(String, tokio::task::JoinHandle<Result<()>>)> {
        std::mem::take(&mut *self.tails.lock().unwrap())
    }

    /// Keep a lookup running for resource `id`'s create: a read that answers from the scan
    /// starts the exact (slower) search a create must not skip, so the create finds it done.
    pub fn stash(&self, id: &str, lookup: tokio::task::JoinHandle<Result<Option<Live>>>) {
        let old = self.lookups.lock().unwrap().insert(id.to_string(), lookup);
        if let Some(old) = old {
            old.abort();
        }
    }

    /// The lookup a read stashed for `id`, if any (taken: it answers once).
    pub fn take_lookup(&self, id: &str) -> Option<tokio::task::JoinHandle<Result<Option<Live>>>> {
        self.lookups.lock().unwrap().remove(id)
    }

    /// The caller's account; only after the identity check (see `account`).
    pub fn account(&self) -> &str {
        self.account
            .get()
            .map(String::as_str)
            .expect("the caller's account is known before it is used (identity check first)")
    }
}

/// What a resource type call runs with. Cheap to clone; moved into each job.
#[derive(Clone)]
pub struct Ctx {
    /// Who owns what this plan makes: the `xpart:plan` and `xpart:lineage` tags.
    pub owner: PlanIdentity,
    /// This resource's id: the `xpart:id` tag.
    pub id: String,
    /// None for local types (pki.*), except one that uses an AWS resource (a CA held by a KMS
    /// key): the partition of that resource.
    pub part: Option<Arc<PartCtx>>,
    /// Every partition of the plan, by name: for a call into another partition than the
    /// resource's own (a certificate signed by a CA whose KMS key lives elsewhere).
    pub parts: Arc<BTreeMap<String, Arc<PartCtx>>>,
    /// The directory relative paths in the plan are read from (the plan file's).
    pub base: PathBuf,
    /// Where local state of this plan lives (`<base>/.xpart/<plan>`): PKI files, the lock.
    pub state_dir: PathBuf,
    pub opts: Arc<Options>,
    pub notify: Notify,
    /// The outputs of the resources this one depends on, by resource id, as the executor knows
    /// them (from `read` while planning, from `create`/`update` during apply): what a type
    /// needs of a dependency beyond the rendered reference. `pki.cert` and
    /// `rolesanywhere.trust_anchor` get only the CA's id in `ca` and take its files and PEM
    /// from here. A dependency not yet created is absent; an output that will change reads
    /// `unknown::Unknown`.
    pub refs: BTreeMap<String, BTreeMap<String, String>>,
    /// The partition's scan, in the read phase only (see `engine::scan`); None elsewhere, so
    /// every lookup made while writing asks AWS.
    pub scan: Option<Arc<super::scan::Scan>>,
    /// This resource's outputs that other resources of the plan refer to (`${id.attr}`): what
    /// must be in place before a resource that uses it starts.
    pub referenced: Arc<std::collections::BTreeSet<String>>,
    /// What this call's type keeps for itself (see the module head): what the type's
    /// `Resource::prepare` set from the plan, and `PlannedNames` for `find_owned`.
    pub ext: Extensions,
}

/// For `find_owned`: the names (`Resource::NAME_PROPERTY`) of the type that the plan itself
/// has in the partition. Their resources were just read by name, so a listing need not look
/// them up again (which, for IAM and KMS, costs a call per item).
#[derive(Debug, Default)]
pub struct PlannedNames(pub std::collections::BTreeSet<String>);

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("owner", &self.owner.name)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Ctx {
    /// The partition's context; types other than pki.* always have one.
    pub fn part(&self) -> &PartCtx {
        self.part
            .as_deref()
            .expect("AWS resource types run with a partition")
    }
    pub fn clients(&self) -> &Clients {
        &self.part().clients
    }
    /// The partition named `name`, for a call outside this resource's own.
    pub fn partition(&self, name: &str) -> Result<&PartCtx> {
        self.parts
            .get(name)
            .map(|p| &**p)
            .ok_or_else(|| Error::other(format!("partition `{name}` is not connected")))
    }
    /// `arn:<partition>:<service>:<region>:<account>:<resource>` in this partition.
    pub fn arn(&self, service: &str, region: &str, resource: &str) -> String {
        let p = self.part();
        p.def.partition.arn(service, region, p.account(), resource)
    }
    /// Wrap an SDK error with the operation and partition.
    pub fn aws<E>(&self, op: &str, e: aws_sdk_sts::error::SdkError<E>) -> Error
    where
        E: aws_sdk_sts::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        Error::from(self.clients().error(op, e))
    }
    /// Await one SDK call (the future `send()` returns), its error wrapped with the operation
    /// and partition.
    pub async fn call<T, E>(
        &self,
        op: &str,
        sent: impl std::future::Future<Output = std::result::Result<T, aws_sdk_sts::error::SdkError<E>>>,
    ) -> Result<T>
    where
        E: aws_sdk_sts::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        sent.await.map_err(|e| self.aws(op, e))
    }
    /// `call`, for a call whose answer is not needed.
    pub async fn run<T, E>(
        &self,
        op: &str,
        sent: impl std::future::Future<Output = std::result::Result<T, aws_sdk_sts::error::SdkError<E>>>,
    ) -> Result<()>
    where
        E: aws_sdk_sts::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        self.call(op, sent).await.map(|_| ())
    }
    /// The ownership tags this resource gets, plus the plan's own `tags`.
    pub fn tags(&self, extra: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut t = extra.clone();
        for (k, v) in self.ownership_tags() {
            t.insert(k.into(), v.to_string());
        }
        t
    }
    /// The ownership tags alone: plan, lineage and id.
    pub fn ownership_tags(&self) -> [(&'static str, &str); 3] {
        [
            (TAG_PLAN, self.owner.name.as_str()),
            (TAG_LINEAGE, self.owner.lineage.as_str()),
            (TAG_ID, self.id.as_str()),
        ]
    }
    /// Whether `tags` mark a resource as this one: this plan's, of this lineage, this id.
    pub fn owns<'a>(&self, tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> bool {
        owned_id(&self.owner, tags).is_some_and(|id| id == self.id)
    }
    /// The user tags `live` has that the plan (`extra` plus ownership) no longer wants: what an
    /// update must untag. Empty unless `retag`.
    pub fn stale_tags(
        &self,
        live: &Live,
        extra: &BTreeMap<String, String>,
        retag: bool,
    ) -> Vec<String> {
        if !retag {
            return vec![];
        }
        self.stale_in(live.attrs.get("tags"), extra)
    }
    /// The keys of `live_tags` (a live `tags` attribute) that neither `extra` nor the ownership
    /// tags have.
    pub fn stale_in(
        &self,
        live_tags: Option<&Json>,
        extra: &BTreeMap<String, String>,
    ) -> Vec<String> {
        let want = self.tags(extra);
        live_tags
            .and_then(Json::as_object)
            .map(|m| {
                m.keys()
                    .filter(|k| !want.contains_key(*k))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
    /// Whether the plan has a resource of this type named `name` here (`PlannedNames`).
    pub fn planned_name(&self, name: &str) -> bool {
        self.ext
            .get::<PlannedNames>()
            .is_some_and(|n| n.0.contains(name))
    }
    pub fn say(&self, msg: impl Into<String>) {
        (self.notify)(&self.id, msg.into());
    }
    /// Replace `${partitions.<this>.account}` (left in generated policies when the plan gives
    /// no expected account) with the caller's account.
    pub fn fill_account(&self, doc: Json) -> Json {
        let p = self.part();
        let marker = format!("${{partitions.{}.account}}", p.def.name);
        fn walk(v: Json, marker: &str, account: &str) -> Json {
            match v {
                Json::String(s) => Json::String(s.replace(marker, account)),
                Json::Array(a) => {
                    Json::Array(a.into_iter().map(|x| walk(x, marker, account)).collect())
                }
                Json::Object(m) => Json::Object(
                    m.into_iter()
                        .map(|(k, x)| (k, walk(x, marker, account)))
                        .collect(),
                ),
                other => other,
            }
        }
        walk(doc, &marker, p.account())
    }
    pub fn iam_propagation(&self) -> Duration {
        self.opts
            .iam_propagation
            .unwrap_or(Duration::from_secs(120))
    }
    /// How long a read may miss what was just created, in this partition (`Tuning::read_lag`).
    pub fn read_lag(&self) -> Duration {
        self.clients().tuning.read_lag
    }
    /// How long the lookup after an uncertain create looks before it creates again: a quarter
    /// of the read lag (30 s by default). Shorter than a read of something known to exist may
    /// wait, because it is paid by every attempt that did not reach the service (a reset before
    /// the request was read) on the run's critical path; longer than EC2's usual lag of
    /// seconds. A create that stays invisible longer can be made twice (see docs/design.md).
    pub fn lookup_lag(&self) -> Duration {
        self.read_lag() / 4
    }
    pub fn kms_propagation(&self) -> Duration {
        self.opts
            .kms_propagation
            .unwrap_or(Duration::from_secs(180))
    }
    /// An output of dependency `id` (see `refs`); None while it is not known.
    pub fn dep_output(&self, id: &str, attr: &str) -> Option<&str> {
        self.refs
            .get(id)?
            .get(attr)
            .map(String::as_str)
            .filter(|v| !crate::unknown::Unknown::is(v))
    }
    /// Resolve a path from the plan against the plan file's directory.
    pub fn path(&self, p: &str) -> PathBuf {
        let p = PathBuf::from(p);
        if p.is_absolute() {
            p
        } else {
            self.base.join(p)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, PartialEq)]
    struct Memo(u32);

    #[test]
    fn extensions_answer_by_type_and_share_on_clone() {
        let mut ext = Extensions::default();
        assert_eq!(ext.get::<Memo>(), None);
        ext.insert(Memo(1));
        ext.insert(String::from("other"));
        let copy = ext.clone();
        assert_eq!(copy.get::<Memo>(), Some(&Memo(1)));
        assert_eq!(copy.get::<String>().map(String::as_str), Some("other"));
    }

    #[test]
    fn a_slot_is_made_once_and_shared() {
        let slots = Slots::default();
        let a = slots.get::<std::sync::Mutex<Vec<u8>>>();
        a.lock().unwrap().push(7);
        assert_eq!(
            *slots.get::<std::sync::Mutex<Vec<u8>>>().lock().unwrap(),
            [7]
        );
        assert!(Arc::ptr_eq(&a, &slots.get()));
    }
}
