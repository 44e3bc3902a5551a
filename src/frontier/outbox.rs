//! The store's outbox: operations waiting for the next group commit, each batch
//! with its ticket.
//!
//! Why not a channel: a channel wakes the writer thread on every send, and the
//! crawl sends a few times per page (hundreds of thousands of times a second in
//! the frontier benchmark), so the wake-ups cost more than the writing. Here a
//! send appends under a mutex and the writer sleeps until a commit is due: the
//! commit interval has passed, the outbox is full, or someone waits (flush,
//! nudge, close). A full outbox makes senders wait, so a writer that falls behind
//! slows admission instead of growing memory without bound.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::store::{Op, StoreError};

/// Operations queued before a commit is forced: about a tenth of a second of the
/// writes of a crawl at 19,000 pages/s. A page's record waits for its commit, so
/// this bounds the finished pages held in memory as well: a second of them was a
/// third of a 20,000-page crawl's memory (issue 21; 25,000 and 12,000 held 10 and
/// 5 MiB more than this). A slow crawl still commits once a second, so it leaves
/// no more pending runs open than before.
pub const MAX_BATCH_OPS: usize = 6_000;
/// Operations queued before senders wait for the writer.
const MAX_QUEUED_OPS: usize = 3 * MAX_BATCH_OPS;

#[derive(Default)]
struct State {
    ops: Vec<Op>,
    /// Ticket of the last batch in `ops`.
    ticket: u64,
    next_ticket: u64,
    /// When the oldest operation in `ops` arrived.
    oldest: Option<Instant>,
    /// Commit now, whatever the interval says.
    now: bool,
    closed: bool,
}

/// One commit's worth of operations, as the writer takes it.
pub struct Batch {
    pub ops: Vec<Op>,
    pub ticket: u64,
    /// The outbox is closed: this is the last batch.
    pub last: bool,
}

pub struct Outbox {
    state: Mutex<State>,
    /// The writer waits here for a commit to be due.
    due: Condvar,
    /// Senders wait here for room.
    room: Condvar,
    every: Duration,
}

impl Outbox {
    /// An outbox committed at least every `every`.
    pub fn new(every: Duration) -> Outbox {
        Outbox {
            state: Mutex::new(State {
                next_ticket: 1,
                ..State::default()
            }),
            due: Condvar::new(),
            room: Condvar::new(),
            every,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `ops`; returns their ticket (0 for no ops). Tickets are handed out
    /// under the lock, so they are committed in order.
    pub fn send(&self, ops: Vec<Op>) -> Result<u64, StoreError> {
        if ops.is_empty() {
            return Ok(0);
        }
        let mut s = self.lock();
        while s.ops.len() >= MAX_QUEUED_OPS && !s.closed {
            s.now = true;
            self.due.notify_one();
            s = self.room.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        if s.closed {
            return Err(StoreError::Closed);
        }
        let ticket = s.next_ticket;
        s.next_ticket += 1;
        s.ticket = ticket;
        s.ops.extend(ops);
        // The first operation of a commit starts the writer's clock (it sleeps
        // without a deadline while nothing is queued): one wake-up a commit.
        if s.oldest.is_none() || s.ops.len() >= MAX_BATCH_OPS {
            s.oldest.get_or_insert_with(Instant::now);
            self.due.notify_one();
        }
        Ok(ticket)
    }

    /// The last ticket handed out.
    pub fn last_ticket(&self) -> u64 {
        self.lock().next_ticket - 1
    }

    /// Asks for a commit now.
    pub fn nudge(&self) {
        let mut s = self.lock();
        if !s.now {
            s.now = true;
            self.due.notify_one();
        }
    }

    /// No more sends; the writer commits what is queued and stops.
    pub fn close(&self) {
        self.lock().closed = true;
        self.due.notify_all();
        self.room.notify_all();
    }

    /// The writer's side: waits until a commit is due and takes its operations.
    pub fn take(&self) -> Batch {
        let mut s = self.lock();
        loop {
            let elapsed = s.oldest.map(|t| t.elapsed());
            let due = s.closed
                || s.now
                || s.ops.len() >= MAX_BATCH_OPS
                || elapsed.is_some_and(|e| e >= self.every);
            if due {
                break;
            }
            let wait = elapsed.map_or(Duration::from_secs(3600), |e| self.every - e);
            s = match self.due.wait_timeout(s, wait) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        s.now = false;
        s.oldest = None;
        let batch = Batch {
            ops: std::mem::take(&mut s.ops),
            ticket: s.ticket,
            last: s.closed,
        };
        self.room.notify_all();
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_writer_waiting_on_an_empty_outbox_commits_an_interval_after_the_first_send() {
        let out = std::sync::Arc::new(Outbox::new(Duration::from_millis(200)));
        let writer = {
            let out = out.clone();
            std::thread::spawn(move || {
                let b = out.take();
                (b.ticket, Instant::now())
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        let sent = Instant::now();
        out.send(vec![Op::Delete(1, 1)]).unwrap();
        let (ticket, at) = writer.join().unwrap();
        assert_eq!(ticket, 1);
        let waited = at - sent;
        assert!(waited >= Duration::from_millis(150), "{waited:?}");
        assert!(
            waited < Duration::from_secs(2),
            "the writer slept on: {waited:?}"
        );
    }

    #[test]
    fn tickets_are_ordered_and_a_commit_waits_for_its_interval_or_a_nudge() {
        let out = Outbox::new(Duration::from_millis(300));
        assert_eq!(out.send(vec![Op::Delete(1, 1)]).unwrap(), 1);
        assert_eq!(
            out.send(vec![Op::Delete(1, 2), Op::Delete(1, 3)]).unwrap(),
            2
        );
        assert_eq!(out.send(Vec::new()).unwrap(), 0);
        let t = Instant::now();
        let b = out.take();
        assert!(
            t.elapsed() >= Duration::from_millis(250),
            "{:?}",
            t.elapsed()
        );
        assert_eq!((b.ops.len(), b.ticket, b.last), (3, 2, false));
        out.send(vec![Op::Delete(1, 4)]).unwrap();
        out.nudge();
        let t = Instant::now();
        assert_eq!(out.take().ticket, 3);
        assert!(t.elapsed() < Duration::from_millis(250));
        out.close();
        assert!(out.take().last);
        assert!(matches!(
            out.send(vec![Op::Delete(1, 5)]),
            Err(StoreError::Closed)
        ));
    }
}
