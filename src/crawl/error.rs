//! What stops a crawl from starting or from saving its output (never one URL's failure).

use std::path::PathBuf;

use crate::config::ConfigError;
use crate::extract::RuleError;
use crate::fetch::FetchError;
use crate::frontier::{SharedError, StoreError};
use crate::journal::JournalError;
use crate::sink::SinkError;

#[derive(Debug, thiserror::Error)]
pub enum CrawlError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("invalid rules: {0}")]
    Rules(#[from] RuleError),
    #[error("cannot create output directory {path}: {source}")]
    OutDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} is a symbolic link: trawl writes its own files there, never through a link (remove it)")]
    PlantedLink(PathBuf),
    #[error("{0} already holds a crawl that cannot be resumed (pages.jsonl but no frontier state): add --fresh to start over, or choose another --out")]
    OutputExists(PathBuf),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("{0} is in use by another trawl crawl (its .lock is held)")]
    Locked(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the HTTP client: {0}")]
    Client(FetchError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Shared(#[from] SharedError),
    #[error(transparent)]
    Since(#[from] crate::recrawl::RecrawlError),
    #[error(transparent)]
    Render(#[from] crate::render::RenderError),
    #[error("cannot serve metrics on {addr}: {source}")]
    Metrics {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

impl From<StoreError> for CrawlError {
    fn from(e: StoreError) -> CrawlError {
        CrawlError::Journal(JournalError::Store(e))
    }
}
