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

pub use crate::report::{HostError, NOT_STARTED};

pub type Job<T> = Pin<Box<dyn Future<Output = Result<T, HostError>> + Send>>;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static INTERRUPT: tokio::sync::Notify = tokio::sync::Notify::const_new();

tokio::task_local! {
    /// The last transient failure of the host a task works for (see `note_retry`).
    static LAST_RETRY: Arc<std::sync::Mutex<Option<String>>>;
}

/// Records why a layer is about to retry (connection refused, 503, ...), so that a host that
/// then runs out of `--timeout` reports that cause and not only "timed out".
pub fn note_retry(why: &str) {
    let _ = LAST_RETRY.try_with(|last| {
        if let Ok(mut last) = last.lock() {
            *last = Some(why.to_owned());
        }
    });
}

/// Runs `work` as part of the current host's job (for tasks a job spawns, which do not
/// inherit task-locals): its `note_retry` calls count for that host.
pub fn same_host<F: Future>(work: F) -> impl Future<Output = F::Output> {
    let last = LAST_RETRY.try_with(Arc::clone).unwrap_or_default();
    LAST_RETRY.scope(last, work)
}

/// Resolves when Ctrl-C arrives (at once if it already has): retry sleeps end early on it.
pub async fn interruption() {
    let notified = INTERRUPT.notified();
    if interrupted() {
        return;
    }
    notified.await;
}

/// Marks the run as interrupted: nothing new starts; in-flight work finishes.
pub fn interrupt() {
    INTERRUPTED.store(true, Ordering::SeqCst);
    INTERRUPT.notify_waiters();
}

/// Whether Ctrl-C (SIGINT) arrived: nothing new starts after it; what is in flight finishes
/// and is reported. A second Ctrl-C stops at once.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// A host out of time: still retrying a transient failure means it could not be reached, and
/// that failure is the real cause; otherwise it took too long.
fn timed_out(timeout: Duration, last: &std::sync::Mutex<Option<String>>) -> HostError {
    let cause = last.lock().ok().and_then(|l| l.clone());
    match cause {
        Some(why) => HostError::Unreachable(format!(
            "timed out after {}s (last error: {why})",
            timeout.as_secs()
        )),
        None => HostError::TimedOut(format!("timed out after {}s", timeout.as_secs())),
    }
}

/// Ctrl-C (SIGINT), SIGTERM and SIGHUP all stop the run the same orderly way: nothing new
/// starts, what is in flight finishes and is reported, connections are closed, exit 130. A
/// second one stops at once, removing the run's private directory first (its SSH masters end
/// with provision: `transport::ssh`).
fn watch_interrupts(progress: MultiProgress) {
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            tracing::warn!("cannot listen for SIGTERM and SIGHUP");
            return;
        };
        let mut stop = async || {
            tokio::select! {
                r = tokio::signal::ctrl_c() => r.is_ok(),
                s = term.recv() => s.is_some(),
                s = hup.recv() => s.is_some(),
            }
        };
        if stop().await {
            interrupt();
            progress.suspend(|| {
                crate::output::error_line(
                    "interrupted: finishing what is in flight; Ctrl-C again to stop at once",
                )
            });
            if stop().await {
                crate::transport::rundir::remove();
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

/// The progress line names the hosts being worked on, not the last one finished.
fn show_working(bar: &ProgressBar, working: &std::sync::Mutex<Vec<String>>, host: &str, on: bool) {
    if let Ok(mut working) = working.lock() {
        if on {
            working.push(host.to_owned());
        } else {
            working.retain(|h| h != host);
        }
        bar.set_message(working.join(", "));
    }
}

pub struct Finished<T> {
    pub host: String,
    pub result: Result<T, HostError>,
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
    let working: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let mut set = JoinSet::new();
    let count = jobs.len();
    let mut jobs = jobs.into_iter().enumerate();
    let mut done: Vec<Option<Finished<T>>> = (0..count).map(|_| None).collect();
    // A job that panicked has no entry: its slot stays empty and is reported at the end.
    let mut record = |joined: Result<(usize, Finished<T>), tokio::task::JoinError>| {
        if let Ok((index, finished)) = joined {
            bar.inc(1);
            progress.suspend(|| on_done(&finished));
            done[index] = Some(finished);
        }
    };
    // Hosts start in inventory order, as Ansible's do: a job is spawned only once it holds its
    // slot, so no later host can take a slot first. Results are collected meanwhile.
    loop {
        let slot = tokio::select! {
            biased;
            slot = slots.clone().acquire_owned() => slot.ok(),
            Some(joined) = set.join_next(), if !set.is_empty() => {
                record(joined);
                continue;
            }
        };
        let Some((index, (host, job))) = jobs.next() else {
            break;
        };
        let (working, bar) = (working.clone(), bar.clone());
        set.spawn(async move {
            let _slot = slot;
            let start = Instant::now();
            show_working(&bar, &working, &host, true);
            let last = Arc::new(std::sync::Mutex::new(None));
            let result = if interrupted() {
                Err(HostError::NotStarted)
            } else {
                match LAST_RETRY
                    .scope(last.clone(), tokio::time::timeout(timeout, job))
                    .await
                {
                    Ok(result) => result,
                    Err(_) => Err(timed_out(timeout, &last)),
                }
            };
            show_working(&bar, &working, &host, false);
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
    while let Some(joined) = set.join_next().await {
        record(joined);
    }
    bar.finish_and_clear();
    done.into_iter()
        .enumerate()
        .map(|(i, f)| {
            f.unwrap_or_else(|| Finished {
                host: format!("#{i}"),
                result: Err(HostError::Failed(
                    "internal error: the task for this host ended abnormally".into(),
                )),
                elapsed: Duration::ZERO,
            })
        })
        .collect()
}
