//! Recrawl (`--since PREVIOUS_OUT`): reading the earlier crawl and admitting its
//! URLs with what it knew of each. The rules (what a prior is, what a 304 or an
//! identical payload makes of a record) are `recrawl`'s; this file only reads the
//! earlier directory, never writes to it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use url::Url;

use super::ctx::Ctx;
use crate::canon::{self, fingerprint};
use crate::frontier::{Admission, Entry};
use crate::recrawl::{parse, Prior, PriorUrl, RecrawlError};
use crate::sink::jsonl::{all_part_paths, for_each_line, ReadError};

/// URLs handed from the reading thread to the frontier at a time.
const BATCH: usize = 1000;

/// An earlier crawl's directory, checked.
#[derive(Debug, Clone)]
pub(crate) struct Previous {
    pub dir: PathBuf,
    /// The earlier crawl archived its responses (it has WARC files): unchanged
    /// pages may then be archived as revisits of those.
    pub archived: bool,
    /// Why the earlier crawl did not reach all it found (its stats say so), if it
    /// did not.
    pub stopped_early: Option<String>,
}

impl Previous {
    /// Checks that `dir` holds an earlier crawl's pages files and is not `out`.
    pub(crate) fn open(dir: &Path, out: &Path) -> Result<Previous, RecrawlError> {
        let io = |source| RecrawlError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(dir).map_err(io)?;
        if !meta.is_dir() {
            return Err(io(std::io::Error::other("not a directory")));
        }
        if let (Ok(a), Ok(b)) = (dir.canonicalize(), out.canonicalize()) {
            if a == b {
                return Err(RecrawlError::SameAsOut(dir.to_path_buf()));
            }
        }
        if all_part_paths(dir).map_err(io)?.is_empty() {
            return Err(RecrawlError::Empty(dir.to_path_buf()));
        }
        // One record is enough to tell a crawl's files from others (reading stops
        // there); a directory of junk is refused, not recrawled as all new.
        let first = for_each_line(dir, |line| match parse(line) {
            Some(_) => Err(()),
            None => Ok(()),
        });
        match first {
            Err(ReadError::Callback(())) => {}
            Ok(_) => return Err(RecrawlError::NoRecords(dir.to_path_buf())),
            Err(ReadError::Io { path, source }) => return Err(RecrawlError::Io { path, source }),
        }
        let archived = std::fs::read_dir(dir.join("warc"))
            .map(|entries| {
                entries.flatten().any(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    name.starts_with("trawl-") && name.ends_with(".warc.gz")
                })
            })
            .unwrap_or(false);
        Ok(Previous {
            dir: dir.to_path_buf(),
            archived,
            stopped_early: stopped_early(dir),
        })
    }

    /// Calls `f` with each URL the earlier crawl recorded, in file order (a URL
    /// recorded twice, as a fleet's crash may leave it, comes twice: the frontier
    /// takes the first). Returns how many lines were not records and skipped.
    pub(crate) fn read(&self, mut f: impl FnMut(PriorUrl)) -> Result<u64, RecrawlError> {
        let mut skipped = 0u64;
        let read = for_each_line(&self.dir, |line| {
            match parse(line) {
                Some(p) => f(p),
                None => skipped += 1,
            }
            Ok::<(), std::convert::Infallible>(())
        });
        match read {
            Ok(_) => Ok(skipped),
            Err(ReadError::Io { path, source }) => Err(RecrawlError::Io { path, source }),
            Err(ReadError::Callback(never)) => match never {},
        }
    }
}

/// Largest stats file read: a real one is a few kilobytes.
const MAX_STATS_BYTES: u64 = 1 << 20;

/// Why the crawl in `dir` left URLs unfetched, from its stats files (every
/// process's): stopped by a signal or by `max_pages`, or URLs left queued. None
/// when it ran to its end, or when no stats file says.
fn stopped_early(dir: &Path) -> Option<String> {
    let entries = std::fs::read_dir(dir).ok()?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let stats = name == "stats.json" || (name.starts_with("stats-") && name.ends_with(".json"));
        if !stats || e.metadata().map_or(true, |m| m.len() > MAX_STATS_BYTES) {
            continue;
        }
        let Ok(text) = std::fs::read(e.path()) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&text) else {
            continue;
        };
        let queued = v["queued"].as_u64().unwrap_or(0);
        match v["stopped_by"].as_str() {
            Some(why) => return Some(format!("it was stopped by {why} with {queued} URLs queued")),
            None if queued > 0 => return Some(format!("it left {queued} URLs queued")),
            None if v["completed"] == false => return Some("it did not complete".into()),
            None => {}
        }
    }
    None
}

/// What each seed was in the earlier crawl: a seed keeps its prior (and its seed
/// mark) when it is admitted. One pass over the earlier crawl's files.
pub(super) async fn seed_priors(ctx: &Ctx, seeds: &[Url]) -> HashMap<u64, Box<Prior>> {
    let Some(previous) = ctx.since.clone() else {
        return HashMap::new();
    };
    let rules = ctx.config.canon_rules();
    let wanted: std::collections::HashSet<u64> = seeds.iter().map(fingerprint).collect();
    let read = tokio::task::spawn_blocking(move || {
        let mut found = HashMap::new();
        let read = previous.read(|p| {
            let Ok(url) = canon::parse(&p.url, None, rules) else {
                return;
            };
            let fp = fingerprint(&url);
            if wanted.contains(&fp) {
                found.entry(fp).or_insert_with(|| Box::new(p.prior));
            }
        });
        read.map(|_| found)
    })
    .await;
    match read {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => {
            ctx.fail_output(&e.to_string());
            HashMap::new()
        }
        Err(e) => {
            ctx.fail_output(&format!("reading the earlier crawl failed: {e}"));
            HashMap::new()
        }
    }
}

/// Admits every URL the earlier crawl recorded, at its earlier depth, with its
/// prior, under this crawl's scope, filters and trap guards (a requisite by the
/// requisites' rules while `--page-requisites` is on). URLs the frontier has
/// already (the seeds, a resumed run's) are not counted as duplicates.
pub(super) async fn admit(ctx: &Ctx) {
    let Some(previous) = ctx.since.clone() else {
        return;
    };
    // A 304 leads nowhere: what the earlier crawl never fetched is reached only
    // through pages that changed.
    if let Some(why) = &previous.stopped_early {
        tracing::warn!(
            "--since {}: {why}; pages it never fetched are reached only through pages that changed (crawl without --since to reach them all)",
            previous.dir.display()
        );
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<PriorUrl>>(4);
    let reader = tokio::task::spawn_blocking(move || {
        let mut batch = Vec::with_capacity(BATCH);
        let read = previous.read(|p| {
            batch.push(p);
            if batch.len() >= BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                // The crawl stopped listening: nothing more to hand over.
                let _ = tx.blocking_send(full);
            }
        });
        if !batch.is_empty() {
            let _ = tx.blocking_send(batch);
        }
        read
    });
    while let Some(batch) = rx.recv().await {
        let entries: Vec<Entry> = batch.into_iter().filter_map(|p| wanted(ctx, p)).collect();
        push(ctx, entries).await;
    }
    match reader.await {
        Ok(Ok(skipped)) => {
            ctx.stats.recrawl.skipped_lines(skipped);
            if skipped > 0 {
                tracing::warn!("--since: {skipped} lines of the earlier crawl are not records and were skipped");
            }
        }
        Ok(Err(e)) => ctx.fail_output(&e.to_string()),
        Err(e) => ctx.fail_output(&format!("reading the earlier crawl failed: {e}")),
    }
}

/// The entry for an earlier URL, if this crawl wants it.
fn wanted(ctx: &Ctx, p: PriorUrl) -> Option<Entry> {
    ctx.stats.recrawl.read();
    let url = canon::parse(&p.url, None, ctx.config.canon_rules()).ok()?;
    let requisite = p.requisite && ctx.config.scope.page_requisites;
    let checked = match requisite {
        true => ctx.scope.check_target(&url),
        false => ctx.scope.check(&url, p.depth),
    }
    .and_then(|()| ctx.traps.check(&url, 0));
    if let Err(why) = checked {
        ctx.stats.refuse(why);
        return None;
    }
    Some(Entry {
        requisite,
        prior: Some(Box::new(p.prior)),
        ..Entry::new(url, p.depth)
    })
}

async fn push(ctx: &Ctx, entries: Vec<Entry>) {
    if entries.is_empty() {
        return;
    }
    match ctx.frontier.push_many(entries).await {
        Ok((admitted, _ticket)) => {
            for what in admitted {
                match what {
                    Admission::New => ctx.stats.recrawl.admitted(),
                    Admission::Seen => {}
                    Admission::HostBudget(_) => ctx.stats.refuse(crate::stats::Refusal::HostBudget),
                }
            }
        }
        Err(e) => ctx.fail_output(&e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every record of every process's part is read; what is not a record is
    /// skipped and counted, a torn tail is not a line.
    #[test]
    fn reads_every_record_of_every_part() {
        let dir = tempfile::tempdir().unwrap();
        let line = |i: usize| {
            format!(
                r#"{{"url":"http://a/{i}","depth":1,"status":200,"etag":"\"{i}\"","digest":"sha1:X","fetched_at":"2026-12-01T00:00:00.000Z"}}"#
            )
        };
        let body: String = (0..50).map(|i| line(i) + "\n").collect();
        std::fs::write(dir.path().join("pages.jsonl"), body + "torn").unwrap();
        let other: String = (50..60).map(|i| line(i) + "\n").collect();
        std::fs::write(dir.path().join("pages-w2.jsonl"), other + "junk\n").unwrap();
        let out = tempfile::tempdir().unwrap();
        let prev = Previous::open(dir.path(), out.path()).unwrap();
        assert!(!prev.archived);
        let mut urls = Vec::new();
        let skipped = prev.read(|p| urls.push(p.url)).unwrap();
        assert_eq!(urls.len(), 60);
        assert_eq!(skipped, 1, "the junk line; the torn tail is not a line");
        assert!(matches!(
            Previous::open(dir.path(), dir.path()),
            Err(RecrawlError::SameAsOut(_))
        ));
        assert!(matches!(
            Previous::open(out.path(), dir.path()),
            Err(RecrawlError::Empty(_))
        ));
        assert_eq!(prev.stopped_early, None);
        // Junk only: refused.
        std::fs::write(out.path().join("pages.jsonl"), "junk\n{}\n").unwrap();
        assert!(matches!(
            Previous::open(out.path(), dir.path()),
            Err(RecrawlError::NoRecords(_))
        ));
        // A crawl its page budget stopped says so.
        std::fs::write(
            dir.path().join("stats.json"),
            r#"{"completed":true,"stopped_by":"max_pages","queued":10}"#,
        )
        .unwrap();
        let prev = Previous::open(dir.path(), out.path()).unwrap();
        assert_eq!(
            prev.stopped_early.as_deref(),
            Some("it was stopped by max_pages with 10 URLs queued")
        );
    }
}
