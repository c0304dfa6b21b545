//! Programs in a container of the Docker Engine, through its API (bollard): the local socket,
//! or `DOCKER_HOST`. Equivalent to `docker exec -i CONTAINER PROGRAM ARGS`.

use bollard::Docker as Engine;
use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::StreamExt;
use provision_backends::port::exec::{Command, Exec, Output};
use provision_backends::port::{ExposeSecret, Failure};
use tokio::io::AsyncWriteExt;
use tokio::sync::OnceCell;

/// A container name as the Docker Engine itself allows it: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`
/// (moby daemon/names/names.go, `RestrictedNamePattern`). The Engine API puts the name in a
/// path (`/containers/{name}/exec`, which bollard does not escape), so `../x` or `a?b` would
/// reach another endpoint; `docker exec` on a command line would take `-x` as an option. The
/// only way to make one is [`ContainerName::parse`], at inventory load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerName(String);

impl ContainerName {
    pub fn parse(name: &str) -> Result<Self, String> {
        let mut chars = name.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
        let rest_ok = name.len() >= 2
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if first_ok && rest_ok {
            Ok(ContainerName(name.to_owned()))
        } else {
            Err(format!(
                "invalid container name {name:?}: Docker allows [a-zA-Z0-9][a-zA-Z0-9_.-]+ (a letter or digit, then at least one letter, digit, '_', '.' or '-')"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ContainerName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for ContainerName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for ContainerName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl serde::Serialize for ContainerName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

pub struct Docker {
    container: ContainerName,
    engine: OnceCell<Engine>,
}

impl Docker {
    pub fn new(container: &ContainerName) -> Self {
        Docker {
            container: container.clone(),
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

    /// The container's addresses on its Docker networks (`NetworkSettings.Networks`); none for
    /// a container on the host's network, whose loopback is this machine's.
    pub async fn addresses(&self) -> Result<Vec<String>, Failure> {
        let engine = self.engine().await?;
        let inspected = engine
            .inspect_container(self.container.as_str(), None)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(inspected
            .network_settings
            .and_then(|n| n.networks)
            .into_iter()
            .flat_map(|networks| networks.into_values())
            .filter_map(|endpoint| endpoint.ip_address)
            .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
            .collect())
    }

    pub fn container(&self) -> &ContainerName {
        &self.container
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
                self.container.as_str(),
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

#[cfg(test)]
mod tests {
    use super::ContainerName;

    #[test]
    fn container_names_follow_dockers_grammar() {
        for good in ["matrix-synapse", "a1", "x_y.z-0", "0123456789ab"] {
            assert!(ContainerName::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "", "a", "../x", "a?b", "-x", "_x", ".x", "a/b", "a b", "a#b", "a%2e", "é1",
        ] {
            let err = ContainerName::parse(bad).unwrap_err();
            assert!(err.contains("invalid container name"), "{bad}: {err}");
        }
    }
}
