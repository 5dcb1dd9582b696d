//! The per-user credential cache: a file per certificate, role and session, mode 0600 in a
//! 0700 directory, used until `CACHE_MARGIN` before expiry; the private key is never in it.

use super::*;
use crate::keyfile::user_name;

/// Credentials are reused from the cache until this long before they expire.
pub const CACHE_MARGIN: Duration = Duration::from_secs(5 * 60);

pub(super) use crate::hex::hex;

/// SHA-256 over everything that decides which credentials CreateSession returns.
pub(super) fn cache_key(args: &CredentialProcessArgs, p: &Prepared) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let duration = args.session_duration.to_string();
    for field in [
        b"xpart credential-process cache v1".as_slice(),
        &p.cert.der,
        args.trust_anchor_arn.as_bytes(),
        args.profile_arn.as_bytes(),
        args.role_arn.as_bytes(),
        p.region.as_bytes(),
        p.endpoint.url.as_bytes(),
        duration.as_bytes(),
        args.role_session_name.as_deref().unwrap_or("").as_bytes(),
        &[u8::from(args.role_session_name.is_some())],
    ] {
        ctx.update(&(field.len() as u64).to_be_bytes());
        ctx.update(field);
    }
    hex(ctx.finish().as_ref())
}

/// The per-user credential cache: a 0700 directory of 0600 JSON files named by the key.
pub(super) struct Cache {
    pub(super) dir: PathBuf,
}

impl Cache {
    pub(super) fn open(dir: &Path) -> Result<Cache, String> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {}", dir.display(), io_reason(&e)))?;
        let meta = std::fs::symlink_metadata(dir)
            .map_err(|e| format!("cannot inspect {}: {}", dir.display(), io_reason(&e)))?;
        if !meta.is_dir() {
            return Err(format!("{} is not a directory", dir.display()));
        }
        // Only the owner (or root) can change the mode: success means the directory is ours.
        if meta.mode() & 0o777 != 0o700 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| {
                format!(
                    "{} (owner {}, mode {:04o}) cannot be made private: {}",
                    dir.display(),
                    user_name(meta.uid()),
                    meta.mode() & 0o7777,
                    io_reason(&e)
                )
            })?;
        }
        Ok(Cache {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    pub(super) fn get(&self, key: &str, now: OffsetDateTime) -> Option<ProcessCredentials> {
        let path = self.path(key);
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if !meta.is_file() || meta.mode() & 0o077 != 0 {
            return None;
        }
        let text = std::fs::read(&path).ok()?;
        let creds: ProcessCredentials = serde_json::from_slice(&text).ok()?;
        let expires = creds.expiration_time()?;
        (creds.version == 1 && usable(expires, now)).then_some(creds)
    }

    pub(super) fn put(&self, key: &str, creds: &ProcessCredentials) -> Result<(), String> {
        write_private(&self.path(key), creds.to_json().as_bytes(), key)
    }
}

/// Whether credentials expiring at `expires` may still be handed out at `now`.
pub fn usable(expires: OffsetDateTime, now: OffsetDateTime) -> bool {
    expires - now > CACHE_MARGIN
}

/// Credentials kept in memory by a long-running mode (`serve`, `update`): the last obtained,
/// by their cache key.
#[derive(Default)]
pub(crate) struct Memo {
    last: std::sync::Mutex<Option<(String, ProcessCredentials)>>,
}

impl Memo {
    pub(super) fn get(&self, key: &str, now: OffsetDateTime) -> Option<ProcessCredentials> {
        let last = self.last.lock().unwrap();
        let (k, creds) = last.as_ref()?;
        let fresh = creds.expiration_time().is_some_and(|e| usable(e, now));
        (k == key && fresh).then(|| creds.clone())
    }

    pub(super) fn put(&self, key: &str, creds: &ProcessCredentials) {
        *self.last.lock().unwrap() = Some((key.to_string(), creds.clone()));
    }
}
