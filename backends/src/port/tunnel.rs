//! The tunnel port: HTTP to an address as the host itself sees it (its loopback, a
//! container's address on it), carried over the connection provision already holds to that
//! host. What is forwarded, and how, is the transport's; which address, the backend's.

use std::sync::Arc;

use super::http::HttpPort;

/// A host's own connection, able to carry HTTP to an address on the host.
pub trait Tunnel: Send + Sync {
    /// HTTP to `host:port` as the host sees it. Nothing connects until a request is sent;
    /// a forward that cannot be opened is the first request's [`Failure`](super::Failure).
    fn http(&self, host: &str, port: u16) -> Forward;
    /// What carries it, for messages: "over ssh root@matrix1".
    fn describe(&self) -> String;
}

pub type TunnelPort = Arc<dyn Tunnel>;

/// One forwarded address, opened once for both handles.
pub struct Forward {
    /// Requests as every HTTP port sends them: retried while the host is unreachable.
    pub http: HttpPort,
    /// The same, tried once: for the probe that decides whether to use the forward at all,
    /// which should not wait out the retries before falling back.
    pub once: HttpPort,
}
