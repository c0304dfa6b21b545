//! A host as `provision inventory` shows it: what provision will do there and with what,
//! secrets only by their source.

use serde_json::{Value, json};

use super::{AdminBackend, Backend, Host, Transport};

impl Host {
    pub fn plan(&self) -> Value {
        let backend = match &self.backend {
            Backend::SharedSecret { url, shared_secret } => {
                json!({"kind": "shared-secret", "url": url.as_str(), "shared_secret": shared_secret.to_string()})
            }
            Backend::SynapseCli {
                config,
                url,
                command,
            } => {
                json!({"kind": "synapse-cli", "config": config, "url": url, "command": command})
            }
            Backend::DendriteCli {
                config,
                url,
                command,
            } => {
                json!({"kind": "dendrite-cli", "config": config, "url": url, "command": command})
            }
            Backend::MasCli { config, command } => {
                json!({"kind": "mas-cli", "config": config, "command": command, "warning": provision_backends::mas_cli::ARGV_WARNING})
            }
            Backend::PlaybookWrapper { command } => {
                json!({"kind": "playbook-wrapper", "command": command, "warning": provision_backends::playbook_wrapper::ARGV_WARNING})
            }
        };
        let ssh = self.ssh.as_ref().map(|s| {
            json!({
                "host": s.host,
                "port": s.port,
                "user": s.user,
                "identity_file": s.identity_file.as_ref().map(|p| p.display().to_string()),
                "known_hosts": s.known_hosts.as_ref().map(|p| p.display().to_string()),
                "accept_new_host_key": s.accept_new_host_key,
                "options": s.options.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
                "become": s.sudo.as_ref().map(|b| json!({
                    "user": b.user,
                    "password": b.password.as_ref().map(|p| p.to_string()),
                })),
            })
        });
        // None for a backend that talks HTTP itself: its `url` is in `backend`.
        let transport = match &self.transport {
            None => Value::Null,
            Some(Transport::Local) => json!({"kind": "local"}),
            Some(Transport::Docker { container }) => {
                json!({"kind": "docker", "container": container})
            }
            Some(Transport::Ssh { container }) => json!({"kind": "ssh", "container": container}),
        };
        let admin = match &self.admin {
            None => Value::Null,
            Some(AdminBackend::Sql {
                database_url, psql, ..
            }) => json!({
                "kind": "sql",
                "database_url": database_url.as_ref().map(|d| d.to_string()),
                "psql": psql.as_ref().map(|p| json!({"command": p.command, "database": p.database})),
                "via_ssh": self.ssh.is_some(),
            }),
            Some(AdminBackend::SynapseApi { url, admin_token }) => {
                json!({"kind": "synapse-api", "url": url.as_str(), "admin_token": admin_token.to_string()})
            }
            Some(AdminBackend::MasApi(mas)) => json!({
                "kind": "mas-api",
                "url": mas.url.as_str(),
                "client_id": mas.client_id,
                "client_secret": mas.client_secret.to_string(),
            }),
        };
        json!({
            "host": self.name,
            "server_name": self.server_name,
            "backend": backend,
            "transport": transport,
            "ssh": ssh,
            "admin": admin,
        })
    }
}
