//! `docker exec -i CONTAINER …` run through another transport: docker on a remote host over
//! SSH, the way matrix-docker-ansible-deploy hosts run their services. A wrapper, not another
//! copy of the exec logic (pyinfra's `dockerssh`).

use provision_backends::port::Failure;
use provision_backends::port::exec::{Arg, Command, Exec, Output};

use super::docker::ContainerName;

pub struct DockerCli<T> {
    inner: T,
    /// Validated: it cannot start with `-`, so `docker exec` never reads it as an option.
    container: ContainerName,
}

impl<T> DockerCli<T> {
    pub fn new(inner: T, container: &ContainerName) -> Self {
        DockerCli {
            inner,
            container: container.clone(),
        }
    }

    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: Exec + Sync> Exec for DockerCli<T> {
    async fn run(&self, command: Command) -> Result<Output, Failure> {
        let mut args = vec![
            Arg::Plain("exec".into()),
            Arg::Plain("-i".into()),
            Arg::Plain(self.container.to_string()),
            Arg::Plain(command.program),
        ];
        args.extend(command.args);
        let wrapped = Command {
            program: "docker".into(),
            args,
            stdin: command.stdin,
        };
        let out = self.inner.run(wrapped).await?;
        // docker's own failures (exit 125: no such container, not running; 126/127 inside)
        // mean the command never ran: say which container.
        if out.code == Some(125) {
            return Err(Failure::Unreachable(format!(
                "{}: docker exec in container {}: {}",
                self.inner.describe(),
                self.container,
                out.tail()
            )));
        }
        Ok(out)
    }

    fn describe(&self) -> String {
        format!("{} docker exec {}", self.inner.describe(), self.container)
    }
}
