//! What the backends that run a tool on the host share: the program's name, where it runs,
//! and the shapes of ping, preview and run.

use crate::Failure;
use crate::port::Ports;
use crate::settings::{Backend, Config, Settings};
use std::marker::PhantomData;

use crate::account::{Account, Preview};
use crate::port::exec::{Command, Exec, ExecPort, Output};

pub struct Tool {
    pub exec: ExecPort,
    /// The program (`register_new_matrix_user`, or the path the inventory's `command` gives).
    pub command: String,
    /// Said (and logged) wherever it runs, for tools that take the password on argv.
    pub warning: Option<&'static str>,
}

impl Tool {
    fn new(exec: ExecPort, command: Option<&String>, default: &str) -> Self {
        Tool {
            exec,
            command: command.cloned().unwrap_or_else(|| default.to_owned()),
            warning: None,
        }
    }

    fn warn(mut self, warning: &'static str) -> Self {
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

/// The inventory keys of a backend that runs a tool: `config` (the server's config file on
/// the host, for the tools that read their secret from it), `url` (where the tool reaches the
/// server from there) and `command` (the tool's path, when not the default). Each backend
/// reads those of its `KEYS`.
pub struct ToolConfig<B> {
    pub config: Option<String>,
    pub url: Option<String>,
    pub command: Option<String>,
    /// `via: tool` or `via: api`, for the backends whose `KEYS` have it: how registrations
    /// go when the backend could call the server's API itself (synapse-cli).
    pub via: Option<Via>,
    backend: PhantomData<fn() -> B>,
}

/// The inventory's `via`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Always the tool, as before the API could be reached.
    Tool,
    /// Always the API: a host where it cannot be reached fails instead of using the tool.
    Api,
}

/// A backend that runs a tool, made from its [`ToolConfig`].
pub trait FromTool: Backend + Account + Sized + 'static {
    /// Whether `config` must be given.
    const CONFIG_REQUIRED: bool = false;
    /// Said wherever it runs and in `provision inventory`, for tools that take the password
    /// on argv.
    const WARNING: Option<&'static str> = None;
    fn from_tool(exec: ExecPort, config: &ToolConfig<Self>) -> Self;
    /// Built over the host's ports: its exec port, unless the backend asks for more.
    fn build(ports: &dyn Ports, config: &ToolConfig<Self>) -> Result<Self, String> {
        Ok(Self::from_tool(ports.exec()?, config))
    }
}

/// What `config` is, for the "missing key" message.
const CONFIG_WHY: &str = "the server's config file on the target, e.g. /data/homeserver.yaml";

impl<B: FromTool> ToolConfig<B> {
    #[cfg(test)]
    pub fn new(config: Option<&str>, url: Option<&str>, command: Option<&str>) -> Self {
        ToolConfig {
            config: config.map(str::to_owned),
            url: url.map(str::to_owned),
            command: command.map(str::to_owned),
            via: None,
            backend: PhantomData,
        }
    }

    pub fn read<S: Settings>(s: &S) -> Result<Box<dyn Config>, S::Error> {
        let has = |key: &str| B::KEYS.contains(&key);
        let config = match (has("config"), B::CONFIG_REQUIRED) {
            (true, true) => Some(s.string("config", CONFIG_WHY)?),
            (true, false) => s.optional("config")?,
            (false, _) => None,
        };
        let url = if has("url") {
            s.optional_url("url")?
        } else {
            None
        };
        let command = s.optional("command")?;
        let via = if !has("via") { None } else { Self::via(s)? };
        Ok(Box::new(ToolConfig::<B> {
            config,
            url,
            command,
            via,
            backend: PhantomData,
        }))
    }

    /// The inventory's `via`, checked.
    fn via<S: Settings>(s: &S) -> Result<Option<Via>, S::Error> {
        match s.optional("via")?.as_deref() {
            None => Ok(None),
            Some("tool") => Ok(Some(Via::Tool)),
            Some("api") => Ok(Some(Via::Api)),
            Some(other) => Err(s.wrong(
                "via",
                &format!(
                    "{other:?}: `tool` (always run the tool) or `api` (always the shared-secret API over the host's SSH); unset, the API when it can be reached, else the tool"
                ),
            )),
        }
    }

    /// The tool's command: the inventory's, else `default`.
    pub fn tool(&self, exec: ExecPort, default: &str) -> Tool {
        let tool = Tool::new(exec, self.command.as_ref(), default);
        match B::WARNING {
            Some(w) => tool.warn(w),
            None => tool,
        }
    }
}

impl<B: FromTool> Config for ToolConfig<B> {
    fn show(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        map.insert("kind".into(), B::NAME.into());
        for (key, value) in [
            ("config", &self.config),
            ("url", &self.url),
            ("command", &self.command),
        ] {
            if B::KEYS.contains(&key) {
                map.insert(key.into(), serde_json::to_value(value).unwrap_or_default());
            }
        }
        if let Some(via) = self.via {
            let via = match via {
                Via::Tool => "tool",
                Via::Api => "api",
            };
            map.insert("via".into(), via.into());
        }
        if let Some(w) = B::WARNING {
            map.insert("warning".into(), w.into());
        }
        serde_json::Value::Object(map)
    }

    fn build(&self, ports: &dyn Ports) -> Result<Box<dyn Account>, String> {
        Ok(Box::new(B::build(ports, self)?))
    }
}
