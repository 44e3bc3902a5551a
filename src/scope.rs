//! Which discovered URLs the crawl wants: scope (host / registrable domain / any),
//! depth limit and include/exclude patterns, decided in one place for links and
//! redirect targets alike.
//!
//! Seeds define the scope and are never filtered by it. This module only answers
//! questions about canonical URLs; it never fetches and never touches the frontier.

use std::collections::HashSet;
use std::sync::RwLock;

use regex::Regex;
use url::Url;

use crate::config::{Config, ConfigError, ScopeMode};
use crate::stats::Refusal;

pub struct Scope {
    mode: ScopeMode,
    /// Seed host names (ScopeMode::Host) or registrable domains (ScopeMode::Domain).
    /// Grows when a seed redirects to another host, hence the lock (read-mostly).
    allowed: RwLock<HashSet<String>>,
    max_depth: Option<u32>,
    include: Vec<Regex>,
    exclude: Vec<Regex>,
}

impl Scope {
    pub fn new(config: &Config, seeds: &[Url]) -> Result<Scope, ConfigError> {
        let allowed = seeds
            .iter()
            .filter_map(|u| u.host_str())
            .map(|h| match config.scope.scope {
                ScopeMode::Domain => registrable_domain(h),
                _ => h.to_string(),
            })
            .collect();
        Ok(Scope {
            mode: config.scope.scope,
            allowed: RwLock::new(allowed),
            max_depth: config.scope.max_depth,
            include: config.include_patterns()?,
            exclude: config.exclude_patterns()?,
        })
    }

    /// Adds a seed's host to the scope (seeds may arrive after start).
    pub fn add_seed(&self, seed: &Url) {
        if let Some(h) = seed.host_str() {
            let key = match self.mode {
                ScopeMode::Domain => registrable_domain(h),
                _ => h.to_string(),
            };
            if let Ok(mut set) = self.allowed.write() {
                set.insert(key);
            }
        }
    }

    /// Whether a link found at depth `depth` (the new URL's depth) should be admitted.
    pub fn check(&self, url: &Url, depth: u32) -> Result<(), Refusal> {
        if self.max_depth.is_some_and(|m| depth > m) {
            return Err(Refusal::Depth);
        }
        self.check_target(url)
    }

    /// Scope and filters without the depth rule: for redirect targets.
    pub fn check_target(&self, url: &Url) -> Result<(), Refusal> {
        if !self.in_scope(url) {
            return Err(Refusal::Scope);
        }
        self.check_filters(url)
    }

    /// Only `include`/`exclude` (for URLs admitted by an earlier run).
    pub fn check_filters(&self, url: &Url) -> Result<(), Refusal> {
        let s = url.as_str();
        if !self.include.is_empty() && !self.include.iter().any(|r| r.is_match(s)) {
            return Err(Refusal::Filter);
        }
        if self.exclude.iter().any(|r| r.is_match(s)) {
            return Err(Refusal::Filter);
        }
        Ok(())
    }

    fn in_scope(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let Ok(allowed) = self.allowed.read() else {
            return false;
        };
        match self.mode {
            ScopeMode::Any => true,
            ScopeMode::Host => allowed.contains(host),
            ScopeMode::Domain => allowed.contains(&registrable_domain(host)),
        }
    }
}

/// The registrable domain ("eTLD+1") of a host; IP addresses and names the
/// public suffix list does not know stand for themselves.
pub fn registrable_domain(host: &str) -> String {
    let trimmed = host.trim_end_matches('.');
    if trimmed.parse::<std::net::IpAddr>().is_ok() || trimmed.starts_with('[') {
        return trimmed.to_string();
    }
    match psl::domain_str(trimmed) {
        Some(d) => d.to_string(),
        None => trimmed.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn scope(mode: ScopeMode, seeds: &[&str]) -> Scope {
        let mut config = Config::default();
        config.scope.scope = mode;
        config.scope.max_depth = Some(2);
        config.scope.exclude = vec!["/private/".into()];
        let seeds: Vec<Url> = seeds.iter().map(|s| url(s)).collect();
        Scope::new(&config, &seeds).unwrap()
    }

    #[test]
    fn host_scope_is_the_seed_host_names() {
        let s = scope(ScopeMode::Host, &["http://www.example.co.uk/"]);
        assert!(s.check(&url("https://www.example.co.uk:8443/a"), 1).is_ok());
        assert_eq!(
            s.check(&url("http://shop.example.co.uk/"), 1),
            Err(Refusal::Scope)
        );
    }

    #[test]
    fn domain_scope_uses_the_public_suffix_list() {
        let s = scope(ScopeMode::Domain, &["http://www.example.co.uk/"]);
        assert!(s.check(&url("http://shop.example.co.uk/"), 1).is_ok());
        assert_eq!(s.check(&url("http://other.co.uk/"), 1), Err(Refusal::Scope));
        assert_eq!(registrable_domain("a.b.github.io"), "b.github.io");
        assert_eq!(registrable_domain("127.0.0.1"), "127.0.0.1");
    }

    #[test]
    fn depth_and_filters() {
        let s = scope(ScopeMode::Any, &["http://a.com/"]);
        assert!(s.check(&url("http://b.com/x"), 2).is_ok());
        assert_eq!(s.check(&url("http://b.com/x"), 3), Err(Refusal::Depth));
        assert_eq!(
            s.check(&url("http://b.com/private/x"), 1),
            Err(Refusal::Filter)
        );
        assert_eq!(
            s.check_target(&url("http://b.com/private/x")),
            Err(Refusal::Filter)
        );
    }
}
