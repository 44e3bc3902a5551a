//! A panic in one page's work costs that page only: it ends with an error record,
//! never a lease that stays taken for ever (a crawl that never ends).
//!
//! Every input is hostile and every parser may have a bug; a guard here catches
//! what the range checks and the parsers' own guards miss. It must never swallow a
//! panic silently: the page is recorded as `other: internal error ...` and the
//! panic is logged.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

tokio::task_local! {
    /// Set by whatever ends the page's lease (record, retry, requeue, discard), so
    /// that a panic after that point does not end it twice.
    static ENDED: Arc<AtomicBool>;
}

/// Notes that the current page's lease has been handed back to the frontier.
pub(super) fn lease_ended() {
    let _ = ENDED.try_with(|e| e.store(true, Ordering::Release));
}

/// Runs one page's work; on a panic before its lease was ended, returns the
/// panic's message so the caller can end the lease with an error record.
pub(super) async fn guarded<F: Future<Output = ()>>(work: F) -> Result<(), String> {
    let ended = Arc::new(AtomicBool::new(false));
    let caught = CatchUnwind(Box::pin(ENDED.scope(ended.clone(), work))).await;
    match caught {
        Ok(()) => Ok(()),
        Err(message) if ended.load(Ordering::Acquire) => {
            tracing::error!("panic after a page was recorded: {message}");
            Ok(())
        }
        Err(message) => Err(message),
    }
}

/// A future whose panic becomes an `Err` with the panic's message.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
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
        let r = guarded(async {
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
        let r = guarded(async {
            lease_ended();
            tokio::task::yield_now().await;
            panic!("late");
        })
        .await;
        assert_eq!(r, Ok(()));
    }

    #[tokio::test]
    async fn work_without_a_panic_passes_through() {
        assert_eq!(guarded(async { lease_ended() }).await, Ok(()));
        // Outside a guarded scope, marking is harmless.
        lease_ended();
    }
}
