//! The graph a walk runs: its nodes, their edges checked before anything runs, and the same
//! graph inverted for destroy.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::plan::order::{topo_sort, Ties};

/// The future a job returns.
pub type JobFuture<E> = Pin<Box<dyn Future<Output = Result<(), E>> + Send>>;

/// A node's work. A factory rather than a future, so nothing (not even the future's
/// construction) happens for a node that is skipped.
pub type Job<E> = Box<dyn FnOnce() -> JobFuture<E> + Send>;

/// One unit of work in the graph.
pub struct Node<E> {
    pub id: String,
    /// Ids that must succeed before this node starts.
    pub deps: BTreeSet<String>,
    /// The plan's partition name; None for local resources.
    pub lane: Option<String>,
    pub job: Job<E>,
}

impl<E: 'static> Node<E> {
    pub fn new<F, Fut>(
        id: impl Into<String>,
        deps: impl IntoIterator<Item = impl Into<String>>,
        lane: Option<&str>,
        job: F,
    ) -> Node<E>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
    {
        Node {
            id: id.into(),
            deps: deps.into_iter().map(Into::into).collect(),
            lane: lane.map(str::to_string),
            job: Box::new(move || Box::pin(job()) as JobFuture<E>),
        }
    }
}

impl<E> fmt::Debug for Node<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.id)
            .field("deps", &self.deps)
            .field("lane", &self.lane)
            .finish_non_exhaustive()
    }
}

/// The same nodes with every edge reversed, for destroy: what depended on a resource must be
/// gone before the resource itself. A dependency on an id that is not among `nodes` is kept
/// on its node, so `walk` still rejects it instead of the inversion hiding the mistake.
pub fn invert<E>(nodes: Vec<Node<E>>) -> Vec<Node<E>> {
    let known: BTreeSet<String> = nodes.iter().map(|n| n.id.clone()).collect();
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for n in &nodes {
        for d in &n.deps {
            if known.contains(d) {
                deps.entry(d.clone()).or_default().insert(n.id.clone());
            } else {
                deps.entry(n.id.clone()).or_default().insert(d.clone());
            }
        }
    }
    nodes
        .into_iter()
        .map(|mut n| {
            n.deps = deps.remove(&n.id).unwrap_or_default();
            n
        })
        .collect()
}

/// The graph cannot be walked; returned before any job runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("`{0}` appears more than once")]
    Duplicate(String),
    #[error("`{id}` depends on unknown `{dep}`")]
    UnknownDependency { id: String, dep: String },
    /// One cycle, first id repeated at the end (`a → b → a`).
    #[error("dependency cycle: {}", .0.join(" → "))]
    Cycle(Vec<String>),
}

/// Edges as indices, checked: no duplicates, no unknown ids, no cycle.
pub(super) struct Graph {
    pub(super) deps: Vec<Vec<usize>>,
    pub(super) dependents: Vec<Vec<usize>>,
    /// Every node after its dependencies.
    pub(super) order: Vec<usize>,
}

impl Graph {
    pub(super) fn new<E>(nodes: &[Node<E>]) -> Result<Graph, GraphError> {
        let mut index = HashMap::new();
        for (i, n) in nodes.iter().enumerate() {
            if index.insert(n.id.as_str(), i).is_some() {
                return Err(GraphError::Duplicate(n.id.clone()));
            }
        }
        let mut deps = vec![vec![]; nodes.len()];
        let mut dependents = vec![vec![]; nodes.len()];
        for (i, n) in nodes.iter().enumerate() {
            for d in &n.deps {
                let Some(&j) = index.get(d.as_str()) else {
                    return Err(GraphError::UnknownDependency {
                        id: n.id.clone(),
                        dep: d.clone(),
                    });
                };
                deps[i].push(j);
                dependents[j].push(i);
            }
        }

        // Ties go to the node that became ready first, as the walk starts them, so the skips
        // after a cancel are reported in that order too.
        let order = topo_sort(&deps, Ties::FirstReady).map_err(|cycle| {
            GraphError::Cycle(cycle.into_iter().map(|i| nodes[i].id.clone()).collect())
        })?;
        Ok(Graph {
            deps,
            dependents,
            order,
        })
    }
}
