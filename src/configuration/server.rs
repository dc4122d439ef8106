//! Where the service listens, whose forwarding headers it believes, and what it logs.
use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use ipnet::IpNet;

use super::parse::ConfigError;

/// `BIND_ADDR` as given (an IP or a host name, and a port) and the addresses it names.
#[derive(Clone, Debug)]
pub struct BindAddr {
    spec: String,
    addrs: Vec<SocketAddr>,
}

impl BindAddr {
    pub fn parse(spec: &str) -> Result<Self, String> {
        let expected = "expected host:port, e.g. 0.0.0.0:8080 or localhost:8080";
        let (host, port) = spec.rsplit_once(':').ok_or(expected)?;
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(expected.into());
        }
        // A host name is resolved now, so one that names nothing stops start-up here.
        let addrs: Vec<SocketAddr> = spec
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .collect();
        if addrs.is_empty() {
            return Err(format!("{host} resolves to no address"));
        }
        Ok(Self {
            spec: spec.to_owned(),
            addrs,
        })
    }

    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }
}

impl fmt::Display for BindAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.spec)
    }
}

/// Peers whose `Forwarded` / `X-Forwarded-For` headers are believed (`TRUSTED_PROXIES`).
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Comma-separated addresses or CIDR ranges.
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|item| {
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{item:?} is not an IP address or CIDR range"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    pub fn trusts(&self, peer: IpAddr) -> bool {
        // An IPv4 peer may arrive as an IPv4-mapped IPv6 address on a dual-stack socket.
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            v4 => v4,
        };
        self.0.iter().any(|net| net.contains(&peer))
    }
}

const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

/// `RUST_LOG`, checked: `tracing` reads a bare word as a target, so a misspelt level (`wran`)
/// would silently hide every line, errors included. A bare word must be a level; targets are
/// written `target=level`.
pub fn log_filter(value: Option<String>) -> Result<String, ConfigError> {
    let Some(value) = value else {
        return Ok("info".to_owned());
    };
    let bad = |reason: String| ConfigError::new("RUST_LOG", reason);
    for directive in value.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let bare = !directive.contains(['=', '[']);
        if bare && !LEVELS.contains(&directive.to_ascii_lowercase().as_str()) {
            return Err(bad(format!(
                "{directive:?} is not a level ({}); write a target as target=level",
                LEVELS.join(", ")
            )));
        }
    }
    tracing_subscriber::EnvFilter::builder()
        .parse(&value)
        .map_err(|e| bad(e.to_string()))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_addr_takes_addresses_and_host_names() {
        let ip = BindAddr::parse("127.0.0.1:8080").unwrap();
        assert_eq!(ip.addrs(), ["127.0.0.1:8080".parse::<SocketAddr>().unwrap()]);
        let named = BindAddr::parse("localhost:8080").unwrap();
        assert!(named
            .addrs()
            .iter()
            .all(|a| a.ip().is_loopback() && a.port() == 8080));
        assert_eq!(named.to_string(), "localhost:8080");
        for bad in [
            "localhost",
            ":8080",
            "localhost:http",
            "localhost:70000",
            "no such host.invalid:80",
        ] {
            assert!(BindAddr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn trusted_proxies_are_addresses_or_ranges() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 192.168.1.7,::1").unwrap();
        assert!(proxies.trusts("10.2.3.4".parse().unwrap()));
        assert!(proxies.trusts("192.168.1.7".parse().unwrap()));
        assert!(!proxies.trusts("192.168.1.8".parse().unwrap()));
        assert!(proxies.trusts("::1".parse().unwrap()));
        assert!(proxies.trusts("::ffff:10.9.9.9".parse().unwrap()));
        assert!(!TrustedProxies::default().trusts("127.0.0.1".parse().unwrap()));
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.local").is_err());
    }

    #[test]
    fn a_log_filter_that_would_hide_everything_is_refused() {
        assert_eq!(log_filter(None).unwrap(), "info");
        for good in ["warn", "INFO", "info,sqlx=warn", "deepsource_sync=debug", "off"] {
            assert_eq!(log_filter(Some(good.into())).unwrap(), good);
        }
        for bad in ["wran", "deepsource_sync", "info,sqlx=loud"] {
            let err = log_filter(Some(bad.into())).unwrap_err();
            assert_eq!(err.var, "RUST_LOG", "{bad}");
        }
    }
}
