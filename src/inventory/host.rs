//! One host's merged variables turned into a typed [`Host`]: which backend, reached how, with
//! secrets from where. Every error names the key and the place it was set.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::{Location, Spanned};

use super::{File, raw};
use crate::error::Error;
use crate::secret_source::SecretSource;
use crate::transport::ContainerName;
use provision_backends::Op;
use provision_backends::settings::{Config, Homeserver, Mas};

use super::settings::HostSettings;
use crate::registry::{self, Kind};
use std::sync::Arc;

/// The keys of the host itself; each backend's own keys come from the registry.
const HOST_KEYS: &[&str] = &[
    "server_name",
    "backend",
    "admin_backend",
    "transport",
    "ssh",
    "docker",
    "mas",
];
const TRANSPORTS: &[&str] = &["http", "local", "ssh", "docker"];

/// Every key a host or group may set: the host's and every backend's. Anything else is a typo
/// or a key of another tool.
fn keys() -> Vec<&'static str> {
    let mut keys = HOST_KEYS.to_vec();
    for kind in registry::BACKENDS {
        for key in kind.keys {
            if !keys.contains(key) {
                keys.push(key);
            }
        }
    }
    keys
}

pub struct Host {
    pub name: String,
    pub server_name: String,
    /// What the host's accounts are changed with, in the order the router tries them: the
    /// inventory's `backend`, then its `admin_backend`.
    pub backends: Vec<Configured>,
    pub transport: Transport,
    /// How to reach the host over SSH: for `transport: ssh`, and for the SQL admin backend,
    /// which then tunnels to the database through it.
    pub ssh: Option<SshTarget>,
}

/// One backend of a host, its settings read: built for a run by the router.
pub struct Configured {
    pub kind: &'static Kind,
    pub config: Box<dyn Config>,
}

impl Host {
    /// The first backend that can do `op`, as the router will pick it.
    pub fn first(&self, op: Op) -> Option<&Configured> {
        self.backends.iter().find(|b| b.kind.can(op))
    }
}

/// Where a backend's requests or commands go.
pub enum Transport {
    /// The backend talks HTTP to its `url` (shared-secret).
    Http,
    /// A process on the machine provision runs on.
    Local,
    /// A process on a remote host (the host's `ssh`); with `docker`, inside a container there
    /// (`docker exec`).
    Ssh { container: Option<ContainerName> },
    /// A process in a container of the local (or `DOCKER_HOST`) Docker Engine.
    Docker { container: ContainerName },
}

pub struct SshTarget {
    pub host: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub identity_file: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    /// Add an unknown host key to known_hosts instead of refusing (ssh's accept-new).
    pub accept_new_host_key: bool,
    pub sudo: Option<Become>,
    /// More ssh_config options (`ProxyJump`, `ConnectTimeout`, ...), as (keyword, value),
    /// from a playbook inventory's `ansible_ssh_common_args`: checked against the keywords
    /// provision applies when the inventory is read, then given to ssh as `-o`.
    pub options: Vec<(String, String)>,
}

/// Run commands through sudo as another user.
pub struct Become {
    pub user: String,
    pub password: Option<SecretSource>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSsh {
    host: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    identity_file: Option<String>,
    known_hosts: Option<String>,
    #[serde(default)]
    accept_new_host_key: bool,
    #[serde(default, rename = "become")]
    become_: bool,
    become_user: Option<String>,
    become_password: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDocker {
    container: String,
}

pub fn check_keys(file: &File, vars: &raw::Vars) -> Result<(), Error> {
    let known = keys();
    for key in vars.keys() {
        if !known.contains(&key.value.as_str()) {
            let hint = suggest(&key.value, &known)
                .map(|k| format!(" (did you mean `{k}`?)"))
                .unwrap_or_else(|| format!("; known keys: {}", known.join(", ")));
            return Err(file.at_loc(
                format!("unknown key `{}`{hint}", key.value),
                &key.referenced,
            ));
        }
    }
    Ok(())
}

fn suggest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::normalized_damerau_levenshtein(word, k), *k))
        .filter(|(score, _)| *score >= 0.6)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

pub(super) type Merged<'a> = IndexMap<&'a str, (&'a Spanned<String>, &'a Spanned<Value>)>;

/// Typed access to one host's merged variables.
pub(super) struct Vars<'a, 'f> {
    file: &'f File<'f>,
    host: &'a str,
    host_at: Location,
    merged: &'a Merged<'a>,
}

impl Vars<'_, '_> {
    pub(super) fn get(&self, key: &str) -> Option<&Spanned<Value>> {
        self.merged.get(key).map(|(_, v)| *v)
    }

    pub(super) fn missing(&self, key: &str, why: &str) -> Error {
        self.file.at_loc(
            format!(
                "host `{}`: missing key `{key}` ({why}); set it on the host or in a group's vars",
                self.host
            ),
            &self.host_at,
        )
    }

    pub(super) fn wrong(
        &self,
        key: &str,
        v: &Spanned<Value>,
        why: impl std::fmt::Display,
    ) -> Error {
        self.file.at_loc(
            format!("host `{}`: `{key}`: {why}", self.host),
            &v.referenced,
        )
    }

    pub(super) fn string(&self, key: &str, why: &str) -> Result<(String, &Spanned<Value>), Error> {
        let v = self.get(key).ok_or_else(|| self.missing(key, why))?;
        match &v.value {
            Value::String(s) if !s.is_empty() => Ok((s.clone(), v)),
            Value::String(_) => Err(self.wrong(key, v, "must not be empty")),
            other => Err(self.wrong(key, v, format!("expected a string, found {}", kind(other)))),
        }
    }

    /// A URL with `user:password@` in it would be shown wherever the URL is (inventory,
    /// --check, errors, logs, a tool's argv): refused, without showing the line that holds it.
    pub(super) fn no_userinfo(
        &self,
        key: &str,
        v: &Spanned<Value>,
        url: &str,
    ) -> Result<(), Error> {
        let has = reqwest::Url::parse(url)
            .map(|u| !u.username().is_empty() || u.password().is_some())
            .unwrap_or_else(|_| {
                url.split_once("://").is_some_and(|(_, rest)| {
                    rest.split(['/', '?', '#'])
                        .next()
                        .unwrap_or("")
                        .contains('@')
                })
            });
        if !has {
            return Ok(());
        }
        let mut err = self.wrong(
            key,
            v,
            "holds a user name or password (`user:pass@`); provision shows URLs in its output, so credentials go in a secret source (admin_token, shared_secret: {file: PATH} or {env: NAME})",
        );
        if let Error::Inventory(located) = &mut err {
            located.source_line = None;
        }
        Err(err)
    }

    pub(super) fn url(&self, key: &str, why: &str) -> Result<reqwest::Url, Error> {
        let (s, v) = self.string(key, why)?;
        self.no_userinfo(key, v, &s)?;
        let url =
            reqwest::Url::parse(&s).map_err(|e| self.wrong(key, v, format!("not a URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(self.wrong(key, v, "must be an http:// or https:// URL"));
        }
        Ok(url)
    }

    pub(super) fn secret(
        &self,
        key: &str,
        value: &Spanned<Value>,
        base: &Path,
    ) -> Result<SecretSource, Error> {
        let shape = "expected {file: PATH} or {env: NAME}";
        let Value::Object(map) = &value.value else {
            return Err(self.wrong(key, value, shape));
        };
        let (kind, inner) = match map.iter().collect::<Vec<_>>().as_slice() {
            [(k, Value::String(s))] if !s.is_empty() => (k.as_str(), s.clone()),
            _ => return Err(self.wrong(key, value, shape)),
        };
        match kind {
            "file" => Ok(SecretSource::File(base.join(inner))),
            "env" => Ok(SecretSource::Env(inner)),
            "value" => {
                tracing::warn!(
                    "{}:{}: host `{}`: `{key}` is written inline in the inventory; prefer {{file: PATH}} or {{env: NAME}}",
                    self.file.path.display(),
                    value.referenced.line(),
                    self.host
                );
                Ok(SecretSource::Inline(inner.into()))
            }
            other => Err(self.wrong(
                key,
                value,
                format!("unknown secret source `{other}`: {shape}"),
            )),
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

impl Host {
    pub(super) fn from_vars(
        file: &File,
        name: &str,
        host_at: &Location,
        merged: &Merged,
        inventory_path: &Path,
    ) -> Result<Host, Error> {
        let vars = Vars {
            file,
            host: name,
            host_at: *host_at,
            merged,
        };
        // Relative secret paths are relative to the inventory, wherever provision runs.
        let base = inventory_path.parent().unwrap_or(Path::new("."));

        let (server_name, at) =
            vars.string("server_name", "the Matrix server name, e.g. example.com")?;
        provision_backends::user_id::check_server_name(&server_name)
            .map_err(|e| vars.wrong("server_name", at, e))?;

        let mas = match vars.get("mas") {
            Some(v) => Some(parse_mas(&vars, v, base)?),
            None => None,
        };
        let (backend, _) = backend_kind(&vars, "backend", Op::Register)?;
        let admin = match vars.get("admin_backend") {
            Some(_) => Some(backend_kind(&vars, "admin_backend", Op::SetAdmin)?.0),
            None => None,
        };
        let settings = HostSettings {
            vars: &vars,
            base,
            mas,
            homeserver: backend.homeserver.unwrap_or(Homeserver::Synapse),
        };
        let mut backends = vec![Configured {
            kind: backend,
            config: (backend.configure)(&settings)?,
        }];
        let transport = transport(&vars, backend)?;
        let ssh = match (&transport, vars.get("ssh")) {
            (Transport::Ssh { .. }, _) | (_, Some(_)) => Some(ssh_target(&vars, name, base)?),
            _ => None,
        };
        if let Some(admin) = admin {
            backends.push(Configured {
                kind: admin,
                config: (admin.configure)(&settings)?,
            });
        }
        Ok(Host {
            name: name.to_owned(),
            server_name,
            backends,
            transport,
            ssh,
        })
    }
}

/// The backend named at `key`, which must be able to do `op` (`backend` registers,
/// `admin_backend` sets the admin flag).
fn backend_kind<'a>(
    vars: &'a Vars,
    key: &str,
    op: Op,
) -> Result<(&'static Kind, &'a Spanned<Value>), Error> {
    let known = registry::names_for(op);
    let (name, at) = vars.string(key, &format!("one of: {}", known.join(", ")))?;
    match registry::find(&name) {
        Some(kind) if kind.can(op) => Ok((kind, at)),
        Some(kind) => Err(vars.wrong(
            key,
            at,
            format!(
                "{} cannot {}; for `{key}` use one of: {}",
                kind.name,
                op.what(),
                known.join(", ")
            ),
        )),
        None => {
            let hint = suggest(&name, &known)
                .map(|b| format!(" (did you mean `{b}`?)"))
                .unwrap_or_default();
            let what = if key == "backend" {
                "backend"
            } else {
                "admin backend"
            };
            Err(vars.wrong(
                key,
                at,
                format!("unknown {what} `{name}`{hint}; known: {}", known.join(", ")),
            ))
        }
    }
}

/// `mas: {url, client_id, client_secret}` marks a host whose accounts MAS owns, and is how
/// the mas-api admin backend reaches MAS's admin API.
fn parse_mas(vars: &Vars, mas: &Spanned<Value>, base: &Path) -> Result<Mas, Error> {
    let shape = "expected {url: URL, client_id: ID, client_secret: {file: PATH}}";
    let Value::Object(map) = &mas.value else {
        return Err(vars.wrong("mas", mas, shape));
    };
    for key in map.keys() {
        if !["url", "client_id", "client_secret"].contains(&key.as_str()) {
            return Err(vars.wrong(
                "mas",
                mas,
                format!("unknown key `{key}` (known: url, client_id, client_secret)"),
            ));
        }
    }
    let string = |key: &str| match map.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(vars.wrong("mas", mas, format!("`{key}` must be a non-empty string"))),
    };
    let url = string("url")?;
    vars.no_userinfo("mas", mas, &url)?;
    let url = reqwest::Url::parse(&url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| vars.wrong("mas", mas, "`url` must be an http:// or https:// URL"))?;
    let client_id = string("client_id")?;
    let Some(secret) = map.get("client_secret") else {
        return Err(vars.wrong("mas", mas, "missing `client_secret`"));
    };
    let spanned = Spanned::new(secret.clone(), mas.referenced, mas.defined);
    let client_secret = vars.secret("mas.client_secret", &spanned, base)?;
    Ok(Mas {
        url: url.as_str().to_owned(),
        client_id,
        client_secret: Arc::new(client_secret),
    })
}

/// The host's transport, checked against what its backend needs before anything runs: the
/// shared-secret backend speaks HTTP, the others run a program.
fn transport(vars: &Vars, backend: &Kind) -> Result<Transport, Error> {
    let http_backend = !backend.runs_programs;
    let Some(at) = vars.get("transport") else {
        if http_backend {
            return Ok(Transport::Http);
        }
        return Err(vars.missing(
            "transport",
            "this backend runs a program: local, ssh or docker",
        ));
    };
    let (name, _) = vars.string("transport", "")?;
    let docker = match vars.get("docker") {
        None => None,
        Some(v) => {
            let raw = serde_json::from_value::<RawDocker>(v.value.clone()).map_err(|e| {
                vars.wrong("docker", v, format!("{e}; expected {{container: NAME}}"))
            })?;
            Some(ContainerName::parse(&raw.container).map_err(|e| vars.wrong("docker", v, e))?)
        }
    };
    let transport = match name.as_str() {
        "http" => Transport::Http,
        "local" => Transport::Local,
        "ssh" => Transport::Ssh { container: docker },
        "docker" => Transport::Docker {
            container: docker.ok_or_else(|| {
                vars.missing("docker", "transport docker needs {container: NAME}")
            })?,
        },
        other => {
            let hint = suggest(other, TRANSPORTS)
                .map(|t| format!(" (did you mean `{t}`?)"))
                .unwrap_or_default();
            return Err(vars.wrong(
                "transport",
                at,
                format!(
                    "unknown transport `{other}`{hint}; known: {}",
                    TRANSPORTS.join(", ")
                ),
            ));
        }
    };
    match (&transport, http_backend) {
        (Transport::Http, false) => Err(vars.wrong(
            "transport",
            at,
            format!(
                "this backend runs a program: use local, ssh or docker (http is for the backends that talk HTTP: {})",
                tool_backends(false)
            ),
        )),
        (Transport::Local | Transport::Ssh { .. } | Transport::Docker { .. }, true) => Err(vars.wrong(
            "transport",
            at,
            format!(
                "backend {} talks HTTP to `url`; local, ssh and docker are for the backends that run a tool ({})",
                backend.name,
                tool_backends(true)
            ),
        )),
        _ => Ok(transport),
    }
}

/// The registering backends that run a program (or do not), for messages.
fn tool_backends(runs_programs: bool) -> String {
    registry::names_for(Op::Register)
        .into_iter()
        .filter(|name| registry::find(name).is_some_and(|k| k.runs_programs == runs_programs))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `ssh:` mapping, with Ansible's defaults: the inventory name is the address.
fn ssh_target(vars: &Vars, host: &str, base: &Path) -> Result<SshTarget, Error> {
    let raw = match vars.get("ssh") {
        None => None,
        Some(v) => Some(
            serde_json::from_value::<RawSsh>(v.value.clone())
                .map_err(|e| vars.wrong("ssh", v, e))?,
        ),
    };
    let raw = raw.unwrap_or(RawSsh {
        host: None,
        port: None,
        user: None,
        identity_file: None,
        known_hosts: None,
        accept_new_host_key: false,
        become_: false,
        become_user: None,
        become_password: None,
    });
    // ssh and sudo read a word starting with '-' as an option (`-oProxyCommand=…` as a host
    // name runs a command locally): such values are refused here, before any transport.
    let at = || {
        vars.get("ssh")
            .map(|v| v.referenced)
            .unwrap_or(vars.host_at)
    };
    let target = raw.host.clone().unwrap_or_else(|| host.to_owned());
    for (key, value) in [
        ("ssh.host", Some(&target)),
        ("ssh.user", raw.user.as_ref()),
        ("ssh.become_user", raw.become_user.as_ref()),
    ] {
        if let Some(value) = value
            && (value.is_empty() || value.starts_with('-'))
        {
            return Err(vars.file.at_loc(
                format!(
                    "host `{}`: `{key}` {value:?} may not be empty or start with '-' (ssh and sudo would read it as an option)",
                    vars.host
                ),
                &at(),
            ));
        }
    }
    let path = |p: String| {
        if p.starts_with('~') {
            PathBuf::from(p)
        } else {
            base.join(p)
        }
    };
    let sudo = if raw.become_ {
        let password = match raw.become_password {
            None => None,
            Some(v) => {
                let at = vars.get("ssh").expect("ssh was given");
                let spanned = Spanned::new(v, at.referenced, at.defined);
                Some(vars.secret("ssh.become_password", &spanned, base)?)
            }
        };
        Some(Become {
            user: raw.become_user.unwrap_or_else(|| "root".into()),
            password,
        })
    } else {
        None
    };
    Ok(SshTarget {
        // As in Ansible, the inventory name is the address unless told otherwise.
        host: target,
        port: raw.port,
        user: raw.user,
        identity_file: raw.identity_file.map(path),
        known_hosts: raw.known_hosts.map(path),
        accept_new_host_key: raw.accept_new_host_key,
        sudo,
        options: Vec::new(),
    })
}
