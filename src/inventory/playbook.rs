//! A matrix-docker-ansible-deploy host's variables — from the INI `hosts` file (ini.rs), its
//! `group_vars/` and `host_vars/` (vars_files.rs), merged as Ansible merges them (tree.rs) —
//! translated to provision's own keys. From `matrix_domain`,
//! `matrix_homeserver_implementation` and `matrix_authentication_service_enabled` each host
//! becomes the playbook's own setup: SSH to the host (`ansible_host`, `ansible_port`,
//! `ansible_ssh_user`, `ansible_become`…), then the tool inside the playbook's container, and
//! the playbook's PostgreSQL for the admin flag. Each key is placed at the variable that
//! decided it (or at the host's line for a default), and host.rs's builder checks it as it
//! checks a YAML inventory's. Values provision cannot resolve (Jinja templates, vaulted
//! secrets) are errors naming the file and key, never guesses.

use std::path::PathBuf;

use indexmap::IndexMap;
use serde_json::{Value, json};

use super::place::{Found, HostVars, Place, Placed};
use super::{shlex, ssh_options};
use crate::error::Error;

/// One variable's value and where it was set, for errors.
#[derive(Clone)]
struct Var {
    value: String,
    at: Place,
}

impl Var {
    /// A merged value as the playbook's variables are read: scalars as text, a vaulted value
    /// marked so that using it is an error, not a guess.
    fn new(key: &str, placed: &Placed) -> Self {
        let value = match &placed.value {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let line = placed
            .at
            .file
            .text
            .lines()
            .nth((placed.at.line as usize).saturating_sub(1));
        // `key: !vault |` in a YAML file: the tag is on the key's line.
        let tagged = line.is_some_and(|l| {
            l.trim_start()
                .strip_prefix(key)
                .and_then(|rest| rest.trim_start().strip_prefix(':'))
                .is_some_and(|rest| rest.trim_start().starts_with("!vault"))
        });
        let vaulted = tagged || value.starts_with("$ANSIBLE_VAULT");
        let mut at = placed.at.clone();
        at.var = Some(key.to_owned());
        Var {
            value: if vaulted {
                format!("!vault {value}")
            } else {
                value
            },
            at,
        }
    }
}

/// A host of a playbook inventory, listed at `at`, with its merged variables translated to
/// provision's keys.
pub fn found(name: &str, at: &Place, merged: &HostVars) -> Result<Found, Error> {
    let vars: IndexMap<String, Var> = merged
        .iter()
        .map(|(k, placed)| (k.clone(), Var::new(k, placed)))
        .collect();
    let host = PlaybookVars {
        host: name,
        at: at.clone(),
        vars: &vars,
    };
    Ok(Found {
        name: name.to_owned(),
        vars: translate(&host)?,
        at: host.at,
    })
}

/// One host's merged playbook variables, refusing what cannot be resolved.
struct PlaybookVars<'a> {
    host: &'a str,
    /// The host's line in the INI file: where defaults are placed.
    at: Place,
    vars: &'a IndexMap<String, Var>,
}

impl PlaybookVars<'_> {
    fn get(&self, key: &str) -> Result<Option<&str>, Error> {
        Ok(self.get_at(key)?.map(|(value, _)| value))
    }

    /// The variable's value and place.
    fn get_at(&self, key: &str) -> Result<Option<(&str, &Place)>, Error> {
        let Some(var) = self.vars.get(key) else {
            return Ok(None);
        };
        let refuse = |why: &str| {
            Err(var.at.error(format!(
                "host `{}`: `{key}` {why}; give its value in a provision inventory (inventory.example.yaml) instead",
                self.host
            )))
        };
        if var.value.contains("{{") || var.value.contains("{%") {
            return refuse("is a Jinja template, which provision does not evaluate");
        }
        if var.value.starts_with("!vault") {
            return refuse("is vaulted, which provision does not decrypt");
        }
        Ok(Some((var.value.as_str(), &var.at)))
    }

    /// The first of `keys` that is set, each of them checked as [`Self::get`] does.
    fn first(&self, keys: &[&str]) -> Result<Option<(&str, &Place)>, Error> {
        let mut first = None;
        for key in keys {
            let found = self.get_at(key)?;
            first = first.or(found);
        }
        Ok(first)
    }

    fn flag(&self, key: &str) -> Result<bool, Error> {
        Ok(matches!(
            self.get(key)?.map(str::to_ascii_lowercase).as_deref(),
            Some("true" | "yes" | "1" | "on")
        ))
    }

    /// Where `key` was set, or the host's line when it was not (its default applies).
    fn place(&self, key: &str) -> Place {
        self.vars
            .get(key)
            .map_or_else(|| self.at.clone(), |v| v.at.clone())
    }

    fn missing(&self, key: &str, why: &str) -> Error {
        self.at.error(format!(
            "host `{}`: no `{key}` ({why}) in the inventory, its group_vars/ or host_vars/{}",
            self.host, self.host
        ))
    }
}

/// A mapping built from several variables, each part placed at its own.
struct Mapping {
    value: serde_json::Map<String, Value>,
    parts: IndexMap<String, Place>,
}

impl Mapping {
    fn new() -> Self {
        Mapping {
            value: serde_json::Map::new(),
            parts: IndexMap::new(),
        }
    }

    fn set(&mut self, part: &str, value: impl Into<Value>, at: &Place) {
        self.value.insert(part.to_owned(), value.into());
        self.parts.insert(part.to_owned(), at.clone());
    }

    fn placed(self, at: &Place) -> Placed {
        Placed {
            value: Value::Object(self.value),
            at: at.clone(),
            parts: self.parts,
        }
    }
}

fn put(out: &mut HostVars, key: &str, value: Value, at: &Place) {
    out.insert(key.to_owned(), Placed::new(value, at.clone()));
}

/// The playbook's variables as provision's keys: what the playbook sets up on the host, said
/// the way a provision inventory says it.
fn translate(v: &PlaybookVars) -> Result<HostVars, Error> {
    let mut out = HostVars::new();
    let (domain, at) = v
        .get_at("matrix_domain")?
        .ok_or_else(|| v.missing("matrix_domain", "the server name"))?;
    put(&mut out, "server_name", domain.into(), at);
    let implementation = v
        .get("matrix_homeserver_implementation")?
        .unwrap_or("synapse")
        .to_owned();
    let mas = v.flag("matrix_authentication_service_enabled")?;
    // The become password is read (and a template or vault refused) even without become.
    v.get("ansible_become_password")?;
    put(&mut out, "transport", "ssh".into(), &v.at);
    let ssh = ssh(v)?;
    out.insert("ssh".into(), ssh);

    let port = |key: &str| -> Result<(String, Place), Error> {
        Ok((v.get(key)?.unwrap_or("8008").to_owned(), v.place(key)))
    };
    // The homeserver's config file in its container and the port it listens on there,
    // which MAS's CLI needs neither of.
    let (backend, container, homeserver) = match (implementation.as_str(), mas) {
        (_, true) => ("mas-cli", "matrix-authentication-service", None),
        ("synapse", false) => (
            "synapse-cli",
            "matrix-synapse",
            Some((
                "/data/homeserver.yaml",
                port("matrix_synapse_container_client_api_port")?,
            )),
        ),
        ("dendrite", false) => (
            "dendrite-cli",
            "matrix-dendrite",
            Some((
                "/data/dendrite.yaml",
                port("matrix_dendrite_http_bind_port")?,
            )),
        ),
        // tuwunel serves Synapse's shared-secret and admin APIs, but the playbook's
        // variables give neither its secret nor an admin token; conduit and continuwuity
        // serve neither API (their accounts are managed in an admin room).
        ("tuwunel", false) => {
            return Err(v.place("matrix_homeserver_implementation").error(format!(
                "host `{}`: the playbook's variables do not give tuwunel's registration secret or an admin token; list the host in a provision inventory with `homeserver: tuwunel`, `backend: shared-secret` and `admin_backend: synapse-api`",
                v.host
            )));
        }
        (other, false) => {
            return Err(v.place("matrix_homeserver_implementation").error(format!(
                "host `{}`: provision has no backend for the `{other}` homeserver (synapse and dendrite, or MAS; tuwunel through a provision inventory)",
                v.host
            )));
        }
    };
    let decided_by = if mas {
        v.place("matrix_authentication_service_enabled")
    } else {
        v.place("matrix_homeserver_implementation")
    };
    put(&mut out, "backend", backend.into(), &decided_by);
    // The playbook's own container names, checked as an inventory's are.
    put(
        &mut out,
        "docker",
        json!({ "container": container }),
        &decided_by,
    );
    if let Some((config, (port, port_at))) = homeserver {
        put(&mut out, "config", config.into(), &decided_by);
        put(
            &mut out,
            "url",
            format!("http://localhost:{port}").into(),
            &port_at,
        );
        let database = match backend {
            "dendrite-cli" => ("matrix_dendrite_user_api_database", "dendrite_userapi"),
            _ => ("matrix_synapse_database_database", "synapse"),
        };
        if let Some((enabled_at, psql)) = psql(v, database)? {
            put(&mut out, "admin_backend", "sql".into(), &enabled_at);
            out.insert("psql".into(), psql);
        }
    }
    Ok(out)
}

/// The playbook's own PostgreSQL as `admin_backend: sql` with `psql: {command, database}`
/// (the schema follows the backend, not the database's name, which the playbook lets one
/// change), unless it is turned off (an external database). `database` is the variable
/// naming the homeserver's database and its default.
fn psql(v: &PlaybookVars, database: (&str, &str)) -> Result<Option<(Place, Placed)>, Error> {
    let enabled = v.first(&["devture_postgres_enabled", "postgres_enabled"])?;
    if enabled.is_some_and(|(e, _)| e == "false") {
        return Ok(None);
    }
    let enabled_at = enabled.map_or_else(|| v.at.clone(), |(_, at)| at.clone());
    // The postgres role installs its scripts in `{base path}/bin`
    // (mother-of-all-self-hosting/ansible-role-postgres, templates/bin/), the base path
    // being `postgres_base_path` (earlier `devture_postgres_base_path`), which the
    // playbook puts under `matrix_base_data_path` (/matrix): hence the
    // /matrix/postgres/bin/cli-non-interactive of its docs.
    let (base, base_at) = match v.first(&["postgres_base_path", "devture_postgres_base_path"])? {
        Some((base, at)) => (base.trim_end_matches('/').to_owned(), at.clone()),
        None => (
            format!(
                "{}/postgres",
                v.get("matrix_base_data_path")?
                    .unwrap_or("/matrix")
                    .trim_end_matches('/')
            ),
            v.place("matrix_base_data_path"),
        ),
    };
    let mut psql = Mapping::new();
    psql.set(
        "command",
        format!("{base}/bin/cli-non-interactive"),
        &base_at,
    );
    let (key, default) = database;
    psql.set("database", v.get(key)?.unwrap_or(default), &v.place(key));
    Ok(Some((enabled_at.clone(), psql.placed(&enabled_at))))
}

/// `ssh: {host, port, user, identity_file, known_hosts, accept_new_host_key, become,
/// become_user, become_password, options}` from the `ansible_*` connection variables.
fn ssh(v: &PlaybookVars) -> Result<Placed, Error> {
    let mut ssh = Mapping::new();
    if let Some((host, at)) = v.get_at("ansible_host")? {
        ssh.set("host", host, at);
    }
    if let Some((port, at)) = v.get_at("ansible_port")? {
        // Not a number: left as written, for the builder to refuse as no port.
        let port = port
            .parse::<u64>()
            .map_or_else(|_| port.into(), Value::from);
        ssh.set("port", port, at);
    }
    if let Some((user, at)) = v.first(&["ansible_ssh_user", "ansible_user"])? {
        ssh.set("user", user, at);
    }
    if let Some((key, at)) = v.get_at("ansible_ssh_private_key_file")? {
        ssh.set("identity_file", as_ansible_reads(key), at);
    }
    ssh_args(v, &mut ssh)?;
    if v.flag("ansible_become")? {
        ssh.set("become", true, &v.place("ansible_become"));
    }
    if let Some((user, at)) = v.get_at("ansible_become_user")? {
        ssh.set("become_user", user, at);
    }
    if let Some((password, at)) = v.get_at("ansible_become_password")? {
        // A secret source like any inventory's, written inline (the builder warns so).
        ssh.set("become_password", json!({ "value": password }), at);
    }
    Ok(ssh.placed(&v.at))
}

/// A path as Ansible hands it to ssh: relative to where it runs (a provision inventory's are
/// relative to the inventory, so it is made absolute here), `~` left to ssh.
fn as_ansible_reads(path: &str) -> String {
    if path.starts_with('~') {
        return path.to_owned();
    }
    std::path::absolute(path)
        .unwrap_or_else(|_| PathBuf::from(path))
        .display()
        .to_string()
}

/// The SSH settings in `ansible_ssh_common_args` / `ansible_ssh_extra_args`, the ways
/// Ansible users set them: `-o UserKnownHostsFile=…` and `-o StrictHostKeyChecking=…` map
/// to provision's `known_hosts` and `accept_new_host_key`, every other `-o` keyword (and
/// `-J`) goes to `options`, which the builder checks against what provision applies
/// ([`ssh_options::check`]); any other argument refuses the host at the variable's line.
fn ssh_args(v: &PlaybookVars, ssh: &mut Mapping) -> Result<(), Error> {
    let mut options = serde_json::Map::new();
    for key in ["ansible_ssh_common_args", "ansible_ssh_extra_args"] {
        let Some((args, at)) = v.get_at(key)? else {
            continue;
        };
        let refuse = |why: String| at.error(format!("host `{}`: `{key}`: {why}", v.host));
        // Split as Ansible's ssh connection plugin splits them (`shlex.split`).
        let mut words = shlex::split(args, false)
            .map_err(|e| refuse(e.to_string()))?
            .into_iter();
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
                        ssh_options::SSH_OPTIONS.join(", ")
                    )));
                }
            };
            // `-o Keyword=value` or `-o "Keyword value"`, as ssh reads them.
            let (keyword, value) = option
                .split_once(['=', ' ', '\t'])
                .map(|(k, v)| (k.trim(), v.trim()))
                .unwrap_or((option.as_str(), ""));
            if "UserKnownHostsFile".eq_ignore_ascii_case(keyword) {
                ssh_options::check_value(keyword, value).map_err(refuse)?;
                ssh.set("known_hosts", as_ansible_reads(value), at);
            } else if "StrictHostKeyChecking".eq_ignore_ascii_case(keyword) {
                ssh_options::check_value(keyword, value).map_err(refuse)?;
                // `no` is taken as accept-new: a key that changed is still refused.
                let accept_new = matches!(
                    value.to_ascii_lowercase().as_str(),
                    "accept-new" | "no" | "off"
                );
                ssh.set("accept_new_host_key", accept_new, at);
            } else if !options.contains_key(keyword) {
                // As ssh takes an option: the first value given is the one used.
                options.insert(keyword.to_owned(), value.into());
                ssh.parts.insert(format!("options.{keyword}"), at.clone());
            }
        }
    }
    if !options.is_empty() {
        ssh.value.insert("options".into(), Value::Object(options));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{Host, Inventory, Transport};
    use std::path::Path;

    /// Read and built, as `provision -i HOSTS` reads them.
    fn parse(path: &Path, source: &str) -> Result<Vec<Host>, Error> {
        Ok(Inventory::parse(path, source)?.hosts)
    }

    const HOSTS: &str = "\
# inventory/hosts, as the playbook's docs write it
[matrix_servers]
matrix.example.com ansible_host=1.2.3.4 ansible_ssh_user=root
matrix.example.org ansible_host=5.6.7.8 ansible_port=2222 ansible_ssh_user=deploy ansible_become=true ansible_become_user=root
";

    fn fleet(vars: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let hosts = dir.path().join("hosts");
        std::fs::write(&hosts, HOSTS).unwrap();
        for (host, yaml) in vars {
            let d = dir.path().join("host_vars").join(host);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("vars.yml"), yaml).unwrap();
        }
        (dir, hosts)
    }

    #[test]
    fn derives_backend_transport_and_admin_from_the_playbook_vars() {
        let (_dir, hosts) = fleet(&[
            (
                "matrix.example.com",
                "matrix_domain: example.com\nmatrix_homeserver_implementation: synapse\n",
            ),
            (
                "matrix.example.org",
                "matrix_domain: example.org\nmatrix_homeserver_implementation: synapse\nmatrix_authentication_service_enabled: true\n",
            ),
        ]);
        let text = std::fs::read_to_string(&hosts).unwrap();
        let inventory = Inventory::parse(&hosts, &text).unwrap();
        let names = |limit: &str| -> Vec<&str> {
            let hosts = inventory.select(Some(limit)).unwrap();
            hosts.iter().map(|h| h.name.as_str()).collect()
        };
        assert_eq!(
            names("matrix_servers"),
            ["matrix.example.com", "matrix.example.org"]
        );
        let parsed = inventory.hosts;
        let com = &parsed[0];
        assert_eq!(com.server_name, "example.com");
        let plan = com.plan();
        assert_eq!(plan["backend"]["kind"], "synapse-cli");
        assert_eq!(plan["backend"]["config"], "/data/homeserver.yaml");
        assert!(
            matches!(&com.transport, Some(Transport::Ssh { container: Some(c) }) if c == "matrix-synapse")
        );
        assert_eq!(plan["admin"]["kind"], "sql");
        assert_eq!(plan["admin"]["psql"]["database"], "synapse");
        let ssh = com.ssh.as_ref().unwrap();
        assert_eq!(
            (ssh.host.as_str(), ssh.user.as_deref()),
            ("1.2.3.4", Some("root"))
        );

        let org = &parsed[1];
        assert_eq!(org.plan()["backend"]["kind"], "mas-cli");
        assert!(
            matches!(&org.transport, Some(Transport::Ssh { container: Some(c) }) if c == "matrix-authentication-service")
        );
        let ssh = org.ssh.as_ref().unwrap();
        assert_eq!(
            (ssh.port, ssh.sudo.as_ref().map(|b| b.user.as_str())),
            (Some(2222), Some("root"))
        );
    }

    #[test]
    fn a_renamed_synapse_database_keeps_synapses_schema() {
        let (_dir, hosts) = fleet(&[
            (
                "matrix.example.com",
                "matrix_domain: example.com\nmatrix_synapse_database_database: matrix_synapse\n",
            ),
            ("matrix.example.org", "matrix_domain: example.org\n"),
        ]);
        let parsed = parse(&hosts, &std::fs::read_to_string(&hosts).unwrap()).unwrap();
        let admin = &parsed[0].plan()["admin"];
        assert_eq!(admin["schema"], "synapse");
        assert_eq!(admin["psql"]["database"], "matrix_synapse");
    }

    #[test]
    fn the_postgres_scripts_follow_the_playbooks_base_paths() {
        let command = |vars: &str| {
            let (_dir, hosts) = fleet(&[
                (
                    "matrix.example.com",
                    &format!("matrix_domain: example.com\n{vars}"),
                ),
                ("matrix.example.org", "matrix_domain: example.org\n"),
            ]);
            let parsed = parse(&hosts, &std::fs::read_to_string(&hosts).unwrap()).unwrap();
            let admin = &parsed[0].plan()["admin"];
            admin["psql"]["command"]
                .as_str()
                .expect("a psql admin backend")
                .to_owned()
        };
        assert_eq!(command(""), "/matrix/postgres/bin/cli-non-interactive");
        assert_eq!(
            command("matrix_base_data_path: /srv/matrix/\n"),
            "/srv/matrix/postgres/bin/cli-non-interactive"
        );
        assert_eq!(
            command("matrix_base_data_path: /srv/matrix\ndevture_postgres_base_path: /pg\n"),
            "/pg/bin/cli-non-interactive"
        );
        assert_eq!(
            command("postgres_base_path: /db\n"),
            "/db/bin/cli-non-interactive"
        );
    }

    #[test]
    fn templates_and_vaulted_values_are_refused_with_file_and_line() {
        let (_dir, hosts) = fleet(&[
            (
                "matrix.example.com",
                "matrix_domain: \"{{ base_domain }}\"\n",
            ),
            ("matrix.example.org", "matrix_domain: example.org\n"),
        ]);
        let e = parse(&hosts, &std::fs::read_to_string(&hosts).unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("`matrix_domain` is a Jinja template") && e.contains("vars.yml:1:1"),
            "{e}"
        );

        let (_dir, hosts) = fleet(&[
            ("matrix.example.com", "matrix_domain: example.com\n"),
            (
                "matrix.example.org",
                "matrix_domain: example.org\nansible_become_password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n",
            ),
        ]);
        let e = parse(&hosts, &std::fs::read_to_string(&hosts).unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("`ansible_become_password` is vaulted") && e.contains("vars.yml:2:1"),
            "{e}"
        );
    }

    #[test]
    fn an_unsupported_homeserver_is_named() {
        let (_dir, hosts) = fleet(&[
            (
                "matrix.example.com",
                "matrix_domain: example.com\nmatrix_homeserver_implementation: conduit\n",
            ),
            ("matrix.example.org", "matrix_domain: example.org\n"),
        ]);
        let e = parse(&hosts, &std::fs::read_to_string(&hosts).unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("no backend for the `conduit` homeserver") && e.contains("vars.yml:2:1"),
            "{e}"
        );
    }

    /// A hosts file of one host with this line's variables, and its host_vars/…/vars.yml.
    fn one_host(line: &str, vars: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let hosts = dir.path().join("hosts");
        std::fs::write(
            &hosts,
            format!("[matrix_servers]\nmatrix.example.com {line}\n"),
        )
        .unwrap();
        let d = dir.path().join("host_vars/matrix.example.com");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("vars.yml"), vars).unwrap();
        (dir, hosts)
    }

    fn one_host_error(line: &str, vars: &str) -> String {
        let (_dir, hosts) = one_host(line, vars);
        parse(&hosts, &std::fs::read_to_string(&hosts).unwrap())
            .err()
            .expect("an error")
            .to_string()
    }

    #[test]
    fn ssh_values_like_options_are_refused_by_the_inventorys_own_check_at_their_variable() {
        let e = one_host_error(
            "ansible_host=-oProxyCommand=x",
            "matrix_domain: example.com\n",
        );
        assert!(
            e.contains("`ansible_host` (as `ssh.host`) \"-oProxyCommand=x\" may not be empty or start with '-'")
                && e.contains("hosts:2:1"),
            "{e}"
        );
        let e = one_host_error(
            "ansible_host=1.2.3.4",
            "matrix_domain: example.com\nansible_become: true\nansible_become_user: -u\n",
        );
        assert!(
            e.contains("`ansible_become_user` (as `ssh.become_user`)")
                && e.contains("may not be empty or start with '-'")
                && e.contains("vars.yml:3:1"),
            "{e}"
        );
    }

    #[test]
    fn an_error_in_a_host_vars_file_shows_that_files_line() {
        let e = one_host_error("ansible_host=1.2.3.4", "---\nmatrix_domain: 'bad name'\n");
        assert!(
            e.contains("`matrix_domain` (as `server_name`)") && e.contains("invalid server name"),
            "{e}"
        );
        assert!(e.contains("vars.yml:2:1"), "{e}");
        assert!(e.contains("2 | matrix_domain: 'bad name'"), "{e}");

        let e = one_host_error(
            "ansible_host=1.2.3.4",
            "matrix_domain: example.com\nansible_port: twenty-two\n",
        );
        assert!(
            e.contains("`ansible_port` (as `ssh.port`)")
                && e.contains("is not a port")
                && e.contains("vars.yml:2:1"),
            "{e}"
        );
    }

    #[test]
    fn ssh_args_become_options_checked_as_an_inventorys_are() {
        let (_dir, hosts) = one_host(
            "ansible_host=1.2.3.4 ansible_ssh_common_args='-o UserKnownHostsFile=/k -o StrictHostKeyChecking=accept-new -J root@bastion -o ConnectTimeout=5 -o BatchMode=yes'",
            "matrix_domain: example.com\n",
        );
        let parsed = parse(&hosts, &std::fs::read_to_string(&hosts).unwrap()).unwrap();
        let ssh = parsed[0].ssh.as_ref().unwrap();
        assert_eq!(ssh.known_hosts.as_deref(), Some(Path::new("/k")));
        assert!(ssh.accept_new_host_key);
        assert_eq!(
            ssh.options,
            [
                ("ProxyJump".to_owned(), "root@bastion".to_owned()),
                ("ConnectTimeout".to_owned(), "5".to_owned())
            ]
        );

        let e = one_host_error(
            "ansible_host=1.2.3.4",
            "matrix_domain: example.com\nansible_ssh_extra_args: -o ControlPath=/tmp/x\n",
        );
        assert!(
            e.contains(
                "`ansible_ssh_extra_args` (as `ssh.options`): ssh option `ControlPath` is refused"
            ) && e.contains("vars.yml:2:1"),
            "{e}"
        );
    }

    #[test]
    fn the_become_password_is_an_inline_secret_source_never_shown() {
        let (_dir, hosts) = one_host(
            "ansible_host=1.2.3.4 ansible_become=true ansible_become_password=hunter2",
            "matrix_domain: example.com\n",
        );
        let parsed = parse(&hosts, &std::fs::read_to_string(&hosts).unwrap()).unwrap();
        let sudo = parsed[0].ssh.as_ref().unwrap().sudo.as_ref().unwrap();
        assert!(matches!(
            sudo.password,
            Some(crate::secret_source::SecretSource::Inline(_))
        ));
        let plan = parsed[0].plan().to_string();
        assert!(!plan.contains("hunter2"), "{plan}");
    }
}
