//! A host's settings as its backends read them (`provision_backends::settings::Settings`):
//! every value checked and every error located at its key by the inventory's own accessors.

use std::path::Path;

use provision_backends::settings::{Homeserver, Login, Mas, Secret, Settings};
use serde::de::DeserializeOwned;
use std::sync::Arc;

use super::host::Vars;
use crate::error::Error;

pub struct HostSettings<'a> {
    pub(super) vars: &'a Vars<'a>,
    /// Where relative secret paths start: the inventory's folder.
    pub(super) base: &'a Path,
    pub(super) mas: Option<Mas>,
    pub(super) homeserver: Homeserver,
    /// Checked against the Matrix grammar before any backend reads it.
    pub(super) server_name: &'a str,
}

impl Settings for HostSettings<'_> {
    type Error = Error;

    fn string(&self, key: &str, why: &str) -> Result<String, Error> {
        Ok(self.vars.string(key, why)?.0)
    }

    fn optional(&self, key: &str) -> Result<Option<String>, Error> {
        match self.vars.get(key) {
            None => Ok(None),
            Some(_) => self.string(key, "").map(Some),
        }
    }

    fn url(&self, key: &str, why: &str) -> Result<String, Error> {
        Ok(self.vars.url(key, why)?.as_str().to_owned())
    }

    fn optional_url(&self, key: &str) -> Result<Option<String>, Error> {
        match self.vars.get(key) {
            None => Ok(None),
            Some(_) => {
                let (s, v) = self.vars.string(key, "")?;
                self.vars.no_userinfo(key, v, &s)?;
                Ok(Some(s))
            }
        }
    }

    fn secret(&self, key: &str, why: &str) -> Result<Secret, Error> {
        let v = self
            .vars
            .get(key)
            .ok_or_else(|| self.vars.missing(key, why))?;
        Ok(Arc::new(self.vars.secret(key, v, self.base)?))
    }

    fn login(&self, key: &str) -> Result<Option<Login>, Error> {
        let Some(v) = self.vars.get(key) else {
            return Ok(None);
        };
        match &v.value {
            serde_json::Value::Object(map) if map.contains_key("login") => {
                let (user, password) = self.vars.login(key, v, self.base)?;
                Ok(Some(Login {
                    user,
                    password: Arc::new(password),
                }))
            }
            _ => Ok(None),
        }
    }

    fn mapping<T: DeserializeOwned>(&self, key: &str, shape: &str) -> Result<Option<T>, Error> {
        let Some(v) = self.vars.get(key) else {
            return Ok(None);
        };
        serde_json::from_value(v.value.clone())
            .map(Some)
            .map_err(|e| self.vars.wrong(key, v, format!("{e}; {shape}")))
    }

    fn line(&self, key: &str) -> Option<u64> {
        self.vars.get(key).map(|v| v.at.line)
    }

    fn wrong(&self, key: &str, why: &str) -> Error {
        match self.vars.get(key) {
            Some(v) => self.vars.wrong(key, v, why),
            None => self.vars.missing(key, why),
        }
    }

    fn missing(&self, key: &str, why: &str) -> Error {
        self.vars.missing(key, why)
    }

    fn mas(&self) -> Option<&Mas> {
        self.mas.as_ref()
    }

    fn homeserver(&self) -> Homeserver {
        self.homeserver
    }

    fn server_name(&self) -> &str {
        self.server_name
    }
}
