//! The durable frontier's large sets on disk: the visited fingerprints and the
//! pending URLs, each a list of sorted runs (`runs.rs`) in `frontier.runs/`, with
//! the Bloom filter (`bloom.rs`) in front of the visited runs.
//!
//! Why not the B-tree: a B-tree insert of a random fingerprint rewrites a random
//! page, so admissions slowed from 118,000/s to 33,000/s by 10 million URLs and
//! cost 120 bytes a URL on disk. Here a commit writes each set once, sorted and
//! sequentially (12 bytes a visited URL), and a new URL is decided by the filter
//! without reading the disk.
//!
//! * Visited runs are merged in the background, four or more of a size tier into
//!   one (a tiered merge), so a lookup reads at most three runs a tier (a dozen at
//!   100 million URLs); a fingerprint is rewritten about once per fourfold growth
//!   of the crawl.
//! * Pending runs are never rewritten: a host reads its next URLs from the runs
//!   in commit order (per host, commit order is sequence order). Each URL counts
//!   as live in a bucket of its sequence number until its record is synced
//!   ([`RunSet::delete`]); a run whose buckets are all empty is dropped.
//!
//! Which runs exist is decided by the store's redb commit (its `runs` table): a
//! run is written and fsynced first, then named in the commit; files no commit
//! names are leftovers of a crash and are removed at open. This module never
//! commits anything itself.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, RwLock};

use super::bloom::Bloom;
use super::runs::{merge_visited, PendingRecord, PendingRun, VisitedRun};
use super::store::StoreError;

/// Runs of one size tier merged at once.
const FAN_IN: usize = 4;
/// Sequence numbers per liveness bucket.
const BUCKET_SHIFT: u32 = 12;

/// What one commit wrote, to be named in its redb transaction and then published.
#[derive(Default)]
pub struct Staged {
    pub visited: Option<Arc<VisitedRun>>,
    pub pending: Option<Arc<PendingRun>>,
    /// The visited run's fingerprints and the pending run's URLs per liveness
    /// bucket, kept from staging so publishing reads neither file back (a read
    /// error there could leave a stored fingerprint out of the filter).
    fps: Vec<u64>,
    buckets: HashMap<u64, u64>,
}

/// A finished background merge: `inputs` are replaced by `output`.
pub struct Merged {
    pub inputs: Vec<u64>,
    pub output: Arc<VisitedRun>,
}

pub struct RunSet {
    dir: PathBuf,
    bloom: Bloom,
    visited: RwLock<Arc<Vec<Arc<VisitedRun>>>>,
    pending: RwLock<Arc<Vec<Arc<PendingRun>>>>,
    /// Live (not yet recorded) pending URLs per sequence bucket.
    live: Mutex<HashMap<u64, u64>>,
    next_id: AtomicU64,
    merging: Arc<AtomicBool>,
    merged: Arc<Mutex<Option<Result<Merged, StoreError>>>>,
    /// Lookups the filter could not answer alone (they read the runs).
    disk_lookups: AtomicU64,
}

fn io(e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(e.to_string())
}

impl RunSet {
    /// Opens the runs named by the store (`(id, kind)`), rebuilding the filter and
    /// the live counts, and removes every other run file in `dir`.
    pub fn open(dir: &Path, named: &[(u64, u8)]) -> Result<RunSet, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| io(format!("{}: {e}", dir.display())))?;
        let visited_count: u64 = named
            .iter()
            .filter(|(_, k)| *k == b'v')
            .filter_map(|(id, _)| std::fs::metadata(super::runs::run_path(dir, *id, 'v')).ok())
            .map(|m| m.len() / 12)
            .sum();
        let bloom = Bloom::with_capacity(visited_count + visited_count / 4);
        let mut visited = Vec::new();
        let mut pending = Vec::new();
        let mut live: HashMap<u64, u64> = HashMap::new();
        let mut fps = Vec::new();
        for &(id, kind) in named {
            match kind {
                b'v' => {
                    let run = VisitedRun::open(dir, id, |fp| fps.push(fp))?;
                    bloom.insert_all(fps.drain(..));
                    visited.push(Arc::new(run));
                }
                _ => {
                    let run = PendingRun::open(dir, id, |seq| {
                        *live.entry(seq >> BUCKET_SHIFT).or_insert(0) += 1
                    })?;
                    pending.push(Arc::new(run));
                }
            }
        }
        let keep: std::collections::HashSet<PathBuf> = visited
            .iter()
            .map(|r| r.path().to_path_buf())
            .chain(pending.iter().map(|r| r.path().to_path_buf()))
            .collect();
        if let Ok(listing) = std::fs::read_dir(dir) {
            for f in listing.flatten() {
                let path = f.path();
                if path.extension().is_some_and(|e| e == "run") && !keep.contains(&path) {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        let next_id = named.iter().map(|(id, _)| id + 1).max().unwrap_or(1);
        Ok(RunSet {
            dir: dir.to_path_buf(),
            bloom,
            visited: RwLock::new(Arc::new(visited)),
            pending: RwLock::new(Arc::new(pending)),
            live: Mutex::new(live),
            next_id: AtomicU64::new(next_id),
            merging: Arc::new(AtomicBool::new(false)),
            merged: Arc::new(Mutex::new(None)),
            disk_lookups: AtomicU64::new(0),
        })
    }

    fn visited_runs(&self) -> Arc<Vec<Arc<VisitedRun>>> {
        self.visited
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn pending_runs(&self) -> Arc<Vec<Arc<PendingRun>>> {
        self.pending
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The shallowest depth stored for `fp`, if any run holds it. Reads the runs
    /// published now, so a fingerprint the caller's cache has just let go of (it
    /// is committed by then) is always found.
    pub fn visited(&self, fp: u64) -> Result<Option<u32>, StoreError> {
        if !self.bloom.may_contain(fp) {
            return Ok(None);
        }
        self.disk_lookups
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut best: Option<u32> = None;
        for run in self.visited_runs().iter() {
            if let Some(d) = run.get(fp)? {
                best = Some(best.map_or(d, |b| b.min(d)));
            }
        }
        Ok(best)
    }

    /// Up to `limit` of `host`'s pending URLs with a sequence above `after`.
    pub fn pending_after(
        &self,
        host: u64,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for run in self.pending_runs().iter() {
            run.host_after(host, after, limit, &mut out)?;
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Every pending URL still live, run by run (per host in sequence order).
    pub fn scan_pending(&self, mut f: impl FnMut(PendingRecord)) -> Result<(), StoreError> {
        for run in self.pending_runs().iter() {
            run.scan(&mut f)?;
        }
        Ok(())
    }

    /// Writes one commit's visits and new pending URLs as runs (not yet named).
    pub fn stage(
        &self,
        mut visits: Vec<(u64, u32)>,
        mut puts: Vec<PendingRecord>,
    ) -> Result<Staged, StoreError> {
        let mut staged = Staged::default();
        if !visits.is_empty() {
            visits.sort_unstable();
            // Sorted by (fp, depth): the first of each fingerprint is its shallowest.
            visits.dedup_by_key(|(fp, _)| *fp);
            staged.fps = visits.iter().map(|(fp, _)| *fp).collect();
            let id = self.next_id.fetch_add(1, SeqCst);
            let run = VisitedRun::write(&self.dir, id, visits.into_iter())?;
            staged.visited = Some(Arc::new(run));
        }
        if !puts.is_empty() {
            puts.sort_unstable_by_key(|r| (r.host, r.seq));
            for r in &puts {
                *staged.buckets.entry(r.seq >> BUCKET_SHIFT).or_insert(0) += 1;
            }
            let id = self.next_id.fetch_add(1, SeqCst);
            staged.pending = Some(Arc::new(PendingRun::write(&self.dir, id, &puts)?));
        }
        if staged.visited.is_some() || staged.pending.is_some() {
            self.sync_dir()?;
        }
        Ok(staged)
    }

    fn sync_dir(&self) -> Result<(), StoreError> {
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io(format!("{}: {e}", self.dir.display())))
    }

    /// Makes a committed commit's runs visible to readers.
    pub fn publish(&self, staged: Staged) -> Result<(), StoreError> {
        if let Some(run) = staged.visited {
            self.bloom.insert_all(staged.fps.into_iter());
            let mut list = self.visited.write().unwrap_or_else(|p| p.into_inner());
            let mut next = list.as_ref().clone();
            next.push(run);
            *list = Arc::new(next);
        }
        if let Some(run) = staged.pending {
            {
                let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
                for (bucket, n) in staged.buckets {
                    *live.entry(bucket).or_insert(0) += n;
                }
            }
            let mut list = self.pending.write().unwrap_or_else(|p| p.into_inner());
            let mut next = list.as_ref().clone();
            next.push(run);
            *list = Arc::new(next);
        }
        Ok(())
    }

    /// A pending URL is recorded (or discarded): it no longer keeps its run alive.
    pub fn delete(&self, seq: u64) {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = seq >> BUCKET_SHIFT;
        if let Some(n) = live.get_mut(&bucket) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                live.remove(&bucket);
            }
        }
    }

    /// Pending runs none of whose URLs is live any more.
    pub fn dead_pending(&self) -> Vec<u64> {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        self.pending_runs()
            .iter()
            .filter(|r| {
                (r.min_seq >> BUCKET_SHIFT..=r.max_seq >> BUCKET_SHIFT)
                    .all(|b| !live.contains_key(&b))
            })
            .map(|r| r.id)
            .collect()
    }

    /// Forgets pending runs the last commit un-named, and removes their files.
    pub fn drop_pending(&self, ids: &[u64]) {
        if ids.is_empty() {
            return;
        }
        let mut list = self.pending.write().unwrap_or_else(|p| p.into_inner());
        let (gone, kept): (Vec<_>, Vec<_>) =
            list.iter().cloned().partition(|r| ids.contains(&r.id));
        *list = Arc::new(kept);
        for run in gone {
            let _ = std::fs::remove_file(run.path());
        }
    }

    /// Starts a background merge if the newest runs of one size tier are
    /// [`FAN_IN`] or more and no merge is running.
    pub fn maybe_merge(&self) {
        if self.merging.load(SeqCst) {
            return;
        }
        let runs = self.visited_runs();
        // Tiers grow fourfold: under 256 Ki fingerprints, under 1 Mi, under 4 Mi...
        // Lookups take the shallowest depth over all runs, so which runs merge
        // does not matter to what they answer: the smallest full tier goes first.
        let tier = |r: &VisitedRun| (64 - (r.count() / 262_144 + 1).leading_zeros()) / 2;
        let mut by_tier: std::collections::BTreeMap<u32, Vec<Arc<VisitedRun>>> =
            std::collections::BTreeMap::new();
        for run in runs.iter() {
            by_tier.entry(tier(run)).or_default().push(run.clone());
        }
        let Some(inputs) = by_tier.into_values().find(|group| group.len() >= FAN_IN) else {
            return;
        };
        self.merging.store(true, SeqCst);
        let id = self.next_id.fetch_add(1, SeqCst);
        let dir = self.dir.clone();
        let slot = self.merged.clone();
        let spawned = std::thread::Builder::new()
            .name("trawl-merge".into())
            .spawn(move || {
                let result = merge_visited(&inputs).and_then(|pairs| {
                    let mut failed = None;
                    let run = VisitedRun::write(
                        &dir,
                        id,
                        pairs.map_while(|p| p.map_err(|e| failed = Some(e)).ok()),
                    )?;
                    match failed {
                        Some(e) => Err(e),
                        None => Ok(run),
                    }
                });
                let result = result.and_then(|run| {
                    std::fs::File::open(&dir)
                        .and_then(|d| d.sync_all())
                        .map_err(io)?;
                    Ok(Merged {
                        inputs: inputs.iter().map(|r| r.id).collect(),
                        output: Arc::new(run),
                    })
                });
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
            });
        if spawned.is_err() {
            self.merging.store(false, SeqCst);
        }
    }

    /// A finished merge, if one is waiting to be named by a commit.
    pub fn take_merged(&self) -> Option<Result<Merged, StoreError>> {
        self.merged.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Swaps a committed merge's inputs for its output, and removes the inputs.
    pub fn publish_merge(&self, merged: Merged) {
        {
            let mut list = self.visited.write().unwrap_or_else(|p| p.into_inner());
            let mut next: Vec<Arc<VisitedRun>> = Vec::with_capacity(list.len());
            let mut placed = false;
            for run in list.iter() {
                if merged.inputs.contains(&run.id) {
                    if !placed {
                        next.push(merged.output.clone());
                        placed = true;
                    }
                    let _ = std::fs::remove_file(run.path());
                } else {
                    next.push(run.clone());
                }
            }
            *list = Arc::new(next);
        }
        self.merging.store(false, SeqCst);
    }

    /// A merge failed (its output is not named anywhere): allow another.
    pub fn merge_failed(&self) {
        self.merging.store(false, SeqCst);
    }

    /// (visited fingerprints stored, counting a re-stored one twice; live pending URLs).
    pub fn counts(&self) -> (u64, u64) {
        let v = self.visited_runs().iter().map(|r| r.count()).sum();
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        (v, live.values().sum())
    }

    /// Bytes on disk of the visited runs (the benchmark's bytes a URL).
    pub fn visited_bytes(&self) -> u64 {
        self.visited_runs()
            .iter()
            .filter_map(|r| std::fs::metadata(r.path()).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Memory held by the filter.
    pub fn filter_bytes(&self) -> u64 {
        self.bloom.bytes()
    }

    /// Visited lookups that read the runs so far.
    pub fn disk_lookups(&self) -> u64 {
        self.disk_lookups.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(host: u64, seq: u64) -> PendingRecord {
        PendingRecord {
            host,
            seq,
            fp: seq,
            entry: format!("{{\"seq\":{seq}}}").into_bytes(),
        }
    }

    /// Stages, "commits" (names) and publishes, as the store's writer does.
    fn commit(
        set: &RunSet,
        named: &mut Vec<(u64, u8)>,
        visits: Vec<(u64, u32)>,
        puts: Vec<PendingRecord>,
    ) {
        let staged = set.stage(visits, puts).unwrap();
        if let Some(r) = &staged.visited {
            named.push((r.id, b'v'));
        }
        if let Some(r) = &staged.pending {
            named.push((r.id, b'p'));
        }
        let dead = set.dead_pending();
        named.retain(|(id, _)| !dead.contains(id));
        let merged = set.take_merged().map(|m| m.unwrap());
        if let Some(m) = &merged {
            named.retain(|(id, _)| !m.inputs.contains(id));
            named.push((m.output.id, b'v'));
        }
        set.publish(staged).unwrap();
        set.drop_pending(&dead);
        if let Some(m) = merged {
            set.publish_merge(m);
        }
        set.maybe_merge();
    }

    #[test]
    fn merges_keep_every_fingerprint_and_bound_the_runs_read() {
        let dir = tempfile::tempdir().unwrap();
        let set = RunSet::open(dir.path(), &[]).unwrap();
        let mut named = Vec::new();
        let fp = |i: u64| xxhash_rust::xxh3::xxh3_64(&i.to_le_bytes());
        for c in 0..40u64 {
            commit(
                &set,
                &mut named,
                (c * 1000..(c + 1) * 1000)
                    .map(|i| (fp(i), (i % 5) as u32))
                    .collect(),
                Vec::new(),
            );
            // Give a running merge time to finish, bounded.
            for _ in 0..200 {
                if !set.merging.load(SeqCst) || set.merged.lock().unwrap().is_some() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        let runs = set.visited_runs().len();
        assert!(runs < 12, "{runs} visited runs after 40 commits");
        for i in (0..40_000).step_by(97) {
            assert_eq!(set.visited(fp(i)).unwrap(), Some((i % 5) as u32), "{i}");
        }
        assert_eq!(set.visited(fp(40_001)).unwrap(), None);
        // Reopened from what the commits named, it knows the same, and nothing else is left.
        drop(set);
        let again = RunSet::open(dir.path(), &named).unwrap();
        assert_eq!(again.visited(fp(12_345)).unwrap(), Some(0));
        let files = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(files, named.len());
    }

    #[test]
    fn a_pending_run_goes_once_all_its_urls_are_recorded_and_hosts_read_across_runs() {
        let dir = tempfile::tempdir().unwrap();
        let set = RunSet::open(dir.path(), &[]).unwrap();
        let mut named = Vec::new();
        commit(
            &set,
            &mut named,
            Vec::new(),
            (1..=3).map(|s| rec(7, s)).chain([rec(8, 4)]).collect(),
        );
        // Liveness is counted per bucket of 4,096 sequence numbers: the second run's
        // URLs are in another bucket.
        commit(
            &set,
            &mut named,
            Vec::new(),
            (5000..=5001).map(|s| rec(7, s)).collect(),
        );
        let seqs = |after| -> Vec<u64> {
            set.pending_after(7, after, 3)
                .unwrap()
                .into_iter()
                .map(|(s, _)| s)
                .collect()
        };
        assert_eq!(seqs(0), vec![1, 2, 3]);
        assert_eq!(seqs(2), vec![3, 5000, 5001]);
        assert_eq!(seqs(5001), Vec::<u64>::new());
        for s in 1..=3 {
            set.delete(s);
        }
        assert!(set.dead_pending().is_empty(), "seq 4 is still live");
        set.delete(4);
        let first = named[0].0;
        assert_eq!(set.dead_pending(), vec![first]);
        commit(&set, &mut named, Vec::new(), Vec::new());
        assert_eq!(named.len(), 1);
        assert!(!super::super::runs::run_path(dir.path(), first, 'p').exists());
        assert_eq!(set.counts().1, 2);
        let mut left = Vec::new();
        set.scan_pending(|r| left.push(r.seq)).unwrap();
        assert_eq!(left, vec![5000, 5001]);
    }
}
