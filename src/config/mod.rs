//! Crawl configuration: section structs (`sections.rs`), filled from built-in
//! defaults, then a TOML file, then the flags given on the command line, and
//! checked once by [`Config::validate`] (`validate.rs`).
//!
//! A setting is declared once, in its section: the field is the TOML key and, with
//! `-` for `_`, the flag; its doc is its `--help` text. The file stays flat (the
//! sections are flattened), and `config/default.toml` documents every key; unit
//! tests parse that file and check that every key has a flag and every flag a key.
//! Unknown keys are errors: a typo in a config must never silently become a default.
//!
//! This module never does I/O beyond reading the config file, and never decides
//! crawl behaviour: it only says what the user asked for.

pub mod hosts;
mod sections;
pub mod units;
mod validate;
mod values;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use thiserror::Error;

pub use hosts::{HostRule, RobotsMode};
pub use sections::*;
pub use values::*;

/// Everything a crawl can be told, by section. Serialised flat (one key per
/// setting, as in the file); read only through [`Config::from_toml`], which checks
/// for unknown keys and keeps the line of an error.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Config {
    #[serde(flatten)]
    pub output: OutputSettings,
    #[serde(flatten)]
    pub frontier: FrontierSettings,
    #[serde(flatten)]
    pub politeness: PolitenessSettings,
    #[serde(flatten)]
    pub fetch: FetchSettings,
    #[serde(flatten)]
    pub scope: ScopeSettings,
    #[serde(flatten)]
    pub traps: TrapSettings,
    #[serde(flatten)]
    pub extract: ExtractSettings,
    #[serde(flatten)]
    pub sitemaps: SitemapSettings,
    #[serde(flatten)]
    pub render: RenderSettings,
    #[serde(flatten)]
    pub run: RunSettings,
}

/// The command line's view of the same settings: every section's flags. Only the
/// flags given overwrite a setting ([`Config::apply_flags`]).
impl clap::Args for Config {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        let cmd = OutputSettings::augment_args(cmd);
        let cmd = FrontierSettings::augment_args(cmd);
        let cmd = PolitenessSettings::augment_args(cmd);
        let cmd = FetchSettings::augment_args(cmd);
        let cmd = ScopeSettings::augment_args(cmd);
        let cmd = TrapSettings::augment_args(cmd);
        let cmd = ExtractSettings::augment_args(cmd);
        let cmd = SitemapSettings::augment_args(cmd);
        let cmd = RenderSettings::augment_args(cmd);
        RunSettings::augment_args(cmd)
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Config::augment_args(cmd)
    }
}

impl clap::FromArgMatches for Config {
    /// The built-in defaults, with the flags given on top.
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Config, clap::Error> {
        let mut config = Config::default();
        config.update_from_arg_matches(matches)?;
        Ok(config)
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        self.output.update_from_arg_matches(m)?;
        self.frontier.update_from_arg_matches(m)?;
        self.politeness.update_from_arg_matches(m)?;
        self.fetch.update_from_arg_matches(m)?;
        self.scope.update_from_arg_matches(m)?;
        self.traps.update_from_arg_matches(m)?;
        self.extract.update_from_arg_matches(m)?;
        self.sitemaps.update_from_arg_matches(m)?;
        self.render.update_from_arg_matches(m)?;
        self.run.update_from_arg_matches(m)
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

/// Requests per second, as `per_host_rate` and a `[[hosts]]` table's `rate` take
/// them: 0 (no limit), or from one an hour (a slower rate would look like a hang)
/// to 100,000.
pub fn rate_in_range(rate: f64) -> bool {
    rate == 0.0 || (rate.is_finite() && (1.0 / 3600.0..=100_000.0).contains(&rate))
}

/// What [`rate_in_range`] allows, said to the user.
pub const RATE_RANGE: &str =
    "must be 0 (no limit) or from 0.00028 (one request an hour) to 100000 requests per second";

impl Config {
    /// Reads a TOML file; keys not given keep their defaults.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_toml(&text, path)
    }

    /// Parses TOML text; `path` only names the source in errors, which give the
    /// line at fault.
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let error = |e: toml::de::Error| ConfigError::Parse {
            path: path.to_path_buf(),
            line: e.span().map_or(0, |s| line_at(text, s.start)),
            message: e.message().trim().replace('\n', " "),
        };
        let table: toml::Table = toml::from_str(text).map_err(error)?;
        let known = Config::keys();
        if let Some(key) = table.keys().find(|k| !known.contains(k)) {
            let all: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
            return Err(ConfigError::Parse {
                path: path.to_path_buf(),
                line: line_of(text, key),
                message: format!("unknown field `{key}`, expected one of {}", all.join(", ")),
            });
        }
        // Each section reads its own keys from the whole (flat) file: an error
        // keeps the span of the value at fault, which flattening would lose.
        Ok(Config {
            output: toml::from_str(text).map_err(error)?,
            frontier: toml::from_str(text).map_err(error)?,
            politeness: toml::from_str(text).map_err(error)?,
            fetch: toml::from_str(text).map_err(error)?,
            scope: toml::from_str(text).map_err(error)?,
            traps: toml::from_str(text).map_err(error)?,
            extract: toml::from_str(text).map_err(error)?,
            sitemaps: toml::from_str(text).map_err(error)?,
            render: toml::from_str(text).map_err(error)?,
            run: toml::from_str(text).map_err(error)?,
        })
    }

    /// Every key a config file may hold (every setting, flat), section by section.
    pub fn keys() -> Vec<String> {
        use clap::Args as _;
        // The flags list the keys in declaration order; the file-only keys follow.
        let cmd = Config::augment_args(clap::Command::new("crawl"));
        let mut keys: Vec<String> = cmd
            .get_arguments()
            .filter(|a| a.get_long().is_some())
            .map(|a| a.get_id().to_string())
            .collect();
        if let Ok(serde_json::Value::Object(all)) = serde_json::to_value(Config::default()) {
            keys.extend(
                all.keys()
                    .filter(|k| !keys.contains(k))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
        }
        keys
    }

    /// Overwrites the settings whose flags were given on the command line.
    pub fn apply_flags(&mut self, matches: &clap::ArgMatches) -> Result<(), ConfigError> {
        clap::FromArgMatches::update_from_arg_matches(self, matches).map_err(|e| {
            ConfigError::Invalid {
                key: "command line",
                message: e.to_string().trim().replace('\n', " "),
            }
        })
    }

    /// True when the frontier lives in Redis, shared with other processes.
    pub fn is_shared(&self) -> bool {
        self.frontier.backend != Backend::Embedded
    }

    /// This process's name in a shared crawl: --worker-id, or host name and pid.
    pub fn worker_name(&self) -> String {
        match &self.frontier.worker_id {
            Some(id) => id.clone(),
            None => format!("{}.{}", host_name(), std::process::id()),
        }
    }

    /// This process's `worker` label in metrics: --worker-id, or the host name
    /// (a container's stays the same across restarts), never the process id, so a
    /// restarted worker continues its own series.
    pub fn metrics_label(&self) -> String {
        match &self.frontier.worker_id {
            Some(id) => id.clone(),
            None => host_name(),
        }
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
            "skip_extensions",
            "page_requisites",
            "sitemaps",
            "lease_ttl",
        ];
        let mut shared: serde_json::Map<_, _> = all
            .into_iter()
            .filter(|(k, _)| SHARED.contains(&k.as_str()))
            .collect();
        // [[hosts]] politeness (never its credentials: the settings live in Redis).
        let politeness: Vec<serde_json::Value> = self
            .fetch
            .hosts
            .iter()
            .map(|r| serde_json::json!([r.pattern, r.rate, r.concurrency]))
            .collect();
        if self
            .fetch
            .hosts
            .iter()
            .any(|r| r.rate.is_some() || r.concurrency.is_some())
        {
            shared.insert("host_politeness".into(), politeness.into());
        }
        shared
    }

    /// The extras asked for, `all` expanded, each once, in record order.
    pub fn extras_enabled(&self) -> Vec<Extra> {
        let asked = &self.extract.extras;
        let all = asked.contains(&Extra::All);
        Extra::EACH
            .into_iter()
            .filter(|e| all || asked.contains(e))
            .chain(asked.contains(&Extra::Links).then_some(Extra::Links))
            .collect()
    }

    /// The canonicalisation options this config asks for.
    pub fn canon_rules(&self) -> crate::canon::Rules {
        crate::canon::Rules {
            sort_query: self.scope.sort_query,
            strip_session_ids: self.scope.strip_session_ids,
        }
    }

    /// Worker count with 0 resolved to the number of CPU cores.
    pub fn worker_count(&self) -> usize {
        match self.frontier.workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.fetch.timeout)
    }

    /// The product token robots.txt groups are matched against: the User-Agent's
    /// leading letters, `-` and `_`, so up to its first `/` or space
    /// (`trawl/0.1 (+https://x)` is `trawl`). That is all a `User-agent:` line can
    /// name as Google reads it (see [`product_token`]).
    pub fn robots_agent(&self) -> String {
        let token = product_token(self.fetch.user_agent.trim().as_bytes());
        String::from_utf8_lossy(token).into_owned()
    }
}

/// A listening address as `IP:PORT`, or `:PORT` for every interface (IPv4), as
/// Prometheus and Go servers write it.
pub fn listen_addr(addr: &str) -> Result<std::net::SocketAddr, String> {
    let addr = addr.trim();
    let full = match addr.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => addr.to_string(),
    };
    full.parse()
        .map_err(|_| format!("'{addr}' is not an IP:PORT (or :PORT) address"))
}

/// The 1-based line of byte offset `at`.
fn line_at(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].matches('\n').count() + 1
}

/// The line where `key` is set (`key = ...`, or a `[key]`/`[[key]]` table); 0 if
/// it cannot be found.
fn line_of(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start().trim_start_matches('[').trim_start();
            let l = l.strip_prefix('"').unwrap_or(l);
            l.strip_prefix(key).is_some_and(|rest| {
                let rest = rest.trim_start_matches('"').trim_start();
                rest.starts_with('=') || rest.starts_with(']')
            })
        })
        .map_or(0, |i| i + 1)
}

#[cfg(test)]
mod tests;

/// The machine's host name, cut to 40 letters, digits and `-`, starting with a
/// letter-bearing name (`w` is put before an all-digit one).
fn host_name() -> String {
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
    match host.bytes().any(|b| b.is_ascii_alphabetic()) {
        true => host,
        false => format!("w{host}"),
    }
}
