//! Programs in a container of the Docker Engine, through its API (bollard): the local socket,
//! or `DOCKER_HOST`. Equivalent to `docker exec -i CONTAINER PROGRAM ARGS`.

use bollard::Docker as Engine;
use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::StreamExt;
use provision_backends::exec::{Command, Exec, Output};
use provision_backends::{ExposeSecret, Failure};
use tokio::io::AsyncWriteExt;
use tokio::sync::OnceCell;

pub struct Docker {
    container: String,
    engine: OnceCell<Engine>,
}

impl Docker {
    pub fn new(container: &str) -> Self {
        Docker {
            container: container.to_owned(),
            engine: OnceCell::new(),
        }
    }

    async fn engine(&self) -> Result<&Engine, Failure> {
        self.engine
            .get_or_try_init(|| async {
                let engine = Engine::connect_with_defaults()
                    .map_err(|e| Failure::Unreachable(format!("docker: {e}")))?;
                engine.ping().await.map_err(|e| {
                    Failure::Unreachable(format!("docker: the engine does not answer: {e}"))
                })?;
                Ok(engine)
            })
            .await
    }

    fn failed(&self, e: bollard::errors::Error) -> Failure {
        use bollard::errors::Error as E;
        let why = match &e {
            E::DockerResponseServerError {
                status_code: 404, ..
            } => "no such container".to_owned(),
            E::DockerResponseServerError {
                status_code: 409,
                message,
            } => message.clone(),
            other => other.to_string(),
        };
        Failure::Unreachable(format!(
            "docker exec in container {}: {why}",
            self.container
        ))
    }
}

impl Exec for Docker {
    async fn run(&self, command: Command) -> Result<Output, Failure> {
        let engine = self.engine().await?;
        tracing::debug!(%command, "docker {}", self.container);
        let mut argv = vec![command.program.clone()];
        argv.extend(command.expose_args().map(str::to_owned));
        let exec = engine
            .create_exec(
                &self.container,
                CreateExecOptions {
                    cmd: Some(argv),
                    attach_stdin: Some(true),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| self.failed(e))?;
        let mut out = Output::default();
        match engine
            .start_exec(&exec.id, None)
            .await
            .map_err(|e| self.failed(e))?
        {
            StartExecResults::Attached {
                mut output,
                mut input,
            } => {
                if let Some(stdin) = &command.stdin {
                    let _ = input.write_all(stdin.expose_secret().as_bytes()).await;
                }
                let _ = input.shutdown().await;
                drop(input);
                while let Some(chunk) = output.next().await {
                    use bollard::container::LogOutput as L;
                    match chunk.map_err(|e| self.failed(e))? {
                        L::StdOut { message } | L::Console { message } => {
                            out.stdout.push_str(&String::from_utf8_lossy(&message))
                        }
                        L::StdErr { message } => {
                            out.stderr.push_str(&String::from_utf8_lossy(&message))
                        }
                        L::StdIn { .. } => {}
                    }
                }
            }
            StartExecResults::Detached => {}
        }
        let inspect = engine
            .inspect_exec(&exec.id)
            .await
            .map_err(|e| self.failed(e))?;
        out.code = inspect.exit_code.map(|c| c as i32);
        Ok(out)
    }

    fn describe(&self) -> String {
        format!("docker exec {}", self.container)
    }
}
