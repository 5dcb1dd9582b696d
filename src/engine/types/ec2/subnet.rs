//! `ec2.subnet`: a subnet of a plan's VPC, found by its ownership tags.
//!
//! CreateSubnet cannot be deduplicated: it runs under `create_once` with the SDK's retries off.
//! Whether instances get a public address by default is the one setting that changes in place
//! (ModifySubnetAttribute); VPC, CIDR and availability zone replace the subnet.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::operation::create_subnet::CreateSubnetOutput;
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType};
use serde_json::json;

use super::{
    create_tagged, finish, id_owner, live_tags, name_tag, tag_spec, want_tags, Call, Creation,
    Ending,
};
use super::{described_live, need, owned_by_tags, read_by_tags};
use crate::engine::resource::{Ctx, Desired, Live, Resource, Result};
use crate::lint::{kinds, limits, Checker, Env, Rules};
use crate::plan::types::Subnet;
use crate::plan::Path as PropPath;

/// `with_zone`: whether the plan names a zone (see below); a subnet the plan no longer has
/// shows its zone.
const CREATE: Creation = Creation {
    op: "CreateSubnet",
    kind: "subnet",
    later: &["map_public_ip_on_launch"],
    tokened: false,
};

const DELETE: Ending = Ending {
    op: "DeleteSubnet",
    waiting_for: "the deletion of the subnet's instances and interfaces",
    gone: &["InvalidSubnetID.NotFound"],
};

/// `p`: the plan's subnet, when reading it (its zone is compared only if the plan names one).
fn live_of(p: Option<&Subnet>, cx: &Ctx, s: &aws_sdk_ec2::types::Subnet) -> Result<Live> {
    let with_zone = p.is_none_or(|p| p.availability_zone.is_some());
    let tags = s.tags();
    let name = name_tag(tags);
    let mut attrs = BTreeMap::from([
        ("name".to_string(), json!(name)),
        ("vpc".to_string(), json!(need(s.vpc_id(), "VpcId")?)),
        (
            "cidr".to_string(),
            json!(need(s.cidr_block(), "CidrBlock")?),
        ),
        (
            "map_public_ip_on_launch".to_string(),
            json!(s.map_public_ip_on_launch().unwrap_or(false)),
        ),
        ("tags".to_string(), live_tags(tags)),
    ]);
    // A plan without a zone lets EC2 choose one; whichever it chose is then not a difference.
    if with_zone {
        attrs.insert(
            "availability_zone".into(),
            json!(need(s.availability_zone(), "AvailabilityZone")?),
        );
    }
    let id = (s.subnet_id(), "SubnetId");
    described_live(cx, "subnet", id, (&name, s.owner_id()), attrs)
}

super::described! {
    Subnet: aws_sdk_ec2::types::Subnet, "subnet", describe_subnets "DescribeSubnets", id subnet_id, live live_of
}

impl Resource for Subnet {
    const READS_LAG: bool = super::READS_LAG;
    const NAME_PROPERTY: Option<&'static str> = None;
    type Handle = ();

    fn desired(p: &Self, _cx: &Ctx) -> Result<Desired> {
        let mut d = Desired::of::<Self>()
            .attr("name", p.name.as_str())
            .attr("vpc", p.vpc.as_str())
            .attr("cidr", p.cidr.as_str())
            .attr("map_public_ip_on_launch", p.map_public_ip_on_launch)
            .attr("tags", want_tags(&p.tags))
            .forces_replacement(&["vpc", "cidr", "availability_zone"]);
        if let Some(az) = &p.availability_zone {
            d = d.attr("availability_zone", az.as_str());
        }
        Ok(d)
    }

    async fn read(p: &Self, cx: &Ctx) -> Result<Option<Live>> {
        read_by_tags(p, cx).await
    }

    async fn create(p: &Self, cx: &Ctx) -> Result<Live> {
        let ec2 = &cx.clients().ec2;
        let create = || ec2.create_subnet().vpc_id(&p.vpc).cidr_block(&p.cidr);
        let create = || create().set_availability_zone(p.availability_zone.clone());
        let send = || super::send_once!(cx, p, ResourceType::Subnet, create());
        let made = |o: &CreateSubnetOutput| {
            o.subnet()
                .and_then(|s| id_owner(s.subnet_id(), s.owner_id()))
        };
        // New subnets never map public addresses: that is set next, if asked for.
        let start = |l: &mut Live| {
            l.attrs
                .insert("map_public_ip_on_launch".into(), json!(false));
        };
        create_tagged(p, cx, &CREATE, send, made, start).await
    }

    async fn update(p: &Self, live: &Live, changed: &BTreeSet<String>, cx: &Ctx) -> Result<Live> {
        // The one setting that changes in place besides the tags.
        let map_public = async move {
            let on = AttributeBooleanValue::builder()
                .value(p.map_public_ip_on_launch)
                .build();
            let ec2 = &cx.clients().ec2;
            let sent = ec2.modify_subnet_attribute().subnet_id(live.output("id")?);
            cx.run(
                "ModifySubnetAttribute",
                sent.map_public_ip_on_launch(on).send(),
            )
            .await
        };
        let calls: Vec<Call<'_>> = match changed.contains("map_public_ip_on_launch") {
            true => vec![Box::pin(map_public)],
            false => vec![],
        };
        finish(cx, p, live, changed, calls).await
    }

    async fn delete(live: &Live, cx: &Ctx) -> Result<()> {
        let id = live.output("id")?;
        super::end_by_id!(cx, &DELETE, delete_subnet, subnet_id, id)
    }

    async fn find_owned(cx: &Ctx) -> Result<Vec<(String, Live)>> {
        owned_by_tags::<Self>(cx).await
    }
}

impl Rules for Subnet {
    fn check(&self, cx: &mut Checker, at: &PropPath, _env: &Env) {
        kinds::cidr(cx, &at.key("cidr"), &self.cidr);
        limits::ec2_limits(cx, at, &self.name, &self.tags);
    }
}
