//! What `register_new_matrix_user` reads of homeserver.yaml, read the same way so provision
//! can call the shared-secret API itself, as the tool does (upstream
//! synapse/_scripts/register_new_matrix_user.py, `main` and `_find_client_listener`): the
//! secret from `registration_shared_secret_path` (a file on the host, stripped) or else
//! `registration_shared_secret`, and the first plain-HTTP listener serving `client`. The file
//! is read with `cat PATH` through the host's exec port: only the path is on argv; the secret
//! comes back on the command's stdout and stays in memory, never in a message.

use secrecy::SecretString;
use serde::Deserialize;

use crate::Failure;
use crate::port::exec::{Command, Exec, ExecPort};

/// Where to register, as the host sees it, and with which secret.
pub struct Endpoint {
    pub secret: SecretString,
    pub host: String,
    pub port: u16,
}

/// Why the tool must do it: the config has no secret, no listener that can be reached.
pub type WhyNot = String;

/// `Ok(Err(why))`: the tool must be used; `Err`: the host could not be asked.
pub type FoundEndpoint = Result<Result<Endpoint, WhyNot>, Failure>;

#[derive(Deserialize, Default)]
#[serde(default)]
struct HomeserverYaml {
    registration_shared_secret: Option<serde_json::Value>,
    registration_shared_secret_path: Option<serde_json::Value>,
    listeners: Vec<serde_json::Value>,
}

/// Reads `config` on the host (and the secret's file, when it names one). `url`: the
/// inventory's, which the tool would be given (it wins over the listeners, as the tool's
/// `server_url` argument does). `Ok(Err(why))`: the tool must be used; `Err`: the host
/// could not be asked.
pub async fn synapse(exec: &ExecPort, config: &str, url: Option<&str>) -> FoundEndpoint {
    let text = match cat(exec, config).await? {
        Ok(text) => text,
        Err(why) => return Ok(Err(why)),
    };
    // Not the parser's message: it may quote the line it stopped at, which may be the secret's.
    let Ok(yaml) = serde_saphyr::from_str::<HomeserverYaml>(&text) else {
        return Ok(Err(format!("{config} does not parse as YAML")));
    };
    let secret = match (
        &yaml.registration_shared_secret_path,
        &yaml.registration_shared_secret,
    ) {
        (Some(serde_json::Value::String(path)), _) if !path.is_empty() => {
            match cat(exec, path).await? {
                // Synapse strips the file's content (synapse/config/registration.py,
                // `read_file(...).strip()`), and so does the tool.
                Ok(text) => text.trim().to_owned(),
                Err(why) => return Ok(Err(why)),
            }
        }
        (Some(serde_json::Value::Null) | None, Some(serde_json::Value::String(s))) => s.clone(),
        (Some(v), _) if !v.is_null() => {
            return Ok(Err(format!(
                "registration_shared_secret_path in {config} is not a string"
            )));
        }
        (_, Some(v)) if !v.is_null() => {
            return Ok(Err(format!(
                "registration_shared_secret in {config} is not a string"
            )));
        }
        _ => String::new(),
    };
    if secret.is_empty() {
        return Ok(Err(format!("no shared secret in {config}")));
    }
    let found = match url {
        Some(url) => from_url(url),
        None => client_listener(&yaml.listeners).map_err(|why| format!("{why} in {config}")),
    };
    Ok(found.map(|(host, port)| Endpoint {
        secret: SecretString::from(secret),
        host,
        port,
    }))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DendriteYaml {
    client_api: Option<serde_json::Value>,
}

/// What Dendrite's `create-account` reads (cmd/create-account/main.go in element-hq/dendrite):
/// the secret from the config's `client_api.registration_shared_secret`, the server at `-url`,
/// by default http://localhost:8008 (its listen address is a flag of the server, not in the
/// config).
pub async fn dendrite(exec: &ExecPort, config: &str, url: Option<&str>) -> FoundEndpoint {
    let text = match cat(exec, config).await? {
        Ok(text) => text,
        Err(why) => return Ok(Err(why)),
    };
    let Ok(yaml) = serde_saphyr::from_str::<DendriteYaml>(&text) else {
        return Ok(Err(format!("{config} does not parse as YAML")));
    };
    let secret = match yaml
        .client_api
        .as_ref()
        .map(|c| &c["registration_shared_secret"])
    {
        Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
        Some(v) if !v.is_null() && !v.is_string() => {
            return Ok(Err(format!(
                "client_api.registration_shared_secret in {config} is not a string"
            )));
        }
        _ => return Ok(Err(format!("no shared secret in {config}"))),
    };
    Ok(
        from_url(url.unwrap_or("http://localhost:8008")).map(|(host, port)| Endpoint {
            secret: SecretString::from(secret),
            host,
            port,
        }),
    )
}

/// A file's text on the host; `Err(why)` when it cannot be read (its stderr says why, never
/// its content).
async fn cat(exec: &ExecPort, path: &str) -> Result<Result<String, WhyNot>, Failure> {
    let out = exec.run(Command::new("cat").arg("--").arg(path)).await?;
    if out.success() {
        Ok(Ok(out.stdout))
    } else {
        Ok(Err(format!(
            "cannot read {path} ({}): {}",
            out.describe_exit(),
            out.stderr.trim()
        )))
    }
}

/// The inventory's `url` as host and port: only `http://` (the tunnel speaks plain HTTP to
/// the address).
fn from_url(url: &str) -> Result<(String, u16), WhyNot> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(format!("url {url} is not plain http://"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((host, rest)) => (host, rest.strip_prefix(':')),
            None => (authority, None),
        },
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = match port {
        None => 80,
        Some(p) => p
            .parse::<i64>()
            .map_err(|_| format!("url {url}: the port is not a number"))?,
    };
    checked(host, port).map_err(|why| format!("url {url}: {why}"))
}

/// The first listener the tool would use: `type: http`, not TLS, serving `client`
/// (`_find_client_listener` skips TLS listeners too). The tool then connects to
/// `localhost:PORT` whatever the listener binds ("TODO: consider bind_addresses"); provision
/// connects to the address it binds, so a listener bound only to another interface still
/// answers: a wildcard (`0.0.0.0`, `::`, or none given: Synapse binds both) is reached on
/// 127.0.0.1.
fn client_listener(listeners: &[serde_json::Value]) -> Result<(String, u16), WhyNot> {
    for l in listeners {
        if l["type"].as_str() != Some("http") || l["tls"].as_bool().unwrap_or(false) {
            continue;
        }
        let serves_client = l["resources"].as_array().is_some_and(|resources| {
            resources.iter().any(|r| {
                r["names"]
                    .as_array()
                    .is_some_and(|n| n.iter().any(|n| n.as_str() == Some("client")))
            })
        });
        if !serves_client {
            continue;
        }
        let port = l["port"]
            .as_i64()
            .ok_or("a client listener without a port")?;
        let bind = l["bind_addresses"]
            .as_array()
            .and_then(|a| a.first())
            .and_then(|a| a.as_str())
            .unwrap_or("0.0.0.0");
        let host = match bind {
            "0.0.0.0" | "::" | "" => "127.0.0.1",
            other => other,
        };
        return checked(host, port);
    }
    Err("no plain-HTTP listener serving client".into())
}

/// What the server's file says, checked before it reaches the forward: a port in range, an
/// address that is an IP or a host name (nothing an ssh option could be read from).
fn checked(host: &str, port: i64) -> Result<(String, u16), WhyNot> {
    let port = u16::try_from(port)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("the port {port} is out of range"))?;
    let name = host.len() <= 253
        && !host.is_empty()
        && !host.starts_with(['-', '.'])
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if host.parse::<std::net::IpAddr>().is_ok() || name {
        Ok((host.to_owned(), port))
    } else {
        Err(format!(
            "the address {host:?} is neither an IP address nor a host name"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listeners(yaml: &str) -> Result<(String, u16), WhyNot> {
        let y: HomeserverYaml = serde_saphyr::from_str(yaml).unwrap();
        client_listener(&y.listeners)
    }

    #[test]
    fn the_first_plain_client_listener_and_its_address() {
        let yaml = "listeners:\n  - {port: 8448, type: http, tls: true, resources: [{names: [client, federation]}]}\n  - {port: 9000, type: metrics}\n  - {port: 8009, type: http, resources: [{names: [federation]}]}\n  - port: 8008\n    type: http\n    bind_addresses: ['::1', '127.0.0.1']\n    resources:\n      - names: [client]\n";
        assert_eq!(listeners(yaml).unwrap(), ("::1".into(), 8008));
        let yaml = "listeners:\n  - {port: 8008, type: http, resources: [{names: [client]}]}\n";
        assert_eq!(listeners(yaml).unwrap(), ("127.0.0.1".into(), 8008));
        let yaml = "listeners:\n  - {port: 8008, type: http, bind_addresses: ['0.0.0.0'], resources: [{names: [client]}]}\n";
        assert_eq!(listeners(yaml).unwrap(), ("127.0.0.1".into(), 8008));
        assert!(listeners("listeners: []\n").is_err());
    }

    #[test]
    fn what_the_server_says_is_checked() {
        let yaml = "listeners:\n  - {port: 70000, type: http, resources: [{names: [client]}]}\n";
        assert!(listeners(yaml).unwrap_err().contains("out of range"));
        let yaml = "listeners:\n  - {port: 8008, type: http, bind_addresses: ['-oProxyCommand=x'], resources: [{names: [client]}]}\n";
        assert!(listeners(yaml).unwrap_err().contains("neither"));
        assert_eq!(
            checked("synapse.local", 8008).unwrap(),
            ("synapse.local".into(), 8008)
        );
        assert!(checked("a b", 1).is_err());
        assert!(checked("127.0.0.1", 0).is_err());
    }

    #[test]
    fn the_inventory_url() {
        let ok = |u: &str| from_url(u).unwrap();
        assert_eq!(ok("http://127.0.0.1:8008"), ("127.0.0.1".into(), 8008));
        assert_eq!(ok("http://localhost/"), ("localhost".into(), 80));
        assert_eq!(ok("http://[::1]:8008/x"), ("::1".into(), 8008));
        assert!(from_url("https://x:8448").is_err());
    }
}
