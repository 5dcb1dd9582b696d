//! `ec2.vpc`. What every `ec2.*` type shares (the ownership-tag lookup, tags set at create,
//! tag updates, the wait for dependants to go) is in the family's `mod.rs`.
//!
//! EC2 names are not unique, so an EC2 resource is found only by its ownership tags
//! (`xpart:plan`, `xpart:lineage`, `xpart:id`), which TagSpecifications set in the create call itself: nothing
//! ever exists untagged. CreateVpc cannot be deduplicated, so it runs with the SDK's retries off
//! under `create_once`, which looks the VPC up by those tags after an uncertain outcome.
//!
//! Creates and updates answer the `Live` that what they sent and what EC2 answered make
//! (`fresh`, `applied`), never a read-back: each read costs a round trip, and a China one is
//! 0.6 s. That `Live` is what `read` would describe right after (the tests compare the two).
//! Nothing waits for a new resource to show in Describe* by its tags either (that can lag a
//! create by seconds): this run never reads it again, and the next run's read is what finds
//! it; an uncertain create is looked up by `create_once` itself.
//! Reads take the account for ARNs from the objects EC2 returns (`OwnerId`), so they need no
//! identity call before them.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::operation::create_vpc::CreateVpcOutput;
use aws_sdk_ec2::types::{ResourceType, VpcState};
use serde_json::json;

use super::*;
use crate::engine::resource::{Ctx, Desired, Live, Resource, Result};
use crate::lint::{kinds, limits, Checker, Env, Rules};
use crate::plan::types::Vpc;
use crate::plan::Path as PropPath;

const CREATE: Creation = Creation {
    op: "CreateVpc",
    kind: "vpc",
    later: &[],
    tokened: false,
};

const DELETE: Ending = Ending {
    op: "DeleteVpc",
    waiting_for: "the deletion of the VPC's subnets, gateways and groups",
    gone: &["InvalidVpcID.NotFound"],
};

fn live_of(_p: Option<&Vpc>, cx: &Ctx, vpc: &aws_sdk_ec2::types::Vpc) -> Result<Live> {
    let tags = vpc.tags();
    let name = name_tag(tags);
    let attrs = BTreeMap::from([
        ("name".to_string(), json!(name)),
        (
            "cidr".to_string(),
            json!(need(vpc.cidr_block(), "CidrBlock")?),
        ),
        ("tags".to_string(), live_tags(tags)),
    ]);
    let id = (vpc.vpc_id(), "VpcId");
    described_live(cx, "vpc", id, (&name, vpc.owner_id()), attrs)
}

super::described! {
    Vpc: aws_sdk_ec2::types::Vpc, "VPC", describe_vpcs "DescribeVpcs", id vpc_id, live live_of, going |v: &aws_sdk_ec2::types::Vpc| v.state() == Some(&VpcState::Deleting)
}

impl Resource for Vpc {
    const READS_LAG: bool = super::READS_LAG;
    const NAME_PROPERTY: Option<&'static str> = None;
    type Handle = ();

    fn desired(p: &Self, _cx: &Ctx) -> Result<Desired> {
        Ok(Desired::of::<Self>()
            .attr("name", p.name.as_str())
            .attr("cidr", p.cidr.as_str())
            .attr("tags", want_tags(&p.tags))
            .forces_replacement(&["cidr"]))
    }

    async fn read(p: &Self, cx: &Ctx) -> Result<Option<Live>> {
        read_by_tags(p, cx).await
    }

    async fn create(p: &Self, cx: &Ctx) -> Result<Live> {
        let ec2 = &cx.clients().ec2;
        let create = || ec2.create_vpc().cidr_block(&p.cidr);
        let send = || super::send_once!(cx, p, ResourceType::Vpc, create());
        let made = |o: &CreateVpcOutput| o.vpc().and_then(|v| id_owner(v.vpc_id(), v.owner_id()));
        create_tagged(p, cx, &CREATE, send, made, |_| {}).await
    }

    async fn update(p: &Self, live: &Live, changed: &BTreeSet<String>, cx: &Ctx) -> Result<Live> {
        // Only the tags change in place (the CIDR replaces the VPC).
        finish(cx, p, live, changed, vec![]).await
    }

    async fn delete(live: &Live, cx: &Ctx) -> Result<()> {
        let id = live.output("id")?;
        super::end_by_id!(cx, &DELETE, delete_vpc, vpc_id, id)
    }

    async fn find_owned(cx: &Ctx) -> Result<Vec<(String, Live)>> {
        owned_by_tags::<Self>(cx).await
    }
}

impl Rules for Vpc {
    fn check(&self, cx: &mut Checker, at: &PropPath, _env: &Env) {
        kinds::cidr(cx, &at.key("cidr"), &self.cidr);
        limits::ec2_limits(cx, at, &self.name, &self.tags);
    }
}
