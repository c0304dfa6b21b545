//! One file per subcommand; what they share (choosing hosts, fanning out, printing the lines,
//! the recap and the JSON document) lives here.

mod account;
pub mod admin;
pub mod ansible;
mod bulk;
pub mod inventory;
pub mod login;
pub mod lifecycle {
    //! `lock`, `unlock`, `deactivate`, `reactivate`: see account.rs.
    pub use super::account::{deactivate, lock, reactivate};
}
pub mod apply;
pub mod fields;
pub mod password;
pub mod ping;
pub mod plan;
pub mod register;
mod registration;
pub mod show;
pub mod token;
pub mod users;

use std::time::Duration;

use indicatif::MultiProgress;

use provision_backends::user_id::UserArg;
use provision_backends::{Outcome, UserId};

use crate::cli::{Global, RunArgs};
use crate::error::Error;
use crate::inventory::{Host, Inventory};
use crate::render;
use crate::report::{HostError, HostReport, Report, Status, Verdict};
use crate::runner::{self, Finished, Job};

/// What one host reports back.
pub struct Done {
    pub user: UserId,
    pub outcome: Outcome,
    /// `register --admin|--no-admin` on an existing user: what converging the flag did.
    pub admin: Option<Outcome>,
    /// Under --check: how the change would be made.
    pub plan: Option<String>,
    /// A delivery was retried while registering: an "exists" may be this run's own creation
    /// whose answer was lost.
    pub retried: bool,
    /// A step after the registration failed (converging the admin flag): the host failed.
    pub failed: Option<String>,
}

impl Done {
    /// Whether this host may now hold the password of this run: surely when it created the
    /// user, possibly when "exists" came after a retried delivery.
    pub fn may_hold_password(&self) -> bool {
        matches!(self.outcome, Outcome::Created { .. })
            || (self.retried && self.outcome == Outcome::Exists)
    }
}

/// Writes `--retry-file` when some host did not end ok or changed (Ansible writes its retry
/// file the same way: only when there is something to retry). A file that cannot be written
/// is said after the recap; the run's results stand.
pub fn retry_file(run: &RunArgs, mut report: Report) -> Report {
    let Some(path) = &run.retry_file else {
        return report;
    };
    let again: Vec<&str> = report
        .hosts
        .iter()
        .filter(|h| !matches!(h.verdict.status, Status::Ok | Status::Changed))
        .map(|h| h.host.as_str())
        .collect();
    if again.is_empty() {
        return report;
    }
    let text = format!("{}\n", again.join("\n"));
    let note = match std::fs::write(path, text) {
        Ok(()) => format!(
            "Hosts to retry are in {} (run again with --limit @{})",
            path.display(),
            path.display()
        ),
        Err(e) => format!("--retry-file {}: cannot write it: {e}", path.display()),
    };
    report.notes.push(note);
    report
}

/// Whether a host's result leaves it possibly holding this run's password: a success that
/// may have, or a request that may have reached the server before its answer was lost.
pub fn may_hold_password(result: &Result<Done, HostError>) -> bool {
    match result {
        Ok(done) => done.may_hold_password(),
        Err(HostError::Unreachable(_) | HostError::TimedOut(_)) => true,
        Err(HostError::Setup(_) | HostError::Failed(_) | HostError::NotStarted) => false,
    }
}

/// The hosts of the `--limit`; a full user ID keeps only the hosts serving its server.
pub fn select<'a>(
    inventory: &'a Inventory,
    limit: Option<&str>,
    user: &UserArg,
) -> Result<Vec<&'a Host>, Error> {
    let hosts = inventory.select(limit)?;
    let UserArg::Full(id) = user else {
        return Ok(hosts);
    };
    let serving: Vec<&Host> = hosts
        .iter()
        .copied()
        .filter(|h| h.server_name == id.server_name())
        .collect();
    if serving.is_empty() {
        let names: Vec<&str> = hosts.iter().map(|h| h.server_name.as_str()).collect();
        return Err(Error::Usage(format!(
            "no selected host serves {} (their server names: {})",
            id.server_name(),
            names.join(", ")
        )));
    }
    Ok(serving)
}

/// Runs one job per host of `Done`s; each host's line is shown as it finishes.
pub fn fan_out(
    global: &Global,
    run: &RunArgs,
    hosts: &[&Host],
    job: impl Fn(&Host) -> Job<Done>,
) -> Result<Fanned<Done>, Error> {
    fan_out_with(global, run, hosts, |h, _| job(h), to_report)
}

/// Runs one job per host (the job may add a bar of its own to the progress display); each
/// host's report is built once, with `report`, and shown as soon as it finishes.
pub fn fan_out_with<T: Send + 'static>(
    global: &Global,
    run: &RunArgs,
    hosts: &[&Host],
    job: impl Fn(&Host, &MultiProgress) -> Job<T>,
    report: impl Fn(&Finished<T>) -> HostReport,
) -> Result<Fanned<T>, Error> {
    let progress = runner::progress();
    let jobs: Vec<(String, Job<T>)> = hosts
        .iter()
        .map(|h| (h.name.clone(), job(h, &progress)))
        .collect();
    let width = hosts.iter().map(|h| h.name.len()).max().unwrap_or(0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(format!("cannot start the async runtime: {e}")))?;
    let mut reports: Vec<Option<HostReport>> = (0..hosts.len()).map(|_| None).collect();
    let finished = runtime.block_on(runner::run(
        jobs,
        usize::from(run.forks),
        Duration::from_secs(run.timeout),
        &progress,
        |index, f| {
            let line = report(f);
            render::host_done(global.output, &line, width);
            reports[index] = Some(line);
        },
    ));
    let reports = reports
        .into_iter()
        .zip(&finished)
        .map(|(r, f)| r.unwrap_or_else(|| report(f)))
        .collect();
    Ok(Fanned { finished, reports })
}

/// A finished fan-out: each host's result and its report.
pub struct Fanned<T> {
    pub finished: Vec<Finished<T>>,
    pub reports: Vec<HostReport>,
}

pub(super) fn to_report(f: &Finished<Done>) -> HostReport {
    let (user_id, verdict) = reported(&f.result);
    HostReport::new(&f.host, user_id, verdict, f.elapsed)
}

/// One user's request as reported, on its host's line or in a bulk host's list: the user
/// it was about (when the host answered) and what came of it.
pub(super) fn reported(result: &Result<Done, HostError>) -> (Option<String>, Verdict) {
    match result {
        Ok(done) => (
            Some(done.user.to_string()),
            Verdict::answered(
                &done.outcome,
                done.admin.as_ref(),
                done.plan.as_deref(),
                done.failed.as_deref(),
            ),
        ),
        Err(e) => (None, Verdict::from(e)),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use provision_backends::{Outcome, UserId};

    use super::{Done, to_report};
    use crate::render;
    use crate::report::{HostError, Report};
    use crate::runner::Finished;

    fn done(outcome: Outcome) -> Done {
        Done {
            user: UserId::new("john", "example.com").unwrap(),
            outcome,
            admin: None,
            plan: None,
            retried: false,
            failed: None,
        }
    }

    fn finished(host: &str, result: Result<Done, HostError>) -> Finished<Done> {
        Finished {
            host: host.to_owned(),
            result,
            elapsed: Duration::from_millis(212),
        }
    }

    /// The README's "JSON output" schema, key for key and in order: scripts read it.
    #[test]
    fn json_document_keeps_its_documented_keys_in_order() {
        let converged = Done {
            admin: Some(Outcome::AdminSet {
                admin: true,
                note: None,
            }),
            ..done(Outcome::Exists)
        };
        let half = Done {
            failed: Some("the admin flag could not be set: no".into()),
            ..done(Outcome::Exists)
        };
        let planned = Done {
            plan: Some("via synapse-cli".into()),
            ..done(Outcome::WouldCreate { admin: false })
        };
        let hosts = vec![
            to_report(&finished(
                "matrix1",
                Ok(done(Outcome::Created { admin: true })),
            )),
            to_report(&finished("matrix2", Ok(converged))),
            to_report(&finished("matrix3", Ok(half))),
            to_report(&finished("matrix4", Ok(planned))),
            to_report(&finished(
                "staging2",
                Err(HostError::Unreachable("connection refused".into())),
            )),
            to_report(&finished("staging3", Err(HostError::NotStarted))),
        ];
        let report =
            Report::new("register", false, hosts).with(&super::fields::User { user: "john" });
        let json = serde_json::to_string(&render::document(&report)).unwrap();
        assert_eq!(
            json,
            concat!(
                r#"{"command":"register","check":false,"hosts":["#,
                r#"{"host":"matrix1","user_id":"@john:example.com","status":"changed","outcome":"created","message":"created (admin)","elapsed_ms":212},"#,
                r#"{"host":"matrix2","user_id":"@john:example.com","status":"changed","outcome":"exists","admin":"admin_set","message":"exists; admin turned on","elapsed_ms":212},"#,
                r#"{"host":"matrix3","user_id":"@john:example.com","status":"failed","error":"failed","outcome":"exists","message":"exists, but the admin flag could not be set: no","elapsed_ms":212},"#,
                r#"{"host":"matrix4","user_id":"@john:example.com","status":"changed","outcome":"would_create","message":"would create (user) via synapse-cli","elapsed_ms":212},"#,
                r#"{"host":"staging2","status":"unreachable","error":"unreachable","message":"unreachable: connection refused","elapsed_ms":212},"#,
                r#"{"host":"staging3","status":"not_started","error":"not_started","message":"not started: the run was interrupted first","elapsed_ms":212}],"#,
                r#""recap":{"ok":0,"changed":3,"unreachable":1,"failed":1,"not_started":1},"user":"john"}"#
            )
        );
    }
}
