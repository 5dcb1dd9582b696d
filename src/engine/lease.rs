//! The plan's lease: `apply` and `destroy` hold it in the plan's lease partition, so two runs
//! (two machines, two directories) never both write.
//!
//! It lives in one Secrets Manager secret per plan identity, `xpart/lease/<identity>`, whose
//! current value (the version labelled AWSCURRENT) names the holder. Every change of holder,
//! and every renewal, is one compare-and-swap: the new record is written as a staged version
//! (PutSecretValue with a label of its own), then AWSCURRENT is moved to it with
//! UpdateSecretVersionStage, which "fails if the version ID [in RemoveFromVersionId] does not
//! match" the version that holds it (Secrets Manager API reference). Of two runs that read the
//! same record, exactly one moves the label; the other re-reads and sees the winner. Taking a
//! free lease the first time is CreateSecret, which one run wins (ResourceExistsException for
//! the others).
//!
//! Why a secret and not S3 (Terraform's S3 backend writes its lock object with If-None-Match):
//! the plan's partitions already answer Secrets Manager and xpart already holds its client,
//! nothing has to exist before the first run (no bucket to create, name or protect), and the
//! label move gives compare-and-swap for renewals and takeovers, which a create-only object
//! does not. Terraform's lock has no expiry; this one does.
//!
//! A lease expires when its holder stops renewing it (every third of its life). Expiry is
//! judged without trusting clocks across machines: a lease whose last renewal looks older than
//! its life (by the secret version's creation time, the service's clock) is watched for one
//! whole life on this machine's monotonic clock, and taken only if it did not change. A holder
//! on this host whose process is gone is known dead at once. A holder whose renewal fails
//! (taken over, or unreachable for a whole life) cancels its run.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::aws::{AwsError, Clients};
use crate::engine::types::shared::NOT_FOUND;
use crate::engine::walk::Cancel;
use crate::hex::hex;

/// The staging label a claim is written under before AWSCURRENT moves to it.
const CLAIM: &str = "XPART_CLAIM";

/// Who holds a lease: enough to find the run (and its machine) and to tell it apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    /// The caller's ARN in the lease partition.
    pub caller: String,
    pub host: String,
    pub pid: u32,
    /// `apply` or `destroy`.
    pub command: String,
    /// When the run took the lease (RFC 3339, UTC, its machine's clock).
    pub since: String,
    /// Where its pid means something: the kernel's boot, the pid namespace and the process's
    /// start (see `Process`). Absent in a record of an older xpart: such a holder is never
    /// judged dead on sight, its lease runs out instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
}

/// What proves a holder's pid is gone on this machine, beyond a shared hostname: CI runners are
/// containers, and containers often share one (a fixed `--hostname`, host networking, pods on
/// one node) while each has pids of its own. The same boot (`/proc/sys/kernel/random/boot_id`)
/// and the same pid namespace (`/proc/self/ns/pid`) say the pid is in the same numbering as
/// ours; its start time (`/proc/PID/stat`, field 22, in clock ticks since boot) tells a reused
/// pid apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    pub boot_id: String,
    pub pid_namespace: String,
    pub started: u64,
}

impl Process {
    /// This process, where `/proc` says all three.
    fn current() -> Option<Process> {
        Some(Process {
            boot_id: boot_id()?,
            pid_namespace: pid_namespace()?,
            started: started(std::process::id())?,
        })
    }
}

fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(id.trim().to_string()).filter(|s| !s.is_empty())
}

fn pid_namespace() -> Option<String> {
    let ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(ns.to_string_lossy().into_owned())
}

/// When process `pid` started, in clock ticks after boot (`/proc/PID/stat`, field 22); None
/// when there is no such process.
fn started(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after its end.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} by {} on {} (pid {}) since {}",
            self.command, self.caller, self.host, self.pid, self.since
        )
    }
}

/// The lease secret's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The holding run's token (random, per run).
    pub lease: String,
    pub holder: Holder,
    pub ttl_seconds: u64,
    /// Released by its holder (or broken by `unlock --force`): free to take.
    pub released: bool,
}

impl Record {
    /// How long the lease outlives its holder's last renewal.
    pub fn life(&self) -> Duration {
        Duration::from_secs(self.ttl_seconds)
    }
}

/// What stands in a run's way.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("plan `{identity}` is being changed by another run: {holder}, renewed {renewed}s ago; nothing was changed. Wait for it to finish, or if it is gone, run `{unlock}` to see the lease and `{unlock} --force` to break it", renewed = .renewed_ago.as_secs())]
    Held {
        identity: String,
        holder: Holder,
        renewed_ago: Duration,
        unlock: String,
    },
    #[error("the lease secret {name} holds something else than a lease ({why}); nothing was changed. It is not xpart's: move it, or delete it at once (a deletion with a recovery window keeps the name taken for days): `{cli} secretsmanager delete-secret --secret-id {name} --force-delete-without-recovery`; or set `lease.partition` to another partition")]
    Foreign {
        name: String,
        why: String,
        cli: String,
    },
    #[error("the lease secret {name} is scheduled for deletion, so no run can take the plan's lease until it is restored or gone; nothing was changed. Restore it (`{cli} secretsmanager restore-secret --secret-id {name}`, then `xpart unlock --force` if a run left it), or delete it at once (`{cli} secretsmanager delete-secret --secret-id {name} --force-delete-without-recovery`)")]
    PendingDeletion { name: String, cli: String },
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// The current record and how it stands.
#[derive(Debug, Clone)]
pub struct Seen {
    pub record: Record,
    pub version: String,
    /// Since its last renewal, by the service's clock against this machine's.
    pub renewed_ago: Duration,
}

/// The lease secret's name for a plan identity: Secrets Manager's characters only, and a digest
/// of the identity so that two identities never share one.
pub fn secret_name(identity: &str) -> String {
    let safe = crate::engine::tags::name_part(identity, "/_+=.@-", 200);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, identity.as_bytes());
    format!("xpart/lease/{safe}-{}", &hex(digest.as_ref())[..8])
}

/// A fresh token: 32 hex characters (a ClientRequestToken takes 32 to 64).
fn token() -> String {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).expect("the system's random source");
    hex(&b)
}

/// The lease of one plan identity in one partition.
pub struct Keeper {
    clients: Clients,
    identity: String,
    name: String,
}

impl Keeper {
    pub fn new(clients: &Clients, identity: &str) -> Keeper {
        Keeper {
            clients: clients.clone(),
            identity: identity.to_string(),
            name: secret_name(identity),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `aws --region R [--profile P]`: the start of an AWS CLI command for the lease's partition,
    /// for the fixes messages give.
    fn cli(&self) -> String {
        let mut words = format!("aws --region {}", self.clients.region);
        if let Some(p) = &self.clients.profile {
            words.push_str(&format!(" --profile {}", crate::shell::quote(p)));
        }
        words
    }

    /// The record as it stands; None when no run ever took this lease.
    pub async fn read(&self) -> Result<Option<Seen>, LeaseError> {
        let sm = &self.clients.secrets;
        let got = match sm.get_secret_value().secret_id(&self.name).send().await {
            Ok(g) => g,
            Err(e) => {
                let e = self.clients.error("GetSecretValue", e);
                if e.code.as_deref().is_some_and(|c| NOT_FOUND.contains(&c)) {
                    return Ok(None);
                }
                if e.is_secret_marked_deleted() {
                    return Err(LeaseError::PendingDeletion {
                        name: self.name.clone(),
                        cli: self.cli(),
                    });
                }
                return Err(e.into());
            }
        };
        let text = got.secret_string().unwrap_or_default();
        let record: Record = serde_json::from_str(text).map_err(|e| LeaseError::Foreign {
            name: self.name.clone(),
            why: e.to_string(),
            cli: self.cli(),
        })?;
        let created = got
            .created_date()
            .and_then(|d| SystemTime::try_from(*d).ok())
            .unwrap_or_else(SystemTime::now);
        Ok(Some(Seen {
            record,
            version: got.version_id().unwrap_or_default().to_string(),
            renewed_ago: SystemTime::now()
                .duration_since(created)
                .unwrap_or_default(),
        }))
    }

    /// Take the lease for a run of `command` by `caller`, or say who holds it: `first` is the
    /// record as just read. `note` hears why it waits.
    pub async fn acquire(
        self,
        command: &str,
        ttl: Duration,
        unlock: &str,
        caller: String,
        first: Option<Seen>,
        note: &(dyn Fn(String) + Send + Sync),
    ) -> Result<Lease, LeaseError> {
        let ours = Record {
            lease: token(),
            holder: Holder {
                caller,
                host: host(),
                pid: std::process::id(),
                command: command.to_string(),
                since: now_rfc3339(),
                process: Process::current(),
            },
            ttl_seconds: ttl.as_secs(),
            released: false,
        };
        // A version seen current, and since when (this machine's monotonic clock).
        let mut watched: Option<(String, Instant)> = None;
        // Bounded: each turn either takes the lease, fails, or waits out a part of one life.
        let mut first = Some(first);
        for _ in 0..64 {
            let seen = match first.take() {
                Some(s) => s,
                None => self.read().await?,
            };
            let Some(seen) = seen else {
                if let Some(version) = self.create(&ours).await? {
                    return Ok(self.held(ours, version));
                }
                continue; // another run created it first: read what it wrote
            };
            if seen.record.lease == ours.lease {
                // Our own claim, whose answer was lost.
                return Ok(self.held(ours, seen.version));
            }
            let free = seen.record.released || dead_here(&seen.record.holder);
            let stale = match &watched {
                Some((v, since)) if *v == seen.version => since.elapsed() >= seen.record.life(),
                _ => false,
            };
            if free || stale {
                if let Some(version) = self.swap(&seen.version, &ours).await? {
                    return Ok(self.held(ours, version));
                }
                continue; // another run moved it first
            }
            let life = seen.record.life();
            if seen.renewed_ago < life {
                return Err(LeaseError::Held {
                    identity: self.identity.clone(),
                    holder: seen.record.holder,
                    renewed_ago: seen.renewed_ago,
                    unlock: unlock.to_string(),
                });
            }
            // Its holder stopped renewing it, by the clocks: watch it for one whole life.
            if watched.as_ref().map(|(v, _)| v) != Some(&seen.version) {
                note(format!(
                    "the lease of {} (pid {} on {}) was last renewed {}s ago; taking it if it is not renewed within {}s",
                    seen.record.holder.caller,
                    seen.record.holder.pid,
                    seen.record.holder.host,
                    seen.renewed_ago.as_secs(),
                    life.as_secs()
                ));
                watched = Some((seen.version.clone(), Instant::now()));
            }
            tokio::time::sleep((life / 4).max(Duration::from_millis(250))).await;
        }
        Err(LeaseError::Foreign {
            name: self.name.clone(),
            why: "it changed hands on every read".into(),
            cli: self.cli(),
        })
    }

    fn held(self, record: Record, version: String) -> Lease {
        Lease {
            keeper: self,
            record,
            version: Mutex::new(version),
        }
    }

    /// CreateSecret with our record; the version it made, or None when another run's create
    /// came first.
    async fn create(&self, ours: &Record) -> Result<Option<String>, LeaseError> {
        let version = token();
        let made = self
            .clients
            .secrets
            .create_secret()
            .name(&self.name)
            .description("xpart: who is changing this plan (see the README, Locking)")
            .secret_string(serde_json::to_string(ours).expect("a record serializes"))
            .client_request_token(&version)
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key("xpart:lease")
                    .value(&self.identity)
                    .build(),
            )
            .send()
            .await;
        match made {
            Ok(out) => Ok(Some(out.version_id().unwrap_or(&version).to_string())),
            Err(e) => {
                let e = self.clients.error("CreateSecret", e);
                match e.code.as_deref() {
                    Some("ResourceExistsException") => Ok(None),
                    // The lease of a destroyed plan, still being deleted: again shortly.
                    _ if e.is_secret_scheduled_for_deletion() => {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        Ok(None)
                    }
                    _ => Err(e.into()),
                }
            }
        }
    }

    /// Replace the current version `current` with `record`: the version that now holds
    /// AWSCURRENT, or None when `current` no longer did (another run moved it first).
    async fn swap(&self, current: &str, record: &Record) -> Result<Option<String>, LeaseError> {
        let sm = &self.clients.secrets;
        let version = token();
        let put = sm
            .put_secret_value()
            .secret_id(&self.name)
            .secret_string(serde_json::to_string(record).expect("a record serializes"))
            .client_request_token(&version)
            .version_stages(CLAIM)
            .send()
            .await;
        if let Err(e) = put {
            let e = self.clients.error("PutSecretValue", e);
            // Deleted by the run that held it, which has ended: there is nothing to swap.
            if e.code.as_deref().is_some_and(|c| NOT_FOUND.contains(&c)) {
                return Ok(None);
            }
            return Err(e.into());
        }
        let moved = sm
            .update_secret_version_stage()
            .secret_id(&self.name)
            .version_stage("AWSCURRENT")
            .remove_from_version_id(current)
            .move_to_version_id(&version)
            .send()
            .await;
        match moved {
            Ok(_) => Ok(Some(version)),
            Err(e) => {
                let e = self.clients.error("UpdateSecretVersionStage", e);
                if e.code.as_deref() != Some("InvalidParameterException") {
                    return Err(e.into());
                }
                // Refused: `current` is no longer current. Ours, if the refusal answers a
                // retry whose first attempt moved it (a lost answer).
                let now = self.read().await?;
                Ok(now.filter(|s| s.version == version).map(|s| s.version))
            }
        }
    }

    /// Free the lease whoever holds it (`unlock --force`): the record it broke, or None when
    /// there was nothing to break.
    pub async fn force_release(&self) -> Result<Option<Record>, LeaseError> {
        for _ in 0..8 {
            let Some(seen) = self.read().await? else {
                return Ok(None);
            };
            if seen.record.released {
                return Ok(None);
            }
            let broken = Record {
                released: true,
                ..seen.record.clone()
            };
            if self.swap(&seen.version, &broken).await?.is_some() {
                return Ok(Some(seen.record));
            }
        }
        Err(LeaseError::Foreign {
            name: self.name.clone(),
            why: "it changed hands on every attempt to break it".into(),
            cli: self.cli(),
        })
    }
}

/// A lease this run holds.
pub struct Lease {
    keeper: Keeper,
    record: Record,
    version: Mutex<String>,
}

impl Lease {
    /// Renew the lease every third of its life until the run ends; when it cannot (another run
    /// took it, or no renewal got through for a whole life), say so through `note` and cancel
    /// the run.
    pub fn keep(
        self: &Arc<Self>,
        cancel: Cancel,
        note: Arc<dyn Fn(String) + Send + Sync>,
    ) -> JoinHandle<()> {
        let lease = self.clone();
        tokio::spawn(async move {
            let every = (lease.record.life() / 3).max(Duration::from_millis(500));
            let mut renewed = Instant::now();
            loop {
                tokio::time::sleep(every).await;
                let current = lease.version.lock().unwrap().clone();
                match lease.keeper.swap(&current, &lease.record).await {
                    Ok(Some(v)) => {
                        *lease.version.lock().unwrap() = v;
                        renewed = Instant::now();
                    }
                    Ok(None) => {
                        note(format!(
                            "lost the lease {}: another run took it; stopping",
                            lease.keeper.name
                        ));
                        cancel.cancel();
                        return;
                    }
                    Err(e) if renewed.elapsed() + every >= lease.record.life() => {
                        note(format!("cannot renew the lease ({e}); stopping"));
                        cancel.cancel();
                        return;
                    }
                    Err(_) => {} // transient: the next turn tries again
                }
            }
        })
    }

    /// Give the lease up at the end of the run: its secret is deleted, so that a plan leaves
    /// nothing behind between runs. Only while it is still ours: a lease renewed within its
    /// life cannot change hands in between (taking one needs it released, its holder dead, or
    /// a whole life without renewal), so the read and the delete need no condition between
    /// them. The next run creates it afresh.
    pub async fn end(&self) -> Result<(), LeaseError> {
        let Some(seen) = self.keeper.read().await? else {
            return Ok(());
        };
        if seen.record.lease != self.record.lease {
            return Ok(()); // taken over after we lost it: the new holder's now
        }
        let sm = &self.keeper.clients.secrets;
        let deleted = sm
            .delete_secret()
            .secret_id(&self.keeper.name)
            .force_delete_without_recovery(true)
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = self.keeper.clients.error("DeleteSecret", e);
                if e.code.as_deref().is_some_and(|c| NOT_FOUND.contains(&c)) {
                    return Ok(()); // gone already
                }
                Err(e.into())
            }
        }
    }
}

/// This machine's name.
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// Whether the holder is proven gone: on this host, in this boot and this pid namespace, and
/// its pid is free or taken by a process started at another time. Then its lease is free at
/// once. Anything less (another machine, another container with the same hostname, a record
/// without the proof) is not a proof: the lease runs out its life instead, as a holder
/// elsewhere's does.
pub fn dead_here(h: &Holder) -> bool {
    let Some(p) = &h.process else {
        return false;
    };
    !h.host.is_empty()
        && h.host == host()
        && boot_id().as_ref() == Some(&p.boot_id)
        && pid_namespace().as_ref() == Some(&p.pid_namespace)
        && started(h.pid) != Some(p.started)
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_are_valid_and_distinct() {
        let a = secret_name("china-to-commercial");
        let b = secret_name("china to commercial");
        assert!(a.starts_with("xpart/lease/china-to-commercial-"), "{a}");
        assert_ne!(a, b, "identities that sanitize alike keep distinct names");
        let long = secret_name(&"x".repeat(600));
        assert!(long.len() <= 512, "{}", long.len());
        assert!(b
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c)));
    }

    #[test]
    fn tokens_fit_a_client_request_token_and_differ() {
        let (a, b) = (token(), token());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn a_holder_on_this_host_is_dead_only_when_its_process_is_proven_gone() {
        let me = Holder {
            caller: "arn:aws:sts::111122223333:assumed-role/r/s".into(),
            host: host(),
            pid: std::process::id(),
            command: "apply".into(),
            since: now_rfc3339(),
            process: Process::current(),
        };
        assert!(
            me.process.is_some(),
            "/proc tells this process's boot, namespace and start"
        );
        assert!(!dead_here(&me), "this very process is alive");
        let gone = Holder {
            pid: u32::MAX - 1,
            ..me.clone()
        };
        assert!(dead_here(&gone), "a free pid in our boot and namespace");
        let reused = Holder {
            process: me.process.clone().map(|p| Process {
                started: p.started + 1,
                ..p
            }),
            ..me.clone()
        };
        assert!(
            dead_here(&reused),
            "our pid, but a process started at another time"
        );
        let elsewhere = |h: Holder| !dead_here(&h);
        assert!(elsewhere(Holder {
            host: "another-host".into(),
            ..gone.clone()
        }));
        for other in [
            |p: &mut Process| p.pid_namespace = "pid:[1]".into(),
            |p: &mut Process| p.boot_id = "another boot".into(),
        ] {
            let mut h = gone.clone();
            other(h.process.as_mut().unwrap());
            assert!(
                elsewhere(h),
                "another container or boot with the same hostname"
            );
        }
        assert!(
            elsewhere(Holder {
                process: None,
                ..gone
            }),
            "a record without the proof (an older xpart's) runs out its life"
        );
    }
}
