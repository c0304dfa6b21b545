//! The files that keep generated passwords (`--password-out`, `--passwords-out`; `write_private`
//! also writes `token issue --token-out`). They are the only copy of a password provision made
//! up, so:
//! - they only ever gain entries: rows already there are kept, new ones are added;
//! - they are replaced atomically (a temporary file in the same folder, fsync, rename), mode
//!   0600 from creation;
//! - one run at a time writes one: a lock on a sidecar file (`.NAME.lock`) is held for the run,
//!   and a second run is refused rather than losing either run's rows;
//! - an existing one is trusted only if it is a regular file (a planted symlink is refused, not
//!   followed), owned by the running user, not writable by group or others, and well formed:
//!   anyone who could choose its content would choose the new accounts' passwords.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use provision_backends::{ExposeSecret, SecretString};

use crate::error::Error;
use crate::local_file::{self, Owner};

/// The header of a passwords CSV, checked when one is read back.
const HEADER: &str = "user,password";
/// Larger than any passwords file provision writes for a realistic fleet; a read past it is refused.
const MAX_SIZE: u64 = 64 << 20;

/// A passwords file, locked for this run.
pub struct Store {
    path: PathBuf,
    /// The option that named it, for messages.
    option: &'static str,
    _lock: File,
}

impl Store {
    /// Takes the file's lock and checks whatever is at the path; nothing is read or written yet.
    pub fn open(path: &Path, option: &'static str) -> Result<Store, Error> {
        let fail = |msg: String| Error::Usage(format!("{option} {}: {msg}", path.display()));
        let name = path
            .file_name()
            .ok_or_else(|| fail("not a file name".into()))?;
        let dir = parent(path);
        let lock_path = dir.join(format!(".{}.lock", name.to_string_lossy()));
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&lock_path)
            .map_err(|e| {
                fail(format!(
                    "cannot create its lock file {}: {e}",
                    lock_path.display()
                ))
            })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(fail(
                    "another provision run is writing this file; wait for it to finish (or choose another path)".into(),
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(fail(format!("cannot lock it: {e}")));
            }
        }
        let store = Store {
            path: path.to_owned(),
            option,
            _lock: lock,
        };
        store.check()?;
        Ok(store)
    }

    /// Whether the file is there (as a file provision may trust).
    pub fn exists(&self) -> bool {
        self.check().unwrap_or(false)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn fail(&self, msg: impl std::fmt::Display) -> Error {
        Error::Usage(format!("{} {}: {msg}", self.option, self.path.display()))
    }

    /// Whether something is at the path, refusing what must not be trusted.
    fn check(&self) -> Result<bool, Error> {
        let meta = match std::fs::symlink_metadata(&self.path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(self.fail(e)),
        };
        if meta.file_type().is_symlink() {
            return Err(self.fail(
                "is a symbolic link; provision does not follow links for password files (remove it or name the real file)",
            ));
        }
        if !meta.is_file() {
            return Err(self.fail("is not a regular file"));
        }
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me {
            return Err(self.fail(format!(
                "is owned by uid {}, not by you (uid {me}): another user could have chosen its passwords",
                meta.uid()
            )));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(self.fail(format!(
                "is writable by group or others (mode {:o}); `chmod 600` it first",
                meta.mode() & 0o7777
            )));
        }
        if meta.len() > MAX_SIZE {
            return Err(self.fail(format!("is larger than {} MiB", MAX_SIZE >> 20)));
        }
        Ok(true)
    }

    fn read(&self) -> Result<Option<String>, Error> {
        if !self.check()? {
            return Ok(None);
        }
        // `check` has judged the path (a link, its owner, its mode); the read is bounded and
        // refuses whatever is not a regular file by then.
        local_file::read(&self.path, MAX_SIZE, Owner::Any)
            .map(Some)
            .map_err(|e| self.fail(e))
    }

    /// The one password of a `--password-out` file, if there is one.
    pub fn read_password(&self) -> Result<Option<SecretString>, Error> {
        let Some(text) = self.read()? else {
            return Ok(None);
        };
        let password = text.strip_suffix('\n').unwrap_or(&text);
        if password.is_empty() || password.contains('\n') {
            return Err(self
                .fail("does not hold one password on one line; it is not a file provision wrote"));
        }
        crate::output::keep_secret(password);
        Ok(Some(SecretString::from(password.to_owned())))
    }

    /// The rows of a `--passwords-out` CSV (empty when there is no file yet).
    pub fn read_rows(&self) -> Result<IndexMap<String, SecretString>, Error> {
        let Some(text) = self.read()? else {
            return Ok(IndexMap::new());
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(false)
            .from_reader(text.as_bytes());
        let mut rows = IndexMap::new();
        for (i, record) in reader.records().enumerate() {
            let record = record.map_err(|e| self.fail(e))?;
            let line = record.position().map_or(i as u64 + 1, |p| p.line());
            let fields: Vec<&str> = record.iter().collect();
            if i == 0 {
                if fields.join(",") != HEADER {
                    return Err(self.fail(format!(
                        "line 1 is not the header provision writes ({HEADER}); it is not a passwords file provision wrote"
                    )));
                }
                continue;
            }
            let [user, password] = fields[..] else {
                return Err(self.fail(format!("line {line}: expected two columns, user,password")));
            };
            if password.is_empty() {
                return Err(self.fail(format!("line {line}: the password of {user} is empty")));
            }
            crate::output::keep_secret(password);
            rows.insert(
                plain_cell(user).to_owned(),
                SecretString::from(password.to_owned()),
            );
        }
        Ok(rows)
    }

    /// Replaces the file with one password, atomically.
    pub fn write_password(&self, password: &SecretString) -> Result<(), Error> {
        self.replace(format!("{}\n", password.expose_secret()).as_bytes())
    }

    /// Replaces the CSV with these rows, atomically.
    pub fn write_rows<'a>(
        &self,
        rows: impl IntoIterator<Item = (&'a str, &'a SecretString)>,
    ) -> Result<(), Error> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        let mut write = |a: &str, b: &str| writer.write_record([a, b]);
        write("user", "password").map_err(|e| self.fail(e))?;
        for (user, password) in rows {
            write(&safe_cell(user), password.expose_secret()).map_err(|e| self.fail(e))?;
        }
        let data = writer.into_inner().map_err(|e| self.fail(e))?;
        self.replace(&data)
    }

    /// Removes the file: only for one this run created and then did not use.
    pub fn remove(&self) -> Result<(), Error> {
        std::fs::remove_file(&self.path).map_err(|e| self.fail(e))
    }

    fn replace(&self, data: &[u8]) -> Result<(), Error> {
        // Whatever is at the path now must still be ours to replace.
        self.check()?;
        write_private(&self.path, data, true).map_err(|e| self.fail(e))
    }
}

/// Writes `data` to `path` atomically, mode 0600 from creation: a temporary file in the same
/// folder, fsync, then a rename (`replace`) or a link that fails if anything is at the path by
/// then (never replaced), and the folder fsync'd so the new name is durable.
pub fn write_private(path: &Path, data: &[u8], replace: bool) -> Result<(), String> {
    let dir = parent(path);
    // tempfile creates the file with mode 0600, in the same folder so the rename is atomic.
    let mut tmp = tempfile::Builder::new()
        .prefix(".provision-")
        .tempfile_in(dir)
        .map_err(|e| format!("cannot create a temporary file beside it: {e}"))?;
    tmp.write_all(data).map_err(|e| e.to_string())?;
    tmp.as_file().sync_all().map_err(|e| e.to_string())?;
    match replace {
        true => tmp.persist(path).map(drop),
        false => tmp.persist_noclobber(path).map(drop),
    }
    .map_err(|e| e.error.to_string())?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Spreadsheets evaluate a cell that starts with `=`, `+`, `-` or `@` as a formula (OWASP's
/// "CSV injection"); user IDs may start so (`@alice:example.com`, localpart `=x`). Such a cell is
/// written behind a `'`, as spreadsheet tools expect, and read back without it.
pub(crate) fn safe_cell(user: &str) -> String {
    if user.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{user}")
    } else {
        user.to_owned()
    }
}

fn plain_cell(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn pw(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn rows_round_trip_with_formula_cells_neutralized() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.csv");
        let store = Store::open(&path, "--passwords-out").unwrap();
        let (a, b) = (pw("one"), pw("two"));
        store
            .write_rows([("alice", &a), ("@bob:example.com", &b)])
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("'@bob:example.com,two"), "{text}");
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let rows = store.read_rows().unwrap();
        assert_eq!(rows["@bob:example.com"].expose_secret(), "two");
        assert_eq!(rows["alice"].expose_secret(), "one");
    }

    #[test]
    fn a_second_run_on_the_same_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.csv");
        let _first = Store::open(&path, "--passwords-out").unwrap();
        let e = Store::open(&path, "--passwords-out")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("another provision run"), "{e}");
    }

    #[test]
    fn untrusted_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.csv");
        std::os::unix::fs::symlink("/etc/passwd", &path).unwrap();
        let e = Store::open(&path, "--passwords-out")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("symbolic link"), "{e}");
        std::fs::remove_file(&path).unwrap();

        std::fs::write(&path, "user,password\nalice,x\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let e = Store::open(&path, "--passwords-out")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("writable by group or others"), "{e}");

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, "name,secret\nalice,x\n").unwrap();
        let store = Store::open(&path, "--passwords-out").unwrap();
        let e = store.read_rows().err().unwrap().to_string();
        assert!(e.contains("not the header"), "{e}");

        std::fs::write(&path, "user,password\nalice,\n").unwrap();
        let e = store.read_rows().err().unwrap().to_string();
        assert!(e.contains("line 2") && e.contains("empty"), "{e}");
    }
}
