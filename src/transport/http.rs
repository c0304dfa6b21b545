//! HTTP(S) to one host's base URL, through a client shared by the whole run so connections are
//! pooled per host. TLS certificates are verified unless the operator passes --insecure.

use std::time::Duration;

use provision_backends::port::ExposeSecret;
use provision_backends::port::Failure;
use provision_backends::port::http::{Auth, Body, Http, Method, Request, Response};

pub struct HttpTransport {
    client: reqwest::Client,
    base: String,
}

/// Every contract provision speaks answers in a few kB; a larger body is a hostile or broken
/// server, and reading it whole could take the whole run down.
pub const MAX_BODY: usize = 4 << 20;

/// Builds the client every host of a run shares.
pub fn client(insecure: bool) -> Result<reqwest::Client, String> {
    builder()
        .tls_danger_accept_invalid_certs(insecure)
        .build()
        .map_err(|e| format!("cannot set up HTTP: {e}"))
}

/// What every client of a run is built from: the run's shared one, and each SSH tunnel's.
pub(super) fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(concat!("provision/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        // Requests carry passwords, HMACs and bearer tokens: a redirect is followed only within
        // the same origin (scheme, host and port), so neither a 307 nor a 308 can re-send them
        // elsewhere, nor from https to http. Any other redirect comes back as the answer and
        // is reported with its target.
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let same = attempt
                .previous()
                .first()
                .is_some_and(|first| first.origin() == attempt.url().origin());
            if same && attempt.previous().len() < 5 {
                attempt.follow()
            } else {
                attempt.stop()
            }
        }))
}

impl HttpTransport {
    pub fn new(client: reqwest::Client, base: &reqwest::Url) -> Self {
        HttpTransport {
            client,
            base: base.as_str().trim_end_matches('/').to_owned(),
        }
    }
}

impl Http for HttpTransport {
    async fn send(&self, request: Request) -> Result<Response, Failure> {
        let url = format!("{}{}", self.base, request.path);
        tracing::debug!(?request, "{}", self.base);
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut builder = self.client.request(method, &url);
        builder = match &request.body {
            Some(Body::Json(json)) => builder.json(json),
            Some(Body::Form(form)) => builder.form(form),
            None => builder,
        };
        builder = match &request.auth {
            Some(Auth::Bearer(token)) => builder.bearer_auth(token.expose_secret()),
            Some(Auth::Basic(id, secret)) => builder.basic_auth(id, Some(secret.expose_secret())),
            None => builder,
        };
        let unreachable = |e: reqwest::Error| failure(&self.base, &e);
        let mut resp = builder.send().await.map_err(unreachable)?;
        let status = resp.status().as_u16();
        if resp.status().is_redirection() {
            let target = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .unwrap_or("(no Location)");
            return Err(Failure::Rejected(format!(
                "{}: HTTP {status} redirect to {target}, which provision does not follow to another origin (it would re-send the request's secrets there); set this host's url to the address that answers",
                self.base
            )));
        }
        let too_large = || {
            Failure::Rejected(format!(
                "{}: the answer is larger than {} MiB, more than any Matrix answer provision reads; not read",
                self.base,
                MAX_BODY >> 20
            ))
        };
        if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        tracing::debug!(status, "{} {}", self.base, request.shown_path());
        Ok(Response { status, body })
    }
}

/// What went wrong, worded for the operator, and whether another try could help: a name
/// that does not resolve or a certificate that does not verify will not change in the
/// seconds the retry layer waits, so those are permanent; refused, reset and timed out are
/// not.
fn failure(base: &str, e: &reqwest::Error) -> Failure {
    if e.is_timeout() {
        return Failure::Unreachable(format!("{base}: timed out"));
    }
    if let Some(tls) = super::cause::tls(e) {
        return Failure::Permanent(format!("{base}: {tls}"));
    }
    // reqwest's own message only says "error sending request"; the cause is at the bottom.
    let root = super::cause::root(e);
    if super::cause::is_dns(e) {
        return Failure::Permanent(format!("{base}: the host name does not resolve ({root})"));
    }
    Failure::Unreachable(format!("{base}: {root}"))
}
