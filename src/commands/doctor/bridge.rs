//! The bridge as it is live, chain by chain (a profile, the role it names, the trust anchor
//! the role trusts, the plan's client certificate): the certificate against the anchor's CAs,
//! days to expiry of both, revocation by the anchor's lists, the profile and role enabled and
//! matching, the subject fields that become session tags, one real CreateSession, and the
//! failed attempts Roles Anywhere recorded for the certificate (ListSubjects, GetSubject).

use std::path::Path;
use std::time::Instant;

use time::OffsetDateTime;
use x509_parser::prelude::{parse_x509_pem, FromDer, ParsedExtension, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

use super::verdict::Check;
use crate::commands::verify::{self, Chain};
use crate::engine::run::Engine;

/// What a certificate shows doctor.
struct Cert {
    subject: String,
    subject_raw: Vec<u8>,
    issuer: String,
    issuer_raw: Vec<u8>,
    /// Hex, lower case, no leading zeros; and decimal.
    serial_hex: String,
    serial_dec: String,
    not_after: OffsetDateTime,
    ski: Option<Vec<u8>>,
    aki: Option<Vec<u8>>,
    /// (field, value) of the subject, as Roles Anywhere names them (`CN`, `OU`, …).
    fields: Vec<(String, String)>,
}

fn cert_of(der: &[u8]) -> Option<Cert> {
    let (_, c) = X509Certificate::from_der(der).ok()?;
    let mut ski = None;
    let mut aki = None;
    for e in c.extensions() {
        match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => ski = Some(k.0.to_vec()),
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                aki = a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => {}
        }
    }
    let fields = c
        .subject()
        .iter_attributes()
        .filter_map(|a| {
            let short = x509_parser::objects::oid2abbrev(
                a.attr_type(),
                x509_parser::objects::oid_registry(),
            )
            .ok()?
            .to_string();
            Some((short, a.as_str().ok()?.to_string()))
        })
        .collect();
    let serial = c.tbs_certificate.serial.clone();
    Some(Cert {
        subject: c.subject().to_string(),
        subject_raw: c.subject().as_raw().to_vec(),
        issuer: c.issuer().to_string(),
        issuer_raw: c.issuer().as_raw().to_vec(),
        serial_hex: serial.to_str_radix(16),
        serial_dec: serial.to_string(),
        not_after: c.validity().not_after.to_datetime(),
        ski,
        aki,
        fields,
    })
}

/// The certificates of a PEM text.
fn pem_certs(pem: &[u8]) -> Vec<Cert> {
    let mut out = vec![];
    let mut rest = pem;
    while let Ok((r, p)) = parse_x509_pem(rest) {
        if p.label == "CERTIFICATE" {
            out.extend(cert_of(&p.contents));
        }
        if r.len() == rest.len() {
            break;
        }
        rest = r;
    }
    out
}

fn days_left(t: OffsetDateTime) -> i64 {
    (t - OffsetDateTime::now_utc()).whole_days()
}

/// A certificate's expiry as a check, for `days` left of it: failed once it is past (with why
/// that matters and the fix, `expired`), warned with `warning` inside `warn_within` days, else
/// passed with `fine`.
fn expiry(
    check: Check,
    (days, warn_within): (i64, i64),
    (why, fix): (&str, &str),
    warning: String,
    fine: String,
) -> Check {
    if days < 0 {
        check.fail(format!("expired {} days ago", -days), why, fix)
    } else if days < warn_within {
        check.warn(warning)
    } else {
        check.pass(fine)
    }
}

/// Whether `ca` issued `leaf`: its subject is the leaf's issuer, and its key identifier the
/// leaf's authority key identifier when both name one. Roles Anywhere checks the signature;
/// this is what can be told from here, and names both sides when it does not hold.
fn issued_by(leaf: &Cert, ca: &Cert) -> bool {
    leaf.issuer_raw == ca.subject_raw
        && match (&leaf.aki, &ca.ski) {
            (Some(a), Some(s)) => a == s,
            _ => true,
        }
}

/// Check every chain of the plan.
pub async fn check(engine: &Engine, scratch: &Path, apply_line: &str, report: &dyn Fn(Check)) {
    let t = Instant::now();
    let planned = match engine.plan(&crate::engine::walk::Cancel::new()).await {
        Ok(p) => p,
        Err(e) => {
            report(Check::new("bridge", "read the plan's resources", t).fail(
                e.to_string(),
                "the plan's live resources could not be read",
                "see the error; `xpart plan` shows the same",
            ));
            return;
        }
    };
    let chains = match verify::chains(engine, &planned, apply_line) {
        Ok(c) if !c.is_empty() => c,
        Ok(_) => {
            report(Check::new("bridge", "Roles Anywhere chains", t).fail(
                "the plan has no Roles Anywhere chain (a profile, a role trusting a trust anchor, a client certificate)",
                "nothing to check",
                "add the chain to the plan",
            ));
            return;
        }
        Err(e) => {
            report(Check::new("bridge", "Roles Anywhere chains", t).fail(
                e.clone(),
                "the chain is not in place",
                format!("run `{apply_line}`"),
            ));
            return;
        }
    };
    for c in &chains {
        chain(engine, c, scratch, report).await;
    }
}

/// What every step of one chain's checks shares.
struct Link<'a> {
    engine: &'a Engine,
    part: &'a crate::engine::resource::PartCtx,
    c: &'a Chain,
    report: &'a dyn Fn(Check),
}

impl Link<'_> {
    fn name(&self) -> &str {
        &self.c.partition
    }
    fn ra(&self) -> &aws_sdk_rolesanywhere::Client {
        &self.part.clients.rolesanywhere
    }
    fn say(&self, c: Check) {
        (self.report)(c)
    }
}

/// The last part of an ARN's resource: the id its API takes.
fn id_of(arn: &str) -> String {
    arn.rsplit('/').next().unwrap_or_default().to_string()
}

/// One chain, step by step; a step that cannot go on stops the steps that need it.
async fn chain(engine: &Engine, c: &Chain, scratch: &Path, report: &dyn Fn(Check)) {
    let Some(part) = engine.partition(&c.partition) else {
        return;
    };
    let l = Link {
        engine,
        part,
        c,
        report,
    };
    let Some((cas, held)) = anchor(&l).await else {
        return;
    };
    let Some((leaf, cert_file, key_file)) = client(&l, scratch).await else {
        return;
    };
    issued(&l, &leaf, &cas, &held);
    revocation(&l, &leaf).await;
    let mapped = profile(&l).await;
    role(&l).await;
    session_tags(&l, &leaf, mapped.as_deref());
    create_session(&l, &leaf, &held, &cert_file, &key_file).await;
    recorded(&l, &leaf).await;
}

/// The trust anchor: enabled, and its CAs (with their subjects) and their days to expiry.
async fn anchor(l: &Link<'_>) -> Option<(Vec<Cert>, Vec<String>)> {
    let t = Instant::now();
    let anchor = l
        .ra()
        .get_trust_anchor()
        .trust_anchor_id(id_of(&l.c.anchor_arn))
        .send()
        .await;
    let anchor = match anchor {
        Ok(a) => a.trust_anchor,
        Err(e) => {
            let e = l.part.clients.error("GetTrustAnchor", e);
            l.say(Check::new(l.name(), "trust anchor", t).fail(
                e.to_string(),
                "the trust anchor cannot be read",
                "run `xpart plan` to see what differs",
            ));
            return None;
        }
    };
    let anchor = anchor?;
    let pem = anchor
        .source()
        .and_then(|s| s.source_data())
        .and_then(|d| d.as_x509_certificate_data().ok())
        .cloned()
        .unwrap_or_default();
    let cas = pem_certs(pem.as_bytes());
    let held: Vec<String> = cas.iter().map(|c| c.subject.clone()).collect();
    let ca_check = Check::new(
        l.name(),
        format!("trust anchor {}", anchor.name().unwrap_or_default()),
        t,
    );
    if !anchor.enabled().unwrap_or(false) {
        l.say(ca_check.fail(
            format!("{} is disabled", l.c.anchor_arn),
            "Roles Anywhere refuses every certificate of a disabled trust anchor",
            "run `xpart apply` (the plan keeps it enabled), or `aws rolesanywhere enable-trust-anchor`",
        ));
    } else {
        l.say(ca_check.pass(format!("enabled; holds {}", held.join("; "))));
    }
    for ca in &cas {
        let days = days_left(ca.not_after);
        let c2 = Check::new(
            l.name(),
            format!("CA {} expiry", ca.subject),
            Instant::now(),
        );
        let expired = (
            "an expired CA makes every certificate it issued untrusted",
            "rotate the CA (README: \"Rotating the CA with no outage\")",
        );
        let warning =
            format!("{days} days left: rotate it (README: \"Rotating the CA with no outage\")");
        let fine = format!("{days} days left");
        l.say(expiry(c2, (days, 30), expired, warning, fine));
    }
    Some((cas, held))
}

/// The client certificate and key, as files: read, with the certificate's days to expiry.
async fn client(
    l: &Link<'_>,
    scratch: &Path,
) -> Option<(Cert, std::path::PathBuf, std::path::PathBuf)> {
    let t = Instant::now();
    let (cert_file, key_file) = match verify::pair_files_quiet(
        l.engine,
        &l.c.pair,
        &scratch.join(&l.c.partition),
        verify::CURRENT,
    )
    .await
    {
        Ok((cert, key, _)) => (cert, key),
        Err(step) => {
            l.say(Check::new(l.name(), "client certificate", t).fail(
                step.detail,
                "the workload's certificate and key cannot be read from here",
                "run `xpart plan`: the certificate may not be issued yet",
            ));
            return None;
        }
    };
    let leaf = std::fs::read(&cert_file)
        .ok()
        .and_then(|pem| pem_certs(&pem).into_iter().next());
    let Some(leaf) = leaf else {
        l.say(Check::new(l.name(), "client certificate", t).fail(
            format!("{} holds no certificate", cert_file.display()),
            "the certificate cannot be parsed",
            "re-issue it (`xpart apply`)",
        ));
        return None;
    };
    let days = days_left(leaf.not_after);
    let cc = Check::new(l.name(), format!("client certificate {}", leaf.subject), t);
    let expired = (
        "Roles Anywhere refuses an expired certificate",
        "run `xpart apply`: it renews the certificate",
    );
    let serial = &leaf.serial_hex;
    let warning = format!("serial {serial}, {days} days left: renewal is due (`xpart apply`)");
    let fine = format!("serial {serial}, {days} days left");
    l.say(expiry(cc, (days, 7), expired, warning, fine));
    Some((leaf, cert_file, key_file))
}

/// Whether a CA of the anchor issued the certificate.
fn issued(l: &Link<'_>, leaf: &Cert, cas: &[Cert], held: &[String]) {
    let t = Instant::now();
    let trusted = cas.iter().any(|ca| issued_by(leaf, ca));
    let tc = Check::new(l.name(), "certificate chain", t);
    l.say(if trusted {
        tc.pass(format!(
            "issued by {}, which trust anchor {} holds",
            leaf.issuer, l.c.anchor_arn
        ))
    } else {
        tc.fail(
            format!("untrusted certificate: issued by {}, and trust anchor {} holds only {}", leaf.issuer, l.c.anchor_arn, held.join("; ")),
            "untrusted certificate: no CA of the trust anchor issued it (Roles Anywhere answers \"Untrusted signing certificate\")",
            "issue the certificate from the anchor's CA (`xpart apply` re-issues it), or add its CA to the anchor (`cas:`)",
        )
    });
}

/// Whether an enabled CRL of the anchor revokes the certificate.
async fn revocation(l: &Link<'_>, leaf: &Cert) {
    let t = Instant::now();
    let crls = l.ra().list_crls().send().await;
    let rc = Check::new(l.name(), "revocation", t);
    match crls {
        Err(e) => l.say(rc.warn(format!(
            "the revocation lists could not be read: {}",
            l.part.clients.error("ListCrls", e)
        ))),
        Ok(out) => {
            let mut by = None;
            let mut n = 0;
            for crl in out.crls() {
                if crl.trust_anchor_arn() != Some(l.c.anchor_arn.as_str())
                    || !crl.enabled().unwrap_or(false)
                {
                    continue;
                }
                n += 1;
                let data = crl
                    .crl_data()
                    .map(|b| b.as_ref().to_vec())
                    .unwrap_or_default();
                let der = match parse_x509_pem(&data) {
                    Ok((_, p)) => p.contents,
                    Err(_) => data,
                };
                if let Ok((_, list)) = CertificateRevocationList::from_der(&der) {
                    if list
                        .iter_revoked_certificates()
                        .any(|r| r.user_certificate.to_str_radix(16) == leaf.serial_hex)
                    {
                        by = Some(crl.name().unwrap_or_default().to_string());
                    }
                }
            }
            l.say(match by {
                Some(list) => rc.fail(
                    format!("serial {} is revoked by the list {list}", leaf.serial_hex),
                    "Roles Anywhere refuses a revoked certificate (\"Certificate revoked\")",
                    "issue a new certificate: `xpart apply` re-issues one the plan's list revokes",
                ),
                None => rc.pass(format!("not revoked ({n} enabled list(s) of the anchor)")),
            });
        }
    }
}

/// The profile: enabled and naming the role; its attribute mapping (field, specifiers).
async fn profile(l: &Link<'_>) -> Option<Vec<(String, Vec<String>)>> {
    let t = Instant::now();
    let profile = l
        .ra()
        .get_profile()
        .profile_id(id_of(&l.c.profile_arn))
        .send()
        .await;
    let pc = Check::new(l.name(), "profile", t);
    let mut mapped: Option<Vec<(String, Vec<String>)>> = None;
    match profile.map(|p| p.profile) {
        Err(e) => l.say(pc.fail(
            l.part.clients.error("GetProfile", e).to_string(),
            "the profile cannot be read",
            "run `xpart plan`",
        )),
        Ok(None) => {}
        Ok(Some(p)) => {
            let roles = p.role_arns();
            if !p.enabled().unwrap_or(false) {
                l.say(pc.fail(
                    format!("profile {} is disabled", l.c.profile_arn),
                    "the profile is disabled: Roles Anywhere refuses every session through it",
                    "run `xpart apply` (the plan keeps it enabled), or `aws rolesanywhere enable-profile`",
                ));
            } else if !roles.iter().any(|r| r == &l.c.role_arn) {
                l.say(pc.fail(
                    format!(
                        "profile {} does not name role {}",
                        l.c.profile_arn, l.c.role_arn
                    ),
                    "a session may only assume a role its profile names",
                    "run `xpart apply`",
                ));
            } else {
                l.say(pc.pass(format!("enabled, names {}", l.c.role_arn)));
            }
            mapped = Some(
                p.attribute_mappings()
                    .iter()
                    .map(|m| {
                        let field = m
                            .certificate_field()
                            .map(|f| f.as_str().to_string())
                            .unwrap_or_default();
                        let specs = m
                            .mapping_rules()
                            .iter()
                            .map(|r| r.specifier().to_string())
                            .collect();
                        (field, specs)
                    })
                    .collect(),
            );
        }
    }
    mapped
}

/// The role: there, and trusting this anchor.
async fn role(l: &Link<'_>) {
    let t = Instant::now();
    let role = l
        .part
        .clients
        .iam
        .get_role()
        .role_name(&l.c.role_name)
        .send()
        .await;
    let rc = Check::new(l.name(), format!("role {}", l.c.role_name), t);
    l.say(match role {
        Err(e) => rc.fail(
            l.part.clients.error("GetRole", e).to_string(),
            "the role the profile names cannot be read",
            "run `xpart apply`",
        ),
        Ok(out) => {
            let trust = out
                .role()
                .and_then(|r| r.assume_role_policy_document())
                .map(crate::engine::types::iam::percent_decode)
                .unwrap_or_default();
            if trust.contains(&l.c.anchor_arn) {
                rc.pass(format!("its trust names trust anchor {}", l.c.anchor_arn))
            } else {
                rc.fail(
                    format!("its trust does not name trust anchor {}", l.c.anchor_arn),
                    "Roles Anywhere may only assume a role whose trust names the anchor (aws:SourceArn)",
                    "run `xpart apply`: the plan's trust names it",
                )
            }
        }
    });
}

/// The subject's fields that the profile's mapping makes session tags.
fn session_tags(l: &Link<'_>, leaf: &Cert, mapped: Option<&[(String, Vec<String>)]>) {
    let t = Instant::now();
    // No mapping read, or none set: Roles Anywhere's default maps every subject field.
    let keeps = |f: &str| match mapped {
        None | Some([]) => true,
        Some(m) => m.iter().any(|(field, specs)| {
            field == "x509Subject" && specs.iter().any(|s| s == "*" || s == f)
        }),
    };
    let tags: Vec<String> = leaf
        .fields
        .iter()
        .filter(|(f, _)| keeps(f))
        .map(|(f, v)| format!("x509Subject/{f}={v}"))
        .collect();
    l.say(
        Check::new(l.name(), "session tags", t).pass(if tags.is_empty() {
            "none of the subject's fields".into()
        } else {
            tags.join(", ")
        }),
    );
}

/// One real CreateSession with the certificate and key, its refusal explained.
async fn create_session(
    l: &Link<'_>,
    leaf: &Cert,
    held: &[String],
    cert_file: &Path,
    key_file: &Path,
) {
    let t = Instant::now();
    let endpoint = l.part.clients.config.endpoint_url().map(str::to_string);
    let got = verify::create_session(verify::args(l.c, cert_file, key_file, endpoint)).await;
    verify::discard(&l.c.pair, cert_file, key_file);
    let sc = Check::new(l.name(), "CreateSession", t);
    l.say(match got {
        Ok(creds) => sc.pass(format!(
            "credentials for {} until {}",
            l.c.role_arn, creds.expiration
        )),
        Err(e) => {
            let text = e.to_string();
            let (cause, fix) = if text.contains("Untrusted signing certificate") {
                (
                    format!("untrusted certificate: trust anchor {} (holding {}) does not vouch for a certificate issued by {}", l.c.anchor_arn, held.join("; "), leaf.issuer),
                    "issue the certificate from the anchor's CA (`xpart apply`), or add its CA to the anchor",
                )
            } else if text.contains("revoked") {
                (
                    "the certificate is revoked".into(),
                    "`xpart apply` issues a new one",
                )
            } else if text.contains("Profile is disabled") {
                (
                    format!("profile {} is disabled", l.c.profile_arn),
                    "`xpart apply`, or `aws rolesanywhere enable-profile`",
                )
            } else {
                (
                    "Roles Anywhere refused the session".into(),
                    "see the message; `xpart verify` proves each step",
                )
            };
            sc.fail(text, cause, fix)
        }
    });
}

/// The attempts Roles Anywhere recorded for the certificate (ListSubjects, GetSubject).
async fn recorded(l: &Link<'_>, leaf: &Cert) {
    let t = Instant::now();
    let name = "recorded CreateSession attempts";
    let Ok(subjects) = l.ra().list_subjects().send().await else {
        l.say(
            Check::new(l.name(), name, t)
                .warn("ListSubjects was refused or failed: the recorded attempts are not shown"),
        );
        return;
    };
    let ours = |s: &str| {
        let s = s.trim_start_matches('0').to_ascii_lowercase();
        s == leaf.serial_hex.trim_start_matches('0') || s == leaf.serial_dec
    };
    // The subjects' details at once: one round trip, however many subjects (up to 20).
    let details = futures::future::join_all(
        subjects
            .subjects()
            .iter()
            .take(20)
            .filter_map(|s| s.subject_id())
            .map(|sid| l.ra().get_subject().subject_id(sid).send()),
    )
    .await;
    // When each attempt with this certificate was seen, and whether it failed.
    let attempts: Vec<(String, bool)> = details
        .iter()
        .flatten()
        .filter_map(|d| d.subject())
        .flat_map(|d| d.credentials())
        .filter(|cr| cr.serial_number().is_some_and(ours))
        .map(|cr| {
            let at = cr.seen_at().map(|t| t.to_string()).unwrap_or_default();
            (at, cr.failed().unwrap_or(false))
        })
        .collect();
    let mut failed: Vec<&str> = attempts
        .iter()
        .filter(|(_, f)| *f)
        .map(|(at, _)| at.as_str())
        .collect();
    failed.sort_unstable_by(|a, b| b.cmp(a));
    let c = Check::new(l.name(), name, t);
    let seen = attempts.len();
    l.say(if failed.is_empty() {
        c.pass(format!("{seen} recorded, none failed"))
    } else {
        let last = failed[..failed.len().min(3)].join(", ");
        c.warn(format!(
            "{seen} recorded, {} failed; the last at {last}",
            failed.len()
        ))
    });
}
