//! A synapse-cli host reached over SSH registers through the shared-secret API over a forward
//! on its SSH connection, not through one `register_new_matrix_user` per user: real sshd,
//! real Synapse. The tool is wrapped in a recorder (fixtures::argv_recorder), so whether it
//! ran at all is seen, not guessed from the speed.

use std::path::{Path, PathBuf};

use crate::fixtures::{
    COUNTED, FLEET, SERVER_NAME, Synapse, argv_never_holds, argv_recorder, counted_lock, json,
    password_rows, provision, scratch, sshd, synapse, text, unique, write_file,
};

/// homeserver.yaml as the running Synapse has it, changed by `change`, written as JSON (YAML
/// too, for the tool and for provision) beside the scratch files.
fn config_like(
    s: &Synapse,
    change: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> PathBuf {
    let text = std::fs::read_to_string(s.config()).unwrap();
    let mut config: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    change(config.as_object_mut().unwrap());
    write_file(
        &unique("homeserver.json"),
        &serde_json::to_string_pretty(&config).unwrap(),
    )
}

/// The secret as the running Synapse has it.
fn secret(s: &Synapse) -> String {
    std::fs::read_to_string(s.secret_file())
        .unwrap()
        .trim()
        .to_owned()
}

/// An inventory of one synapse-cli host over SSH at `address`, with `extra` host keys.
fn inventory(address: &str, config: &Path, command: &Path, extra: &str) -> PathBuf {
    write_file(
        &unique("tunnel.yaml"),
        &format!(
            "all:\n  hosts:\n    counted:\n      server_name: {SERVER_NAME}\n      backend: synapse-cli\n      transport: ssh\n      ssh: {}\n      config: {}\n      command: {}\n{extra}",
            sshd().ssh_vars(address),
            config.display(),
            command.display(),
        ),
    )
}

fn users(prefix: &str, n: usize) -> PathBuf {
    let mut csv = String::from("user,admin,password_file\n");
    for i in 0..n {
        csv.push_str(&format!("{prefix}-{i},,\n"));
    }
    write_file(&unique("tunnel-users.csv"), &csv)
}

fn register_from(inv: &Path, users: &Path, passwords: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_provision"));
    cmd.args(["-v", "register", "--from"])
        .arg(users)
        .arg("--passwords-out")
        .arg(passwords)
        .arg("-i")
        .arg(inv)
        .args(["--output", "json"])
        .env_remove("PROVISION_INVENTORY")
        .stdin(std::process::Stdio::null());
    cmd
}

/// The one line a run that fell back to the tool says why, and its whole stderr.
fn the_fallback_note(out: &std::process::Output) -> (String, String) {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let notes: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("registering with"))
        .collect();
    assert_eq!(notes.len(), 1, "{stderr}");
    (notes[0].to_owned(), stderr)
}

fn ping(inv: &Path) -> String {
    let out = provision(
        &["ping", "-i", inv.to_str().unwrap(), "--output", "json"],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    json(&out)["hosts"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn assert_all_log_in(s: &Synapse, passwords: &Path, n: usize) {
    let rows = password_rows(passwords);
    assert_eq!(rows.len(), n);
    for (user, password) in rows {
        assert!(s.login(&user, &password).is_ok(), "{user} cannot log in");
    }
}

/// The secret from `registration_shared_secret_path` (a file with a trailing newline, which
/// Synapse strips), the listener from the config: 20 users over one SSH connection, the tool
/// never run, every user logs in.
#[test]
fn register_from_goes_through_the_shared_secret_api_over_the_hosts_ssh() {
    let s = synapse();
    let config = config_like(s, |c| {
        c.remove("registration_shared_secret");
        c.insert(
            "registration_shared_secret_path".into(),
            s.secret_file().to_str().unwrap().into(),
        );
    });
    let (tool, tool_log) = argv_recorder(&scratch(), &s.register_tool());
    // The address whose connections are counted, which only tests holding the lock use.
    let inv = inventory(COUNTED, &config, &tool, "");
    let passwords = scratch().join(unique("tunnel-passwords.csv"));
    let users = users(&unique("tun"), 20);

    let _counting = counted_lock();
    let before = sshd().connections(COUNTED);
    let out = register_from(&inv, &users, &passwords).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(json(&out)["users"]["changed"], 20, "{}", text(&out));
    assert_eq!(
        sshd().connections(COUNTED) - before,
        1,
        "one SSH connection for the run, the forward included"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("registering via the shared-secret API at 127.0.0.1:")
            && stderr.contains(" over ssh root@127.0.0.5:"),
        "{stderr}"
    );
    assert!(
        !tool_log.exists(),
        "register_new_matrix_user ran: {}",
        std::fs::read_to_string(&tool_log).unwrap_or_default()
    );
    assert_all_log_in(s, &passwords, 20);

    let said = ping(&inv);
    assert!(
        said.starts_with(
            "synapse-cli for register: registers via the shared-secret API at 127.0.0.1:"
        ) && said.contains(" over ssh root@127.0.0.5:")
            && said.ends_with(": shared-secret registration answers"),
        "{said}"
    );
}

/// Every command line on this machine (provision, ssh, sshd and what it runs: `cat` of the
/// config) is read while the run goes on: the secret is on none of them, nor in the log.
#[test]
fn the_shared_secret_is_on_no_command_line() {
    let s = synapse();
    let secret = secret(s);
    let (tool, tool_log) = argv_recorder(&scratch(), &s.register_tool());
    let inv = inventory(FLEET[0], &s.config(), &tool, "");
    let passwords = scratch().join(unique("tunnel-passwords.csv"));
    let users = users(&unique("tcl"), 20);
    // -vvv: every log line provision has (trace), none of which may hold the secret.
    let out = argv_never_holds(&secret, || {
        register_from(&inv, &users, &passwords)
            .arg("-vvv")
            .output()
            .unwrap()
    });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains(&secret), "{stderr}");
    assert!(
        stderr.contains("registering via the shared-secret API"),
        "{stderr}"
    );
    assert!(!tool_log.exists(), "the tool ran");
    assert_all_log_in(s, &passwords, 20);
}

/// A config without `registration_shared_secret`: the tool registers (here it is handed the
/// real config, as a host whose secret is elsewhere would), after one line saying why.
#[test]
fn a_config_without_a_secret_falls_back_to_the_tool_and_says_so() {
    let s = synapse();
    let config = config_like(s, |c| {
        c.remove("registration_shared_secret");
    });
    let (tool, log) = tool_with_the_real_config(s);
    let inv = inventory(FLEET[1], &config, &tool, "");
    let passwords = scratch().join(unique("tunnel-passwords.csv"));
    let users = users(&unique("tfb"), 3);
    let out = register_from(&inv, &users, &passwords).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (note, stderr) = the_fallback_note(&out);
    assert!(
        note.contains(&format!("no shared secret in {}", config.display())),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 3);
    assert_all_log_in(s, &passwords, 3);

    let said = ping(&inv);
    assert!(
        said.contains("no shared secret in ") && said.contains("registers with the tool"),
        "{said}"
    );

    // `via: api` refuses to fall back.
    let inv = inventory(FLEET[1], &config, &tool, "      via: api\n");
    let users = crate::fixtures::write_file(
        &unique("tunnel-one.csv"),
        &format!("user,admin,password_file\n{},,\n", unique("tfa")),
    );
    let out = register_from(&inv, &users, &scratch().join(unique("p.csv")))
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("via: api, but no shared secret in"),
        "{}",
        text(&out)
    );
}

/// A tool that records each run, then runs the real register_new_matrix_user on the running
/// Synapse's own config, whatever `--config` provision gave it: the host's secret is
/// elsewhere than the config provision reads. Returns (tool, log).
fn tool_with_the_real_config(s: &Synapse) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch();
    let log = dir.join(unique("fallback.argv"));
    let tool = dir.join(unique("fallback-tool"));
    std::fs::write(
        &tool,
        format!(
            "#!/bin/sh\necho run >> '{}'\nfor a; do shift; case \"$a\" in --config=*) a='--config={}';; esac; set -- \"$@\" \"$a\"; done\nexec '{}' \"$@\"\n",
            log.display(),
            s.config().display(),
            s.register_tool()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    (tool, log)
}

/// A listener that does not answer through the forward (nothing listens on its port): the
/// tool registers, after one line saying why.
#[test]
fn a_forward_that_fails_falls_back_to_the_tool_and_says_so() {
    let s = synapse();
    let closed = crate::fixtures::free_port();
    let config = config_like(s, |c| {
        c["listeners"][0]["port"] = closed.into();
    });
    let (tool, log) = tool_with_the_real_config(s);
    let inv = inventory(FLEET[2], &config, &tool, "");
    let passwords = scratch().join(unique("tunnel-passwords.csv"));
    let users = users(&unique("tff"), 2);
    let out = register_from(&inv, &users, &passwords).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (note, stderr) = the_fallback_note(&out);
    assert!(
        note.contains(&format!(
            "the shared-secret API at 127.0.0.1:{closed} over ssh root@{}:",
            FLEET[2]
        )) && note.contains("failed"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 2);
    assert_all_log_in(s, &passwords, 2);
}

/// `via: tool` keeps the tool, without a warning.
#[test]
fn via_tool_forces_the_tool() {
    let s = synapse();
    let (tool, tool_log) = argv_recorder(&scratch(), &s.register_tool());
    let inv = inventory(FLEET[0], &s.config(), &tool, "      via: tool\n");
    let passwords = scratch().join(unique("tunnel-passwords.csv"));
    let users = users(&unique("tvt"), 2);
    let out = register_from(&inv, &users, &passwords).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("WARN"), "{stderr}");
    assert!(!stderr.contains("shared-secret API"), "{stderr}");
    assert!(std::fs::read_to_string(&tool_log).unwrap().lines().count() >= 2);
    assert_all_log_in(s, &passwords, 2);
    let said = ping(&inv);
    assert!(
        said.contains("via: tool in the inventory: registers with the tool"),
        "{said}"
    );
}

/// dendrite-cli over SSH: the secret from `client_api.registration_shared_secret`, the server
/// at `url` (here the Synapse, which serves the same API, as exec.rs's Dendrite tests do).
#[test]
fn dendrite_cli_over_ssh_goes_through_the_api_too() {
    let s = synapse();
    let config = write_file(
        &unique("dendrite.json"),
        &serde_json::json!({"client_api": {"registration_shared_secret": secret(s)}}).to_string(),
    );
    // The tool is never to run: a recorder around a program that fails.
    let (tool, tool_log) = argv_recorder(&scratch(), "/bin/false");
    let inv = write_file(
        &unique("tunnel-dendrite.yaml"),
        &format!(
            "all:\n  hosts:\n    d:\n      server_name: {SERVER_NAME}\n      backend: dendrite-cli\n      transport: ssh\n      ssh: {}\n      config: {}\n      url: {}\n      command: {}\n",
            sshd().ssh_vars(FLEET[2]),
            config.display(),
            s.url,
            tool.display(),
        ),
    );
    let passwords = scratch().join(unique("tunnel-passwords.csv"));
    let users = users(&unique("tdc"), 3);
    let out = register_from(&inv, &users, &passwords).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("registering via the shared-secret API at 127.0.0.1:"),
        "{stderr}"
    );
    assert!(!tool_log.exists(), "the tool ran");
    assert_all_log_in(s, &passwords, 3);
    assert!(
        ping(&inv).starts_with("dendrite-cli for register: registers via the shared-secret API")
    );
}

/// A playbook-style host: the tool in a container on the SSH host. The config is read in the
/// container, the container's loopback is reached at its address on the host (this fixture's
/// container is on the host's network, so that is the host's loopback).
#[test]
fn a_tool_in_a_container_over_ssh_goes_through_the_api_too() {
    let s = crate::fixtures::docker_synapse();
    let container = s.container.clone().unwrap();
    let (tool, tool_log) = argv_recorder(&s.dir, &s.register_tool());
    let inv = write_file(
        &unique("tunnel-container.yaml"),
        &format!(
            "all:\n  hosts:\n    c:\n      server_name: {SERVER_NAME}\n      backend: synapse-cli\n      transport: ssh\n      ssh: {}\n      docker: {{container: {container}}}\n      config: {}\n      command: {}\n",
            sshd().ssh_vars(FLEET[2]),
            s.config().display(),
            tool.display(),
        ),
    );
    let passwords = scratch().join(unique("tunnel-passwords.csv"));
    let users = users(&unique("tct"), 3);
    let out = register_from(&inv, &users, &passwords).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(", in the container {container}")),
        "{stderr}"
    );
    assert!(!tool_log.exists(), "the tool ran");
    assert_all_log_in(s, &passwords, 3);
}
