//! What the backends that run a tool on the host share: the program's name, where it runs,
//! and the shapes of ping, preview and run.

use crate::Failure;
use crate::account::Preview;
use crate::port::exec::{Command, Exec, ExecPort, Output};

pub struct Tool {
    pub exec: ExecPort,
    /// The program (`register_new_matrix_user`, or the path the inventory's `command` gives).
    pub command: String,
    /// Said (and logged) wherever it runs, for tools that take the password on argv.
    pub warning: Option<&'static str>,
}

impl Tool {
    pub fn new(exec: ExecPort, command: Option<&String>, default: &str) -> Self {
        Tool {
            exec,
            command: command.cloned().unwrap_or_else(|| default.to_owned()),
            warning: None,
        }
    }

    pub fn warn(mut self, warning: &'static str) -> Self {
        self.warning = Some(warning);
        self
    }

    pub fn via(&self) -> String {
        format!("on {}", self.exec.describe())
    }

    /// Runs a registration command, warning first when the password is on its argv.
    pub async fn run(&self, command: Command) -> Result<Output, Failure> {
        if let Some(w) = self.warning {
            tracing::warn!("{}: {w}", self.exec.describe());
        }
        self.exec.run(command).await
    }

    /// `--check`: the command that would run, secrets masked.
    pub fn preview(&self, command: Command) -> Preview {
        Preview::WouldRun {
            command: command.to_string(),
            warning: self.warning.map(str::to_owned),
        }
    }

    /// `provision ping`: `probe` (the tool's help, usually) runs and succeeds.
    pub async fn answers(&self, probe: Command) -> Result<String, Failure> {
        let out = self.exec.run(probe).await?;
        if !out.success() {
            return Err(out.failure(&self.command, ""));
        }
        Ok(format!(
            "{} answers on {}",
            self.command,
            self.exec.describe()
        ))
    }
}

/// The `show` of a tool backend's config for `provision inventory`.
pub fn show(
    kind: &str,
    fields: &[(&str, Option<&String>)],
    warning: Option<&str>,
) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    map.insert("kind".into(), kind.into());
    for (k, v) in fields {
        map.insert((*k).into(), serde_json::to_value(v).unwrap_or_default());
    }
    if let Some(w) = warning {
        map.insert("warning".into(), w.into());
    }
    serde_json::Value::Object(map)
}
