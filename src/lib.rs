//! trawl: a fast, polite, hard-to-break parallel web crawler.
//!
//! Module map (each module uses only those listed above it):
//! - layer 0: [`config`] (what the user asked for, by section), [`canon`] (the one URL
//!   canonicaliser, host keys, fingerprints), [`stats`] (counters and their names),
//!   [`digest`] (payload digests in WARC's form), [`recrawl`] (what an earlier crawl
//!   knew of a URL, and how a new response compares);
//! - layer 1: [`fetch`] (one safe HTTP GET), [`frontier`] (queues, politeness,
//!   visited set), [`scope`] (which URLs are wanted), [`traps`] (spider-trap
//!   guards), [`seeds`] (seed lists);
//! - layer 2: [`robots`] (robots.txt), [`extract`] (title and links);
//! - layer 3: [`sink`] (records to disk), [`journal`] (exactly once: the order in
//!   which a page moves from leased to recorded, and resume);
//! - layer 4: [`crawl`] (wires it all and owns shutdown), [`progress`] (display);
//! - beside: [`bench`] (the synthetic site behind `trawl bench`), [`sitemap`]
//!   (sitemap bodies to URLs: pure parsing, uses no other module), [`export`]
//!   (flat tables from a crawl's pages files; uses only [`sink`]), [`outfile`] (every
//!   output file is created through it: no symlink followed, not world-readable).
//!
//! The binary (`src/main.rs`) is a thin shell: flags, config, logging, signals.
//! `docs/architecture.md` says where each rule lives.

/// Every binary built on the library (trawl, the benchmarks, the tests) allocates
/// with mimalloc: its per-thread heaps spare the frontier's threads the glibc arena
/// lock they fought over when one thread frees what another allocated. Built with
/// `--no-default-features`, trawl uses the system allocator (for heap profilers).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long mimalloc keeps freed pages before giving them back to the OS. Its
/// default (1 s) held a second of the crawl's churn (bodies, records, commit
/// batches) as resident memory; 100 ms cut a 20,000-page crawl's peak RSS by a
/// third at no measurable CPU, where 0 (purge at once) cost a tenth more CPU.
#[cfg(feature = "mimalloc")]
const PURGE_DELAY_MS: std::ffi::c_long = 100;

/// `mi_option_purge_delay` in mimalloc.h's `mi_option_e` (v3, which keeps retired
/// options' slots so that indices stay stable); the sys crate names only v2's.
/// A unit test checks that this slot holds the purge delay's default.
#[cfg(feature = "mimalloc")]
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tunes the global allocator; the binary calls it first thing in `main`. A
/// `MIMALLOC_PURGE_DELAY` in the environment still wins, for measuring.
pub fn tune_allocator() {
    #[cfg(feature = "mimalloc")]
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: mi_option_set only stores an integer in mimalloc's option table;
        // any value is valid for this option.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    }
}

#[cfg(all(test, feature = "mimalloc"))]
mod allocator_tests {
    /// The slot we set is the purge delay: it holds that option's documented
    /// default (1000 ms, an unusual value among mimalloc's options) until tuned.
    #[test]
    fn tuning_sets_mimallocs_purge_delay() {
        // SAFETY: mi_option_get reads an integer from mimalloc's option table.
        let get = || unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(get(), 1000, "slot 15 is not mimalloc's purge_delay");
            super::tune_allocator();
            assert_eq!(get(), super::PURGE_DELAY_MS);
        }
    }
}

pub mod bench;
pub mod canon;
pub mod config;
pub mod crawl;
pub mod digest;
pub mod export;
pub mod extract;
pub mod fetch;
pub mod frontier;
pub mod journal;
pub mod merge;
pub mod metrics;
pub mod outfile;
pub mod progress;
pub mod recrawl;
pub mod render;
pub mod robots;
pub mod scope;
pub mod seeds;
pub mod sink;
pub mod sitemap;
pub mod stats;
pub mod traps;
