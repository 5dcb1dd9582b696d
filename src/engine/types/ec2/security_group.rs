//! `ec2.security_group`: a security group of a plan's VPC and its ingress rules.
//!
//! CreateSecurityGroup cannot be deduplicated by tags: it runs under `create_once` with the SDK's
//! retries off. Its name is unique per VPC, though, so InvalidGroup.Duplicate after an uncertain
//! attempt means "look it up". EC2 cannot change a group's name, VPC or description: they
//! replace it. Ingress rules are compared as a set of {protocol, from_port, to_port, cidr} and
//! changed rule by rule; egress stays as AWS makes it (all traffic out).

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{Filter, IpPermission, IpRange, Ipv6Range, ResourceType};
use serde_json::{json, Value as Json};

use super::{
    arn_account, finish, fresh, gone_ok, live_tags, settle, tag_spec, together, want_tags, Call,
    Ending,
};
use super::{described_live, need, owned_by_tags, read_by_tags};
use crate::engine::resource::{
    create_once, owned_id, until_seen, until_seen_for, Ctx, Desired, Error, Live, Resource, Result,
};
use crate::lint::{kinds, limits, Checker, Env, Rules};
use crate::plan::types::{Ingress, SecurityGroup};
use crate::plan::Path as PropPath;

/// EC2 requires a description; this one is used when the plan gives none.
const DEFAULT_DESCRIPTION: &str = "Managed by xpart";

/// One ingress rule, normalized so that the plan's spelling and EC2's compare equal. Ports are
/// None where the protocol has none (all traffic, or an IP protocol other than TCP/UDP/ICMP).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Rule {
    protocol: String,
    from: Option<i32>,
    to: Option<i32>,
    cidr: String,
}

impl Rule {
    fn json(&self) -> Json {
        json!({"protocol": self.protocol, "from_port": self.from, "to_port": self.to, "cidr": self.cidr})
    }

    fn from_json(v: &Json) -> Option<Rule> {
        Some(Rule {
            protocol: v["protocol"].as_str()?.to_string(),
            from: v["from_port"].as_i64().map(|n| n as i32),
            to: v["to_port"].as_i64().map(|n| n as i32),
            cidr: v["cidr"].as_str()?.to_string(),
        })
    }

    /// What Authorize and Revoke take for this rule.
    fn permission(&self, description: Option<&str>) -> IpPermission {
        let mut p = IpPermission::builder()
            .ip_protocol(&self.protocol)
            .set_from_port(self.from)
            .set_to_port(self.to);
        if self.cidr.contains(':') {
            p = p.ipv6_ranges(
                Ipv6Range::builder()
                    .cidr_ipv6(&self.cidr)
                    .set_description(description.map(String::from))
                    .build(),
            );
        } else {
            p = p.ip_ranges(
                IpRange::builder()
                    .cidr_ip(&self.cidr)
                    .set_description(description.map(String::from))
                    .build(),
            );
        }
        p.build()
    }
}

/// EC2 answers protocol numbers for the named ones it knows, and "-1" for all.
fn protocol(p: &str) -> String {
    match p.trim().to_ascii_lowercase().as_str() {
        "6" | "tcp" => "tcp".into(),
        "17" | "udp" => "udp".into(),
        "1" | "icmp" => "icmp".into(),
        "58" | "icmpv6" => "icmpv6".into(),
        "-1" | "all" => "-1".into(),
        other => other.to_string(),
    }
}

/// Ports as EC2 stores them: a single `port` is from = to; TCP/UDP without ports is all of
/// them, ICMP without is every type and code (-1).
fn ports(protocol: &str, from: Option<i32>, to: Option<i32>) -> (Option<i32>, Option<i32>) {
    match protocol {
        "tcp" | "udp" => (Some(from.unwrap_or(0)), Some(to.or(from).unwrap_or(65535))),
        "icmp" | "icmpv6" => (Some(from.unwrap_or(-1)), Some(to.or(from).unwrap_or(-1))),
        _ => (None, None),
    }
}

fn rule_of(i: &Ingress) -> Rule {
    let protocol = protocol(&i.protocol);
    let from = i.port.or(i.from_port).map(i32::from);
    let to = i.port.or(i.to_port).map(i32::from);
    let (from, to) = ports(&protocol, from, to);
    Rule {
        protocol,
        from,
        to,
        cidr: i.cidr.clone(),
    }
}

fn rules_json(rules: impl IntoIterator<Item = Rule>) -> Json {
    let set: BTreeSet<Rule> = rules.into_iter().collect();
    Json::Array(set.iter().map(Rule::json).collect())
}

fn live_rules(perms: &[IpPermission]) -> Vec<Rule> {
    let mut out = Vec::new();
    for perm in perms {
        let protocol = protocol(perm.ip_protocol().unwrap_or("-1"));
        let (from, to) = ports(&protocol, perm.from_port(), perm.to_port());
        // Rules naming other groups or prefix lists are not the plan's: only CIDR rules count.
        let cidrs = perm
            .ip_ranges()
            .iter()
            .filter_map(|r| r.cidr_ip())
            .chain(perm.ipv6_ranges().iter().filter_map(|r| r.cidr_ipv6()));
        out.extend(cidrs.map(|c| Rule {
            protocol: protocol.clone(),
            from,
            to,
            cidr: c.to_string(),
        }));
    }
    out
}

fn description(p: &SecurityGroup) -> &str {
    p.description.as_deref().unwrap_or(DEFAULT_DESCRIPTION)
}

const DELETE: Ending = Ending {
    op: "DeleteSecurityGroup",
    waiting_for: "the deletion of the instances and interfaces using the group",
    gone: &["InvalidGroup.NotFound", "InvalidGroupId.NotFound"],
};

fn live_of(
    _p: Option<&SecurityGroup>,
    cx: &Ctx,
    g: &aws_sdk_ec2::types::SecurityGroup,
) -> Result<Live> {
    let name = need(g.group_name(), "GroupName")?;
    let attrs = BTreeMap::from([
        ("name".to_string(), json!(name)),
        ("vpc".to_string(), json!(need(g.vpc_id(), "VpcId")?)),
        (
            "description".to_string(),
            json!(g.description().unwrap_or_default()),
        ),
        (
            "ingress".to_string(),
            rules_json(live_rules(g.ip_permissions())),
        ),
        ("tags".to_string(), live_tags(g.tags())),
    ]);
    // The `Name` tag mirrors the group name (both set at create); the name is the group's.
    let id = (g.group_id(), "GroupId");
    described_live(cx, "security-group", id, (name, g.owner_id()), attrs)
}

super::described! {
    SecurityGroup: aws_sdk_ec2::types::SecurityGroup, "security group", describe_security_groups "DescribeSecurityGroups", id group_id, live live_of
}

/// `call` with all of `rules` at once; when that answers None (EC2 refused the whole batch
/// because one rule is done already), `call` with each rule on its own, all at once.
async fn batch_or_each<'a, F, Fut>(rules: Vec<IpPermission>, call: F) -> Result<()>
where
    F: Fn(Vec<IpPermission>) -> Fut,
    Fut: std::future::Future<Output = Result<Option<()>>> + Send + 'a,
{
    if rules.is_empty() {
        return Ok(());
    }
    if rules.len() == 1 || call(rules.clone()).await?.is_none() {
        let each: Vec<Call<'a>> = rules
            .into_iter()
            .map(|r| {
                let one = call(vec![r]);
                Box::pin(async move { one.await.map(|_| ()) }) as Call<'a>
            })
            .collect();
        together(each).await?;
    }
    Ok(())
}

/// Add `rules`: one call for all of them. EC2 refuses the whole call when one of them is there
/// already (an SDK retry after a lost answer, or a rule added by hand); then one call per rule,
/// all at each taking "already there" as done.
/// The ingress calls, and the code of each that means a rule is already as asked (a retry
/// after a lost answer).
const AUTHORIZE: (&str, &str) = (
    "AuthorizeSecurityGroupIngress",
    "InvalidPermission.Duplicate",
);
const REVOKE: (&str, &str) = ("RevokeSecurityGroupIngress", "InvalidPermission.NotFound");

/// Sends `$rules` to `$group` with the client's `$call` through `batch_or_each`, as `$op`
/// (`AUTHORIZE` or `REVOKE`) says.
macro_rules! ingress {
    ($cx:expr, $group:expr, $rules:expr, $op:expr, $call:ident) => {{
        let call = |rules: Vec<IpPermission>| async move {
            let ec2 = &$cx.clients().ec2;
            let sent = ec2
                .$call()
                .group_id($group)
                .set_ip_permissions(Some(rules))
                .send();
            gone_ok($cx.run($op.0, sent).await, &[$op.1])
        };
        batch_or_each($rules, call).await
    }};
}

async fn authorize(cx: &Ctx, group: &str, rules: Vec<IpPermission>) -> Result<()> {
    ingress!(
        cx,
        group,
        rules,
        AUTHORIZE,
        authorize_security_group_ingress
    )
}

/// Remove `rules`: one call for all of them; when EC2 refuses it because one is gone already,
/// one call per rule, all at each taking "not there" as done.
async fn revoke(cx: &Ctx, group: &str, rules: Vec<IpPermission>) -> Result<()> {
    ingress!(cx, group, rules, REVOKE, revoke_security_group_ingress)
}

/// Whether a group named as `p` shows in its VPC without this resource's ownership tags.
async fn named_elsewhere(p: &SecurityGroup, cx: &Ctx) -> Result<bool> {
    let filter = |name: &str, value: &str| Filter::builder().name(name).values(value).build();
    let filters = vec![filter("vpc-id", &p.vpc), filter("group-name", &p.name)];
    let found = <SecurityGroup as super::Described>::describe(cx, filters).await?;
    Ok(found.iter().any(|g| {
        let tags = g
            .tags()
            .iter()
            .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()));
        owned_id(&cx.owner, tags).as_deref() != Some(cx.id.as_str())
    }))
}

impl Resource for SecurityGroup {
    const READS_LAG: bool = super::READS_LAG;
    const NAME_PROPERTY: Option<&'static str> = None;
    type Handle = ();

    fn desired(p: &Self, _cx: &Ctx) -> Result<Desired> {
        Ok(Desired::of::<Self>()
            .attr("name", p.name.as_str())
            .attr("vpc", p.vpc.as_str())
            .attr("description", description(p))
            .attr("ingress", rules_json(p.ingress.iter().map(rule_of)))
            .attr("tags", want_tags(&p.tags))
            .forces_replacement(&["name", "vpc", "description"]))
    }

    async fn read(p: &Self, cx: &Ctx) -> Result<Option<Live>> {
        read_by_tags(p, cx).await
    }

    async fn create(p: &Self, cx: &Ctx) -> Result<Live> {
        let ec2 = &cx.clients().ec2;
        let want = Self::desired(p, cx)?;
        let live = create_once(
            cx,
            "CreateSecurityGroup",
            || async {
                let created = cx.call("CreateSecurityGroup", ec2
                    .create_security_group()
                    .group_name(&p.name)
                    .description(description(p))
                    .vpc_id(&p.vpc)
                    .tag_specifications(tag_spec(cx, ResourceType::SecurityGroup, p, &[]))
                    .customize()
                    .config_override(crate::aws::once::ec2())
                    .send())
                    .await;
                match created {
                    Ok(out) => {
                        let id =
                            out.group_id().ok_or_else(|| Error::other("CreateSecurityGroup returned no group id"))?;
                        // The answer has no owner field, but the group's ARN names it (the
                        // caller's account: identity is known by the time anything is created).
                        let owner = match out.security_group_arn().and_then(arn_account) {
                            Some(a) => a.to_string(),
                            None => cx.part().account().to_string(),
                        };
                        // A new group has no ingress rules.
                        let mut live = fresh(cx, "security-group", id, &p.name, &owner, want.clone());
                        live.attrs.insert("ingress".into(), json!([]));
                        Ok(live)
                    }
                    // The name is taken in this VPC: by an earlier attempt of ours whose answer
                    // was lost (then the tags find it), or by a group this plan does not own.
                    Err(e) if e.code() == Some("InvalidGroup.Duplicate") => {
                        let foreign = || Error::other(format!(
                            "a security group named `{}` exists in {} and is not owned by this plan ({e})",
                            p.name, p.vpc
                        ));
                        // Another's group shows by name at once: refused without waiting. Ours
                        // may be seconds old, so that read is patient.
                        if named_elsewhere(p, cx).await? {
                            return Err(foreign());
                        }
                        until_seen(cx, "the security group", || Self::read(p, cx)).await?.ok_or_else(foreign)
                    }
                    Err(e) => Err(e),
                }
            },
            || until_seen_for(cx, "CreateSecurityGroup", cx.lookup_lag(), || Self::read(p, cx)),
        )
        .await?;
        settle(p, live, &want, &["ingress"], cx).await
    }

    async fn update(p: &Self, live: &Live, changed: &BTreeSet<String>, cx: &Ctx) -> Result<Live> {
        let id = live.output("id")?;
        let mut calls: Vec<Call<'_>> = vec![];
        if changed.contains("ingress") {
            let have: BTreeSet<Rule> = live
                .attrs
                .get("ingress")
                .and_then(Json::as_array)
                .map(|a| a.iter().filter_map(Rule::from_json).collect())
                .unwrap_or_default();
            let want: BTreeMap<Rule, Option<&str>> = p
                .ingress
                .iter()
                .map(|i| (rule_of(i), i.description.as_deref()))
                .collect();
            let add: Vec<IpPermission> = want
                .iter()
                .filter(|(r, _)| !have.contains(*r))
                .map(|(r, d)| r.permission(*d))
                .collect();
            let remove: Vec<IpPermission> = have
                .iter()
                .filter(|r| !want.contains_key(*r))
                .map(|r| r.permission(None))
                .collect();
            // Authorize before revoking: a port moving from one rule to another is never
            // closed. (So a change that does both takes two round trips; one that only adds,
            // as every create does, one.)
            calls.push(Box::pin(async move {
                authorize(cx, id, add).await?;
                revoke(cx, id, remove).await
            }));
        }
        finish(cx, p, live, changed, calls).await
    }

    async fn delete(live: &Live, cx: &Ctx) -> Result<()> {
        let id = live.output("id")?;
        super::end_by_id!(cx, &DELETE, delete_security_group, group_id, id)
    }

    async fn find_owned(cx: &Ctx) -> Result<Vec<(String, Live)>> {
        owned_by_tags::<Self>(cx).await
    }
}

impl Rules for SecurityGroup {
    fn check(&self, cx: &mut Checker, at: &PropPath, _env: &Env) {
        kinds::security_group_rules(cx, at, self);
        limits::security_group_limits(cx, at, self);
    }
}
