//! `ec2.route_table`: a route table of a plan's VPC, its routes and its subnet associations.
//!
//! CreateRouteTable cannot be deduplicated: it runs under `create_once` with the SDK's retries
//! off. Routes and associations are then brought to the plan one call each, all at once; the
//! association ids that disassociating needs are kept in `Live::handle`. The `local` route belongs to the VPC
//! and is never compared or touched.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use aws_sdk_ec2::operation::create_route_table::CreateRouteTableOutput;
use aws_sdk_ec2::types::{ResourceType, RouteOrigin, RouteTableAssociationStateCode};
use serde_json::{json, Value as Json};

use super::{
    create_tagged, finish, gone_ok, id_owner, live_tags, name_tag, tag_spec, want_tags, Call,
    Creation, Ending,
};
use super::{described_live, need, owned_by_tags, read_by_tags};
use crate::engine::resource::{sorted, until_seen, Ctx, Desired, Error, Live, Resource, Result};
use crate::lint::{kinds, limits, Checker, Env, Rules};
use crate::plan::types::{Route, RouteTable};
use crate::plan::Path as PropPath;

/// Routes as compared: `[{destination, gateway}]` sorted by destination (a table has one route
/// per destination, so order means nothing).
fn routes_json(routes: impl IntoIterator<Item = (String, String)>) -> Json {
    let m: BTreeMap<String, String> = routes.into_iter().collect();
    Json::Array(
        m.into_iter()
            .map(|(d, g)| json!({"destination": d, "gateway": g}))
            .collect(),
    )
}

fn route_pairs(v: Option<&Json>) -> BTreeMap<String, String> {
    v.and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| {
                    Some((
                        r["destination"].as_str()?.to_string(),
                        r["gateway"].as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

const CREATE: Creation = Creation {
    op: "CreateRouteTable",
    kind: "route-table",
    later: &["routes", "subnets"],
    tokened: true,
};

const DELETE: Ending = Ending {
    op: "DeleteRouteTable",
    waiting_for: "the removal of the route table's associations",
    gone: &["InvalidRouteTableID.NotFound"],
};

fn live_of(_p: Option<&RouteTable>, cx: &Ctx, t: &aws_sdk_ec2::types::RouteTable) -> Result<Live> {
    let tags = t.tags();
    let name = name_tag(tags);
    // Routes a virtual gateway propagates are not the plan's to compare or remove.
    let routes = t
        .routes()
        .iter()
        .filter(|r| r.origin() != Some(&RouteOrigin::EnableVgwRoutePropagation))
        .filter_map(|r| {
            let dest = r
                .destination_cidr_block()
                .or(r.destination_ipv6_cidr_block())
                .or(r.destination_prefix_list_id())?;
            let target = r
                .gateway_id()
                .or(r.nat_gateway_id())
                .or(r.transit_gateway_id())
                .or(r.vpc_peering_connection_id())
                .or(r.egress_only_internet_gateway_id())
                .or(r.network_interface_id())
                .or(r.instance_id())
                .or(r.local_gateway_id())
                .or(r.carrier_gateway_id())
                // A target none of these name (a blackhole): the route shows with an empty
                // gateway, a difference the plan's update removes.
                .unwrap_or_default();
            (target != "local").then(|| (dest.to_string(), target.to_string()))
        });
    // Explicit subnet associations only: the main association is the VPC's default, not ours.
    let assocs: BTreeMap<String, String> = t
        .associations()
        .iter()
        .filter(|a| !a.main().unwrap_or(false))
        .filter(|a| {
            !matches!(
                a.association_state().and_then(|s| s.state()),
                Some(
                    RouteTableAssociationStateCode::Disassociating
                        | RouteTableAssociationStateCode::Disassociated
                )
            )
        })
        .filter_map(|a| {
            Some((
                a.subnet_id()?.to_string(),
                a.route_table_association_id()?.to_string(),
            ))
        })
        .collect();
    let attrs = BTreeMap::from([
        ("name".to_string(), json!(name)),
        ("vpc".to_string(), json!(need(t.vpc_id(), "VpcId")?)),
        ("routes".to_string(), routes_json(routes)),
        ("subnets".to_string(), sorted(assocs.keys().cloned())),
        ("tags".to_string(), live_tags(tags)),
    ]);
    let id = (t.route_table_id(), "RouteTableId");
    let live = described_live(cx, "route-table", id, (&name, t.owner_id()), attrs)?;
    let handle = RouteTableHandle {
        associations: assocs,
    };
    Ok(live.with_handle(&handle))
}

super::described! {
    RouteTable: aws_sdk_ec2::types::RouteTable, "route table", describe_route_tables "DescribeRouteTables", id route_table_id, live live_of
}

/// What a route table's `Live` keeps besides its outputs: its explicit subnet associations
/// (subnet id to association id), which disassociating needs and the `subnets` attribute
/// does not hold.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RouteTableHandle {
    pub associations: BTreeMap<String, String>,
}

fn associations(live: &Live) -> Result<BTreeMap<String, String>> {
    Ok(live.handle::<RouteTableHandle>()?.associations)
}

/// CreateRoute and ReplaceRoute take the target in a field named by its kind; ids carry it.
macro_rules! with_route {
    ($req:expr, $dest:expr, $target:expr) => {{
        let (dest, target): (&str, &str) = ($dest, $target);
        let req = if dest.contains(':') {
            $req.destination_ipv6_cidr_block(dest)
        } else {
            $req.destination_cidr_block(dest)
        };
        match target.split('-').next().unwrap_or_default() {
            "nat" => req.nat_gateway_id(target),
            "tgw" => req.transit_gateway_id(target),
            "pcx" => req.vpc_peering_connection_id(target),
            "eigw" => req.egress_only_internet_gateway_id(target),
            "eni" => req.network_interface_id(target),
            "i" => req.instance_id(target),
            _ => req.gateway_id(target),
        }
    }};
}

async fn put_route(cx: &Ctx, table: &str, dest: &str, target: &str, exists: bool) -> Result<()> {
    let ec2 = &cx.clients().ec2;
    if !exists {
        let created = with_route!(ec2.create_route().route_table_id(table), dest, target)
            .send()
            .await
            .map_err(|e| cx.aws("CreateRoute", e));
        match created {
            Ok(_) => return Ok(()),
            // Someone (or a retried call) made it meanwhile: make it point where the plan says.
            Err(e) if e.code() == Some("RouteAlreadyExists") => {}
            Err(e) => return Err(e),
        }
    }
    with_route!(ec2.replace_route().route_table_id(table), dest, target)
        .send()
        .await
        .map_err(|e| cx.aws("ReplaceRoute", e))?;
    Ok(())
}

async fn delete_route(cx: &Ctx, table: &str, dest: &str) -> Result<()> {
    let req = cx.clients().ec2.delete_route().route_table_id(table);
    let req = if dest.contains(':') {
        req.destination_ipv6_cidr_block(dest)
    } else if dest.starts_with("pl-") {
        req.destination_prefix_list_id(dest)
    } else {
        req.destination_cidr_block(dest)
    };
    gone_ok(
        req.send()
            .await
            .map(|_| ())
            .map_err(|e| cx.aws("DeleteRoute", e)),
        &["InvalidRoute.NotFound"],
    )?;
    Ok(())
}

async fn disassociate(cx: &Ctx, association: &str) -> Result<()> {
    gone_ok(
        cx.run(
            "DisassociateRouteTable",
            cx.clients()
                .ec2
                .disassociate_route_table()
                .association_id(association)
                .send(),
        )
        .await,
        &["InvalidAssociationID.NotFound"],
    )?;
    Ok(())
}

/// Associate `subnet` with the table; the association's id.
async fn associate(p: &RouteTable, cx: &Ctx, table: &str, subnet: &str) -> Result<String> {
    let associated = cx
        .call(
            "AssociateRouteTable",
            cx.clients()
                .ec2
                .associate_route_table()
                .route_table_id(table)
                .subnet_id(subnet)
                .send(),
        )
        .await;
    match associated {
        Ok(out) => out
            .association_id()
            .map(String::from)
            .ok_or_else(|| Error::other("AssociateRouteTable returned no association id")),
        // Either an SDK retry of this very association, or the subnet belongs to another table,
        // which xpart does not take from it silently. (A read, only on this rare path, patient:
        // the table may be seconds old.)
        Err(e) if e.code() == Some("Resource.AlreadyAssociated") => {
            let now = until_seen(cx, "the route table", || RouteTable::read(p, cx)).await?;
            let now = now.map(|l| associations(&l)).transpose()?;
            match now.and_then(|mut a| a.remove(subnet)) {
                Some(assoc) => Ok(assoc),
                None => Err(Error::other(format!(
                    "subnet {subnet} is associated with another route table; disassociate it there first ({e})"
                ))),
            }
        }
        Err(e) => Err(e),
    }
}

impl Resource for RouteTable {
    const READS_LAG: bool = super::READS_LAG;
    const NAME_PROPERTY: Option<&'static str> = None;
    type Handle = RouteTableHandle;

    fn desired(p: &Self, _cx: &Ctx) -> Result<Desired> {
        let routes = p.routes.iter().map(
            |Route {
                 destination,
                 gateway,
             }| (destination.clone(), gateway.clone()),
        );
        Ok(Desired::of::<Self>()
            .attr("name", p.name.as_str())
            .attr("vpc", p.vpc.as_str())
            .attr("routes", routes_json(routes))
            .attr("subnets", sorted(p.subnets.iter().cloned()))
            .attr("tags", want_tags(&p.tags))
            // A route table cannot move to another VPC.
            .forces_replacement(&["vpc"]))
    }

    async fn read(p: &Self, cx: &Ctx) -> Result<Option<Live>> {
        read_by_tags(p, cx).await
    }

    async fn create(p: &Self, cx: &Ctx) -> Result<Live> {
        let ec2 = &cx.clients().ec2;
        // One token for every attempt of this create (see `Creation::tokened`).
        let token = super::client_token()?;
        let create = || ec2.create_route_table().vpc_id(&p.vpc).client_token(&token);
        let send = || super::send_once!(cx, p, ResourceType::RouteTable, create());
        let made = |o: &CreateRouteTableOutput| {
            let t = o.route_table()?;
            id_owner(t.route_table_id(), t.owner_id())
        };
        // A new table has only its local route and no subnets.
        let start = |l: &mut Live| {
            l.attrs.insert("routes".into(), json!([]));
            l.attrs.insert("subnets".into(), json!([]));
            l.set_handle(&RouteTableHandle::default());
        };
        create_tagged(p, cx, &CREATE, send, made, start).await
    }

    async fn update(p: &Self, live: &Live, changed: &BTreeSet<String>, cx: &Ctx) -> Result<Live> {
        let id = live.output("id")?;
        let have_routes = route_pairs(live.attrs.get("routes"));
        let want_routes: BTreeMap<&str, &str> = p
            .routes
            .iter()
            .map(|r| (r.destination.as_str(), r.gateway.as_str()))
            .collect();
        let have = associations(live)?;
        let want: BTreeSet<&str> = p.subnets.iter().map(String::as_str).collect();
        // The association ids the calls make, for the handle.
        let made: Mutex<BTreeMap<String, String>> = Mutex::default();
        // Every route, every association and the tags are independent of each other: one call
        // each, all at once.
        let mut calls: Vec<Call<'_>> = vec![];
        if changed.contains("routes") {
            for (&dest, &target) in &want_routes {
                match have_routes.get(dest) {
                    Some(t) if t == target => {}
                    other => calls.push(Box::pin(put_route(cx, id, dest, target, other.is_some()))),
                }
            }
            for dest in have_routes
                .keys()
                .filter(|d| !want_routes.contains_key(d.as_str()))
            {
                calls.push(Box::pin(delete_route(cx, id, dest)));
            }
        }
        let mut keep = have.clone();
        if changed.contains("subnets") {
            for &subnet in want.iter().filter(|s| !have.contains_key(**s)) {
                let made = &made;
                calls.push(Box::pin(async move {
                    let assoc = associate(p, cx, id, subnet).await?;
                    made.lock().unwrap().insert(subnet.to_string(), assoc);
                    Ok(())
                }));
            }
            for (subnet, assoc) in &have {
                if !want.contains(subnet.as_str()) {
                    keep.remove(subnet);
                    calls.push(Box::pin(disassociate(cx, assoc)));
                }
            }
        }
        let mut out = finish(cx, p, live, changed, calls).await?;
        keep.extend(made.into_inner().unwrap_or_else(|e| e.into_inner()));
        out.set_handle(&RouteTableHandle { associations: keep });
        Ok(out)
    }

    async fn delete(live: &Live, cx: &Ctx) -> Result<()> {
        let id = live.output("id")?.to_string();
        for assoc in associations(live)?.values() {
            disassociate(cx, assoc).await?;
        }
        super::end_by_id!(cx, &DELETE, delete_route_table, route_table_id, &id)
    }

    async fn find_owned(cx: &Ctx) -> Result<Vec<(String, Live)>> {
        owned_by_tags::<Self>(cx).await
    }
}

impl Rules for RouteTable {
    fn check(&self, cx: &mut Checker, at: &PropPath, _env: &Env) {
        kinds::route_rules(cx, at, self);
        limits::ec2_limits(cx, at, &self.name, &self.tags);
    }
}
