//! Retries what never reached its host for a reason that can pass (connection refused, reset,
//! timed out, SSH down, no such container yet), with an exponential backoff. What cannot pass
//! (`Failure::Permanent`: a refused key, a host key or certificate that does not verify, a name
//! that does not resolve) is returned at once: a refused key tried six times is six strikes
//! towards fail2ban's maxretry. An answer, whatever it says (401, 403, 5xx), is never retried
//! here: "ran and failed" is the backend's to interpret.

use std::future::Future;
use std::time::{Duration, Instant};

use provision_backends::port::Failure;
use provision_backends::port::exec::{self, Exec};
use provision_backends::port::http::{Http, Request, Response};

pub struct Retry<T> {
    inner: T,
    attempts: u32,
    backoff: Duration,
}

impl<T> Retry<T> {
    /// Six attempts, 0.5 s apart doubling to 8 s: about 15 s, enough to ride out a homeserver
    /// or sshd restart; a host that stays down is then reported.
    pub fn new(inner: T) -> Self {
        Retry {
            inner,
            attempts: 6,
            backoff: Duration::from_millis(500),
        }
    }

    pub fn into_inner(self) -> T {
        self.inner
    }

    async fn retry<R, F, Fut>(&self, mut attempt_once: F) -> Result<R, Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<R, Failure>>,
    {
        let start = Instant::now();
        let mut delay = self.backoff;
        let mut attempt = 1;
        loop {
            let why = match attempt_once().await {
                Err(Failure::Unreachable(why)) => why,
                other => return other,
            };
            let tried = |attempt: u32| {
                if attempt == 1 {
                    why.clone()
                } else {
                    format!(
                        "{why} (tried {attempt} times over {}s)",
                        start.elapsed().as_secs()
                    )
                }
            };
            if attempt >= self.attempts {
                return Err(Failure::Unreachable(tried(attempt)));
            }
            tracing::info!("attempt {attempt} failed ({why}); retrying in {delay:?}");
            // A host that runs out of --timeout while waiting here reports this cause.
            crate::runner::note_retry(&why);
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                // Ctrl-C: the run is winding down; another attempt would only delay it.
                () = crate::runner::interruption() => {
                    return Err(Failure::Unreachable(format!(
                        "{}; not retried: interrupted",
                        tried(attempt)
                    )));
                }
            }
            delay *= 2;
            attempt += 1;
        }
    }
}

impl<T: Http + Sync> Http for Retry<T> {
    async fn send(&self, request: Request) -> Result<Response, Failure> {
        self.retry(|| self.inner.send(request.clone())).await
    }
}

impl<T: Exec + Sync> Exec for Retry<T> {
    async fn run(&self, command: exec::Command) -> Result<exec::Output, Failure> {
        self.retry(|| self.inner.run(command.clone())).await
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Answers each request with the next failure of its script (the last one repeats).
    struct Failing {
        script: Vec<Failure>,
        tries: AtomicU32,
    }

    impl Http for Failing {
        async fn send(&self, _: Request) -> Result<Response, Failure> {
            let n = self.tries.fetch_add(1, Ordering::SeqCst) as usize;
            Err(self.script[n.min(self.script.len() - 1)].clone())
        }
    }

    fn retry(script: Vec<Failure>) -> Retry<Failing> {
        Retry {
            inner: Failing {
                script,
                tries: AtomicU32::new(0),
            },
            attempts: 6,
            backoff: Duration::from_millis(1),
        }
    }

    fn run(r: &Retry<Failing>) -> Result<Response, Failure> {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(r.send(Request::get("/")))
    }

    #[test]
    fn permanent_failures_are_tried_once() {
        let r = retry(vec![Failure::Permanent(
            "the server refused the key".into(),
        )]);
        assert_eq!(
            run(&r).err(),
            Some(Failure::Permanent("the server refused the key".into()))
        );
        assert_eq!(r.inner.tries.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn transient_failures_are_retried_and_the_last_says_how_often() {
        let r = retry(vec![Failure::Unreachable("connection refused".into())]);
        let Err(Failure::Unreachable(why)) = run(&r) else {
            panic!("still unreachable")
        };
        assert!(
            why.starts_with("connection refused (tried 6 times over "),
            "{why}"
        );
        assert_eq!(r.inner.tries.load(Ordering::SeqCst), 6);
    }

    #[test]
    fn a_permanent_failure_after_transient_ones_ends_the_retries() {
        let r = retry(vec![
            Failure::Unreachable("connection refused".into()),
            Failure::Permanent("the TLS certificate is not trusted".into()),
        ]);
        assert!(matches!(run(&r), Err(Failure::Permanent(_))));
        assert_eq!(r.inner.tries.load(Ordering::SeqCst), 2);
    }
}
