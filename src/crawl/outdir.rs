//! The output directory: one crawl at a time (its lock), and what happens to an
//! earlier crawl found there: start over (`--fresh`), resume it, or refuse. Also
//! the atomic write of stats.json. Nothing here reads or writes records.

use std::path::{Path, PathBuf};

use super::CrawlError;
use crate::stats::Summary;

/// The out dir's lock, held for the whole crawl. A shared crawl's lock is named
/// for its process and removed when the crawl ends, however `run` returns.
pub(super) struct OutLock {
    _file: std::fs::File,
    remove: Option<PathBuf>,
}

impl Drop for OutLock {
    fn drop(&mut self) {
        if let Some(p) = &self.remove {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Takes an exclusive lock on `out/.lock` (`out/.lock-<worker>` in a shared crawl,
/// where many processes write one directory), so two crawls never write the same
/// files. The OS drops the lock when the process ends, however it ends.
pub(super) fn lock(out: &Path, worker: Option<&str>) -> Result<OutLock, CrawlError> {
    std::fs::create_dir_all(out).map_err(|source| CrawlError::OutDir {
        path: out.to_path_buf(),
        source,
    })?;
    let path = match worker {
        Some(w) => out.join(format!(".lock-{w}")),
        None => out.join(".lock"),
    };
    let file =
        crate::outfile::open_or_create(&path, false).map_err(|source| CrawlError::Write {
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(OutLock {
            _file: file,
            remove: worker.map(|_| path),
        }),
        Err(std::fs::TryLockError::WouldBlock) => Err(CrawlError::Locked(out.to_path_buf())),
        Err(std::fs::TryLockError::Error(source)) => Err(CrawlError::Write { path, source }),
    }
}

/// The directories and files trawl makes inside OUT must be its own: a link planted
/// there (`OUT/warc -> /elsewhere`) would make trawl write, or `--fresh` delete,
/// outside OUT. (OUT itself and `--state` may be links: the user named them.)
pub(super) fn refuse_planted_links(
    out: &Path,
    state: &Path,
    worker: Option<&str>,
) -> Result<(), CrawlError> {
    let mut ours = vec![
        out.join("warc"),
        state.join("frontier.redb"),
        state.join("frontier.runs"),
    ];
    if state == out.join("state") {
        ours.push(state.to_path_buf());
    }
    if let Some(w) = worker {
        ours.push(out.join("warc").join(w));
    }
    for path in ours {
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(CrawlError::PlantedLink(path));
        }
    }
    Ok(())
}

/// Decides what happens to an earlier crawl in `out`: start over (`fresh`), resume
/// it (durable state present), or refuse (records with nothing to resume from).
/// Returns true when an earlier crawl is to be resumed.
pub(super) fn prepare(
    out: &Path,
    state: &Path,
    fresh: bool,
    durable: bool,
) -> Result<bool, CrawlError> {
    // Every pages file counts, whatever its compression or rotation.
    let pages = crate::sink::jsonl::part_paths(out).map_err(|source| CrawlError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    let has_pages = pages
        .iter()
        .any(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0) > 0);
    let has_state = state.join("frontier.redb").exists();
    if fresh {
        let stats = out.join("stats.json");
        // The archive of the crawl being replaced goes too (trawl's own files only),
        // so OUT/warc never mixes two crawls; of `--state`, which may name a
        // directory holding other things, only trawl's own file and run directory.
        let warc = std::fs::read_dir(out.join("warc"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| is_our_warc(p));
        let ours = pages
            .into_iter()
            .chain([stats, state.join("frontier.redb")])
            .chain(warc);
        for p in ours {
            if p.exists() {
                std::fs::remove_file(&p).map_err(|source| CrawlError::Write { path: p, source })?;
            }
        }
        // The frontier's run files (a directory of trawl's own, never a link: see above).
        let runs = state.join("frontier.runs");
        if runs.is_dir() {
            std::fs::remove_dir_all(&runs)
                .map_err(|source| CrawlError::Write { path: runs, source })?;
        }
        return Ok(false);
    }
    match (durable && has_state, has_pages) {
        (true, _) => Ok(true),
        (false, true) => Err(CrawlError::OutputExists(out.to_path_buf())),
        (false, false) => Ok(false),
    }
}

fn is_our_warc(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.starts_with("trawl-") && (name.ends_with(".warc.gz") || name.ends_with(".warc.gz.open"))
}

/// Writes `out/name` whole or not at all (an unpredictable temporary file created
/// new, then a rename: a link planted in the directory is never written through).
pub(super) fn write_stats(out: &Path, name: &str, summary: &Summary) -> Result<(), CrawlError> {
    let path = out.join(name);
    let write = || -> std::io::Result<()> {
        let mut text = serde_json::to_vec_pretty(summary).map_err(std::io::Error::other)?;
        text.push(b'\n');
        crate::outfile::write_atomic(&path, &text)
    };
    write().map_err(|source| CrawlError::Write {
        path: path.clone(),
        source,
    })
}
