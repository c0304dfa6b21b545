//! HTTP to an address as a container of the local Docker Engine sees it (transport docker):
//! the server's listener for a tool backend whose container runs the server. Nothing is
//! forwarded: this machine reaches the Engine's networks itself. A loopback address is the
//! container's own, reached at the container's first address on its networks (Docker's
//! `NetworkSettings.Networks`, through the Engine's API); a container on the host's network
//! has none there, and its loopback is this machine's.

use std::sync::Arc;

use provision_backends::port::Failure;
use provision_backends::port::http::{Http, HttpPort, Request, Response};
use provision_backends::port::tunnel::{Forward, Tunnel};
use tokio::sync::OnceCell;

use super::tunnel::{base_url, is_loopback};
use super::{ContainerName, Docker, HttpTransport, Retry};

pub struct DockerTunnel {
    client: reqwest::Client,
    docker: Arc<Docker>,
}

impl DockerTunnel {
    pub fn new(client: reqwest::Client, container: &ContainerName) -> Self {
        DockerTunnel {
            client,
            docker: Arc::new(Docker::new(container)),
        }
    }
}

impl Tunnel for DockerTunnel {
    fn http(&self, host: &str, port: u16) -> Forward {
        let direct = Shared(Arc::new(Direct {
            client: self.client.clone(),
            docker: self.docker.clone(),
            host: host.to_owned(),
            port,
            http: OnceCell::new(),
        }));
        Forward {
            http: Arc::new(Retry::new(direct.clone())) as HttpPort,
            once: Arc::new(direct),
        }
    }

    fn describe(&self) -> String {
        format!(
            "in the container {} of the local Docker Engine",
            self.docker.container()
        )
    }
}

/// One address, for both of [`Forward`]'s handles.
#[derive(Clone)]
struct Shared(Arc<Direct>);

impl Http for Shared {
    async fn send(&self, request: Request) -> Result<Response, Failure> {
        let http = self.0.http.get_or_try_init(|| self.0.open()).await?;
        http.send(request).await
    }
}

/// One address in the container, found on the first request.
struct Direct {
    client: reqwest::Client,
    docker: Arc<Docker>,
    host: String,
    port: u16,
    http: OnceCell<HttpTransport>,
}

impl Direct {
    async fn open(&self) -> Result<HttpTransport, Failure> {
        let target = match is_loopback(&self.host) {
            true => self
                .docker
                .addresses()
                .await?
                .into_iter()
                .next()
                .unwrap_or_else(|| self.host.clone()),
            false => self.host.clone(),
        };
        Ok(HttpTransport::new(
            self.client.clone(),
            &base_url(&target, self.port)?,
        ))
    }
}
