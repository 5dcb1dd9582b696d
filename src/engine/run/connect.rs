//! Connecting: each partition's clients and credentials, who we are there (the identity
//! check that runs alongside the reads and always before a write), and the plan's lease.
//! Apart from planning and applying because none of it depends on what the plan asks for.

use super::*;

impl Engine {
    /// Connect to every partition the plan declares and check who we are there.
    pub async fn connect(spec: Plan, setup: Setup) -> Result<Engine, RunError> {
        let spec = Arc::new(spec);
        let mut tasks = tokio::task::JoinSet::new();
        // Every declared partition, used by a resource or not: one whose resources were all
        // removed from the plan still holds them, and they are orphans to delete.
        for (name, def) in &spec.partitions {
            let def = def.clone();
            let sink = setup.sink.clone();
            let opts = ConnectOptions {
                profile: setup.profiles.get(name).cloned(),
                config_file: setup.config_file.clone(),
                log: setup.choices.verbose.then(|| {
                    Arc::new(move |line: String| sink(Event::Call(line))) as crate::aws::CallLogFn
                }),
            };
            tasks.spawn(async move {
                let clients = Clients::connect(&def, &opts).await;
                // Credentials once, before the calls that run at once: a missing or broken
                // profile is then one clear error instead of one per call (the SDK's provider
                // answers concurrent first callers with "already taken").
                use aws_credential_types::provider::ProvideCredentials;
                if let Some(provider) = clients.config.credentials_provider() {
                    if let Err(e) = provider.provide_credentials().await {
                        return Err(RunError::Other(format!(
                            "partition `{}` ({}): no credentials{}: {}",
                            def.name,
                            def.region,
                            crate::aws::profile_problem(
                                opts.profile.as_deref().or(def.profile.as_deref()),
                                opts.config_file.as_deref()
                            ),
                            crate::aws::chain(&e)
                        )));
                    }
                }
                Ok(PartCtx::new(def, clients))
            });
        }
        let mut parts = BTreeMap::new();
        while let Some(r) = tasks.join_next().await {
            let p = r.map_err(|e| RunError::Other(format!("connecting failed: {e}")))??;
            parts.insert(p.def.name.clone(), Arc::new(p));
        }
        let watcher = Arc::new(watch(&parts, setup.sink.clone()));
        let prepared = Arc::new(prepared(&spec));
        let referenced = Arc::new(referenced_outputs(&spec));
        Ok(Engine {
            spec,
            parts,
            setup,
            prepared,
            referenced,
            _watcher: watcher,
        })
    }

    /// Who we are in each partition: refuses an account other than the plan's and a caller
    /// of another partition. Runs alongside the reads (which need no account and write
    /// nothing), and always before anything is written.
    pub(super) async fn identify(&self) -> Result<(), RunError> {
        self.identify_in(None).await
    }

    /// `identify`, in one partition only when `only` names it.
    async fn identify_in(&self, only: Option<&str>) -> Result<(), RunError> {
        let mut tasks = tokio::task::JoinSet::new();
        let wanted = |p: &&Arc<PartCtx>| only.is_none_or(|n| n == p.def.name);
        for p in self
            .parts
            .values()
            .filter(wanted)
            .filter(|p| p.account.get().is_none())
        {
            let p = p.clone();
            tasks.spawn(async move {
                let id = p.clients.check_account(p.def.account.as_deref()).await?;
                let _ = p.account.set(id.account);
                let _ = p.caller.set(id.arn);
                Ok::<_, crate::aws::AwsError>(())
            });
        }
        let mut first = None;
        while let Some(r) = tasks.join_next().await {
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => first = first.or(Some(RunError::Aws(e))),
                Err(e) => {
                    first = first.or(Some(RunError::Other(format!("identity check failed: {e}"))))
                }
            }
        }
        if let Some(e) = first {
            return Err(e);
        }
        match self.distinct_accounts() {
            Some(refusal) => Err(RunError::Other(refusal)),
            None => Ok(()),
        }
    }

    /// An account belongs to exactly one partition: two partitions of the plan in different
    /// AWS partitions answered by one account means one of them got the other's credentials
    /// (a wrong `--profile`, a profile pointed at the wrong endpoint), whatever the ARN says.
    /// The refusal, if two partitions share an account.
    fn distinct_accounts(&self) -> Option<String> {
        let parts: Vec<&Arc<PartCtx>> = self.parts.values().collect();
        for (i, a) in parts.iter().enumerate() {
            for b in &parts[i + 1..] {
                let (Some(x), Some(y)) = (a.account.get(), b.account.get()) else {
                    continue;
                };
                if x == y && a.def.partition != b.def.partition {
                    return Some(format!(
                        "partitions `{}` ({}) and `{}` ({}) are both answered by account {x}, \
                         but an account belongs to one partition only: one of them has the other's \
                         credentials (check the plan's `profile:` and any --profile); nothing was \
                         changed. Set `account:` on each partition to catch this by name",
                        a.def.name, a.def.partition, b.def.name, b.def.partition
                    ));
                }
            }
        }
        None
    }

    /// The keeper of the plan's lease (see `lease`); None for a plan with no partition.
    pub fn lease_keeper(&self) -> Option<crate::engine::lease::Keeper> {
        let def = self.spec.lease.as_ref()?;
        let part = self.parts.get(&def.partition)?;
        Some(crate::engine::lease::Keeper::new(
            &part.clients,
            &self.spec.identity.name,
        ))
    }

    /// Take the plan's lease for `command` (None for a plan with no partition), living `ttl`
    /// unless the plan's own. The caller's identity in the lease partition is checked first
    /// (nothing is written there before), while the lease is read; the other partitions' are
    /// checked alongside the reads, as always before their first write.
    pub async fn take_lease(
        &self,
        command: &str,
        ttl: Option<Duration>,
        unlock: &str,
        note: &(dyn Fn(String) + Send + Sync),
    ) -> Result<Option<crate::engine::lease::Lease>, RunError> {
        let (Some(keeper), Some(def)) = (self.lease_keeper(), self.spec.lease.as_ref()) else {
            return Ok(None);
        };
        let home = Some(def.partition.as_str());
        let (identified, seen) = tokio::join!(self.identify_in(home), keeper.read());
        identified?;
        let caller = self.parts[&def.partition].caller.get().cloned();
        let ttl = ttl.unwrap_or(def.ttl);
        let first = seen?;
        let lease = keeper
            .acquire(
                command,
                ttl,
                unlock,
                caller.unwrap_or_default(),
                first,
                note,
            )
            .await?;
        Ok(Some(lease))
    }
}
