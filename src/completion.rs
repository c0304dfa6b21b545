//! Shell completion of host and group names after `--limit`/`-l`, from the inventory the
//! command line being completed names (its `-i`s, else `PROVISION_INVENTORY`, else
//! `inventory.yaml`): clap_complete's dynamic completion, which runs this binary at each
//! <TAB> with the words typed so far after `--`.

use std::ffi::OsStr;
use std::path::PathBuf;

use clap_complete::engine::CompletionCandidate;

use crate::inventory::Inventory;

/// Candidates for the `--limit` word being typed: its last pattern (after `,` or `:`, and a
/// leading `!` or `&`) completed with every host and group name that starts with it.
pub fn limit(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(current) = current.to_str() else {
        return Vec::new();
    };
    // A broken inventory completes nothing: errors are for the run, not for <TAB>.
    let Ok(inventory) = Inventory::load(&inventories(std::env::args_os().skip(1))) else {
        return Vec::new();
    };
    let cut = current.rfind([',', ':']).map_or(0, |i| i + 1);
    let (done, last) = current.split_at(cut);
    let sigil = last.chars().next().filter(|c| matches!(c, '!' | '&'));
    let (head, typed) = match sigil {
        Some(c) => (format!("{done}{c}"), &last[c.len_utf8()..]),
        None => (done.to_owned(), last),
    };
    let mut names: Vec<&str> = inventory
        .group_names()
        .chain(inventory.hosts.iter().map(|h| h.name.as_str()))
        .filter(|name| name.starts_with(typed))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .map(|name| CompletionCandidate::new(format!("{head}{name}")))
        .collect()
}

/// The `-i`/`--inventory` values among the words typed, as clap would read them; none:
/// `PROVISION_INVENTORY`, else `inventory.yaml`.
fn inventories(words: impl Iterator<Item = std::ffi::OsString>) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut words = words.peekable();
    while let Some(word) = words.next() {
        let Some(word) = word.to_str().map(str::to_owned) else {
            continue;
        };
        if word == "-i" || word == "--inventory" {
            if let Some(next) = words.next() {
                found.push(PathBuf::from(next));
            }
        } else if let Some(path) = word
            .strip_prefix("--inventory=")
            .or_else(|| word.strip_prefix("-i").filter(|p| !p.is_empty()))
        {
            found.push(PathBuf::from(path));
        }
    }
    if found.is_empty() {
        let env = std::env::var_os("PROVISION_INVENTORY").filter(|v| !v.is_empty());
        found.push(env.map_or_else(|| PathBuf::from("inventory.yaml"), PathBuf::from));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::inventories;
    use std::path::PathBuf;

    #[test]
    fn the_inventories_typed_are_found_in_every_spelling() {
        let words = ["provision", "-i", "a.yaml", "--inventory=b", "-ic", "plan"];
        assert_eq!(
            inventories(words.iter().map(Into::into)),
            ["a.yaml", "b", "c"].map(PathBuf::from)
        );
    }
}
