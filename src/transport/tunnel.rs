//! HTTP to an address on an SSH host, through a forward on the host's one master connection
//! (openssh's `request_port_forward` on the mux session: `ssh -O forward`, no second
//! connection and no port opened on the host). The local end is a Unix socket in the run's
//! private directory ([`super::rundir`]), so no other user of this machine can send requests
//! through it; reqwest connects to it (`ClientBuilder::unix_socket`) and speaks plain HTTP to
//! the address as if it were local.

use std::sync::Arc;

use provision_backends::port::Failure;
use provision_backends::port::exec::{Command, Exec};
use provision_backends::port::http::{Http, HttpPort, Request, Response};
use provision_backends::port::tunnel::{Forward, Tunnel};
use tokio::sync::OnceCell;

use super::{ContainerName, ExecTransport, HttpTransport, Retry, Ssh};

pub struct SshTunnel {
    ssh: Arc<Ssh>,
    /// The container the server runs in, and how to run `docker` on its host.
    container: Option<Arc<(ExecTransport, ContainerName)>>,
}

impl SshTunnel {
    pub fn new(ssh: Arc<Ssh>) -> Self {
        SshTunnel {
            ssh,
            container: None,
        }
    }

    /// For a server in `container` on the SSH host: its loopback is the container's, reached
    /// from the host at the container's address on its Docker network (`docker inspect`
    /// through `host`, the host's own exec transport).
    pub fn in_container(ssh: Arc<Ssh>, host: ExecTransport, container: &ContainerName) -> Self {
        SshTunnel {
            ssh,
            container: Some(Arc::new((host, container.clone()))),
        }
    }
}

impl Tunnel for SshTunnel {
    fn http(&self, host: &str, port: u16) -> Forward {
        let forwarded = Shared(Arc::new(Forwarded {
            ssh: self.ssh.clone(),
            host: host.to_owned(),
            port,
            container: self.container.clone(),
            http: OnceCell::new(),
        }));
        Forward {
            http: Arc::new(Retry::new(forwarded.clone())) as HttpPort,
            once: Arc::new(forwarded),
        }
    }

    fn describe(&self) -> String {
        let over = format!("over {}", Exec::describe(&*self.ssh));
        match &self.container {
            Some(c) => format!("{over}, in the container {}", c.1),
            None => over,
        }
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
    container: Option<Arc<(ExecTransport, ContainerName)>>,
    http: OnceCell<HttpTransport>,
}

impl Forwarded {
    async fn open(&self) -> Result<HttpTransport, Failure> {
        let socket = super::rundir::entry("h")
            .map_err(|e| Failure::Unreachable(format!("cannot make the forward's socket: {e}")))?;
        let target = self.target().await?;
        self.ssh.forward(&socket, &target, self.port).await?;
        let client = super::http::builder()
            .unix_socket(socket)
            // Plain HTTP to the host's own address (the URL below is http://, and redirects
            // keep to its origin): this client never speaks TLS, so it trusts no certificate
            // rather than loading the system's. Otherwise reqwest's platform verifier reads
            // and parses every root certificate of the machine again for each host's forward:
            // a few ms of CPU and about 110 kB that stay for the run, per host.
            .tls_certs_only(std::iter::empty::<reqwest::Certificate>())
            .build()
            .map_err(|e| Failure::Permanent(format!("cannot set up HTTP: {e}")))?;
        // The address as the host sees it: it is what the Host header says, and where a
        // message points the operator.
        Ok(HttpTransport::new(
            client,
            &base_url(&self.host, self.port)?,
        ))
    }
}

/// `http://HOST:PORT`, an IPv6 address in brackets (RFC 3986).
pub(super) fn base_url(host: &str, port: u16) -> Result<reqwest::Url, Failure> {
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    reqwest::Url::parse(&format!("http://{host}:{port}"))
        .map_err(|e| Failure::Permanent(format!("{host}:{port}: {e}")))
}

/// `localhost` or a loopback address: in a container, the container's own.
pub(super) fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Forwarded {
    /// Where the forward goes from the SSH host: the address itself, or for a loopback
    /// address in a container, the container's first address on its networks (Docker's
    /// `NetworkSettings.Networks`). A container on the host's network (`--network host`) has
    /// none there, and its loopback is the host's.
    async fn target(&self) -> Result<String, Failure> {
        let Some(container) = &self.container else {
            return Ok(self.host.clone());
        };
        if !is_loopback(&self.host) {
            return Ok(self.host.clone());
        }
        let (host, name) = &**container;
        let out = host
            .run(
                Command::new("docker")
                    .arg("inspect")
                    .arg("--format")
                    .arg("{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}")
                    .arg("--")
                    .arg(name.as_str()),
            )
            .await?;
        if !out.success() {
            return Err(out.failure("docker inspect", ""));
        }
        // Only an IP address goes on to the forward, whatever the output holds.
        Ok(out
            .stdout
            .split_whitespace()
            .find(|a| a.parse::<std::net::IpAddr>().is_ok())
            .map_or_else(|| self.host.clone(), str::to_owned))
    }
}

impl Http for Forwarded {
    async fn send(&self, request: Request) -> Result<Response, Failure> {
        let http = self.http.get_or_try_init(|| self.open()).await?;
        http.send(request).await
    }
}
