//! The certificate and key files: read within bounds, and a key refused when every user may
//! read it.

use super::*;

/// Read a file, or say why not: with the owner and mode when the file exists.
/// Regular files of at most `input::MAX_PEM` bytes only: a device or a huge file is refused
/// before anything is read into memory.
pub fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, CredentialError> {
    crate::input::read(what, path, crate::input::MAX_PEM).map_err(|e| match e {
        crate::input::InputError::Io { reason, .. } => {
            let meta = std::fs::metadata(path).ok();
            CredentialError::Unreadable {
                what,
                path: path.to_path_buf(),
                owner_uid: meta.as_ref().map(|m| m.uid()),
                mode: meta.as_ref().map(|m| m.mode()),
                reason,
            }
        }
        other => CredentialError::BadFile {
            what,
            path: path.to_path_buf(),
            reason: match other {
                crate::input::InputError::NotAFile { kind, .. } => {
                    format!("{kind}, not a regular file")
                }
                _ => format!("larger than {} bytes", crate::input::MAX_PEM),
            },
        },
    })
}

/// Refuse a private key file every user may read or write (as ssh does): whoever reads it
/// gets the role. Group access stays allowed, the way to share a key with a service user.
pub(super) fn refuse_exposed_key(path: &Path) -> Result<(), CredentialError> {
    // Read just now; a file gone since is the signer's problem.
    match crate::keyfile::exposed(path) {
        Ok(Some((owner_uid, mode))) => Err(CredentialError::ExposedKey {
            path: path.to_path_buf(),
            owner_uid,
            mode,
        }),
        _ => Ok(()),
    }
}

/// Write `bytes` to `path` whole: into a new file of mode 0600 beside it, then renamed over
/// it, so a reader sees the old file or the new one, never part of either. `tmp_name` names
/// the temporary file (unique per process and moment).
pub(super) fn write_private(path: &Path, bytes: &[u8], tmp_name: &str) -> Result<(), String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    let tmp = dir.join(format!(".{tmp_name}.{}.{nanos}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {}: {}", path.display(), io_reason(&e))
    })
}
