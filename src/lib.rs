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
