//! Crawl configuration: one plain struct, filled from built-in defaults, then a
//! TOML file, then command-line overrides, and checked once by [`Config::validate`].
//!
//! Every key here has the same name as its CLI flag (`_` for `-`), and
//! `config/default.toml` documents each one with its default; a unit test parses
//! that file so the two cannot drift apart. Unknown keys are errors: a typo in a
//! config must never silently become a default.
//!
//! This module never does I/O beyond reading the config file, and never decides
//! crawl behaviour: it only says what the user asked for.

use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Which links are in scope, relative to the seeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ScopeMode {
    /// Only the seeds' host names (any scheme or port).
    #[default]
    Host,
    /// The seeds' registrable domains (public suffix list), subdomains included.
    Domain,
    /// Anything reachable over http(s).
    Any,
}

impl std::str::FromStr for ScopeMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "host" => Ok(ScopeMode::Host),
            "domain" => Ok(ScopeMode::Domain),
            "any" => Ok(ScopeMode::Any),
            other => Err(format!("'{other}' is not a scope (host, domain or any)")),
        }
    }
}

/// A built-in extra a page's record can carry (`extras = [...]`), each its own
/// top-level record field of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Extra {
    /// `<meta name="description">` content.
    Description,
    /// `<link rel="canonical">` target, absolute.
    Canonical,
    /// `<html lang>` (or Content-Language in `<meta http-equiv>`).
    Lang,
    /// Every `<meta name|property=... content=...>` (OpenGraph, Twitter cards...).
    Meta,
    /// Every `<script type="application/ld+json">` block, parsed.
    JsonLd,
    /// The readable main text: scripts, styles, navigation, headers and footers removed.
    Text,
    /// All of the above.
    All,
}

impl Extra {
    /// The extras `All` stands for, in record order.
    pub const EACH: [Extra; 6] = [
        Extra::Description,
        Extra::Canonical,
        Extra::Lang,
        Extra::Meta,
        Extra::JsonLd,
        Extra::Text,
    ];

    /// The record field this extra fills.
    pub fn name(self) -> &'static str {
        match self {
            Extra::Description => "description",
            Extra::Canonical => "canonical",
            Extra::Lang => "lang",
            Extra::Meta => "meta",
            Extra::JsonLd => "json_ld",
            Extra::Text => "text",
            Extra::All => "all",
        }
    }
}

impl std::str::FromStr for Extra {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Extra::EACH
            .into_iter()
            .chain([Extra::All])
            .find(|e| e.name() == s)
            .ok_or_else(|| {
                format!("'{s}' is not an extra (description, canonical, lang, meta, json_ld, text, all)")
            })
    }
}

/// Where the frontier lives: in this process, or in Redis, shared by every process
/// that joins the same crawl. Written as `"embedded"` or the `redis://` address.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Backend {
    #[default]
    Embedded,
    /// `redis://HOST:PORT/DB`.
    Redis(String),
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "embedded" => Ok(Backend::Embedded),
            url if url.starts_with("redis://") => Ok(Backend::Redis(url.to_string())),
            other => Err(format!(
                "'{other}' is neither \"embedded\" nor a redis://HOST:PORT/DB address"
            )),
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Embedded => f.write_str("embedded"),
            Backend::Redis(url) => f.write_str(url),
        }
    }
}

impl Serialize for Backend {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Backend {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|m| serde::de::Error::custom(format!("invalid frontier: {m}")))
    }
}

/// How pages.jsonl is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Zstd,
}

impl std::str::FromStr for Compression {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Compression::None),
            "gzip" => Ok(Compression::Gzip),
            "zstd" => Ok(Compression::Zstd),
            other => Err(format!(
                "'{other}' is not a compression (none, gzip or zstd)"
            )),
        }
    }
}

/// A named extraction rule set: applied to pages whose canonical URL matches
/// `pattern`; the first matching set fills the record's `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    /// Names the set in the record (`rule`) and in errors.
    pub name: String,
    /// Regex searched for in the page's canonical URL.
    pub pattern: String,
    /// Field name → how to extract it.
    pub fields: std::collections::BTreeMap<String, FieldRule>,
}

/// One field of a rule set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRule {
    /// CSS selector (scraper's dialect).
    pub selector: String,
    /// What to take from a matched element: text (default), html (inner HTML) or attr.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub take: Option<Take>,
    /// The attribute to take; implies `take = "attr"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attr: Option<String>,
    /// Every match as an array (true) or the first match (false).
    #[serde(default)]
    pub all: bool,
    /// Keeps capture group 1 (or the whole match) of this regex; no match = no value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// string (default), integer, number or url (resolved against the page).
    #[serde(default, rename = "type")]
    pub kind: FieldType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Take {
    Text,
    Html,
    Attr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    #[default]
    String,
    Integer,
    Number,
    Url,
}

/// The default User-Agent: names trawl and its version, with room for a contact URL.
pub fn default_user_agent() -> String {
    format!(
        "trawl/{} (+https://github.com/trawl-crawler/trawl; set user_agent to add your contact URL)",
        env!("CARGO_PKG_VERSION")
    )
}

/// Everything a crawl can be told. Field docs are the reference for each key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Output directory for pages.jsonl and stats.json.
    pub out: PathBuf,
    /// Seed list file: one URL per line, `#` comments and blank lines ignored.
    pub seeds: Option<PathBuf>,
    /// Keep the frontier on disk so an interrupted crawl resumes (false: memory only).
    pub durable: bool,
    /// Where the durable frontier lives (default: OUT/state).
    pub state: Option<PathBuf>,
    /// Frontier backend: "embedded" (this process) or `redis://HOST:PORT/DB` (shared by
    /// every process that joins the same crawl_id).
    pub frontier: Backend,
    /// Name of the shared crawl in Redis (redis frontier only).
    pub crawl_id: String,
    /// This process's name in a shared crawl: its output is pages-<worker_id>.jsonl
    /// [default: host name and process id].
    pub worker_id: Option<String>,
    /// Seconds without a heartbeat after which a process's leased URLs go back to
    /// the queue (redis frontier only).
    pub lease_ttl: f64,
    /// Serve Prometheus text metrics at http://ADDR/metrics (e.g. 0.0.0.0:9090).
    pub metrics: Option<String>,
    /// Stop after this many URLs have been attempted (0 = no limit).
    pub max_pages: u64,
    /// Follow links at most this many hops from a seed (seeds are depth 0). Unset = no limit.
    pub max_depth: Option<u32>,
    /// Total requests in flight across all hosts.
    pub concurrency: usize,
    /// Requests in flight to one host (scheme + host + port).
    pub per_host_concurrency: usize,
    /// Requests per second to one host (0 = no rate limit). Crawl-delay can only lower it.
    pub per_host_rate: f64,
    /// Frontier shards, each driven by one worker task (0 = number of CPU cores).
    pub workers: usize,
    /// Which discovered links are followed: host, domain or any.
    pub scope: ScopeMode,
    /// Follow only canonical URLs matching at least one of these regexes (empty = all).
    pub include: Vec<String>,
    /// Never follow canonical URLs matching any of these regexes.
    pub exclude: Vec<String>,
    /// Do not fetch or obey robots.txt (nor meta robots nofollow).
    pub ignore_robots: bool,
    /// User-Agent header; its first token is the name matched in robots.txt.
    pub user_agent: String,
    /// Whole-request deadline in seconds: connect, headers and body together.
    pub timeout: f64,
    /// Largest body kept, in bytes after decompression; longer bodies are cut and flagged.
    pub max_body: u64,
    /// Redirect hops followed from one URL before it is recorded as an error.
    pub max_redirects: u32,
    /// Spider-trap guard: longest canonical URL admitted, in bytes (0 = no limit).
    pub max_url_length: usize,
    /// Spider-trap guard: most path segments in an admitted URL (0 = no limit).
    pub max_path_depth: usize,
    /// Spider-trap guard: most times one path segment may occur in a URL (0 = no limit).
    pub max_repeated_segments: usize,
    /// Spider-trap guard: longest chain of links that only change the page's query (0 = no limit).
    pub max_query_hops: u32,
    /// Spider-trap guard: most URLs admitted per host (0 = no limit).
    pub max_pages_per_host: u64,
    /// Fetch hosts that resolve to loopback/private/link-local addresses even when not a seed's host.
    pub allow_private: bool,
    /// Retries of a transient failure (timeout, connection error, 408, 429, 500, 502, 503, 504, 522, 524).
    pub retries: u32,
    /// First retry backoff in seconds; doubles on every retry, with jitter.
    pub retry_backoff: f64,
    /// Longest Retry-After (seconds) honoured; longer values are clamped to this.
    pub max_retry_after: f64,
    /// Longest robots.txt Crawl-delay (seconds) honoured; longer values are clamped to this.
    pub max_crawl_delay: f64,
    /// Treat URLs differing only in query parameter order as the same page.
    pub sort_query: bool,
    /// Drop session-id parameters (jsessionid, phpsessid, sid, ...) from URLs.
    pub strip_session_ids: bool,
    /// Follow links marked rel="nofollow".
    pub follow_nofollow: bool,
    /// Start over when the output directory already holds a crawl.
    pub fresh: bool,
    /// Seconds between progress lines in the log when stderr is not a terminal.
    pub progress_interval: f64,
    /// Seconds in-flight requests get to finish after a stop signal before they are abandoned.
    pub shutdown_grace: f64,
    /// Built-in extras added to HTML pages' records: description, canonical, lang, meta, json_ld, text, or all.
    pub extras: Vec<Extra>,
    /// Longest readable text kept per page (`extras = ["text"]`), in characters.
    pub max_text_chars: usize,
    /// Extraction rule sets (config file only: `[[rules]]` tables).
    pub rules: Vec<RuleSet>,
    /// Discover sitemaps (robots.txt `Sitemap:` lines, else /sitemap.xml) and crawl the URLs they list.
    pub sitemaps: bool,
    /// Most sitemaps fetched per host (indexes and their children together).
    pub max_sitemaps_per_host: u32,
    /// Most URLs taken from one sitemap.
    pub max_sitemap_urls: usize,
    /// Most bytes read from one sitemap after decompression.
    pub max_sitemap_bytes: u64,
    /// Compress pages.jsonl: none, gzip or zstd.
    pub compress: Compression,
    /// Start a new pages part once the current one reaches this many bytes (0 = one file).
    pub rotate_size: u64,
    /// Also write a WARC 1.1 archive of every fetch under OUT/warc/.
    pub warc: bool,
    /// Start a new WARC file once the current one reaches this many bytes.
    pub warc_rotate_size: u64,
    /// Only errors on stderr.
    pub quiet: bool,
    /// Debug logging.
    pub verbose: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            out: PathBuf::from("crawl-out"),
            seeds: None,
            durable: true,
            state: None,
            frontier: Backend::Embedded,
            crawl_id: "default".into(),
            worker_id: None,
            lease_ttl: 30.0,
            metrics: None,
            max_pages: 0,
            max_depth: None,
            concurrency: 64,
            per_host_concurrency: 2,
            per_host_rate: 1.0,
            workers: 0,
            scope: ScopeMode::Host,
            include: Vec::new(),
            exclude: Vec::new(),
            ignore_robots: false,
            user_agent: default_user_agent(),
            timeout: 30.0,
            max_body: 10 * 1024 * 1024,
            max_redirects: 10,
            max_url_length: 2048,
            max_path_depth: 32,
            max_repeated_segments: 3,
            max_query_hops: 100,
            max_pages_per_host: 100_000,
            allow_private: false,
            retries: 2,
            retry_backoff: 1.0,
            max_retry_after: 300.0,
            max_crawl_delay: 30.0,
            sort_query: true,
            strip_session_ids: true,
            follow_nofollow: false,
            fresh: false,
            progress_interval: 10.0,
            shutdown_grace: 5.0,
            extras: Vec::new(),
            max_text_chars: 100_000,
            rules: Vec::new(),
            sitemaps: false,
            max_sitemaps_per_host: 100,
            max_sitemap_urls: 50_000,
            max_sitemap_bytes: 50 * 1024 * 1024,
            compress: Compression::None,
            rotate_size: 0,
            warc: false,
            warc_rotate_size: 1024 * 1024 * 1024,
            quiet: false,
            verbose: false,
        }
    }
}

/// A configuration problem, said in one line.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {path}, line {line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("invalid {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

impl Config {
    /// Reads a TOML file; keys not given keep their defaults.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_toml(&text, path)
    }

    /// Parses TOML text; `path` only names the source in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
                .unwrap_or(0);
            ConfigError::Parse {
                path: path.to_path_buf(),
                line,
                message: e.message().trim().replace('\n', " "),
            }
        })
    }

    /// Checks ranges and compiles patterns once, before anything starts.
    pub fn validate(&self) -> Result<(), ConfigError> {
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
        if !(1..=100_000).contains(&self.concurrency) {
            return bad("concurrency", "must be between 1 and 100000");
        }
        if !(1..=10_000).contains(&self.per_host_concurrency) {
            return bad("per_host_concurrency", "must be between 1 and 10000");
        }
        if !self.per_host_rate.is_finite() || !(0.0..=100_000.0).contains(&self.per_host_rate) {
            return bad(
                "per_host_rate",
                "must be between 0 (no limit) and 100000 requests per second",
            );
        }
        if self.workers > 4096 {
            return bad("workers", "must be at most 4096 (0 = number of CPU cores)");
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
        secs("max_retry_after", self.max_retry_after, 0.0, 86_400.0)?;
        secs("max_crawl_delay", self.max_crawl_delay, 0.0, 86_400.0)?;
        secs("progress_interval", self.progress_interval, 0.1, 86_400.0)?;
        secs("shutdown_grace", self.shutdown_grace, 0.0, 3600.0)?;
        if self.user_agent.trim().is_empty() || self.user_agent.contains(['\r', '\n']) {
            return bad("user_agent", "must be one non-empty line");
        }
        if self.out.as_os_str().is_empty() {
            return bad("out", "must name a directory");
        }
        if self.max_sitemap_urls == 0 || self.max_sitemap_bytes == 0 {
            return bad(
                "max_sitemap_urls",
                "max_sitemap_urls and max_sitemap_bytes must be positive",
            );
        }
        if self.rotate_size != 0 && self.rotate_size < 4096 {
            return bad("rotate_size", "must be 0 (one file) or at least 4096 bytes");
        }
        if self.warc_rotate_size < 4096 {
            return bad("warc_rotate_size", "must be at least 4096 bytes");
        }
        let mut names = std::collections::HashSet::new();
        for set in &self.rules {
            if set.name.trim().is_empty() {
                return bad("rules", "every rule set needs a name");
            }
            if !names.insert(set.name.as_str()) {
                return bad("rules", format!("two rule sets are named '{}'", set.name));
            }
        }
        self.include_patterns()?;
        self.exclude_patterns()?;
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        };
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
        secs("lease_ttl", self.lease_ttl, 2.0, 86_400.0)?;
        if let Some(addr) = &self.metrics {
            if addr.parse::<std::net::SocketAddr>().is_err() {
                return bad("metrics", format!("'{addr}' is not an IP:PORT address"));
            }
        }
        if self.is_shared() && self.fresh {
            return bad(
                "fresh",
                "a shared (redis) crawl is never wiped by one process: use a new --crawl-id",
            );
        }
        Ok(())
    }

    /// True when the frontier lives in Redis, shared with other processes.
    pub fn is_shared(&self) -> bool {
        self.frontier != Backend::Embedded
    }

    /// This process's name in a shared crawl: --worker-id, or host name and pid.
    pub fn worker_name(&self) -> String {
        if let Some(id) = &self.worker_id {
            return id.clone();
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_default();
        let host: String = host
            .trim()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(40)
            .collect();
        let host = match host.bytes().any(|b| b.is_ascii_alphabetic()) {
            true => host,
            false => format!("w{host}"),
        };
        format!("{host}.{}", std::process::id())
    }

    /// The settings every process of a shared crawl must agree on: what is crawled
    /// (scope, limits, filters, URL rules) and how hard hosts are hit.
    pub fn shared_settings(&self) -> serde_json::Map<String, serde_json::Value> {
        let all = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        const SHARED: &[&str] = &[
            "max_pages",
            "max_depth",
            "per_host_concurrency",
            "per_host_rate",
            "scope",
            "include",
            "exclude",
            "ignore_robots",
            "user_agent",
            "max_redirects",
            "max_url_length",
            "max_path_depth",
            "max_repeated_segments",
            "max_query_hops",
            "max_pages_per_host",
            "allow_private",
            "retries",
            "max_crawl_delay",
            "sort_query",
            "strip_session_ids",
            "follow_nofollow",
            "sitemaps",
            "lease_ttl",
        ];
        all.into_iter()
            .filter(|(k, _)| SHARED.contains(&k.as_str()))
            .collect()
    }

    pub fn include_patterns(&self) -> Result<Vec<Regex>, ConfigError> {
        compile_all("include", &self.include)
    }

    pub fn exclude_patterns(&self) -> Result<Vec<Regex>, ConfigError> {
        compile_all("exclude", &self.exclude)
    }

    /// The extras asked for, `all` expanded, each once, in record order.
    pub fn extras_enabled(&self) -> Vec<Extra> {
        let all = self.extras.contains(&Extra::All);
        Extra::EACH
            .into_iter()
            .filter(|e| all || self.extras.contains(e))
            .collect()
    }

    /// The canonicalisation options this config asks for.
    pub fn canon_rules(&self) -> crate::canon::Rules {
        crate::canon::Rules {
            sort_query: self.sort_query,
            strip_session_ids: self.strip_session_ids,
        }
    }

    /// Worker count with 0 resolved to the number of CPU cores.
    pub fn worker_count(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout)
    }

    /// The product token robots.txt groups are matched against: the User-Agent up to its first `/` or space.
    pub fn robots_agent(&self) -> String {
        let ua = self.user_agent.trim();
        ua.split(|c: char| c == '/' || c.is_whitespace())
            .next()
            .unwrap_or(ua)
            .to_string()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_toml_parses_to_the_built_in_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
        let text = std::fs::read_to_string(&path).expect("config/default.toml exists");
        let parsed = Config::from_toml(&text, &path).expect("default.toml parses");
        parsed.validate().expect("default.toml validates");
        let mut builtin = serde_json::to_value(Config::default()).unwrap();
        let mut file = serde_json::to_value(&parsed).unwrap();
        // The default user agent embeds the version; the file shows it as written.
        builtin["user_agent"] = serde_json::Value::Null;
        file["user_agent"] = serde_json::Value::Null;
        assert_eq!(
            builtin, file,
            "config/default.toml must match Config::default()"
        );
    }

    #[test]
    fn default_toml_documents_every_key() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let keys = serde_json::to_value(Config::default()).unwrap();
        for key in keys.as_object().unwrap().keys() {
            let documented = text.lines().any(|l| {
                let l = l.trim_start_matches(['#', ' ']);
                l.starts_with(&format!("{key} =")) || l.starts_with(&format!("{key}="))
            });
            assert!(documented, "config/default.toml does not document `{key}`");
        }
    }

    #[test]
    fn unknown_key_and_negative_number_are_one_line_errors_with_a_line() {
        let e = Config::from_toml("concurrency = 4\nfoo = 1\n", Path::new("c.toml")).unwrap_err();
        let s = e.to_string();
        assert!(s.contains("line 2") && s.contains("foo"), "{s}");
        let e = Config::from_toml("\n\nmax_pages = -3\n", Path::new("c.toml")).unwrap_err();
        let s = e.to_string();
        assert!(s.contains("line 3"), "{s}");
        assert!(!s.contains('\n'));
    }

    #[test]
    fn validate_rejects_absurd_values_and_bad_regexes() {
        let c = Config {
            concurrency: 0,
            ..Config::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("concurrency"));
        let c = Config {
            per_host_rate: f64::NAN,
            ..Config::default()
        };
        assert!(c.validate().is_err());
        let c = Config {
            include: vec!["(".into()],
            ..Config::default()
        };
        let s = c.validate().unwrap_err().to_string();
        assert!(s.contains("include") && s.contains("'('"), "{s}");
    }

    #[test]
    fn shared_crawl_keys_are_checked() {
        let check = |f: &dyn Fn(&mut Config)| {
            let mut c = Config::default();
            f(&mut c);
            c.validate().err().map(|e| e.to_string())
        };
        assert_eq!(
            check(&|c| c.frontier = "redis://h:6379/0".parse().unwrap()),
            None
        );
        let e = Config::from_toml("\nfrontier = \"mysql://x\"\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 2") && e.contains("invalid frontier: 'mysql://x' is neither"),
            "{e}"
        );
        assert!(check(&|c| c.crawl_id = "a b".into())
            .unwrap()
            .starts_with("invalid crawl_id"));
        for bad in ["123", "w-00001", "w/1", ""] {
            let e = check(&|c| c.worker_id = Some(bad.into()));
            assert!(
                e.is_some_and(|e| e.starts_with("invalid worker_id")),
                "{bad}"
            );
        }
        for good in ["w1", "host.42", "node-a"] {
            assert_eq!(check(&|c| c.worker_id = Some(good.into())), None, "{good}");
        }
        assert!(check(&|c| c.lease_ttl = 1.0)
            .unwrap()
            .starts_with("invalid lease_ttl"));
        assert!(check(&|c| c.metrics = Some("localhost".into()))
            .unwrap()
            .starts_with("invalid metrics"));
        let e = check(&|c| {
            c.frontier = "redis://h:6379/0".parse().unwrap();
            c.fresh = true;
        })
        .unwrap();
        assert!(e.contains("use a new --crawl-id"), "{e}");
        // The default worker name is one a pages file can carry.
        let mut c = Config::default();
        c.worker_id = Some(c.worker_name());
        assert_eq!(c.validate().err().map(|e| e.to_string()), None);
        // Settings every process must share: politeness in, output out.
        let shared = Config::default().shared_settings();
        assert!(shared.contains_key("per_host_rate") && shared.contains_key("scope"));
        assert!(!shared.contains_key("out") && !shared.contains_key("concurrency"));
    }

    #[test]
    fn robots_agent_is_the_product_token() {
        assert_eq!(Config::default().robots_agent(), "trawl");
        let c = Config {
            user_agent: "MyBot/2.0 (+http://x)".into(),
            ..Config::default()
        };
        assert_eq!(c.robots_agent(), "MyBot");
    }
}
