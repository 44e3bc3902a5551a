//! The settings, by section. Each setting is declared here once: its type, its
//! default (the section's `Default`), and its documentation, which is also its
//! `--help` text. The same field is the TOML key (sections are flattened: the file
//! stays flat) and the flag (`_` for `-`); see `config/default.toml`.
//!
//! Flags are parsed into these very structs (`clap::Args`), and only the flags
//! given on the command line overwrite a field: that is why every flag is
//! `required = false` without a clap default (the default lives in `Default`), and
//! no section is an argument group (`group(skip)`): none is required as a whole.

use std::path::PathBuf;

use clap::{ArgAction, Args};
use serde::{Deserialize, Serialize};

use super::values::{
    default_user_agent, Backend, Compression, Extra, RenderMode, RuleSet, ScopeMode, WaitRule,
};

/// Where the records go, and in what form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Args)]
#[serde(default)]
#[group(skip)]
#[command(next_help_heading = "Output")]
pub struct OutputSettings {
    /// Output directory for pages.jsonl and stats.json [default: ./crawl-out].
    #[arg(long, required = false, value_name = "DIR")]
    pub out: PathBuf,
    /// Start over when OUT already holds a crawl (its pages files, stats.json, frontier state and WARC files are removed).
    #[arg(long, required = false, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub fresh: bool,
    /// Recrawl: the out dir of an earlier crawl. Its URLs are all admitted again (at their depth, under this crawl's scope), each asked for with If-None-Match / If-Modified-Since from its record; a 304 is recorded not_modified with the earlier digest.
    #[arg(long, value_name = "PREVIOUS_OUT")]
    pub since: Option<PathBuf>,
    /// Compress pages.jsonl: none, gzip or zstd [default: none].
    #[arg(long, required = false, value_name = "none|gzip|zstd")]
    pub compress: Compression,
    /// Split pages into numbered parts of about this many bytes on disk (compressed
    /// size when compressed); 0 = one file [default: 0].
    #[arg(long, value_parser = super::units::parse_bytes, required = false, value_name = "BYTES")]
    #[serde(deserialize_with = "super::units::bytes")]
    pub rotate_size: u64,
    /// Also archive every fetch as WARC 1.1 under OUT/warc/.
    #[arg(long, required = false, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub warc: bool,
    /// Start a new WARC file once the current one reaches this many bytes [default: 1073741824].
    #[arg(long, value_parser = super::units::parse_bytes, required = false, value_name = "BYTES")]
    #[serde(deserialize_with = "super::units::bytes")]
    pub warc_rotate_size: u64,
}

impl Default for OutputSettings {
    fn default() -> Self {
        OutputSettings {
            out: PathBuf::from("crawl-out"),
            fresh: false,
            since: None,
            compress: Compression::None,
            rotate_size: 0,
            warc: false,
            warc_rotate_size: 1024 * 1024 * 1024,
        }
    }
}

/// Where the frontier lives, and how this process takes part in a shared crawl.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Args)]
#[serde(default)]
#[group(skip)]
#[command(next_help_heading = "Frontier")]
pub struct FrontierSettings {
    /// Keep the frontier on disk so that rerunning the same command resumes an interrupted crawl;
    /// `--durable=false` keeps it in memory only [default: true].
    #[arg(long, required = false, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub durable: bool,
    /// Directory of the durable frontier [default: OUT/state].
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Frontier backend: `embedded` (this process only) or `redis://[USER:PASSWORD@]HOST:PORT/DB`
    /// (`rediss://` for TLS; any node of a Redis Cluster), shared by every process started with
    /// the same --crawl-id (each writes OUT/pages-<worker-id>.jsonl) [default: embedded].
    #[serde(rename = "frontier")]
    #[arg(
        long = "frontier",
        id = "frontier",
        required = false,
        value_name = "BACKEND"
    )]
    pub backend: Backend,
    /// PEM file of the certificate authority that signed a `rediss://` server's certificate
    /// (a private CA) [default: the bundled public roots].
    #[arg(long, value_name = "FILE")]
    pub redis_ca: Option<PathBuf>,
    /// Name of the shared crawl in Redis; processes with the same name are one crawler [default: default].
    #[arg(long, required = false, value_name = "NAME")]
    pub crawl_id: String,
    /// This process's name in a shared crawl: letters, digits, - _ . (not ending in -<digits>)
    /// [default: <hostname>.<pid>].
    #[arg(long, value_name = "NAME")]
    pub worker_id: Option<String>,
    /// Seconds without a heartbeat before a process's leased URLs go back to the queue
    /// (redis frontier) [default: 30].
    #[arg(long, value_parser = super::units::parse_secs, required = false, value_name = "SECS")]
    #[serde(deserialize_with = "super::units::secs")]
    pub lease_ttl: f64,
    /// Frontier shard workers; 0 = one per CPU core [default: 0].
    #[arg(long, required = false, value_name = "N")]
    pub workers: usize,
}

impl Default for FrontierSettings {
    fn default() -> Self {
        FrontierSettings {
            durable: true,
            state: None,
            backend: Backend::Embedded,
            redis_ca: None,
            crawl_id: "default".into(),
            worker_id: None,
            lease_ttl: 30.0,
            workers: 0,
        }
    }
}

/// How hard hosts are hit, and what their owners ask for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Args)]
#[serde(default)]
#[group(skip)]
#[command(next_help_heading = "Politeness")]
pub struct PolitenessSettings {
    /// Total requests in flight across all hosts [default: 64].
    #[arg(long, required = false, value_name = "N")]
    pub concurrency: usize,
    /// Requests in flight to one host (scheme+host+port) [default: 2].
    #[arg(long, required = false, value_name = "N")]
    pub per_host_concurrency: usize,
    /// Requests per second to one host; 0 = no rate limit, else 0.00028 (one an hour) to 100000. robots.txt Crawl-delay can only lower it [default: 1.0].
    #[arg(long, required = false, value_name = "R")]
    pub per_host_rate: f64,
    /// Do not fetch or obey robots.txt, nor the nofollow of meta robots and X-Robots-Tag (`=false` overrides the config).
    #[arg(long, required = false, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub ignore_robots: bool,
    /// Longest robots.txt Crawl-delay honoured, in seconds; longer values are clamped to this [default: 30].
    #[arg(long, value_parser = super::units::parse_secs, required = false, value_name = "SECS")]
    #[serde(deserialize_with = "super::units::secs")]
    pub max_crawl_delay: f64,
    /// Longest Retry-After honoured, in seconds; longer values are clamped to this [default: 300].
    #[arg(long, value_parser = super::units::parse_secs, required = false, value_name = "SECS")]
    #[serde(deserialize_with = "super::units::secs")]
    pub max_retry_after: f64,
    /// Memory for parsed robots.txt files, in bytes; least recently used hosts are dropped (and fetch robots.txt again when next needed) [default: 67108864].
    #[arg(long, value_parser = super::units::parse_bytes, required = false, value_name = "BYTES")]
    #[serde(deserialize_with = "super::units::bytes")]
    pub robots_cache_bytes: u64,
}

impl Default for PolitenessSettings {
    fn default() -> Self {
        PolitenessSettings {
            concurrency: 64,
            per_host_concurrency: 2,
            per_host_rate: 1.0,
            ignore_robots: false,
            max_crawl_delay: 30.0,
            max_retry_after: 300.0,
            robots_cache_bytes: 64 * 1024 * 1024,
        }
    }
}

/// One request: who we say we are, how long we wait, how much we take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Args)]
#[serde(default)]
#[group(skip)]
#[command(next_help_heading = "Fetch")]
pub struct FetchSettings {
    /// User-Agent header; its product token (leading letters, `-`, `_`) is matched against robots.txt groups
    /// [default: trawl/VERSION (+https://github.com/trawl-crawler/trawl; ...)].
    #[arg(long, required = false, value_name = "UA")]
    pub user_agent: String,
    /// A header sent on every request, 'Name: value' (repeat for more; replaces the file's [headers] table).
    #[arg(long = "header", value_name = "'NAME: VALUE'")]
    #[serde(with = "super::values::header_table")]
    pub headers: Vec<super::values::Header>,
    /// Netscape cookies.txt (as curl, wget and browser extensions export) loaded into the crawl's cookie jar at start.
    #[arg(long, value_name = "FILE")]
    pub cookies: Option<PathBuf>,
    /// No cookie jar: no cookie is sent, and servers' Set-Cookie is ignored.
    #[arg(long, required = false, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub no_cookies: bool,
    /// Settings for the hosts a table matches (config file only: `[[hosts]]`).
    #[arg(skip)]
    pub hosts: Vec<super::hosts::HostRule>,
    /// Proxy for every request: http://, https:// or socks5h:// (the proxy resolves names), credentials in the URL; unset = the HTTP_PROXY, HTTPS_PROXY and NO_PROXY variables.
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,
    /// Whole-request deadline in seconds: connect, headers and body together [default: 30].
    #[arg(long, value_parser = super::units::parse_secs, required = false, value_name = "SECS")]
    #[serde(deserialize_with = "super::units::secs")]
    pub timeout: f64,
    /// Largest body kept, in bytes after decompression; longer ones are cut and recorded as too_large [default: 10485760].
    #[arg(long, value_parser = super::units::parse_bytes, required = false, value_name = "BYTES")]
    #[serde(deserialize_with = "super::units::bytes")]
    pub max_body: u64,
    /// Redirect hops followed from one URL before it is recorded as an error [default: 10].
    #[arg(long, required = false, value_name = "N")]
    pub max_redirects: u32,
    /// Allow hosts that resolve to loopback, private or link-local addresses (seed hosts always are).
    #[arg(long, required = false, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub allow_private: bool,
    /// Retries of a transient failure (timeout, connection error, 408, 429, 500, 502, 503, 504, 522, 524) [default: 2].
    #[arg(long, required = false, value_name = "N")]
    pub retries: u32,
    /// First retry backoff in seconds; doubles each retry, with jitter [default: 1.0].
    #[arg(long, value_parser = super::units::parse_secs, required = false, value_name = "SECS")]
    #[serde(deserialize_with = "super::units::secs")]
    pub retry_backoff: f64,
    /// Connection-level failures in a row (DNS, refused, reset, TLS, timeout; robots.txt
    /// fetches included; those within a second of the last one counted count once) after
    /// which a host is declared unreachable: its queued and later URLs are recorded as
    /// host_unreachable without a fetch; 0 = never [default: 3].
    #[arg(long, required = false, value_name = "N")]
    pub unreachable_after: u32,
    /// Seconds within which those failures must fall: an older failure is forgotten, so a
    /// host failing now and then is never declared unreachable [default: 120].
    #[arg(long, value_parser = super::units::parse_secs, required = false, value_name = "SECS")]
    #[serde(deserialize_with = "super::units::secs")]
    pub unreachable_window: f64,
}

impl Default for FetchSettings {
    fn default() -> Self {
        FetchSettings {
            user_agent: default_user_agent(),
            headers: Vec::new(),
            cookies: None,
            no_cookies: false,
            proxy: None,
            hosts: Vec::new(),
            timeout: 30.0,
            max_body: 10 * 1024 * 1024,
            max_redirects: 10,
            allow_private: false,
            retries: 2,
            retry_backoff: 1.0,
            unreachable_after: 3,
            unreachable_window: 120.0,
        }
    }
}

/// Which URLs the crawl wants, and when two spellings are one URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Args)]
#[serde(default)]
#[group(skip)]
#[command(next_help_heading = "Scope")]
pub struct ScopeSettings {
    /// Which links to follow: the seeds' hosts, their registrable domains, or any [default: host].
    #[arg(long, required = false, value_name = "host|domain|any")]
    pub scope: ScopeMode,
    /// Follow only URLs whose canonical form matches this regex (repeatable; any match).
    #[arg(long, value_name = "REGEX")]
    pub include: Vec<String>,
    /// Never follow URLs whose canonical form matches this regex (repeatable).
    #[arg(long, value_name = "REGEX")]
    pub exclude: Vec<String>,
    /// Follow links at most N hops from a seed; seeds are depth 0 [default: no limit].
    #[arg(long, value_name = "N")]
    pub max_depth: Option<u32>,
    /// Stop after N URLs have been attempted (0 = no limit) [default: 0].
    #[arg(long, required = false, value_name = "N")]
    pub max_pages: u64,
    /// Follow links marked rel="nofollow".
    #[arg(long, required = false, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub follow_nofollow: bool,
    /// Never fetch links whose path ends in one of these extensions, comma-separated
    /// (replaces the list; empty fetches everything) [default: images, audio, video,
    /// archives, fonts, css, js, office documents, pdf, installers].
    #[arg(long, required = false, value_name = "LIST", value_delimiter = ',')]
    pub skip_extensions: Vec<String>,
    /// Also fetch what each HTML page needs to render (images, stylesheets, scripts,
    /// icons, media), as wget -p: past skip_extensions and one hop past max_depth,
    /// within scope, robots.txt and the budgets; never parsed for links.
    #[arg(long, required = false, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub page_requisites: bool,
    /// Treat URLs differing only in query parameter order as the same page [default: true].
    #[arg(long, required = false, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub sort_query: bool,
    /// Drop session-id parameters (jsessionid, phpsessid, sid, ...) from URLs [default: true].
    #[arg(long, required = false, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub strip_session_ids: bool,
}

impl Default for ScopeSettings {
    fn default() -> Self {
        ScopeSettings {
            scope: ScopeMode::Host,
            include: Vec::new(),
            exclude: Vec::new(),
            max_depth: None,
            max_pages: 0,
            follow_nofollow: false,
            skip_extensions: super::values::NEVER_HTML
                .iter()
                .map(|e| e.to_string())
                .collect(),
            page_requisites: false,
            sort_query: true,
            strip_session_ids: true,
        }
    }
}

/// Spider-trap guards: 0 turns one off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Args)]
#[serde(default)]
#[group(skip)]
#[command(next_help_heading = "Spider traps")]
pub struct TrapSettings {
    /// Trap guard: longest canonical URL admitted, in bytes; 0 = no limit [default: 2048].
    #[arg(long, required = false, value_name = "N")]
    pub max_url_length: usize,
    /// Trap guard: most path segments in an admitted URL; 0 = no limit [default: 32].
    #[arg(long, required = false, value_name = "N")]
    pub max_path_depth: usize,
    /// Trap guard: most times one path segment may occur in a URL; 0 = no limit [default: 3].
    #[arg(long, required = false, value_name = "N")]
    pub max_repeated_segments: usize,
    /// Trap guard: longest chain of links that only change a page's query (calendars); 0 = no limit [default: 100].
    #[arg(long, required = false, value_name = "N")]
    pub max_query_hops: u32,
    /// Trap guard: most URLs admitted per host; 0 = no limit [default: 100000].
    #[arg(long, required = false, value_name = "N")]
    pub max_pages_per_host: u64,
    /// Most links taken from one page (the first N in document order); the rest are
    /// dropped and counted as links_cut in stats.json; 0 = no limit [default: 10000].
    #[arg(long, required = false, value_name = "N")]
    pub max_links_per_page: usize,
}

impl Default for TrapSettings {
    fn default() -> Self {
        TrapSettings {
            max_url_length: 2048,
            max_path_depth: 32,
            max_repeated_segments: 3,
            max_query_hops: 100,
            max_pages_per_host: 100_000,
            max_links_per_page: 10_000,
        }
    }
}

/// What a record carries beyond the fetch: extras and extraction rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Args)]
#[serde(default)]
#[group(skip)]
#[command(next_help_heading = "Extraction")]
pub struct ExtractSettings {
    /// Built-in extras added to HTML pages' records, comma-separated: description, lang,
    /// meta, json_ld, text, links (the link graph, in field `outlinks`), or all (every one
    /// but links). Extraction rules are config-only ([[rules]]).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub extras: Vec<Extra>,
    /// Longest readable text kept per page, in characters; 0 keeps none [default: 100000].
    #[arg(long, required = false, value_name = "N")]
    pub max_text_chars: usize,
    /// Extraction rule sets (config file only: `[[rules]]` tables).
    #[arg(skip)]
    pub rules: Vec<RuleSet>,
}

impl Default for ExtractSettings {
    fn default() -> Self {
        ExtractSettings {
            extras: Vec::new(),
            max_text_chars: 100_000,
            rules: Vec::new(),
        }
    }
}

/// Sitemap discovery and its limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Args)]
#[serde(default)]
#[group(skip)]
#[command(next_help_heading = "Sitemaps")]
pub struct SitemapSettings {
    /// Discover sitemaps (robots.txt Sitemap: lines, else /sitemap.xml) and crawl what they list.
    #[arg(long, required = false, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub sitemaps: bool,
    /// Most sitemaps fetched per host, indexes included [default: 100].
    #[arg(long, required = false, value_name = "N")]
    pub max_sitemaps_per_host: u32,
    /// Most URLs taken from one sitemap [default: 50000].
    #[arg(long, required = false, value_name = "N")]
    pub max_sitemap_urls: usize,
    /// Most bytes read from one sitemap after decompression [default: 52428800].
    #[arg(long, value_parser = super::units::parse_bytes, required = false, value_name = "BYTES")]
    #[serde(deserialize_with = "super::units::bytes")]
    pub max_sitemap_bytes: u64,
}

impl Default for SitemapSettings {
    fn default() -> Self {
        SitemapSettings {
            sitemaps: false,
            max_sitemaps_per_host: 100,
            max_sitemap_urls: 50_000,
            max_sitemap_bytes: 50 * 1024 * 1024,
        }
    }
}

/// Rendering script-built pages in headless Chromium.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Args)]
#[serde(default)]
#[group(skip)]
#[command(next_help_heading = "Rendering")]
pub struct RenderSettings {
    /// Render pages in headless Chromium: never; auto (only pages that look script-built: an empty app root, a noscript asking for JavaScript, or scripts beside almost no text and links); always (every HTML page) [default: never].
    #[arg(long, required = false, value_name = "never|auto|always")]
    pub render: RenderMode,
    /// Chromium, Chrome or chromium-headless-shell to render with [default: the first of chromium-headless-shell, chromium, chromium-browser, google-chrome, chrome on the PATH].
    #[arg(long, value_name = "PATH")]
    pub browser: Option<PathBuf>,
    /// Pages rendered at once (browser tabs) [default: 4].
    #[arg(long, required = false, value_name = "N")]
    pub render_concurrency: usize,
    /// Seconds one page may take to render, its wait rule included; a page still busy then is read as it stands, one that does not answer within 3 s more is closed and recorded as a render error [default: 20].
    #[arg(long, value_parser = super::units::parse_secs, required = false, value_name = "SECS")]
    #[serde(deserialize_with = "super::units::secs")]
    pub render_timeout: f64,
    /// When a rendered page is read: load (the load event), idle (load, then no request in flight for 500 ms), or selector:CSS (an element matching CSS exists) [default: idle].
    #[arg(long, required = false, value_name = "load|idle|selector:CSS")]
    pub render_wait: WaitRule,
    /// Pages one browser process renders before it is replaced by a fresh one, so its memory stays bounded; 0 = never [default: 500].
    #[arg(long, required = false, value_name = "N")]
    pub render_recycle: u64,
    /// What a rendered page may not load, comma-separated resource types: image, media, font, stylesheet, texttrack, manifest, ping, other; `--render-block=` blocks none [default: image,media,font].
    #[arg(long, required = false, value_name = "LIST", value_delimiter = ',')]
    pub render_block: Vec<String>,
}

impl Default for RenderSettings {
    fn default() -> Self {
        RenderSettings {
            render: RenderMode::Never,
            browser: None,
            render_concurrency: 4,
            render_timeout: 20.0,
            render_wait: WaitRule::Idle,
            render_recycle: 500,
            render_block: ["image", "media", "font"].map(String::from).to_vec(),
        }
    }
}

/// The process: its input, what it shows, how it stops.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Args)]
#[serde(default)]
#[group(skip)]
#[command(next_help_heading = "Process")]
pub struct RunSettings {
    /// Seed list file: one URL per line; blank lines and `#` comments ignored.
    #[arg(long, value_name = "FILE")]
    pub seeds: Option<PathBuf>,
    /// Serve Prometheus text metrics at http://ADDR/metrics and a live status page at http://ADDR/: IP:PORT, or :PORT for all IPv4 interfaces (e.g. :9090).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,
    /// With --metrics: seconds the endpoint keeps serving the final values after the crawl ends, so the last scrape sees the finish (Ctrl-C ends it early) [default: 15].
    #[arg(long, value_parser = super::units::parse_secs, required = false, value_name = "SECS")]
    #[serde(deserialize_with = "super::units::secs")]
    pub metrics_linger: f64,
    /// Seconds between progress lines in the log when stderr is not a terminal [default: 10].
    #[arg(long, value_parser = super::units::parse_secs, required = false, value_name = "SECS")]
    #[serde(deserialize_with = "super::units::secs")]
    pub progress_interval: f64,
    /// Seconds in-flight requests get to finish after a stop signal before they are abandoned [default: 5].
    #[arg(long, value_parser = super::units::parse_secs, required = false, value_name = "SECS")]
    #[serde(deserialize_with = "super::units::secs")]
    pub shutdown_grace: f64,
    /// Only errors on stderr.
    #[arg(short, long, required = false, action = ArgAction::Set, num_args = 0, default_missing_value = "true", conflicts_with = "verbose")]
    pub quiet: bool,
    /// Debug logging (RUST_LOG overrides).
    #[arg(short, long, required = false, action = ArgAction::Set, num_args = 0, default_missing_value = "true")]
    pub verbose: bool,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            seeds: None,
            metrics: None,
            metrics_linger: 15.0,
            progress_interval: 10.0,
            shutdown_grace: 5.0,
            quiet: false,
            verbose: false,
        }
    }
}
