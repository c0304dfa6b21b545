//! What an operator must be able to believe: generated passwords are never lost, every line
//! and count tells the truth, nothing panics. Each test runs against the real Synapse servers
//! of the suite and checks what the server says (a login, the admin flag).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::fixtures::{Synapse, json, pg_synapse, provision, scratch, synapse, text, unique};

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn folder() -> PathBuf {
    let dir = scratch().join(unique("trust"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn users_file(dir: &Path, name: &str, users: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("user\n{}\n", users.join("\n"))).unwrap();
    path
}

use crate::fixtures::password_rows as rows;

fn bulk(inv: &Path, from: &Path, out: &Path) -> std::process::Output {
    provision(
        &[
            "register",
            "--from",
            s(from),
            "--passwords-out",
            s(out),
            "-i",
            s(inv),
            "--output",
            "json",
        ],
        "",
    )
}

#[test]
fn a_second_bulk_run_adds_to_the_passwords_file_and_never_drops_rows() {
    let syn = synapse();
    let inv = syn.inventory(&[("syn", "")]);
    let dir = folder();
    let a: Vec<String> = (0..3).map(|i| format!("{}-a{i}", unique("keep"))).collect();
    let b: Vec<String> = (0..3).map(|i| format!("{}-b{i}", unique("keep"))).collect();
    let out = dir.join("passwords.csv");
    let run = bulk(&inv, &users_file(&dir, "a.csv", &a), &out);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let run = bulk(&inv, &users_file(&dir, "b.csv", &b), &out);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));

    let kept = rows(&out);
    assert_eq!(kept.len(), 6, "both runs' passwords are kept: {kept:?}");
    for (user, password) in &kept {
        assert!(
            syn.login(user, password).is_ok(),
            "{user} logs in with its row"
        );
    }
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // A run that creates nothing leaves the file exactly as it was.
    let before = std::fs::read(&out).unwrap();
    let run = bulk(&inv, &users_file(&dir, "a2.csv", &a), &out);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert_eq!(json(&run)["users"]["ok"], 3);
    assert_eq!(std::fs::read(&out).unwrap(), before);
    // No temporary file is left beside it.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with(".provision-")),
        "{names:?}"
    );
}

#[test]
fn a_bulk_run_keeps_only_passwords_some_host_set() {
    let syn = synapse();
    let inv = syn.inventory(&[("syn", "")]);
    let dir = folder();
    let existing = unique("there");
    let first = provision(
        &["register", &existing, "--password-stdin", "-i", s(&inv)],
        "own-pw",
    );
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let fresh = unique("fresh");
    let out = dir.join("passwords.csv");
    let run = bulk(
        &inv,
        &users_file(&dir, "u.csv", &[existing.clone(), fresh.clone()]),
        &out,
    );
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let kept = rows(&out);
    assert_eq!(
        kept.iter().map(|(u, _)| u.as_str()).collect::<Vec<_>>(),
        [fresh.as_str()],
        "the user that existed got no password from this run, so it has no row"
    );
    assert!(syn.login(&existing, "own-pw").is_ok());
    assert!(syn.login(&fresh, &kept[0].1).is_ok());

    // Every user exists: the file this run would have created is not left behind.
    let none = dir.join("none.csv");
    let run = bulk(&inv, &users_file(&dir, "u2.csv", &[existing]), &none);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert!(!none.exists(), "a passwords file no host used is not left");
}

#[test]
fn a_symlink_or_a_foreign_passwords_file_is_refused_before_anything_runs() {
    let syn = synapse();
    let inv = syn.inventory(&[("syn", "")]);
    let dir = folder();
    let victim = dir.join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    let link = dir.join("passwords.csv");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let user = unique("nolink");
    let run = bulk(
        &inv,
        &users_file(&dir, "u.csv", std::slice::from_ref(&user)),
        &link,
    );
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    assert!(text(&run).contains("symbolic link"), "{}", text(&run));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(syn.login(&user, "x").is_err());
    let single = provision(
        &[
            "register",
            &user,
            "--random-password",
            "--password-out",
            s(&link),
            "-i",
            s(&inv),
        ],
        "",
    );
    assert_eq!(single.status.code(), Some(2), "{}", text(&single));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");

    // A passwords file others may write chose nothing.
    let loose = dir.join("loose.csv");
    std::fs::write(&loose, "user,password\nplanted,attacker-chosen\n").unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o666)).unwrap();
    let run = bulk(
        &inv,
        &users_file(&dir, "p.csv", &["planted".into()]),
        &loose,
    );
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    assert!(
        text(&run).contains("writable by group or others"),
        "{}",
        text(&run)
    );
}

#[test]
fn a_passwords_file_in_use_by_another_run_is_refused() {
    let syn = synapse();
    let inv = syn.inventory(&[("syn", "")]);
    let dir = folder();
    let out = dir.join("passwords.csv");
    // Another run holds the file's lock (as provision does for the whole of a run).
    let lock = std::fs::File::create(dir.join(".passwords.csv.lock")).unwrap();
    lock.lock().unwrap();
    let user = unique("locked");
    let run = bulk(
        &inv,
        &users_file(&dir, "u.csv", std::slice::from_ref(&user)),
        &out,
    );
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    assert!(
        text(&run).contains("another provision run"),
        "{}",
        text(&run)
    );
    assert!(syn.login(&user, "x").is_err(), "nothing was registered");
    drop(lock);
    let run = bulk(&inv, &users_file(&dir, "u.csv", &[user]), &out);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
}

fn random_out(inv: &Path, user: &str, out: &Path) -> std::process::Output {
    provision(
        &[
            "register",
            user,
            "--random-password",
            "--password-out",
            s(out),
            "-i",
            s(inv),
            "--forks",
            "1",
            "--output",
            "json",
        ],
        "",
    )
}

#[test]
fn random_password_out_twice_keeps_the_password_that_was_set() {
    let syn = synapse();
    let inv = syn.inventory(&[("syn", "")]);
    let out = folder().join("bot.pw");
    let user = unique("bot");
    let run = random_out(&inv, &user, &out);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let password = std::fs::read_to_string(&out).unwrap();
    let password = password.trim_end();
    assert!(syn.login(&user, password).is_ok());

    let run = random_out(&inv, &user, &out);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert_eq!(json(&run)["hosts"][0]["status"], "ok");
    assert_eq!(std::fs::read_to_string(&out).unwrap().trim_end(), password);
    assert!(syn.login(&user, password).is_ok(), "the file still logs in");

    // A run that creates the user nowhere leaves no file behind.
    let other = folder().join("unused.pw");
    let run = random_out(&inv, &user, &other);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert!(!other.exists(), "no host used that password");
}

#[test]
fn a_generated_password_names_the_hosts_it_applies_on() {
    let (one, two): (&Synapse, &Synapse) = (synapse(), pg_synapse());
    let hosts = format!(
        "backend: shared-secret\nurl: {}\nshared_secret: {{file: {}}}",
        two.url,
        two.secret_file().display()
    );
    let inv = one.inventory(&[("first", ""), ("second", &hosts)]);
    let user = unique("split");
    let pre = provision(
        &[
            "register",
            &user,
            "--password-stdin",
            "--limit",
            "first",
            "-i",
            s(&inv),
        ],
        "older-pw",
    );
    assert_eq!(pre.status.code(), Some(0), "{}", text(&pre));
    let out = folder().join("split.pw");
    let run = random_out(&inv, &user, &out);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let doc = json(&run);
    assert_eq!(doc["password"]["set_on"], serde_json::json!(["second"]));
    assert_eq!(doc["password"]["existed_on"], serde_json::json!(["first"]));
    let password = std::fs::read_to_string(&out).unwrap();
    assert!(two.login(&user, password.trim_end()).is_ok());
    assert!(one.login(&user, "older-pw").is_ok());

    let human = provision(
        &[
            "register",
            &unique("shown"),
            "--random-password",
            "-i",
            s(&inv),
            "--limit",
            "first",
        ],
        "",
    );
    assert!(
        text(&human).contains("Generated password (shown once)"),
        "{}",
        text(&human)
    );
    let run = provision(
        &[
            "register",
            &user,
            "--random-password",
            "--password-out",
            s(&folder().join("x.pw")),
            "-i",
            s(&inv),
        ],
        "",
    );
    assert!(
        text(&run).contains("not used: no user was created"),
        "{}",
        text(&run)
    );
}

/// Two healthy hosts and one whose port refuses connections.
fn fleet_with_a_dead_host() -> PathBuf {
    let (one, two) = (synapse(), pg_synapse());
    let second = format!(
        "url: {}\nshared_secret: {{file: {}}}",
        two.url,
        two.secret_file().display()
    );
    let dead = format!(
        "url: http://127.0.0.1:1\nshared_secret: {{file: {}}}",
        one.secret_file().display()
    );
    one.inventory(&[("one", ""), ("dead", &dead), ("two", &second)])
}

#[test]
fn users_of_an_unreachable_host_count_as_unreachable_and_the_recap_names_it() {
    let inv = fleet_with_a_dead_host();
    let dir = folder();
    let users: Vec<String> = (0..4).map(|i| format!("{}-{i}", unique("tot"))).collect();
    let from = users_file(&dir, "u.csv", &users);
    let out = dir.join("p.csv");
    let args = [
        "register",
        "--from",
        s(&from),
        "--passwords-out",
        s(&out),
        "-i",
        s(&inv),
        "--timeout",
        "3",
    ];
    let mut json_args = args.to_vec();
    json_args.extend(["--output", "json"]);
    let run = provision(&json_args, "");
    assert_eq!(run.status.code(), Some(4), "unreachable: {}", text(&run));
    let doc = json(&run);
    assert_eq!(doc["users"]["changed"], 8, "{doc}");
    assert_eq!(doc["users"]["unreachable"], 4, "{doc}");
    assert_eq!(doc["users"]["failed"], 0, "{doc}");
    assert_eq!(doc["recap"]["unreachable"], 1);
    let dead = &doc["host_users"][1];
    assert_eq!(dead["host"], "dead");
    assert_eq!(dead["status"], "unreachable");
    assert_eq!(dead["users"].as_array().unwrap().len(), 4);
    assert_eq!(dead["users"][0]["status"], "unreachable");
    let message = dead["message"].as_str().unwrap();
    assert!(
        message.contains("refused"),
        "the real cause, not only a timeout: {message}"
    );

    // The human recap: one line per host with its counts, the unreachable one named.
    let run = provision(&args, "");
    assert_eq!(run.status.code(), Some(4), "{}", text(&run));
    let shown = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        shown.contains("dead : ok=0  changed=0  unreachable=4  failed=0"),
        "{shown}"
    );
    assert!(
        shown.contains("one  : ok=4  changed=0  unreachable=0  failed=0"),
        "{shown}"
    );
    assert!(shown.contains("UNREACHABLE: dead"), "{shown}");
    assert!(
        shown.contains("USERS  ok=8  changed=0  unreachable=4  failed=0"),
        "{shown}"
    );
    assert!(
        !shown.contains('\x1b'),
        "no colour when not on a terminal: {shown}"
    );
}

#[test]
fn asking_for_admin_on_a_host_that_cannot_set_it_fails() {
    let syn = synapse();
    let inv = syn.inventory(&[("syn", "")]);
    let user = unique("noadm");
    let run = provision(
        &["register", &user, "--password-stdin", "-i", s(&inv)],
        "pw",
    );
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let run = provision(
        &[
            "register",
            &user,
            "--admin",
            "--password-stdin",
            "-i",
            s(&inv),
            "--output",
            "json",
        ],
        "pw",
    );
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    let doc = json(&run);
    assert_eq!(doc["hosts"][0]["status"], "failed");
    assert!(
        doc["hosts"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no admin_backend"),
        "{doc}"
    );
    assert_eq!(
        syn.admin_flag(&user),
        Some(false),
        "and indeed it is not an admin"
    );

    // The same in a bulk run: that user is failed, with the typed error JSON gives every
    // result that is not a success.
    let dir = folder();
    let from = dir.join("admins.csv");
    std::fs::write(&from, format!("user,admin,password_file\n{user},yes,pw\n")).unwrap();
    std::fs::write(dir.join("pw"), "pw\n").unwrap();
    let run = provision(
        &[
            "register",
            "--from",
            s(&from),
            "-i",
            s(&inv),
            "--output",
            "json",
        ],
        "",
    );
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    let doc = json(&run);
    let result = &doc["host_users"][0]["users"][0];
    assert_eq!(result["status"], "failed", "{doc}");
    assert_eq!(result["error"], "failed", "{doc}");
    assert_eq!(doc["users"]["failed"], 1, "{doc}");
}

#[test]
fn options_that_would_do_nothing_are_refused_by_name() {
    let syn = synapse();
    let inv = syn.inventory(&[("syn", "")]);
    let tool = format!(
        "backend: synapse-cli\nconfig: {}\ntransport: local",
        syn.config().display()
    );
    let tool_inv = syn.inventory(&[("tool", &tool)]);
    let user = unique("idle");
    let cases: [(&[&str], &Path, &str); 6] = [
        (
            &["--password-stdin", "--password-out", "x.pw"],
            &inv,
            "--password-out",
        ),
        (
            &["--password-stdin", "--passwords-out", "x.csv"],
            &inv,
            "--passwords-out",
        ),
        (&["--password-stdin", "--per-host", "3"], &inv, "--per-host"),
        (
            &["--password-stdin", "--display-name", "X"],
            &tool_inv,
            "--display-name",
        ),
        (
            &["--password-stdin", "--email", "x@example.com"],
            &inv,
            "--email",
        ),
        (
            &["--password-stdin", "--ignore-password-complexity"],
            &inv,
            "--ignore-password-complexity",
        ),
    ];
    for (extra, inventory, named) in cases {
        let mut args = vec!["register", user.as_str(), "-i", s(inventory)];
        args.extend_from_slice(extra);
        let run = provision(&args, "pw");
        assert_eq!(run.status.code(), Some(2), "{extra:?}: {}", text(&run));
        assert!(text(&run).contains(named), "{extra:?}: {}", text(&run));
    }
    // With --from, a display name or email for every user would be dropped: the users file
    // carries them.
    let from = folder().join("one.csv");
    std::fs::write(&from, format!("user\n{user}\n")).unwrap();
    for (option, value) in [("--display-name", "X"), ("--email", "x@example.com")] {
        let run = provision(
            &["register", "--from", s(&from), option, value, "-i", s(&inv)],
            "",
        );
        assert_eq!(run.status.code(), Some(2), "{option}: {}", text(&run));
        assert!(text(&run).contains(option), "{option}: {}", text(&run));
    }
    assert!(syn.login(&user, "pw").is_err(), "nothing ran");
}

/// Runs provision with a stdout whose reader is already gone.
fn with_closed_stdout(args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Command::new(env!("CARGO_BIN_EXE_provision"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn a_closed_stdout_ends_the_run_quietly() {
    let syn = synapse();
    let inv = syn.inventory(&[("syn", "")]);
    for args in [
        vec!["ping", "-i", s(&inv)],
        vec!["register", "john", "--check", "-i", s(&inv)],
        vec!["inventory", "-i", s(&inv)],
        vec!["completions", "bash"],
    ] {
        let run = with_closed_stdout(&args);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(run.status.code(), Some(141), "{args:?}: {stderr}");
    }
}

#[test]
fn hosts_start_in_inventory_order_with_one_fork() {
    let syn = synapse();
    let names: Vec<String> = (0..8).map(|i| format!("h{i}")).collect();
    // Each host fails at once (its secret's variable is unset), so the order of the lines is
    // the order the hosts ran in.
    let hosts: Vec<(String, String)> = names
        .iter()
        .map(|n| {
            (
                n.clone(),
                format!(
                    "url: {}\nshared_secret: {{env: PROVISION_TEST_UNSET_{n}}}",
                    syn.url
                ),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = hosts
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let inv = syn.inventory(&refs);
    for _ in 0..3 {
        let run = provision(&["ping", "--forks", "1", "-i", s(&inv)], "");
        let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
        let order: Vec<&str> = stdout
            .lines()
            .take_while(|l| !l.is_empty())
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(order, names, "{stdout}");
    }
}

#[test]
fn the_progress_line_names_the_host_being_worked_on() {
    // A host that accepts and never answers is in progress for the whole --timeout; on a
    // terminal (script(1) gives one), the progress line must name it while it is.
    let port = crate::fixtures::silent_port();
    let syn = synapse();
    let silent = format!(
        "url: http://127.0.0.1:{port}\nshared_secret: {{file: {}}}",
        syn.secret_file().display()
    );
    let inv = syn.inventory(&[("quick", ""), ("stuck-host", &silent)]);
    let command = format!(
        "{} ping --forks 2 --timeout 3 -i {}",
        env!("CARGO_BIN_EXE_provision"),
        s(&inv)
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("TERM", "xterm")
        .env_remove("CI")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout).into_owned();
    // The bar's frames are "[done/total] elapsed hosts-in-progress"; the quick host finished
    // first, so a frame with 1 of 2 done must name the stuck one.
    assert!(
        screen
            .split(['\r', '\n'])
            .any(|frame| frame.contains("[1/2]") && frame.contains("stuck-host")),
        "{screen}"
    );
}
