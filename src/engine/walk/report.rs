//! What a walk tells: each node's outcome, the events while it runs, and the final report.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Why a node did not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// The failed nodes (root causes) among its transitive dependencies.
    DependencyFailed(BTreeSet<String>),
    /// The walk was cancelled before it could start.
    Cancelled,
}

/// What became of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<E> {
    Succeeded,
    Failed(E),
    /// The job panicked (a bug, but one node's bug must not take the other jobs down).
    Panicked(String),
    Skipped(Skip),
}

impl<E> Outcome<E> {
    /// A root cause: the node ran and did not succeed.
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failed(_) | Outcome::Panicked(_))
    }
}

/// What a walk reports while it runs. `Finished` carries Succeeded, Failed or Panicked;
/// nodes that never start get exactly one `Skipped` instead.
#[derive(Debug)]
pub enum Progress<'a, E> {
    Started {
        id: &'a str,
    },
    Finished {
        id: &'a str,
        outcome: &'a Outcome<E>,
    },
    Skipped {
        id: &'a str,
        because: &'a Skip,
    },
}

/// Every node's outcome, by id.
#[derive(Debug)]
pub struct Report<E> {
    pub outcomes: BTreeMap<String, Outcome<E>>,
}

impl<E> Report<E> {
    pub fn get(&self, id: &str) -> Option<&Outcome<E>> {
        self.outcomes.get(id)
    }

    /// Every node succeeded.
    pub fn is_success(&self) -> bool {
        self.outcomes
            .values()
            .all(|o| matches!(o, Outcome::Succeeded))
    }

    /// The failed nodes only: skipped nodes are consequences, and listing them would bury
    /// the cause.
    pub fn root_causes(&self) -> Vec<&str> {
        self.outcomes
            .iter()
            .filter(|(_, o)| o.is_failure())
            .map(|(id, _)| id.as_str())
            .collect()
    }

    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for (id, o) in &self.outcomes {
            match o {
                Outcome::Succeeded => s.succeeded += 1,
                Outcome::Failed(_) | Outcome::Panicked(_) => s.failed.push(id.clone()),
                Outcome::Skipped(Skip::DependencyFailed(_)) => s.skipped += 1,
                Outcome::Skipped(Skip::Cancelled) => s.cancelled += 1,
            }
        }
        s
    }
}

/// Counts of a walk; only root causes are named.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub succeeded: usize,
    /// Failed node ids, sorted.
    pub failed: Vec<String>,
    /// Not run because a dependency failed.
    pub skipped: usize,
    /// Not run because the walk was cancelled.
    pub cancelled: usize,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} succeeded, {} failed",
            self.succeeded,
            self.failed.len()
        )?;
        if !self.failed.is_empty() {
            write!(f, " ({})", self.failed.join(", "))?;
        }
        write!(f, ", {} skipped", self.skipped)?;
        if self.cancelled > 0 {
            write!(f, ", {} cancelled", self.cancelled)?;
        }
        Ok(())
    }
}
