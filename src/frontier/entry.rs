//! One URL in the frontier, as queued, leased and stored (durable store, Redis
//! queues, the journal): what a URL carries from its admission to its record.

use url::Url;

/// One URL waiting in (or leased from) the frontier.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// Canonical URL.
    pub url: Url,
    /// Link hops from a seed (redirect hops do not count).
    pub depth: u32,
    /// Fetch attempts already made and failed transiently.
    // Zero and empty fields are left out of the stored form (durable store, Redis
    // queues): most entries are a URL and a depth, and a frontier holds millions.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempt: u32,
    /// Fingerprints of the URLs whose redirects led here, oldest first: the hop
    /// count and the loop check for redirects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub via: Vec<u64>,
    /// Links in a row that kept the page's path and changed only its query (trap guard).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub query_hops: u32,
    /// Sequence number in the durable store (0 when the frontier is in memory only).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub seq: u64,
    /// A seed (given on a command line or in a seed list): in a shared crawl, the
    /// process that fetches it treats its host as a seed host too (scope, guard).
    #[serde(default, skip_serializing_if = "is_false")]
    pub seed: bool,
    /// A page requisite (`--page-requisites`): an image, stylesheet or script a page
    /// needs to render. Admitted past `skip_extensions` and one hop past
    /// `max_depth`, and never parsed for links. Stored with the entry (durable store,
    /// Redis queues), so a resumed crawl still knows why it was admitted.
    #[serde(default, skip_serializing_if = "is_false")]
    pub requisite: bool,
    /// What an earlier crawl recorded of this URL (`--since`): asked with
    /// conditionally, and compared against. Boxed: most entries have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior: Option<Box<crate::recrawl::Prior>>,
}

fn is_zero<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

fn is_false(v: &bool) -> bool {
    !*v
}

impl Entry {
    pub fn new(url: Url, depth: u32) -> Entry {
        Entry {
            url,
            depth,
            attempt: 0,
            via: Vec::new(),
            query_hops: 0,
            seq: 0,
            seed: false,
            requisite: false,
            prior: None,
        }
    }
}
