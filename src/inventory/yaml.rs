//! provision's YAML inventory, in Ansible's layout (ansible-core's
//! lib/ansible/plugins/inventory/yaml.py): top-level groups (usually `all`), each with `vars`,
//! `hosts` (host patterns, as in an INI inventory: ranges expand) and `children`, nested. The
//! variables are provision's own keys, checked here at the key that names them.

use std::rc::Rc;

use serde_saphyr::Spanned;

use super::hostpattern;
use super::place::{Place, Placed, Source};
use super::tree::{Dialect, Tree};
use super::{host, raw, tree};
use crate::error::Error;

/// Adds the hosts, groups and variables of the YAML inventory `file` to `tree`.
pub fn read(tree: &mut Tree, file: &Rc<Source>, warnings: &mut Vec<String>) -> Result<(), Error> {
    let doc: raw::Document =
        serde_saphyr::from_str(&file.text).map_err(|e| file.yaml_error(&e, "inventory"))?;
    for (name, group) in &doc {
        read_group(tree, file, name, group.as_ref(), warnings)?;
    }
    Ok(())
}

fn read_group(
    tree: &mut Tree,
    file: &Rc<Source>,
    name: &Spanned<String>,
    group: Option<&raw::Group>,
    warnings: &mut Vec<String>,
) -> Result<(), Error> {
    tree.add_group(&name.value);
    let Some(group) = group else { return Ok(()) };
    for (key, value) in group.vars.iter().flatten() {
        if key.value != tree::GROUP_PRIORITY {
            host::check_key(file, key)?;
        }
        let value = Placed::new(value.value.clone(), Place::of(file, &value.referenced));
        tree.set_group_var(&name.value, &key.value, value)?;
    }
    for (pattern, vars) in group.hosts.iter().flatten() {
        let at = Place::of(file, &pattern.referenced);
        if pattern.value.is_empty() {
            return Err(at.error("empty host name"));
        }
        let expanded = hostpattern::expand(&pattern.value)
            .map_err(|e| at.error(format!("`{}`: {e}", pattern.value)))?;
        if let Some(port) = expanded.port {
            return Err(at.error(format!(
                "`{}`: a port after the host name is how an Ansible inventory sets `ansible_port`; in a provision inventory write `ssh: {{port: {port}}}`",
                pattern.value
            )));
        }
        if expanded.hosts.is_empty() {
            warnings.push(format!(
                "{}:{}: the host range `{}` stands for no hosts",
                file.path.display(),
                at.line,
                pattern.value
            ));
        }
        for key in vars.iter().flat_map(|v| v.keys()) {
            host::check_key(file, key)?;
        }
        for h in &expanded.hosts {
            tree.add_host(h, &name.value, &at, Dialect::Provision)?;
            for (key, value) in vars.iter().flatten() {
                let value = Placed::new(value.value.clone(), Place::of(file, &value.referenced));
                tree.set_host_var(h, &key.value, value);
            }
        }
    }
    for (child, child_group) in group.children.iter().flatten() {
        read_group(tree, file, child, child_group.as_ref(), warnings)?;
        tree.add_child(
            &name.value,
            &child.value,
            &Place::of(file, &child.referenced),
        )?;
    }
    Ok(())
}
