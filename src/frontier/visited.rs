//! The embedded frontier's visited set: fingerprints of every URL admitted, with
//! the shallowest depth each was found at. In memory mode it holds everything; in
//! durable mode it is a two-generation cache over the store, so a crawl larger
//! than memory still admits each URL once.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::RwLock;

use dashmap::DashMap;

use super::store::{Store, StoreError};
use crate::canon::Fingerprints;

/// The visited set's in-memory part: everything (memory mode) or a two-generation
/// cache over the store (durable mode). A generation is dropped only once every
/// fingerprint in it is committed to the store.
pub(super) struct Visited {
    gens: RwLock<Generations>,
    cap: usize,
    /// True once the store knows fingerprints the cache does not (after a resume
    /// or a dropped generation); until then a cache miss needs no store lookup.
    pub(super) forgot: std::sync::atomic::AtomicBool,
}

pub(super) struct Generations {
    current: DashMap<u64, u32, Fingerprints>,
    previous: DashMap<u64, u32, Fingerprints>,
    /// Store ticket that covers every fingerprint in `previous`.
    previous_ticket: u64,
}

pub(super) enum Seen {
    New,
    Duplicate { shallower: bool },
}

impl Visited {
    pub(super) fn new(cap: usize) -> Visited {
        Visited {
            gens: RwLock::new(Generations {
                current: DashMap::default(),
                previous: DashMap::default(),
                previous_ticket: 0,
            }),
            cap,
            forgot: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(super) fn gens(&self) -> std::sync::RwLockReadGuard<'_, Generations> {
        self.gens.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Check-and-insert, asking `lookup` (the store) on a cache miss.
    pub(super) fn admit(
        &self,
        fp: u64,
        depth: u32,
        lookup: &mut dyn FnMut(u64) -> Result<Option<u32>, StoreError>,
    ) -> Result<Seen, StoreError> {
        let gens = self.gens();
        let slot = gens.current.entry(fp);
        match slot {
            dashmap::Entry::Occupied(mut seen) => {
                let shallower = depth < *seen.get();
                if shallower {
                    seen.insert(depth);
                }
                Ok(Seen::Duplicate { shallower })
            }
            dashmap::Entry::Vacant(slot) => {
                // The shard lock is held while we look further: no twin admission.
                let known = match gens.previous.get(&fp) {
                    Some(d) => Some(*d),
                    None => lookup(fp)?,
                };
                match known {
                    Some(d) => {
                        slot.insert(d.min(depth));
                        Ok(Seen::Duplicate {
                            shallower: depth < d,
                        })
                    }
                    None => {
                        slot.insert(depth);
                        Ok(Seen::New)
                    }
                }
            }
        }
    }

    pub(super) fn depth(&self, fp: u64) -> Option<u32> {
        let gens = self.gens();
        let d = gens.current.get(&fp).map(|d| *d);
        d.or_else(|| gens.previous.get(&fp).map(|d| *d))
    }

    /// Starts a new generation when the current one is full (durable mode only).
    pub(super) fn maybe_rotate(&self, store: &Store) {
        if self.gens().current.len() < self.cap {
            return;
        }
        let mut gens = self.gens.write().unwrap_or_else(|p| p.into_inner());
        if gens.current.len() < self.cap {
            return;
        }
        // Everything in `previous` must be on disk before it is forgotten.
        if store.committed() < gens.previous_ticket {
            let _ = store.flush();
        }
        gens.previous = std::mem::take(&mut gens.current);
        gens.previous_ticket = store.last_ticket();
        self.forgot.store(true, SeqCst);
    }
}
