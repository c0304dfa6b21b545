//! The Ansible-module mode: provision run by Ansible (or AWX) as a module, so a playbook task
//! can register users where a fleet is already driven by Ansible.
//!
//! Ansible runs a module with one argument, a JSON file of the task's arguments (for a binary
//! module, or a script marked WANT_JSON such as examples/ansible/library/provision_user), and
//! reads one JSON object from stdout: `changed`, `failed`, `msg`. This mode runs the register
//! command in this process with those arguments (the password handed over in memory, never on
//! an argv) and answers through the Ansible renderer (src/render.rs).

use std::path::Path;

use clap::Parser;
use serde::Deserialize;
use serde_json::json;

use crate::cli::{Cli, Command, Output};
use crate::report::Report;

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
    match report(args_file) {
        Ok(report) => {
            crate::render::finish(Output::Ansible, &report);
        }
        Err(msg) => crate::out!("{}", json!({"changed": false, "failed": true, "msg": msg})),
    }
    0
}

fn report(args_file: &Path) -> Result<Report, String> {
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
    // The task's arguments as the command line would give them; parsed here, never run.
    let mut argv = vec![
        "provision".to_owned(),
        "register".to_owned(),
        args.user.clone(),
    ];
    let mut add = |flag: &str, value: Option<&String>| {
        if let Some(value) = value {
            argv.extend([flag.to_owned(), value.clone()]);
        }
    };
    add("-i", args.inventory.as_ref());
    add("--limit", args.limit.as_ref());
    add("--password-file", args.password_file.as_ref());
    match args.admin {
        Some(true) => argv.push("--admin".into()),
        Some(false) => argv.push("--no-admin".into()),
        None => {}
    }
    if args.check_mode {
        argv.push("--check".into());
    }
    if args.password.is_none() && args.password_file.is_none() && !args.check_mode {
        return Err("give password (with no_log: true) or password_file".into());
    }
    let cli = Cli::try_parse_from(&argv).map_err(|e| e.to_string())?;
    let Command::Register(mut register) = cli.command else {
        return Err("internal error: not a register command".into());
    };
    if args.password_file.is_none() {
        register.password.given = args.password.map(provision_backends::SecretString::from);
    }
    let mut global = cli.global;
    global.output = Output::Ansible;
    crate::commands::register::run(&global, register).map_err(|e| e.to_string())
}
