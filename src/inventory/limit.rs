//! `--limit`, as Ansible reads it: comma- (or colon-) separated host names, group names and
//! globs; `!pattern` removes hosts, `&pattern` keeps only hosts also in it; `@FILE` reads
//! patterns from a file, one per line (Ansible's retry files, and `--retry-file`'s). A glob is
//! matched as Ansible matches it, through Python's `fnmatch` (`*`, `?`, `[seq]`, `[!seq]`), and a
//! pattern starting with `~` is a regular expression matched from the name's start
//! (`InventoryManager._match_list` in lib/ansible/inventory/manager.py).

use globset::{GlobBuilder, GlobMatcher};
use regex_automata::meta::Regex;
use regex_automata::{Anchored, Input};

use super::{Host, Inventory};
use crate::error::Error;

pub fn select<'a>(inv: &'a Inventory, limit: Option<&str>) -> Result<Vec<&'a Host>, Error> {
    let Some(limit) = limit else {
        return Ok(inv.hosts.iter().collect());
    };
    let mut files = String::new();
    for pattern in limit.split(',').map(str::trim) {
        if let Some(path) = pattern.strip_prefix('@') {
            files.push_str(&read_patterns(path)?);
            files.push(',');
        }
    }
    let mut include: Vec<Pattern> = Vec::new();
    let mut exclude: Vec<Pattern> = Vec::new();
    let mut intersect: Vec<Pattern> = Vec::new();
    for pattern in limit
        .split([',', ':'])
        .chain(files.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty() && !p.starts_with('@'))
    {
        if let Some(p) = pattern.strip_prefix('!') {
            exclude.push(Pattern::new(p)?);
        } else if let Some(p) = pattern.strip_prefix('&') {
            intersect.push(Pattern::new(p)?);
        } else {
            include.push(Pattern::new(pattern)?);
        }
    }
    for p in include.iter().chain(&exclude).chain(&intersect) {
        if !inv.hosts.iter().any(|h| matches(inv, p, h)) {
            tracing::warn!("--limit: `{}` matches no host or group", p.text);
        }
    }
    let selected: Vec<&Host> = inv
        .hosts
        .iter()
        .filter(|h| include.is_empty() || include.iter().any(|p| matches(inv, p, h)))
        .filter(|h| !exclude.iter().any(|p| matches(inv, p, h)))
        .filter(|h| intersect.iter().all(|p| matches(inv, p, h)))
        .collect();
    if selected.is_empty() {
        return Err(Error::Usage(format!(
            "--limit {limit:?} selects no host of the inventory"
        )));
    }
    Ok(selected)
}

/// The patterns of an `@FILE`, one per line, as one comma-separated list.
fn read_patterns(path: &str) -> Result<String, Error> {
    use std::io::Read;
    /// A retry file names hosts; a file past this is not one.
    const MAX: u64 = 1 << 20;
    let fail = |e: String| Error::Usage(format!("--limit @{path}: {e}"));
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(fail("not a regular file".into()));
    }
    let mut text = String::new();
    file.take(MAX + 1)
        .read_to_string(&mut text)
        .map_err(|e| fail(e.to_string()))?;
    if text.len() as u64 > MAX {
        return Err(fail("larger than 1 MiB; a retry file names hosts".into()));
    }
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join(","))
}

/// A host matches a pattern by its own name or by any group it belongs to.
fn matches(inv: &Inventory, pattern: &Pattern, host: &Host) -> bool {
    pattern.is_match(&host.name)
        || inv
            .groups
            .iter()
            .any(|(group, members)| pattern.is_match(group) && members.contains(&host.name))
}

/// One pattern of `--limit`, compiled once.
struct Pattern {
    text: String,
    matcher: Matcher,
}

enum Matcher {
    /// `fnmatch`: globset's syntax is a superset (it adds `{a,b}`, which a comma-separated
    /// `--limit` cannot carry anyway); `*` crosses `/` as fnmatch's does.
    Glob(GlobMatcher),
    /// `~regex`, matched as Python's `re.match`: anchored at the start only.
    Regex(Regex),
}

impl Pattern {
    fn new(text: &str) -> Result<Self, Error> {
        let invalid =
            |e: String| Error::Usage(format!("--limit: `{text}` is not a valid pattern: {e}"));
        let matcher = match text.strip_prefix('~') {
            Some(re) => Matcher::Regex(Regex::new(re).map_err(|e| invalid(e.to_string()))?),
            None => Matcher::Glob(
                GlobBuilder::new(text)
                    .literal_separator(false)
                    .backslash_escape(true)
                    .build()
                    .map_err(|e| invalid(e.kind().to_string()))?
                    .compile_matcher(),
            ),
        };
        Ok(Pattern {
            text: text.to_owned(),
            matcher,
        })
    }

    fn is_match(&self, name: &str) -> bool {
        match &self.matcher {
            Matcher::Glob(glob) => glob.is_match(name),
            Matcher::Regex(re) => re.is_match(Input::new(name).anchored(Anchored::Yes)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    fn glob(pattern: &str, text: &str) -> bool {
        Pattern::new(pattern).unwrap().is_match(text)
    }

    #[test]
    fn globs_as_fnmatch() {
        assert!(glob("matrix*", "matrix1"));
        assert!(glob("*", ""));
        assert!(glob("m?t*x", "matrix"));
        assert!(!glob("matrix?", "matrix10"));
        assert!(glob("a*b*c", "aXbYbZc"));
        assert!(!glob("a*b", "ac"));
        assert!(glob("web[0-2]", "web1") && !glob("web[0-2]", "web3"));
        assert!(glob("web[!0-2]", "web3") && !glob("web[!0-2]", "web1"));
        assert!(!glob("Matrix1", "matrix1"), "case-sensitive, as on POSIX");
    }

    #[test]
    fn a_tilde_is_a_regex_anchored_at_the_start_only() {
        assert!(glob("~(web|db)[0-9]+", "db12.example.com"));
        assert!(!glob("~web", "oldweb1"));
        let e = Pattern::new("~(web").err().unwrap().to_string();
        assert!(e.contains("`~(web` is not a valid pattern"), "{e}");
        assert!(Pattern::new("web[").is_err());
    }
}
