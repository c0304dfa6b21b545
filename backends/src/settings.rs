//! How a backend is made from a host's inventory settings. Each backend's file holds its
//! inventory keys, reads them through [`Settings`] (errors come back located at the key's file
//! and line) into a [`Config`], and builds itself from that config and the host's
//! [`Ports`](crate::port::Ports). The `provision` crate's registry lists the backends; nothing
//! else names them.

use std::fmt;
use std::sync::Arc;

use secrecy::SecretString;
use serde::de::DeserializeOwned;

use crate::account::{Account, Op};
use crate::keys;
use crate::port::Ports;
use crate::registration::Fields;

/// A secret's source (`{file: PATH}`, `{env: NAME}`): shown by its `Display`, read only when
/// a backend is built for a run.
pub trait SecretSource: fmt::Display + Send + Sync {
    fn resolve(&self) -> Result<SecretString, String>;
}

pub type Secret = Arc<dyn SecretSource>;

/// `{login: {user: NAME, password: SOURCE}}`: an account to log in as, its password read from
/// its source only when the login is made.
#[derive(Clone)]
pub struct Login {
    pub user: String,
    pub password: Secret,
}

/// Reads a secret for a backend being built; the error names the key and the source, never
/// the value.
pub fn reveal(key: &str, secret: &Secret) -> Result<SecretString, String> {
    secret
        .resolve()
        .map_err(|e| format!("{key} ({secret}): {e}"))
}

/// Which homeserver the host runs: the inventory's `homeserver`, else what its backends imply,
/// else Synapse. The SQL backend's schema follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Homeserver {
    Synapse,
    Dendrite,
    /// Serves Synapse's shared-secret registration and most of its admin API
    /// (matrix-construct/tuwunel docs/development/compliance/synapse-admin.md), so the
    /// Synapse-compatible HTTP backends drive it; it keeps accounts in RocksDB, not SQL, and
    /// has no `register_new_matrix_user`.
    Tuwunel,
    /// Has no shared-secret endpoint and no admin API: accounts are made by the admin bot in
    /// `#admins:SERVER_NAME` (continuwuity/continuwuity src/admin/user/), which the
    /// `admin-room` backend drives. It keeps accounts in RocksDB, not SQL.
    Continuwuity,
}

impl Homeserver {
    pub const ALL: &'static [Homeserver] = &[
        Homeserver::Synapse,
        Homeserver::Dendrite,
        Homeserver::Tuwunel,
        Homeserver::Continuwuity,
    ];

    /// Its name in the inventory (`homeserver: tuwunel`).
    pub fn name(self) -> &'static str {
        match self {
            Homeserver::Synapse => "synapse",
            Homeserver::Dendrite => "dendrite",
            Homeserver::Tuwunel => "tuwunel",
            Homeserver::Continuwuity => "continuwuity",
        }
    }
}

/// A host whose accounts MAS owns: `mas: {url, client_id, client_secret}`.
#[derive(Clone)]
pub struct Mas {
    pub url: String,
    pub client_id: String,
    pub client_secret: Secret,
}

/// One host's settings as a backend reads them. Every error is located at the key (or the
/// host, for a missing key) by the inventory.
pub trait Settings {
    type Error;
    /// A required non-empty string; `why` tells what it is, for the "missing" message.
    fn string(&self, key: &str, why: &str) -> Result<String, Self::Error>;
    /// An optional non-empty string.
    fn optional(&self, key: &str) -> Result<Option<String>, Self::Error>;
    /// A required `http://` or `https://` URL without credentials in it.
    fn url(&self, key: &str, why: &str) -> Result<String, Self::Error>;
    /// An optional URL-like string a tool gets on the host: no credentials in it.
    fn optional_url(&self, key: &str) -> Result<Option<String>, Self::Error>;
    /// A required secret source.
    fn secret(&self, key: &str, why: &str) -> Result<Secret, Self::Error>;
    /// `{login: {user: NAME, password: SOURCE}}` at `key`; `None` when `key` holds anything
    /// else (a secret source, read with [`Settings::secret`]).
    fn login(&self, key: &str) -> Result<Option<Login>, Self::Error>;
    /// An optional mapping, deserialized; `shape` is shown when it does not fit.
    fn mapping<T: DeserializeOwned>(
        &self,
        key: &str,
        shape: &str,
    ) -> Result<Option<T>, Self::Error>;
    /// Whether the key is set, and at which line.
    fn line(&self, key: &str) -> Option<u64>;
    /// An error located at the key.
    fn wrong(&self, key: &str, why: &str) -> Self::Error;
    /// An error for a key that is missing, located at the host.
    fn missing(&self, key: &str, why: &str) -> Self::Error;
    /// The host's MAS, when its accounts are MAS's.
    fn mas(&self) -> Option<&Mas>;
    /// The host's Matrix server name (`server_name`, checked by the inventory): for backends
    /// whose server knows users by localpart only.
    fn server_name(&self) -> &str;
    fn homeserver(&self) -> Homeserver;
}

/// A backend as the inventory knows it, before a run: its settings read and checked.
pub trait Config: Send + Sync {
    /// For `provision inventory`: what it will use, secrets by their source only.
    fn show(&self) -> serde_json::Value;
    /// Builds the backend over the host's ports, resolving its secrets. Nothing connects.
    fn build(&self, ports: &dyn Ports) -> Result<Box<dyn Account>, String>;
    /// The admin API it calls with an `admin_token`, for `provision login`.
    fn admin_api(&self) -> Option<&crate::admin_api::AdminApiConfig> {
        None
    }
}

/// A kind of backend, as the registry lists it.
pub trait Backend {
    /// Its name in the inventory (`backend: NAME`).
    const NAME: &'static str;
    /// The inventory keys it reads (the host's own — `server_name`, `transport`, `ssh`,
    /// `docker`, `mas` — are the inventory's).
    const KEYS: &'static [&'static str];
    /// Those of its keys whose value is a mapping, each with that mapping's keys
    /// (read from its struct by [`keys::of`]): `psql: {command, database}`.
    const MAPPINGS: &'static [keys::Mapping] = &[];
    const OPS: &'static [Op];
    /// The optional registration fields it passes on.
    const FIELDS: Fields = Fields::NONE;
    /// Whether it runs a program on the host (so the host needs a `transport`), rather than
    /// talking to a URL.
    const RUNS_PROGRAMS: bool;
    /// The homeserver it implies, when it implies one.
    const HOMESERVER: Option<Homeserver> = None;
    /// It changes accounts through MAS: on a host whose accounts MAS owns, only such a backend
    /// may set passwords, lock or deactivate (the inventory checks it).
    const THROUGH_MAS: bool = false;
    fn configure<S: Settings>(settings: &S) -> Result<Box<dyn Config>, S::Error>;
}

/// For backends that register through Synapse's shared-secret API (directly or through its
/// tool): Synapse does not serve it when MAS owns the accounts, so such a host is refused.
pub fn refuse_mas<S: Settings>(s: &S, what: &str) -> Result<(), S::Error> {
    match (s.mas(), s.line("mas")) {
        (Some(_), line) => Err(s.wrong(
            "backend",
            &format!(
                "this host's accounts are managed by MAS (`mas` is set at line {}); Synapse does not serve shared-secret registration then, which {what} relies on: use backend: mas-api or mas-cli",
                line.unwrap_or(0)
            ),
        )),
        (None, _) => Ok(()),
    }
}
