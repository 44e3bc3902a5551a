//! Range checks, once, before anything starts: every number a setting holds is
//! checked before it becomes a duration, a size or a count. Each section checks
//! its own keys; [`Config::validate`] checks the rules that span sections.

use regex::Regex;

use super::sections::*;
use super::values::Backend;
use super::{Config, ConfigError};

fn bad(key: &'static str, message: impl Into<String>) -> Result<(), ConfigError> {
    Err(ConfigError::Invalid {
        key,
        message: message.into(),
    })
}

fn secs(key: &'static str, v: f64, min: f64, max: f64) -> Result<(), ConfigError> {
    if !v.is_finite() || v < min || v > max {
        return bad(key, format!("{v} is not between {min} and {max} seconds"));
    }
    Ok(())
}

/// A name that is safe in file names and Redis keys.
fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

impl Config {
    /// Checks ranges and compiles patterns once, before anything starts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.politeness.validate()?;
        self.frontier.validate()?;
        self.fetch.validate()?;
        self.output.validate()?;
        self.sitemaps.validate()?;
        self.extract.validate()?;
        self.include_patterns()?;
        self.exclude_patterns()?;
        self.scope.validate()?;
        self.run.validate()?;
        self.render.validate()?;
        if self.is_shared() && self.output.fresh {
            return bad(
                "fresh",
                "a shared (redis) crawl is never wiped by one process: use a new --crawl-id",
            );
        }
        Ok(())
    }

    pub fn include_patterns(&self) -> Result<Vec<Regex>, ConfigError> {
        compile_all("include", &self.scope.include)
    }

    pub fn exclude_patterns(&self) -> Result<Vec<Regex>, ConfigError> {
        compile_all("exclude", &self.scope.exclude)
    }
}

impl PolitenessSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=100_000).contains(&self.concurrency) {
            return bad("concurrency", "must be between 1 and 100000");
        }
        if !(1..=10_000).contains(&self.per_host_concurrency) {
            return bad("per_host_concurrency", "must be between 1 and 10000");
        }
        if !super::rate_in_range(self.per_host_rate) {
            return bad("per_host_rate", super::RATE_RANGE);
        }
        secs("max_retry_after", self.max_retry_after, 0.0, 86_400.0)?;
        if !(1 << 20..=1 << 40).contains(&self.robots_cache_bytes) {
            return bad("robots_cache_bytes", "must be between 1 MiB and 1 TiB");
        }
        secs("max_crawl_delay", self.max_crawl_delay, 0.0, 86_400.0)
    }
}

/// Resource types `render_block` may name: those that cannot add links or text to
/// the DOM a crawler reads (documents, scripts and requests by script can).
pub const BLOCKABLE: [&str; 8] = [
    "image",
    "media",
    "font",
    "stylesheet",
    "texttrack",
    "manifest",
    "ping",
    "other",
];

impl RenderSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=256).contains(&self.render_concurrency) {
            return bad("render_concurrency", "must be between 1 and 256");
        }
        secs("render_timeout", self.render_timeout, 1.0, 600.0)?;
        if let Some(t) = self
            .render_block
            .iter()
            // An empty list from the command line (`--render-block=`) is one empty name.
            .filter(|t| !t.is_empty())
            .find(|t| !BLOCKABLE.contains(&t.as_str()))
        {
            return bad(
                "render_block",
                format!(
                    "'{t}' is not a resource type that may be blocked ({})",
                    BLOCKABLE.join(", ")
                ),
            );
        }
        Ok(())
    }
}

impl FrontierSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.workers > 4096 {
            return bad("workers", "must be at most 4096 (0 = number of CPU cores)");
        }
        let tls = matches!(&self.backend, Backend::Redis(u) if u.starts_with("rediss://"));
        if self.redis_ca.is_some() && !tls {
            return bad(
                "redis_ca",
                "is the CA of a TLS Redis: give the frontier as rediss://",
            );
        }
        if !name_ok(&self.crawl_id) {
            return bad("crawl_id", "use 1 to 64 letters, digits, '-', '_' or '.'");
        }
        if let Some(id) = &self.worker_id {
            // A letter keeps pages-<id>.jsonl apart from rotated parts pages-00001.jsonl.
            let numbered = id
                .rsplit_once('-')
                .is_some_and(|(_, d)| d.bytes().all(|b| b.is_ascii_digit()));
            if !name_ok(id) || !id.bytes().any(|b| b.is_ascii_alphabetic()) || numbered {
                return bad(
                    "worker_id",
                    "use 1 to 64 letters, digits, '-', '_' or '.', with a letter, \
                     not ending in -<digits> (the numbering of rotated parts)",
                );
            }
        }
        // Heartbeats go every second: a shorter ttl would declare live processes dead.
        secs("lease_ttl", self.lease_ttl, 2.0, 86_400.0)
    }
}

impl FetchSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.headers.len() > super::MAX_HEADERS {
            return bad("headers", "at most 64 headers");
        }
        let mut names: Vec<&str> = self.headers.iter().map(|h| h.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(ConfigError::Invalid {
                key: "headers",
                message: format!("{} is given twice", w[0]),
            });
        }
        if self.hosts.len() > super::hosts::MAX_HOST_RULES {
            return bad("hosts", "at most 1000 [[hosts]] tables");
        }
        for (i, rule) in self.hosts.iter().enumerate() {
            rule.check().map_err(|message| ConfigError::Invalid {
                key: "hosts",
                message,
            })?;
            // The first match wins: a second table for the same pattern never applies.
            if self.hosts[..i].iter().any(|r| r.pattern == rule.pattern) {
                return bad(
                    "hosts",
                    format!(
                        "two tables match '{}': the second would never apply",
                        rule.pattern
                    ),
                );
            }
        }
        if let Some(p) = &self.proxy {
            super::proxy_url(p).map_err(|message| ConfigError::Invalid {
                key: "proxy",
                message,
            })?;
        }
        if self.no_cookies && self.cookies.is_some() {
            return bad(
                "cookies",
                "a cookies file needs the cookie jar (no_cookies is set)",
            );
        }
        if self.no_cookies && self.hosts.iter().any(|r| !r.cookies.is_empty()) {
            return bad(
                "hosts",
                "cookies in a [[hosts]] table need the cookie jar (no_cookies is set)",
            );
        }
        secs("timeout", self.timeout, 0.001, 86_400.0)?;
        if self.timeout == 0.0 {
            return bad("timeout", "must be positive");
        }
        if !(1..=1 << 40).contains(&self.max_body) {
            return bad("max_body", "must be between 1 byte and 1 TiB");
        }
        if self.max_redirects > 100 {
            return bad("max_redirects", "must be at most 100");
        }
        if self.retries > 100 {
            return bad("retries", "must be at most 100");
        }
        secs("retry_backoff", self.retry_backoff, 0.0, 3600.0)?;
        secs(
            "unreachable_window",
            self.unreachable_window,
            0.001,
            86_400.0,
        )?;
        if self.unreachable_after > 1000 {
            return bad("unreachable_after", "must be at most 1000");
        }
        if self.user_agent.trim().is_empty() || self.user_agent.contains(['\r', '\n']) {
            return bad("user_agent", "must be one non-empty line");
        }
        // robots.txt names a crawler by this token: without one, no site could.
        if super::product_token(self.user_agent.trim().as_bytes()).is_empty() {
            return bad(
                "user_agent",
                "must start with its product token (letters, '-' or '_', as in \
                 'MyBot/1.0'): robots.txt User-agent lines name crawlers by it",
            );
        }
        Ok(())
    }
}

impl OutputSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.out.as_os_str().is_empty() {
            return bad("out", "must name a directory");
        }
        if self.rotate_size != 0 && self.rotate_size < 4096 {
            return bad("rotate_size", "must be 0 (one file) or at least 4096 bytes");
        }
        if self.warc_rotate_size < 4096 {
            return bad("warc_rotate_size", "must be at least 4096 bytes");
        }
        Ok(())
    }
}

impl SitemapSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.max_sitemap_urls == 0 || self.max_sitemap_bytes == 0 {
            return bad(
                "max_sitemap_urls",
                "max_sitemap_urls and max_sitemap_bytes must be positive",
            );
        }
        Ok(())
    }
}

impl ExtractSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        let mut names = std::collections::HashSet::new();
        for set in &self.rules {
            if set.name.trim().is_empty() {
                return bad("rules", "every rule set needs a name");
            }
            if !names.insert(set.name.as_str()) {
                return bad("rules", format!("two rule sets are named '{}'", set.name));
            }
        }
        Ok(())
    }
}

impl RunSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        secs("progress_interval", self.progress_interval, 0.1, 86_400.0)?;
        secs("shutdown_grace", self.shutdown_grace, 0.0, 3600.0)?;
        secs("metrics_linger", self.metrics_linger, 0.0, 86400.0)?;
        if let Some(addr) = &self.metrics {
            if let Err(message) = super::listen_addr(addr) {
                return bad("metrics", message);
            }
        }
        Ok(())
    }
}

fn compile_all(key: &'static str, patterns: &[String]) -> Result<Vec<Regex>, ConfigError> {
    patterns
        .iter()
        .map(|p| {
            Regex::new(p).map_err(|e| ConfigError::Invalid {
                key,
                message: format!(
                    "pattern '{p}' does not compile: {}",
                    e.to_string()
                        .lines()
                        .last()
                        .unwrap_or("syntax error")
                        .trim()
                ),
            })
        })
        .collect()
}

impl ScopeSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        for ext in &self.skip_extensions {
            let e = ext.trim().trim_start_matches('.');
            let ok = e.len() <= 32
                && e.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.+~".contains(&b));
            if !ok {
                return bad(
                    "skip_extensions",
                    format!(
                        "'{ext}' is not a file extension (letters and digits, like pdf or tar.gz)"
                    ),
                );
            }
        }
        Ok(())
    }
}
