//! `provision password USER`: set the user's password on every selected host, from the same
//! sources as `register`. A generated one is shown once or kept in `--password-out`.

use provision_backends::{ExposeSecret, Outcome, SecretString};

use super::account::{Action, act, report};
use crate::cli::{Global, PasswordChangeArgs};
use crate::error::Error;
use crate::password::{self, Generated};
use crate::password_store::Store;
use crate::report::Report;

pub fn run(global: &Global, args: PasswordChangeArgs) -> Result<Report, Error> {
    let check = args.run.check;
    let store = match (&args.password_out, check) {
        (Some(path), false) => Some(Store::open(path, "--password-out")?),
        _ => None,
    };
    // --check changes nothing, so it needs no password (and must not consume stdin or prompt).
    let password = match check {
        true => None,
        false => Some(password::obtain(&args.password, store.as_ref())?),
    };
    let secret = password
        .as_ref()
        .map(|p| p.secret.clone())
        .unwrap_or_else(|| SecretString::from(""));
    let action = Action::Password {
        password: secret,
        logout: !args.keep_sessions,
    };
    let fanned = act(global, &args.run, &args.user, action)?;
    // Set, or perhaps set before an answer was lost: the password may be in use there.
    let set_on: Vec<String> = fanned
        .finished
        .iter()
        .filter(|f| matches!(&f.result, Ok(d) if matches!(d.outcome, Outcome::Done { .. })))
        .map(|f| f.host.clone())
        .collect();
    let maybe_held = fanned.finished.iter().any(|f| match &f.result {
        Ok(d) => matches!(d.outcome, Outcome::Done { .. }),
        Err(e) => e.status() == crate::report::Status::Unreachable || e.code() == "timed_out",
    });
    let generated = password.as_ref().and_then(|p| p.generated.as_ref());
    let mut notes = Vec::new();
    let mut shown = None;
    match (generated, &store) {
        (Some(Generated::Written(path)), Some(store)) if !maybe_held => {
            if let Err(e) = store.remove() {
                tracing::warn!("{e}; no host uses the password in it");
            }
            notes.push(format!(
                "The generated password was not set anywhere ({} was removed).",
                path.display()
            ));
        }
        (Some(Generated::Written(path) | Generated::Reused(path)), _) => notes.push(format!(
            "The password in {} is set on: {}",
            path.display(),
            set_on.join(", ")
        )),
        (Some(Generated::Show), _) if maybe_held => {
            let secret = password.as_ref().map(|p| p.secret.expose_secret());
            shown = secret.map(str::to_owned);
            notes.push(format!(
                "Generated password (shown once): {}",
                secret.unwrap_or("")
            ));
        }
        _ => {}
    }
    let mut report = report("password", &args.run, &args.user, fanned)
        .with("keep_sessions", args.keep_sessions)
        .with("set_on", &set_on);
    if let Some(shown) = shown {
        report = report.with("generated_password", shown);
    }
    report.notes.extend(notes);
    Ok(report)
}
