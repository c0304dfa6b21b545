//! The renderers: the only code that prints what a command did. A command builds one
//! `Report`; these print it as a person reads it (a line per host as it finishes, then a recap
//! with a line per host, like Ansible's PLAY RECAP), as one JSON document (`--output json`),
//! or as the result an Ansible module answers with.

use std::io::IsTerminal;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::cli::Output;
use crate::report::{HostPlan, HostReport, PlanTotals, Recap, Report, Status, UserReport};

/// How many failed users are listed under a host's line before "… and N more".
const USERS_LISTED: usize = 20;

/// Colour only for a person at a terminal, and not when NO_COLOR is set (no-color.org).
fn paint() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn coloured(text: &str, status: Status, paint: bool) -> String {
    if paint {
        format!("\x1b[{}m{text}\x1b[0m", status.colour())
    } else {
        text.to_owned()
    }
}

/// A host that finished, printed at once when a person is reading (`width`: the longest host
/// name of the run). Other outputs print only at the end.
pub fn host_done(output: Output, host: &HostReport, width: usize) {
    if output != Output::Human {
        return;
    }
    let user = host
        .user_id
        .as_deref()
        .map(|u| format!("{u}  "))
        .unwrap_or_default();
    let label = coloured(
        &format!("{:<11}", host.verdict.status.label()),
        host.verdict.status,
        paint(),
    );
    crate::out!(
        "{:<width$}  {label}  {user}{}",
        host.host,
        host.verdict.message
    );
    if host.verdict.error.is_some() {
        // The host's line already says why; its users add nothing.
        return;
    }
    if let Some(plan) = &host.plan {
        plan_lines(plan, width);
    }
    let failed: Vec<&UserReport> = host
        .users
        .iter()
        .filter(|u| matches!(u.verdict.status, Status::Failed | Status::Unreachable))
        .collect();
    for u in failed.iter().take(USERS_LISTED) {
        crate::out!("{:width$}    {}: {}", "", u.user, u.verdict.message);
    }
    if failed.len() > USERS_LISTED {
        crate::out!(
            "{:width$}    … and {} more failed users (--output json lists them all)",
            "",
            failed.len() - USERS_LISTED
        );
    }
}

/// A plan under its host's line: every change, as Terraform shows them (`+ create`, `~`
/// for a change, `- … deactivate`), then the warnings (the first of them: JSON has all).
fn plan_lines(plan: &HostPlan, width: usize) {
    for change in &plan.changes {
        crate::out!("{:width$}    {change}", "");
    }
    for warning in plan.warnings.iter().take(USERS_LISTED) {
        crate::out!("{:width$}    ! {}", "", crate::output::clean(warning));
    }
    if plan.warnings.len() > USERS_LISTED {
        crate::out!(
            "{:width$}    ! … and {} more warnings (--output json lists them all)",
            "",
            plan.warnings.len() - USERS_LISTED
        );
    }
}

/// The end of the run: the recap (human) or the whole document (JSON). Returns the exit code.
pub fn finish(output: Output, report: &Report) -> u8 {
    match output {
        Output::Human => human(report),
        Output::Json => {
            let doc = serde_json::to_string_pretty(&document(report)).unwrap_or_default();
            match (report.streamed, doc.strip_prefix('{')) {
                // The rows opened the document (`{"users": [`): close their list and go on
                // with the rest of it.
                (true, Some(rest)) => crate::out!("],{rest}"),
                _ => crate::out!("{doc}"),
            }
        }
        // Stdout holds the rows only; what went wrong is said on stderr.
        Output::Csv => {
            for r in &report.hosts {
                if r.verdict.error.is_some() {
                    crate::output::error_line(format!("{}: {}", r.host, r.verdict.message));
                }
            }
        }
        Output::Ansible => crate::out!("{}", ansible(report)),
    }
    report.exit_code()
}

/// Before the rows of `provision users`: JSON opens its document, CSV writes its header.
pub fn users_start(output: Output) {
    rows_start(output, "users");
}

/// Before the rows of `provision token list`: JSON opens its document.
pub fn tokens_start(output: Output) {
    rows_start(output, "tokens");
}

/// JSON opens its document with the list of rows under `key`; CSV writes its header.
fn rows_start(output: Output, key: &str) {
    match output {
        Output::Json => crate::out!("{{\"{key}\": ["),
        Output::Csv => crate::out!("{}", CSV_COLUMNS.join(",")),
        Output::Human | Output::Ansible => {}
    }
}

const CSV_COLUMNS: [&str; 10] = [
    "host",
    "user_id",
    "admin",
    "deactivated",
    "erased",
    "locked",
    "display_name",
    "user_type",
    "created_ms",
    "last_seen_ms",
];

/// Whether a JSON row was printed yet (the next one needs a comma before it); held while a row
/// is printed, so that rows of hosts listed at once never interleave.
static FIRST_ROW: std::sync::Mutex<bool> = std::sync::Mutex::new(true);

/// One user of `provision users`, as soon as its page arrived.
pub fn user_row(output: Output, host: &str, user: &provision_backends::Listed) {
    match output {
        Output::Human => crate::out!(
            "{host}  {}  {}",
            crate::output::clean(&user.user_id),
            crate::output::clean(&crate::commands::show::describe(&user.state))
        ),
        Output::Json => json_row(host, user),
        Output::Csv => {
            let s = &user.state;
            let flag = |v: Option<bool>| v.map(|b| b.to_string()).unwrap_or_default();
            let text = |v: &Option<String>| {
                v.as_deref()
                    .map(crate::password_store::safe_cell)
                    .unwrap_or_default()
            };
            let number = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_default();
            let mut row = csv::WriterBuilder::new()
                .has_headers(false)
                .terminator(csv::Terminator::Any(b'\n'))
                .from_writer(Vec::new());
            let _ = row.write_record([
                host.to_owned(),
                user.user_id.clone(),
                flag(s.admin),
                flag(s.deactivated),
                flag(s.erased),
                flag(s.locked),
                text(&s.display_name.clone().flatten()),
                text(&s.user_type.clone().flatten()),
                number(s.created_ms),
                number(s.last_seen_ms),
            ]);
            if let Ok(bytes) = row.into_inner() {
                crate::output::bytes(&bytes);
            }
        }
        Output::Ansible => {}
    }
}

/// A row of a streamed JSON list: what a host listed, and the host.
#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Row<'a, T> {
    #[serde(flatten)]
    pub item: T,
    /// The host that listed it, as the inventory names it.
    pub host: &'a str,
}

/// A registration token of `provision token list`, as its server tells it.
#[derive(Serialize, JsonSchema)]
pub struct TokenRow<'a> {
    #[serde(flatten)]
    pub token: &'a provision_backends::RegistrationToken,
    /// Whether it can still be used to register.
    pub valid: bool,
}

/// One row of a streamed JSON list, with its host, and the comma before it when it is not the
/// first.
fn json_row(host: &str, item: impl Serialize) {
    let row = serde_json::to_string(&Row { item, host }).unwrap_or_default();
    let mut first = FIRST_ROW.lock().unwrap_or_else(|e| e.into_inner());
    let comma = if *first { "" } else { "," };
    *first = false;
    crate::out!("{comma}{row}");
}

/// One registration token of `provision token list`, as soon as its host answered. The token
/// is printed as the server lists it: the command's help says its output holds secrets.
pub fn token_row(
    output: Output,
    host: &str,
    token: &provision_backends::RegistrationToken,
    now_ms: u64,
) {
    let valid = token.valid(now_ms);
    match output {
        Output::Human => {
            let state = match (valid, token.expiry_ms) {
                (true, _) => "valid",
                (false, _) if token.revoked => "revoked",
                (false, Some(expiry)) if expiry <= now_ms => "expired",
                (false, _) => "used up",
            };
            let allowed = token
                .uses_allowed
                .map_or("unlimited".to_owned(), |n| n.to_string());
            let expiry = token.expiry_ms.map_or("no expiry".to_owned(), |ms| {
                format!("expires {}", crate::commands::show::date(ms))
            });
            crate::out!(
                "{host}  {}  {state}, {} of {allowed} uses completed, {} pending, {expiry}",
                crate::output::clean(&token.token),
                token.completed,
                token.pending
            );
        }
        Output::Json => {
            json_row(host, TokenRow { token, valid });
        }
        // `--output csv` is refused for every command but users (Cli::check_output).
        Output::Csv | Output::Ansible => {}
    }
}

fn counts(recap: &Recap, paint: bool) -> String {
    let part = |name: &str, n: usize, status: Status| {
        let text = format!("{name}={n}");
        if n > 0 && status != Status::Ok {
            coloured(&text, status, paint)
        } else {
            text
        }
    };
    let mut s = format!(
        "{}  {}  {}  {}",
        part("ok", recap.ok, Status::Ok),
        part("changed", recap.changed, Status::Changed),
        part("unreachable", recap.unreachable, Status::Unreachable),
        part("failed", recap.failed, Status::Failed),
    );
    if recap.not_started > 0 {
        s.push_str(&format!(
            "  {}",
            part("not_started", recap.not_started, Status::NotStarted)
        ));
    }
    s
}

/// The recap: one line per host with its counts (users, in a bulk run), then the hosts that
/// failed or could not be reached, named; then the command's notes.
fn human(report: &Report) {
    let paint = paint();
    let width = report.hosts.iter().map(|r| r.host.len()).max().unwrap_or(0);
    let mut s = String::from("\nRECAP");
    if report.check {
        s.push_str("  (check mode: nothing was changed)");
    }
    for r in &report.hosts {
        s.push_str(&format!(
            "\n{:<width$} : {}",
            r.host,
            counts(&r.counts, paint)
        ));
    }
    for (status, what) in [
        (Status::Unreachable, "UNREACHABLE"),
        (Status::Failed, "FAILED"),
        (Status::NotStarted, "NOT STARTED"),
    ] {
        let named: Vec<&str> = report
            .hosts
            .iter()
            .filter(|r| r.verdict.status == status)
            .map(|r| r.host.as_str())
            .collect();
        if !named.is_empty() {
            s.push_str(&format!("\n{what}: {}", named.join(", ")));
        }
    }
    crate::out!("{s}");
    if report.interrupted() {
        crate::out!(
            "INTERRUPTED: what is marked \"not started\" was not touched; run the same command again to finish"
        );
    }
    if report.bulk {
        crate::out!("USERS  {}", counts(&report.counts(), false));
    }
    if let Some(totals) = report.plan_totals() {
        crate::out!("PLAN  {totals}");
    }
    for note in &report.notes {
        crate::out!("{note}");
    }
}

/// The JSON document (README, "JSON output"; its schemas are schemas/*.json, derived from this
/// type by src/schema.rs): `command`, `check`, `hosts`, `recap`, the command's own keys
/// (`fields`, src/commands/fields.rs), for a plan `plan` (its totals), and for bulk runs
/// `users` (the counts) and `host_users`.
#[derive(Serialize, JsonSchema)]
#[schemars(
    deny_unknown_fields,
    rename = "{F}Document",
    description = "What a command did: each host's result, the counts, the command's own keys."
)]
pub struct Document<'a, F, B> {
    /// The command, as `provision COMMAND`.
    pub command: &'a str,
    /// `--check`: nothing was changed, the outcomes say what would have been.
    pub check: bool,
    /// Each selected host's result, in the inventory's order.
    pub hosts: &'a [HostReport],
    /// The hosts' statuses, counted.
    pub recap: Recap,
    #[serde(flatten)]
    pub fields: F,
    /// A plan's changes over every host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanTotals>,
    #[serde(flatten)]
    pub bulk: B,
}

/// What a run over a users file adds: every user's result.
#[derive(Serialize, JsonSchema)]
pub struct Bulk<'a> {
    /// Every user of every host, counted.
    pub users: Recap,
    /// Each host with its users' results.
    pub host_users: Vec<HostWithUsers<'a>>,
}

/// One bulk host in JSON: its line, its users' counts and each user's result.
#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct HostWithUsers<'a> {
    #[serde(flatten)]
    pub report: &'a HostReport,
    /// Its users' statuses, counted.
    pub users_recap: Recap,
    /// Each user's result on it.
    pub users: &'a [UserReport],
}

/// The document of a report.
pub fn document(report: &Report) -> Document<'_, &Map<String, Value>, Option<Bulk<'_>>> {
    let bulk = report.bulk.then(|| Bulk {
        users: report.counts(),
        host_users: report
            .hosts
            .iter()
            .map(|h| HostWithUsers {
                report: h,
                users_recap: h.counts,
                users: &h.users,
            })
            .collect(),
    });
    Document {
        command: report.command,
        check: report.check,
        hosts: &report.hosts,
        recap: report.recap(),
        fields: &report.extra,
        plan: report.plan_totals(),
        bulk,
    }
}

/// What an Ansible module answers: `changed`, `failed`, `msg`, with provision's per-host
/// results under `hosts` and `recap`.
pub fn ansible(report: &Report) -> Value {
    let recap = report.recap();
    let failed = report.exit_code() != 0;
    let subject = report
        .extra
        .get("user")
        .and_then(Value::as_str)
        .unwrap_or(report.command);
    let msg = format!(
        "{subject}: ok={} changed={} unreachable={} failed={}{}",
        recap.ok,
        recap.changed,
        recap.unreachable,
        recap.failed,
        if report.check { " (check mode)" } else { "" }
    );
    json!({
        "changed": recap.changed > 0,
        "failed": failed,
        "msg": msg,
        "hosts": report.hosts,
        "recap": recap,
    })
}

/// `provision inventory --output json` (schemas/inventory.json).
#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct InventoryDocument<'a> {
    /// `inventory`.
    pub command: &'a str,
    /// The first inventory source, as before `-i` could be repeated.
    pub inventory: Option<&'a str>,
    /// Every inventory source, as given.
    pub inventories: &'a [String],
    /// Each selected host: `host`, its connection, backends and settings, secrets by their
    /// source only. Its keys follow the inventory's (inventory.example.yaml).
    pub hosts: &'a [Value],
}

/// `provision inventory`: each selected host's plan (never a secret: `Host::plan` shows only
/// where secrets come from). Returns the exit code.
pub fn inventory(output: Output, inventory: &[std::path::PathBuf], plans: &[Value]) -> u8 {
    match output {
        Output::Json | Output::Ansible => {
            let sources: Vec<String> = inventory.iter().map(|p| p.display().to_string()).collect();
            let doc = InventoryDocument {
                command: "inventory",
                inventory: sources.first().map(String::as_str),
                inventories: &sources,
                hosts: plans,
            };
            crate::out!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        // main.rs refuses csv for every command but `users`.
        Output::Human | Output::Csv => {
            for plan in plans {
                crate::out!("{}", plan["host"].as_str().unwrap_or(""));
                if let Some(map) = plan.as_object() {
                    for (key, value) in map.iter().filter(|(k, _)| k.as_str() != "host") {
                        crate::out!("  {key:<12} {}", setting(value));
                    }
                }
            }
        }
    }
    0
}

/// `{"kind": "ssh", "user": "root"}` as `ssh user=root`.
fn setting(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let kind = map.get("kind").and_then(|k| k.as_str()).unwrap_or("");
            let rest: Vec<String> = map
                .iter()
                .filter(|(k, v)| k.as_str() != "kind" && !v.is_null())
                .map(|(k, v)| format!("{k}={}", setting(v)))
                .collect();
            format!("{kind} {}", rest.join(" ")).trim().to_owned()
        }
        Value::String(s) => s.clone(),
        Value::Null => "none".into(),
        other => other.to_string(),
    }
}
