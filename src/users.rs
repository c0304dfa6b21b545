//! The users file of a bulk run (`register --from`): CSV with a header, or YAML, a list of
//! mappings with the same keys. Columns: `user` (required), `admin` (yes/no/true/false/1/0,
//! empty: leave as is), `password_file` (empty: generate), `display_name`, `email`. Errors
//! name the file and line; empty lines are skipped; a user listed twice is an error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use provision_backends::user_id::UserArg;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::error::{Error, Located};
use crate::local_file;

#[derive(Debug)]
pub struct BulkUser {
    pub user: UserArg,
    /// As written, for messages and the passwords file.
    pub name: String,
    pub admin: Option<bool>,
    /// None: generate one.
    pub password_file: Option<PathBuf>,
    pub display_name: Option<String>,
    pub email: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    user: String,
    #[serde(default)]
    admin: Option<String>,
    #[serde(default)]
    password_file: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

/// The YAML form: `admin` may be a real boolean there.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YamlRow {
    user: String,
    #[serde(default)]
    admin: Option<serde_json::Value>,
    #[serde(default)]
    password_file: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

/// Reads and checks a users file. It and every `password_file` it names must be regular files
/// ([`local_file`]): a FIFO or a device planted at one of those paths fails here, at once,
/// instead of blocking the run or filling memory.
pub fn load(path: &Path) -> Result<Vec<BulkUser>, Error> {
    let text = local_file::read(path, local_file::DATA_LIMIT, local_file::Owner::Any)
        .map_err(|e| Error::Usage(format!("--from {}: {e}", path.display())))?;
    let users = parse(path, &text)?;
    for user in &users {
        if let Some(file) = &user.password_file {
            local_file::check(file, local_file::SECRET_LIMIT).map_err(|e| {
                Error::Usage(format!(
                    "{}: password_file {}: {e}",
                    user.name,
                    file.display()
                ))
            })?;
        }
    }
    Ok(users)
}

/// The users file's text, as read from `path` (CSV, or YAML for `.yaml`/`.yml`): what
/// [`load`] does after reading, without touching the file system (the fuzz target's entry).
pub fn parse(path: &Path, text: &str) -> Result<Vec<BulkUser>, Error> {
    let at = |msg: String, line: u64| Error::Inventory(Located::new(msg, path, text, line, 1));
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    let rows: Vec<(u64, Row)> = if yaml {
        yaml_rows(path, text)?
    } else {
        csv_rows(text, &at)?
    };
    // Relative password files are relative to the users file.
    let base = path.parent().unwrap_or(Path::new("."));
    // Users are identified by full ID: `@dup:a.org` and `@dup:b.org` are two users, but
    // `alice` and `@alice:a.org` are the same one on the hosts serving a.org. First lines of:
    // bare localparts, full IDs, and any entry with a given localpart.
    let (mut bare, mut full, mut any) = (HashMap::new(), HashMap::new(), HashMap::new());
    let mut users = Vec::with_capacity(rows.len());
    for (line, row) in rows {
        let name = row.user.trim().to_owned();
        let user = UserArg::parse(&name).map_err(|e| at(e, line))?;
        let localpart = user.localpart().to_owned();
        let first = match &user {
            UserArg::Localpart(_) => any.get(&localpart),
            UserArg::Full(_) => full.get(&name).or(bare.get(&localpart)),
        };
        if let Some(first) = first {
            return Err(at(
                format!("user {name:?} is listed twice (first at line {first})"),
                line,
            ));
        }
        match &user {
            UserArg::Localpart(_) => bare.insert(localpart.clone(), line),
            UserArg::Full(_) => full.insert(name.clone(), line),
        };
        any.entry(localpart).or_insert(line);
        let admin = match row.admin.as_deref().map(str::trim) {
            None | Some("") => None,
            Some("yes" | "true" | "1") => Some(true),
            Some("no" | "false" | "0") => Some(false),
            Some(other) => {
                return Err(at(
                    format!("admin: {other:?} is not one of yes, no, true, false, 1, 0"),
                    line,
                ));
            }
        };
        let non_empty =
            |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        users.push(BulkUser {
            user,
            name,
            admin,
            password_file: non_empty(row.password_file).map(|p| base.join(p)),
            display_name: non_empty(row.display_name),
            email: non_empty(row.email),
        });
    }
    if users.is_empty() {
        return Err(Error::Usage(format!(
            "--from {}: no users in it",
            path.display()
        )));
    }
    Ok(users)
}

fn csv_rows(text: &str, at: &impl Fn(String, u64) -> Error) -> Result<Vec<(u64, Row)>, Error> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| at(format!("cannot read the header: {e}"), 1))?
        .clone();
    if !headers.iter().any(|h| h == "user") {
        return Err(at(
            "the header must name a `user` column (user,admin,password_file)".into(),
            1,
        ));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            at(format!("{e}"), line)
        })?;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.iter().all(str::is_empty) {
            continue;
        }
        let row: Row = record
            .deserialize(Some(&headers))
            .map_err(|e| at(format!("{e}"), line))?;
        rows.push((line, row));
    }
    Ok(rows)
}

fn yaml_rows(path: &Path, text: &str) -> Result<Vec<(u64, Row)>, Error> {
    let list: Vec<Spanned<YamlRow>> = serde_saphyr::from_str(text)
        .map_err(|e| Error::Inventory(Located::from_yaml(&e, "users file", path, text)))?;
    Ok(list
        .into_iter()
        .map(|r| {
            let admin = r.value.admin.map(|v| match v {
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            });
            let row = Row {
                user: r.value.user,
                admin,
                password_file: r.value.password_file,
                display_name: r.value.display_name,
                email: r.value.email,
            };
            (r.referenced.line(), row)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(name: &str, text: &str) -> Result<Vec<BulkUser>, String> {
        parse(&Path::new("/users").join(name), text).map_err(|e| e.to_string())
    }

    /// fuzz/regressions/users/*: the first byte picks the form, as in fuzz/fuzz_targets/users.rs.
    #[test]
    fn fuzz_regressions_never_panic() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/users");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let Some((form, rest)) = bytes.split_first() else {
                continue;
            };
            let Ok(text) = std::str::from_utf8(rest) else {
                continue;
            };
            let name = if form & 1 == 0 {
                "users.csv"
            } else {
                "users.yaml"
            };
            let result = std::panic::catch_unwind(|| load_str(name, text));
            match result {
                Err(_) => panic!("{} panicked", path.display()),
                Ok(Err(e)) => assert!(e.starts_with("error: "), "{}: {e}", path.display()),
                Ok(Ok(users)) => {
                    for u in users {
                        assert!(UserArg::parse(&u.name).is_ok(), "{}", path.display());
                    }
                }
            }
            seen += 1;
        }
        assert!(seen >= 5, "the regression corpus is there");
    }

    #[test]
    fn a_fifo_or_a_device_as_users_file_or_password_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = load(&fifo).unwrap_err().to_string();
        assert!(e.contains("a FIFO, not a regular file"), "{e}");
        for planted in [fifo.to_str().unwrap(), "/dev/zero"] {
            let users = dir.path().join("users.csv");
            std::fs::write(&users, format!("user,password_file\nalice,{planted}\n")).unwrap();
            let e = load(&users).unwrap_err().to_string();
            assert!(
                e.contains("alice: password_file") && e.contains("not a regular file"),
                "{e}"
            );
        }
    }

    #[test]
    fn csv_with_header_blank_lines_and_quotes() {
        let users = load_str(
            "users.csv",
            "user,admin,password_file,display_name\nalice,yes,alice.pw,\"Smith, Alice\"\n\nbob,no,,\ncarol,,,\n",
        )
        .unwrap();
        assert_eq!(users.len(), 3);
        assert_eq!(users[0].admin, Some(true));
        assert!(
            users[0]
                .password_file
                .as_ref()
                .unwrap()
                .ends_with("alice.pw")
        );
        assert_eq!(users[0].display_name.as_deref(), Some("Smith, Alice"));
        assert_eq!(
            (users[1].admin, users[1].password_file.is_none()),
            (Some(false), true)
        );
        assert_eq!(users[2].admin, None);
    }

    #[test]
    fn one_localpart_on_two_servers_is_two_users() {
        let users = load_str("u.csv", "user\n@dup:a.org\n@dup:b.org\n").unwrap();
        assert_eq!(users.len(), 2);
    }

    #[test]
    fn yaml_list_with_booleans() {
        let users = load_str(
            "users.yaml",
            "- user: alice\n  admin: true\n- {user: bob, admin: no}\n",
        )
        .unwrap();
        assert_eq!((users[0].admin, users[1].admin), (Some(true), Some(false)));
    }

    #[test]
    fn bad_rows_name_the_line() {
        let e = load_str("u.csv", "user,admin\nalice,yes\nBob,no\n").unwrap_err();
        assert!(
            e.contains("did you mean \"bob\"") && e.contains("u.csv:3:"),
            "{e}"
        );
        let e = load_str("u.csv", "user,admin\nalice,yes\nalice,no\n").unwrap_err();
        assert!(
            e.contains("listed twice (first at line 2)") && e.contains("u.csv:3:"),
            "{e}"
        );
        let e = load_str("u.csv", "user\nalice\n@alice:a.org\n").unwrap_err();
        assert!(e.contains("listed twice (first at line 2)"), "{e}");
        let e = load_str("u.csv", "user\n@bob:a.org\nbob\n").unwrap_err();
        assert!(e.contains("listed twice (first at line 2)"), "{e}");
        let e = load_str("u.csv", "user\n@bob:a.org\n@bob:a.org\n").unwrap_err();
        assert!(e.contains("listed twice (first at line 2)"), "{e}");
        let e = load_str("u.csv", "user,admin\nalice,maybe\n").unwrap_err();
        assert!(e.contains("\"maybe\""), "{e}");
        let e = load_str("u.yaml", "- user: alice\n- name: bob\n").unwrap_err();
        assert!(e.contains("u.yaml:2:"), "{e}");
        let e = load_str("u.csv", "name\nalice\n").unwrap_err();
        assert!(e.contains("`user` column"), "{e}");
    }
}
