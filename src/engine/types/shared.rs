//! What every family of types uses: running calls together, taking "already gone" as done,
//! and what an update leaves.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;

use crate::engine::resource::{
    changed_attrs, until_seen, Ctx, Desired, Error, Live, Resource, Result,
};
use crate::plan::types::Tags;

/// One call of several made at once (see `all` and `together`), boxed so that a varying
/// number of calls of different shapes can run together.
pub type Call<'a> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

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
pub async fn together(calls: Vec<Call<'_>>) -> Result<()> {
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

/// `Ctx::call` for a call whose target may be gone already (one of the service's not-found
/// `codes`): `None` then, as `gone_ok` says.
pub async fn unless_gone<T, E>(
    cx: &Ctx,
    op: &str,
    codes: &[&str],
    sent: impl Future<Output = std::result::Result<T, aws_sdk_sts::error::SdkError<E>>>,
) -> Result<Option<T>>
where
    E: aws_sdk_sts::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    gone_ok(cx.call(op, sent).await, codes)
}

/// IAM's not-found code.
pub const IAM_GONE: &[&str] = &["NoSuchEntity"];
/// Roles Anywhere's not-found code.
pub const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

/// `live` (found or just made) brought to the plan: the attributes in `changed` updated in
/// place, or `live` as it is when none differ.
pub async fn to_plan<R: Resource>(
    p: &R,
    cx: &Ctx,
    live: Live,
    changed: BTreeSet<String>,
) -> Result<Live> {
    if changed.is_empty() {
        return Ok(live);
    }
    R::update(p, &live, &changed, cx).await
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

/// How many per-item lookups of a listing `lookup_all` has in flight at once.
pub const LOOKUPS_AT_ONCE: usize = 8;

/// `f` on every item of a listing (the tags of each role, key or anchor, which the listing
/// itself does not return), `LOOKUPS_AT_ONCE` at a time, keeping the `Some` answers in no
/// particular order. The first error ends it (the lookups still running are dropped).
pub async fn lookup_all<I, T, F, Fut>(items: Vec<I>, f: F) -> Result<Vec<T>>
where
    I: Send + 'static,
    T: Send + 'static,
    F: Fn(I) -> Fut,
    Fut: Future<Output = Result<Option<T>>> + Send + 'static,
{
    let mut running = tokio::task::JoinSet::new();
    let mut found = vec![];
    let mut items = items.into_iter();
    loop {
        while running.len() < LOOKUPS_AT_ONCE {
            let Some(item) = items.next() else { break };
            running.spawn(f(item));
        }
        let Some(done) = running.join_next().await else {
            break;
        };
        let done = done.map_err(|e| Error::caused("lookup failed", e))?;
        found.extend(done?);
    }
    Ok(found)
}

/// The ownership tags and `extra` as one service's SDK `Tag` (each service has its own type;
/// KMS names the fields `tag_key` and `tag_value`, and Secrets Manager's builder cannot fail).
macro_rules! sdk_tags {
    ($cx:expr, $extra:expr, $Tag:ty) => {
        $crate::engine::types::shared::sdk_tags!($cx, $extra, $Tag, key, value)
    };
    ($cx:expr, $extra:expr, $Tag:ty, $k:ident, $v:ident) => {
        $cx.tags($extra)
            .into_iter()
            .map(|(k, v)| {
                <$Tag>::builder()
                    .$k(k)
                    .$v(v)
                    .build()
                    .expect("key and value set")
            })
            .collect::<Vec<$Tag>>()
    };
    ($cx:expr, $extra:expr, $Tag:ty, infallible) => {
        $cx.tags($extra)
            .into_iter()
            .map(|(k, v)| <$Tag>::builder().key(k).value(v).build())
            .collect::<Vec<$Tag>>()
    };
}
pub(crate) use sdk_tags;

/// The tag calls of an update, pushed onto `$jobs`: `$tag` (a request builder without its tags)
/// with the whole set when `$retag`, `$untag` (likewise) with the `$stale` keys when there are
/// any. Two calls, not one: a service's TagResource overwrites values but never removes a key.
macro_rules! retag_jobs {
    ($jobs:ident, $cx:expr, $retag:expr, $tags:expr, $stale:expr,
     $tag_op:literal => $tag:expr, $untag_op:literal => $untag:expr) => {
        if $retag {
            $jobs.push(Box::pin(
                $cx.run($tag_op, $tag.set_tags(Some($tags)).send()),
            ));
        }
        if !$stale.is_empty() {
            $jobs.push(Box::pin(
                $cx.run($untag_op, $untag.set_tag_keys(Some($stale.clone())).send()),
            ));
        }
    };
}
pub(crate) use retag_jobs;

/// What an answer must hold: `v`, or the error `missing` (an AWS answer without what the call
/// makes, which only a broken endpoint sends).
pub fn answered<T>(v: Option<T>, missing: &str) -> Result<T> {
    v.ok_or_else(|| Error::other(missing))
}

/// A field an AWS answer must hold (an id, an ARN, an owner): without it, an error naming
/// the field, never an empty string that a later call would send.
pub fn need<T>(v: Option<T>, field: &str) -> Result<T> {
    v.ok_or_else(|| Error::other(format!("AWS's answer has no {field}")))
}

/// The resource `read` finds, only if it is tagged as this one (a same-named foreign one does
/// not count): the lookup `create_once` makes before it tries a create again.
pub async fn ours<P: Resource>(p: &P, cx: &Ctx) -> Result<Option<Live>> {
    Ok(P::read(p, cx).await?.filter(|l| l.owned))
}

/// The resource a create keyed by name found already there (`err`, "already exists"): a
/// retry of our own create whose answer was lost, or a run cut short after it; or somebody
/// else's, which is refused (`what` names it in the message).
///
/// The service has just said it exists, so a read that misses it is a read that lags the
/// create (IAM's and EC2's reads do): it looks again for up to the read lag.
pub async fn exists_as_ours<P: Resource>(p: &P, cx: &Ctx, err: Error, what: &str) -> Result<Live> {
    let live = until_seen(cx, what, || P::read(p, cx)).await?.ok_or(err)?;
    if !live.owned {
        return Err(Error::other(format!(
            "{what} exists and is not owned by this plan"
        )));
    }
    Ok(live)
}

/// After a create that sets what it can: the update that brings `keys` to the plan when they
/// differ (an attribute the create call cannot take, or one an uncertain create left).
pub async fn settle<P: Resource>(
    p: &P,
    live: Live,
    want: &Desired,
    keys: &[&str],
    cx: &Ctx,
) -> Result<Live> {
    let mut changed = changed_attrs(want, &live);
    changed.retain(|k| keys.contains(&k.as_str()));
    if changed.is_empty() {
        return Ok(live);
    }
    P::update(p, &live, &changed, cx).await
}

/// The properties of a type with a name and tags (EC2, Roles Anywhere): what the family
/// helpers that tag and name a resource take.
pub trait Named: Resource {
    fn name(&self) -> &str;
    fn tags(&self) -> &Tags;
}

macro_rules! named {
    ($($T:ident),+) => {
        $(impl Named for crate::plan::types::$T {
            fn name(&self) -> &str {
                &self.name
            }
            fn tags(&self) -> &Tags {
                &self.tags
            }
        })+
    };
}
named!(
    Vpc,
    Subnet,
    InternetGateway,
    RouteTable,
    SecurityGroup,
    Instance,
    TrustAnchor,
    Profile,
    Crl
);
