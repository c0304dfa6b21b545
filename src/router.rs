//! A host's backends, built for a run over the host's transports, and the one place that
//! decides which backend does what: each operation goes to the first backend of the host that
//! lists it in `Account::ops`. Nothing here knows a backend by name.

use std::sync::Arc;

use provision_backends::admin_api::AdminApiConfig;

use provision_backends::port::{ExecPort, HttpPort, Ports, SqlPort, TunnelPort};
use provision_backends::settings::reveal;
use provision_backends::{
    Account, Change, Failure, ListFilter, Op, Outcome, Page, Preview, Registration,
    RegistrationToken, SecretString, TokenTerms, UserState,
};

use crate::error::or_list;
use crate::inventory::{Host, Transport};
use crate::registry;
use crate::transport::{
    Docker, DockerCli, DockerTunnel, ExecTransport, HttpTransport, Local, Postgres, Psql, Retry,
    Ssh, SshTunnel, Sudo,
};

pub struct Router {
    /// In the host's order; only those a command needs are built.
    backends: Vec<Box<dyn Account>>,
    /// The host's SSH connection, shared by every transport over it and the database tunnel.
    ssh: Option<Arc<Ssh>>,
}

impl Router {
    /// Builds the host's backends that are the first for one of `ops`, over its transports,
    /// resolving their secrets (those of a backend no operation needs are not read). Nothing
    /// connects yet.
    pub fn new(host: &Host, client: &reqwest::Client, ops: &[Op]) -> Result<Self, String> {
        let ports = HostPorts {
            host,
            client,
            ssh: host.ssh.as_ref().map(|t| Arc::new(Ssh::new(t))),
        };
        let mut backends = Vec::new();
        for configured in &host.backends {
            let first_for_some = ops
                .iter()
                .any(|op| host.first(*op).is_some_and(|b| std::ptr::eq(b, configured)));
            if first_for_some {
                backends.push(configured.config.build(&ports)?);
            }
        }
        Ok(Router {
            backends,
            ssh: ports.ssh,
        })
    }

    /// `provision login`: logs in as `user` at the admin API the host's backends call with an
    /// `admin_token`, building no backend (the token file they would read may not exist yet).
    /// The future answers the URL logged in at, and the token.
    pub fn login(
        host: &Host,
        client: &reqwest::Client,
        user: String,
        password: SecretString,
    ) -> Result<
        impl std::future::Future<Output = Result<(String, SecretString), Failure>> + Send + use<>,
        String,
    > {
        let api = Router::admin_api(host).ok_or_else(Router::no_admin_api)?;
        let ports = HostPorts {
            host,
            client,
            ssh: None,
        };
        api.login(&ports, user, password)
    }

    /// The admin API of the host's backends that take an `admin_token`.
    pub fn admin_api(host: &Host) -> Option<&AdminApiConfig> {
        host.backends.iter().find_map(|b| b.config.admin_api())
    }

    /// Why a host cannot be logged in to.
    pub fn no_admin_api() -> String {
        format!(
            "no backend of this host takes an admin_token (those that do: {})",
            registry::names_taking("admin_token").join(", ")
        )
    }

    fn first(&self, op: Op) -> Option<&dyn Account> {
        self.backends
            .iter()
            .find(|b| b.ops().contains(&op))
            .map(|b| &**b)
    }

    fn must(&self, op: Op) -> Result<&dyn Account, Failure> {
        self.first(op)
            .ok_or_else(|| Failure::Rejected(self.lacks(op).unwrap_or_default()))
    }

    pub fn can(&self, op: Op) -> bool {
        self.first(op).is_some()
    }

    /// What this host lacks to do `op`, and what would give it that; `None` when it can.
    pub fn lacks(&self, op: Op) -> Option<String> {
        if self.can(op) {
            return None;
        }
        Some(match op {
            Op::SetAdmin => format!(
                "no admin_backend for this host: set admin_backend: {}",
                or_list(&registry::names_for(op))
            ),
            _ => format!(
                "no backend of this host can {} (those that can: {})",
                op.what(),
                registry::names_for(op).join(", ")
            ),
        })
    }

    pub async fn register(&self, reg: &Registration<'_>) -> Result<Outcome, Failure> {
        self.must(Op::Register)?.register(reg).await
    }

    /// `--check` of `register`: asks the host whether the user exists through the first of its
    /// backends that reads users, else through the registering backend's own probe, and says
    /// `unknown`, never "would create", when nothing can tell.
    pub async fn plan(&self, reg: &Registration<'_>) -> Result<Outcome, Failure> {
        let registers = self.must(Op::Register)?;
        let exists = match self.first(Op::Read) {
            Some(reader) => Some(reader.read(reg.user).await?.is_some()),
            None => None,
        };
        if exists == Some(true) {
            // An existing user may lack the SSO link a re-run adds: the registering backend
            // (the only one that links) says.
            if reg.sso.is_some()
                && let Preview::Known(outcome) = registers.preview(reg).await?
            {
                return Ok(outcome);
            }
            return Ok(Outcome::Exists);
        }
        let admin = reg.admin;
        Ok(match (registers.preview(reg).await?, exists) {
            (Preview::WouldRun { command, warning }, Some(false)) => Outcome::WouldRun {
                admin,
                command,
                warning,
            },
            (Preview::WouldRun { command, warning }, _) => Outcome::Unknown {
                admin,
                why: format!(
                    "{} cannot tell whether the user exists, and no backend of this host reads users (admin_backend: {} can)",
                    registers.name(),
                    or_list(&registry::names_for(Op::Read))
                ),
                command: Some(command),
                warning,
            },
            (_, Some(_)) => Outcome::WouldCreate { admin },
            (Preview::Known(outcome), None) => outcome,
            (Preview::Unknown(why), None) => Outcome::Unknown {
                admin,
                why,
                command: None,
                warning: None,
            },
        })
    }

    /// `provision ping`: which backend this host uses for what, and that each answers: "synapse-cli for
    /// register: …; synapse-api for read, admin, …: …". Built with [`Router::everything`].
    pub async fn ping(&self) -> Result<String, Failure> {
        let mut said = Vec::new();
        for backend in &self.backends {
            let serves: Vec<&str> = Router::everything()
                .into_iter()
                .filter(|op| {
                    self.first(*op)
                        .is_some_and(|b| std::ptr::addr_eq(b, &**backend))
                })
                .map(Op::word)
                .collect();
            said.push(format!(
                "{} for {}: {}",
                backend.name(),
                serves.join(", "),
                backend.ping().await?
            ));
        }
        Ok(said.join("; "))
    }

    /// Every operation, for a router that is to build every backend a host uses.
    pub fn everything() -> Vec<Op> {
        let mut ops = Op::ALL.to_vec();
        ops.push(Op::Tokens);
        ops
    }

    /// Sets the admin flag (or under `check`, says whether it would change).
    pub async fn admin(
        &self,
        user: &provision_backends::UserId,
        admin: bool,
        check: bool,
    ) -> Result<Outcome, Failure> {
        self.must(Op::SetAdmin)?.set_admin(user, admin, check).await
    }

    /// A lifecycle change (or under `check`, what it would do).
    pub async fn change(
        &self,
        user: &provision_backends::UserId,
        change: &Change<'_>,
        check: bool,
    ) -> Result<Outcome, Failure> {
        self.must(change.op())?.change(user, change, check).await
    }

    /// The user's state, `None` when there is no such user.
    pub async fn read(
        &self,
        user: &provision_backends::UserId,
    ) -> Result<Option<UserState>, Failure> {
        self.must(Op::Read)?.read(user).await
    }

    /// The IDs of the rooms the user is in.
    pub async fn rooms(&self, user: &provision_backends::UserId) -> Result<Vec<String>, Failure> {
        self.must(Op::Join)?.rooms(user).await
    }

    /// A room's ID from its ID or alias, `None` when the host knows no such room.
    pub async fn room_id(&self, room: &str) -> Result<Option<String>, Failure> {
        self.must(Op::Join)?.room_id(room).await
    }

    /// One page of the host's users.
    pub async fn list(&self, filter: &ListFilter, cursor: Option<&str>) -> Result<Page, Failure> {
        self.must(Op::List)?.list(filter, cursor).await
    }

    /// Issues a registration token; under `check`, reads the host's valid tokens instead (the
    /// admin API answers, and to this token) and issues nothing: `None`.
    pub async fn issue_token(
        &self,
        terms: &TokenTerms,
        check: bool,
    ) -> Result<Option<RegistrationToken>, Failure> {
        let backend = self.must(Op::Tokens)?;
        if check {
            backend.list_tokens(Some(true)).await?;
            return Ok(None);
        }
        backend.issue_token(terms).await.map(Some)
    }

    /// The host's registration tokens (`valid`: only those still usable, or only those not).
    pub async fn list_tokens(
        &self,
        valid: Option<bool>,
    ) -> Result<Vec<RegistrationToken>, Failure> {
        self.must(Op::Tokens)?.list_tokens(valid).await
    }

    /// Revokes a registration token (or under `check`, says whether the host has it).
    pub async fn revoke_token(
        &self,
        token: &SecretString,
        check: bool,
    ) -> Result<Outcome, Failure> {
        self.must(Op::Tokens)?.revoke_token(token, check).await
    }

    /// Where `op` is done, for `--check`: "on ssh root@matrix1", "via the … API at URL".
    pub fn via(&self, op: Op) -> String {
        self.first(op).map(|b| b.via()).unwrap_or_default()
    }

    /// Ends connections: the backends (and any database tunnel) first, the SSH master last.
    /// Each backend first ends what the run opened on its server (an `admin_token` login's
    /// device is logged out).
    pub async fn close(self) {
        for backend in &self.backends {
            backend.close().await;
        }
        drop(self.backends);
        if let Some(ssh) = self.ssh {
            ssh.close().await;
        }
    }
}

/// The host's transports, as its backends ask for them.
struct HostPorts<'a> {
    host: &'a Host,
    client: &'a reqwest::Client,
    ssh: Option<Arc<Ssh>>,
}

impl Ports for HostPorts<'_> {
    /// The host itself ([`Ports::host_exec`]), then `docker exec` into the tool's container
    /// when the inventory names one.
    fn exec(&self) -> Result<ExecPort, String> {
        let transport = match &self.host.transport {
            Some(Transport::Docker { container }) => ExecTransport::Docker(Docker::new(container)),
            Some(Transport::Ssh {
                container: Some(container),
            }) => ExecTransport::DockerCli(Box::new(DockerCli::new(self.on_host()?, container))),
            _ => self.on_host()?,
        };
        Ok(Arc::new(Retry::new(transport)))
    }

    fn host_exec(&self) -> Result<ExecPort, String> {
        Ok(Arc::new(Retry::new(self.on_host()?)))
    }

    fn http(&self, base_url: &str) -> Result<HttpPort, String> {
        let url = reqwest::Url::parse(base_url).map_err(|e| format!("{base_url}: {e}"))?;
        Ok(Arc::new(Retry::new(HttpTransport::new(
            self.client.clone(),
            &url,
        ))))
    }

    fn database(&self, url: &SecretString) -> Result<SqlPort, String> {
        Ok(Arc::new(Postgres::new(url, self.ssh.clone())?))
    }

    /// On the host, never in the tool's container: psql or the playbook's wrapper are
    /// installed there, and connect from there.
    fn psql(&self, command: &str, database: Option<&str>) -> Result<SqlPort, String> {
        Ok(Arc::new(Psql::new(
            Retry::new(self.on_host()?),
            command.to_owned(),
            database.map(str::to_owned),
        )))
    }

    /// The host's SSH connection; for a tool in a container on it (a playbook host), to the
    /// container's address there.
    fn tunnel(&self) -> Result<TunnelPort, String> {
        match (&self.host.transport, &self.ssh) {
            (
                Some(Transport::Ssh {
                    container: Some(container),
                }),
                _,
            ) => match &self.ssh {
                Some(ssh) => Ok(Arc::new(SshTunnel::in_container(
                    ssh.clone(),
                    self.on_host()?,
                    container,
                ))),
                None => Err("internal error: transport ssh without ssh settings".into()),
            },
            (Some(Transport::Ssh { container: None }) | None, Some(ssh)) => {
                Ok(Arc::new(SshTunnel::new(ssh.clone())))
            }
            (Some(Transport::Docker { container }), _) => {
                Ok(Arc::new(DockerTunnel::new(self.client.clone(), container)))
            }
            _ => Err("the host is not reached over SSH".into()),
        }
    }
}

impl HostPorts<'_> {
    /// How the host itself runs a program, outside any container: over its SSH (with sudo
    /// when the inventory says `become`), else here. A host that talks HTTP runs programs
    /// over its SSH, if it has one. Host-side tools run here: matrix-docker-ansible-deploy's
    /// `/matrix/postgres/bin/cli-non-interactive` is a script on the host that starts psql in
    /// a container of its own (the role's `templates/bin/cli-non-interactive.j2`), and exists
    /// in neither the Synapse nor the Dendrite container.
    fn on_host(&self) -> Result<ExecTransport, String> {
        let host = self.host;
        let ssh = match (&host.transport, &self.ssh) {
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
                Some(source) => Some(reveal(
                    "ssh.become_password",
                    &(Arc::new(source.clone()) as provision_backends::settings::Secret),
                )?),
                None => None,
            };
            t = ExecTransport::Sudo(Box::new(Sudo::new(t, &sudo.user, password)));
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use provision_backends::account::Identity;
    use provision_backends::{UserId, UserState};

    /// A backend that can do what `ops` says and answers from fixed values.
    struct Fake {
        name: &'static str,
        ops: &'static [Op],
        /// What `read` finds.
        exists: bool,
        preview: Preview,
    }

    impl Identity for Fake {
        fn name(&self) -> &'static str {
            self.name
        }
        fn ops(&self) -> &'static [Op] {
            self.ops
        }
        fn fields(&self) -> provision_backends::registration::Fields {
            provision_backends::registration::Fields::NONE
        }
    }

    #[async_trait]
    impl Account for Fake {
        fn via(&self) -> String {
            format!("via {}", self.name)
        }
        async fn ping(&self) -> Result<String, Failure> {
            Ok(format!("{} answers", self.name))
        }
        async fn preview(&self, _: &Registration<'_>) -> Result<Preview, Failure> {
            Ok(self.preview.clone())
        }
        async fn read(&self, _: &UserId) -> Result<Option<UserState>, Failure> {
            Ok(self.exists.then(UserState::default))
        }
        async fn set_admin(&self, _: &UserId, admin: bool, _: bool) -> Result<Outcome, Failure> {
            Ok(Outcome::AdminSet {
                admin,
                note: Some(self.name.into()),
            })
        }
    }

    fn tool() -> Box<dyn Account> {
        Box::new(Fake {
            name: "tool",
            ops: &[Op::Register],
            exists: false,
            preview: Preview::WouldRun {
                command: "register-user john".into(),
                warning: None,
            },
        })
    }

    fn reader(name: &'static str, exists: bool) -> Box<dyn Account> {
        Box::new(Fake {
            name,
            ops: &[Op::Read, Op::SetAdmin],
            exists,
            preview: Preview::Unknown(String::new()),
        })
    }

    fn plan(backends: Vec<Box<dyn Account>>) -> Outcome {
        let router = Router {
            backends,
            ssh: None,
        };
        let user = UserId::new("john", "example.com").unwrap();
        let password = SecretString::from("pw");
        let reg = Registration::new(&user, &password, true);
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(router.plan(&reg))
            .unwrap()
    }

    #[test]
    fn check_asks_the_reader_and_shows_the_command_for_a_new_user() {
        assert_eq!(plan(vec![tool(), reader("api", true)]), Outcome::Exists);
        assert_eq!(
            plan(vec![tool(), reader("api", false)]),
            Outcome::WouldRun {
                admin: true,
                command: "register-user john".into(),
                warning: None
            }
        );
    }

    #[test]
    fn check_without_a_reader_is_unknown_never_would_create() {
        let Outcome::Unknown { why, command, .. } = plan(vec![tool()]) else {
            panic!("unknown expected")
        };
        assert!(why.contains("tool cannot tell"), "{why}");
        assert_eq!(command.as_deref(), Some("register-user john"));
    }

    #[test]
    fn each_operation_goes_to_the_first_backend_that_has_it() {
        let router = Router {
            backends: vec![tool(), reader("first", false), reader("second", false)],
            ssh: None,
        };
        let user = UserId::new("john", "example.com").unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let out = rt.block_on(router.admin(&user, true, false)).unwrap();
        assert_eq!(
            out,
            Outcome::AdminSet {
                admin: true,
                note: Some("first".into())
            }
        );
        assert_eq!(router.via(Op::Register), "via tool");

        let router = Router {
            backends: vec![tool()],
            ssh: None,
        };
        let err = rt.block_on(router.admin(&user, true, false)).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("no admin_backend for this host: set admin_backend: "),
            "{err}"
        );
        let password = SecretString::from("pw");
        let reg = Registration::new(&user, &password, false);
        let err = rt
            .block_on(reader("api", false).register(&reg))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "not supported by api: it cannot register users"
        );
    }
}
