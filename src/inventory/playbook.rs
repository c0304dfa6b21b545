//! A matrix-docker-ansible-deploy inventory read as it is: the INI `hosts` file
//! (`[matrix_servers]`, `ansible_host`, `ansible_port`, `ansible_ssh_user`, `ansible_become`…)
//! and `host_vars/<host>/vars.yml`. From `matrix_domain`, `matrix_homeserver_implementation`
//! and `matrix_authentication_service_enabled` each host becomes the playbook's own setup:
//! SSH to the host, then the tool inside the playbook's container, and the playbook's
//! PostgreSQL for the admin flag. Values provision cannot resolve (Jinja templates, vaulted
//! secrets) are errors naming the file and key, never guesses.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_saphyr::Spanned;

use super::host::{Become, Host, SshTarget};
use crate::error::{Error, Located};
use crate::secret_source::SecretSource;

/// Whether a file is the INI form: its first meaningful line is a `[section]`.
pub fn is_ini(source: &str) -> bool {
    source
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .is_some_and(|l| l.starts_with('[') && l.ends_with(']') && !l.contains(','))
}

/// One variable's value and where it was set, for errors.
#[derive(Clone)]
struct Var {
    value: String,
    file: PathBuf,
    line: u64,
}

pub fn parse(path: &Path, source: &str) -> Result<Vec<(Host, Vec<String>)>, Error> {
    let at = |file: &Path, text: &str, line: u64, msg: String| {
        Error::Inventory(Located::new(msg, file, text, line, 1))
    };
    let mut section = String::from("ungrouped");
    let mut group_vars: IndexMap<String, IndexMap<String, Var>> = IndexMap::new();
    let mut children: IndexMap<String, Vec<String>> = IndexMap::new();
    // host -> (groups, inline vars)
    let mut hosts: IndexMap<String, (Vec<String>, IndexMap<String, Var>)> = IndexMap::new();
    for (i, raw) in source.lines().enumerate() {
        let line_no = i as u64 + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_owned();
            continue;
        }
        let var = |value: &str| Var {
            value: unquote(value),
            file: path.to_owned(),
            line: line_no,
        };
        if let Some(group) = section.strip_suffix(":vars") {
            let Some((k, v)) = line.split_once('=') else {
                return Err(at(
                    path,
                    source,
                    line_no,
                    format!("expected key=value in [{section}]"),
                ));
            };
            group_vars
                .entry(group.to_owned())
                .or_default()
                .insert(k.trim().to_owned(), var(v.trim()));
        } else if let Some(group) = section.strip_suffix(":children") {
            children
                .entry(group.to_owned())
                .or_default()
                .push(line.to_owned());
        } else {
            let mut words = split_words(line).into_iter();
            let name = words.next().unwrap_or_default();
            // The name becomes a path (host_vars/NAME.yml): `../x` would read outside the
            // inventory. Ansible's host names are host names or plain aliases.
            if name.is_empty() || name.contains(['/', '\\', '\0']) || name.starts_with('.') {
                return Err(at(
                    path,
                    source,
                    line_no,
                    format!(
                        "host name {name:?}: it names host_vars/{name}.yml, so it may not be empty, contain '/' or start with '.'"
                    ),
                ));
            }
            let entry = hosts.entry(name).or_default();
            entry.0.push(section.clone());
            for word in words {
                let Some((k, v)) = word.split_once('=') else {
                    return Err(at(
                        path,
                        source,
                        line_no,
                        format!("expected key=value after the host name, found {word:?}"),
                    ));
                };
                entry.1.insert(k.to_owned(), var(v));
            }
        }
    }
    if hosts.is_empty() {
        return Err(at(
            path,
            source,
            1,
            "the inventory lists no hosts (expected [matrix_servers] and a host per line)".into(),
        ));
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (name, (groups, inline)) in &hosts {
        let mut all_groups: Vec<String> = groups.clone();
        for (parent, kids) in &children {
            if kids.iter().any(|k| groups.contains(k)) {
                all_groups.push(parent.clone());
            }
        }
        let mut vars: IndexMap<String, Var> = group_vars.get("all").cloned().unwrap_or_default();
        for g in &all_groups {
            if let Some(gv) = group_vars.get(g) {
                vars.extend(gv.clone());
            }
        }
        vars.extend(inline.clone());
        vars.extend(host_vars(base, name)?);
        let mut with_all = all_groups.clone();
        with_all.push("all".into());
        out.push((host(path, name, &vars)?, with_all));
    }
    Ok(out)
}

/// `host_vars/NAME/*.yml`, or `host_vars/NAME.yml`, scalar values only.
fn host_vars(base: &Path, name: &str) -> Result<IndexMap<String, Var>, Error> {
    let dir = base.join("host_vars");
    let mut files: Vec<PathBuf> = Vec::new();
    for ext in ["yml", "yaml"] {
        let f = dir.join(format!("{name}.{ext}"));
        if f.is_file() {
            files.push(f);
        }
    }
    if let Ok(entries) = std::fs::read_dir(dir.join(name)) {
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")))
            .collect();
        found.sort();
        files.extend(found);
    }
    let mut vars = IndexMap::new();
    for file in files {
        let text = crate::local_file::read(
            &file,
            crate::local_file::DATA_LIMIT,
            crate::local_file::Owner::Any,
        )
        .map_err(|e| Error::Usage(format!("{}: {e}", file.display())))?;
        let map: IndexMap<Spanned<String>, Spanned<serde_json::Value>> =
            serde_saphyr::from_str(&text).map_err(|e| {
                Error::Inventory(Located::from_yaml(&e, "host_vars file", &file, &text))
            })?;
        for (k, v) in map {
            let line = k.referenced.line();
            let source_line = text.lines().nth(line as usize - 1).unwrap_or("");
            let value = match &v.value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            };
            // A vaulted value is encrypted: marked so that using it is an error, not a guess.
            let value = if source_line.contains("!vault") || value.starts_with("$ANSIBLE_VAULT") {
                format!("!vault {value}")
            } else {
                value
            };
            vars.insert(
                k.value,
                Var {
                    value,
                    file: file.clone(),
                    line,
                },
            );
        }
    }
    Ok(vars)
}

/// Typed access to a host's merged variables, refusing what cannot be resolved.
struct Vars<'a> {
    host: &'a str,
    vars: &'a IndexMap<String, Var>,
    inventory: &'a Path,
}

impl Vars<'_> {
    fn get(&self, key: &str) -> Result<Option<&str>, Error> {
        let Some(var) = self.vars.get(key) else {
            return Ok(None);
        };
        let refuse = |why: &str| {
            let text = std::fs::read_to_string(&var.file).unwrap_or_default();
            Err(Error::Inventory(Located::new(
                format!(
                    "host `{}`: `{key}` {why}; give its value in a provision inventory (inventory.example.yaml) instead",
                    self.host
                ),
                &var.file,
                &text,
                var.line,
                1,
            )))
        };
        if var.value.contains("{{") || var.value.contains("{%") {
            return refuse("is a Jinja template, which provision does not evaluate");
        }
        if var.value.starts_with("!vault") {
            return refuse("is vaulted, which provision does not decrypt");
        }
        Ok(Some(var.value.as_str()))
    }

    fn flag(&self, key: &str) -> Result<bool, Error> {
        Ok(matches!(
            self.get(key)?.map(str::to_ascii_lowercase).as_deref(),
            Some("true" | "yes" | "1" | "on")
        ))
    }

    fn missing(&self, key: &str, why: &str) -> Error {
        let text = std::fs::read_to_string(self.inventory).unwrap_or_default();
        Error::Inventory(Located::new(
            format!(
                "host `{}`: no `{key}` ({why}) in the inventory or host_vars/{}/vars.yml",
                self.host, self.host
            ),
            self.inventory,
            &text,
            0,
            0,
        ))
    }
}

fn host(inventory: &Path, name: &str, vars: &IndexMap<String, Var>) -> Result<Host, Error> {
    let v = Vars {
        host: name,
        vars,
        inventory,
    };
    let server_name = v
        .get("matrix_domain")?
        .ok_or_else(|| v.missing("matrix_domain", "the server name"))?
        .to_owned();
    provision_backends::user_id::check_server_name(&server_name)
        .map_err(|e| Error::Usage(format!("host `{name}`: matrix_domain: {e}")))?;
    let implementation = v
        .get("matrix_homeserver_implementation")?
        .unwrap_or("synapse")
        .to_owned();
    let mas = v.flag("matrix_authentication_service_enabled")?;

    let become_password = match v.get("ansible_become_password")? {
        Some(p) => {
            tracing::warn!(
                "host `{name}`: ansible_become_password is written in the inventory; provision uses it, but keep secrets in a vault-free secret file"
            );
            Some(SecretSource::Inline(p.to_owned().into()))
        }
        None => None,
    };
    let (known_hosts, accept_new, options) = ssh_options(&v)?;
    // ssh reads a word starting with '-' as an option: such an address or user is refused.
    for key in [
        "ansible_host",
        "ansible_ssh_user",
        "ansible_user",
        "ansible_become_user",
    ] {
        if let Some(value) = v.get(key)?
            && value.starts_with('-')
        {
            return Err(Error::Usage(format!(
                "host `{name}`: {key} {value:?} may not start with '-' (ssh would read it as an option)"
            )));
        }
    }
    let ssh = SshTarget {
        host: v.get("ansible_host")?.unwrap_or(name).to_owned(),
        port: match v.get("ansible_port")? {
            Some(p) => Some(p.parse().map_err(|_| {
                Error::Usage(format!("host `{name}`: ansible_port {p:?} is not a port"))
            })?),
            None => None,
        },
        user: v
            .get("ansible_ssh_user")?
            .or(v.get("ansible_user")?)
            .map(str::to_owned),
        identity_file: v.get("ansible_ssh_private_key_file")?.map(PathBuf::from),
        known_hosts,
        accept_new_host_key: accept_new,
        sudo: if v.flag("ansible_become")? {
            Some(Become {
                user: v.get("ansible_become_user")?.unwrap_or("root").to_owned(),
                password: become_password,
            })
        } else {
            None
        },
        options,
    };
    let _ = (ssh, server_name, implementation, mas);
    todo!("playbook reader is being rewritten")
}

/// ssh_config keywords provision applies from `ansible_ssh_common_args` /
/// `ansible_ssh_extra_args` (`-o Keyword=value`, `-J jump`), as the canonical spelling ssh
/// documents (ssh_config(5)). They are given to ssh as `-o Keyword=value`, as Ansible gives
/// them: for the host, not for its jump hosts.
const SSH_OPTIONS: &[&str] = &[
    "AddressFamily",
    "BindAddress",
    "CertificateFile",
    "CheckHostIP",
    "Ciphers",
    "Compression",
    "ConnectTimeout",
    "ConnectionAttempts",
    "GlobalKnownHostsFile",
    "HostKeyAlgorithms",
    "HostKeyAlias",
    "HostName",
    "IdentitiesOnly",
    "IdentityAgent",
    "IdentityFile",
    "KexAlgorithms",
    "LogLevel",
    "MACs",
    "Port",
    "PreferredAuthentications",
    "ProxyCommand",
    "ProxyJump",
    "PubkeyAcceptedAlgorithms",
    "PubkeyAcceptedKeyTypes",
    "ServerAliveCountMax",
    "ServerAliveInterval",
    "TCPKeepAlive",
    "User",
    "VerifyHostKeyDNS",
];

/// Keywords provision refuses, and why: they would take over what provision does itself.
const REFUSED_SSH_OPTIONS: &[(&str, &str)] = &[
    (
        "ControlMaster",
        "provision keeps one connection of its own per host for the run",
    ),
    (
        "ControlPath",
        "provision keeps one connection of its own per host for the run",
    ),
    (
        "ControlPersist",
        "provision's connection ends with the run, by design",
    ),
    (
        "ForkAfterAuthentication",
        "provision's connection ends with the run, by design",
    ),
    ("RemoteCommand", "provision runs its own commands"),
    (
        "RequestTTY",
        "provision feeds passwords on stdin, which a terminal would echo",
    ),
    (
        "LocalCommand",
        "provision runs no local command on connecting",
    ),
    (
        "PermitLocalCommand",
        "provision runs no local command on connecting",
    ),
    ("SessionType", "provision runs its own commands"),
];

/// The SSH settings in `ansible_ssh_common_args` / `ansible_ssh_extra_args`, the ways
/// Ansible users set them: `-o UserKnownHostsFile=…` and `-o StrictHostKeyChecking=…` map
/// to provision's own settings, every other `-o` keyword of [`SSH_OPTIONS`] (and `-J`) is
/// applied as is, and anything else refuses the host at the variable's line: an option that
/// is silently dropped (a ProxyJump to a bastion) would connect somewhere the operator did
/// not mean to.
type SshOptions = (Option<PathBuf>, bool, Vec<(String, String)>);

fn ssh_options(v: &Vars) -> Result<SshOptions, Error> {
    let mut known_hosts = None;
    let mut accept_new = false;
    let mut options = Vec::new();
    for key in ["ansible_ssh_common_args", "ansible_ssh_extra_args"] {
        let Some(args) = v.get(key)? else { continue };
        let var = &v.vars[key];
        let refuse = |why: String| {
            let text = std::fs::read_to_string(&var.file).unwrap_or_default();
            Error::Inventory(Located::new(
                format!("host `{}`: `{key}`: {why}", v.host),
                &var.file,
                &text,
                var.line,
                1,
            ))
        };
        let mut words = split_words(args).into_iter();
        while let Some(word) = words.next() {
            let option = match word.as_str() {
                "-o" | "-J" => {
                    let Some(value) = words.next() else {
                        return Err(refuse(format!("`{word}` without a value")));
                    };
                    if word == "-J" {
                        format!("ProxyJump={value}")
                    } else {
                        value
                    }
                }
                w if w.starts_with("-o") => w[2..].to_owned(),
                w if w.starts_with("-J") => format!("ProxyJump={}", &w[2..]),
                w => {
                    return Err(refuse(format!(
                        "provision does not apply the ssh argument `{w}`; give ssh options as `-o Keyword=value` (it applies {})",
                        SSH_OPTIONS.join(", ")
                    )));
                }
            };
            // `-o Keyword=value` or `-o "Keyword value"`, as ssh reads them.
            let (keyword, value) = option
                .split_once(['=', ' ', '\t'])
                .map(|(k, v)| (k.trim(), v.trim()))
                .unwrap_or((option.as_str(), ""));
            if value.is_empty() {
                return Err(refuse(format!("ssh option `{option}` has no value")));
            }
            if value.chars().any(|c| c.is_control() || c == '"') {
                return Err(refuse(format!(
                    "ssh option `{keyword}` has a value with a control character or a double quote"
                )));
            }
            let same = |k: &str| k.eq_ignore_ascii_case(keyword);
            if "UserKnownHostsFile".eq_ignore_ascii_case(keyword) {
                known_hosts = Some(PathBuf::from(value));
            } else if "StrictHostKeyChecking".eq_ignore_ascii_case(keyword) {
                // `no` is taken as accept-new: a key that changed is still refused.
                accept_new = matches!(
                    value.to_ascii_lowercase().as_str(),
                    "accept-new" | "no" | "off"
                );
            } else if "BatchMode".eq_ignore_ascii_case(keyword)
                && matches!(value.to_ascii_lowercase().as_str(), "yes" | "true")
            {
                // Always on: provision never waits for a prompt.
            } else if let Some(name) = SSH_OPTIONS.iter().find(|k| same(k)) {
                options.push(((*name).to_owned(), value.to_owned()));
            } else if let Some((name, why)) = REFUSED_SSH_OPTIONS.iter().find(|(k, _)| same(k)) {
                return Err(refuse(format!("ssh option `{name}` is refused: {why}")));
            } else {
                return Err(refuse(format!(
                    "provision does not apply the ssh option `{keyword}` (it applies {}, UserKnownHostsFile, StrictHostKeyChecking)",
                    SSH_OPTIONS.join(", ")
                )));
            }
        }
    }
    Ok((known_hosts, accept_new, options))
}

/// Words separated by spaces, with '…' and "…" quoting, as Ansible's INI parser splits them.
fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => quote = Some(c),
            (None, c) if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            (None, c) => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    for q in ['\'', '"'] {
        if let Some(inner) = v.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return inner.to_owned();
        }
    }
    v.to_owned()
}
