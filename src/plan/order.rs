//! The dependency order of a plan's resources, and the sort the engine's walker shares.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

use super::ResourceDef;

/// Kahn's algorithm, ties broken by id so the order is stable; Err carries one cycle.
/// O((resources + references) · log resources), on indices rather than names: plans of tens
/// of thousands of resources lint in time linear in their size.
pub(super) fn topo_order(
    resources: &BTreeMap<String, ResourceDef>,
) -> Result<Vec<String>, Vec<String>> {
    // Indices in id order (the map is sorted), so the smallest ready index is the smallest id.
    let ids: Vec<&str> = resources.keys().map(String::as_str).collect();
    // `ids` is sorted: a dependency's index is a binary search away, no map to build.
    let deps: Vec<Vec<usize>> = resources
        .values()
        .map(|r| {
            r.deps
                .iter()
                .filter_map(|d| ids.binary_search(&d.as_str()).ok())
                .collect()
        })
        .collect();
    let names = |order: Vec<usize>| -> Vec<String> {
        order.into_iter().map(|i| ids[i].to_string()).collect()
    };
    topo_sort(&deps, Ties::Smallest).map(names).map_err(names)
}

/// Which of several nodes ready at once comes first. The two callers want different orders:
/// a plan's must not depend on how its file lists resources, the walker's follows its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ties {
    /// The smallest index.
    Smallest,
    /// The node that became ready first.
    FirstReady,
}

/// Kahn's algorithm over nodes `0..deps.len()`, `deps[i]` being the nodes `i` needs. Err
/// carries one cycle, its first node repeated at the end.
pub fn topo_sort(deps: &[Vec<usize>], ties: Ties) -> Result<Vec<usize>, Vec<usize>> {
    let mut indeg: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![vec![]; deps.len()];
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            dependents[d].push(i);
        }
    }
    let mut ready = Ready::new(ties, (0..deps.len()).filter(|i| indeg[*i] == 0));
    let mut order = Vec::with_capacity(deps.len());
    while let Some(next) = ready.pop() {
        order.push(next);
        for &dep in &dependents[next] {
            indeg[dep] -= 1;
            if indeg[dep] == 0 {
                ready.push(dep);
            }
        }
    }
    if order.len() == deps.len() {
        Ok(order)
    } else {
        Err(cycle(deps, &order))
    }
}

enum Ready {
    Smallest(BinaryHeap<Reverse<usize>>),
    FirstReady(VecDeque<usize>),
}

impl Ready {
    fn new(ties: Ties, first: impl Iterator<Item = usize>) -> Ready {
        match ties {
            Ties::Smallest => Ready::Smallest(first.map(Reverse).collect()),
            Ties::FirstReady => Ready::FirstReady(first.collect()),
        }
    }

    fn push(&mut self, i: usize) {
        match self {
            Ready::Smallest(heap) => heap.push(Reverse(i)),
            Ready::FirstReady(queue) => queue.push_back(i),
        }
    }

    fn pop(&mut self) -> Option<usize> {
        match self {
            Ready::Smallest(heap) => heap.pop().map(|Reverse(i)| i),
            Ready::FirstReady(queue) => queue.pop_front(),
        }
    }
}

/// Whatever Kahn's algorithm could not order lies on or behind a cycle: walk dependencies from
/// the smallest unfinished node until one repeats.
fn cycle(deps: &[Vec<usize>], order: &[usize]) -> Vec<usize> {
    let mut done = vec![false; deps.len()];
    for &i in order {
        done[i] = true;
    }
    let mut cur = (0..deps.len())
        .find(|i| !done[*i])
        .expect("some node is unfinished");
    let mut at: Vec<Option<usize>> = vec![None; deps.len()];
    let mut seen: Vec<usize> = vec![];
    loop {
        if let Some(pos) = at[cur] {
            let mut cycle = seen[pos..].to_vec();
            cycle.push(cur);
            return cycle;
        }
        at[cur] = Some(seen.len());
        seen.push(cur);
        cur = *deps[cur]
            .iter()
            .find(|d| !done[**d])
            .expect("an unfinished node has an unfinished dependency");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_decide_between_nodes_ready_at_once() {
        // 1 needs 0; 0 and 2 are ready from the start.
        let deps = vec![vec![], vec![0], vec![]];
        assert_eq!(topo_sort(&deps, Ties::Smallest), Ok(vec![0, 1, 2]));
        assert_eq!(topo_sort(&deps, Ties::FirstReady), Ok(vec![0, 2, 1]));
    }

    #[test]
    fn a_cycle_starts_from_the_smallest_unordered_node() {
        // 0 → 1 → 2 → 1, and 3 waits behind the cycle.
        let deps = vec![vec![1], vec![2], vec![1], vec![0]];
        for ties in [Ties::Smallest, Ties::FirstReady] {
            assert_eq!(topo_sort(&deps, ties), Err(vec![1, 2, 1]));
        }
        assert_eq!(topo_sort(&[vec![0]], Ties::Smallest), Err(vec![0, 0]));
    }
}
