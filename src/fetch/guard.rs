//! Refusal of private, loopback and link-local addresses (SSRF safety).
//!
//! A crawler follows links written by strangers; without this, a page could make
//! trawl fetch `http://169.254.169.254/` (cloud metadata) or a service on the
//! crawling machine's own network. The check runs on the *resolved* address, inside
//! reqwest's DNS hook, so a public-looking name that resolves to 127.0.0.1 is refused
//! too; IP-literal URLs (which skip DNS) are checked by [`AddressGuard::check_literal`].
//!
//! The user's own seeds are exempt, and no more than them: the seed's exact origin
//! (scheme, host, port) and the addresses its host resolved to the first time it was
//! asked. A seed `http://127.0.0.1:8080/` does not open `127.0.0.1:8081`, and a seed
//! host that later resolves somewhere else private (DNS rebinding) is refused.
//! Exemptions come only from this process's command line and seed list, never from
//! data read back from a shared frontier. `allow_private` turns the guard off. This
//! module never decides anything else about a URL.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

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
    /// Seed origins, as `scheme://host:port`.
    origins: RwLock<HashSet<Box<str>>>,
    /// The addresses each seed host name resolved to first: the only non-public
    /// addresses it may reach later.
    pinned: RwLock<HashMap<String, Vec<IpAddr>>>,
    /// The proxy's host (`--proxy`): the user's choice, reached whatever it
    /// resolves to, as a seed's host is.
    proxy_host: RwLock<Option<String>>,
}

/// `scheme://host:port`, the default port spelled out: the unit of exemption (and
/// of a seed's login).
pub(crate) fn origin_of(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    let port = url.port_or_known_default()?;
    Some(format!(
        "{}://{}:{port}",
        url.scheme(),
        host.to_ascii_lowercase()
    ))
}

fn bare(host: &str) -> &str {
    host.trim_matches(['[', ']'])
}

impl AddressGuard {
    pub fn new(allow_private: bool) -> AddressGuard {
        AddressGuard {
            allow_private,
            ..AddressGuard::default()
        }
    }

    /// Exempts one of this process's seeds: its exact origin. (An IP literal is
    /// never resolved, so it needs no pin: [`AddressGuard::check_literal`] judges
    /// it by its origin, and a name is pinned at its first resolution. A list of a
    /// million IP seeds kept a million pins for nothing.)
    pub fn exempt_seed(&self, seed: &Url) {
        let Some(origin) = origin_of(seed) else {
            return;
        };
        if let Ok(mut set) = self.origins.write() {
            set.insert(origin.into_boxed_str());
        }
    }

    /// Exempts the proxy's host: its name is resolved through this guard (an HTTP
    /// proxy's), and it is the user's, like a seed. Targets behind a proxy are
    /// resolved by the proxy, out of the guard's sight: only their IP literals are
    /// checked ([`AddressGuard::check_literal`], before anything is sent).
    pub fn exempt_proxy(&self, proxy: &Url) {
        if let (Some(host), Ok(mut slot)) = (proxy.host_str(), self.proxy_host.write()) {
            *slot = Some(bare(host).to_ascii_lowercase());
        }
    }

    fn is_proxy_host(&self, host: &str) -> bool {
        self.proxy_host
            .read()
            .is_ok_and(|p| p.as_deref().is_some_and(|p| p.eq_ignore_ascii_case(host)))
    }

    /// Whether `url` is on a seed's exact origin (or the guard is off).
    pub fn is_exempt(&self, url: &Url) -> bool {
        self.allow_private
            || origin_of(url)
                .is_some_and(|o| self.origins.read().is_ok_and(|s| s.contains(o.as_str())))
    }

    /// Checks a URL whose host is an IP literal (reqwest does not resolve those):
    /// a non-public one is refused unless the URL is on a seed's origin.
    pub fn check_literal(&self, url: &Url) -> Result<(), BlockedAddress> {
        let Some(host) = url.host_str() else {
            return Ok(());
        };
        match bare(host).parse::<IpAddr>() {
            Ok(ip) if is_non_public(ip) && !self.is_exempt(url) => Err(BlockedAddress {
                host: host.to_string(),
                ip,
            }),
            _ => Ok(()),
        }
    }

    /// The addresses `host` may be reached at. Public ones always; non-public ones
    /// only for a seed host (`seed`) and only those it resolved to the first time.
    fn admit(
        &self,
        host: &str,
        addrs: Vec<SocketAddr>,
        seed: bool,
    ) -> Result<Vec<SocketAddr>, BlockedAddress> {
        if self.allow_private {
            return Ok(addrs);
        }
        let first = addrs[0].ip();
        let pinned: Vec<IpAddr> = match seed {
            false => Vec::new(),
            true => self.pin(host, &addrs),
        };
        let allowed: Vec<SocketAddr> = addrs
            .into_iter()
            .filter(|a| !is_non_public(a.ip()) || pinned.contains(&a.ip()))
            .collect();
        if allowed.is_empty() {
            return Err(BlockedAddress {
                host: host.to_string(),
                ip: first,
            });
        }
        Ok(allowed)
    }

    /// A seed host's pinned addresses, pinning these if it has none yet.
    fn pin(&self, host: &str, addrs: &[SocketAddr]) -> Vec<IpAddr> {
        if let Some(p) = self.pinned.read().ok().and_then(|p| p.get(host).cloned()) {
            return p;
        }
        let Ok(mut pins) = self.pinned.write() else {
            return Vec::new();
        };
        pins.entry(host.to_string())
            .or_insert_with(|| addrs.iter().map(SocketAddr::ip).collect())
            .clone()
    }
}

/// True for every address that is not globally reachable: the IANA special-purpose
/// table in [`super::special`], with translation prefixes (IPv4-mapped, NAT64, 6to4,
/// Teredo) judged by the IPv4 address they carry.
pub fn is_non_public(ip: IpAddr) -> bool {
    super::special::is_non_public(ip)
}

/// reqwest DNS hook: resolves with the system resolver, then drops non-public
/// addresses. The `seed` resolver serves only requests to seed origins (the
/// fetcher keeps a client for those): it also lets through what the seed's host
/// resolved to first.
pub struct GuardedResolver {
    pub guard: Arc<AddressGuard>,
    pub seed: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.guard.clone();
        let seed = self.seed || guard.is_proxy_host(name.as_str());
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
            let allowed = guard.admit(&host, addrs, seed)?;
            Ok(Box::new(allowed.into_iter()) as Addrs)
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

    fn url(u: &str) -> Url {
        Url::parse(u).unwrap()
    }

    #[test]
    fn a_seed_exempts_its_exact_origin_only() {
        let g = AddressGuard::new(false);
        assert!(g.check_literal(&url("http://127.0.0.1:18080/")).is_err());
        assert!(g.check_literal(&url("http://[::1]/")).is_err());
        assert!(g.check_literal(&url("http://example.com/")).is_ok());
        g.exempt_seed(&url("http://127.0.0.1:18080/"));
        assert!(g
            .check_literal(&url("http://127.0.0.1:18080/admin"))
            .is_ok());
        // Another port, another scheme, another loopback address: refused.
        assert!(g
            .check_literal(&url("http://127.0.0.1:18081/admin"))
            .is_err());
        assert!(g.check_literal(&url("https://127.0.0.1:18080/")).is_err());
        assert!(g.check_literal(&url("http://127.0.0.2:18080/")).is_err());
        // The default port is the same origin spelled two ways.
        g.exempt_seed(&url("http://10.0.0.7/"));
        assert!(g.check_literal(&url("http://10.0.0.7:80/x")).is_ok());
        assert!(AddressGuard::new(true)
            .check_literal(&url("http://10.0.0.1/"))
            .is_ok());
    }

    fn sock(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 0)
    }

    #[test]
    fn a_seed_host_keeps_the_addresses_it_first_resolved_to() {
        let g = AddressGuard::new(false);
        // The first resolution of a seed host pins its addresses.
        let first = g.admit("intranet", vec![sock("10.1.2.3")], true).unwrap();
        assert_eq!(first, vec![sock("10.1.2.3")]);
        assert!(g.admit("intranet", vec![sock("10.1.2.3")], true).is_ok());
        // Rebinding to another private address later is refused; public is fine.
        assert!(g
            .admit("intranet", vec![sock("169.254.169.254")], true)
            .is_err());
        let mixed = g
            .admit(
                "intranet",
                vec![sock("10.9.9.9"), sock("93.184.216.34")],
                true,
            )
            .unwrap();
        assert_eq!(mixed, vec![sock("93.184.216.34")]);
        // Not through the seed resolver (not a seed origin): no exemption at all.
        assert!(g.admit("intranet", vec![sock("10.1.2.3")], false).is_err());
        // An IP-literal seed, were it ever resolved, pins its own address.
        g.exempt_seed(&url("http://127.0.0.1:9/"));
        assert!(g.admit("127.0.0.1", vec![sock("127.0.0.1")], true).is_ok());
        assert!(g.admit("127.0.0.1", vec![sock("127.0.0.2")], true).is_err());
    }

    #[tokio::test]
    async fn resolver_refuses_names_that_resolve_to_loopback() {
        let g = Arc::new(AddressGuard::new(false));
        let strict = GuardedResolver {
            guard: g.clone(),
            seed: false,
        };
        let err = strict
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .unwrap();
        assert!(err.downcast_ref::<BlockedAddress>().is_some(), "{err}");
        let seed = GuardedResolver {
            guard: g.clone(),
            seed: true,
        };
        assert!(seed.resolve("localhost".parse().unwrap()).await.is_ok());
        // The strict resolver stays strict for that name.
        assert!(strict.resolve("localhost".parse().unwrap()).await.is_err());
    }
}
