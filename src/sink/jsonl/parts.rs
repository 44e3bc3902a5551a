//! The pages files on disk: their names (`pages.jsonl`, numbered parts, one series
//! per process of a shared crawl), listing them in reading order, and choosing the
//! file to append to. A resumed crawl must use the options its files were written
//! with: mixing is refused here.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::Compression;

impl Compression {
    /// File name suffix after `.jsonl`.
    fn suffix(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gzip => ".gz",
            Compression::Zstd => ".zst",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How pages.jsonl is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JsonlOptions {
    pub compress: Compression,
    /// Start a new part once the current one holds this many bytes; 0 = one file.
    pub rotate_bytes: u64,
    /// `send` returns only once the line is written to the file (handed to the OS):
    /// a shared crawl completes a URL in Redis after that, so a killed process never
    /// has a URL marked done whose record it had not written.
    pub confirm: bool,
}

/// Existing output written with other options than asked: appending would mix
/// formats in one crawl, so it is refused. Carried inside the `io::Error` of
/// [`JsonlSink::open`] (downcast to tell it apart).
#[derive(Debug, thiserror::Error)]
#[error("{path} was written by an earlier run with {found}, not {asked}: use the same --compress/--rotate-size as the earlier run, or --fresh to start over")]
pub struct OptionsMismatch {
    pub path: PathBuf,
    pub found: String,
    pub asked: String,
}

pub(super) fn describe(compress: Compression, rotated: bool) -> String {
    let rotation = if rotated { "rotated parts" } else { "one file" };
    format!("compression {compress} in {rotation}")
}

/// One existing output file.
#[derive(Debug, Clone)]
pub(super) struct Part {
    pub(super) path: PathBuf,
    /// "pages", or "pages-<worker>" for one process of a shared crawl.
    pub(super) stem: String,
    /// None for the unrotated file.
    pub(super) number: Option<u64>,
    pub(super) compress: Compression,
}

/// The file stem of a process's records: `pages`, or `pages-<worker>` in a shared
/// crawl (worker names hold a letter, so they never read as part numbers).
pub fn stem_for(worker: Option<&str>) -> String {
    match worker {
        Some(w) => format!("pages-{w}"),
        None => "pages".to_string(),
    }
}

pub(super) fn part_name(stem: &str, number: Option<u64>, compress: Compression) -> String {
    match number {
        None => format!("{stem}.jsonl{}", compress.suffix()),
        Some(n) => format!("{stem}-{n:05}.jsonl{}", compress.suffix()),
    }
}

/// Reads a part's file name into (stem, number, compression); only names trawl
/// writes match (one spelling per number), so unrelated files in the directory are
/// never read or cut.
pub(super) fn parse_part_name(name: &str) -> Option<(String, Option<u64>, Compression)> {
    let (base, compress) = if let Some(s) = name.strip_suffix(".gz") {
        (s, Compression::Gzip)
    } else if let Some(s) = name.strip_suffix(".zst") {
        (s, Compression::Zstd)
    } else {
        (name, Compression::None)
    };
    let base = base.strip_suffix(".jsonl")?;
    if base == "pages" {
        return Some((base.to_string(), None, compress));
    }
    let rest = base.strip_prefix("pages-")?;
    // "<worker>-NNNNN", "<worker>" or "NNNNN"; a worker name always has a letter.
    // (Worker names never end in -<digits>: see `Config::validate`.)
    let (worker, digits) = match rest.rsplit_once('-') {
        Some((w, d)) if !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()) => (Some(w), d),
        _ if rest.bytes().all(|b| b.is_ascii_digit()) => (None, rest),
        _ => (Some(rest), ""),
    };
    let stem = match worker {
        Some(w) if w.bytes().any(|b| b.is_ascii_alphabetic()) && is_worker_name(w) => {
            format!("pages-{w}")
        }
        Some(_) => return None,
        None => "pages".to_string(),
    };
    if digits.is_empty() {
        return Some((stem, None, compress));
    }
    let n: u64 = digits.parse().ok()?;
    (n > 0 && format!("{n:05}") == digits).then_some((stem, Some(n), compress))
}

pub(super) fn is_worker_name(w: &str) -> bool {
    !w.is_empty()
        && w.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// Which pages files to list: one stem's, or every process's.
#[derive(Clone, Copy)]
pub(super) enum Which<'a> {
    Stem(&'a str),
    Any,
}

pub(super) fn parts(dir: &Path, which: Which) -> std::io::Result<Vec<Part>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let Some((stem, number, compress)) = parse_part_name(&name) else {
            continue;
        };
        if matches!(which, Which::Stem(s) if s != stem) {
            continue;
        }
        if entry.file_type()?.is_file() {
            found.push(Part {
                path: entry.path(),
                stem,
                number,
                compress,
            });
        }
    }
    // Per stem, the unrotated file (None) sorts first, then parts by number.
    found.sort_by(|a, b| {
        (a.stem != "pages", &a.stem, a.number, a.compress.suffix()).cmp(&(
            b.stem != "pages",
            &b.stem,
            b.number,
            b.compress.suffix(),
        ))
    });
    Ok(found)
}

/// Every existing pages file in `dir`, in reading order: the unrotated file
/// (`pages.jsonl[.gz|.zst]`) first, then `pages-NNNNN.jsonl[.gz|.zst]` by number.
/// A missing directory has none.
pub fn part_paths(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    Ok(parts(dir, Which::Stem("pages"))?
        .into_iter()
        .map(|p| p.path)
        .collect())
}

/// Every pages file of every process in `dir` (a shared crawl's output directory
/// holds one `pages-<worker>` series per process).
pub fn all_part_paths(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    Ok(parts(dir, Which::Any)?
        .into_iter()
        .map(|p| p.path)
        .collect())
}

/// Opens the file to append to first, and returns how to start each next part.
pub(super) fn open_parts(
    dir: &Path,
    stem: &str,
    opts: JsonlOptions,
) -> std::io::Result<(File, impl FnMut() -> std::io::Result<File>)> {
    let (first, mut next_number) = first_part(dir, stem, opts)?;
    let stem = stem.to_string();
    let file = crate::outfile::open_or_create(&first, true)?;
    let dir = dir.to_path_buf();
    let next_part = move || -> std::io::Result<File> {
        let path = dir.join(part_name(&stem, Some(next_number), opts.compress));
        next_number += 1;
        // create_new: a part is only ever started empty, never mixed into.
        let file = crate::outfile::create_new(&path)?;
        sync_dir(&dir)?;
        Ok(file)
    };
    Ok((file, next_part))
}

/// Which file to append to first, and the number of the part after it.
pub(super) fn first_part(
    dir: &Path,
    stem: &str,
    opts: JsonlOptions,
) -> std::io::Result<(PathBuf, u64)> {
    let rotated = opts.rotate_bytes > 0;
    let existing = parts(dir, Which::Stem(stem))?;
    if let Some(p) = existing
        .iter()
        .find(|p| p.compress != opts.compress || p.number.is_some() != rotated)
    {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            OptionsMismatch {
                path: p.path.clone(),
                found: describe(p.compress, p.number.is_some()),
                asked: describe(opts.compress, rotated),
            },
        ));
    }
    if !rotated {
        return Ok((dir.join(part_name(stem, None, opts.compress)), 0));
    }
    let last = existing.last().and_then(|p| Some((p.number?, &p.path)));
    Ok(match last {
        Some((n, path)) if std::fs::metadata(path)?.len() < opts.rotate_bytes => {
            (path.clone(), n + 1)
        }
        Some((n, _)) => (dir.join(part_name(stem, Some(n + 1), opts.compress)), n + 2),
        None => (dir.join(part_name(stem, Some(1), opts.compress)), 2),
    })
}

/// Makes a new part's name durable, so a synced part cannot vanish in a crash
/// after its records' pending entries were deleted.
pub(super) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
