//! An INI inventory (matrix-docker-ansible-deploy's `inventory/hosts`) read as ansible-core
//! reads it (lib/ansible/plugins/inventory/ini.py): lines before any section are hosts of
//! `ungrouped`; `[group]` lists hosts, `[group:vars]` sets the group's variables and
//! `[group:children]` names its child groups, which may be declared later in the file. A host
//! line is split as Python's shlex splits it (`#` starts a comment, quotes group words), its
//! first word a host pattern (`name:port`, ranges: hostpattern.rs), then `key=value`s. Values
//! are read as Python literals when they are one (`'quoted'`, `True`, `2222`), else as written.
//! The variables are the playbook's; playbook.rs translates them.

use std::rc::Rc;

use indexmap::IndexMap;
use serde_json::Value;

use super::hostpattern;
use super::place::{Place, Placed, Source};
use super::shlex;
use super::tree::{Dialect, Tree};
use crate::error::Error;

/// Whether a file is an INI inventory: its first meaningful line is a `[section]` (and not a
/// YAML flow list such as `[a, b]`).
pub fn is_ini(source: &str) -> bool {
    source
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .is_some_and(|l| section(l).is_some() && !l.contains(','))
}

/// `[name]` or `[name:tag]`, then only whitespace or a `#` comment (ini.py's `section`
/// pattern): the name is made of anything but `:`, `]` and whitespace, the tag of word
/// characters.
fn section(line: &str) -> Option<(&str, Option<&str>)> {
    let rest = line.strip_prefix('[')?;
    let end = rest.find([':', ']']).unwrap_or(rest.len());
    let name = &rest[..end];
    if name.is_empty() || name.contains(char::is_whitespace) {
        return None;
    }
    let mut rest = &rest[end..];
    let tag = match rest.strip_prefix(':') {
        Some(after) => {
            let end = after
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            rest = &after[end..];
            Some(&after[..end]).filter(|t| !t.is_empty())?.into()
        }
        None => None,
    };
    let rest = rest.strip_prefix(']')?.trim_start();
    (rest.is_empty() || rest.starts_with('#')).then_some((name, tag))
}

/// A child group's line in `[group:children]`: the name, then only a `#` comment.
fn group_name(line: &str) -> Option<&str> {
    let end = line
        .find(|c: char| c == ':' || c == ']' || c.is_whitespace())
        .unwrap_or(line.len());
    let (name, rest) = line.split_at(end);
    let rest = rest.trim_start();
    (!name.is_empty() && (rest.is_empty() || rest.starts_with('#'))).then_some(name)
}

/// A group named before it is declared: `[g:vars]` before `[g]`, or `g` under
/// `[parent:children]` before `[g]` or `[g:children]`.
enum Pending {
    Vars { line: u64 },
    Children { line: u64, parents: Vec<String> },
}

/// Adds the hosts, groups and variables of the INI inventory `file` to `tree`.
pub fn read(tree: &mut Tree, file: &Rc<Source>, warnings: &mut Vec<String>) -> Result<(), Error> {
    let mut pending: IndexMap<String, Pending> = IndexMap::new();
    let mut group = String::from("ungrouped");
    let mut state = "hosts";
    for (i, raw) in file.text.lines().enumerate() {
        let line_no = i as u64 + 1;
        let at = Place::new(file, line_no, 1);
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some((name, tag)) = section(line) {
            state = match tag.unwrap_or("hosts") {
                tag @ ("hosts" | "children" | "vars") => tag,
                other => {
                    return Err(at.error(format!(
                        "Section [{name}:{other}] has unknown type: {other}"
                    )));
                }
            };
            group = name.to_owned();
            if !tree.has_group(name) {
                // `[g:vars]` alone does not declare `g`: noted, and checked at the end.
                if state == "vars" && !pending.contains_key(name) {
                    pending.insert(name.to_owned(), Pending::Vars { line: line_no });
                }
                tree.add_group(name);
            }
            if state != "vars" {
                declared(tree, &mut pending, name, &at)?;
            }
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            return Err(at.error(format!(
                "Invalid section entry: '{line}'. Please make sure that there are no spaces in the section entry, and that there are no other invalid characters"
            )));
        }
        match state {
            "hosts" => host_line(tree, file, &group, line, &at, warnings)?,
            "vars" => {
                let Some((k, v)) = line.split_once('=') else {
                    return Err(at.error(format!("Expected key=value, got: {line}")));
                };
                let (k, v) = (k.trim(), v.trim());
                if let Some(q) = v.chars().next().filter(|c| matches!(c, '\'' | '"'))
                    && !v[1..].contains(q)
                {
                    return Err(at.error(format!(
                        "`{k}`: the value opens a quote ({q}) that nothing closes (Ansible would keep the quote as part of the value; provision refuses it)"
                    )));
                }
                tree.set_group_var(&group, k, Placed::new(python_literal(v), at))?;
            }
            _ => {
                let Some(child) = group_name(line) else {
                    return Err(at.error(format!("Expected group name, got: {line}")));
                };
                if tree.has_group(child) {
                    tree.add_child(&group, child, &at)?;
                } else {
                    match pending
                        .entry(child.to_owned())
                        .or_insert(Pending::Children {
                            line: line_no,
                            parents: Vec::new(),
                        }) {
                        Pending::Children { parents, .. } => parents.push(group.clone()),
                        // Unreachable: a pending `[g:vars]` added `g` to the tree.
                        Pending::Vars { .. } => tree.add_child(&group, child, &at)?,
                    }
                }
            }
        }
    }
    // A name that was never declared: the first one is the error.
    if let Some((name, pending)) = pending.first() {
        let (line, msg) = match pending {
            Pending::Vars { line } => (
                *line,
                format!("Section [{name}:vars] not valid for undefined group '{name}'."),
            ),
            Pending::Children { line, parents } => (
                *line,
                format!(
                    "Section [{}:children] includes undefined group '{name}'.",
                    parents.last().map_or("", String::as_str)
                ),
            ),
        };
        return Err(file.at(msg, line, 1));
    }
    Ok(())
}

/// `name` is declared (`[name]` or `[name:children]`): the children sections that named it
/// before take it now (ini.py's `_add_pending_children`).
fn declared(
    tree: &mut Tree,
    pending: &mut IndexMap<String, Pending>,
    name: &str,
    at: &Place,
) -> Result<(), Error> {
    match pending.shift_remove(name) {
        Some(Pending::Children { parents, .. }) => {
            for parent in parents {
                tree.add_child(&parent, name, at)?;
                if matches!(pending.get(&parent), Some(Pending::Children { .. })) {
                    declared(tree, pending, &parent, at)?;
                }
            }
        }
        Some(Pending::Vars { .. }) | None => {}
    }
    Ok(())
}

/// A host line: a host pattern, then `key=value`s.
fn host_line(
    tree: &mut Tree,
    file: &Rc<Source>,
    group: &str,
    line: &str,
    at: &Place,
    warnings: &mut Vec<String>,
) -> Result<(), Error> {
    let words = shlex::split(line, true)
        .map_err(|e| at.error(format!("cannot read this host line: {e}")))?;
    let Some((pattern, vars)) = words.split_first() else {
        return Ok(());
    };
    let expanded =
        hostpattern::expand(pattern).map_err(|e| at.error(format!("`{pattern}`: {e}")))?;
    if pattern.trim().ends_with(':') && expanded.port.is_none() {
        return Err(at.error(format!(
            "Invalid host pattern '{pattern}' supplied, ending in ':' is not allowed, this character is reserved to provide a port."
        )));
    }
    if expanded.hosts.iter().any(|h| h.trim() == "---") {
        return Err(at.error(format!(
            "Invalid host pattern '{pattern}' supplied, '---' is normally a sign this is a YAML file."
        )));
    }
    let mut parsed = Vec::new();
    for word in vars {
        let Some((k, v)) = word.split_once('=') else {
            return Err(at.error(format!(
                "Expected key=value host variable assignment, got: {word}"
            )));
        };
        parsed.push((k, python_literal(v)));
    }
    if expanded.hosts.is_empty() {
        warnings.push(format!(
            "{}:{}: the host range `{pattern}` stands for no hosts",
            file.path.display(),
            at.line
        ));
    }
    for name in &expanded.hosts {
        // The name becomes a path (host_vars/NAME): `../x` would read outside the inventory.
        // Ansible's host names are host names or plain aliases.
        if name.is_empty() || name.contains(['/', '\\', '\0']) || name.starts_with('.') {
            return Err(at.error(format!(
                "host name {name:?}: it names host_vars/{name}.yml, so it may not be empty, contain '/' or start with '.'"
            )));
        }
        let new = tree.add_host(name, group, at, Dialect::Playbook)?;
        // As Ansible's `Host(name, port)`: the port of the host's first line, unless 0.
        if let Some(port) = expanded.port.filter(|p| new && *p != 0) {
            tree.set_host_var(name, "ansible_port", Placed::new(port.into(), at.clone()));
        }
        for (k, v) in &parsed {
            tree.set_host_var(name, k, Placed::new(v.clone(), at.clone()));
        }
    }
    Ok(())
}

/// A value as Ansible's `_parse_value` reads it with Python's `ast.literal_eval`, for the
/// literals a playbook inventory uses: a quoted string (`'…'`, `"…"`, with `\n`, `\t`, `\\`,
/// `\'`, `\"` escapes), `True`, `False`, `None` and whole numbers, each optionally followed by
/// a `#` comment. Anything else (`example.com`, `1.2.3.4`, a list) is the text as written.
pub fn python_literal(v: &str) -> Value {
    literal(v).unwrap_or_else(|| Value::String(v.to_owned()))
}

fn literal(v: &str) -> Option<Value> {
    let s = v.trim_start_matches([' ', '\t']);
    let first = s.chars().next()?;
    let (value, rest) = if first == '\'' || first == '"' {
        let mut out = String::new();
        let mut chars = s.char_indices().skip(1);
        let end = loop {
            match chars.next()? {
                (i, c) if c == first => break i + c.len_utf8(),
                (_, '\n') => return None,
                (_, '\\') => match chars.next()?.1 {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    c @ ('\\' | '\'' | '"') => out.push(c),
                    c => {
                        out.push('\\');
                        out.push(c);
                    }
                },
                (_, c) => out.push(c),
            }
        };
        (Value::String(out), &s[end..])
    } else {
        let end = s
            .find(|c: char| c.is_whitespace() || c == '#')
            .unwrap_or(s.len());
        let (word, rest) = s.split_at(end);
        let value = match word {
            "True" => Value::Bool(true),
            "False" => Value::Bool(false),
            "None" => Value::Null,
            w => integer(w)?,
        };
        (value, rest)
    };
    let rest = rest.trim_start();
    (rest.is_empty() || rest.starts_with('#')).then_some(value)
}

/// A Python integer literal in decimal: a sign, digits (`_` between them), no leading zeros
/// but for zero itself.
fn integer(w: &str) -> Option<Value> {
    let digits = w.strip_prefix(['+', '-']).unwrap_or(w);
    let plain: String = digits.chars().filter(|c| *c != '_').collect();
    let well_formed = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'_')
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__")
        && (!plain.starts_with('0') || plain.bytes().all(|b| b == b'0'));
    if !well_formed {
        return None;
    }
    let negative = w.starts_with('-');
    Some(
        format!("{}{plain}", if negative { "-" } else { "" })
            .parse::<i64>()
            .map_or_else(|_| Value::String(w.to_owned()), Value::from),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_read_as_python_literals_when_they_are_one() {
        assert_eq!(python_literal("'quoted'"), "quoted");
        assert_eq!(python_literal("\"a\\tb\""), "a\tb");
        assert_eq!(python_literal("8080 # a comment"), 8080);
        assert_eq!(python_literal("True"), true);
        assert_eq!(python_literal("None"), Value::Null);
        assert_eq!(python_literal("1_000"), 1000);
        assert_eq!(python_literal("0123"), "0123");
        assert_eq!(python_literal("example.com"), "example.com");
        assert_eq!(python_literal("1.2.3.4"), "1.2.3.4");
        assert_eq!(python_literal("abc # c"), "abc # c");
        assert_eq!(python_literal("'it's'"), "'it's'");
    }

    #[test]
    fn sections_as_ansibles_pattern_reads_them() {
        assert_eq!(section("[web]"), Some(("web", None)));
        assert_eq!(section("[web:vars]  # x"), Some(("web", Some("vars"))));
        assert_eq!(section("[web:odd]"), Some(("web", Some("odd"))));
        assert_eq!(section("[web] ; x"), None);
        assert_eq!(section("[we b]"), None);
        assert_eq!(section("[:vars]"), None);
        assert!(is_ini("\n# c\n[matrix_servers] # the hosts\nm\n"));
        assert!(!is_ini("[a, b]\n"));
        assert!(!is_ini("all:\n  hosts: {}\n"));
    }
}
