//! What every family of types uses: running calls together, taking "already gone" as done,
//! and what an update leaves.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;

use crate::engine::resource::{Desired, Live, Result};

/// One call of several made at once (see `all` and `together`), boxed so that a varying
/// number of calls of different shapes can run together.
pub type Job<'a> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

/// Run `futs` at once on this task: their results in order, or the first error (the calls
/// still running are dropped; every call made this way is one a rerun repeats safely).
pub async fn all<T, F>(futs: impl IntoIterator<Item = F>) -> Result<Vec<T>>
where
    F: Future<Output = Result<T>>,
{
    futures::future::try_join_all(futs).await
}

/// Run `calls` at once (one round trip for all of them, not one each) and wait for every one:
/// none is cut off halfway because another failed. The first error, in `calls`' order, is the
/// result.
pub async fn together(calls: Vec<Job<'_>>) -> Result<()> {
    futures::future::join_all(calls).await.into_iter().collect()
}

/// A delete (or detach, or lookup) whose target is already gone (one of the service's
/// not-found `codes`) has done its work: a retry after a lost response, or someone was faster.
pub fn gone_ok<T>(r: Result<T>, codes: &[&str]) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.code().is_some_and(|c| codes.contains(&c)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// IAM's not-found code.
pub const IAM_GONE: &[&str] = &["NoSuchEntity"];
/// Roles Anywhere's (and Secrets Manager's, and KMS's) not-found code.
pub const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

/// The attributes that differ between `want` and `live`: what an update must change.
pub fn differing(want: &Desired, live: &Live) -> BTreeSet<String> {
    want.attrs
        .iter()
        .filter(|(k, v)| live.attrs.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect()
}

/// `live` after an update that brought `changed` to `want` (and, for an adoption, the tags):
/// what `read` would return now, without asking. Owned from then on.
pub fn converged(live: &Live, want: &Desired, changed: &BTreeSet<String>) -> Live {
    let mut out = live.clone();
    let adopted = (!live.owned).then(|| "tags".to_string());
    for k in changed.iter().chain(adopted.as_ref()) {
        if let Some(v) = want.attrs.get(k) {
            out.attrs.insert(k.clone(), v.clone());
        }
    }
    out.owned = true;
    out
}
