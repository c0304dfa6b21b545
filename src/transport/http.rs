//! HTTP(S) to one host's base URL, through a client shared by the whole run so connections are
//! pooled per host. TLS certificates are verified unless the operator passes --insecure.

use std::time::Duration;

use provision_backends::ExposeSecret;
use provision_backends::Failure;
use provision_backends::http::{Auth, Body, Http, Method, Request, Response};

pub struct HttpTransport {
    client: reqwest::Client,
    base: String,
}

/// Builds the client every host of a run shares.
pub fn client(insecure: bool) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .user_agent(concat!("provision/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .tls_danger_accept_invalid_certs(insecure)
        .build()
        .map_err(|e| format!("cannot set up HTTP: {e}"))
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
        let resp = builder.send().await.map_err(unreachable)?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(unreachable)?.to_vec();
        tracing::debug!(
            status,
            "{} {}",
            self.base,
            request.path.split('?').next().unwrap_or("")
        );
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
