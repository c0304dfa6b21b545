//! What `-i` names, as Ansible reads an inventory source (ansible-core's
//! lib/ansible/inventory/manager.py, `parse_source`): a file is one inventory; a folder is
//! every file in it and its subfolders, in lexical order, leaving out hidden names, the
//! `group_vars`, `host_vars` and `vars_plugins` folders, and names ending in one of
//! `inventory_ignore_extensions` (its default since ansible-core 2.19, which no longer leaves
//! out `.ini`). `-i` may be given more than once; every source fills the one inventory.

use std::path::{Path, PathBuf};

use crate::error::Error;

/// `inventory_ignore_extensions`' default: `REJECT_EXTS` (lib/ansible/constants.py) and
/// `.orig`, `.cfg`, `.retry` (lib/ansible/config/base.yml).
pub const IGNORED_ENDINGS: &[&str] = &[
    ".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg", ".retry",
];

/// Names Ansible never reads as an inventory in a folder (`IGNORED_ALWAYS`).
const IGNORED_NAMES: &[&str] = &["group_vars", "host_vars", "vars_plugins"];

/// A folder holds at most this many levels of folders (a symlink to itself would never end).
const MAX_DEPTH: usize = 16;

/// Whether Ansible leaves `name` out of a folder inventory.
pub fn ignored(name: &str) -> bool {
    name.starts_with('.')
        || IGNORED_NAMES.contains(&name)
        || IGNORED_ENDINGS.iter().any(|e| name.ends_with(e))
}

/// The inventory files `source` stands for: itself, or what Ansible reads in the folder.
pub fn files(source: &Path) -> Result<Vec<PathBuf>, Error> {
    if !source.is_dir() {
        return Ok(vec![source.to_owned()]);
    }
    let mut files = Vec::new();
    walk(source, 0, &mut files)?;
    if files.is_empty() {
        return Err(Error::Usage(format!(
            "inventory {}: the folder holds no inventory file",
            source.display()
        )));
    }
    Ok(files)
}

fn walk(dir: &Path, depth: usize, files: &mut Vec<PathBuf>) -> Result<(), Error> {
    if depth > MAX_DEPTH {
        return Err(Error::Usage(format!(
            "inventory {}: folders nested more than {MAX_DEPTH} deep (a symlink loop?)",
            dir.display()
        )));
    }
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Error::Usage(format!(
            "inventory {}: cannot read the folder: {e}",
            dir.display()
        ))
    })?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !ignored(n))
        .collect();
    names.sort();
    for name in names {
        let path = dir.join(name);
        if path.is_dir() {
            walk(&path, depth + 1, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

/// Where an inventory source's `group_vars/` and `host_vars/` are: in the folder it names, or
/// beside the file (host_group_vars's base folder).
pub fn basedir(source: &Path) -> PathBuf {
    if source.is_dir() {
        source.to_owned()
    } else {
        match source.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ansibles_default_ignore_list_leaves_out_backups_docs_and_vars_folders() {
        for name in [
            ".git",
            "hosts~",
            "hosts.bak",
            "hosts.orig",
            "README.md",
            "notes.txt",
            "x.retry",
            "ansible.cfg",
            "group_vars",
            "host_vars",
            "vars_plugins",
            "x.swp",
        ] {
            assert!(super::ignored(name), "{name}");
        }
        for name in [
            "hosts",
            "hosts.ini",
            "prod.yml",
            "inventory.yaml",
            "more.json",
        ] {
            assert!(!super::ignored(name), "{name}");
        }
    }
}
