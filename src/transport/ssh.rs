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
    /// A failure connecting that another try cannot cure (a refused key, an unknown host
    /// key): kept, so the host's other commands get it without connecting again, as each
    /// refused login counts towards fail2ban's maxretry.
    refused: std::sync::Mutex<Option<Failure>>,
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
            refused: std::sync::Mutex::new(None),
        }
    }

    async fn session(&self) -> Result<&Session, Failure> {
        self.session
            .get_or_try_init(|| async {
                let refused = || self.refused.lock().ok().and_then(|r| r.clone());
                if let Some(failure) = refused() {
                    return Err(failure);
                }
                tracing::debug!("ssh: connecting to {}", self.destination);
                self.builder.connect_mux(&self.host).await.map_err(|e| {
                    let failure = failure(&self.destination, &e);
                    if let (Failure::Permanent(_), Ok(mut refused)) =
                        (&failure, self.refused.lock())
                    {
                        *refused = Some(failure.clone());
                    }
                    failure
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
                failure(
                    &format!("{} forwarding to {host}:{port}", self.destination),
                    &e,
                )
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
        let lost = |e: openssh::Error| failure(&self.destination, &e);
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

/// A failure of ssh to `destination`, permanent when trying again cannot help.
fn failure(destination: &str, e: &openssh::Error) -> Failure {
    let text = describe(e);
    match permanent(e, &text) {
        Some(why) => Failure::Permanent(format!("ssh {destination}: {why} ({text})")),
        None => Failure::Unreachable(format!("ssh {destination}: {text}")),
    }
}

/// Why ssh's failure will not pass by itself, if it will not. openssh reads the master's
/// stderr into `Error::Connect` with an `io::ErrorKind` (openssh src/error.rs,
/// `interpret_ssh_error`): `PermissionDenied` for "Permission denied (publickey,…)", the
/// server refusing every key offered. It has no kind for host keys or names, so those are
/// read from ssh's own wording, stable for decades (openssh-portable sshconnect.c: "Host key
/// verification failed.", "REMOTE HOST IDENTIFICATION HAS CHANGED"; ssh.c: "Could not
/// resolve hostname"). Refused, reset, timed out and a dropped master stay retryable.
fn permanent(e: &openssh::Error, text: &str) -> Option<&'static str> {
    let denied = matches!(e, openssh::Error::Connect(io)
        if io.kind() == std::io::ErrorKind::PermissionDenied);
    if denied || text.contains("Permission denied (") {
        Some("the server refused the key")
    } else if text.contains("Host key verification failed")
        || text.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
    {
        Some("host key verification failed: the host's key is not in known_hosts, or differs")
    } else if text.contains("Could not resolve hostname") {
        Some("the host name does not resolve")
    } else {
        None
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
    text.trim().replace("\r\n", " ").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error as Io, ErrorKind};

    /// What openssh makes of ssh's stderr (openssh src/error.rs, `interpret_ssh_error`).
    fn connect(kind: ErrorKind, stderr: &str) -> openssh::Error {
        openssh::Error::Connect(Io::new(kind, stderr))
    }

    fn classify(e: openssh::Error) -> Failure {
        failure("root@127.0.0.1:22", &e)
    }

    #[test]
    fn refused_keys_host_keys_and_names_are_permanent() {
        let cases = [
            (
                connect(
                    ErrorKind::PermissionDenied,
                    "root@127.0.0.1: Permission denied (publickey).",
                ),
                "the server refused the key",
            ),
            (
                connect(
                    ErrorKind::ConnectionAborted,
                    "No ED25519 host key is known for [127.0.0.1]:22 and you have requested \
                     strict checking.\r\nHost key verification failed.",
                ),
                "host key verification failed",
            ),
            (
                connect(
                    ErrorKind::ConnectionAborted,
                    "@@@@@\r\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n\
                     Host key verification failed.",
                ),
                "host key verification failed",
            ),
            (
                connect(
                    ErrorKind::Other,
                    "Could not resolve hostname nohost.invalid: Name or service not known",
                ),
                "does not resolve",
            ),
        ];
        for (error, says) in cases {
            match classify(error) {
                Failure::Permanent(m) => {
                    assert!(m.starts_with("ssh root@127.0.0.1:22: "), "{m}");
                    assert!(m.contains(says), "{m}");
                }
                other => panic!("{other:?} should be permanent"),
            }
        }
    }

    #[test]
    fn refused_reset_timed_out_and_lost_connections_are_retried() {
        for error in [
            connect(
                ErrorKind::ConnectionRefused,
                "connect to host 127.0.0.1 port 22: Connection refused",
            ),
            connect(
                ErrorKind::TimedOut,
                "connect to host 127.0.0.1 port 22: Connection timed out",
            ),
            connect(
                ErrorKind::ConnectionAborted,
                "kex_exchange_identification: read: Connection reset by peer",
            ),
            openssh::Error::Disconnected,
            openssh::Error::RemoteProcessTerminated,
        ] {
            let failure = classify(error);
            assert!(matches!(failure, Failure::Unreachable(_)), "{failure:?}");
        }
    }
}
