//! The span every HTTP request is logged under. The client is the peer that connected;
//! `Forwarded` / `X-Forwarded-For` (which any client can write) name it only when that peer is
//! one of `TRUSTED_PROXIES`.
use std::net::IpAddr;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, FORWARDED};
use actix_web::web;
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};

use crate::configuration::TrustedProxies;

pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let peer = request.peer_addr();
        let trusted = request.app_data::<web::Data<TrustedProxies>>();
        let client = match (peer, trusted) {
            (Some(peer), Some(trusted)) => Some(client_ip(peer.ip(), request.headers(), trusted)),
            (Some(peer), None) => Some(peer.ip()),
            (None, _) => None,
        };
        let route = request.match_pattern().unwrap_or_else(|| "default".into());
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.target = %request.uri().path(),
            peer_addr = %peer.map(|p| p.to_string()).unwrap_or_default(),
            client_ip = %client.map(|ip| ip.to_string()).unwrap_or_default(),
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, actix_web::Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// The client behind trusted proxies: the forwarding chain read from the nearest hop outwards,
/// the first address that is not a trusted proxy. A chain of only trusted hops gives the
/// furthest; an untrusted peer, or a chain that does not parse, gives the peer.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    if !trusted.trusts(peer) {
        return peer;
    }
    let chain = forwarded_chain(headers);
    let mut client = peer;
    for hop in chain.iter().rev() {
        let Some(ip) = hop else {
            return client; // an obfuscated or garbled hop: believe nothing beyond it
        };
        client = *ip;
        if !trusted.trusts(*ip) {
            break;
        }
    }
    client
}

/// The addresses `Forwarded: for=` lists (RFC 7239), else `X-Forwarded-For`, nearest last.
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<Option<IpAddr>> = headers
        .get_all(FORWARDED)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (key, value) = pair.trim().split_once('=')?;
                key.eq_ignore_ascii_case("for").then(|| parse_node(value))
            })
        })
        .collect();
    if !forwarded.is_empty() {
        return forwarded;
    }
    headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(parse_node)
        .collect()
}

/// `1.2.3.4`, `1.2.3.4:80`, `"[::1]:80"`, `[::1]` or `::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    node.rsplit_once(':')?.0.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let claims = headers(&[("x-forwarded-for", "6.6.6.6"), ("forwarded", "for=7.7.7.7")]);
        assert_eq!(
            client_ip(ip("203.0.113.9"), &claims, &TrustedProxies::default()),
            ip("203.0.113.9")
        );
        let trusted = TrustedProxies::parse("10.0.0.1").unwrap();
        assert_eq!(client_ip(ip("203.0.113.9"), &claims, &trusted), ip("203.0.113.9"));
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
        // The client wrote 6.6.6.6 itself; the proxies appended what they saw.
        let chain = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.4, 10.0.0.7")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &chain, &trusted), ip("198.51.100.4"));
        let forwarded = headers(&[("forwarded", "for=6.6.6.6, for=\"[2001:db8::1]:4711\";proto=https")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &forwarded, &trusted), ip("2001:db8::1"));
        let only_proxies = headers(&[("x-forwarded-for", "10.0.0.9")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &only_proxies, &trusted), ip("10.0.0.9"));
        let garbled = headers(&[("x-forwarded-for", "6.6.6.6, unknown")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &garbled, &trusted), ip("10.0.0.1"));
        assert_eq!(
            client_ip(ip("10.0.0.1"), &HeaderMap::new(), &trusted),
            ip("10.0.0.1")
        );
    }
}
