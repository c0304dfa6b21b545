//! The users file: of a bulk run (`register --from`) and of `provision plan`. CSV with a
//! header, or YAML: a list of mappings with the same keys, or a mapping whose `users` is that
//! list and whose `hosts` is the default `--limit`. Keys: `user` (required), `admin`
//! (yes/no/true/false/1/0, empty: leave as is), `password_file` (empty: generate),
//! `display_name`, `email` or `emails` (a list, or addresses separated by commas),
//! `user_type` (Synapse's `bot` or `support`, or `regular`), `rooms`
//! (room IDs or aliases to join, with `state: present`), `state` (present, the default, locked
//! or deactivated), `erase` (only with `state: deactivated`), and `sso_provider` with
//! `sso_subject` (an upstream SSO account to link the new user to, through mas-api; flat
//! keys, so that a CSV column is the same word as a YAML key). Errors name the file and line, with the known word closest
//! to a misspelt one; empty lines are skipped; a user listed twice is an error.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use provision_backends::canonical_email;
use provision_backends::registration::SsoLink;
use provision_backends::user_id::UserArg;
use serde::Deserialize;
use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::{Location, Spanned};

use crate::error::{Error, Located, unknown};
use crate::local_file;

/// A user's keys, in both forms.
pub const KEYS: &[&str] = &[
    "user",
    "admin",
    "password_file",
    "display_name",
    "email",
    "emails",
    "user_type",
    "rooms",
    "state",
    "erase",
    "sso_provider",
    "sso_subject",
];

/// The keys of the YAML mapping form.
const FILE_KEYS: &[&str] = &["users", "hosts"];

/// The words of `user_type`: Synapse's user types (synapse/api/constants.py, `UserTypes`:
/// `support`, `bot`), and `regular` for a user of no type.
pub const USER_TYPES: &[&str] = &["bot", "support", "regular"];

/// The state a user is wanted in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum State {
    /// It exists and can log in (the default).
    #[default]
    Present,
    /// It exists and cannot log in (reversible).
    Locked,
    /// It is deactivated, or never created.
    Deactivated,
}

impl State {
    pub const WORDS: &'static [&'static str] = &["present", "locked", "deactivated"];

    pub fn word(self) -> &'static str {
        match self {
            State::Present => "present",
            State::Locked => "locked",
            State::Deactivated => "deactivated",
        }
    }

    fn parse(word: &str) -> Option<State> {
        match word {
            "present" => Some(State::Present),
            "locked" => Some(State::Locked),
            "deactivated" => Some(State::Deactivated),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct BulkUser {
    pub user: UserArg,
    /// As written, for messages and the passwords file.
    pub name: String,
    pub admin: Option<bool>,
    /// None: generate one.
    pub password_file: Option<PathBuf>,
    pub display_name: Option<String>,
    /// Canonical ([`canonical_email`]); `None`: the file does not say.
    pub emails: Option<Vec<String>>,
    /// Synapse's user type; `Some(None)`: a regular user; `None`: the file does not say.
    pub user_type: Option<Option<String>>,
    /// Rooms (IDs or aliases) it is to be in.
    pub rooms: Vec<String>,
    pub state: State,
    /// With `state: deactivated`: erase the user's data too.
    pub erase: bool,
    /// `sso_provider` and `sso_subject`: the upstream SSO account to link it to.
    pub sso: Option<SsoLink>,
    /// Where the user is written (line, column), and its `state` when it has one.
    pub at: (u64, u64),
    pub state_at: Option<(u64, u64)>,
}

impl BulkUser {
    /// A user with nothing but its name (a localpart or a full ID) given: present, the admin
    /// flag left as it is, a generated password.
    pub fn new(name: &str) -> Result<Self, String> {
        Ok(BulkUser {
            user: UserArg::parse(name)?,
            name: name.to_owned(),
            admin: None,
            password_file: None,
            display_name: None,
            emails: None,
            user_type: None,
            rooms: Vec::new(),
            state: State::Present,
            erase: false,
            sso: None,
            at: (0, 0),
            state_at: None,
        })
    }
}

/// A users file, read and checked.
#[derive(Debug)]
pub struct UsersFile {
    pub path: PathBuf,
    pub users: Vec<BulkUser>,
    /// The YAML mapping's `hosts`: the `--limit` when none is given.
    pub hosts: Option<String>,
    /// The file's text, to show the line of an error found later.
    text: String,
}

impl UsersFile {
    /// An error at `line`:`column` of this file.
    pub fn at(&self, msg: impl Into<String>, (line, column): (u64, u64)) -> Error {
        Error::Inventory(Located::new(msg, &self.path, &self.text, line, column))
    }

    /// `register --from` creates users: a file that wants one locked or deactivated, or in
    /// rooms, is for `provision plan`/`apply`, and is refused at that user.
    pub fn only_present(&self) -> Result<(), Error> {
        if let Some(u) = self.users.iter().find(|u| u.state != State::Present) {
            return Err(self.at(
                format!(
                    "state: {} is for provision plan/apply; register --from creates users (state: present)",
                    u.state.word()
                ),
                u.state_at.unwrap_or(u.at),
            ));
        }
        if let Some(u) = self.users.iter().find(|u| !u.rooms.is_empty()) {
            return Err(self.at(
                "rooms: are joined by provision apply; register --from only creates users",
                u.at,
            ));
        }
        Ok(())
    }

    /// `provision plan`/`apply` do not read users' SSO links yet: a file that asks for one is
    /// for `register --from`, refused rather than half done.
    pub fn no_sso(&self) -> Result<(), Error> {
        match self.users.iter().find(|u| u.sso.is_some()) {
            Some(u) => Err(self.at(
                "sso_provider/sso_subject are linked by register --from; plan and apply do not compare SSO links yet",
                u.at,
            )),
            None => Ok(()),
        }
    }

    /// `--limit`, else the file's `hosts`.
    pub fn limit<'a>(&'a self, given: Option<&'a str>) -> Option<&'a str> {
        given.or(self.hosts.as_deref())
    }
}

/// Reads and checks a users file. It and every `password_file` it names must be regular files
/// ([`local_file`]): a FIFO or a device planted at one of those paths fails here, at once,
/// instead of blocking the run or filling memory.
pub fn load(path: &Path) -> Result<UsersFile, Error> {
    let text = local_file::read(path, local_file::DATA_LIMIT, local_file::Owner::Any)
        .map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?;
    let file = parse(path, &text)?;
    for user in &file.users {
        if let Some(pw) = &user.password_file {
            local_file::check(pw, local_file::SECRET_LIMIT).map_err(|e| {
                Error::Usage(format!(
                    "{}: password_file {}: {e}",
                    user.name,
                    pw.display()
                ))
            })?;
        }
    }
    Ok(file)
}

/// One entry as written, in either form: where it starts, and its keys with their places.
struct Row {
    at: (u64, u64),
    fields: Vec<Field>,
}

struct Field {
    key: String,
    at: (u64, u64),
    /// A CSV cell is a string; YAML's may be a boolean or a number.
    value: Value,
}

/// The users file's text, as read from `path` (CSV, or YAML for `.yaml`/`.yml`): what
/// [`load`] does after reading, without touching the file system (the fuzz target's entry).
pub fn parse(path: &Path, text: &str) -> Result<UsersFile, Error> {
    let at = |msg: String, (line, column): (u64, u64)| {
        Error::Inventory(Located::new(msg, path, text, line, column))
    };
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    let (rows, hosts) = if yaml {
        yaml_rows(path, text, &at)?
    } else {
        (csv_rows(text, &at)?, None)
    };
    // Relative password files are relative to the users file.
    let base = path.parent().unwrap_or(Path::new("."));
    // Users are identified by full ID: `@dup:a.org` and `@dup:b.org` are two users, but
    // `alice` and `@alice:a.org` are the same one on the hosts serving a.org. First lines of:
    // bare localparts, full IDs, and any entry with a given localpart.
    let (mut bare, mut full, mut any) = (HashMap::new(), HashMap::new(), HashMap::new());
    let mut users = Vec::with_capacity(rows.len());
    for row in rows {
        let user = entry(row, base, &at)?;
        let (name, line) = (&user.name, user.at.0);
        let localpart = user.user.localpart().to_owned();
        let first = match &user.user {
            UserArg::Localpart(_) => any.get(&localpart),
            UserArg::Full(_) => full.get(name).or(bare.get(&localpart)),
        };
        if let Some(first) = first {
            return Err(at(
                format!("user {name:?} is listed twice (first at line {first})"),
                user.at,
            ));
        }
        match &user.user {
            UserArg::Localpart(_) => bare.insert(localpart.clone(), line),
            UserArg::Full(_) => full.insert(name.clone(), line),
        };
        any.entry(localpart).or_insert(line);
        users.push(user);
    }
    if users.is_empty() {
        return Err(Error::Usage(format!("{}: no users in it", path.display())));
    }
    Ok(UsersFile {
        path: path.to_owned(),
        users,
        hosts,
        text: text.to_owned(),
    })
}

/// One user from its keys: each key known, each value of its kind, `user` given, and `erase`
/// only beside `state: deactivated`.
fn entry(
    row: Row,
    base: &Path,
    at: &impl Fn(String, (u64, u64)) -> Error,
) -> Result<BulkUser, Error> {
    let (mut name, mut admin, mut password_file, mut display_name) = (None, None, None, None);
    let (mut emails, mut rooms, mut user_type) = (None::<Vec<String>>, Vec::new(), None);
    let (mut state, mut state_at, mut erase) = (State::Present, None, None);
    let (mut sso_provider, mut sso_subject) = (None, None);
    let mut seen: Vec<&str> = Vec::new();
    for field in &row.fields {
        let key = field.key.as_str();
        if !KEYS.contains(&key) {
            return Err(at(unknown("key", key, KEYS), field.at));
        }
        if seen.contains(&key) {
            return Err(at(format!("`{key}` is given twice"), field.at));
        }
        seen.push(key);
        let wrong = |msg: String| at(msg, field.at);
        let v = &field.value;
        match key {
            "user" => name = text(key, v).map_err(wrong)?,
            "admin" => admin = flag(key, v).map_err(wrong)?,
            "password_file" => password_file = text(key, v).map_err(wrong)?,
            "display_name" => display_name = text(key, v).map_err(wrong)?,
            "email" | "emails" => {
                if seen.contains(&"email") && seen.contains(&"emails") {
                    return Err(wrong("give `email` or `emails`, not both".into()));
                }
                let list = Some(words(key, v).map_err(wrong)?);
                emails = list
                    .filter(|l| !l.is_empty())
                    .map(|list| {
                        list.iter()
                            .map(|a| canonical_email(a).ok_or(a))
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(|a| wrong(format!("{key}: {a:?} is not an email address")))
                    })
                    .transpose()?;
            }
            "user_type" => {
                if let Some(word) = text(key, v).map_err(wrong)? {
                    if !USER_TYPES.contains(&word.as_str()) {
                        return Err(wrong(unknown("user_type", &word, USER_TYPES)));
                    }
                    user_type = Some(Some(word).filter(|w| w != "regular"));
                }
            }
            "rooms" => {
                rooms = words(key, v).map_err(wrong)?;
                if let Some(bad) = rooms.iter().find(|r| !is_room(r)) {
                    return Err(wrong(format!(
                        "rooms: {bad:?} is neither a room alias (#name:server) nor a room ID (!id)"
                    )));
                }
            }
            "state" => {
                if let Some(word) = text(key, v).map_err(wrong)? {
                    state = State::parse(&word)
                        .ok_or_else(|| wrong(unknown("state", &word, State::WORDS)))?;
                    state_at = Some(field.at);
                }
            }
            "sso_provider" => sso_provider = text(key, v).map_err(wrong)?,
            "sso_subject" => sso_subject = text(key, v).map_err(wrong)?,
            // "erase"
            _ => erase = flag(key, v).map_err(wrong)?.map(|e| (e, field.at)),
        }
    }
    let Some(name) = name else {
        return Err(at("no `user` given".into(), row.at));
    };
    let user = UserArg::parse(&name).map_err(|e| at(e, row.at))?;
    if let (Some((_, erase_at)), false) = (erase, state == State::Deactivated) {
        return Err(at(
            format!(
                "erase only goes with state: deactivated (this user's state is {})",
                state.word()
            ),
            erase_at,
        ));
    }
    if !rooms.is_empty() && state != State::Present {
        return Err(at(
            format!(
                "rooms only go with state: present (a {} user is not joined to rooms)",
                state.word()
            ),
            state_at.unwrap_or(row.at),
        ));
    }
    let sso = match (sso_provider, sso_subject) {
        (None, None) => None,
        (Some(provider), Some(subject)) => {
            Some(SsoLink::new(&provider, &subject).map_err(|e| at(e, row.at))?)
        }
        _ => {
            return Err(at(
                "sso_provider and sso_subject go together".into(),
                row.at,
            ));
        }
    };
    Ok(BulkUser {
        user,
        name,
        admin,
        password_file: password_file.map(|p| base.join(p)),
        display_name,
        emails,
        user_type,
        rooms,
        state,
        erase: erase.is_some_and(|(e, _)| e),
        sso,
        at: row.at,
        state_at,
    })
}

/// Text, or nothing when null or empty; a YAML number is its text.
fn text(key: &str, v: &Value) -> Result<Option<String>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty())),
        Value::Number(n) => Ok(Some(n.to_string())),
        other => Err(format!("{key}: expected text, not {other}")),
    }
}

/// A YAML list of texts, or one text whose words are separated by commas (a CSV cell).
fn words(key: &str, v: &Value) -> Result<Vec<String>, String> {
    let split = |s: &str| -> Vec<String> {
        s.split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect()
    };
    match v {
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match text(key, item)? {
                    Some(t) => out.push(t),
                    None => return Err(format!("{key}: an empty entry in the list")),
                }
            }
            Ok(out)
        }
        other => Ok(text(key, other)?.map(|t| split(&t)).unwrap_or_default()),
    }
}

/// A room alias (`#name:server`) or ID (`!opaque`, with `:server` before room version 12) as
/// the Matrix spec writes them (appendices, "Room aliases", "Room IDs"): no space or control
/// character, 255 bytes at most. Checked here because it goes into a URL path.
fn is_room(room: &str) -> bool {
    let fits = room.len() <= 255 && !room.chars().any(|c| c.is_whitespace() || c.is_control());
    let shaped = match (room.strip_prefix('#'), room.strip_prefix('!')) {
        (Some(alias), _) => alias
            .split_once(':')
            .is_some_and(|(name, server)| !name.is_empty() && !server.is_empty()),
        (_, Some(id)) => !id.is_empty() && !id.starts_with(':'),
        _ => false,
    };
    fits && shaped
}

/// yes/no/true/false/1/0 (or a YAML boolean); nothing when null or empty.
fn flag(key: &str, v: &Value) -> Result<Option<bool>, String> {
    const WORDS: &[&str] = &["yes", "no", "true", "false", "1", "0"];
    let word = match v {
        Value::Null => return Ok(None),
        Value::Bool(b) => return Ok(Some(*b)),
        Value::String(s) => s.trim().to_owned(),
        other => other.to_string(),
    };
    match word.as_str() {
        "" => Ok(None),
        "yes" | "true" | "1" => Ok(Some(true)),
        "no" | "false" | "0" => Ok(Some(false)),
        _ => {
            let hint = crate::error::suggest(&word, WORDS)
                .map(|k| format!(" (did you mean `{k}`?)"))
                .unwrap_or_default();
            Err(format!(
                "{key}: {word:?} is not one of {}{hint}",
                WORDS.join(", ")
            ))
        }
    }
}

fn csv_rows(text: &str, at: &impl Fn(String, (u64, u64)) -> Error) -> Result<Vec<Row>, Error> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| at(format!("cannot read the header: {e}"), (1, 1)))?
        .clone();
    if !headers.iter().any(|h| h == "user") {
        return Err(at(
            "the header must name a `user` column (user,admin,password_file)".into(),
            (1, 1),
        ));
    }
    for (i, h) in headers.iter().enumerate() {
        if !KEYS.contains(&h) {
            return Err(at(unknown("column", h, KEYS), (1, 1)));
        }
        if headers.iter().take(i).any(|earlier| earlier == h) {
            return Err(at(format!("the column `{h}` is named twice"), (1, 1)));
        }
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            at(format!("{e}"), (line, 1))
        })?;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.iter().all(str::is_empty) {
            continue;
        }
        let fields = headers
            .iter()
            .zip(record.iter())
            .map(|(key, cell)| Field {
                key: key.to_owned(),
                at: (line, 1),
                value: Value::String(cell.to_owned()),
            })
            .collect();
        rows.push(Row {
            at: (line, 1),
            fields,
        });
    }
    Ok(rows)
}

type YamlRow = Spanned<IndexMap<Spanned<String>, Spanned<Value>>>;

/// The YAML document: a list of users, or a mapping with `users` and `hosts`. Unknown keys of
/// the mapping are kept, to be reported at their line.
enum YamlFile {
    List(Vec<YamlRow>),
    Mapping {
        users: Option<Vec<YamlRow>>,
        hosts: Option<Spanned<Value>>,
        unknown: Vec<Spanned<String>>,
    },
}

impl<'de> Deserialize<'de> for YamlFile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> Visitor<'de> for Either {
            type Value = YamlFile;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of users, or a mapping with `users` (and `hosts`)")
            }

            fn visit_unit<E>(self) -> Result<YamlFile, E> {
                Ok(YamlFile::List(Vec::new()))
            }

            fn visit_none<E>(self) -> Result<YamlFile, E> {
                Ok(YamlFile::List(Vec::new()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<YamlFile, A::Error> {
                let mut rows = Vec::new();
                while let Some(row) = seq.next_element()? {
                    rows.push(row);
                }
                Ok(YamlFile::List(rows))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<YamlFile, A::Error> {
                let (mut users, mut hosts, mut unknown) = (None, None, Vec::new());
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    match key.value.as_str() {
                        "users" => users = Some(map.next_value()?),
                        "hosts" => hosts = Some(map.next_value()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            unknown.push(key);
                        }
                    }
                }
                Ok(YamlFile::Mapping {
                    users,
                    hosts,
                    unknown,
                })
            }
        }
        d.deserialize_any(Either)
    }
}

fn yaml_rows(
    path: &Path,
    text: &str,
    at: &impl Fn(String, (u64, u64)) -> Error,
) -> Result<(Vec<Row>, Option<String>), Error> {
    let place = |loc: &Location| (loc.line(), loc.column());
    let file: YamlFile = serde_saphyr::from_str(text)
        .map_err(|e| Error::Inventory(Located::from_yaml(&e, "users file", path, text)))?;
    let (list, hosts) = match file {
        YamlFile::List(list) => (list, None),
        YamlFile::Mapping {
            users,
            hosts,
            unknown: extra,
        } => {
            if let Some(key) = extra.first() {
                return Err(at(
                    unknown("key", &key.value, FILE_KEYS),
                    place(&key.referenced),
                ));
            }
            let Some(users) = users else {
                return Err(at(
                    "the mapping form needs `users:`, the list of users".into(),
                    (1, 1),
                ));
            };
            let hosts = match hosts {
                None => None,
                Some(h) => match &h.value {
                    Value::Null => None,
                    Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
                    _ => {
                        return Err(at(
                            "hosts: expected a --limit pattern (\"production:&synapse\")".into(),
                            place(&h.referenced),
                        ));
                    }
                },
            };
            (users, hosts)
        }
    };
    let rows = list
        .into_iter()
        .map(|r| Row {
            at: place(&r.referenced),
            fields: r
                .value
                .into_iter()
                .map(|(k, v)| Field {
                    key: k.value,
                    at: place(&k.referenced),
                    value: v.value,
                })
                .collect(),
        })
        .collect();
    Ok((rows, hosts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(name: &str, text: &str) -> Result<Vec<BulkUser>, String> {
        parse_str(name, text).map(|f| f.users)
    }

    fn parse_str(name: &str, text: &str) -> Result<UsersFile, String> {
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
    fn user_types_are_synapse_words_or_regular() {
        let users = load_str(
            "users.csv",
            "user,user_type\nalice,bot\nbob,regular\ncarol,\n",
        )
        .unwrap();
        let types: Vec<_> = users.iter().map(|u| u.user_type.clone()).collect();
        assert_eq!(types, [Some(Some("bot".into())), Some(None), None]);
        let e = load_str("users.yaml", "- user: dan\n  user_type: bto\n").unwrap_err();
        assert!(
            e.contains("users.yaml:2") && e.contains("did you mean `bot`"),
            "{e}"
        );
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

    const MAPPING: &str = "\
users:
  - user: alice
    admin: true
    display_name: \"Smith, Alice\"
    email: alice@example.com
    password_file: secrets/alice.pw
  - user: bob
    state: locked          # present (default) | locked | deactivated
  - user: carol
    state: deactivated
    erase: false
  - {user: dave, state: deactivated, erase: yes}
hosts: \"production:&synapse\"
";

    #[test]
    fn yaml_mapping_with_states_and_hosts() {
        let file = parse_str("users.yaml", MAPPING).unwrap();
        assert_eq!(file.hosts.as_deref(), Some("production:&synapse"));
        assert_eq!(file.limit(None), Some("production:&synapse"));
        assert_eq!(file.limit(Some("staging")), Some("staging"));
        let got: Vec<(&str, State, bool, u64)> = file
            .users
            .iter()
            .map(|u| (u.name.as_str(), u.state, u.erase, u.at.0))
            .collect();
        assert_eq!(
            got,
            [
                ("alice", State::Present, false, 2),
                ("bob", State::Locked, false, 7),
                ("carol", State::Deactivated, false, 9),
                ("dave", State::Deactivated, true, 12),
            ]
        );
        let alice = &file.users[0];
        assert_eq!(alice.admin, Some(true));
        assert_eq!(alice.display_name.as_deref(), Some("Smith, Alice"));
        assert!(
            alice
                .password_file
                .as_ref()
                .unwrap()
                .ends_with("secrets/alice.pw")
        );
        // The list form stays valid, with the same keys.
        let list = parse_str("u.yml", "- user: bob\n  state: locked\n").unwrap();
        assert_eq!((list.users[0].state, list.hosts), (State::Locked, None));
    }

    #[test]
    fn csv_state_and_erase_columns() {
        let users = load_str(
            "u.csv",
            "user,state,erase\nann,,\nbob,locked,\ncy,deactivated,yes\ndi,deactivated,\n",
        )
        .unwrap();
        let got: Vec<(State, bool)> = users.iter().map(|u| (u.state, u.erase)).collect();
        assert_eq!(
            got,
            [
                (State::Present, false),
                (State::Locked, false),
                (State::Deactivated, true),
                (State::Deactivated, false),
            ]
        );
    }

    #[test]
    fn misspelt_keys_and_states_get_the_known_word_at_their_line() {
        let e = load_str("u.yaml", "- user: alice\n- user: bob\n  stat: locked\n").unwrap_err();
        assert!(
            e.contains("unknown key `stat` (did you mean `state`?)") && e.contains("u.yaml:3:3"),
            "{e}"
        );
        let e = load_str("u.yaml", "- user: alice\n  state: lockd\n").unwrap_err();
        assert!(
            e.contains("unknown state `lockd` (did you mean `locked`?); known: present, locked, deactivated")
                && e.contains("u.yaml:2:3"),
            "{e}"
        );
        let e = load_str("u.csv", "user,stat\nalice,locked\n").unwrap_err();
        assert!(
            e.contains("unknown column `stat` (did you mean `state`?)") && e.contains("u.csv:1:"),
            "{e}"
        );
        let e = load_str("u.csv", "user,state\nalice,present\nbob,deactivatd\n").unwrap_err();
        assert!(
            e.contains("did you mean `deactivated`?") && e.contains("u.csv:3:"),
            "{e}"
        );
        let e = load_str("u.yaml", "users:\n  - user: a\nhost: prod\n").unwrap_err();
        assert!(
            e.contains("unknown key `host` (did you mean `hosts`?)") && e.contains("u.yaml:3:1"),
            "{e}"
        );
        let e = load_str("u.yaml", "- user: a\n  admin: ture\n").unwrap_err();
        assert!(
            e.contains("admin: \"ture\" is not one of") && e.contains("did you mean `true`?"),
            "{e}"
        );
        let e = load_str("u.yaml", "- user: a\n  state: [locked]\n").unwrap_err();
        assert!(
            e.contains("state: expected text") && e.contains("u.yaml:2:"),
            "{e}"
        );
        let e = load_str("u.yaml", "- admin: true\n").unwrap_err();
        assert!(
            e.contains("no `user` given") && e.contains("u.yaml:1:"),
            "{e}"
        );
        let e = load_str("u.yaml", "hosts: prod\n").unwrap_err();
        assert!(e.contains("needs `users:`"), "{e}");
    }

    #[test]
    fn erase_needs_state_deactivated_at_its_line() {
        let e = load_str("u.yaml", "- user: alice\n  state: locked\n  erase: true\n").unwrap_err();
        assert!(
            e.contains("erase only goes with state: deactivated (this user's state is locked)")
                && e.contains("u.yaml:3:3"),
            "{e}"
        );
        let e = load_str("u.yaml", "- user: alice\n  erase: false\n").unwrap_err();
        assert!(
            e.contains("state is present") && e.contains("u.yaml:2:3"),
            "{e}"
        );
        let e = load_str("u.csv", "user,erase\nann,\nbob,yes\n").unwrap_err();
        assert!(
            e.contains("erase only goes with") && e.contains("u.csv:3:"),
            "{e}"
        );
        let e = load_str("u.yaml", "- {user: a, state: deactivated, erase: maybe}\n").unwrap_err();
        assert!(e.contains("erase: \"maybe\" is not one of"), "{e}");
    }

    #[test]
    fn register_from_refuses_other_states_at_the_users_line() {
        let file = parse_str("users.yaml", MAPPING).unwrap();
        let e = file.only_present().unwrap_err().to_string();
        assert!(
            e.contains("state: locked is for provision plan/apply") && e.contains("users.yaml:8:5"),
            "{e}"
        );
        let file = parse_str("u.csv", "user,state\nann,present\nbob,\n").unwrap();
        assert!(file.only_present().is_ok());
        let file = parse_str("u.csv", "user,state\nann,present\nbob,deactivated\n").unwrap();
        let e = file.only_present().unwrap_err().to_string();
        assert!(
            e.contains("state: deactivated is for") && e.contains("u.csv:3:"),
            "{e}"
        );
    }

    #[test]
    fn emails_and_rooms_are_lists_checked_at_their_line() {
        let users = load_str(
            "u.yaml",
            "- user: ann\n  emails: [Ann@Example.COM, ann2@example.com]\n  rooms: ['#general:example.com', '!r:example.com']\n- user: bob\n  email: bob@example.com\n",
        )
        .unwrap();
        assert_eq!(
            users[0].emails.as_deref(),
            Some(&["ann@example.com".to_owned(), "ann2@example.com".to_owned()][..])
        );
        assert_eq!(users[0].rooms, ["#general:example.com", "!r:example.com"]);
        assert_eq!(
            users[1].emails.as_deref(),
            Some(&["bob@example.com".to_owned()][..])
        );
        // A CSV cell holds several, separated by commas.
        let csv = load_str("u.csv", "user,emails\ncy,\"c@x.org, d@x.org\"\n").unwrap();
        assert_eq!(csv[0].emails.as_ref().map(Vec::len), Some(2));
        for (text, want) in [
            (
                "- user: a\n  emails: [nope]\n",
                "emails: \"nope\" is not an email address",
            ),
            (
                "- user: a\n  email: a@x.org\n  emails: [b@x.org]\n",
                "give `email` or `emails`, not both",
            ),
            (
                "- user: a\n  rooms: [general]\n",
                "rooms: \"general\" is neither a room alias",
            ),
            (
                "- user: a\n  rooms: ['#g:x.org/../x']\n  state: locked\n",
                "rooms only go with state: present",
            ),
        ] {
            let e = load_str("u.yaml", text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
        // register --from does not join rooms: such a file is refused, not half done.
        let file = parse_str("u.yaml", "- user: a\n  rooms: ['#g:x.org']\n").unwrap();
        let e = file.only_present().unwrap_err().to_string();
        assert!(e.contains("rooms: are joined by provision apply"), "{e}");
    }

    #[test]
    fn sso_keys_go_together_and_are_checked_at_their_user() {
        let users = load_str(
            "u.csv",
            "user,sso_provider,sso_subject\nann,01jcprqvdxrs0000000000000a,ann@idp\nbob,,\n",
        )
        .unwrap();
        let sso = users[0].sso.as_ref().unwrap();
        assert_eq!(
            (sso.provider.as_str(), sso.subject.as_str()),
            ("01JCPRQVDXRS0000000000000A", "ann@idp")
        );
        assert!(users[1].sso.is_none());
        let yaml = "- user: ann\n  sso_provider: 01JCPRQVDXRS0000000000000A\n  sso_subject: ann\n";
        assert!(load_str("u.yaml", yaml).unwrap()[0].sso.is_some());
        for (text, says) in [
            (
                "- user: ann\n  sso_provider: 01JCPRQVDXRS0000000000000A\n",
                "sso_provider and sso_subject go together",
            ),
            (
                "- user: ann\n  sso_provider: acme\n  sso_subject: ann\n",
                "is not a MAS provider id",
            ),
        ] {
            let e = load_str("u.yaml", text).unwrap_err();
            assert!(e.contains(says) && e.contains("u.yaml:1:"), "{e}");
        }
        let file = parse_str("u.yaml", yaml).unwrap();
        let e = file.no_sso().unwrap_err().to_string();
        assert!(e.contains("plan and apply do not compare SSO links"), "{e}");
    }
}
