//! The ARNs and the endpoint: parsed, and checked to be of one partition and region.

use super::*;

/// An ARN's fields.
pub(super) struct Arn<'a> {
    pub(super) partition: &'a str,
    pub(super) service: &'a str,
    pub(super) region: &'a str,
    pub(super) resource: &'a str,
}

pub(super) fn parse_arn<'a>(flag: &str, arn: &'a str) -> Result<Arn<'a>, CredentialError> {
    let bad = || {
        CredentialError::Invalid(format!("--{flag} `{arn}` is not an ARN (arn:<partition>:<service>:<region>:<account>:<resource>)"))
    };
    let mut f = arn.splitn(6, ':');
    if f.next() != Some("arn") {
        return Err(bad());
    }
    let (Some(partition), Some(service), Some(region), Some(_account), Some(resource)) =
        (f.next(), f.next(), f.next(), f.next(), f.next())
    else {
        return Err(bad());
    };
    if partition.is_empty() || service.is_empty() || resource.is_empty() {
        return Err(bad());
    }
    Ok(Arn {
        partition,
        service,
        region,
        resource,
    })
}

pub(super) fn check_arns(
    args: &CredentialProcessArgs,
) -> Result<(String, Option<Partition>), CredentialError> {
    let ta = parse_arn("trust-anchor-arn", &args.trust_anchor_arn)?;
    let profile = parse_arn("profile-arn", &args.profile_arn)?;
    let role = parse_arn("role-arn", &args.role_arn)?;
    if ta.service != "rolesanywhere" || !ta.resource.starts_with("trust-anchor/") {
        return Err(CredentialError::Invalid(format!(
            "--trust-anchor-arn `{}` is not a Roles Anywhere trust anchor (…:rolesanywhere:<region>:<account>:trust-anchor/<id>)",
            args.trust_anchor_arn
        )));
    }
    if profile.service != "rolesanywhere" || !profile.resource.starts_with("profile/") {
        return Err(CredentialError::Invalid(format!(
            "--profile-arn `{}` is not a Roles Anywhere profile (…:rolesanywhere:<region>:<account>:profile/<id>)",
            args.profile_arn
        )));
    }
    if role.service != "iam" || !role.resource.starts_with("role/") {
        return Err(CredentialError::Invalid(format!(
            "--role-arn `{}` is not an IAM role (arn:<partition>:iam::<account>:role/<name>)",
            args.role_arn
        )));
    }
    if ta.region != profile.region {
        return Err(CredentialError::Invalid(format!(
            "the trust anchor is in region {} but the profile in {}: they must be in one region",
            ta.region, profile.region
        )));
    }
    for (what, arn) in [("profile", &profile), ("role", &role)] {
        if arn.partition != ta.partition {
            return Err(CredentialError::Invalid(format!(
                "the trust anchor is in partition {} but the {what} in {}: Roles Anywhere only vends \
                 credentials within one partition",
                ta.partition, arn.partition
            )));
        }
    }
    let region = args.region.clone().unwrap_or_else(|| ta.region.to_string());
    if region.is_empty() {
        return Err(CredentialError::Invalid(
            "no region: the trust anchor ARN has none and --region is not set".into(),
        ));
    }
    if region != ta.region {
        return Err(CredentialError::Invalid(format!(
            "--region {region} differs from the trust anchor's region {}: CreateSession must be \
             called in the trust anchor's region",
            ta.region
        )));
    }
    let partition = Partition::of_region(&region);
    if let Some(p) = partition {
        if p.id() != ta.partition {
            return Err(CredentialError::Invalid(format!(
                "region {region} is in partition {p} but the ARNs are in {}",
                ta.partition
            )));
        }
    }
    Ok((region, partition))
}

/// Where CreateSession goes.
#[derive(Debug, Clone)]
pub(super) struct Endpoint {
    /// As given or derived, without a trailing slash (for messages).
    pub(super) url: String,
    pub(super) https: bool,
    /// `host` or `host:port` as written: the Host header.
    pub(super) authority: String,
    pub(super) host: String,
    pub(super) port: u16,
}

pub(super) fn parse_endpoint(url: &str) -> Result<Endpoint, CredentialError> {
    let bad = |why: &str| CredentialError::Invalid(format!("--endpoint `{url}`: {why}"));
    let uri: ureq::http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(bad("the scheme must be https:// or http://")),
    };
    let auth = uri.authority().ok_or_else(|| bad("no host"))?;
    if auth.as_str().contains('@') {
        return Err(bad("user information is not allowed"));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(bad("give the endpoint's base URL only (no path or query)"));
    }
    let host = auth.host().trim_start_matches('[').trim_end_matches(']');
    Ok(Endpoint {
        url: url.trim_end_matches('/').to_string(),
        https,
        authority: auth.as_str().to_string(),
        host: host.to_string(),
        port: auth.port_u16().unwrap_or(if https { 443 } else { 80 }),
    })
}
