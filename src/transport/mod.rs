//! Transports deliver what backends ask for to one host and bring back the answer. They know
//! nothing of Matrix. Retry wraps any of them once, as a layer.

mod http;
mod retry;

pub use http::{HttpTransport, client as http_client};
pub use retry::Retry;
