//! The DAG walker: runs one job per node in dependency order, bounded per lane, with no AWS in it.
//!
//! As Terraform's graph walker does, a node starts as soon as every dependency has succeeded,
//! so independent branches (and the two partitions) make progress side by side. A failure
//! skips only what depends on it, so one broken resource does not hide every other error of
//! an apply. Concurrency is bounded per lane (the plan's partition name; `None` for local
//! resources) because throttling limits are per account and region, not global.
//!
//! The walker reports through events and a final `Report`; it never prints, so progress bars,
//! plain log lines and JSON can all be rendered from the same walk.
//!
//! `graph` holds the nodes and their checked edges, `report` what a walk tells; the
//! scheduling is here.

mod graph;
mod report;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::task::{Id, JoinError, JoinSet};

use graph::Graph;
pub use graph::{invert, GraphError, Job, JobFuture, Node};
pub use report::{Outcome, Progress, Report, Skip, Summary};

/// The default number of jobs running at once in one lane.
pub const DEFAULT_LIMIT: usize = 8;

/// How many jobs may run at once per lane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// For lanes not listed in `lanes`, and for local nodes (lane None).
    pub default: usize,
    pub lanes: BTreeMap<String, usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits::new(DEFAULT_LIMIT)
    }
}

impl Limits {
    pub fn new(default: usize) -> Limits {
        Limits {
            default,
            lanes: BTreeMap::new(),
        }
    }

    pub fn with_lane(mut self, lane: impl Into<String>, limit: usize) -> Limits {
        self.lanes.insert(lane.into(), limit);
        self
    }

    /// The limit for `lane`; at least 1, since 0 would leave its nodes waiting forever.
    pub fn limit(&self, lane: Option<&str>) -> usize {
        lane.and_then(|l| self.lanes.get(l))
            .copied()
            .unwrap_or(self.default)
            .max(1)
    }
}

/// Stops scheduling: set it (from a Ctrl-C handler, say) and no new node starts; running
/// jobs finish, because abandoning an AWS call half-way leaves state nobody has seen.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Run `nodes`: each starts once all its dependencies succeeded, at most `limits` per lane at
/// once, until everything has run or been skipped, or `cancel` is set and running jobs have
/// finished. Events go to `on_event` in the order they happen. Dropping the returned future
/// aborts running jobs; use `cancel` to stop gracefully.
pub async fn walk<E, F>(
    nodes: Vec<Node<E>>,
    limits: &Limits,
    cancel: &Cancel,
    on_event: F,
) -> Result<Report<E>, GraphError>
where
    E: Send + 'static,
    F: FnMut(Progress<'_, E>),
{
    let graph = Graph::new(&nodes)?;
    let mut ids = Vec::with_capacity(nodes.len());
    let mut lanes = Vec::with_capacity(nodes.len());
    let mut jobs = Vec::with_capacity(nodes.len());
    for n in nodes {
        ids.push(n.id);
        lanes.push(n.lane);
        jobs.push(Some(n.job));
    }
    let mut w = Walk {
        waiting: graph.deps.iter().map(Vec::len).collect(),
        ready: (0..ids.len())
            .filter(|&i| graph.deps[i].is_empty())
            .collect(),
        outcomes: ids.iter().map(|_| None).collect(),
        ids,
        graph,
        on_event,
    };

    let mut running: JoinSet<Result<(), E>> = JoinSet::new();
    let mut task_node: HashMap<Id, usize> = HashMap::new();
    let mut in_flight: HashMap<Option<&str>, usize> = HashMap::new();
    loop {
        // The flag is only read here: between two completions nothing could start anyway.
        if !cancel.is_cancelled() {
            // A full lane must not hold back ready nodes of other lanes, so scan them all.
            let mut k = 0;
            while k < w.ready.len() {
                let i = w.ready[k];
                let lane = lanes[i].as_deref();
                let n = in_flight.entry(lane).or_default();
                if *n >= limits.limit(lane) {
                    k += 1;
                    continue;
                }
                *n += 1;
                w.ready.remove(k);
                let job = jobs[i].take().expect("a node starts once");
                (w.on_event)(Progress::Started { id: &w.ids[i] });
                // The factory is called inside the task so that its panics are caught too.
                let handle = running.spawn(async move { job().await });
                task_node.insert(handle.id(), i);
            }
        }
        let Some(done) = running.join_next_with_id().await else {
            break;
        };
        let (task, outcome) = match done {
            Ok((task, Ok(()))) => (task, Outcome::Succeeded),
            Ok((task, Err(e))) => (task, Outcome::Failed(e)),
            Err(e) => (e.id(), Outcome::Panicked(panic_message(e))),
        };
        let i = task_node.remove(&task).expect("every task is a node");
        *in_flight
            .get_mut(&lanes[i].as_deref())
            .expect("lane in flight") -= 1;
        w.settle(i, outcome);
    }

    // Left over only after a cancel: with nothing running, every ready node could have
    // started. Topological order, so each node's dependencies are settled before it.
    for k in 0..w.graph.order.len() {
        let i = w.graph.order[k];
        if w.outcomes[i].is_none() {
            let roots = w.roots(i);
            let skip = if roots.is_empty() {
                Skip::Cancelled
            } else {
                Skip::DependencyFailed(roots)
            };
            w.record(i, Outcome::Skipped(skip));
        }
    }

    let outcomes = w
        .ids
        .into_iter()
        .zip(w.outcomes)
        .map(|(id, o)| (id, o.expect("every node settled")))
        .collect();
    Ok(Report { outcomes })
}

/// The walk's bookkeeping, apart from the running tasks.
struct Walk<E, F> {
    ids: Vec<String>,
    graph: Graph,
    /// Dependencies not yet settled, per node.
    waiting: Vec<usize>,
    /// Nodes whose dependencies all succeeded, in the order they became ready.
    ready: VecDeque<usize>,
    outcomes: Vec<Option<Outcome<E>>>,
    on_event: F,
}

impl<E, F: FnMut(Progress<'_, E>)> Walk<E, F> {
    /// Store and announce an outcome.
    fn record(&mut self, i: usize, outcome: Outcome<E>) {
        let o = self.outcomes[i].insert(outcome);
        let id = &self.ids[i];
        match o {
            Outcome::Skipped(because) => (self.on_event)(Progress::Skipped { id, because }),
            outcome => (self.on_event)(Progress::Finished { id, outcome }),
        }
    }

    /// Record `outcome` and release dependents. A dependent is decided only once all its
    /// dependencies are, so a skip names every failed root behind it, not just the first.
    fn settle(&mut self, i: usize, outcome: Outcome<E>) {
        let mut stack = vec![(i, outcome)];
        while let Some((i, outcome)) = stack.pop() {
            self.record(i, outcome);
            for k in 0..self.graph.dependents[i].len() {
                let d = self.graph.dependents[i][k];
                self.waiting[d] -= 1;
                if self.waiting[d] > 0 {
                    continue;
                }
                let all_ok = self.graph.deps[d]
                    .iter()
                    .all(|&j| matches!(self.outcomes[j], Some(Outcome::Succeeded)));
                if all_ok {
                    self.ready.push_back(d);
                } else {
                    let roots = self.roots(d);
                    stack.push((d, Outcome::Skipped(Skip::DependencyFailed(roots))));
                }
            }
        }
    }

    /// The failed nodes behind `i`'s settled dependencies.
    fn roots(&self, i: usize) -> BTreeSet<String> {
        let mut roots = BTreeSet::new();
        for &j in &self.graph.deps[i] {
            match &self.outcomes[j] {
                Some(o) if o.is_failure() => {
                    roots.insert(self.ids[j].clone());
                }
                Some(Outcome::Skipped(Skip::DependencyFailed(r))) => {
                    roots.extend(r.iter().cloned())
                }
                _ => {}
            }
        }
        roots
    }
}

fn panic_message(e: JoinError) -> String {
    if !e.is_panic() {
        // The walker never aborts its tasks; only a runtime shutting down does.
        return "job was aborted".into();
    }
    let p = e.into_panic();
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "job panicked".into())
}

#[cfg(test)]
mod tests;
