//! Retries a request that never reached its server (connection refused, reset, timed out),
//! with a short backoff. A server's answer, whatever it says, is never retried here.

use std::time::Duration;

use provision_backends::Failure;
use provision_backends::http::{Http, Request, Response};

pub struct Retry<T> {
    inner: T,
    attempts: u32,
    backoff: Duration,
}

impl<T> Retry<T> {
    pub fn new(inner: T) -> Self {
        Retry {
            inner,
            attempts: 3,
            backoff: Duration::from_millis(300),
        }
    }
}

impl<T: Http + Sync> Http for Retry<T> {
    async fn send(&self, request: Request) -> Result<Response, Failure> {
        let mut delay = self.backoff;
        let mut attempt = 1;
        loop {
            let copy = Request {
                method: request.method,
                path: request.path.clone(),
                body: request.body.clone(),
                bearer: request.bearer.clone(),
            };
            match self.inner.send(copy).await {
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
