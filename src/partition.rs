//! Partition facts in one table: region → partition, DNS suffix, ARN builder, service principals.
//!
//! Every other module asks this one; no other file spells `amazonaws.com.cn` or `arn:aws-cn:`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An AWS partition xpart works in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Partition {
    #[serde(rename = "aws")]
    Aws,
    #[serde(rename = "aws-cn")]
    AwsCn,
}

/// One row of the table.
struct Facts {
    partition: Partition,
    id: &'static str,
    dns_suffix: &'static str,
    regions: &'static [&'static str],
    /// Service principals that differ from `<service>.amazonaws.com` in this partition.
    principal_exceptions: &'static [(&'static str, &'static str)],
}

// The EC2 service principal in aws-cn is `ec2.amazonaws.com.cn`. Evidence:
// - IAM User Guide for the China regions, "Service principals"
//   (docs.amazonaws.cn/en_us/IAM/latest/UserGuide/reference_policies_elements_principal.html#principal-services):
//   principals are usually `service-name.amazonaws.com`, but some services use the
//   `.amazonaws.com.cn` form instead of or in addition to it.
// - EKS in China refuses a node role that lacks `ec2.amazonaws.com.cn`
//   ("Following required service principals [ec2.amazonaws.com.cn] were not found",
//   awslabs/cdk-eks-blueprints#558).
// - The Terraform AWS provider's aws_service_principal returns `ec2.amazonaws.com.cn` in China
//   since hashicorp/terraform-provider-aws#47141 (merged 2026-03-30).
// (aws/aws-cdk#24709, a proposal to restore the `.cn` form in CDK's region facts, was closed
// without being merged: it is no evidence either way.)
// IAM rejects a whole trust policy when one listed principal is invalid, so listing both forms
// is no hedge. A plan can override any principal per partition (`service_principals:`).
// Roles Anywhere's principal is `rolesanywhere.amazonaws.com` in both partitions.
static TABLE: [Facts; 2] = [
    Facts {
        partition: Partition::Aws,
        id: "aws",
        dns_suffix: "amazonaws.com",
        regions: &[
            "us-east-1",
            "us-east-2",
            "us-west-1",
            "us-west-2",
            "af-south-1",
            "ap-east-1",
            "ap-east-2",
            "ap-south-1",
            "ap-south-2",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-southeast-3",
            "ap-southeast-4",
            "ap-southeast-5",
            "ap-southeast-7",
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-northeast-3",
            "ca-central-1",
            "ca-west-1",
            "eu-central-1",
            "eu-central-2",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
            "eu-south-1",
            "eu-south-2",
            "eu-north-1",
            "il-central-1",
            "me-south-1",
            "me-central-1",
            "mx-central-1",
            "sa-east-1",
        ],
        principal_exceptions: &[],
    },
    Facts {
        partition: Partition::AwsCn,
        id: "aws-cn",
        dns_suffix: "amazonaws.com.cn",
        regions: &["cn-north-1", "cn-northwest-1"],
        principal_exceptions: &[("ec2", "ec2.amazonaws.com.cn")],
    },
];

impl Partition {
    pub const ALL: [Partition; 2] = [Partition::Aws, Partition::AwsCn];

    fn facts(self) -> &'static Facts {
        TABLE
            .iter()
            .find(|f| f.partition == self)
            .expect("every partition has a row")
    }

    /// The partition a region belongs to, or None for a region xpart does not know.
    pub fn of_region(region: &str) -> Option<Partition> {
        TABLE
            .iter()
            .find(|f| f.regions.contains(&region))
            .map(|f| f.partition)
    }

    /// The partition named in an ARN (`arn:<partition>:…`), including ones xpart does not manage.
    pub fn of_arn(arn: &str) -> Option<&str> {
        let rest = arn.strip_prefix("arn:")?;
        rest.split(':').next()
    }

    pub fn from_id(id: &str) -> Option<Partition> {
        TABLE.iter().find(|f| f.id == id).map(|f| f.partition)
    }

    /// `aws` or `aws-cn`, as in ARNs.
    pub fn id(self) -> &'static str {
        self.facts().id
    }

    pub fn dns_suffix(self) -> &'static str {
        self.facts().dns_suffix
    }

    pub fn regions(self) -> &'static [&'static str] {
        self.facts().regions
    }

    /// `arn:<partition>:<service>:<region>:<account>:<resource>`; IAM passes an empty region.
    pub fn arn(self, service: &str, region: &str, account: &str, resource: &str) -> String {
        format!("arn:{}:{service}:{region}:{account}:{resource}", self.id())
    }

    /// The account principal that key policies name: `arn:<partition>:iam::<account>:root`.
    /// It is the documented form in aws-cn too, although China has no root user. It is what
    /// lint's hints show and a plan shows before the key exists; a key policy xpart generates
    /// names the form KMS itself wrote into a key's default policy (`kms.key`), so a fact
    /// nobody here can test on China is KMS's, not this line's.
    pub fn account_principal(self, account: &str) -> String {
        self.arn("iam", "", account, "root")
    }

    /// The default service principal of `service` (e.g. "ec2", "rolesanywhere").
    pub fn service_principal(self, service: &str) -> String {
        self.facts()
            .principal_exceptions
            .iter()
            .find(|(s, _)| *s == service)
            .map(|(_, p)| p.to_string())
            .unwrap_or_else(|| format!("{service}.amazonaws.com"))
    }

    /// The endpoint host of a regional service, e.g. `rolesanywhere.cn-north-1.amazonaws.com.cn`.
    pub fn endpoint_host(self, service: &str, region: &str) -> String {
        format!("{service}.{region}.{}", self.dns_suffix())
    }

    /// Whether a service principal can only be valid in another partition than `self`.
    pub fn foreign_service_principal(self, principal: &str) -> bool {
        match self {
            Partition::Aws => principal.ends_with(".amazonaws.com.cn"),
            Partition::AwsCn => false,
        }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_map_to_their_partition() {
        assert_eq!(Partition::of_region("us-west-2"), Some(Partition::Aws));
        assert_eq!(Partition::of_region("cn-north-1"), Some(Partition::AwsCn));
        assert_eq!(
            Partition::of_region("cn-northwest-1"),
            Some(Partition::AwsCn)
        );
        assert_eq!(Partition::of_region("cn-north-3"), None);
        assert_eq!(Partition::of_region("us-gov-west-1"), None);
    }

    #[test]
    fn dns_suffix_and_endpoints() {
        assert_eq!(Partition::Aws.dns_suffix(), "amazonaws.com");
        assert_eq!(Partition::AwsCn.dns_suffix(), "amazonaws.com.cn");
        assert_eq!(
            Partition::AwsCn.endpoint_host("rolesanywhere", "cn-north-1"),
            "rolesanywhere.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            Partition::Aws.endpoint_host("rolesanywhere", "us-west-2"),
            "rolesanywhere.us-west-2.amazonaws.com"
        );
    }

    #[test]
    fn arns_carry_the_partition() {
        assert_eq!(
            Partition::AwsCn.arn("iam", "", "444455556666", "role/x"),
            "arn:aws-cn:iam::444455556666:role/x"
        );
        assert_eq!(
            Partition::Aws.account_principal("111122223333"),
            "arn:aws:iam::111122223333:root"
        );
        assert_eq!(
            Partition::AwsCn.account_principal("444455556666"),
            "arn:aws-cn:iam::444455556666:root"
        );
        assert_eq!(Partition::of_arn("arn:aws-cn:iam::1:root"), Some("aws-cn"));
        assert_eq!(Partition::of_arn("not-an-arn"), None);
        assert_eq!(Partition::from_id("aws-cn"), Some(Partition::AwsCn));
        assert_eq!(Partition::from_id("aws-us-gov"), None);
    }

    #[test]
    fn service_principals_follow_the_table() {
        assert_eq!(Partition::Aws.service_principal("ec2"), "ec2.amazonaws.com");
        assert_eq!(
            Partition::AwsCn.service_principal("ec2"),
            "ec2.amazonaws.com.cn"
        );
        for p in Partition::ALL {
            assert_eq!(
                p.service_principal("rolesanywhere"),
                "rolesanywhere.amazonaws.com"
            );
        }
        assert!(Partition::Aws.foreign_service_principal("ec2.amazonaws.com.cn"));
        assert!(!Partition::AwsCn.foreign_service_principal("ec2.amazonaws.com"));
    }
}
