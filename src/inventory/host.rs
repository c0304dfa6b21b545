//! One host's merged variables turned into a typed [`Host`]: which backend, reached how, with
//! secrets from where. Every error names the key and the place it was set.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

use super::place::{Found, HostVars, Place, Placed, Source};
use super::ssh_options;
use crate::error::{Error, or_list, unknown};
use crate::secret_source::SecretSource;
use crate::transport::ContainerName;
use provision_backends::Op;
use provision_backends::settings::{Config, Homeserver, Mas};
use serde_saphyr::Spanned;
use std::sync::Arc;

use super::settings::HostSettings;
use crate::registry::{self, Kind};

/// The keys of the host itself; each backend's own keys come from the registry.
const HOST_KEYS: &[&str] = &[
    "server_name",
    "backend",
    "admin_backend",
    "homeserver",
    "transport",
    "ssh",
    "docker",
    "mas",
];
/// `http` says "no exec transport": the backend talks HTTP itself (shared-secret). Accepted
/// so that inventories that say it keep working.
const TRANSPORTS: &[&str] = &["http", "local", "ssh", "docker"];

/// The keys of `mas`, the one mapping read by hand (its `client_secret` is a secret source).
const MAS_KEYS: &[&str] = &["url", "client_id", "client_secret"];

/// Every key a host or group may set: the host's and every backend's. Anything else is a typo
/// or a key of another tool.
pub(super) fn keys() -> Vec<&'static str> {
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

/// Those of [`keys`] whose value is a mapping, each with that mapping's keys: the host's
/// (`ssh`, `docker`, `mas`) and each backend's.
pub(super) fn mapping_keys() -> Vec<(&'static str, &'static [&'static str])> {
    let mut keys = vec![
        ("ssh", provision_backends::keys::of::<RawSsh>()),
        ("docker", provision_backends::keys::of::<RawDocker>()),
        ("mas", MAS_KEYS),
    ];
    for kind in registry::BACKENDS {
        keys.extend(kind.mappings.iter().map(|(key, of)| (*key, of())));
    }
    keys
}

pub struct Host {
    pub name: String,
    pub server_name: String,
    pub homeserver: Homeserver,
    /// What the host's accounts are changed with, in the order the router tries them: the
    /// inventory's `backend`, then its `admin_backend`.
    pub backends: Vec<Configured>,
    /// Where the backend's program runs; `None` for a backend that talks HTTP itself
    /// (shared-secret).
    pub transport: Option<Transport>,
    /// How to reach the host over SSH: for `transport: ssh`, and for the SQL admin backend,
    /// which then tunnels to the database through it (or runs psql over it).
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

/// Where a backend's program runs.
pub enum Transport {
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
    /// More ssh_config options (`ProxyJump`, `ConnectTimeout`, ...), as (keyword, value), from
    /// `ssh: {options}` or a playbook inventory's `ansible_ssh_common_args`: checked against
    /// the keywords provision applies ([`ssh_options::check`]) when the inventory is read,
    /// then given to ssh as `-o`.
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
    #[serde(default)]
    options: IndexMap<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDocker {
    container: String,
}

/// A key of a provision inventory's host or group, refused at its place when it is none of
/// provision's.
pub fn check_key(file: &Source, key: &Spanned<String>) -> Result<(), Error> {
    let known = keys();
    if known.contains(&key.value.as_str()) {
        return Ok(());
    }
    Err(file.at_loc(unknown("key", &key.value, &known), &key.referenced))
}

/// Every key of a provision host's merged variables, checked at the place it was set (its
/// group_vars/ and host_vars/ files are not checked as they are read: which vocabulary they
/// hold depends on the hosts that use them).
pub fn check_placed_keys(vars: &HostVars) -> Result<(), Error> {
    let known = keys();
    for (key, value) in vars {
        if !known.contains(&key.as_str()) {
            return Err(value.at.error(unknown("key", key, &known)));
        }
    }
    Ok(())
}

/// Typed access to one host's merged variables, whichever reader found them.
pub(super) struct Vars<'a> {
    host: &'a str,
    host_at: &'a Place,
    merged: &'a HostVars,
}

impl Vars<'_> {
    pub(super) fn get(&self, key: &str) -> Option<&Placed> {
        self.merged.get(key)
    }

    pub(super) fn missing(&self, key: &str, why: &str) -> Error {
        self.host_at.error(format!(
            "host `{}`: missing key `{key}` ({why}); set it on the host or in a group's vars",
            self.host
        ))
    }

    pub(super) fn wrong(&self, key: &str, v: &Placed, why: impl std::fmt::Display) -> Error {
        self.wrong_at(key, &v.at, why)
    }

    /// An error at `at`, naming `key` (and the variable it came from, if any).
    pub(super) fn wrong_at(&self, key: &str, at: &Place, why: impl std::fmt::Display) -> Error {
        at.error(format!("host `{}`: {}: {why}", self.host, at.label(key)))
    }

    pub(super) fn string(&self, key: &str, why: &str) -> Result<(String, &Placed), Error> {
        let v = self.get(key).ok_or_else(|| self.missing(key, why))?;
        match &v.value {
            Value::String(s) if !s.is_empty() => Ok((s.clone(), v)),
            Value::String(_) => Err(self.wrong(key, v, "must not be empty")),
            other => Err(self.wrong(key, v, format!("expected a string, found {}", kind(other)))),
        }
    }

    /// A URL with `user:password@` in it would be shown wherever the URL is (inventory,
    /// --check, errors, logs, a tool's argv): refused, without showing the line that holds it.
    pub(super) fn no_userinfo(&self, key: &str, v: &Placed, url: &str) -> Result<(), Error> {
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

    /// `{login: {user: NAME, password: SOURCE}}` at `key`: the user, and where its password
    /// comes from (a secret source, as [`Vars::secret`] reads one).
    pub(super) fn login(
        &self,
        key: &str,
        value: &Placed,
        base: &Path,
    ) -> Result<(String, SecretSource), Error> {
        let shape = "expected {login: {user: NAME, password: {file: PATH} or {env: NAME}}}";
        let fields = match &value.value {
            Value::Object(map) if map.len() == 1 => match map.get("login") {
                Some(Value::Object(fields)) => fields,
                _ => return Err(self.wrong(key, value, shape)),
            },
            _ => return Err(self.wrong(key, value, shape)),
        };
        if let Some(other) = fields
            .keys()
            .find(|k| !matches!(k.as_str(), "user" | "password"))
        {
            return Err(self.wrong(key, value, format!("unknown key `login.{other}`: {shape}")));
        }
        let user = match fields.get("user") {
            Some(Value::String(u)) if !u.is_empty() => u.clone(),
            _ => return Err(self.wrong(key, value, format!("login.user is missing: {shape}"))),
        };
        let Some(password) = fields.get("password") else {
            return Err(self.wrong(key, value, format!("login.password is missing: {shape}")));
        };
        let password = Placed {
            value: password.clone(),
            at: value.at.clone(),
            parts: IndexMap::new(),
        };
        let password = self.secret(&format!("{key}.login.password"), &password, base)?;
        Ok((user, password))
    }

    pub(super) fn secret(
        &self,
        key: &str,
        value: &Placed,
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
                // A playbook variable cannot be a secret source: the way out is a provision
                // inventory.
                let instead = match value.at.var {
                    Some(_) => {
                        "a provision inventory (inventory.example.yaml) can read it from {file: PATH} or {env: NAME} instead"
                    }
                    None => "prefer {file: PATH} or {env: NAME}",
                };
                tracing::warn!(
                    "{}:{}: host `{}`: {} is written inline in the inventory; {instead}",
                    value.at.file.path.display(),
                    value.at.line,
                    self.host,
                    value.at.label(key),
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
    /// The one place a host is built and checked, from what either reader found (the YAML
    /// inventory's merged vars, or a playbook inventory's variables translated to provision's
    /// keys). `inventory_path` is the inventory file the host was listed in.
    pub(super) fn from_vars(found: &Found, inventory_path: &Path) -> Result<Host, Error> {
        let name = found.name.as_str();
        let vars = Vars {
            host: name,
            host_at: &found.at,
            merged: &found.vars,
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
        let backend = backend_kind(&vars)?;
        let admins = admin_backends(&vars)?;
        let homeserver = homeserver(&vars, backend, &admins)?;
        let settings = HostSettings {
            vars: &vars,
            base,
            mas,
            homeserver,
            server_name: &server_name,
        };
        let mut backends = vec![Configured {
            kind: backend,
            config: (backend.configure)(&settings)?,
        }];
        let transport = transport(&vars, backend)?;
        let ssh = match (&transport, vars.get("ssh")) {
            (Some(Transport::Ssh { .. }), _) | (_, Some(_)) => Some(ssh_target(&vars, name, base)?),
            _ => None,
        };
        for admin in admins {
            backends.push(Configured {
                kind: admin,
                config: (admin.configure)(&settings)?,
            });
        }
        if settings.mas.is_some() {
            mas_keeps_the_lifecycle(&vars, &backends)?;
        }
        Ok(Host {
            name: name.to_owned(),
            server_name,
            homeserver,
            backends,
            transport,
            ssh,
        })
    }
}

/// The backend named at `backend`, which registers users.
fn backend_kind(vars: &Vars) -> Result<&'static Kind, Error> {
    let known = registry::names_for(Op::Register);
    let (name, at) = vars.string("backend", &format!("one of: {}", known.join(", ")))?;
    match registry::find(&name) {
        Some(kind) if kind.can(Op::Register) => Ok(kind),
        Some(kind) => Err(vars.wrong(
            "backend",
            at,
            format!(
                "{} cannot {}; for `backend` use one of: {}",
                kind.name,
                Op::Register.what(),
                known.join(", ")
            ),
        )),
        None => Err(vars.wrong("backend", at, unknown("backend", &name, &known))),
    }
}

/// `admin_backend`: one backend, or a list of them, that read or change existing accounts,
/// tried in that order for each operation (`[sql, dendrite-api]`: the database reads users and
/// sets the flag, Dendrite's admin API sets passwords).
fn admin_backends(vars: &Vars) -> Result<Vec<&'static Kind>, Error> {
    let Some(v) = vars.get("admin_backend") else {
        return Ok(Vec::new());
    };
    let manages = |k: &Kind| k.ops.iter().any(|op| *op != Op::Register);
    let known: Vec<&str> = registry::BACKENDS
        .iter()
        .filter(|k| manages(k))
        .map(|k| k.name)
        .collect();
    let names: Vec<&str> = match &v.value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str())
            .collect::<Option<_>>()
            .ok_or_else(|| vars.wrong("admin_backend", v, "expected backend names"))?,
        other => {
            return Err(vars.wrong(
                "admin_backend",
                v,
                format!(
                    "expected a backend name or a list of them, found {}",
                    kind(other)
                ),
            ));
        }
    };
    if names.is_empty() {
        return Err(vars.wrong("admin_backend", v, "the list is empty"));
    }
    let mut kinds: Vec<&'static Kind> = Vec::new();
    for name in names {
        let kind = match registry::find(name) {
            Some(kind) if manages(kind) => kind,
            Some(kind) => {
                return Err(vars.wrong(
                    "admin_backend",
                    v,
                    format!(
                        "{} only registers users; for `admin_backend` use {}",
                        kind.name,
                        or_list(&known)
                    ),
                ));
            }
            None => {
                return Err(vars.wrong("admin_backend", v, unknown("admin backend", name, &known)));
            }
        };
        if kinds.iter().any(|k| std::ptr::eq(*k, kind)) {
            return Err(vars.wrong("admin_backend", v, format!("{name} is listed twice")));
        }
        kinds.push(kind);
    }
    Ok(kinds)
}

/// The host's homeserver: `homeserver` if set, else the one its backends imply (dendrite-cli:
/// Dendrite), else Synapse. A backend made for another homeserver is refused at its key.
fn homeserver(vars: &Vars, backend: &Kind, admins: &[&Kind]) -> Result<Homeserver, Error> {
    let given = match vars.get("homeserver") {
        None => None,
        Some(_) => {
            let names: Vec<&str> = Homeserver::ALL.iter().map(|h| h.name()).collect();
            let (name, at) = vars.string("homeserver", &names.join(", "))?;
            // continuwuity's forebears have an admin bot too, but not the same commands or
            // answers (conduit has no `users` group; conduwuit's texts differ in places), and
            // provision reads the answers word for word.
            if matches!(name.as_str(), "conduit" | "conduwuit") {
                return Err(vars.wrong(
                    "homeserver",
                    at,
                    format!(
                        "{name} is not supported: provision drives continuwuity's admin bot, whose commands and answers it reads word for word, and {name}'s differ; homeserver: continuwuity if the server is continuwuity"
                    ),
                ));
            }
            let found = Homeserver::ALL.iter().find(|h| h.name() == name);
            Some(*found.ok_or_else(|| {
                vars.wrong("homeserver", at, unknown("homeserver", &name, &names))
            })?)
        }
    };
    let used =
        std::iter::once(("backend", backend)).chain(admins.iter().map(|k| ("admin_backend", *k)));
    let mut implied: Option<(Homeserver, &str)> = None;
    for (key, kind) in used {
        let Some(own) = kind.homeserver else { continue };
        let (wanted, from) = match (given, implied) {
            (Some(h), _) => (h, "`homeserver`".to_owned()),
            (None, Some((h, by))) => (h, format!("{by} (the host's other backend)")),
            (None, None) => {
                implied = Some((own, kind.name));
                continue;
            }
        };
        if wanted != own {
            let (_, at) = vars.string(key, "")?;
            return Err(vars.wrong(
                key,
                at,
                format!(
                    "{} is for {} hosts, and this one runs {} per {from}",
                    kind.name,
                    own.name(),
                    wanted.name()
                ),
            ));
        }
    }
    Ok(given
        .or(implied.map(|(h, _)| h))
        .unwrap_or(Homeserver::Synapse))
}

/// `mas: {url, client_id, client_secret}` marks a host whose accounts MAS owns, and is how
/// the mas-api admin backend reaches MAS's admin API.
fn parse_mas(vars: &Vars, mas: &Placed, base: &Path) -> Result<Mas, Error> {
    let shape = "expected {url: URL, client_id: ID, client_secret: {file: PATH}}";
    let Value::Object(map) = &mas.value else {
        return Err(vars.wrong("mas", mas, shape));
    };
    for key in map.keys() {
        if !MAS_KEYS.contains(&key.as_str()) {
            return Err(vars.wrong("mas", mas, unknown("key", key, MAS_KEYS)));
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
    let Some(secret) = mas.field("client_secret") else {
        return Err(vars.wrong("mas", mas, "missing `client_secret`"));
    };
    let client_secret = vars.secret("mas.client_secret", &secret, base)?;
    Ok(Mas {
        url: url.as_str().to_owned(),
        client_id,
        client_secret: Arc::new(client_secret),
    })
}

/// On a host whose accounts MAS owns, MAS is their source of truth: a password, lock or
/// deactivation made behind its back in Synapse's admin API or database is one MAS does not
/// know of (and its provisioning jobs write its own state back to Synapse). So the first
/// backend for each of those operations must work through MAS. Checked here, with the
/// inventory, rather than in the router: a pairing that cannot work is a config error
/// reported before anything runs on any host, not a failure midway through a fleet run.
fn mas_keeps_the_lifecycle(vars: &Vars, backends: &[Configured]) -> Result<(), Error> {
    for op in [Op::SetPassword, Op::Lock, Op::Deactivate, Op::Reactivate] {
        let Some(i) = backends.iter().position(|b| b.kind.can(op)) else {
            continue;
        };
        let kind = backends[i].kind;
        if kind.through_mas {
            continue;
        }
        let key = if i == 0 { "backend" } else { "admin_backend" };
        let (_, at) = vars.string(key, "")?;
        let through_mas: Vec<&str> = registry::BACKENDS
            .iter()
            .filter(|k| k.through_mas && k.can(op))
            .map(|k| k.name)
            .collect();
        return Err(vars.wrong(
            key,
            at,
            format!(
                "this host's accounts are managed by MAS (`mas` is set), and {} would {} behind MAS's back: use {key}: {}",
                kind.name,
                op.what(),
                through_mas.join(" or ")
            ),
        ));
    }
    Ok(())
}

/// The host's transport, checked against what its backend needs before anything runs: the
/// shared-secret backend talks HTTP itself (no transport), the others run a program.
fn transport(vars: &Vars, backend: &Kind) -> Result<Option<Transport>, Error> {
    let http_backend = !backend.runs_programs;
    let Some(at) = vars.get("transport") else {
        if let Some(v) = vars.get("url_on_host") {
            return Err(needs_ssh(vars, v));
        }
        if http_backend {
            return Ok(None);
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
        "http" => None,
        "local" => Some(Transport::Local),
        "ssh" => Some(Transport::Ssh { container: docker }),
        "docker" => Some(Transport::Docker {
            container: docker.ok_or_else(|| {
                vars.missing("docker", "transport docker needs {container: NAME}")
            })?,
        }),
        other => {
            return Err(vars.wrong("transport", at, unknown("transport", other, TRANSPORTS)));
        }
    };
    // `url_on_host`: an admin API reached over the host's own SSH connection, the one thing
    // an HTTP backend's host has a transport for.
    let forwarded = vars.get("url_on_host");
    if let (Some(v), false) = (forwarded, matches!(transport, Some(Transport::Ssh { .. }))) {
        return Err(needs_ssh(vars, v));
    }
    match (&transport, http_backend) {
        (Some(_), true) if forwarded.is_some() => Ok(transport),
        (None, false) => Err(vars.wrong(
            "transport",
            at,
            format!(
                "this backend runs a program: use local, ssh or docker (http is for backend: {})",
                registering(false)
            ),
        )),
        (Some(_), true) => Err(vars.wrong(
            "transport",
            at,
            format!(
                "backend {} talks HTTP to `url`; local, ssh and docker are for the backends that run a tool ({}), and ssh for an admin API at url_on_host",
                backend.name,
                registering(true)
            ),
        )),
        _ => Ok(transport),
    }
}

fn needs_ssh(vars: &Vars, at: &Placed) -> Error {
    vars.wrong(
        "url_on_host",
        at,
        "it is reached over the host's SSH connection: give the host transport: ssh",
    )
}

/// The backends that register and run a program (or do not), for messages.
fn registering(runs_programs: bool) -> String {
    registry::BACKENDS
        .iter()
        .filter(|k| k.can(Op::Register) && k.runs_programs == runs_programs)
        .map(|k| k.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `ssh:` mapping, with Ansible's defaults: the inventory name is the address.
fn ssh_target(vars: &Vars, host: &str, base: &Path) -> Result<SshTarget, Error> {
    let ssh = vars.get("ssh");
    // Where a part of `ssh` was written: its own place (a playbook variable), else the
    // mapping's, else the host's when there is no `ssh` at all.
    let at = |part: &str| ssh.map(|v| v.part(part)).unwrap_or(vars.host_at);
    if let Some(port) = ssh.and_then(|v| v.value.get("port"))
        && port.as_u64().is_none_or(|p| p > u64::from(u16::MAX))
    {
        return Err(vars.wrong_at("ssh.port", at("port"), format!("{port} is not a port")));
    }
    let raw = match ssh {
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
        options: IndexMap::new(),
    });
    // ssh and sudo read a word starting with '-' as an option (`-oProxyCommand=…` as a host
    // name runs a command locally): such values are refused here, before any transport.
    let target = raw.host.clone().unwrap_or_else(|| host.to_owned());
    for (key, value) in [
        ("host", Some(&target)),
        ("user", raw.user.as_ref()),
        ("become_user", raw.become_user.as_ref()),
    ] {
        if let Some(value) = value
            && (value.is_empty() || value.starts_with('-'))
        {
            let at = at(key);
            return Err(at.error(format!(
                "host `{}`: {} {value:?} may not be empty or start with '-' (ssh and sudo would read it as an option)",
                vars.host,
                at.label(&format!("ssh.{key}"))
            )));
        }
    }
    let mut options = Vec::new();
    for (keyword, value) in &raw.options {
        let key = format!("options.{keyword}");
        let value = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
            other => {
                return Err(vars.wrong_at(
                    &format!("ssh.{key}"),
                    at(&key),
                    format!("expected a string, found {}", kind(other)),
                ));
            }
        };
        if let Some(option) = ssh_options::check(keyword, &value)
            .map_err(|why| vars.wrong_at("ssh.options", at(&key), why))?
        {
            options.push((option.0.to_owned(), option.1));
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
                let v = Placed::new(v, at("become_password").clone());
                Some(vars.secret("ssh.become_password", &v, base)?)
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
        options,
    })
}
