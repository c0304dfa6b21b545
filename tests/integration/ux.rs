//! Operator UX: `ping`, shell completions, the man page, help with examples.

use std::process::Command;

use crate::fixtures::{SERVER_NAME, json, provision, synapse, text, write_file};

#[test]
fn ping_checks_connection_tool_admin_backend_and_secrets() {
    let s = synapse();
    let inv = write_file(
        "ping.yaml",
        &format!(
            "all:\n  vars:\n    server_name: {SERVER_NAME}\n    backend: shared-secret\n  hosts:\n    good:\n      url: {url}\n      shared_secret: {{file: {secret}}}\n      admin_backend: synapse-api\n      admin_token: {{file: {token}}}\n    down:\n      url: http://127.0.0.1:1\n      shared_secret: {{file: {secret}}}\n    nosecret:\n      url: {url}\n      shared_secret: {{env: PROVISION_TEST_UNSET_SECRET}}\n",
            url = s.url,
            secret = s.secret_file().display(),
            token = s.admin_token_file().display()
        ),
    );
    let out = provision(
        &["ping", "-i", inv.to_str().unwrap(), "--output", "json"],
        "",
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let doc = json(&out);
    let good = &doc["hosts"][0];
    assert_eq!(good["status"], "ok");
    assert_eq!(good["outcome"], "pong");
    let msg = good["message"].as_str().unwrap();
    assert!(
        msg.contains("shared-secret registration answers") && msg.contains("a server admin"),
        "{msg}"
    );
    assert_eq!(doc["hosts"][1]["status"], "unreachable");
    assert!(
        doc["hosts"][1]["message"]
            .as_str()
            .unwrap()
            .contains("unreachable")
    );
    let msg = doc["hosts"][2]["message"].as_str().unwrap();
    assert!(
        msg.contains("environment variable PROVISION_TEST_UNSET_SECRET") && msg.contains("not set"),
        "{msg}"
    );
    assert_eq!(doc["recap"]["ok"], 1);
    assert_eq!(doc["recap"]["unreachable"], 1);
    assert_eq!(doc["recap"]["failed"], 1);
    assert_eq!(doc["hosts"][2]["error"], "setup");
}

#[test]
fn completions_load_in_their_shells() {
    let out = provision(&["completions", "bash"], "");
    assert_eq!(out.status.code(), Some(0));
    let script = write_file("provision.bash", &String::from_utf8_lossy(&out.stdout));
    let loaded = Command::new("bash")
        .args([
            "-c",
            &format!("source {} && complete -p provision", script.display()),
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&loaded.stdout).contains("_provision"),
        "{loaded:?}"
    );
    for (shell, marker) in [
        ("zsh", "#compdef provision"),
        ("fish", "complete -c provision"),
    ] {
        let out = provision(&["completions", shell], "");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(marker),
            "{shell}"
        );
    }
}

/// `source <(COMPLETE=bash provision)`: bash asks the binary at each <TAB>, and host and group
/// names after --limit come from the inventory the line names.
#[test]
fn limit_completes_host_and_group_names_from_the_inventory_typed() {
    let inv = write_file(
        "complete-inv.yaml",
        "all:\n  children:\n    production:\n      hosts:\n        matrix1: {server_name: a.org, backend: shared-secret, url: 'http://127.0.0.1:9', shared_secret: {env: NONE}}\n        matrix2: {server_name: b.org, backend: shared-secret, url: 'http://127.0.0.1:9', shared_secret: {env: NONE}}\n    staging:\n      hosts:\n        stage1: {server_name: c.org, backend: shared-secret, url: 'http://127.0.0.1:9', shared_secret: {env: NONE}}\n",
    );
    let complete = |line: &str| {
        let script = format!(
            "source <(COMPLETE=bash {bin}) && COMP_WORDS=({line}) && COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)) && COMP_TYPE=9 && _clap_complete_provision provision \"${{COMP_WORDS[COMP_CWORD]}}\" && printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            bin = env!("CARGO_BIN_EXE_provision"),
        );
        let out = Command::new("bash").args(["-c", &script]).output().unwrap();
        let mut got: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        got.sort();
        got
    };
    let inv = inv.display();
    assert_eq!(
        complete(&format!("provision -i {inv} plan users.yaml --limit ma")),
        ["matrix1", "matrix2"]
    );
    assert_eq!(
        complete(&format!("provision plan -i {inv} -l 'matrix1,!st'")),
        ["matrix1,!stage1", "matrix1,!staging"]
    );
    // No such inventory: nothing offered, and no error on the terminal.
    assert!(complete("provision -i /nonexistent plan --limit ma").is_empty());
}

#[test]
fn the_man_page_renders_with_every_command() {
    let out = provision(&["man"], "");
    assert_eq!(out.status.code(), Some(0));
    let roff = String::from_utf8_lossy(&out.stdout);
    assert!(
        !roff.contains("(1)"),
        "the page cites no other page (there is one page, with a section per command): {roff}"
    );
    assert!(roff.contains(".SH COMMANDS"), "{roff}");
    let page = write_file("provision.1", &String::from_utf8_lossy(&out.stdout));
    let rendered = Command::new("groff")
        .args(["-man", "-Tascii", "-P", "-cbou"])
        .arg(&page)
        .output();
    let Ok(rendered) = rendered else {
        // No groff on this machine: the roff source must still carry every section.
        let roff = String::from_utf8_lossy(&out.stdout);
        assert!(
            roff.starts_with(".ie") || roff.contains(".TH provision 1"),
            "{roff}"
        );
        return;
    };
    let text = String::from_utf8_lossy(&rendered.stdout);
    for section in [
        "PROVISION REGISTER",
        "PROVISION ADMIN",
        "PROVISION PLAN",
        "PROVISION PING",
        "PROVISION INVENTORY",
        "PROVISION LOGIN",
        "--token-out",
        "--password-stdin",
    ] {
        assert!(
            text.contains(section),
            "{section} missing from the man page:\n{text}"
        );
    }
}

#[test]
fn every_subcommand_has_examples_in_its_help() {
    for sub in [
        "register",
        "admin",
        "plan",
        "ping",
        "inventory",
        "login",
        "completions",
        "man",
    ] {
        let out = provision(&[sub, "--help"], "");
        assert_eq!(out.status.code(), Some(0), "{sub}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Example"),
            "{sub} --help has no example"
        );
    }
}

#[test]
fn a_retry_file_names_what_failed_and_limit_at_file_runs_only_that() {
    let s = synapse();
    let broken = format!(
        "url: {}\nshared_secret: {{env: PROVISION_TEST_UNSET_RETRY}}",
        s.url
    );
    let inv = s.inventory(&[("good", ""), ("broken", &broken), ("fine", "")]);
    let retry = write_file("hosts.retry", "");
    std::fs::remove_file(&retry).unwrap();
    let inv_arg = inv.to_str().unwrap();
    let out = provision(
        &[
            "ping",
            "-i",
            inv_arg,
            "--retry-file",
            retry.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&retry).unwrap(), "broken\n");
    assert!(text(&out).contains("--limit @"), "{}", text(&out));
    let limit = format!("@{}", retry.display());
    let out = provision(
        &["ping", "-i", inv_arg, "--limit", &limit, "--output", "json"],
        "",
    );
    let doc = json(&out);
    let hosts: Vec<&str> = doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, ["broken"], "{doc}");
    // A run with nothing to retry writes no file.
    let clean = write_file("clean.retry", "");
    std::fs::remove_file(&clean).unwrap();
    let out = provision(
        &[
            "ping",
            "-i",
            inv_arg,
            "--limit",
            "good",
            "--retry-file",
            clean.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!clean.exists());
}
