//! A host's backend paired with its transport, ready to run: the one place that matches the
//! closed set of backends against the closed set of transports. The inventory has already
//! refused pairings that cannot work.

use provision_backends::dendrite_cli::DendriteCli;
use provision_backends::mas_cli::MasCli;
use provision_backends::playbook_wrapper::PlaybookWrapper;
use provision_backends::shared_secret::SharedSecret;
use provision_backends::synapse_cli::SynapseCli;
use provision_backends::{Failure, Outcome, Registration};

use crate::inventory::{Backend, Host, Transport};
use crate::transport::{Docker, DockerCli, ExecTransport, HttpTransport, Local, Retry, Ssh, Sudo};

pub enum Target {
    Http(Retry<HttpTransport>, SharedSecret),
    Exec(Box<Retry<ExecTransport>>, ExecBackend),
}

pub enum ExecBackend {
    Synapse(SynapseCli),
    Dendrite(DendriteCli),
    Mas(MasCli),
    Playbook(PlaybookWrapper),
}

impl Target {
    /// Resolves the host's secrets and builds its transport. Nothing connects yet.
    pub fn new(host: &Host, client: &reqwest::Client) -> Result<Self, String> {
        let exec_backend = match &host.backend {
            Backend::SharedSecret { url, shared_secret } => {
                let secret = shared_secret
                    .resolve()
                    .map_err(|e| format!("shared_secret ({shared_secret}): {e}"))?;
                let http = Retry::new(HttpTransport::new(client.clone(), url));
                return Ok(Target::Http(http, SharedSecret::new(secret)));
            }
            Backend::SynapseCli {
                config,
                url,
                command,
            } => ExecBackend::Synapse(SynapseCli::new(
                command.clone(),
                config.clone(),
                url.clone(),
            )),
            Backend::DendriteCli {
                config,
                url,
                command,
            } => ExecBackend::Dendrite(DendriteCli::new(
                command.clone(),
                config.clone(),
                url.clone(),
            )),
            Backend::MasCli { config, command } => {
                ExecBackend::Mas(MasCli::new(command.clone(), config.clone()))
            }
            Backend::PlaybookWrapper { command } => {
                ExecBackend::Playbook(PlaybookWrapper::new(command.clone()))
            }
        };
        let transport = match &host.transport {
            Transport::Http => {
                return Err("internal error: an exec backend with transport http".into());
            }
            Transport::Local => ExecTransport::Local(Local),
            Transport::Docker { container } => ExecTransport::Docker(Docker::new(container)),
            Transport::Ssh { ssh, container } => {
                let mut t = ExecTransport::Ssh(Box::new(Ssh::new(ssh)));
                if let Some(sudo) = &ssh.sudo {
                    let password = match &sudo.password {
                        Some(source) => Some(
                            source
                                .resolve()
                                .map_err(|e| format!("ssh.become_password ({source}): {e}"))?,
                        ),
                        None => None,
                    };
                    t = ExecTransport::Sudo(Box::new(Sudo::new(t, &sudo.user, password)));
                }
                if let Some(container) = container {
                    t = ExecTransport::DockerCli(Box::new(DockerCli::new(t, container)));
                }
                t
            }
        };
        Ok(Target::Exec(Box::new(Retry::new(transport)), exec_backend))
    }

    pub async fn register(&self, reg: &Registration<'_>) -> Result<Outcome, Failure> {
        match self {
            Target::Http(http, api) => api.register(http, reg).await,
            Target::Exec(exec, ExecBackend::Synapse(b)) => b.register(&**exec, reg).await,
            Target::Exec(exec, ExecBackend::Dendrite(b)) => b.register(&**exec, reg).await,
            Target::Exec(exec, ExecBackend::Mas(b)) => b.register(&**exec, reg).await,
            Target::Exec(exec, ExecBackend::Playbook(b)) => b.register(&**exec, reg).await,
        }
    }

    /// `--check`: what `register` would do, changing nothing.
    pub async fn plan(&self, reg: &Registration<'_>) -> Result<Outcome, Failure> {
        match self {
            Target::Http(http, api) => api.plan(http, reg).await,
            Target::Exec(exec, ExecBackend::Synapse(b)) => b.plan(&**exec, reg).await,
            Target::Exec(exec, ExecBackend::Dendrite(b)) => b.plan(&**exec, reg).await,
            Target::Exec(exec, ExecBackend::Mas(b)) => b.plan(&**exec, reg).await,
            Target::Exec(exec, ExecBackend::Playbook(b)) => b.plan(&**exec, reg).await,
        }
    }

    /// Where the work goes, for `--check`: "the shared-secret API at URL" or "ssh root@host".
    pub fn via(&self, host: &Host) -> String {
        match (self, &host.backend) {
            (Target::Http(..), Backend::SharedSecret { url, shared_secret }) => {
                format!("via the shared-secret API at {url}, secret from {shared_secret}")
            }
            (Target::Exec(exec, _), _) => {
                use provision_backends::exec::Exec;
                format!("on {}", exec.describe())
            }
            _ => String::new(),
        }
    }

    pub async fn close(self) {
        if let Target::Exec(exec, _) = self {
            exec.into_inner().close().await;
        }
    }
}
