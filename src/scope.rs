//! Which discovered URLs the crawl wants: scope (host / registrable domain / any),
//! depth limit, include/exclude patterns and the file extensions never worth a
//! request (`skip_extensions`), decided in one place for links and redirect
//! targets alike.
//!
//! The extension rule spends no request on a file the crawl will not parse: a
//! link whose path's last segment ends in `.jpg`, `.pdf`, `.tar.gz`... is counted
//! (`refused.extension` in stats.json) and not fetched, as Scrapy's link extractor
//! does with its ignored extensions. It looks at the path only (not the query),
//! case-insensitively; a sitemap file named by robots.txt or a sitemap index is
//! never held to it (sitemaps are read whatever their name).
//!
//! Seeds define the scope and are never filtered by it. This module only answers
//! questions about canonical URLs; it never fetches and never touches the frontier.

use std::collections::HashSet;
use std::sync::RwLock;

use regex::Regex;
use url::Url;

use crate::config::{Config, ConfigError, ScopeMode};
use crate::stats::Refusal;

/// The extensions `skip_extensions` names, ready for one lookup per dot.
#[derive(Debug, Default)]
struct Extensions {
    set: HashSet<String>,
    /// The longest entry, in bytes: a longer suffix cannot match (no allocation).
    longest: usize,
}

impl Extensions {
    fn new(list: &[String]) -> Extensions {
        let set: HashSet<String> = list
            .iter()
            .map(|e| e.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|e| !e.is_empty())
            .collect();
        let longest = set.iter().map(String::len).max().unwrap_or(0);
        Extensions { set, longest }
    }

    /// Whether the URL's path ends in one of the extensions: each suffix after a
    /// dot of the last segment is tried (`x.tar.gz`: `tar.gz`, then `gz`). No
    /// allocation: a suffix is lower-cased on the stack (entries are at most 32
    /// bytes, as `validate` checks; a longer suffix cannot match).
    fn matches(&self, url: &Url) -> bool {
        if self.set.is_empty() {
            return false;
        }
        // The last segment, without its `;params` (`pic.jpg;v=1` is a .jpg).
        let last = url.path().rsplit('/').next().unwrap_or("");
        let last = last.split(';').next().unwrap_or(last);
        let mut buf = [0u8; 32];
        last.match_indices('.').any(|(i, _)| {
            let ext = &last.as_bytes()[i + 1..];
            if ext.is_empty() || ext.len() > self.longest.min(buf.len()) {
                return false;
            }
            let lower = &mut buf[..ext.len()];
            lower.copy_from_slice(ext);
            lower.make_ascii_lowercase();
            std::str::from_utf8(lower).is_ok_and(|e| self.set.contains(e))
        })
    }
}

pub struct Scope {
    mode: ScopeMode,
    /// Seed host names (ScopeMode::Host) or registrable domains (ScopeMode::Domain).
    /// Grows when a seed redirects to another host, hence the lock (read-mostly).
    allowed: RwLock<HashSet<String>>,
    max_depth: Option<u32>,
    include: Vec<Regex>,
    exclude: Vec<Regex>,
    skip: Extensions,
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
            skip: Extensions::new(&config.scope.skip_extensions),
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
        self.check_target(url)?;
        self.check_extension(url)
    }

    /// Scope and filters without the depth rule: for redirect targets (which also
    /// pass [`Scope::check_extension`]) and sitemap files (which need not).
    pub fn check_target(&self, url: &Url) -> Result<(), Refusal> {
        if !self.in_scope(url) {
            return Err(Refusal::Scope);
        }
        self.check_filters(url)
    }

    /// The `skip_extensions` rule: a URL whose path ends in a listed extension is
    /// not worth a request.
    pub fn check_extension(&self, url: &Url) -> Result<(), Refusal> {
        match self.skip.matches(url) {
            true => Err(Refusal::Extension),
            false => Ok(()),
        }
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

    #[test]
    fn files_never_html_are_not_worth_a_request() {
        let s = scope(ScopeMode::Host, &["http://a.test/"]);
        for skipped in [
            "http://a.test/img/logo.PNG",
            "http://a.test/files/report.pdf",
            "http://a.test/dist/app.tar.gz",
            "http://a.test/static/site.css?v=3",
            "http://a.test/fonts/x.woff2",
            "http://a.test/pic.jpg;v=1",
        ] {
            assert_eq!(
                s.check(&url(skipped), 1),
                Err(Refusal::Extension),
                "{skipped}"
            );
        }
        for kept in [
            "http://a.test/",
            "http://a.test/page.html",
            "http://a.test/a.pdf/",
            "http://a.test/pdf",
            "http://a.test/x.pdf.html",
            "http://a.test/view?file=a.pdf",
            "http://a.test/sitemap.xml.gz",
            "http://a.test/v1.2/",
            "http://a.test/dots...",
        ] {
            assert_eq!(s.check(&url(kept), 1), Ok(()), "{kept}");
        }
        // Redirect targets and sitemap files are checked by the caller's choice.
        assert!(s.check_target(&url("http://a.test/a.pdf")).is_ok());
    }

    #[test]
    fn skip_extensions_replaces_the_list_and_empty_fetches_everything() {
        let mut config = Config::default();
        config.scope.skip_extensions = vec![".ZIP".into(), " mp4 ".into()];
        let seeds = [url("http://a.test/")];
        let s = Scope::new(&config, &seeds).unwrap();
        assert_eq!(
            s.check(&url("http://a.test/a.zip"), 1),
            Err(Refusal::Extension)
        );
        assert_eq!(
            s.check(&url("http://a.test/a.Mp4"), 1),
            Err(Refusal::Extension)
        );
        assert!(s.check(&url("http://a.test/a.pdf"), 1).is_ok());
        config.scope.skip_extensions = Vec::new();
        let s = Scope::new(&config, &seeds).unwrap();
        assert!(s.check(&url("http://a.test/a.zip"), 1).is_ok());
    }
}
