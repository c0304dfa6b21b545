//! What a run did, as data: per host (and per user in bulk) an outcome or a typed error, the
//! counts, the command's own fields. src/render.rs prints it. Nothing here ever receives a
//! secret.
//!
//! JSON schema (documented in the README):
//! `{"command", "check", "hosts": [{"host", "user_id"?, "status", "error"?, "outcome"?,
//!   "admin"?, "message", "elapsed_ms"}], "recap": {"ok", "changed", "unreachable", "failed",
//!   "not_started"}, ...extra}`, `status` one of ok, changed, unreachable, failed, not_started.
//! A bulk run adds `users` (the counts) and `host_users`: each host's keys, `users_recap`, and
//! `users: [{"user_id" (null without a result), "user", "status", "error"?, "outcome"?,
//! "admin"?, "message"}]`. From `status` to `message` the keys are one type, `Verdict`.
//! `provision plan` adds to each host that answered `changes: [{"user", "action", "field"?,
//! "from"?, "to"?, "admin"?, "erase"?}]` and `warnings: [string]`, and to the document
//! `plan: {"create", "change", "deactivate", "hosts_with_changes", "hosts_uncertain",
//! "hosts_planned"}`.

use std::collections::BTreeMap;
use std::time::Duration;

use provision_backends::{Failure, Outcome};
use schemars::JsonSchema;
use serde::Serialize;

use crate::desired::{Kind, Planned};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Changed,
    /// The host could not be reached (connection refused, SSH down, key refused).
    Unreachable,
    Failed,
    /// Never started: the run was interrupted first.
    NotStarted,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Changed => "changed",
            Status::Unreachable => "unreachable",
            Status::Failed => "failed",
            Status::NotStarted => "not started",
        }
    }

    /// ANSI colour as Ansible uses it: green ok, yellow changed, red failed or unreachable.
    pub fn colour(self) -> &'static str {
        match self {
            Status::Ok => "32",
            Status::Changed => "33",
            Status::Unreachable | Status::Failed => "31",
            Status::NotStarted => "35",
        }
    }
}

/// Why a host (or one user on a host) has no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// The host's settings could not be turned into a connection (a secret that does not
    /// resolve, a user ID the host cannot serve).
    Setup(String),
    /// Nothing reached the host.
    Unreachable(String),
    /// The host (or its tool) answered and said no.
    Failed(String),
    /// `--timeout` ran out.
    TimedOut(String),
    /// Interrupted (Ctrl-C, or the reader of stdout went away) before it started.
    NotStarted,
}

/// The message of work that was never started because the run was interrupted.
pub const NOT_STARTED: &str = "not started: the run was interrupted first";

impl HostError {
    pub fn status(&self) -> Status {
        match self {
            HostError::Unreachable(_) => Status::Unreachable,
            HostError::NotStarted => Status::NotStarted,
            HostError::Setup(_) | HostError::Failed(_) | HostError::TimedOut(_) => Status::Failed,
        }
    }

    /// A stable word for `--output json`.
    pub fn code(&self) -> &'static str {
        match self {
            HostError::Setup(_) => "setup",
            HostError::Unreachable(_) => "unreachable",
            HostError::Failed(_) => "failed",
            HostError::TimedOut(_) => "timed_out",
            HostError::NotStarted => "not_started",
        }
    }

    /// What is shown: server and tool text in it is cleaned (`output::clean`).
    pub fn message(&self) -> String {
        let text = match self {
            HostError::Unreachable(m) => format!("unreachable: {m}"),
            HostError::Setup(m) | HostError::Failed(m) | HostError::TimedOut(m) => m.clone(),
            HostError::NotStarted => NOT_STARTED.to_owned(),
        };
        crate::output::clean(&text)
    }
}

impl From<Failure> for HostError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Unreachable(m) | Failure::Permanent(m) => HostError::Unreachable(m),
            Failure::Rejected(m) => HostError::Failed(m),
        }
    }
}

/// What one piece of work came to: a host's request, or one user's on a host in a bulk run.
/// Serialized inside (flattened into) `HostReport` and `UserReport`, so both say it in the same
/// keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Verdict {
    pub status: Status,
    /// Why there is no result (setup, unreachable, failed, timed_out, not_started), or
    /// `failed` beside the outcome when a step after the registration failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    /// A stable machine-readable word for what happened, e.g. `created`, `exists`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    /// What converging the admin flag did, when `register --admin|--no-admin` met an existing user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin: Option<&'static str>,
    pub message: String,
}

impl Verdict {
    /// A request the host answered: `outcome`, then what converging the admin flag did,
    /// then, when it changes something under --check, how (`plan`); `failed` names a step after
    /// the registration that failed, which fails the whole request.
    pub fn answered(
        outcome: &Outcome,
        admin: Option<&Outcome>,
        plan: Option<&str>,
        failed: Option<&str>,
    ) -> Self {
        let changed = outcome.changed() || admin.is_some_and(Outcome::changed);
        let mut message = outcome.to_string();
        if let Some(admin) = admin {
            message = format!("{message}; {admin}");
        }
        if let (Some(plan), true) = (plan, changed) {
            message = format!("{message} {plan}");
        }
        if let Some(failed) = failed {
            message = format!("{message}, but {failed}");
        }
        let status = if failed.is_some() {
            Status::Failed
        } else if changed {
            Status::Changed
        } else {
            Status::Ok
        };
        Verdict {
            status,
            error: failed.map(|_| "failed"),
            outcome: Some(outcome.code()),
            admin: admin.map(Outcome::code),
            message: crate::output::clean(&message),
        }
    }

    /// Work that succeeded with nothing to change: `outcome` is its word, `message` what the
    /// host said.
    pub fn ok(outcome: &'static str, message: &str) -> Self {
        Verdict {
            status: Status::Ok,
            error: None,
            outcome: Some(outcome),
            admin: None,
            message: crate::output::clean(message),
        }
    }
}

/// Work with no result.
impl From<&HostError> for Verdict {
    fn from(error: &HostError) -> Self {
        Verdict {
            status: error.status(),
            error: Some(error.code()),
            outcome: None,
            admin: None,
            message: error.message(),
        }
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct HostReport {
    pub host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(flatten)]
    pub verdict: Verdict,
    /// `provision show`: the user's state as the host tells it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<Shown>,
    /// `provision plan`: `changes` and `warnings`.
    #[serde(flatten)]
    pub plan: Option<HostPlan>,
    pub elapsed_ms: u64,
    /// The counts of this host's line in the recap: one for a single request, one per user in a
    /// bulk run.
    #[serde(skip)]
    pub counts: Recap,
    /// Each user's result on this host, in a bulk run.
    #[serde(skip)]
    pub users: Vec<UserReport>,
}

impl HostReport {
    /// A host's line for one request (`user_id`: the user it was about, when it answered).
    pub fn new(host: &str, user_id: Option<String>, verdict: Verdict, elapsed: Duration) -> Self {
        HostReport {
            host: host.to_owned(),
            user_id,
            counts: Recap::of([verdict.status]),
            verdict,
            state: None,
            plan: None,
            elapsed_ms: elapsed.as_millis() as u64,
            users: Vec::new(),
        }
    }

    /// A bulk host's line from its users' results: the worst of their statuses (failed,
    /// unreachable, changed, ok), and a message that counts their outcomes.
    pub fn of_users(host: &str, users: Vec<UserReport>, elapsed: Duration) -> Self {
        let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
        for u in &users {
            let v = &u.verdict;
            *outcomes
                .entry(v.error.or(v.outcome).unwrap_or("failed"))
                .or_default() += 1;
        }
        let summary: Vec<String> = outcomes.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let verdict = Verdict {
            status: Recap::of(users.iter().map(|u| u.verdict.status)).status(),
            error: None,
            outcome: None,
            admin: None,
            message: format!("{} users: {}", users.len(), summary.join(", ")),
        };
        HostReport::new(host, None, verdict, elapsed).with_users(users)
    }

    /// The host's users' results, which its recap line then counts instead of the host.
    pub fn with_users(mut self, users: Vec<UserReport>) -> Self {
        self.counts = Recap::of(users.iter().map(|u| u.verdict.status));
        self.users = users;
        self
    }
}

/// `provision show`'s answer of one host: whether the user exists, and if it does what the
/// host tells of it (null where the host cannot say).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Shown {
    pub exists: bool,
    #[serde(flatten)]
    pub state: Option<provision_backends::UserState>,
}

/// `provision plan` on one host: the changes that would bring its users to what the users
/// file wants, in the order they would be made, and what it could not tell or could not do.
#[derive(Debug, Default, Clone, Serialize, JsonSchema)]
pub struct HostPlan {
    pub changes: Vec<Planned>,
    pub warnings: Vec<String>,
    /// How many of the file's users this host serves.
    #[serde(skip)]
    pub users: usize,
    /// The host could not tell something a change depends on: one may be missing.
    #[serde(skip)]
    pub uncertain: bool,
}

impl HostPlan {
    /// Nothing to change, and nothing it could not tell.
    pub fn in_sync(&self) -> bool {
        self.changes.is_empty() && !self.uncertain
    }

    /// Its changes of one kind.
    pub fn count(&self, kind: Kind) -> usize {
        self.changes
            .iter()
            .filter(|c| c.action.kind() == kind)
            .count()
    }

    /// The word of the host's outcome: `changes`, `unknown` (none found, but something could
    /// not be told) or `in_sync`.
    pub fn outcome(&self) -> &'static str {
        match (self.changes.is_empty(), self.uncertain) {
            (false, _) => "changes",
            (true, true) => "unknown",
            (true, false) => "in_sync",
        }
    }

    /// The host's line: "3 to create, 1 to change; 1 warning", "in sync (3 users)".
    pub fn summary(&self) -> String {
        let counted: Vec<String> = Kind::ALL
            .iter()
            .map(|k| (self.count(*k), k.word()))
            .filter(|(n, _)| *n > 0)
            .map(|(n, word)| format!("{n} to {word}"))
            .collect();
        let warnings = match self.warnings.len() {
            0 => String::new(),
            1 => "; 1 warning".to_owned(),
            n => format!("; {n} warnings"),
        };
        match self.outcome() {
            "changes" => format!("{}{warnings}", counted.join(", ")),
            "unknown" => format!("no change found, but some state cannot be told{warnings}"),
            _ => {
                let users = if self.users == 1 { "user" } else { "users" };
                format!("in sync ({} {users}){warnings}", self.users)
            }
        }
    }
}

/// A plan's changes over every host, for the recap and JSON's `plan`.
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct PlanTotals {
    pub create: usize,
    pub change: usize,
    pub deactivate: usize,
    /// Hosts with changes pending.
    pub hosts_with_changes: usize,
    /// Hosts that could not tell something a change depends on.
    pub hosts_uncertain: usize,
    /// Hosts that planned (answered).
    pub hosts_planned: usize,
}

impl std::fmt::Display for PlanTotals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hosts = |n: usize| if n == 1 { "host" } else { "hosts" };
        if self.hosts_with_changes == 0 {
            write!(
                f,
                "no changes on {} {}",
                self.hosts_planned,
                hosts(self.hosts_planned)
            )?;
        } else {
            write!(
                f,
                "{} to create, {} to change, {} to deactivate, on {} of {} {}",
                self.create,
                self.change,
                self.deactivate,
                self.hosts_with_changes,
                self.hosts_planned,
                hosts(self.hosts_planned)
            )?;
        }
        if self.hosts_uncertain > 0 {
            write!(
                f,
                "; {} {} cannot tell everything (see the warnings)",
                self.hosts_uncertain,
                hosts(self.hosts_uncertain)
            )?;
        }
        Ok(())
    }
}

#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Recap {
    pub ok: usize,
    pub changed: usize,
    pub unreachable: usize,
    pub failed: usize,
    pub not_started: usize,
}

impl Recap {
    pub fn add(&mut self, status: Status) {
        match status {
            Status::Ok => self.ok += 1,
            Status::Changed => self.changed += 1,
            Status::Unreachable => self.unreachable += 1,
            Status::Failed => self.failed += 1,
            Status::NotStarted => self.not_started += 1,
        }
    }

    /// The statuses, counted.
    pub fn of(statuses: impl IntoIterator<Item = Status>) -> Self {
        let mut recap = Recap::default();
        for status in statuses {
            recap.add(status);
        }
        recap
    }

    /// The status of what was counted as a whole: failed before unreachable, as
    /// ansible-playbook puts them, then changed, ok, and not started when nothing started.
    pub fn status(&self) -> Status {
        if self.failed > 0 {
            Status::Failed
        } else if self.unreachable > 0 {
            Status::Unreachable
        } else if self.changed > 0 {
            Status::Changed
        } else if self.ok > 0 {
            Status::Ok
        } else {
            Status::NotStarted
        }
    }

    pub fn sum(&self, other: &Recap) -> Recap {
        Recap {
            ok: self.ok + other.ok,
            changed: self.changed + other.changed,
            unreachable: self.unreachable + other.unreachable,
            failed: self.failed + other.failed,
            not_started: self.not_started + other.not_started,
        }
    }
}

/// One user's result on a host of a bulk run: the same words as a host's.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct UserReport {
    pub user_id: Option<String>,
    pub user: String,
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// What a command did, built once and printed by a renderer (src/render.rs): a human table
/// and recap, one JSON document, or an Ansible module result.
#[derive(Debug, Clone)]
pub struct Report {
    pub command: &'static str,
    pub check: bool,
    pub hosts: Vec<HostReport>,
    /// A bulk run: each host has users, counted in the recap and listed in JSON.
    pub bulk: bool,
    /// The command's own keys of the JSON document (`user`, `admin`, `from`, `password`…), from
    /// its fields struct ([`Report::with`]).
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// Lines for a person after the recap (where a generated password went…).
    pub notes: Vec<String>,
    /// The command printed its rows as they came (`provision users`): JSON opened its
    /// document with them, and closes it here.
    pub streamed: bool,
}

impl Report {
    pub fn new(command: &'static str, check: bool, hosts: Vec<HostReport>) -> Self {
        Report {
            command,
            check,
            hosts,
            bulk: false,
            extra: serde_json::Map::new(),
            notes: Vec::new(),
            streamed: false,
        }
    }

    /// Adds the command's own keys to the JSON document: `fields` is the command's struct of
    /// them, whose schema src/schema.rs publishes.
    pub fn with(mut self, fields: &impl Serialize) -> Self {
        if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(fields) {
            self.extra.extend(map);
        }
        self
    }

    /// The hosts' statuses, counted.
    pub fn recap(&self) -> Recap {
        Recap::of(self.hosts.iter().map(|h| h.verdict.status))
    }

    /// Every user of a bulk run (or every host otherwise), counted.
    pub fn counts(&self) -> Recap {
        self.hosts
            .iter()
            .fold(Recap::default(), |sum, r| sum.sum(&r.counts))
    }

    /// Whether Ctrl-C cut this run short. A reader of stdout that went away also stops the
    /// run, but it is told nothing and the run exits as a broken pipe (src/output.rs).
    pub fn interrupted(&self) -> bool {
        crate::runner::interrupted() && !crate::output::closed()
    }

    /// A plan's changes over every host that planned; `None` for other commands.
    pub fn plan_totals(&self) -> Option<PlanTotals> {
        let plans: Vec<&HostPlan> = self.hosts.iter().filter_map(|h| h.plan.as_ref()).collect();
        if plans.is_empty() {
            return None;
        }
        let mut totals = PlanTotals {
            hosts_planned: plans.len(),
            ..PlanTotals::default()
        };
        for plan in plans {
            totals.create += plan.count(Kind::Create);
            totals.change += plan.count(Kind::Change);
            totals.deactivate += plan.count(Kind::Deactivate);
            totals.hosts_with_changes += usize::from(!plan.changes.is_empty());
            totals.hosts_uncertain += usize::from(plan.uncertain);
        }
        Some(totals)
    }

    /// 1 when a host (or a user of a bulk run) failed, else 4 when one could not be reached,
    /// as ansible-playbook puts failed before unreachable; else 3 when a plan has changes
    /// pending (or cannot tell), else 0; 130 after Ctrl-C.
    pub fn exit_code(&self) -> u8 {
        use crate::error::{
            EXIT_CHANGES_PENDING, EXIT_HOST_FAILED, EXIT_INTERRUPTED, EXIT_UNREACHABLE,
        };
        if self.interrupted() {
            return EXIT_INTERRUPTED;
        }
        // A host's counts carry its own status (or, in bulk, its users').
        match self.counts().status() {
            Status::Failed => EXIT_HOST_FAILED,
            Status::Unreachable => EXIT_UNREACHABLE,
            _ if self
                .hosts
                .iter()
                .any(|h| h.plan.as_ref().is_some_and(|p| !p.in_sync())) =>
            {
                EXIT_CHANGES_PENDING
            }
            _ => 0,
        }
    }
}
