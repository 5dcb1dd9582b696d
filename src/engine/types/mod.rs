//! One module per plan resource type, each implementing `engine::resource::Resource`, and the
//! dispatch from a plan type to its module.

pub mod ec2_instance;
pub mod ec2_internet_gateway;
pub mod ec2_route_table;
pub mod ec2_security_group;
pub mod ec2_subnet;
pub mod ec2_vpc;
pub mod iam_instance_profile;
pub mod iam_role;
pub mod kms_key;
pub mod pki_ca;
pub mod pki_cert;
pub mod ra_profile;
pub mod ra_trust_anchor;
pub mod secret;

/// Evaluate `$body` with `$T` the `Resource` of the plan type named `$name` (a string).
/// `$fallback` is evaluated for an unknown type name.
macro_rules! with_type {
    ($name:expr, $T:ident => $body:expr, _ => $fallback:expr) => {{
        use $crate::engine::types as t;
        match $name {
            "pki.ca" => {
                type $T = t::pki_ca::Type;
                $body
            }
            "pki.cert" => {
                type $T = t::pki_cert::Type;
                $body
            }
            "secretsmanager.secret" => {
                type $T = t::secret::Type;
                $body
            }
            "kms.key" => {
                type $T = t::kms_key::Type;
                $body
            }
            "iam.role" => {
                type $T = t::iam_role::Type;
                $body
            }
            "iam.instance_profile" => {
                type $T = t::iam_instance_profile::Type;
                $body
            }
            "rolesanywhere.trust_anchor" => {
                type $T = t::ra_trust_anchor::Type;
                $body
            }
            "rolesanywhere.profile" => {
                type $T = t::ra_profile::Type;
                $body
            }
            "ec2.vpc" => {
                type $T = t::ec2_vpc::Type;
                $body
            }
            "ec2.subnet" => {
                type $T = t::ec2_subnet::Type;
                $body
            }
            "ec2.internet_gateway" => {
                type $T = t::ec2_internet_gateway::Type;
                $body
            }
            "ec2.route_table" => {
                type $T = t::ec2_route_table::Type;
                $body
            }
            "ec2.security_group" => {
                type $T = t::ec2_security_group::Type;
                $body
            }
            "ec2.instance" => {
                type $T = t::ec2_instance::Type;
                $body
            }
            _ => $fallback,
        }
    }};
}
pub(crate) use with_type;

/// Evaluate `$body` with `$p` bound to the typed properties in a `Kind` and `$T` its `Resource`.
macro_rules! with_kind {
    ($kind:expr, |$p:ident, $T:ident| $body:expr) => {{
        use $crate::engine::types as t;
        use $crate::spec::types::Kind;
        match $kind {
            Kind::PkiCa($p) => {
                type $T = t::pki_ca::Type;
                $body
            }
            Kind::PkiCert($p) => {
                type $T = t::pki_cert::Type;
                $body
            }
            Kind::Secret($p) => {
                type $T = t::secret::Type;
                $body
            }
            Kind::KmsKey($p) => {
                type $T = t::kms_key::Type;
                $body
            }
            Kind::Role($p) => {
                type $T = t::iam_role::Type;
                $body
            }
            Kind::InstanceProfile($p) => {
                type $T = t::iam_instance_profile::Type;
                $body
            }
            Kind::TrustAnchor($p) => {
                type $T = t::ra_trust_anchor::Type;
                $body
            }
            Kind::Profile($p) => {
                type $T = t::ra_profile::Type;
                $body
            }
            Kind::Vpc($p) => {
                type $T = t::ec2_vpc::Type;
                $body
            }
            Kind::Subnet($p) => {
                type $T = t::ec2_subnet::Type;
                $body
            }
            Kind::InternetGateway($p) => {
                type $T = t::ec2_internet_gateway::Type;
                $body
            }
            Kind::RouteTable($p) => {
                type $T = t::ec2_route_table::Type;
                $body
            }
            Kind::SecurityGroup($p) => {
                type $T = t::ec2_security_group::Type;
                $body
            }
            Kind::Instance($p) => {
                type $T = t::ec2_instance::Type;
                $body
            }
        }
    }};
}
pub(crate) use with_kind;
