//! The `ec2.*` types against the test-bed: the chain vpc → subnet → internet gateway → route
//! table → security group → instance (create, no diff, update, delete, delete again), and no
//! duplicate after a lost CreateVpc or RunInstances answer.

use crate::harness::sent;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use xpart::engine::resource::{Ctx, Live, Options, Resource, TAG_ID, TAG_PLAN};
use xpart::plan::types::{Instance, InternetGateway, RouteTable, SecurityGroup, Subnet, Vpc};

use crate::harness::{self, diff, set, without_account, Side, Testbed};

/// A context with short waits, so a wrong retry shows as a failure, not a hang.
async fn ctx(tb: &Testbed, plan: &str, id: &str) -> Ctx {
    let mut cx = tb.ctx(Side::China, plan, id).await;
    cx.opts = Arc::new(Options {
        iam_propagation: Some(Duration::from_secs(20)),
        ec2_wait: Some(Duration::from_secs(60)),
        ..Options::default()
    });
    cx
}

fn props<T: serde::de::DeserializeOwned>(yaml: &str) -> T {
    serde_yaml::from_str(yaml).unwrap()
}

fn ec2(conf: &aws_config::SdkConfig) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(conf)
}

fn owner_filters(plan: &str, id: &str) -> Vec<aws_sdk_ec2::types::Filter> {
    use aws_sdk_ec2::types::Filter;
    vec![
        Filter::builder()
            .name(format!("tag:{TAG_PLAN}"))
            .values(plan)
            .build(),
        Filter::builder()
            .name(format!("tag:{TAG_ID}"))
            .values(id)
            .build(),
    ]
}

/// The ARN prefix every China EC2 output must have.
fn arn_prefix(tb: &Testbed, kind: &str) -> String {
    format!(
        "arn:aws-cn:ec2:cn-north-1:{}:{kind}/",
        tb.account(Side::China)
    )
}

/// What create or update returned is what a read right after describes: outputs, attributes,
/// ownership and (where delete and update use it) the handle. An instance's handle only notes
/// its state, which EC2 moves on by itself.
fn assert_as_read(kind: &str, returned: &Live, read: &Live) {
    assert_eq!(
        returned.outputs, read.outputs,
        "{kind}: outputs as returned vs as read"
    );
    assert_eq!(
        returned.attrs, read.attrs,
        "{kind}: attributes as returned vs as read"
    );
    assert_eq!(
        returned.owned, read.owned,
        "{kind}: ownership as returned vs as read"
    );
    if kind != "instance" {
        assert_eq!(
            returned.handle_json(),
            read.handle_json(),
            "{kind}: handle as returned vs as read"
        );
    }
}

/// Create, then check what read finds: the same resource, its outputs, and no difference.
async fn create_and_check<T: Resource>(
    tb: &Testbed,
    p: &T,
    cx: &Ctx,
    kind: &str,
    prefix: &str,
) -> Live {
    assert!(
        T::read(p, cx).await.unwrap().is_none(),
        "{kind} exists before create"
    );
    let created = T::create(p, cx).await.unwrap();
    // Read without the caller's account: ARNs come from what EC2 answers.
    let live = T::read(p, &without_account(cx))
        .await
        .unwrap()
        .expect("read finds what create made");
    assert_as_read(kind, &created, &live);
    assert!(live.owned);
    let id = &live.outputs["id"];
    assert_eq!(&created.outputs["id"], id);
    assert!(id.starts_with(prefix), "{kind} id {id}");
    assert_eq!(live.outputs["arn"], format!("{}{id}", arn_prefix(tb, kind)));
    let want = T::desired(p, cx).unwrap();
    assert_eq!(
        diff(&want, &live),
        set(&[]),
        "{kind}: {:#?} vs {:#?}",
        want.attrs,
        live.attrs
    );
    assert_eq!(
        diff(&want, &created),
        set(&[]),
        "{kind} as create returned it"
    );
    harness::assert_found_as_read::<T>(&without_account(cx), &live, &[]).await;
    live
}

/// Update `changed`, then check read shows no difference left.
async fn update_and_check<T: Resource>(p: &T, cx: &Ctx, changed: &[&str]) -> Live {
    let live = T::read(p, cx).await.unwrap().unwrap();
    let want = T::desired(p, cx).unwrap();
    assert_eq!(diff(&want, &live), set(changed));
    let updated = T::update(p, &live, &set(changed), cx).await.unwrap();
    let again = T::read(p, cx).await.unwrap().unwrap();
    assert_as_read("updated", &updated, &again);
    assert_eq!(updated, again);
    assert_eq!(
        diff(&want, &again),
        set(&[]),
        "{:#?} vs {:#?}",
        want.attrs,
        again.attrs
    );
    again
}

/// Delete, check read finds nothing, and that deleting again is fine.
async fn delete_and_check<T: Resource>(p: &T, cx: &Ctx) {
    let live = T::read(p, cx).await.unwrap().unwrap();
    harness::deleted(p, &live, cx).await;
}

/// A complete `bootstrap` mapping (YAML, indented for a nested block) for user `run_as`.
fn bootstrap_settings(run_as: &str) -> String {
    format!(
        "  run_as: {run_as}\n\
         \x20 key_secret: arn:aws-cn:secretsmanager:cn-north-1:444455556666:secret:xpart/workload-key-AbCdEf\n\
         \x20 certificate: \"-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n\"\n\
         \x20 trust_anchor_arn: arn:aws:rolesanywhere:us-west-2:111122223333:trust-anchor/ta\n\
         \x20 profile_arn: arn:aws:rolesanywhere:us-west-2:111122223333:profile/p\n\
         \x20 role_arn: arn:aws:iam::111122223333:role/reader\n\
         \x20 target_region: us-west-2\n\
         \x20 aws_profile: commercial\n"
    )
}

/// A role and an instance profile for it, made directly (the IAM types have their own tests).
async fn instance_profile(tb: &Testbed) -> String {
    let iam = aws_sdk_iam::Client::new(&tb.sdk(Side::China).await);
    let name = harness::china_role(tb, "ip").await;
    sent!(iam.create_instance_profile().instance_profile_name(&name));
    sent!(iam
        .add_role_to_instance_profile()
        .instance_profile_name(&name)
        .role_name(&name));
    name
}

#[test]
fn the_ec2_chain_lives_and_dies_in_china() {
    let tb = harness::testbed();
    harness::rt().block_on(async {
        let plan = harness::unique("p");
        let conf = tb.sdk(Side::China).await;

        // vpc
        let vcx = ctx(tb, &plan, "vpc").await;
        let mut vpc: Vpc = props("name: net\ncidr: 10.20.0.0/16\ntags: {team: a, Name: ignored}");
        let live = create_and_check::<Vpc>(tb, &vpc, &vcx, "vpc", "vpc-").await;
        let vpc_id = live.outputs["id"].clone();
        assert_eq!(live.outputs["name"], "net");
        assert_eq!(live.attrs["tags"], json!({"team": "a"}), "Name and ownership tags are not user tags");
        vpc.name = "net2".into();
        vpc.tags = [("team".to_string(), "b".to_string()), ("env".into(), "t".into())].into();
        let live = update_and_check::<Vpc>(&vpc, &vcx, &["name", "tags"]).await;
        assert_eq!(live.outputs["name"], "net2");
        vpc.tags.remove("env");
        update_and_check::<Vpc>(&vpc, &vcx, &["tags"]).await;
        vpc.cidr = "10.21.0.0/16".into();
        let want = Vpc::desired(&vpc, &vcx).unwrap();
        assert!(want.replace_on.contains("cidr"));
        vpc.cidr = "10.20.0.0/16".into();

        // subnet
        let scx = ctx(tb, &plan, "subnet").await;
        let mut subnet: Subnet = props(&format!("name: sub\nvpc: {vpc_id}\ncidr: 10.20.1.0/24"));
        let live = create_and_check::<Subnet>(tb, &subnet, &scx, "subnet", "subnet-").await;
        let subnet_id = live.outputs["id"].clone();
        assert!(!live.attrs.contains_key("availability_zone"), "an unset zone is not compared");
        subnet.map_public_ip_on_launch = true;
        let live = update_and_check::<Subnet>(&subnet, &scx, &["map_public_ip_on_launch"]).await;
        assert_eq!(live.attrs["map_public_ip_on_launch"], json!(true));
        // A zone in the plan is compared (and the other zone than EC2 chose replaces it).
        subnet.availability_zone = Some("cn-north-1a".into());
        let live = Subnet::read(&subnet, &scx).await.unwrap().unwrap();
        let chosen = live.attrs["availability_zone"].as_str().unwrap().to_string();
        let other = if chosen == "cn-north-1a" { "cn-north-1b" } else { "cn-north-1a" };
        subnet.availability_zone = Some(other.into());
        let want = Subnet::desired(&subnet, &scx).unwrap();
        assert!(want.replace_on.contains("availability_zone"));
        assert_eq!(diff(&want, &live), set(&["availability_zone"]));
        subnet.availability_zone = None;

        // internet gateway
        let gcx = ctx(tb, &plan, "igw").await;
        let igw: InternetGateway = props(&format!("name: gw\nvpc: {vpc_id}"));
        let live = create_and_check::<InternetGateway>(tb, &igw, &gcx, "internet-gateway", "igw-").await;
        let igw_id = live.outputs["id"].clone();
        assert_eq!(live.attrs["vpc"], json!(vpc_id));

        // route table
        let rcx = ctx(tb, &plan, "rt").await;
        let mut rt: RouteTable = props(&format!(
            "name: public\nvpc: {vpc_id}\nroutes: [{{destination: 0.0.0.0/0, gateway: {igw_id}}}]\nsubnets: [{subnet_id}]"
        ));
        let live = create_and_check::<RouteTable>(tb, &rt, &rcx, "route-table", "rtb-").await;
        assert_eq!(live.attrs["routes"], json!([{"destination": "0.0.0.0/0", "gateway": igw_id}]), "no local route");
        assert_eq!(live.attrs["subnets"], json!([subnet_id]));
        assert!(live.handle_json()["associations"][&subnet_id].as_str().unwrap().starts_with("rtbassoc-"));
        rt.routes = props(&format!(
            "[{{destination: 192.168.0.0/16, gateway: {igw_id}}}, {{destination: 172.16.0.0/12, gateway: {igw_id}}}]"
        ));
        rt.subnets.clear();
        let live = update_and_check::<RouteTable>(&rt, &rcx, &["routes", "subnets"]).await;
        assert_eq!(
            live.attrs["routes"],
            json!([{"destination": "172.16.0.0/12", "gateway": igw_id}, {"destination": "192.168.0.0/16", "gateway": igw_id}])
        );
        assert_eq!(live.attrs["subnets"], json!([]));
        rt.subnets = vec![subnet_id.clone()];
        update_and_check::<RouteTable>(&rt, &rcx, &["subnets"]).await;

        // security groups
        let gname = harness::unique("ssh");
        let sgcx = ctx(tb, &plan, "sg").await;
        let mut sg: SecurityGroup = props(&format!(
            "name: {gname}\nvpc: {vpc_id}\ndescription: SSH in\ningress:\n  - {{protocol: tcp, port: 22, cidr: 10.0.0.0/8, description: admins}}\n  - {{protocol: '-1', cidr: 10.20.0.0/16}}"
        ));
        let live = create_and_check::<SecurityGroup>(tb, &sg, &sgcx, "security-group", "sg-").await;
        let sg_id = live.outputs["id"].clone();
        assert_eq!(live.outputs["name"], gname);
        assert_eq!(
            live.attrs["ingress"],
            json!([
                {"protocol": "-1", "from_port": null, "to_port": null, "cidr": "10.20.0.0/16"},
                {"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "10.0.0.0/8"},
            ])
        );
        sg.ingress = props("[{protocol: tcp, port: 443, cidr: 10.0.0.0/8}, {protocol: udp, from_port: 1000, to_port: 2000, cidr: 10.1.0.0/16}]");
        let live = update_and_check::<SecurityGroup>(&sg, &sgcx, &["ingress"]).await;
        assert_eq!(
            live.attrs["ingress"],
            json!([
                {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr": "10.0.0.0/8"},
                {"protocol": "udp", "from_port": 1000, "to_port": 2000, "cidr": "10.1.0.0/16"},
            ])
        );
        let mut renamed = sg.clone();
        renamed.description = Some("other".into());
        let want = SecurityGroup::desired(&renamed, &sgcx).unwrap();
        assert_eq!(diff(&want, &live), set(&["description"]));
        assert!(want.replace_on.contains("description"));
        let sg2cx = ctx(tb, &plan, "sg2").await;
        let sg2: SecurityGroup = props(&format!("name: {gname}-2\nvpc: {vpc_id}"));
        let live2 = create_and_check::<SecurityGroup>(tb, &sg2, &sg2cx, "security-group", "sg-").await;
        assert_eq!(live2.attrs["description"], json!("Managed by xpart"));
        let sg2_id = live2.outputs["id"].clone();

        // instance
        let profile1 = instance_profile(tb).await;
        let profile2 = instance_profile(tb).await;
        let icx = ctx(tb, &plan, "workload").await;
        let mut inst: Instance = props(&format!(
            "name: workload\nami: ami-12345678\ninstance_type: t3.micro\nsubnet: {subnet_id}\nsecurity_groups: [{sg_id}]\n\
             instance_profile: {profile1}\nassociate_public_ip: true\ntags: {{role: app}}\n\
             bootstrap:\n{}",
            bootstrap_settings("ubuntu")
        ));
        let live = create_and_check::<Instance>(tb, &inst, &icx, "instance", "i-").await;
        let first = live.outputs["id"].clone();
        assert_eq!(live.outputs["name"], "workload");
        assert!(!live.outputs["private_ip"].is_empty(), "{:?}", live.outputs);
        assert!(!live.outputs["public_ip"].is_empty(), "{:?}", live.outputs);
        assert_eq!(live.attrs["instance_profile"], json!(profile1));
        assert_eq!(live.attrs["tags"], json!({"role": "app"}), "the user-data hash is not a user tag");
        // The user data is the bootstrap script, and the tag holds its SHA-256.
        let attr = sent!(ec2(&conf)
            .describe_instance_attribute()
            .instance_id(&first)
            .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData));
        use base64::Engine;
        let script = base64::engine::general_purpose::STANDARD
            .decode(attr.user_data().unwrap().value().unwrap())
            .unwrap();
        let script = String::from_utf8(script).unwrap();
        assert!(script.starts_with("#!/bin/bash") && script.contains("credential_process"), "{script}");
        assert!(script.contains("\n  input RUN_AS 'ubuntu'\n"), "{script}");
        let sha: String = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, script.as_bytes())
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(live.attrs["user_data"], json!(sha));

        // Groups and the profile change in place; user data and the AMI replace. (The profile
        // goes away and another comes: the test-bed's ReplaceIamInstanceProfileAssociation does
        // not show on the instance, as EC2's does.)
        inst.security_groups = vec![sg2_id.clone(), sg_id.clone()];
        inst.instance_profile = None;
        let live = update_and_check::<Instance>(&inst, &icx, &["instance_profile", "security_groups"]).await;
        assert_eq!(live.outputs["id"], first);
        let mut sgs = vec![sg_id.clone(), sg2_id.clone()];
        sgs.sort();
        assert_eq!(live.attrs["security_groups"], json!(sgs));
        assert_eq!(live.attrs["instance_profile"], json!(""));
        inst.instance_profile = Some(profile2.clone());
        let live = update_and_check::<Instance>(&inst, &icx, &["instance_profile"]).await;
        assert_eq!(live.outputs["id"], first);
        assert_eq!(live.attrs["instance_profile"], json!(profile2));
        let mut changed = inst.clone();
        changed.bootstrap = Some(serde_yaml::from_str(&bootstrap_settings("ec2-user")).unwrap());
        changed.ami = "ami-87654321".into();
        let want = Instance::desired(&changed, &icx).unwrap();
        assert_eq!(diff(&want, &live), set(&["ami", "user_data"]));
        assert!(want.replace_on.contains("ami") && want.replace_on.contains("user_data"));

        // Terminated and made again: a new instance (the attributes changed since the first
        // launch, so its ClientToken is another).
        delete_and_check::<Instance>(&inst, &icx).await;
        let again = Instance::create(&inst, &icx).await.unwrap();
        assert_ne!(again.outputs["id"], first, "a re-create after terminate is a new instance");
        let read = Instance::read(&inst, &icx).await.unwrap().unwrap();
        assert_as_read("instance", &again, &read);
        let alive = || async {
            let found = sent!(ec2(&conf)
                .describe_instances()
                .set_filters(Some(owner_filters(&plan, "workload"))));
            found
                .reservations()
                .iter()
                .flat_map(|r| r.instances())
                .filter(|i| {
                    i.state().and_then(|s| s.name()) != Some(&aws_sdk_ec2::types::InstanceStateName::Terminated)
                })
                .filter_map(|i| i.instance_id().map(String::from))
                .collect::<Vec<_>>()
        };
        assert_eq!(alive().await, vec![again.outputs["id"].clone()], "exactly one instance");
        // Terminated and made again asking for exactly the same: a new instance, not the
        // terminated one back (each launch has its own ClientToken).
        delete_and_check::<Instance>(&inst, &icx).await;
        let third = Instance::create(&inst, &icx).await.unwrap();
        assert!(third.outputs["id"] != first && third.outputs["id"] != again.outputs["id"], "{third:?}");
        assert_eq!(alive().await, vec![third.outputs["id"].clone()], "exactly one instance");
        let read = Instance::read(&inst, &icx).await.unwrap().unwrap();
        assert_as_read("instance", &third, &read);
        delete_and_check::<Instance>(&inst, &icx).await;

        // Everything goes, in reverse order; a second delete of each is fine.
        delete_and_check::<SecurityGroup>(&sg2, &sg2cx).await;
        delete_and_check::<SecurityGroup>(&sg, &sgcx).await;
        delete_and_check::<RouteTable>(&rt, &rcx).await;
        delete_and_check::<InternetGateway>(&igw, &gcx).await;
        delete_and_check::<Subnet>(&subnet, &scx).await;
        delete_and_check::<Vpc>(&vpc, &vcx).await;
        let left = ec2(&conf).describe_vpcs().vpc_ids(&vpc_id).send().await;
        assert!(left.is_err() || left.unwrap().vpcs().is_empty(), "the VPC is gone");
    });
}

#[test]
fn references_not_yet_known_plan_without_failing() {
    let tb = harness::testbed();
    harness::rt().block_on(async {
        let plan = harness::unique("p");
        let cx = ctx(tb, &plan, "x").await;
        let u = xpart::unknown::Unknown::TEXT;
        let subnet: Subnet = props(&format!("name: s\nvpc: '{u}'\ncidr: 10.0.0.0/24"));
        let want = Subnet::desired(&subnet, &cx).unwrap();
        assert_eq!(want.attrs["vpc"], json!(u));
        let inst: Instance = props(&format!(
            "name: i\nami: ami-1\ninstance_type: t3.micro\nsubnet: '{u}'\nsecurity_groups: ['{u}']\n\
             bootstrap: {{role_arn: '{u}', run_as: ubuntu}}"
        ));
        let want = Instance::desired(&inst, &cx).unwrap();
        assert_eq!(want.attrs["subnet"], json!(u));
        assert_eq!(want.attrs["user_data"], json!(u), "the script cannot be made before the ARN is known");
        // Nothing exists for this plan yet.
        assert!(Instance::read(&inst, &cx).await.unwrap().is_none());
        // A private key in the bootstrap settings is refused, not shipped in user data.
        // The PEM armour is built at run time, so no key-shaped block sits in the source.
        let armour = |edge: &str| format!("-----{edge} {}-----", ["PRIVATE", "KEY"].join(" "));
        let bad: Instance = props(&format!(
            "name: i\nami: ami-1\ninstance_type: t3.micro\nsubnet: subnet-1\n\
             bootstrap: {{key: \"{}\\nx\\n{}\\n\"}}",
            armour("BEGIN"),
            armour("END")
        ));
        let err = Instance::desired(&bad, &cx).unwrap_err().to_string();
        assert!(err.contains("private key"), "{err}");
    });
}

/// Calls of an operation the fault layer saw.
fn calls(tb: &Testbed, op: &str) -> u64 {
    tb.calls(Side::China, op)
}

#[test]
fn lost_create_answers_never_make_a_second_resource() {
    let tb = Testbed::private();
    harness::rt().block_on(async {
        let plan = harness::unique("p");
        let conf = tb.sdk(Side::China).await;

        // CreateVpc runs once, its answer is lost; the tag lookup finds the VPC it made.
        tb.set_faults(Side::China, "seed=1 lost_response=1.0 match=CreateVpc max_faults=1");
        let vcx = ctx(&tb, &plan, "vpc").await;
        let vpc: Vpc = props("name: net\ncidr: 10.40.0.0/16");
        let live = Vpc::create(&vpc, &vcx).await.unwrap();
        assert_eq!(tb.stats(Side::China)["injected"]["lost_response"], json!(1), "the fault happened");
        let found = sent!(ec2(&conf).describe_vpcs().set_filters(Some(owner_filters(&plan, "vpc"))));
        assert_eq!(found.vpcs().len(), 1, "exactly one VPC with the tags");
        assert_eq!(found.vpcs()[0].vpc_id(), Some(live.outputs["id"].as_str()));
        assert_eq!(calls(&tb, "CreateVpc"), 1, "no second CreateVpc");

        // The same for a security group: its lost answer, then the tag lookup.
        tb.set_faults(Side::China, "seed=1 lost_response=1.0 match=CreateSecurityGroup max_faults=1");
        let sgcx = ctx(&tb, &plan, "sg").await;
        let sg: SecurityGroup = props(&format!(
            "name: g\nvpc: {}\ningress: [{{protocol: tcp, port: 22, cidr: 10.0.0.0/8}}]",
            live.outputs["id"]
        ));
        let g = SecurityGroup::create(&sg, &sgcx).await.unwrap();
        assert_eq!(tb.stats(Side::China)["injected"]["lost_response"], json!(1));
        assert_eq!(calls(&tb, "CreateSecurityGroup"), 1, "no second CreateSecurityGroup");
        let found =
            sent!(ec2(&conf).describe_security_groups().set_filters(Some(owner_filters(&plan, "sg"))));
        assert_eq!(found.security_groups().len(), 1);
        assert_eq!(diff(&SecurityGroup::desired(&sg, &sgcx).unwrap(), &g), set(&[]));
        let read = SecurityGroup::read(&sg, &sgcx).await.unwrap().unwrap();
        assert_as_read("security-group", &g, &read);

        // RunInstances keeps the SDK's retries: the retry carries the same ClientToken and gets
        // the same instance back.
        tb.set_faults(Side::China, "off");
        let scx = ctx(&tb, &plan, "subnet").await;
        let subnet: Subnet = props(&format!("name: s\nvpc: {}\ncidr: 10.40.1.0/24", live.outputs["id"]));
        let s = Subnet::create(&subnet, &scx).await.unwrap();
        tb.set_faults(Side::China, "seed=1 lost_response=1.0 match=RunInstances max_faults=1");
        let icx = ctx(&tb, &plan, "workload").await;
        let inst: Instance = props(&format!(
            "name: w\nami: ami-12345678\ninstance_type: t3.micro\nsubnet: {}\nsecurity_groups: [{}]",
            s.outputs["id"], g.outputs["id"]
        ));
        let before = calls(&tb, "RunInstances");
        let i = Instance::create(&inst, &icx).await.unwrap();
        assert_eq!(calls(&tb, "RunInstances") - before, 2, "one lost answer, one retry");
        let found =
            sent!(ec2(&conf).describe_instances().set_filters(Some(owner_filters(&plan, "workload"))));
        let ids: Vec<&str> =
            found.reservations().iter().flat_map(|r| r.instances()).filter_map(|i| i.instance_id()).collect();
        assert_eq!(ids, vec![i.outputs["id"].as_str()], "exactly one instance");
        tb.set_faults(Side::China, "off");
    });
}

#[test]
fn a_name_taken_by_another_group_is_not_adopted() {
    let tb = harness::testbed();
    harness::rt().block_on(async {
        let plan = harness::unique("p");
        let conf = tb.sdk(Side::China).await;
        let vcx = ctx(tb, &plan, "vpc").await;
        let vpc: Vpc = props("name: net\ncidr: 10.50.0.0/16");
        let v = Vpc::create(&vpc, &vcx).await.unwrap();
        let vpc_id = v.outputs["id"].clone();
        let name = harness::unique("taken");
        let other = sent!(ec2(&conf)
            .create_security_group()
            .group_name(&name)
            .description("not ours")
            .vpc_id(&vpc_id));
        let sgcx = ctx(tb, &plan, "sg").await;
        let sg: SecurityGroup = props(&format!("name: {name}\nvpc: {vpc_id}"));
        assert!(
            SecurityGroup::read(&sg, &sgcx).await.unwrap().is_none(),
            "untagged is not ours"
        );
        let err = SecurityGroup::create(&sg, &sgcx)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("not owned by this plan"), "{err}");
        sent!(ec2(&conf)
            .delete_security_group()
            .group_id(other.group_id().unwrap()));
        Vpc::delete(&v, &vcx).await.unwrap();
    });
}

#[test]
fn a_vpc_delete_waits_for_its_subnet_to_go() {
    let tb = harness::testbed();
    harness::rt().block_on(async {
        let plan = harness::unique("p");
        let vcx = ctx(tb, &plan, "vpc").await;
        let scx = ctx(tb, &plan, "subnet").await;
        let vpc: Vpc = props("name: net\ncidr: 10.60.0.0/16");
        let v = Vpc::create(&vpc, &vcx).await.unwrap();
        let subnet: Subnet = props(&format!(
            "name: s\nvpc: {}\ncidr: 10.60.1.0/24",
            v.outputs["id"]
        ));
        let s = Subnet::create(&subnet, &scx).await.unwrap();
        // The VPC delete meets DependencyViolation until the subnet is gone, and then succeeds.
        let tried = tb.calls(Side::China, "DeleteVpc");
        let deleting = tokio::spawn({
            let (v, vcx) = (v.clone(), vcx.clone());
            async move { Vpc::delete(&v, &vcx).await }
        });
        // Refused twice: it has met the subnet and is waiting, not merely slow to start.
        tokio::task::block_in_place(|| tb.await_calls(Side::China, "DeleteVpc", tried, 2));
        assert!(
            !deleting.is_finished(),
            "the VPC cannot go before its subnet"
        );
        Subnet::delete(&s, &scx).await.unwrap();
        tokio::time::timeout(Duration::from_secs(30), deleting)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(Vpc::read(&vpc, &vcx).await.unwrap().is_none());
    });
}

/// Calls of every Describe* operation the fault layer saw.
fn describes(tb: &Testbed) -> u64 {
    let stats = tb.stats(Side::China);
    stats["calls"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(op, _)| op.contains("Describe"))
                .filter_map(|(_, n)| n.as_u64())
                .sum()
        })
        .unwrap_or(0)
}

/// Each create and update takes the round trips the API needs and no more (what the benchmark's
/// critical-path bound counts: calls that can go together count once), and reads nothing
/// back. With 600 ms per request (China's), one more round trip than the bound shows as a failure.
#[test]
fn creates_and_updates_take_the_fewest_round_trips() {
    const LATENCY_MS: u64 = 600;
    let tb = Testbed::private();
    harness::rt().block_on(async {
        let plan = harness::unique("p");
        tb.set_faults(Side::China, &format!("seed=1 latency_ms={LATENCY_MS}"));
        // Round trips `f` took, by the clock, and the Describe* calls it made.
        async fn timed<F: std::future::Future<Output = Live>>(tb: &Testbed, what: &str, bound: u64, f: F) -> Live {
            let reads = describes(tb);
            let start = std::time::Instant::now();
            let live = f.await;
            let ms = start.elapsed().as_millis() as u64;
            assert_eq!(describes(tb) - reads, 0, "{what} read something back");
            assert!(ms < (bound + 1) * LATENCY_MS, "{what}: {ms} ms is more than {bound} round trip(s)");
            live
        }

        let vcx = ctx(&tb, &plan, "vpc").await;
        let vpc: Vpc = props("name: net\ncidr: 10.70.0.0/16");
        // The first call of a client also connects: not a round trip of the create's.
        assert!(Vpc::read(&vpc, &vcx).await.unwrap().is_none());
        let v = timed(&tb, "vpc", 1, async { Vpc::create(&vpc, &vcx).await.unwrap() }).await;
        let vpc_id = v.outputs["id"].clone();

        let scx = ctx(&tb, &plan, "subnet").await;
        let subnet: Subnet =
            props(&format!("name: s\nvpc: {vpc_id}\ncidr: 10.70.1.0/24\nmap_public_ip_on_launch: true"));
        let s = timed(&tb, "subnet", 2, async { Subnet::create(&subnet, &scx).await.unwrap() }).await;
        let subnet_id = s.outputs["id"].clone();
        let s2cx = ctx(&tb, &plan, "subnet2").await;
        let subnet2: Subnet = props(&format!("name: s2\nvpc: {vpc_id}\ncidr: 10.70.2.0/24"));
        let s2 = timed(&tb, "subnet2", 1, async { Subnet::create(&subnet2, &s2cx).await.unwrap() }).await;
        let subnet2_id = s2.outputs["id"].clone();

        let gcx = ctx(&tb, &plan, "igw").await;
        let igw: InternetGateway = props(&format!("name: gw\nvpc: {vpc_id}"));
        let g = timed(&tb, "igw", 2, async { InternetGateway::create(&igw, &gcx).await.unwrap() }).await;
        let igw_id = g.outputs["id"].clone();

        // Two routes and two associations: all four at once.
        let rcx = ctx(&tb, &plan, "rt").await;
        let mut rt: RouteTable = props(&format!(
            "name: r\nvpc: {vpc_id}\nsubnets: [{subnet_id}, {subnet2_id}]\nroutes: [{{destination: 0.0.0.0/0, \
             gateway: {igw_id}}}, {{destination: 172.16.0.0/12, gateway: {igw_id}}}]"
        ));
        let r =
            timed(&tb, "route table", 2, async { RouteTable::create(&rt, &rcx).await.unwrap() }).await;
        // A route replaced, one removed, one association dropped and the tags: all at once.
        rt.routes = props(&format!(
            "[{{destination: 0.0.0.0/0, gateway: {igw_id}}}, {{destination: 192.168.0.0/16, gateway: {igw_id}}}]"
        ));
        rt.subnets = vec![subnet_id.clone()];
        rt.tags = [("team".to_string(), "a".to_string())].into();
        let changed = set(&["routes", "subnets", "tags"]);
        let r = timed(&tb, "route table update", 1, async {
            RouteTable::update(&rt, &r, &changed, &rcx).await.unwrap()
        })
        .await;
        assert_as_read("route-table", &r, &RouteTable::read(&rt, &rcx).await.unwrap().unwrap());

        let sgcx = ctx(&tb, &plan, "sg").await;
        let sg: SecurityGroup = props(&format!(
            "name: {}\nvpc: {vpc_id}\ningress: [{{protocol: tcp, port: 22, cidr: 10.0.0.0/8}}, \
             {{protocol: tcp, port: 443, cidr: 10.0.0.0/8}}]",
            harness::unique("g")
        ));
        let create = async { SecurityGroup::create(&sg, &sgcx).await.unwrap() };
        let g = timed(&tb, "security group", 2, create).await;
        assert_as_read("security-group", &g, &SecurityGroup::read(&sg, &sgcx).await.unwrap().unwrap());

        let icx = ctx(&tb, &plan, "workload").await;
        let mut inst: Instance = props(&format!(
            "name: w\nami: ami-12345678\ninstance_type: t3.micro\nsubnet: {subnet_id}\nsecurity_groups: [{}]",
            g.outputs["id"]
        ));
        let i = timed(&tb, "instance", 1, async { Instance::create(&inst, &icx).await.unwrap() }).await;
        assert_as_read("instance", &i, &Instance::read(&inst, &icx).await.unwrap().unwrap());
        // A first instance profile and tags: both at once.
        let profile = instance_profile(&tb).await;
        inst.instance_profile = Some(profile);
        inst.tags = [("team".to_string(), "a".to_string())].into();
        let changed = set(&["instance_profile", "tags"]);
        let i = timed(&tb, "instance update", 1, async {
            Instance::update(&inst, &i, &changed, &icx).await.unwrap()
        })
        .await;
        let read = Instance::read(&inst, &icx).await.unwrap().unwrap();
        assert_as_read("instance", &i, &read);
        tb.set_faults(Side::China, "off");
    });
}
