//! `provision plan FILE`: what it would take to bring every selected host's users to what the
//! users file wants (created, admin or not, display name, emails, rooms, locked,
//! deactivated), read from each host and changed nowhere. Each host's users are read through
//! its list endpoint when it has one (keeping only the file's users, so memory follows the
//! file, not the server), else one by one; a host that can read neither says so for every
//! user. What a listing leaves out (emails, rooms) is read for the users whose wishes need it,
//! and only for them. `provision apply` makes the changes planned here.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use provision_backends::registration::Fields;
use provision_backends::user_id::UserArg;
use provision_backends::{Failure, ListFilter, Op, UserId, UserState};

use super::fan_out_with;
use crate::cli::{Global, PlanArgs, RunArgs};
use crate::desired::{self, Rooms, Wanted};
use crate::error::{Error, or_list};
use crate::inventory::{Host, Inventory};
use crate::registry;
use crate::report::{HostError, HostPlan, HostReport, Report, Verdict};
use crate::router::Router;
use crate::runner::{self, Finished, Job};
use crate::users::{self, BulkUser};

/// What a plan may ask of a host: reading its users, and knowing whether it could make each
/// kind of change.
const OPS: &[Op] = &[
    Op::List,
    Op::Read,
    Op::Register,
    Op::SetAdmin,
    Op::Lock,
    Op::Deactivate,
    Op::Reactivate,
    Op::Profile,
    Op::Join,
];

/// How many users of one host are read at once, where the host cannot list them.
const READS_AT_ONCE: usize = 4;

pub fn run(global: &Global, args: PlanArgs) -> Result<Report, Error> {
    planned(global, &args.run, &args.file, |p| Ok(p.report))
}

/// Every selected host planned: what `apply` goes on from.
pub struct Planned<'a> {
    pub hosts: Vec<&'a Host>,
    pub users: Arc<Vec<BulkUser>>,
    pub client: reqwest::Client,
    /// Each host's plan, in the order of `hosts`.
    pub plans: Vec<Finished<HostPlan>>,
    /// The plan as `provision plan` reports it.
    pub report: Report,
}

/// Reads the users file and the inventory, plans every selected host (printing each host's
/// plan as it comes, for a person), and hands the result to `then`.
pub fn planned<R>(
    global: &Global,
    run: &RunArgs,
    path: &Path,
    then: impl FnOnce(Planned<'_>) -> Result<R, Error>,
) -> Result<R, Error> {
    let file = users::load(path)?;
    file.no_sso()?;
    let inventory = Inventory::load(&global.inventory)?;
    let limit = file.limit(run.limit.as_deref()).map(str::to_owned);
    let hosts = inventory.select(limit.as_deref())?;
    let client = crate::transport::http_client(run.insecure).map_err(Error::Usage)?;
    // A full user ID no selected host serves is planned nowhere: said, not dropped.
    let unserved: Vec<String> = file
        .users
        .iter()
        .filter(|u| match &u.user {
            UserArg::Full(id) => !hosts.iter().any(|h| h.server_name == id.server_name()),
            UserArg::Localpart(_) => false,
        })
        .map(|u| u.name.clone())
        .collect();
    let path = file.path.display().to_string();
    let users = Arc::new(file.users);
    let fanned = fan_out_with(
        global,
        run,
        &hosts,
        |host, _| host_job(host, &users, &client),
        to_report,
    )?;
    let mut report = Report::new("plan", true, fanned.reports).with(&super::fields::Plan {
        from: path.to_owned(),
        limit,
        unserved: Some(unserved.clone()).filter(|u| !u.is_empty()),
    });
    if !unserved.is_empty() {
        report.notes.push(format!(
            "Not planned, no selected host serves them: {}",
            unserved.join(", ")
        ));
    }
    let report = super::retry_file(run, report);
    then(Planned {
        hosts,
        users,
        client,
        plans: fanned.finished,
        report,
    })
}

fn host_job(host: &Host, users: &Arc<Vec<BulkUser>>, client: &reqwest::Client) -> Job<HostPlan> {
    let mut warnings = Vec::new();
    // What a registration sets besides the password: the plan sets the rest right after it.
    let creates = super::registration::passes(host);
    // The file's users this host serves, placed on its server: a full ID of another server
    // is not this host's.
    let mut wanted: Vec<(UserId, Wanted)> = Vec::with_capacity(users.len());
    let mut uncertain = false;
    for u in users.iter() {
        match (u.user.on_server(&host.server_name), &u.user) {
            (Ok(id), _) => wanted.push((id, Wanted::from(u))),
            (Err(_), UserArg::Full(_)) => {}
            (Err(e), UserArg::Localpart(_)) => {
                warnings.push(format!("{}: {e}", u.name));
                uncertain = true;
            }
        }
    }
    let router = Router::new(host, client, OPS).map(Arc::new);
    Box::pin(async move {
        let router = router.map_err(HostError::Setup)?;
        let lacks: Vec<(Op, String)> = OPS
            .iter()
            .filter_map(|op| router.lacks(*op).map(|why| (*op, why)))
            .collect();
        let read = read(&router, &wanted).await;
        let rooms = match &read {
            Ok(Some(states)) => rooms(&router, &wanted, states, &mut warnings).await,
            _ => Ok((Rooms::default(), false)),
        };
        if let Ok(router) = Arc::try_unwrap(router) {
            router.close().await;
        }
        let (states, (rooms, unknown_rooms)) = (read?, rooms?);
        let mut plan = plan(&wanted, states.as_ref(), creates, &rooms, &lacks, warnings);
        plan.uncertain |= uncertain || unknown_rooms;
        Ok(plan)
    })
}

/// One host's plan from what it said of its users (`None`: it cannot tell), and what it
/// lacks to make each kind of change (the router's words).
fn plan(
    wanted: &[(UserId, Wanted)],
    states: Option<&HashMap<String, UserState>>,
    creates: Fields,
    rooms: &Rooms,
    lacks: &[(Op, String)],
    mut warnings: Vec<String>,
) -> HostPlan {
    let mut plan = HostPlan {
        users: wanted.len(),
        ..HostPlan::default()
    };
    let Some(states) = states else {
        let readers = or_list(&registry::names_for(Op::Read));
        for (id, _) in wanted {
            warnings.push(format!(
                "cannot tell whether {id} exists: no backend of this host reads users (admin_backend: {readers} can)"
            ));
        }
        plan.uncertain = !wanted.is_empty();
        plan.warnings = warnings;
        return plan;
    };
    for (id, want) in wanted {
        let diff = desired::diff(id, want, states.get(&id.to_string()), creates, rooms);
        plan.changes.extend(diff.changes);
        warnings.extend(diff.warnings);
        plan.uncertain |= diff.uncertain;
    }
    // A change the host cannot make stays in the plan, with what it lacks.
    for (op, why) in lacks {
        let n = plan.changes.iter().filter(|c| c.action.op() == *op).count();
        if n > 0 {
            let changes = if n == 1 { "change" } else { "changes" };
            warnings.push(format!("{n} {changes} cannot be made on this host: {why}"));
        }
    }
    plan.warnings = warnings;
    plan
}

/// The state of each of `wanted` the host has (a user it does not have is absent), or `None`
/// when no backend of the host reads users.
async fn read(
    router: &Arc<Router>,
    wanted: &[(UserId, Wanted)],
) -> Result<Option<HashMap<String, UserState>>, HostError> {
    if wanted.is_empty() {
        // The file names none of this host's users: nothing to read.
        Ok(Some(HashMap::new()))
    } else if router.can(Op::List) {
        let mut found = list(router, wanted).await?;
        // A listing does not give emails: the users whose emails the file sets are read.
        let unsaid: Vec<UserId> = wanted
            .iter()
            .filter(|(id, want)| {
                want.emails.is_some()
                    && found
                        .get(&id.to_string())
                        .is_some_and(|s| s.emails.is_none())
            })
            .map(|(id, _)| id.clone())
            .collect();
        if router.can(Op::Read) && !unsaid.is_empty() {
            found.extend(read_each(router, &unsaid).await?);
        }
        Ok(Some(found))
    } else if router.can(Op::Read) {
        let ids: Vec<UserId> = wanted.iter().map(|(id, _)| id.clone()).collect();
        read_each(router, &ids).await.map(Some)
    } else {
        Ok(None)
    }
}

/// The rooms of the file this host knows, and the rooms of each existing user the file wants
/// in some; a room the host does not know is a warning (and `true`: the plan is uncertain).
async fn rooms(
    router: &Arc<Router>,
    wanted: &[(UserId, Wanted)],
    states: &HashMap<String, UserState>,
    warnings: &mut Vec<String>,
) -> Result<(Rooms, bool), HostError> {
    let mut rooms = Rooms::default();
    let mut named: Vec<&String> = wanted.iter().flat_map(|(_, w)| &w.rooms).collect();
    if named.is_empty() || !router.can(Op::Join) {
        return Ok((rooms, false));
    }
    rooms.readable = true;
    named.sort();
    named.dedup();
    let mut unknown = false;
    for room in named {
        match router.room_id(room).await? {
            Some(id) => {
                rooms.ids.insert(room.clone(), id);
            }
            None => {
                warnings.push(format!(
                    "no room {room} on this host: no user is joined to it"
                ));
                unknown = true;
            }
        }
    }
    let members: Vec<UserId> = wanted
        .iter()
        .filter(|(id, w)| !w.rooms.is_empty() && states.contains_key(&id.to_string()))
        .map(|(id, _)| id.clone())
        .collect();
    let joined = each_user(router, &members, |router, id| async move {
        router.rooms(&id).await
    })
    .await?;
    for (id, joined) in members.iter().zip(joined) {
        rooms
            .joined
            .insert(id.to_string(), joined.into_iter().collect());
    }
    Ok((rooms, unknown))
}

/// Pages through the host's users, keeping those of the file.
async fn list(
    router: &Router,
    wanted: &[(UserId, Wanted)],
) -> Result<HashMap<String, UserState>, HostError> {
    let ids: HashSet<String> = wanted.iter().map(|(id, _)| id.to_string()).collect();
    let mut found = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = router
            .list(&ListFilter::default(), cursor.as_deref())
            .await?;
        for user in page.users {
            if ids.contains(&user.user_id) {
                found.insert(user.user_id, user.state);
            }
        }
        match page.next {
            // A server that hands back the cursor it was given would page forever.
            Some(next) if cursor.as_deref() != Some(next.as_str()) => cursor = Some(next),
            _ => return Ok(found),
        }
        if runner::interrupted() {
            return Err(interrupted());
        }
    }
}

/// Reads each user (a user the host does not have is absent).
async fn read_each(
    router: &Arc<Router>,
    ids: &[UserId],
) -> Result<HashMap<String, UserState>, HostError> {
    let states = each_user(
        router,
        ids,
        |router, id| async move { router.read(&id).await },
    )
    .await?;
    Ok(ids
        .iter()
        .zip(states)
        .filter_map(|(id, state)| Some((id.to_string(), state?)))
        .collect())
}

/// Asks `ask` of each user, a few at once, the answers in the users' order; the first alone,
/// so that a host that cannot be reached fails once, with the reason.
async fn each_user<T, F, Fut>(
    router: &Arc<Router>,
    ids: &[UserId],
    ask: F,
) -> Result<Vec<T>, HostError>
where
    T: Send + 'static,
    F: Fn(Arc<Router>, UserId) -> Fut,
    Fut: std::future::Future<Output = Result<T, Failure>> + Send + 'static,
{
    let Some((first, rest)) = ids.split_first() else {
        return Ok(Vec::new());
    };
    let mut answers = vec![ask(router.clone(), first.clone()).await?];
    let mut results: Vec<Option<Result<T, Failure>>> = (0..rest.len()).map(|_| None).collect();
    let tasks: Vec<runner::Task<_>> = rest
        .iter()
        .map(|id| {
            let asked = ask(router.clone(), id.clone());
            Box::pin(runner::same_host(async move {
                if runner::interrupted() {
                    return Err(Failure::Rejected(interrupted().message()));
                }
                asked.await
            })) as runner::Task<_>
        })
        .collect();
    runner::bounded(tasks, READS_AT_ONCE, |i, result| results[i] = Some(result)).await;
    for (id, result) in rest.iter().zip(results) {
        let result = result.ok_or_else(|| {
            HostError::Failed(format!("internal error: reading {id} ended abnormally"))
        })?;
        answers.push(result?);
    }
    Ok(answers)
}

/// A plan cut short by Ctrl-C is no plan: the host reports it.
fn interrupted() -> HostError {
    HostError::Failed("interrupted before every user was read".into())
}

fn to_report(f: &Finished<HostPlan>) -> HostReport {
    match &f.result {
        Ok(plan) => {
            let verdict = Verdict::ok(plan.outcome(), &plan.summary());
            let mut report = HostReport::new(&f.host, None, verdict, f.elapsed);
            report.plan = Some(plan.clone());
            report
        }
        Err(e) => HostReport::new(&f.host, None, Verdict::from(e), f.elapsed),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use provision_backends::{Op, UserId, UserState};

    use provision_backends::registration::Fields;

    use super::to_report;
    use crate::desired::{Rooms, Wanted};
    use crate::render;
    use crate::report::{HostError, Report};
    use crate::runner::Finished;
    use crate::users::State;

    fn wanted(name: &str, state: State, admin: Option<bool>) -> (UserId, Wanted) {
        let id = UserId::new(name, "example.com").unwrap();
        (
            id,
            Wanted {
                admin,
                state,
                ..Wanted::default()
            },
        )
    }

    fn plan(
        wanted: &[(UserId, Wanted)],
        states: Option<&HashMap<String, UserState>>,
        lacks: &[(Op, String)],
        warnings: Vec<String>,
    ) -> crate::report::HostPlan {
        super::plan(
            wanted,
            states,
            Fields::NONE,
            &Rooms::default(),
            lacks,
            warnings,
        )
    }

    fn user(admin: bool) -> UserState {
        UserState {
            admin: Some(admin),
            locked: Some(false),
            deactivated: Some(false),
            ..UserState::default()
        }
    }

    #[test]
    fn a_host_that_cannot_read_users_says_so_for_each_user() {
        let users = [
            wanted("alice", State::Present, None),
            wanted("bob", State::Locked, None),
        ];
        let p = plan(&users, None, &[], Vec::new());
        assert!(p.changes.is_empty() && p.uncertain && !p.in_sync());
        assert_eq!(p.outcome(), "unknown");
        assert_eq!(
            p.warnings,
            [
                "cannot tell whether @alice:example.com exists: no backend of this host reads users (admin_backend: sql, synapse-api, mas-api or admin-room can)",
                "cannot tell whether @bob:example.com exists: no backend of this host reads users (admin_backend: sql, synapse-api, mas-api or admin-room can)",
            ]
        );
    }

    #[test]
    fn a_change_the_host_cannot_make_stays_listed_with_what_it_lacks() {
        let users = [
            wanted("alice", State::Present, Some(true)),
            wanted("bob", State::Locked, None),
            wanted("cy", State::Locked, None),
        ];
        let states = HashMap::from([
            ("@bob:example.com".to_owned(), user(false)),
            ("@cy:example.com".to_owned(), user(false)),
        ]);
        let lacks = [(Op::Lock, "no backend of this host can lock".to_owned())];
        let p = plan(&users, Some(&states), &lacks, vec!["first".into()]);
        let lines: Vec<String> = p.changes.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "+ create @alice:example.com (admin)",
                "~ @bob:example.com lock",
                "~ @cy:example.com lock"
            ]
        );
        assert_eq!(
            p.warnings,
            [
                "first",
                "2 changes cannot be made on this host: no backend of this host can lock"
            ]
        );
        assert_eq!(p.summary(), "1 to create, 2 to change; 2 warnings");
    }

    fn finished(
        result: Result<crate::report::HostPlan, HostError>,
    ) -> Finished<crate::report::HostPlan> {
        Finished {
            host: "matrix1".into(),
            result,
            elapsed: Duration::from_millis(7),
        }
    }

    /// The plan's document: each host's `changes` and `warnings`, and the totals in `plan`.
    #[test]
    fn plan_json_keeps_its_documented_shape_and_exit_status() {
        let users = [
            wanted("alice", State::Present, Some(true)),
            wanted("bob", State::Present, Some(true)),
            wanted("cy", State::Deactivated, None),
        ];
        let states = HashMap::from([
            ("@bob:example.com".to_owned(), user(false)),
            ("@cy:example.com".to_owned(), user(false)),
        ]);
        let changes = plan(&users, Some(&states), &[], Vec::new());
        let report = Report::new("plan", true, vec![to_report(&finished(Ok(changes)))]).with(
            &crate::commands::fields::Plan {
                from: "users.yaml".into(),
                limit: None,
                unserved: None,
            },
        );
        assert_eq!(report.exit_code(), crate::error::EXIT_CHANGES_PENDING);
        let json = serde_json::to_string(&render::document(&report)).unwrap();
        assert_eq!(
            json,
            concat!(
                r#"{"command":"plan","check":true,"hosts":[{"host":"matrix1","status":"ok","outcome":"changes","#,
                r#""message":"1 to create, 1 to change, 1 to deactivate","changes":["#,
                r#"{"user":"@alice:example.com","action":"create","admin":true},"#,
                r#"{"user":"@bob:example.com","action":"change","field":"admin","from":false,"to":true},"#,
                r#"{"user":"@cy:example.com","action":"deactivate","erase":false}],"#,
                r#""warnings":[],"elapsed_ms":7}],"#,
                r#""recap":{"ok":1,"changed":0,"unreachable":0,"failed":0,"not_started":0},"from":"users.yaml","limit":null,"#,
                r#""plan":{"create":1,"change":1,"deactivate":1,"hosts_with_changes":1,"hosts_uncertain":0,"hosts_planned":1}}"#
            )
        );

        // In sync: 0. A host that failed or could not be reached wins over pending changes.
        let states = HashMap::from([("@bob:example.com".to_owned(), user(true))]);
        let in_sync = plan(&users[1..2], Some(&states), &[], Vec::new());
        assert_eq!(in_sync.summary(), "in sync (1 user)");
        let report = Report::new("plan", true, vec![to_report(&finished(Ok(in_sync)))]);
        assert_eq!(report.exit_code(), 0);
        let pending = plan(&users, Some(&HashMap::new()), &[], Vec::new());
        for (error, code) in [
            (
                HostError::Failed("no".into()),
                crate::error::EXIT_HOST_FAILED,
            ),
            (
                HostError::Unreachable("down".into()),
                crate::error::EXIT_UNREACHABLE,
            ),
        ] {
            let report = Report::new(
                "plan",
                true,
                vec![
                    to_report(&finished(Ok(pending.clone()))),
                    to_report(&finished(Err(error))),
                ],
            );
            assert_eq!(report.exit_code(), code);
        }
    }
}
