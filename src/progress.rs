//! Showing a running crawl: a live progress line on a terminal, a periodic summary
//! line in the log otherwise, nothing with `quiet`. It only reads snapshots of the
//! stats and frontier gauges; it never changes the crawl.
//!
//! The live line fits an 80-column terminal whatever the numbers (they are written
//! short: `12.3k`, `1.2M`); with `max_pages` set it is a bar with a percentage and
//! an estimate of the time left.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::frontier::Frontier;
use crate::stats::Stats;

pub struct Progress {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// A count in at most five columns: `999`, `12.3k`, `123k`, `1.2M`, `12.3G`.
fn short(n: f64) -> String {
    let n = if n.is_finite() { n.max(0.0) } else { 0.0 };
    let (v, unit) = match n {
        n if n < 1e3 => return format!("{}", n.round() as u64),
        n if n < 1e6 => (n / 1e3, "k"),
        n if n < 1e9 => (n / 1e6, "M"),
        n if n < 1e12 => (n / 1e9, "G"),
        n => (n / 1e12, "T"),
    };
    match v < 100.0 {
        true => format!("{v:.1}{unit}"),
        false => format!("{}{unit}", (v.round() as u64).min(999)),
    }
}

/// The numbers of the live line, short.
fn live_text(n: &Numbers, with_bar: bool) -> String {
    match with_bar {
        // The bar and its estimate take the rest of the line.
        true => format!(
            "{} {}/s err {} q {}",
            short(n.pages as f64),
            short(n.rate),
            short(n.errors as f64),
            short(n.queued as f64)
        ),
        // (`ok` is the pages less the errors: the log line has it.)
        false => format!(
            "pages {} {}/s err {} queued {} flight {} hosts {}",
            short(n.pages as f64),
            short(n.rate),
            short(n.errors as f64),
            short(n.queued as f64),
            short(n.in_flight as f64),
            short(n.hosts as f64)
        ),
    }
}

/// The live line's templates: a spinner and the elapsed time, or with a page
/// budget a bar, its percentage and the time left.
const SPINNER: &str = "{spinner} [{elapsed_precise}] {msg}";
const BAR: &str = "[{elapsed_precise}] {bar:16} {percent:>3}% eta {eta:>4} {msg}";

/// One snapshot of what the lines show.
struct Numbers {
    pages: u64,
    rate: f64,
    errors: u64,
    queued: u64,
    in_flight: u64,
    hosts: u64,
}

fn numbers(stats: &Stats, frontier: &Frontier) -> Numbers {
    let g = frontier.gauges();
    let s = stats.summary(g);
    Numbers {
        pages: s.pages,
        rate: s.pages_per_sec,
        errors: stats.errors_total(),
        queued: g.queued,
        in_flight: g.in_flight,
        hosts: g.hosts,
    }
}

fn line(stats: &Stats, frontier: &Frontier) -> String {
    let g = frontier.gauges();
    let s = stats.summary(g);
    format!(
        "pages {} ({:.1}/s) | ok {} | errors {} | queued {} | in flight {} | hosts {}",
        s.pages,
        s.pages_per_sec,
        s.pages_ok,
        stats.errors_total(),
        g.queued,
        g.in_flight,
        g.hosts
    )
}

impl Progress {
    pub fn start(config: &Config, stats: Arc<Stats>, frontier: Arc<Frontier>) -> Progress {
        if config.run.quiet {
            return Progress {
                stop: None,
                task: None,
            };
        }
        let (tx, mut rx) = oneshot::channel();
        let terminal = std::io::stderr().is_terminal();
        let period = if terminal {
            Duration::from_millis(500)
        } else {
            Duration::from_secs_f64(config.run.progress_interval)
        };
        let budget = config.scope.max_pages;
        let task = tokio::spawn(async move {
            let bar = terminal.then(|| {
                let len = (budget > 0).then_some(budget);
                let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
                let template = if budget > 0 { BAR } else { SPINNER };
                if let Ok(style) = ProgressStyle::with_template(template) {
                    bar.set_style(style);
                }
                bar
            });
            let mut tick = tokio::time::interval(period);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = &mut rx => break,
                }
                match &bar {
                    Some(b) => {
                        let n = numbers(&stats, &frontier);
                        if budget > 0 {
                            b.set_position(n.pages.min(budget));
                        }
                        b.set_message(live_text(&n, budget > 0));
                        b.tick();
                    }
                    None => tracing::info!("progress: {}", line(&stats, &frontier)),
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        });
        Progress {
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub async fn finish(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Widest live line, in columns: an 80-column terminal, less one so that the
    /// cursor never wraps.
    const LIVE_WIDTH: usize = 79;

    #[test]
    fn counts_are_written_in_five_columns_at_most() {
        for (n, text) in [
            (0.0, "0"),
            (999.0, "999"),
            (1234.0, "1.2k"),
            (99_949.0, "99.9k"),
            (123_456.0, "123k"),
            (1_234_567.0, "1.2M"),
            (f64::NAN, "0"),
            (-5.0, "0"),
        ] {
            assert_eq!(short(n), text);
        }
        for k in 0..60 {
            let n = 10f64.powi(k / 4) * (1.0 + f64::from(k % 4) * 2.4);
            assert!(short(n).len() <= 5, "{n}: {}", short(n));
        }
    }

    /// The live line, drawn by indicatif at its widest (the largest numbers, a
    /// crawl running for days), fits 80 columns, with and without a bar.
    #[test]
    fn the_live_line_fits_80_columns() {
        let big = Numbers {
            pages: 987_654_321_000,
            rate: 123_456.7,
            errors: 987_654_321_000,
            queued: 987_654_321_000,
            in_flight: 65_536,
            hosts: 987_654_321,
        };
        for (template, with_bar) in [(SPINNER, false), (BAR, true)] {
            assert!(ProgressStyle::with_template(template).is_ok(), "{template}");
            let msg = live_text(&big, with_bar);
            // What the template adds around the message, at its widest: the elapsed
            // time as indicatif writes it past 10,000 hours ("[12345:00:00] "), the
            // bar, its percentage and the estimate ("eta 999d").
            let fixed = match with_bar {
                true => 14 + 16 + " 100% eta ".len() + 4 + 1,
                false => "x ".len() + 14,
            };
            assert!(
                fixed + msg.len() <= LIVE_WIDTH,
                "{} + {}: {msg}",
                fixed,
                msg.len()
            );
        }
    }
}
