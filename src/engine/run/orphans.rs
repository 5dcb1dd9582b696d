//! Orphans: resources carrying the plan's tags under ids it no longer has, found without a
//! state file, deleted dependents first, and the guard against deleting many at once.

use super::*;

/// An owned resource whose id the plan no longer has.
#[derive(Debug, Clone)]
pub(super) struct Orphan {
    pub(super) id: String,
    pub(super) type_name: String,
    pub(super) partition: String,
    pub(super) live: Live,
    /// The plan still has this id, for another resource: this one was renamed or duplicated.
    pub(super) replaced: bool,
}

/// Why a run that would delete many undeclared resources is refused (see `Planned::prune_guard`).
#[derive(Debug, Clone)]
pub struct PruneGuard {
    /// `id (type, partition)` of each owned resource whose id the plan does not declare.
    pub undeclared: Vec<String>,
    /// How many AWS resources the plan declares (apply) or deletes by declaration (destroy).
    pub declared: usize,
}

impl std::fmt::Display for PruneGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "this run would delete {} resource(s) that carry this plan's identity but that it \
             does not declare, more than the {} it declares:\n  {}\nEither they were removed \
             from the plan file since its last apply, or another plan file has the same \
             identity (its `name:` as written, with the same variables). Nothing was changed",
            self.undeclared.len(),
            self.declared,
            self.undeclared.join("\n  ")
        )
    }
}

impl Engine {
    /// The second half, once the reads are in: every owned resource that is not what the plan
    /// read for its id is an orphan. That is one of an id the plan no longer has, and also one
    /// of an id it has that the read did not find: renamed in the plan (a role, a secret, an
    /// alias) or a duplicate. The regional types are listed only where the tag query shows one
    /// (one more round trip then, none otherwise).
    pub(super) async fn orphans(
        &self,
        mut owned: Owned,
        lives: &BTreeMap<String, Option<Live>>,
    ) -> Result<Vec<Orphan>, RunError> {
        let planned_live = |id: &str, ty: &str, part: &str| -> Option<Option<&Live>> {
            let r = self.spec.resources.get(id)?;
            (r.type_name == ty && r.partition.as_deref() == Some(part))
                .then(|| lives.get(id).and_then(Option::as_ref))
        };
        let mut tasks: tokio::task::JoinSet<Listing> = tokio::task::JoinSet::new();
        for (part, tagged) in &owned.tagged {
            let wanted: BTreeSet<&str> = tagged
                .iter()
                .filter_map(|t| {
                    let ty = t.type_name()?;
                    let id = owned_id(
                        &self.spec.identity,
                        t.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                    )?;
                    match planned_live(&id, ty, part) {
                        Some(Some(live)) if is_tagged(live, t) => None,
                        _ => Some(ty),
                    }
                })
                .collect();
            // After the reads: the listings ask AWS, not the phase's scan.
            for ty in wanted {
                let cx = self.owned_ctx(ty, part, None);
                tasks.spawn(find_owned(ty.to_string(), part.clone(), cx));
            }
        }
        while let Some(r) = tasks.join_next().await {
            owned
                .found
                .push(r.map_err(|e| RunError::Other(format!("listing failed: {e}")))?);
        }
        let mut orphans = vec![];
        let mut errors = vec![];
        for (partition, type_name, found) in owned.found {
            match found {
                Ok(list) => {
                    for (id, live) in list {
                        let replaced = match planned_live(&id, &type_name, &partition) {
                            Some(Some(read)) if same(read, &live) => continue,
                            Some(_) => true,
                            None => false,
                        };
                        orphans.push(Orphan {
                            id,
                            type_name: type_name.clone(),
                            partition: partition.clone(),
                            live,
                            replaced,
                        });
                    }
                }
                Err(source) => errors.push(ResourceError {
                    id: format!("(owned {type_name} listing)"),
                    type_name: type_name.clone(),
                    region: self
                        .spec
                        .partitions
                        .get(&partition)
                        .map(|d| d.region.clone()),
                    partition: Some(partition),
                    source,
                }),
            }
        }
        if !errors.is_empty() {
            return Err(RunError::Read(errors));
        }
        orphans.sort_by(|a, b| {
            (&a.partition, &a.type_name, &a.id, aws_id(&a.live)).cmp(&(
                &b.partition,
                &b.type_name,
                &b.id,
                aws_id(&b.live),
            ))
        });
        Ok(orphans)
    }

    pub(super) fn orphan_change(o: &Orphan) -> Change {
        Change {
            id: o.id.clone(),
            type_name: o.type_name.clone(),
            partition: Some(o.partition.clone()),
            action: Action::Delete,
            attrs: delete_attrs(&o.type_name, &o.live),
            reason: Some(if o.replaced {
                format!(
                    "owned by this plan as `{}`, which now describes another resource (renamed, or a duplicate)",
                    o.id
                )
            } else {
                "owned by this plan, which no longer has it".into()
            }),
        }
    }

    /// Delete orphans, dependents first (by their types' `DELETE_RANK`), each partition on its own lane.
    pub(super) async fn delete_orphans(
        &self,
        orphans: &[Orphan],
        cancel: &Cancel,
    ) -> Result<walk::Report<ResourceError>, RunError> {
        let engine = Arc::new(self.shallow());
        // Every orphan's type is a known one: it was found as one.
        let rank = |t: &str| type_info(t).map_or(u8::MAX, |i| i.delete_rank);
        let key = |o: &Orphan| {
            format!(
                "{}/{}/{}/{}",
                o.partition,
                o.type_name,
                o.id,
                aws_id(&o.live)
            )
        };
        let mut nodes = vec![];
        for o in orphans {
            let deps: Vec<String> = orphans
                .iter()
                .filter(|p| p.partition == o.partition && rank(&p.type_name) < rank(&o.type_name))
                .map(key)
                .collect();
            let (o, engine) = (o.clone(), engine.clone());
            let lane = Some(o.partition.clone());
            nodes.push(Node::new(
                key(&o),
                deps,
                lane.as_deref(),
                move || async move {
                    let cx = engine.bare_ctx(&o.id, Some(&o.partition));
                    let partition = Some(o.partition.clone());
                    let deleted =
                        engine.delete(&o.id, &o.type_name, partition.clone(), &o.live, &cx);
                    deleted.await.map_err(|source| ResourceError {
                        id: o.id.clone(),
                        type_name: o.type_name.clone(),
                        partition,
                        region: Some(cx.part().def.region.clone()),
                        source,
                    })
                },
            ));
        }
        self.walk(nodes, cancel).await
    }
}
