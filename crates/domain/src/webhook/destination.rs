//! Where an endpoint may send: its URL, and which addresses are internal
//! (`WEBHOOK_ALLOW_PRIVATE`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::ids::InvalidValue;

/// Which destinations an endpoint may name (`WEBHOOK_ALLOW_PRIVATE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destinations {
    /// `https` only, and never an internal address (the default).
    PublicOnly,
    /// `http` too, and internal addresses (tests and local development).
    AllowPrivate,
}

impl Destinations {
    /// May a connection go to `ip`?
    pub fn admits(self, ip: IpAddr) -> bool {
        self == Self::AllowPrivate || !is_internal(ip)
    }
}

/// The longest URL an endpoint may have.
pub const MAX_URL_LEN: usize = 2048;

/// An endpoint's URL: absolute, `https` (or `http` where private destinations are allowed), with
/// a host, without credentials or fragment, and — unless private destinations are allowed — not
/// naming an internal address or a `localhost` name. A host name is checked again, address by
/// address, when it is resolved for a connection ([`Destinations::admits`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(url::Url);

impl WebhookUrl {
    pub fn parse(text: &str, destinations: Destinations) -> Result<Self, InvalidValue> {
        if text.len() > MAX_URL_LEN {
            return Err(InvalidValue(format!(
                "url must be at most {MAX_URL_LEN} characters"
            )));
        }
        let url = url::Url::parse(text)
            .map_err(|e| InvalidValue(format!("url is not an absolute URL: {e}")))?;
        match (url.scheme(), destinations) {
            ("https", _) | ("http", Destinations::AllowPrivate) => {}
            ("http", Destinations::PublicOnly) => {
                return Err(InvalidValue("url must use https".into()));
            }
            _ => return Err(InvalidValue("url must use https".into())),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(InvalidValue("url must not carry credentials".into()));
        }
        if url.fragment().is_some() {
            return Err(InvalidValue("url must not have a fragment".into()));
        }
        let internal = match url.host() {
            None => return Err(InvalidValue("url must name a host".into())),
            Some(url::Host::Ipv4(ip)) => is_internal(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => is_internal(IpAddr::V6(ip)),
            Some(url::Host::Domain(name)) => is_localhost_name(name),
        };
        if internal && destinations == Destinations::PublicOnly {
            return Err(InvalidValue(
                "url must not name a loopback, private, link-local or otherwise internal address"
                    .into(),
            ));
        }
        Ok(Self(url))
    }

    /// A URL read back from the store, checked again as a URL but under no destination rule: it
    /// was judged when stored, and every connection judges the addresses it resolves to.
    pub fn from_stored(text: &str) -> Result<Self, InvalidValue> {
        Self::parse(text, Destinations::AllowPrivate)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The host to resolve (a name, or an address without IPv6's brackets).
    pub fn host(&self) -> String {
        match self.0.host() {
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            Some(host) => host.to_string(),
            None => unreachable!("parse requires a host"),
        }
    }

    /// The port to connect to (the scheme's default when the URL names none).
    pub fn port(&self) -> u16 {
        self.0
            .port_or_known_default()
            .expect("http and https have default ports")
    }
}

/// `localhost` and its subdomains (RFC 6761: always loopback), with or without the final dot.
fn is_localhost_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Is `ip` an address a webhook must not reach: loopback, private, shared (CGNAT), link-local,
/// unspecified, broadcast, multicast, documentation, benchmarking or reserved — and the same
/// for an IPv4 address carried inside an IPv6 one (mapped, compatible, NAT64, 6to4).
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_internal_v4(v4);
    }
    let embedded_v4 = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard-only
        || (s[..6] == [0, 0, 0, 0, 0, 0] && is_internal_v4(embedded_v4(s[6], s[7]))) // compatible
        || (s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] && is_internal_v4(embedded_v4(s[6], s[7]))) // NAT64
        || (s[0] == 0x2002 && is_internal_v4(embedded_v4(s[1], s[2]))) // 6to4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised_public_ones_are_not() {
        let internal = [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254", // cloud metadata
            "100.64.0.1",
            "100.127.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "100::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "2002:c0a8:0101::1", // 6to4 of 192.168.1.1
        ];
        for text in internal {
            let ip: IpAddr = text.parse().unwrap();
            assert!(is_internal(ip), "{text} should be internal");
            assert!(!Destinations::PublicOnly.admits(ip), "{text}");
            assert!(Destinations::AllowPrivate.admits(ip), "{text}");
        }
        let public = [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "192.169.0.1",
            "198.20.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2002:0808:0808::1",
        ];
        for text in public {
            let ip: IpAddr = text.parse().unwrap();
            assert!(!is_internal(ip), "{text} should be public");
            assert!(Destinations::PublicOnly.admits(ip), "{text}");
        }
    }

    #[test]
    fn urls_must_be_https_with_a_public_host_unless_private_destinations_are_allowed() {
        use Destinations::{AllowPrivate, PublicOnly};
        let ok = WebhookUrl::parse("https://hooks.example.com/in?x=1", PublicOnly).unwrap();
        assert_eq!(ok.as_str(), "https://hooks.example.com/in?x=1");
        assert_eq!(
            (ok.host(), ok.port()),
            ("hooks.example.com".to_string(), 443)
        );
        let v6 = WebhookUrl::parse("https://[2606:4700::1]:8443/", PublicOnly).unwrap();
        assert_eq!((v6.host(), v6.port()), ("2606:4700::1".to_string(), 8443));

        let refused_anywhere = [
            ("not a url", "absolute URL"),
            ("/relative/path", "absolute URL"),
            ("ftp://example.com/", "https"),
            ("file:///etc/passwd", "https"),
            ("https://user:pw@example.com/", "credentials"),
            ("https://example.com/#frag", "fragment"),
        ];
        for (url, why) in refused_anywhere {
            for d in [PublicOnly, AllowPrivate] {
                let err = WebhookUrl::parse(url, d).unwrap_err();
                assert!(err.0.contains(why), "{url} ({d:?}): {err}");
            }
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(
            WebhookUrl::parse(&long, PublicOnly)
                .unwrap_err()
                .0
                .contains("at most")
        );

        let private_only = [
            "http://example.com/",
            "https://127.0.0.1/",
            "https://localhost/",
            "https://LOCALHOST./",
            "https://api.localhost/",
            "https://10.1.2.3:8443/",
            "https://[::1]/",
            "https://[::ffff:7f00:1]/",
            "https://169.254.169.254/latest/meta-data",
            "https://2130706433/", // 127.0.0.1 as one number
            "https://0x7f.1/",     // 127.0.0.1 in hex
        ];
        for url in private_only {
            assert!(WebhookUrl::parse(url, PublicOnly).is_err(), "{url}");
            assert!(WebhookUrl::parse(url, AllowPrivate).is_ok(), "{url}");
        }
    }
}
