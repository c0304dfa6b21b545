//! Values from an inventory or a command line that a tool, a database or the Docker Engine
//! could read as something else: user names that look like options, container names that
//! look like paths or options, and SQL that must reach one account and only that one.

use std::path::{Path, PathBuf};

use crate::fixtures::{
    SERVER_NAME, Synapse, json, postgres, provision, scratch, synapse, text, unique, write_file,
};

fn standin(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/standins")
        .join(name)
        .to_str()
        .unwrap()
        .to_owned()
}

/// An inventory of one host with these vars, under `server_name`.
fn inventory(server_name: &str, vars: &str) -> PathBuf {
    let mut yaml = format!("all:\n  vars:\n    server_name: {server_name}\n  hosts:\n    h1:\n");
    for line in vars.lines() {
        yaml.push_str(&format!("      {line}\n"));
    }
    write_file("names-inventory.yaml", &yaml)
}

fn run(args: &[&str], inv: &Path, stdin: &str) -> std::process::Output {
    let mut all = args.to_vec();
    all.extend(["-i", inv.to_str().unwrap(), "--output", "json"]);
    provision(&all, stdin)
}

/// Dendrite's accounts table exactly as upstream creates it
/// (element-hq/dendrite userapi/storage/postgres/accounts_table.go, `accountsSchema`), in a
/// fresh database; its URL in a 0600 file.
fn dendrite_database(rows: &[(&str, &str)]) -> (String, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let pg = postgres();
    let db = unique("dendrite_userapi").replace('-', "_");
    let url = pg.create_database(&db);
    pg.query_in(
        &db,
        "CREATE TABLE IF NOT EXISTS userapi_accounts (
            localpart TEXT NOT NULL,
            server_name TEXT NOT NULL,
            created_ts BIGINT NOT NULL,
            password_hash TEXT,
            appservice_id TEXT,
            is_deactivated BOOLEAN DEFAULT FALSE,
            account_type SMALLINT NOT NULL
        );
        CREATE UNIQUE INDEX IF NOT EXISTS userapi_accounts_idx ON userapi_accounts(localpart, server_name);",
    );
    for (localpart, server) in rows {
        pg.query_in(
            &db,
            &format!(
                "INSERT INTO userapi_accounts(localpart, server_name, created_ts, password_hash, account_type) VALUES ('{localpart}', '{server}', 0, 'x', 1)"
            ),
        );
    }
    let file = write_file(&format!("{db}.url"), &url);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    (db, file)
}

/// A Dendrite host of `server_name` whose admin flag is set by SQL (the Dendrite dialect
/// follows from the dendrite-cli backend); the tool itself is never run by `admin`.
fn dendrite_sql_host(server_name: &str, url_file: &Path) -> PathBuf {
    inventory(
        server_name,
        &format!(
            "backend: dendrite-cli\ntransport: local\nconfig: /nonexistent/dendrite.yaml\nadmin_backend: sql\ndatabase_url: {{file: {}}}",
            url_file.display()
        ),
    )
}

fn account_type(db: &str, localpart: &str, server: &str) -> String {
    postgres().query_in(
        db,
        &format!(
            "SELECT account_type FROM userapi_accounts WHERE localpart = '{localpart}' AND server_name = '{server}'"
        ),
    )
}

#[test]
fn dendrite_sql_changes_only_the_account_of_that_server() {
    let (db, url) = dendrite_database(&[("mallory", "a.org"), ("mallory", "b.org")]);
    let inv = dendrite_sql_host("a.org", &url);
    let out = run(&["admin", "@mallory:a.org", "--on"], &inv, "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        json(&out)["hosts"][0]["outcome"],
        "admin_set",
        "{}",
        text(&out)
    );
    assert_eq!(account_type(&db, "mallory", "a.org"), "3");
    assert_eq!(
        account_type(&db, "mallory", "b.org"),
        "1",
        "b.org's mallory untouched"
    );
}

#[test]
fn dendrite_sql_user_of_another_server_only_is_no_such_user() {
    let (db, url) = dendrite_database(&[("eve", "b.org")]);
    let inv = dendrite_sql_host("a.org", &url);
    let out = run(&["admin", "@eve:a.org", "--on"], &inv, "");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("no such user @eve:a.org"),
        "{}",
        text(&out)
    );
    assert_eq!(
        account_type(&db, "eve", "b.org"),
        "1",
        "b.org's eve untouched"
    );
}

/// Registers `user` (a full ID, so provision's own parser sees no option) on the one host.
fn register(inv: &Path, user: &str, password: &str) -> std::process::Output {
    run(&["register", user, "--password-stdin"], inv, password)
}

#[test]
fn mas_cli_registers_a_user_named_like_its_help_option() {
    let s = synapse();
    let db = scratch().join(unique("mas-db.json"));
    let config = serde_json::json!({
        "matrix": {"homeserver": SERVER_NAME, "endpoint": s.url},
        "standin": {"db": db, "shared_secret_path": s.secret_file()},
    });
    let config = write_file("mas-config.yaml", &config.to_string());
    let inv = inventory(
        SERVER_NAME,
        &format!(
            "backend: mas-cli\ntransport: local\nconfig: {}\ncommand: {}",
            config.display(),
            standin("mas-cli")
        ),
    );
    let out = register(&inv, &format!("@--help:{SERVER_NAME}"), "mas-help-pw");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        json(&out)["hosts"][0]["outcome"],
        "created",
        "{}",
        text(&out)
    );
    // The tool received the name as a value: it is in its database, and logs in.
    let recorded: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&db).unwrap()).unwrap();
    assert!(recorded["users"]["--help"].is_object(), "{recorded}");
    assert_eq!(
        s.login("--help", "mas-help-pw"),
        Ok(format!("@--help:{SERVER_NAME}"))
    );
}

#[test]
fn synapse_cli_registers_a_user_named_like_its_help_option() {
    let s = synapse();
    let inv = inventory(
        SERVER_NAME,
        &format!(
            "backend: synapse-cli\ntransport: local\nconfig: {}\nurl: {}\ncommand: {}",
            s.config().display(),
            s.url,
            s.register_tool()
        ),
    );
    let out = register(&inv, &format!("@-h:{SERVER_NAME}"), "synapse-h-pw");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        json(&out)["hosts"][0]["outcome"],
        "created",
        "{}",
        text(&out)
    );
    assert_eq!(
        s.login("-h", "synapse-h-pw"),
        Ok(format!("@-h:{SERVER_NAME}"))
    );
}

fn dendrite_config(s: &Synapse) -> PathBuf {
    let secret = std::fs::read_to_string(s.secret_file()).unwrap();
    let config = serde_json::json!({
        "global": {"server_name": SERVER_NAME},
        "client_api": {"registration_shared_secret": secret.trim()},
    });
    write_file("dendrite.yaml", &config.to_string())
}

#[test]
fn dendrite_cli_registers_a_user_named_like_its_help_flag() {
    let s = synapse();
    let inv = inventory(
        SERVER_NAME,
        &format!(
            "backend: dendrite-cli\ntransport: local\nconfig: {}\nurl: {}\ncommand: {}",
            dendrite_config(s).display(),
            s.url,
            standin("create-account")
        ),
    );
    let out = register(&inv, &format!("@-help:{SERVER_NAME}"), "dendrite-help-pw");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        json(&out)["hosts"][0]["outcome"],
        "created",
        "{}",
        text(&out)
    );
    assert_eq!(
        s.login("-help", "dendrite-help-pw"),
        Ok(format!("@-help:{SERVER_NAME}"))
    );
}

#[test]
fn playbook_wrapper_refuses_a_name_it_would_pass_as_an_option() {
    let inv = inventory(
        SERVER_NAME,
        "backend: playbook-wrapper\ntransport: local\ncommand: /bin/true",
    );
    let out = register(&inv, &format!("@--help:{SERVER_NAME}"), "wrapper-pw");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("starting with '-'"),
        "refused, not run: {}",
        text(&out)
    );
}

#[test]
fn container_names_outside_dockers_grammar_are_refused_with_file_and_line() {
    for (transport, extra) in [("docker", ""), ("ssh", "ssh: {host: 127.0.0.1}\n")] {
        for bad in ["../x", "a?b", "-x"] {
            let inv = inventory(
                SERVER_NAME,
                &format!(
                    "backend: synapse-cli\nconfig: /data/homeserver.yaml\ntransport: {transport}\n{extra}docker: {{container: '{bad}'}}"
                ),
            );
            let out = provision(
                &[
                    "register",
                    "someone",
                    "--check",
                    "-i",
                    inv.to_str().unwrap(),
                ],
                "",
            );
            let shown = text(&out);
            assert_eq!(out.status.code(), Some(2), "{transport} {bad}: {shown}");
            let line = if extra.is_empty() { 9 } else { 10 };
            assert!(
                shown.contains("invalid container name")
                    && shown.contains(&format!("names-inventory.yaml:{line}:")),
                "{transport} {bad}: {shown}"
            );
        }
    }
}

/// Two shared-secret hosts on the Synapse fixture: `good`, and `planted` whose shared secret
/// is read from `secret`. Registers one user with `--timeout 20`; returns the run's output.
fn register_beside_a_planted_secret(secret: &Path) -> std::process::Output {
    let s = synapse();
    let planted = format!(
        "url: {}\nshared_secret: {{file: {}}}",
        s.url,
        secret.display()
    );
    let inv = s.inventory(&[("good", ""), ("planted", &planted)]);
    provision(
        &[
            "register",
            &unique("planted"),
            "--password-stdin",
            "--timeout",
            "20",
            "-i",
            inv.to_str().unwrap(),
            "--output",
            "json",
        ],
        "planted-pw",
    )
}

/// The host named `name` in a JSON report.
fn host<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == name)
        .unwrap_or_else(|| panic!("no host {name} in {doc}"))
}

fn assert_planted_host_failed(out: &std::process::Output, why: &str) {
    let doc = json(out);
    assert_eq!(out.status.code(), Some(1), "{}", text(out));
    assert_eq!(host(&doc, "good")["outcome"], "created", "{doc}");
    let planted = host(&doc, "planted").to_string();
    assert!(
        planted.contains(why) && !planted.contains("timed out"),
        "failed at once, with the cause: {planted}"
    );
}

#[test]
fn a_fifo_as_secret_file_fails_that_host_at_once() {
    let fifo = scratch().join(unique("secret-fifo"));
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let out = register_beside_a_planted_secret(&fifo);
    assert_planted_host_failed(&out, "is a FIFO, not a regular file");
}

#[test]
fn dev_zero_as_secret_file_fails_that_host_at_once() {
    let out = register_beside_a_planted_secret(Path::new("/dev/zero"));
    assert_planted_host_failed(&out, "is a character device, not a regular file");
}

#[test]
fn a_secret_file_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let secret = write_file("writable-secret", "whatever");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = register_beside_a_planted_secret(&secret);
    assert_planted_host_failed(&out, "writable by group or others (mode 666)");
    assert!(
        text(&out).contains(&secret.display().to_string()),
        "names the file: {}",
        text(&out)
    );
}
