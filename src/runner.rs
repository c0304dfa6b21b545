//! Fans jobs out over hosts: at most `forks` at once, each bounded by a timeout, with a
//! progress bar on a terminal. One host's failure never stops the others.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::report::HostError;

pub type Job<T> = Pin<Box<dyn Future<Output = Result<T, HostError>> + Send>>;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static INTERRUPT: tokio::sync::Notify = tokio::sync::Notify::const_new();

tokio::task_local! {
    /// The last transient failure of the host a task works for (see `note_retry`).
    static LAST_RETRY: Arc<std::sync::Mutex<Option<String>>>;
    /// Set when a delivery inside `watch_retries` was retried.
    static RETRIED: Arc<AtomicBool>;
    /// When the host's `--timeout` runs out (see `deadline`), and that timeout.
    static DEADLINE: (tokio::time::Instant, Duration);
}

/// The runner cuts a job this long after its deadline: a job that can report partial results
/// (a bulk host: the users already done) stops by itself at `deadline()` and keeps them.
const GRACE: Duration = Duration::from_millis(500);

/// When the current host's `--timeout` runs out: a job that stops by then reports what it
/// finished; one that does not is cut a moment later and reported "timed out" as a whole.
pub fn deadline() -> tokio::time::Instant {
    DEADLINE
        .try_with(|d| d.0)
        .unwrap_or_else(|_| tokio::time::Instant::now() + Duration::from_secs(24 * 3600))
}

/// What a job that stopped at its deadline with nothing done reports: as the runner would.
pub fn out_of_time() -> HostError {
    let timeout = DEADLINE.try_with(|d| d.1).unwrap_or_default();
    let last = LAST_RETRY.try_with(Arc::clone).unwrap_or_default();
    timed_out(timeout, &last)
}

/// Records why a layer is about to retry (connection refused, 503, ...), so that a host that
/// then runs out of `--timeout` reports that cause and not only "timed out".
pub fn note_retry(why: &str) {
    let _ = RETRIED.try_with(|r| r.store(true, Ordering::SeqCst));
    let _ = LAST_RETRY.try_with(|last| {
        if let Ok(mut last) = last.lock() {
            *last = Some(why.to_owned());
        }
    });
}

/// Runs `work` and says whether any delivery in it was retried: a request sent again after
/// its connection failed may have gone through the first time, so an "exists" that follows
/// may be this run's own doing.
pub async fn watch_retries<F: Future>(work: F) -> (F::Output, bool) {
    let retried = Arc::new(AtomicBool::new(false));
    let out = RETRIED.scope(retried.clone(), work).await;
    (out, retried.load(Ordering::SeqCst))
}

/// Runs `work` as part of the current host's job (for tasks a job spawns, which do not
/// inherit task-locals): its `note_retry` calls count for that host.
pub fn same_host<F: Future>(work: F) -> impl Future<Output = F::Output> {
    let last = LAST_RETRY.try_with(Arc::clone).unwrap_or_default();
    let deadline = DEADLINE
        .try_with(|d| *d)
        .unwrap_or_else(|_| (deadline(), Duration::ZERO));
    LAST_RETRY.scope(last, DEADLINE.scope(deadline, work))
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

/// A unit of work for `bounded`.
pub type Task<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The one bounded runner: runs `tasks` at most `limit` at once, starting them in order (as
/// Ansible starts hosts), and hands each result to `on_done` with its index. A task's slot is
/// given back only once `on_done` has seen its result, so with a limit of 1 results come in
/// the order the tasks ran. The host fan-out and each bulk host's users both run through it.
pub async fn bounded<T: Send + 'static>(
    tasks: impl IntoIterator<Item = Task<T>>,
    limit: usize,
    mut on_done: impl FnMut(usize, T),
) {
    let slots = Arc::new(Semaphore::new(limit.max(1)));
    let mut set = JoinSet::new();
    // Each running task's index and slot (held here, not by the task).
    type Running =
        std::collections::HashMap<tokio::task::Id, (usize, Option<OwnedSemaphorePermit>)>;
    let mut running = Running::new();
    let mut record = |joined: Result<(tokio::task::Id, T), tokio::task::JoinError>,
                      running: &mut Running| {
        match joined {
            Ok((id, out)) => {
                if let Some((index, _slot)) = running.remove(&id) {
                    on_done(index, out);
                }
            }
            // A task that panicked: its result stays missing (the caller says so); its slot
            // is given back so the rest still run.
            Err(e) => {
                tracing::error!("a task ended abnormally: {e}");
                running.remove(&e.id());
            }
        }
    };
    let mut tasks = tasks.into_iter().enumerate();
    loop {
        let slot = tokio::select! {
            biased;
            Some(joined) = set.join_next_with_id(), if !set.is_empty() => {
                record(joined, &mut running);
                continue;
            }
            slot = slots.clone().acquire_owned() => slot.ok(),
        };
        let Some((index, task)) = tasks.next() else {
            break;
        };
        running.insert(set.spawn(task).id(), (index, slot));
    }
    while let Some(joined) = set.join_next_with_id().await {
        record(joined, &mut running);
    }
}

/// Runs every job and returns their results in the order the jobs were given. `on_done` sees
/// each result as it arrives (to print it), with the progress bar out of the way.
pub async fn run<T: Send + 'static>(
    jobs: Vec<(String, Job<T>)>,
    forks: usize,
    timeout: Duration,
    progress: &MultiProgress,
    mut on_done: impl FnMut(usize, &Finished<T>),
) -> Vec<Finished<T>> {
    watch_interrupts(progress.clone());
    let bar = progress.add(ProgressBar::new(jobs.len() as u64));
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{pos}/{len}] {elapsed} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let working: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let count = jobs.len();
    let mut done: Vec<Option<Finished<T>>> = (0..count).map(|_| None).collect();
    let hosts = jobs.into_iter().map(|(host, job)| {
        let (working, bar) = (working.clone(), bar.clone());
        Box::pin(async move {
            let start = Instant::now();
            show_working(&bar, &working, &host, true);
            let last = Arc::new(std::sync::Mutex::new(None));
            let result = if interrupted() {
                Err(HostError::NotStarted)
            } else {
                let deadline = tokio::time::Instant::now() + timeout;
                let cut = tokio::time::timeout(timeout + GRACE, job);
                match LAST_RETRY
                    .scope(last.clone(), DEADLINE.scope((deadline, timeout), cut))
                    .await
                {
                    Ok(result) => result,
                    Err(_) => Err(timed_out(timeout, &last)),
                }
            };
            show_working(&bar, &working, &host, false);
            Finished {
                host,
                result,
                elapsed: start.elapsed(),
            }
        }) as Task<Finished<T>>
    });
    bounded(hosts, forks, |index, finished| {
        bar.inc(1);
        progress.suspend(|| on_done(index, &finished));
        done[index] = Some(finished);
    })
    .await;
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
