//! Retries what never reached its host (connection refused, reset, timed out, SSH down, no
//! such container yet), with an exponential backoff. An answer, whatever it says, is never retried
//! here: "ran and failed" is the backend's to interpret.

use std::future::Future;
use std::time::Duration;

use provision_backends::Failure;
use provision_backends::exec::{self, Exec};
use provision_backends::http::{Http, Request, Response};

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
        let mut delay = self.backoff;
        let mut attempt = 1;
        loop {
            match attempt_once().await {
                Err(Failure::Unreachable(why)) if attempt < self.attempts => {
                    tracing::info!("attempt {attempt} failed ({why}); retrying in {delay:?}");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                other => return other,
            }
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
