//! `ec2.instance`: one instance in a plan's subnet, with its security groups, instance profile
//! and bootstrap user data.
//!
//! Create is one RunInstances and nothing else: no lookup before it (the read phase just looked
//! by the ownership tags) and no wait for `running` after it (EC2 takes a launched instance on
//! to running by itself; the answer already has the id and private address; the next read sees
//! the state, and an instance that could not start reads as absent, so the next plan creates
//! it again).
//!
//! RunInstances is deduplicated by EC2 itself, by its ClientToken: the SDK keeps retrying the
//! call after a lost answer, every attempt carries the same token, and EC2 answers a repeat
//! with the instance the first attempt launched. The token is random, drawn once per create:
//! it only has to make the attempts of that one call idempotent. Across applies the ownership
//! tags do that: they are set by the launch itself (TagSpecifications), so the next apply's
//! read finds the instance and never calls create for it.
//!
//! Why not a token derived from the plan, the id and the request, the same in every apply (as
//! earlier versions had, with a count of terminated instances to tell incarnations apart)? EC2
//! remembers a token for at least a day after its instance terminates, and answers its reuse
//! with that dead instance as if launched; terminated instances stay listed for only about an
//! hour, so such a count goes back down and a re-create a few hours after a destroy got the dead
//! instance. It also cost a DescribeInstances before every launch. What a derived token would
//! add is narrow: an apply killed after RunInstances and run again within the seconds before
//! DescribeInstances lists the new instance would find nothing and launch a second one. That
//! is the residual risk of this design; should it happen, read reports "several instances
//! carry this resource's tags" and uses the first.
//!
//! The user data's SHA-256 is kept in a tag, so read compares it without another call.

use crate::aws::AwsError;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{
    Filter, IamInstanceProfileAssociationState, IamInstanceProfileSpecification,
    InstanceNetworkInterfaceSpecification, InstanceStateName, InstanceType, ResourceType,
};
use base64::Engine;
use serde_json::{json, Value as Json};

use super::{
    finish, gone_ok, live_tags, name_tag, need, outputs, owned, owner_filters, pairs, pick,
    plan_filters, tag_spec, want_tags, Call, TAG_USER_DATA,
};
use crate::engine::resource::{
    jitter, retry_propagation, sorted, Ctx, Desired, Error, Live, Propagation, Resource, Result,
};
use crate::engine::types::shared::answered;
use crate::hex::sha256_hex;
use crate::lint::{limits, Checker, Env, Rules};
use crate::plan::types::Instance;
use crate::plan::Path as PropPath;
use crate::unknown::Unknown;

const GONE: &[&str] = &["InvalidInstanceID.NotFound"];

const PROFILE: Propagation = Propagation {
    what: "the instance profile",
    bound: Ctx::iam_propagation,
    pending: profile_propagating,
};

/// The bootstrap settings as JSON; None without any.
fn bootstrap(p: &Instance) -> Result<Option<Json>> {
    p.bootstrap
        .as_ref()
        .map(|b| serde_json::to_value(b).map_err(|e| Error::caused("bootstrap", e)))
        .transpose()
}

/// The user data script; None without bootstrap settings.
fn user_data(p: &Instance, cx: &Ctx) -> Result<Option<String>> {
    match bootstrap(p)? {
        None => Ok(None),
        Some(b) => crate::bootstrap::user_data(&b, &cx.part().def)
            .map(Some)
            .map_err(Error::Other),
    }
}

/// The `user_data` attribute: the script's SHA-256, "" without one, unknown while the settings
/// name something not created yet (the script cannot be rendered before).
fn user_data_attr(p: &Instance, cx: &Ctx) -> Result<String> {
    match bootstrap(p)? {
        None => Ok(String::new()),
        Some(b) if Unknown::in_json(&b) => Ok(Unknown.into()),
        Some(_) => Ok(user_data(p, cx)?
            .map(|s| sha256_hex(s.as_bytes()))
            .unwrap_or_default()),
    }
}

/// Whether an instance is gone or going: terminated or shutting down.
fn ended(i: &aws_sdk_ec2::types::Instance) -> bool {
    matches!(
        i.state().and_then(|s| s.name()),
        Some(InstanceStateName::Terminated | InstanceStateName::ShuttingDown)
    )
}

/// The profile name from an instance profile ARN (`…:instance-profile/<path/>name`).
fn profile_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// `p`: the plan's properties, None for an instance the plan no longer has (`find_owned`).
/// `owner`: the `OwnerId` of the instance's reservation.
fn live_of(
    p: Option<&Instance>,
    cx: &Ctx,
    i: &aws_sdk_ec2::types::Instance,
    owner: Option<&str>,
) -> Result<Live> {
    let tags = i.tags();
    let name = name_tag(tags);
    let id = need(i.instance_id(), "InstanceId")?;
    let state = i.state().and_then(|s| s.name());
    // No public address is a state of its own (`associate_public_ip` false, or stopped): the
    // output is then empty, as docs/plan.md says.
    let public_ip = i.public_ip_address().unwrap_or_default();
    // An instance's groups are its primary interface's. EC2 shows them on both; the test-bed
    // fills only one of the two (the interface's at launch, the instance's after a change), so
    // read the instance's list and fall back to the interface's.
    let mut groups: Vec<String> = i
        .security_groups()
        .iter()
        .filter_map(|g| g.group_id().map(String::from))
        .collect();
    if groups.is_empty() {
        groups = i
            .network_interfaces()
            .iter()
            .filter(|n| n.attachment().and_then(|a| a.device_index()) == Some(0))
            .flat_map(|n| {
                n.groups()
                    .iter()
                    .filter_map(|g| g.group_id().map(String::from))
            })
            .collect();
    }
    // There is no attribute "launched with a public address": a running instance has one or
    // not; a stopped one has none either way, so then the plan's value stands. (An Elastic IP
    // also shows here, as it would on the instance.)
    let associate_public_ip = if !public_ip.is_empty() {
        true
    } else if state == Some(&InstanceStateName::Running) {
        false
    } else {
        p.is_some_and(|p| p.associate_public_ip)
    };
    let user_data = pairs(tags)
        .into_iter()
        .find(|(k, _)| *k == TAG_USER_DATA)
        .map(|(_, v)| v)
        .unwrap_or_default();
    let mut attrs = BTreeMap::from([
        ("name".to_string(), json!(name)),
        ("ami".to_string(), json!(need(i.image_id(), "ImageId")?)),
        (
            "instance_type".to_string(),
            json!(need(i.instance_type(), "InstanceType")?.as_str()),
        ),
        (
            "subnet".to_string(),
            json!(need(i.subnet_id(), "SubnetId")?),
        ),
        (
            "instance_profile".to_string(),
            json!(i
                .iam_instance_profile()
                .and_then(|ip| ip.arn())
                .map(profile_name)
                .unwrap_or_default()),
        ),
        (
            "associate_public_ip".to_string(),
            json!(associate_public_ip),
        ),
        (
            "key_name".to_string(),
            json!(i.key_name().unwrap_or_default()),
        ),
        ("user_data".to_string(), json!(user_data)),
        ("tags".to_string(), live_tags(tags)),
    ]);
    // Without groups in the plan EC2 puts the VPC's default group on the instance: not a
    // difference (see `desired`).
    if p.is_none_or(|p| !p.security_groups.is_empty()) {
        attrs.insert("security_groups".into(), sorted(groups));
    }
    let owner = need(owner, "OwnerId")?;
    let mut out = outputs(cx, "instance", id, &name, owner);
    let private_ip = need(i.private_ip_address(), "PrivateIpAddress")?;
    out.insert("private_ip".into(), private_ip.to_string());
    out.insert("public_ip".into(), public_ip.to_string());
    Ok(Live::new(out, attrs, true).with_handle(&InstanceHandle::of(i)))
}

/// What an instance's `Live` keeps besides its outputs: its state as EC2 last answered
/// (none in an answer without one). Nothing acts on it: it says which state the outputs
/// describe (a pending instance has no public address yet).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InstanceHandle {
    pub state: Option<String>,
}

impl InstanceHandle {
    fn of(i: &aws_sdk_ec2::types::Instance) -> InstanceHandle {
        let state = i
            .state()
            .and_then(|s| s.name())
            .map(|s| s.as_str().to_string());
        InstanceHandle { state }
    }
}

/// Instances of a DescribeInstances page, each with its reservation's owner.
fn with_owner(
    out: &[aws_sdk_ec2::types::Reservation],
) -> impl Iterator<Item = (aws_sdk_ec2::types::Instance, Option<String>)> + '_ {
    out.iter().flat_map(|r| {
        let owner = r.owner_id().map(str::to_string);
        r.instances()
            .iter()
            .map(move |i| (i.clone(), owner.clone()))
    })
}

/// The instance RunInstances answered, as `read` will describe it: what was asked for (EC2
/// launches exactly that: the token matched this very request) with the id, addresses and
/// owner of the answer. An instance launched without a public address shows none until it is
/// running, as a read right after shows it.
fn launched(
    p: &Instance,
    cx: &Ctx,
    want: Desired,
    i: &aws_sdk_ec2::types::Instance,
    owner: Option<&str>,
) -> Result<Live> {
    let id = need(i.instance_id(), "InstanceId")?;
    let mut out = outputs(cx, "instance", id, &p.name, need(owner, "OwnerId")?);
    let private_ip = need(i.private_ip_address(), "PrivateIpAddress")?;
    out.insert("private_ip".into(), private_ip.to_string());
    // None until it runs, as a read right after shows it (see `live_of`).
    let public_ip = i.public_ip_address().unwrap_or_default();
    out.insert("public_ip".into(), public_ip.to_string());
    Ok(Live::new(out, want.attrs, true).with_handle(&InstanceHandle::of(i)))
}

/// The live instance: one DescribeInstances by the ownership tags (ended instances, listed for
/// about an hour after they terminate, do not count).
async fn find(p: &Instance, cx: &Ctx) -> Result<Option<Live>> {
    let ec2 = &cx.clients().ec2;
    let mut all = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let out = cx
            .call(
                "DescribeInstances",
                ec2.describe_instances()
                    .set_filters(Some(owner_filters(cx)))
                    .set_next_token(next.take())
                    .send(),
            )
            .await?;
        all.extend(with_owner(out.reservations()).filter(|(i, _)| !ended(i)));
        match out.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_string()),
            _ => break,
        }
    }
    let mut ided = vec![];
    for (i, owner) in all {
        ided.push((need(i.instance_id(), "InstanceId")?.to_string(), i, owner));
    }
    let found = pick(cx, "instance", ided, |(id, _, _)| id.clone());
    found
        .map(|(_, i, owner)| live_of(Some(p), cx, &i, owner.as_deref()))
        .transpose()
}

/// How long to wait for an instance to terminate.
fn ec2_wait(cx: &Ctx) -> Duration {
    cx.opts.ec2_wait.unwrap_or(Duration::from_secs(600))
}

/// Poll one instance (1 s doubling to 10 s) until it is terminated or no longer listed.
async fn wait_terminated(cx: &Ctx, id: &str) -> Result<()> {
    let start = Instant::now();
    let mut delay = Duration::from_secs(1);
    loop {
        let got = gone_ok(
            cx.call(
                "DescribeInstances",
                cx.clients()
                    .ec2
                    .describe_instances()
                    .instance_ids(id)
                    .send(),
            )
            .await,
            GONE,
        )?;
        let inst = got.and_then(|o| {
            o.reservations()
                .iter()
                .flat_map(|r| r.instances())
                .next()
                .cloned()
        });
        match inst {
            None => return Ok(()),
            Some(i) if i.state().and_then(|s| s.name()) == Some(&InstanceStateName::Terminated) => {
                return Ok(())
            }
            _ => {}
        }
        if start.elapsed() + delay > ec2_wait(cx) {
            return Err(Error::other(format!(
                "instance {id} did not become terminated within {} s",
                ec2_wait(cx).as_secs()
            )));
        }
        cx.say(format!("waiting for instance {id} to become terminated"));
        tokio::time::sleep(jitter(delay)).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

/// An instance profile not yet visible to EC2 (a new one takes seconds to propagate from IAM).
fn profile_propagating(e: &Error) -> bool {
    e.aws()
        .is_some_and(AwsError::is_ec2_instance_profile_not_visible)
}

fn profile_spec(name: &str) -> IamInstanceProfileSpecification {
    IamInstanceProfileSpecification::builder()
        .name(name)
        .build()
}

async fn associate_profile(cx: &Ctx, instance: &str, name: &str) -> Result<()> {
    retry_propagation(cx, &PROFILE, || async {
        cx.call(
            "AssociateIamInstanceProfile",
            cx.clients()
                .ec2
                .associate_iam_instance_profile()
                .instance_id(instance)
                .iam_instance_profile(profile_spec(name))
                .send(),
        )
        .await
    })
    .await?;
    Ok(())
}

/// Bring the instance profile association to the plan: associate, replace or disassociate.
/// `had`: whether the read showed a profile. Without one, associating needs no association id:
/// one call, unless the read was stale (EC2 then refuses with IncorrectState).
async fn set_profile(cx: &Ctx, instance: &str, want: Option<&str>, had: bool) -> Result<()> {
    if let (false, Some(name)) = (had, want) {
        match associate_profile(cx, instance, name).await {
            Err(e) if e.code() == Some("IncorrectState") => {}
            done => return done,
        }
    }
    let ec2 = &cx.clients().ec2;
    let out = ec2
        .describe_iam_instance_profile_associations()
        .filters(
            Filter::builder()
                .name("instance-id")
                .values(instance)
                .build(),
        )
        .send()
        .await
        .map_err(|e| cx.aws("DescribeIamInstanceProfileAssociations", e))?;
    let current = out
        .iam_instance_profile_associations()
        .iter()
        .filter(|a| {
            matches!(
                a.state(),
                Some(
                    IamInstanceProfileAssociationState::Associated
                        | IamInstanceProfileAssociationState::Associating
                )
            )
        })
        .find_map(|a| a.association_id().map(String::from));
    match (current, want) {
        (Some(assoc), Some(name)) => {
            retry_propagation(cx, &PROFILE, || async {
                cx.call(
                    "ReplaceIamInstanceProfileAssociation",
                    ec2.replace_iam_instance_profile_association()
                        .association_id(&assoc)
                        .iam_instance_profile(profile_spec(name))
                        .send(),
                )
                .await
            })
            .await?;
        }
        (None, Some(name)) => associate_profile(cx, instance, name).await?,
        (Some(assoc), None) => {
            gone_ok(
                cx.run(
                    "DisassociateIamInstanceProfile",
                    ec2.disassociate_iam_instance_profile()
                        .association_id(&assoc)
                        .send(),
                )
                .await,
                &["InvalidAssociationID.NotFound"],
            )?;
        }
        (None, None) => {}
    }
    Ok(())
}

impl Resource for Instance {
    const READS_LAG: bool = super::READS_LAG;
    const NAME_PROPERTY: Option<&'static str> = None;
    type Handle = InstanceHandle;

    fn desired(p: &Self, cx: &Ctx) -> Result<Desired> {
        let mut d = Desired::of::<Self>()
            .attr("name", p.name.as_str())
            .attr("ami", p.ami.as_str())
            .attr("instance_type", p.instance_type.as_str())
            .attr("subnet", p.subnet.as_str())
            .attr(
                "instance_profile",
                p.instance_profile.clone().unwrap_or_default(),
            )
            .attr("associate_public_ip", p.associate_public_ip)
            .attr("key_name", p.key_name.clone().unwrap_or_default())
            .attr("user_data", user_data_attr(p, cx)?)
            .attr("tags", want_tags(&p.tags))
            // Groups and the instance profile change on a running instance; everything else
            // is fixed at launch. (EC2 can resize a stopped instance, but xpart never stops one.)
            .forces_replacement(&[
                "ami",
                "instance_type",
                "subnet",
                "user_data",
                "key_name",
                "associate_public_ip",
            ]);
        if !p.security_groups.is_empty() {
            d = d.attr("security_groups", sorted(p.security_groups.iter().cloned()));
        }
        Ok(d)
    }

    async fn read(p: &Self, cx: &Ctx) -> Result<Option<Live>> {
        find(p, cx).await
    }

    async fn create(p: &Self, cx: &Ctx) -> Result<Live> {
        let ec2 = &cx.clients().ec2;
        let want = Self::desired(p, cx)?;
        let script = user_data(p, cx)?;
        let hash = want.attrs["user_data"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let extra: Vec<(&str, &str)> = if hash.is_empty() {
            vec![]
        } else {
            vec![(TAG_USER_DATA, hash.as_str())]
        };
        let nic = InstanceNetworkInterfaceSpecification::builder()
            .device_index(0)
            .subnet_id(&p.subnet)
            .associate_public_ip_address(p.associate_public_ip)
            .set_groups((!p.security_groups.is_empty()).then(|| p.security_groups.clone()))
            .delete_on_termination(true)
            .build();
        // Drawn once: every attempt of this launch, the SDK's and the propagation retries,
        // carries it.
        let token = super::client_token()?;
        let out = retry_propagation(cx, &PROFILE, || async {
            let mut req = ec2
                .run_instances()
                .image_id(&p.ami)
                .instance_type(InstanceType::from(p.instance_type.as_str()))
                .min_count(1)
                .max_count(1)
                .client_token(&token)
                .network_interfaces(nic.clone())
                .tag_specifications(tag_spec(cx, ResourceType::Instance, p, &extra))
                .set_key_name(p.key_name.clone());
            if let Some(profile) = &p.instance_profile {
                req = req.iam_instance_profile(profile_spec(profile));
            }
            if let Some(s) = &script {
                req = req.user_data(base64::engine::general_purpose::STANDARD.encode(s));
            }
            req.send().await.map_err(|e| cx.aws("RunInstances", e))
        })
        .await?;
        let inst = answered(out.instances().first(), "RunInstances returned no instance")?;
        let id = answered(inst.instance_id(), "RunInstances returned no instance id")?;
        cx.say(format!("launched {id}"));
        launched(p, cx, want, inst, out.owner_id())
    }

    async fn update(p: &Self, live: &Live, changed: &BTreeSet<String>, cx: &Ctx) -> Result<Live> {
        let id = live.output("id")?;
        // Groups, profile and tags are independent: one call each (the profile may need two),
        // all at once.
        let mut calls: Vec<Call<'_>> = vec![];
        if changed.contains("security_groups") {
            calls.push(Box::pin(async move {
                cx.run(
                    "ModifyInstanceAttribute",
                    cx.clients()
                        .ec2
                        .modify_instance_attribute()
                        .instance_id(id)
                        .set_groups(Some(p.security_groups.clone()))
                        .send(),
                )
                .await
            }));
        }
        // In place: EC2 associates, replaces or removes a profile on a running instance, and the
        // instance's credentials follow within minutes, so no reason to lose the instance.
        if changed.contains("instance_profile") {
            let had = live
                .attrs
                .get("instance_profile")
                .and_then(Json::as_str)
                .is_some_and(|s| !s.is_empty());
            calls.push(Box::pin(set_profile(
                cx,
                id,
                p.instance_profile.as_deref(),
                had,
            )));
        }
        finish(cx, p, live, changed, calls).await
    }

    async fn delete(live: &Live, cx: &Ctx) -> Result<()> {
        let id = live.output("id")?.to_string();
        // Already terminated (a second destroy, or a retry): nothing to do. EC2 would accept
        // another TerminateInstances, but the test-bed then fails on the interface that went
        // with the instance; asking first costs one read.
        let now = gone_ok(
            cx.call(
                "DescribeInstances",
                cx.clients()
                    .ec2
                    .describe_instances()
                    .instance_ids(&id)
                    .send(),
            )
            .await,
            GONE,
        )?;
        let state = now
            .as_ref()
            .and_then(|o| o.reservations().iter().flat_map(|r| r.instances()).next())
            .and_then(|i| i.state().and_then(|s| s.name()).cloned());
        if matches!(state, None | Some(InstanceStateName::Terminated)) {
            return Ok(());
        }
        let terminated = gone_ok(
            cx.run(
                "TerminateInstances",
                cx.clients()
                    .ec2
                    .terminate_instances()
                    .instance_ids(&id)
                    .send(),
            )
            .await,
            GONE,
        )?;
        if terminated.is_none() {
            return Ok(());
        }
        // Its subnet and security groups cannot be deleted while it is shutting down.
        wait_terminated(cx, &id).await
    }

    async fn find_owned(cx: &Ctx) -> Result<Vec<(String, Live)>> {
        // EC2 leaves out ended instances (listed for about an hour after they terminate).
        let live_states = Filter::builder()
            .name("instance-state-name")
            .set_values(Some(
                ["pending", "running", "stopping", "stopped"]
                    .map(String::from)
                    .to_vec(),
            ))
            .build();
        let mut pages = cx
            .clients()
            .ec2
            .describe_instances()
            .set_filters(Some(plan_filters(cx)))
            .filters(live_states)
            .into_paginator()
            .send();
        let mut found = vec![];
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| cx.aws("DescribeInstances", e))?;
            found.extend(with_owner(page.reservations()).filter(|(i, _)| !ended(i)));
        }
        owned(
            cx,
            &found,
            |(i, _)| i.tags(),
            |(i, owner)| live_of(None, cx, i, owner.as_deref()),
        )
    }
}

impl Rules for Instance {
    fn check(&self, cx: &mut Checker, at: &PropPath, _env: &Env) {
        limits::instance_limits(cx, at, self);
    }
}
