//! The inventory as Ansible holds it once its sources are read (ansible-core's
//! lib/ansible/inventory/data.py and group.py): groups with their parents and variables,
//! hosts with their groups and variables, every value placed where it was written. Both
//! readers (yaml.rs, ini.rs) fill one tree, source after source, as Ansible's plugins fill one
//! `InventoryData`: a host listed in two sources is one host, in the groups of both, and a
//! variable set twice keeps the value set last. [`Tree::merged`] is the one place variables are
//! merged.

use std::collections::HashMap;
use std::path::PathBuf;

use indexmap::{IndexMap, IndexSet};
use serde_json::Value;

use super::place::{HostVars, Place, Placed};
use super::vars_files::VarsFiles;
use crate::error::Error;

/// The group variable that is the group's merge priority (Ansible's), read in either dialect.
pub const GROUP_PRIORITY: &str = "ansible_group_priority";

/// The vocabulary of a host's variables.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Dialect {
    /// provision's own keys (`server_name`, `backend`, `ssh`…): its YAML inventory.
    Provision,
    /// matrix-docker-ansible-deploy's variables (`matrix_domain`, `ansible_host`…), translated
    /// by playbook.rs: the playbook's INI inventory.
    Playbook,
}

impl Dialect {
    fn name(self) -> &'static str {
        match self {
            Dialect::Provision => "a provision (YAML) inventory",
            Dialect::Playbook => "a playbook (INI) inventory",
        }
    }
}

struct Group {
    /// Set in an inventory source (not group_vars/), the last value of each key.
    vars: HostVars,
    parents: IndexSet<String>,
    /// `ansible_group_priority`: among groups of the same depth, higher applies later.
    priority: i64,
}

impl Group {
    fn new() -> Self {
        Group {
            vars: HostVars::new(),
            parents: IndexSet::new(),
            priority: 1,
        }
    }
}

pub struct Entry {
    /// Where the host is first listed.
    pub at: Place,
    pub dialect: Dialect,
    /// The inventory file it is first listed in (relative secret paths are relative to it).
    pub file: PathBuf,
    vars: HostVars,
    /// The groups it is listed in, without their ancestors.
    groups: IndexSet<String>,
}

pub struct Tree {
    groups: IndexMap<String, Group>,
    pub hosts: IndexMap<String, Entry>,
}

impl Tree {
    /// `all` and `ungrouped` (a child of `all`), as every Ansible inventory starts.
    pub fn new() -> Self {
        let mut groups = IndexMap::new();
        groups.insert("all".to_owned(), Group::new());
        let mut ungrouped = Group::new();
        ungrouped.parents.insert("all".to_owned());
        groups.insert("ungrouped".to_owned(), ungrouped);
        Tree {
            groups,
            hosts: IndexMap::new(),
        }
    }

    pub fn has_group(&self, name: &str) -> bool {
        self.groups.contains_key(name)
    }

    pub fn add_group(&mut self, name: &str) {
        if !self.groups.contains_key(name) {
            self.groups.insert(name.to_owned(), Group::new());
        }
    }

    /// Both groups exist. Refused when it would make a group its own ancestor, as Ansible
    /// refuses it ("creates a recursive dependency loop").
    pub fn add_child(&mut self, parent: &str, child: &str, at: &Place) -> Result<(), Error> {
        if parent == child {
            return Err(at.error(format!("group `{child}` contains itself")));
        }
        if self.ancestors(parent).contains(child) {
            return Err(at.error(format!(
                "group `{child}` contains itself: it is an ancestor of `{parent}`"
            )));
        }
        self.groups[child].parents.insert(parent.to_owned());
        Ok(())
    }

    /// Lists `name` in `group` (which exists), adding the host the first time it is listed.
    /// Returns whether it is new. A host listed in both a provision and a playbook inventory
    /// is refused: its variables would be read in two vocabularies.
    pub fn add_host(
        &mut self,
        name: &str,
        group: &str,
        at: &Place,
        dialect: Dialect,
    ) -> Result<bool, Error> {
        let new = !self.hosts.contains_key(name);
        let entry = self.hosts.entry(name.to_owned()).or_insert_with(|| Entry {
            at: at.clone(),
            dialect,
            file: at.file.path.clone(),
            vars: HostVars::new(),
            groups: IndexSet::new(),
        });
        if entry.dialect != dialect {
            return Err(at.error(format!(
                "host `{name}` is listed here, in {}, and in {}, {}:{}: provision reads a host's variables as one or the other; list it in one of them",
                dialect.name(),
                entry.dialect.name(),
                entry.at.file.path.display(),
                entry.at.line
            )));
        }
        entry.groups.insert(group.to_owned());
        Ok(new)
    }

    /// A group variable set in an inventory source. `ansible_group_priority` is the group's
    /// priority, not a variable (Ansible's `Group.set_variable`).
    pub fn set_group_var(&mut self, group: &str, key: &str, value: Placed) -> Result<(), Error> {
        let g = &mut self.groups[group];
        if key == GROUP_PRIORITY {
            let priority = match &value.value {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            };
            g.priority = priority.ok_or_else(|| {
                value.at.error(format!(
                    "group `{group}`: `ansible_group_priority` must be a whole number"
                ))
            })?;
        } else {
            g.vars.insert(key.to_owned(), value);
        }
        Ok(())
    }

    pub fn set_host_var(&mut self, host: &str, key: &str, value: Placed) {
        self.hosts[host].vars.insert(key.to_owned(), value);
    }

    /// After every source is read, as Ansible's `reconcile_inventory`: a group without a
    /// parent is a child of `all`; a host in no group is in `ungrouped`, and a host in another
    /// group is not.
    pub fn reconcile(&mut self) {
        for (name, group) in self.groups.iter_mut() {
            if name != "all" && group.parents.is_empty() {
                group.parents.insert("all".to_owned());
            }
        }
        for entry in self.hosts.values_mut() {
            if entry.groups.iter().any(|g| g != "ungrouped" && g != "all") {
                entry.groups.shift_remove("ungrouped");
            } else if !entry.groups.contains("ungrouped") {
                entry.groups.insert("ungrouped".to_owned());
            }
        }
    }

    /// `name` and every group above it.
    fn ancestors(&self, name: &str) -> IndexSet<String> {
        let mut seen = IndexSet::new();
        let mut todo = vec![name.to_owned()];
        while let Some(g) = todo.pop() {
            if seen.insert(g.clone())
                && let Some(group) = self.groups.get(&g)
            {
                todo.extend(group.parents.iter().cloned());
            }
        }
        seen
    }

    /// Each group's depth: `all` 0, any other group one more than its deepest parent
    /// (Ansible's `Group.depth`). Without recursion: a long chain of `[g:children]` sections
    /// would otherwise run out of stack.
    fn depths(&self) -> HashMap<&str, usize> {
        let mut memo: HashMap<&str, usize> = HashMap::new();
        for start in self.groups.keys() {
            let mut todo = vec![start.as_str()];
            while let Some(&name) = todo.last() {
                if memo.contains_key(name) {
                    todo.pop();
                    continue;
                }
                let parents = &self.groups[name].parents;
                let unknown: Vec<&str> = parents
                    .iter()
                    .map(String::as_str)
                    .filter(|p| !memo.contains_key(p))
                    .collect();
                if unknown.is_empty() {
                    let depth = parents.iter().map(|p| memo[p.as_str()] + 1).max();
                    memo.insert(name, depth.unwrap_or(0));
                    todo.pop();
                } else {
                    todo.extend(unknown);
                }
            }
        }
        memo
    }

    /// The host's groups and their ancestors but `all`, in the order their variables apply:
    /// by depth, then priority, then name (Ansible's `sort_groups`).
    fn host_groups(&self, host: &str, depths: &HashMap<&str, usize>) -> Vec<String> {
        let mut groups: IndexSet<String> = IndexSet::new();
        for g in &self.hosts[host].groups {
            groups.extend(self.ancestors(g));
        }
        groups.shift_remove("all");
        let mut groups: Vec<String> = groups.into_iter().collect();
        groups.sort_by(|a, b| {
            let key = |g: &str| (depths[g], self.groups[g].priority);
            key(a).cmp(&key(b)).then_with(|| a.cmp(b))
        });
        groups
    }

    /// Each group's hosts, its children's included; `all` holds every host.
    pub fn members(&self) -> IndexMap<String, Vec<String>> {
        let mut members: IndexMap<String, Vec<String>> = self
            .groups
            .keys()
            .map(|g| (g.clone(), Vec::new()))
            .collect();
        for (host, entry) in &self.hosts {
            let mut groups: IndexSet<String> = IndexSet::new();
            for g in &entry.groups {
                groups.extend(self.ancestors(g));
            }
            groups.insert("all".to_owned());
            for g in groups {
                members.entry(g).or_default().push(host.clone());
            }
        }
        members
    }

    pub fn group_names(&self) -> impl Iterator<Item = &str> {
        self.groups.keys().map(String::as_str)
    }

    /// Every host's variables, merged in Ansible's order, lowest first. The order is the
    /// variable precedence of Ansible's guide (docs.ansible.com/ansible/latest/playbook_guide/
    /// playbooks_variables.html, "Understanding variable precedence"): "inventory file or
    /// script group vars" < "inventory group_vars/all" < "inventory group_vars/*" <
    /// "inventory file or script host vars" < "inventory host_vars/*"; within each, as
    /// ansible-core's `VariableManager.get_vars` applies them with the default
    /// VARIABLE_PRECEDENCE (lib/ansible/vars/manager.py; its `*_plugins_play` entries, a
    /// playbook's own group_vars/, do not apply: provision runs no playbook):
    ///
    /// 1. `all`'s variables in the inventory sources;
    /// 2. the host's other groups' variables in the inventory sources, parents before
    ///    children (by depth, then `ansible_group_priority`, then name);
    /// 3. `group_vars/all` beside each inventory source, in the order the sources were given;
    /// 4. `group_vars/GROUP` of the host's other groups, source by source, in the same group
    ///    order;
    /// 5. the host's own variables in the inventory sources;
    /// 6. `host_vars/HOST` beside each source.
    ///
    /// So a child group's variable in the inventory file is under `group_vars/all`, as in
    /// Ansible. Each key keeps the value applied last (Ansible's default `hash_behaviour:
    /// replace`: a mapping replaces a mapping whole).
    pub fn merged(&self, files: &VarsFiles) -> IndexMap<&str, HostVars> {
        let depths = self.depths();
        let mut out = IndexMap::new();
        for (host, entry) in &self.hosts {
            let groups = self.host_groups(host, &depths);
            let mut vars = HostVars::new();
            let mut apply = |block: &HostVars| {
                for (k, v) in block {
                    vars.insert(k.clone(), v.clone());
                }
            };
            apply(&self.groups["all"].vars);
            for g in &groups {
                apply(&self.groups[g].vars);
            }
            for block in files.groups("all") {
                apply(block);
            }
            for dir in files.dirs() {
                for g in &groups {
                    for block in dir.group(g) {
                        apply(block);
                    }
                }
            }
            apply(&entry.vars);
            for block in files.host(host) {
                apply(block);
            }
            out.insert(host.as_str(), vars);
        }
        out
    }
}
