//! `pages.jsonl`: one JSON object per URL attempted, written when that URL is done.
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
//!
//! An HTTP error status (404, 500) is an outcome: `status` is set, `error` is null.
//! A body longer than `max_body` is cut: `error` is `"too_large: ..."`, and its links
//! are not followed.
//!
//! # Durability
//! Lines are written whole: each batch of complete lines goes to the file in one
//! `write` call from a single writer thread, so no reader ever sees a half line
//! from a live crawl, and a killed process leaves only complete lines (a write that
//! fails half-way, as on a full disk, is cut back to the last whole line; a line
//! torn by power loss is cut off by [`recover`] on resume). The writer is behind a
//! bounded channel: a slow disk slows the crawl instead of growing memory.
//!
//! With a durable frontier, a record is written only once the store has committed
//! the URLs its page discovered (its `ticket`), and the file is synced about once a
//! second; only then are the recorded URLs' pending entries deleted from the store.
//! So a crash can lose at most the last second of records, whose URLs are still
//! pending and are simply fetched again.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::frontier::store::{Op, Store};

use serde::Serialize;
use tokio::sync::mpsc;

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
    /// Extraction results (extras, `rule`, `data`); empty unless asked for.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// Frontier store ticket this record waits for (its page's discoveries).
    #[serde(skip)]
    pub ticket: u64,
    /// Store key of the URL's pending entry, deleted once this line is synced.
    #[serde(skip)]
    pub done: Option<(u64, u64)>,
}

/// Records buffered between the crawl and the writer thread: enough for a second of
/// a fast crawl, since durable records wait up to a commit interval (about 10 MB).
const CHANNEL_RECORDS: usize = 32 * 1024;
/// Bytes gathered before one write call.
const BATCH_BYTES: usize = 256 * 1024;

pub struct JsonlSink {
    tx: mpsc::Sender<PageRecord>,
    writer: JoinHandle<std::io::Result<()>>,
}

impl JsonlSink {
    /// Opens `path` for appending and starts the writer thread. With a `store`,
    /// records wait for their tickets and synced records clear their pending entries.
    pub fn open(path: &Path, store: Option<Arc<Store>>) -> std::io::Result<JsonlSink> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let (tx, rx) = mpsc::channel(CHANNEL_RECORDS);
        let writer = std::thread::Builder::new()
            .name("trawl-jsonl".into())
            .spawn(move || write_loop(file, rx, store.as_deref()))?;
        Ok(JsonlSink { tx, writer })
    }

    /// Queues a record; waits when the writer is behind.
    pub async fn send(&self, record: PageRecord) -> Result<(), super::SinkError> {
        self.tx
            .send(record)
            .await
            .map_err(|_| super::SinkError::Closed)
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

fn write_loop(
    mut file: impl LineFile,
    mut rx: mpsc::Receiver<PageRecord>,
    store: Option<&Store>,
) -> std::io::Result<()> {
    let mut batch = Vec::with_capacity(BATCH_BYTES + 4096);
    // Length of the file's complete lines: a failed write is cut back to it.
    let mut whole = file.length()?;
    let mut unsynced_done: Vec<Op> = Vec::new();
    let mut last_sync = Instant::now();
    let add = |batch: &mut Vec<u8>, r: &PageRecord, ticket: &mut u64, done: &mut Vec<Op>| {
        push_line(batch, r);
        *ticket = (*ticket).max(r.ticket);
        if let Some((host, seq)) = r.done {
            done.push(Op::Delete(host, seq));
        }
    };
    while let Some(first) = rx.blocking_recv() {
        let mut ticket = 0;
        add(&mut batch, &first, &mut ticket, &mut unsynced_done);
        // Drain what is already waiting, so a busy crawl makes few large writes.
        while batch.len() < BATCH_BYTES {
            match rx.try_recv() {
                Ok(r) => add(&mut batch, &r, &mut ticket, &mut unsynced_done),
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
        if let Err(e) = file.write_all(&batch) {
            // A full disk may have taken part of the batch: never leave half a line.
            let _ = file.cut(whole);
            return Err(e);
        }
        whole += batch.len() as u64;
        batch.clear();
        if last_sync.elapsed() >= SYNC_EVERY {
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

/// One earlier record, as read back on resume.
#[derive(Debug, serde::Deserialize)]
pub struct RecordedPage {
    pub url: String,
    pub status: Option<u16>,
    pub error: Option<String>,
    #[serde(default)]
    pub content_length: u64,
}

/// What [`recover`] found in an earlier crawl's pages.jsonl.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Complete records read.
    pub records: u64,
    /// Bytes of a torn last line that were cut off.
    pub torn_bytes: u64,
    /// Complete lines that were not records (skipped).
    pub bad_lines: u64,
    /// Fingerprints of the recorded URLs.
    pub fingerprints: HashSet<u64>,
}

/// Makes an interrupted pages.jsonl whole again (a torn last line is cut off) and
/// reads back what it records, calling `each` for every record.
pub fn recover(path: &Path, mut each: impl FnMut(&RecordedPage)) -> std::io::Result<Recovered> {
    let mut out = Recovered::default();
    let Ok(file) = File::open(path) else {
        return Ok(out);
    };
    let len = file.metadata()?.len();
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::new();
    let mut whole: u64 = 0;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        if line.last() != Some(&b'\n') {
            break; // torn: the crash came mid-write
        }
        whole += n as u64;
        match serde_json::from_slice::<RecordedPage>(&line) {
            Ok(page) => {
                out.records += 1;
                out.fingerprints
                    .insert(crate::canon::fingerprint_str(&page.url));
                each(&page);
            }
            Err(_) => out.bad_lines += 1,
        }
    }
    if whole < len {
        out.torn_bytes = len - whole;
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)?
            .set_len(whole)?;
    }
    Ok(out)
}

fn push_line(batch: &mut Vec<u8>, record: &PageRecord) {
    // Serialising a struct of strings and numbers cannot fail; skip rather than panic.
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
        let r = recover(&path, |p| urls.push(p.url.clone())).unwrap();
        assert_eq!(r.records, 3);
        assert_eq!(r.torn_bytes, text.len() as u64 - whole);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), whole);
        assert_eq!(urls, ["http://e.com/0", "http://e.com/1", "http://e.com/2"]);
        assert!(r
            .fingerprints
            .contains(&crate::canon::fingerprint_str("http://e.com/1")));
        // A whole file is left alone.
        let again = recover(&path, |_| {}).unwrap();
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
                    .blocking_send(record(&format!("http://e.com/{i}")))
                    .is_err()
                {
                    break;
                }
                // One record per batch, so the first batches fit.
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        });
        let err = write_loop(&mut disk, rx, None).unwrap_err();
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
            let sink = JsonlSink::open(&path, None).unwrap();
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
