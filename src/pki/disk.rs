//! Files on disk: where a certificate and its key live, written atomically with their final
//! modes, and read with a size limit.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rcgen::KeyPair;

use super::encoding::{hex, pem_encode};
use super::error::io_error;
use super::PkiError;

/// `<dir>/<id>.crt` and `<dir>/<id>.key`.
pub fn files(dir: &Path, id: &str) -> (PathBuf, PathBuf) {
    (dir.join(format!("{id}.crt")), dir.join(format!("{id}.key")))
}

/// Key first, then certificate: a run cut off in between leaves a key that does not match the
/// certificate, which the next run sees and repairs.
pub(super) fn write_pair(
    dir: &Path,
    (cert_file, key_file): (&Path, &Path),
    key: &KeyPair,
    cert_der: &[u8],
) -> Result<(), PkiError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_error(dir))?;
    write_atomic(key_file, key.serialize_pem().as_bytes(), 0o600)?;
    write_atomic(cert_file, pem_encode(cert_der).as_bytes(), 0o644)
}

/// Write a private key file (mode 0600, atomically), e.g. a throwaway key of `xpart verify`.
pub fn write_private(path: &Path, pem: &[u8]) -> Result<(), PkiError> {
    write_atomic(path, pem, 0o600)
}

/// Write through a new file created with its final mode and renamed into place, so readers never
/// see half a file and a key is never readable by others, not even briefly.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), PkiError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut nonce = [0u8; 8];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| PkiError::Generate {
        path: path.to_path_buf(),
        message: "no randomness for a temporary file name".into(),
    })?;
    let tmp = dir.join(format!(".{name}.{}.tmp", hex(&nonce)));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io_error(path))
}

/// A certificate or key file: a regular file of at most `input::MAX_PEM` bytes.
pub fn read_pem(path: &Path) -> Result<Vec<u8>, PkiError> {
    crate::input::read("PEM file", path, crate::input::MAX_PEM).map_err(|e| match e {
        crate::input::InputError::Io { source, .. } => PkiError::Io {
            path: path.to_path_buf(),
            source,
        },
        other => PkiError::Plan {
            path: path.to_path_buf(),
            message: other.to_string(),
        },
    })
}
