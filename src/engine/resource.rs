//! The contract every resource type implements, and what the types share: the context they run
//! in, live and desired state, ownership tags, errors, and the two retry helpers the engine owns.
//!
//! A type module (one per plan type, in `engine/types/`) knows how to find its resource, what
//! attributes to compare, and how to create, update and delete it. It never decides *whether*
//! to do so: the planner compares `Desired` with `Live` and the executor calls the type.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use crate::aws::{AwsError, Clients};
use crate::pki::PkiError;
use crate::spec::types::Declared;
use crate::spec::{PartitionDef, PlanIdentity};

/// The tag naming the plan that owns a resource (its identity, rendered).
pub const TAG_PLAN: &str = "xpart:plan";
/// The tag telling that plan from another whose name renders alike (see `PlanIdentity`).
pub const TAG_LINEAGE: &str = "xpart:lineage";
/// The tag naming the resource's id in that plan.
pub const TAG_ID: &str = "xpart:id";

/// Whether a tag key is one of xpart's ownership tags (never a user tag).
pub fn is_ownership_tag(k: &str) -> bool {
    k == TAG_PLAN || k == TAG_ID || k == TAG_LINEAGE
}

/// Comparable attributes, by name.
pub type Attrs = BTreeMap<String, Json>;

/// A resource as it exists.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Live {
    /// What other resources may reference as `${id.attr}` (the type's attributes in
    /// `spec::types::TYPES`): arn, id, name…
    pub outputs: BTreeMap<String, String>,
    /// Attributes compared with `Desired::attrs` (same names, same JSON shapes).
    pub attrs: Attrs,
    /// It carries `xpart:plan` = this plan and `xpart:id` = this resource's id.
    pub owned: bool,
    /// Whatever update and delete need besides `outputs` (association ids, key id…).
    pub handle: Json,
}

/// What the plan asks for, in the same terms as `Live::attrs`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Desired {
    pub attrs: Attrs,
    /// Attributes never shown (secret values): the plan says `(sensitive)`.
    pub sensitive: BTreeSet<String>,
    /// Attributes that cannot change in place: a difference replaces the resource.
    pub replace_on: BTreeSet<String>,
}

impl Desired {
    /// Nothing yet, with the attributes type `T` declares sensitive marked so.
    pub fn of<T: Declared>() -> Desired {
        Desired {
            sensitive: T::SENSITIVE.iter().map(|k| k.to_string()).collect(),
            ..Desired::default()
        }
    }
    pub fn attr(mut self, name: &str, v: impl Into<Json>) -> Desired {
        self.attrs.insert(name.to_string(), v.into());
        self
    }
    pub fn sensitive(mut self, name: &str) -> Desired {
        self.sensitive.insert(name.to_string());
        self
    }
    pub fn forces_replacement(mut self, names: &[&str]) -> Desired {
        self.replace_on.extend(names.iter().map(|n| n.to_string()));
        self
    }
}

/// A failure inside one resource type; the executor adds the resource id.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Boxed: an AWS error carries several strings, and every `Result` of the engine would
    /// otherwise be that large.
    #[error(transparent)]
    Aws(Box<AwsError>),
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// Anything else, already phrased for people.
    #[error("{0}")]
    Other(String),
}

impl From<AwsError> for Error {
    fn from(e: AwsError) -> Error {
        Error::Aws(Box::new(e))
    }
}

impl Error {
    pub fn other(msg: impl Into<String>) -> Error {
        Error::Other(msg.into())
    }
    pub fn aws(&self) -> Option<&AwsError> {
        match self {
            Error::Aws(e) => Some(e.as_ref()),
            _ => None,
        }
    }
    /// The service's error code, if this is a service error.
    pub fn code(&self) -> Option<&str> {
        self.aws().and_then(|e| e.code.as_deref())
    }
    pub fn is_transient(&self) -> bool {
        self.aws().is_some_and(|e| e.transient)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

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
    /// Lookups a read started for the create that may follow, by resource id (see
    /// `PartCtx::stash`).
    lookups: std::sync::Mutex<BTreeMap<String, tokio::task::JoinHandle<Result<Option<Live>>>>>,
}

impl PartCtx {
    pub fn new(def: PartitionDef, clients: Clients) -> PartCtx {
        PartCtx {
            def,
            clients,
            account: std::sync::OnceLock::new(),
            lookups: Default::default(),
        }
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
    /// None for local types (pki.*).
    pub part: Option<Arc<PartCtx>>,
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
    /// `plan::UNKNOWN`.
    pub refs: BTreeMap<String, BTreeMap<String, String>>,
    /// For `find_owned`: names (KMS: aliases) of this type that the plan itself has in this
    /// partition. Their resources were just read by name, so a listing need not look them up
    /// again (which, for IAM and KMS, costs a call per item).
    pub skip_names: Arc<std::collections::BTreeSet<String>>,
    /// The partition's scan, in the read phase only (see `engine::scan`); None elsewhere, so
    /// every lookup made while writing asks AWS.
    pub scan: Option<Arc<super::scan::Scan>>,
}

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
        let want = self.tags(extra);
        live.attrs
            .get("tags")
            .and_then(Json::as_object)
            .map(|m| {
                m.keys()
                    .filter(|k| !want.contains_key(*k))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
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
            .filter(|v| *v != crate::plan::UNKNOWN)
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

/// The engine's part of one plan resource type, implemented on its typed properties (with
/// every reference rendered: during planning, a reference to something not yet created reads
/// `crate::plan::UNKNOWN`). The dispatch is generated from the type catalogue
/// (`spec::types::with_props!`), so a type without this impl does not compile.
///
/// Each method makes as few calls as it can: `read` at most a handful, all reads.
pub trait Resource: Declared {
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
    fn find_owned(cx: &Ctx) -> impl Future<Output = Result<Vec<(String, Live)>>> + Send {
        let _ = cx;
        async { Ok(vec![]) }
    }
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

/// How many per-item lookups of a listing `lookup_all` has in flight at once.
pub const LOOKUPS_AT_ONCE: usize = 8;

/// `f` on every item of a listing (the tags of each role, key or anchor, which the listing
/// itself does not return), `LOOKUPS_AT_ONCE` at a time, keeping the `Some` answers in no
/// particular order. The first error ends it (the lookups still running are dropped).
pub async fn lookup_all<I, T, F, Fut>(items: Vec<I>, f: F) -> Result<Vec<T>>
where
    I: Send + 'static,
    T: Send + 'static,
    F: Fn(I) -> Fut,
    Fut: Future<Output = Result<Option<T>>> + Send + 'static,
{
    let mut running = tokio::task::JoinSet::new();
    let mut found = vec![];
    let mut items = items.into_iter();
    loop {
        while running.len() < LOOKUPS_AT_ONCE {
            let Some(item) = items.next() else { break };
            running.spawn(f(item));
        }
        let Some(done) = running.join_next().await else {
            break;
        };
        let done = done.map_err(|e| Error::other(format!("lookup failed: {e}")))?;
        found.extend(done?);
    }
    Ok(found)
}

/// `find_owned`'s answer in a stable order (by id, then AWS id). Two may carry the same id: a
/// copy of the tags made outside xpart, or a replacement cut short. All are kept: the engine
/// deletes every one that is not the resource `read` found for that id.
pub fn owned_in_order(mut found: Vec<(String, Live)>) -> Vec<(String, Live)> {
    let aws_id = |l: &Live| l.outputs.get("id").cloned().unwrap_or_default();
    found.sort_by(|(a, la), (b, lb)| (a, aws_id(la)).cmp(&(b, aws_id(lb))));
    found
}

/// Retry `f` while `retryable` says its error is eventual consistency, up to `bound`, with
/// exponential backoff (1 s doubling to 10 s, jittered). IAM changes take seconds to reach
/// EC2, KMS and Roles Anywhere; the SDK cannot know such an error is temporary.
pub async fn retry_propagation<T, F, Fut>(
    cx: &Ctx,
    what: &str,
    bound: Duration,
    retryable: impl Fn(&Error) -> bool,
    mut f: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let start = Instant::now();
    let mut delay = Duration::from_millis(500);
    let mut attempt = 1u32;
    loop {
        match f().await {
            Err(e) if retryable(&e) && start.elapsed() + delay < bound => {
                attempt += 1;
                cx.say(format!(
                    "waiting for {what} to propagate (attempt {attempt}): {e}"
                ));
                tokio::time::sleep(jitter(delay)).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            other => return other,
        }
    }
}

/// Run a create the API cannot deduplicate, with the SDK's retries off for it: after a
/// transient failure (which may have created the resource: a lost response looks the same as
/// a refused request) `find` looks it up by its ownership tags before `create` runs again.
/// Attempts and backoff follow the partition's tuning, so this loop is the only retrier.
pub async fn create_once<T, C, CF, L, LF>(
    cx: &Ctx,
    op: &str,
    mut create: C,
    mut find: L,
) -> Result<T>
where
    C: FnMut() -> CF,
    CF: Future<Output = Result<T>>,
    L: FnMut() -> LF,
    LF: Future<Output = Result<Option<T>>>,
{
    let tuning = cx.clients().tuning;
    let mut delay = tuning.initial_backoff;
    let mut attempt = 1u32;
    loop {
        match create().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_transient() && attempt < tuning.max_attempts => {
                attempt += 1;
                cx.say(format!(
                    "attempt {attempt}/{}: {op} uncertain ({e}); looking it up before retrying",
                    tuning.max_attempts
                ));
                tokio::time::sleep(jitter(delay)).await;
                delay = (delay * 2).min(tuning.max_backoff);
                // The lookup is a read: the SDK retries it as usual.
                if let Some(found) = find().await? {
                    return Ok(found);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Full jitter on the upper half: spreads retries of parallel jobs without ever waiting 0.
pub fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    let frac = 0.5 + (nanos % 1000) as f64 / 2000.0;
    d.mul_f64(frac)
}

/// A retry config that does not retry, for `create_once` creates.
pub fn no_retry() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::disabled()
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
        .filter(|(k, _)| !is_ownership_tag(k))
        .map(|(k, v)| (k.to_string(), Json::from(v)))
        .collect();
    Json::Object(m)
}

/// The plan's tags as `user_tags` shows them.
pub fn plan_tags(tags: &BTreeMap<String, String>) -> Json {
    user_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}
