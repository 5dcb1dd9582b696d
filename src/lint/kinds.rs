//! Rules per resource type: policies, trust, secret sources, keys, anchors, profiles, PKI and
//! the EC2 network.

use super::*;

/// The resource's policy documents, each with where it is.
pub(crate) fn documents(r: &ResourceDef) -> Vec<(Path, Json)> {
    let at = props(r);
    with_props!(&r.kind, |p, T| <T as Rules>::documents(p, &at))
}

/// The rules of `r`'s type, and those of its policy documents.
pub(crate) fn kind_rules(
    cx: &mut Checker,
    r: &ResourceDef,
    part: Option<&PartitionDef>,
    base: &FsPath,
) {
    policy_rules(cx, r, part);
    let at = &props(r);
    let env = Env { part, base };
    with_props!(&r.kind, |p, T| <T as Rules>::check(p, cx, at, &env));
}

/// Policy documents (trust, inline, key, session): statements, principals, wildcards.
pub(crate) fn policy_rules(cx: &mut Checker, r: &ResourceDef, part: Option<&PartitionDef>) {
    for (doc_at, doc) in documents(r) {
        if doc.get("Statement").is_none() {
            cx.push(
                Finding::error("XP044", "a policy document needs a `Statement`")
                    .at(cx.value(&doc_at))
                    .hint("write Version and Statement as in IAM's JSON policy grammar"),
            );
        }
        for (i, st) in policy::statements(&doc).into_iter().enumerate() {
            let st_at = doc_at.key("Statement");
            let st_at = if doc.get("Statement").is_some_and(Json::is_array) {
                st_at.index(i)
            } else {
                st_at
            };
            let allow = st.get("Effect").and_then(Json::as_str) == Some("Allow");
            for (kind, who) in policy::principals(st) {
                if who == "*" && allow && st.get("Condition").is_none() {
                    cx.push(
                        Finding::error(
                            "XP042",
                            "a wildcard principal without a condition lets anyone in",
                        )
                        .at(cx.key(&st_at.key("Principal")))
                        .hint("name the principal, or add a Condition that narrows it"),
                    );
                }
                if let Some(p) = part {
                    if kind == "Service" && p.partition.foreign_service_principal(who) {
                        cx.push(
                            Finding::error("XP021", format!("service principal `{who}` belongs to AWS China, but `{}` is in {}", r.id, p.partition))
                                .at(cx.source.span_within(&st_at.key("Principal"), who))
                                .hint(format!("use `{}`", who.trim_end_matches(".cn"))),
                        );
                    }
                }
                if kind == "Service" && who == "rolesanywhere.amazonaws.com" && allow {
                    let binds = st
                        .get("Condition")
                        .and_then(Json::as_object)
                        .is_some_and(|c| {
                            c.values().any(|ops| {
                                ops.as_object().is_some_and(|o| {
                                    o.keys().any(|k| k.eq_ignore_ascii_case("aws:SourceArn"))
                                })
                            })
                        });
                    if !binds {
                        cx.push(
                            Finding::warning("XP041", "Roles Anywhere trust without an aws:SourceArn condition: any trust anchor in the account can hand out this role")
                                .at(cx.key(&st_at.key("Principal")))
                                .hint("use `trust: {roles_anywhere: {trust_anchor: ${anchor.arn}}}`, or add ArnEquals aws:SourceArn"),
                        );
                    }
                }
            }
        }
    }
}

pub(crate) fn role_rules(cx: &mut Checker, at: &Path, role: &plan::types::Role) {
    check_name(cx, &at.key("name"), &role.name, &ROLE_NAME);
    let set = [
        role.trust.service.is_some(),
        role.trust.roles_anywhere.is_some(),
        role.trust.document.is_some(),
    ];
    if set.iter().filter(|b| **b).count() != 1 {
        cx.push(
            Finding::error(
                "XP058",
                "`trust` needs exactly one of `service`, `roles_anywhere`, `document`",
            )
            .at(cx.key(&at.key("trust")))
            .hint("e.g. `trust: {service: ec2}`"),
        );
    }
    if let Some(svc) = &role.trust.service {
        if svc.contains('.') {
            cx.push(Finding::error("XP021", format!("`service: {svc}` takes a short service name; the principal comes from the partition table")).at(cx.value(&at.key("trust").key("service"))).hint(format!("write `service: {}`", svc.split('.').next().unwrap_or(svc))));
        }
    }
    for (n, pol) in &role.policies {
        for (i, s) in pol.statements.iter().enumerate() {
            if s.actions.iter().any(|a| a == "*") && s.resources.iter().any(|r| r == "*") {
                cx.push(
                    Finding::warning(
                        "XP043",
                        "a statement allowing every action on every resource",
                    )
                    .at(cx.key(&at.key("policies").key(n).key("statements").index(i)))
                    .hint("list the actions and resource ARNs the role needs"),
                );
            }
            for (j, a) in s.actions.iter().enumerate() {
                if a != "*" && !a.contains(':') {
                    cx.push(Finding::error("XP062", format!("action `{a}` has no service prefix")).at(cx.value(&at.key("policies").key(n).key("statements").index(i).key("actions").index(j))).hint("write actions as service:Action, e.g. secretsmanager:GetSecretValue"));
                }
            }
        }
    }
}

pub(crate) fn secret_rules(cx: &mut Checker, at: &Path, s: &plan::types::Secret) {
    check_name(cx, &at.key("name"), &s.name, &SECRET_NAME);
    let v = &s.value;
    if v.sources() != 1 {
        cx.push(
            Finding::error(
                "XP058",
                "`value` needs exactly one of `env`, `file`, `files`, `generate`, `literal`",
            )
            .at(cx.key(&at.key("value")))
            .hint("e.g. `value: {env: MY_SECRET}`"),
        );
    }
    if v.literal.is_some() && !s.allow_literal {
        cx.push(
                Finding::error("XP057", "a literal secret value is written in the plan")
                    .at(cx.value(&at.key("value").key("literal")))
                    .hint("read it from `env:` or `file:`, or let the service `generate:` it; `allow_literal: true` if this is really a test value")
                    .conceal_source(),
            );
    }
    if let Some(w) = s.recovery_window_days {
        if !(7..=30).contains(&w) {
            cx.push(
                Finding::error("XP059", format!("recovery window {w} is outside 7–30 days"))
                    .at(cx.value(&at.key("recovery_window_days")))
                    .hint("use 7–30, or `force_delete: true` for no recovery"),
            );
        }
    }
}

pub(crate) fn key_rules(
    cx: &mut Checker,
    at: &Path,
    k: &plan::types::KmsKey,
    part: Option<&PartitionDef>,
) {
    if let Some(problem) = k.alias.as_deref().and_then(alias_problem) {
        cx.push(
            Finding::error("XP052", problem)
                .at(cx.value(&at.key("alias")))
                .hint("start with `alias/` (not `alias/aws/`), then letters, digits and /_-"),
        );
    }
    if let Some(w) = k.deletion_window_days {
        if !(7..=30).contains(&w) {
            cx.push(
                Finding::error("XP059", format!("deletion window {w} is outside 7–30 days"))
                    .at(cx.value(&at.key("deletion_window_days")))
                    .hint("KMS schedules key deletion 7 to 30 days out"),
            );
        }
    }
    // What a key is for decides who may use it how: a signing key has no decrypting users, a
    // key to encrypt no signers, and only a signing key has a key spec.
    let sign = k.usage == Some(plan::types::KeyUsage::Sign);
    let misfit = [
        (
            sign && !k.users.is_empty(),
            "users",
            "a signing key decrypts nothing: name its principals in `signers`",
        ),
        (
            !sign && !k.signers.is_empty(),
            "signers",
            "only a key with `usage: sign` has signers",
        ),
        (
            !sign && k.key_spec.is_some(),
            "key_spec",
            "a key to encrypt is symmetric: `key_spec` goes with `usage: sign`",
        ),
    ];
    for (bad, field, why) in misfit {
        if bad {
            cx.push(
                Finding::error("XP069", format!("`{field}` does not fit this key's usage"))
                    .at(cx.key(&at.key(field)))
                    .hint(why),
            );
        }
    }
    if let (Some(doc), Some(p)) = (&k.policy, part) {
        if !policy::key_policy_keeps_account(&policy::yaml_to_json(doc), p) {
            cx.push(
                    Finding::error("XP040", "this key policy locks the account out: no statement gives the account principal kms:* or kms:PutKeyPolicy")
                        .at(cx.key(&at.key("policy")))
                        .hint(format!("add the default statement: Principal AWS {}, Action kms:*, Resource *", p.partition.account_principal(&policy::account_of(p)))),
                );
        }
    }
}

pub(crate) fn anchor_rules(
    cx: &mut Checker,
    at: &Path,
    ta: &plan::types::TrustAnchor,
    base: &FsPath,
) {
    check_name(cx, &at.key("name"), &ta.name, &TRUST_ANCHOR_NAME);
    let given = [
        ta.ca.is_some(),
        !ta.cas.is_empty(),
        ta.certificate_file.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        cx.push(
            Finding::error(
                "XP058",
                "a trust anchor needs exactly one of `ca`, `cas` and `certificate_file`",
            )
            .at(cx.key(at))
            .hint("e.g. `ca: ${root_ca.id}`"),
        );
    }
    if let Some(f) = &ta.certificate_file {
        check_ca_file(cx, &at.key("certificate_file"), f, base);
    }
    let n = &ta.notifications;
    for (event, setting) in [
        ("ca_certificate_expiry", &n.ca_certificate_expiry),
        (
            "end_entity_certificate_expiry",
            &n.end_entity_certificate_expiry,
        ),
    ] {
        let Some(s) = setting else { continue };
        let here = at.key("notifications").key(event);
        match s.threshold_days {
            Some(d) if !(1..=360).contains(&d) => cx.push(
                Finding::error(
                    "XP071",
                    format!("notification threshold {d} days is outside 1–360"),
                )
                .at(cx.value(&here.key("threshold_days")))
                .hint("Roles Anywhere notifies 1 to 360 days before an expiry"),
            ),
            None if s.enabled => cx.push(
                Finding::error("XP071", "an enabled notification needs `threshold_days`")
                    .at(cx.key(&here))
                    .hint("e.g. `{enabled: true, threshold_days: 60}`"),
            ),
            _ => {}
        }
    }
}

pub(crate) fn crl_rules(cx: &mut Checker, at: &Path, c: &plan::types::Crl) {
    check_name(cx, &at.key("name"), &c.name, &PROFILE_NAME);
    if let Some(d) = c.validity_days {
        if !(60..=3650).contains(&d) {
            cx.push(
                Finding::error(
                    "XP072",
                    format!("a CRL holding {d} days is outside 60–3650"),
                )
                .at(cx.value(&at.key("validity_days")))
                .hint("xpart signs it again once fewer than 30 days are left"),
            );
        }
    }
    for (i, s) in c.revoked.iter().enumerate() {
        if crate::pki::crl::normalize_serial(s).is_none() {
            cx.push(
                Finding::error("XP072", format!("`{s}` is not a serial number in hex"))
                    .at(cx.value(&at.key("revoked").index(i)))
                    .hint("as `openssl x509 -serial` prints it (`1A2B…`), or the secret's `xpart:cert-serial-hex` tag"),
            );
        }
    }
}

pub(crate) fn profile_rules(cx: &mut Checker, at: &Path, pr: &plan::types::Profile) {
    check_name(cx, &at.key("name"), &pr.name, &PROFILE_NAME);
    if let Some(d) = pr.duration_seconds {
        if !(900..=43200).contains(&d) {
            cx.push(
                Finding::error(
                    "XP055",
                    format!("session duration {d} s is outside 900–43200"),
                )
                .at(cx.value(&at.key("duration_seconds")))
                .hint("Roles Anywhere sessions last 15 minutes to 12 hours"),
            );
        }
    }
    if pr.roles.is_empty() {
        cx.push(
            Finding::error("XP058", "a profile needs at least one role")
                .at(cx.key(&at.key("roles")))
                .hint("roles: [${role.arn}]"),
        );
    }
    for (field, specifiers) in pr.attribute_mappings.iter().flatten() {
        let here = at.key("attribute_mappings").key(field.as_str());
        for (i, s) in specifiers.iter().enumerate() {
            if s.is_empty() || s.len() > 60 {
                cx.push(
                    Finding::error("XP071", "a mapping specifier is 1 to 60 characters")
                        .at(cx.value(&here.index(i)))
                        .hint("e.g. `CN`, `OU`, `*` (every field), `DNS`, `Name/*`"),
                );
            }
        }
    }
}

pub(crate) fn ca_rules(cx: &mut Checker, at: &Path, ca: &plan::types::PkiCa, base: &FsPath) {
    if ca.kms_key.is_some() {
        // A key held by KMS makes no files and imports nothing.
        for (field, set) in [
            ("key", ca.key.is_some()),
            ("import", ca.import.is_some()),
            ("dir", ca.dir.is_some()),
        ] {
            if set {
                cx.push(
                    Finding::error(
                        "XP070",
                        format!("a CA held by `kms_key` takes no `{field}`"),
                    )
                    .at(cx.key(&at.key(field)))
                    .hint(format!(
                        "remove `{field}` (the KMS key's `key_spec` is the CA's key), or remove `kms_key` to keep the CA in files"
                    )),
                );
            }
        }
    }
    if let Some(s) = &ca.subject {
        subject_characters(cx, at, s);
    }
    if let Some(d) = &ca.dir {
        check_dir(cx, &at.key("dir"), d);
    }
    if let Some(k) = &ca.key {
        key_spec(cx, &at.key("key"), k);
    }
    if let Some(imp) = &ca.import {
        check_ca_file(
            cx,
            &at.key("import").key("certificate_file"),
            &imp.certificate_file,
            base,
        );
    } else if ca.subject.is_none() {
        cx.push(
            Finding::error("XP004", "a generated CA needs a `subject`")
                .at(cx.key(at))
                .hint("subject: {common_name: my-root-ca}, or `import:` an existing CA"),
        );
    }
}

pub(crate) fn cert_rules(cx: &mut Checker, at: &Path, c: &plan::types::PkiCert) {
    subject_characters(cx, at, &c.subject);
    if let Some(d) = &c.dir {
        check_dir(cx, &at.key("dir"), d);
    }
    if let Some(k) = &c.key {
        key_spec(cx, &at.key("key"), k);
    }
}

pub(crate) fn route_rules(cx: &mut Checker, at: &Path, rt: &plan::types::RouteTable) {
    for (i, route) in rt.routes.iter().enumerate() {
        cidr(
            cx,
            &at.key("routes").index(i).key("destination"),
            &route.destination,
        );
    }
}

pub(crate) fn security_group_rules(cx: &mut Checker, at: &Path, sg: &plan::types::SecurityGroup) {
    for (i, rule) in sg.ingress.iter().enumerate() {
        let rat = at.key("ingress").index(i);
        cidr(cx, &rat.key("cidr"), &rule.cidr);
        let ports = rule.port.is_some() || rule.from_port.is_some() || rule.to_port.is_some();
        if !["tcp", "udp", "icmp", "-1"].contains(&rule.protocol.as_str()) {
            cx.push(
                Finding::error(
                    "XP061",
                    format!("protocol `{}` is not tcp, udp, icmp or -1", rule.protocol),
                )
                .at(cx.value(&rat.key("protocol")))
                .hint("use tcp, udp, icmp or -1 (all)"),
            );
        } else if ["tcp", "udp"].contains(&rule.protocol.as_str()) && !ports {
            cx.push(
                Finding::error(
                    "XP061",
                    "a tcp or udp rule needs `port` or `from_port`/`to_port`",
                )
                .at(cx.key(&rat))
                .hint("e.g. port: 22"),
            );
        }
        if let (Some(f), Some(t)) = (rule.from_port, rule.to_port) {
            if f > t {
                cx.push(
                    Finding::error("XP061", format!("from_port {f} is above to_port {t}"))
                        .at(cx.value(&rat.key("from_port")))
                        .hint("swap them"),
                );
            }
        }
    }
}

pub(crate) fn cidr(cx: &mut Checker, at: &Path, s: &str) {
    let (s, complete) = known(s);
    if !complete {
        return;
    }
    let ok = s.split_once('/').is_some_and(|(ip, len)| {
        ip.parse::<std::net::Ipv4Addr>().is_ok() && len.parse::<u8>().is_ok_and(|n| n <= 32)
    });
    if !ok {
        cx.push(
            Finding::error("XP061", format!("`{s}` is not an IPv4 CIDR block"))
                .at(cx.value(at))
                .hint("e.g. 10.0.0.0/16"),
        );
    }
}
