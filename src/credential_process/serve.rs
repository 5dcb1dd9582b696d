//! `xpart credential-process serve`: the IMDSv2-compatible local endpoint aws_signing_helper
//! offers, for SDKs and tools that cannot run a credential process.
//!
//! The helper's paths and token flow, which are EC2's instance metadata service's (IMDSv2):
//! `PUT /latest/api/token` with `X-aws-ec2-metadata-token-ttl-seconds` (1–21600) answers a
//! token; `GET /latest/meta-data/iam/security-credentials/` with the token answers the role's
//! name, and `…/<name>` the credentials as EC2 writes them. A request carrying
//! `X-Forwarded-For` gets no token, and every answer leaves with the IP TTL `--hop-limit`: a
//! token is not handed through a proxy or past the hops allowed. Unlike the helper's own
//! `serve`, which reads the certificate and key once at start-up (credential-helper #64), each
//! credentials request reads them again: credentials are reused only while they came from the
//! certificate now in the file, so one the renewal path replaced is used without a restart.
//! SIGTERM and SIGINT stop it at once (the helper's own did not stop on SIGTERM before 1.8.3).

use std::collections::HashMap;
use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};

use super::*;

/// Arguments of `xpart credential-process serve`; the names are aws_signing_helper's.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub args: CredentialProcessArgs,
    /// Port to listen on, on 127.0.0.1 (0: a free port, printed at start).
    #[arg(long, default_value_t = 9911)]
    pub port: u16,
    /// IP TTL of every answer: how many network hops it may cross (1 keeps it on this host).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=255))]
    pub hop_limit: u32,
}

const TOKEN_PATH: &str = "/latest/api/token";
const CREDENTIALS_PATH: &str = "/latest/meta-data/iam/security-credentials";
const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
const TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
/// IMDSv2's longest token life, and the default when a request names none.
const MAX_TTL_S: u64 = 21600;
/// Tokens held at once; the one expiring first makes room (as the helper does).
const MAX_TOKENS: usize = 256;

/// What every connection shares.
struct State {
    args: CredentialProcessArgs,
    env: Environment,
    role_name: String,
    memo: Memo,
    /// One CreateSession at a time: a burst of requests at start-up waits for the first
    /// answer instead of each making a session.
    obtaining: std::sync::Mutex<()>,
    tokens: std::sync::Mutex<HashMap<String, Instant>>,
}

type Answer = Response<Full<Bytes>>;

fn answer(status: StatusCode, body: impl Into<Bytes>) -> Answer {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r
}

/// A random token: 100 characters of base64 from the system's random source.
fn new_token() -> Option<String> {
    use base64::Engine;
    let mut bytes = [0u8; 96];
    aws_lc_rs::rand::fill(&mut bytes).ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(bytes)[..100].to_string())
}

impl State {
    fn issue(&self, ttl: Duration) -> Option<String> {
        let token = new_token()?;
        let now = Instant::now();
        let mut tokens = self.tokens.lock().unwrap();
        tokens.retain(|_, until| *until > now);
        if tokens.len() >= MAX_TOKENS {
            if let Some(first) = tokens
                .iter()
                .min_by_key(|(_, until)| **until)
                .map(|(t, _)| t.clone())
            {
                tokens.remove(&first);
            }
        }
        tokens.insert(token.clone(), now + ttl);
        Some(token)
    }

    /// The seconds left to the request's token; None when it has none or it is not valid.
    fn token_left(&self, req: &Request<Incoming>) -> Option<u64> {
        let token = req.headers().get(TOKEN_HEADER)?.to_str().ok()?;
        let until = *self.tokens.lock().unwrap().get(token)?;
        let left = until.checked_duration_since(Instant::now())?;
        Some(left.as_secs())
    }
}

async fn handle(req: Request<Incoming>, st: Arc<State>) -> Result<Answer, Infallible> {
    let path = req.uri().path().trim_end_matches('/').to_string();
    let role_path = format!("{CREDENTIALS_PATH}/{}", st.role_name);
    let got = if path == TOKEN_PATH {
        token(&req, &st)
    } else if path == CREDENTIALS_PATH || path == role_path {
        if req.method() != Method::GET {
            answer(StatusCode::METHOD_NOT_ALLOWED, "")
        } else {
            match st.token_left(&req) {
                None => answer(
                    StatusCode::UNAUTHORIZED,
                    "no valid token: PUT /latest/api/token first",
                ),
                Some(left) => {
                    let mut r = if path == CREDENTIALS_PATH {
                        answer(StatusCode::OK, st.role_name.clone())
                    } else {
                        credentials(&st).await
                    };
                    r.headers_mut().insert(TTL_HEADER, left.into());
                    r
                }
            }
        }
    } else {
        answer(StatusCode::NOT_FOUND, "")
    };
    if st.args.debug {
        eprintln!(
            "debug: {} {} -> {}",
            req.method(),
            req.uri().path(),
            got.status().as_u16()
        );
    }
    Ok(got)
}

fn token(req: &Request<Incoming>, st: &State) -> Answer {
    if req.method() != Method::PUT {
        return answer(StatusCode::METHOD_NOT_ALLOWED, "");
    }
    if req.headers().contains_key("x-forwarded-for") {
        return answer(
            StatusCode::BAD_REQUEST,
            "unable to process requests with X-Forwarded-For header",
        );
    }
    let ttl = match req.headers().get(TTL_HEADER) {
        None => Some(MAX_TTL_S),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|t| (1..=MAX_TTL_S).contains(t)),
    };
    let Some(ttl) = ttl else {
        return answer(StatusCode::BAD_REQUEST, "invalid token TTL");
    };
    match st.issue(Duration::from_secs(ttl)) {
        Some(t) => {
            let mut r = answer(StatusCode::OK, t);
            r.headers_mut().insert(TTL_HEADER, ttl.into());
            r
        }
        None => answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            "unable to generate token",
        ),
    }
}

/// The credentials document EC2's instance metadata service answers.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Document<'a> {
    code: &'a str,
    last_updated: String,
    #[serde(rename = "Type")]
    kind: &'a str,
    access_key_id: &'a str,
    secret_access_key: &'a str,
    token: &'a str,
    expiration: &'a str,
}

async fn credentials(st: &Arc<State>) -> Answer {
    let st2 = st.clone();
    let got = tokio::task::spawn_blocking(move || {
        let _one = st2.obtaining.lock().unwrap();
        obtain_kept(&st2.args, &st2.env, &mut std::io::stderr(), Some(&st2.memo))
    })
    .await;
    match got {
        Ok(Ok(o)) => {
            let c = &o.credentials;
            let doc = Document {
                code: "Success",
                last_updated: fmt_time(OffsetDateTime::now_utc()),
                kind: "AWS-HMAC",
                access_key_id: &c.access_key_id,
                secret_access_key: &c.secret_access_key,
                token: &c.session_token,
                expiration: &c.expiration,
            };
            let body = serde_json::to_string(&doc).expect("credentials serialize");
            let mut r = answer(StatusCode::OK, body);
            r.headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            r
        }
        Ok(Err(e)) => {
            // The reason goes to the log and to the caller: neither holds a secret.
            eprintln!("error: {e}");
            answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("credentials unavailable: {e}"),
            )
        }
        Err(e) => answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("credentials unavailable: {e}"),
        ),
    }
}

/// Run `xpart credential-process serve` until SIGTERM or SIGINT.
pub fn serve(a: &ServeArgs) -> ExitCode {
    // Everything local is checked before listening: a service set up wrong fails at start,
    // not at the first request of an SDK that then reports "no credentials".
    if let Err(e) = prepare(&a.args, OffsetDateTime::now_utc()) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let role_name = match a.args.role_arn.rsplit_once('/') {
        Some((_, name)) if !name.is_empty() => name.to_string(),
        _ => {
            eprintln!("error: --role-arn {} names no role", a.args.role_arn);
            return ExitCode::FAILURE;
        }
    };
    let st = Arc::new(State {
        args: a.args.clone(),
        env: Environment::from_process(),
        role_name,
        memo: Memo::default(),
        obtaining: Default::default(),
        tokens: Default::default(),
    });
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(listen(a.port, a.hop_limit, st)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn listen(port: u16, hop_limit: u32, st: Arc<State>) -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let listener = std::net::TcpListener::bind(("127.0.0.1", port))
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {}", io_reason(&e)))?;
    let ttl = |e: std::io::Error| format!("cannot set the hop limit: {}", io_reason(&e));
    listener.set_ttl(hop_limit).map_err(ttl)?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    eprintln!(
        "serving credentials on http://127.0.0.1:{port}/ \
         (export AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:{port}/)"
    );
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                // Accepted sockets take the listener's TTL on Linux; set it again regardless.
                if stream.set_ttl(hop_limit).is_err() {
                    continue;
                }
                let st = st.clone();
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let svc = hyper::service::service_fn(move |req| handle(req, st.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, svc)
                        .await;
                });
            }
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
        }
    }
}
