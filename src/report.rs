//! What a run prints: one line per host as it finishes and a recap with one line per host, like
//! Ansible's PLAY RECAP (human), or one JSON document at the end (`--output json`). Nothing
//! here ever receives a secret.
//!
//! JSON schema (documented in the README):
//! `{"command", "check", "hosts": [{"host", "user_id"?, "status", "error"?, "outcome"?,
//!   "admin"?, "message", "elapsed_ms"}], "recap": {"ok", "changed", "unreachable", "failed",
//!   "not_started"}, ...extra}`, `status` one of ok, changed, unreachable, failed, not_started.

use std::io::IsTerminal;

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
    fn colour(self) -> &'static str {
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

    fn human(&self, paint: bool) -> String {
        let part = |name: &str, n: usize, status: Status| {
            let text = format!("{name}={n}");
            if paint && n > 0 && status != Status::Ok {
                format!("\x1b[{}m{text}\x1b[0m", status.colour())
            } else {
                text
            }
        };
        let mut s = format!(
            "{}  {}  {}  {}",
            part("ok", self.ok, Status::Ok),
            part("changed", self.changed, Status::Changed),
            part("unreachable", self.unreachable, Status::Unreachable),
            part("failed", self.failed, Status::Failed),
        );
        if self.not_started > 0 {
            s = format!(
                "{s}  {}",
                part("not_started", self.not_started, Status::NotStarted)
            );
        }
        s
    }
}

/// Colour only for a person at a terminal, and not when NO_COLOR is set (no-color.org).
pub fn paint() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// The line printed for a host as soon as it is done.
pub fn human_line(r: &HostReport, host_width: usize) -> String {
    let user = r
        .user_id
        .as_deref()
        .map(|u| format!("{u}  "))
        .unwrap_or_default();
    let label = format!("{:<11}", r.status.label());
    let label = if paint() {
        format!("\x1b[{}m{label}\x1b[0m", r.status.colour())
    } else {
        label
    };
    format!("{:<host_width$}  {label}  {user}{}", r.host, r.message)
}

/// The recap: one line per host with its counts (users, in a bulk run), then the hosts that
/// failed or could not be reached, named.
pub fn human_recap(reports: &[HostReport], check: bool) -> String {
    let paint = paint();
    let width = reports.iter().map(|r| r.host.len()).max().unwrap_or(0);
    let mut s = String::from("\nRECAP");
    if check {
        s.push_str("  (check mode: nothing was changed)");
    }
    for r in reports {
        s.push_str(&format!("\n{:<width$} : {}", r.host, r.counts.human(paint)));
    }
    for (status, what) in [
        (Status::Unreachable, "UNREACHABLE"),
        (Status::Failed, "FAILED"),
        (Status::NotStarted, "NOT STARTED"),
    ] {
        let named: Vec<&str> = reports
            .iter()
            .filter(|r| r.status == status)
            .map(|r| r.host.as_str())
            .collect();
        if !named.is_empty() {
            s.push_str(&format!("\n{what}: {}", named.join(", ")));
        }
    }
    s
}

#[derive(Serialize)]
pub struct Document<'a, E: Serialize> {
    pub command: &'static str,
    pub check: bool,
    pub hosts: &'a [HostReport],
    pub recap: Recap,
    #[serde(flatten)]
    pub extra: E,
}
