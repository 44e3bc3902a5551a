//! The durable half of the embedded frontier: the visited set, every pending URL
//! and each host's politeness state, in one redb file (`OUT/state/frontier.redb`).
//!
//! Why redb: an embedded, pure-Rust, ACID key-value store (a copy-on-write B-tree):
//! a commit is all-or-nothing even on power loss, so there is no journal of ours to
//! replay or repair; one file, no C++ toolchain (RocksDB), a stable file format.
//!
//! Writes are *group-committed*: callers hand batches of operations to one writer
//! thread and get a ticket; the writer applies everything queued in one transaction
//! every [`COMMIT_EVERY`] (or sooner when much is queued) and then publishes the
//! highest committed ticket. Durability costs one fsync per commit, not per URL.
//! The crawl withholds a page's record until the ticket of the page's discoveries is
//! committed, so a record on disk always implies its links are on disk too; a crash
//! loses at most the work of the last commit interval, which is then simply redone.
//!
//! Reads (visited lookups, queue refills, resume) use read transactions, which see
//! committed data only; the frontier keeps what is not committed yet in memory.
//! This module never decides anything about URLs: it stores what it is told.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
};

/// URL fingerprint → shallowest depth seen.
const VISITED: TableDefinition<u64, u32> = TableDefinition::new("visited");
/// (host hash, sequence) → serialized frontier entry, for every URL not yet recorded.
const PENDING: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("pending");
/// Host key → serialized politeness state.
const HOSTS: TableDefinition<&str, &[u8]> = TableDefinition::new("hosts");
/// Crawl-level facts: status, next sequence number.
const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
/// Host key → its robots.txt as kept (`robots::kept`), so a resumed crawl does not
/// fetch every host's robots.txt again.
const ROBOTS: TableDefinition<&str, &[u8]> = TableDefinition::new("robots");

/// Longest a queued write waits for its commit. Each commit rewrites the B-tree
/// pages it touches, so fewer, larger commits write far less; a second is also the
/// most work a crash may cost.
pub const COMMIT_EVERY: Duration = Duration::from_millis(1000);
/// Operations queued before a commit is forced.
const MAX_BATCH_OPS: usize = 400_000;
/// Pages of the file cached in memory by redb.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("frontier store {path}: {message}")]
    Open { path: String, message: String },
    #[error("frontier store: {0}")]
    Io(String),
    #[error("frontier store writer stopped")]
    Closed,
}

fn io(e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(e.to_string())
}

/// The store commit that makes a page's discoveries durable (the journal's step 2); its record waits for
/// it. `Ticket::NONE` when nothing is waited for (memory mode, nothing new).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket(u64);

impl Ticket {
    pub const NONE: Ticket = Ticket(0);

    /// The store's own ticket number (from `Store::send`).
    pub fn of_store(n: u64) -> Ticket {
        Ticket(n)
    }

    pub fn number(self) -> u64 {
        self.0
    }

    /// The later of two tickets: waiting for it waits for both.
    pub fn and(self, other: Ticket) -> Ticket {
        self.max(other)
    }
}

/// The store key of a leased URL's pending entry, deleted once its record is synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    host: u64,
    seq: u64,
}

impl Pending {
    /// The lease's pending entry, if the store holds one (durable mode).
    pub fn of(lease: &super::Lease) -> Option<Pending> {
        (lease.entry.seq > 0).then(|| Pending {
            host: super::embedded::host_hash(&lease.host),
            seq: lease.entry.seq,
        })
    }

    pub fn host(self) -> u64 {
        self.host
    }

    pub fn seq(self) -> u64 {
        self.seq
    }
}

/// One change to the store.
#[derive(Debug)]
pub enum Op {
    Visit(u64, u32),
    Put(u64, u64, Vec<u8>),
    Delete(u64, u64),
    Host(String, Vec<u8>),
    Meta(&'static str, String),
    Robots(String, Vec<u8>),
}

enum Msg {
    Ops(u64, Vec<Op>),
    Flush(mpsc::SyncSender<()>),
    /// Someone is waiting to read what is queued: commit now, nobody waits.
    Nudge,
}

struct Sender {
    tx: mpsc::SyncSender<Msg>,
    next_ticket: u64,
}

pub struct Store {
    db: Arc<Database>,
    sender: Mutex<Option<Sender>>,
    /// A nudge is on its way to the writer (cleared when it commits).
    nudged: Arc<std::sync::atomic::AtomicBool>,
    /// Why the writer stopped, if it failed (a full disk, say): waiters stop waiting.
    failure: Arc<Mutex<Option<String>>>,
    committed: Arc<(Mutex<u64>, Condvar)>,
    writer: Mutex<Option<JoinHandle<Result<(), StoreError>>>>,
}

impl Store {
    /// Opens (or creates) the store file and starts its writer thread.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        // Make sure every table exists, so readers never meet a missing one.
        let txn = db.begin_write().map_err(io)?;
        {
            txn.open_table(VISITED).map_err(io)?;
            txn.open_table(PENDING).map_err(io)?;
            txn.open_table(HOSTS).map_err(io)?;
            txn.open_table(META).map_err(io)?;
            txn.open_table(ROBOTS).map_err(io)?;
        }
        txn.commit().map_err(io)?;
        let db = Arc::new(db);
        let (tx, rx) = mpsc::sync_channel(4096);
        let committed = Arc::new((Mutex::new(0u64), Condvar::new()));
        let nudged = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let failure = Arc::new(Mutex::new(None));
        let writer = {
            let db = db.clone();
            let committed = committed.clone();
            let nudged = nudged.clone();
            let failure = failure.clone();
            std::thread::Builder::new()
                .name("trawl-store".into())
                .spawn(move || {
                    // redb panics on some kinds of file corruption: make that an error.
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        write_loop(&db, rx, &committed, &nudged)
                    }))
                    .unwrap_or_else(|_| {
                        Err(StoreError::Io(
                            "the store file is corrupt (writer failed)".into(),
                        ))
                    });
                    if let Err(e) = &result {
                        let why = match e {
                            StoreError::Io(m) => m.clone(),
                            other => other.to_string(),
                        };
                        *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
                        committed.1.notify_all();
                    }
                    result
                })
                .map_err(io)?
        };
        Ok(Store {
            db,
            nudged,
            failure,
            sender: Mutex::new(Some(Sender { tx, next_ticket: 1 })),
            committed,
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Queues `ops` for the next commit; returns their ticket (0 for no ops).
    pub fn send(&self, ops: Vec<Op>) -> Result<u64, StoreError> {
        if ops.is_empty() {
            return Ok(0);
        }
        let mut guard = self.sender.lock().unwrap_or_else(|p| p.into_inner());
        let s = guard.as_mut().ok_or(StoreError::Closed)?;
        let ticket = s.next_ticket;
        // Sent under the lock, so tickets reach the writer in order.
        if s.tx.send(Msg::Ops(ticket, ops)).is_err() {
            return Err(self.failure().map_or(StoreError::Closed, StoreError::Io));
        }
        s.next_ticket += 1;
        Ok(ticket)
    }

    /// The last ticket handed out.
    pub fn last_ticket(&self) -> u64 {
        let guard = self.sender.lock().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().map_or(0, |s| s.next_ticket - 1)
    }

    /// The highest ticket whose operations are durably committed.
    pub fn committed(&self) -> u64 {
        *self.committed.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Why the writer failed, if it did.
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Blocks until `ticket` is committed or `timeout` passes (or the writer fails);
    /// true if committed.
    pub fn wait_committed(&self, ticket: u64, timeout: Duration) -> bool {
        let (lock, cond) = &*self.committed;
        let deadline = Instant::now() + timeout;
        let mut done = lock.lock().unwrap_or_else(|p| p.into_inner());
        while *done < ticket {
            if self.failure().is_some() {
                return false;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            done = match cond.wait_timeout(done, left) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        true
    }

    /// Asks for a commit as soon as possible without waiting for it: a reader
    /// needs what is queued (a host's head ran dry while its URLs wait to commit).
    pub fn nudge(&self) {
        if self.nudged.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let guard = self.sender.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = guard.as_ref() {
            let _ = s.tx.try_send(Msg::Nudge);
        }
    }

    /// Commits everything queued so far and waits for it.
    pub fn flush(&self) -> Result<(), StoreError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let stopped = || self.failure().map_or(StoreError::Closed, StoreError::Io);
        {
            let guard = self.sender.lock().unwrap_or_else(|p| p.into_inner());
            let s = guard.as_ref().ok_or(StoreError::Closed)?;
            s.tx.send(Msg::Flush(tx)).map_err(|_| stopped())?;
        }
        rx.recv().map_err(|_| stopped())
    }

    /// Commits what is queued and stops the writer; later sends fail.
    pub fn close(&self) -> Result<(), StoreError> {
        drop(self.sender.lock().unwrap_or_else(|p| p.into_inner()).take());
        let handle = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        match handle {
            Some(h) => h.join().map_err(|_| StoreError::Closed)?,
            None => Ok(()),
        }
    }

    /// Whether a fingerprint is in the committed visited set (and at what depth).
    pub fn visited(&self, fp: u64) -> Result<Option<u32>, StoreError> {
        self.reader()?.visited(fp)
    }

    /// A snapshot for many visited lookups (one read transaction).
    pub fn reader(&self) -> Result<VisitedReader, StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        Ok(VisitedReader {
            table: txn.open_table(VISITED).map_err(io)?,
        })
    }

    /// Up to `limit` pending entries of one host with a sequence above `after`.
    pub fn pending_after(
        &self,
        host: u64,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let table = txn.open_table(PENDING).map_err(io)?;
        let mut out = Vec::new();
        if after == u64::MAX {
            return Ok(out);
        }
        for item in table
            .range((host, after + 1)..=(host, u64::MAX))
            .map_err(io)?
        {
            let (k, v) = item.map_err(io)?;
            out.push((k.value().1, v.value().to_vec()));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Calls `f` for every pending entry, in (host, sequence) order (resume).
    pub fn scan_pending(&self, mut f: impl FnMut(u64, u64, &[u8])) -> Result<(), StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let table = txn.open_table(PENDING).map_err(io)?;
        for item in table.iter().map_err(io)? {
            let (k, v) = item.map_err(io)?;
            let (host, seq) = k.value();
            f(host, seq, v.value());
        }
        Ok(())
    }

    /// Every host's saved politeness state (resume).
    pub fn hosts(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let table = txn.open_table(HOSTS).map_err(io)?;
        let mut out = Vec::new();
        for item in table.iter().map_err(io)? {
            let (k, v) = item.map_err(io)?;
            out.push((k.value().to_string(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// A host's robots.txt as kept by an earlier run (or this one).
    pub fn robots(&self, host: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let table = txn.open_table(ROBOTS).map_err(io)?;
        Ok(table.get(host).map_err(io)?.map(|v| v.value().to_vec()))
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let table = txn.open_table(META).map_err(io)?;
        Ok(table.get(key).map_err(io)?.map(|v| v.value().to_string()))
    }

    /// (visited, pending) entry counts.
    pub fn counts(&self) -> Result<(u64, u64), StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let visited = txn.open_table(VISITED).map_err(io)?.len().map_err(io)?;
        let pending = txn.open_table(PENDING).map_err(io)?.len().map_err(io)?;
        Ok((visited, pending))
    }
}

/// Visited lookups against one committed snapshot.
pub struct VisitedReader {
    table: redb::ReadOnlyTable<u64, u32>,
}

impl VisitedReader {
    pub fn visited(&self, fp: u64) -> Result<Option<u32>, StoreError> {
        Ok(self.table.get(fp).map_err(io)?.map(|v| v.value()))
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

fn write_loop(
    db: &Database,
    rx: mpsc::Receiver<Msg>,
    committed: &(Mutex<u64>, Condvar),
    nudged: &std::sync::atomic::AtomicBool,
) -> Result<(), StoreError> {
    let mut batch: Vec<Op> = Vec::new();
    let mut batch_ticket = 0u64;
    // When the oldest uncommitted operation arrived.
    let mut oldest: Option<Instant> = None;
    let mut waiters: Vec<mpsc::SyncSender<()>> = Vec::new();
    loop {
        let wait = oldest.map_or(Duration::from_secs(3600), |t| {
            COMMIT_EVERY.saturating_sub(t.elapsed())
        });
        let mut closing = false;
        let mut now = false;
        match rx.recv_timeout(wait) {
            Ok(Msg::Ops(ticket, ops)) => {
                oldest.get_or_insert_with(Instant::now);
                batch.extend(ops);
                batch_ticket = ticket;
            }
            Ok(Msg::Flush(done)) => waiters.push(done),
            Ok(Msg::Nudge) => now = true,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => closing = true,
        }
        let due =
            oldest.is_some_and(|t| t.elapsed() >= COMMIT_EVERY) || batch.len() >= MAX_BATCH_OPS;
        if closing || due || now || !waiters.is_empty() {
            nudged.store(false, std::sync::atomic::Ordering::SeqCst);
            if !batch.is_empty() {
                commit(db, &mut batch)?;
                let (lock, cond) = committed;
                *lock.lock().unwrap_or_else(|p| p.into_inner()) = batch_ticket;
                cond.notify_all();
            }
            oldest = None;
            for w in waiters.drain(..) {
                let _ = w.send(());
            }
        }
        if closing {
            return Ok(());
        }
    }
}

fn commit(db: &Database, batch: &mut Vec<Op>) -> Result<(), StoreError> {
    let mut txn = db.begin_write().map_err(io)?;
    txn.set_durability(Durability::Immediate).map_err(io)?;
    {
        let mut visited = txn.open_table(VISITED).map_err(io)?;
        let mut pending = txn.open_table(PENDING).map_err(io)?;
        let mut hosts = txn.open_table(HOSTS).map_err(io)?;
        let mut meta = txn.open_table(META).map_err(io)?;
        let mut robots = txn.open_table(ROBOTS).map_err(io)?;
        for op in batch.drain(..) {
            match op {
                Op::Visit(fp, depth) => {
                    visited.insert(fp, depth).map_err(io)?;
                }
                Op::Put(host, seq, bytes) => {
                    pending.insert((host, seq), bytes.as_slice()).map_err(io)?;
                }
                Op::Delete(host, seq) => {
                    pending.remove((host, seq)).map_err(io)?;
                }
                Op::Host(key, bytes) => {
                    hosts.insert(key.as_str(), bytes.as_slice()).map_err(io)?;
                }
                Op::Meta(key, value) => {
                    meta.insert(key, value.as_str()).map_err(io)?;
                }
                Op::Robots(host, bytes) => {
                    robots.insert(host.as_str(), bytes.as_slice()).map_err(io)?;
                }
            }
        }
    }
    txn.commit().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_commits_are_visible_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.redb");
        {
            let s = Store::open(&path).unwrap();
            let t = s
                .send(vec![
                    Op::Visit(7, 2),
                    Op::Put(1, 10, b"a".to_vec()),
                    Op::Put(1, 11, b"b".to_vec()),
                    Op::Put(2, 12, b"c".to_vec()),
                    Op::Meta("status", "running".into()),
                ])
                .unwrap();
            assert!(s.wait_committed(t, Duration::from_secs(5)));
            assert_eq!(s.visited(7).unwrap(), Some(2));
            assert_eq!(s.visited(8).unwrap(), None);
            let after = s.pending_after(1, 10, 10).unwrap();
            assert_eq!(after, vec![(11, b"b".to_vec())]);
            s.send(vec![Op::Delete(1, 10)]).unwrap();
            s.close().unwrap();
        }
        let s = Store::open(&path).unwrap();
        let mut seen = Vec::new();
        s.scan_pending(|h, q, v| seen.push((h, q, v.to_vec())))
            .unwrap();
        assert_eq!(seen, vec![(1, 11, b"b".to_vec()), (2, 12, b"c".to_vec())]);
        assert_eq!(s.meta("status").unwrap().as_deref(), Some("running"));
        assert_eq!(s.counts().unwrap(), (1, 2));
    }
}
