//! Command-line flags. The crawl's settings are declared once, in `trawl::config`
//! (each a config key and a flag of the same name, `_` for `-`); a flag given
//! overrides the config file, which overrides the built-in defaults. The help text
//! of each flag is its reference documentation.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use trawl::config::Config;
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

    /// The CA of a `rediss://` server, as given to `trawl crawl --redis-ca`.
    #[arg(long, value_name = "FILE")]
    pub redis_ca: Option<std::path::PathBuf>,

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

    /// Write here instead of standard output (whole or not at all: a temporary
    /// file beside it, renamed when complete).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Leave CSV/TSV cells that start with =, +, -, @, tab or CR as they are. By
    /// default they get a leading ' so a spreadsheet shows them as text instead of
    /// running them as formulas (pages are written by strangers).
    #[arg(long)]
    pub raw_cells: bool,
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

    /// User-Agent to judge for; its product token (leading letters, `-`, `_`) is matched against User-agent lines [default: trawl's].
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

    /// TOML config file (see config/default.toml); flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Every setting, each a config key of the same name (declared in
    /// `trawl::config`'s sections): the built-in defaults with the flags given.
    #[command(flatten)]
    pub settings: Config,
}
