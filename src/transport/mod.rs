//! Transports deliver what backends ask for to one host and bring back the answer. They know
//! nothing of Matrix. Layers (sudo, docker exec through another transport, retry) wrap a
//! transport instead of being repeated inside each one.

mod cause;
mod docker;
mod docker_cli;
mod http;
mod local;
mod postgres;
mod psql;
mod retry;
mod ssh;
mod sudo;

use std::future::Future;
use std::pin::Pin;

use provision_backends::Failure;
use provision_backends::exec::{Command, Exec, Output};

pub use docker::{ContainerName, Docker};
pub use docker_cli::DockerCli;
pub use http::{HttpTransport, client as http_client};
pub use local::Local;
pub use postgres::Postgres;
pub use psql::Psql;
pub use retry::Retry;
pub use ssh::Ssh;
pub use sudo::Sudo;

/// Every way of running a program, composed from the pieces above.
pub enum ExecTransport {
    Local(Local),
    Ssh(std::sync::Arc<Ssh>),
    Docker(Docker),
    Sudo(Box<Sudo<ExecTransport>>),
    DockerCli(Box<DockerCli<ExecTransport>>),
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

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
