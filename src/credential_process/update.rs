//! `xpart credential-process update`: keeps a profile of the shared credentials file fresh,
//! for tools that read only that file.
//!
//! As aws_signing_helper's `update`: the file is `AWS_SHARED_CREDENTIALS_FILE`, else
//! `~/.aws/credentials`; the profile's `aws_access_key_id`, `aws_secret_access_key` and
//! `aws_session_token` are replaced and everything else in the file is kept. The file is
//! written whole to a temporary file (mode 0600) and renamed over the old one, so a reader never
//! sees half of it; writers of one file take turns (a lock beside it), a link is written
//! through, and the file is read bounded (a FIFO or a device is refused). Every few seconds it reads the certificate and key again: new credentials
//! are written before the old ones are within 5 minutes of expiry, and at once when the renewal
//! path replaced the certificate (the helper's own reads them only at start-up).

use super::*;

/// Arguments of `xpart credential-process update`; the names are aws_signing_helper's.
#[derive(Debug, Clone, clap::Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub args: CredentialProcessArgs,
    /// The profile of the shared credentials file to keep fresh.
    #[arg(long, default_value = "default")]
    pub profile: String,
    /// Write the credentials once and exit.
    #[arg(long)]
    pub once: bool,
}

/// How often the certificate and key are looked at again.
const POLL: Duration = Duration::from_secs(5);

/// The keys of a profile this mode writes.
const KEYS: [&str; 3] = [
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
];

/// The shared credentials file the AWS SDKs read.
fn credentials_file() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".aws").join("credentials"))
}

/// `text` (a shared credentials file) with `profile`'s keys set to `c`: other profiles, other
/// keys of this one, comments and blank lines as they were; the profile added at the end when
/// the file has none.
pub(crate) fn with_profile(text: &str, profile: &str, c: &ProcessCredentials) -> String {
    let fresh = [
        format!("{} = {}", KEYS[0], c.access_key_id),
        format!("{} = {}", KEYS[1], c.secret_access_key),
        format!("{} = {}", KEYS[2], c.session_token),
    ];
    let section = |line: &str| {
        let t = line.trim();
        (t.starts_with('[') && t.ends_with(']')).then(|| t[1..t.len() - 1].trim().to_string())
    };
    let ours_key = |line: &str| {
        line.split_once('=')
            .is_some_and(|(k, _)| KEYS.contains(&k.trim().to_ascii_lowercase().as_str()))
    };
    let mut out: Vec<String> = vec![];
    let mut inside = false;
    let mut found = false;
    for line in text.lines() {
        if let Some(name) = section(line) {
            inside = name == profile;
            out.push(line.to_string());
            if inside && !found {
                found = true;
                out.extend(fresh.iter().cloned());
            }
            continue;
        }
        if inside && ours_key(line) {
            continue;
        }
        out.push(line.to_string());
    }
    if !found {
        if out.last().is_some_and(|l| !l.trim().is_empty()) {
            out.push(String::new());
        }
        out.push(format!("[{profile}]"));
        out.extend(fresh.iter().cloned());
    }
    let mut s = out.join("\n");
    s.push('\n');
    s
}

/// A shared credentials file: real ones hold a few profiles, a few kilobytes.
const MAX_CREDENTIALS: u64 = 1 << 20;

/// How long a write waits for another writer of the same file (another `update`) to finish.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// The file a write of `path` goes to: `path`, or the file its symbolic links lead to. The link
/// stays a link and its target gets the credentials, as `aws configure set` writes through one
/// (a rename over the link would turn it into a file and leave the target stale). Bounded as
/// the kernel bounds a path's links (40).
fn write_target(path: &Path) -> Result<PathBuf, String> {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = std::fs::read_link(&p).map_err(|e| {
                    format!("cannot read the link {}: {}", p.display(), io_reason(&e))
                })?;
                // A relative target is relative to the link's folder; `join` keeps an absolute one.
                p = p.parent().map(|d| d.join(&to)).unwrap_or(to);
            }
            _ => return Ok(p),
        }
    }
    Err(format!(
        "{}: too many levels of symbolic links",
        path.display()
    ))
}

/// An exclusive lock held while the file is read, edited and renamed, so that two updates of
/// one file at once (several profiles kept by several helpers) cannot each write over the
/// other's profile. The lock is a file of its own beside the credentials (`.NAME.lock`): the
/// credentials file is replaced by a rename, and a lock on it would be a lock on the old inode.
/// The lock file is left in place: removing it would let a third writer lock a new file while
/// the second still holds the old one.
fn lock_beside(target: &Path, dir: &Path) -> Result<std::fs::File, String> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "credentials".into());
    let lock = dir.join(format!(".{name}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock)
        .map_err(|e| format!("cannot open {}: {}", lock.display(), io_reason(&e)))?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(format!(
                    "another writer has held {} for {} s; is another `xpart credential-process \
                     update` of this file stuck?",
                    lock.display(),
                    LOCK_WAIT.as_secs()
                ))
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(format!("cannot lock {}: {}", lock.display(), io_reason(&e)))
            }
        }
    }
}

/// Write `profile`'s credentials into `path` (through its links), whole and atomically, mode
/// 0600, under the file's lock: read, edited and renamed by one writer at a time, so a
/// concurrent update of another profile is read back, not lost.
fn write_profile(path: &Path, profile: &str, c: &ProcessCredentials) -> Result<(), String> {
    let target = write_target(path)?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("cannot create {}: {}", dir.display(), io_reason(&e)))?;
    let _lock = lock_beside(&target, &dir)?;
    // Bounded and regular files only: a FIFO or `/dev/zero` in its place is refused at once.
    let old = match crate::input::read_text("credentials file", &target, MAX_CREDENTIALS) {
        Ok(t) => t,
        Err(crate::input::InputError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            String::new()
        }
        Err(e) => return Err(e.to_string()),
    };
    write_private(
        &target,
        with_profile(&old, profile, c).as_bytes(),
        "credentials",
    )
}

/// Run `xpart credential-process update`: once, or until stopped.
pub fn update(a: &UpdateArgs) -> ExitCode {
    let Some(path) = credentials_file() else {
        eprintln!("error: no credentials file: set AWS_SHARED_CREDENTIALS_FILE or HOME");
        return ExitCode::FAILURE;
    };
    let env = Environment::from_process();
    let memo = Memo::default();
    // The credentials last written, by access key id.
    let mut written: Option<String> = None;
    loop {
        match obtain_kept(&a.args, &env, &mut std::io::stderr(), Some(&memo)) {
            Ok(o) if written.as_deref() != Some(&o.credentials.access_key_id) => {
                let c = &o.credentials;
                match write_profile(&path, &a.profile, c) {
                    Ok(()) => {
                        eprintln!(
                            "profile [{}] of {} updated: credentials expire at {}",
                            a.profile,
                            path.display(),
                            c.expiration
                        );
                        written = Some(c.access_key_id.clone());
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        if a.once {
                            return ExitCode::FAILURE;
                        }
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                // A daemon keeps trying: the service or the path to it may come back before
                // the credentials written last expire.
                eprintln!("error: {e}");
                if a.once {
                    return ExitCode::FAILURE;
                }
            }
        }
        if a.once {
            return ExitCode::SUCCESS;
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(id: &str) -> ProcessCredentials {
        ProcessCredentials {
            version: 1,
            access_key_id: id.into(),
            secret_access_key: "s".into(),
            session_token: "t".into(),
            expiration: "2030-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn a_profile_is_set_and_the_rest_of_the_file_kept() {
        let before = "# mine\n[default]\naws_access_key_id = A\nregion = x\n\n[ra]\nAWS_ACCESS_KEY_ID=OLD\naws_session_token = OLD\nextra = 1\n[other]\naws_access_key_id = B\n";
        let after = with_profile(before, "ra", &creds("NEW"));
        assert_eq!(
            after,
            "# mine\n[default]\naws_access_key_id = A\nregion = x\n\n[ra]\naws_access_key_id = NEW\naws_secret_access_key = s\naws_session_token = t\nextra = 1\n[other]\naws_access_key_id = B\n"
        );
        // Again: the same file.
        assert_eq!(with_profile(&after, "ra", &creds("NEW")), after);
        // A profile the file lacks is added at the end.
        assert_eq!(
            with_profile("[a]\nx = 1", "ra", &creds("N")),
            "[a]\nx = 1\n\n[ra]\naws_access_key_id = N\naws_secret_access_key = s\naws_session_token = t\n"
        );
        assert_eq!(
            with_profile("", "ra", &creds("N")),
            "[ra]\naws_access_key_id = N\naws_secret_access_key = s\naws_session_token = t\n"
        );
    }

    fn tempdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xpart-update-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Thirty-two writers of one file at once, each its own profile, ten times over: every
    /// profile is there at the end, with the one already in the file (issue #25, 5: each read,
    /// edited and renamed with no lock, and lost others' profiles).
    #[test]
    fn concurrent_updates_of_one_file_keep_every_profile() {
        let dir = tempdir("concurrent");
        let file = dir.join("credentials");
        for round in 0..10 {
            std::fs::write(&file, "[mine]\nregion = x\n").unwrap();
            let writers: Vec<_> = (0..32)
                .map(|n| {
                    let file = file.clone();
                    std::thread::spawn(move || write_profile(&file, &format!("p{n}"), &creds("K")))
                })
                .collect();
            for w in writers {
                w.join().unwrap().unwrap();
            }
            let text = std::fs::read_to_string(&file).unwrap();
            let profiles = text.lines().filter(|l| l.starts_with('[')).count();
            assert_eq!(profiles, 33, "round {round}:\n{text}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A link is written through: it stays a link, and its target gets the profile.
    #[test]
    fn a_linked_credentials_file_is_written_through_the_link() {
        let dir = tempdir("link");
        std::fs::create_dir_all(dir.join("real")).unwrap();
        std::fs::write(dir.join("real/creds"), "[other]\nx = 1\n").unwrap();
        std::os::unix::fs::symlink("real/creds", dir.join("link")).unwrap();
        write_profile(&dir.join("link"), "ra", &creds("NEW")).unwrap();
        let link = std::fs::symlink_metadata(dir.join("link")).unwrap();
        assert!(
            link.file_type().is_symlink(),
            "the link was replaced by a file"
        );
        let real = std::fs::read_to_string(dir.join("real/creds")).unwrap();
        assert!(
            real.contains("[other]") && real.contains("aws_access_key_id = NEW"),
            "{real}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A FIFO or a device where the file should be is refused at once, nothing written.
    #[test]
    fn a_fifo_or_a_device_is_refused_at_once() {
        let dir = tempdir("fifo");
        let fifo = dir.join("credentials");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let started = Instant::now();
        let e = write_profile(&fifo, "ra", &creds("K")).unwrap_err();
        assert!(e.contains("named pipe"), "{e}");
        std::os::unix::fs::symlink("/dev/zero", dir.join("zero")).unwrap();
        let e = write_profile(&dir.join("zero"), "ra", &creds("K")).unwrap_err();
        assert!(e.contains("character device"), "{e}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert!(std::fs::symlink_metadata(dir.join("zero"))
            .unwrap()
            .file_type()
            .is_symlink());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
