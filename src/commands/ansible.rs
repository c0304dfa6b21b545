//! The Ansible-module mode: provision run by Ansible (or AWX) as a module, so a playbook task
//! can register, lock or deactivate users where a fleet is already driven by Ansible.
//!
//! Ansible runs a module with one argument, a JSON file of the task's arguments (for a binary
//! module, or a script marked WANT_JSON such as examples/ansible/library/provision_user), and
//! reads one JSON object from stdout: `changed`, `failed`, `msg`. This mode runs the command a
//! `state` maps to (register, lock, deactivate, then password where `update_password: always`)
//! in this process with those arguments (the password handed over in memory, never on an argv)
//! and answers through the Ansible renderer (src/render.rs).
//!
//! The options are documented for `ansible-doc` in ansible/collection/plugins/modules/user.yml;
//! tests/integration/ansible.rs holds that file to [`OPTIONS`].

use std::ffi::OsStr;
use std::path::Path;

use clap::Parser;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};

use crate::cli::{Cli, Command, Output};
use crate::report::Report;

/// The names the binary answers to as a module: the example's library/provision_user and the
/// collection's plugins/modules/user (ansible/collection/).
const MODULE_NAMES: [&str; 2] = ["provision_user", "user"];

/// Whether the binary was started as a module: Ansible copies a binary module into its remote
/// temporary folder as `AnsiballZ_` + the module's file name and runs it with the arguments file
/// as its only argument (ansible-core, lib/ansible/plugins/action/__init__.py,
/// `ActionBase._execute_module`).
pub fn started_as_module(argv: &[std::ffi::OsString]) -> bool {
    let Some(name) = argv
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(OsStr::to_str)
    else {
        return false;
    };
    let name = name.strip_prefix("AnsiballZ_").unwrap_or(name);
    argv.len() == 2 && MODULE_NAMES.contains(&name)
}

/// Every option a task may give, as [`Args`] reads them: the module's documentation must list
/// exactly these (checked by the integration test against `ansible-doc --json`).
pub const OPTIONS: [&str; 9] = [
    "user",
    "state",
    "password",
    "password_file",
    "update_password",
    "admin",
    "erase",
    "inventory",
    "limit",
];

// An unknown option is refused, as AnsibleModule refuses one ("Unsupported parameters"), so a
// misspelt `pasword` is not silently ignored; serde's message lists the options.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    user: String,
    #[serde(default)]
    state: State,
    password: Option<String>,
    password_file: Option<String>,
    #[serde(default)]
    update_password: UpdatePassword,
    #[serde(default, deserialize_with = "maybe_boolean")]
    admin: Option<bool>,
    #[serde(default, deserialize_with = "boolean")]
    erase: bool,
    inventory: Option<String>,
    limit: Option<String>,
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum State {
    /// Registered (today's register), with its admin flag converged where `admin` is given.
    #[default]
    Present,
    /// Deactivated (`provision deactivate`, `--erase` with `erase: true`).
    Absent,
    /// An existing user locked (`provision lock`); a missing user is not registered.
    Locked,
}

/// When the password is set, as `ansible.builtin.user`'s `update_password` says it. The
/// default differs from that module's (`always`): a homeserver cannot compare a password with
/// the one it holds, so `always` sets it, and reports a change, on every run.
#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum UpdatePassword {
    #[default]
    OnCreate,
    Always,
}

/// A boolean as AnsibleModule takes one: a JSON boolean, or one of the strings and numbers of
/// ansible-core's lib/ansible/module_utils/parsing/convert_bool.py (`yes`, `on`, `1`, …).
fn truth(value: &Value) -> Result<Option<bool>, String> {
    const TRUE: [&str; 5] = ["y", "yes", "on", "1", "true"];
    const FALSE: [&str; 5] = ["n", "no", "off", "0", "false"];
    match value {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        Value::Number(n) if n.as_f64() == Some(1.0) => Ok(Some(true)),
        Value::Number(n) if n.as_f64() == Some(0.0) => Ok(Some(false)),
        Value::String(s) => {
            let s = s.to_lowercase();
            match s.as_str() {
                "t" => Ok(Some(true)),
                "f" => Ok(Some(false)),
                s if TRUE.contains(&s) => Ok(Some(true)),
                s if FALSE.contains(&s) => Ok(Some(false)),
                _ => Err(format!("{value} is not a valid boolean")),
            }
        }
        _ => Err(format!("{value} is not a valid boolean")),
    }
}

fn maybe_boolean<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    truth(&Value::deserialize(d)?).map_err(serde::de::Error::custom)
}

fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(maybe_boolean(d)?.unwrap_or(false))
}

/// Always exits 0 with a JSON answer, as Ansible expects; failure is `"failed": true`.
pub fn run(args_file: &Path) -> u8 {
    let answer = answer(args_file)
        .unwrap_or_else(|msg| json!({"changed": false, "failed": true, "msg": msg}));
    crate::out!("{answer}");
    0
}

/// The task's arguments and whether Ansible runs in check mode.
fn read(args_file: &Path) -> Result<(Args, bool), String> {
    let text = std::fs::read_to_string(args_file).map_err(|e| {
        format!(
            "cannot read the module arguments {}: {e}",
            args_file.display()
        )
    })?;
    let mut map: Map<String, Value> =
        serde_json::from_str(&text).map_err(|e| format!("module arguments: {e}"))?;
    let check = match map.remove("_ansible_check_mode") {
        Some(v) => truth(&v).map_err(|e| format!("_ansible_check_mode: {e}"))?,
        None => None,
    };
    // Ansible hands every module its own `_ansible_*` keys (verbosity, no_log, diff…), which
    // AnsibleModule takes out before it checks the task's (module_utils/common/parameters.py,
    // PASS_VARS); they are no option of this module.
    map.retain(|k, _| !k.starts_with("_ansible_"));
    let args =
        serde_json::from_value(Value::Object(map)).map_err(|e| format!("module arguments: {e}"))?;
    Ok((args, check.unwrap_or(false)))
}

fn answer(args_file: &Path) -> Result<Value, String> {
    let (args, check) = read(args_file)?;
    let given = args.password.is_some() || args.password_file.is_some();
    match args.state {
        State::Present => {
            if !given && !check {
                return Err("give password (with no_log: true) or password_file".into());
            }
            let register = command(&args, check, "register", &[])?;
            let mut answer = crate::render::ansible(&register);
            // The hosts where the user was there already: the registration set no password.
            let existed: Vec<&str> = register
                .hosts
                .iter()
                .filter(|h| h.verdict.outcome == Some("exists"))
                .map(|h| h.host.as_str())
                .collect();
            let failed = answer["failed"] == json!(true);
            let always = args.update_password == UpdatePassword::Always;
            if always && given && !failed && !existed.is_empty() {
                // Exact host names: a pattern of them selects those hosts and no other.
                let limit = existed.join(",");
                let password = command(&args, check, "password", &[&limit])?;
                merge(&mut answer, crate::render::ansible(&password));
            }
            Ok(answer)
        }
        State::Locked => Ok(crate::render::ansible(&command(&args, check, "lock", &[])?)),
        State::Absent => Ok(crate::render::ansible(&command(
            &args,
            check,
            "deactivate",
            &[],
        )?)),
    }
}

/// The password step's answer goes under `password`; the task changed or failed if either
/// step did.
fn merge(answer: &mut Value, password: Value) {
    for key in ["changed", "failed"] {
        let either = answer[key] == json!(true) || password[key] == json!(true);
        answer[key] = json!(either);
    }
    let msg = format!(
        "{}; password: {}",
        answer["msg"].as_str().unwrap_or(""),
        password["msg"].as_str().unwrap_or("")
    );
    answer["msg"] = json!(msg);
    answer["password"] = password;
}

/// Runs `verb` for the task's user as its command line would (the line is parsed here, never
/// run), the password handed over in memory. `limit` narrows the task's own `limit`.
fn command(args: &Args, check: bool, verb: &str, limit: &[&str]) -> Result<Report, String> {
    let mut argv: Vec<String> = vec!["provision".into(), verb.into(), args.user.clone()];
    let mut add = |flag: &str, value: Option<&str>| {
        if let Some(value) = value {
            argv.extend([flag.to_owned(), value.to_owned()]);
        }
    };
    add("-i", args.inventory.as_deref());
    // `a,&b`: the hosts of `a` that are also in `b` (the task's own limit).
    let limit = match (limit.first(), args.limit.as_deref()) {
        (Some(names), Some(task)) => Some(format!("{names},&{task}")),
        (Some(names), None) => Some((*names).to_owned()),
        (None, task) => task.map(str::to_owned),
    };
    add("--limit", limit.as_deref());
    let password_verb = matches!(verb, "register" | "password");
    if password_verb {
        add("--password-file", args.password_file.as_deref());
    }
    if verb == "register" {
        match args.admin {
            Some(true) => argv.push("--admin".into()),
            Some(false) => argv.push("--no-admin".into()),
            None => {}
        }
    }
    if verb == "deactivate" && args.erase {
        argv.push("--erase".into());
    }
    if check {
        argv.push("--check".into());
    }
    let cli = Cli::try_parse_from(&argv).map_err(|e| e.to_string())?;
    let given = || {
        args.password
            .clone()
            .filter(|_| args.password_file.is_none())
            .map(provision_backends::SecretString::from)
    };
    let mut global = cli.global;
    global.output = Output::Ansible;
    let report = match cli.command {
        Command::Register(mut register) => {
            register.password.given = given();
            crate::commands::register::run(&global, register)
        }
        Command::Password(mut password) => {
            password.password.given = given();
            crate::commands::password::run(&global, password)
        }
        Command::Lock(lock) => crate::commands::lifecycle::lock(&global, lock, true),
        Command::Deactivate(deactivate) => {
            crate::commands::lifecycle::deactivate(&global, deactivate)
        }
        _ => return Err(format!("internal error: {verb} is not a module verb")),
    };
    report.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::{started_as_module, truth};
    use serde_json::json;

    #[test]
    fn the_module_is_known_by_its_name_as_ansible_copies_it() {
        let argv = |a: &[&str]| a.iter().map(Into::into).collect::<Vec<_>>();
        assert!(started_as_module(&argv(&[
            "/tmp/x/AnsiballZ_user",
            "/tmp/x/args"
        ])));
        assert!(started_as_module(&argv(&[
            "library/provision_user",
            "args"
        ])));
        assert!(!started_as_module(&argv(&["provision", "args"])));
        assert!(!started_as_module(&argv(&["AnsiballZ_user", "a", "b"])));
    }

    #[test]
    fn booleans_as_ansible_reads_them() {
        assert_eq!(truth(&json!("yes")), Ok(Some(true)));
        assert_eq!(truth(&json!("False")), Ok(Some(false)));
        assert_eq!(truth(&json!(1)), Ok(Some(true)));
        assert_eq!(truth(&json!(null)), Ok(None));
        assert!(truth(&json!("maybe")).is_err());
    }
}
