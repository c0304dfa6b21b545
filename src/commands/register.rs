//! `provision register USER`: create the user on every selected host; with `--admin` or
//! `--no-admin`, an existing user's flag is brought to match through the host's admin backend.

use std::sync::Arc;

use super::fields;
use provision_backends::user_id::UserArg;
use provision_backends::{ExposeSecret, Op, Outcome, SecretString};

use super::registration::{Request, refuse_dropped_fields, register_user};
use super::{Done, fan_out, select};
use crate::cli::{Global, RegisterArgs};
use crate::error::Error;
use crate::inventory::{Host, Inventory};
use crate::password::{self, Generated};
use crate::password_store::Store;
use crate::report::{HostError, Report};
use crate::router::Router;
use crate::runner::Job;
use provision_backends::registration::{Fields, SsoLink};

pub fn run(global: &Global, args: RegisterArgs) -> Result<Report, Error> {
    let Some(name) = args.user.as_deref() else {
        return super::bulk::run(global, &args);
    };
    // An option that would do nothing here is refused by name, never silently dropped.
    for (given, option, applies) in [
        (
            args.per_host.is_some(),
            "--per-host",
            "to a bulk run (--from FILE)",
        ),
        (
            args.passwords_out.is_some(),
            "--passwords-out",
            "to a bulk run (--from FILE)",
        ),
        (
            args.password_out.is_some() && !args.password.random_password,
            "--password-out",
            "with --random-password",
        ),
    ] {
        if given {
            return Err(Error::Usage(format!("{option} only applies {applies}")));
        }
    }
    let user = UserArg::parse(name).map_err(Error::Usage)?;
    let inventory = Inventory::load(&global.inventory)?;
    let hosts = select(&inventory, args.run.limit.as_deref(), &user)?;
    let wanted = Fields {
        display_name: args.display_name.is_some(),
        emails: !args.emails.is_empty(),
        ignore_password_complexity: args.ignore_password_complexity,
        user_type: args.user_type.is_some(),
        sso: args.sso_provider.is_some(),
    };
    // Checked before any host is asked: the provider id and subject go into a URL and a body.
    let sso = match (&args.sso_provider, &args.sso_subject) {
        (Some(provider), Some(subject)) => {
            Some(SsoLink::new(provider, subject).map_err(Error::Usage)?)
        }
        _ => None,
    };
    refuse_dropped_fields(&hosts, &wanted, "")?;
    let check = args.run.check;
    // --check changes nothing, so it needs no password (and must not consume stdin or prompt).
    let store = match (&args.password_out, check) {
        (Some(path), false) => Some(Store::open(path, "--password-out")?),
        _ => None,
    };
    let password = if check {
        None
    } else {
        Some(password::obtain(&args.password, store.as_ref())?)
    };
    let client = crate::transport::http_client(args.run.insecure).map_err(Error::Usage)?;
    let admin = args.admin_flag();
    let request = Arc::new(Request {
        password: password
            .as_ref()
            .map(|p| p.secret.clone())
            .unwrap_or_else(|| SecretString::from("")),
        admin,
        display_name: args.display_name.clone(),
        emails: args.emails.clone(),
        ignore_password_complexity: args.ignore_password_complexity,
        user_type: args.user_type.map(|t| t.name().to_owned()),
        sso,
        check,
    });
    let super::Fanned {
        finished, reports, ..
    } = fan_out(global, &args.run, &hosts, |host| {
        register_on(host, &user, request.clone(), &client)
    })?;

    let hosts_where = |wanted: fn(&Outcome) -> bool| -> Vec<&str> {
        finished
            .iter()
            .filter(|f| f.result.as_ref().is_ok_and(|d| wanted(&d.outcome)))
            .map(|f| f.host.as_str())
            .collect()
    };
    let set_on = hosts_where(|o| matches!(o, Outcome::Created { .. }));
    let existed_on = hosts_where(|o| matches!(o, Outcome::Exists));
    let generated = password.as_ref().and_then(|p| p.generated.as_ref());
    let maybe_held = finished.iter().any(|f| super::may_hold_password(&f.result));
    if let (Some(Generated::Written(_)), Some(store), false) = (generated, &store, maybe_held) {
        // This run wrote the file and no host took its password: it must not look like one.
        // Failing that, the run's results stand and the operator is told.
        if let Err(e) = store.remove() {
            tracing::warn!("{e}; no host uses the password in it");
        }
    }
    let shown = match generated {
        Some(Generated::Show) if maybe_held => password.as_ref().map(|p| p.secret.expose_secret()),
        _ => None,
    };
    let password_report = generated.map(|g| fields::PasswordSet {
        source: match g {
            Generated::Reused(_) => "kept",
            _ => "generated",
        },
        file: match g {
            Generated::Written(p) | Generated::Reused(p) => Some(p.display().to_string()),
            Generated::Show => None,
        },
        set_on: set_on.clone(),
        existed_on: existed_on.clone(),
    });
    let mut report = Report::new("register", check, reports).with(&fields::Register {
        user: name,
        admin,
        generated_password: shown,
        password: password_report,
    });
    if let Some(generated) = generated {
        report.notes = password_lines(generated, shown, &set_on, &existed_on, maybe_held);
    }
    Ok(super::retry_file(&args.run, report))
}

/// What the operator must be told about a password provision made up (or took from a file).
fn password_lines(
    generated: &Generated,
    shown: Option<&str>,
    set_on: &[&str],
    existed_on: &[&str],
    maybe_held: bool,
) -> Vec<String> {
    let mut lines = Vec::new();
    if set_on.is_empty() && maybe_held {
        lines.push(match generated {
            Generated::Written(p) | Generated::Reused(p) => format!(
                "No host reported creating the user, but a request may have gone through before its answer was lost: {} is kept.",
                p.display()
            ),
            Generated::Show => format!(
                "No host reported creating the user, but a request may have gone through before its answer was lost; the generated password (shown once): {}",
                shown.unwrap_or("")
            ),
        });
        return lines;
    }
    if set_on.is_empty() {
        lines.push(match generated {
            Generated::Written(p) => format!(
                "The generated password was not used: no user was created ({} was removed).",
                p.display()
            ),
            Generated::Reused(p) => format!("No user was created; {} is unchanged.", p.display()),
            Generated::Show => "The generated password was not used: no user was created.".into(),
        });
        return lines;
    }
    lines.push(match generated {
        Generated::Show => format!("Generated password (shown once): {}", shown.unwrap_or("")),
        Generated::Written(p) => format!("Generated password written to {}", p.display()),
        Generated::Reused(p) => format!(
            "Used the password kept in {} (written by an earlier run)",
            p.display()
        ),
    });
    if !existed_on.is_empty() {
        lines.push(format!(
            "It applies on: {}. It does not apply on: {} (the user already existed there).",
            set_on.join(", "),
            existed_on.join(", ")
        ));
    }
    lines
}

fn register_on(
    host: &Host,
    user: &UserArg,
    request: Arc<Request>,
    client: &reqwest::Client,
) -> Job<Done> {
    let user = user.on_server(&host.server_name);
    let target = Router::new(host, client, &request.ops());
    let via = target
        .as_ref()
        .map(|t| t.via(Op::Register))
        .unwrap_or_default();
    Box::pin(async move {
        let user = user.map_err(HostError::Setup)?;
        let target = target.map_err(HostError::Setup)?;
        let done = register_user(&target, user, &request).await;
        target.close().await;
        let mut done = done?;
        done.plan = request.check.then_some(via);
        Ok(done)
    })
}
