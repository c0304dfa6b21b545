//! HTTP to an address on an SSH host, through a forward on the host's one master connection
//! (openssh's `request_port_forward` on the mux session: `ssh -O forward`, no second
//! connection and no port opened on the host). The local end is a Unix socket in the run's
//! private directory ([`super::rundir`]), so no other user of this machine can send requests
//! through it; reqwest connects to it (`ClientBuilder::unix_socket`) and speaks plain HTTP to
//! the address as if it were local.

use std::sync::Arc;

use provision_backends::port::Failure;
use provision_backends::port::http::{Http, HttpPort, Request, Response};
use provision_backends::port::tunnel::{Forward, Tunnel};
use tokio::sync::OnceCell;

use super::{HttpTransport, Retry, Ssh};

pub struct SshTunnel {
    ssh: Arc<Ssh>,
}

impl SshTunnel {
    pub fn new(ssh: Arc<Ssh>) -> Self {
        SshTunnel { ssh }
    }
}

impl Tunnel for SshTunnel {
    fn http(&self, host: &str, port: u16) -> Forward {
        let forwarded = Shared(Arc::new(Forwarded {
            ssh: self.ssh.clone(),
            host: host.to_owned(),
            port,
            http: OnceCell::new(),
        }));
        Forward {
            http: Arc::new(Retry::new(forwarded.clone())) as HttpPort,
            once: Arc::new(forwarded),
        }
    }

    fn describe(&self) -> String {
        format!(
            "over {}",
            provision_backends::port::exec::Exec::describe(&*self.ssh)
        )
    }
}

/// One forward, for both of [`Forward`]'s handles.
#[derive(Clone)]
struct Shared(Arc<Forwarded>);

impl Http for Shared {
    async fn send(&self, request: Request) -> Result<Response, Failure> {
        self.0.send(request).await
    }
}

/// One forwarded address, opened on the first request.
struct Forwarded {
    ssh: Arc<Ssh>,
    host: String,
    port: u16,
    http: OnceCell<HttpTransport>,
}

impl Forwarded {
    async fn open(&self) -> Result<HttpTransport, Failure> {
        let socket = super::rundir::entry("h")
            .map_err(|e| Failure::Unreachable(format!("cannot make the forward's socket: {e}")))?;
        self.ssh.forward(&socket, &self.host, self.port).await?;
        let client = super::http::builder()
            .unix_socket(socket)
            .build()
            .map_err(|e| Failure::Permanent(format!("cannot set up HTTP: {e}")))?;
        // The address as the host sees it: it is what the Host header says, and where a
        // message points the operator. An IPv6 address goes in brackets (RFC 3986).
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let url = reqwest::Url::parse(&format!("http://{host}:{}", self.port))
            .map_err(|e| Failure::Permanent(format!("{host}:{}: {e}", self.port)))?;
        Ok(HttpTransport::new(client, &url))
    }
}

impl Http for Forwarded {
    async fn send(&self, request: Request) -> Result<Response, Failure> {
        let http = self.http.get_or_try_init(|| self.open()).await?;
        http.send(request).await
    }
}
