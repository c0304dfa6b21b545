//! What the homeserver admin-API backends (`synapse-api`, `dendrite-api`) read from the
//! inventory: the server's `url` and an admin's `admin_token`, sent as a bearer token.

use secrecy::SecretString;
use serde_json::json;

use crate::port::Ports;
use crate::port::http::HttpPort;
use crate::settings::{Secret, Settings, reveal};

pub struct AdminApiConfig {
    url: String,
    admin_token: Secret,
}

impl AdminApiConfig {
    /// `backend`: the backend's name; `token_is`: whose token it must be, for the "missing"
    /// message.
    pub fn read<S: Settings>(s: &S, backend: &str, token_is: &str) -> Result<Self, S::Error> {
        Ok(AdminApiConfig {
            url: s.url(
                "url",
                &format!("admin_backend {backend} calls the homeserver's admin API at this URL"),
            )?,
            admin_token: s.secret(
                "admin_token",
                &format!("admin_backend {backend} needs {token_is}"),
            )?,
        })
    }

    /// For `provision inventory`: the token by its source only.
    pub fn show(&self, kind: &str) -> serde_json::Value {
        json!({"kind": kind, "url": self.url, "admin_token": self.admin_token.to_string()})
    }

    /// The port to the server, the token read from its source, and where requests go ("via
    /// `api` at URL, token from SOURCE"), for `--check`.
    pub fn open(
        &self,
        ports: &dyn Ports,
        api: &str,
    ) -> Result<(HttpPort, SecretString, String), String> {
        Ok((
            ports.http(&self.url)?,
            reveal("admin_token", &self.admin_token)?,
            format!("via {api} at {}, token from {}", self.url, self.admin_token),
        ))
    }
}
