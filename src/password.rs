//! Where the new user's password comes from: the terminal, a file, standard input, or a fresh
//! random one. It never comes back out except where the operator asked for it.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use indexmap::IndexMap;

use provision_backends::{ExposeSecret, SecretString};

use crate::cli::{LoginPasswordArgs, PasswordArgs};
use crate::error::Error;
use crate::local_file::{self, Owner};
use crate::password_store::Store;

/// 24 characters from 62 give about 143 bits.
const RANDOM_LEN: usize = 24;
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

pub struct Password {
    pub secret: SecretString,
    /// Set when provision made the password up; the operator must be told it (or where it is).
    pub generated: Option<Generated>,
}

pub enum Generated {
    /// Print it once, after the run.
    Show,
    /// Written to this file (mode 0600) before the run; removed again if no host used it.
    Written(PathBuf),
    /// Taken from this file, which an earlier run wrote: a re-run sets the same password on
    /// the hosts that lack the user, and the file stays as it is.
    Reused(PathBuf),
}

/// The password of a single registration. `out` is the locked `--password-out` file.
pub fn obtain(args: &PasswordArgs, out: Option<&Store>) -> Result<Password, Error> {
    let given = |secret| {
        Ok(Password {
            secret,
            generated: None,
        })
    };
    if let Some(path) = &args.password_file {
        let text = local_file::read(path, local_file::SECRET_LIMIT, Owner::Trusted)
            .map_err(|e| Error::Usage(format!("--password-file {}: {e}", path.display())))?;
        return given(non_empty(strip_newline(text), "--password-file")?);
    }
    if args.password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .take(local_file::SECRET_LIMIT + 1)
            .read_to_string(&mut text)
            .map_err(|e| Error::Usage(format!("--password-stdin: {e}")))?;
        if text.len() as u64 > local_file::SECRET_LIMIT {
            return Err(Error::Usage(format!(
                "--password-stdin: more than {} bytes; that is not a password",
                local_file::SECRET_LIMIT
            )));
        }
        return given(non_empty(strip_newline(text), "--password-stdin")?);
    }
    if let Some(secret) = &args.given {
        return given(non_empty(
            secret.expose_secret().to_owned(),
            "the module's password",
        )?);
    }
    if let Some(p) = &args.password {
        tracing::warn!(
            "--password puts the password in the process list and shell history; prefer --password-file or --password-stdin"
        );
        return given(non_empty(p.clone(), "--password")?);
    }
    if args.random_password {
        let (secret, generated) = match out {
            Some(store) => match store.read_password()? {
                Some(kept) => (kept, Generated::Reused(store.path().to_owned())),
                None => {
                    // Written before anything runs: a run that dies midway still leaves it.
                    let secret = random()?;
                    store.write_password(&secret)?;
                    (secret, Generated::Written(store.path().to_owned()))
                }
            },
            None => (random()?, Generated::Show),
        };
        return Ok(Password {
            secret,
            generated: Some(generated),
        });
    }
    prompt()
}

fn strip_newline(mut s: String) -> String {
    if s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
    s
}

fn non_empty(s: String, from: &str) -> Result<SecretString, Error> {
    if s.is_empty() {
        return Err(Error::Usage(format!("{from}: the password is empty")));
    }
    crate::output::keep_secret(&s);
    Ok(SecretString::from(s))
}

fn prompt() -> Result<Password, Error> {
    Ok(Password {
        secret: ask(
            true,
            "use --password-file, --password-stdin or --random-password",
        )?,
        generated: None,
    })
}

/// The password of an account that exists (`provision login`): from a file, standard input,
/// or asked once on the terminal (nothing is being set, so nothing to confirm).
pub fn existing(args: &LoginPasswordArgs) -> Result<SecretString, Error> {
    if args.password_file.is_none() && !args.password_stdin {
        return ask(false, "use --password-file or --password-stdin");
    }
    let args = PasswordArgs {
        password_file: args.password_file.clone(),
        password_stdin: args.password_stdin,
        random_password: false,
        password: None,
        given: None,
    };
    Ok(obtain(&args, None)?.secret)
}

/// Asks on the terminal (twice when `confirm`); `instead` says what to use without one.
fn ask(confirm: bool, instead: &str) -> Result<SecretString, Error> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::Usage(format!(
            "no password given and no terminal to ask on: {instead}"
        )));
    }
    let ask = |label: &str| {
        rpassword::prompt_password(label)
            .map_err(|e| Error::Usage(format!("reading the password: {e}")))
    };
    let first = ask("Password: ")?;
    if confirm && ask("Confirm password: ")? != first {
        return Err(Error::Usage("the passwords do not match".into()));
    }
    non_empty(first, "the prompt")
}

pub fn random() -> Result<SecretString, Error> {
    let mut out = String::with_capacity(RANDOM_LEN);
    let mut buf = [0u8; 64];
    while out.len() < RANDOM_LEN {
        getrandom::fill(&mut buf)
            .map_err(|e| Error::Usage(format!("no randomness available: {e}")))?;
        // Bytes at or above 248 (= 4 * 62) are dropped so every character is equally likely.
        out.extend(
            buf.iter()
                .filter(|b| (**b as usize) < 4 * ALPHABET.len())
                .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
                .take(RANDOM_LEN - out.len()),
        );
    }
    crate::output::keep_secret(&out);
    Ok(SecretString::from(out))
}

/// The passwords of a bulk run, in the users' order, and what the passwords file must keep.
pub struct Bulk {
    pub passwords: Vec<SecretString>,
    /// What the passwords file held before this run: kept whatever happens.
    kept: IndexMap<String, SecretString>,
    /// Generated by this run, already written to the file with `kept`.
    new: Vec<(String, SecretString)>,
    /// Whether the passwords file was there before this run.
    existed: bool,
}

/// Reads each user's password file, or takes the password an earlier run generated for it, or
/// generates one. New ones are added to the passwords file before anything is registered, so a
/// run that dies midway loses nothing; `Bulk::settle` takes back those no host used.
pub fn bulk(users: &[crate::users::BulkUser], out: Option<&Store>) -> Result<Bulk, Error> {
    let generating = users.iter().filter(|u| u.password_file.is_none()).count();
    if generating > 0 && out.is_none() {
        return Err(Error::Usage(format!(
            "{generating} users have no password_file: their generated passwords need --passwords-out PATH"
        )));
    }
    let existed = out.is_some_and(Store::exists);
    let kept = match out {
        Some(store) if generating > 0 => store.read_rows()?,
        _ => IndexMap::new(),
    };
    let mut passwords = Vec::with_capacity(users.len());
    let mut new = Vec::new();
    for user in users {
        let password = match &user.password_file {
            Some(path) => {
                let text = local_file::read(path, local_file::SECRET_LIMIT, Owner::Trusted)
                    .map_err(|e| {
                        Error::Usage(format!(
                            "{}: password_file {}: {e}",
                            user.name,
                            path.display()
                        ))
                    })?;
                non_empty(
                    strip_newline(text),
                    &format!("{}'s password_file", user.name),
                )?
            }
            None => match kept.get(&user.name) {
                Some(pw) => pw.clone(),
                None => {
                    let pw = random()?;
                    new.push((user.name.clone(), pw.clone()));
                    pw
                }
            },
        };
        passwords.push(password);
    }
    let bulk = Bulk {
        passwords,
        kept,
        new,
        existed,
    };
    if let Some(store) = out.filter(|_| !bulk.new.is_empty()) {
        store.write_rows(bulk.rows(|_| true))?;
    }
    Ok(bulk)
}

impl Bulk {
    fn rows<'a>(
        &'a self,
        used: impl Fn(&str) -> bool + 'a,
    ) -> impl Iterator<Item = (&'a str, &'a SecretString)> + 'a {
        let kept = self.kept.iter().map(|(u, p)| (u.as_str(), p));
        let new = self
            .new
            .iter()
            .filter(move |(u, _)| used(u))
            .map(|(u, p)| (u.as_str(), p));
        kept.chain(new)
    }

    /// After the run: the passwords this run generated but no host set (the user existed, or
    /// every host failed) are taken out of the file again, so it holds only passwords that
    /// some server has. What was there before the run always stays.
    pub fn settle(&self, store: &Store, used: impl Fn(&str) -> bool) -> Result<(), Error> {
        let unused = self.new.iter().filter(|(u, _)| !used(u)).count();
        if unused == 0 {
            return Ok(());
        }
        if !self.existed && unused == self.new.len() {
            // This run created the file and nobody used it.
            return store.remove();
        }
        store.write_rows(self.rows(used))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provision_backends::ExposeSecret;

    #[test]
    fn random_passwords_are_long_and_differ() {
        let a = random().unwrap();
        let b = random().unwrap();
        assert_eq!(a.expose_secret().len(), RANDOM_LEN);
        assert!(a.expose_secret().bytes().all(|c| ALPHABET.contains(&c)));
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    fn user(name: &str) -> crate::users::BulkUser {
        crate::users::BulkUser::new(name).unwrap()
    }

    #[test]
    fn settle_keeps_old_rows_and_takes_back_only_unused_new_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.csv");
        std::fs::write(&path, "user,password\nold,old-password\n").unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let store = Store::open(&path, "--passwords-out").unwrap();
        let users = [user("old"), user("made"), user("unused")];
        let bulk = bulk(&users, Some(&store)).unwrap();
        assert_eq!(bulk.passwords[0].expose_secret(), "old-password");
        // Before the run, every new password is already on disk.
        assert_eq!(store.read_rows().unwrap().len(), 3);
        bulk.settle(&store, |u| u == "made").unwrap();
        let rows = store.read_rows().unwrap();
        let names: Vec<&str> = rows.keys().map(String::as_str).collect();
        assert_eq!(names, ["old", "made"]);
        assert_eq!(
            rows["made"].expose_secret(),
            bulk.passwords[1].expose_secret()
        );
    }

    #[test]
    fn a_file_this_run_created_and_nobody_used_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.csv");
        let store = Store::open(&path, "--passwords-out").unwrap();
        let bulk = bulk(&[user("a")], Some(&store)).unwrap();
        assert!(path.exists());
        bulk.settle(&store, |_| false).unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn only_one_trailing_newline_is_dropped() {
        assert_eq!(strip_newline("pw\r\n".into()), "pw");
        assert_eq!(strip_newline(" pw \n\n".into()), " pw \n");
    }
}
