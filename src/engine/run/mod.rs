//! Plan, apply and destroy: read live state, compare it with what the plan desires, and execute
//! the differences as a DAG across both partitions.
//!
//! Reads happen once, all in parallel (local PKI first, since other resources embed its
//! certificates). The plan is computed from those reads with no further calls. Apply then walks
//! the resources in dependency order; each job renders its properties with its dependencies'
//! now-known outputs, re-compares with what was read (a value that was `(known after apply)`
//! may now differ) and creates, updates, replaces or leaves it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use crate::aws::{Clients, ConnectOptions};
use crate::changes::{
    Action, AttrChange, Change, ChangeSet, PartitionInfo, FORMAT_VERSION, SENSITIVE,
};
use crate::engine::resource::{
    changed_attrs, owned_id, until_seen, Ctx, Desired, Error, Extensions, Live, Notify, Options,
    PartCtx, PlannedNames, Resource,
};
use crate::engine::scan::{Scan, Tagged};
use crate::engine::walk::{self, Cancel, Limits, Node, Outcome, Skip};
use crate::plan::template::{Part, Template};
use crate::plan::types::Kind;
use crate::plan::types::{type_info, types, with_props, with_type, Declared, Found};
use crate::plan::{Plan, ResourceDef};
use crate::unknown::Unknown;

mod compare;
mod connect;
mod facts;
mod orphans;
mod read;
mod waiting;

use compare::*;
use facts::{prepared, referenced_outputs};
use orphans::*;
use read::*;
use waiting::*;
pub use waiting::{WAIT_FIRST, WAIT_REPEAT};

/// A failure of one resource, with where it happened.
#[derive(Debug, thiserror::Error)]
#[error("{id} ({type_name}{}): {source}", place(.partition, .region, .source))]
pub struct ResourceError {
    pub id: String,
    pub type_name: String,
    pub partition: Option<String>,
    pub region: Option<String>,
    #[source]
    pub source: Error,
}

/// Where, unless the error says so itself (an AWS error names its partition and region).
fn place(p: &Option<String>, r: &Option<String>, source: &Error) -> String {
    if source.aws().is_some() {
        return String::new();
    }
    match (p, r) {
        (Some(p), Some(r)) => format!(", {p} {r}"),
        _ => String::new(),
    }
}

/// A failure before any resource work: connecting, identity, the lock.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Aws(#[from] crate::aws::AwsError),
    #[error("{0}")]
    Other(String),
    #[error("{} resource(s) could not be read:\n  {}", .0.len(), .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n  "))]
    Read(Vec<ResourceError>),
    #[error(transparent)]
    Lease(#[from] crate::engine::lease::LeaseError),
}

/// What the executor reports while it works; views render these (progress bars or log lines).
#[derive(Debug, Clone)]
pub enum Event {
    /// A phase of the run begins ("reading", "applying", "destroying").
    Phase(String),
    Started {
        id: String,
        type_name: String,
        partition: Option<String>,
        action: Action,
    },
    /// A note while a resource works: a retry, a wait.
    Note {
        id: String,
        message: String,
    },
    Finished {
        id: String,
        action: Action,
        elapsed: Duration,
        error: Option<String>,
    },
    Skipped {
        id: String,
        reason: String,
    },
    /// One API call attempt (`-v`).
    Call(String),
    /// A partition has not answered for a while: the call longest in flight there.
    Waiting {
        partition: String,
        region: String,
        op: String,
        /// How long the partition has been silent.
        silent: Duration,
        /// The partition's operation timeout: when the call gives up.
        gives_up_after: Duration,
    },
}

pub type Sink = Arc<dyn Fn(Event) + Send + Sync>;

/// How to run: everything besides the plan.
#[derive(Clone)]
pub struct Setup {
    /// Per partition name: a profile replacing the plan's (`--profile NAME=PROFILE`).
    pub profiles: BTreeMap<String, String>,
    pub config_file: Option<PathBuf>,
    /// Directory relative paths in the plan are resolved against (the plan file's).
    pub base: PathBuf,
    /// Local state: `.xpart/<plan name>` (PKI files, the lock).
    pub state_dir: PathBuf,
    pub options: Options,
    pub choices: Choices,
    pub sink: Sink,
}

/// What the command line chose for this run (the same in the commands' `Common`).
#[derive(Debug, Clone, Default)]
pub struct Choices {
    /// Take over same-named resources that lack the ownership tags.
    pub adopt: bool,
    /// Lift the prune guard (`Planned::prune_guard`).
    pub allow_prune: bool,
    /// Jobs at once per partition unless the plan sets `concurrency`.
    pub concurrency: usize,
    /// Log every API call attempt.
    pub verbose: bool,
}

/// The plan of `changes` to `spec`: each partition with the account `account` knows of it by
/// name, else the one the plan file names.
pub fn plan_for(
    spec: &Plan,
    changes: Vec<Change>,
    account: impl Fn(&str) -> Option<String>,
) -> ChangeSet {
    let info = |d: &crate::plan::PartitionDef| PartitionInfo {
        name: d.name.clone(),
        partition: d.partition.id().to_string(),
        region: d.region.clone(),
        account: account(&d.name).or(d.account.clone()),
    };
    ChangeSet {
        format_version: FORMAT_VERSION,
        plan: spec.name.clone(),
        partitions: spec.partitions.values().map(info).collect(),
        changes,
    }
}

/// Outputs of resources by id: None for one that does not exist yet (or will be replaced).
type Known = BTreeMap<String, Option<BTreeMap<String, String>>>;

/// What a planning pass gathers, resource by resource.
#[derive(Default)]
struct Tally {
    steps: BTreeMap<String, Step>,
    changes: Vec<Change>,
    /// Same-named resources without this plan's tags.
    unowned: Vec<String>,
}

impl Tally {
    /// `r`'s step, and the change the plan shows for it.
    fn record(
        &mut self,
        r: &ResourceDef,
        step: Step,
        attrs: Vec<AttrChange>,
        reason: Option<String>,
    ) {
        self.changes.push(Change {
            id: r.id.clone(),
            type_name: r.type_name.clone(),
            partition: r.partition.clone(),
            action: step.action,
            attrs,
            reason,
        });
        self.steps.insert(r.id.clone(), step);
    }
}

/// The per-resource result of the read phase and the comparison.
#[derive(Debug, Clone)]
struct Step {
    live: Option<Live>,
    action: Action,
}

/// A connected engine for one spec.
pub struct Engine {
    spec: Arc<Plan>,
    parts: BTreeMap<String, Arc<PartCtx>>,
    setup: Setup,
    /// By resource id, what its type keeps from the plan (`Resource::prepare`; see `Ctx::ext`).
    prepared: Arc<BTreeMap<String, Extensions>>,
    /// By resource id, its outputs other resources refer to (see `Ctx::referenced`).
    referenced: Arc<BTreeMap<String, BTreeSet<String>>>,
    /// Reports partitions that stay silent, while the engine (or a copy) lives.
    _watcher: Arc<Watcher>,
}

/// A computed plan, with what apply needs to execute it.
pub struct Planned {
    pub plan: ChangeSet,
    steps: BTreeMap<String, Step>,
    /// Same-named resources without this plan's tags (apply refuses them without --adopt).
    pub unowned: Vec<String>,
    /// Resources carrying this plan's tags under ids the plan no longer has: deleted.
    orphans: Vec<Orphan>,
}

impl Planned {
    /// Refuse, unless told (`--allow-prune`), to delete more resources the plan does not
    /// declare than it declares: an identity shared by mistake (a copied plan file run with the
    /// same name) would otherwise let a small plan delete a large one's resources. A resource
    /// renamed within the plan (its id still declared) does not count.
    pub fn prune_guard(&self, spec: &Plan, destroy: bool) -> Option<PruneGuard> {
        let undeclared: Vec<String> = self
            .orphans
            .iter()
            .filter(|o| !o.replaced)
            .map(|o| format!("{} ({}, {})", o.id, o.type_name, o.partition))
            .collect();
        let declared = spec
            .resources
            .values()
            .filter(|r| r.partition.is_some())
            .filter(|r| {
                !destroy
                    || self
                        .steps
                        .get(&r.id)
                        .is_some_and(|s| s.action == Action::Delete)
            })
            .count();
        (undeclared.len() > declared).then_some(PruneGuard {
            undeclared,
            declared,
        })
    }

    /// The outputs of a resource that exists (as read, before any apply).
    pub fn outputs(&self, id: &str) -> Option<&BTreeMap<String, String>> {
        self.steps.get(id)?.live.as_ref().map(|l| &l.outputs)
    }

    /// The outputs of every existing resource.
    fn known(&self) -> Known {
        self.steps
            .iter()
            .map(|(id, s)| (id.clone(), s.live.as_ref().map(|l| l.outputs.clone())))
            .collect()
    }
}

impl Engine {
    /// A resource's properties with every reference rendered from live state; references to
    /// resources that do not exist read `(known after apply)`.
    pub fn rendered(&self, planned: &Planned, id: &str) -> Result<Kind, Box<ResourceError>> {
        self.render(&self.spec.resources[id], &planned.known())
    }

    /// The connected partition of this name.
    pub fn partition(&self, name: &str) -> Option<&PartCtx> {
        self.parts.get(name).map(|p| p.as_ref())
    }

    pub fn spec(&self) -> &Plan {
        &self.spec
    }

    /// The context of one resource; `known` holds the outputs of resources that exist.
    fn ctx(&self, r: &ResourceDef, known: &Known) -> Ctx {
        let home = r.partition.clone().or_else(|| self.home(r));
        let mut cx = self.bare_ctx(&r.id, home.as_deref());
        cx.refs = r
            .deps
            .iter()
            .filter_map(|d| Some((d.clone(), known.get(d)?.clone()?)))
            .collect();
        cx
    }

    /// Where a local resource calls AWS: the partition of the first AWS resource it depends on,
    /// directly or through other local ones (a CA held by a KMS key: the key's partition; a
    /// local CA: none).
    pub(super) fn home(&self, r: &ResourceDef) -> Option<String> {
        r.deps.iter().find_map(|d| {
            let dep = self.spec.resources.get(d)?;
            dep.partition.clone().or_else(|| self.home(dep))
        })
    }

    /// A context for an id in a partition, with no dependencies.
    fn bare_ctx(&self, id: &str, partition: Option<&str>) -> Ctx {
        let sink = self.setup.sink.clone();
        let notify: Notify = Arc::new(move |id: &str, message: String| {
            sink(Event::Note {
                id: id.to_string(),
                message,
            })
        });
        Ctx {
            owner: self.spec.identity.clone(),
            id: id.to_string(),
            part: partition.and_then(|p| self.parts.get(p).cloned()),
            parts: Arc::new(self.parts.clone()),
            base: self.setup.base.clone(),
            state_dir: self.setup.state_dir.clone(),
            opts: Arc::new(self.setup.options.clone()),
            notify,
            refs: BTreeMap::new(),
            scan: None,
            referenced: Arc::new(self.referenced.get(id).cloned().unwrap_or_default()),
            ext: self.prepared.get(id).cloned().unwrap_or_default(),
        }
    }

    fn limits(&self) -> Limits {
        let mut l = Limits::new(self.setup.choices.concurrency.max(1));
        for (name, def) in &self.spec.partitions {
            if let Some(n) = def.tuning.concurrency {
                l = l.with_lane(name.clone(), n as usize);
            }
        }
        l
    }

    /// Render a resource's properties: references to resources in `outputs` take their value;
    /// the others (`None`: not created yet) read `(known after apply)`.
    fn render(&self, r: &ResourceDef, outputs: &Known) -> Result<Kind, Box<ResourceError>> {
        let mut v = r.properties.clone();
        let parts = &self.parts;
        let spec = &self.spec;
        let mut lookup = |p: &Part| match p {
            Part::Ref { id, attr } => outputs.get(id)?.as_ref()?.get(attr).cloned(),
            Part::Fact { partition, attr } if attr == "account" => {
                parts.get(partition)?.account.get().cloned()
            }
            other => crate::plan::static_value(other, &spec.vars, &spec.partitions),
        };
        crate::plan::map_strings(&mut v, &mut |s: &str| match Template::parse(s) {
            Ok(t) => t.fill(&mut lookup, Unknown::TEXT),
            Err(_) => s.to_string(),
        });
        match Kind::from_properties(&r.type_name, v) {
            Some(Ok(k)) => Ok(k),
            Some(Err(e)) => Err(Box::new(
                self.error(r, Error::other(format!("properties: {e}"))),
            )),
            None => Err(Box::new(self.error(r, Error::other("unknown type")))),
        }
    }

    fn error(&self, r: &ResourceDef, source: Error) -> ResourceError {
        let region = r
            .partition
            .as_ref()
            .and_then(|p| self.spec.partitions.get(p))
            .map(|d| d.region.clone());
        ResourceError {
            id: r.id.clone(),
            type_name: r.type_name.clone(),
            partition: r.partition.clone(),
            region,
            source,
        }
    }

    /// What apply would do.
    pub async fn plan(&self, cancel: &Cancel) -> Result<Planned, RunError> {
        let (lives, orphans) = self.read_everything(cancel).await?;
        let mut outputs = Known::new();
        let mut t = Tally::default();
        for id in &self.spec.order {
            let r = &self.spec.resources[id];
            let live = lives.get(id).cloned().flatten();
            let kind = self
                .render(r, &outputs)
                .map_err(|e| RunError::Read(vec![*e]))?;
            let cx = self.ctx(r, &outputs);
            let desired = with_props!(&kind, |p, T| T::desired(p, &cx))
                .map_err(|e| RunError::Read(vec![self.error(r, e)]))?;
            let (action, attrs, reason) =
                compare(&desired, live.as_ref(), self.setup.choices.adopt);
            if live.as_ref().is_some_and(|l| !l.owned) {
                t.unowned.push(format!(
                    "{id} ({}): a resource with this name exists without this plan's ownership tags",
                    r.type_name
                ));
            }
            // A local resource that changes rewrites its files (a renewed certificate): what
            // reads them learns their content only once it is applied.
            let local = type_info(&r.type_name).is_some_and(|t| t.is_local());
            let known = match action {
                Action::Create | Action::Replace => None,
                Action::Update if local => None,
                _ => live.as_ref().map(|l| l.outputs.clone()),
            };
            outputs.insert(id.clone(), known);
            t.record(r, Step { live, action }, attrs, reason);
        }
        Ok(self.planned(t, orphans))
    }

    /// The plan of `changes` and the orphans' deletions, with what apply needs to execute it.
    fn planned(&self, mut t: Tally, orphans: Vec<Orphan>) -> Planned {
        t.changes.extend(orphans.iter().map(Engine::orphan_change));
        Planned {
            plan: self.plan_of(t.changes),
            steps: t.steps,
            unowned: t.unowned,
            orphans,
        }
    }

    fn plan_of(&self, changes: Vec<Change>) -> ChangeSet {
        // The account a partition's credentials showed, else the plan's.
        let account = |name: &str| self.parts.get(name).and_then(|p| p.account.get().cloned());
        plan_for(&self.spec, changes, account)
    }

    /// Execute a plan. Returns the walk's report: every resource's outcome.
    pub async fn apply(
        &self,
        planned: &Planned,
        cancel: &Cancel,
    ) -> Result<walk::Report<ResourceError>, RunError> {
        if !planned.unowned.is_empty() && !self.setup.choices.adopt {
            return Err(RunError::Other(format!(
                "refusing to take over resources this plan does not own (run with --adopt to take them over):\n  {}",
                planned.unowned.join("\n  ")
            )));
        }
        (self.setup.sink)(Event::Phase("applying".into()));
        let outputs: Arc<Mutex<Known>> = Default::default();
        let confirming: Arc<Mutex<Confirming>> = Default::default();
        let pending = confirming.clone();
        let nodes = self.plan_nodes(planned, move |engine, r, step| {
            let (outputs, confirming) = (outputs.clone(), confirming.clone());
            async move {
                let known = outputs.lock().unwrap().clone();
                let kind = engine.render(&r, &known).map_err(|e| *e)?;
                // Names built from references are whole only now: check them as lint checks
                // literal ones, before AWS sees them.
                let problems = crate::lint::rendered_name_problems(&kind);
                if !problems.is_empty() {
                    return Err(engine.error(&r, Error::other(problems.join("; "))));
                }
                let cx = engine.ctx(&r, &known);
                let start = Instant::now();
                let result = with_props!(&kind, |p, T| converge::<T>(
                    p,
                    &cx,
                    step.live.as_ref(),
                    &engine.setup,
                    &r.type_name,
                    r.partition.clone()
                )
                .await);
                let (action, result) =
                    match result {
                        Ok((action, live)) => {
                            if matches!(action, Action::Create | Action::Replace)
                                && reads_lag(&r.type_name)
                            {
                                let seen = with_props!(&kind, |p, T| tokio::spawn(
                                    confirm_seen::<T>(p.clone(), cx.clone(), live.clone())
                                ));
                                confirming.lock().unwrap().push((r.id.clone(), seen));
                            }
                            let mut known = outputs.lock().unwrap();
                            known.insert(r.id.clone(), Some(live.outputs));
                            (action, Ok(()))
                        }
                        Err((action, e)) => (action, Err(e)),
                    };
                engine.finished(&r.id, action, start, result.as_ref().err());
                result.map_err(|e| engine.error(&r, e))
            }
        });
        let mut report = self.walk(nodes, cancel).await?;
        // Old resources go once the new ones stand (and only then: a failed apply keeps them).
        if !planned.orphans.is_empty() && report.is_success() {
            let more = self.delete_orphans(&planned.orphans, cancel).await?;
            report.outcomes.extend(more.outcomes);
        }
        // The run ends once reads show what it made, so the next command (verify, destroy,
        // another machine's plan) finds it: a run that ended at once could be followed by a
        // destroy that misses a new instance, or an apply that makes a second VPC.
        let mut pending = std::mem::take(&mut *pending.lock().unwrap());
        for part in self.parts.values() {
            pending.extend(part.tails());
        }
        for (id, seen) in pending {
            if cancel.is_cancelled() {
                seen.abort();
                continue;
            }
            let failed = match seen.await {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => Outcome::Failed(self.error(&self.spec.resources[&id], e)),
                Err(e) => Outcome::Panicked(e.to_string()),
            };
            report.outcomes.insert(id, failed);
        }
        Ok(report)
    }

    /// What destroy would delete: every existing resource that carries this plan's tags.
    /// Same-named resources without them are listed in `unowned` and left alone.
    pub async fn plan_destroy(&self, cancel: &Cancel) -> Result<Planned, RunError> {
        let (lives, orphans) = self.read_everything(cancel).await?;
        let mut t = Tally::default();
        for id in &self.spec.order {
            let r = &self.spec.resources[id];
            let live = lives.get(id).cloned().flatten();
            let action = match &live {
                Some(l) if l.owned => Action::Delete,
                Some(_) => {
                    t.unowned.push(format!(
                        "{id} ({}): exists without this plan's ownership tags; left alone",
                        r.type_name
                    ));
                    Action::NoOp
                }
                None => Action::NoOp,
            };
            let attrs = match (&live, action) {
                (Some(l), Action::Delete) => delete_attrs(&r.type_name, l),
                _ => vec![],
            };
            let reason = (action == Action::NoOp && live.is_some())
                .then(|| "not owned by this plan".to_string());
            t.record(r, Step { live, action }, attrs, reason);
        }
        Ok(self.planned(t, orphans))
    }

    /// What `r` depends on among the plan's resources (not `depends_on` names it lacks).
    fn plan_deps(&self, r: &ResourceDef) -> Vec<String> {
        r.deps
            .iter()
            .filter(|d| self.spec.resources.contains_key(*d))
            .cloned()
            .collect()
    }

    /// Delete what `plan_destroy` found, dependents first.
    pub async fn destroy(
        &self,
        planned: &Planned,
        cancel: &Cancel,
    ) -> Result<walk::Report<ResourceError>, RunError> {
        (self.setup.sink)(Event::Phase("destroying".into()));
        // Orphans first: one may still use something of the plan (an old instance in its subnet).
        let first = self.delete_orphans(&planned.orphans, cancel).await?;
        let nodes = self.plan_nodes(planned, |engine, r, step| async move {
            let (Action::Delete, Some(live)) = (step.action, step.live) else {
                return Ok(());
            };
            let cx = engine.ctx(&r, &Known::new());
            let deleted = engine.delete(&r.id, &r.type_name, r.partition.clone(), &live, &cx);
            deleted.await.map_err(|e| engine.error(&r, e))
        });
        let mut report = self.walk(walk::invert(nodes), cancel).await?;
        report.outcomes.extend(first.outcomes);
        Ok(report)
    }

    /// One node per resource of the plan, each running `job` with a shared engine, the
    /// resource and its planned step; a resource waits for those it refers to.
    fn plan_nodes<F, Fut>(&self, planned: &Planned, job: F) -> Vec<Node<ResourceError>>
    where
        F: Fn(Arc<Engine>, ResourceDef, Step) -> Fut + Clone + Send + 'static,
        Fut: std::future::Future<Output = Result<(), ResourceError>> + Send + 'static,
    {
        let engine = Arc::new(self.shallow());
        let node = |id: &String| {
            let r = self.spec.resources[id].clone();
            let step = planned.steps[id].clone();
            let (deps, lane) = (self.plan_deps(&r), r.partition.clone());
            let (engine, job) = (engine.clone(), job.clone());
            Node::new(id.clone(), deps, lane.as_deref(), move || {
                job(engine, r, step)
            })
        };
        self.spec.order.iter().map(node).collect()
    }

    /// Run `nodes` in dependency order within this run's limits; skipped ones are reported.
    async fn walk(
        &self,
        nodes: Vec<Node<ResourceError>>,
        cancel: &Cancel,
    ) -> Result<walk::Report<ResourceError>, RunError> {
        let sink = self.setup.sink.clone();
        walk::walk(nodes, &self.limits(), cancel, |ev| skipped(&sink, ev))
            .await
            .map_err(|e| RunError::Other(e.to_string()))
    }

    /// Delete `live` (a resource of the plan's, or an orphan), between its events.
    async fn delete(
        &self,
        id: &str,
        type_name: &str,
        partition: Option<String>,
        live: &Live,
        cx: &Ctx,
    ) -> Result<(), Error> {
        (self.setup.sink)(Event::Started {
            id: id.to_string(),
            type_name: type_name.to_string(),
            partition,
            action: Action::Delete,
        });
        let start = Instant::now();
        let result = with_type_delete(type_name, live, cx).await;
        self.finished(id, Action::Delete, start, result.as_ref().err());
        result
    }

    /// Report the end of one resource's work, begun at `start`.
    fn finished(&self, id: &str, action: Action, start: Instant, error: Option<&Error>) {
        (self.setup.sink)(Event::Finished {
            id: id.to_string(),
            action,
            elapsed: start.elapsed(),
            error: error.map(|e| e.to_string()),
        });
    }

    /// A copy sharing the spec and clients, to move into jobs.
    fn shallow(&self) -> Engine {
        Engine {
            spec: self.spec.clone(),
            parts: self.parts.clone(),
            setup: self.setup.clone(),
            prepared: self.prepared.clone(),
            referenced: self.referenced.clone(),
            _watcher: self._watcher.clone(),
        }
    }
}

fn skipped(sink: &Sink, ev: walk::Progress<'_, ResourceError>) {
    if let walk::Progress::Skipped { id, because } = ev {
        let reason = match because {
            Skip::DependencyFailed(ids) => format!(
                "skipped: depends on failed {}",
                ids.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
            Skip::Cancelled => "not started: interrupted".to_string(),
        };
        sink(Event::Skipped {
            id: id.to_string(),
            reason,
        });
    }
}

/// Outcome counts for a summary line, naming the root causes.
pub fn summary(report: &walk::Report<ResourceError>) -> (walk::Summary, Vec<String>) {
    let causes = report
        .outcomes
        .values()
        .filter_map(|o| match o {
            Outcome::Failed(e) => Some(e.to_string()),
            Outcome::Panicked(m) => Some(format!("internal error: {m}")),
            _ => None,
        })
        .collect();
    (report.summary(), causes)
}

#[cfg(test)]
mod tests;
