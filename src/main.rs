//! The `trawl` binary: a thin shell over the library. It parses flags, loads the
//! config, sets up logging and signals, runs the crawl, prints the summary and
//! picks the exit code. It is the only place that uses `anyhow`: every error ends
//! here as one line on stderr.
//!
//! Exit codes: 0 crawl finished (even with failed pages, or finished before: the
//! same command on a finished crawl says so); 4 no attempted URL reached a server
//! (all DNS, connect or timeout failures); 1 start-up or output
//! problem; 2 bad command line; 130 stopped by SIGINT; 143 stopped by SIGTERM.

mod cli;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches};
use tracing_subscriber::EnvFilter;

use cli::{BenchArgs, Cli, Command, CrawlArgs, ExportArgs, MergeArgs, RobotsArgs, StatusArgs};
use std::sync::Arc;

use trawl::canon;
use trawl::config::Config;
use trawl::crawl::{self, Stop, StopRequest};
use trawl::fetch::{AddressGuard, Fetcher};
use trawl::robots::{self, RobotsFile};
use trawl::seeds;

/// `eprintln!` that never panics: a closed stderr must not become an abort.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `println!` that never panics: output piped into `head` may close early.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

// After the macros, which it uses.
mod report;

fn main() -> ExitCode {
    trawl::tune_allocator();
    // A bug (or a library's panic on corrupt input) is reported in one line.
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        say!("trawl: internal error{at}: {}", what.replace('\n', " "));
    }));
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let result = match cli.command {
        Command::Crawl(args) => match matches.subcommand_matches("crawl") {
            Some(flags) => crawl_command(*args, flags),
            None => Err(anyhow::anyhow!("the crawl command's flags are missing")),
        },
        Command::Robots(args) => robots_command(args),
        Command::Bench(args) => bench_command(args),
        Command::Export(args) => export_command(args),
        Command::Status(args) => status_command(args),
        Command::Merge(args) => merge_command(args),
        Command::BenchServe { pages } => bench_serve(pages),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            say!("trawl: error: {}", one_line(&e));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes on one line, skipping a cause its parent already quotes
/// (typed errors often embed their source's text).
fn one_line(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
    }
    text.replace('\n', " ")
}

pub(crate) fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// `trawl crawl`: the config file (if any) with the flags given on top.
fn crawl_command(args: CrawlArgs, flags: &clap::ArgMatches) -> anyhow::Result<ExitCode> {
    let config = match &args.config {
        Some(path) => {
            let mut config = Config::from_file(path)?;
            config.apply_flags(flags)?;
            config
        }
        None => args.settings,
    };
    config.validate()?;
    init_logging(&config);

    let mut seeds = seeds::load(
        &args.urls,
        config.run.seeds.as_deref(),
        config.canon_rules(),
    )?;
    if !config.run.quiet {
        const SHOWN: usize = 20;
        for skipped in seeds.skipped.iter().take(SHOWN) {
            say!("trawl: warning: {skipped}");
        }
        if seeds.skipped.len() > SHOWN {
            say!(
                "trawl: warning: ... and {} more skipped seed lines",
                seeds.skipped.len() - SHOWN
            );
        }
    }
    let quiet = config.run.quiet;
    let out = config.output.out.clone();
    let stem =
        trawl::sink::jsonl::stem_for(config.is_shared().then(|| config.worker_name()).as_deref());
    // Each in-flight request and each idle pooled connection is a socket.
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::warn!("cannot raise the open-file limit: {e}");
    }

    let logins = std::mem::take(&mut seeds.logins);
    let urls = seeds.into_urls()?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("trawl")
        .build()
        .context("cannot start the async runtime")?;
    let (result, lingering) = runtime.block_on(async {
        let (tx, rx) = tokio::sync::watch::channel(StopRequest::Run);
        tokio::spawn(watch_signals(tx));
        crawl::run_until_written(config, urls, logins, rx).await
    });
    let code = report::crawl(result, quiet, &out, &stem);
    // The summary is out; the metrics endpoint may serve the final numbers a while.
    runtime.block_on(lingering.linger());
    // Everything was flushed by now. A page still being parsed off the reactor
    // (abandoned at a stop) must not hold the exit past the grace period.
    runtime.shutdown_timeout(Duration::from_millis(200));
    code
}

/// `trawl status`: a shared crawl's counters and its processes' heartbeats.
fn status_command(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let at = trawl::frontier::redis::Endpoint {
        url: args.frontier.clone(),
        ca: args.redis_ca.clone(),
    };
    let st = runtime.block_on(trawl::frontier::redis::status(&at, &args.crawl_id))?;
    if st.counters.is_empty() && st.workers.is_empty() {
        anyhow::bail!(
            "no crawl named '{}' at {}",
            st.crawl,
            trawl::frontier::redis::redact(&args.frontier)
        );
    }
    if args.json {
        out!("{}", serde_json::to_string_pretty(&st)?);
        return Ok(ExitCode::SUCCESS);
    }
    let c = |k: &str| st.counters.get(k).copied().unwrap_or(0);
    out!(
        "crawl {}: queued {} | leased {} | done {} | errors {} | hosts {} ({} ready)",
        st.crawl,
        c("queued"),
        c("leased"),
        c("done"),
        c("errors"),
        c("hosts"),
        st.ready_hosts
    );
    let kinds: Vec<String> = st
        .counters
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("e:").map(|k| format!("{k} {v}")))
        .collect();
    if !kinds.is_empty() {
        out!("errors by kind: {}", kinds.join(", "));
    }
    for w in &st.workers {
        let pages = w.report.get("pages").and_then(|p| p.as_u64()).unwrap_or(0);
        out!(
            "worker {}: {} | heartbeat {:.1}s ago | leased {} | pages {}",
            w.worker,
            w.state,
            w.heartbeat_age_secs,
            w.leased,
            pages
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// True if the error comes from writing to a closed pipe (the I/O error itself, or
/// the CSV writer's wrapping of it), found by type along the error's chain.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    let broken = |io: &std::io::Error| io.kind() == std::io::ErrorKind::BrokenPipe;
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(broken)
            || c.downcast_ref::<csv::Error>()
                .is_some_and(|e| matches!(e.kind(), csv::ErrorKind::Io(io) if broken(io)))
    })
}

/// `trawl merge`: every process's pages files into one, each URL once.
fn merge_command(args: MergeArgs) -> anyhow::Result<ExitCode> {
    let sum = trawl::merge::merge(&args.dirs, &args.output)?;
    say!(
        "trawl: merged {} from {} into {} ({} duplicate{} left out{})",
        plural(sum.records, "record"),
        plural(sum.files as u64, "file"),
        args.output.display(),
        sum.duplicates,
        if sum.duplicates == 1 { "" } else { "s" },
        if sum.torn_bytes > 0 {
            format!(", {} torn bytes skipped", sum.torn_bytes)
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// `trawl robots`: the crawl's robots.txt verdicts, one line per URL.
fn robots_command(args: RobotsArgs) -> anyhow::Result<ExitCode> {
    let mut config = Config::default();
    if let Some(ua) = args.user_agent {
        config.fetch.user_agent = ua;
    }
    if let Some(t) = args.timeout {
        config.fetch.timeout = t;
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
            guard.exempt_seed(&robots_url);
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
        out!("{j}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `trawl bench-serve`: the synthetic site, on one thread, until killed.
fn bench_serve(pages: usize) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(trawl::bench::serve(pages.max(2), |addr| {
        out!("listening http://{addr}");
    }))?;
    Ok(ExitCode::SUCCESS)
}

/// `trawl bench`: serve the synthetic site from a child process, crawl it, report.
/// `trawl export`: records to a flat table on stdout or in a file.
fn export_command(args: ExportArgs) -> anyhow::Result<ExitCode> {
    if !args.dir.is_dir() {
        anyhow::bail!("{} is not a crawl's output directory", args.dir.display());
    }
    let cells = if args.raw_cells {
        trawl::export::Cells::Raw
    } else {
        trawl::export::Cells::Neutralised
    };
    let summary = match &args.output {
        Some(path) => {
            trawl::export::export_to_file(&args.dir, args.format, &args.fields, cells, path)?
        }
        None => {
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::new(stdout.lock());
            let done = trawl::export::export(&args.dir, args.format, &args.fields, cells, &mut w)
                .map_err(anyhow::Error::from)
                .and_then(|s| {
                    std::io::Write::flush(&mut w).context("cannot write standard output")?;
                    Ok(s)
                });
            match done {
                Ok(s) => s,
                // Piped into `head`: the reader has what it wanted.
                Err(e) if is_broken_pipe(&e) => return Ok(ExitCode::SUCCESS),
                Err(e) => return Err(e),
            }
        }
    };
    if !summary.never_found.is_empty() {
        say!(
            "trawl: warning: no record has {} (misspelt, or a rule that never matched?)",
            summary.never_found.join(", ")
        );
    }
    if summary.skipped_lines > 0 || summary.torn_bytes > 0 {
        say!(
            "trawl: skipped {} lines that were not records and {} bytes of torn output",
            summary.skipped_lines,
            summary.torn_bytes
        );
    }
    say!("trawl: exported {} records", summary.rows);
    Ok(ExitCode::SUCCESS)
}

fn bench_command(args: BenchArgs) -> anyhow::Result<ExitCode> {
    use std::io::BufRead;
    let exe = std::env::current_exe().context("cannot find the trawl binary")?;
    let mut server = std::process::Command::new(exe)
        .args(["bench-serve", "--pages", &args.pages.to_string()])
        .stdout(std::process::Stdio::piped())
        .stdin(std::process::Stdio::null())
        .spawn()
        .context("cannot start the benchmark site")?;
    let mut first = String::new();
    if let Some(out) = server.stdout.take() {
        std::io::BufReader::new(out).read_line(&mut first)?;
    }
    let result = (|| {
        let origin = first
            .trim()
            .strip_prefix("listening ")
            .context("the benchmark site did not start")?
            .to_string();
        let temp = std::env::temp_dir().join(format!("trawl-bench-{}", std::process::id()));
        let out = args.out.clone().unwrap_or_else(|| temp.clone());
        let mut config = Config::default();
        config.output.out = out.clone();
        config.output.fresh = true;
        config.politeness.per_host_rate = 0.0;
        config.politeness.per_host_concurrency = args.per_host_concurrency;
        config.politeness.concurrency = args.concurrency;
        config.traps.max_pages_per_host = 0;
        config.frontier.durable = args.durable;
        config.run.quiet = true;
        let seed = canon::parse(&format!("{origin}/"), None, config.canon_rules())?;
        out!(
            "trawl bench: {}-page synthetic site at {origin}, concurrency {}, {} frontier",
            args.pages,
            args.concurrency,
            if args.durable { "durable" } else { "in-memory" }
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let cpu_before = trawl::bench::cpu_ms().unwrap_or(0.0);
        let (_tx, rx) = tokio::sync::watch::channel(StopRequest::Run);
        let summary = runtime.block_on(crawl::run(config, vec![seed], Default::default(), rx))?;
        let cpu = trawl::bench::cpu_ms().unwrap_or(0.0) - cpu_before;
        out!(
            "pages {} ({} ok) in {:.2}s: {:.0} pages/s, {:.3} CPU-ms/page, peak RSS {} MiB",
            summary.pages,
            summary.pages_ok,
            summary.duration_secs,
            summary.pages_per_sec,
            cpu / summary.pages.max(1) as f64,
            summary
                .peak_rss_mb
                .map_or("?".to_string(), |m| format!("{m:.1}"))
        );
        if args.out.is_none() {
            let _ = std::fs::remove_dir_all(&temp);
        }
        Ok(ExitCode::SUCCESS)
    })();
    let _ = server.kill();
    let _ = server.wait();
    result
}

fn init_logging(config: &Config) {
    // chromiumoxide logs the browser's socket closing (a browser restarted, a
    // crawl's end) as errors: trawl reports what matters of it itself.
    let default = if config.run.quiet {
        "error,chromiumoxide=off"
    } else if config.run.verbose {
        "warn,trawl=debug,chromiumoxide=off"
    } else {
        "warn,trawl=info,chromiumoxide=off"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| LogWriter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// stderr for log lines, which never fails: tracing-subscriber reports a failed
/// write with `eprintln!`, which panics when stderr is closed (`trawl ... 2>&1 |
/// head`), and a crawl must not die because nobody reads its log any more.
struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

/// Turns signals into stop requests: the first SIGINT/SIGTERM stops gracefully, a
/// second abandons in-flight pages (output is still flushed and stats written), a
/// third exits on the spot. A repeat within a second is the same signal delivered
/// twice (coreutils `timeout` signals both the child and its process group), not a
/// user insisting, so it is ignored.
async fn watch_signals(tx: tokio::sync::watch::Sender<StopRequest>) {
    const REPEAT: std::time::Duration = std::time::Duration::from_secs(1);
    let first = next_signal().await;
    tx.send_replace(StopRequest::Graceful(first));
    let mut last = std::time::Instant::now();
    let mut insisted = 0;
    loop {
        let again = next_signal().await;
        if last.elapsed() < REPEAT {
            continue;
        }
        last = std::time::Instant::now();
        insisted += 1;
        if insisted == 1 {
            say!("trawl: second {}: abandoning in-flight pages", again.name());
            tx.send_replace(StopRequest::Now(again));
        } else {
            say!(
                "trawl: third {}: exiting now without flushing",
                again.name()
            );
            std::process::exit(match again {
                Stop::Interrupt => 130,
                Stop::Terminate => 143,
            });
        }
    }
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
