//! `ec2.*`: the network and the instance of a workload.

use std::collections::BTreeMap;

use super::Found;

super::family! {
    module: ec2, variant: Ec2, kinds: Ec2Kind, props: ec2_props, types: ec2_type;
    Vpc => name "ec2.vpc", attrs ["id", "arn", "name"], found ec2("vpc"), delete_rank 5, references [], sensitive [];
    Subnet => name "ec2.subnet", attrs ["id", "arn", "name"], found ec2("subnet"), delete_rank 4, references [("vpc", "ec2.vpc")], sensitive [];
    InternetGateway => name "ec2.internet_gateway", attrs ["id", "arn", "name"], found ec2("internet-gateway"), delete_rank 3, references [("vpc", "ec2.vpc")], sensitive [];
    RouteTable => name "ec2.route_table", attrs ["id", "arn", "name"], found ec2("route-table"), delete_rank 1, references [("vpc", "ec2.vpc"), ("routes[].gateway", "ec2.internet_gateway"), ("subnets", "ec2.subnet")], sensitive [];
    SecurityGroup => name "ec2.security_group", attrs ["id", "arn", "name"], found ec2("security-group"), delete_rank 2, references [("vpc", "ec2.vpc")], sensitive [];
    Instance => name "ec2.instance", attrs ["id", "arn", "name", "private_ip", "public_ip"], found ec2("instance"), delete_rank 0, references [("subnet", "ec2.subnet"), ("security_groups", "ec2.security_group"), ("instance_profile", "iam.instance_profile")], sensitive [];
}

super::plan_data! {
    /// `ec2.vpc`
    tagged pub struct Vpc {
        pub name: String,
        pub cidr: String,
    }

    /// `ec2.subnet`
    tagged pub struct Subnet {
        pub name: String,
        /// `${<vpc>.id}`
        pub vpc: String,
        pub cidr: String,
        pub availability_zone: Option<String>,
        #[serde(default)]
        pub map_public_ip_on_launch: bool,
    }

    /// `ec2.internet_gateway`
    tagged pub struct InternetGateway {
        pub name: String,
        pub vpc: String,
    }

    pub struct Route {
        pub destination: String,
        /// `${<igw>.id}`
        pub gateway: String,
    }

    /// `ec2.route_table`
    tagged pub struct RouteTable {
        pub name: String,
        pub vpc: String,
        #[serde(default)]
        pub routes: Vec<Route>,
        /// `${<subnet>.id}` of subnets to associate.
        #[serde(default)]
        pub subnets: Vec<String>,
    }

    pub struct Ingress {
        /// tcp, udp, icmp or -1 (all).
        pub protocol: String,
        pub port: Option<u16>,
        pub from_port: Option<u16>,
        pub to_port: Option<u16>,
        pub cidr: String,
        pub description: Option<String>,
    }

    /// `ec2.security_group`
    tagged pub struct SecurityGroup {
        pub name: String,
        pub vpc: String,
        pub description: Option<String>,
        #[serde(default)]
        pub ingress: Vec<Ingress>,
    }

    /// `ec2.instance`
    tagged pub struct Instance {
        pub name: String,
        pub ami: String,
        pub instance_type: String,
        pub subnet: String,
        #[serde(default)]
        pub security_groups: Vec<String>,
        /// `${<profile>.name}` of an `iam.instance_profile`.
        pub instance_profile: Option<String>,
        #[serde(default)]
        pub associate_public_ip: bool,
        pub key_name: Option<String>,
        /// Workload bootstrap settings (certificate, key, credential helper, AWS config).
        #[schemars(with = "Option<BTreeMap<String, serde_json::Value>>")]
        pub bootstrap: Option<serde_yaml::Value>,
    }
}

/// Where the tagging index finds an EC2 type: `arn:…:ec2:<region>:<account>:<resource>/<id>`.
const fn ec2(resource: &'static str) -> Found {
    Found::Tagged {
        service: "ec2",
        resource,
    }
}
