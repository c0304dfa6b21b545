//! `provision register --from FILE`: many users on many hosts. Each host gets one job (one SSH
//! connection, one database connection), inside which at most `--per-host` users are registered
//! at once, so no server is overrun. Users that exist are "ok": a re-run finishes what an
//! interrupted one left.

use std::sync::Arc;

use indicatif::MultiProgress;

use provision_backends::Op;
use provision_backends::registration::Fields;

use super::Done;
use super::registration::{Request, refuse_dropped_fields, register_user};
use crate::cli::{Global, RegisterArgs};
use crate::error::Error;
use crate::inventory::{Host, Inventory};
use crate::password_store::Store;
use crate::report::{HostError, HostReport, Report, UserReport, Verdict};
use crate::router::Router;
use crate::runner::{self, Finished, Job};
use crate::users::{self, BulkUser};

/// Each user's result on one host, in the users file's order.
type HostResults = Vec<Result<Done, HostError>>;

pub fn run(global: &Global, args: &RegisterArgs) -> Result<Report, Error> {
    let path = args.from.as_deref().expect("bulk runs have --from");
    let file = users::load(path)?;
    file.only_present()?;
    let inventory = Inventory::load(&global.inventory)?;
    let hosts = inventory.select(file.limit(args.run.limit.as_deref()))?;
    let users = file.users;
    // --display-name and --email conflict with --from (clap): the users file sets them.
    let wanted = Fields {
        display_name: users.iter().any(|u| u.display_name.is_some()),
        emails: users.iter().any(|u| u.emails.is_some()),
        ignore_password_complexity: args.ignore_password_complexity,
        user_type: args.user_type.is_some()
            || users.iter().any(|u| matches!(u.user_type, Some(Some(_)))),
        sso: users.iter().any(|u| u.sso.is_some()),
    };
    refuse_dropped_fields(&hosts, &wanted, "the users or options ask for fields that ")?;
    let check = args.run.check;
    let store = match (&args.passwords_out, check) {
        (Some(out), false) => Some(Store::open(out, "--passwords-out")?),
        _ => None,
    };
    let passwords = if check {
        None
    } else {
        Some(crate::password::bulk(&users, store.as_ref())?)
    };
    let default_admin = args.admin_flag();
    let requests: Arc<Vec<(String, Request)>> = Arc::new(
        users
            .iter()
            .enumerate()
            .map(|(i, u)| {
                let password = passwords.as_ref().and_then(|p| p.passwords.get(i));
                (u.name.clone(), request(u, password, default_admin, args))
            })
            .collect(),
    );
    let users: Arc<Vec<BulkUser>> = Arc::new(users);
    let client = crate::transport::http_client(args.run.insecure).map_err(Error::Usage)?;
    let per_host = usize::from(args.per_host.unwrap_or(4));
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
        |f| host_report(f, &users),
    )?;
    let finished = fanned.finished;
    if let (Some(passwords), Some(store)) = (&passwords, &store) {
        // A user's generated password stays in the file when some host may hold it: created
        // with it, or a request that may have gone through before its answer was lost.
        let held: std::collections::HashSet<&str> = users
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                finished.iter().any(|f| match &f.result {
                    Ok(results) => results.get(*i).is_some_and(super::may_hold_password),
                    // A host that failed as a whole got at most its first user's request.
                    Err(e) => *i == 0 && super::may_hold_password(&Err(e.clone())),
                })
            })
            .map(|(_, u)| u.name.as_str())
            .collect();
        // The users are registered by now: a file that cannot be tidied is said, and the
        // run's results stand (it still holds every row written before the run).
        if let Err(e) = passwords.settle(store, |name| held.contains(name)) {
            tracing::warn!("{e}; it keeps the rows written before the run");
        }
    }
    let mut report = Report::new("register", check, fanned.reports).with(&super::fields::From {
        from: path.display().to_string(),
    });
    report.bulk = true;
    if let Some(store) = store.as_ref().filter(|s| s.exists()) {
        report.notes.push(format!(
            "Generated passwords are in {}",
            store.path().display()
        ));
    }
    Ok(super::retry_file(&args.run, report))
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
        emails: u.emails.clone().unwrap_or_default(),
        ignore_password_complexity: args.ignore_password_complexity,
        // The file's word for this user, else --user-type.
        user_type: u
            .user_type
            .clone()
            .unwrap_or_else(|| args.user_type.map(|t| t.name().to_owned())),
        sso: u.sso.clone(),
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
    let ops: Vec<Op> = requests.iter().flat_map(|(_, r)| r.ops()).collect();
    let target = Router::new(host, client, &ops).map(Arc::new);
    let ids: Vec<Result<provision_backends::UserId, String>> = users
        .iter()
        .map(|u| u.user.on_server(&host.server_name))
        .collect();
    let bar = runner::host_bar(progress, &host.name, users.len());
    Box::pin(async move {
        let target = target.map_err(HostError::Setup)?;
        // Until a user is done it stays "timed out": if --timeout ends the work, the users
        // finished before it keep their results and only the rest are reported so.
        let mut results: HostResults = (0..users.len())
            .map(|_| Err(HostError::TimedOut(UNFINISHED.to_owned())))
            .collect();
        let work = register_all(&target, ids, &requests, per_host, &bar, &mut results);
        let done = tokio::time::timeout_at(runner::deadline(), work).await;
        bar.finish_and_clear();
        close(target).await;
        match done {
            Ok(Ok(())) => Ok(results),
            Ok(Err(unreachable)) => Err(unreachable),
            Err(_)
                if results
                    .iter()
                    .all(|r| matches!(r, Err(HostError::TimedOut(_)))) =>
            {
                Err(runner::out_of_time())
            }
            Err(_) => Ok(results),
        }
    })
}

/// What a user still in progress (or waiting) when the host's --timeout ran out reports.
const UNFINISHED: &str = "not finished when the host's --timeout ran out";

/// Registers every user on one host, filling `results` as each finishes. Fails only when the
/// host cannot be reached at all (found with the first user).
async fn register_all(
    target: &Arc<Router>,
    ids: Vec<Result<provision_backends::UserId, String>>,
    requests: &Arc<Vec<(String, Request)>>,
    per_host: usize,
    bar: &indicatif::ProgressBar,
    results: &mut HostResults,
) -> Result<(), HostError> {
    let mut ids = ids.into_iter().enumerate();
    // The first user goes alone: a host that cannot be reached fails once, with the
    // reason, rather than once per user after every user's retries.
    if let Some((i, id)) = ids.next() {
        let result = one_user(target, id, &requests[i].1).await;
        bar.inc(1);
        if let Err(HostError::Unreachable(why)) = &result {
            return Err(HostError::Unreachable(why.clone()));
        }
        results[i] = result;
    }
    // Set when the host stops answering mid-run (after the transport's retries): the users
    // not yet started are then reported at once instead of each waiting out the retries.
    let down: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
    let rest: Vec<(usize, _)> = ids.collect();
    let positions: Vec<usize> = rest.iter().map(|(i, _)| *i).collect();
    let tasks = rest.into_iter().map(|(i, id)| {
        let (target, requests, bar, down) =
            (target.clone(), requests.clone(), bar.clone(), down.clone());
        Box::pin(runner::same_host(async move {
            let went_down = down.lock().ok().and_then(|d| d.clone());
            let result = if runner::interrupted() {
                Err(HostError::NotStarted)
            } else if let Some(why) = went_down {
                Err(HostError::Unreachable(format!(
                    "not attempted: the host stopped answering ({why})"
                )))
            } else {
                one_user(&target, id, &requests[i].1).await
            };
            if let (Err(HostError::Unreachable(why)), Ok(mut d)) = (&result, down.lock()) {
                d.get_or_insert(why.clone());
            }
            bar.inc(1);
            result
        })) as runner::Task<_>
    });
    // When --timeout ends this future, the runner's tasks are dropped (aborted) with it.
    runner::bounded(tasks, per_host, |n, result| results[positions[n]] = result).await;
    Ok(())
}

/// One user on this host, its user ID already placed on the host's server (or why not).
async fn one_user(
    target: &Router,
    id: Result<provision_backends::UserId, String>,
    request: &Request,
) -> Result<Done, HostError> {
    match id {
        Ok(id) => register_user(target, id, request)
            .await
            .map_err(HostError::from),
        Err(e) => Err(HostError::Setup(e)),
    }
}

async fn close(target: Arc<Router>) {
    if let Ok(target) = Arc::try_unwrap(target) {
        target.close().await;
    }
}

fn user_report(u: &BulkUser, result: &Result<Done, HostError>) -> UserReport {
    let (user_id, verdict) = super::reported(result);
    UserReport {
        user_id,
        user: u.name.clone(),
        verdict,
    }
}

/// A host's line: the host's own error if it could not be worked on (every user then counts
/// with that status), else the summary of its users' results.
fn host_report(f: &Finished<HostResults>, users: &[BulkUser]) -> HostReport {
    match &f.result {
        Ok(results) => {
            let reports = users.iter().zip(results).map(|(u, r)| user_report(u, r));
            HostReport::of_users(&f.host, reports.collect(), f.elapsed)
        }
        Err(e) => {
            let reports = users.iter().map(|u| user_report(u, &Err(e.clone())));
            HostReport::new(&f.host, None, Verdict::from(e), f.elapsed)
                .with_users(reports.collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use provision_backends::{Outcome, UserId};

    use super::{Done, HostResults, host_report};
    use crate::render;
    use crate::report::{HostError, Report};
    use crate::runner::Finished;
    use crate::users::BulkUser;

    fn user(name: &str) -> BulkUser {
        crate::users::BulkUser::new(name).unwrap()
    }

    fn finished(host: &str, result: Result<HostResults, HostError>) -> Finished<HostResults> {
        Finished {
            host: host.to_owned(),
            result,
            elapsed: Duration::from_millis(5),
        }
    }

    /// A bulk run's document: `users` (the counts) and `host_users` (each host's line, its
    /// users' counts and each user's result, `user_id` null when there is none).
    #[test]
    fn bulk_json_lists_each_hosts_users_in_the_documented_shape() {
        let users = [user("ann"), user("bob"), user("cy")];
        let created = Done {
            user: UserId::new("ann", "example.com").unwrap(),
            outcome: Outcome::Created { admin: false },
            admin: None,
            plan: None,
            retried: false,
            failed: None,
        };
        let results: HostResults = vec![
            Ok(created),
            Err(HostError::Failed("User ID already taken? no: bad".into())),
            Err(HostError::TimedOut("not finished".into())),
        ];
        let hosts = vec![
            host_report(&finished("matrix1", Ok(results)), &users),
            host_report(
                &finished("matrix2", Err(HostError::Setup("no secret".into()))),
                &users[..1],
            ),
        ];
        let mut report =
            Report::new("register", false, hosts).with(&crate::commands::fields::From {
                from: "users.yaml".into(),
            });
        report.bulk = true;
        let json = serde_json::to_string(&render::document(&report)).unwrap();
        let matrix1 = r#""host":"matrix1","status":"failed","message":"3 users: 1 created, 1 failed, 1 timed_out","elapsed_ms":5"#;
        let matrix2 = r#""host":"matrix2","status":"failed","error":"setup","message":"no secret","elapsed_ms":5"#;
        assert_eq!(
            json,
            [
                r#"{"command":"register","check":false,"hosts":[{"#,
                matrix1,
                "},{",
                matrix2,
                r#"}],"recap":{"ok":0,"changed":0,"unreachable":0,"failed":2,"not_started":0},"from":"users.yaml","#,
                r#""users":{"ok":0,"changed":1,"unreachable":0,"failed":3,"not_started":0},"#,
                r#""host_users":[{"#,
                matrix1,
                r#","users_recap":{"ok":0,"changed":1,"unreachable":0,"failed":2,"not_started":0},"users":["#,
                r#"{"user_id":"@ann:example.com","user":"ann","status":"changed","outcome":"created","message":"created (user)"},"#,
                r#"{"user_id":null,"user":"bob","status":"failed","error":"failed","message":"User ID already taken? no: bad"},"#,
                r#"{"user_id":null,"user":"cy","status":"failed","error":"timed_out","message":"not finished"}]},{"#,
                matrix2,
                r#","users_recap":{"ok":0,"changed":0,"unreachable":0,"failed":1,"not_started":0},"users":["#,
                r#"{"user_id":null,"user":"ann","status":"failed","error":"setup","message":"no secret"}]}]}"#,
            ]
            .concat()
        );
    }
}
