//! `provision register USER`: create the user on every selected host; with `--admin` or
//! `--no-admin`, an existing user's flag is brought to match through the host's admin backend.

use std::sync::Arc;

use provision_backends::user_id::UserArg;
use provision_backends::{ExposeSecret, Failure, Outcome, Registration, SecretString, UserId};
use serde::Serialize;

use super::{Done, fan_out, finish, select};
use crate::cli::{Global, Output, RegisterArgs};
use crate::error::Error;
use crate::inventory::{Host, Inventory};
use crate::password::{self, Generated};
use crate::runner::Job;
use crate::target::Target;

/// What every host is asked to do for one user.
pub(super) struct Request {
    pub password: SecretString,
    /// `--admin` / `--no-admin`; neither: a new user is a regular user, an existing one is left as it is.
    pub admin: Option<bool>,
    pub display_name: Option<String>,
    pub emails: Vec<String>,
    pub ignore_password_complexity: bool,
    pub check: bool,
}

pub fn run(global: &Global, args: RegisterArgs) -> Result<u8, Error> {
    let Some(name) = args.user.as_deref() else {
        return super::bulk::run(global, &args);
    };
    let user = UserArg::parse(name).map_err(Error::Usage)?;
    let inventory = Inventory::load(&global.inventory)?;
    let hosts = select(&inventory, args.run.limit.as_deref(), &user)?;
    let check = args.run.check;
    // --check changes nothing, so it needs no password (and must not consume stdin or prompt).
    let password = if check {
        None
    } else {
        Some(password::obtain(
            &args.password,
            args.password_out.as_deref(),
        )?)
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
        check,
    });
    let super::Fanned {
        finished,
        reports,
        recap,
    } = fan_out(global, &args.run, &hosts, |host| {
        register_on(host, &user, request.clone(), &client)
    })?;

    let created_somewhere = finished.iter().any(|f| {
        matches!(
            &f.result,
            Ok(Done {
                outcome: Outcome::Created { .. },
                ..
            })
        )
    });
    let generated = password.as_ref().and_then(|p| p.generated.as_ref());
    let shown = match generated {
        Some(Generated::Show) if created_somewhere => {
            password.as_ref().map(|p| p.secret.expose_secret())
        }
        _ => None,
    };
    #[derive(Serialize)]
    struct Extra<'a> {
        user: &'a str,
        admin: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        generated_password: Option<&'a str>,
    }
    let code = finish(
        global,
        "register",
        check,
        &reports,
        recap,
        Extra {
            user: name,
            admin,
            generated_password: shown,
        },
    );
    if global.output == Output::Human {
        match generated {
            Some(Generated::Show) if created_somewhere => {
                crate::out!("Generated password (shown once): {}", shown.unwrap_or(""));
            }
            Some(Generated::Written(path)) if created_somewhere => {
                crate::out!("Generated password written to {}", path.display());
            }
            Some(_) => crate::out!("The generated password was not used: no user was created."),
            None => {}
        }
    }
    Ok(code)
}

fn register_on(
    host: &Host,
    user: &UserArg,
    request: Arc<Request>,
    client: &reqwest::Client,
) -> Job<Done> {
    let user = user.on_server(&host.server_name);
    let target = Target::new(host, client, request.admin.is_some());
    let via = target.as_ref().map(|t| t.via(host)).unwrap_or_default();
    Box::pin(async move {
        let user = user?;
        let target = target?;
        let done = register_user(&target, user, &request).await;
        target.close().await;
        let mut done = done.map_err(|e| e.to_string())?;
        done.plan = request.check.then_some(via);
        Ok(done)
    })
}

/// One user on one host: register it, then, for an existing user and an explicit
/// `--admin`/`--no-admin`, converge its flag. Shared by single and bulk runs.
pub(super) async fn register_user(
    target: &Target,
    user: UserId,
    request: &Request,
) -> Result<Done, Failure> {
    let mut reg = Registration::new(&user, &request.password, request.admin.unwrap_or(false));
    reg.display_name = request.display_name.as_deref();
    reg.emails = &request.emails;
    reg.ignore_password_complexity = request.ignore_password_complexity;
    let outcome = if request.check {
        target.plan(&reg).await
    } else {
        target.register(&reg).await
    }?;
    let (admin, note) = match (request.admin, &outcome) {
        (Some(flag), Outcome::Exists) if target.has_admin() => {
            let admin = target
                .admin(&user, flag, request.check)
                .await
                .map_err(|e| {
                    Failure::Rejected(format!("exists, but the admin flag could not be set: {e}"))
                })?;
            (Some(admin), None)
        }
        (Some(_), Outcome::Exists) => (
            None,
            Some("admin flag not checked: this host has no admin_backend".to_owned()),
        ),
        _ => (None, None),
    };
    Ok(Done {
        user,
        outcome,
        admin,
        note,
        plan: None,
    })
}
