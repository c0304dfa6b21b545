//! The HTTP port: the requests an HTTP backend asks a transport to send. Paths are relative to
//! the host's base URL, which only the transport knows.

use std::fmt;
use std::future::Future;

use secrecy::SecretString;

use std::sync::Arc;

use super::{BoxFuture, Failure};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
}

/// One request. Its body may carry a password, so `Debug` shows the method and path only.
#[derive(Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub body: Option<Body>,
    pub auth: Option<Auth>,
}

#[derive(Clone)]
pub enum Body {
    Json(serde_json::Value),
    /// `application/x-www-form-urlencoded`, as OAuth 2.0 token endpoints want.
    Form(Vec<(String, String)>),
}

#[derive(Clone)]
pub enum Auth {
    Bearer(SecretString),
    /// HTTP basic authentication: an OAuth 2.0 client id and secret.
    Basic(String, SecretString),
}

impl Request {
    fn new(method: Method, path: impl Into<String>, body: Option<Body>) -> Self {
        Request {
            method,
            path: path.into(),
            body,
            auth: None,
        }
    }

    pub fn get(path: impl Into<String>) -> Self {
        Request::new(Method::Get, path, None)
    }

    pub fn post(path: impl Into<String>, body: serde_json::Value) -> Self {
        Request::new(Method::Post, path, Some(Body::Json(body)))
    }

    pub fn put(path: impl Into<String>, body: serde_json::Value) -> Self {
        Request::new(Method::Put, path, Some(Body::Json(body)))
    }

    pub fn post_form(path: impl Into<String>, form: &[(&str, &str)]) -> Self {
        let form = form
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Request::new(Method::Post, path, Some(Body::Form(form)))
    }

    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = Some(auth);
        self
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} {}", self.method, self.path)?;
        if self.body.is_some() {
            f.write_str(" (body withheld)")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, for a path segment or
/// query value (user IDs hold `@`, `:` and may hold `/` and `+`).
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Something that can send a request to one host and return its answer. A transport
/// error means nothing (usable) came back: the request may be retried.
pub trait Http {
    fn send(&self, request: Request) -> impl Future<Output = Result<Response, Failure>> + Send;
}

/// [`Http`] as a trait object: every `Http` is one.
pub trait DynHttp: Send + Sync {
    fn send_boxed(&self, request: Request) -> BoxFuture<'_, Result<Response, Failure>>;
}

impl<T: Http + Send + Sync> DynHttp for T {
    fn send_boxed(&self, request: Request) -> BoxFuture<'_, Result<Response, Failure>> {
        Box::pin(self.send(request))
    }
}

/// A backend's handle on the server it sends requests to.
pub type HttpPort = Arc<dyn DynHttp>;

impl Http for HttpPort {
    fn send(&self, request: Request) -> impl Future<Output = Result<Response, Failure>> + Send {
        (**self).send_boxed(request)
    }
}
