//! Showing a running crawl: a live progress line on a terminal, a periodic summary
//! line in the log otherwise, nothing with `quiet`. It only reads snapshots of the
//! stats and frontier gauges; it never changes the crawl.

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
        let task = tokio::spawn(async move {
            let bar = terminal.then(|| {
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                if let Ok(style) =
                    ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                {
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
                let text = line(&stats, &frontier);
                match &bar {
                    Some(b) => {
                        b.set_message(text);
                        b.tick();
                    }
                    None => tracing::info!("progress: {text}"),
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
