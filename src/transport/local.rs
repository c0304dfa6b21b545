//! Programs on the machine provision runs on.

use std::process::Stdio;

use provision_backends::port::exec::{Command, Exec, Output};
use provision_backends::port::{ExposeSecret, Failure};
use tokio::io::AsyncWriteExt;

pub struct Local;

impl super::Spawn for Local {
    async fn spawn(&self, program: &str, args: Vec<String>) -> Result<super::Process, Failure> {
        let mut child = tokio::process::Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Failure::Rejected(format!("cannot start {program}: {e}")))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(Failure::Rejected(format!("{program}: no pipes")));
        };
        let program = program.to_owned();
        Ok(super::Process {
            stdin: Box::new(stdin),
            stdout: Box::new(stdout),
            stderr: Box::new(stderr),
            wait: Box::pin(async move {
                child
                    .wait()
                    .await
                    .map(|s| s.code())
                    .map_err(|e| Failure::Unreachable(format!("waiting for {program}: {e}")))
            }),
        })
    }
}

impl Exec for Local {
    async fn run(&self, command: Command) -> Result<Output, Failure> {
        tracing::debug!(%command, "local");
        let mut cmd = tokio::process::Command::new(&command.program);
        cmd.args(command.expose_args());
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A host that times out drops this future: the program must not outlive it.
            .kill_on_drop(true);
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            // The same answer a remote shell gives, so backends see one shape.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Output {
                    code: Some(127),
                    stdout: String::new(),
                    stderr: format!("{}: not found", command.program),
                });
            }
            Err(e) => {
                return Err(Failure::Unreachable(format!(
                    "cannot start {}: {e}",
                    command.program
                )));
            }
        };
        feed(
            child.stdin.take(),
            command.stdin.as_ref().map(|s| s.expose_secret().as_bytes()),
        )
        .await;
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| Failure::Unreachable(format!("waiting for {}: {e}", command.program)))?;
        Ok(Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    fn describe(&self) -> String {
        "local".into()
    }
}

/// Writes stdin and closes it. A program that exits without reading (`--help`) makes the
/// write fail with a broken pipe, which is no error of ours.
pub async fn feed(stdin: Option<impl AsyncWriteExt + Unpin>, input: Option<&[u8]>) {
    if let Some(mut pipe) = stdin {
        if let Some(bytes) = input {
            let _ = pipe.write_all(bytes).await;
        }
        let _ = pipe.shutdown().await;
    }
}
