//! A host's backends paired with their transports, ready to run: the one place that matches
//! the closed set of backends against the closed set of transports. The inventory has already
//! refused pairings that cannot work.

use std::sync::Arc;

use provision_backends::admin_sql::AdminSql;
use provision_backends::dendrite_cli::DendriteCli;
use provision_backends::exec::Exec;
use provision_backends::mas_admin_api::MasAdminApi;
use provision_backends::mas_cli::MasCli;
use provision_backends::playbook_wrapper::PlaybookWrapper;
use provision_backends::shared_secret::SharedSecret;
use provision_backends::synapse_admin_api::SynapseAdminApi;
use provision_backends::synapse_cli::SynapseCli;
use provision_backends::{Failure, Outcome, Registration, UserId};

use crate::inventory::{AdminBackend, Backend, Host, Transport};
use crate::secret_source::SecretSource;
use crate::transport::{
    Docker, DockerCli, ExecTransport, HttpTransport, Local, Postgres, Psql, Retry, Ssh, Sudo,
};

pub struct Target {
    register: Register,
    admin: Option<Admin>,
    /// The host's SSH connection, shared by the exec transport and the database tunnel.
    ssh: Option<Arc<Ssh>>,
}

enum Register {
    Http(Retry<HttpTransport>, SharedSecret),
    Exec(Box<Retry<ExecTransport>>, ExecBackend),
}

enum ExecBackend {
    Synapse(SynapseCli),
    Dendrite(DendriteCli),
    Mas(MasCli),
    Playbook(PlaybookWrapper),
}

enum Admin {
    Sql(AdminSql, Box<Postgres>),
    Psql(AdminSql, Box<Psql<Retry<ExecTransport>>>),
    SynapseApi(SynapseAdminApi, Retry<HttpTransport>),
    MasApi(MasAdminApi, Retry<HttpTransport>),
}

fn resolve(source: &SecretSource, key: &str) -> Result<provision_backends::SecretString, String> {
    source
        .resolve()
        .map_err(|e| format!("{key} ({source}): {e}"))
}

impl Target {
    /// Builds the host's transports and resolves the secrets they need; those of the admin
    /// backend only `with_admin`. Nothing connects yet.
    pub fn new(host: &Host, client: &reqwest::Client, with_admin: bool) -> Result<Self, String> {
        let ssh = host.ssh.as_ref().map(|t| Arc::new(Ssh::new(t)));
        let register = Register::new(host, client, ssh.as_ref())?;
        let admin = match (&host.admin, with_admin) {
            (Some(admin), true) => Some(Admin::new(host, admin, client, ssh.as_ref())?),
            _ => None,
        };
        Ok(Target {
            register,
            admin,
            ssh,
        })
    }

    pub async fn register(&self, reg: &Registration<'_>) -> Result<Outcome, Failure> {
        match &self.register {
            Register::Http(http, api) => api.register(http, reg).await,
            Register::Exec(exec, backend) => {
                let exec = &**exec;
                match backend {
                    ExecBackend::Synapse(b) => b.register(exec, reg).await,
                    ExecBackend::Dendrite(b) => b.register(exec, reg).await,
                    ExecBackend::Mas(b) => b.register(exec, reg).await,
                    ExecBackend::Playbook(b) => b.register(exec, reg).await,
                }
            }
        }
    }

    /// `--check`: what `register` would do, changing nothing.
    pub async fn plan(&self, reg: &Registration<'_>) -> Result<Outcome, Failure> {
        match &self.register {
            Register::Http(http, api) => api.plan(http, reg).await,
            Register::Exec(exec, backend) => {
                let exec = &**exec;
                match backend {
                    ExecBackend::Synapse(b) => b.plan(exec, reg).await,
                    ExecBackend::Dendrite(b) => b.plan(exec, reg).await,
                    ExecBackend::Mas(b) => b.plan(exec, reg).await,
                    ExecBackend::Playbook(b) => b.plan(exec, reg).await,
                }
            }
        }
    }

    /// `provision ping`: the backend's tool or endpoint answers, and so does the admin backend.
    /// Secrets were resolved when the target was made.
    pub async fn ping(&self) -> Result<String, Failure> {
        let mut said = vec![match &self.register {
            Register::Http(http, api) => api.ping(http).await?,
            Register::Exec(exec, backend) => {
                let exec = &**exec;
                match backend {
                    ExecBackend::Synapse(b) => b.ping(exec).await?,
                    ExecBackend::Dendrite(b) => b.ping(exec).await?,
                    ExecBackend::Mas(b) => b.ping(exec).await?,
                    ExecBackend::Playbook(b) => b.ping(exec).await?,
                }
            }
        }];
        match &self.admin {
            None => {}
            Some(Admin::Sql(b, db)) => said.push(b.ping(&**db).await?),
            Some(Admin::Psql(b, db)) => said.push(b.ping(&**db).await?),
            Some(Admin::SynapseApi(b, http)) => said.push(b.ping(http).await?),
            Some(Admin::MasApi(b, http)) => said.push(b.ping(http).await?),
        }
        Ok(said.join("; "))
    }

    pub fn has_admin(&self) -> bool {
        self.admin.is_some()
    }

    /// Sets the admin flag (or under `check`, says whether it would change).
    pub async fn admin(&self, user: &UserId, admin: bool, check: bool) -> Result<Outcome, Failure> {
        let Some(backend) = &self.admin else {
            return Err(Failure::Rejected(
                "no admin_backend for this host: set admin_backend: sql, synapse-api or mas-api"
                    .into(),
            ));
        };
        match (backend, check) {
            (Admin::Sql(b, db), false) => b.set_admin(&**db, user, admin).await,
            (Admin::Sql(b, db), true) => b.plan(&**db, user, admin).await,
            (Admin::Psql(b, db), false) => b.set_admin(&**db, user, admin).await,
            (Admin::Psql(b, db), true) => b.plan(&**db, user, admin).await,
            (Admin::SynapseApi(b, http), false) => b.set_admin(http, user, admin).await,
            (Admin::SynapseApi(b, http), true) => b.plan(http, user, admin).await,
            (Admin::MasApi(b, http), false) => b.set_admin(http, user, admin).await,
            (Admin::MasApi(b, http), true) => b.plan(http, user, admin).await,
        }
    }

    /// Where registrations go, for `--check`: "via the shared-secret API at URL" or "on ssh …".
    pub fn via(&self, host: &Host) -> String {
        match (&self.register, &host.backend) {
            (Register::Http(..), Backend::SharedSecret { url, shared_secret }) => {
                format!("via the shared-secret API at {url}, secret from {shared_secret}")
            }
            (Register::Exec(exec, _), _) => format!("on {}", exec.describe()),
            _ => String::new(),
        }
    }

    /// Where the admin flag is changed, for `--check`.
    pub fn admin_via(&self, host: &Host) -> String {
        match (&self.admin, &host.admin) {
            (
                Some(Admin::Sql(_, db)),
                Some(AdminBackend::Sql {
                    database_url: Some(url),
                    ..
                }),
            ) => {
                use provision_backends::sql::Sql;
                format!("in {} (database_url from {url})", db.describe())
            }
            (Some(Admin::Psql(_, db)), _) => {
                use provision_backends::sql::Sql;
                format!("by {}", db.describe())
            }
            (Some(Admin::SynapseApi(..)), Some(AdminBackend::SynapseApi { url, admin_token })) => {
                format!("via the Synapse admin API at {url}, token from {admin_token}")
            }
            (Some(Admin::MasApi(..)), Some(AdminBackend::MasApi(mas))) => {
                format!(
                    "via the MAS admin API at {}, client {} (secret from {})",
                    mas.url, mas.client_id, mas.client_secret
                )
            }
            _ => String::new(),
        }
    }

    /// Ends connections: the database's first (it may tunnel through SSH), the SSH master last.
    pub async fn close(self) {
        match self.admin {
            Some(Admin::Psql(_, psql)) => psql.into_inner().into_inner().close().await,
            other => drop(other),
        }
        if let Register::Exec(exec, _) = self.register {
            exec.into_inner().close().await;
        }
        if let Some(ssh) = self.ssh {
            ssh.close().await;
        }
    }
}

impl Register {
    fn new(host: &Host, client: &reqwest::Client, ssh: Option<&Arc<Ssh>>) -> Result<Self, String> {
        let backend = match &host.backend {
            Backend::SharedSecret { url, shared_secret } => {
                let secret = resolve(shared_secret, "shared_secret")?;
                let http = Retry::new(HttpTransport::new(client.clone(), url));
                return Ok(Register::Http(http, SharedSecret::new(secret)));
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
        let transport = exec_transport(host, ssh)?;
        Ok(Register::Exec(Box::new(Retry::new(transport)), backend))
    }
}

/// How the host runs a backend's tool: the host itself ([`host_transport`]), then `docker exec`
/// into the tool's container when the inventory names one.
fn exec_transport(host: &Host, ssh: Option<&Arc<Ssh>>) -> Result<ExecTransport, String> {
    match &host.transport {
        Some(Transport::Docker { container }) => Ok(ExecTransport::Docker(Docker::new(container))),
        Some(Transport::Ssh {
            container: Some(container),
        }) => Ok(ExecTransport::DockerCli(Box::new(DockerCli::new(
            host_transport(host, ssh)?,
            container,
        )))),
        _ => host_transport(host, ssh),
    }
}

/// How the host itself runs a program, outside any container: over its SSH (with sudo when
/// the inventory says `become`), else here. A host that talks HTTP runs programs over its
/// SSH, if it has one. Host-side tools run here: matrix-docker-ansible-deploy's
/// `/matrix/postgres/bin/cli-non-interactive` is a script on the host that starts psql in a
/// container of its own (the role's `templates/bin/cli-non-interactive.j2`), and exists in
/// neither the Synapse nor the Dendrite container.
fn host_transport(host: &Host, ssh: Option<&Arc<Ssh>>) -> Result<ExecTransport, String> {
    let ssh = match (&host.transport, ssh) {
        (Some(Transport::Local | Transport::Docker { .. }), _) | (None, None) => {
            return Ok(ExecTransport::Local(Local));
        }
        (Some(Transport::Ssh { .. }) | None, Some(ssh)) => ssh,
        (Some(Transport::Ssh { .. }), None) => {
            return Err("internal error: transport ssh without ssh settings".into());
        }
    };
    let mut t = ExecTransport::Ssh(ssh.clone());
    if let Some(sudo) = host.ssh.as_ref().and_then(|s| s.sudo.as_ref()) {
        let password = match &sudo.password {
            Some(source) => Some(resolve(source, "ssh.become_password")?),
            None => None,
        };
        t = ExecTransport::Sudo(Box::new(Sudo::new(t, &sudo.user, password)));
    }
    Ok(t)
}

impl Admin {
    fn new(
        host: &Host,
        admin: &AdminBackend,
        client: &reqwest::Client,
        ssh: Option<&Arc<Ssh>>,
    ) -> Result<Self, String> {
        Ok(match admin {
            AdminBackend::Sql {
                database_url,
                schema,
                psql: None,
            } => {
                let Some(url) = database_url else {
                    return Err("internal error: sql without database_url or psql".into());
                };
                let url = resolve(url, "database_url")?;
                Admin::Sql(
                    AdminSql::new(*schema),
                    Box::new(Postgres::new(&url, ssh.cloned())?),
                )
            }
            AdminBackend::Sql {
                schema,
                psql: Some(psql),
                ..
            } => {
                // On the host, never in the tool's container: psql or the playbook's wrapper
                // are installed there, and connect from there.
                let exec = Retry::new(host_transport(host, ssh)?);
                let psql = Psql::new(exec, psql.command.clone(), psql.database.clone());
                Admin::Psql(AdminSql::new(*schema), Box::new(psql))
            }
            AdminBackend::SynapseApi { url, admin_token } => Admin::SynapseApi(
                SynapseAdminApi::new(resolve(admin_token, "admin_token")?),
                Retry::new(HttpTransport::new(client.clone(), url)),
            ),
            AdminBackend::MasApi(mas) => Admin::MasApi(
                MasAdminApi::new(
                    mas.url.as_str(),
                    mas.client_id.clone(),
                    resolve(&mas.client_secret, "mas.client_secret")?,
                ),
                Retry::new(HttpTransport::new(client.clone(), &mas.url)),
            ),
        })
    }
}
