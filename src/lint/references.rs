//! Rules about references between resources: ARNs and references of another partition,
//! references to a resource of the wrong type, and roles that trust a CN no certificate has.

use super::*;
use crate::plan::types::{
    CertificateField, Crl, KeyUsage, KmsKey, PkiCa, PkiCert, Profile, Role, Secret, TrustAnchor,
};

/// ARNs and references of another partition in fields that name things in this one.
pub(crate) fn cross_partition(cx: &mut Checker, r: &ResourceDef, p: &PartitionDef) {
    let mut leaves = vec![];
    plan::strings_where(
        &r.properties,
        &props(r),
        &|s| s.contains("arn:") || plan::has_template(s),
        &mut leaves,
    );
    for (path, s) in leaves {
        let field = path.0.get(3).and_then(|s| match s {
            plan::Seg::Key(k) => Some(k.as_str()),
            _ => None,
        });
        if field.is_some_and(|f| FREE_FIELDS.contains(&f)) {
            continue;
        }
        let mut rest = s;
        while let Some(i) = rest.find("arn:") {
            let after = &rest[i + 4..];
            let part = after.split(':').next().unwrap_or_default();
            if !part.is_empty() && !part.contains('$') && part != p.partition.id() {
                let needle = format!("arn:{part}:");
                let span = cx.source.span_within(&path, &needle);
                // The raw text may spell the partition through ${partitions.X.partition}.
                let span = if span == cx.value(&path) {
                    cx.source.span_within(&path, "arn:")
                } else {
                    span
                };
                cx.push(
                    Finding::error(
                        "XP020",
                        format!("ARN of partition `{part}` in `{}`, which is in {} (`{}`)", r.id, p.partition, p.name),
                    )
                    .at(span)
                    .hint(format!(
                        "refer to a resource of `{}` (${{id.arn}}) or build the ARN with ${{partitions.{}.partition}}; AWS rejects principals and resources of another partition",
                        p.name, p.name
                    )),
                );
            }
            rest = after;
        }
        let Ok(t) = Template::parse(s) else { continue };
        for (rid, _, text) in t.refs() {
            cx.later.fresh.push(Pending::SamePartition {
                from: r.id.clone(),
                path: path.clone(),
                text: text.to_string(),
                rid: rid.to_string(),
                partition: p.partition,
            });
        }
    }
}

/// Properties whose single reference must point at a resource of a given type: the type's
/// declared `REFERENCES`.
pub(crate) fn reference_types(cx: &mut Checker, r: &ResourceDef) {
    let Some(info) = plan::types::type_info(&r.type_name) else {
        return;
    };
    let checks: Vec<(Path, &'static str)> = info
        .references
        .iter()
        .flat_map(|(pattern, want)| expand(r, pattern).into_iter().map(move |at| (at, *want)))
        .collect();
    for (at, want) in checks {
        let mut leaves = vec![];
        if let Some(v) = lookup(&r.properties, &at.0[3..]) {
            plan::strings_where(v, &at, &plan::has_template, &mut leaves);
        }
        for (path, s) in leaves {
            let Ok(t) = Template::parse(s) else { continue };
            if let Some((rid, _)) = t.single_ref() {
                cx.later.fresh.push(Pending::Type {
                    from: r.id.clone(),
                    path,
                    rid: rid.to_string(),
                    want,
                });
            }
        }
    }
}

/// The property paths `pattern` names in `r`: dotted names, `[]` after one for each element of
/// its list.
fn expand(r: &ResourceDef, pattern: &str) -> Vec<Path> {
    let mut paths = vec![props(r)];
    for seg in pattern.split('.') {
        let (name, each) = match seg.strip_suffix("[]") {
            Some(name) => (name, true),
            None => (seg, false),
        };
        paths = paths
            .into_iter()
            .flat_map(|p| {
                let p = p.key(name);
                if !each {
                    return vec![p];
                }
                let n = lookup(&r.properties, &p.0[3..])
                    .and_then(|v| v.as_sequence())
                    .map_or(0, Vec::len);
                (0..n).map(|i| p.index(i)).collect()
            })
            .collect();
    }
    paths
}

pub(crate) fn lookup<'v>(
    v: &'v serde_yaml::Value,
    segs: &[plan::Seg],
) -> Option<&'v serde_yaml::Value> {
    let mut cur = v;
    for s in segs {
        cur = match s {
            plan::Seg::Key(k) => cur.get(k.as_str())?,
            plan::Seg::Index(i) => cur.get(*i)?,
        };
    }
    Some(cur)
}

/// A role that trusts one certificate subject CN (`roles_anywhere.subject_cn`) must be
/// reachable by a certificate of the plan when the plan issues that anchor's certificates: a CN
/// that differs by one look-alike character (a Cyrillic `с` for a Latin `c`) otherwise passes
/// every check and fails only when the workload asks for credentials. Subject fields that mix
/// scripts get a warning of their own (`subject_characters`).
pub(crate) fn trusted_subjects(cx: &mut Checker, spec: &Plan) {
    // The plan's certificates by issuing CA, once: (cert id, its CN as known).
    let mut by_ca: std::collections::HashMap<String, Vec<(&String, String)>> =
        std::collections::HashMap::new();
    for c in spec.resources.values() {
        // A `pki.cert`, or a certificate issued into a secret.
        let issued = c
            .kind
            .get::<PkiCert>()
            .map(|pc| (&pc.ca, &pc.subject))
            .or_else(|| {
                let ic = c.kind.get::<Secret>()?.value.certificate.as_ref()?;
                Some((&ic.ca, &ic.subject))
            });
        if let Some((ca, subject)) = issued {
            if let Some(ca) = single_ref_id(ca) {
                by_ca
                    .entry(ca)
                    .or_default()
                    .push((&c.id, known(&subject.common_name).0.into_owned()));
            }
        }
    }
    for r in spec.resources.values() {
        let Some(role) = r.kind.get::<Role>() else {
            continue;
        };
        let Some(ra) = &role.trust.roles_anywhere else {
            continue;
        };
        let Some(cn) = ra.subject_cn.as_deref() else {
            continue;
        };
        let (cn, complete) = known(cn);
        let Some(anchor) = single_ref_id(&ra.trust_anchor).and_then(|a| spec.resources.get(&a))
        else {
            continue;
        };
        let Some(ta) = anchor.kind.get::<TrustAnchor>() else {
            continue;
        };
        // During a rotation the anchor holds several CAs: a certificate of any will do.
        let cas: Vec<String> = ta.ca_refs().into_iter().filter_map(single_ref_id).collect();
        let Some(ca) = cas.iter().find(|ca| by_ca.contains_key(*ca)).cloned() else {
            continue;
        };
        let certs: Vec<_> = cas
            .iter()
            .filter_map(|ca| by_ca.get(ca))
            .flatten()
            .collect();
        if !complete || certs.iter().any(|(_, c)| *c == cn) {
            continue;
        }
        let theirs = certs
            .iter()
            .map(|(id, c)| {
                format!(
                    "`{}` ({id}){}",
                    crate::diag::excerpt(c, 64),
                    crate::diag::non_ascii(c)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let at = props(r)
            .key("trust")
            .key("roles_anywhere")
            .key("subject_cn");
        cx.push(
            Finding::error(
                "XP067",
                format!(
                    "role `{}` trusts certificates with CN `{}`{}, but the plan's certificates of CA `{ca}` have CN {theirs}",
                    r.id,
                    crate::diag::excerpt(&cn, 64),
                    crate::diag::non_ascii(&cn)
                ),
            )
            .at(cx.value(&at))
            .hint("make `subject_cn` and the certificate's `common_name` the same text; Roles Anywhere compares them exactly"),
        );
    }
}

/// A CA held by KMS needs a signing key, and issues only into secrets: its key never leaves
/// KMS, so there is no key file for a `pki.cert` to be signed with.
pub(crate) fn held_cas(cx: &mut Checker, spec: &Plan) {
    for r in spec.resources.values() {
        if let Some(ca) = r.kind.get::<PkiCa>() {
            let key = ca.kms_key.as_deref().and_then(single_ref_id);
            let usage = key
                .as_ref()
                .and_then(|k| spec.resources.get(k))
                .and_then(|k| k.kind.get::<KmsKey>())
                .map(|k| k.usage.unwrap_or(KeyUsage::Encrypt));
            if usage == Some(KeyUsage::Encrypt) {
                cx.push(
                    Finding::error(
                        "XP070",
                        format!(
                            "CA `{}` is held by `{}`, a key that encrypts: a CA's key must sign",
                            r.id,
                            key.unwrap_or_default()
                        ),
                    )
                    .at(cx.value(&props(r).key("kms_key")))
                    .hint("give that kms.key `usage: sign` and a `key_spec` (e.g. rsa_3072)"),
                );
            }
        }
        let Some(cert) = r.kind.get::<PkiCert>() else {
            continue;
        };
        let held = single_ref_id(&cert.ca)
            .and_then(|c| spec.resources.get(&c))
            .and_then(|c| c.kind.get::<PkiCa>())
            .is_some_and(|c| c.kms_key.is_some());
        if held {
            cx.push(
                Finding::error(
                    "XP070",
                    format!(
                        "`{}` is a pki.cert of a CA held by KMS, which has no key file to sign it with",
                        r.id
                    ),
                )
                .at(cx.value(&props(r).key("ca")))
                .hint("issue it into the secret that carries it: `value: {certificate: {ca: …, subject: …}}` on a secretsmanager.secret"),
            );
        }
    }
}

/// A character Roles Anywhere cannot put into a session tag value: tag values are letters,
/// digits, spaces and `_ . : / = + - @` (IAM User Guide, "Tagging IAM resources": tag naming
/// rules), and a session with a mapped field outside that set fails (credential-helper issues
/// #77 and #188, Terraform #48211).
fn untaggable(text: &str) -> Option<char> {
    text.chars()
        .find(|c| !(c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(*c)))
}

/// How a plan's profiles map one certificate field: whether any maps `specifier` of `field`
/// (a profile without `attribute_mappings` maps every subject and issuer field).
fn mapped(spec: &Plan, field: CertificateField, specifier: &str) -> bool {
    spec.resources
        .values()
        .filter_map(|r| r.kind.get::<Profile>())
        .any(|p| match &p.attribute_mappings {
            None => field != CertificateField::San,
            Some(m) => m
                .get(&field)
                .is_some_and(|s| s.iter().any(|x| x == "*" || x == specifier)),
        })
}

/// Subject fields of the plan's certificates (a client's: `x509Subject`; a CA's, which is its
/// clients' issuer: `x509Issuer`) that a profile maps into a session tag and that hold a
/// character no tag value may hold.
pub(crate) fn session_tag_subjects(cx: &mut Checker, spec: &Plan) {
    for r in spec.resources.values() {
        let (field, subject, at) = if let Some(ca) = r.kind.get::<PkiCa>() {
            // An imported CA has no subject in the plan: lint cannot see it.
            let Some(subject) = &ca.subject else { continue };
            (CertificateField::Issuer, subject, props(r).key("subject"))
        } else if let Some(c) = r.kind.get::<PkiCert>() {
            (
                CertificateField::Subject,
                &c.subject,
                props(r).key("subject"),
            )
        } else if let Some(ic) = r
            .kind
            .get::<Secret>()
            .and_then(|s| s.value.certificate.as_ref())
        {
            let at = props(r).key("value").key("certificate").key("subject");
            (CertificateField::Subject, &ic.subject, at)
        } else {
            continue;
        };
        let fields = [
            ("common_name", "CN", Some(&subject.common_name)),
            ("organization", "O", subject.organization.as_ref()),
            (
                "organizational_unit",
                "OU",
                subject.organizational_unit.as_ref(),
            ),
            ("country", "C", subject.country.as_ref()),
        ];
        for (name, short, value) in fields {
            let Some(value) = value else { continue };
            let (text, _) = known(value);
            let Some(bad) = untaggable(&text) else {
                continue;
            };
            if !mapped(spec, field, short) {
                continue;
            }
            cx.push(
                Finding::error(
                    "XP073",
                    format!(
                        "subject {name} `{}` holds `{bad}`, which no session tag may hold: a profile maps it to `{}/{short}`, and Roles Anywhere then refuses the session",
                        crate::diag::excerpt(&text, 64),
                        field.as_str()
                    ),
                )
                .at(cx.value(&at.key(name)))
                .hint(format!(
                    "use only letters, digits, spaces and _ . : / = + - @ in it, or leave `{short}` out of the profiles' `attribute_mappings` for {}",
                    field.as_str()
                )),
            );
        }
    }
}

/// Profiles whose attribute mapping leaves out the subject CN that a role of theirs trusts:
/// the trust's condition on `aws:PrincipalTag/x509Subject/CN` then never matches (User Guide,
/// "Attribute mapping and trust policy").
pub(crate) fn mapped_trust(cx: &mut Checker, spec: &Plan) {
    for r in spec.resources.values() {
        let Some(p) = r.kind.get::<Profile>() else {
            continue;
        };
        let Some(m) = &p.attribute_mappings else {
            continue;
        };
        let maps_cn = m
            .get(&CertificateField::Subject)
            .is_some_and(|s| s.iter().any(|x| x == "*" || x == "CN"));
        if maps_cn {
            continue;
        }
        for role_ref in &p.roles {
            let Some(role) = single_ref_id(role_ref).and_then(|id| spec.resources.get(&id)) else {
                continue;
            };
            let trusts_cn = role
                .kind
                .get::<Role>()
                .and_then(|ro| ro.trust.roles_anywhere.as_ref())
                .is_some_and(|ra| ra.subject_cn.is_some());
            if !trusts_cn {
                continue;
            }
            cx.push(
                Finding::error(
                    "XP074",
                    format!(
                        "role `{}` trusts a subject CN, but profile `{}` does not map the subject's CN into the session, so the trust never matches",
                        role.id, r.id
                    ),
                )
                .at(cx.key(&props(r).key("attribute_mappings")))
                .hint("add `CN` (or `*`) to `x509Subject` in the profile's `attribute_mappings`"),
            );
        }
    }
}

/// A CRL changes what its trust anchor accepts, so it is imported only into the plan's own
/// anchor (a `${<anchor>.arn}` reference, never a literal ARN, which could name another's),
/// and signed by a CA that anchor holds (Roles Anywhere checks a CRL against the certificate's
/// issuer).
pub(crate) fn crl_targets(cx: &mut Checker, spec: &Plan) {
    for r in spec.resources.values() {
        let Some(crl) = r.kind.get::<Crl>() else {
            continue;
        };
        let anchor = single_ref_id(&crl.trust_anchor)
            .and_then(|id| spec.resources.get(&id))
            .and_then(|a| a.kind.get::<TrustAnchor>());
        let Some(anchor) = anchor else {
            cx.push(
                Finding::error(
                    "XP072",
                    format!("CRL `{}` is not for a trust anchor of this plan", r.id),
                )
                .at(cx.value(&props(r).key("trust_anchor")))
                .hint("name the plan's anchor: `trust_anchor: ${<anchor>.arn}`; xpart imports revocation lists only into anchors it manages"),
            );
            continue;
        };
        let signer = single_ref_id(&crl.ca);
        let held: Vec<String> = anchor
            .ca_refs()
            .into_iter()
            .filter_map(single_ref_id)
            .collect();
        if signer.as_ref().is_some_and(|s| !held.contains(s)) {
            cx.push(
                Finding::error(
                    "XP072",
                    format!(
                        "CRL `{}` is signed by a CA its trust anchor does not hold",
                        r.id
                    ),
                )
                .at(cx.value(&props(r).key("ca")))
                .hint("sign it with the anchor's CA (`ca:` or one of `cas:` of the anchor)"),
            );
        }
    }
}
