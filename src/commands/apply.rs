//! `provision apply FILE`: the plan of `provision plan`, shown, confirmed, then made. Each
//! host's changes are the plan's, grouped by user and made in the plan's order for that user
//! (created, then its admin flag, unlock or reactivate, lock, deactivate): a user's later
//! step never runs when an earlier one failed. Users of one host go `--per-host` at a time,
//! hosts `--forks` at a time. Nothing here talks to a server but through the router, and
//! every step is an operation that converges, so running apply again after an interruption
//! plans only what is left and finishes it.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use indexmap::IndexMap;
use provision_backends::{Change, SecretString, UserId};

use super::plan::{self, Planned};
use super::registration::{Request, register_user};
use crate::cli::{ApplyArgs, Global};
use crate::desired::{Action, Kind};
use crate::error::Error;
use crate::inventory::Host;
use crate::password_store::Store;
use crate::report::{HostError, HostPlan, HostReport, Report, Status, UserReport, Verdict};
use crate::router::Router;
use crate::runner::{self, Finished, Job};
use crate::users::BulkUser;

/// One user's steps on one host, in order, with the registration its creation sends.
struct Work {
    /// As the file names it.
    name: String,
    id: UserId,
    actions: Vec<Action>,
    create: Option<Request>,
}

/// What a user's steps did: the words of those done, and the error that stopped the rest.
type Steps = (Vec<String>, Option<HostError>);

pub fn run(global: &Global, args: ApplyArgs) -> Result<Report, Error> {
    let check = args.run.check;
    plan::planned(global, &args.run, &args.file, |planned| {
        if check {
            return Ok(planned.report);
        }
        let pending = pending(&planned.plans);
        if pending.values().all(|n| *n == 0) {
            // Nothing to make: the plan's report says so (and why a host could not tell).
            let mut report = planned.report;
            report.command = "apply";
            report.check = false;
            return Ok(report);
        }
        confirm(args.yes, &pending)?;
        apply(global, &args, planned)
    })
}

/// How many changes of each kind the hosts' plans hold.
fn pending(plans: &[Finished<HostPlan>]) -> IndexMap<Kind, usize> {
    let mut counts: IndexMap<Kind, usize> = Kind::ALL.iter().map(|k| (*k, 0)).collect();
    for plan in plans.iter().filter_map(|f| f.result.as_ref().ok()) {
        for kind in Kind::ALL {
            *counts.entry(kind).or_default() += plan.count(kind);
        }
    }
    counts
}

/// On a terminal, the word `yes`; elsewhere `--yes`, or nothing is changed.
fn confirm(yes: bool, pending: &IndexMap<Kind, usize>) -> Result<(), Error> {
    if yes {
        return Ok(());
    }
    let what: Vec<String> = pending
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(kind, n)| format!("{n} to {}", kind.word()))
        .collect();
    let what = what.join(", ");
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Error::Usage(format!(
            "apply would make changes ({what}) and stdin is not a terminal to confirm them: add --yes"
        )));
    }
    let mut err = std::io::stderr();
    let _ = write!(
        err,
        "Apply these changes ({what})? Only `yes` is accepted: "
    );
    let _ = err.flush();
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Error::Usage(format!("cannot read the answer: {e}")))?;
    match answer.trim() {
        "yes" => Ok(()),
        _ => Err(Error::Usage("not confirmed: nothing was changed".into())),
    }
}

fn apply(global: &Global, args: &ApplyArgs, planned: Planned<'_>) -> Result<Report, Error> {
    let Planned {
        hosts,
        users,
        client,
        plans,
        report: plan_report,
    } = planned;
    // Passwords for the users some host creates: from their password_file, else generated
    // into --passwords-out (a re-run reuses the ones it generated).
    let created: HashSet<String> = plans
        .iter()
        .filter_map(|f| f.result.as_ref().ok())
        .flat_map(|p| &p.changes)
        .filter(|c| matches!(c.action, Action::Create { .. }))
        .map(|c| c.user.to_string())
        .collect();
    let creating: Vec<BulkUser> = users
        .iter()
        .filter(|u| {
            hosts.iter().any(|h| {
                u.user
                    .on_server(&h.server_name)
                    .is_ok_and(|id| created.contains(&id.to_string()))
            })
        })
        .cloned()
        .collect();
    let store = match &args.passwords_out {
        Some(out) => Some(Store::open(out, "--passwords-out")?),
        None => None,
    };
    let passwords = crate::password::bulk(&creating, store.as_ref())?;
    // Indexed once (the first of a name wins, as a search in order would): a search per
    // created user would cost users × users.
    let mut position: HashMap<&str, usize> = HashMap::with_capacity(creating.len());
    for (i, u) in creating.iter().enumerate() {
        position.entry(u.name.as_str()).or_insert(i);
    }
    let password_of = |name: &str| {
        position
            .get(name)
            .and_then(|i| passwords.passwords.get(*i).cloned())
    };

    // Each host's work, from its plan; hosts with nothing to do keep their plan's line.
    let mut work: Vec<Option<Vec<Work>>> = Vec::with_capacity(hosts.len());
    for (host, f) in hosts.iter().zip(&plans) {
        work.push(match &f.result {
            Ok(plan) if !plan.changes.is_empty() => {
                Some(host_work(host, plan, &users, &password_of))
            }
            _ => None,
        });
    }
    let working: Vec<&Host> = hosts
        .iter()
        .zip(&work)
        .filter(|(_, w)| w.is_some())
        .map(|(h, _)| *h)
        .collect();
    let jobs: std::sync::Mutex<Vec<Option<Vec<Work>>>> =
        std::sync::Mutex::new(work.into_iter().filter(|w| w.is_some()).collect());
    let per_host = usize::from(args.per_host.unwrap_or(4));
    let fanned = super::fan_out_with(
        global,
        &args.run,
        &working,
        |host, progress| {
            let index = working
                .iter()
                .position(|h| std::ptr::eq(*h, host))
                .unwrap_or(0);
            let work = jobs
                .lock()
                .ok()
                .and_then(|mut jobs| jobs.get_mut(index).and_then(Option::take))
                .unwrap_or_default();
            host_job(host, work, &client, per_host, progress)
        },
        to_report,
    )?;

    // A generated password stays in the file when a host may hold it: created with it, or a
    // registration whose answer was lost.
    if let Some(store) = &store {
        let held: HashSet<String> = fanned
            .finished
            .iter()
            .flat_map(|f| match &f.result {
                Ok(users) => users
                    .iter()
                    .filter(|(_, _, (done, err))| {
                        done.iter().any(|d| d == "created")
                            || matches!(
                                err,
                                Some(HostError::Unreachable(_) | HostError::TimedOut(_))
                            )
                    })
                    .map(|(name, _, _)| name.clone())
                    .collect::<Vec<_>>(),
                Err(HostError::Unreachable(_) | HostError::TimedOut(_)) => {
                    creating.iter().map(|u| u.name.clone()).collect()
                }
                Err(_) => Vec::new(),
            })
            .collect();
        if let Err(e) = passwords.settle(store, |name| held.contains(name)) {
            tracing::warn!("{e}; it keeps the rows written before the run");
        }
    }

    // Every host in inventory order: those worked on with their users' results, the others
    // with their plan's line.
    let mut applied = fanned.reports.into_iter();
    let reports: Vec<HostReport> = plan_report
        .hosts
        .into_iter()
        .zip(&plans)
        .map(|(planned, f)| match &f.result {
            Ok(plan) if !plan.changes.is_empty() => applied.next().unwrap_or(planned),
            _ => planned,
        })
        .collect();
    let mut report = Report::new("apply", false, reports);
    report.bulk = true;
    // The plan's keys (`from`, `limit`, `unserved`): apply is the plan, made.
    report.extra = plan_report.extra;
    if let Some(store) = store.as_ref().filter(|s| s.exists()) {
        report.notes.push(format!(
            "Generated passwords are in {}",
            store.path().display()
        ));
    }
    Ok(super::retry_file(&args.run, report))
}

/// The plan's changes of one host, grouped by user in the plan's order.
fn host_work(
    host: &Host,
    plan: &HostPlan,
    users: &[BulkUser],
    password_of: &dyn Fn(&str) -> Option<SecretString>,
) -> Vec<Work> {
    // The file's users by their ID on this host, placed once (the first of an ID wins, as a
    // search in file order would): placing every user for every change cost users × changes
    // user IDs built and checked, a third of a second before anything was sent at 1,000 creates.
    let mut by_id: HashMap<UserId, &BulkUser> = HashMap::with_capacity(users.len());
    for u in users {
        if let Ok(id) = u.user.on_server(&host.server_name) {
            by_id.entry(id).or_insert(u);
        }
    }
    let mut work: IndexMap<String, Work> = IndexMap::new();
    // A field the registration cannot take was planned as a step after it.
    let creates = super::registration::passes(host);
    for change in &plan.changes {
        let key = change.user.to_string();
        let file_user = by_id.get(&change.user).copied();
        let entry = work.entry(key).or_insert_with(|| Work {
            name: file_user.map_or_else(|| change.user.to_string(), |u| u.name.clone()),
            id: change.user.clone(),
            actions: Vec::new(),
            create: None,
        });
        if let (Action::Create { admin }, Some(u)) = (&change.action, file_user) {
            entry.create = Some(Request {
                password: password_of(&u.name).unwrap_or_else(|| SecretString::from("")),
                admin: Some(*admin),
                display_name: u.display_name.clone().filter(|_| creates.display_name),
                emails: u
                    .emails
                    .clone()
                    .filter(|_| creates.emails)
                    .unwrap_or_default(),
                ignore_password_complexity: false,
                user_type: u.user_type.clone().flatten().filter(|_| creates.user_type),
                // Refused before a plan (`UsersFile::no_sso`).
                sso: None,
                check: false,
            });
        }
        entry.actions.push(change.action.clone());
    }
    work.into_values().collect()
}

/// Each user's (name in the file, user ID, steps).
type HostResults = Vec<(String, String, Steps)>;

fn host_job(
    host: &Host,
    work: Vec<Work>,
    client: &reqwest::Client,
    per_host: usize,
    progress: &indicatif::MultiProgress,
) -> Job<HostResults> {
    let mut ops: Vec<_> = work
        .iter()
        .flat_map(|w| w.actions.iter().map(|a| a.op()))
        .collect();
    ops.sort_by_key(|op| op.word());
    ops.dedup();
    let router = Router::new(host, client, &ops).map(Arc::new);
    let bar = runner::host_bar(progress, &host.name, work.len());
    Box::pin(async move {
        let router = router.map_err(HostError::Setup)?;
        let work: Vec<Arc<Work>> = work.into_iter().map(Arc::new).collect();
        let mut results: Vec<Option<Steps>> = (0..work.len()).map(|_| None).collect();
        // The first user alone: a host that cannot be reached fails once, with the reason.
        if let Some(first) = work.first() {
            let steps = steps(&router, first).await;
            bar.inc(1);
            if let (done, Some(HostError::Unreachable(why))) = (&steps.0, &steps.1)
                && done.is_empty()
            {
                bar.finish_and_clear();
                close(router).await;
                return Err(HostError::Unreachable(why.clone()));
            }
            results[0] = Some(steps);
        }
        let rest: Vec<(usize, Arc<Work>)> = work.iter().cloned().enumerate().skip(1).collect();
        let positions: Vec<usize> = rest.iter().map(|(i, _)| *i).collect();
        let tasks = rest.into_iter().map(|(_, w)| {
            let (router, bar) = (router.clone(), bar.clone());
            Box::pin(runner::same_host(async move {
                let steps = if runner::interrupted() {
                    (Vec::new(), Some(HostError::NotStarted))
                } else {
                    steps(&router, &w).await
                };
                bar.inc(1);
                steps
            })) as runner::Task<_>
        });
        let all = runner::bounded(tasks, per_host, |n, steps| {
            results[positions[n]] = Some(steps)
        });
        let finished = tokio::time::timeout_at(runner::deadline(), all)
            .await
            .is_ok();
        bar.finish_and_clear();
        close(router).await;
        let unfinished = if finished {
            HostError::Failed("internal error: a user's steps ended abnormally".into())
        } else {
            HostError::TimedOut("not finished when the host's --timeout ran out".into())
        };
        Ok(work
            .iter()
            .zip(results)
            .map(|(w, r)| {
                (
                    w.name.clone(),
                    w.id.to_string(),
                    r.unwrap_or_else(|| (Vec::new(), Some(unfinished.clone()))),
                )
            })
            .collect())
    })
}

async fn close(router: Arc<Router>) {
    if let Ok(router) = Arc::try_unwrap(router) {
        router.close().await;
    }
}

/// One user's steps, in order, each through the router; the first that fails stops the rest.
async fn steps(router: &Router, work: &Work) -> Steps {
    let mut done = Vec::new();
    for action in &work.actions {
        let result = match action {
            Action::Create { .. } => match &work.create {
                Some(request) => register_user(router, work.id.clone(), request)
                    .await
                    .map_err(HostError::from)
                    .and_then(|d| match d.failed {
                        Some(why) => Err(HostError::Failed(why)),
                        None => Ok("created".to_owned()),
                    }),
                None => Err(HostError::Failed("not in the users file".into())),
            },
            Action::SetAdmin { to, .. } => router
                .admin(&work.id, *to, false)
                .await
                .map(|_| if *to { "made admin" } else { "admin removed" }.to_owned())
                .map_err(HostError::from),
            Action::Unlock => change(router, work, Change::Lock(false), "unlocked").await,
            Action::SetDisplayName { to, .. } => {
                change(router, work, Change::DisplayName(to), "display name set").await
            }
            Action::SetEmails { to, .. } => {
                change(router, work, Change::Emails(to), "emails set").await
            }
            Action::SetUserType { to, .. } => {
                let change_to = Change::UserType(to.as_deref());
                change(router, work, change_to, "user type set").await
            }
            Action::Join { room } => {
                change(router, work, Change::Join(room), &format!("joined {room}")).await
            }
            Action::Lock => change(router, work, Change::Lock(true), "locked").await,
            Action::Reactivate => {
                change(
                    router,
                    work,
                    Change::Reactivate { password: None },
                    "reactivated",
                )
                .await
            }
            Action::Deactivate { erase } => {
                let word = if *erase {
                    "deactivated and erased"
                } else {
                    "deactivated"
                };
                change(router, work, Change::Deactivate { erase: *erase }, word).await
            }
        };
        match result {
            Ok(word) => done.push(word),
            Err(e) => return (done, Some(e)),
        }
    }
    (done, None)
}

async fn change(
    router: &Router,
    work: &Work,
    change: Change<'_>,
    word: &str,
) -> Result<String, HostError> {
    router
        .change(&work.id, &change, false)
        .await
        .map(|_| word.to_owned())
        .map_err(HostError::from)
}

fn to_report(f: &Finished<HostResults>) -> HostReport {
    match &f.result {
        Ok(users) => {
            let reports = users
                .iter()
                .map(|(name, id, steps)| user_report(name, id, steps));
            HostReport::of_users(&f.host, reports.collect(), f.elapsed)
        }
        Err(e) => HostReport::new(&f.host, None, Verdict::from(e), f.elapsed),
    }
}

fn user_report(name: &str, id: &str, (done, error): &Steps) -> UserReport {
    let said = done.join(", ");
    let verdict = match error {
        None => Verdict {
            status: Status::Changed,
            error: None,
            outcome: Some("applied"),
            admin: None,
            message: said,
        },
        Some(e) => {
            let mut verdict = Verdict::from(e);
            if !done.is_empty() {
                verdict.message = format!("{said}; then {}", verdict.message);
            }
            verdict
        }
    };
    UserReport {
        user_id: Some(id.to_owned()),
        user: name.to_owned(),
        verdict,
    }
}
