//! What `trawl crawl` says when it is done: the summary lines on stderr (the pages,
//! what limits left out, a dead crawl) and the exit code they lead to. It prints and
//! decides nothing else; the crawl's own record of itself is stats.json.

use std::process::ExitCode;

use trawl::crawl;
use trawl::journal::JournalError;
use trawl::stats::StopReason;

use crate::plural;

/// The exit code of a crawl in which no attempted URL reached a server (every one
/// failed on DNS, connect, timeout...): wget's "network failure" code, so cron and
/// CI can tell a dead crawl from a good one.
const DEAD_CRAWL: u8 = 4;

/// The summary lines of `trawl crawl` on stderr, and the exit code they lead to.
pub(crate) fn crawl(
    result: Result<trawl::stats::Summary, crawl::CrawlError>,
    quiet: bool,
    out: &std::path::Path,
    stem: &str,
) -> anyhow::Result<ExitCode> {
    let summary = match result {
        // Running the same command again on a finished crawl is not an error: a
        // container's supervisor restarting it must not loop on a failing exit.
        Err(e @ crawl::CrawlError::Journal(JournalError::Finished { .. })) => {
            if !quiet {
                say!("trawl: {e}");
            }
            return Ok(ExitCode::SUCCESS);
        }
        other => other?,
    };

    if !quiet {
        let errors: u64 = summary.failures.values().sum();
        say!(
            "trawl: {} {}{} ({} ok, {}) from {} in {:.1}s ({:.1} pages/s); records in {}",
            if summary.completed {
                "crawled"
            } else {
                "stopped after"
            },
            plural(summary.pages, "page"),
            if summary.resumed_pages > 0 {
                format!(" ({} in earlier runs)", summary.resumed_pages)
            } else {
                String::new()
            },
            summary.pages_ok,
            plural(errors, "error"),
            plural(summary.hosts, "host"),
            summary.duration_secs,
            summary.pages_per_sec,
            pages_location(out, stem)
        );
        let cut = summary.left_out();
        if !cut.is_empty() {
            let total: u64 = cut.iter().map(|(_, n)| n).sum();
            let each: Vec<String> = cut.iter().map(|(what, n)| format!("{what}: {n}")).collect();
            say!(
                "trawl: limits left out {} ({}); see stats.json",
                plural(total, "URL"),
                each.join(", ")
            );
        }
        if let Some(r) = &summary.recrawl {
            say!(
                "trawl: recrawl: {} not modified, {} unchanged, {} changed, {} new",
                r.not_modified,
                r.unchanged,
                r.changed,
                r.new
            );
        }
        if let Some(r) = &summary.render {
            say!(
                "trawl: rendered {} in the browser ({} failed, {} read at their deadline, {} of their requests refused)",
                plural(r.rendered, "page"),
                r.failed,
                r.waited_out,
                r.blocked_type + r.blocked_address + r.blocked_robots + r.blocked_other
            );
        }
    }
    let dead = summary.reached_nothing();
    if dead {
        let kinds: Vec<String> = summary
            .failures
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        say!(
            "trawl: no URL reached a server ({}): exit {DEAD_CRAWL}",
            kinds.join(", ")
        );
    }
    Ok(match summary.stopped_by {
        Some(StopReason::Interrupt) => ExitCode::from(130),
        Some(StopReason::Terminate) => ExitCode::from(143),
        _ if dead => ExitCode::from(DEAD_CRAWL),
        _ => ExitCode::SUCCESS,
    })
}

/// Where the records are: the one pages file, or the directory and its part count.
fn pages_location(out: &std::path::Path, stem: &str) -> String {
    if stem != "pages" {
        // A shared crawl: this process's file among the fleet's.
        return out.join(format!("{stem}.jsonl")).display().to_string();
    }
    match trawl::sink::jsonl::part_paths(out)
        .unwrap_or_default()
        .as_slice()
    {
        [] => out.join("pages.jsonl").display().to_string(),
        [one] => one.display().to_string(),
        many => format!("{} ({} pages parts)", out.display(), many.len()),
    }
}
