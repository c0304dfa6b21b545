//! What single and bulk registrations share: the request every host gets for one user, the
//! check that no option is silently dropped, and registering one user on one host (then
//! converging its admin flag).

use provision_backends::outcome::Changed;
use provision_backends::registration::{Fields, SsoLink};
use provision_backends::settings::Homeserver;
use provision_backends::{Failure, Op, Outcome, Registration, SecretString, UserId};

use super::Done;
use crate::error::Error;
use crate::inventory::Host;
use crate::router::Router;
use crate::runner;

/// What every host is asked to do for one user.
pub struct Request {
    pub password: SecretString,
    /// `--admin` / `--no-admin`; neither: a new user is a regular user, an existing one is left as it is.
    pub admin: Option<bool>,
    pub display_name: Option<String>,
    pub emails: Vec<String>,
    pub ignore_password_complexity: bool,
    /// `--user-type`: Synapse's `bot` or `support`.
    pub user_type: Option<String>,
    /// The upstream SSO account to link the user to.
    pub sso: Option<SsoLink>,
    pub check: bool,
}

impl Request {
    /// What a host is asked to do for it, for the router to build the backends that do it.
    pub fn ops(&self) -> Vec<Op> {
        let mut ops = vec![Op::Register];
        if self.admin.is_some() {
            ops.push(Op::SetAdmin);
        }
        if self.check {
            ops.push(Op::Read);
        }
        ops
    }
}

/// What a registration on this host passes on besides the password, as its register backend
/// declares it and its homeserver allows.
pub fn passes(host: &Host) -> Fields {
    let mut fields = host
        .first(Op::Register)
        .map_or(Fields::NONE, |b| b.kind.fields);
    // User types are Synapse's (synapse/api/constants.py, `UserTypes`): a backend that
    // passes one on to Synapse has nothing to pass it to on another homeserver.
    fields.user_type &= host.homeserver == Homeserver::Synapse;
    fields
}

/// Refuses a run that would silently drop `--display-name`, `--email` or
/// `--ignore-password-complexity` on some host (`whose` says which users asked, in bulk runs).
pub fn refuse_dropped_fields(hosts: &[&Host], wanted: &Fields, whose: &str) -> Result<(), Error> {
    let mut problems = Vec::new();
    for host in hosts {
        let Some(backend) = host.first(Op::Register) else {
            continue;
        };
        let missing = passes(host).missing(wanted);
        if !missing.is_empty() {
            problems.push(format!(
                "{} (backend {}) cannot pass on {}",
                host.name,
                backend.kind.name,
                missing.join(", ")
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "{whose}{}; leave it out, or use --limit to choose hosts whose backend passes it on",
        problems.join("; ")
    )))
}

/// One user on one host: register it, then, for an existing user and an explicit
/// `--admin`/`--no-admin`, converge its flag. Shared by single and bulk runs.
pub async fn register_user(
    target: &Router,
    user: UserId,
    request: &Request,
) -> Result<Done, Failure> {
    let mut reg = Registration::new(&user, &request.password, request.admin.unwrap_or(false));
    reg.display_name = request.display_name.as_deref();
    reg.emails = &request.emails;
    reg.ignore_password_complexity = request.ignore_password_complexity;
    reg.user_type = request.user_type.as_deref();
    reg.sso = request.sso.as_ref();
    let (outcome, retried) = runner::watch_retries(async {
        if request.check {
            target.plan(&reg).await
        } else {
            target.register(&reg).await
        }
    })
    .await;
    let outcome = outcome?;
    let mut done = Done {
        user,
        outcome,
        admin: None,
        plan: None,
        retried,
        failed: None,
    };
    // An existing user whose SSO link was added (or would be) is still an existing user.
    let existed = matches!(
        done.outcome,
        Outcome::Exists
            | Outcome::Done {
                change: Changed::SsoLinked,
                ..
            }
            | Outcome::WouldDo {
                change: Changed::SsoLinked
            }
    );
    match (request.admin, existed) {
        (Some(flag), true) if target.can(Op::SetAdmin) => {
            match target.admin(&done.user, flag, request.check).await {
                Ok(admin) => done.admin = Some(admin),
                Err(e) => done.failed = Some(format!("the admin flag could not be set: {e}")),
            }
        }
        (Some(flag), true) => {
            // Asked for and not had: the operator must not read "ok" here.
            done.failed = Some(format!(
                "its admin flag cannot be checked or set to {}: this host has no admin_backend (set admin_backend: sql, synapse-api or mas-api)",
                if flag { "on" } else { "off" }
            ));
        }
        _ => {}
    }
    Ok(done)
}
