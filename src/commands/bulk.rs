//! `provision register --from FILE`: many users on many hosts. Each host gets one job (one SSH
//! connection, one database connection), inside which at most `--per-host` users are registered
//! at once, so no server is overrun. Users that exist are "ok": a re-run finishes what an
//! interrupted one left.

use std::sync::Arc;
use std::time::Duration;

use indicatif::MultiProgress;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use provision_backends::Failure;

use super::register::{Request, register_user};
use super::{Done, finish};
use crate::cli::{Global, Output, RegisterArgs};
use crate::error::Error;
use crate::inventory::{Host, Inventory};
use crate::report::{HostReport, Recap, Status};
use crate::runner::{self, Finished, Job};
use crate::target::Target;
use crate::users::{self, BulkUser};

/// Each user's result on one host, in the users file's order.
type HostResults = Vec<Result<Done, String>>;

/// One user's result on a host, as `--output json` lists it.
#[derive(Serialize)]
struct UserReport {
    user_id: Option<String>,
    user: String,
    status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    admin: Option<&'static str>,
    message: String,
}

#[derive(Serialize, Default, Clone, Copy)]
struct UserRecap {
    ok: usize,
    changed: usize,
    failed: usize,
}

pub fn run(global: &Global, args: &RegisterArgs) -> Result<u8, Error> {
    let path = args.from.as_deref().expect("bulk runs have --from");
    let users = users::load(path)?;
    let inventory = Inventory::load(&global.inventory)?;
    let hosts = inventory.select(args.run.limit.as_deref())?;
    let check = args.run.check;
    let passwords = if check {
        Vec::new()
    } else {
        crate::password::bulk(&users, args.passwords_out.as_deref())?
    };
    let default_admin = args.admin_flag();
    let requests: Arc<Vec<(String, Request)>> = Arc::new(
        users
            .iter()
            .enumerate()
            .map(|(i, u)| {
                (
                    u.name.clone(),
                    request(u, passwords.get(i), default_admin, args),
                )
            })
            .collect(),
    );
    let users: Arc<Vec<BulkUser>> = Arc::new(users);
    let client = crate::transport::http_client(args.run.insecure).map_err(Error::Usage)?;
    let per_host = usize::from(args.per_host);
    let fanned = super::fan_out_with(
        global,
        &args.run,
        &hosts,
        |host, progress| {
            host_job(
                host,
                users.clone(),
                requests.clone(),
                &client,
                per_host,
                progress,
            )
        },
        |f| host_report(f, &users).0,
        |f, width| print_host(f, &users, width),
    )?;
    let finished = fanned.finished;
    let human = global.output == Output::Human;
    let mut user_recap = UserRecap::default();
    let mut hosts_out = Vec::new();
    let mut reports = Vec::new();
    for f in &finished {
        let (report, user_reports) = host_report(f, &users);
        for u in &user_reports {
            match u.status {
                Status::Ok => user_recap.ok += 1,
                Status::Changed => user_recap.changed += 1,
                Status::Failed => user_recap.failed += 1,
            }
        }
        reports.push(report.clone());
        hosts_out.push(HostWithUsers {
            report,
            users: user_reports,
        });
    }
    let recap = Recap::of(&reports);
    #[derive(Serialize)]
    struct Extra<'a> {
        from: String,
        users: UserRecap,
        #[serde(rename = "host_users")]
        hosts: &'a [HostWithUsers],
    }
    let extra = Extra {
        from: path.display().to_string(),
        users: user_recap,
        hosts: &hosts_out,
    };
    let code = finish(global, "register", check, &reports, recap, extra);
    if human {
        crate::out!(
            "USERS  ok={}  changed={}  failed={}",
            user_recap.ok,
            user_recap.changed,
            user_recap.failed
        );
        if let Some(out) = args.passwords_out.as_ref().filter(|p| p.exists()) {
            crate::out!("Generated passwords are in {}", out.display());
        }
    }
    // A user that failed on a host that did not is still a failure of the run.
    Ok(if code == 0 && user_recap.failed > 0 {
        crate::error::EXIT_HOST_FAILED
    } else {
        code
    })
}

#[derive(Serialize)]
struct HostWithUsers {
    #[serde(flatten)]
    report: HostReport,
    users: Vec<UserReport>,
}

fn request(
    u: &BulkUser,
    password: Option<&provision_backends::SecretString>,
    default_admin: Option<bool>,
    args: &RegisterArgs,
) -> Request {
    Request {
        password: password
            .cloned()
            .unwrap_or_else(|| provision_backends::SecretString::from("")),
        admin: u.admin.or(default_admin),
        display_name: u.display_name.clone(),
        emails: u.email.iter().cloned().collect(),
        ignore_password_complexity: args.ignore_password_complexity,
        check: args.run.check,
    }
}

fn host_job(
    host: &Host,
    users: Arc<Vec<BulkUser>>,
    requests: Arc<Vec<(String, Request)>>,
    client: &reqwest::Client,
    per_host: usize,
    progress: &MultiProgress,
) -> Job<HostResults> {
    let with_admin = requests.iter().any(|(_, r)| r.admin.is_some());
    let target = Target::new(host, client, with_admin).map(Arc::new);
    let ids: Vec<Result<provision_backends::UserId, String>> = users
        .iter()
        .map(|u| u.user.on_server(&host.server_name))
        .collect();
    let bar = runner::host_bar(progress, &host.name, users.len());
    Box::pin(async move {
        let target = target?;
        let mut results: HostResults = (0..users.len())
            .map(|_| Err("not run".to_owned()))
            .collect();
        let mut ids = ids.into_iter().enumerate();
        // The first user goes alone: a host that cannot be reached fails once, with the
        // reason, rather than once per user after every user's retries.
        if let Some((i, id)) = ids.next() {
            let result = match id {
                Ok(id) => register_user(&target, id, &requests[i].1).await,
                Err(e) => Err(Failure::Rejected(e)),
            };
            bar.inc(1);
            if let Err(Failure::Unreachable(why) | Failure::Permanent(why)) = &result {
                bar.finish_and_clear();
                close(target).await;
                return Err(format!("unreachable: {why}"));
            }
            results[i] = result.map_err(|e| e.to_string());
        }
        let slots = Arc::new(Semaphore::new(per_host));
        // Set when the host stops answering mid-run (after the transport's retries): the users
        // not yet started are then reported at once instead of each waiting out the retries.
        let down: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
        let mut set = JoinSet::new();
        for (i, id) in ids {
            let (target, requests, slots, bar, down) = (
                target.clone(),
                requests.clone(),
                slots.clone(),
                bar.clone(),
                down.clone(),
            );
            set.spawn(async move {
                let _slot = slots.acquire_owned().await.ok();
                let went_down = down.lock().ok().and_then(|d| d.clone());
                let result = match id {
                    _ if runner::interrupted() => Err(runner::NOT_STARTED.to_owned()),
                    _ if went_down.is_some() => Err(format!(
                        "not attempted: the host stopped answering ({})",
                        went_down.unwrap_or_default()
                    )),
                    Ok(id) => match register_user(&target, id, &requests[i].1).await {
                        Err(Failure::Unreachable(why) | Failure::Permanent(why)) => {
                            if let Ok(mut d) = down.lock() {
                                d.get_or_insert(why.clone());
                            }
                            Err(format!("unreachable: {why}"))
                        }
                        other => other.map_err(|e| e.to_string()),
                    },
                    Err(e) => Err(e),
                };
                bar.inc(1);
                (i, result)
            });
        }
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok((i, result)) => results[i] = result,
                Err(e) => tracing::error!("a user task ended abnormally: {e}"),
            }
        }
        bar.finish_and_clear();
        close(target).await;
        Ok(results)
    })
}

async fn close(target: Arc<Target>) {
    if let Ok(target) = Arc::try_unwrap(target) {
        target.close().await;
    }
}

fn user_report(u: &BulkUser, result: &Result<Done, String>) -> UserReport {
    match result {
        Ok(done) => {
            let line = super::to_report(&Finished {
                host: String::new(),
                result: Ok(Done {
                    user: done.user.clone(),
                    outcome: done.outcome.clone(),
                    admin: done.admin.clone(),
                    note: done.note.clone(),
                    plan: None,
                }),
                elapsed: Duration::ZERO,
            });
            UserReport {
                user_id: line.user_id,
                user: u.name.clone(),
                status: line.status,
                outcome: line.outcome,
                admin: line.admin,
                message: line.message,
            }
        }
        Err(e) => UserReport {
            user_id: None,
            user: u.name.clone(),
            status: Status::Failed,
            outcome: None,
            admin: None,
            message: e.clone(),
        },
    }
}

/// A host's line: failed if it could not be worked on or any user failed, changed if any user
/// changed, else ok; the message counts the outcomes.
fn host_report(f: &Finished<HostResults>, users: &[BulkUser]) -> (HostReport, Vec<UserReport>) {
    let elapsed_ms = f.elapsed.as_millis() as u64;
    let results = match &f.result {
        Ok(results) => results,
        Err(e) => {
            let report = HostReport {
                host: f.host.clone(),
                user_id: None,
                status: Status::Failed,
                outcome: None,
                admin: None,
                message: e.clone(),
                elapsed_ms,
            };
            return (report, Vec::new());
        }
    };
    let user_reports: Vec<UserReport> = users
        .iter()
        .zip(results)
        .map(|(u, r)| user_report(u, r))
        .collect();
    let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for u in &user_reports {
        *counts.entry(u.outcome.unwrap_or("failed")).or_default() += 1;
    }
    let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    let status = if user_reports.iter().any(|u| u.status == Status::Failed) {
        Status::Failed
    } else if user_reports.iter().any(|u| u.status == Status::Changed) {
        Status::Changed
    } else {
        Status::Ok
    };
    let report = HostReport {
        host: f.host.clone(),
        user_id: None,
        status,
        outcome: None,
        admin: None,
        message: format!("{} users: {}", user_reports.len(), summary.join(", ")),
        elapsed_ms,
    };
    (report, user_reports)
}

fn print_host(f: &Finished<HostResults>, users: &[BulkUser], width: usize) {
    let (report, user_reports) = host_report(f, users);
    crate::out!("{}", crate::report::human_line(&report, width));
    let failed: Vec<&UserReport> = user_reports
        .iter()
        .filter(|u| u.status == Status::Failed)
        .collect();
    for u in failed.iter().take(20) {
        crate::out!("{:width$}    {}: {}", "", u.user, u.message);
    }
    if failed.len() > 20 {
        crate::out!(
            "{:width$}    … and {} more failed users (--output json lists them all)",
            "",
            failed.len() - 20
        );
    }
}
