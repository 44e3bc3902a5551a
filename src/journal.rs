//! Exactly once: how a URL moves from leased to recorded, and why a crawl killed at
//! any instant (`kill -9`, a power cut after the last sync) resumes with no page
//! lost and none written twice.
//!
//! # The invariant
//! For every URL the crawl admitted, at every instant, at least one of these holds
//! on disk: its pending entry is in the frontier store, or its record is a whole,
//! synced line of the pages files. And a record is only ever written once the URLs
//! its page discovered are committed to the store.
//!
//! # Why it holds
//! A page goes through four steps, guarded by two types ([`Ticket`] and [`Pending`],
//! defined beside the store whose commits and keys they name, and re-exported here)
//! and by the journal's two writer-side methods:
//! 1. **Leased.** The frontier hands out a lease; the URL's pending entry stays in
//!    the store (its key is the lease's [`Pending`]).
//! 2. **Discoveries admitted.** The page's links are pushed to the frontier, which
//!    queues their store writes and hands back a [`Ticket`]: the commit that makes
//!    them durable.
//! 3. **Recorded.** The record carries its ticket and its pending key to the pages
//!    writer, which writes a record only after [`Journal::wait`] says its ticket is
//!    committed, and whole lines only (see `sink::jsonl`).
//! 4. **Forgotten.** Only after the pages file is synced does the writer give the
//!    synced records' pending keys to [`Journal::forget`], which deletes their
//!    pending entries.
//!
//! So a crash before step 4 leaves the pending entry: the URL is fetched again, and
//! its unsynced line (if any survived) is recognised on resume ([`Journal::recover`]
//! reads back every whole record, cuts a torn tail, and the frontier drops pending
//! entries whose URL is recorded). A crash after step 4 leaves a synced record. No
//! record can point at links the store lost (step 3 waits for step 2's ticket).
//!
//! A shared (Redis) crawl has no store: its leases are Redis's, and a record is
//! handed to the OS before its lease completes; `trawl merge` removes the duplicate
//! a crash between the two can leave (at-least-once, deduplicated on merge).
//!
//! This module never fetches and never decides what to crawl.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::canon::HostKey;
use crate::frontier::store::Op;
pub use crate::frontier::store::{Pending, Ticket};
use crate::frontier::{Frontier, Recorded, Store, StoreError};
use crate::sink::jsonl::{recover, RecordedPage};

/// Longest a record waits for the store to commit its page's discoveries.
const TICKET_WAIT: Duration = Duration::from_secs(120);

/// Why a crawl directory cannot be resumed or its state saved.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "the frontier state {0} is corrupt: add --fresh to start over, or choose another --out"
    )]
    Corrupt(PathBuf),
    #[error("{out} has records but its frontier state in {state} is empty or lost: add --fresh to start over, or choose another --out")]
    StateLost { out: PathBuf, state: PathBuf },
    #[error("the frontier state in {state} belongs to the crawl in {owner}: give that --out, or another --state")]
    StateOwner { state: PathBuf, owner: String },
    /// Not a failure: the binary reports it in one line and exits 0, so a container
    /// restarted by its supervisor does not loop on a failing exit.
    #[error("{out} already holds a finished crawl ({pages} pages): nothing to do; add --fresh to start over, or choose another --out")]
    Finished { out: PathBuf, pages: u64 },
    /// The command names seeds the finished crawl never saw: a different crawl.
    #[error("{out} holds a finished crawl ({pages} pages) that never saw the seed {seed}{}: add --fresh to start over, or choose another --out", if *more > 0 { format!(" (and {more} more)") } else { String::new() })]
    FinishedNewSeeds {
        out: PathBuf,
        pages: u64,
        seed: String,
        more: usize,
    },
    #[error("cannot create output directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Making the pages files whole (cutting a torn tail) or reading them back
    /// failed; worded as before the journal existed, since users script against it.
    #[error("cannot write {path}: {source}")]
    Recover {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// How a run ended, as the store remembers it for the next run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// Nothing left: the directory is never silently crawled again.
    Finished,
    /// The page budget ended it with URLs left: a larger `--max-pages` continues.
    Budget,
    /// Stopped (signal, output failure): the same command resumes it.
    Interrupted,
}

/// The crawl directory's durable half: the frontier store, and the resume checks
/// that tie it to the pages files beside it. Without a store (memory mode, or a
/// shared crawl) every method is a no-op and every ticket is [`Ticket::NONE`].
#[derive(Clone)]
pub struct Journal {
    store: Option<Arc<Store>>,
    out: PathBuf,
    state: PathBuf,
}

impl Journal {
    /// A journal with no store: nothing survives the process.
    pub fn none(out: &Path) -> Journal {
        Journal {
            store: None,
            out: out.to_path_buf(),
            state: PathBuf::new(),
        }
    }

    /// Opens (or creates) the frontier store in `state`.
    pub fn open(out: &Path, state: &Path) -> Result<Journal, JournalError> {
        std::fs::create_dir_all(state).map_err(|source| JournalError::Dir {
            path: state.to_path_buf(),
            source,
        })?;
        let path = state.join("frontier.redb");
        // redb panics on some kinds of corruption: report it as one clear error.
        let opened = std::panic::catch_unwind(|| Store::open(&path))
            .map_err(|_| JournalError::Corrupt(path.clone()))??;
        // redb creates it 0644: the crawl's URLs are no more public than its records.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640));
        }
        Ok(Journal {
            store: Some(Arc::new(opened)),
            out: out.to_path_buf(),
            state: state.to_path_buf(),
        })
    }

    /// The store, for the frontier that keeps its pending URLs there.
    pub fn store(&self) -> Option<Arc<Store>> {
        self.store.clone()
    }

    /// Reads back an interrupted crawl's pages files (made whole first: a torn
    /// tail is cut) and checks the store belongs to them; `each` sees every record.
    pub fn recover(&self, mut each: impl FnMut(&RecordedPage)) -> Result<Recorded, JournalError> {
        let Some(store) = &self.store else {
            return Ok(Recorded::default());
        };
        let mut per_host = std::collections::HashMap::new();
        let recovered = recover(&self.out, |page| {
            each(page);
            // Earlier runs' pages count against each host's budget.
            if let Ok(url) = url::Url::parse(&page.url) {
                *per_host.entry(HostKey::of(&url)).or_insert(0u64) += 1;
            }
        })
        .map_err(|source| JournalError::Recover {
            path: self.out.join("pages.jsonl"),
            source,
        })?;
        let here = std::fs::canonicalize(&self.out).unwrap_or_else(|_| self.out.clone());
        if let Some(owner) = store.meta("out")?.filter(|o| Path::new(o) != here) {
            return Err(JournalError::StateOwner {
                state: self.state.clone(),
                owner,
            });
        }
        match store.meta("status")?.as_deref() {
            Some("finished") => {
                return Err(JournalError::Finished {
                    out: self.out.clone(),
                    pages: recovered.records,
                })
            }
            // Killed before its first commit: nothing was recorded, start afresh.
            None if recovered.records == 0 => {}
            None => {
                return Err(JournalError::StateLost {
                    out: self.out.clone(),
                    state: self.state.clone(),
                })
            }
            Some(_) => {}
        }
        if recovered.bad_lines > 0 {
            tracing::warn!(
                lines = recovered.bad_lines,
                "pages.jsonl has lines that are not records; they were skipped"
            );
        }
        if recovered.torn_bytes > 0 {
            tracing::warn!(
                bytes = recovered.torn_bytes,
                "cut a torn last line (or compressed block) off the last pages file"
            );
        }
        if recovered.unreadable_bytes > 0 {
            tracing::warn!(
                bytes = recovered.unreadable_bytes,
                "earlier pages parts end in damaged data; it was skipped and left in place"
            );
        }
        Ok(Recorded {
            fingerprints: recovered.fingerprints,
            per_host,
        })
    }

    /// Loads the earlier run's pending URLs into `frontier`, minus those recorded.
    pub fn resume(&self, frontier: &Frontier, recorded: &Recorded) -> Result<(), JournalError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let (pending, stale) =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| frontier.resume(recorded)))
                .map_err(|_| JournalError::Corrupt(self.state.join("frontier.redb")))??;
        // Recorded URLs must stay seen even if their admission never committed.
        let visits = recorded.fingerprints.iter();
        store.send(visits.map(|fp| Op::Visit(*fp, u32::MAX)).collect())?;
        tracing::info!(
            recorded = recorded.fingerprints.len(),
            pending,
            stale,
            "resuming the crawl in {}",
            self.out.display()
        );
        Ok(())
    }

    /// Marks the directory as holding a running crawl of this record shape (the
    /// extras and rule keys every record carries). A resumed crawl whose shape
    /// changed is told its records will mix two shapes.
    pub fn begin(&self, shape: &str, resumed: bool) -> Result<(), JournalError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        if resumed {
            if let Some(before) = store.meta("record_fields")?.filter(|b| b != shape) {
                let show = |s: &str| match s.is_empty() {
                    true => "none".to_string(),
                    false => s.to_string(),
                };
                tracing::warn!(
                    "the earlier run's records have the extra fields [{}], this run's [{}]: \
                     pages.jsonl will mix the two (use the earlier --extras and rules, or --fresh)",
                    show(&before),
                    show(shape)
                );
            }
        }
        let here = std::fs::canonicalize(&self.out).unwrap_or_else(|_| self.out.clone());
        store.send(vec![
            Op::Meta("status", "running".into()),
            Op::Meta("out", here.display().to_string()),
            Op::Meta("record_fields", shape.to_string()),
        ])?;
        Ok(())
    }

    /// Commits now what is queued: records waiting for tickets are let through.
    pub fn flush(&self) -> Result<(), JournalError> {
        if let Some(store) = &self.store {
            store.flush()?;
        }
        Ok(())
    }

    /// Saves how the run ended and closes the store (after the sinks finished).
    pub fn end(&self, how: RunEnd) -> Result<(), JournalError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let status = match how {
            RunEnd::Finished => "finished",
            RunEnd::Budget => "budget",
            RunEnd::Interrupted => "running",
        };
        store.send(vec![Op::Meta("status", status.into())])?;
        store.close()?;
        Ok(())
    }

    /// Step 3: waits until `ticket` is committed; false if the store stopped
    /// committing (the record must then not be written).
    pub fn wait(&self, ticket: Ticket) -> bool {
        match &self.store {
            Some(store) if ticket > Ticket::NONE => {
                store.wait_committed(ticket.number(), TICKET_WAIT)
            }
            _ => true,
        }
    }

    /// Step 4: the records of these pending entries are synced: forget the entries.
    pub fn forget(&self, synced: &mut Vec<Pending>) -> Result<(), StoreError> {
        if let Some(store) = &self.store {
            if !synced.is_empty() {
                let ops = synced.drain(..).map(|p| Op::Delete(p.host(), p.seq()));
                store.send(ops.collect())?;
            }
        }
        synced.clear();
        Ok(())
    }
}
