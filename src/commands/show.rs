//! `provision show USER`: one user's state on every selected host, read through the first
//! backend of each host that reads users. Changes nothing.

use std::sync::Arc;

use provision_backends::user_id::UserArg;
use provision_backends::{Op, UserId, UserState};

use super::{fan_out_with, select};
use crate::cli::{Global, UserArgs};
use crate::error::Error;
use crate::inventory::Inventory;
use crate::report::{HostError, HostReport, Report, Shown, Verdict};
use crate::router::Router;
use crate::runner::Finished;

pub fn run(global: &Global, args: UserArgs) -> Result<Report, Error> {
    let user = UserArg::parse(&args.user).map_err(Error::Usage)?;
    let inventory = Inventory::load(&global.inventory)?;
    let hosts = select(&inventory, args.run.limit.as_deref(), &user)?;
    let client = crate::transport::http_client(args.run.insecure).map_err(Error::Usage)?;
    let user = Arc::new(user);
    let fanned = fan_out_with(
        global,
        &args.run,
        &hosts,
        |host, _| {
            let user = user.on_server(&host.server_name);
            let router = Router::new(host, &client, &[Op::Read]);
            Box::pin(async move {
                let user = user.map_err(HostError::Setup)?;
                let router = router.map_err(HostError::Setup)?;
                let state = router.read(&user).await;
                router.close().await;
                Ok((user, state?))
            })
        },
        to_report,
    )?;
    let report =
        Report::new("show", false, fanned.reports).with(&super::fields::User { user: &args.user });
    Ok(super::retry_file(&args.run, report))
}

fn to_report(f: &Finished<(UserId, Option<UserState>)>) -> HostReport {
    match &f.result {
        Ok((user, state)) => {
            let (outcome, message) = match state {
                Some(state) => ("exists", describe(state)),
                None => ("absent", "no such user".to_owned()),
            };
            let mut report = HostReport::new(
                &f.host,
                Some(user.to_string()),
                Verdict::ok(outcome, &message),
                f.elapsed,
            );
            report.state = Some(Shown {
                exists: state.is_some(),
                state: state.clone(),
            });
            report
        }
        Err(e) => HostReport::new(&f.host, None, Verdict::from(e), f.elapsed),
    }
}

/// One line: what the host says of the user, and nothing it cannot say.
pub fn describe(state: &UserState) -> String {
    let mut said = vec!["exists".to_owned()];
    let mut flag = |value: Option<bool>, yes: &str, no: &str| {
        if let Some(v) = value {
            said.push(if v { yes } else { no }.to_owned());
        }
    };
    flag(state.admin, "admin", "not admin");
    flag(state.deactivated, "deactivated", "active");
    flag(state.erased.filter(|e| *e), "erased", "");
    flag(state.locked, "locked", "not locked");
    if let Some(Some(name)) = &state.display_name {
        said.push(format!("display name {name:?}"));
    }
    if let Some(emails) = state.emails.as_ref().filter(|e| !e.is_empty()) {
        said.push(format!("email {}", emails.join(", ")));
    }
    if let Some(Some(kind)) = &state.user_type {
        said.push(format!("type {kind}"));
    }
    if let Some(ms) = state.created_ms {
        said.push(format!("created {}", date(ms)));
    }
    if let Some(ms) = state.last_seen_ms {
        said.push(format!("last seen {}", date(ms)));
    }
    said.join(", ")
}

/// `2026-11-24 09:21 UTC` from milliseconds since the epoch (the civil-from-days algorithm of
/// Howard Hinnant's date library, `civil_from_days`).
pub fn date(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let (hour, minute) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02} UTC")
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(super::date(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::date(1_795_944_060_000), "2026-11-29 09:21 UTC");
        assert_eq!(super::date(951_782_400_000), "2000-02-29 00:00 UTC");
    }
}
