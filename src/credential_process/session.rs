//! CreateSession: the signed request, its retries within the total timeout, the answer.

use super::*;

/// CreateSession attempts (one call, then retries of throttling, 5xx and transport errors):
/// five, as a China endpoint behind a lossy path needs, each bounded by the total timeout.
pub(super) const ATTEMPTS: u32 = 5;

pub(super) fn agent(
    args: &CredentialProcessArgs,
    env: &Environment,
    ep: &Endpoint,
) -> Result<ureq::Agent, CredentialError> {
    use ureq::tls::{Certificate as TlsCert, RootCerts, TlsConfig, TlsProvider};
    let mut tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .disable_verification(args.no_verify_ssl);
    if ep.https && !args.no_verify_ssl {
        let mut roots: Vec<TlsCert<'static>> = rustls_native_certs::load_native_certs()
            .certs
            .iter()
            .map(|c| TlsCert::from_der(c.as_ref()).to_owned())
            .collect();
        if let Some(bundle) = &env.ca_bundle {
            let pem = read_file("CA bundle (AWS_CA_BUNDLE)", bundle)?;
            let ders =
                x509sign::pem_certificates(&pem).map_err(|reason| CredentialError::BadFile {
                    what: "CA bundle (AWS_CA_BUNDLE)",
                    path: bundle.clone(),
                    reason,
                })?;
            roots.extend(ders.iter().map(|d| TlsCert::from_der(d).to_owned()));
        }
        if roots.is_empty() {
            return Err(CredentialError::Transport {
                endpoint: ep.url.clone(),
                reason:
                    "no trusted CA certificates on this system (set SSL_CERT_FILE or AWS_CA_BUNDLE)"
                        .into(),
            });
        }
        tls = tls.root_certs(RootCerts::new_with_certs(&roots));
    }
    Ok(ureq::Agent::config_builder()
        .tls_config(tls.build())
        .proxy(proxy_for(args, env, ep)?)
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(env.connect_timeout))
        .user_agent(format!(
            "xpart/{} credential-process",
            env!("CARGO_PKG_VERSION")
        ))
        .build()
        .new_agent())
}

/// The body of an AWS JSON error: its type (`x-amzn-ErrorType`, else `__type`) and message.
pub(super) fn service_error(
    header_type: Option<&str>,
    body: &str,
) -> (Option<String>, Option<String>) {
    let json: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let field = |k: &str| {
        json.as_ref()
            .and_then(|v| v.get(k))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let code = header_type
        .map(str::to_string)
        .or_else(|| field("__type").or_else(|| field("code")))
        .map(|c| {
            // `Code:http://…` (header) or `namespace#Code` (body).
            let c = c.split(':').next().unwrap_or(&c).to_string();
            c.rsplit('#').next().unwrap_or(&c).to_string()
        })
        .filter(|c| !c.is_empty());
    let message = field("message").or_else(|| field("Message"));
    (code, message)
}

pub(super) fn retryable_status(status: u16, code: Option<&str>) -> bool {
    status == 429
        || status >= 500
        || matches!(
            code,
            Some(
                "ThrottlingException"
                    | "Throttling"
                    | "TooManyRequestsException"
                    | "RequestLimitExceeded"
            )
        )
}

pub(super) fn create_session(
    args: &CredentialProcessArgs,
    env: &Environment,
    p: &Prepared,
    diag: &mut dyn Write,
) -> Result<ProcessCredentials, CredentialError> {
    let call = Call::new(args, env, p)?;
    let deadline = Instant::now() + env.total_timeout;
    let mut last: Option<CredentialError> = None;
    for attempt in 1..=ATTEMPTS {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            break;
        }
        if attempt > 1 {
            // 100 ms, 200 ms, 400 ms, 800 ms with jitter, never past the deadline.
            let mut r = [0u8; 1];
            let _ = aws_lc_rs::rand::fill(&mut r);
            let pause = Duration::from_millis((100u64 << (attempt - 2)) + u64::from(r[0]) % 100);
            if pause >= remaining {
                break;
            }
            std::thread::sleep(pause);
        }
        match call.once(attempt, deadline, diag)? {
            Outcome::Done(credentials) => return Ok(credentials),
            Outcome::Failed { error, retry } => {
                last = Some(error);
                if !retry {
                    break;
                }
            }
        }
    }
    Err(last.unwrap_or_else(|| CredentialError::Transport {
        endpoint: p.endpoint.url.clone(),
        reason: format!("no answer within {:?}", env.total_timeout),
    }))
}

/// What one attempt of CreateSession ended in.
enum Outcome {
    Done(ProcessCredentials),
    /// A failure; `retry` when another attempt may go otherwise (throttling, 5xx, transport).
    Failed {
        error: CredentialError,
        retry: bool,
    },
}

/// One CreateSession call, ready to send: its query, body, URL and HTTP agent.
struct Call<'a> {
    args: &'a CredentialProcessArgs,
    env: &'a Environment,
    p: &'a Prepared,
    query: String,
    body: Vec<u8>,
    url: String,
    agent: ureq::Agent,
}

impl<'a> Call<'a> {
    fn new(
        args: &'a CredentialProcessArgs,
        env: &'a Environment,
        p: &'a Prepared,
    ) -> Result<Call<'a>, CredentialError> {
        let ep = &p.endpoint;
        let query = x509sign::canonical_query(&[
            ("profileArn", &args.profile_arn),
            ("roleArn", &args.role_arn),
            ("trustAnchorArn", &args.trust_anchor_arn),
        ]);
        let mut body = serde_json::json!({"durationSeconds": args.session_duration});
        if let Some(name) = &args.role_session_name {
            body["roleSessionName"] = serde_json::Value::from(name.as_str());
        }
        let body = serde_json::to_vec(&body).expect("JSON body");
        let url = format!(
            "{}://{}/sessions?{query}",
            if ep.https { "https" } else { "http" },
            ep.authority
        );
        Ok(Call {
            agent: agent(args, env, ep)?,
            args,
            env,
            p,
            query,
            body,
            url,
        })
    }

    /// Sign and send once, and read the answer. Err only for what no retry changes (the
    /// request cannot be signed).
    fn once(
        &self,
        attempt: u32,
        deadline: Instant,
        diag: &mut dyn Write,
    ) -> Result<Outcome, CredentialError> {
        let sig = self.sign(attempt, diag)?;
        let mut resp = match self.send(&sig, attempt, deadline, diag) {
            Ok(r) => r,
            Err(failed) => return Ok(failed),
        };
        let status = resp.status().as_u16();
        let header_type = resp
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = match resp
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_string()
        {
            Ok(t) => t,
            Err(e) => {
                return Ok(Outcome::Failed {
                    error: self.transport(format!("reading the reply: {e}")),
                    retry: true,
                })
            }
        };
        if self.args.debug {
            let _ = writeln!(
                diag,
                "debug: HTTP {status}{}",
                header_type
                    .as_deref()
                    .map(|t| format!(" ({t})"))
                    .unwrap_or_default()
            );
        }
        Ok(self.answer(status, header_type.as_deref(), &text))
    }

    /// The request signed now (a fresh date each attempt), shown with `--debug`.
    fn sign(
        &self,
        attempt: u32,
        diag: &mut dyn Write,
    ) -> Result<x509sign::Signature, CredentialError> {
        let p = self.p;
        let req = x509sign::Request {
            method: "POST",
            path: "/sessions",
            query: &self.query,
            host: &p.endpoint.authority,
            content_type: "application/json",
            body: &self.body,
        };
        let sig = x509sign::sign(
            &req,
            &p.signer,
            &p.cert,
            &p.chain,
            &p.region,
            OffsetDateTime::now_utc(),
        )
        .map_err(|e| CredentialError::Invalid(format!("cannot sign the request: {e}")))?;
        if self.args.debug {
            let _ = writeln!(
                diag,
                "debug: POST {} (attempt {attempt})\ndebug: canonical request:\n{}\ndebug: string to sign:\n{}",
                self.url, sig.canonical_request, sig.string_to_sign
            );
        }
        Ok(sig)
    }

    /// Send the signed request, bounded by what is left of the deadline. Err: the attempt's
    /// outcome when no answer came.
    fn send(
        &self,
        sig: &x509sign::Signature,
        attempt: u32,
        deadline: Instant,
        diag: &mut dyn Write,
    ) -> Result<ureq::http::Response<ureq::Body>, Outcome> {
        let mut rb = self
            .agent
            .post(&self.url)
            .config()
            .timeout_global(Some(deadline.saturating_duration_since(Instant::now())))
            .build();
        for (k, v) in &sig.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        rb.send(&self.body[..]).map_err(|e| {
            let timed_out = matches!(e, ureq::Error::Timeout(_));
            let reason = match &e {
                ureq::Error::Timeout(_) => {
                    format!("no answer within {:?} ({e})", self.env.total_timeout)
                }
                _ => e.to_string(),
            };
            if self.args.debug {
                let _ = writeln!(diag, "debug: attempt {attempt}: {reason}");
            }
            // Out of time is final: the deadline is the whole exchange's.
            Outcome::Failed {
                error: self.transport(reason),
                retry: !timed_out,
            }
        })
    }

    /// What an answer (HTTP `status`, `x-amzn-errortype` header, body `text`) ends the
    /// attempt in: the credentials, or the service's error and whether to retry it.
    fn answer(&self, status: u16, header_type: Option<&str>, text: &str) -> Outcome {
        let endpoint = self.p.endpoint.url.clone();
        if (200..300).contains(&status) {
            return match parse_credentials(text) {
                Ok(c) => Outcome::Done(c),
                Err(reason) => Outcome::Failed {
                    error: CredentialError::Response { endpoint, reason },
                    retry: false,
                },
            };
        }
        let (code, message) = service_error(header_type, text);
        let retry = retryable_status(status, code.as_deref());
        let message = message.unwrap_or_else(|| {
            let t = text.trim();
            if t.is_empty() {
                "(no message)".to_string()
            } else {
                t.chars().take(300).collect()
            }
        });
        Outcome::Failed {
            error: CredentialError::Service {
                endpoint,
                status,
                code: code.unwrap_or_else(|| format!("HTTP{status}")),
                message,
            },
            retry,
        }
    }

    /// A transport failure talking to the endpoint.
    fn transport(&self, reason: String) -> CredentialError {
        CredentialError::Transport {
            endpoint: self.p.endpoint.url.clone(),
            reason,
        }
    }
}

pub(super) fn parse_credentials(text: &str) -> Result<ProcessCredentials, String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|_| "the reply is not JSON".to_string())?;
    let c = v
        .get("credentialSet")
        .and_then(|s| s.get(0))
        .and_then(|s| s.get("credentials"))
        .ok_or("no credentialSet[0].credentials in the reply")?;
    let field = |k: &str| {
        c.get(k)
            .and_then(|x| x.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or(format!("no {k} in the reply's credentials"))
    };
    Ok(ProcessCredentials {
        version: 1,
        access_key_id: field("accessKeyId")?,
        secret_access_key: field("secretAccessKey")?,
        session_token: field("sessionToken")?,
        expiration: field("expiration")?,
    })
}
