//! The writer: records queued behind a bounded channel (by count and by bytes),
//! one thread writing whole lines in batches, each batch one write call (one gzip
//! member or zstd frame), synced about once a second. It keeps the journal's
//! order: a record waits for its ticket, and its pending entry is forgotten only
//! once its line is synced.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use super::parts::open_parts;
use super::record::push_line;
use super::{Compression, JsonlOptions, PageRecord};
use crate::journal::{Journal, Pending, Ticket};

/// Records buffered between the crawl and the writer thread: enough for a second of
/// a fast crawl, since durable records wait up to a commit interval.
pub(super) const CHANNEL_RECORDS: usize = 32 * 1024;
/// Bytes of serialised records buffered at most: records with readable text or
/// rule data can be 100 KB each, and a count alone would not bound memory.
pub(super) const QUEUE_BYTES: usize = 64 * 1024 * 1024;
/// Bytes gathered before one write call (one gzip member or zstd frame).
pub(super) const BATCH_BYTES: usize = 256 * 1024;
/// zstd level: its default, fast enough to keep up with any crawl.
pub(super) const ZSTD_LEVEL: i32 = 3;

pub struct JsonlSink {
    pub(super) tx: mpsc::Sender<Line>,
    pub(super) confirm: bool,
    /// Permits are bytes of queued lines.
    pub(super) budget: Arc<Semaphore>,
    pub(super) writer: JoinHandle<std::io::Result<()>>,
}

/// A record as one serialised line, made by the task that finished the URL (so
/// JSON encoding runs on every core, not on the writer thread), holding its share
/// of the queue's byte budget until the writer has taken it.
pub struct Line {
    json: Vec<u8>,
    ticket: Ticket,
    done: Option<Pending>,
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
    /// returned inside the error. Records wait for their tickets in `journal`, and
    /// synced records' pending entries are forgotten there.
    pub fn open(
        dir: &Path,
        stem: &str,
        opts: JsonlOptions,
        journal: Journal,
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
            .spawn(move || write_loop(file, next_part, rx, &journal, cfg))?;
        Ok(JsonlSink {
            tx,
            budget: Arc::new(Semaphore::new(QUEUE_BYTES)),
            writer,
            confirm: opts.confirm,
        })
    }

    /// Queues a record; waits when the writer is behind (by count or by bytes).
    pub async fn send(&self, record: PageRecord) -> Result<(), crate::sink::SinkError> {
        let mut line = Line::of(&record);
        drop(record);
        // One line larger than the whole budget takes all of it (and waits for it).
        let want = line.json.len().clamp(1, QUEUE_BYTES) as u32;
        let permit = self
            .budget
            .clone()
            .acquire_many_owned(want)
            .await
            .map_err(|_| crate::sink::SinkError::Closed)?;
        line._budget = Some(permit);
        let written = self.confirm.then(|| {
            let (tx, rx) = tokio::sync::oneshot::channel();
            line.written = Some(tx);
            rx
        });
        self.tx
            .send(line)
            .await
            .map_err(|_| crate::sink::SinkError::Closed)?;
        match written {
            // Dropped unsent: the writer failed, and says why at finish.
            Some(rx) => rx.await.map_err(|_| crate::sink::SinkError::Closed),
            None => Ok(()),
        }
    }

    /// Flushes, fsyncs and stops the writer.
    pub fn finish(self) -> Result<(), crate::sink::SinkError> {
        drop(self.tx);
        match self.writer.join() {
            Ok(r) => r.map_err(crate::sink::SinkError::Io),
            Err(_) => Err(crate::sink::SinkError::Closed),
        }
    }
}

/// What the writer needs from its file (a trait so tests can make writes fail).
pub(super) trait LineFile: Write {
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
pub(super) const SYNC_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
pub(super) struct WriteConfig {
    pub(super) compress: Compression,
    pub(super) rotate_bytes: u64,
    pub(super) batch_bytes: usize,
}

/// Turns a batch of lines into the bytes written: as-is, or one self-contained
/// gzip member or zstd frame, so every write leaves a valid file behind it.
pub(super) struct Encoder {
    compress: Compression,
    zstd: Option<zstd::bulk::Compressor<'static>>,
    out: Vec<u8>,
}

impl Encoder {
    pub(super) fn new(compress: Compression) -> std::io::Result<Encoder> {
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

    pub(super) fn encode<'a>(&'a mut self, lines: &'a [u8]) -> std::io::Result<&'a [u8]> {
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

/// Lines gathered for one write call: their bytes, the ticket they wait for, and
/// who waits to hear they are written. Taking a line in releases its share of the
/// queue budget.
struct Batch {
    bytes: Vec<u8>,
    ticket: Ticket,
    acks: Vec<tokio::sync::oneshot::Sender<()>>,
}

impl Batch {
    fn add(&mut self, mut line: Line, unsynced: &mut Vec<Pending>) {
        self.bytes.extend_from_slice(&line.json);
        if let Some(a) = line.written.take() {
            self.acks.push(a);
        }
        self.ticket = self.ticket.and(line.ticket);
        unsynced.extend(line.done);
    }

    /// The lines are in the file: tell whoever waits, start afresh.
    fn written(&mut self) {
        self.bytes.clear();
        self.ticket = Ticket::NONE;
        for a in self.acks.drain(..) {
            let _ = a.send(());
        }
    }
}

pub(super) fn write_loop<F: LineFile>(
    mut file: F,
    mut next_part: impl FnMut() -> std::io::Result<F>,
    mut rx: mpsc::Receiver<Line>,
    journal: &Journal,
    cfg: WriteConfig,
) -> std::io::Result<()> {
    let mut encoder = Encoder::new(cfg.compress)?;
    let mut batch = Batch {
        bytes: Vec::with_capacity(cfg.batch_bytes + 4096),
        ticket: Ticket::NONE,
        acks: Vec::new(),
    };
    // Length of the file's complete lines (or members): a failed write is cut back to it.
    let mut whole = file.length()?;
    let mut unsynced: Vec<Pending> = Vec::new();
    let mut last_sync = Instant::now();
    // The current part reached rotate_bytes: the next batch goes to a new part.
    let mut full = false;
    while let Some(first) = rx.blocking_recv() {
        batch.add(first, &mut unsynced);
        // Drain what is already waiting, so a busy crawl makes few large writes.
        while batch.bytes.len() < cfg.batch_bytes {
            match rx.try_recv() {
                Ok(line) => batch.add(line, &mut unsynced),
                Err(_) => break,
            }
        }
        // A record on disk must imply its page's links are on disk.
        if !journal.wait(batch.ticket) {
            return Err(std::io::Error::other(
                "the frontier store stopped committing",
            ));
        }
        if full {
            // Started only when there is something to put in it: no empty last part.
            file = next_part()?;
            whole = file.length()?;
            full = false;
        }
        let bytes = encoder.encode(&batch.bytes)?;
        if let Err(e) = file.write_all(bytes) {
            // A full disk may have taken part of the batch: never leave half a line.
            let _ = file.cut(whole);
            return Err(e);
        }
        whole += bytes.len() as u64;
        batch.written();
        if cfg.rotate_bytes > 0 && whole >= cfg.rotate_bytes {
            // The full part is synced (and its records released) before the next
            // exists, so only the last part can ever be torn.
            sync_and_release(&mut file, journal, &mut unsynced)?;
            last_sync = Instant::now();
            full = true;
        } else if last_sync.elapsed() >= SYNC_EVERY {
            sync_and_release(&mut file, journal, &mut unsynced)?;
            last_sync = Instant::now();
        }
    }
    sync_and_release(&mut file, journal, &mut unsynced)
}

/// Syncs the file, then lets the journal forget the URLs whose lines are now safe.
pub(super) fn sync_and_release(
    file: &mut impl LineFile,
    journal: &Journal,
    done: &mut Vec<Pending>,
) -> std::io::Result<()> {
    file.sync()?;
    journal
        .forget(done)
        .map_err(|e| std::io::Error::other(e.to_string()))
}
