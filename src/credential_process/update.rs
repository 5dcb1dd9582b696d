//! `xpart credential-process update`: keeps a profile of the shared credentials file fresh,
//! for tools that read only that file.
//!
//! As aws_signing_helper's `update`: the file is `AWS_SHARED_CREDENTIALS_FILE`, else
//! `~/.aws/credentials`; the profile's `aws_access_key_id`, `aws_secret_access_key` and
//! `aws_session_token` are replaced and everything else in the file is kept. The file is
//! written whole to a temporary file (mode 0600) and renamed over the old one, so a reader never
//! sees half of it. Every few seconds it reads the certificate and key again: new credentials
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

/// Write `profile`'s credentials into `path`, whole and atomically, mode 0600.
fn write_profile(path: &Path, profile: &str, c: &ProcessCredentials) -> Result<(), String> {
    let shown = path.display();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("cannot create {}: {}", dir.display(), io_reason(&e)))?;
    let old = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("cannot read {shown}: {}", io_reason(&e))),
    };
    write_private(
        path,
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
}
