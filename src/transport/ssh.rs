//! Programs on a remote host over SSH, through the system's OpenSSH (so `~/.ssh/config`, the
//! agent and ProxyJump work as the operator expects). One master connection per host for the
//! whole run: every command is multiplexed over it (openssh's native mux client). Host keys
//! are checked strictly against known_hosts unless the inventory says
//! `accept_new_host_key: true`.
//!
//! provision starts the master itself rather than through openssh's `SessionBuilder`, whose
//! master forks into the background with `ControlPersist=yes` (openssh src/builder.rs,
//! `launch_master`: `ssh -f -M -N -o ControlPersist=yes`) and so outlives a provision that is
//! killed. Here it is a child of provision in the foreground (`-M -N`, `ControlPersist=no`)
//! that the kernel sends SIGTERM when provision ends however it ends (`PR_SET_PDEATHSIG`),
//! its control socket, log and ssh_config file in the run's private directory
//! ([`super::rundir`]). A master that dies (the server dropped the connection) is started
//! again once per run.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use openssh::{Session, Stdio};
use provision_backends::port::exec::{Command, Exec, Output};
use provision_backends::port::{ExposeSecret, Failure};

use super::{Process, Spawn, rundir};
use crate::inventory::SshTarget;

/// Masters one host may have in a run: the first, and one more after a dropped connection.
const MASTERS_PER_RUN: u32 = 2;

pub struct Ssh {
    target: Settings,
    /// `user@host:port`, for messages.
    destination: String,
    state: tokio::sync::Mutex<State>,
    /// A failure connecting that another try cannot cure (a refused key, an unknown host
    /// key): kept, so the host's other commands get it without connecting again, as each
    /// refused login counts towards fail2ban's maxretry.
    refused: std::sync::Mutex<Option<Failure>>,
}

/// What the master is started with.
struct Settings {
    host: String,
    port: Option<u16>,
    user: Option<String>,
    identity_file: Option<PathBuf>,
    known_hosts: Option<PathBuf>,
    accept_new_host_key: bool,
    options: Vec<(String, String)>,
}

#[derive(Default)]
struct State {
    conn: Option<Arc<Conn>>,
    /// Masters that came up in this run.
    started: u32,
}

/// One master connection: the ssh process and the mux client speaking to its socket.
struct Conn {
    session: Arc<Session>,
    /// Taken out when it is stopped.
    master: std::sync::Mutex<Option<tokio::process::Child>>,
}

impl Conn {
    fn alive(&self) -> bool {
        self.master
            .lock()
            .map(|mut m| matches!(m.as_mut().map(|m| m.try_wait()), Some(Ok(None))))
            .unwrap_or(false)
    }

    /// Asks the master to end (SIGTERM: ssh closes the connection and removes its control
    /// socket, clientloop.c's `signal_handler` and ssh.c's cleanup) and waits for it.
    async fn stop(&self) {
        let child = self.master.lock().ok().and_then(|mut m| m.take());
        if let Some(mut child) = child {
            if let Some(pid) = child.id() {
                // SAFETY: kill(2) on the pid of our own child, which we have not reaped.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
            }
            let _ = child.wait().await;
        }
    }
}

impl Ssh {
    pub fn new(target: &SshTarget) -> Self {
        let destination = match (&target.user, target.port) {
            (Some(u), Some(p)) => format!("{u}@{}:{p}", target.host),
            (Some(u), None) => format!("{u}@{}", target.host),
            (None, Some(p)) => format!("{}:{p}", target.host),
            (None, None) => target.host.clone(),
        };
        Ssh {
            target: Settings {
                host: target.host.clone(),
                port: target.port,
                user: target.user.clone(),
                identity_file: target.identity_file.clone(),
                known_hosts: target.known_hosts.clone(),
                accept_new_host_key: target.accept_new_host_key,
                options: target.options.clone(),
            },
            destination,
            state: tokio::sync::Mutex::new(State::default()),
            refused: std::sync::Mutex::new(None),
        }
    }

    /// The live connection: the one already up, or a new master when there is none yet or
    /// the last one died (once per run).
    async fn conn(&self) -> Result<Arc<Conn>, Failure> {
        let mut state = self.state.lock().await;
        if let Some(conn) = &state.conn {
            if conn.alive() {
                return Ok(conn.clone());
            }
            // Whatever was in flight on it failed and is retried by the retry layer.
            tracing::info!("ssh {}: the connection was lost", self.destination);
            state.conn = None;
            if state.started >= MASTERS_PER_RUN {
                return Err(Failure::Permanent(format!(
                    "ssh {}: the connection was lost again, after it had been re-established once in this run",
                    self.destination
                )));
            }
        }
        if let Some(failure) = self.refused.lock().ok().and_then(|r| r.clone()) {
            return Err(failure);
        }
        let conn = Arc::new(
            self.connect(state.started > 0)
                .await
                .inspect_err(|failure| {
                    if let (Failure::Permanent(_), Ok(mut refused)) = (failure, self.refused.lock())
                    {
                        *refused = Some(failure.clone());
                    }
                })?,
        );
        state.started += 1;
        state.conn = Some(conn.clone());
        Ok(conn)
    }

    async fn connect(&self, again: bool) -> Result<Conn, Failure> {
        if again {
            tracing::info!("ssh: connecting to {} again", self.destination);
        } else {
            tracing::debug!("ssh: connecting to {}", self.destination);
        }
        let private = |e: std::io::Error| {
            Failure::Unreachable(format!(
                "ssh {}: cannot make the connection's private files: {e}",
                self.destination
            ))
        };
        let control = rundir::entry("s").map_err(private)?;
        let log = rundir::entry("l").map_err(private)?;
        let config = rundir::entry("c").map_err(private)?;
        write_private(&config, &self.config_file()).map_err(private)?;
        let mut ssh = tokio::process::Command::new("ssh");
        ssh.arg("-F")
            .arg(&config)
            .arg("-E")
            .arg(&log)
            .arg("-S")
            .arg(&control)
            .args([
                "-M",
                "-N",
                "-o",
                "ControlMaster=yes",
                "-o",
                "ControlPersist=no",
            ]);
        // On the command line, so they apply to this host and not to its jump hosts (a
        // ProxyJump there would send the jump host through itself), as Ansible passes them.
        for (keyword, value) in &self.target.options {
            ssh.arg("-o").arg(format!("{keyword}={value}"));
        }
        if let Some(port) = self.target.port {
            ssh.arg("-p").arg(port.to_string());
        }
        if let Some(user) = &self.target.user {
            ssh.arg("-l").arg(user);
        }
        ssh.arg(&self.target.host)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        die_with_provision(&mut ssh);
        let mut master = ssh.spawn().map_err(|e| {
            Failure::Unreachable(format!("ssh {}: cannot start ssh: {e}", self.destination))
        })?;
        // The master says nothing when it is ready: its control socket answering is the sign
        // (ssh.c opens it once authenticated, `muxserver_listen`). ConnectTimeout and the
        // host's --timeout bound the wait.
        loop {
            if let Ok(Some(_)) = master.try_wait() {
                let said = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(failure_text(&self.destination, said.trim(), None));
            }
            if control.exists() {
                let session = Session::resume_mux(control.clone().into(), Some(log.clone().into()));
                if session.check().await.is_ok() {
                    return Ok(Conn {
                        session: Arc::new(session),
                        master: std::sync::Mutex::new(Some(master)),
                    });
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// The master's ssh_config: how provision authenticates (the inventory's key and
    /// known_hosts, strict checking, never a prompt), which its jump hosts read too (ssh
    /// passes `-F` on to the `ssh -W` it runs for `ProxyJump`, ssh.c), then the operator's
    /// own files, as ssh reads them without `-F`. The first value of a keyword wins
    /// (ssh_config(5)): the command line's, then these.
    fn config_file(&self) -> String {
        let t = &self.target;
        let mut lines = vec![
            "# provision: one host's connection, for one run".to_owned(),
            "Host *".to_owned(),
        ];
        lines.push("  BatchMode yes".into());
        lines.push(format!(
            "  StrictHostKeyChecking {}",
            if t.accept_new_host_key {
                "accept-new"
            } else {
                "yes"
            }
        ));
        lines.push("  ConnectTimeout 15".into());
        lines.push("  ServerAliveInterval 30".into());
        if let Some(key) = &t.identity_file {
            // Only that key, as openssh's builder does with a keyfile.
            lines.push(format!("  IdentityFile {}", path_value(key)));
            lines.push("  IdentitiesOnly yes".into());
        }
        if let Some(known_hosts) = &t.known_hosts {
            lines.push(format!("  UserKnownHostsFile {}", path_value(known_hosts)));
        }
        lines.push("  Include ~/.ssh/config".into());
        lines.push("  Include /etc/ssh/ssh_config".into());
        lines.join("\n") + "\n"
    }

    /// Forwards a local Unix socket to `host:port` as seen from the remote host (ssh -L), over
    /// the same master connection.
    pub async fn forward(&self, local: &Path, host: &str, port: u16) -> Result<(), Failure> {
        let conn = self.conn().await?;
        conn.session
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

    /// Ends the master connection (it would also end when dropped, less politely, and with
    /// provision in any case).
    pub async fn close(self: Arc<Self>) {
        let conn = self.state.lock().await.conn.take();
        if let Some(conn) = conn {
            conn.stop().await;
        }
    }

    /// A failure of a command on `conn`: the connection lost (retried, and the next try
    /// connects again), or a command ssh could not run.
    fn lost(&self, conn: &Conn, e: &openssh::Error) -> Failure {
        if conn.alive() {
            failure(&self.destination, e)
        } else {
            Failure::Unreachable(format!(
                "ssh {}: the connection was lost ({})",
                self.destination,
                describe(e)
            ))
        }
    }
}

impl Spawn for Ssh {
    async fn spawn(&self, program: &str, args: Vec<String>) -> Result<Process, Failure> {
        let conn = self.conn().await?;
        // openssh quotes the program and each argument for the remote shell.
        let mut cmd = Session::to_command(conn.session.clone(), program.to_owned());
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().await.map_err(|e| self.lost(&conn, &e))?;
        let (Some(stdin), Some(stdout), Some(stderr)) = (
            child.stdin().take(),
            child.stdout().take(),
            child.stderr().take(),
        ) else {
            return Err(Failure::Unreachable(format!(
                "ssh {}: no pipes to the command",
                self.destination
            )));
        };
        let destination = self.destination.clone();
        let wait = Box::pin(async move {
            match child.wait().await {
                Ok(status) => Ok(status.code()),
                // openssh turns the remote shell's 127 into an error (openssh
                // src/native_mux_impl/child.rs, `wait`); it is the program not found, an
                // answer like any other exit code (a setup failure the backend names), never
                // a reason to try the connection again.
                Err(openssh::Error::Remote(io)) if io.kind() == std::io::ErrorKind::NotFound => {
                    Ok(Some(127))
                }
                Err(e) if conn.alive() => Err(failure(&destination, &e)),
                Err(e) => Err(Failure::Unreachable(format!(
                    "ssh {destination}: the connection was lost ({})",
                    describe(&e)
                ))),
            }
        });
        Ok(Process {
            stdin: Box::new(stdin),
            stdout: Box::new(stdout),
            stderr: Box::new(stderr),
            wait,
        })
    }
}

impl Exec for Ssh {
    async fn run(&self, command: Command) -> Result<Output, Failure> {
        tracing::debug!(%command, "ssh {}", self.destination);
        let args = command.expose_args().map(str::to_owned).collect();
        let process = self.spawn(&command.program, args).await?;
        super::complete(
            process,
            command.stdin.as_ref().map(|s| s.expose_secret().as_bytes()),
        )
        .await
    }

    fn describe(&self) -> String {
        format!("ssh {}", self.destination)
    }
}

/// Makes the kernel send ssh SIGTERM when provision ends, whatever ends it (SIGKILL
/// included): prctl(2) `PR_SET_PDEATHSIG`. It is sent when the thread that started ssh
/// ends; the runtime's worker threads live as long as the run.
fn die_with_provision(command: &mut tokio::process::Command) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: between fork and exec only async-signal-safe calls: prctl, getppid.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // provision ended before the prctl took effect.
            if libc::getppid() != parent {
                return Err(std::io::Error::other("provision has ended"));
            }
            Ok(())
        });
    }
}

/// A file only its owner can read: the master's config names the key and known_hosts.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?
        .write_all(text.as_bytes())
}

/// A path as an ssh_config value: quoted, with `%` escaped (ssh expands `%` tokens in
/// IdentityFile and UserKnownHostsFile, readconf.c).
fn path_value(path: &Path) -> String {
    format!("\"{}\"", path.display().to_string().replace('%', "%%"))
}

/// ssh's own words for a failed connection (the master's log), sorted as [`failure`] does.
fn failure_text(destination: &str, said: &str, kind: Option<std::io::ErrorKind>) -> Failure {
    let text = said.replace("\r\n", " ").replace('\n', " ");
    let text = if text.is_empty() {
        "ssh ended without saying why".to_owned()
    } else {
        text
    };
    match permanent(kind, &text) {
        Some(why) => Failure::Permanent(format!("ssh {destination}: {why} ({text})")),
        None => Failure::Unreachable(format!("ssh {destination}: {text}")),
    }
}

/// A failure of ssh to `destination`, permanent when trying again cannot help.
fn failure(destination: &str, e: &openssh::Error) -> Failure {
    let kind = match e {
        openssh::Error::Connect(io) => Some(io.kind()),
        _ => None,
    };
    failure_text(destination, &describe(e), kind)
}

/// Why ssh's failure will not pass by itself, if it will not. openssh reads the master's
/// stderr into `Error::Connect` with an `io::ErrorKind` (openssh src/error.rs,
/// `interpret_ssh_error`): `PermissionDenied` for "Permission denied (publickey,…)", the
/// server refusing every key offered. It has no kind for host keys or names, so those are
/// read from ssh's own wording, stable for decades (openssh-portable sshconnect.c: "Host key
/// verification failed.", "REMOTE HOST IDENTIFICATION HAS CHANGED"; ssh.c: "Could not
/// resolve hostname"). Refused, reset, timed out and a dropped master stay retryable.
fn permanent(kind: Option<std::io::ErrorKind>, text: &str) -> Option<&'static str> {
    let denied = kind == Some(std::io::ErrorKind::PermissionDenied);
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
