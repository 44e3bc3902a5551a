//! The durable half of the embedded frontier: the visited set, every pending URL
//! and each host's politeness state (`OUT/state/frontier.redb` and the run files in
//! `OUT/state/frontier.runs/`).
//!
//! The two large sets, visited fingerprints and pending URLs, are sorted runs
//! written once per commit (`runset.rs`: a B-tree slowed to 33,000 admissions/s by
//! 10 million URLs). Everything small (host state, crawl facts, robots.txt copies)
//! and the list of runs that exist are in redb, an embedded, pure-Rust, ACID
//! key-value store: its commit is the one atomic step that makes a commit's runs
//! part of the frontier, so a crash leaves either all of a commit or none of it,
//! with no journal of ours to replay or repair.
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
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
};

use super::outbox::Outbox;
use super::runs::PendingRecord;
use super::runset::{RunSet, Staged};

/// Where stores written before the runs kept the visited set and pending URLs;
/// read once into runs when such a store is opened.
const OLD_VISITED: TableDefinition<u64, u32> = TableDefinition::new("visited");
const OLD_PENDING: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("pending");
/// Run id → kind (`v` visited, `p` pending): the runs that are part of the frontier.
const RUNS: TableDefinition<u64, u8> = TableDefinition::new("runs");
/// Host key → serialized politeness state.
const HOSTS: TableDefinition<&str, &[u8]> = TableDefinition::new("hosts");
/// Crawl-level facts: status, next sequence number.
const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
/// Host key → its robots.txt as kept (`robots::kept`), so a resumed crawl does not
/// fetch every host's robots.txt again.
const ROBOTS: TableDefinition<&str, &[u8]> = TableDefinition::new("robots");

/// Longest a queued write waits for its commit. Each commit writes sorted runs and
/// a redb transaction (an fsync each) and leaves one more pending run open until
/// its URLs are recorded, so commits are not made more often than a full batch
/// (`outbox::MAX_BATCH_OPS`) asks; a second is also the most work a crash may cost.
pub const COMMIT_EVERY: Duration = Duration::from_millis(1000);
/// Pages of the file cached in memory by redb (it holds only small tables now).
const CACHE_BYTES: usize = 16 * 1024 * 1024;

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
    /// (fingerprint, depth)
    Visit(u64, u32),
    /// (host hash, sequence, fingerprint, entry)
    Put(u64, u64, u64, Vec<u8>),
    Delete(u64, u64),
    Host(String, Vec<u8>),
    Meta(&'static str, String),
    Robots(String, Vec<u8>),
}

pub struct Store {
    db: Arc<Database>,
    runs: Arc<RunSet>,
    outbox: Arc<Outbox>,
    /// Why the writer stopped, if it failed (a full disk, say): waiters stop waiting.
    failure: Arc<Mutex<Option<String>>>,
    committed: Arc<(Mutex<u64>, Condvar)>,
    /// Woken after every commit (`wake_on_commit`).
    woken: Arc<OnceLock<Arc<tokio::sync::Notify>>>,
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
        let named = {
            txn.open_table(HOSTS).map_err(io)?;
            txn.open_table(META).map_err(io)?;
            txn.open_table(ROBOTS).map_err(io)?;
            let runs = txn.open_table(RUNS).map_err(io)?;
            let mut named = Vec::new();
            for item in runs.iter().map_err(io)? {
                let (k, v) = item.map_err(io)?;
                named.push((k.value(), v.value()));
            }
            named
        };
        txn.commit().map_err(io)?;
        let runs = Arc::new(RunSet::open(&path.with_extension("runs"), &named)?);
        migrate(&db, &runs)?;
        let db = Arc::new(db);
        let outbox = Arc::new(Outbox::new(COMMIT_EVERY));
        let committed = Arc::new((Mutex::new(0u64), Condvar::new()));
        let failure = Arc::new(Mutex::new(None));
        let woken: Arc<OnceLock<Arc<tokio::sync::Notify>>> = Arc::default();
        let writer = {
            let db = db.clone();
            let runs = runs.clone();
            let committed = committed.clone();
            let woken = woken.clone();
            let outbox = outbox.clone();
            let failure = failure.clone();
            std::thread::Builder::new()
                .name("trawl-store".into())
                .spawn(move || {
                    // redb panics on some kinds of file corruption: make that an error.
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        write_loop(&db, &runs, &outbox, &committed, &woken)
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
                        outbox.close();
                        committed.1.notify_all();
                    }
                    result
                })
                .map_err(io)?
        };
        Ok(Store {
            db,
            runs,
            outbox,
            failure,
            committed,
            woken,
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Queues `ops` for the next commit; returns their ticket (0 for no ops).
    pub fn send(&self, ops: Vec<Op>) -> Result<u64, StoreError> {
        self.outbox.send(ops).map_err(|e| match self.failure() {
            Some(why) => StoreError::Io(why),
            None => e,
        })
    }

    /// The last ticket handed out.
    pub fn last_ticket(&self) -> u64 {
        self.outbox.last_ticket()
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
        self.outbox.nudge();
    }

    /// Has every commit wake `n`'s waiters: a worker idle because its host's next
    /// URLs were not committed yet (a refill read nothing) leases them at once
    /// instead of after its idle timeout. The first call wins.
    pub fn wake_on_commit(&self, n: Arc<tokio::sync::Notify>) {
        let _ = self.woken.set(n);
    }

    /// Commits everything queued so far and waits for it.
    pub fn flush(&self) -> Result<(), StoreError> {
        let ticket = self.outbox.last_ticket();
        self.outbox.nudge();
        while !self.wait_committed(ticket, Duration::from_secs(60)) {
            if let Some(why) = self.failure() {
                return Err(StoreError::Io(why));
            }
            if self
                .writer
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_none()
            {
                return Err(StoreError::Closed);
            }
        }
        Ok(())
    }

    /// Commits what is queued and stops the writer; later sends fail.
    pub fn close(&self) -> Result<(), StoreError> {
        self.outbox.close();
        let handle = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        match handle {
            Some(h) => h.join().map_err(|_| StoreError::Closed)?,
            None => Ok(()),
        }
    }

    /// Whether a fingerprint is in the committed visited set (and at what depth).
    pub fn visited(&self, fp: u64) -> Result<Option<u32>, StoreError> {
        self.runs.visited(fp)
    }

    /// Visited lookups for a batch of URLs.
    pub fn reader(&self) -> Result<VisitedReader, StoreError> {
        Ok(VisitedReader {
            runs: self.runs.clone(),
        })
    }

    /// Up to `limit` pending entries of one host with a sequence above `after`.
    pub fn pending_after(
        &self,
        host: u64,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        if after == u64::MAX {
            return Ok(Vec::new());
        }
        self.runs.pending_after(host, after, limit)
    }

    /// Calls `f` for every pending entry, per host in sequence order (resume).
    pub fn scan_pending(&self, f: impl FnMut(PendingRecord)) -> Result<(), StoreError> {
        self.runs.scan_pending(f)
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

    /// (visited, pending) entry counts: fingerprints stored (one lowered to a
    /// shallower depth counts twice until a merge) and pending URLs not yet recorded.
    pub fn counts(&self) -> Result<(u64, u64), StoreError> {
        Ok(self.runs.counts())
    }

    /// (bytes of the visited runs on disk, bytes of the in-memory filter, visited
    /// lookups so far that the filter could not answer alone).
    pub fn visited_footprint(&self) -> (u64, u64, u64) {
        (
            self.runs.visited_bytes(),
            self.runs.filter_bytes(),
            self.runs.disk_lookups(),
        )
    }
}

/// Visited lookups for one batch: each sees every commit published so far.
pub struct VisitedReader {
    runs: Arc<RunSet>,
}

impl VisitedReader {
    pub fn visited(&self, fp: u64) -> Result<Option<u32>, StoreError> {
        self.runs.visited(fp)
    }
}

/// Moves a store written before the runs (visited and pending in redb tables)
/// into runs, in one commit.
fn migrate(db: &Database, runs: &RunSet) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(io)?;
    let (visits, puts) = {
        let visited = txn.open_table(OLD_VISITED).map_err(io)?;
        let pending = txn.open_table(OLD_PENDING).map_err(io)?;
        if visited.is_empty().map_err(io)? && pending.is_empty().map_err(io)? {
            drop((visited, pending));
            txn.abort().map_err(io)?;
            return Ok(());
        }
        let mut visits = Vec::new();
        for item in visited.iter().map_err(io)? {
            let (k, v) = item.map_err(io)?;
            visits.push((k.value(), v.value()));
        }
        let mut puts = Vec::new();
        for item in pending.iter().map_err(io)? {
            let (k, v) = item.map_err(io)?;
            let (host, seq) = k.value();
            puts.push(PendingRecord {
                host,
                seq,
                fp: 0,
                entry: v.value().to_vec(),
            });
        }
        (visits, puts)
    };
    let staged = runs.stage(visits, puts)?;
    {
        let mut named = txn.open_table(RUNS).map_err(io)?;
        name_staged(&mut named, &staged)?;
    }
    txn.delete_table(OLD_VISITED).map_err(io)?;
    txn.delete_table(OLD_PENDING).map_err(io)?;
    txn.commit().map_err(io)?;
    runs.publish(staged)
}

fn name_staged(named: &mut redb::Table<u64, u8>, staged: &Staged) -> Result<(), StoreError> {
    if let Some(run) = &staged.visited {
        named.insert(run.id, b'v').map_err(io)?;
    }
    if let Some(run) = &staged.pending {
        named.insert(run.id, b'p').map_err(io)?;
    }
    Ok(())
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

fn write_loop(
    db: &Database,
    runs: &RunSet,
    outbox: &Outbox,
    committed: &(Mutex<u64>, Condvar),
    woken: &OnceLock<Arc<tokio::sync::Notify>>,
) -> Result<(), StoreError> {
    loop {
        let mut batch = outbox.take();
        if !batch.ops.is_empty() {
            commit(db, runs, &mut batch.ops)?;
            let (lock, cond) = committed;
            *lock.lock().unwrap_or_else(|p| p.into_inner()) = batch.ticket;
            cond.notify_all();
            if let Some(n) = woken.get() {
                n.notify_waiters();
            }
        }
        if batch.last {
            return Ok(());
        }
    }
}

fn commit(db: &Database, runs: &RunSet, batch: &mut Vec<Op>) -> Result<(), StoreError> {
    let mut visits = Vec::new();
    let mut puts = Vec::new();
    let mut small = Vec::new();
    for op in batch.drain(..) {
        match op {
            Op::Visit(fp, depth) => visits.push((fp, depth)),
            Op::Put(host, seq, fp, entry) => puts.push(PendingRecord {
                host,
                seq,
                fp,
                entry,
            }),
            Op::Delete(_, seq) => runs.delete(seq),
            other => small.push(other),
        }
    }
    // Runs first, fsynced; then the commit that names them.
    let staged = runs.stage(visits, puts)?;
    let dead = runs.dead_pending();
    let merged = match runs.take_merged() {
        Some(Ok(m)) => Some(m),
        Some(Err(e)) => {
            tracing::warn!("frontier store: a background merge failed (will retry): {e}");
            runs.merge_failed();
            None
        }
        None => None,
    };
    let mut txn = db.begin_write().map_err(io)?;
    txn.set_durability(Durability::Immediate).map_err(io)?;
    {
        let mut hosts = txn.open_table(HOSTS).map_err(io)?;
        let mut meta = txn.open_table(META).map_err(io)?;
        let mut robots = txn.open_table(ROBOTS).map_err(io)?;
        let mut named = txn.open_table(RUNS).map_err(io)?;
        for op in small {
            match op {
                Op::Host(key, bytes) => {
                    hosts.insert(key.as_str(), bytes.as_slice()).map_err(io)?;
                }
                Op::Meta(key, value) => {
                    meta.insert(key, value.as_str()).map_err(io)?;
                }
                Op::Robots(host, bytes) => {
                    robots.insert(host.as_str(), bytes.as_slice()).map_err(io)?;
                }
                Op::Visit(..) | Op::Put(..) | Op::Delete(..) => {}
            }
        }
        name_staged(&mut named, &staged)?;
        for id in &dead {
            named.remove(id).map_err(io)?;
        }
        if let Some(m) = &merged {
            for id in &m.inputs {
                named.remove(id).map_err(io)?;
            }
            named.insert(m.output.id, b'v').map_err(io)?;
        }
    }
    txn.commit().map_err(io)?;
    runs.publish(staged)?;
    runs.drop_pending(&dead);
    if let Some(m) = merged {
        runs.publish_merge(m);
    }
    runs.maybe_merge();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worker idle on the frontier's Notify is woken by the commit of a nudged
    /// write: without the hook it would sleep out its idle timeout (200 ms), and
    /// the commit interval (1 s) has not passed when it is woken.
    #[test]
    fn a_commit_wakes_whoever_waits_on_the_frontier() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("f.redb")).unwrap();
        let n = Arc::new(tokio::sync::Notify::new());
        s.wake_on_commit(n.clone());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let woken = n.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let t = std::time::Instant::now();
            s.send(vec![Op::Put(1, 10, 100, b"a".to_vec())]).unwrap();
            s.nudge();
            let in_time = tokio::time::timeout(Duration::from_secs(5), woken).await;
            assert!(in_time.is_ok(), "no wake-up after a commit");
            assert!(t.elapsed() < COMMIT_EVERY, "{:?}", t.elapsed());
        });
        assert_eq!(s.pending_after(1, 0, 10).unwrap().len(), 1);
        s.close().unwrap();
    }

    #[test]
    fn group_commits_are_visible_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.redb");
        {
            let s = Store::open(&path).unwrap();
            let t = s
                .send(vec![
                    Op::Visit(7, 2),
                    Op::Put(1, 10, 100, b"a".to_vec()),
                    Op::Put(1, 11, 101, b"b".to_vec()),
                    Op::Put(2, 12, 102, b"c".to_vec()),
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
        s.scan_pending(|r| seen.push((r.host, r.seq, r.fp, r.entry)))
            .unwrap();
        // Deleting one URL does not rewrite its run: the resume skips what is recorded.
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[2], (2, 12, 102, b"c".to_vec()));
        assert_eq!(s.meta("status").unwrap().as_deref(), Some("running"));
        assert_eq!(s.counts().unwrap(), (1, 3));
    }

    #[test]
    fn a_missing_or_damaged_run_is_a_clear_error_and_a_stray_one_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.redb");
        {
            let s = Store::open(&path).unwrap();
            let t = s
                .send(vec![Op::Visit(7, 2), Op::Put(1, 10, 100, b"a".to_vec())])
                .unwrap();
            assert!(s.wait_committed(t, Duration::from_secs(5)));
            s.close().unwrap();
        }
        let runs = path.with_extension("runs");
        let mut files: Vec<_> = std::fs::read_dir(&runs)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert_eq!(files.len(), 2, "{files:?}");
        // A run a crash left unnamed (written, never committed) is removed at open.
        let stray = runs.join("v-99999999.run");
        std::fs::write(&stray, b"TRWLVR01").unwrap();
        drop(Store::open(&path).unwrap());
        assert!(!stray.exists());
        // A named run that is damaged, or gone, stops the open with its path.
        std::fs::write(&files[1], b"junk").unwrap();
        let e = Store::open(&path).err().expect("damaged run");
        assert!(
            e.to_string().contains(&files[1].display().to_string()),
            "{e}"
        );
        std::fs::remove_file(&files[1]).unwrap();
        let e = Store::open(&path).err().expect("missing run");
        assert!(
            e.to_string().contains(&files[1].display().to_string()),
            "{e}"
        );
        assert_eq!(e.to_string().lines().count(), 1);
    }
}
