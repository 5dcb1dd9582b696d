//! The two retries the engine owns, beyond the SDK's: eventual consistency after a change,
//! and a create that must not run twice.

use std::future::Future;
use std::time::{Duration, Instant};

use super::context::Ctx;
use super::error::{Error, Result};

/// One kind of eventual consistency: IAM changes take seconds to reach EC2, KMS and Roles
/// Anywhere, and the SDK cannot know such an error is temporary.
pub struct Propagation<'a> {
    /// What is on its way, for the notes shown while waiting.
    pub what: &'a str,
    /// How long to wait for it at most.
    pub bound: fn(&Ctx) -> Duration,
    /// Whether an error means it has not arrived yet.
    pub pending: fn(&Error) -> bool,
}

/// Retry `f` while its error says `p` is still on its way, up to `p`'s bound, with
/// exponential backoff (0.5 s doubling to 10 s, jittered).
pub async fn retry_propagation<T, F, Fut>(cx: &Ctx, p: &Propagation<'_>, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let (what, bound, retryable) = (p.what, (p.bound)(cx), p.pending);
    let start = Instant::now();
    let mut delay = Duration::from_millis(500);
    let mut attempt = 1u32;
    loop {
        match f().await {
            Err(e) if retryable(&e) && start.elapsed() + delay < bound => {
                attempt += 1;
                cx.say(format!(
                    "waiting for {what} to propagate (attempt {attempt}): {e}"
                ));
                tokio::time::sleep(jitter(delay)).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            other => return other,
        }
    }
}

/// Run a create the API cannot deduplicate, with the SDK's retries off for it: after a
/// transient failure (which may have created the resource: a lost response looks the same as
/// a refused request) `find` looks it up by its ownership tags before `create` runs again.
/// Attempts and backoff follow the partition's tuning, so this loop is the only retrier.
pub async fn create_once<T, C, CF, L, LF>(
    cx: &Ctx,
    op: &str,
    mut create: C,
    mut find: L,
) -> Result<T>
where
    C: FnMut() -> CF,
    CF: Future<Output = Result<T>>,
    L: FnMut() -> LF,
    LF: Future<Output = Result<Option<T>>>,
{
    let tuning = cx.clients().tuning;
    let mut delay = tuning.initial_backoff;
    let mut attempt = 1u32;
    loop {
        match create().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_transient() && attempt < tuning.max_attempts => {
                attempt += 1;
                cx.say(format!(
                    "attempt {attempt}/{}: {op} uncertain ({e}); looking it up before retrying",
                    tuning.max_attempts
                ));
                tokio::time::sleep(jitter(delay)).await;
                delay = (delay * 2).min(tuning.max_backoff);
                // The lookup is a read: the SDK retries it as usual.
                if let Some(found) = find().await? {
                    return Ok(found);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Full jitter on the upper half: spreads retries of parallel jobs without ever waiting 0.
pub fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    let frac = 0.5 + (nanos % 1000) as f64 / 2000.0;
    d.mul_f64(frac)
}
