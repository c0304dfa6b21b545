//! Fans jobs out over hosts: at most `forks` at once, each bounded by a timeout, with a
//! progress bar on a terminal. One host's failure never stops the others.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

pub type Job<T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send>>;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether Ctrl-C (SIGINT) arrived: nothing new starts after it; what is in flight finishes
/// and is reported. A second Ctrl-C stops at once.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// The message of work that was never started because of Ctrl-C.
pub const NOT_STARTED: &str = "interrupted before it started";

fn watch_interrupts(progress: MultiProgress) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            INTERRUPTED.store(true, Ordering::SeqCst);
            progress.suspend(|| {
                eprintln!("interrupted: finishing what is in flight; Ctrl-C again to stop at once")
            });
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(i32::from(crate::error::EXIT_INTERRUPTED));
            }
        }
    });
}

/// Where progress bars go: stderr when it is a terminal, nowhere otherwise.
pub fn progress() -> MultiProgress {
    MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr())
}

/// A bar for the users of one host in a bulk run, under the hosts bar.
pub fn host_bar(progress: &MultiProgress, host: &str, users: usize) -> ProgressBar {
    let bar = progress.add(ProgressBar::new(users as u64));
    bar.set_style(
        ProgressStyle::with_template("  {prefix:<20} {bar:30} {pos}/{len} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix(host.to_owned());
    bar
}

pub struct Finished<T> {
    pub host: String,
    pub result: Result<T, String>,
    pub elapsed: Duration,
}

/// Runs every job and returns their results in the order the jobs were given. `on_done` sees
/// each result as it arrives (to print it), with the progress bar out of the way.
pub async fn run<T: Send + 'static>(
    jobs: Vec<(String, Job<T>)>,
    forks: usize,
    timeout: Duration,
    progress: &MultiProgress,
    mut on_done: impl FnMut(&Finished<T>),
) -> Vec<Finished<T>> {
    watch_interrupts(progress.clone());
    let bar = progress.add(ProgressBar::new(jobs.len() as u64));
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{pos}/{len}] {elapsed} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let slots = Arc::new(Semaphore::new(forks));
    let mut set = JoinSet::new();
    let count = jobs.len();
    for (index, (host, job)) in jobs.into_iter().enumerate() {
        let slots = slots.clone();
        set.spawn(async move {
            // The semaphore is never closed, so acquiring only waits.
            let _slot = slots.acquire_owned().await.ok();
            let start = Instant::now();
            let result = if interrupted() {
                Err(NOT_STARTED.to_owned())
            } else {
                match tokio::time::timeout(timeout, job).await {
                    Ok(result) => result,
                    Err(_) => Err(format!("timed out after {}s", timeout.as_secs())),
                }
            };
            (
                index,
                Finished {
                    host,
                    result,
                    elapsed: start.elapsed(),
                },
            )
        });
    }
    let mut done: Vec<Option<Finished<T>>> = (0..count).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        let (index, finished) = match joined {
            Ok(pair) => pair,
            // A job that panicked: keep the run going; its slot stays empty and is reported below.
            Err(e) => {
                tracing::error!("a host task ended abnormally: {e}");
                continue;
            }
        };
        bar.inc(1);
        bar.set_message(finished.host.clone());
        progress.suspend(|| on_done(&finished));
        done[index] = Some(finished);
    }
    bar.finish_and_clear();
    done.into_iter()
        .enumerate()
        .map(|(i, f)| {
            f.unwrap_or_else(|| Finished {
                host: format!("#{i}"),
                result: Err("internal error: the task for this host ended abnormally".into()),
                elapsed: Duration::ZERO,
            })
        })
        .collect()
}
