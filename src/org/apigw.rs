//! The guard in front of `export --via apigw`: a member account writes `InteractAPIGWUrl`, and
//! the central account signs a request to it with its credentials and shows the answer. So the
//! URL must be an API Gateway of the target's region, reached over HTTPS at a public address:
//!
//! - only `https://<api-id>.execute-api.<region>.amazonaws.com/...` and the private-endpoint DNS
//!   form `https://<api-id>-<vpce-id>.execute-api.<region>.vpce.amazonaws.com/...`, no user
//!   info, no port, the target's region;
//! - every address the name resolves to is public (no loopback, link-local such as the instance
//!   metadata address, private, shared, multicast, unspecified...); the connection goes to those
//!   checked addresses (no second lookup: no DNS rebinding window);
//! - no redirect is followed (the client never does), and the answer shown is cut and escaped.
//!
//! With `--endpoint-url` (the emulator) the same URL checks apply and the request goes to that
//! endpoint instead, with the URL's path: the user chose that address, the member did not.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::Name;

/// A checked `InteractAPIGWUrl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiUrl {
    /// `<api-id>.execute-api.<region>.amazonaws.com` (or the vpce form).
    pub host: String,
    /// The path below the host, with a trailing `/` (e.g. `/v1/`).
    pub path: String,
}

/// Check `url` (a member's `InteractAPIGWUrl`) for a deployment in `region`.
pub fn check_url(url: &str, region: &str) -> Result<ApiUrl, String> {
    let rest = url
        .strip_prefix("https://")
        .ok_or("it is not an https:// URL")?;
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(at) => rest.split_at(at),
        None => (rest, "/"),
    };
    if authority.contains('@') {
        return Err("it carries user information".into());
    }
    if authority.contains(':') {
        return Err("it names a port (API Gateway listens on 443 only)".into());
    }
    let host = authority.to_ascii_lowercase();
    let aws = format!(".execute-api.{region}.amazonaws.com");
    let vpce = format!(".execute-api.{region}.vpce.amazonaws.com");
    let valid = if let Some(label) = host.strip_suffix(&vpce) {
        label
            .split_once("-vpce-")
            .is_some_and(|(api, id)| api_id(api) && vpce_id(id))
    } else if let Some(label) = host.strip_suffix(&aws) {
        api_id(label)
    } else {
        false
    };
    if !valid {
        return Err(format!(
            "`{}` is not an API Gateway host of {region} (<api-id>.execute-api.{region}.amazonaws.com, or <api-id>-vpce-<id>.execute-api.{region}.vpce.amazonaws.com)",
            crate::text::escape(authority)
        ));
    }
    if !path.starts_with('/') || path.contains(['?', '#']) {
        return Err("its path is not a plain /stage/ path".into());
    }
    if path
        .split('/')
        .any(|segment| segment == ".." || segment == ".")
        || path
            .chars()
            .any(|c| c.is_control() || c == '\\' || c == ' ')
    {
        return Err(
            "its path holds dot segments, spaces, backslashes or control characters".into(),
        );
    }
    let mut path = path.to_string();
    if !path.ends_with('/') {
        path.push('/');
    }
    Ok(ApiUrl { host, path })
}

/// API Gateway ids are 10 lowercase letters and digits.
fn api_id(label: &str) -> bool {
    label.len() == 10
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// `vpce-<17 or 8 hex digits>` without its prefix.
fn vpce_id(id: &str) -> bool {
    (8..=17).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `ip` is a public unicast address: none of loopback, link-local (169.254/16, where
/// the instance metadata service answers, fe80::/10), private (10/8, 172.16/12, 192.168/16,
/// fc00::/7), shared (100.64/10), benchmarking, documentation, multicast, broadcast,
/// unspecified, reserved; IPv4-mapped and -compatible IPv6 judged as their IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_unspecified()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            if s[..6].iter().all(|&x| x == 0) && !v6.is_loopback() && !v6.is_unspecified() {
                // IPv4-compatible (::a.b.c.d)
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return is_public(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || s[0] == 0x0064 && s[1] == 0xff9b)
        }
    }
}

/// Resolve `host` once and check every address; all must be public.
pub async fn resolve_public(host: &str) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 443))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{host} resolves to no address"));
    }
    if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
        return Err(format!(
            "{host} resolves to {}, which is not a public address; refusing to send the central account's signed request there",
            bad.ip()
        ));
    }
    Ok(addrs)
}

/// A resolver answering the addresses already checked, whatever name it is asked for: the
/// connection goes where the check looked.
#[derive(Clone)]
pub struct Checked(pub std::sync::Arc<Vec<SocketAddr>>);

impl tower_service::Service<Name> for Checked {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Name) -> Self::Future {
        let addrs = self.0.as_ref().clone();
        Box::pin(async move { Ok(addrs.into_iter()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_api_gateway_hosts_of_the_region_over_https() {
        let ok = check_url(
            "https://abc123defg.execute-api.eu-west-1.amazonaws.com/v1",
            "eu-west-1",
        )
        .unwrap();
        assert_eq!(ok.host, "abc123defg.execute-api.eu-west-1.amazonaws.com");
        assert_eq!(ok.path, "/v1/");
        check_url(
            "https://abc123defg-vpce-0123456789abcdef0.execute-api.eu-west-1.vpce.amazonaws.com/v1/",
            "eu-west-1",
        )
        .unwrap();
        for bad in [
            "http://abc123defg.execute-api.eu-west-1.amazonaws.com/v1/",
            "https://127.0.0.1/v1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://evil.example.com/v1/",
            "https://abc123defg.execute-api.eu-west-1.amazonaws.com.evil.com/v1/",
            "https://abc123defg.execute-api.us-east-1.amazonaws.com/v1/",
            "https://abc123defg.execute-api.eu-west-1.amazonaws.com:8443/v1/",
            "https://user@abc123defg.execute-api.eu-west-1.amazonaws.com/v1/",
            "https://a.b.execute-api.eu-west-1.amazonaws.com/v1/",
            "https://abc123defg.execute-api.eu-west-1.amazonaws.com/v1/../x/",
            "https://abc123defg.execute-api.eu-west-1.amazonaws.com/v1/?x=1",
            "file:///etc/passwd",
        ] {
            assert!(check_url(bad, "eu-west-1").is_err(), "{bad}");
        }
    }

    #[test]
    fn only_public_addresses() {
        for bad in [
            "127.0.0.1",
            "169.254.169.254",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "fd00:ec2::254",
        ] {
            assert!(!is_public(bad.parse().unwrap()), "{bad}");
        }
        for good in ["52.95.110.1", "3.5.140.2", "2600:1f18::1"] {
            assert!(is_public(good.parse().unwrap()), "{good}");
        }
    }
}
