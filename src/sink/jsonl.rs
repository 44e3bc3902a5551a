//! `pages.jsonl`: one JSON object per URL attempted, written when that URL is done,
//! optionally compressed (gzip or zstd) and split into size-rotated parts.
//!
//! # Record schema (a contract: users script against these names)
//!
//! | field            | type             | meaning |
//! |------------------|------------------|---------|
//! | `url`            | string           | canonical URL requested |
//! | `final_url`      | string           | URL the response describes; for a 3xx, the canonical redirect target (which gets its own record when fetched) |
//! | `status`         | integer or null  | HTTP status; null when there was no HTTP response |
//! | `error`          | string or null   | null, or `"<kind>: <detail>"`; kinds: `timeout`, `connect`, `dns`, `too_large`, `blocked`, `robots`, `redirect`, `protocol`, `other` |
//! | `depth`          | integer          | link hops from a seed (seeds are 0; redirect hops keep the depth) |
//! | `content_type`   | string or null   | Content-Type header as sent |
//! | `content_length` | integer          | body bytes received, after decompression (capped at `max_body`) |
//! | `title`          | string or null   | `<title>` text, whitespace collapsed (HTML only) |
//! | `links`          | integer          | distinct http(s) links found on the page |
//! | `fetched_at`     | string           | RFC 3339 UTC time the fetch finished |
//! | `elapsed_ms`     | integer          | time spent on this URL's last attempt, robots.txt wait included |
//! | `attempts`       | integer          | fetch attempts made (1 unless retried) |
//! | *(extra keys)*   | any              | extraction results ([`PageRecord::extra`]), after `attempts`, in key name order; absent when there are none |
//!
//! The extra keys: each extra switched on (`description`, `canonical`, `lang`,
//! `meta`, `json_ld`, `text`) on every record, null where nothing was parsed; with
//! rules, `rule` and `data` on every record, and `data_error` when a page matched a
//! rule set but could not be given a DOM.
//!
//! An HTTP error status (404, 500) is an outcome: `status` is set, `error` is null.
//! A body longer than `max_body` is cut: `error` is `"too_large: ..."`, and its links
//! are not followed.
//!
//! # Files
//! Without rotation the records go to `pages.jsonl`, `pages.jsonl.gz` or
//! `pages.jsonl.zst`. With rotation (`rotate_bytes > 0`) they go to numbered parts
//! `pages-00001.jsonl[.gz|.zst]`, `pages-00002...`; a new part is started once the
//! current one holds at least `rotate_bytes` on disk (checked after each write), so
//! a part is at most `rotate_bytes` plus one write batch. [`part_paths`] lists
//! them in order, [`for_each_line`] reads them back. A resumed crawl must use the
//! options of the run that wrote them: mixing is refused, never silently done.
//!
//! # Durability
//! Lines are written whole: each batch of complete lines goes to the file in one
//! `write` call from a single writer thread — compressed, as one complete gzip
//! member or one zstd frame (with checksum), so the file is always a valid
//! concatenation of them. No reader ever sees a half line from a live crawl, and a
//! killed process leaves only complete lines or members (a write that fails half-way,
//! as on a full disk, is cut back to the last whole one; a tail torn by power loss
//! is cut off by [`recover`] on resume). A part is synced before the next one is
//! created, so only the last part can ever be torn. The writer is behind a bounded
//! channel: a slow disk slows the crawl instead of growing memory.
//!
//! With a durable frontier, a record is written only once the store has committed
//! the URLs its page discovered (its `ticket`), and the file is synced about once a
//! second; only then are the recorded URLs' pending entries deleted from the store.
//! So a crash can lose at most the last second of records, whose URLs are still
//! pending and are simply fetched again. This module must never report a record
//! as recorded (to [`recover`]'s caller) that it then cuts off, and never delete a
//! pending entry before its line is synced.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::frontier::store::{Op, Store};

use serde::Serialize;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// One line of pages.jsonl. Field order here is the order in the file.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PageRecord {
    pub url: String,
    pub final_url: String,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub depth: u32,
    pub content_type: Option<String>,
    pub content_length: u64,
    pub title: Option<String>,
    pub links: usize,
    pub fetched_at: String,
    pub elapsed_ms: u64,
    pub attempts: u32,
    /// Extraction results, written as top-level keys after `attempts` (in key name
    /// order: serde_json's map is sorted). Empty adds nothing to the line.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// Frontier store ticket this record waits for (its page's discoveries).
    #[serde(skip)]
    pub ticket: u64,
    /// Store key of the URL's pending entry, deleted once this line is synced.
    #[serde(skip)]
    pub done: Option<(u64, u64)>,
}

pub use crate::config::Compression;

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

fn describe(compress: Compression, rotated: bool) -> String {
    let rotation = if rotated { "rotated parts" } else { "one file" };
    format!("compression {compress} in {rotation}")
}

/// One existing output file.
#[derive(Debug, Clone)]
struct Part {
    path: PathBuf,
    /// "pages", or "pages-<worker>" for one process of a shared crawl.
    stem: String,
    /// None for the unrotated file.
    number: Option<u64>,
    compress: Compression,
}

/// The file stem of a process's records: `pages`, or `pages-<worker>` in a shared
/// crawl (worker names hold a letter, so they never read as part numbers).
pub fn stem_for(worker: Option<&str>) -> String {
    match worker {
        Some(w) => format!("pages-{w}"),
        None => "pages".to_string(),
    }
}

fn part_name(stem: &str, number: Option<u64>, compress: Compression) -> String {
    match number {
        None => format!("{stem}.jsonl{}", compress.suffix()),
        Some(n) => format!("{stem}-{n:05}.jsonl{}", compress.suffix()),
    }
}

/// Reads a part's file name into (stem, number, compression); only names trawl
/// writes match (one spelling per number), so unrelated files in the directory are
/// never read or cut.
fn parse_part_name(name: &str) -> Option<(String, Option<u64>, Compression)> {
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

fn is_worker_name(w: &str) -> bool {
    !w.is_empty()
        && w.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// Which pages files to list: one stem's, or every process's.
#[derive(Clone, Copy)]
enum Which<'a> {
    Stem(&'a str),
    Any,
}

fn parts(dir: &Path, which: Which) -> std::io::Result<Vec<Part>> {
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

/// Records buffered between the crawl and the writer thread: enough for a second of
/// a fast crawl, since durable records wait up to a commit interval.
const CHANNEL_RECORDS: usize = 32 * 1024;
/// Bytes of serialised records buffered at most: records with readable text or
/// rule data can be 100 KB each, and a count alone would not bound memory.
const QUEUE_BYTES: usize = 64 * 1024 * 1024;
/// Bytes gathered before one write call (one gzip member or zstd frame).
const BATCH_BYTES: usize = 256 * 1024;
/// zstd level: its default, fast enough to keep up with any crawl.
const ZSTD_LEVEL: i32 = 3;

pub struct JsonlSink {
    tx: mpsc::Sender<Line>,
    confirm: bool,
    /// Permits are bytes of queued lines.
    budget: Arc<Semaphore>,
    writer: JoinHandle<std::io::Result<()>>,
}

/// A record as one serialised line, made by the task that finished the URL (so
/// JSON encoding runs on every core, not on the writer thread), holding its share
/// of the queue's byte budget until the writer has taken it.
pub struct Line {
    json: Vec<u8>,
    ticket: u64,
    done: Option<(u64, u64)>,
    _budget: Option<OwnedSemaphorePermit>,
    /// Told once the line is written (with [`JsonlOptions::confirm`]).
    written: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Line {
    pub fn of(record: &PageRecord) -> Line {
        let mut json = Vec::with_capacity(512);
        push_line(&mut json, record);
        Line {
            json,
            ticket: record.ticket,
            done: record.done,
            _budget: None,
            written: None,
        }
    }
}

impl JsonlSink {
    /// Opens the pages file(s) in `dir` for appending and starts the writer thread.
    /// Existing output is continued (the unrotated file is appended to; with
    /// rotation, the last part if it is below `rotate_bytes`, else a new part) and
    /// must have been written with the same options, or [`OptionsMismatch`] is
    /// returned inside the error. With a `store`, records wait for their tickets
    /// and synced records clear their pending entries.
    pub fn open(
        dir: &Path,
        stem: &str,
        opts: JsonlOptions,
        store: Option<Arc<Store>>,
    ) -> std::io::Result<JsonlSink> {
        let (file, next_part) = open_parts(dir, stem, opts)?;
        let cfg = WriteConfig {
            compress: opts.compress,
            rotate_bytes: opts.rotate_bytes,
            batch_bytes: BATCH_BYTES,
        };
        let (tx, rx) = mpsc::channel(CHANNEL_RECORDS);
        let writer = std::thread::Builder::new()
            .name("trawl-jsonl".into())
            .spawn(move || write_loop(file, next_part, rx, store.as_deref(), cfg))?;
        Ok(JsonlSink {
            tx,
            budget: Arc::new(Semaphore::new(QUEUE_BYTES)),
            writer,
            confirm: opts.confirm,
        })
    }

    /// Queues a record; waits when the writer is behind (by count or by bytes).
    pub async fn send(&self, record: PageRecord) -> Result<(), super::SinkError> {
        let mut line = Line::of(&record);
        drop(record);
        // One line larger than the whole budget takes all of it (and waits for it).
        let want = line.json.len().clamp(1, QUEUE_BYTES) as u32;
        let permit = self
            .budget
            .clone()
            .acquire_many_owned(want)
            .await
            .map_err(|_| super::SinkError::Closed)?;
        line._budget = Some(permit);
        let written = self.confirm.then(|| {
            let (tx, rx) = tokio::sync::oneshot::channel();
            line.written = Some(tx);
            rx
        });
        self.tx
            .send(line)
            .await
            .map_err(|_| super::SinkError::Closed)?;
        match written {
            // Dropped unsent: the writer failed, and says why at finish.
            Some(rx) => rx.await.map_err(|_| super::SinkError::Closed),
            None => Ok(()),
        }
    }

    /// Flushes, fsyncs and stops the writer.
    pub fn finish(self) -> Result<(), super::SinkError> {
        drop(self.tx);
        match self.writer.join() {
            Ok(r) => r.map_err(super::SinkError::Io),
            Err(_) => Err(super::SinkError::Closed),
        }
    }
}

/// Opens the file to append to first, and returns how to start each next part.
fn open_parts(
    dir: &Path,
    stem: &str,
    opts: JsonlOptions,
) -> std::io::Result<(File, impl FnMut() -> std::io::Result<File>)> {
    let (first, mut next_number) = first_part(dir, stem, opts)?;
    let stem = stem.to_string();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&first)?;
    let dir = dir.to_path_buf();
    let next_part = move || -> std::io::Result<File> {
        let path = dir.join(part_name(&stem, Some(next_number), opts.compress));
        next_number += 1;
        // create_new: a part is only ever started empty, never mixed into.
        let file = std::fs::OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)?;
        sync_dir(&dir)?;
        Ok(file)
    };
    Ok((file, next_part))
}

/// Which file to append to first, and the number of the part after it.
fn first_part(dir: &Path, stem: &str, opts: JsonlOptions) -> std::io::Result<(PathBuf, u64)> {
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
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// What the writer needs from its file (a trait so tests can make writes fail).
trait LineFile: Write {
    fn length(&self) -> std::io::Result<u64>;
    fn cut(&mut self, len: u64) -> std::io::Result<()>;
    fn sync(&mut self) -> std::io::Result<()>;
}

impl LineFile for File {
    fn length(&self) -> std::io::Result<u64> {
        Ok(self.metadata()?.len())
    }
    fn cut(&mut self, len: u64) -> std::io::Result<()> {
        self.set_len(len)
    }
    fn sync(&mut self) -> std::io::Result<()> {
        self.sync_all()
    }
}

/// How often written lines are synced (and their pending entries released).
const SYNC_EVERY: Duration = Duration::from_secs(1);
/// Longest a record waits for the store to commit its page's discoveries.
const TICKET_WAIT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy)]
struct WriteConfig {
    compress: Compression,
    rotate_bytes: u64,
    batch_bytes: usize,
}

/// Turns a batch of lines into the bytes written: as-is, or one self-contained
/// gzip member or zstd frame, so every write leaves a valid file behind it.
struct Encoder {
    compress: Compression,
    zstd: Option<zstd::bulk::Compressor<'static>>,
    out: Vec<u8>,
}

impl Encoder {
    fn new(compress: Compression) -> std::io::Result<Encoder> {
        let zstd = match compress {
            Compression::Zstd => {
                let mut c = zstd::bulk::Compressor::new(ZSTD_LEVEL)?;
                // A checksum lets recovery tell a frame damaged by a crash from a whole one.
                c.include_checksum(true)?;
                Some(c)
            }
            _ => None,
        };
        Ok(Encoder {
            compress,
            zstd,
            out: Vec::new(),
        })
    }

    fn encode<'a>(&'a mut self, lines: &'a [u8]) -> std::io::Result<&'a [u8]> {
        match (self.compress, &mut self.zstd) {
            (Compression::Gzip, _) => {
                self.out.clear();
                let mut gz = flate2::write::GzEncoder::new(
                    std::mem::take(&mut self.out),
                    flate2::Compression::default(),
                );
                gz.write_all(lines)?;
                self.out = gz.finish()?;
                Ok(&self.out)
            }
            (Compression::Zstd, Some(z)) => {
                self.out.clear();
                self.out
                    .reserve(zstd::zstd_safe::compress_bound(lines.len()));
                z.compress_to_buffer(lines, &mut self.out)?;
                Ok(&self.out)
            }
            _ => Ok(lines),
        }
    }
}

fn write_loop<F: LineFile>(
    mut file: F,
    mut next_part: impl FnMut() -> std::io::Result<F>,
    mut rx: mpsc::Receiver<Line>,
    store: Option<&Store>,
    cfg: WriteConfig,
) -> std::io::Result<()> {
    let mut encoder = Encoder::new(cfg.compress)?;
    let mut batch = Vec::with_capacity(cfg.batch_bytes + 4096);
    // Length of the file's complete lines (or members): a failed write is cut back to it.
    let mut whole = file.length()?;
    let mut unsynced_done: Vec<Op> = Vec::new();
    let mut last_sync = Instant::now();
    // The current part reached rotate_bytes: the next batch goes to a new part.
    let mut full = false;
    // Taking a line into the batch releases its share of the queue budget.
    let mut acks = Vec::new();
    let add = |batch: &mut Vec<u8>,
               mut r: Line,
               ticket: &mut u64,
               done: &mut Vec<Op>,
               acks: &mut Vec<tokio::sync::oneshot::Sender<()>>| {
        batch.extend_from_slice(&r.json);
        if let Some(a) = r.written.take() {
            acks.push(a);
        }
        *ticket = (*ticket).max(r.ticket);
        if let Some((host, seq)) = r.done {
            done.push(Op::Delete(host, seq));
        }
    };
    while let Some(first) = rx.blocking_recv() {
        let mut ticket = 0;
        add(
            &mut batch,
            first,
            &mut ticket,
            &mut unsynced_done,
            &mut acks,
        );
        // Drain what is already waiting, so a busy crawl makes few large writes.
        while batch.len() < cfg.batch_bytes {
            match rx.try_recv() {
                Ok(r) => add(&mut batch, r, &mut ticket, &mut unsynced_done, &mut acks),
                Err(_) => break,
            }
        }
        if let Some(store) = store {
            // A record on disk must imply its page's links are on disk.
            if ticket > 0 && !store.wait_committed(ticket, TICKET_WAIT) {
                return Err(std::io::Error::other(
                    "the frontier store stopped committing",
                ));
            }
        }
        if full {
            // Started only when there is something to put in it: no empty last part.
            file = next_part()?;
            whole = file.length()?;
            full = false;
        }
        let bytes = encoder.encode(&batch)?;
        if let Err(e) = file.write_all(bytes) {
            // A full disk may have taken part of the batch: never leave half a line.
            let _ = file.cut(whole);
            return Err(e);
        }
        whole += bytes.len() as u64;
        batch.clear();
        for a in acks.drain(..) {
            let _ = a.send(());
        }
        if cfg.rotate_bytes > 0 && whole >= cfg.rotate_bytes {
            // The full part is synced (and its records released) before the next
            // exists, so only the last part can ever be torn.
            sync_and_release(&mut file, store, &mut unsynced_done)?;
            last_sync = Instant::now();
            full = true;
        } else if last_sync.elapsed() >= SYNC_EVERY {
            sync_and_release(&mut file, store, &mut unsynced_done)?;
            last_sync = Instant::now();
        }
    }
    sync_and_release(&mut file, store, &mut unsynced_done)
}

/// Syncs the file, then lets the store forget the URLs whose lines are now safe.
fn sync_and_release(
    file: &mut impl LineFile,
    store: Option<&Store>,
    done: &mut Vec<Op>,
) -> std::io::Result<()> {
    file.sync()?;
    if let Some(store) = store {
        if !done.is_empty() {
            store
                .send(std::mem::take(done))
                .map_err(|e| std::io::Error::other(e.to_string()))?;
        }
    }
    Ok(())
}

/// Why [`for_each_line`] stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ReadError<E> {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The callback's own error, passed through.
    #[error(transparent)]
    Callback(E),
}

/// What [`for_each_line`] read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LinesRead {
    pub parts: usize,
    /// Complete lines passed to the callback.
    pub lines: u64,
    /// Bytes after a part's last complete line (plain) or member/frame
    /// (compressed) that could not be read: a torn or damaged tail.
    pub torn_bytes: u64,
}

/// Streams every complete line (without its `\n`) of every part in `dir` (every
/// process's, in a shared crawl's directory), in order, decompressing as needed. A torn or damaged tail of a part is skipped
/// (counted in `torn_bytes`), not an error, and left in place; complete lines that
/// decoded before the damage are passed on. Memory is one buffer, whatever the
/// file size. Stops at the first error the callback returns.
pub fn for_each_line<E>(
    dir: &Path,
    mut f: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<LinesRead, ReadError<E>> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReadError::Io { path, source }
    };
    let mut read = LinesRead::default();
    for part in parts(dir, Which::Any).map_err(io(dir))? {
        let r = read_part(&part, &mut f)?;
        read.parts += 1;
        read.lines += r.lines;
        read.torn_bytes += r.len - r.whole;
    }
    Ok(read)
}

/// How far one part could be read.
struct PartRead {
    /// Bytes up to the end of the last complete line or member: a valid file.
    whole: u64,
    len: u64,
    lines: u64,
}

/// Counts bytes consumed, so the end of each compressed member is known exactly.
struct Counted<R> {
    inner: R,
    pos: u64,
}

impl<R: BufRead> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        self.pos += amt as u64;
        self.inner.consume(amt);
    }
}

/// Splits decoded bytes into lines, carrying a partial line between reads.
struct Lines<'f, F> {
    pending: Vec<u8>,
    lines: u64,
    f: &'f mut F,
}

impl<E, F: FnMut(&[u8]) -> Result<(), E>> Lines<'_, F> {
    fn feed(&mut self, mut data: &[u8]) -> Result<(), E> {
        while let Some(i) = data.iter().position(|&b| b == b'\n') {
            if self.pending.is_empty() {
                (self.f)(&data[..i])?;
            } else {
                self.pending.extend_from_slice(&data[..i]);
                let line = std::mem::take(&mut self.pending);
                (self.f)(&line)?;
                self.pending = line;
                self.pending.clear();
            }
            self.lines += 1;
            data = &data[i + 1..];
        }
        self.pending.extend_from_slice(data);
        Ok(())
    }
}

/// Decodes one member or frame through `lines`; Ok(false) when it is torn or
/// damaged (the decoder failed), so the caller stops before it.
fn decode_member<E, F: FnMut(&[u8]) -> Result<(), E>>(
    mut decoder: impl Read,
    buf: &mut [u8],
    lines: &mut Lines<'_, F>,
) -> Result<bool, E> {
    loop {
        match decoder.read(buf) {
            Ok(0) => return Ok(true),
            Ok(n) => lines.feed(&buf[..n])?,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Ok(false),
        }
    }
}

fn read_part<E>(
    part: &Part,
    f: &mut impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<PartRead, ReadError<E>> {
    let io = |source| ReadError::Io {
        path: part.path.clone(),
        source,
    };
    let file = File::open(&part.path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut input = Counted {
        inner: std::io::BufReader::with_capacity(1 << 20, file),
        pos: 0,
    };
    let mut lines = Lines {
        pending: Vec::new(),
        lines: 0,
        f,
    };
    let mut whole = 0;
    let mut buf = vec![0u8; 64 * 1024];
    if part.compress == Compression::None {
        loop {
            let n = input.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            lines.feed(&buf[..n]).map_err(ReadError::Callback)?;
        }
        // Everything but a last line without its newline (torn) was whole.
        whole = input.pos - lines.pending.len() as u64;
    } else {
        while !input.fill_buf().map_err(io)?.is_empty() {
            let complete = match part.compress {
                Compression::Gzip => decode_member(
                    flate2::bufread::GzDecoder::new(&mut input),
                    &mut buf,
                    &mut lines,
                ),
                _ => {
                    let decoder = zstd::stream::read::Decoder::with_buffer(&mut input)
                        .map_err(io)?
                        .single_frame();
                    decode_member(decoder, &mut buf, &mut lines)
                }
            }
            .map_err(ReadError::Callback)?;
            if !complete {
                break;
            }
            whole = input.pos;
        }
    }
    Ok(PartRead {
        whole,
        // A live crawl may have appended since the length was taken.
        len: len.max(input.pos),
        lines: lines.lines,
    })
}

/// Length of the valid prefix of a part: through its last newline (plain, found
/// from the end without reading the rest) or its last complete member (decoded).
fn whole_len(part: &Part) -> std::io::Result<(u64, u64)> {
    if part.compress != Compression::None {
        let r = read_part(part, &mut |_: &[u8]| Ok::<(), std::convert::Infallible>(())).map_err(
            |e| match e {
                ReadError::Io { source, .. } => source,
                ReadError::Callback(never) => match never {},
            },
        )?;
        return Ok((r.whole, r.len));
    }
    let mut file = File::open(&part.path)?;
    let len = file.metadata()?.len();
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            return Ok((start + i as u64 + 1, len));
        }
        end = start;
    }
    Ok((0, len))
}

/// One earlier record, as read back on resume.
#[derive(Debug, serde::Deserialize)]
pub struct RecordedPage {
    pub url: String,
    pub status: Option<u16>,
    pub error: Option<String>,
    #[serde(default)]
    pub content_length: u64,
}

/// What [`recover`] found in an earlier crawl's pages files.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Complete records read.
    pub records: u64,
    /// Bytes of a torn tail (line, gzip member or zstd frame) cut off the last part.
    pub torn_bytes: u64,
    /// Bytes of damaged tails of earlier parts, skipped and left in place (a part
    /// is synced before the next starts, so this needs damage beyond a crash).
    pub unreadable_bytes: u64,
    /// Complete lines that were not records (skipped).
    pub bad_lines: u64,
    /// Fingerprints of the recorded URLs.
    pub fingerprints: HashSet<u64>,
}

/// Makes an interrupted crawl's pages files whole again (a torn tail of the last
/// part is cut off first, so no record that is then cut is ever reported) and
/// reads back what they record, calling `each` for every record. A compressed last
/// part is decoded twice (once to find its whole length, once to read it): the price
/// of never holding a whole member in memory.
pub fn recover(dir: &Path, mut each: impl FnMut(&RecordedPage)) -> std::io::Result<Recovered> {
    let mut out = Recovered::default();
    if let Some(last) = parts(dir, Which::Stem("pages"))?.last() {
        let (whole, len) = whole_len(last)?;
        if whole < len {
            out.torn_bytes = len - whole;
            let file = std::fs::OpenOptions::new().write(true).open(&last.path)?;
            file.set_len(whole)?;
            file.sync_all()?;
        }
    }
    let read = for_each_line(dir, |line| {
        match serde_json::from_slice::<RecordedPage>(line) {
            Ok(page) => {
                out.records += 1;
                out.fingerprints
                    .insert(crate::canon::fingerprint_str(&page.url));
                each(&page);
            }
            Err(_) => out.bad_lines += 1,
        }
        Ok::<(), std::convert::Infallible>(())
    })
    .map_err(|e| match e {
        ReadError::Io { path, source } => {
            std::io::Error::new(source.kind(), format!("{}: {source}", path.display()))
        }
        ReadError::Callback(never) => match never {},
    })?;
    out.unreadable_bytes = read.torn_bytes;
    Ok(out)
}

fn push_line(batch: &mut Vec<u8>, record: &PageRecord) {
    // Serialising strings, numbers and JSON values cannot fail; skip rather than panic.
    if serde_json::to_writer(&mut *batch, record).is_ok() {
        batch.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(url: &str) -> PageRecord {
        PageRecord {
            url: url.into(),
            final_url: url.into(),
            status: Some(200),
            error: None,
            depth: 1,
            content_type: Some("text/html".into()),
            content_length: 12,
            title: Some("T \"q\"\n".into()),
            links: 3,
            fetched_at: "2026-01-01T00:00:00.000Z".into(),
            elapsed_ms: 5,
            attempts: 1,
            extra: Default::default(),
            ticket: 0,
            done: None,
        }
    }

    #[test]
    fn recover_cuts_a_torn_last_line_and_reads_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pages.jsonl");
        let mut text = String::new();
        for i in 0..3 {
            text.push_str(&serde_json::to_string(&record(&format!("http://e.com/{i}"))).unwrap());
            text.push('\n');
        }
        let whole = text.len() as u64;
        text.push_str(r#"{"url":"http://e.com/torn","final_u"#);
        std::fs::write(&path, &text).unwrap();
        let mut urls = Vec::new();
        let r = recover(dir.path(), |p| urls.push(p.url.clone())).unwrap();
        assert_eq!(r.records, 3);
        assert_eq!(r.torn_bytes, text.len() as u64 - whole);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), whole);
        assert_eq!(urls, ["http://e.com/0", "http://e.com/1", "http://e.com/2"]);
        assert!(r
            .fingerprints
            .contains(&crate::canon::fingerprint_str("http://e.com/1")));
        // A whole file is left alone.
        let again = recover(dir.path(), |_| {}).unwrap();
        assert_eq!((again.records, again.torn_bytes), (3, 0));
    }

    #[test]
    fn schema_is_pinned() {
        let line = serde_json::to_string(&record("http://e.com/")).unwrap();
        assert_eq!(
            line,
            r#"{"url":"http://e.com/","final_url":"http://e.com/","status":200,"error":null,"depth":1,"content_type":"text/html","content_length":12,"title":"T \"q\"\n","links":3,"fetched_at":"2026-01-01T00:00:00.000Z","elapsed_ms":5,"attempts":1}"#
        );
    }

    #[test]
    fn extra_keys_follow_attempts_in_name_order() {
        let mut r = record("http://e.com/");
        // Inserted out of order: the file has them sorted (serde_json's map).
        r.extra.insert("price".into(), serde_json::json!(9.5));
        r.extra.insert(
            "data".into(),
            serde_json::json!({"sku": "a,b", "tags": [1, 2]}),
        );
        let line = serde_json::to_string(&r).unwrap();
        assert!(
            line.ends_with(r#","attempts":1,"data":{"sku":"a,b","tags":[1,2]},"price":9.5}"#),
            "{line}"
        );
        // Readers of old fields are unaffected.
        let back: RecordedPage = serde_json::from_str(&line).unwrap();
        assert_eq!(back.url, "http://e.com/");
    }

    fn plain(rotate_bytes: u64, batch_bytes: usize) -> WriteConfig {
        WriteConfig {
            compress: Compression::None,
            rotate_bytes,
            batch_bytes,
        }
    }

    fn opts(compress: Compression, rotate_bytes: u64) -> JsonlOptions {
        JsonlOptions {
            compress,
            rotate_bytes,
            confirm: false,
        }
    }

    fn urls_in(dir: &Path) -> Vec<String> {
        let mut urls = Vec::new();
        for_each_line(dir, |line| {
            let v: serde_json::Value = serde_json::from_slice(line).map_err(|e| e.to_string())?;
            urls.push(v["url"].as_str().ok_or("no url")?.to_string());
            Ok::<(), String>(())
        })
        .unwrap();
        urls
    }

    fn names(dir: &Path) -> Vec<String> {
        part_paths(dir)
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    /// Runs `write_loop` on real part files with batches of `batch_bytes`.
    fn write_parts(dir: &Path, o: JsonlOptions, batch_bytes: usize, urls: &[String]) {
        let (file, next) = open_parts(dir, "pages", o).unwrap();
        let (tx, rx) = mpsc::channel(urls.len().max(1));
        for u in urls {
            tx.try_send(Line::of(&record(u))).unwrap();
        }
        drop(tx);
        let cfg = WriteConfig {
            compress: o.compress,
            rotate_bytes: o.rotate_bytes,
            batch_bytes,
        };
        write_loop(file, next, rx, None, cfg).unwrap();
    }

    fn urls(prefix: &str, n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("http://e.com/{prefix}/{i}"))
            .collect()
    }

    #[tokio::test]
    async fn gzip_and_zstd_round_trip_and_reopening_appends() {
        for (compress, name) in [
            (Compression::Gzip, "pages.jsonl.gz"),
            (Compression::Zstd, "pages.jsonl.zst"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let mut sent = Vec::new();
            for round in 0..2 {
                let sink = JsonlSink::open(dir.path(), "pages", opts(compress, 0), None).unwrap();
                for u in urls(&round.to_string(), 1000) {
                    sink.send(record(&u)).await.unwrap();
                    sent.push(u);
                }
                sink.finish().unwrap();
            }
            assert_eq!(names(dir.path()), [name]);
            let path = dir.path().join(name);
            let raw = std::fs::read(&path).unwrap();
            // Readable by standard tools (zcat, zstdcat)...
            let mut text = String::new();
            match compress {
                Compression::Gzip => {
                    flate2::read::MultiGzDecoder::new(&raw[..])
                        .read_to_string(&mut text)
                        .unwrap();
                }
                _ => text = String::from_utf8(zstd::decode_all(&raw[..]).unwrap()).unwrap(),
            }
            // ...and compressed for real (how much depends on how the writer batched).
            assert!(
                raw.len() < text.len(),
                "{} of {} bytes",
                raw.len(),
                text.len()
            );
            assert_eq!(text.lines().count(), 2000);
            assert_eq!(urls_in(dir.path()), sent, "{compress}");
        }
    }

    #[test]
    fn rotation_makes_ordered_parts_each_under_the_limit_plus_one_batch() {
        let dir = tempfile::tempdir().unwrap();
        let line_len = serde_json::to_string(&record("http://e.com/a/00"))
            .unwrap()
            .len() as u64
            + 1;
        let limit = 1000;
        let all = urls("a", 40);
        // One record per batch: a batch is one line.
        write_parts(dir.path(), opts(Compression::None, limit), 1, &all);
        let paths = part_paths(dir.path()).unwrap();
        assert!(paths.len() >= 8, "{paths:?}");
        let expected: Vec<String> = (1..=paths.len())
            .map(|n| format!("pages-{n:05}.jsonl"))
            .collect();
        assert_eq!(names(dir.path()), expected);
        for (i, p) in paths.iter().enumerate() {
            let len = std::fs::metadata(p).unwrap().len();
            assert!(len < limit + line_len + 2, "{p:?}: {len}");
            if i + 1 < paths.len() {
                assert!(len >= limit, "{p:?} rotated early: {len}");
            }
        }
        assert_eq!(urls_in(dir.path()), all);
        // Part numbers sort as numbers, past the padding too.
        std::fs::rename(&paths[0], dir.path().join("pages-100000.jsonl")).unwrap();
        let renamed = names(dir.path());
        assert_eq!(renamed.last().unwrap(), "pages-100000.jsonl");
    }

    #[test]
    fn reopening_rotated_output_continues_the_last_part_until_full() {
        let dir = tempfile::tempdir().unwrap();
        let o = opts(Compression::Gzip, 100_000);
        let first = urls("a", 10);
        write_parts(dir.path(), o, BATCH_BYTES, &first);
        assert_eq!(names(dir.path()), ["pages-00001.jsonl.gz"]);
        let second = urls("b", 10);
        write_parts(dir.path(), o, BATCH_BYTES, &second);
        // Still below the limit: the same part, now two members.
        assert_eq!(names(dir.path()), ["pages-00001.jsonl.gz"]);
        // A smaller limit makes the existing part full: the next run starts part 2.
        let third = urls("c", 10);
        write_parts(dir.path(), opts(Compression::Gzip, 10), BATCH_BYTES, &third);
        let n = names(dir.path());
        assert_eq!(n[..2], ["pages-00001.jsonl.gz", "pages-00002.jsonl.gz"]);
        let all: Vec<String> = first.into_iter().chain(second).chain(third).collect();
        assert_eq!(urls_in(dir.path()), all);
    }

    #[test]
    fn mismatched_options_are_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        write_parts(
            dir.path(),
            opts(Compression::Gzip, 0),
            BATCH_BYTES,
            &urls("a", 3),
        );
        for other in [
            opts(Compression::Zstd, 0),
            opts(Compression::None, 0),
            opts(Compression::Gzip, 1 << 20),
        ] {
            let Err(err) = JsonlSink::open(dir.path(), "pages", other, None) else {
                panic!("{other:?} was accepted");
            };
            let msg = err.to_string();
            assert!(msg.contains("pages.jsonl.gz"), "{msg}");
            assert!(
                msg.contains("--compress/--rotate-size") && msg.contains("--fresh"),
                "{msg}"
            );
            assert!(err.get_ref().unwrap().is::<OptionsMismatch>());
        }
        // Nothing new was created by the refusals.
        assert_eq!(names(dir.path()), ["pages.jsonl.gz"]);
        assert!(JsonlSink::open(dir.path(), "pages", opts(Compression::Gzip, 0), None).is_ok());
    }

    #[test]
    fn part_paths_lists_only_part_names_in_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "pages-00010.jsonl.zst",
            "pages-00002.jsonl",
            "pages.jsonl.gz",
            "pages-2.jsonl",
            "pages-00000.jsonl",
            "pages.jsonl.tmp",
            "pages-0001x.jsonl",
            "stats.json",
            "other.jsonl",
        ] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        std::fs::create_dir(dir.path().join("pages-00003.jsonl")).unwrap();
        assert_eq!(
            names(dir.path()),
            [
                "pages.jsonl.gz",
                "pages-00002.jsonl",
                "pages-00010.jsonl.zst"
            ]
        );
        assert!(part_paths(&dir.path().join("missing")).unwrap().is_empty());
    }

    #[test]
    fn workers_of_a_shared_crawl_have_their_own_series() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for (stem, rotate) in [("pages-w1", 0), ("pages-host.42", 10), ("pages", 0)] {
            let o = JsonlOptions {
                compress: Compression::None,
                rotate_bytes: rotate,
                confirm: false,
            };
            for round in 0..2 {
                let (mut f, mut next) = open_parts(d, stem, o).unwrap();
                f.write_all(format!("{{\"url\":\"{stem}{round}\"}}\n").as_bytes())
                    .unwrap();
                if rotate > 0 {
                    next().unwrap();
                }
            }
        }
        let all: Vec<String> = all_part_paths(d)
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            all,
            [
                "pages.jsonl",
                "pages-host.42-00001.jsonl",
                "pages-host.42-00002.jsonl",
                "pages-host.42-00003.jsonl",
                "pages-w1.jsonl"
            ]
        );
        // A single crawl's own listing never picks up a worker's files.
        assert_eq!(names(d), ["pages.jsonl"]);
        let mut lines = 0;
        for_each_line(d, |_| {
            lines += 1;
            Ok::<(), std::io::Error>(())
        })
        .unwrap();
        assert_eq!(lines, 6);
    }

    #[test]
    fn recover_cuts_a_torn_gzip_member_or_zstd_frame() {
        for compress in [Compression::Gzip, Compression::Zstd] {
            let dir = tempfile::tempdir().unwrap();
            // Two parts (each run fills one), so the earlier one must be left alone.
            let o = opts(compress, 1);
            write_parts(dir.path(), o, BATCH_BYTES, &urls("a", 50));
            write_parts(dir.path(), o, BATCH_BYTES, &urls("b", 50));
            let paths = part_paths(dir.path()).unwrap();
            assert_eq!(paths.len(), 2, "{paths:?}");
            let last = &paths[1];
            let whole = std::fs::read(last).unwrap();
            // A big member, half written: its first blocks decode to whole lines,
            // which must not be reported since they are cut.
            let mut enc = Encoder::new(compress).unwrap();
            let mut lines = Vec::new();
            for u in urls("torn", 2000) {
                push_line(&mut lines, &record(&u));
            }
            let member = enc.encode(&lines).unwrap().to_vec();
            let mut torn = whole.clone();
            torn.extend_from_slice(&member[..member.len() / 2]);
            std::fs::write(last, &torn).unwrap();
            let streamed = for_each_line(dir.path(), |_| Ok::<(), ()>(())).unwrap();
            assert!(
                streamed.lines > 100,
                "{compress}: the torn member decodes in part"
            );
            assert!(streamed.torn_bytes > 0);

            let mut seen = Vec::new();
            let r = recover(dir.path(), |p| seen.push(p.url.clone())).unwrap();
            assert_eq!(r.records, 100, "{compress}");
            assert_eq!(r.torn_bytes, (torn.len() - whole.len()) as u64);
            assert_eq!(r.unreadable_bytes, 0);
            assert_eq!(std::fs::read(last).unwrap(), whole);
            let expected: Vec<String> = urls("a", 50).into_iter().chain(urls("b", 50)).collect();
            assert_eq!(seen, expected);
            // Appending after the cut gives a valid file again.
            write_parts(dir.path(), o, BATCH_BYTES, &urls("c", 5));
            assert_eq!(urls_in(dir.path()).len(), 105);
            let again = recover(dir.path(), |_| {}).unwrap();
            assert_eq!((again.records, again.torn_bytes), (105, 0));
        }
    }

    #[test]
    fn recover_cuts_a_torn_plain_line_of_the_last_part_only() {
        let dir = tempfile::tempdir().unwrap();
        write_parts(
            dir.path(),
            opts(Compression::None, 1),
            BATCH_BYTES,
            &urls("a", 2),
        );
        write_parts(
            dir.path(),
            opts(Compression::None, 1),
            BATCH_BYTES,
            &urls("b", 2),
        );
        let paths = part_paths(dir.path()).unwrap();
        assert_eq!(paths.len(), 2, "{paths:?}");
        let whole = std::fs::metadata(&paths[1]).unwrap().len();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&paths[1])
            .unwrap();
        let tail = br#"{"url":"http://e.com/torn","#;
        f.write_all(tail).unwrap();
        let r = recover(dir.path(), |_| {}).unwrap();
        assert_eq!((r.records, r.torn_bytes), (4, tail.len() as u64));
        assert_eq!(std::fs::metadata(&paths[1]).unwrap().len(), whole);
        assert_eq!(std::fs::metadata(&paths[0]).unwrap().len(), whole);
    }

    #[test]
    fn compression_parses_its_names() {
        assert_eq!("gzip".parse::<Compression>().unwrap(), Compression::Gzip);
        assert_eq!("zstd".parse::<Compression>().unwrap(), Compression::Zstd);
        assert_eq!("none".parse::<Compression>().unwrap(), Compression::None);
        assert!("gz"
            .parse::<Compression>()
            .unwrap_err()
            .to_string()
            .contains("gzip"));
        let c: Compression = serde_json::from_str(r#""zstd""#).unwrap();
        assert_eq!(c, Compression::Zstd);
    }

    #[tokio::test]
    async fn the_queue_is_bounded_in_bytes_not_only_in_records() {
        // A writer that never drains: only the byte budget can stop the sender.
        let (tx, _rx) = mpsc::channel(CHANNEL_RECORDS);
        let sink = JsonlSink {
            tx,
            budget: Arc::new(Semaphore::new(QUEUE_BYTES)),
            writer: std::thread::spawn(|| Ok(())),
            confirm: false,
        };
        let big = |i: usize| {
            let mut r = record(&format!("http://e.com/{i}"));
            r.extra.insert("text".into(), "x".repeat(1 << 20).into());
            r
        };
        let fits = QUEUE_BYTES / ((1 << 20) + 1024);
        for i in 0..fits {
            tokio::time::timeout(Duration::from_secs(5), sink.send(big(i)))
                .await
                .expect("room for it")
                .unwrap();
        }
        let more = tokio::time::timeout(Duration::from_millis(200), sink.send(big(fits))).await;
        assert!(more.is_err(), "the {}th MB record must wait", fits + 1);
    }

    /// A disk that fills up after `room` bytes.
    struct FullDisk {
        data: Vec<u8>,
        room: usize,
    }

    impl Write for FullDisk {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.room.saturating_sub(self.data.len()));
            if n == 0 {
                return Err(std::io::Error::other("no space left on device"));
            }
            self.data.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl LineFile for &mut FullDisk {
        fn length(&self) -> std::io::Result<u64> {
            Ok(self.data.len() as u64)
        }
        fn cut(&mut self, len: u64) -> std::io::Result<()> {
            self.data.truncate(len as usize);
            Ok(())
        }
        fn sync(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_full_disk_never_leaves_half_a_line() {
        let mut disk = FullDisk {
            data: Vec::new(),
            room: 1000,
        };
        let (tx, rx) = mpsc::channel(16);
        let sender = std::thread::spawn(move || {
            for i in 0..10 {
                if tx
                    .blocking_send(Line::of(&record(&format!("http://e.com/{i}"))))
                    .is_err()
                {
                    break;
                }
                // One record per batch, so the first batches fit.
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        });
        let no_rotation = || -> std::io::Result<&mut FullDisk> { unreachable!() };
        let err = write_loop(&mut disk, no_rotation, rx, None, plain(0, BATCH_BYTES)).unwrap_err();
        sender.join().unwrap();
        assert!(err.to_string().contains("no space"));
        let text = String::from_utf8(disk.data).unwrap();
        assert!(!text.is_empty() && text.ends_with('\n'), "{text:?}");
        for line in text.lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
    }

    #[tokio::test]
    async fn writes_whole_lines_and_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pages.jsonl");
        for round in 0..2 {
            let sink = JsonlSink::open(dir.path(), "pages", JsonlOptions::default(), None).unwrap();
            for i in 0..1000 {
                sink.send(record(&format!("http://e.com/{round}/{i}")))
                    .await
                    .unwrap();
            }
            sink.finish().unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 2000);
        assert!(text.ends_with('\n'));
        for l in lines {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["status"], 200);
        }
    }
}
