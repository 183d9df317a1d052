//! Outbound URLs a tenant gives us (webhooks today; return URLs and other
//! call-backs reuse it) are untrusted (design.md §9): `https` only, and never a
//! loopback, private, link-local, metadata or otherwise internal address, unless
//! the operator allows private targets for development
//! (`WXOPEN_WEBHOOK_ALLOW_PRIVATE=true`, set by the sandbox).
//!
//! The check runs twice: when a URL is registered ([`check_url`], which also
//! resolves the name) and at every connection, inside the client's own
//! resolver ([`client`]): the address checked is the address connected, so a
//! name that changes its answer after registration (DNS rebinding) gains nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use url::{Host, Url};

/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// Why an outbound URL is refused; the message names the reason, never more
/// than the URL's host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    #[error("is not an absolute URL")]
    Malformed,
    #[error("is longer than {MAX_URL_LEN} characters")]
    TooLong,
    #[error("must use https")]
    NotHttps,
    #[error("must not carry a user name or password")]
    Credentials,
    #[error("must name a host")]
    NoHost,
    #[error("points at a {0} address ({1})")]
    Forbidden(&'static str, IpAddr),
    #[error("host {0} does not resolve")]
    Unresolvable(String),
}

/// What outbound targets are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Development only: plain `http` and internal addresses are allowed.
    pub allow_private: bool,
}

/// Why an address may not be called, or `None` when it is a public unicast address.
pub fn forbidden_address(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            // An IPv4-mapped or -compatible address reaches the IPv4 host.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            forbidden_v6(v6)
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip == Ipv4Addr::new(169, 254, 169, 254) || ip == Ipv4Addr::new(100, 100, 100, 200) {
        Some("metadata")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_broadcast() || ip.is_multicast() || a >= 240 {
        Some("non-unicast")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (carrier-grade NAT)")
    } else if a == 198 && (b == 18 || b == 19) {
        Some("benchmarking")
    } else if (a == 192 && b == 0 && c == 0) || ip.is_documentation() {
        Some("reserved")
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        Some("metadata")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if ip.is_multicast() {
        Some("non-unicast")
    } else if first & 0xfe00 == 0xfc00 {
        Some("private")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if first == 0x2001 && ip.segments()[1] == 0x0db8 {
        Some("reserved")
    } else if first == 0x0064 && ip.segments()[1] == 0xff9b {
        // NAT64 reaches whatever IPv4 address it embeds.
        let [.., a, b] = ip.segments();
        let embedded = Ipv4Addr::new((a >> 8) as u8, a as u8, (b >> 8) as u8, b as u8);
        forbidden_v4(embedded)
    } else if ip.segments()[..6] == [0; 6] {
        // IPv4-compatible (deprecated) addresses.
        let [.., a, b] = ip.segments();
        forbidden_v4(Ipv4Addr::new(
            (a >> 8) as u8,
            a as u8,
            (b >> 8) as u8,
            b as u8,
        ))
    } else {
        None
    }
}

/// The URL's shape: absolute, `https` (or `http` when private targets are
/// allowed), no credentials, and a literal IP host must be allowed. Names are
/// checked by [`check_url`] and at connection time.
pub fn check_shape(raw: &str, policy: Policy) -> Result<Url, UrlRefusal> {
    if raw.len() > MAX_URL_LEN {
        return Err(UrlRefusal::TooLong);
    }
    let url = Url::parse(raw).map_err(|_| UrlRefusal::Malformed)?;
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_private => {}
        _ => return Err(UrlRefusal::NotHttps),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRefusal::Credentials);
    }
    let literal = match url.host() {
        None => return Err(UrlRefusal::NoHost),
        Some(Host::Domain("")) => return Err(UrlRefusal::NoHost),
        Some(Host::Domain(_)) => None,
        Some(Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
    };
    if let (Some(ip), false) = (literal, policy.allow_private) {
        if let Some(why) = forbidden_address(ip) {
            return Err(UrlRefusal::Forbidden(why, ip));
        }
    }
    Ok(url)
}

/// [`check_shape`], then the host's name resolved: every address it resolves
/// to must be allowed (a registration is refused if any is not).
pub async fn check_url(raw: &str, policy: Policy) -> Result<Url, UrlRefusal> {
    let url = check_shape(raw, policy)?;
    if policy.allow_private {
        return Ok(url);
    }
    if let Some(Host::Domain(name)) = url.host() {
        let addrs = lookup(name)
            .await
            .map_err(|_| UrlRefusal::Unresolvable(name.to_owned()))?;
        if addrs.is_empty() {
            return Err(UrlRefusal::Unresolvable(name.to_owned()));
        }
        for addr in addrs {
            if let Some(why) = forbidden_address(addr.ip()) {
                return Err(UrlRefusal::Forbidden(why, addr.ip()));
            }
        }
    }
    Ok(url)
}

async fn lookup(name: &str) -> std::io::Result<Vec<SocketAddr>> {
    Ok(tokio::net::lookup_host((name, 0)).await?.collect())
}

/// A resolver that drops every forbidden address and fails when none is left,
/// so the connection can only go to an address that was checked.
#[derive(Debug, Clone, Copy)]
struct GuardedResolver;

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let name = name.as_str().to_owned();
        Box::pin(async move {
            let all = lookup(&name).await?;
            let allowed: Vec<SocketAddr> = all
                .into_iter()
                .filter(|a| forbidden_address(a.ip()).is_none())
                .collect();
            if allowed.is_empty() {
                return Err(format!("{name} resolves to no address that may be called").into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The client for tenant-given URLs: no redirects followed (a redirect could
/// lead anywhere), no proxy, `timeout` for the whole exchange, and under the
/// default policy the guarded resolver.
pub fn client(policy: Policy, timeout: Duration) -> reqwest::Result<reqwest::Client> {
    let builder = crate::http_client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .pool_idle_timeout(Duration::from_secs(30))
        .user_agent(concat!("wxopen-webhooks/", env!("CARGO_PKG_VERSION")));
    let builder = if policy.allow_private {
        builder
    } else {
        builder.dns_resolver(Arc::new(GuardedResolver))
    };
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: Policy = Policy {
        allow_private: false,
    };
    const DEV: Policy = Policy {
        allow_private: true,
    };

    #[test]
    fn internal_addresses_are_named() {
        let cases = [
            ("127.0.0.1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "metadata"),
            ("169.254.1.1", "link-local"),
            ("0.0.0.0", "unspecified"),
            ("100.64.0.1", "shared (carrier-grade NAT)"),
            ("::1", "loopback"),
            ("fd00::1", "private"),
            ("fe80::1", "link-local"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "metadata"),
            ("64:ff9b::a00:1", "private"),
            ("fd00:ec2::254", "metadata"),
        ];
        for (ip, why) in cases {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(forbidden_address(ip), Some(why), "{ip}");
        }
        for public in [
            "93.184.216.34",
            "2606:2800:220:1:248:1893:25c8:1946",
            "1.1.1.1",
        ] {
            assert_eq!(forbidden_address(public.parse().unwrap()), None, "{public}");
        }
    }

    #[test]
    fn shapes_are_refused_with_their_reason() {
        assert_eq!(
            check_shape("http://erp.example.com/hook", STRICT),
            Err(UrlRefusal::NotHttps)
        );
        assert_eq!(
            check_shape("ftp://erp.example.com/hook", DEV),
            Err(UrlRefusal::NotHttps)
        );
        assert_eq!(
            check_shape("https://u:p@erp.example.com/", STRICT),
            Err(UrlRefusal::Credentials)
        );
        assert_eq!(check_shape("/hook", STRICT), Err(UrlRefusal::Malformed));
        assert!(matches!(
            check_shape("https://10.0.0.8/hook", STRICT),
            Err(UrlRefusal::Forbidden("private", _))
        ));
        assert!(matches!(
            check_shape("https://[::1]/hook", STRICT),
            Err(UrlRefusal::Forbidden("loopback", _))
        ));
        assert!(check_shape("https://erp.example.com/hook", STRICT).is_ok());
        assert!(check_shape("http://127.0.0.1:8080/hook", DEV).is_ok());
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_unless_allowed() {
        assert!(matches!(
            check_url("https://localhost/hook", STRICT).await,
            Err(UrlRefusal::Forbidden("loopback", _))
        ));
        assert!(check_url("http://localhost:9/hook", DEV).await.is_ok());
    }

    #[tokio::test]
    async fn the_guarded_client_will_not_connect_to_a_loopback_name() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let strict = client(STRICT, Duration::from_secs(2)).unwrap();
        let err = strict
            .get(format!("http://localhost:{port}/"))
            .send()
            .await
            .unwrap_err();
        // The resolver refused before any connection (the listener never answers).
        assert!(format!("{err:?}").contains("may be called"), "{err:?}");
    }
}
