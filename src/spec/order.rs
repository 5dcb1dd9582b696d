//! The dependency order of a plan's resources.

use std::collections::BTreeMap;

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
    let mut indeg: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![vec![]; ids.len()];
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            dependents[d].push(i);
        }
    }
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> = (0..ids.len())
        .filter(|i| indeg[*i] == 0)
        .map(std::cmp::Reverse)
        .collect();
    let mut order = Vec::with_capacity(ids.len());
    while let Some(std::cmp::Reverse(next)) = ready.pop() {
        order.push(next);
        for &dep in &dependents[next] {
            indeg[dep] -= 1;
            if indeg[dep] == 0 {
                ready.push(std::cmp::Reverse(dep));
            }
        }
    }
    if order.len() == ids.len() {
        return Ok(order.into_iter().map(|i| ids[i].to_string()).collect());
    }
    // Walk dependencies from any unfinished node until one repeats: that is a cycle.
    let mut done = vec![false; ids.len()];
    for &i in &order {
        done[i] = true;
    }
    let mut cur = (0..ids.len())
        .find(|i| !done[*i])
        .expect("some node is unfinished");
    let mut at: Vec<Option<usize>> = vec![None; ids.len()];
    let mut seen: Vec<usize> = vec![];
    loop {
        if let Some(pos) = at[cur] {
            let mut cycle: Vec<String> = seen[pos..].iter().map(|i| ids[*i].to_string()).collect();
            cycle.push(ids[cur].to_string());
            return Err(cycle);
        }
        at[cur] = Some(seen.len());
        seen.push(cur);
        cur = *deps[cur]
            .iter()
            .find(|d| !done[**d])
            .expect("an unfinished node has an unfinished dependency");
    }
}
