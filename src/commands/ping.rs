//! `provision ping`: for each host, the connection works, the backend's tool or endpoint
//! answers, the admin backend answers, and every secret source resolves. Changes nothing.

use serde::Serialize;

use super::{fan_out_with, finish};
use crate::cli::{Global, PingArgs};
use crate::error::Error;
use crate::inventory::Inventory;
use crate::report::{self, HostReport, Status};
use crate::runner::Finished;
use crate::target::Target;

pub fn run(global: &Global, args: PingArgs) -> Result<u8, Error> {
    let inventory = Inventory::load(&global.inventory)?;
    let hosts = inventory.select(args.run.limit.as_deref())?;
    let client = crate::transport::http_client(args.run.insecure).map_err(Error::Usage)?;
    let fanned = fan_out_with(
        global,
        &args.run,
        &hosts,
        |host, _| {
            let target = Target::new(host, &client, true);
            Box::pin(async move {
                let target = target?;
                let said = target.ping().await;
                target.close().await;
                said.map_err(|e| e.to_string())
            })
        },
        to_report,
        |f, width| crate::out!("{}", report::human_line(&to_report(f), width)),
    )?;
    #[derive(Serialize)]
    struct Extra {}
    Ok(finish(
        global,
        "ping",
        false,
        &fanned.reports,
        fanned.recap,
        Extra {},
    ))
}

fn to_report(f: &Finished<String>) -> HostReport {
    let (status, outcome, message) = match &f.result {
        Ok(said) => (Status::Ok, Some("pong"), said.clone()),
        Err(e) => (Status::Failed, None, e.clone()),
    };
    HostReport {
        host: f.host.clone(),
        user_id: None,
        status,
        outcome,
        admin: None,
        message,
        elapsed_ms: f.elapsed.as_millis() as u64,
    }
}
