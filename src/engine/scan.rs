//! What one read phase learns of a partition and shares among its reads and its orphan
//! search: the resources the plan owns there (one tag query), what KMS said of a key (a CA
//! held by a key reads the key its `kms.key` has just read), and Roles Anywhere's listings
//! (twenty profiles are read from one ListProfiles, at the service's one request a second).
//!
//! Without the tag query, finding what a plan owns costs a listing per type and, for KMS, a
//! call per key of the account; with it a plan costs the same few calls whatever the account
//! holds. IAM, which the tag index does not cover, is found by its path instead
//! (`types::iam::plan_path`). A scan lives for one read phase only: writes make it stale, so
//! creates and updates (and their lookups) always ask AWS directly.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use aws_sdk_kms::types::KeyMetadata;
use aws_sdk_resourcegroupstagging::types::TagFilter;
use tokio::sync::OnceCell;

use super::tags::{TAG_LINEAGE, TAG_PLAN};
use crate::aws::{AwsError, Clients};
use crate::plan::types::{types, Found};
use crate::plan::PlanIdentity;

/// A resource the tag query found: its ARN and tags.
#[derive(Debug, Clone)]
pub struct Tagged {
    pub arn: String,
    pub tags: BTreeMap<String, String>,
}

impl Tagged {
    /// The plan type this ARN is of, among the regional types xpart manages; None for others.
    pub fn type_name(&self) -> Option<&'static str> {
        type_of_arn(&self.arn)
    }
    /// The resource's own id: the last part of its ARN (`vpc-…`, a key id, an anchor id).
    pub fn resource_id(&self) -> &str {
        let rest = self.arn.splitn(6, ':').nth(5).unwrap_or_default();
        rest.rsplit(['/', ':']).next().unwrap_or(rest)
    }
}

/// The plan type of a regional ARN (`arn:<partition>:<service>:<region>:<account>:<resource>`).
pub fn type_of_arn(arn: &str) -> Option<&'static str> {
    let mut parts = arn.splitn(6, ':');
    let (_, _, service, _, _, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let kind = resource.split(['/', ':']).next()?;
    types().find_map(|t| match t.found {
        Found::Tagged {
            service: s,
            resource: r,
        } if s == service && r == kind => Some(t.name),
        _ => None,
    })
}

/// Answers by key, each asked once however many ask at the same time; a failed ask is not
/// kept (the next one asks again).
pub struct Memo<T>(Mutex<HashMap<String, Arc<OnceCell<T>>>>);

impl<T> Default for Memo<T> {
    fn default() -> Self {
        Memo(Mutex::new(HashMap::new()))
    }
}

impl<T: Clone> Memo<T> {
    fn cell(&self, key: &str) -> Arc<OnceCell<T>> {
        let mut cells = self.0.lock().unwrap_or_else(|e| e.into_inner());
        cells.entry(key.to_string()).or_default().clone()
    }

    /// The answer for `key`: the one given already, or `ask`'s.
    pub async fn get<E, Fut>(&self, key: &str, ask: impl FnOnce() -> Fut) -> Result<T, E>
    where
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        self.cell(key).get_or_try_init(ask).await.cloned()
    }

    /// `ask`'s answer, through `memo` when there is one (a read phase), else asked afresh.
    pub async fn through<E, Fut>(
        memo: Option<&Self>,
        key: &str,
        ask: impl FnOnce() -> Fut,
    ) -> Result<T, E>
    where
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        match memo {
            Some(m) => m.get(key, ask).await,
            None => ask().await,
        }
    }

    /// Keep `value` as the answer for `key` too (the same thing under another of its names),
    /// unless one is there already.
    pub fn also(&self, key: &str, value: T) {
        let _ = self.cell(key).set(value);
    }
}

/// How KMS names a key in a memo: by its id, whether it was asked by id or by ARN (an alias
/// is its own name until the key it names is known).
pub fn key_ref(key: &str) -> &str {
    match key.strip_prefix("arn:") {
        Some(_) => key.rsplit_once(":key/").map_or(key, |(_, id)| id),
        None => key,
    }
}

/// Tags asked, by key id or ARN (None: gone, or not ours to read).
pub type TagMemo = Memo<Option<Vec<(String, String)>>>;

/// One partition's scan for one read phase; each part is fetched on first use, once.
#[derive(Default)]
pub struct Scan {
    tagged: OnceCell<Vec<Tagged>>,
    /// DescribeKey's answers, by `key_ref` (None: no such key).
    pub keys: Memo<Option<KeyMetadata>>,
    /// ListResourceTags's answers, by key id (None: gone, or not ours to read).
    pub key_tags: TagMemo,
    /// Whole listings, by operation (see `listing`).
    listings: Memo<Arc<dyn Any + Send + Sync>>,
    /// What type modules keep for this read phase (Roles Anywhere: the tags its exact
    /// searches asked).
    pub slots: super::slots::Slots,
}

impl std::fmt::Debug for Scan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scan").finish_non_exhaustive()
    }
}

impl Scan {
    /// Every item `op` lists (all its pages, as `fetch` gets them), fetched once for the phase
    /// however many reads ask.
    pub async fn listing<T, E, Fut>(
        &self,
        op: &str,
        fetch: impl FnOnce() -> Fut,
    ) -> Result<Vec<T>, E>
    where
        T: Clone + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<Vec<T>, E>>,
    {
        // Kept by operation and item type, so what is found under the key is always a
        // `Vec<T>`: an empty listing here would read as "none there" and let a create go.
        let key = format!("{op}/{}", std::any::type_name::<T>());
        let kept = self
            .listings
            .get(&key, || async {
                let items = fetch().await?;
                Ok(Arc::new(items) as Arc<dyn Any + Send + Sync>)
            })
            .await?;
        Ok(kept
            .downcast_ref::<Vec<T>>()
            .expect("a listing is kept under its own item type")
            .clone())
    }

    /// Every resource of the partition's region of this plan and lineage (GetResources,
    /// 100 a page). The index behind it is eventually consistent: a resource seconds old may be
    /// missing, so it is used to find what to look at, never to decide a create.
    pub async fn tagged(
        &self,
        clients: &Clients,
        owner: &PlanIdentity,
    ) -> Result<&[Tagged], AwsError> {
        let v = self
            .tagged
            .get_or_try_init(|| async {
                let mut pages = clients
                    .tagging
                    .get_resources()
                    .tag_filters(
                        TagFilter::builder()
                            .key(TAG_PLAN)
                            .values(&owner.name)
                            .build(),
                    )
                    .tag_filters(
                        TagFilter::builder()
                            .key(TAG_LINEAGE)
                            .values(&owner.lineage)
                            .build(),
                    )
                    .resources_per_page(100)
                    .into_paginator()
                    .send();
                let mut found = vec![];
                while let Some(page) = pages.next().await {
                    let page = page.map_err(|e| clients.error("GetResources", e))?;
                    for m in page.resource_tag_mapping_list() {
                        let Some(arn) = m.resource_arn() else {
                            continue;
                        };
                        let tags = m
                            .tags()
                            .iter()
                            .map(|t| (t.key().to_string(), t.value().to_string()))
                            .collect();
                        found.push(Tagged {
                            arn: arn.to_string(),
                            tags,
                        });
                    }
                }
                Ok::<_, AwsError>(found)
            })
            .await?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_remembered_by_id_however_they_were_named() {
        assert_eq!(key_ref("arn:aws-cn:kms:cn-north-1:1:key/abcd-1"), "abcd-1");
        assert_eq!(key_ref("abcd-1"), "abcd-1");
        assert_eq!(key_ref("alias/xpart-ca"), "alias/xpart-ca");
        assert_eq!(
            key_ref("arn:aws:kms:us-east-1:1:alias/x"),
            "arn:aws:kms:us-east-1:1:alias/x"
        );
    }

    #[tokio::test]
    async fn a_memo_asks_once_and_forgets_a_failure() {
        let memo: Memo<u32> = Memo::default();
        let asked = std::sync::atomic::AtomicU32::new(0);
        let ask = || async {
            asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, String>(7)
        };
        let (a, b) = tokio::join!(memo.get("k", ask), memo.get("k", ask));
        assert_eq!((a, b), (Ok(7), Ok(7)));
        assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 1);
        let failed = memo.get("f", || async { Err::<u32, _>("no") }).await;
        assert_eq!(failed, Err("no"));
        assert_eq!(memo.get("f", || async { Ok::<_, &str>(3) }).await, Ok(3));
        memo.also("k2", 9);
        memo.also("k", 1);
        assert_eq!(memo.get("k2", || async { Ok::<_, ()>(0) }).await, Ok(9));
        assert_eq!(memo.get("k", || async { Ok::<_, ()>(0) }).await, Ok(7));
    }

    #[test]
    fn arns_map_to_plan_types() {
        let cases = [
            (
                "arn:aws-cn:ec2:cn-north-1:1:vpc/vpc-1",
                Some("ec2.vpc"),
                "vpc-1",
            ),
            (
                "arn:aws:ec2:us-east-1:1:route-table/rtb-9",
                Some("ec2.route_table"),
                "rtb-9",
            ),
            (
                "arn:aws:ec2:us-east-1:1:instance/i-1",
                Some("ec2.instance"),
                "i-1",
            ),
            ("arn:aws:kms:us-east-1:1:key/abcd", Some("kms.key"), "abcd"),
            (
                "arn:aws:secretsmanager:us-east-1:1:secret:x/y-AbCdEf",
                Some("secretsmanager.secret"),
                "y-AbCdEf",
            ),
            (
                "arn:aws:rolesanywhere:us-east-1:1:trust-anchor/t1",
                Some("rolesanywhere.trust_anchor"),
                "t1",
            ),
            (
                "arn:aws:rolesanywhere:us-east-1:1:profile/p1",
                Some("rolesanywhere.profile"),
                "p1",
            ),
            ("arn:aws:s3:::bucket", None, "bucket"),
            (
                "arn:aws:ec2:us-east-1:1:network-interface/eni-1",
                None,
                "eni-1",
            ),
        ];
        for (arn, ty, id) in cases {
            let t = Tagged {
                arn: arn.into(),
                tags: BTreeMap::new(),
            };
            assert_eq!(t.type_name(), ty, "{arn}");
            assert_eq!(t.resource_id(), id, "{arn}");
        }
    }
}
