//! `provision ping`: for each host, which backend serves what, that the connection works and
//! each backend's tool or endpoint answers, and that every secret source resolves. Changes
//! nothing.

use super::fan_out_with;
use crate::cli::{Global, PingArgs};
use crate::error::Error;
use crate::inventory::Inventory;
use crate::report::{HostError, HostReport, Report, Verdict};
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
            let target = Router::new(host, &client, &Router::everything());
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
    let verdict = match &f.result {
        Ok(said) => Verdict::ok("pong", said),
        Err(e) => Verdict::from(e),
    };
    HostReport::new(&f.host, None, verdict, f.elapsed)
}
