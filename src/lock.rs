//! The apply/destroy lock: one writer per plan at a time on this machine.
//!
//! An advisory `flock` on `<state dir>/lock`: the kernel drops it when the holder exits, even by
//! `kill -9`, so a crashed apply never leaves a lock behind that blocks the re-run meant to
//! repair it. The file also says who holds it (pid, host, command, since), for the message the
//! next caller gets. `xpart unlock` removes the file of a lock nobody holds; a lock whose holder
//! is alive (the kernel still has its flock) is broken only with `--force`, since that run may
//! still be writing and a second run beside it would duplicate what it creates.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct Lock {
    file: File,
    path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{}: cannot create the lock: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "plan `{plan}` is locked by another run ({holder}); wait for it to finish. If that run \
         hangs, stop it, or break the lock with `{unlock} --force`"
    )]
    Held {
        plan: String,
        /// The `xpart unlock …` command for this plan, variables and state dir included.
        unlock: String,
        holder: String,
    },
}

/// What `Lock::remove` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Unlocked {
    /// There was no lock file.
    NotLocked,
    /// Removed; `holder` is set when the holder was alive and `force` broke it anyway.
    Removed { holder: Option<String> },
    /// Not removed: its holder is alive.
    Alive { holder: String },
}

fn holder_of(file: &mut File) -> String {
    let mut holder = String::new();
    let _ = file.read_to_string(&mut holder);
    let holder = holder.trim();
    if holder.is_empty() {
        "holder unknown".into()
    } else {
        // The file is ours, but bounded all the same: it is echoed in a message.
        crate::diag::excerpt(holder, 200)
    }
}

impl Lock {
    /// Take the lock of the plan whose local state is `state_dir`, or say who holds it.
    pub fn acquire(
        state_dir: &Path,
        plan: &str,
        unlock: &str,
        command: &str,
    ) -> Result<Lock, LockError> {
        let path = state_dir.join("lock");
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(state_dir).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Held {
                    plan: plan.to_string(),
                    unlock: unlock.to_string(),
                    holder: holder_of(&mut file),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let since = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let who = format!(
            "`xpart {command}`, pid {} on {}, since {since}",
            std::process::id(),
            host.trim()
        );
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        file.write_all(who.as_bytes()).map_err(io)?;
        Ok(Lock { file, path })
    }

    /// Remove the lock file of a lock nobody holds; one whose holder is alive only when
    /// `force`. Whether the holder is alive is the kernel's answer: it still holds the flock.
    pub fn remove(state_dir: &Path, force: bool) -> std::io::Result<Unlocked> {
        let path = state_dir.join("lock");
        let mut file = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Unlocked::NotLocked),
            Err(e) => return Err(e),
        };
        let holder = match file.try_lock() {
            // Nobody holds it: remove it while holding it, so no run takes it in between.
            Ok(()) => None,
            Err(TryLockError::WouldBlock) => Some(holder_of(&mut file)),
            Err(TryLockError::Error(e)) => return Err(e),
        };
        if let (Some(holder), false) = (&holder, force) {
            return Ok(Unlocked::Alive {
                holder: holder.clone(),
            });
        }
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(Unlocked::Removed { holder }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Unlocked::NotLocked),
            Err(e) => Err(e),
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Clear the holder line; the flock itself goes with the file handle.
        let _ = self.file.set_len(0);
        let _ = &self.path;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_taker_is_told_who_holds_it_and_can_take_it_after_release() {
        let dir = std::env::temp_dir().join(format!("xpart-lock-{}", std::process::id()));
        let unlock = "xpart unlock plans/p.yaml --var suffix=a";
        let first = Lock::acquire(&dir, "p", unlock, "apply").unwrap();
        let err = Lock::acquire(&dir, "p", unlock, "destroy").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        assert!(msg.contains(&format!("`{unlock} --force`")), "{msg}");
        drop(first);
        Lock::acquire(&dir, "p", unlock, "apply").unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_live_lock_is_removed_only_by_force_and_a_dead_one_at_once() {
        let dir = std::env::temp_dir().join(format!("xpart-unlock-{}", std::process::id()));
        assert_eq!(Lock::remove(&dir, false).unwrap(), Unlocked::NotLocked);
        let held = Lock::acquire(&dir, "p", "xpart unlock p.yaml", "apply").unwrap();
        match Lock::remove(&dir, false).unwrap() {
            Unlocked::Alive { holder } => assert!(holder.contains("`xpart apply`"), "{holder}"),
            other => panic!("a live lock was not refused: {other:?}"),
        }
        assert!(dir.join("lock").exists(), "refusing removed it anyway");
        assert!(matches!(
            Lock::remove(&dir, true).unwrap(),
            Unlocked::Removed { holder: Some(_) }
        ));
        drop(held);
        // A lock file left by a run that is gone (nobody holds the flock).
        std::fs::write(dir.join("lock"), "`xpart apply`, pid 1 on gone").unwrap();
        assert_eq!(
            Lock::remove(&dir, false).unwrap(),
            Unlocked::Removed { holder: None }
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
