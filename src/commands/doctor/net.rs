//! The path to one endpoint, step by step: DNS, TCP, TLS, an HTTP answer and the clock in its
//! `Date` header. Each step is timed and bounded, and says what failed in terms an operator
//! can act on: a refused connection (something answers and says no) is told apart from one
//! that times out (packets dropped on the way, the Great Firewall's usual way).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http_body_util::Empty;
use hyper::body::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::verdict::Check;

/// How long each step may take.
const DNS_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);

/// SigV4 refuses a request signed more than this far from the service's clock.
pub const SIGV4_SKEW: Duration = Duration::from_secs(300);

/// An endpoint as a URL gives it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Endpoint {
    pub url: String,
    pub https: bool,
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    pub fn parse(url: &str) -> Option<Endpoint> {
        let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else {
            (false, url.strip_prefix("http://")?)
        };
        let authority = rest.split('/').next()?;
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                (h.to_string(), p.parse().ok()?)
            }
            _ => (authority.to_string(), if https { 443 } else { 80 }),
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        (!host.is_empty()).then(|| Endpoint {
            url: url.trim_end_matches('/').to_string(),
            https,
            host,
            port,
        })
    }
}

/// What the probe learned beyond its checks: whether the endpoint answered, and the service's
/// clock against ours.
#[derive(Debug, Default, Clone)]
pub struct Reached {
    pub answered: bool,
    pub skew: Option<Skew>,
}

/// This machine's clock against a service's.
#[derive(Debug, Clone, Copy)]
pub struct Skew {
    pub by: Duration,
    /// Ours is ahead.
    pub ahead: bool,
}

/// How to set a clock right.
pub const CLOCK_FIX: &str =
    "set the clock right: `timedatectl set-ntp true`, or `chronyc makestep`";

impl Skew {
    /// Past what SigV4 takes.
    pub fn too_far(&self) -> bool {
        self.by > SIGV4_SKEW
    }
    fn way(&self) -> &'static str {
        if self.ahead {
            "ahead of"
        } else {
            "behind"
        }
    }
    /// The cause a skew past SigV4's 5 minutes is of every refusal.
    pub fn cause(&self) -> String {
        format!(
            "the clock is {} s {} the service's: AWS refuses requests signed more than 5 minutes off (SigV4)",
            self.by.as_secs(),
            self.way()
        )
    }
}

/// Which proxy the environment names for `ep` (as credential-process reads it, NO_PROXY's
/// rules included), and from which variable.
pub fn proxy_for(ep: &Endpoint) -> Option<(String, &'static str)> {
    let env = crate::credential_process::Environment::from_process();
    if env
        .no_proxy
        .as_deref()
        .is_some_and(|n| crate::credential_process::no_proxy_matches(n, &ep.host, ep.port))
    {
        return None;
    }
    if ep.https {
        env.https_proxy.map(|p| (p, "HTTPS_PROXY"))
    } else {
        env.http_proxy.map(|p| (p, "HTTP_PROXY"))
    }
}

fn check(partition: &str, name: String, t: Instant) -> Check {
    Check::new(partition, name, t)
}

/// Whose trust a TLS handshake is checked with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// xpart's API calls (the AWS SDK for Rust): the system's CAs only.
    Sdk,
    /// `credential-process`: the system's CAs and AWS_CA_BUNDLE.
    Helper,
}

/// Probe `ep` for partition `partition`: its checks, and what it reached.
pub async fn probe(partition: &str, ep: &Endpoint, trust: Trust) -> (Vec<Check>, Reached) {
    let mut out = vec![];
    let mut reached = Reached::default();
    let target = format!("{}:{}", ep.host, ep.port);
    // Each step needs the one before: the first that fails ends the probe.
    let Some(addrs) = resolve(partition, ep, &target, &mut out).await else {
        return (out, reached);
    };
    let Some((tcp, addr)) = connect(partition, ep, &target, &addrs, &mut out).await else {
        return (out, reached);
    };
    if ep.https {
        handshake(partition, ep, (tcp, addr), trust, &mut out, &mut reached).await;
    } else {
        answer(partition, ep, tcp, &mut out, &mut reached).await;
    }
    (out, reached)
}

/// The addresses of `ep`'s host, as one line.
fn ips(addrs: &[SocketAddr]) -> String {
    let shown: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
    shown.join(", ")
}

/// DNS: the addresses of `ep`'s host (`target`, with its port); None when the resolver has none or does not answer.
async fn resolve(
    partition: &str,
    ep: &Endpoint,
    target: &str,
    out: &mut Vec<Check>,
) -> Option<Vec<SocketAddr>> {
    let t = Instant::now();
    let looked = tokio::time::timeout(DNS_TIMEOUT, tokio::net::lookup_host(target)).await;
    let addrs: Vec<SocketAddr> = match looked {
        Ok(Ok(a)) => a.collect(),
        Ok(Err(e)) => {
            out.push(check(partition, format!("DNS {}", ep.host), t).fail(
                format!("no address: {e}"),
                format!("the resolver has no answer for {}", ep.host),
                "check /etc/resolv.conf; some resolvers in China return nothing for AWS names: try another resolver",
            ));
            return None;
        }
        Err(_) => {
            out.push(check(partition, format!("DNS {}", ep.host), t).fail(
                format!("no answer within {} s", DNS_TIMEOUT.as_secs()),
                "the resolver does not answer".to_string(),
                "check the resolver in /etc/resolv.conf, or use another",
            ));
            return None;
        }
    };
    out.push(check(partition, format!("DNS {}", ep.host), t).pass(ips(&addrs)));
    Some(addrs)
}

/// TCP, to the first address that takes the connection. None when none does: refused by all
/// (something answers and says no) is told apart from timeouts (packets dropped on the way).
async fn connect(
    partition: &str,
    ep: &Endpoint,
    target: &str,
    addrs: &[SocketAddr],
    out: &mut Vec<Check>,
) -> Option<(TcpStream, SocketAddr)> {
    let t = Instant::now();
    let mut why = vec![];
    for a in addrs {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(a)).await {
            Ok(Ok(s)) => {
                out.push(check(partition, format!("connect {target}"), t).pass(format!("to {a}")));
                return Some((s, *a));
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                why.push((a, "refused"));
            }
            Ok(Err(e)) => why.push((
                a,
                if e.kind() == std::io::ErrorKind::TimedOut {
                    "timeout"
                } else {
                    "error"
                },
            )),
            Err(_) => why.push((a, "timeout")),
        }
    }
    let refused = why.iter().all(|(_, w)| *w == "refused");
    let c = check(partition, format!("connect {target}"), t);
    out.push(if refused {
        c.fail(
            format!("connection refused by {} ({})", ips(addrs), ep.url),
            format!("nothing takes connections on {target}: the service is down, or a firewall rejects"),
            "check the endpoint in the shared config (endpoint_url) and that the service runs",
        )
    } else {
        c.fail(
            format!("timeout: no answer to connect to {} within {} s", ep.url, CONNECT_TIMEOUT.as_secs()),
            format!("packets to {target} are dropped on the way (a firewall, or no route)"),
            "check the route and any firewall between here and the endpoint; behind the Great Firewall, try the region's other endpoints or a link that crosses it",
        )
    });
    None
}

/// TLS over `tcp` (made to `addr`) with `trust`'s CAs, then one HTTP answer.
async fn handshake(
    partition: &str,
    ep: &Endpoint,
    (tcp, addr): (TcpStream, SocketAddr),
    trust: Trust,
    out: &mut Vec<Check>,
    reached: &mut Reached,
) {
    let t = Instant::now();
    let bundle = std::env::var_os("AWS_CA_BUNDLE").filter(|b| !b.is_empty());
    let first = tokio::time::timeout(ANSWER_TIMEOUT, tls(ep, tcp, trust == Trust::Helper)).await;
    // The SDK trusts the system's CAs only: a certificate that only AWS_CA_BUNDLE vouches
    // for is said so, since credential-process would take it and xpart's calls would not.
    let bundle_only = match (&first, trust, &bundle) {
        (Ok(Err(_)), Trust::Sdk, Some(_)) => match TcpStream::connect(addr).await {
            Ok(again) => matches!(
                tokio::time::timeout(ANSWER_TIMEOUT, tls(ep, again, true)).await,
                Ok(Ok(_))
            ),
            Err(_) => false,
        },
        _ => false,
    };
    let c = check(partition, format!("TLS {}", ep.host), t);
    if bundle_only {
        out.push(c.fail(
            "the endpoint's certificate is trusted only through AWS_CA_BUNDLE",
            "xpart's API calls (the AWS SDK for Rust) trust the system's CAs only; credential-process also takes AWS_CA_BUNDLE",
            "add the CA to the system's store (update-ca-certificates), or set SSL_CERT_FILE to a bundle with it",
        ));
        return;
    }
    match first {
        Ok(Ok(s)) => {
            out.push(c.pass("handshake done, certificate valid"));
            answer(partition, ep, s, out, reached).await;
        }
        Ok(Err(e)) => out.push(c.fail(
            e.clone(),
            format!("the TLS handshake with {} failed", ep.host),
            "a proxy or firewall that intercepts TLS needs its CA in AWS_CA_BUNDLE; otherwise check the system's CA certificates",
        )),
        Err(_) => out.push(c.fail(
            format!("timeout: no handshake within {} s", ANSWER_TIMEOUT.as_secs()),
            "the connection stalls after it is made".to_string(),
            "a middlebox holds the connection: check the path, or use a proxy that crosses it",
        )),
    }
}

/// A TLS handshake over `tcp`, trusting the system's CAs (as rustls-native-certs finds them,
/// SSL_CERT_FILE included) and, with `bundle`, AWS_CA_BUNDLE's.
async fn tls(
    ep: &Endpoint,
    tcp: TcpStream,
    bundle: bool,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(c);
    }
    if let Some(bundle) = std::env::var_os("AWS_CA_BUNDLE").filter(|b| bundle && !b.is_empty()) {
        let pem = crate::credential_process::read_file(
            "CA bundle (AWS_CA_BUNDLE)",
            std::path::Path::new(&bundle),
        )
        .map_err(|e| e.to_string())?;
        for der in crate::credential_process::x509sign::pem_certificates(&pem)? {
            let _ = roots.add(der.into());
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name =
        rustls::pki_types::ServerName::try_from(ep.host.clone()).map_err(|e| e.to_string())?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())
}

/// One unauthenticated GET: any HTTP answer shows the service is there; its `Date` gives the
/// service's clock.
async fn answer<S>(
    partition: &str,
    ep: &Endpoint,
    stream: S,
    out: &mut Vec<Check>,
    reached: &mut Reached,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let t = Instant::now();
    let got = tokio::time::timeout(ANSWER_TIMEOUT, async {
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let req = hyper::Request::get("/")
            .header("host", format!("{}:{}", ep.host, ep.port))
            .header(
                "user-agent",
                format!("xpart/{} doctor", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        sender.send_request(req).await.map_err(|e| e.to_string())
    })
    .await;
    let name = format!("answer {}", ep.url);
    let resp = match got {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            out.push(check(partition, name, t).fail(
                e,
                "the connection was made but broke before an HTTP answer".to_string(),
                "something between here and the endpoint cuts the connection: check proxies and firewalls",
            ));
            return;
        }
        Err(_) => {
            out.push(check(partition, name, t).fail(
                format!("timeout: connected, but no HTTP answer within {} s", ANSWER_TIMEOUT.as_secs()),
                "the endpoint takes connections and does not answer".to_string(),
                "a stalled path or an overloaded endpoint: try again, and raise timeouts for this partition (--tune)",
            ));
            return;
        }
    };
    reached.answered = true;
    let now = SystemTime::now();
    out.push(check(partition, name, t).pass(format!("HTTP {}", resp.status().as_u16())));
    let t = Instant::now();
    let date = resp
        .headers()
        .get("date")
        .and_then(|d| d.to_str().ok())
        .and_then(|d| httpdate::parse_http_date(d).ok());
    let c = check(partition, format!("clock against {}", ep.host), t);
    let Some(theirs) = date else {
        out.push(c.warn("the answer has no Date header: the clock was not compared"));
        return;
    };
    let skew = match now.duration_since(theirs) {
        Ok(by) => Skew { by, ahead: true },
        Err(e) => Skew {
            by: e.duration(),
            ahead: false,
        },
    };
    reached.skew = Some(skew);
    // The header has whole seconds: a second of difference is no skew.
    let (secs, way) = (skew.by.as_secs(), skew.way());
    if skew.too_far() {
        out.push(c.fail(
            format!("this machine's clock is {secs} s {way} the service's"),
            format!("clock skew of {secs} s: AWS refuses requests signed more than 5 minutes off (SigV4)"),
            CLOCK_FIX,
        ));
    } else if secs > 60 {
        out.push(c.warn(format!(
            "{secs} s {way} the service's: within SigV4's 5 minutes, but drifting"
        )));
    } else {
        out.push(c.pass(format!("{secs} s {way} the service's")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_with_and_without_ports() {
        let e = Endpoint::parse("http://127.0.0.1:14667").unwrap();
        assert_eq!(
            (e.https, e.host.as_str(), e.port),
            (false, "127.0.0.1", 14667)
        );
        let e = Endpoint::parse("https://sts.cn-north-1.amazonaws.com.cn/").unwrap();
        assert_eq!(
            (e.https, e.host.as_str(), e.port),
            (true, "sts.cn-north-1.amazonaws.com.cn", 443)
        );
        assert_eq!(e.url, "https://sts.cn-north-1.amazonaws.com.cn");
        assert!(Endpoint::parse("ftp://x").is_none());
        assert!(Endpoint::parse("https://").is_none());
    }
}
