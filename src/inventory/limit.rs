//! `--limit`, as Ansible reads it: comma- (or colon-) separated host names, group names and
//! globs; `!pattern` removes hosts, `&pattern` keeps only hosts also in it; `@FILE` reads
//! patterns from a file, one per line (Ansible's retry files, and `--retry-file`'s).

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
    let mut include: Vec<&str> = Vec::new();
    let mut exclude: Vec<&str> = Vec::new();
    let mut intersect: Vec<&str> = Vec::new();
    for pattern in limit
        .split([',', ':'])
        .chain(files.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty() && !p.starts_with('@'))
    {
        if let Some(p) = pattern.strip_prefix('!') {
            exclude.push(p);
        } else if let Some(p) = pattern.strip_prefix('&') {
            intersect.push(p);
        } else {
            include.push(pattern);
        }
    }
    for p in include.iter().chain(&exclude).chain(&intersect) {
        if !inv.hosts.iter().any(|h| matches(inv, p, h)) {
            tracing::warn!("--limit: `{p}` matches no host or group");
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
fn matches(inv: &Inventory, pattern: &str, host: &Host) -> bool {
    glob(pattern, &host.name)
        || inv
            .groups
            .iter()
            .any(|(group, members)| glob(pattern, group) && members.contains(&host.name))
}

/// `*` and `?` wildcards; everything else literal.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs() {
        assert!(glob("matrix*", "matrix1"));
        assert!(glob("*", ""));
        assert!(glob("m?t*x", "matrix"));
        assert!(!glob("matrix?", "matrix10"));
        assert!(glob("a*b*c", "aXbYbZc"));
        assert!(!glob("a*b", "ac"));
    }
}
