//! `provision admin USER --on|--off`: set a user's admin flag on every selected host, through
//! the host's `admin_backend` (SQL, the Synapse admin API or the MAS admin API).

use super::account::{Action, act, report};
use crate::cli::{AdminArgs, Global};
use crate::error::Error;
use crate::report::Report;

pub fn run(global: &Global, args: AdminArgs) -> Result<Report, Error> {
    let fanned = act(global, &args.run, &args.user, Action::Admin(args.on))?;
    let fields = super::fields::Admin {
        user: &args.user,
        admin: args.on,
    };
    Ok(report("admin", &args.run, &fields, fanned))
}
