//! For the tool backends whose tool only reads the server's shared secret and calls the
//! shared-secret API (synapse-cli, dendrite-cli): which way a host's registrations go, decided
//! once per run. The API over the host's own connection ([`Ports::tunnel`](crate::port::Ports::tunnel))
//! when the config gives a secret and an address that answers; else the tool, after one
//! warning saying why. The inventory's `via` decides otherwise.

use tokio::sync::OnceCell;

use crate::Failure;
use crate::account::Account;
use crate::port::TunnelPort;
use crate::port::exec::Exec;
use crate::server_config::Endpoint;
use crate::shared_secret::SharedSecret;
use crate::tool::{Tool, Via};

pub struct Tunnelled {
    via: Option<Via>,
    /// The host's connection, or why it has none.
    pub tunnel: Result<TunnelPort, String>,
    route: OnceCell<Route>,
}

pub enum Route {
    /// The shared-secret API over the host's connection.
    Api(SharedSecret),
    /// The tool, and why.
    Tool(String),
}

impl Tunnelled {
    pub fn new(via: Option<Via>) -> Self {
        Tunnelled {
            via,
            tunnel: Err("built without the host's ports".into()),
            route: OnceCell::new(),
        }
    }

    /// The API's, once decided; else the tool's.
    pub fn via(&self, tool: &Tool) -> String {
        match self.route.get() {
            Some(Route::Api(api)) => api.via(),
            _ => tool.via(),
        }
    }

    /// `provision ping`: the API's answer, or `Err(why)` the tool serves.
    pub async fn ping<F>(
        &self,
        tool: &Tool,
        config: &str,
        find: F,
    ) -> Result<Result<String, String>, Failure>
    where
        F: Future<Output = Result<Result<Endpoint, String>, Failure>>,
    {
        Ok(match self.route(tool, config, find).await? {
            Route::Api(api) => Ok(format!("registers {}: {}", api.via(), api.ping().await?)),
            Route::Tool(why) => Err(why.clone()),
        })
    }

    /// Which way, found out on first use with `find` (reads the server's config on the host):
    /// the API, else the tool with a warning saying why (under `via: api`, a failure).
    pub async fn route<F>(&self, tool: &Tool, config: &str, find: F) -> Result<&Route, Failure>
    where
        F: Future<Output = Result<Result<Endpoint, String>, Failure>>,
    {
        self.route
            .get_or_try_init(|| async {
                if self.via == Some(Via::Tool) {
                    return Ok(Route::Tool("via: tool in the inventory".into()));
                }
                // No connection to carry it (a local host, a local container): the tool is
                // the only way, not a fallback, so no warning; ping says why.
                if let (Err(why), None) = (&self.tunnel, self.via) {
                    return Ok(Route::Tool(why.clone()));
                }
                // The host could not be asked (its connection failed): that is the
                // registration's failure, as it would be the tool's; nothing is decided yet.
                match self.api(config, find).await? {
                    Ok(api) => {
                        tracing::info!("{}: registering {}", tool.exec.describe(), api.via());
                        Ok(Route::Api(api))
                    }
                    Err(why) if self.via == Some(Via::Api) => {
                        Err(Failure::Rejected(format!("via: api, but {why}")))
                    }
                    Err(why) => {
                        tracing::warn!(
                            "{}: {why}: registering with {} instead (one start of the tool per user)",
                            tool.exec.describe(),
                            tool.command
                        );
                        Ok(Route::Tool(why))
                    }
                }
            })
            .await
    }

    /// The shared-secret API over the host's connection, once it has answered; else why not.
    async fn api<F>(&self, config: &str, find: F) -> Result<Result<SharedSecret, String>, Failure>
    where
        F: Future<Output = Result<Result<Endpoint, String>, Failure>>,
    {
        let tunnel = match &self.tunnel {
            Ok(tunnel) => tunnel,
            Err(why) => return Ok(Err(why.clone())),
        };
        let endpoint = match find.await? {
            Ok(endpoint) => endpoint,
            Err(why) => return Ok(Err(why)),
        };
        let address = if endpoint.host.contains(':') {
            format!("[{}]:{}", endpoint.host, endpoint.port)
        } else {
            format!("{}:{}", endpoint.host, endpoint.port)
        };
        let forward = tunnel.http(&endpoint.host, endpoint.port);
        // The forward opens with the first request: a nonce, asked once, proves both it and
        // the API (retrying a forward that does not answer would only delay the fallback).
        if let Err(f) = SharedSecret::new(forward.once, endpoint.secret.clone(), String::new())
            .ping()
            .await
        {
            return Ok(Err(format!(
                "the shared-secret API at {address} {} failed: {f}",
                tunnel.describe()
            )));
        }
        Ok(Ok(SharedSecret::new(
            forward.http,
            endpoint.secret,
            format!(
                "via the shared-secret API at {address} {}, secret from {config}",
                tunnel.describe()
            ),
        )))
    }
}
