//! `ec2.internet_gateway`: an internet gateway attached to a plan's VPC.
//!
//! CreateInternetGateway cannot be deduplicated: it runs under `create_once` with the SDK's
//! retries off, and the attachment follows as a second call. A changed VPC moves the gateway
//! (detach, attach) rather than replacing it; delete detaches first, as EC2 requires.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::operation::create_internet_gateway::CreateInternetGatewayOutput;
use aws_sdk_ec2::types::{AttachmentStatus, ResourceType};
use serde_json::json;

use super::{
    create_tagged, end_with, finish, id_owner, live_tags, name_tag, tag_spec, want_tags, Call,
    Creation, Ending,
};
use super::{described_live, owned_by_tags, read_by_tags};
use crate::engine::resource::{until_seen, Ctx, Desired, Live, Resource, Result};
use crate::lint::{limits, Checker, Env, Rules};
use crate::plan::types::InternetGateway;
use crate::plan::Path as PropPath;

const GONE: &[&str] = &["InvalidInternetGatewayID.NotFound"];

const CREATE: Creation = Creation {
    op: "CreateInternetGateway",
    kind: "internet-gateway",
    later: &["vpc"],
    tokened: false,
};

const DELETE: Ending = Ending {
    op: "DeleteInternetGateway",
    waiting_for: "the detachment of the gateway",
    gone: GONE,
};

fn live_of(
    _p: Option<&InternetGateway>,
    cx: &Ctx,
    g: &aws_sdk_ec2::types::InternetGateway,
) -> Result<Live> {
    let tags = g.tags();
    let name = name_tag(tags);
    // A gateway attaches to one VPC at most; one being detached is already on its way out.
    let vpc = g
        .attachments()
        .iter()
        .find(|a| {
            !matches!(
                a.state(),
                Some(AttachmentStatus::Detaching | AttachmentStatus::Detached)
            )
        })
        .and_then(|a| a.vpc_id())
        // None attached: the attribute's empty value, which the plan shows as a change.
        .unwrap_or_default();
    let attrs = BTreeMap::from([
        ("name".to_string(), json!(name)),
        ("vpc".to_string(), json!(vpc)),
        ("tags".to_string(), live_tags(tags)),
    ]);
    let id = (g.internet_gateway_id(), "InternetGatewayId");
    described_live(cx, "internet-gateway", id, (&name, g.owner_id()), attrs)
}

super::described! {
    InternetGateway: aws_sdk_ec2::types::InternetGateway, "internet gateway", describe_internet_gateways "DescribeInternetGateways", id internet_gateway_id, live live_of
}

/// EC2 refuses a detach while instances in the VPC still hold public addresses.
const DETACH: Ending = Ending {
    op: "DetachInternetGateway",
    waiting_for: "the release of the VPC's public addresses",
    gone: &[
        "Gateway.NotAttached",
        "InvalidInternetGatewayID.NotFound",
        "InvalidVpcID.NotFound",
    ],
};

async fn detach(cx: &Ctx, igw: &str, vpc: &str) -> Result<()> {
    let ec2 = &cx.clients().ec2;
    let send = || {
        ec2.detach_internet_gateway()
            .internet_gateway_id(igw)
            .vpc_id(vpc)
            .send()
    };
    end_with(cx, &DETACH, send).await
}

async fn attach(p: &InternetGateway, cx: &Ctx, igw: &str) -> Result<()> {
    let attached = cx
        .call(
            "AttachInternetGateway",
            cx.clients()
                .ec2
                .attach_internet_gateway()
                .internet_gateway_id(igw)
                .vpc_id(&p.vpc)
                .send(),
        )
        .await;
    match attached {
        Ok(_) => Ok(()),
        // An SDK retry after a lost answer finds the attachment made: fine if it is to the VPC
        // the plan names (a read, only on this rare path, patient: the gateway is seconds old).
        Err(e) if e.code() == Some("Resource.AlreadyAssociated") => {
            let now =
                until_seen(cx, "the internet gateway", || InternetGateway::read(p, cx)).await?;
            if now.as_ref().and_then(|l| l.attrs.get("vpc")) != Some(&json!(p.vpc)) {
                return Err(e);
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

impl Resource for InternetGateway {
    const READS_LAG: bool = super::READS_LAG;
    const NAME_PROPERTY: Option<&'static str> = None;
    type Handle = ();

    fn desired(p: &Self, _cx: &Ctx) -> Result<Desired> {
        Ok(Desired::of::<Self>()
            .attr("name", p.name.as_str())
            .attr("vpc", p.vpc.as_str())
            .attr("tags", want_tags(&p.tags)))
    }

    async fn read(p: &Self, cx: &Ctx) -> Result<Option<Live>> {
        read_by_tags(p, cx).await
    }

    async fn create(p: &Self, cx: &Ctx) -> Result<Live> {
        let ec2 = &cx.clients().ec2;
        let send = || {
            super::send_once!(
                cx,
                p,
                ResourceType::InternetGateway,
                ec2.create_internet_gateway()
            )
        };
        let made = |o: &CreateInternetGatewayOutput| {
            let g = o.internet_gateway()?;
            id_owner(g.internet_gateway_id(), g.owner_id())
        };
        // A new gateway is attached to nothing yet.
        let start = |l: &mut Live| {
            l.attrs.insert("vpc".into(), json!(""));
        };
        create_tagged(p, cx, &CREATE, send, made, start).await
    }

    async fn update(p: &Self, live: &Live, changed: &BTreeSet<String>, cx: &Ctx) -> Result<Live> {
        let id = live.output("id")?;
        let mut calls: Vec<Call<'_>> = vec![];
        if changed.contains("vpc") {
            // Detach, then attach: a gateway is attached to one VPC at most.
            calls.push(Box::pin(async move {
                let old = live.attr_str("vpc");
                if !old.is_empty() {
                    detach(cx, id, old).await?;
                }
                if !p.vpc.is_empty() {
                    attach(p, cx, id).await?;
                }
                Ok(())
            }));
        }
        finish(cx, p, live, changed, calls).await
    }

    async fn delete(live: &Live, cx: &Ctx) -> Result<()> {
        let id = live.output("id")?.to_string();
        let vpc = live.attr_str("vpc");
        if !vpc.is_empty() {
            detach(cx, &id, vpc).await?;
        }
        super::end_by_id!(
            cx,
            &DELETE,
            delete_internet_gateway,
            internet_gateway_id,
            &id
        )
    }

    async fn find_owned(cx: &Ctx) -> Result<Vec<(String, Live)>> {
        owned_by_tags::<Self>(cx).await
    }
}

impl Rules for InternetGateway {
    fn check(&self, cx: &mut Checker, at: &PropPath, _env: &Env) {
        limits::ec2_limits(cx, at, &self.name, &self.tags);
    }
}
