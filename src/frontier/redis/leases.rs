//! Admission and leases: push (check-and-insert in the shared visited set, within
//! each host's budget), take a batch of ready URLs, and end each lease (done, or
//! back to the queue). A lease whose reply was lost is found and adopted.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use ::redis::Value;

use super::wire::{item, parse_item, text};
use super::{Shared, IDLE_POLL, TAKE_BATCH};
use crate::canon::{fingerprint, HostKey};
use crate::frontier::{Admission, Contact, Entry, Lease, Next, Unreachable};

impl Shared {
    /// Gives Redis the `[[hosts]]` rate and concurrency of hosts met for the first
    /// time, before their URLs are queued (so the first lease already obeys them).
    async fn tell_host_limits(&self, entries: &[Entry]) {
        if self.host_limits.is_empty() {
            return;
        }
        for e in entries {
            let host = HostKey::of(&e.url);
            if self.told.contains(&host) {
                continue;
            }
            let (conc, iv) = self.host_limits.resolve(&host, self.conc, self.rate());
            if self.host_limits.for_host(&host).is_some() {
                let ms = iv.map_or(0, |d| d.as_millis().max(1) as u64);
                self.run("hostcfg", &args![host.as_str(), conc, ms]).await;
            }
            self.told.insert(host);
        }
    }

    /// The crawl's `per_host_rate`, from the spacing kept.
    fn rate(&self) -> f64 {
        match self.interval_ms {
            0 => 0.0,
            ms => 1000.0 / ms as f64,
        }
    }

    /// A host's configured spacing (its table's, or the crawl's).
    pub(super) fn base_interval(&self, host: &HostKey) -> Option<Duration> {
        self.host_limits.resolve(host, self.conc, self.rate()).1
    }

    /// Admits URLs once per crawl, across every process, within each host's budget.
    /// `room`: how many URLs this process could start once the page whose links
    /// these are is finished (0 for other admissions); when it has no lease
    /// waiting, the same call leases up to that many (from hosts without a rate
    /// limit: see `take` in the script).
    pub async fn push_many(&self, entries: &[Entry], room: usize) -> Vec<Admission> {
        if entries.is_empty() {
            return Vec::new();
        }
        self.tell_host_limits(entries).await;
        let want = match self.buffer.lock().is_ok_and(|b| b.is_empty()) {
            true => room.min(TAKE_BATCH),
            false => 0,
        };
        let mut args: Vec<String> = Vec::with_capacity(6 + entries.len() * 4);
        args.push(self.worker.clone());
        args.push(self.conc.to_string());
        args.push(self.max_per_host.to_string());
        args.push(want.to_string());
        args.push(self.interval_ms.to_string());
        args.push(self.max_pages.to_string());
        for e in entries {
            let fp = fingerprint(&e.url);
            args.push((fp >> 48).to_string());
            args.push((fp & 0xFFFF_FFFF_FFFF).to_string());
            args.push(HostKey::of(&e.url).as_str().to_string());
            args.push(item(e));
        }
        let mut codes = match self.run("admit", &args).await {
            Value::Array(v) => v,
            _ => Vec::new(),
        };
        if codes.len() > entries.len() {
            let leases = codes.split_off(entries.len());
            self.buffer_leases(&leases).await;
        }
        let admitted: Vec<Admission> = (0..entries.len())
            .map(|i| match codes.get(i) {
                Some(Value::Int(1)) => Admission::New,
                Some(Value::Int(2)) => Admission::HostBudget(HostKey::of(&entries[i].url)),
                _ => Admission::Seen,
            })
            .collect();
        if admitted.contains(&Admission::New) {
            self.notify.notify_waiters();
        }
        admitted
    }

    /// The next URL this process may fetch, taking a batch from Redis when the
    /// local buffer is empty. `room` is how many more this process could start now.
    pub async fn next(&self, room: usize) -> Next {
        if self.is_lost() {
            return Next::Done;
        }
        if let Some(lease) = self.pop() {
            return Next::Lease(lease);
        }
        let n = room.clamp(1, TAKE_BATCH);
        let reply = self
            .run(
                "take",
                &args![
                    self.worker,
                    n,
                    self.conc,
                    self.interval_ms,
                    self.max_pages,
                    n
                ],
            )
            .await;
        let Value::Array(items) = reply else {
            return Next::Wait(IDLE_POLL);
        };
        match items.first() {
            Some(first) if text(first).as_deref() == Some("done") => return Next::Done,
            Some(first) if text(first).as_deref() == Some("lost") => {
                self.mark_lost();
                return Next::Done;
            }
            Some(first) if text(first).as_deref() == Some("wait") => {
                let ms = match items.get(1) {
                    Some(Value::Int(ms)) => (*ms).max(1) as u64,
                    _ => IDLE_POLL.as_millis() as u64,
                };
                return Next::Wait(Duration::from_millis(ms).min(IDLE_POLL * 4));
            }
            Some(first) if text(first).as_deref() == Some("idle") => return Next::Wait(IDLE_POLL),
            None => return Next::Wait(IDLE_POLL),
            _ => {}
        }
        self.buffer_leases(&items).await;
        match self.pop() {
            Some(l) => Next::Lease(l),
            None => Next::Wait(IDLE_POLL),
        }
    }

    /// Makes the (id, host, item, unreachable cause) quadruples of a reply this
    /// process's leases, waiting in its buffer.
    async fn buffer_leases(&self, items: &[Value]) {
        let mut taken = VecDeque::new();
        for t in items.chunks(4) {
            let [Value::Int(id), host, raw, dead] = t else {
                continue;
            };
            let dead = text(dead).filter(|d| !d.is_empty()).map(Arc::from);
            if let Some(lease) = self.own(*id as u64, host, raw, dead).await {
                taken.push_back(lease);
            }
        }
        if !taken.is_empty() {
            if let Ok(mut b) = self.buffer.lock() {
                b.extend(taken);
            }
            self.notify.notify_waiters();
        }
    }

    /// Makes a lease Redis handed out this process's: once (a lease adopted after a
    /// lost reply may also come back in the reply), and readable.
    /// `dead` is why the host was declared unreachable, if it was.
    pub(super) async fn own(
        &self,
        id: u64,
        host: &Value,
        raw: &Value,
        dead: Option<Arc<str>>,
    ) -> Option<Lease> {
        if !self.held.lock().ok()?.insert(id) {
            return None;
        }
        self.lease_from(id, host, raw, dead).await
    }

    /// A reserved lease id (in `held`) made a lease; an unreadable one is dropped.
    pub(super) async fn lease_from(
        &self,
        id: u64,
        host: &Value,
        raw: &Value,
        unreachable: Option<Arc<str>>,
    ) -> Option<Lease> {
        self.in_flight.fetch_add(1, Relaxed);
        let host = text(host).and_then(|h| HostKey::parse(&h));
        let raw = text(raw).unwrap_or_default();
        match (host, parse_item(&raw)) {
            (Some(host), Some(entry)) => Some(Lease {
                shard: 0,
                id,
                host,
                entry,
                unreachable,
                last: false,
            }),
            _ => {
                // Not ours to read (a newer trawl?): drop the lease, keep going.
                tracing::warn!("skipping an unreadable frontier entry: {raw}");
                let a = args![self.worker, id, self.conc, "discarded", ""];
                self.finish_lease(id, "done", &a).await;
                None
            }
        }
    }

    /// Runs `done` or `back` for a lease and forgets it. True when Redis says
    /// this call made the lease's host unreachable.
    pub(super) async fn finish_lease(&self, id: u64, op: &str, args: &[String]) -> bool {
        let reply = self.run(op, args).await;
        if let Ok(mut held) = self.held.lock() {
            if held.remove(&id) {
                self.in_flight.fetch_sub(1, Relaxed);
            }
        }
        self.notify.notify_waiters();
        matches!(reply, Value::Int(2))
    }

    /// The `contact` arguments of `done` and `back`: news ("" none, "ok", or "f"
    /// and the cause), then the rule (see [`Unreachable`]): failures, window, gap.
    fn contact_args(&self, contact: &Contact) -> [String; 4] {
        let news = match contact {
            Contact::Unknown => String::new(),
            Contact::Reached => "ok".into(),
            Contact::Failed(cause) => format!("f{cause}"),
            Contact::Refused(cause) => format!("b{cause}"),
        };
        let rule: Unreachable = self.unreachable;
        [
            news,
            rule.after.to_string(),
            rule.window.as_millis().to_string(),
            rule.gap.as_millis().to_string(),
        ]
    }

    /// Takes in leases Redis holds for this process that it does not know of (a
    /// `take` whose reply was lost): they would otherwise stay leased for ever.
    pub(super) async fn adopt(&self) {
        let key = format!("{}l:{}", self.prefix, self.worker);
        let pairs: Vec<Value> = match self.command(::redis::cmd("HGETALL").arg(&key)).await {
            Value::Array(v) => v,
            Value::Map(m) => m.into_iter().flat_map(|(k, v)| [k, v]).collect(),
            _ => return,
        };
        let mut adopted = Vec::new();
        for pair in pairs.chunks(2) {
            let [id, stored] = pair else { continue };
            let Some(id) = text(id).and_then(|i| i.parse::<u64>().ok()) else {
                continue;
            };
            if self.held.lock().map(|h| h.contains(&id)).unwrap_or(true) {
                continue;
            }
            let Some((host, item)) = text(stored).and_then(|v| {
                v.split_once('\n')
                    .map(|(h, i)| (h.to_string(), i.to_string()))
            }) else {
                continue;
            };
            // Reserve the id first, then make sure Redis still has the lease: one that
            // completed since HGETALL (its task let go of it just now) must not be
            // taken again, and once reserved, nobody else can complete it.
            if !self.held.lock().map(|mut h| h.insert(id)).unwrap_or(false) {
                continue;
            }
            let still = self
                .command(::redis::cmd("HEXISTS").arg(&key).arg(id))
                .await;
            if !matches!(still, Value::Int(1) | Value::Boolean(true)) {
                if let Ok(mut h) = self.held.lock() {
                    h.remove(&id);
                }
                continue;
            }
            let host = Value::BulkString(host.into_bytes());
            let item = Value::BulkString(item.into_bytes());
            // Fetched as usual: a dead host fails again and is recorded so.
            if let Some(lease) = self.lease_from(id, &host, &item, None).await {
                adopted.push(lease);
            }
        }
        if !adopted.is_empty() {
            tracing::warn!(
                urls = adopted.len(),
                "took back leases whose reply was lost on the way from Redis"
            );
            if let Ok(mut b) = self.buffer.lock() {
                b.extend(adopted);
            }
            self.notify.notify_waiters();
        }
    }

    pub(super) fn pop(&self) -> Option<Lease> {
        self.buffer.lock().ok()?.pop_front()
    }

    /// Finishes a lease: recorded (`discarded`: no record) with an error kind or
    /// none. True when `contact` made the host unreachable. A lease whose end
    /// cannot make its host unreachable is settled on the next call instead of
    /// one of its own (see the module docs).
    pub async fn complete(
        &self,
        lease: Lease,
        discarded: bool,
        error: Option<&str>,
        contact: &Contact,
    ) -> bool {
        if let Some(line) = settled_line(lease.id, discarded, error, contact) {
            if let Ok(mut s) = self.settled.lock() {
                s.push((lease.id, line));
                self.in_flight.fetch_sub(1, Relaxed);
                drop(s);
                self.settle_wake.notify_one();
                self.notify.notify_waiters();
                return false;
            }
        }
        let counter = if discarded { "discarded" } else { "done" };
        let [news, after, window, gap] = self.contact_args(contact);
        let a = args![
            self.worker,
            lease.id,
            self.conc,
            counter,
            error.unwrap_or(""),
            news,
            after,
            window,
            gap
        ];
        self.finish_lease(lease.id, "done", &a).await
    }

    /// Hands a lease back: `retry` with its new attempt count, or untouched
    /// (`None`) after a robots.txt fetch or at shutdown; the host waits `delay`.
    /// True when `contact` made the host unreachable.
    pub async fn back(
        &self,
        lease: Lease,
        retry: Option<&Entry>,
        delay: Duration,
        contact: &Contact,
    ) -> bool {
        let new_item = retry.map(item).unwrap_or_default();
        let ms = delay.as_millis() as u64;
        let [news, after, window, gap] = self.contact_args(contact);
        let a = args![
            self.worker,
            lease.id,
            self.conc,
            ms,
            new_item,
            news,
            after,
            window,
            gap
        ];
        self.finish_lease(lease.id, "back", &a).await
    }
}

/// How long a settled lease waits for a call to ride on before it is sent alone.
const SETTLE_WAIT: Duration = Duration::from_millis(10);

impl Shared {
    /// Starts the task that sends settled leases no call carried within
    /// [`SETTLE_WAIT`]. It holds the frontier weakly and ends when it is dropped.
    pub(super) fn start_settler(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let wake = self.settle_wake.clone();
        tokio::spawn(async move {
            loop {
                wake.notified().await;
                tokio::time::sleep(SETTLE_WAIT).await;
                let Some(s) = weak.upgrade() else {
                    return;
                };
                let waiting = s.settled.lock().is_ok_and(|v| !v.is_empty());
                if waiting && !s.is_lost() {
                    s.run("settle", &args![s.worker, s.conc]).await;
                }
            }
        });
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Lets the settler see the frontier is gone.
        self.settle_wake.notify_one();
    }
}

/// A lease's end as the script settles it ("id counter kind news;"), if it can
/// wait for the next call: only news that cannot make a host unreachable, and an
/// error kind that cannot break the line.
fn settled_line(
    id: u64,
    discarded: bool,
    error: Option<&str>,
    contact: &Contact,
) -> Option<String> {
    let news = match contact {
        Contact::Unknown => "",
        Contact::Reached => "ok",
        Contact::Failed(_) | Contact::Refused(_) => return None,
    };
    let kind = error.unwrap_or("");
    if !kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let counter = if discarded { 'x' } else { 'd' };
    Some(format!("{id} {counter} {kind} {news};"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ends_that_cannot_make_a_host_unreachable_wait() {
        assert_eq!(
            settled_line(7, false, None, &Contact::Reached).as_deref(),
            Some("7 d  ok;")
        );
        assert_eq!(
            settled_line(8, true, Some("robots"), &Contact::Unknown).as_deref(),
            Some("8 x robots ;")
        );
        assert_eq!(
            settled_line(
                9,
                false,
                Some("connect"),
                &Contact::Failed("refused".into())
            ),
            None
        );
        assert_eq!(
            settled_line(9, false, Some("a b;"), &Contact::Reached),
            None
        );
    }
}
