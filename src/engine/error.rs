//! A failure inside one resource type; the executor adds the resource (`run::ResourceError`).

use crate::aws::AwsError;
use crate::pki::PkiError;

/// A failure inside one resource type; the executor adds the resource id.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Boxed: an AWS error carries several strings, and every `Result` of the engine would
    /// otherwise be that large.
    #[error(transparent)]
    Aws(Box<AwsError>),
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// Anything else, already phrased for people.
    #[error("{0}")]
    Other(String),
    /// Anything else, phrased for people, with the failure that caused it kept as its source
    /// (shown after the message, as `Other` would have it, and walkable by `source()`).
    #[error("{message}: {source}")]
    Caused {
        message: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl From<AwsError> for Error {
    fn from(e: AwsError) -> Error {
        Error::Aws(Box::new(e))
    }
}

impl Error {
    pub fn other(msg: impl Into<String>) -> Error {
        Error::Other(msg.into())
    }
    /// `message`, caused by `source`.
    pub fn caused(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::Caused {
            message: message.into(),
            source: Box::new(source),
        }
    }
    pub fn aws(&self) -> Option<&AwsError> {
        match self {
            Error::Aws(e) => Some(e.as_ref()),
            _ => None,
        }
    }
    /// The service's error code, if this is a service error.
    pub fn code(&self) -> Option<&str> {
        self.aws().and_then(|e| e.code.as_deref())
    }
    pub fn is_transient(&self) -> bool {
        self.aws().is_some_and(|e| e.transient)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
