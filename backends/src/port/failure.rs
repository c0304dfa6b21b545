//! Why a request did not reach its answer: what every port returns besides its answer, and
//! what the retry layer (in the transports) reads to decide whether to try again.

use std::fmt;

/// Why a request did not succeed. The message never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The request could not be delivered (connection refused, timeout, no route). Safe to
    /// retry: nothing reached the server.
    Unreachable(String),
    /// The request could not be delivered, and retrying cannot help: the SSH key or host key
    /// was refused, the TLS certificate does not verify, the name does not resolve. Never
    /// retried (a refused key tried again and again trips fail2ban).
    Permanent(String),
    /// The server (or tool) ran and said no. Retrying the same request will not help.
    Rejected(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Unreachable(m) | Failure::Permanent(m) => write!(f, "unreachable: {m}"),
            Failure::Rejected(m) => f.write_str(m),
        }
    }
}

impl Failure {
    /// Whether the request never reached the host (as opposed to the host saying no).
    pub fn unreachable(&self) -> bool {
        matches!(self, Failure::Unreachable(_) | Failure::Permanent(_))
    }
}
