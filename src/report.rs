//! What a run prints: one line per host as it finishes and a recap (human), or one JSON
//! document at the end (`--output json`). Nothing here ever receives a secret.
//!
//! JSON schema (stable; documented in the README):
//! `{"command", "check", "hosts": [{"host", "user_id"?, "status": "ok"|"changed"|"failed",
//!   "outcome"?, "message", "elapsed_ms"}], "recap": {"ok", "changed", "failed"}, ...extra}`

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Changed,
    Failed,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Changed => "changed",
            Status::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct HostReport {
    pub host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub status: Status,
    /// A stable machine-readable word for what happened, e.g. `created`, `exists`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    /// What converging the admin flag did, when `register --admin|--no-admin` met an existing user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin: Option<&'static str>,
    pub message: String,
    pub elapsed_ms: u64,
}

#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Recap {
    pub ok: usize,
    pub changed: usize,
    pub failed: usize,
}

impl Recap {
    pub fn of(reports: &[HostReport]) -> Self {
        let mut recap = Recap::default();
        for r in reports {
            match r.status {
                Status::Ok => recap.ok += 1,
                Status::Changed => recap.changed += 1,
                Status::Failed => recap.failed += 1,
            }
        }
        recap
    }
}

/// The line printed for a host as soon as it is done.
pub fn human_line(r: &HostReport, host_width: usize) -> String {
    let user = r
        .user_id
        .as_deref()
        .map(|u| format!("{u}  "))
        .unwrap_or_default();
    format!(
        "{:<host_width$}  {:<7}  {user}{}",
        r.host,
        r.status.label(),
        r.message
    )
}

pub fn human_recap(recap: &Recap, check: bool) -> String {
    let mode = if check {
        "  (check mode: nothing was changed)"
    } else {
        ""
    };
    format!(
        "\nRECAP  ok={}  changed={}  failed={}{mode}",
        recap.ok, recap.changed, recap.failed
    )
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
