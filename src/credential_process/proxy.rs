//! Proxies, only with `--with-proxy`: HTTPS_PROXY / HTTP_PROXY and NO_PROXY as the AWS SDKs
//! and curl read them.

use super::*;

/// Whether NO_PROXY exempts `host:port` (Go's rules: `*`, domains with their subdomains,
/// `.domain` for subdomains only, IP addresses and CIDR ranges, each optionally with `:port`).
pub fn no_proxy_matches(no_proxy: &str, host: &str, port: u16) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let host_ip: Option<std::net::IpAddr> = host.parse().ok();
    for entry in no_proxy.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        if entry == "*" {
            return true;
        }
        let entry = entry.to_ascii_lowercase();
        if let Some((net, bits)) = entry.split_once('/') {
            if let (Some(ip), Ok(net), Ok(bits)) = (
                host_ip,
                net.parse::<std::net::IpAddr>(),
                bits.parse::<u32>(),
            ) {
                if in_cidr(ip, net, bits) {
                    return true;
                }
            }
            continue;
        }
        // `host:port`, `[v6]:port`, a bare v6 address, or a bare name.
        let (name, entry_port) = if let Ok(ip) = entry
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
        {
            (ip.to_string(), None)
        } else if let Some((n, p)) = entry.rsplit_once(':') {
            match p.parse::<u16>() {
                Ok(p) => (
                    n.trim_start_matches('[').trim_end_matches(']').to_string(),
                    Some(p),
                ),
                Err(_) => continue,
            }
        } else {
            (entry.clone(), None)
        };
        if entry_port.is_some_and(|p| p != port) {
            continue;
        }
        if let (Some(ip), Ok(e)) = (host_ip, name.parse::<std::net::IpAddr>()) {
            if ip == e {
                return true;
            }
            continue;
        }
        let name = name.trim_start_matches('*').trim_end_matches('.');
        if let Some(suffix) = name.strip_prefix('.') {
            if host.ends_with(&format!(".{suffix}")) {
                return true;
            }
        } else if host == name || host.ends_with(&format!(".{name}")) {
            return true;
        }
    }
    false
}

pub(super) fn in_cidr(ip: std::net::IpAddr, net: std::net::IpAddr, bits: u32) -> bool {
    use std::net::IpAddr::{V4, V6};
    match (ip, net) {
        (V4(a), V4(n)) if bits <= 32 => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (V6(a), V6(n)) if bits <= 128 => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// A proxy URL with any password hidden, for messages.
pub(super) fn redact_proxy(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        (None, Some(at)) => format!("…@{}", &url[at + 1..]),
        _ => url.to_string(),
    }
}

pub(super) fn proxy_for(
    args: &CredentialProcessArgs,
    env: &Environment,
    ep: &Endpoint,
) -> Result<Option<ureq::Proxy>, CredentialError> {
    if !args.with_proxy {
        return Ok(None);
    }
    let raw = if ep.https {
        &env.https_proxy
    } else {
        &env.http_proxy
    };
    let Some(raw) = raw.as_deref().filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if env
        .no_proxy
        .as_deref()
        .is_some_and(|np| no_proxy_matches(np, &ep.host, ep.port))
    {
        return Ok(None);
    }
    let url = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("http://{raw}")
    };
    let var = if ep.https {
        "HTTPS_PROXY"
    } else {
        "HTTP_PROXY"
    };
    ureq::Proxy::new(&url).map(Some).map_err(|e| {
        CredentialError::Invalid(format!(
            "{var} `{}` is not a usable proxy: {e}",
            redact_proxy(&url)
        ))
    })
}
