//! A panic in one page's work costs that page only: it ends with an error record,
//! never a lease that stays taken for ever (a crawl that never ends).
//!
//! Every input is hostile and every parser may have a bug; a guard here catches
//! what the range checks and the parsers' own guards miss. It must never swallow a
//! panic silently: the page is recorded as `other: internal error ...` and the
//! panic is logged.
//!
//! The page's future is wrapped where it is made, never boxed or moved again: it
//! is large, and this is the hot path.

use std::cell::Cell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

thread_local! {
    /// Set by whatever ends a page's lease (record, retry, requeue, discard) during
    /// a poll of that page's [`Guarded`] future on this thread.
    static ENDED_NOW: Cell<bool> = const { Cell::new(false) };
}

/// Notes that the current page's lease has been handed back to the frontier.
pub(super) fn lease_ended() {
    ENDED_NOW.with(|e| e.set(true));
}

pin_project_lite::pin_project! {
    /// One page's work: resolves to `Err(message)` when it panicked before its
    /// lease was ended, so the caller can end the lease with an error record.
    pub(super) struct Guarded<F> {
        #[pin]
        work: F,
        ended: bool,
    }
}

impl<F> Guarded<F> {
    pub(super) fn new(work: F) -> Guarded<F> {
        Guarded { work, ended: false }
    }
}

impl<F: Future<Output = ()>> Future for Guarded<F> {
    type Output = Result<(), String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let before = ENDED_NOW.with(|e| e.replace(false));
        let polled = catch_unwind(AssertUnwindSafe(|| this.work.poll(cx)));
        if ENDED_NOW.with(|e| e.replace(before)) {
            *this.ended = true;
        }
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(())) => Poll::Ready(Ok(())),
            Err(payload) if *this.ended => {
                let message = panic_message(payload.as_ref());
                tracing::error!("panic after a page was recorded: {message}");
                Poll::Ready(Ok(()))
            }
            Err(payload) => Poll::Ready(Err(panic_message(payload.as_ref()))),
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_before_the_lease_ended_is_reported() {
        let r = Guarded::new(async {
            tokio::task::yield_now().await;
            let d: f64 = "1e30".parse().unwrap_or(0.0);
            let _ = std::time::Duration::from_secs_f64(d * 1e300);
        })
        .await;
        let message = r.expect_err("the panic is caught");
        assert!(message.contains("Duration"), "{message}");
    }

    #[tokio::test]
    async fn a_panic_after_the_lease_ended_is_not_reported_twice() {
        let r = Guarded::new(async {
            lease_ended();
            tokio::task::yield_now().await;
            panic!("late");
        })
        .await;
        assert_eq!(r, Ok(()));
    }

    #[tokio::test]
    async fn one_pages_end_is_not_another_pages() {
        // A lease ended in one guarded poll does not leak into the next one.
        let first = Guarded::new(async { lease_ended() }).await;
        assert_eq!(first, Ok(()));
        let second = Guarded::new(async { panic!("early") }).await;
        assert_eq!(second, Err("early".to_string()));
        // Outside a guarded poll, marking is harmless.
        lease_ended();
        assert_eq!(
            Guarded::new(async { panic!("again") }).await,
            Err("again".into())
        );
    }
}
