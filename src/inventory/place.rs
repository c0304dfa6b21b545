//! What both inventory readers hand to the one host builder (host.rs): per host, provision's
//! own keys, each value with the place it was written — the YAML inventory, a playbook's INI
//! hosts file or one of its host_vars files — so that an error shows that file's line.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use indexmap::IndexMap;
use serde_json::Value;
use serde_saphyr::Location;

use crate::error::{Error, Located};

/// A file inventory values are read from, kept whole to show the line of an error.
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

impl Source {
    pub fn new(path: &Path, text: &str) -> Rc<Source> {
        Rc::new(Source {
            path: path.to_owned(),
            text: text.to_owned(),
        })
    }

    /// An error at `line`:`column` of this file (from 1; 0 for "somewhere in the file").
    pub fn at(&self, msg: impl Into<String>, line: u64, column: u64) -> Error {
        Error::Inventory(Located::new(msg, &self.path, &self.text, line, column))
    }

    pub fn at_loc(&self, msg: impl Into<String>, loc: &Location) -> Error {
        self.at(msg, loc.line(), loc.column())
    }

    pub fn yaml_error(&self, err: &serde_saphyr::Error, what: &str) -> Error {
        Error::Inventory(Located::from_yaml(err, what, &self.path, &self.text))
    }
}

/// Where a value was written.
#[derive(Clone)]
pub struct Place {
    pub file: Rc<Source>,
    pub line: u64,
    pub column: u64,
    /// The variable the value was derived from when it is not provision's own key (a
    /// playbook's `matrix_domain` for `server_name`), named in messages next to the key.
    pub var: Option<String>,
}

impl Place {
    pub fn new(file: &Rc<Source>, line: u64, column: u64) -> Self {
        Place {
            file: file.clone(),
            line,
            column,
            var: None,
        }
    }

    pub fn of(file: &Rc<Source>, loc: &Location) -> Self {
        Place::new(file, loc.line(), loc.column())
    }

    pub fn error(&self, msg: impl Into<String>) -> Error {
        self.file.at(msg, self.line, self.column)
    }

    /// `key` as a message names it: the variable it came from first, when there is one.
    pub fn label(&self, key: &str) -> String {
        match &self.var {
            Some(var) if var != key => format!("`{var}` (as `{key}`)"),
            _ => format!("`{key}`"),
        }
    }
}

/// A value and where it was written.
#[derive(Clone)]
pub struct Placed {
    pub value: Value,
    pub at: Place,
    /// Where parts of a mapping were written when not at `at`, by dotted path (`host`,
    /// `options.ProxyJump`): a playbook host's `ssh` gathers several variables. The YAML
    /// reader gives none; a part without a place of its own is at its parent's.
    pub parts: IndexMap<String, Place>,
}

impl Placed {
    pub fn new(value: Value, at: Place) -> Self {
        Placed {
            value,
            at,
            parts: IndexMap::new(),
        }
    }

    /// Where the part at `path` (dotted) was written: its own place, its nearest parent's, or
    /// the whole value's.
    pub fn part(&self, path: &str) -> &Place {
        let mut path = path;
        loop {
            if let Some(at) = self.parts.get(path) {
                return at;
            }
            match path.rsplit_once('.') {
                Some((parent, _)) => path = parent,
                None => return &self.at,
            }
        }
    }

    /// The part at `key` of a mapping, as a value of its own, with its place.
    pub fn field(&self, key: &str) -> Option<Placed> {
        let value = self.value.as_object()?.get(key)?.clone();
        let prefix = format!("{key}.");
        Some(Placed {
            value,
            at: self.part(key).clone(),
            parts: self
                .parts
                .iter()
                .filter_map(|(p, at)| Some((p.strip_prefix(&prefix)?.to_owned(), at.clone())))
                .collect(),
        })
    }
}

/// One host's variables as a reader found them: provision's keys (host.rs's `KEYS`), merged,
/// before any check.
pub type HostVars = IndexMap<String, Placed>;

/// A host as a reader found it, ready for [`super::Host::from_vars`].
pub struct Found {
    pub name: String,
    /// Where the host is defined: missing keys are reported there.
    pub at: Place,
    pub vars: HostVars,
}
