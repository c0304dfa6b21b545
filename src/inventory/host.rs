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
use provision_backends::admin_sql::Schema;

/// Every key a host or group may set. Anything else is a typo or a key of another tool.
const KEYS: &[&str] = &[
    "server_name",
    "backend",
    "url",
    "shared_secret",
    "mas",
    "transport",
    "config",
    "command",
    "ssh",
    "docker",
    "admin_backend",
    "database_url",
    "admin_token",
    "psql",
];
const BACKENDS: &[&str] = &[
    "shared-secret",
    "synapse-cli",
    "dendrite-cli",
    "mas-cli",
    "playbook-wrapper",
];
const TRANSPORTS: &[&str] = &["http", "local", "ssh", "docker"];
const ADMIN_BACKENDS: &[&str] = &["sql", "synapse-api", "mas-api"];

pub struct Host {
    pub name: String,
    pub server_name: String,
    pub backend: Backend,
    pub transport: Transport,
    /// How to reach the host over SSH: for `transport: ssh`, and for the SQL admin backend,
    /// which then tunnels to the database through it.
    pub ssh: Option<SshTarget>,
    /// How the admin flag is changed, when the inventory says.
    pub admin: Option<AdminBackend>,
}

pub enum AdminBackend {
    /// `UPDATE` in the homeserver's PostgreSQL database: over a connection of ours (direct,
    /// or tunnelled through the host's SSH), or by `psql` run through the host's transport.
    Sql {
        database_url: Option<SecretSource>,
        schema: Schema,
        psql: Option<PsqlConfig>,
    },
    /// `PUT /_synapse/admin/v2/users/{user_id}` at the host's `url`.
    SynapseApi {
        url: reqwest::Url,
        admin_token: SecretSource,
    },
    /// `POST /api/admin/v1/users/{id}/set-admin` on MAS.
    MasApi(MasConfig),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PsqlConfig {
    /// psql, or a wrapper taking psql's arguments (the playbook's cli-non-interactive).
    #[serde(default = "default_psql")]
    pub command: String,
    pub database: Option<String>,
}

fn default_psql() -> String {
    "psql".into()
}

pub struct MasConfig {
    pub url: reqwest::Url,
    pub client_id: String,
    pub client_secret: SecretSource,
}

pub enum Backend {
    /// `/_synapse/admin/v1/register` at `url`, signed with the shared secret.
    SharedSecret {
        url: reqwest::Url,
        shared_secret: SecretSource,
    },
    /// `register_new_matrix_user -c CONFIG [URL]` on the target.
    SynapseCli {
        config: String,
        url: Option<String>,
        command: Option<String>,
    },
    /// `create-account -config CONFIG [-url URL]` on the target.
    DendriteCli {
        config: String,
        url: Option<String>,
        command: Option<String>,
    },
    /// `mas-cli [-c CONFIG] manage register-user` on the target.
    MasCli {
        config: Option<String>,
        command: Option<String>,
    },
    /// matrix-docker-ansible-deploy's `/matrix/*/bin/register-user` scripts.
    PlaybookWrapper { command: Option<String> },
}

impl Backend {
    /// The inventory's name for this backend.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::SharedSecret { .. } => "shared-secret",
            Backend::SynapseCli { .. } => "synapse-cli",
            Backend::DendriteCli { .. } => "dendrite-cli",
            Backend::MasCli { .. } => "mas-cli",
            Backend::PlaybookWrapper { .. } => "playbook-wrapper",
        }
    }

    /// The optional registration fields this backend passes on.
    pub fn fields(&self) -> provision_backends::registration::Fields {
        use provision_backends::{
            dendrite_cli::DendriteCli, mas_cli::MasCli, playbook_wrapper::PlaybookWrapper,
            shared_secret::SharedSecret, synapse_cli::SynapseCli,
        };
        match self {
            Backend::SharedSecret { .. } => SharedSecret::FIELDS,
            Backend::SynapseCli { .. } => SynapseCli::FIELDS,
            Backend::DendriteCli { .. } => DendriteCli::FIELDS,
            Backend::MasCli { .. } => MasCli::FIELDS,
            Backend::PlaybookWrapper { .. } => PlaybookWrapper::FIELDS,
        }
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
    for key in vars.keys() {
        if !KEYS.contains(&key.value.as_str()) {
            let hint = suggest(&key.value, KEYS)
                .map(|k| format!(" (did you mean `{k}`?)"))
                .unwrap_or_else(|| format!("; known keys: {}", KEYS.join(", ")));
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

type Merged<'a> = IndexMap<&'a str, (&'a Spanned<String>, &'a Spanned<Value>)>;

/// Typed access to one host's merged variables.
struct Vars<'a, 'f> {
    file: &'f File<'f>,
    host: &'a str,
    host_at: Location,
    merged: &'a Merged<'a>,
}

impl Vars<'_, '_> {
    fn get(&self, key: &str) -> Option<&Spanned<Value>> {
        self.merged.get(key).map(|(_, v)| *v)
    }

    fn missing(&self, key: &str, why: &str) -> Error {
        self.file.at_loc(
            format!(
                "host `{}`: missing key `{key}` ({why}); set it on the host or in a group's vars",
                self.host
            ),
            &self.host_at,
        )
    }

    fn wrong(&self, key: &str, v: &Spanned<Value>, why: impl std::fmt::Display) -> Error {
        self.file.at_loc(
            format!("host `{}`: `{key}`: {why}", self.host),
            &v.referenced,
        )
    }

    fn string(&self, key: &str, why: &str) -> Result<(String, &Spanned<Value>), Error> {
        let v = self.get(key).ok_or_else(|| self.missing(key, why))?;
        match &v.value {
            Value::String(s) if !s.is_empty() => Ok((s.clone(), v)),
            Value::String(_) => Err(self.wrong(key, v, "must not be empty")),
            other => Err(self.wrong(key, v, format!("expected a string, found {}", kind(other)))),
        }
    }

    /// A URL with `user:password@` in it would be shown wherever the URL is (inventory,
    /// --check, errors, logs, a tool's argv): refused, without showing the line that holds it.
    fn no_userinfo(&self, key: &str, v: &Spanned<Value>, url: &str) -> Result<(), Error> {
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

    fn url(&self, key: &str, why: &str) -> Result<reqwest::Url, Error> {
        let (s, v) = self.string(key, why)?;
        self.no_userinfo(key, v, &s)?;
        let url =
            reqwest::Url::parse(&s).map_err(|e| self.wrong(key, v, format!("not a URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(self.wrong(key, v, "must be an http:// or https:// URL"));
        }
        Ok(url)
    }

    fn secret(
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

        let (backend_name, backend_at) =
            vars.string("backend", &format!("one of: {}", BACKENDS.join(", ")))?;
        let mas = match vars.get("mas") {
            Some(v) => Some(parse_mas(&vars, v, base)?),
            None => None,
        };
        let refuse_mas = |backend: &str| {
            match vars.get("mas") {
            Some(mas) => Err(vars.wrong(
                "backend",
                backend_at,
                format!(
                    "this host's accounts are managed by MAS (`mas` is set at line {}); Synapse does not serve shared-secret registration then, which {backend} relies on: use backend: mas-cli",
                    mas.referenced.line()
                ),
            )),
            None => Ok(()),
        }
        };
        let optional = |key: &str| -> Result<Option<String>, Error> {
            match vars.get(key) {
                None => Ok(None),
                Some(_) => {
                    let (s, v) = vars.string(key, "")?;
                    if key == "url" {
                        vars.no_userinfo(key, v, &s)?;
                    }
                    Ok(Some(s))
                }
            }
        };
        let config_why = "the server's config file on the target, e.g. /data/homeserver.yaml";
        let backend = match backend_name.as_str() {
            "shared-secret" => {
                refuse_mas("shared-secret")?;
                let url = vars.url(
                    "url",
                    "the homeserver's base URL, e.g. https://matrix.example.com",
                )?;
                let secret_at = vars
                    .get("shared_secret")
                    .ok_or_else(|| vars.missing("shared_secret", "{file: PATH} or {env: NAME}"))?;
                let shared_secret = vars.secret("shared_secret", secret_at, base)?;
                Backend::SharedSecret { url, shared_secret }
            }
            "synapse-cli" => {
                refuse_mas("register_new_matrix_user")?;
                Backend::SynapseCli {
                    config: vars.string("config", config_why)?.0,
                    url: optional("url")?,
                    command: optional("command")?,
                }
            }
            "dendrite-cli" => Backend::DendriteCli {
                config: vars.string("config", config_why)?.0,
                url: optional("url")?,
                command: optional("command")?,
            },
            "mas-cli" => Backend::MasCli {
                config: optional("config")?,
                command: optional("command")?,
            },
            "playbook-wrapper" => Backend::PlaybookWrapper {
                command: optional("command")?,
            },
            other => {
                let hint = suggest(other, BACKENDS)
                    .map(|b| format!(" (did you mean `{b}`?)"))
                    .unwrap_or_default();
                return Err(vars.wrong(
                    "backend",
                    backend_at,
                    format!(
                        "unknown backend `{other}`{hint}; known: {}",
                        BACKENDS.join(", ")
                    ),
                ));
            }
        };
        let transport = transport(&vars, &backend)?;
        let ssh = match (&transport, vars.get("ssh")) {
            (Transport::Ssh { .. }, _) | (_, Some(_)) => Some(ssh_target(&vars, name, base)?),
            _ => None,
        };
        let admin = admin_backend(&vars, &backend, mas, base)?;
        Ok(Host {
            name: name.to_owned(),
            server_name,
            backend,
            transport,
            ssh,
            admin,
        })
    }
}

/// `mas: {url, client_id, client_secret}` marks a host whose accounts MAS owns, and is how
/// the mas-api admin backend reaches MAS's admin API.
fn parse_mas(vars: &Vars, mas: &Spanned<Value>, base: &Path) -> Result<MasConfig, Error> {
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
    Ok(MasConfig {
        url,
        client_id,
        client_secret,
    })
}

/// `admin_backend`, checked against what it needs: `database_url` (sql), `url` and
/// `admin_token` (synapse-api), `mas` (mas-api).
fn admin_backend(
    vars: &Vars,
    backend: &Backend,
    mas: Option<MasConfig>,
    base: &Path,
) -> Result<Option<AdminBackend>, Error> {
    let Some(at) = vars.get("admin_backend") else {
        return Ok(None);
    };
    let (name, _) = vars.string("admin_backend", "")?;
    let secret = |key: &str, why: &str| -> Result<SecretSource, Error> {
        let v = vars.get(key).ok_or_else(|| vars.missing(key, why))?;
        vars.secret(key, v, base)
    };
    Ok(Some(match name.as_str() {
        "sql" => {
            let psql = match vars.get("psql") {
                None => None,
                Some(v) => Some(
                    serde_json::from_value::<PsqlConfig>(v.value.clone()).map_err(|e| {
                        vars.wrong(
                            "psql",
                            v,
                            format!("{e}; expected {{command: PATH, database: NAME}}"),
                        )
                    })?,
                ),
            };
            let database_url = match (vars.get("database_url"), &psql) {
                (Some(v), None) => Some(vars.secret("database_url", v, base)?),
                (Some(v), Some(_)) => {
                    return Err(vars.wrong(
                        "database_url",
                        v,
                        "give database_url (provision connects) or psql (psql on the host connects by itself), not both",
                    ));
                }
                (None, Some(_)) => None,
                (None, None) => {
                    return Err(vars.missing(
                        "database_url",
                        "admin_backend sql needs a libpq URL as {file: PATH} or {env: NAME}, or `psql` to run psql on the host",
                    ));
                }
            };
            let schema = match backend {
                Backend::DendriteCli { .. } => Schema::Dendrite,
                _ => Schema::Synapse,
            };
            AdminBackend::Sql {
                database_url,
                schema,
                psql,
            }
        }
        "synapse-api" => AdminBackend::SynapseApi {
            url: vars.url(
                "url",
                "admin_backend synapse-api calls the homeserver's admin API at this URL",
            )?,
            admin_token: secret(
                "admin_token",
                "admin_backend synapse-api needs a server admin's access token",
            )?,
        },
        "mas-api" => AdminBackend::MasApi(mas.ok_or_else(|| {
            vars.missing(
                "mas",
                "admin_backend mas-api needs {url, client_id, client_secret}",
            )
        })?),
        other => {
            let hint = suggest(other, ADMIN_BACKENDS)
                .map(|b| format!(" (did you mean `{b}`?)"))
                .unwrap_or_default();
            return Err(vars.wrong(
                "admin_backend",
                at,
                format!(
                    "unknown admin backend `{other}`{hint}; known: {}",
                    ADMIN_BACKENDS.join(", ")
                ),
            ));
        }
    }))
}

/// The host's transport, checked against what its backend needs before anything runs: the
/// shared-secret backend speaks HTTP, the others run a program.
fn transport(vars: &Vars, backend: &Backend) -> Result<Transport, Error> {
    let http_backend = matches!(backend, Backend::SharedSecret { .. });
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
            "this backend runs a program: use local, ssh or docker (http is for backend: shared-secret)",
        )),
        (Transport::Local | Transport::Ssh { .. } | Transport::Docker { .. }, true) => Err(vars.wrong(
            "transport",
            at,
            "backend shared-secret talks HTTP to `url`; local, ssh and docker are for the backends that run a tool (synapse-cli, dendrite-cli, mas-cli, playbook-wrapper)",
        )),
        _ => Ok(transport),
    }
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
