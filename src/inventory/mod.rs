//! The inventory: YAML in Ansible's layout (read here) or a matrix-docker-ansible-deploy INI
//! inventory (playbook.rs, which translates the playbook's variables to provision's keys),
//! then every host built and checked by the one builder (host.rs), with errors that point at
//! the file, line and key. Variables merge as in Ansible: `all` < parent groups < child groups
//! < the host itself.

mod host;
mod limit;
mod place;
mod plan;
mod playbook;
mod raw;
mod settings;
mod ssh_options;

use std::path::Path;
use std::rc::Rc;

use indexmap::IndexMap;
use serde_saphyr::{Location, Spanned};

pub use host::{Configured, Host, SshTarget, Transport};
pub use settings::HostSettings;

use crate::error::Error;
use place::{Found, HostVars, Place, Placed, Source};

/// Inventories are small; this bound keeps a hostile or mistaken file from eating memory.
const MAX_INVENTORY_BYTES: u64 = 16 * 1024 * 1024;

pub struct Inventory {
    pub hosts: Vec<Host>,
    /// Group name to the names of the hosts in it or in its children.
    groups: IndexMap<String, Vec<String>>,
}

impl Inventory {
    /// A matrix-docker-ansible-deploy inventory (`inventory/hosts`, INI) at `path`, whatever
    /// its first line: the playbook reader alone, for its fuzz target. Its `host_vars` are
    /// read beside `path`.
    pub fn parse_ini(path: &Path, source: &str) -> Result<Self, Error> {
        let mut groups: IndexMap<String, Vec<String>> = IndexMap::new();
        let mut hosts = Vec::new();
        for (found, host_groups) in playbook::read(path, source)? {
            let host = Host::from_vars(&found, path)?;
            for g in host_groups {
                groups.entry(g).or_default().push(host.name.clone());
            }
            hosts.push(host);
        }
        Ok(Inventory { hosts, groups })
    }

    pub fn load(path: &Path) -> Result<Self, Error> {
        let usage = |msg: String| Error::Usage(msg);
        // A regular file only, read without blocking and never past the limit.
        let source =
            crate::local_file::read(path, MAX_INVENTORY_BYTES, crate::local_file::Owner::Any)
                .map_err(|e| usage(format!("inventory {}: {e}", path.display())))?;
        Self::parse(path, &source)
    }

    pub fn parse(path: &Path, source: &str) -> Result<Self, Error> {
        if playbook::is_ini(source) {
            return Self::parse_ini(path, source);
        }
        let file = Source::new(path, source);
        let doc: raw::Document =
            serde_saphyr::from_str(source).map_err(|e| file.yaml_error(&e, "inventory"))?;
        let mut walk = Walk::default();
        // Ansible's implicit `all`: every top-level group is its child even when the file has
        // no `all:` (found by fuzzing: `prod: {hosts: {h: }}` alone panicked here).
        walk.depth.insert("all".into(), 0);
        walk.group_vars.entry("all".into()).or_default();
        walk.group_hosts.entry("all".into()).or_default();
        for (name, group) in &doc {
            // Ansible treats every top-level group as a child of `all`.
            let parents: &[&str] = if name.value == "all" { &[] } else { &["all"] };
            walk.group(&file, name, group.as_ref(), parents)?;
        }
        if walk.host_vars.is_empty() {
            return Err(file.at(
                "the inventory defines no hosts (expected all: hosts: NAME: ...)",
                1,
                1,
            ));
        }
        let mut hosts = Vec::new();
        for (name, host_vars) in &walk.host_vars {
            let mut groups: Vec<&String> = walk.host_groups[name].iter().collect();
            groups.sort_by_key(|g| walk.depth[*g]);
            let mut merged = HostVars::new();
            let blocks = groups
                .into_iter()
                .flat_map(|g| &walk.group_vars[g])
                .chain(&host_vars.1);
            for vars in blocks {
                for (k, v) in *vars {
                    let at = Place::of(&file, &v.referenced);
                    merged.insert(k.value.clone(), Placed::new(v.value.clone(), at));
                }
            }
            let found = Found {
                name: name.clone(),
                at: Place::of(&file, &host_vars.0),
                vars: merged,
            };
            hosts.push(Host::from_vars(&found, path)?);
        }
        let groups = walk
            .group_hosts
            .into_iter()
            .map(|(g, hs)| (g, hs.into_iter().collect()))
            .collect();
        Ok(Inventory { hosts, groups })
    }

    /// The hosts a `--limit` selects (all of them without one), in inventory order.
    pub fn select(&self, limit: Option<&str>) -> Result<Vec<&Host>, Error> {
        limit::select(self, limit)
    }
}

/// The state gathered while walking the group tree.
#[derive(Default)]
struct Walk<'a> {
    /// Host name to (where it is first defined, each vars block given for it).
    host_vars: IndexMap<String, (Location, Vec<&'a raw::Vars>)>,
    host_groups: IndexMap<String, indexmap::IndexSet<String>>,
    group_vars: IndexMap<String, Vec<&'a raw::Vars>>,
    group_hosts: IndexMap<String, indexmap::IndexSet<String>>,
    depth: IndexMap<String, usize>,
}

impl<'a> Walk<'a> {
    fn group(
        &mut self,
        file: &Rc<Source>,
        name: &'a Spanned<String>,
        group: Option<&'a raw::Group>,
        parents: &[&str],
    ) -> Result<(), Error> {
        if parents.contains(&name.value.as_str()) {
            return Err(file.at_loc(
                format!("group `{}` contains itself", name.value),
                &name.referenced,
            ));
        }
        let depth = parents.len();
        let d = self.depth.entry(name.value.clone()).or_insert(depth);
        *d = (*d).max(depth);
        let vars = self.group_vars.entry(name.value.clone()).or_default();
        self.group_hosts.entry(name.value.clone()).or_default();
        let Some(group) = group else { return Ok(()) };
        if let Some(v) = &group.vars {
            host::check_keys(file, v)?;
            vars.push(v);
        }
        let mut lineage: Vec<&str> = parents.to_vec();
        lineage.push(&name.value);
        for (host, host_vars) in group.hosts.iter().flatten() {
            if host.value.is_empty() {
                return Err(file.at_loc("empty host name", &host.referenced));
            }
            let entry = self
                .host_vars
                .entry(host.value.clone())
                .or_insert_with(|| (host.referenced, Vec::new()));
            if let Some(v) = host_vars {
                host::check_keys(file, v)?;
                entry.1.push(v);
            }
            for g in &lineage {
                self.host_groups
                    .entry(host.value.clone())
                    .or_default()
                    .insert(g.to_string());
                self.group_hosts
                    .entry(g.to_string())
                    .or_default()
                    .insert(host.value.clone());
            }
        }
        for (child, child_group) in group.children.iter().flatten() {
            self.group(file, child, child_group.as_ref(), &lineage)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
