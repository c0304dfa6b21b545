//! What a run did, as data: per host (and per user in bulk) an outcome or a typed error, the
//! counts, the command's own fields. src/render.rs prints it. Nothing here ever receives a
//! secret.
//!
//! JSON schema (documented in the README):
//! `{"command", "check", "hosts": [{"host", "user_id"?, "status", "error"?, "outcome"?,
//!   "admin"?, "message", "elapsed_ms"}], "recap": {"ok", "changed", "unreachable", "failed",
//!   "not_started"}, ...extra}`, `status` one of ok, changed, unreachable, failed, not_started.

use provision_backends::Failure;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

#[derive(Debug, Clone, Serialize)]
pub struct HostReport {
    pub host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub status: Status,
    /// Why there is no result: setup, unreachable, failed, timed_out, not_started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    /// A stable machine-readable word for what happened, e.g. `created`, `exists`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    /// What converging the admin flag did, when `register --admin|--no-admin` met an existing user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin: Option<&'static str>,
    pub message: String,
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
    /// A host with no result.
    pub fn error(host: &str, error: &HostError, elapsed_ms: u64) -> Self {
        HostReport {
            host: host.to_owned(),
            user_id: None,
            status: error.status(),
            error: Some(error.code()),
            outcome: None,
            admin: None,
            message: error.message(),
            elapsed_ms,
            counts: Recap::one(error.status()),
            users: Vec::new(),
        }
    }
}

#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Recap {
    pub ok: usize,
    pub changed: usize,
    pub unreachable: usize,
    pub failed: usize,
    pub not_started: usize,
}

impl Recap {
    pub fn one(status: Status) -> Self {
        let mut recap = Recap::default();
        recap.add(status);
        recap
    }

    pub fn add(&mut self, status: Status) {
        match status {
            Status::Ok => self.ok += 1,
            Status::Changed => self.changed += 1,
            Status::Unreachable => self.unreachable += 1,
            Status::Failed => self.failed += 1,
            Status::NotStarted => self.not_started += 1,
        }
    }

    /// The hosts' statuses, counted.
    pub fn of(reports: &[HostReport]) -> Self {
        let mut recap = Recap::default();
        for r in reports {
            recap.add(r.status);
        }
        recap
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
#[derive(Debug, Clone, Serialize)]
pub struct UserReport {
    pub user_id: Option<String>,
    pub user: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin: Option<&'static str>,
    pub message: String,
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
    /// The command's own fields of the JSON document (`user`, `admin`, `from`, `password`…).
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// Lines for a person after the recap (where a generated password went…).
    pub notes: Vec<String>,
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
        }
    }

    /// Adds a field of the command's own to the JSON document.
    pub fn with(mut self, key: &str, value: impl Serialize) -> Self {
        self.extra.insert(
            key.to_owned(),
            serde_json::to_value(value).unwrap_or_default(),
        );
        self
    }

    /// The hosts' statuses, counted.
    pub fn recap(&self) -> Recap {
        Recap::of(&self.hosts)
    }

    /// Every user of a bulk run (or every host otherwise), counted.
    pub fn counts(&self) -> Recap {
        self.hosts
            .iter()
            .fold(Recap::default(), |sum, r| sum.sum(&r.counts))
    }

    /// 1 when a host (or a user of a bulk run) failed, else 4 when one could not be reached,
    /// else 0, as ansible-playbook puts failed before unreachable; 130 after Ctrl-C.
    pub fn exit_code(&self) -> u8 {
        use crate::error::{EXIT_HOST_FAILED, EXIT_INTERRUPTED, EXIT_UNREACHABLE};
        if crate::runner::interrupted() && !crate::output::closed() {
            return EXIT_INTERRUPTED;
        }
        // A host's counts carry its own status (or, in bulk, its users').
        let all = self.counts();
        if all.failed > 0 {
            EXIT_HOST_FAILED
        } else if all.unreachable > 0 {
            EXIT_UNREACHABLE
        } else {
            0
        }
    }
}
