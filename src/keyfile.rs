//! Private key files on this machine: who owns them, and whether every user may read them.
//! Used by the credential process (the workload's key) and by PKI (an imported CA's key).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The user name of a uid from /etc/passwd, or the number.
pub fn user_name(uid: u32) -> String {
    user_name_in(
        &std::fs::read_to_string("/etc/passwd").unwrap_or_default(),
        uid,
    )
}

fn user_name_in(passwd: &str, uid: u32) -> String {
    passwd
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let _ = f.next()?;
            let id: u32 = f.next()?.parse().ok()?;
            (id == uid && !name.is_empty()).then(|| name.to_string())
        })
        .next()
        .unwrap_or_else(|| uid.to_string())
}

/// ` (owner root, mode 0600)`, or nothing when either is unknown.
pub fn owner_and_mode(uid: Option<u32>, mode: Option<u32>) -> String {
    match (uid, mode) {
        (Some(uid), Some(mode)) => {
            format!(" (owner {}, mode {:04o})", user_name(uid), mode & 0o7777)
        }
        _ => String::new(),
    }
}

/// A key file's owner and mode when every user of the machine may read or write it (mode
/// `o+r` or `o+w`), as ssh refuses keys: whoever reads it holds what the key grants. Group
/// access is fine, the way to share a key with a service user. None when it is private enough
/// or not a file.
pub fn exposed(path: &Path) -> std::io::Result<Option<(u32, u32)>> {
    let meta = std::fs::metadata(path)?;
    Ok((meta.is_file() && meta.mode() & 0o006 != 0).then_some((meta.uid(), meta.mode())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_names_come_from_passwd_or_the_number() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                      # comment\n\
                      ira:x:1001:1001::/home/ira:/bin/sh\n";
        assert_eq!(user_name_in(passwd, 0), "root");
        assert_eq!(user_name_in(passwd, 1001), "ira");
        assert_eq!(user_name_in(passwd, 4242), "4242");
        assert_eq!(user_name_in("", 7), "7");
    }
}
