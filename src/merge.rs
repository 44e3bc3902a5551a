//! `trawl merge`: one `pages.jsonl` from the outputs of every process of a shared
//! crawl (`pages-<worker>.jsonl`, any compression or rotation), each URL once.
//!
//! A process killed between writing a record and completing its lease in Redis
//! has its URL crawled again by another process, so the raw outputs are
//! at-least-once; merging keeps the first record of each URL (files in name
//! order, lines in file order) and counts the rest as duplicates. Torn tails of
//! killed processes' files are skipped, as in `trawl export`.
//!
//! This module only reads the crawl's files and writes the merged one; it never
//! changes the inputs.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::sink::jsonl::{for_each_line, ReadError};

#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MergeSummary {
    /// Pages files read.
    pub files: usize,
    /// Records written: one per URL.
    pub records: u64,
    /// Records of a URL already written, left out.
    pub duplicates: u64,
    /// Complete lines that were not records.
    pub skipped_lines: u64,
    /// Bytes of torn or damaged file tails skipped.
    pub torn_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("{0} is not a crawl's output directory")]
    NotADir(PathBuf),
    #[error("{0} already exists: merge into a new file")]
    Exists(PathBuf),
    #[error("{0} would be read as one of the crawl's pages files: write the merged file outside the crawl's directory, or under another name")]
    InsideInput(PathBuf),
    #[error("no pages files in {0}")]
    Empty(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Read(#[from] ReadError<std::io::Error>),
}

#[derive(serde::Deserialize)]
struct UrlOnly {
    url: String,
}

/// Merges every pages file in `dirs` into `out` (a new file), each URL once.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<MergeSummary, MergeError> {
    for d in dirs {
        if !d.is_dir() {
            return Err(MergeError::NotADir(d.clone()));
        }
    }
    if out.exists() {
        return Err(MergeError::Exists(out.to_path_buf()));
    }
    // A merged file named like a pages file inside an input directory would be read
    // with the crawl's own files by the next merge or export: every URL twice.
    let name = out.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let parent = match out.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(p) => p.to_path_buf(),
        None => PathBuf::from("."),
    };
    if name.starts_with("pages") {
        let here = std::fs::canonicalize(&parent).ok();
        if dirs
            .iter()
            .any(|d| here.is_some() && std::fs::canonicalize(d).ok() == here)
        {
            return Err(MergeError::InsideInput(out.to_path_buf()));
        }
    }
    let mut any = false;
    for d in dirs {
        any |= !crate::sink::jsonl::all_part_paths(d)
            .map_err(|source| MergeError::Write {
                path: d.clone(),
                source,
            })?
            .is_empty();
    }
    if !any {
        let names: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        return Err(MergeError::Empty(names.join(", ")));
    }
    let write_err = |source| MergeError::Write {
        path: out.to_path_buf(),
        source,
    };
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(write_err)?;
    }
    // Written under a temporary name created new (never through a planted link),
    // renamed into place only when whole.
    let mut staged = crate::outfile::Staged::new(out).map_err(write_err)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, staged.file().map_err(write_err)?);
    let mut seen: HashSet<u64> = HashSet::new();
    let mut sum = MergeSummary::default();
    for d in dirs {
        let read = for_each_line(d, |line| {
            let Ok(rec) = serde_json::from_slice::<UrlOnly>(line) else {
                sum.skipped_lines += 1;
                return Ok(());
            };
            if !seen.insert(xxhash_rust::xxh3::xxh3_64(rec.url.as_bytes())) {
                sum.duplicates += 1;
                return Ok(());
            }
            sum.records += 1;
            w.write_all(line)?;
            w.write_all(b"\n")
        })?;
        sum.files += read.parts;
        sum.torn_bytes += read.torn_bytes;
    }
    w.flush().map_err(write_err)?;
    drop(w);
    staged.commit().map_err(write_err)?;
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_url_once_across_workers_and_torn_tails_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("pages-a.1.jsonl"),
            "{\"url\":\"http://x/1\",\"n\":1}\n{\"url\":\"http://x/2\",\"n\":1}\n",
        )
        .unwrap();
        // Worker b crawled /2 again after a crash, and was killed mid-line.
        std::fs::write(
            d.join("pages-b.2.jsonl"),
            "{\"url\":\"http://x/2\",\"n\":2}\nnot json\n{\"url\":\"http://x/3\",\"n\":2}\n{\"url\":\"http://x/4\"",
        )
        .unwrap();
        std::fs::write(d.join("notes.jsonl"), "{\"url\":\"http://x/9\"}\n").unwrap();
        let out = d.join("merged/pages.jsonl");
        let sum = merge(&[d.to_path_buf()], &out).unwrap();
        assert_eq!(sum.records, 3);
        assert_eq!(sum.duplicates, 1);
        assert_eq!(sum.skipped_lines, 1);
        assert_eq!(sum.files, 2);
        assert!(sum.torn_bytes > 0);
        let text = std::fs::read_to_string(&out).unwrap();
        let urls: Vec<&str> = text.lines().map(|l| l.split('"').nth(3).unwrap()).collect();
        assert_eq!(urls, ["http://x/1", "http://x/2", "http://x/3"]);
        assert!(text.contains("\"n\":1}\n{\"url\":\"http://x/3\""));
        // Never over an existing file, never where the crawl's files are read, never
        // from nothing.
        assert!(matches!(
            merge(&[d.to_path_buf()], &out),
            Err(MergeError::Exists(_))
        ));
        assert!(matches!(
            merge(&[d.to_path_buf()], &d.join("pages.jsonl")),
            Err(MergeError::InsideInput(_))
        ));
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            merge(&[empty.path().to_path_buf()], &d.join("x.jsonl")),
            Err(MergeError::Empty(_))
        ));
    }
}
