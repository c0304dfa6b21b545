//! `provision ping`: for each host, the connection works, the backend's tool or endpoint
//! answers, the admin backend answers, and every secret source resolves. Changes nothing.

use provision_backends::Op;

use super::fan_out_with;
use crate::cli::{Global, PingArgs};
use crate::error::Error;
use crate::inventory::Inventory;
use crate::report::{HostError, HostReport, Recap, Report, Status};
use crate::router::Router;
use crate::runner::Finished;

pub fn run(global: &Global, args: PingArgs) -> Result<Report, Error> {
    let inventory = Inventory::load(&global.inventory)?;
    let hosts = inventory.select(args.run.limit.as_deref())?;
    let client = crate::transport::http_client(args.run.insecure).map_err(Error::Usage)?;
    let fanned = fan_out_with(
        global,
        &args.run,
        &hosts,
        |host, _| {
            let target = Router::new(host, &client, &[Op::Register, Op::Read, Op::SetAdmin]);
            Box::pin(async move {
                let target = target.map_err(HostError::Setup)?;
                let said = target.ping().await;
                target.close().await;
                Ok(said?)
            })
        },
        to_report,
    )?;
    Ok(super::retry_file(
        &args.run,
        Report::new("ping", false, fanned.reports),
    ))
}

fn to_report(f: &Finished<String>) -> HostReport {
    let elapsed_ms = f.elapsed.as_millis() as u64;
    match &f.result {
        Ok(said) => HostReport {
            host: f.host.clone(),
            user_id: None,
            status: Status::Ok,
            error: None,
            outcome: Some("pong"),
            admin: None,
            message: crate::output::clean(said),
            elapsed_ms,
            counts: Recap::one(Status::Ok),
            users: Vec::new(),
        },
        Err(e) => HostReport::error(&f.host, e, elapsed_ms),
    }
}
