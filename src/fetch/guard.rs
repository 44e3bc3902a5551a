//! Refusal of private, loopback and link-local addresses (SSRF safety).
//!
//! A crawler follows links written by strangers; without this, a page could make
//! trawl fetch `http://169.254.169.254/` (cloud metadata) or a service on the
//! crawling machine's own network. The check runs on the *resolved* address, inside
//! reqwest's DNS hook, so a public-looking name that resolves to 127.0.0.1 is refused
//! too; IP-literal URLs (which skip DNS) are checked by [`AddressGuard::check_literal`].
//!
//! A seed's own host is exempt (the user asked for it), and `allow_private` turns
//! the guard off. This module never decides anything else about a URL.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The resolver refused every address of a host.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to non-public address {ip}")]
pub struct BlockedAddress {
    pub host: String,
    pub ip: IpAddr,
}

/// The host name did not resolve.
#[derive(Debug, thiserror::Error)]
#[error("cannot resolve {host}: {reason}")]
pub struct DnsFailure {
    pub host: String,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct AddressGuard {
    allow_private: bool,
    exempt_hosts: RwLock<HashSet<String>>,
}

impl AddressGuard {
    pub fn new(allow_private: bool) -> AddressGuard {
        AddressGuard {
            allow_private,
            exempt_hosts: RwLock::new(HashSet::new()),
        }
    }

    /// Exempts a seed's host name (exact, lower-case as canonicalised).
    pub fn exempt(&self, host: &str) {
        if let Ok(mut set) = self.exempt_hosts.write() {
            set.insert(host.trim_matches(['[', ']']).to_string());
        }
    }

    fn is_exempt(&self, host: &str) -> bool {
        self.allow_private
            || self
                .exempt_hosts
                .read()
                .map(|s| s.contains(host.trim_matches(['[', ']'])))
                .unwrap_or(false)
    }

    /// Checks a URL host that is an IP literal (reqwest does not resolve those).
    pub fn check_literal(&self, host: &str) -> Result<(), BlockedAddress> {
        let bare = host.trim_matches(['[', ']']);
        match bare.parse::<IpAddr>() {
            Ok(ip) if !self.is_exempt(bare) && is_non_public(ip) => Err(BlockedAddress {
                host: host.to_string(),
                ip,
            }),
            _ => Ok(()),
        }
    }
}

/// True for every address that is not globally reachable: the IANA special-purpose
/// table in [`super::special`], with translation prefixes (IPv4-mapped, NAT64, 6to4,
/// Teredo) judged by the IPv4 address they carry.
pub fn is_non_public(ip: IpAddr) -> bool {
    super::special::is_non_public(ip)
}

/// reqwest DNS hook: resolves with the system resolver, then drops non-public addresses.
pub struct GuardedResolver(pub Arc<AddressGuard>);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| DnsFailure {
                    host: host.clone(),
                    reason: e.to_string(),
                })?
                .collect();
            if addrs.is_empty() {
                return Err(DnsFailure {
                    host,
                    reason: "no addresses".into(),
                }
                .into());
            }
            if guard.is_exempt(&host) {
                return Ok(Box::new(addrs.into_iter()) as Addrs);
            }
            let first = addrs[0].ip();
            let public: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| !is_non_public(a.ip()))
                .collect();
            if public.is_empty() {
                return Err(BlockedAddress { host, ip: first }.into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_addresses() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(
                is_non_public(a.parse().unwrap()),
                "{a} should be non-public"
            );
        }
        for a in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "100.128.0.1"] {
            assert!(!is_non_public(a.parse().unwrap()), "{a} should be public");
        }
    }

    #[test]
    fn literal_check_honours_exemptions() {
        let g = AddressGuard::new(false);
        assert!(g.check_literal("127.0.0.1").is_err());
        assert!(g.check_literal("[::1]").is_err());
        assert!(g.check_literal("example.com").is_ok());
        g.exempt("127.0.0.1");
        assert!(g.check_literal("127.0.0.1").is_ok());
        assert!(AddressGuard::new(true).check_literal("10.0.0.1").is_ok());
    }

    #[tokio::test]
    async fn resolver_refuses_names_that_resolve_to_loopback() {
        let g = Arc::new(AddressGuard::new(false));
        let r = GuardedResolver(g.clone());
        let err = r.resolve("localhost".parse().unwrap()).await.err().unwrap();
        assert!(err.downcast_ref::<BlockedAddress>().is_some(), "{err}");
        g.exempt("localhost");
        assert!(r.resolve("localhost".parse().unwrap()).await.is_ok());
    }
}
