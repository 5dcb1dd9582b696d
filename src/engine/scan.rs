//! What one read phase learns of a partition in a few account-wide calls, shared by every read
//! and the orphan search of that phase: the resources the plan owns there (one tag query) and
//! its IAM roles with their policies (one authorization snapshot).
//!
//! Without these, finding what a plan owns costs a listing per type and, for IAM and KMS, a
//! call per item of the account; with them a plan costs the same few calls whatever the
//! account holds. A scan lives for one read phase only: writes make it stale, so creates and
//! updates (and their lookups) always ask AWS directly.

use std::collections::BTreeMap;

use aws_sdk_iam::types::{EntityType, RoleDetail};
use aws_sdk_resourcegroupstagging::types::TagFilter;
use tokio::sync::OnceCell;

use super::tags::{TAG_LINEAGE, TAG_PLAN};
use crate::aws::{AwsError, Clients};
use crate::spec::types::{types, Found};
use crate::spec::PlanIdentity;

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

/// One partition's scan for one read phase; each part is fetched on first use, once.
#[derive(Default)]
pub struct Scan {
    tagged: OnceCell<Vec<Tagged>>,
    roles: OnceCell<Vec<RoleDetail>>,
}

impl std::fmt::Debug for Scan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scan").finish_non_exhaustive()
    }
}

impl Scan {
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

    /// Every IAM role of the account with its inline and attached policies and its tags
    /// (GetAccountAuthorizationDetails for roles, up to 1000 a page).
    pub async fn roles(&self, clients: &Clients) -> Result<&[RoleDetail], AwsError> {
        let v = self
            .roles
            .get_or_try_init(|| async {
                let iam = &clients.iam;
                let mut found = vec![];
                let mut marker: Option<String> = None;
                // Bounded: a page holds up to 1000 roles and an account at most a few thousand.
                for _ in 0..1000 {
                    let page = iam
                        .get_account_authorization_details()
                        .filter(EntityType::Role)
                        .max_items(1000)
                        .set_marker(marker.take())
                        .send()
                        .await
                        .map_err(|e| clients.error("GetAccountAuthorizationDetails", e))?;
                    found.extend(page.role_detail_list().iter().cloned());
                    match page.marker() {
                        Some(m) if page.is_truncated() => marker = Some(m.to_string()),
                        _ => break,
                    }
                }
                Ok::<_, AwsError>(found)
            })
            .await?;
        Ok(v)
    }

    /// The role named `name` in the snapshot, if there.
    pub async fn role(
        &self,
        clients: &Clients,
        name: &str,
    ) -> Result<Option<&RoleDetail>, AwsError> {
        Ok(self
            .roles(clients)
            .await?
            .iter()
            .find(|r| r.role_name() == Some(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
