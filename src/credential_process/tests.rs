//! Unit tests of the credential process: arguments, validity, the cache and file handling.

use super::*;

/// From `date -u -d <iso> +%s`: 2024-05-01T12:34:56Z, 12:00:00Z.
fn ts(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap()
}
const T123456: i64 = 1_714_566_896;
const T120000: i64 = 1_714_564_800;

#[test]
fn unreadable_key_message_names_file_owner_and_mode() {
    let e = CredentialError::Unreadable {
        what: "private key",
        path: "/etc/ira/client.key".into(),
        owner_uid: Some(0),
        mode: Some(0o100600),
        reason: io_reason(&std::io::Error::from_raw_os_error(13)),
    };
    assert_eq!(
        e.to_string(),
        "cannot read private key /etc/ira/client.key (owner root, mode 0600): Permission denied"
    );
    let missing = CredentialError::Unreadable {
        what: "certificate",
        path: "/nope".into(),
        owner_uid: None,
        mode: None,
        reason: io_reason(&std::io::Error::from_raw_os_error(2)),
    };
    assert_eq!(
        missing.to_string(),
        "cannot read certificate /nope: No such file or directory"
    );
}

#[test]
fn rfc3339_parses_what_aws_writes() {
    assert_eq!(parse_rfc3339("2024-05-01T12:34:56Z"), Some(ts(T123456)));
    assert_eq!(
        parse_rfc3339("2024-05-01T12:34:56.789Z"),
        Some(ts(T123456) + Duration::from_millis(789))
    );
    assert_eq!(
        parse_rfc3339("2024-05-01T20:34:56+08:00"),
        Some(ts(T123456))
    );
    for bad in [
        "",
        "2024-05-01",
        "2024-13-01T00:00:00Z",
        "2024-05-01T12:34:56",
        "2024-05-01T12:34:56.Z",
        "x024-05-01T12:34:56Z",
    ] {
        assert_eq!(parse_rfc3339(bad), None, "{bad}");
    }
    assert_eq!(
        fmt_time(ts(T123456).to_offset(::time::UtcOffset::from_hms(8, 0, 0).unwrap())),
        "2024-05-01T12:34:56Z"
    );
}

#[test]
fn cached_credentials_are_used_until_five_minutes_before_expiry() {
    let now = ts(T120000);
    assert!(usable(now + Duration::from_secs(3600), now));
    assert!(usable(now + Duration::from_secs(301), now));
    assert!(!usable(now + Duration::from_secs(300), now));
    assert!(!usable(now - Duration::from_secs(1), now));
}

#[test]
fn service_errors_are_read_from_header_or_body() {
    assert_eq!(
        service_error(
            Some("AccessDeniedException:http://internal.amazon.com/coral/x/"),
            r#"{"message":"Untrusted signing certificate"}"#
        ),
        (
            Some("AccessDeniedException".into()),
            Some("Untrusted signing certificate".into())
        )
    );
    assert_eq!(
        service_error(
            None,
            r#"{"__type":"com.amazon.coral#ValidationException","Message":"m"}"#
        ),
        (Some("ValidationException".into()), Some("m".into()))
    );
    assert_eq!(service_error(None, "<html>"), (None, None));
    assert!(retryable_status(400, Some("ThrottlingException")));
    assert!(retryable_status(503, None));
    assert!(!retryable_status(403, Some("AccessDeniedException")));
}

#[test]
fn credentials_are_parsed_and_printed_as_credential_process_wants() {
    let c = parse_credentials(
        r#"{"credentialSet":[{"credentials":{"accessKeyId":"AKIA","secretAccessKey":"s3cr3t",
            "sessionToken":"tok","expiration":"2024-05-01T13:00:00Z"}}]}"#,
    )
    .unwrap();
    assert_eq!(
        c.to_json(),
        r#"{"Version":1,"AccessKeyId":"AKIA","SecretAccessKey":"s3cr3t","SessionToken":"tok","Expiration":"2024-05-01T13:00:00Z"}"#
    );
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("s3cr3t") && !dbg.contains("tok\""), "{dbg}");
    assert!(parse_credentials(r#"{"credentialSet":[]}"#).is_err());
    assert!(parse_credentials("nope").is_err());
}

fn args(ta: &str, profile: &str, role: &str) -> CredentialProcessArgs {
    CredentialProcessArgs {
        certificate: "/nonexistent/cert.pem".into(),
        private_key: "/nonexistent/key.pem".into(),
        intermediates: None,
        trust_anchor_arn: ta.into(),
        profile_arn: profile.into(),
        role_arn: role.into(),
        session_duration: 3600,
        region: None,
        endpoint: None,
        role_session_name: None,
        no_verify_ssl: false,
        with_proxy: false,
        no_cache: true,
        debug: false,
    }
}

const TA_CN: &str = "arn:aws-cn:rolesanywhere:cn-north-1:444455556666:trust-anchor/t";
const PR_CN: &str = "arn:aws-cn:rolesanywhere:cn-north-1:444455556666:profile/p";
const ROLE_CN: &str = "arn:aws-cn:iam::444455556666:role/r";

#[test]
fn region_and_endpoint_come_from_the_trust_anchor() {
    let a = args(TA_CN, PR_CN, ROLE_CN);
    let (region, partition) = check_arns(&a).unwrap();
    assert_eq!(
        (region.as_str(), partition),
        ("cn-north-1", Some(Partition::AwsCn))
    );
    // Local checks come first: the endpoint is derived, then the missing certificate is named.
    let err = prepare(&a, OffsetDateTime::now_utc()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot read certificate /nonexistent/cert.pem: No such file or directory"
    );
    let ep = parse_endpoint("https://rolesanywhere.cn-north-1.amazonaws.com.cn").unwrap();
    assert_eq!(
        (ep.authority.as_str(), ep.port, ep.https),
        ("rolesanywhere.cn-north-1.amazonaws.com.cn", 443, true)
    );
    let ep = parse_endpoint("http://127.0.0.1:14567/").unwrap();
    assert_eq!(
        (
            ep.authority.as_str(),
            ep.host.as_str(),
            ep.port,
            ep.url.as_str()
        ),
        (
            "127.0.0.1:14567",
            "127.0.0.1",
            14567,
            "http://127.0.0.1:14567"
        )
    );
    assert!(parse_endpoint("ftp://x").is_err());
    assert!(parse_endpoint("https://x/prefix").is_err());
    assert!(parse_endpoint("https://u:p@x").is_err());
}

#[test]
fn arguments_that_cannot_work_are_refused_before_any_request() {
    let unknown = args(
        "arn:aws:rolesanywhere:xx-nowhere-1:1:trust-anchor/t",
        "arn:aws:rolesanywhere:xx-nowhere-1:1:profile/p",
        "arn:aws:iam::1:role/r",
    );
    let err = prepare(&unknown, OffsetDateTime::now_utc()).unwrap_err();
    assert!(
        matches!(err, CredentialError::UnknownRegion { .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.starts_with("region `xx-nowhere-1` is in no partition xpart knows (aws: us-east-1"),
        "{msg}"
    );
    assert!(msg.contains("aws-cn: cn-north-1, cn-northwest-1"), "{msg}");
    // With an explicit endpoint an unknown region is the endpoint's business.
    let mut with_ep = unknown.clone();
    with_ep.endpoint = Some("https://ra.example".into());
    assert!(matches!(
        prepare(&with_ep, OffsetDateTime::now_utc()).unwrap_err(),
        CredentialError::Unreadable { .. }
    ));

    let cross = args(TA_CN, PR_CN, "arn:aws:iam::111122223333:role/r");
    let msg = check_arns(&cross).unwrap_err().to_string();
    assert!(
        msg.contains("partition aws-cn but the role in aws"),
        "{msg}"
    );
    let wrong_region = args(
        "arn:aws:rolesanywhere:cn-north-1:1:trust-anchor/t",
        "arn:aws:rolesanywhere:cn-north-1:1:profile/p",
        "arn:aws:iam::1:role/r",
    );
    let msg = check_arns(&wrong_region).unwrap_err().to_string();
    assert_eq!(
        msg,
        "region cn-north-1 is in partition aws-cn but the ARNs are in aws"
    );
    let mut other_region = args(TA_CN, PR_CN, ROLE_CN);
    other_region.region = Some("cn-northwest-1".into());
    assert!(check_arns(&other_region)
        .unwrap_err()
        .to_string()
        .contains("differs from the trust anchor's region"));
    let split = args(
        TA_CN,
        "arn:aws-cn:rolesanywhere:cn-northwest-1:444455556666:profile/p",
        ROLE_CN,
    );
    assert!(check_arns(&split)
        .unwrap_err()
        .to_string()
        .contains("must be in one region"));
    let swapped = args(PR_CN, TA_CN, ROLE_CN);
    assert!(check_arns(&swapped)
        .unwrap_err()
        .to_string()
        .contains("is not a Roles Anywhere trust anchor"));
    assert!(check_arns(&args("nope", PR_CN, ROLE_CN))
        .unwrap_err()
        .to_string()
        .contains("is not an ARN"));
    let mut short = args(TA_CN, PR_CN, ROLE_CN);
    short.session_duration = 60;
    assert!(prepare(&short, OffsetDateTime::now_utc())
        .unwrap_err()
        .to_string()
        .contains("900-43200"));
}

#[test]
fn no_proxy_follows_go_rules() {
    assert!(no_proxy_matches("*", "anything", 443));
    assert!(no_proxy_matches(
        "amazonaws.com.cn",
        "rolesanywhere.cn-north-1.amazonaws.com.cn",
        443
    ));
    assert!(no_proxy_matches(
        "amazonaws.com.cn",
        "amazonaws.com.cn",
        443
    ));
    assert!(no_proxy_matches(
        " .amazonaws.com.cn",
        "x.amazonaws.com.cn",
        443
    ));
    assert!(!no_proxy_matches(
        ".amazonaws.com.cn",
        "amazonaws.com.cn",
        443
    ));
    assert!(!no_proxy_matches(
        "amazonaws.com",
        "rolesanywhere.cn-north-1.amazonaws.com.cn",
        443
    ));
    assert!(!no_proxy_matches("notamazonaws.com", "amazonaws.com", 443));
    assert!(no_proxy_matches("10.0.0.0/8,127.0.0.1", "127.0.0.1", 80));
    assert!(no_proxy_matches("10.0.0.0/8", "10.1.2.3", 80));
    assert!(!no_proxy_matches("10.0.0.0/8", "11.1.2.3", 80));
    assert!(no_proxy_matches("example.com:8443", "example.com", 8443));
    assert!(!no_proxy_matches("example.com:8443", "example.com", 443));
    assert!(no_proxy_matches("::1", "::1", 443));
    assert!(!no_proxy_matches("", "example.com", 443));
    assert_eq!(
        redact_proxy("http://user:pw@proxy:3128"),
        "http://…@proxy:3128"
    );
}

#[test]
fn proxies_are_used_only_with_the_flag() {
    let env = Environment {
        cache_dir: None,
        https_proxy: Some("proxy.internal:3128".into()),
        http_proxy: Some("http://plain.internal:3128".into()),
        no_proxy: Some("skip.example".into()),
        ca_bundle: None,
        connect_timeout: Duration::from_secs(1),
        total_timeout: Duration::from_secs(1),
    };
    let mut a = args(TA_CN, PR_CN, ROLE_CN);
    let https = parse_endpoint("https://ra.example").unwrap();
    assert!(proxy_for(&a, &env, &https).unwrap().is_none());
    a.with_proxy = true;
    let p = proxy_for(&a, &env, &https).unwrap().unwrap();
    assert_eq!((p.host(), p.port()), ("proxy.internal", 3128));
    let http = parse_endpoint("http://ra.example").unwrap();
    assert_eq!(
        proxy_for(&a, &env, &http).unwrap().unwrap().host(),
        "plain.internal"
    );
    let skipped = parse_endpoint("https://ra.skip.example").unwrap();
    assert!(proxy_for(&a, &env, &skipped).unwrap().is_none());
}

#[test]
fn the_cache_is_private_and_atomic() {
    let dir = std::env::temp_dir().join(format!("xpart-cache-unit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cdir = dir.join("xpart/credentials");
    let cache = Cache::open(&cdir).unwrap();
    assert_eq!(std::fs::metadata(&cdir).unwrap().mode() & 0o777, 0o700);
    let now = OffsetDateTime::now_utc();
    let mut creds = ProcessCredentials {
        version: 1,
        access_key_id: "AKIA".into(),
        secret_access_key: "s".into(),
        session_token: "t".into(),
        expiration: fmt_time(now + Duration::from_secs(3600)),
    };
    assert!(cache.get("k", now).is_none());
    cache.put("k", &creds).unwrap();
    let file = cdir.join("k.json");
    assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
    assert_eq!(cache.get("k", now), Some(creds.clone()));
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(&cdir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("k.json")]);
    // Close to expiry: not handed out.
    creds.expiration = fmt_time(now + Duration::from_secs(200));
    cache.put("k", &creds).unwrap();
    assert!(cache.get("k", now).is_none());
    // A file others can read is not trusted.
    creds.expiration = fmt_time(now + Duration::from_secs(3600));
    cache.put("k", &creds).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(cache.get("k", now).is_none());
    // A directory left open is made private again.
    std::fs::set_permissions(&cdir, std::fs::Permissions::from_mode(0o755)).unwrap();
    Cache::open(&cdir).unwrap();
    assert_eq!(std::fs::metadata(&cdir).unwrap().mode() & 0o777, 0o700);
    std::fs::remove_dir_all(&dir).unwrap();
}
