//! How values look on the wire to Redis: queue items, replies, errors.

use ::redis::Value;

use super::Fleet;
use crate::frontier::Entry;

/// An error that retrying cannot cure (a script error, out of memory, a wrong type):
/// everything else (connection lost, timeout, loading data) is waited out.
pub(super) fn permanent(e: &::redis::RedisError) -> bool {
    matches!(e.retry_method(), ::redis::RetryMethod::NoRetry)
}

/// One line for a Redis error.
pub(super) fn message(e: &::redis::RedisError) -> String {
    e.to_string().replace('\n', " ")
}

/// A queued URL as stored: "F" (fresh) or "R" (a retry) and the entry as JSON.
pub(super) fn item(e: &Entry) -> String {
    let json = serde_json::to_string(e).unwrap_or_default();
    format!("{}{json}", if e.attempt == 0 { 'F' } else { 'R' })
}

pub(super) fn parse_item(raw: &str) -> Option<Entry> {
    serde_json::from_str(raw.get(1..)?).ok()
}

pub(super) fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

pub(super) fn int(v: &Value) -> u64 {
    match v {
        Value::Int(i) => (*i).max(0) as u64,
        other => text(other)
            .and_then(|s| s.parse::<i64>().ok())
            .map_or(0, |i| i.max(0) as u64),
    }
}

pub(super) fn parse_beat(reply: &Value) -> Fleet {
    let Value::Array(v) = reply else {
        return Fleet::default();
    };
    let mut f = Fleet {
        reaped: v.get(1).map_or(0, int),
        seeds: v.get(2).map_or(0, int),
        lost: v.get(3).is_some_and(|e| int(e) == 0),
        mine: v.get(4).map_or(0, int),
        ..Fleet::default()
    };
    for pair in v.get(5..).unwrap_or_default().chunks(2) {
        let [k, val] = pair else { continue };
        let n = int(val);
        match text(k).as_deref() {
            Some("queued") => f.queued = n,
            Some("leased") => f.leased = n,
            Some("done") => f.done = n,
            Some("discarded") => f.discarded = n,
            Some("errors") => f.errors = n,
            Some("hosts") => f.hosts = n,
            Some("started") => f.started = n,
            _ => {}
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A queue item keeps every mark of its entry: a requisite read back from Redis
    /// is still one (or a resumed or leased one would meet skip_extensions).
    #[test]
    fn a_queue_item_keeps_the_requisite_mark() {
        let url = url::Url::parse("http://a.test/logo.png").unwrap();
        let e = Entry {
            requisite: true,
            attempt: 1,
            ..Entry::new(url, 2)
        };
        let raw = item(&e);
        assert!(raw.starts_with('R'), "{raw}");
        assert_eq!(parse_item(&raw), Some(e));
    }
}
