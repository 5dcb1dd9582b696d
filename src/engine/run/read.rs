//! The read phase: every resource read at once per partition, alongside the search for the
//! plan's owned resources (each partition's tag query, and the listing of each listed type).

use super::*;

/// What each read job found, by id.
/// One type's owned resources in one partition: (partition, type, what `find_owned` found).
pub(super) type Listing = (
    String,
    String,
    crate::engine::resource::Result<Vec<(String, Live)>>,
);

pub(super) async fn find_owned(ty: String, part: String, cx: Ctx) -> Listing {
    let found = with_type!(ty.as_str(), T => T::find_owned(&cx).await, _ => Ok(vec![]));
    (part, ty, found)
}

/// What the orphan search found alongside the reads (see `Engine::search_owned`).
#[derive(Default)]
pub(super) struct Owned {
    pub(super) found: Vec<Listing>,
    /// Each partition's tag query.
    pub(super) tagged: BTreeMap<String, Vec<Tagged>>,
}

/// A resource's own id, the AWS one (`vpc-…`, a key id, an ARN where that is all there is).
pub(super) fn aws_id(l: &Live) -> String {
    l.outputs
        .get("arn")
        .or_else(|| l.outputs.get("id"))
        .cloned()
        .unwrap_or_default()
}

/// Whether two descriptions are of the same AWS resource.
pub(super) fn same(a: &Live, b: &Live) -> bool {
    let key = |l: &Live| (l.outputs.get("arn").cloned(), l.outputs.get("id").cloned());
    match (key(a), key(b)) {
        ((Some(x), _), (Some(y), _)) => x == y,
        ((_, Some(x)), (_, Some(y))) => x == y,
        _ => false,
    }
}

/// Whether the tag query's entry `t` is the resource `live` describes.
pub(super) fn is_tagged(live: &Live, t: &Tagged) -> bool {
    live.outputs.get("arn") == Some(&t.arn)
        || live.outputs.get("id").map(String::as_str) == Some(t.resource_id())
}

/// The read phase's scan of each partition, by partition name.
pub(super) type Scans = BTreeMap<String, Arc<Scan>>;

pub(super) type ReadResults = BTreeMap<String, Result<Option<Live>, ResourceError>>;

/// Reads at once per partition.
pub(super) const READ_CONCURRENCY: usize = 32;

impl Engine {
    /// Identity, reads and the orphan listing, all at once; the identity error wins, since a
    /// wrong account explains everything else.
    pub(super) async fn read_everything(
        &self,
        cancel: &Cancel,
    ) -> Result<(BTreeMap<String, Option<Live>>, Vec<Orphan>), RunError> {
        // One scan per partition, shared by this phase's reads and orphan search, then dropped.
        let scans: Scans = self
            .parts
            .keys()
            .map(|p| (p.clone(), Arc::new(Scan::default())))
            .collect();
        let (id, lives, owned) = tokio::join!(
            self.identify(),
            self.read_all(cancel, &scans),
            self.search_owned(&scans)
        );
        id?;
        let lives = lives?;
        let orphans = self.orphans(owned?, &lives).await?;
        Ok((lives, orphans))
    }

    /// Read every resource of the plan: local ones first (in order, no network), then every
    /// AWS one at once, bounded per partition.
    pub(super) async fn read_all(
        &self,
        cancel: &Cancel,
        scans: &Scans,
    ) -> Result<BTreeMap<String, Option<Live>>, RunError> {
        (self.setup.sink)(Event::Phase("reading live state".into()));
        let mut lives: BTreeMap<String, Option<Live>> = BTreeMap::new();
        let mut known = Known::new();
        let mut errors = vec![];
        // Local resources that use an AWS resource (a CA held by a KMS key) read after the AWS
        // reads, which tell them what they use; the others before, since AWS resources use them.
        let (early, late): (Vec<&String>, Vec<&String>) = self
            .spec
            .order
            .iter()
            .filter(|id| self.spec.resources[*id].partition.is_none())
            .partition(|id| self.home(&self.spec.resources[*id]).is_none());
        self.read_local(&early, scans, &mut known, &mut lives)
            .await?;
        let results: Arc<Mutex<ReadResults>> = Default::default();
        let mut nodes = vec![];
        for id in &self.spec.order {
            let r = &self.spec.resources[id];
            if r.partition.is_none() {
                continue;
            }
            let kind = match self.render(r, &known) {
                Ok(k) => k,
                Err(e) => {
                    errors.push(*e);
                    continue;
                }
            };
            let mut cx = self.ctx(r, &known);
            cx.scan = r.partition.as_ref().and_then(|p| scans.get(p).cloned());
            let results = results.clone();
            let err = self.error(r, Error::other(""));
            nodes.push(Node::new(
                id.clone(),
                Vec::<String>::new(),
                r.partition.as_deref(),
                move || async move {
                    let live = with_props!(&kind, |p, T| T::read(p, &cx).await);
                    let live = live.map_err(|source| ResourceError { source, ..err });
                    results.lock().unwrap().insert(cx.id.clone(), live);
                    Ok::<(), ()>(())
                },
            ));
        }
        // Reads are cheap for AWS (Describe and Get quotas are high) and each one waits a whole
        // round trip: run them wider than writes.
        let report = walk::walk(nodes, &Limits::new(READ_CONCURRENCY), cancel, |_| {})
            .await
            .map_err(|e| RunError::Other(e.to_string()))?;
        if report
            .outcomes
            .values()
            .any(|o| matches!(o, Outcome::Skipped(Skip::Cancelled)))
        {
            return Err(RunError::Other("interrupted while reading".into()));
        }
        for (id, r) in std::mem::take(&mut *results.lock().unwrap()) {
            match r {
                Ok(l) => {
                    known.insert(id.clone(), l.as_ref().map(|l| l.outputs.clone()));
                    lives.insert(id, l);
                }
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(RunError::Read(errors));
        }
        self.read_local(&late, scans, &mut known, &mut lives)
            .await?;
        Ok(lives)
    }

    /// Read local resources one after the other, in the plan's order (each may use the one
    /// before: a certificate its CA). One held by an AWS resource (a CA by its key) reads with
    /// that partition's scan, which has what the key's own read asked already.
    async fn read_local(
        &self,
        ids: &[&String],
        scans: &Scans,
        known: &mut Known,
        lives: &mut BTreeMap<String, Option<Live>>,
    ) -> Result<(), RunError> {
        let mut errors = vec![];
        for id in ids {
            let r = &self.spec.resources[*id];
            let kind = self
                .render(r, known)
                .map_err(|e| RunError::Read(vec![*e]))?;
            let mut cx = self.ctx(r, known);
            cx.scan = self.home(r).and_then(|p| scans.get(&p).cloned());
            match with_props!(&kind, |p, T| T::read(p, &cx).await) {
                Ok(l) => {
                    known.insert((*id).clone(), l.as_ref().map(|l| l.outputs.clone()));
                    lives.insert((*id).clone(), l);
                }
                Err(e) => errors.push(self.error(r, e)),
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(RunError::Read(errors))
        }
    }

    /// The first half of the orphan search, alongside the reads: each IAM type's owned
    /// resources (IAM is outside the tag index) and each partition's tag query.
    pub(super) async fn search_owned(&self, scans: &Scans) -> Result<Owned, RunError> {
        let mut tasks: tokio::task::JoinSet<Listing> = tokio::task::JoinSet::new();
        let mut queries = tokio::task::JoinSet::new();
        for part in self.parts.keys() {
            let listed = types().filter(|t| t.found == Found::Listed).map(|t| t.name);
            for ty in listed {
                let cx = self.owned_ctx(ty, part, scans.get(part).cloned());
                tasks.spawn(find_owned(ty.to_string(), part.clone(), cx));
            }
            if let Some(scan) = scans.get(part).cloned() {
                let cx = self.owned_ctx("", part, Some(scan.clone()));
                let part = part.clone();
                queries.spawn(async move {
                    let found = scan
                        .tagged(cx.clients(), &cx.owner)
                        .await
                        .map(<[Tagged]>::to_vec);
                    (part, found)
                });
            }
        }
        let mut owned = Owned::default();
        while let Some(r) = tasks.join_next().await {
            owned
                .found
                .push(r.map_err(|e| RunError::Other(format!("listing failed: {e}")))?);
        }
        while let Some(r) = queries.join_next().await {
            let (part, found) = r.map_err(|e| RunError::Other(format!("listing failed: {e}")))?;
            match found {
                Ok(list) => {
                    owned.tagged.insert(part, list);
                }
                Err(e) => owned
                    .found
                    .push((part, "tagged resources".into(), Err(e.into()))),
            }
        }
        Ok(owned)
    }

    /// A context for listing type `ty` in `part`: the partition's scan (if any), and the names
    /// (the type's `Resource::NAME_PROPERTY`) the plan itself has there, which were read by
    /// name already.
    pub(super) fn owned_ctx(&self, ty: &str, part: &str, scan: Option<Arc<Scan>>) -> Ctx {
        let mut cx = self.bare_ctx("", Some(part));
        cx.scan = scan;
        let Some(key) = with_type!(ty, T => <T as Resource>::NAME_PROPERTY, _ => None) else {
            return cx;
        };
        let names = self
            .spec
            .resources
            .values()
            .filter(|r| r.type_name == ty && r.partition.as_deref() == Some(part))
            .filter_map(|r| {
                Template::parse(r.properties.get(key)?.as_str()?)
                    .ok()?
                    .literal()
            })
            .collect();
        cx.ext.insert(PlannedNames(names));
        cx
    }
}
