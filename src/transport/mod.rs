//! Transports deliver what backends ask for to one host and bring back the answer. They know
//! nothing of Matrix. Layers (sudo, docker exec through another transport, retry) wrap a
//! transport instead of being repeated inside each one.

mod cause;
mod docker;
mod docker_cli;
mod docker_tunnel;
mod http;
mod local;
mod pg_tls;
mod postgres;
mod psql;
mod retry;
pub mod rundir;
mod ssh;
mod sudo;
mod tunnel;

use std::future::Future;
use std::pin::Pin;

use provision_backends::port::Failure;
use provision_backends::port::exec::{Command, Exec, Output};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

pub use docker::{ContainerName, Docker};
pub use docker_cli::DockerCli;
pub use docker_tunnel::DockerTunnel;
pub use http::{HttpTransport, client as http_client};
pub use local::Local;
pub use postgres::Postgres;
pub use psql::Psql;
pub use retry::Retry;
pub use ssh::Ssh;
pub use sudo::Sudo;
pub use tunnel::SshTunnel;

/// Every way of running a program, composed from the pieces above.
pub enum ExecTransport {
    Local(Local),
    Ssh(std::sync::Arc<Ssh>),
    Docker(Docker),
    Sudo(Box<Sudo<ExecTransport>>),
    DockerCli(Box<DockerCli<ExecTransport>>),
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A program started with its standard streams as pipes, for a layer that must talk to it
/// while it runs (sudo's password prompt) rather than hand it all its input at once.
pub struct Process {
    pub stdin: Box<dyn AsyncWrite + Send + Unpin>,
    pub stdout: Box<dyn AsyncRead + Send + Unpin>,
    pub stderr: Box<dyn AsyncRead + Send + Unpin>,
    /// Its exit code once it ends (`None`: killed by a signal); `Err` when the transport lost
    /// it.
    pub wait: Boxed<'static, Result<Option<i32>, Failure>>,
}

/// Transports that can start a program and hand back its pipes.
pub trait Spawn {
    fn spawn(
        &self,
        program: &str,
        args: Vec<String>,
    ) -> impl Future<Output = Result<Process, Failure>> + Send;
}

/// Feeds `input` to a started program, reads its output to the end and waits for it.
pub async fn complete(process: Process, input: Option<&[u8]>) -> Result<Output, Failure> {
    let Process {
        stdin,
        mut stdout,
        mut stderr,
        wait,
    } = process;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    // At once: a program that writes much before it reads must not block on a full pipe.
    let ((), _, _) = tokio::join!(
        local::feed(Some(stdin), input),
        stdout.read_to_end(&mut out),
        stderr.read_to_end(&mut err),
    );
    Ok(Output {
        code: wait.await?,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
    })
}

impl ExecTransport {
    /// Ends connections politely (the SSH master); dropping would end them too.
    pub fn close(self) -> Boxed<'static, ()> {
        Box::pin(async move {
            match self {
                // The host's connection: the target closes it once everything using it is done.
                ExecTransport::Ssh(_) => {}
                ExecTransport::Sudo(s) => s.into_inner().close().await,
                ExecTransport::DockerCli(d) => d.into_inner().close().await,
                ExecTransport::Local(_) | ExecTransport::Docker(_) => {}
            }
        })
    }

    fn run_boxed(&self, command: Command) -> Boxed<'_, Result<Output, Failure>> {
        match self {
            ExecTransport::Local(t) => Box::pin(t.run(command)),
            ExecTransport::Ssh(t) => Box::pin(t.run(command)),
            ExecTransport::Docker(t) => Box::pin(t.run(command)),
            ExecTransport::Sudo(t) => Box::pin(t.run(command)),
            ExecTransport::DockerCli(t) => Box::pin(t.run(command)),
        }
    }
}

impl Spawn for ExecTransport {
    async fn spawn(&self, program: &str, args: Vec<String>) -> Result<Process, Failure> {
        match self {
            ExecTransport::Ssh(t) => t.spawn(program, args).await,
            ExecTransport::Local(t) => t.spawn(program, args).await,
            // `become` is an SSH setting: the inventory puts sudo on nothing else.
            other => Err(Failure::Rejected(format!(
                "internal error: cannot talk to a program on {}",
                other.describe()
            ))),
        }
    }
}

impl Exec for ExecTransport {
    fn run(&self, command: Command) -> impl Future<Output = Result<Output, Failure>> + Send {
        // Boxed: the layers make this type recursive.
        self.run_boxed(command)
    }

    fn describe(&self) -> String {
        match self {
            ExecTransport::Local(t) => t.describe(),
            ExecTransport::Ssh(t) => t.describe(),
            ExecTransport::Docker(t) => t.describe(),
            ExecTransport::Sudo(t) => t.describe(),
            ExecTransport::DockerCli(t) => t.describe(),
        }
    }
}
