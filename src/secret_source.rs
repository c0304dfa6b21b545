//! Where a secret comes from: a file, an environment variable, or (discouraged) the inventory
//! itself. Only the source is kept until a host needs the secret, so `provision` can say where
//! a secret comes from without ever holding or printing it.

use std::fmt;
use std::path::PathBuf;

use provision_backends::{ExposeSecret, SecretString};

use crate::local_file::{self, Owner};

#[derive(Clone)]
pub enum SecretSource {
    File(PathBuf),
    Env(String),
    Inline(SecretString),
}

impl SecretSource {
    /// Reads the secret. A file must be a regular file of at most 64 KiB that only its owner
    /// (the running user, or root) can write ([`local_file::read`]): a FIFO, a device or a
    /// planted file fails at once, naming the problem. Surrounding whitespace is dropped, as
    /// Synapse does for `registration_shared_secret_path`. The error says what went wrong; the
    /// caller names the source (with `Display`) and the key.
    pub fn resolve(&self) -> Result<SecretString, String> {
        let value = match self {
            SecretSource::File(path) => {
                let text = local_file::read(path, local_file::SECRET_LIMIT, Owner::Trusted)?;
                local_file::warn_if_readable_by_others(path);
                text
            }
            SecretSource::Env(name) => std::env::var(name).map_err(|e| match e {
                std::env::VarError::NotPresent => format!("environment variable {name} is not set"),
                std::env::VarError::NotUnicode(_) => {
                    format!("environment variable {name} is not UTF-8")
                }
            })?,
            SecretSource::Inline(secret) => {
                keep(secret.expose_secret());
                return Ok(secret.clone());
            }
        };
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err("it is empty".to_owned());
        }
        keep(trimmed);
        Ok(SecretString::from(trimmed))
    }
}

/// Nothing provision shows may hold a secret it resolved (output.rs redacts them); a database
/// URL's password is kept apart too, since a driver's error may quote it alone.
fn keep(secret: &str) {
    crate::output::keep_secret(secret);
    if let Ok(url) = reqwest::Url::parse(secret)
        && let Some(password) = url.password()
    {
        crate::output::keep_secret(password);
        if let Ok(decoded) = percent_encoding::percent_decode_str(password).decode_utf8() {
            crate::output::keep_secret(&decoded);
        }
    }
}

/// Says where the secret comes from, never what it is.
impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::File(path) => write!(f, "file {}", path.display()),
            SecretSource::Env(name) => write!(f, "environment variable {name}"),
            SecretSource::Inline(_) => f.write_str("inline value in the inventory"),
        }
    }
}

/// How the backends read a secret they are built with.
impl provision_backends::settings::SecretSource for SecretSource {
    fn resolve(&self) -> Result<SecretString, String> {
        SecretSource::resolve(self)
    }
}
