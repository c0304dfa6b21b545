//! `provision users`: every user of every selected host, paged from the server's list
//! endpoint. Each row is printed as its page arrives, so a server of 100,000 users is never
//! held in memory; the hosts' lines and the recap come after.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use provision_backends::{ListFilter, Listed, Op};

use super::fan_out_with;
use crate::cli::{Global, UsersArgs};
use crate::error::Error;
use crate::inventory::Inventory;
use crate::render;
use crate::report::{HostReport, Report, Verdict};
use crate::router::Router;
use crate::runner::Finished;

/// What is kept of each page, where the server cannot filter.
#[derive(Clone, Copy)]
struct Keep {
    deactivated: bool,
    locked: bool,
    /// Last seen before this (ms since the epoch), or never.
    seen_before_ms: Option<u64>,
}

impl Keep {
    fn keeps(&self, user: &Listed) -> bool {
        let s = &user.state;
        (!self.deactivated || s.deactivated == Some(true))
            && (!self.locked || s.locked == Some(true))
            && self
                .seen_before_ms
                .is_none_or(|before| s.last_seen_ms.is_none_or(|seen| seen < before))
    }
}

pub fn run(global: &Global, args: UsersArgs) -> Result<Report, Error> {
    let inventory = Inventory::load(&global.inventory)?;
    let hosts = inventory.select(args.run.limit.as_deref())?;
    let client = crate::transport::http_client(args.run.insecure).map_err(Error::Usage)?;
    let filter = ListFilter {
        admins: args.admins,
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as u64;
    let keep = Keep {
        deactivated: args.deactivated,
        locked: args.locked,
        seen_before_ms: args
            .inactive_since
            .map(|d| now_ms.saturating_sub(d.as_millis() as u64)),
    };
    let output = global.output;
    render::users_start(output);
    let fanned = fan_out_with(
        global,
        &args.run,
        &hosts,
        |host, _| {
            let router = Router::new(host, &client, &[Op::List]);
            let name = host.name.clone();
            Box::pin(async move {
                let router = router.map_err(crate::report::HostError::Setup)?;
                let listed = list(&router, &name, &filter, keep, output).await;
                router.close().await;
                Ok(listed?)
            })
        },
        to_report,
    )?;
    let mut report = Report::new("users", false, fanned.reports).with(&super::fields::Users {
        admins: args.admins,
        deactivated: args.deactivated,
        locked: args.locked,
        inactive_since_s: args.inactive_since.map(|d| d.as_secs()),
    });
    report.streamed = true;
    Ok(super::retry_file(&args.run, report))
}

/// Pages through the host's users, printing those kept; how many were.
async fn list(
    router: &Router,
    host: &str,
    filter: &ListFilter,
    keep: Keep,
    output: crate::cli::Output,
) -> Result<u64, provision_backends::Failure> {
    let mut cursor: Option<String> = None;
    let mut shown = 0;
    loop {
        let page = router.list(filter, cursor.as_deref()).await?;
        for user in page.users.iter().filter(|u| keep.keeps(u)) {
            render::user_row(output, host, user);
            shown += 1;
        }
        match page.next {
            // A server that hands back the cursor it was given would page forever.
            Some(next) if cursor.as_deref() != Some(next.as_str()) => cursor = Some(next),
            _ => return Ok(shown),
        }
        if crate::runner::interrupted() {
            return Ok(shown);
        }
    }
}

fn to_report(f: &Finished<u64>) -> HostReport {
    let verdict = match &f.result {
        Ok(n) => Verdict::ok("listed", &format!("{n} users")),
        Err(e) => Verdict::from(e),
    };
    HostReport::new(&f.host, None, verdict, f.elapsed)
}
