//! One host's merged variables turned into a typed [`Host`]: which backend, reached how, with
//! secrets from where. Every error names the key and the place it was set.

use std::path::Path;

use indexmap::IndexMap;
use serde_json::Value;
use serde_saphyr::{Location, Spanned};

use super::{File, raw};
use crate::error::Error;
use crate::secret_source::SecretSource;

/// Every key a host or group may set. Anything else is a typo or a key of another tool.
const KEYS: &[&str] = &["server_name", "backend", "url", "shared_secret", "mas"];
const BACKENDS: &[&str] = &["shared-secret"];

pub struct Host {
    pub name: String,
    pub server_name: String,
    pub backend: Backend,
}

pub enum Backend {
    /// `/_synapse/admin/v1/register` at `url`, signed with the shared secret.
    SharedSecret {
        url: reqwest::Url,
        shared_secret: SecretSource,
    },
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

    fn url(&self, key: &str, why: &str) -> Result<reqwest::Url, Error> {
        let (s, v) = self.string(key, why)?;
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

        let (backend_name, backend_at) = vars.string("backend", "one of: shared-secret")?;
        if let Some(mas) = vars.get("mas") {
            check_mas(&vars, mas, base)?;
        }
        let backend = match backend_name.as_str() {
            "shared-secret" => {
                if let Some(mas) = vars.get("mas") {
                    return Err(vars.wrong(
                        "backend",
                        backend_at,
                        format!(
                            "this host's accounts are managed by MAS (`mas` is set at line {}), and Synapse does not serve shared-secret registration then; use the MAS backends",
                            mas.referenced.line()
                        ),
                    ));
                }
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
        Ok(Host {
            name: name.to_owned(),
            server_name,
            backend,
        })
    }
}

/// `mas: {url, client_id, client_secret}` marks a host whose accounts MAS owns. Checked now so
/// a typo is caught even before a MAS backend uses it.
fn check_mas(vars: &Vars, mas: &Spanned<Value>, base: &Path) -> Result<(), Error> {
    let Value::Object(map) = &mas.value else {
        return Err(vars.wrong(
            "mas",
            mas,
            "expected {url: URL, client_id: ID, client_secret: {file: PATH}}",
        ));
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
    for key in ["url", "client_id"] {
        if !matches!(map.get(key), Some(Value::String(s)) if !s.is_empty()) {
            return Err(vars.wrong("mas", mas, format!("`{key}` must be a non-empty string")));
        }
    }
    match map.get("client_secret") {
        Some(v) => {
            let spanned = Spanned::new(v.clone(), mas.referenced, mas.defined);
            vars.secret("mas.client_secret", &spanned, base).map(|_| ())
        }
        None => Err(vars.wrong("mas", mas, "missing `client_secret`")),
    }
}
