//! The Ansible-module mode: provision run by Ansible (or AWX) as a module, so a playbook task
//! can register users where a fleet is already driven by Ansible.
//!
//! Ansible runs a module with one argument, a JSON file of the task's arguments (for a binary
//! module, or a script marked WANT_JSON such as examples/ansible/library/provision_user), and
//! reads one JSON object from stdout: `changed`, `failed`, `msg`. This mode runs
//! `provision register` on the target with those arguments (the password on stdin) and
//! answers in that shape, with provision's per-host results under `hosts`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Args {
    user: String,
    password: Option<String>,
    password_file: Option<String>,
    #[serde(default)]
    admin: Option<bool>,
    inventory: Option<String>,
    limit: Option<String>,
    #[serde(default = "present")]
    state: String,
    #[serde(default, rename = "_ansible_check_mode")]
    check_mode: bool,
}

fn present() -> String {
    "present".into()
}

/// Always exits 0 with a JSON answer, as Ansible expects; failure is `"failed": true`.
pub fn run(args_file: &Path) -> u8 {
    let answer = match answer(args_file) {
        Ok(v) => v,
        Err(msg) => json!({"changed": false, "failed": true, "msg": msg}),
    };
    crate::out!("{answer}");
    0
}

fn answer(args_file: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(args_file).map_err(|e| {
        format!(
            "cannot read the module arguments {}: {e}",
            args_file.display()
        )
    })?;
    let args: Args = serde_json::from_str(&text).map_err(|e| format!("module arguments: {e}"))?;
    if args.state != "present" {
        return Err(format!(
            "state={}: only state=present is supported",
            args.state
        ));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find provision itself: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.args(["register", &args.user, "--output", "json"]);
    if let Some(inv) = &args.inventory {
        cmd.args(["-i", inv]);
    }
    if let Some(limit) = &args.limit {
        cmd.args(["--limit", limit]);
    }
    match args.admin {
        Some(true) => cmd.arg("--admin"),
        Some(false) => cmd.arg("--no-admin"),
        None => &mut cmd,
    };
    if args.check_mode {
        cmd.arg("--check");
    }
    match (&args.password, &args.password_file) {
        (_, Some(file)) => cmd.args(["--password-file", file]),
        (Some(_), None) => cmd.arg("--password-stdin"),
        (None, None) if args.check_mode => &mut cmd,
        (None, None) => return Err("give password (with no_log: true) or password_file".into()),
    };
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run provision: {e}"))?;
    if let (Some(mut stdin), Some(pw)) = (child.stdin.take(), &args.password) {
        let _ = stdin.write_all(pw.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("provision: {e}"))?;
    let doc: Value = match serde_json::from_slice(&out.stdout) {
        Ok(doc) => doc,
        // No document: provision refused before running (bad inventory, user ID…).
        Err(_) => return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
    };
    let recap = &doc["recap"];
    let count = |k: &str| recap[k].as_u64().unwrap_or(0);
    let failed = count("failed") > 0 || count("unreachable") > 0 || !out.status.success();
    let changed = count("changed") > 0;
    let msg = format!(
        "{}: ok={} changed={} unreachable={} failed={}{}",
        args.user,
        count("ok"),
        count("changed"),
        count("unreachable"),
        count("failed"),
        if args.check_mode { " (check mode)" } else { "" }
    );
    Ok(
        json!({"changed": changed, "failed": failed, "msg": msg, "hosts": doc["hosts"], "recap": doc["recap"]}),
    )
}
