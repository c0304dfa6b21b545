//! Where the new user's password comes from: the terminal, a file, standard input, or a fresh
//! random one. It never comes back out except where the operator asked for it.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use provision_backends::{ExposeSecret, SecretString};

use crate::cli::PasswordArgs;
use crate::error::Error;

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
    /// Already written to this file (mode 0600).
    Written(PathBuf),
}

pub fn obtain(args: &PasswordArgs, out: Option<&Path>) -> Result<Password, Error> {
    let given = |secret| {
        Ok(Password {
            secret,
            generated: None,
        })
    };
    if let Some(path) = &args.password_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Usage(format!("--password-file {}: {e}", path.display())))?;
        return given(non_empty(strip_newline(text), "--password-file")?);
    }
    if args.password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Error::Usage(format!("--password-stdin: {e}")))?;
        return given(non_empty(strip_newline(text), "--password-stdin")?);
    }
    if let Some(p) = &args.password {
        tracing::warn!(
            "--password puts the password in the process list and shell history; prefer --password-file or --password-stdin"
        );
        return given(non_empty(p.clone(), "--password")?);
    }
    if args.random_password {
        let secret = random()?;
        let generated = match out {
            Some(path) => {
                write_private(path, &secret)?;
                Generated::Written(path.to_owned())
            }
            None => Generated::Show,
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
    Ok(SecretString::from(s))
}

fn prompt() -> Result<Password, Error> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::Usage(
            "no password given and no terminal to ask on: use --password-file, --password-stdin or --random-password".into(),
        ));
    }
    let ask = |label: &str| {
        rpassword::prompt_password(label)
            .map_err(|e| Error::Usage(format!("reading the password: {e}")))
    };
    let first = ask("Password: ")?;
    if ask("Confirm password: ")? != first {
        return Err(Error::Usage("the passwords do not match".into()));
    }
    Ok(Password {
        secret: non_empty(first, "the prompt")?,
        generated: None,
    })
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
    Ok(SecretString::from(out))
}

/// Writes the password to a file only its owner can read, usable later as --password-file.
pub fn write_private(path: &Path, secret: &SecretString) -> Result<(), Error> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let fail = |e: std::io::Error| Error::Usage(format!("--password-out {}: {e}", path.display()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    // An existing file keeps its mode on open; tighten it before writing the secret.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(fail)?;
    writeln!(file, "{}", secret.expose_secret()).map_err(fail)
}

/// The passwords of a bulk run, in the users' order: read from each user's password file, or
/// generated. Generated ones are kept in `out` (CSV `user,password`, mode 0600), written before
/// anything is registered; passwords an earlier run left there are reused, so a re-run sets
/// the same password on the users it creates this time.
pub fn bulk(
    users: &[crate::users::BulkUser],
    out: Option<&Path>,
) -> Result<Vec<SecretString>, Error> {
    let generating = users.iter().filter(|u| u.password_file.is_none()).count();
    if generating > 0 && out.is_none() {
        return Err(Error::Usage(format!(
            "{generating} users have no password_file: their generated passwords need --passwords-out PATH"
        )));
    }
    let mut kept = std::collections::HashMap::new();
    if let Some(path) = out.filter(|p| p.exists()) {
        let fail = |e: String| Error::Usage(format!("--passwords-out {}: {e}", path.display()));
        let mut reader = csv::Reader::from_path(path).map_err(|e| fail(e.to_string()))?;
        for record in reader.records() {
            let record = record.map_err(|e| fail(e.to_string()))?;
            if let (Some(user), Some(pw)) = (record.get(0), record.get(1)) {
                kept.insert(user.to_owned(), SecretString::from(pw.to_owned()));
            }
        }
    }
    let mut passwords = Vec::with_capacity(users.len());
    let mut generated: Vec<(&str, SecretString)> = Vec::new();
    for user in users {
        let password = match &user.password_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
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
            None => {
                let pw = match kept.get(&user.name) {
                    Some(pw) => pw.clone(),
                    None => random()?,
                };
                generated.push((&user.name, pw.clone()));
                pw
            }
        };
        passwords.push(password);
    }
    if let Some(path) = out.filter(|_| !generated.is_empty()) {
        let mut text = String::from("user,password\n");
        for (user, pw) in &generated {
            text.push_str(&format!("{user},{}\n", pw.expose_secret()));
        }
        write_private(path, &SecretString::from(text.trim_end().to_owned()))?;
    }
    Ok(passwords)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_passwords_are_long_and_differ() {
        let a = random().unwrap();
        let b = random().unwrap();
        assert_eq!(a.expose_secret().len(), RANDOM_LEN);
        assert!(a.expose_secret().bytes().all(|c| ALPHABET.contains(&c)));
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn only_one_trailing_newline_is_dropped() {
        assert_eq!(strip_newline("pw\r\n".into()), "pw");
        assert_eq!(strip_newline(" pw \n\n".into()), " pw \n");
    }
}
