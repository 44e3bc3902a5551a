//! A fetched robots.txt as it is kept beyond this process's cache: in the durable
//! frontier (a resumed crawl reads it back instead of fetching it again) and in
//! Redis (a fleet fetches each host's robots.txt once, not once per process).
//! Kept for [`TTL`], RFC 9309's longest use of a cached copy.
//!
//! Only answers are kept (the rules, or "no restrictions"); an unavailable or
//! blocked host is asked again. What is read back is checked like anything from
//! outside: a malformed or oversized copy is ignored (the file is fetched again).
//! This module never fetches and never talks to a store: it only says what a
//! kept copy is.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::parse::ROBOTS_MAX_BYTES;

/// How long a fetched robots.txt is used (RFC 9309: at most 24 hours).
pub const TTL: Duration = Duration::from_secs(24 * 3600);

const MAGIC: &[u8; 3] = b"RB1";
/// Magic, fetch time (ms since the epoch, big-endian), kind.
const HEADER: usize = 3 + 8 + 1;

/// A robots.txt answer, as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// When it was fetched (ms since the Unix epoch).
    pub fetched_ms: u64,
    /// The file's first 500 KiB (2xx), or `None`: no restrictions (4xx, too many
    /// redirects).
    pub body: Option<Vec<u8>>,
}

impl Kept {
    /// An answer fetched now.
    pub fn now(body: Option<Vec<u8>>) -> Kept {
        Kept {
            fetched_ms: unix_ms(),
            body,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let body = self.body.as_deref().unwrap_or_default();
        let mut out = Vec::with_capacity(HEADER + body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.fetched_ms.to_be_bytes());
        out.push(if self.body.is_some() { b'F' } else { b'N' });
        out.extend_from_slice(body);
        out
    }

    /// A kept copy read back; `None` if it is not one (then it is fetched again).
    pub fn decode(bytes: &[u8]) -> Option<Kept> {
        if bytes.len() < HEADER || bytes.len() > HEADER + ROBOTS_MAX_BYTES || &bytes[..3] != MAGIC {
            return None;
        }
        let fetched_ms = u64::from_be_bytes(bytes[3..11].try_into().ok()?);
        let body = match bytes[11] {
            b'F' => Some(bytes[HEADER..].to_vec()),
            b'N' if bytes.len() == HEADER => None,
            _ => return None,
        };
        Some(Kept { fetched_ms, body })
    }

    /// How old it is; `None` once past [`TTL`], or dated in the future (a clock
    /// that jumped, or a planted copy): then it is fetched again.
    pub fn age(&self) -> Option<Duration> {
        let age = unix_ms().checked_sub(self.fetched_ms)?;
        let age = Duration::from_millis(age);
        (age < TTL).then_some(age)
    }

    /// How long a store should keep it (what is left of its [`TTL`]).
    pub fn ttl_left(&self) -> Duration {
        self.age().map_or(Duration::ZERO, |age| TTL - age)
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_copy_reads_back_and_junk_does_not() {
        for body in [
            Some(b"User-agent: *\nDisallow: /x\n".to_vec()),
            Some(Vec::new()),
            None,
        ] {
            let k = Kept::now(body);
            assert_eq!(Kept::decode(&k.encode()), Some(k.clone()));
            assert!(k.age().is_some_and(|a| a < Duration::from_secs(5)));
        }
        let good = Kept::now(None).encode();
        assert_eq!(Kept::decode(&good[..HEADER - 1]), None, "short");
        assert_eq!(Kept::decode(b"XX1\0\0\0\0\0\0\0\0N"), None, "no magic");
        let mut trailing = good.clone();
        trailing.push(b'x');
        assert_eq!(
            Kept::decode(&trailing),
            None,
            "'no restrictions' with a body"
        );
        let mut kind = good;
        kind[11] = b'?';
        assert_eq!(Kept::decode(&kind), None, "unknown kind");
        let huge = Kept::now(Some(vec![b'#'; ROBOTS_MAX_BYTES + 1])).encode();
        assert_eq!(
            Kept::decode(&huge),
            None,
            "larger than a robots.txt is read"
        );
    }

    #[test]
    fn an_expired_or_future_copy_is_not_used() {
        let old = Kept {
            fetched_ms: unix_ms() - TTL.as_millis() as u64 - 1,
            body: None,
        };
        assert_eq!(old.age(), None);
        assert_eq!(old.ttl_left(), Duration::ZERO);
        let future = Kept {
            fetched_ms: unix_ms() + 60_000,
            body: None,
        };
        assert_eq!(future.age(), None);
        let fresh = Kept::now(None);
        assert!(fresh.ttl_left() > TTL - Duration::from_secs(5));
    }
}
