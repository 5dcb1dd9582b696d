//! The apply/destroy lock: one writer per plan at a time on this machine.
//!
//! An advisory `flock` on `<state dir>/lock`: the kernel drops it when the holder exits, even by
//! `kill -9`, so a crashed apply never leaves a lock behind that blocks the re-run meant to
//! repair it. The file also says who holds it (pid, host, command, since), for the message the
//! next caller gets. `xpart unlock` removes the file, which breaks a lock held on a filesystem
//! where flock is not shared (NFS) or by a process that hangs.

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
        "plan `{plan}` is locked by another run ({holder}); wait for it to finish. If it is gone \
         and the lock is stale, remove it with `xpart unlock {plan_file}`"
    )]
    Held {
        plan: String,
        plan_file: String,
        holder: String,
    },
}

impl Lock {
    /// Take the lock of the plan whose local state is `state_dir`, or say who holds it.
    pub fn acquire(
        state_dir: &Path,
        plan: &str,
        plan_file: &str,
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
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(LockError::Held {
                    plan: plan.to_string(),
                    plan_file: plan_file.to_string(),
                    holder: if holder.is_empty() {
                        "holder unknown".into()
                    } else {
                        holder.to_string()
                    },
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

    /// Remove a lock file (breaking a stale lock). Returns whether there was one.
    pub fn remove(state_dir: &Path) -> std::io::Result<bool> {
        match std::fs::remove_file(state_dir.join("lock")) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
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
        let first = Lock::acquire(&dir, "p", "plans/p.yaml", "apply").unwrap();
        let err = Lock::acquire(&dir, "p", "plans/p.yaml", "destroy").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        assert!(msg.contains("xpart unlock plans/p.yaml"), "{msg}");
        drop(first);
        Lock::acquire(&dir, "p", "plans/p.yaml", "apply").unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
