//! The `trawl` binary: a thin shell over the library. It parses flags, loads the
//! config, sets up logging and signals, runs the crawl, prints the summary and
//! picks the exit code. It is the only place that uses `anyhow`: every error ends
//! here as one line on stderr.
//!
//! Exit codes: 0 crawl finished (even with failed pages); 1 start-up or output
//! problem; 2 bad command line; 130 stopped by SIGINT; 143 stopped by SIGTERM.

mod cli;

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;

use cli::{Cli, Command, CrawlArgs, RobotsArgs};
use std::sync::Arc;

use trawl::canon;
use trawl::config::Config;
use trawl::crawl::{self, Stop};
use trawl::fetch::{AddressGuard, Fetcher};
use trawl::robots::{self, RobotsFile};
use trawl::seeds;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Crawl(args) => crawl_command(*args),
        Command::Robots(args) => robots_command(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // `{:#}` puts the whole cause chain on one line.
            eprintln!("trawl: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn crawl_command(args: CrawlArgs) -> anyhow::Result<ExitCode> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    args.apply(&mut config);
    config.validate()?;
    init_logging(&config);

    let seeds = seeds::load(&args.urls, config.seeds.as_deref(), config.canon_rules())?;
    if !config.quiet {
        for skipped in &seeds.skipped {
            eprintln!("trawl: warning: {skipped}");
        }
    }
    let quiet = config.quiet;
    let out = config.out.clone();

    let urls = seeds.into_urls()?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("trawl")
        .build()
        .context("cannot start the async runtime")?;
    let summary = runtime.block_on(crawl::run(config, urls, stop_signal()))?;

    if !quiet {
        let errors: u64 = summary.failures.values().sum();
        eprintln!(
            "trawl: {} {} pages ({} ok, {} errors) from {} hosts in {:.1}s ({:.1} pages/s); records in {}",
            if summary.completed { "crawled" } else { "stopped after" },
            summary.pages,
            summary.pages_ok,
            errors,
            summary.hosts,
            summary.duration_secs,
            summary.pages_per_sec,
            out.join("pages.jsonl").display()
        );
    }
    Ok(match summary.stopped_by.as_deref() {
        Some("SIGINT") => ExitCode::from(130),
        Some("SIGTERM") => ExitCode::from(143),
        _ => ExitCode::SUCCESS,
    })
}

/// `trawl robots`: the crawl's robots.txt verdicts, one line per URL.
fn robots_command(args: RobotsArgs) -> anyhow::Result<ExitCode> {
    let mut config = Config::default();
    if let Some(ua) = args.user_agent {
        config.user_agent = ua;
    }
    if let Some(t) = args.timeout {
        config.timeout = t;
    }
    config.validate()?;
    let agent = config.robots_agent();
    let mut urls = Vec::new();
    for u in &args.urls {
        urls.push(
            canon::parse(u, None, config.canon_rules())
                .with_context(|| format!("'{u}' is not an http(s) URL"))?,
        );
    }
    let judgements = match (&args.robots_file, &args.robots_url) {
        (Some(path), _) => {
            let txt = std::fs::read(path)
                .with_context(|| format!("cannot read robots file {}", path.display()))?;
            robots::judge(&agent, &txt, &urls)
        }
        (None, Some(robots_url)) => {
            let robots_url = canon::parse(robots_url, None, config.canon_rules())
                .with_context(|| format!("'{robots_url}' is not an http(s) URL"))?;
            let guard = Arc::new(AddressGuard::new(false));
            if let Some(h) = robots_url.host_str() {
                guard.exempt(h);
            }
            let fetcher = Fetcher::new(&config, guard)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            match runtime.block_on(robots::fetch_robots(&fetcher, &robots_url)) {
                RobotsFile::Found { body, .. } => robots::judge(&agent, &body, &urls),
                RobotsFile::NoRestrictions(why) => {
                    robots::judge_all(&urls, true, &format!("{why}: no restrictions"))
                }
                RobotsFile::Unavailable(why, _) => robots::judge_all(
                    &urls,
                    false,
                    &format!("{why}: robots.txt unavailable, the crawl waits and retries"),
                ),
                RobotsFile::Unreachable(e) => anyhow::bail!("cannot fetch {robots_url}: {e}"),
            }
        }
        (None, None) => anyhow::bail!("give --robots-file FILE or --robots-url URL"),
    };
    for j in judgements {
        println!("{j}");
    }
    Ok(ExitCode::SUCCESS)
}

fn init_logging(config: &Config) {
    let default = if config.quiet {
        "error"
    } else if config.verbose {
        "warn,trawl=debug"
    } else {
        "warn,trawl=info"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// Resolves on the first SIGINT or SIGTERM; a second one exits at once.
async fn stop_signal() -> Stop {
    let first = next_signal().await;
    tokio::spawn(async move {
        let again = next_signal().await;
        eprintln!("trawl: second {}: exiting now", again.name());
        std::process::exit(match again {
            Stop::Interrupt => 130,
            Stop::Terminate => 143,
        });
    });
    first
}

async fn next_signal() -> Stop {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return Stop::Interrupt;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => Stop::Interrupt,
            _ = term.recv() => Stop::Terminate,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        Stop::Interrupt
    }
}
