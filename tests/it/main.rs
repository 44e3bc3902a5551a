//! The integration test binary: the real `trawl` binary and library against local
//! fixture servers on 127.0.0.1 (see `common`), never the internet.

mod common;
mod crawl;
mod datasets;
mod fixture;
mod fleet;
mod frontier;
mod hardening;
mod hostile;
mod metrics;
mod outputs;
mod recrawl;
mod redis_setups;
mod render;
mod requests;
mod requisites;
mod resume;
mod robots;
mod signals;
mod unreachable;
