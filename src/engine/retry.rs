//! The retries the engine owns, beyond the SDK's: eventual consistency after a change, a
//! create that must not run twice, and reads that may not see a create yet.

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
/// A throttled attempt needs no lookup: a service throttles before it acts.
///
/// Where reads lag a create (EC2: "its ID might not have propagated throughout the system",
/// Eventual consistency in the Amazon EC2 API), `find` must be patient (`until_seen`): a quick
/// miss would make a second VPC.
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
                let throttled = e.aws().is_some_and(|a| a.is_throttling());
                cx.say(format!(
                    "attempt {attempt}/{}: {op} {} ({e}){}",
                    tuning.max_attempts,
                    if throttled { "throttled" } else { "uncertain" },
                    if throttled {
                        ""
                    } else {
                        "; looking it up before retrying"
                    }
                ));
                tokio::time::sleep(jitter(delay)).await;
                delay = (delay * 2).min(tuning.max_backoff);
                if throttled {
                    continue;
                }
                // The lookup is a read: the SDK retries it as usual.
                if let Some(found) = find().await? {
                    return Ok(found);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// `read` again (backoff 0.5 s doubling to 5 s, jittered) while it finds nothing, for up to
/// the read lag (`Ctx::read_lag`): what was just created may be missing from reads for a
/// while. None once the lag has passed with nothing found.
pub async fn until_seen<T, L, LF>(cx: &Ctx, what: &str, read: L) -> Result<Option<T>>
where
    L: FnMut() -> LF,
    LF: Future<Output = Result<Option<T>>>,
{
    until_seen_for(cx, what, cx.read_lag(), read).await
}

/// `until_seen` for up to `bound`.
pub async fn until_seen_for<T, L, LF>(
    cx: &Ctx,
    what: &str,
    bound: Duration,
    mut read: L,
) -> Result<Option<T>>
where
    L: FnMut() -> LF,
    LF: Future<Output = Result<Option<T>>>,
{
    let start = Instant::now();
    let mut delay = Duration::from_millis(500);
    loop {
        if let Some(found) = read().await? {
            return Ok(Some(found));
        }
        if start.elapsed() + delay > bound {
            return Ok(None);
        }
        cx.say(format!(
            "{what}: not found yet; reads may lag a create by seconds, looking again"
        ));
        tokio::time::sleep(jitter(delay)).await;
        delay = (delay * 2).min(Duration::from_secs(5));
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
