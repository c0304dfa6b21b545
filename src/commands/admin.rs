//! `provision admin USER --on|--off`: set a user's admin flag on every selected host, through
//! the host's `admin_backend` (SQL, the Synapse admin API or the MAS admin API).

use std::sync::Arc;

use provision_backends::Op;
use provision_backends::user_id::UserArg;

use super::{Done, fan_out, select};
use crate::cli::{AdminArgs, Global};
use crate::error::Error;
use crate::inventory::Inventory;
use crate::report::{HostError, Report};
use crate::router::Router;

pub fn run(global: &Global, args: AdminArgs) -> Result<Report, Error> {
    let user = UserArg::parse(&args.user).map_err(Error::Usage)?;
    let inventory = Inventory::load(&global.inventory)?;
    let hosts = select(&inventory, args.run.limit.as_deref(), &user)?;
    let client = crate::transport::http_client(args.run.insecure).map_err(Error::Usage)?;
    let (on, check) = (args.on, args.run.check);
    let user = Arc::new(user);
    let super::Fanned { reports, .. } = fan_out(global, &args.run, &hosts, |host| {
        let user = user.on_server(&host.server_name);
        let target = Router::new(host, &client, &[Op::SetAdmin]);
        let via = target
            .as_ref()
            .map(|t| t.via(Op::SetAdmin))
            .unwrap_or_default();
        Box::pin(async move {
            let user = user.map_err(HostError::Setup)?;
            let target = target.map_err(HostError::Setup)?;
            let outcome = target.admin(&user, on, check).await;
            target.close().await;
            let outcome = outcome?;
            Ok(Done {
                user,
                outcome,
                admin: None,
                plan: check.then_some(via),
                retried: false,
                failed: None,
            })
        })
    })?;
    let report = Report::new("admin", check, reports)
        .with("user", &args.user)
        .with("admin", on);
    Ok(super::retry_file(&args.run, report))
}
