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
    Delete,
}

/// One request. Its body may carry a password, so `Debug` shows the method and path only.
#[derive(Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub body: Option<Body>,
    pub auth: Option<Auth>,
    /// A secret in the path (a registration token being revoked), shown as `[redacted]` by
    /// `Debug` and [`Request::shown_path`], which is all that logs see of a request.
    pub secret_in_path: Option<SecretString>,
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
            secret_in_path: None,
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

    pub fn delete(path: impl Into<String>) -> Self {
        Request::new(Method::Delete, path, None)
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

    /// Marks `secret`, which the path holds (percent-encoded as [`encode`] does), as one no
    /// log may show.
    pub fn hiding(mut self, secret: &SecretString) -> Self {
        self.secret_in_path = Some(secret.clone());
        self
    }

    /// The path without its query, and with its secret (if any) redacted: what logs show.
    pub fn shown_path(&self) -> String {
        self.redacted().split('?').next().unwrap_or("").to_owned()
    }

    fn redacted(&self) -> String {
        match &self.secret_in_path {
            Some(secret) => {
                use secrecy::ExposeSecret;
                self.path
                    .replace(&encode(secret.expose_secret()), "[redacted]")
            }
            None => self.path.clone(),
        }
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} {}", self.method, self.redacted())?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_in_the_path_is_never_shown() {
        let token = SecretString::from("tok/en 1".to_owned());
        let request = Request::delete(format!("/tokens/{}?x=1", encode("tok/en 1"))).hiding(&token);
        assert_eq!(format!("{request:?}"), "Delete /tokens/[redacted]?x=1");
        assert_eq!(request.shown_path(), "/tokens/[redacted]");
        assert_eq!(Request::get("/a?b=c").shown_path(), "/a");
    }
}
