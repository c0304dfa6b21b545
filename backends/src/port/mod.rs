//! The ports: everything a backend asks of the world, and nothing of Matrix. A backend builds
//! a [`Command`](exec::Command), a [`Request`](http::Request) or a SQL statement; a transport
//! of the `provision` crate delivers it to one host and brings back the answer or a
//! [`Failure`]. Transports import this module and nothing else of this crate
//! (`scripts/check-layers.sh` holds them to it).
//!
//! Each port is a trait with `async` methods for the transports to implement, and an
//! object-safe twin (`DynExec`, `DynHttp`, `DynSql`) that every implementation gets for free,
//! so that a backend can hold "where my commands go" as one handle ([`ExecPort`], [`HttpPort`],
//! [`SqlPort`]) whatever the transport behind it: OpenDAL's `Access` / `AccessDyn` pair.

pub mod exec;
pub mod failure;
pub mod http;
pub mod sql;
pub mod tunnel;

use std::future::Future;
use std::pin::Pin;

pub use secrecy::{ExposeSecret, SecretString};

pub use exec::ExecPort;
pub use failure::Failure;
pub use http::HttpPort;
pub use sql::SqlPort;
pub use tunnel::TunnelPort;

/// A future a trait object can return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What one host offers its backends, made by the `provision` crate from the host's
/// transport settings. A backend's constructor takes the ports it needs; nothing connects
/// until a request is sent. `Err` is a setup error (a secret that does not resolve, a
/// database URL that does not parse), shown with the host's name.
pub trait Ports {
    /// Where the server's tools run: the host, or the tool's container on it.
    fn exec(&self) -> Result<ExecPort, String>;
    /// The host itself, outside any container: where psql or the playbook's scripts live.
    fn host_exec(&self) -> Result<ExecPort, String>;
    /// HTTP requests to `base_url` (an `http://` or `https://` URL the inventory checked).
    fn http(&self, base_url: &str) -> Result<HttpPort, String>;
    /// A PostgreSQL connection of provision's own (tunnelled through the host's SSH when it
    /// has one).
    fn database(&self, url: &SecretString) -> Result<SqlPort, String>;
    /// PostgreSQL through `command` (psql, or a wrapper taking psql's arguments) run on the
    /// host itself.
    fn psql(&self, command: &str, database: Option<&str>) -> Result<SqlPort, String>;
    /// HTTP to addresses on the host, over the connection provision holds to it (its SSH).
    /// `Err` says why there is none, for the operator (the host is not reached over SSH): not
    /// a setup error, a backend that can do without it does.
    fn tunnel(&self) -> Result<TunnelPort, String>;
}
