//! robots.txt answers kept by the frontier's backend, beyond one process's cache
//! (see `robots::kept`): in the durable store, so a resumed crawl reads them back;
//! in Redis, with their expiry, so a fleet fetches each host's robots.txt once.
//! The in-memory embedded frontier keeps nothing (its crawl cannot resume).
//!
//! Keeping is best effort: a copy that cannot be stored or read back only costs a
//! fetch. This file never fetches and never decides what robots.txt allows.

use std::time::Duration;

use super::store::Op;
use super::Frontier;
use crate::canon::HostKey;
use crate::robots::kept::Kept;

/// How long a process's claim on a host's robots.txt fetch lasts if it never
/// reports (it died): then another process fetches it.
const CLAIM: Duration = Duration::from_secs(30);

impl Frontier {
    /// `host`'s robots.txt as kept, if there is a readable copy (fresh or not).
    pub async fn robots_kept(&self, host: &HostKey) -> Option<Kept> {
        let bytes = match self {
            Frontier::Embedded(f) => f.store()?.robots(host.as_str()).ok()??,
            Frontier::Redis(f) => f.robots_kept(host).await?,
        };
        Kept::decode(&bytes)
    }

    /// Claims the fetch of `host`'s robots.txt for this process; false when another
    /// process of the fleet holds the claim (it is fetching it now).
    pub async fn robots_claim(&self, host: &HostKey) -> bool {
        match self {
            Frontier::Embedded(_) => true,
            Frontier::Redis(f) => f.robots_claim(host, CLAIM).await,
        }
    }

    /// Keeps what a fetch of `host`'s robots.txt answered (`None`: nothing worth
    /// keeping, e.g. the host was unavailable), and lets go of the claim.
    pub async fn robots_keep(&self, host: &HostKey, answer: Option<&Kept>) {
        match self {
            Frontier::Embedded(f) => {
                if let (Some(store), Some(k)) = (f.store(), answer) {
                    let _ = store.send(vec![Op::Robots(host.as_str().to_string(), k.encode())]);
                }
            }
            Frontier::Redis(f) => f.robots_keep(host, answer).await,
        }
    }
}
