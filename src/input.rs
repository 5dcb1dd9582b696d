//! Files xpart reads on a user's word (plans, certificates, keys, secret values): regular files
//! only, and no larger than a limit per kind, so `/dev/zero`, a FIFO or a huge file is a clear
//! error in bounded time and memory instead of a process that grows until the kernel kills it.

use std::io::Read;
use std::path::{Path, PathBuf};

/// A plan file: the largest fleets are a few megabytes.
pub const MAX_PLAN: u64 = 8 << 20;
/// A PEM certificate (with its chain) or private key: real ones are a few kilobytes.
pub const MAX_PEM: u64 = 1 << 20;
/// A secret's value: Secrets Manager takes at most 65,536 bytes.
pub const MAX_SECRET: u64 = 65_536;

/// Why a file could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {what} {}: {reason}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        reason: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} {} is not a regular file ({kind}); give the path of a file", path.display())]
    NotAFile {
        what: &'static str,
        path: PathBuf,
        kind: &'static str,
    },
    #[error("{what} {} is larger than {limit} bytes; no {what} is that large", path.display())]
    TooLarge {
        what: &'static str,
        path: PathBuf,
        limit: u64,
    },
}

fn kind_of(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "a directory"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_fifo() {
        "a named pipe"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// An io::Error's message without the `(os error N)` tail.
pub fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Read `path` (following symlinks) if it is a regular file of at most `limit` bytes.
/// The size is checked before reading and again while reading, so a file that grows in
/// between is still cut off at `limit + 1` bytes.
pub fn read(what: &'static str, path: &Path, limit: u64) -> Result<Vec<u8>, InputError> {
    let io = |source: std::io::Error| InputError::Io {
        what,
        path: path.to_path_buf(),
        reason: io_reason(&source),
        source,
    };
    // Opening a FIFO for reading blocks until a writer comes: look before opening.
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(InputError::NotAFile {
            what,
            path: path.to_path_buf(),
            kind: kind_of(meta.file_type()),
        });
    }
    let too_large = || InputError::TooLarge {
        what,
        path: path.to_path_buf(),
        limit,
    };
    if meta.len() > limit {
        return Err(too_large());
    }
    let file = std::fs::File::open(path).map_err(io)?;
    let mut buf = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1).read_to_end(&mut buf).map_err(io)?;
    if buf.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(buf)
}

/// `read`, as UTF-8 text.
pub fn read_text(what: &'static str, path: &Path, limit: u64) -> Result<String, InputError> {
    let bytes = read(what, path, limit)?;
    String::from_utf8(bytes).map_err(|e| InputError::Io {
        what,
        path: path.to_path_buf(),
        reason: "it is not UTF-8 text".into(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_directories_are_refused_without_reading() {
        let e = read("plan", Path::new("/dev/zero"), MAX_PLAN).unwrap_err();
        assert!(e.to_string().contains("a character device"), "{e}");
        let e = read("plan", Path::new("/"), MAX_PLAN).unwrap_err();
        assert!(e.to_string().contains("a directory"), "{e}");
    }

    #[test]
    fn a_file_over_the_limit_is_refused_and_one_at_it_is_read() {
        let dir = std::env::temp_dir().join(format!("xpart-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("f");
        std::fs::write(&f, [b'x'; 10]).unwrap();
        assert_eq!(read("key", &f, 10).unwrap().len(), 10);
        let e = read("key", &f, 9).unwrap_err();
        assert!(matches!(e, InputError::TooLarge { limit: 9, .. }), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
