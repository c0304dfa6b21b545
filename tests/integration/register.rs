//! `provision register` through the shared-secret API of a real Synapse.

use std::os::unix::fs::PermissionsExt;

use crate::fixtures::{SERVER_NAME, json, provision, synapse, text, unique, write_file};

#[test]
fn register_admin_from_stdin_can_log_in_and_is_admin() {
    let s = synapse();
    let inv = s.inventory(&[("syn", "")]);
    let user = unique("admin");
    let out = provision(
        &[
            "register",
            &user,
            "--admin",
            "--password-stdin",
            "-i",
            inv.to_str().unwrap(),
            "--output",
            "json",
        ],
        "correct horse\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc = json(&out);
    assert_eq!(doc["hosts"][0]["status"], "changed");
    assert_eq!(doc["hosts"][0]["outcome"], "created");
    assert_eq!(doc["hosts"][0]["user_id"], format!("@{user}:{SERVER_NAME}"));
    assert_eq!(doc["recap"]["changed"], 1);
    // The trailing newline of stdin is not part of the password.
    assert_eq!(
        s.login(&user, "correct horse"),
        Ok(format!("@{user}:{SERVER_NAME}"))
    );
    assert_eq!(s.admin_flag(&user), Some(true));
}

#[test]
fn register_without_admin_from_file_makes_a_regular_user() {
    let s = synapse();
    let inv = s.inventory(&[("syn", "")]);
    let user = unique("plain");
    let pw = write_file("pw", "battery staple\n");
    let out = provision(
        &[
            "-i",
            inv.to_str().unwrap(),
            "register",
            &user,
            "--no-admin",
            "--password-file",
            pw.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("changed"), "{}", text(&out));
    assert!(s.login(&user, "battery staple").is_ok());
    assert_eq!(s.admin_flag(&user), Some(false));
}

#[test]
fn register_existing_user_is_ok_and_exits_zero() {
    let s = synapse();
    let inv = s.inventory(&[("syn", "")]);
    let user = unique("again");
    let args = [
        "register",
        &user,
        "--password-stdin",
        "-i",
        inv.to_str().unwrap(),
        "--output",
        "json",
    ];
    assert_eq!(provision(&args, "first").status.code(), Some(0));
    let out = provision(&args, "second");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc = json(&out);
    assert_eq!(doc["hosts"][0]["status"], "ok");
    assert_eq!(doc["hosts"][0]["outcome"], "exists");
    assert_eq!(doc["recap"]["ok"], 1);
    // Re-running never touches the existing account.
    assert!(s.login(&user, "first").is_ok());
    assert_eq!(s.login(&user, "second"), Err(403));
}

#[test]
fn check_creates_nothing_and_says_what_it_would_do() {
    let s = synapse();
    let inv = s.inventory(&[("syn", "")]);
    let user = unique("checked");
    let out = provision(
        &[
            "register",
            &user,
            "--admin",
            "--check",
            "-i",
            inv.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let shown = text(&out);
    assert!(shown.contains("would create (admin)"), "{shown}");
    assert!(shown.contains("secret from file"), "{shown}");
    assert!(shown.contains("check mode"), "{shown}");
    assert_eq!(
        s.admin_flag(&user),
        None,
        "--check must not create the user"
    );

    // An existing user shows as ok under --check too.
    provision(
        &[
            "register",
            &user,
            "--password-stdin",
            "-i",
            inv.to_str().unwrap(),
        ],
        "pw",
    );
    let out = provision(
        &[
            "register",
            &user,
            "--check",
            "-i",
            inv.to_str().unwrap(),
            "--output",
            "json",
        ],
        "",
    );
    assert_eq!(json(&out)["hosts"][0]["outcome"], "exists");
}

#[test]
fn random_password_is_written_0600_and_logs_in() {
    let s = synapse();
    let inv = s.inventory(&[("syn", "")]);
    let user = unique("random");
    let out_file = crate::fixtures::scratch().join(unique("pwout"));
    let out = provision(
        &[
            "register",
            &user,
            "--random-password",
            "--password-out",
            out_file.to_str().unwrap(),
            "-i",
            inv.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mode = std::fs::metadata(&out_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let password = std::fs::read_to_string(&out_file).unwrap();
    let password = password.trim_end();
    assert!(password.len() >= 20);
    assert!(
        !text(&out).contains(password),
        "a password written to a file is not printed"
    );
    assert!(s.login(&user, password).is_ok());
}

#[test]
fn random_password_without_file_is_shown_once_in_json() {
    let s = synapse();
    let inv = s.inventory(&[("syn", "")]);
    let user = unique("shown");
    let out = provision(
        &[
            "register",
            &user,
            "--random-password",
            "-i",
            inv.to_str().unwrap(),
            "--output",
            "json",
        ],
        "",
    );
    let doc = json(&out);
    let password = doc["generated_password"]
        .as_str()
        .expect("generated_password in the JSON");
    assert!(s.login(&user, password).is_ok());
}

#[test]
fn unreachable_host_fails_alone_and_the_run_exits_nonzero() {
    let s = synapse();
    let secret = s.secret_file();
    let dead = format!(
        "url: http://127.0.0.1:1\nshared_secret: {{file: {}}}",
        secret.display()
    );
    let inv = s.inventory(&[("dead", &dead), ("syn", "")]);
    let user = unique("partial");
    let out = provision(
        &[
            "register",
            &user,
            "--password-stdin",
            "-i",
            inv.to_str().unwrap(),
            "--output",
            "json",
        ],
        "pw",
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let doc = json(&out);
    assert_eq!(doc["hosts"][0]["host"], "dead");
    assert_eq!(doc["hosts"][0]["status"], "unreachable");
    let msg = doc["hosts"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains("unreachable") && msg.contains("127.0.0.1:1"),
        "{msg}"
    );
    assert_eq!(doc["hosts"][1]["status"], "changed");
    assert_eq!(doc["recap"]["unreachable"], 1);
    assert!(
        s.login(&user, "pw").is_ok(),
        "the healthy host is done despite the dead one"
    );
}

#[test]
fn wrong_secret_is_a_clear_failure_naming_the_host() {
    let s = synapse();
    let wrong = write_file("wrong-secret", "not-the-secret\n");
    std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).unwrap();
    let host = format!(
        "url: {}\nshared_secret: {{file: {}}}",
        s.url,
        wrong.display()
    );
    let inv = s.inventory(&[("badsecret", &host)]);
    let user = unique("nosecret");
    let out = provision(
        &[
            "register",
            &user,
            "--password-stdin",
            "-i",
            inv.to_str().unwrap(),
        ],
        "pw",
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("badsecret") && shown.contains("failed"),
        "{shown}"
    );
    assert!(shown.contains("shared secret is wrong"), "{shown}");
    assert!(!shown.contains("not-the-secret"), "{shown}");
    assert_eq!(s.admin_flag(&user), None);
}

#[test]
fn missing_secret_file_fails_that_host_with_its_source() {
    let s = synapse();
    let host = format!(
        "url: {}\nshared_secret: {{file: /nonexistent/secret}}",
        s.url
    );
    let inv = s.inventory(&[("nofile", &host)]);
    let out = provision(
        &[
            "register",
            &unique("x"),
            "--password-stdin",
            "-i",
            inv.to_str().unwrap(),
        ],
        "pw",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("shared_secret (file /nonexistent/secret): cannot read it"),
        "{}",
        text(&out)
    );
}

#[test]
fn secret_from_environment_variable_works() {
    let s = synapse();
    let host = format!(
        "url: {}\nshared_secret: {{env: PROVISION_TEST_SECRET}}",
        s.url
    );
    let inv = s.inventory(&[("envhost", &host)]);
    let user = unique("env");
    let secret = std::fs::read_to_string(s.secret_file()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_provision"))
        .args([
            "register",
            &user,
            "--random-password",
            "-i",
            inv.to_str().unwrap(),
            "--output",
            "json",
        ])
        .env("PROVISION_TEST_SECRET", secret.trim())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(s.admin_flag(&user), Some(false));
}

#[test]
fn inventory_from_environment_and_limit_select_hosts() {
    let s = synapse();
    let dead = "url: http://127.0.0.1:1\nshared_secret: {env: UNUSED}";
    let inv = s.inventory(&[("dead", dead), ("syn", "")]);
    let user = unique("limited");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_provision"))
        .args([
            "register",
            &user,
            "--random-password",
            "--limit",
            "s*",
            "--output",
            "json",
        ])
        .env("PROVISION_INVENTORY", &inv)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc = json(&out);
    assert_eq!(doc["hosts"].as_array().unwrap().len(), 1);
    assert_eq!(doc["hosts"][0]["host"], "syn");
}

#[test]
fn full_user_id_for_another_server_is_refused_before_running() {
    let s = synapse();
    let inv = s.inventory(&[("syn", "")]);
    let out = provision(
        &[
            "register",
            "@john:elsewhere.org",
            "--password-stdin",
            "-i",
            inv.to_str().unwrap(),
        ],
        "pw",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("no selected host serves elsewhere.org"),
        "{}",
        text(&out)
    );

    let user = unique("full");
    let id = format!("@{user}:{SERVER_NAME}");
    let out = provision(
        &[
            "register",
            &id,
            "--password-stdin",
            "-i",
            inv.to_str().unwrap(),
        ],
        "pw",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(s.login(&user, "pw"), Ok(id));
}

#[test]
fn invalid_user_ids_exit_2_with_one_line_and_nothing_sent() {
    let s = synapse();
    let inv = s.inventory(&[("syn", "")]);
    for bad in [
        "John",
        "jo hn",
        "a'; DROP TABLE users; --",
        "_bridge",
        "@x:",
        "a\u{1}b",
    ] {
        let out = provision(
            &[
                "register",
                bad,
                "--password-stdin",
                "-i",
                inv.to_str().unwrap(),
            ],
            "pw",
        );
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", text(&out));
        let shown = text(&out);
        assert!(shown.starts_with("error: invalid "), "{bad:?}: {shown}");
        assert_eq!(shown.trim_end().lines().count(), 1, "{shown}");
        assert!(!shown.contains("panicked"), "{shown}");
    }
}

#[test]
fn broken_inventory_names_file_and_line() {
    let inv = write_file(
        "broken.yaml",
        "all:\n  hosts:\n    m1:\n      server_name: a.org\n      backend: shared-secret\n      ulr: http://x\n",
    );
    let out = provision(
        &[
            "register",
            "john",
            "--password-stdin",
            "-i",
            inv.to_str().unwrap(),
        ],
        "pw",
    );
    assert_eq!(out.status.code(), Some(2));
    let shown = text(&out);
    assert!(
        shown.contains("unknown key `ulr` (did you mean `url`?)"),
        "{shown}"
    );
    assert!(shown.contains(&format!("{}:6:7", inv.display())), "{shown}");
    assert!(!shown.contains("panicked"), "{shown}");
}

#[test]
fn no_password_source_without_a_terminal_is_a_usage_error() {
    let s = synapse();
    let inv = s.inventory(&[("syn", "")]);
    let out = provision(
        &["register", &unique("nopw"), "-i", inv.to_str().unwrap()],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("--password-stdin"), "{}", text(&out));
}

#[test]
fn secrets_never_appear_in_output_at_any_verbosity() {
    let s = synapse();
    let inv = s.inventory(&[("syn", "")]);
    let secret = std::fs::read_to_string(s.secret_file())
        .unwrap()
        .trim()
        .to_owned();
    let password = "Pa55-unmistakable-Word";
    let user = unique("quiet");
    let inv = inv.to_str().unwrap();
    let runs: [&[&str]; 4] = [
        &[
            "-vvv",
            "register",
            &user,
            "--admin",
            "--password-stdin",
            "-i",
            inv,
        ],
        &[
            "-vvv",
            "register",
            &user,
            "--password-stdin",
            "-i",
            inv,
            "--output",
            "json",
        ],
        &["-vvv", "register", &user, "--check", "-i", inv],
        &[
            "-vvv", "register", &user, "--check", "-i", inv, "--output", "json",
        ],
    ];
    for args in runs {
        let out = provision(args, password);
        let shown = text(&out);
        assert!(
            shown.contains("TRACE") || shown.contains("DEBUG"),
            "-vvv logs something: {shown}"
        );
        assert!(
            !shown.contains(password),
            "password leaked with {args:?}: {shown}"
        );
        assert!(
            !shown.contains(&secret),
            "shared secret leaked with {args:?}: {shown}"
        );
    }
    assert!(s.login(&user, password).is_ok());
}
