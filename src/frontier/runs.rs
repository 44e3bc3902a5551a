//! The two kinds of sorted, immutable run files the durable frontier keeps its
//! large sets in (the way IRLbot's DRUM keeps its URL set): one file per commit,
//! written once, sequentially, and fsynced before the commit that names it.
//!
//! * A **visited run** holds `(fingerprint, depth)` pairs sorted by fingerprint,
//!   12 bytes each. Point lookups read one 3 KB block found by a sparse index kept
//!   in memory (8 bytes per block).
//! * A **pending run** holds the URLs one commit queued, as `(host, seq, fp, entry)`
//!   sorted by host then sequence, so a host's next URLs are one contiguous slice;
//!   a sparse index (one key per 4 KB) finds it.
//!
//! This module only reads and writes files. Every length read back is checked
//! against the file before it is trusted: a damaged file is an error, never a
//! panic or a huge allocation.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::store::StoreError;

const VISITED_MAGIC: &[u8; 8] = b"TRWLVR01";
const PENDING_MAGIC: &[u8; 8] = b"TRWLPR01";
/// Visited records per indexed block.
const BLOCK: usize = 256;
const VREC: usize = 12;
/// Bytes of pending records between two index keys.
const PENDING_STRIDE: u64 = 4096;
/// Pending record header: host, seq, fp, length.
const PHEAD: usize = 28;
/// Longest entry a pending record may hold (a URL is capped far below this).
const MAX_ENTRY: usize = 1 << 20;

fn io(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(format!("{}: {e}", path.display()))
}

fn corrupt(path: &Path, what: &str) -> StoreError {
    StoreError::Io(format!("{}: damaged run file ({what})", path.display()))
}

/// Buffer of a run file read or written from end to end (a merge's inputs and
/// output, an index rebuilt on open). The kernel reads ahead of a sequential
/// reader anyway; a MiB each held 5 MB through every merge, a third of a
/// 20,000-page crawl's heap (issue 21), for no measurable speed.
const STREAM_BUFFER: usize = 64 * 1024;

/// Writes `body` to a new file at `path` and fsyncs it.
fn write_file(
    path: &Path,
    magic: &[u8; 8],
    body: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> Result<(), StoreError> {
    let file = File::create(path).map_err(|e| io(path, e))?;
    let mut w = BufWriter::with_capacity(STREAM_BUFFER, file);
    w.write_all(magic).map_err(|e| io(path, e))?;
    body(&mut w).map_err(|e| io(path, e))?;
    let file = w.into_inner().map_err(|e| io(path, e.error()))?;
    file.sync_all().map_err(|e| io(path, e))
}

fn open_checked(path: &Path, magic: &[u8; 8]) -> Result<(File, u64), StoreError> {
    let file = File::open(path).map_err(|e| io(path, e))?;
    let len = file.metadata().map_err(|e| io(path, e))?.len();
    let mut head = [0u8; 8];
    file.read_exact_at(&mut head, 0)
        .map_err(|_| corrupt(path, "no header"))?;
    if &head != magic {
        return Err(corrupt(path, "wrong header"));
    }
    Ok((file, len))
}

/// Reads a file from a position of its own (pread), so readers on many threads
/// share one open file without sharing, or racing for, its cursor.
struct At<'a> {
    file: &'a File,
    pos: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

fn reader_at(file: &File, pos: u64, capacity: usize) -> BufReader<At<'_>> {
    BufReader::with_capacity(capacity, At { file, pos })
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

/// A sorted run of visited fingerprints.
pub struct VisitedRun {
    pub id: u64,
    path: PathBuf,
    file: File,
    count: u64,
    /// First fingerprint of every block of [`BLOCK`] records.
    index: Vec<u64>,
}

impl VisitedRun {
    /// Writes `pairs` (sorted by fingerprint, no fingerprint twice) as run `id`.
    pub fn write(
        dir: &Path,
        id: u64,
        pairs: impl Iterator<Item = (u64, u32)>,
    ) -> Result<VisitedRun, StoreError> {
        let path = run_path(dir, id, 'v');
        let mut index = Vec::new();
        let mut count = 0u64;
        write_file(&path, VISITED_MAGIC, |w| {
            for (fp, depth) in pairs {
                if count.is_multiple_of(BLOCK as u64) {
                    index.push(fp);
                }
                w.write_all(&fp.to_le_bytes())?;
                w.write_all(&depth.to_le_bytes())?;
                count += 1;
            }
            Ok(())
        })?;
        let (file, _) = open_checked(&path, VISITED_MAGIC)?;
        Ok(VisitedRun {
            id,
            path,
            file,
            count,
            index,
        })
    }

    /// Opens run `id`, rebuilding its index; `each` sees every pair (the filter).
    pub fn open(dir: &Path, id: u64, mut each: impl FnMut(u64)) -> Result<VisitedRun, StoreError> {
        let path = run_path(dir, id, 'v');
        let (file, len) = open_checked(&path, VISITED_MAGIC)?;
        if (len - 8) % VREC as u64 != 0 {
            return Err(corrupt(&path, "torn record"));
        }
        let count = (len - 8) / VREC as u64;
        let mut index = Vec::with_capacity((count as usize).div_ceil(BLOCK));
        let mut r = reader_at(&file, 8, STREAM_BUFFER);
        let mut rec = [0u8; VREC];
        let mut last = None;
        for i in 0..count {
            r.read_exact(&mut rec).map_err(|e| io(&path, e))?;
            let fp = u64_at(&rec, 0);
            if last.is_some_and(|l| l >= fp) {
                return Err(corrupt(&path, "out of order"));
            }
            last = Some(fp);
            if i.is_multiple_of(BLOCK as u64) {
                index.push(fp);
            }
            each(fp);
        }
        drop(r);
        Ok(VisitedRun {
            id,
            path,
            file,
            count,
            index,
        })
    }

    /// Fingerprints held.
    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The depth stored for `fp`, if this run holds it.
    pub fn get(&self, fp: u64) -> Result<Option<u32>, StoreError> {
        let block = self.index.partition_point(|&first| first <= fp);
        if block == 0 {
            return Ok(None);
        }
        let block = block - 1;
        let first = block as u64 * BLOCK as u64;
        let n = (self.count - first).min(BLOCK as u64) as usize;
        let mut buf = [0u8; BLOCK * VREC];
        let buf = &mut buf[..n * VREC];
        self.file
            .read_exact_at(buf, 8 + first * VREC as u64)
            .map_err(|e| io(&self.path, e))?;
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let at = u64_at(buf, mid * VREC);
            match at.cmp(&fp) {
                std::cmp::Ordering::Equal => return Ok(Some(u32_at(buf, mid * VREC + 8))),
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        Ok(None)
    }

    /// Every pair in order (for merging).
    pub fn pairs(
        &self,
    ) -> Result<impl Iterator<Item = Result<(u64, u32), StoreError>> + '_, StoreError> {
        let mut r = reader_at(&self.file, 8, STREAM_BUFFER);
        let mut left = self.count;
        Ok(std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            let mut rec = [0u8; VREC];
            Some(
                r.read_exact(&mut rec)
                    .map(|_| (u64_at(&rec, 0), u32_at(&rec, 8)))
                    .map_err(|e| io(&self.path, e)),
            )
        }))
    }
}

/// Merges sorted runs into one sorted sequence, one pair per fingerprint, with
/// the shallowest depth any run gave it.
pub fn merge_visited(
    runs: &[std::sync::Arc<VisitedRun>],
) -> Result<impl Iterator<Item = Result<(u64, u32), StoreError>> + '_, StoreError> {
    let mut iters = Vec::with_capacity(runs.len());
    for r in runs {
        iters.push(r.pairs()?.peekable());
    }
    Ok(std::iter::from_fn(move || {
        // Few inputs (at most a handful): a linear pick beats a heap.
        let mut best: Option<(u64, u32)> = None;
        for it in iters.iter_mut() {
            match it.peek() {
                Some(Ok((fp, d))) => {
                    best = match best {
                        Some((b, bd)) if b < *fp => Some((b, bd)),
                        Some((b, bd)) if b == *fp => Some((b, bd.min(*d))),
                        _ => Some((*fp, *d)),
                    }
                }
                Some(Err(_)) => return it.next().map(|r| r.map(|_| (0, 0))),
                None => {}
            }
        }
        let (fp, _) = best?;
        for it in iters.iter_mut() {
            while matches!(it.peek(), Some(Ok((f, _))) if *f == fp) {
                it.next();
            }
        }
        best.map(Ok)
    }))
}

/// One pending URL as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRecord {
    pub host: u64,
    pub seq: u64,
    /// The URL's fingerprint (0 when unknown: it was migrated from an older store).
    pub fp: u64,
    pub entry: Vec<u8>,
}

/// A run of pending URLs sorted by (host, seq).
pub struct PendingRun {
    pub id: u64,
    path: PathBuf,
    file: File,
    len: u64,
    pub min_seq: u64,
    pub max_seq: u64,
    pub count: u64,
    /// (host, seq, offset) of the record starting each stride.
    index: Vec<(u64, u64, u64)>,
    /// Which hosts have URLs in this run (a small Bloom filter, 8 bits a host), so
    /// a host's refill skips, without reading, the runs that hold none of its URLs.
    hosts: HostFilter,
}

/// A Bloom filter of the hosts in one pending run (3 probes, 8 bits a host).
#[derive(Default)]
struct HostFilter {
    bits: Vec<u64>,
}

impl HostFilter {
    fn new(hosts: &[u64]) -> HostFilter {
        let words = (hosts.len() * 8).div_ceil(64).next_power_of_two();
        let mut f = HostFilter {
            bits: vec![0; words],
        };
        for &h in hosts {
            for bit in f.probes(h) {
                f.bits[bit / 64] |= 1 << (bit % 64);
            }
        }
        f
    }

    fn probes(&self, host: u64) -> [usize; 3] {
        let mask = self.bits.len() * 64 - 1;
        let h = host.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        [
            h as usize & mask,
            (h >> 21) as usize & mask,
            (h >> 42) as usize & mask,
        ]
    }

    fn may_hold(&self, host: u64) -> bool {
        !self.bits.is_empty()
            && self
                .probes(host)
                .iter()
                .all(|&bit| self.bits[bit / 64] & (1 << (bit % 64)) != 0)
    }
}

impl PendingRun {
    /// Writes `records` (sorted by host then seq) as run `id`.
    pub fn write(dir: &Path, id: u64, records: &[PendingRecord]) -> Result<PendingRun, StoreError> {
        let path = run_path(dir, id, 'p');
        write_file(&path, PENDING_MAGIC, |w| {
            for r in records {
                let len = u32::try_from(r.entry.len().min(MAX_ENTRY)).unwrap_or(0);
                w.write_all(&r.host.to_le_bytes())?;
                w.write_all(&r.seq.to_le_bytes())?;
                w.write_all(&r.fp.to_le_bytes())?;
                w.write_all(&len.to_le_bytes())?;
                w.write_all(&r.entry[..len as usize])?;
            }
            Ok(())
        })?;
        PendingRun::open(dir, id, |_| {})
    }

    /// Opens run `id`, rebuilding its index; `each` sees every record's sequence.
    pub fn open(dir: &Path, id: u64, mut each: impl FnMut(u64)) -> Result<PendingRun, StoreError> {
        let path = run_path(dir, id, 'p');
        let (file, len) = open_checked(&path, PENDING_MAGIC)?;
        let mut run = PendingRun {
            id,
            path,
            file,
            len,
            min_seq: u64::MAX,
            max_seq: 0,
            count: 0,
            index: Vec::new(),
            hosts: HostFilter::default(),
        };
        let mut hosts = Vec::new();
        let mut next_key_at = 0u64;
        let mut last = None;
        let (mut index, mut min_seq, mut max_seq, mut count) = (Vec::new(), u64::MAX, 0, 0);
        run.walk(8, STREAM_BUFFER, |at, rec| {
            let key = (rec.host, rec.seq);
            if last.is_some_and(|l| l >= key) {
                return Err("out of order");
            }
            last = Some(key);
            if hosts.last() != Some(&rec.host) {
                hosts.push(rec.host);
            }
            if at >= next_key_at {
                index.push((rec.host, rec.seq, at));
                next_key_at = at + PENDING_STRIDE;
            }
            min_seq = min_seq.min(rec.seq);
            max_seq = max_seq.max(rec.seq);
            count += 1;
            each(rec.seq);
            Ok(true)
        })?;
        run.index = index;
        run.hosts = HostFilter::new(&hosts);
        (run.min_seq, run.max_seq, run.count) = (min_seq, max_seq, count);
        Ok(run)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads records from `from` on, handing each to `f` until it returns false.
    fn walk(
        &self,
        from: u64,
        buffer: usize,
        mut f: impl FnMut(u64, PendingRecord) -> Result<bool, &'static str>,
    ) -> Result<(), StoreError> {
        let mut r = reader_at(&self.file, from, buffer);
        let mut at = from;
        let mut head = [0u8; PHEAD];
        while at < self.len {
            if self.len - at < PHEAD as u64 {
                return Err(corrupt(&self.path, "torn record"));
            }
            r.read_exact(&mut head).map_err(|e| io(&self.path, e))?;
            let n = u32_at(&head, 24) as usize;
            if n > MAX_ENTRY || at + (PHEAD + n) as u64 > self.len {
                return Err(corrupt(&self.path, "bad length"));
            }
            let mut entry = vec![0u8; n];
            r.read_exact(&mut entry).map_err(|e| io(&self.path, e))?;
            let rec = PendingRecord {
                host: u64_at(&head, 0),
                seq: u64_at(&head, 8),
                fp: u64_at(&head, 16),
                entry,
            };
            let here = at;
            at += (PHEAD + n) as u64;
            if !f(here, rec).map_err(|w| corrupt(&self.path, w))? {
                break;
            }
        }
        Ok(())
    }

    /// Every record, in (host, seq) order.
    pub fn scan(&self, mut f: impl FnMut(PendingRecord)) -> Result<(), StoreError> {
        self.walk(8, STREAM_BUFFER, |_, rec| {
            f(rec);
            Ok(true)
        })
    }

    /// Up to `limit` of `host`'s records with a sequence above `after`, appended to `out`.
    pub fn host_after(
        &self,
        host: u64,
        after: u64,
        limit: usize,
        out: &mut Vec<(u64, Vec<u8>)>,
    ) -> Result<(), StoreError> {
        if self.max_seq <= after || out.len() >= limit || !self.hosts.may_hold(host) {
            return Ok(());
        }
        let target = (host, after.saturating_add(1));
        let i = self.index.partition_point(|&(h, s, _)| (h, s) < target);
        // The record we want may sit inside the stride before the first key past it.
        let from = match i {
            0 => 8,
            i => self.index[i - 1].2,
        };
        // A few strides: a refill wants a handful of URLs.
        self.walk(from, 4 * PENDING_STRIDE as usize, |_, rec| {
            if rec.host > host {
                return Ok(false);
            }
            if rec.host == host && rec.seq > after {
                out.push((rec.seq, rec.entry));
            }
            Ok(out.len() < limit)
        })
    }
}

/// Where run `id` of `kind` ('v' or 'p') lives.
pub fn run_path(dir: &Path, id: u64, kind: char) -> PathBuf {
    dir.join(format!("{kind}-{id:08}.run"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_visited_run_finds_what_it_holds_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let fps: Vec<u64> = (0..5_000u64).map(|i| i * 7 + 3).collect();
        let run =
            VisitedRun::write(dir.path(), 1, fps.iter().map(|&f| (f, (f % 9) as u32))).unwrap();
        for &f in &fps {
            assert_eq!(run.get(f).unwrap(), Some((f % 9) as u32), "{f}");
            assert_eq!(run.get(f + 1).unwrap(), None);
        }
        assert_eq!(run.get(0).unwrap(), None);
        assert_eq!(run.get(u64::MAX).unwrap(), None);
        // Readers do not share a file position: a second pass sees everything too.
        assert_eq!(run.pairs().unwrap().count(), 5_000);
        assert_eq!(run.pairs().unwrap().count(), 5_000);
        let mut seen = 0;
        let again = VisitedRun::open(dir.path(), 1, |_| seen += 1).unwrap();
        assert_eq!((seen, again.count()), (5_000, 5_000));
        assert_eq!(
            again.get(fps[4_321]).unwrap(),
            Some((fps[4_321] % 9) as u32)
        );
    }

    #[test]
    fn merging_keeps_each_fingerprint_once_at_its_shallowest_depth() {
        let dir = tempfile::tempdir().unwrap();
        let a = Arc::new(
            VisitedRun::write(dir.path(), 1, [(1, 5), (4, 2), (9, 1)].into_iter()).unwrap(),
        );
        let b = Arc::new(
            VisitedRun::write(dir.path(), 2, [(1, 3), (5, 7), (9, 4)].into_iter()).unwrap(),
        );
        let runs = [a, b];
        let merged: Vec<_> = merge_visited(&runs).unwrap().map(|r| r.unwrap()).collect();
        assert_eq!(merged, vec![(1, 3), (4, 2), (5, 7), (9, 1)]);
    }

    #[test]
    fn a_pending_run_reads_one_hosts_urls_after_a_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let mut recs = Vec::new();
        for host in 0..50u64 {
            for seq in 0..40u64 {
                recs.push(PendingRecord {
                    host,
                    seq: seq * 100 + host,
                    fp: seq,
                    entry: vec![b'x'; (host * seq % 300) as usize],
                });
            }
        }
        let run = PendingRun::write(dir.path(), 3, &recs).unwrap();
        for host in [0u64, 1, 17, 49] {
            let mut out = Vec::new();
            run.host_after(host, 1_000 + host, 5, &mut out).unwrap();
            let seqs: Vec<u64> = out.iter().map(|(s, _)| *s).collect();
            assert_eq!(
                seqs,
                (11..16).map(|s| s * 100 + host).collect::<Vec<_>>(),
                "host {host}"
            );
        }
        let mut out = Vec::new();
        run.host_after(50, 0, 5, &mut out).unwrap();
        assert!(out.is_empty());
        assert!((0..50).all(|h| run.hosts.may_hold(h)));
        let absent = (1_000..2_000).filter(|&h| run.hosts.may_hold(h)).count();
        assert!(
            absent < 100,
            "{absent} of 1,000 absent hosts pass the filter"
        );
        let mut n = 0;
        run.scan(|_| n += 1).unwrap();
        assert_eq!(n, 2_000);
    }

    #[test]
    fn a_damaged_run_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let recs = vec![PendingRecord {
            host: 1,
            seq: 2,
            fp: 3,
            entry: b"{}".to_vec(),
        }];
        PendingRun::write(dir.path(), 4, &recs).unwrap();
        let path = run_path(dir.path(), 4, 'p');
        let bytes = std::fs::read(&path).unwrap();
        // A length pointing past the end, and a torn tail.
        let mut bad = bytes.clone();
        bad[8 + 24..8 + 28].copy_from_slice(&u32::MAX.to_le_bytes());
        std::fs::write(&path, &bad).unwrap();
        assert!(PendingRun::open(dir.path(), 4, |_| {}).is_err());
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert!(PendingRun::open(dir.path(), 4, |_| {}).is_err());
        std::fs::write(run_path(dir.path(), 5, 'v'), b"TRWLVR01abc").unwrap();
        assert!(VisitedRun::open(dir.path(), 5, |_| {}).is_err());
        std::fs::write(run_path(dir.path(), 6, 'v'), b"junk").unwrap();
        assert!(VisitedRun::open(dir.path(), 6, |_| {}).is_err());
    }
}
