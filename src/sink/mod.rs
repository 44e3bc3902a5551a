//! Where finished records go. One interface over a closed set of writers (an enum):
//! today JSON lines (optionally compressed and rotated); WARC archives join here. Each writer runs on its own thread
//! behind a bounded channel, so disk speed paces the crawl and never grows memory.

pub mod jsonl;

pub use jsonl::{Compression, JsonlOptions, JsonlSink, PageRecord};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("output writer stopped")]
    Closed,
    #[error("cannot write output: {0}")]
    Io(std::io::Error),
}

pub enum Sink {
    Jsonl(JsonlSink),
}

impl Sink {
    pub async fn send(&self, record: PageRecord) -> Result<(), SinkError> {
        match self {
            Sink::Jsonl(s) => s.send(record).await,
        }
    }

    /// Flushes and syncs everything written; call once at the end.
    pub fn finish(self) -> Result<(), SinkError> {
        match self {
            Sink::Jsonl(s) => s.finish(),
        }
    }
}
