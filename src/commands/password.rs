//! `provision password USER`: set the user's password on every selected host, from the same
//! sources as `register`. A generated one is shown once or kept in `--password-out`.

use provision_backends::{ExposeSecret, Outcome, SecretString};

use super::Done;
use super::account::{Action, act, report};
use crate::cli::{Global, PasswordChangeArgs};
use crate::error::Error;
use crate::password::{self, Generated};
use crate::password_store::Store;
use crate::report::{HostError, Report};

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
    let maybe_held = fanned.finished.iter().any(|f| may_hold(&f.result));
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
    let fields = super::fields::Password {
        user: &args.user,
        keep_sessions: args.keep_sessions,
        set_on: &set_on,
        generated_password: shown.as_deref(),
    };
    let mut report = report("password", &args.run, &fields, fanned);
    report.notes.extend(notes);
    Ok(report)
}

/// Whether a host may now hold the new password. Any failure but one before anything was sent
/// may leave it set: MAS sets it and then ends the sessions in a second request
/// (kill_sessions.rs), whose failure fails the host; a lost answer is a failure too. A
/// generated password's file is kept then.
fn may_hold(result: &Result<Done, HostError>) -> bool {
    !matches!(
        result,
        Err(HostError::Setup(_) | HostError::NotStarted)
            | Ok(Done {
                outcome: Outcome::Already { .. } | Outcome::WouldDo { .. },
                ..
            })
    )
}

#[cfg(test)]
mod tests {
    use provision_backends::outcome::Changed;
    use provision_backends::{Outcome, UserId};

    use super::{Done, HostError, may_hold};

    fn done(outcome: Outcome) -> Result<Done, HostError> {
        Ok(Done {
            user: UserId::new("john", "example.com").unwrap(),
            outcome,
            admin: None,
            plan: None,
            retried: false,
            failed: None,
        })
    }

    #[test]
    fn a_generated_password_is_kept_unless_no_request_was_sent() {
        let set = Outcome::Done {
            change: Changed::Password,
            note: None,
        };
        assert!(may_hold(&done(set)));
        // Set, then the sessions could not be ended: the host failed, the password is set.
        assert!(may_hold(&Err(HostError::Failed(
            "the password was set, but the sessions were not ended".into()
        ))));
        assert!(may_hold(&Err(HostError::Unreachable("reset".into()))));
        assert!(may_hold(&Err(HostError::TimedOut("5s".into()))));
        assert!(!may_hold(&Err(HostError::Setup("no token".into()))));
        assert!(!may_hold(&Err(HostError::NotStarted)));
        let would = Outcome::WouldDo {
            change: Changed::Password,
        };
        assert!(!may_hold(&done(would)));
    }
}
