//! Where finished pages go. One interface over a closed set of writers (an enum):
//! JSON lines (`pages.jsonl`, always; optionally compressed and rotated) and WARC
//! archives (`--warc`). Each writer runs on its own thread behind a bounded
//! channel, so disk speed paces the crawl and never grows memory.
//!
//! A finished URL becomes one [`Output`]; every sink takes the part it writes
//! (the record, or the HTTP exchange), so nothing is copied between them.

pub mod jsonl;
pub mod warc;

pub use jsonl::{Compression, JsonlOptions, JsonlSink, PageRecord};
pub use warc::{Exchange, WarcSink};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("output writer stopped")]
    Closed,
    #[error("cannot write output: {0}")]
    Io(std::io::Error),
}

/// One finished URL, as the sinks see it.
pub struct Output {
    pub record: Option<PageRecord>,
    /// The HTTP exchange behind the record, when there was one and it is archived.
    pub exchange: Option<Exchange>,
}

pub enum Sink {
    Jsonl(JsonlSink),
    Warc(WarcSink),
}

impl Sink {
    /// Takes this sink's part of `out` and queues it.
    pub async fn send(&self, out: &mut Output) -> Result<(), SinkError> {
        match self {
            Sink::Jsonl(s) => match out.record.take() {
                Some(r) => s.send(r).await,
                None => Ok(()),
            },
            Sink::Warc(s) => match out.exchange.take() {
                Some(e) => s.send(e).await,
                None => Ok(()),
            },
        }
    }

    /// Flushes and syncs everything written; call once at the end.
    pub fn finish(self) -> Result<(), SinkError> {
        match self {
            Sink::Jsonl(s) => s.finish(),
            Sink::Warc(s) => s.finish(),
        }
    }
}
