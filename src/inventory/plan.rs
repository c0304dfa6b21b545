//! A host as `provision inventory` shows it: what provision will do there and with what,
//! secrets only by their source.

use serde_json::{Value, json};

use super::{Host, Transport};

impl Host {
    pub fn plan(&self) -> Value {
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
        let shown: Vec<Value> = self.backends.iter().map(|b| b.config.show()).collect();
        json!({
            "host": self.name,
            "server_name": self.server_name,
            "homeserver": self.homeserver.name(),
            // `backend` and `admin` as the inventory names them; `backends`, all of them in
            // the order the router tries them.
            "backend": shown.first(),
            "transport": transport,
            "ssh": ssh,
            "admin": shown.get(1),
            "backends": shown,
        })
    }
}
