//! `xpart verify`: proves, from where it runs, the chain a plan built: the plan's client
//! certificate → CreateSession → temporary credentials → GetCallerIdentity shows the plan's
//! role → GetSecretValue on the plan's secrets (length and a hash, never the value); and that a
//! certificate from another CA is refused.
//!
//! The chains are read from the plan: each Roles Anywhere profile, each role it names whose
//! trust names a trust anchor of the plan, the client certificate of that anchor's CA (and of
//! the role's subject CN, when it has one), and the secrets the role's policies name.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;

use crate::credential_process::{
    self as cp, CredentialProcessArgs, Environment, ProcessCredentials,
};
use crate::engine::run::{Engine, Planned};
use crate::hex::sha256_hex;
use crate::plan::types::{Kind, PkiCert, Profile, Role, Secret, TrustAnchor};

/// One chain to prove.
#[derive(Debug, Clone)]
pub(crate) struct Chain {
    pub(crate) partition: String,
    pub(crate) profile_arn: String,
    pub(crate) role_arn: String,
    pub(crate) role_name: String,
    pub(crate) anchor_arn: String,
    pub(crate) pair: Pair,
    /// The ids of the `pki.ca`s the anchor holds (their CRLs' serials are checked refused).
    pub(crate) cas: Vec<String>,
    pub(crate) subject_cn: Option<String>,
    /// (resource id, ARN)
    pub(crate) secrets: Vec<(String, String)>,
}

/// Where the client certificate and key come from.
#[derive(Debug, Clone)]
pub(crate) enum Pair {
    /// The plan's files on this machine.
    Files(PathBuf, PathBuf),
    /// No local copy (a machine that never applied the plan): the secret that carries both to
    /// the workload, a PEM bundle, read with this machine's credentials. What the workload uses
    /// is then exactly what is checked.
    Secret {
        id: String,
        partition: String,
        arn: String,
    },
}

/// What one step showed.
pub(crate) struct Step {
    pub(crate) name: String,
    pub(crate) ok: bool,
    pub(crate) detail: String,
    pub(crate) elapsed: Duration,
}

impl Step {
    /// A check named `name`, begun at `t`: whether what it found passes and what to show of
    /// it, or the error that stopped it.
    fn timed(name: String, t: Instant, found: Result<(bool, String), String>) -> Step {
        let (ok, detail) = found.unwrap_or_else(|e| (false, e));
        Step {
            name,
            ok,
            detail,
            elapsed: t.elapsed(),
        }
    }
}

fn out(s: &Step) {
    let mark = if s.ok { "ok  " } else { "FAIL" };
    let _ = writeln!(
        std::io::stdout(),
        "{mark} {} ({} ms): {}",
        s.name,
        s.elapsed.as_millis(),
        s.detail
    );
}

/// The issuing CA (`${ca.id}`) and subject CN of a client certificate the plan makes: a
/// `pki.cert`, or a secret whose value is an issued certificate.
fn certificate_of(k: &Kind) -> Option<(&str, &str)> {
    if let Some(c) = k.get::<PkiCert>() {
        return Some((&c.ca, &c.subject.common_name));
    }
    let c = k.get::<Secret>()?.value.certificate.as_ref()?;
    Some((&c.ca, &c.subject.common_name))
}

/// How long a refused CreateSession is tried again: IAM is eventually consistent, and a role
/// (or its trust) that an apply just made can be refused by Roles Anywhere for seconds (IAM
/// User Guide, "Changes that I make are not always immediately visible").
const TRUST_PROPAGATION: Duration = Duration::from_secs(20);

/// `attempt` until it succeeds, or fails otherwise than AccessDenied, or `TRUST_PROPAGATION`
/// has passed: a denial right after an apply may only mean the trust is on its way.
async fn session_once_visible<T, E: std::fmt::Display, F, Fut>(mut attempt: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let start = Instant::now();
    let mut pause = Duration::from_millis(500);
    let mut n = 1;
    loop {
        match attempt().await {
            Err(e)
                if e.to_string().contains("AccessDenied")
                    && start.elapsed() + pause < TRUST_PROPAGATION =>
            {
                n += 1;
                let _ = writeln!(
                    std::io::stderr(),
                    "note: CreateSession denied; the role's trust may not have reached Roles \
                     Anywhere yet, attempt {n} in {} ms",
                    pause.as_millis()
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(4));
            }
            other => return other,
        }
    }
}

/// Find the chains of a plan from its resources and their live outputs.
/// `apply_line`: the `xpart apply …` command for this plan, for the hint when nothing exists.
pub(crate) fn chains(
    engine: &Engine,
    planned: &Planned,
    apply_line: &str,
) -> Result<Vec<Chain>, String> {
    let spec = engine.spec();
    let mut found = vec![];
    let kind = |id: &str| engine.rendered(planned, id).map_err(|e| e.to_string());
    let output = |id: &str, attr: &str| planned.outputs(id).and_then(|o| o.get(attr)).cloned();
    for (pid, p) in &spec.resources {
        let profile_kind = kind(pid)?;
        let Some(profile) = profile_kind.get::<Profile>() else {
            continue;
        };
        let part = p.partition.clone().unwrap_or_default();
        let profile_arn = output(pid, "arn").ok_or(format!(
            "rolesanywhere.profile `{pid}` does not exist in partition `{part}`: run `{apply_line}` first"
        ))?;
        for role_arn in &profile.roles {
            let Some((rid, _)) = spec.resources.iter().find(|(id, r)| {
                r.type_name == "iam.role" && output(id, "arn").as_deref() == Some(role_arn)
            }) else {
                continue;
            };
            let role_kind = kind(rid)?;
            let Some(role) = role_kind.get::<Role>() else {
                continue;
            };
            let Some(ra) = &role.trust.roles_anywhere else {
                continue;
            };
            let Some((aid, _)) = spec.resources.iter().find(|(id, r)| {
                r.type_name == "rolesanywhere.trust_anchor"
                    && output(id, "arn").as_deref() == Some(ra.trust_anchor.as_str())
            }) else {
                continue;
            };
            let anchor_kind = kind(aid)?;
            let Some(anchor) = anchor_kind.get::<TrustAnchor>() else {
                continue;
            };
            // The client certificate: issued by the anchor's CA, with the role's subject CN.
            let cert = spec.resources.iter().find_map(|(cid, r)| {
                let cert_kind = kind(cid).ok()?;
                let (ca, common_name) = certificate_of(&cert_kind)?;
                let same_ca = anchor.ca_refs().contains(&ca);
                let same_cn = ra.subject_cn.as_deref().is_none_or(|cn| cn == common_name);
                if !(same_ca && same_cn) {
                    return None;
                }
                match r.partition.clone() {
                    // A secret that carries an issued certificate: the pair is only there.
                    Some(partition) => Some(Pair::Secret {
                        id: cid.clone(),
                        partition,
                        arn: output(cid, "arn")?,
                    }),
                    None => pair_of(spec, cid, &output),
                }
            });
            let Some(pair) = cert else {
                // Say what was compared: a CN that differs by a look-alike character is
                // otherwise invisible.
                let cns: Vec<String> = spec
                    .resources
                    .keys()
                    .filter_map(|cid| kind(cid).ok().map(|k| (cid, k)))
                    .filter_map(|(cid, k)| match certificate_of(&k) {
                        Some((ca, cn)) if anchor.ca_refs().contains(&ca) => {
                            Some(format!("`{cn}` ({cid}){}", crate::diag::non_ascii(cn)))
                        }
                        _ => None,
                    })
                    .collect();
                let wanted = match ra.subject_cn.as_deref() {
                    Some(cn) => format!("CN `{cn}`{}", crate::diag::non_ascii(cn)),
                    None => "any CN".into(),
                };
                return Err(format!(
                    "no client certificate of the plan matches trust anchor {aid} and role {rid}: \
                     the role trusts {wanted}; the certificates of that anchor's CA have {}",
                    if cns.is_empty() {
                        "none in the plan".to_string()
                    } else {
                        format!("CN {}", cns.join(", "))
                    }
                ));
            };
            let policies = serde_json::to_string(&role.policies).unwrap_or_default();
            let secrets = spec
                .resources
                .iter()
                .filter(|(_, r)| {
                    r.type_name == "secretsmanager.secret"
                        && r.partition.as_deref() == Some(part.as_str())
                })
                .filter_map(|(sid, _)| Some((sid.clone(), output(sid, "arn")?)))
                .filter(|(_, arn)| policies.contains(arn.as_str()))
                .collect();
            found.push(Chain {
                partition: part.clone(),
                profile_arn: profile_arn.clone(),
                role_arn: role_arn.clone(),
                role_name: role.name.clone(),
                anchor_arn: ra.trust_anchor.clone(),
                pair,
                cas: anchor.ca_refs().into_iter().map(String::from).collect(),
                subject_cn: ra.subject_cn.clone(),
                secrets,
            });
        }
    }
    Ok(found)
}

/// Where certificate `cid`'s pair is: its files when this machine has them, else the secret
/// whose value bundles them (`value: {files: […]}` referring to `cid`).
fn pair_of(
    spec: &crate::plan::Plan,
    cid: &str,
    output: &dyn Fn(&str, &str) -> Option<String>,
) -> Option<Pair> {
    if let (Some(cert), Some(key)) = (output(cid, "cert_file"), output(cid, "key_file")) {
        if Path::new(&cert).is_file() && Path::new(&key).is_file() {
            return Some(Pair::Files(cert.into(), key.into()));
        }
    }
    spec.resources.iter().find_map(|(sid, r)| {
        let bundles = r.type_name == "secretsmanager.secret"
            && r.deps.contains(cid)
            && r.properties
                .get("value")
                .and_then(|v| v.get("files"))
                .is_some();
        bundles.then_some(())?;
        Some(Pair::Secret {
            id: sid.clone(),
            partition: r.partition.clone()?,
            arn: output(sid, "arn")?,
        })
    })
}

/// The pair as files: the plan's, or the secret's bundle written into `scratch` (the key
/// 0600, removed again once the session is made), with a step that says which secret was
/// read, printed.
async fn pair_files(
    engine: &Engine,
    pair: &Pair,
    scratch: &Path,
    stage: &str,
) -> Result<(PathBuf, PathBuf), Step> {
    let (cert, key, step) = pair_files_quiet(engine, pair, scratch, stage).await?;
    if let Some(step) = step {
        out(&step);
    }
    Ok((cert, key))
}

/// `pair_files`, handing back the step (none for the plan's own files) instead of printing it.
pub(crate) async fn pair_files_quiet(
    engine: &Engine,
    pair: &Pair,
    scratch: &Path,
    stage: &str,
) -> Result<(PathBuf, PathBuf, Option<Step>), Step> {
    let (id, partition, arn) = match pair {
        Pair::Files(c, k) => return Ok((c.clone(), k.clone(), None)),
        Pair::Secret { id, partition, arn } => (id, partition, arn),
    };
    let t = Instant::now();
    let name = if stage == CURRENT {
        format!("GetSecretValue {id} (the client certificate and key: no local copy)")
    } else {
        format!("GetSecretValue {id} {stage} (the certificate it held before)")
    };
    let fail = |detail: String| Step::timed(name.clone(), t, Err(detail));
    let part = engine
        .partition(partition)
        .ok_or_else(|| fail(format!("partition {partition} is not connected")))?;
    let got = part
        .clients
        .secrets
        .get_secret_value()
        .secret_id(arn)
        .version_stage(stage)
        .send()
        .await;
    let got = got.map_err(|e| fail(part.clients.error("GetSecretValue", e).to_string()))?;
    let bundle = got.secret_string().unwrap_or_default();
    // The PEM blocks of the bundle, by label.
    let mut blocks: Vec<(String, String)> = vec![];
    let mut open: Option<(String, String)> = None;
    for line in bundle.lines() {
        if let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            open = Some((label.to_string(), String::new()));
        }
        if let Some((_, text)) = open.as_mut() {
            text.push_str(line);
            text.push('\n');
            if line.starts_with("-----END ") {
                blocks.extend(open.take());
            }
        }
    }
    let find = |ok: &dyn Fn(&str) -> bool| blocks.iter().find(|(l, _)| ok(l)).map(|b| b.1.clone());
    let (Some(cert), Some(key)) = (
        find(&|l| l == "CERTIFICATE"),
        find(&|l| l.ends_with("PRIVATE KEY")),
    ) else {
        return Err(fail(format!("{arn} holds no certificate and key bundle")));
    };
    std::fs::create_dir_all(scratch).map_err(|e| fail(e.to_string()))?;
    let (cert_file, key_file) = (
        scratch.join(format!("{stage}.crt")),
        scratch.join(format!("{stage}.key")),
    );
    std::fs::write(&cert_file, cert).map_err(|e| fail(e.to_string()))?;
    crate::pki::write_private(&key_file, key.as_bytes()).map_err(|e| fail(e.to_string()))?;
    let step = Step::timed(name, t, Ok((true, format!("from {arn}"))));
    Ok((cert_file, key_file, Some(step)))
}

/// Remove the files `pair_files` wrote from a secret: the key read from it stays on disk only
/// for the session it was read for. The plan's own files stay.
pub(crate) fn discard(pair: &Pair, cert: &Path, key: &Path) {
    if matches!(pair, Pair::Secret { .. }) {
        let _ = std::fs::remove_file(key);
        let _ = std::fs::remove_file(cert);
    }
}

pub(crate) fn args(
    c: &Chain,
    cert: &Path,
    key: &Path,
    endpoint: Option<String>,
) -> CredentialProcessArgs {
    CredentialProcessArgs {
        certificate: cert.to_path_buf(),
        private_key: key.to_path_buf(),
        intermediates: None,
        trust_anchor_arn: c.anchor_arn.clone(),
        profile_arn: c.profile_arn.clone(),
        role_arn: c.role_arn.clone(),
        session_duration: 900,
        region: None,
        endpoint,
        role_session_name: None,
        no_verify_ssl: false,
        with_proxy: false,
        // Verify proves the chain now, not what a cache remembers.
        no_cache: true,
        debug: false,
    }
}

pub(crate) async fn create_session(
    a: CredentialProcessArgs,
) -> Result<ProcessCredentials, cp::CredentialError> {
    tokio::task::spawn_blocking(move || {
        let mut env = Environment::from_process();
        env.cache_dir = None;
        cp::obtain_in(&a, &env, &mut std::io::sink()).map(|o| o.credentials)
    })
    .await
    .unwrap_or_else(|e| Err(cp::CredentialError::Invalid(format!("internal error: {e}"))))
}

fn with_credentials(base: &SdkConfig, c: &ProcessCredentials) -> SdkConfig {
    let creds = aws_credential_types::Credentials::new(
        &c.access_key_id,
        &c.secret_access_key,
        Some(c.session_token.clone()),
        None,
        "xpart-verify",
    );
    base.to_builder()
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(creds))
        .build()
}

/// The secret version a verify proves, and the one a renewal left before it.
pub(crate) const CURRENT: &str = "AWSCURRENT";
const PREVIOUS: &str = "AWSPREVIOUS";

/// A negative check's step: passed when CreateSession was refused (HTTP 403), `wide` when it
/// was not.
fn refused(
    name: String,
    t: Instant,
    got: Result<ProcessCredentials, cp::CredentialError>,
    wide: &str,
) -> Step {
    let found = match got {
        Err(cp::CredentialError::Service {
            status: 403,
            code,
            message,
            ..
        }) => Ok((true, format!("HTTP 403 {code}: {message}"))),
        Err(e) if e.is_outage() => Err(format!(
            "not checked: the service failed every attempt ({e})"
        )),
        Err(e) => Err(format!("expected AccessDenied, got: {e}")),
        Ok(_) => Err(wide.to_string()),
    };
    Step::timed(name, t, found)
}

/// When the plan revokes the certificate the secret held before its current one (a CRL of the
/// anchor's CA lists its serial): that CreateSession with it is refused. None when there is no
/// such certificate to try.
async fn revoked_refused(
    engine: &Engine,
    c: &Chain,
    scratch: &Path,
    label: &str,
    endpoint: Option<String>,
) -> Option<Step> {
    let by_ca = crate::engine::types::secretsmanager::issued::revoked_by_ca(engine.spec());
    let revoked: std::collections::BTreeSet<&String> = c
        .cas
        .iter()
        .filter_map(|ca| by_ca.get(ca))
        .flatten()
        .collect();
    if revoked.is_empty() || !matches!(c.pair, Pair::Secret { .. }) {
        return None;
    }
    let dir = scratch.join(&c.partition);
    // No previous version (never renewed) is nothing to check, not a failure.
    let (cert, key) = pair_files(engine, &c.pair, &dir, PREVIOUS).await.ok()?;
    let serial = std::fs::read(&cert)
        .ok()
        .and_then(|pem| crate::pki::remote::serial_hex_of_pem(&pem));
    let t = Instant::now();
    let step = match serial.filter(|s| revoked.contains(s)) {
        Some(serial) => {
            let got = create_session(args(c, &cert, &key, endpoint)).await;
            let name = format!("revoked certificate {serial} is refused ({label})");
            Some(refused(
                name,
                t,
                got,
                "a certificate the plan revokes got credentials: the CRL is not in force",
            ))
        }
        None => None,
    };
    let _ = std::fs::remove_file(&key);
    let _ = std::fs::remove_file(&cert);
    step
}

/// A CA and client certificate nobody trusts, with the same subject as the real one.
fn stranger(dir: &Path, cn: &str) -> Result<(PathBuf, PathBuf), String> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let e = |e: rcgen::Error| e.to_string();
    let ca_key = KeyPair::generate().map_err(e)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
    ca.distinguished_name
        .push(DnType::CommonName, "xpart verify: an untrusted CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().map_err(e)?;
    let mut leaf = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
    leaf.distinguished_name.push(DnType::CommonName, cn);
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = leaf.signed_by(&key, &issuer).map_err(e)?;
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let (cert_file, key_file) = (dir.join("stranger.crt"), dir.join("stranger.key"));
    std::fs::write(&cert_file, cert.pem()).map_err(|e| e.to_string())?;
    crate::pki::write_private(&key_file, key.serialize_pem().as_bytes())
        .map_err(|e| e.to_string())?;
    Ok((cert_file, key_file))
}

/// Run every check of every chain; true when all hold.
pub async fn verify(
    engine: &Engine,
    planned: &Planned,
    scratch: &Path,
    apply_line: &str,
) -> Result<bool, String> {
    let chains = chains(engine, planned, apply_line)?;
    if chains.is_empty() {
        return Err("the plan has no Roles Anywhere chain to verify (a profile, a role trusting a trust anchor, a client certificate)".into());
    }
    let mut all = true;
    for c in &chains {
        // Not `&&`: every chain is checked, whatever an earlier one showed.
        all &= verify_chain(engine, c, scratch).await?;
    }
    Ok(all)
}

/// Print a step; whether it passed.
fn shown(step: &Step) -> bool {
    out(step);
    step.ok
}

/// Every check of one chain: the session and what its credentials reach, then the negative
/// checks. True when all hold.
async fn verify_chain(engine: &Engine, c: &Chain, scratch: &Path) -> Result<bool, String> {
    let part = engine
        .partition(&c.partition)
        .ok_or(format!("partition {} is not connected", c.partition))?;
    let endpoint = part.clients.config.endpoint_url().map(str::to_string);
    let label = format!("{} {}", c.partition, part.def.region);

    let (cert_file, key_file) =
        match pair_files(engine, &c.pair, &scratch.join(&c.partition), CURRENT).await {
            Ok(files) => files,
            // Without the pair nothing of this chain can be checked.
            Err(step) => {
                out(&step);
                return Ok(false);
            }
        };
    let t = Instant::now();
    let session =
        session_once_visible(|| create_session(args(c, &cert_file, &key_file, endpoint.clone())))
            .await;
    discard(&c.pair, &cert_file, &key_file);
    let step = Step::timed(
        format!("CreateSession ({label})"),
        t,
        match &session {
            Ok(cr) => Ok((
                true,
                format!("credentials for {} until {}", c.role_arn, cr.expiration),
            )),
            Err(e) => Err(e.to_string()),
        },
    );
    let mut all = shown(&step);
    if let Ok(creds) = session {
        all &= with_session(part, c, &label, &creds).await;
    }

    let step = stranger_refused(c, scratch, &label, endpoint.clone()).await;
    all &= shown(&step);
    if let Some(step) = revoked_refused(engine, c, scratch, &label, endpoint).await {
        all &= shown(&step);
    }
    Ok(all)
}

/// With the session's credentials: GetCallerIdentity shows the chain's role, and each of its
/// secrets reads (length and a hash, never the value). True when all hold.
async fn with_session(
    part: &crate::engine::resource::PartCtx,
    c: &Chain,
    label: &str,
    creds: &ProcessCredentials,
) -> bool {
    let conf = with_credentials(&part.clients.config, creds);
    let t = Instant::now();
    let sts = aws_sdk_sts::Client::new(&conf);
    let found = match sts.get_caller_identity().send().await {
        Ok(id) => {
            let arn = id.arn().unwrap_or_default().to_string();
            let want = format!("arn:{}:sts::", part.def.partition.id());
            let ok =
                arn.starts_with(&want) && arn.contains(&format!(":assumed-role/{}/", c.role_name));
            let not_it = format!("{arn} is not the role {}", c.role_arn);
            Ok((ok, if ok { arn } else { not_it }))
        }
        Err(e) => Err(part.clients.error("GetCallerIdentity", e).to_string()),
    };
    let mut all = shown(&Step::timed(
        format!("GetCallerIdentity ({label})"),
        t,
        found,
    ));
    let sm = aws_sdk_secretsmanager::Client::new(&conf);
    for (sid, arn) in &c.secrets {
        let t = Instant::now();
        let found = match sm.get_secret_value().secret_id(arn).send().await {
            Ok(v) => {
                let bytes = v
                    .secret_string()
                    .map(|s| s.as_bytes().to_vec())
                    .or_else(|| v.secret_binary().map(|b| b.as_ref().to_vec()))
                    .unwrap_or_default();
                let digest = &sha256_hex(&bytes)[..12];
                Ok((
                    !bytes.is_empty(),
                    format!("{} bytes, sha256 {digest}…", bytes.len()),
                ))
            }
            Err(e) => Err(part.clients.error("GetSecretValue", e).to_string()),
        };
        all &= shown(&Step::timed(
            format!("GetSecretValue {sid} ({label})"),
            t,
            found,
        ));
    }
    all
}

/// The negative check: the same subject from a CA the anchor does not hold is refused.
async fn stranger_refused(
    c: &Chain,
    scratch: &Path,
    label: &str,
    endpoint: Option<String>,
) -> Step {
    let t = Instant::now();
    let cn = c
        .subject_cn
        .clone()
        .unwrap_or_else(|| "xpart-verify".into());
    let name = format!("another CA is refused ({label})");
    match stranger(&scratch.join(&c.partition), &cn) {
        Err(e) => Step::timed(
            name,
            t,
            Err(format!("cannot make the test certificate: {e}")),
        ),
        Ok((cert, key)) => {
            let got = create_session(args(c, &cert, &key, endpoint)).await;
            refused(
                name,
                t,
                got,
                "a certificate from another CA got credentials: the trust is too wide",
            )
        }
    }
}

/// `xpart verify`
pub fn run(common: &crate::commands::Common) -> ExitCode {
    let apply_line = common.command_line("apply");
    crate::commands::with_engine(common, |engine, planned, scratch| async move {
        match verify(&engine, &planned, &scratch, &apply_line).await {
            Ok(true) => {
                let _ = writeln!(std::io::stdout(), "verify: every check holds");
                ExitCode::SUCCESS
            }
            Ok(false) => {
                let _ = writeln!(std::io::stdout(), "verify: some checks failed (above)");
                ExitCode::FAILURE
            }
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
