//! Programs on a remote host over SSH, through the system's OpenSSH (so `~/.ssh/config`, the
//! agent and ProxyJump work as the operator expects). One master connection per host for the
//! whole run: every command is multiplexed over it. Host keys are checked strictly against
//! known_hosts unless the inventory says `accept_new_host_key: true`.

use std::time::Duration;

use openssh::{KnownHosts, Session, SessionBuilder, Stdio};
use provision_backends::exec::{Command, Exec, Output};
use provision_backends::{ExposeSecret, Failure};
use tokio::sync::OnceCell;

use super::local::feed;
use crate::inventory::SshTarget;

pub struct Ssh {
    builder: SessionBuilder,
    /// What ssh connects to; user and port are in the builder.
    host: String,
    /// `user@host:port`, for messages.
    destination: String,
    session: OnceCell<Session>,
}

impl Ssh {
    pub fn new(target: &SshTarget) -> Self {
        let mut builder = SessionBuilder::default();
        builder
            .known_hosts_check(if target.accept_new_host_key {
                KnownHosts::Add
            } else {
                KnownHosts::Strict
            })
            .connect_timeout(Duration::from_secs(15))
            .server_alive_interval(Duration::from_secs(30))
            // The control socket's path must be short and private: a temp dir, not the cwd.
            .control_directory(std::env::temp_dir());
        if let Some(port) = target.port {
            builder.port(port);
        }
        if let Some(user) = &target.user {
            builder.user(user.clone());
        }
        if let Some(key) = &target.identity_file {
            builder.keyfile(key);
        }
        if let Some(known_hosts) = &target.known_hosts {
            builder.user_known_hosts_file(known_hosts);
        }
        let destination = match (&target.user, target.port) {
            (Some(u), Some(p)) => format!("{u}@{}:{p}", target.host),
            (Some(u), None) => format!("{u}@{}", target.host),
            (None, Some(p)) => format!("{}:{p}", target.host),
            (None, None) => target.host.clone(),
        };
        Ssh {
            builder,
            host: target.host.clone(),
            destination,
            session: OnceCell::new(),
        }
    }

    async fn session(&self) -> Result<&Session, Failure> {
        self.session
            .get_or_try_init(|| async {
                tracing::debug!("ssh: connecting to {}", self.destination);
                self.builder.connect_mux(&self.host).await.map_err(|e| {
                    Failure::Unreachable(format!("ssh {}: {}", self.destination, describe(&e)))
                })
            })
            .await
    }

    /// Forwards a local Unix socket to `host:port` as seen from the remote host (ssh -L), over
    /// the same master connection.
    pub async fn forward(
        &self,
        local: &std::path::Path,
        host: &str,
        port: u16,
    ) -> Result<(), Failure> {
        let session = self.session().await?;
        session
            .request_port_forward(
                openssh::ForwardType::Local,
                openssh::Socket::UnixSocket { path: local.into() },
                openssh::Socket::TcpSocket {
                    host: host.into(),
                    port,
                },
            )
            .await
            .map_err(|e| {
                Failure::Unreachable(format!(
                    "ssh {}: forwarding to {host}:{port}: {}",
                    self.destination,
                    describe(&e)
                ))
            })
    }

    /// Ends the master connection (it would also end when dropped, less politely), once the
    /// last user of this connection is done with it.
    pub async fn close(self: std::sync::Arc<Self>) {
        if let Ok(ssh) = std::sync::Arc::try_unwrap(self)
            && let Some(session) = ssh.session.into_inner()
        {
            let _ = session.close().await;
        }
    }
}

impl Exec for Ssh {
    async fn run(&self, command: Command) -> Result<Output, Failure> {
        let session = self.session().await?;
        tracing::debug!(%command, "ssh {}", self.destination);
        let mut cmd = session.command(command.program.as_str());
        // openssh quotes each argument for the remote shell.
        cmd.args(command.expose_args());
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let lost = |e: openssh::Error| {
            Failure::Unreachable(format!("ssh {}: {}", self.destination, describe(&e)))
        };
        let mut child = cmd.spawn().await.map_err(lost)?;
        feed(
            child.stdin().take(),
            command.stdin.as_ref().map(|s| s.expose_secret().as_bytes()),
        )
        .await;
        let out = child.wait_with_output().await.map_err(lost)?;
        Ok(Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    fn describe(&self) -> String {
        format!("ssh {}", self.destination)
    }
}

/// openssh's errors wrap ssh's own message ("Host key verification failed.") a level down.
fn describe(e: &openssh::Error) -> String {
    use std::error::Error as _;
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text.trim().replace('\n', " ")
}
