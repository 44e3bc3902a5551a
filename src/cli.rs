//! Command-line flags. Every crawl flag is also a config key of the same name
//! (`_` for `-`); a flag given here overrides the config file, which overrides the
//! built-in defaults. The help text of each flag is its reference documentation.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use trawl::config::{Compression, Config, ConfigError, Extra, ScopeMode};
use trawl::export::ExportFormat;

#[derive(Debug, Parser)]
#[command(
    name = "trawl",
    version,
    about = "A fast, polite, hard-to-break parallel web crawler",
    long_about = "A fast, polite, hard-to-break parallel web crawler.\n\n\
        Crawl seed URLs within their hosts, obeying robots.txt and per-host rate limits, \
        and write one JSON record per URL attempted to OUT/pages.jsonl plus OUT/stats.json.\n\n\
        Example: trawl crawl --seeds seeds/example.txt --out crawl-out --max-pages 200"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Crawl from seed URLs and write OUT/pages.jsonl and OUT/stats.json.
    Crawl(Box<CrawlArgs>),
    /// Explain robots.txt: for each URL, `allowed` or `disallowed` and the rule that decided it,
    /// using the crawler's own robots.txt logic.
    Robots(RobotsArgs),
    /// Crawl a deterministic synthetic site on loopback, offline, and report pages/s,
    /// CPU-ms per page and peak RSS (politeness off; robots, scheduler and records on).
    Bench(BenchArgs),
    /// Write a crawl's records as a flat table (CSV, TSV) or trimmed JSON lines,
    /// reading every pages part whatever its compression.
    /// Example: trawl export books --fields url,status,data.title,data.price > books.csv
    Export(ExportArgs),
    /// Live counters of a shared crawl in Redis (queued, leased, done, errors, hosts)
    /// and each process's heartbeat.
    Status(StatusArgs),
    /// Combine the pages files of every process of a shared crawl (OUT/pages-<worker>.jsonl)
    /// into one pages.jsonl, each URL once.
    /// Example: trawl merge crawl-out -o merged/pages.jsonl && trawl export merged --fields url,status
    Merge(MergeArgs),
    /// Serve the synthetic site (used by `trawl bench`; prints its address).
    #[command(hide = true)]
    BenchServe {
        #[arg(long, default_value_t = 20_000)]
        pages: usize,
    },
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Pages in the synthetic site.
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    pub pages: usize,

    /// Total requests in flight.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub concurrency: usize,

    /// Requests in flight to the (single) host.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub per_host_concurrency: usize,

    /// Keep the crawl's output here instead of a temporary directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Durable frontier, as `trawl crawl` uses by default.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = true, value_name = "BOOL")]
    pub durable: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The shared crawl's Redis, as given to `trawl crawl --frontier`.
    #[arg(long, value_name = "URL")]
    pub frontier: String,

    /// The crawl's name, as given to `trawl crawl --crawl-id`.
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub crawl_id: String,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Output directories of the crawl's processes (one shared directory, or several).
    #[arg(value_name = "DIR", required = true)]
    pub dirs: Vec<PathBuf>,

    /// The merged file to write (must not exist).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The crawl's output directory (its --out).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// Comma-separated fields: record keys (url, status, title...) or a key inside
    /// one with a dot (data.price, meta.og:title). Missing values are empty cells.
    #[arg(long, value_name = "LIST", value_delimiter = ',', required = true)]
    pub fields: Vec<String>,

    /// csv, tsv or jsonl.
    #[arg(long, value_name = "FORMAT", default_value = "csv")]
    pub format: ExportFormat,

    /// Write here instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RobotsArgs {
    /// URLs to judge.
    #[arg(value_name = "URL", required = true)]
    pub urls: Vec<String>,

    /// Read robots.txt from this file.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "robots_url",
        required_unless_present = "robots_url"
    )]
    pub robots_file: Option<PathBuf>,

    /// Fetch robots.txt from this URL (with the crawler's fetch rules: 4xx = no restrictions,
    /// 5xx = crawl nothing yet, up to 5 redirects).
    #[arg(long, value_name = "URL")]
    pub robots_url: Option<String>,

    /// User-Agent to judge for; its first token is matched against User-agent lines [default: trawl's].
    #[arg(long, value_name = "UA")]
    pub user_agent: Option<String>,

    /// Whole-request deadline in seconds for --robots-url [default: 30].
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
}

#[derive(Debug, Args)]
#[command(allow_negative_numbers = true)]
pub struct CrawlArgs {
    /// Seed URLs (http or https). Combined with --seeds.
    #[arg(value_name = "URL")]
    pub urls: Vec<String>,

    /// Seed list file: one URL per line; blank lines and `#` comments ignored.
    #[arg(long, value_name = "FILE")]
    pub seeds: Option<PathBuf>,

    /// TOML config file (see config/default.toml); flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Output directory for pages.jsonl and stats.json [default: ./crawl-out].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Keep the frontier on disk so that rerunning the same command resumes an interrupted crawl;
    /// `--durable=false` keeps it in memory only [default: true].
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub durable: Option<bool>,

    /// Directory of the durable frontier [default: OUT/state].
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,

    /// Frontier backend: `embedded` (this process only) or `redis://HOST:PORT/DB`, shared by every
    /// process started with the same --crawl-id (each writes OUT/pages-<worker-id>.jsonl)
    /// [default: embedded].
    #[arg(long, value_name = "BACKEND")]
    pub frontier: Option<String>,

    /// Name of the shared crawl in Redis; processes with the same name are one crawler [default: default].
    #[arg(long, value_name = "NAME")]
    pub crawl_id: Option<String>,

    /// This process's name in a shared crawl: letters, digits, - _ . (not ending in -<digits>)
    /// [default: <hostname>.<pid>].
    #[arg(long, value_name = "NAME")]
    pub worker_id: Option<String>,

    /// Seconds without a heartbeat before a process's leased URLs go back to the queue
    /// (redis frontier) [default: 30].
    #[arg(long, value_name = "SECS")]
    pub lease_ttl: Option<f64>,

    /// Serve Prometheus text metrics at http://ADDR/metrics, e.g. 0.0.0.0:9090.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,

    /// Stop after N URLs have been attempted (0 = no limit) [default: 0].
    #[arg(long, value_name = "N")]
    pub max_pages: Option<u64>,

    /// Follow links at most N hops from a seed; seeds are depth 0 [default: no limit].
    #[arg(long, value_name = "N")]
    pub max_depth: Option<u32>,

    /// Total requests in flight across all hosts [default: 64].
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,

    /// Requests in flight to one host (scheme+host+port) [default: 2].
    #[arg(long, value_name = "N")]
    pub per_host_concurrency: Option<usize>,

    /// Requests per second to one host; 0 = no rate limit. robots.txt Crawl-delay can only lower it [default: 1.0].
    #[arg(long, value_name = "R")]
    pub per_host_rate: Option<f64>,

    /// Frontier shard workers; 0 = one per CPU core [default: 0].
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,

    /// Which links to follow: the seeds' hosts, their registrable domains, or any [default: host].
    #[arg(long, value_name = "host|domain|any")]
    pub scope: Option<ScopeMode>,

    /// Follow only URLs whose canonical form matches this regex (repeatable; any match).
    #[arg(long, value_name = "REGEX")]
    pub include: Vec<String>,

    /// Never follow URLs whose canonical form matches this regex (repeatable).
    #[arg(long, value_name = "REGEX")]
    pub exclude: Vec<String>,

    /// Do not fetch or obey robots.txt or meta robots nofollow (`=false` overrides the config).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub ignore_robots: Option<bool>,

    /// User-Agent header; its first token is matched against robots.txt groups
    /// [default: trawl/VERSION (+https://github.com/trawl-crawler/trawl; ...)].
    #[arg(long, value_name = "UA")]
    pub user_agent: Option<String>,

    /// Whole-request deadline in seconds: connect, headers and body together [default: 30].
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,

    /// Largest body kept, in bytes after decompression; longer ones are cut and recorded as too_large [default: 10485760].
    #[arg(long, value_name = "BYTES")]
    pub max_body: Option<u64>,

    /// Redirect hops followed from one URL before it is recorded as an error [default: 10].
    #[arg(long, value_name = "N")]
    pub max_redirects: Option<u32>,

    /// Trap guard: longest canonical URL admitted, in bytes; 0 = no limit [default: 2048].
    #[arg(long, value_name = "N")]
    pub max_url_length: Option<usize>,

    /// Trap guard: most path segments in an admitted URL; 0 = no limit [default: 32].
    #[arg(long, value_name = "N")]
    pub max_path_depth: Option<usize>,

    /// Trap guard: most times one path segment may occur in a URL; 0 = no limit [default: 3].
    #[arg(long, value_name = "N")]
    pub max_repeated_segments: Option<usize>,

    /// Trap guard: longest chain of links that only change a page's query (calendars); 0 = no limit [default: 100].
    #[arg(long, value_name = "N")]
    pub max_query_hops: Option<u32>,

    /// Trap guard: most URLs admitted per host; 0 = no limit [default: 100000].
    #[arg(long, value_name = "N")]
    pub max_pages_per_host: Option<u64>,

    /// Allow hosts that resolve to loopback, private or link-local addresses (seed hosts always are).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub allow_private: Option<bool>,

    /// Retries of a transient failure (timeout, connection error, 408, 429, 500, 502, 503, 504, 522, 524) [default: 2].
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,

    /// First retry backoff in seconds; doubles each retry, with jitter [default: 1.0].
    #[arg(long, value_name = "SECS")]
    pub retry_backoff: Option<f64>,

    /// Start over when OUT already holds a crawl (its pages files, stats.json, frontier state and WARC files are removed).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub fresh: Option<bool>,

    /// Built-in extras added to HTML pages' records, comma-separated: description,
    /// canonical, lang, meta, json_ld, text, or all. Extraction rules are config-only ([[rules]]).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub extras: Vec<Extra>,

    /// Longest readable text kept per page, in characters; 0 keeps none [default: 100000].
    #[arg(long, value_name = "N")]
    pub max_text_chars: Option<usize>,

    /// Discover sitemaps (robots.txt Sitemap: lines, else /sitemap.xml) and crawl what they list.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub sitemaps: Option<bool>,

    /// Most sitemaps fetched per host, indexes included [default: 100].
    #[arg(long, value_name = "N")]
    pub max_sitemaps_per_host: Option<u32>,

    /// Most URLs taken from one sitemap [default: 50000].
    #[arg(long, value_name = "N")]
    pub max_sitemap_urls: Option<usize>,

    /// Most bytes read from one sitemap after decompression [default: 52428800].
    #[arg(long, value_name = "BYTES")]
    pub max_sitemap_bytes: Option<u64>,

    /// Compress pages.jsonl: none, gzip or zstd [default: none].
    #[arg(long, value_name = "none|gzip|zstd")]
    pub compress: Option<Compression>,

    /// Split pages into numbered parts of about this many bytes on disk (compressed
    /// size when compressed); 0 = one file [default: 0].
    #[arg(long, value_name = "BYTES")]
    pub rotate_size: Option<u64>,

    /// Also archive every fetch as WARC 1.1 under OUT/warc/.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub warc: Option<bool>,

    /// Start a new WARC file once the current one reaches this many bytes [default: 1073741824].
    #[arg(long, value_name = "BYTES")]
    pub warc_rotate_size: Option<u64>,

    /// Only errors on stderr.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Debug logging (RUST_LOG overrides).
    #[arg(short, long)]
    pub verbose: bool,
}

impl CrawlArgs {
    /// Applies the flags given on the command line over `config`.
    pub fn apply(&self, config: &mut Config) -> Result<(), ConfigError> {
        fn set<T: Clone>(slot: &mut T, v: &Option<T>) {
            if let Some(v) = v {
                *slot = v.clone();
            }
        }
        set(&mut config.out, &self.out);
        if self.seeds.is_some() {
            config.seeds = self.seeds.clone();
        }
        set(&mut config.durable, &self.durable);
        if self.state.is_some() {
            config.state = self.state.clone();
        }
        if let Some(f) = &self.frontier {
            config.frontier = f.parse().map_err(|message| ConfigError::Invalid {
                key: "frontier",
                message,
            })?;
        }
        set(&mut config.crawl_id, &self.crawl_id);
        if self.worker_id.is_some() {
            config.worker_id = self.worker_id.clone();
        }
        set(&mut config.lease_ttl, &self.lease_ttl);
        if self.metrics.is_some() {
            config.metrics = self.metrics.clone();
        }
        set(&mut config.max_pages, &self.max_pages);
        if self.max_depth.is_some() {
            config.max_depth = self.max_depth;
        }
        set(&mut config.concurrency, &self.concurrency);
        set(&mut config.per_host_concurrency, &self.per_host_concurrency);
        set(&mut config.per_host_rate, &self.per_host_rate);
        set(&mut config.workers, &self.workers);
        set(&mut config.scope, &self.scope);
        if !self.include.is_empty() {
            config.include = self.include.clone();
        }
        if !self.exclude.is_empty() {
            config.exclude = self.exclude.clone();
        }
        set(&mut config.user_agent, &self.user_agent);
        set(&mut config.timeout, &self.timeout);
        set(&mut config.max_body, &self.max_body);
        set(&mut config.max_redirects, &self.max_redirects);
        set(&mut config.max_url_length, &self.max_url_length);
        set(&mut config.max_path_depth, &self.max_path_depth);
        set(
            &mut config.max_repeated_segments,
            &self.max_repeated_segments,
        );
        set(&mut config.max_query_hops, &self.max_query_hops);
        set(&mut config.max_pages_per_host, &self.max_pages_per_host);
        set(&mut config.retries, &self.retries);
        set(&mut config.retry_backoff, &self.retry_backoff);
        set(&mut config.ignore_robots, &self.ignore_robots);
        set(&mut config.allow_private, &self.allow_private);
        set(&mut config.fresh, &self.fresh);
        if !self.extras.is_empty() {
            config.extras = self.extras.clone();
        }
        set(&mut config.max_text_chars, &self.max_text_chars);
        set(&mut config.sitemaps, &self.sitemaps);
        set(
            &mut config.max_sitemaps_per_host,
            &self.max_sitemaps_per_host,
        );
        set(&mut config.max_sitemap_urls, &self.max_sitemap_urls);
        set(&mut config.max_sitemap_bytes, &self.max_sitemap_bytes);
        set(&mut config.compress, &self.compress);
        set(&mut config.rotate_size, &self.rotate_size);
        set(&mut config.warc, &self.warc);
        set(&mut config.warc_rotate_size, &self.warc_rotate_size);
        config.quiet |= self.quiet;
        config.verbose |= self.verbose;
        Ok(())
    }
}
