//! `group_vars/` and `host_vars/` beside each inventory source, found as ansible-core's
//! host_group_vars vars plugin finds them (lib/ansible/plugins/vars/host_group_vars.py and
//! `DataLoader.find_vars_files`): for a group or host NAME, the first of `NAME`, `NAME.yml`,
//! `NAME.yaml`, `NAME.json` that exists; a folder is every file in it and its subfolders
//! whose name has no extension or one of those, in lexical order, leaving out hidden names
//! and names ending in `~`. Each file is YAML (JSON is YAML), a mapping of variables; an
//! empty file sets nothing. Every value keeps its file and line.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_saphyr::Spanned;

use super::place::{HostVars, Place, Placed, Source};
use super::tree::Tree;
use crate::error::{Error, suggest};

/// A folder holds at most this many levels of folders (a symlink to itself would never end).
const MAX_DEPTH: usize = 16;

/// What Ansible tries for NAME, in order.
const CANDIDATES: [&str; 4] = ["", ".yml", ".yaml", ".json"];

/// The variables files beside every inventory source, in the order the sources apply.
#[derive(Default)]
pub struct VarsFiles {
    dirs: Vec<DirVars>,
}

/// One source's `group_vars/` and `host_vars/`: per group or host, each file's variables.
#[derive(Default)]
pub struct DirVars {
    groups: HashMap<String, Vec<HostVars>>,
    hosts: HashMap<String, Vec<HostVars>>,
}

impl DirVars {
    pub fn group(&self, name: &str) -> &[HostVars] {
        self.groups.get(name).map_or(&[], Vec::as_slice)
    }
}

impl VarsFiles {
    /// The files for every group and host of `tree` in each of `basedirs` (the folder of each
    /// inventory source, or the source itself when it is a folder). What is there for a group
    /// or host the inventory does not have, or is shadowed by an earlier candidate, is named
    /// in `warnings`.
    pub fn read(
        basedirs: &[PathBuf],
        tree: &Tree,
        warnings: &mut Vec<String>,
    ) -> Result<Self, Error> {
        let mut dirs = Vec::new();
        for base in basedirs {
            let groups: Vec<&str> = tree.group_names().collect();
            let hosts: Vec<&str> = tree.hosts.keys().map(String::as_str).collect();
            dirs.push(DirVars {
                groups: read_kind(&base.join("group_vars"), "group", &groups, warnings)?,
                hosts: read_kind(&base.join("host_vars"), "host", &hosts, warnings)?,
            });
        }
        Ok(VarsFiles { dirs })
    }

    pub fn dirs(&self) -> &[DirVars] {
        &self.dirs
    }

    /// `group_vars/NAME` of every source, in order.
    pub fn groups<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a HostVars> {
        self.dirs.iter().flat_map(move |d| d.group(name))
    }

    /// `host_vars/NAME` of every source, in order.
    pub fn host<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a HostVars> {
        self.dirs
            .iter()
            .flat_map(move |d| d.hosts.get(name).map_or(&[][..], Vec::as_slice))
    }
}

/// `dir` (group_vars/ or host_vars/) for each of `names`, a `kind` ("group" or "host").
fn read_kind(
    dir: &Path,
    kind: &str,
    names: &[&str],
    warnings: &mut Vec<String>,
) -> Result<HashMap<String, Vec<HostVars>>, Error> {
    let mut found = HashMap::new();
    if !dir.exists() {
        return Ok(found);
    }
    if !dir.is_dir() {
        warnings.push(format!("{}: not a folder, so not read", dir.display()));
        return Ok(found);
    }
    let mut used: HashSet<PathBuf> = HashSet::new();
    for name in names {
        // A name that is not one plain file name would name a path elsewhere (`../x`); Ansible
        // itself skips names starting with '/'.
        if name.is_empty() || *name == "." || *name == ".." || name.contains(['/', '\\', '\0']) {
            continue;
        }
        let Some(first) = CANDIDATES
            .iter()
            .map(|ext| dir.join(format!("{name}{ext}")))
            .find(|p| p.exists())
        else {
            continue;
        };
        let files = if first.is_dir() {
            let mut files = Vec::new();
            walk(&first, 0, &mut files)?;
            files
        } else {
            vec![first.clone()]
        };
        let mut blocks = Vec::new();
        for file in files {
            if let Some(vars) = read_file(&file, warnings)? {
                blocks.push(vars);
            }
        }
        used.insert(first);
        found.insert((*name).to_owned(), blocks);
    }
    unused(dir, kind, names, &used, warnings);
    Ok(found)
}

/// Python's `os.path.splitext(name)[1]`: from the last dot not at the start.
fn extension(name: &str) -> &str {
    match name.trim_start_matches('.').rfind('.') {
        Some(i) => &name[name.len() - name.trim_start_matches('.').len() + i..],
        None => "",
    }
}

/// The names in `dir`, sorted, without hidden ones and backups.
fn entries(dir: &Path) -> Result<Vec<String>, Error> {
    let read = std::fs::read_dir(dir)
        .map_err(|e| Error::Usage(format!("{}: cannot read the folder: {e}", dir.display())))?;
    let mut names: Vec<String> = read
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && !n.ends_with('~'))
        .collect();
    names.sort();
    Ok(names)
}

/// Every variables file under `dir`, as `_get_dir_vars_files` lists them: lexical order,
/// folders without an extension entered where they sort.
fn walk(dir: &Path, depth: usize, files: &mut Vec<PathBuf>) -> Result<(), Error> {
    if depth > MAX_DEPTH {
        return Err(Error::Usage(format!(
            "{}: folders nested more than {MAX_DEPTH} deep (a symlink loop?)",
            dir.display()
        )));
    }
    for name in entries(dir)? {
        let ext = extension(&name);
        let path = dir.join(&name);
        if path.is_dir() {
            if ext.is_empty() {
                walk(&path, depth + 1, files)?;
            }
        } else if path.is_file() && (ext.is_empty() || CANDIDATES.contains(&ext)) {
            files.push(path);
        }
    }
    Ok(())
}

/// One variables file, each value placed at its key; `None` when it sets nothing.
fn read_file(path: &Path, warnings: &mut Vec<String>) -> Result<Option<HostVars>, Error> {
    let text = crate::local_file::read(
        path,
        crate::local_file::DATA_LIMIT,
        crate::local_file::Owner::Any,
    )
    .map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    if text.trim_start().starts_with("$ANSIBLE_VAULT;") {
        warnings.push(format!(
            "{}: encrypted with ansible-vault, which provision does not decrypt: its variables are not read (set what provision needs, such as ansible_become_password, where it can read it)",
            path.display()
        ));
        return Ok(None);
    }
    let source = Source::new(path, text);
    let map: Option<IndexMap<Spanned<String>, Spanned<serde_json::Value>>> =
        serde_saphyr::from_str(text).map_err(|e| source.yaml_error(&e, "variables file"))?;
    Ok(map.map(|map| {
        map.into_iter()
            .map(|(k, v)| {
                let at = Place::of(&source, &k.referenced);
                (k.value, Placed::new(v.value, at))
            })
            .collect()
    }))
}

/// Warns of what is in `dir` for no `kind` of the inventory, and of candidates shadowed by
/// the one read.
fn unused(
    dir: &Path,
    kind: &str,
    names: &[&str],
    used: &HashSet<PathBuf>,
    warnings: &mut Vec<String>,
) {
    let Ok(entries) = entries(dir) else { return };
    for entry in entries {
        let path = dir.join(&entry);
        if used.contains(&path) {
            continue;
        }
        let stem = CANDIDATES[1..]
            .iter()
            .find_map(|ext| entry.strip_suffix(ext))
            .unwrap_or(&entry);
        let read = CANDIDATES
            .iter()
            .map(|ext| dir.join(format!("{stem}{ext}")))
            .find(|p| used.contains(p));
        if let Some(read) = read {
            let read = read.display();
            warnings.push(format!(
                "{}: not read: Ansible reads only the first of {stem}, {stem}.yml, {stem}.yaml and {stem}.json that exists, here {read}",
                path.display()
            ));
        } else if path.is_dir() || CANDIDATES.contains(&extension(&entry)) {
            let hint = suggest(stem, names)
                .map(|n| format!(" (did you mean `{n}`?)"))
                .unwrap_or_default();
            warnings.push(format!(
                "{}: the inventory has no {kind} `{stem}`{hint}, so these variables are not used",
                path.display()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn extensions_as_python_splits_them() {
        assert_eq!(super::extension("all.yml"), ".yml");
        assert_eq!(super::extension("a.b.yaml"), ".yaml");
        assert_eq!(super::extension("matrix_servers"), "");
        assert_eq!(super::extension(".hidden"), "");
        assert_eq!(super::extension("a."), ".");
    }
}
