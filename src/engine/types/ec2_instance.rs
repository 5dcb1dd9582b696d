//! `ec2.instance`: one instance in a plan's subnet, with its security groups, instance profile
//! and bootstrap user data.
//!
//! RunInstances is deduplicated by EC2 itself: the SDK keeps retrying it, and every attempt
//! carries the same ClientToken, derived from the plan, the resource id, what is asked for and
//! a generation (how many instances of this resource have been terminated), so a retry after a
//! lost answer returns the same instance while a re-create after a terminate makes a new one.
//! The user data's SHA-256 is kept in a tag, so read compares it without another call.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use aws_sdk_ec2::types::{
    Filter, IamInstanceProfileAssociationState, IamInstanceProfileSpecification, InstanceNetworkInterfaceSpecification,
    InstanceStateName, InstanceType, ResourceType,
};
use base64::Engine;
use serde_json::{json, Value as Json};

use super::ec2_vpc::{
    gone_ok, live_tags, name_tag, outputs, owned, owner_filters, pairs, pick, plan_filter, retag, settle, tag_spec,
    want_tags, TAG_USER_DATA,
};
use crate::engine::resource::{jitter, retry_propagation, sorted, Ctx, Desired, Error, Live, Resource, Result};
use crate::plan::UNKNOWN;
use crate::spec::types::Instance;

pub struct Type;

const GONE: &[&str] = &["InvalidInstanceID.NotFound"];

fn hex_sha256(data: &[u8]) -> String {
    digest::digest(&digest::SHA256, data).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn has_unknown(v: &Json) -> bool {
    match v {
        Json::String(s) => s.contains(UNKNOWN),
        Json::Array(a) => a.iter().any(has_unknown),
        Json::Object(m) => m.values().any(has_unknown),
        _ => false,
    }
}

/// The bootstrap settings as JSON; None without any.
fn bootstrap(p: &Instance) -> Result<Option<Json>> {
    p.bootstrap
        .as_ref()
        .map(|b| serde_json::to_value(b).map_err(|e| Error::other(format!("bootstrap: {e}"))))
        .transpose()
}

/// The user data script; None without bootstrap settings.
fn user_data(p: &Instance, cx: &Ctx) -> Result<Option<String>> {
    match bootstrap(p)? {
        None => Ok(None),
        Some(b) => crate::bootstrap::user_data(&b, &cx.part().def).map(Some).map_err(Error::Other),
    }
}

/// The `user_data` attribute: the script's SHA-256, "" without one, unknown while the settings
/// name something not created yet (the script cannot be rendered before).
fn user_data_attr(p: &Instance, cx: &Ctx) -> Result<String> {
    match bootstrap(p)? {
        None => Ok(String::new()),
        Some(b) if has_unknown(&b) => Ok(UNKNOWN.to_string()),
        Some(_) => Ok(user_data(p, cx)?.map(|s| hex_sha256(s.as_bytes())).unwrap_or_default()),
    }
}

/// The ClientToken of a RunInstances: same plan, id, request and generation, same instance.
fn client_token(cx: &Ctx, want: &Desired, generation: u32) -> String {
    let asked = hex_sha256(serde_json::to_string(&want.attrs).unwrap_or_default().as_bytes());
    let mut t = hex_sha256(format!("{}\n{}\n{asked}\n{generation}", cx.plan, cx.id).as_bytes());
    // EC2 takes at most 64 ASCII characters (a SHA-256 in hex is exactly that).
    t.truncate(64);
    t
}

/// Whether an instance is gone or going: terminated or shutting down.
fn ended(i: &aws_sdk_ec2::types::Instance) -> bool {
    matches!(i.state().and_then(|s| s.name()), Some(InstanceStateName::Terminated | InstanceStateName::ShuttingDown))
}

/// The profile name from an instance profile ARN (`…:instance-profile/<path/>name`).
fn profile_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// `p`: the plan's properties, None for an instance the plan no longer has (`find_owned`).
fn live_of(p: Option<&Instance>, cx: &Ctx, i: &aws_sdk_ec2::types::Instance) -> Live {
    let tags = i.tags();
    let name = name_tag(tags);
    let id = i.instance_id().unwrap_or_default();
    let state = i.state().and_then(|s| s.name());
    let public_ip = i.public_ip_address().unwrap_or_default();
    // An instance's groups are its primary interface's. EC2 shows them on both; the test-bed
    // fills only one of the two (the interface's at launch, the instance's after a change), so
    // read the instance's list and fall back to the interface's.
    let mut groups: Vec<String> = i.security_groups().iter().filter_map(|g| g.group_id().map(String::from)).collect();
    if groups.is_empty() {
        groups = i
            .network_interfaces()
            .iter()
            .filter(|n| n.attachment().and_then(|a| a.device_index()) == Some(0))
            .flat_map(|n| n.groups().iter().filter_map(|g| g.group_id().map(String::from)))
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
    let user_data = pairs(tags).into_iter().find(|(k, _)| *k == TAG_USER_DATA).map(|(_, v)| v).unwrap_or_default();
    let mut attrs = BTreeMap::from([
        ("name".to_string(), json!(name)),
        ("ami".to_string(), json!(i.image_id().unwrap_or_default())),
        ("instance_type".to_string(), json!(i.instance_type().map(|t| t.as_str()).unwrap_or_default())),
        ("subnet".to_string(), json!(i.subnet_id().unwrap_or_default())),
        (
            "instance_profile".to_string(),
            json!(i.iam_instance_profile().and_then(|ip| ip.arn()).map(profile_name).unwrap_or_default()),
        ),
        ("associate_public_ip".to_string(), json!(associate_public_ip)),
        ("key_name".to_string(), json!(i.key_name().unwrap_or_default())),
        ("user_data".to_string(), json!(user_data)),
        ("tags".to_string(), live_tags(tags)),
    ]);
    // Without groups in the plan EC2 puts the VPC's default group on the instance: not a
    // difference (see `desired`).
    if p.is_none_or(|p| !p.security_groups.is_empty()) {
        attrs.insert("security_groups".into(), sorted(groups));
    }
    let mut out = outputs(cx, "instance", id, &name);
    out.insert("private_ip".into(), i.private_ip_address().unwrap_or_default().to_string());
    out.insert("public_ip".into(), public_ip.to_string());
    let handle = json!({ "state": state.map(|s| s.as_str()).unwrap_or_default() });
    Live { outputs: out, attrs, owned: true, handle }
}

/// The live instance, and how many instances of this resource have ended (the generation).
/// One DescribeInstances: terminated instances stay visible for about an hour, and counting
/// them is what lets a re-create after a terminate get a new ClientToken.
async fn find(p: &Instance, cx: &Ctx) -> Result<(Option<Live>, u32)> {
    let ec2 = &cx.clients().ec2;
    let mut all = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let out = ec2
            .describe_instances()
            .set_filters(Some(owner_filters(cx)))
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| cx.aws("DescribeInstances", e))?;
        all.extend(out.reservations().iter().flat_map(|r| r.instances().iter().cloned()));
        match out.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_string()),
            _ => break,
        }
    }
    let (gone, live): (Vec<_>, Vec<_>) = all.into_iter().partition(ended);
    let found = pick(cx, "instance", live, |i| i.instance_id().unwrap_or_default().to_string());
    Ok((found.map(|i| live_of(Some(p), cx, &i)), gone.len() as u32))
}

/// How long to wait for an instance to start or terminate.
fn ec2_wait(cx: &Ctx) -> Duration {
    cx.opts.ec2_wait.unwrap_or(Duration::from_secs(600))
}

/// Poll one instance (1 s doubling to 10 s) until `done` says so; None if it does not exist.
/// A missing instance right after RunInstances is EC2's eventual consistency: `missing_ok`
/// says whether that ends the wait.
async fn wait_for(
    cx: &Ctx,
    id: &str,
    what: &str,
    missing_ok: bool,
    done: impl Fn(&aws_sdk_ec2::types::Instance) -> Result<bool>,
) -> Result<Option<aws_sdk_ec2::types::Instance>> {
    let start = Instant::now();
    let mut delay = Duration::from_secs(1);
    loop {
        let got = gone_ok(
            cx.clients()
                .ec2
                .describe_instances()
                .instance_ids(id)
                .send()
                .await
                .map_err(|e| cx.aws("DescribeInstances", e)),
            GONE,
        )?;
        let inst = got.and_then(|o| o.reservations().iter().flat_map(|r| r.instances()).next().cloned());
        match inst {
            None if missing_ok => return Ok(None),
            Some(i) if done(&i)? => return Ok(Some(i)),
            _ => {}
        }
        if start.elapsed() + delay > ec2_wait(cx) {
            return Err(Error::other(format!(
                "instance {id} did not become {what} within {} s",
                ec2_wait(cx).as_secs()
            )));
        }
        cx.say(format!("waiting for instance {id} to become {what}"));
        tokio::time::sleep(jitter(delay)).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

/// An instance profile not yet visible to EC2 (a new one takes seconds to propagate from IAM).
fn profile_propagating(e: &Error) -> bool {
    e.code() == Some("InvalidParameterValue")
        && e.aws().is_some_and(|a| {
            let m = a.message.to_ascii_lowercase();
            m.contains("instance profile") || m.contains("iaminstanceprofile")
        })
}

fn profile_spec(name: &str) -> IamInstanceProfileSpecification {
    IamInstanceProfileSpecification::builder().name(name).build()
}

/// Bring the instance profile association to the plan: associate, replace or disassociate.
async fn set_profile(cx: &Ctx, instance: &str, want: Option<&str>) -> Result<()> {
    let ec2 = &cx.clients().ec2;
    let out = ec2
        .describe_iam_instance_profile_associations()
        .filters(Filter::builder().name("instance-id").values(instance).build())
        .send()
        .await
        .map_err(|e| cx.aws("DescribeIamInstanceProfileAssociations", e))?;
    let current = out
        .iam_instance_profile_associations()
        .iter()
        .filter(|a| {
            matches!(
                a.state(),
                Some(IamInstanceProfileAssociationState::Associated | IamInstanceProfileAssociationState::Associating)
            )
        })
        .find_map(|a| a.association_id().map(String::from));
    match (current, want) {
        (Some(assoc), Some(name)) => {
            retry_propagation(cx, "the instance profile", cx.iam_propagation(), profile_propagating, || async {
                ec2.replace_iam_instance_profile_association()
                    .association_id(&assoc)
                    .iam_instance_profile(profile_spec(name))
                    .send()
                    .await
                    .map_err(|e| cx.aws("ReplaceIamInstanceProfileAssociation", e))
            })
            .await?;
        }
        (None, Some(name)) => {
            retry_propagation(cx, "the instance profile", cx.iam_propagation(), profile_propagating, || async {
                ec2.associate_iam_instance_profile()
                    .instance_id(instance)
                    .iam_instance_profile(profile_spec(name))
                    .send()
                    .await
                    .map_err(|e| cx.aws("AssociateIamInstanceProfile", e))
            })
            .await?;
        }
        (Some(assoc), None) => {
            gone_ok(
                ec2.disassociate_iam_instance_profile()
                    .association_id(&assoc)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| cx.aws("DisassociateIamInstanceProfile", e)),
                &["InvalidAssociationID.NotFound"],
            )?;
        }
        (None, None) => {}
    }
    Ok(())
}

impl Resource for Type {
    type Props = Instance;

    fn desired(p: &Instance, cx: &Ctx) -> Result<Desired> {
        let mut d = Desired::default()
            .attr("name", p.name.as_str())
            .attr("ami", p.ami.as_str())
            .attr("instance_type", p.instance_type.as_str())
            .attr("subnet", p.subnet.as_str())
            .attr("instance_profile", p.instance_profile.clone().unwrap_or_default())
            .attr("associate_public_ip", p.associate_public_ip)
            .attr("key_name", p.key_name.clone().unwrap_or_default())
            .attr("user_data", user_data_attr(p, cx)?)
            .attr("tags", want_tags(&p.tags))
            // Groups and the instance profile change on a running instance; everything else
            // is fixed at launch. (EC2 can resize a stopped instance, but xpart never stops one.)
            .forces_replacement(&["ami", "instance_type", "subnet", "user_data", "key_name", "associate_public_ip"]);
        if !p.security_groups.is_empty() {
            d = d.attr("security_groups", sorted(p.security_groups.iter().cloned()));
        }
        Ok(d)
    }

    async fn read(p: &Instance, cx: &Ctx) -> Result<Option<Live>> {
        Ok(find(p, cx).await?.0)
    }

    async fn find_owned(cx: &Ctx) -> Result<Vec<(String, Live)>> {
        // EC2 leaves out ended instances (listed for about an hour after they terminate).
        let live_states = Filter::builder()
            .name("instance-state-name")
            .set_values(Some(["pending", "running", "stopping", "stopped"].map(String::from).to_vec()))
            .build();
        let mut pages = cx
            .clients()
            .ec2
            .describe_instances()
            .filters(plan_filter(cx))
            .filters(live_states)
            .into_paginator()
            .send();
        let mut found = vec![];
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| cx.aws("DescribeInstances", e))?;
            found.extend(page.reservations().iter().flat_map(|r| r.instances().iter().filter(|i| !ended(i)).cloned()));
        }
        Ok(owned(cx, "instance", &found, |i| i.tags(), |i| live_of(None, cx, i)))
    }

    async fn create(p: &Instance, cx: &Ctx) -> Result<Live> {
        let ec2 = &cx.clients().ec2;
        let want = Self::desired(p, cx)?;
        let (existing, generation) = find(p, cx).await?;
        // An earlier apply launched it and lost the answer beyond the SDK's retries: the
        // instance is there, tagged as this resource. Take it; the plan compares the rest.
        if let Some(live) = existing {
            return Ok(live);
        }
        let token = client_token(cx, &want, generation);
        let script = user_data(p, cx)?;
        let hash = want.attrs["user_data"].as_str().unwrap_or_default().to_string();
        let extra: Vec<(&str, &str)> = if hash.is_empty() { vec![] } else { vec![(TAG_USER_DATA, hash.as_str())] };
        let nic = InstanceNetworkInterfaceSpecification::builder()
            .device_index(0)
            .subnet_id(&p.subnet)
            .associate_public_ip_address(p.associate_public_ip)
            .set_groups((!p.security_groups.is_empty()).then(|| p.security_groups.clone()))
            .delete_on_termination(true)
            .build();
        let out = retry_propagation(cx, "the instance profile", cx.iam_propagation(), profile_propagating, || async {
            let mut req = ec2
                .run_instances()
                .image_id(&p.ami)
                .instance_type(InstanceType::from(p.instance_type.as_str()))
                .min_count(1)
                .max_count(1)
                .client_token(&token)
                .network_interfaces(nic.clone())
                .tag_specifications(tag_spec(cx, ResourceType::Instance, &p.name, &p.tags, &extra))
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
        let id = out
            .instances()
            .first()
            .and_then(|i| i.instance_id())
            .ok_or_else(|| Error::other("RunInstances returned no instance"))?
            .to_string();
        cx.say(format!("launched {id}"));
        // Wait until it runs: its addresses are outputs others may use, and an instance that
        // cannot start (capacity, a bad AMI) terminates at once, which should fail here.
        let running = wait_for(cx, &id, "running", false, |i| match i.state().and_then(|s| s.name()) {
            Some(InstanceStateName::Running) => Ok(true),
            Some(InstanceStateName::Pending) | None => Ok(false),
            Some(other) => Err(Error::other(format!(
                "instance {id} is {} instead of running: {}",
                other.as_str(),
                i.state_reason().and_then(|r| r.message()).unwrap_or("no reason given")
            ))),
        })
        .await?
        .ok_or_else(|| Error::other(format!("instance {id} vanished after RunInstances")))?;
        Ok(live_of(Some(p), cx, &running))
    }

    async fn update(p: &Instance, live: &Live, changed: &BTreeSet<String>, cx: &Ctx) -> Result<Live> {
        let id = &live.outputs["id"];
        if changed.contains("security_groups") {
            cx.clients()
                .ec2
                .modify_instance_attribute()
                .instance_id(id)
                .set_groups(Some(p.security_groups.clone()))
                .send()
                .await
                .map_err(|e| cx.aws("ModifyInstanceAttribute", e))?;
        }
        // In place: EC2 associates, replaces or removes a profile on a running instance, and the
        // instance's credentials follow within minutes, so no reason to lose the instance.
        if changed.contains("instance_profile") {
            set_profile(cx, id, p.instance_profile.as_deref()).await?;
        }
        if changed.contains("tags") || changed.contains("name") {
            retag(cx, id, &p.name, &p.tags, live).await?;
        }
        settle(cx, "instance", || Self::read(p, cx)).await
    }

    async fn delete(live: &Live, cx: &Ctx) -> Result<()> {
        let id = live.outputs.get("id").cloned().unwrap_or_default();
        // Already terminated (a second destroy, or a retry): nothing to do. EC2 would accept
        // another TerminateInstances, but the test-bed then fails on the interface that went
        // with the instance; asking first costs one read.
        let now = gone_ok(
            cx.clients()
                .ec2
                .describe_instances()
                .instance_ids(&id)
                .send()
                .await
                .map_err(|e| cx.aws("DescribeInstances", e)),
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
            cx.clients()
                .ec2
                .terminate_instances()
                .instance_ids(&id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| cx.aws("TerminateInstances", e)),
            GONE,
        )?;
        if terminated.is_none() {
            return Ok(());
        }
        // Its subnet and security groups cannot be deleted while it is shutting down.
        wait_for(cx, &id, "terminated", true, |i| {
            Ok(i.state().and_then(|s| s.name()) == Some(&InstanceStateName::Terminated))
        })
        .await?;
        Ok(())
    }
}
