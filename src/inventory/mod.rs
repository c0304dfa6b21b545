//! The inventory, read as Ansible reads one: each `-i` source (a file, or a folder of them:
//! sources.rs) is provision's YAML inventory (yaml.rs) or a matrix-docker-ansible-deploy INI
//! inventory (ini.rs); every source fills one tree of groups and hosts (tree.rs), with the
//! `group_vars/` and `host_vars/` beside each source (vars_files.rs); each host's variables
//! are merged in Ansible's order (`Tree::merged`), a playbook host's translated to provision's
//! keys (playbook.rs), and every host is built and checked by the one builder (host.rs), with
//! errors that point at the file, line and key.

mod host;
mod hostpattern;
mod ini;
mod limit;
mod place;
mod plan;
mod playbook;
mod raw;
mod settings;
mod shlex;
mod sources;
mod ssh_options;
mod tree;
mod vars_files;
mod yaml;

use std::path::{Path, PathBuf};
use std::rc::Rc;

use indexmap::IndexMap;

pub use host::{Configured, Host, SshTarget, Transport};
pub use settings::HostSettings;

use crate::error::Error;
use place::{Found, Source};
use tree::{Dialect, Tree};
use vars_files::VarsFiles;

/// Inventories are small; this bound keeps a hostile or mistaken file from eating memory.
const MAX_INVENTORY_BYTES: u64 = 16 * 1024 * 1024;

pub struct Inventory {
    pub hosts: Vec<Host>,
    /// Group name to the names of the hosts in it or in its children.
    groups: IndexMap<String, Vec<String>>,
    /// What was read but not used, or not the way Ansible would (each also logged).
    pub warnings: Vec<String>,
}

impl Inventory {
    /// Its groups' names, in the order they were read.
    pub fn group_names(&self) -> impl Iterator<Item = &str> {
        self.groups.keys().map(String::as_str)
    }

    /// Every `-i` source, in order, as one inventory.
    pub fn load(sources: &[PathBuf]) -> Result<Self, Error> {
        Reader::run(|r| {
            for source in sources {
                r.source(source)?;
            }
            Ok(())
        })
    }

    /// One inventory file's text (YAML or INI, by its first line), with the `group_vars/` and
    /// `host_vars/` beside `path`.
    pub fn parse(path: &Path, source: &str) -> Result<Self, Error> {
        Reader::run(|r| r.text(path, source, None))
    }

    /// A matrix-docker-ansible-deploy inventory (`inventory/hosts`, INI) at `path`, whatever
    /// its first line: the playbook reader alone, for its fuzz target.
    pub fn parse_ini(path: &Path, source: &str) -> Result<Self, Error> {
        Reader::run(|r| r.text(path, source, Some(true)))
    }

    /// The hosts a `--limit` selects (all of them without one), in inventory order.
    pub fn select(&self, limit: Option<&str>) -> Result<Vec<&Host>, Error> {
        limit::select(self, limit)
    }
}

/// Every key of provision's YAML inventory, as the reader knows them: a group's (`hosts`,
/// `vars`, `children`, and `ansible_group_priority` among its vars), every variable a host or
/// group may set, and each mapping's keys after its own (`ssh.port`, `psql.database`).
/// inventory.example.yaml shows each one; a test holds it to this list.
pub fn reference_keys() -> Vec<String> {
    let layout = provision_backends::keys::of::<raw::Group>().iter().copied();
    let vars = host::keys().into_iter().chain([tree::GROUP_PRIORITY]);
    let mut keys: Vec<String> = layout.chain(vars).map(str::to_owned).collect();
    for (key, inner) in host::mapping_keys() {
        keys.extend(inner.iter().map(|k| format!("{key}.{k}")));
    }
    keys
}

/// The sources read so far.
struct Reader {
    tree: Tree,
    /// Where each source's `group_vars/` and `host_vars/` are, in the order given.
    basedirs: Vec<PathBuf>,
    warnings: Vec<String>,
    /// Each inventory file read, and whether it was INI.
    files: Vec<(Rc<Source>, bool)>,
}

impl Reader {
    /// Reads what `read` gives it, then builds the hosts; the warnings are logged either way.
    fn run(read: impl FnOnce(&mut Reader) -> Result<(), Error>) -> Result<Inventory, Error> {
        let mut reader = Reader {
            tree: Tree::new(),
            basedirs: Vec::new(),
            warnings: Vec::new(),
            files: Vec::new(),
        };
        let result = read(&mut reader).and_then(|()| reader.finish());
        for w in &reader.warnings {
            tracing::warn!("{w}");
        }
        result.map(|inventory| Inventory {
            warnings: reader.warnings,
            ..inventory
        })
    }

    /// An `-i` source: a file, or every inventory file in a folder.
    fn source(&mut self, source: &Path) -> Result<(), Error> {
        for file in sources::files(source)? {
            // A regular file only, read without blocking and never past the limit.
            let text =
                crate::local_file::read(&file, MAX_INVENTORY_BYTES, crate::local_file::Owner::Any)
                    .map_err(|e| Error::Usage(format!("inventory {}: {e}", file.display())))?;
            if text.starts_with("#!") {
                // Ansible runs an executable inventory and reads what it prints.
                let why = "is an inventory script, which provision does not run";
                if file == source {
                    return Err(Error::Usage(format!("inventory {}: {why}", file.display())));
                }
                self.warnings
                    .push(format!("{}: {why}; skipped", file.display()));
                continue;
            }
            let read = self.text(&file, &text, None);
            if read.is_err() && file != source {
                self.warnings.push(format!(
                    "{}: provision stops at an inventory file in the folder it cannot read, where Ansible would skip it with a warning",
                    file.display()
                ));
            }
            read?;
        }
        self.basedir(sources::basedir(source));
        Ok(())
    }

    /// One inventory file: INI when `ini` says so or its first line is a `[section]`.
    fn text(&mut self, path: &Path, text: &str, ini: Option<bool>) -> Result<(), Error> {
        // A byte-order mark is no part of the text (editors on Windows write one).
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let ini = ini.unwrap_or_else(|| ini::is_ini(text));
        let file = Source::new(path, text);
        if ini {
            ini::read(&mut self.tree, &file, &mut self.warnings)?;
        } else {
            yaml::read(&mut self.tree, &file, &mut self.warnings)?;
        }
        self.files.push((file, ini));
        Ok(())
    }

    fn basedir(&mut self, dir: PathBuf) {
        // A folder given twice applies where it was given last: Ansible reads it each time,
        // so its last reading is the one that stays. Kept as given, for messages.
        let same = |a: &Path, b: &Path| {
            a == b
                || std::fs::canonicalize(a).is_ok_and(|a| std::fs::canonicalize(b).ok() == Some(a))
        };
        self.basedirs.retain(|d| !same(d, &dir));
        self.basedirs.push(dir);
    }

    /// The hosts built (the warnings are the reader's, added by `run`).
    fn finish(&mut self) -> Result<Inventory, Error> {
        // A text read on its own (`parse`, `parse_ini`): the folder of its path.
        if self.basedirs.is_empty()
            && let Some((file, _)) = self.files.first()
        {
            let path = file.path.clone();
            self.basedir(sources::basedir(&path));
        }
        self.tree.reconcile();
        if self.tree.hosts.is_empty() {
            return Err(match self.files.as_slice() {
                [(file, false)] => file.at(
                    "the inventory defines no hosts (expected all: hosts: NAME: ...)",
                    1,
                    1,
                ),
                [(file, true)] => file.at(
                    "the inventory lists no hosts (expected [matrix_servers] and a host per line)",
                    1,
                    1,
                ),
                files => Error::Usage(format!(
                    "the inventory ({}) lists no hosts",
                    files
                        .iter()
                        .map(|(f, _)| f.path.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            });
        }
        let files = VarsFiles::read(&self.basedirs, &self.tree, &mut self.warnings)?;
        let mut hosts = Vec::new();
        for (name, vars) in self.tree.merged(&files) {
            let entry = &self.tree.hosts[name];
            let found = match entry.dialect {
                Dialect::Provision => {
                    host::check_placed_keys(&vars)?;
                    Found {
                        name: name.to_owned(),
                        at: entry.at.clone(),
                        vars,
                    }
                }
                Dialect::Playbook => playbook::found(name, &entry.at, &vars)?,
            };
            hosts.push(Host::from_vars(&found, &entry.file)?);
        }
        Ok(Inventory {
            hosts,
            groups: self.tree.members(),
            warnings: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_ansible;
