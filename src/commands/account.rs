//! The verbs that change one user on every selected host — `admin`, `lock`, `unlock`,
//! `deactivate`, `reactivate`, `password` — share this: pick the hosts that serve the user,
//! build each host's router with the backend the verb needs, and report per host.

use std::sync::Arc;

use provision_backends::user_id::UserArg;
use provision_backends::{Change, Failure, Op, Outcome, SecretString, UserId};

use super::{Done, Fanned, fan_out, select};
use crate::cli::{DeactivateArgs, Global, ReactivateArgs, RunArgs, UserArgs};
use crate::error::Error;
use crate::inventory::Inventory;
use crate::password;
use crate::report::{HostError, Report};
use crate::router::Router;

/// What a verb asks of each host.
pub enum Action {
    Admin(bool),
    Lock(bool),
    Deactivate {
        erase: bool,
    },
    Reactivate {
        password: Option<SecretString>,
    },
    Password {
        password: SecretString,
        logout: bool,
    },
}

impl Action {
    fn op(&self) -> Op {
        match self {
            Action::Admin(_) => Op::SetAdmin,
            Action::Lock(_) => Op::Lock,
            Action::Deactivate { .. } => Op::Deactivate,
            Action::Reactivate { .. } => Op::Reactivate,
            Action::Password { .. } => Op::SetPassword,
        }
    }

    async fn on(&self, router: &Router, user: &UserId, check: bool) -> Result<Outcome, Failure> {
        let change = match self {
            Action::Admin(on) => return router.admin(user, *on, check).await,
            Action::Lock(lock) => Change::Lock(*lock),
            Action::Deactivate { erase } => Change::Deactivate { erase: *erase },
            Action::Reactivate { password } => Change::Reactivate {
                password: password.as_ref(),
            },
            Action::Password { password, logout } => Change::Password {
                password,
                logout: *logout,
            },
        };
        router.change(user, &change, check).await
    }
}

/// Runs `action` for `user` on every selected host that serves it.
pub fn act(
    global: &Global,
    run: &RunArgs,
    user: &str,
    action: Action,
) -> Result<Fanned<Done>, Error> {
    let user = UserArg::parse(user).map_err(Error::Usage)?;
    let inventory = Inventory::load(&global.inventory)?;
    let hosts = select(&inventory, run.limit.as_deref(), &user)?;
    let client = crate::transport::http_client(run.insecure).map_err(Error::Usage)?;
    let check = run.check;
    let (user, action) = (Arc::new(user), Arc::new(action));
    fan_out(global, run, &hosts, |host| {
        let user = user.on_server(&host.server_name);
        let op = action.op();
        let router = Router::new(host, &client, &[op]);
        let via = router.as_ref().map(|r| r.via(op)).unwrap_or_default();
        let action = action.clone();
        Box::pin(async move {
            let user = user.map_err(HostError::Setup)?;
            let router = router.map_err(HostError::Setup)?;
            let outcome = action.on(&router, &user, check).await;
            router.close().await;
            Ok(Done {
                user,
                outcome: outcome?,
                admin: None,
                plan: check.then_some(via),
                retried: false,
                failed: None,
            })
        })
    })
}

/// The report of a verb about one user.
pub fn report(
    command: &'static str,
    run: &RunArgs,
    fields: &impl serde::Serialize,
    fanned: Fanned<Done>,
) -> Report {
    let report = Report::new(command, run.check, fanned.reports).with(fields);
    super::retry_file(run, report)
}

pub fn lock(global: &Global, args: UserArgs, lock: bool) -> Result<Report, Error> {
    let fanned = act(global, &args.run, &args.user, Action::Lock(lock))?;
    let command = if lock { "lock" } else { "unlock" };
    let user = super::fields::User { user: &args.user };
    Ok(report(command, &args.run, &user, fanned))
}

pub fn deactivate(global: &Global, args: DeactivateArgs) -> Result<Report, Error> {
    let action = Action::Deactivate { erase: args.erase };
    let fanned = act(global, &args.run, &args.user, action)?;
    let fields = super::fields::Deactivate {
        user: &args.user,
        erase: args.erase,
    };
    Ok(report("deactivate", &args.run, &fields, fanned))
}

pub fn reactivate(global: &Global, args: ReactivateArgs) -> Result<Report, Error> {
    let p = &args.password;
    let given = p.password_file.is_some() || p.password_stdin || p.password.is_some();
    if p.random_password {
        return Err(Error::Usage(
            "reactivate takes a password from --password-file, --password-stdin or --password; set a generated one with `provision password --random-password` afterwards".into(),
        ));
    }
    // --check changes nothing, so it needs no password (and must not consume stdin).
    let password = match (given, args.run.check) {
        (true, false) => Some(password::obtain(p, None)?.secret),
        _ => None,
    };
    let fanned = act(
        global,
        &args.run,
        &args.user,
        Action::Reactivate { password },
    )?;
    let user = super::fields::User { user: &args.user };
    Ok(report("reactivate", &args.run, &user, fanned))
}
