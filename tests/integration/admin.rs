//! `provision admin` and `register --admin|--no-admin` on existing users, through each admin
//! backend: SQL on a real PostgreSQL (directly and through an SSH tunnel), Synapse's admin API,
//! and the MAS admin API stand-in.

use std::path::{Path, PathBuf};

use crate::fixtures::{
    COUNTED, SERVER_NAME, Synapse, json, pg_synapse, postgres, provision, scratch, sshd, synapse,
    text, unique, write_file,
};
use crate::mas::{mas, mas_admin, mas_vars};

fn inventory(name: &str, vars: &str) -> PathBuf {
    let mut yaml =
        format!("all:\n  vars:\n    server_name: {SERVER_NAME}\n  hosts:\n    {name}:\n");
    for line in vars.lines() {
        yaml.push_str(&format!("      {line}\n"));
    }
    write_file("admin-inventory.yaml", &yaml)
}

/// A shared-secret host on `s`, plus admin settings.
fn host_vars(s: &Synapse, admin: &str) -> String {
    format!(
        "backend: shared-secret\nurl: {}\nshared_secret: {{file: {}}}\n{admin}",
        s.url,
        s.secret_file().display()
    )
}

fn run(args: &[&str], inv: &Path, stdin: &str) -> std::process::Output {
    let mut all = args.to_vec();
    all.extend(["-i", inv.to_str().unwrap(), "--output", "json"]);
    provision(&all, stdin)
}

fn outcome(out: &std::process::Output) -> (String, String) {
    let doc = json(out);
    let host = &doc["hosts"][0];
    (
        host["status"].as_str().unwrap().to_owned(),
        host["outcome"].as_str().unwrap_or("").to_owned(),
    )
}

fn sql_flag(user: &str) -> String {
    postgres().query(&format!(
        "SELECT admin FROM users WHERE name = '@{user}:{SERVER_NAME}'"
    ))
}

#[test]
fn sql_sets_the_column_reports_unchanged_and_clears() {
    let s = pg_synapse();
    let pg = postgres();
    let admin = format!(
        "admin_backend: sql\ndatabase_url: {{file: {}}}",
        pg.url_file().display()
    );
    let inv = inventory("pg", &host_vars(s, &admin));
    let user = unique("sql");
    assert_eq!(
        run(&["register", &user, "--password-stdin"], &inv, "sql-pw")
            .status
            .code(),
        Some(0)
    );
    assert_eq!(sql_flag(&user), "0");

    let out = run(&["admin", &user, "--on"], &inv, "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(outcome(&out), ("changed".into(), "admin_set".into()));
    assert!(
        text(&out).contains("until it restarts"),
        "the cache caveat is said: {}",
        text(&out)
    );
    assert_eq!(sql_flag(&user), "1");
    // Synapse had not looked this user up since it started: its admin API sees the new flag.
    assert_eq!(s.admin_flag(&user), Some(true));

    let out = run(&["admin", &user, "--on"], &inv, "");
    assert_eq!(
        outcome(&out),
        ("ok".into(), "admin_unchanged".into()),
        "{}",
        text(&out)
    );

    let out = run(&["admin", &user, "--off", "--check"], &inv, "");
    assert_eq!(
        outcome(&out),
        ("changed".into(), "would_set_admin".into()),
        "{}",
        text(&out)
    );
    assert_eq!(sql_flag(&user), "1", "--check changes nothing");

    let out = run(&["admin", &user, "--off"], &inv, "");
    assert_eq!(
        outcome(&out),
        ("changed".into(), "admin_set".into()),
        "{}",
        text(&out)
    );
    assert_eq!(sql_flag(&user), "0");
}

#[test]
fn synapse_keeps_serving_a_cached_flag_after_sql() {
    // Synapse caches a user's admin flag (synapse/storage/databases/main/registration.py,
    // is_server_admin behind get_user_by_id's cache), checked here so the warning provision prints
    // stays true: a user Synapse has looked up keeps its old flag in the running server.
    let s = pg_synapse();
    let pg = postgres();
    let admin = format!(
        "admin_backend: sql\ndatabase_url: {{file: {}}}",
        pg.url_file().display()
    );
    let inv = inventory("pg", &host_vars(s, &admin));
    let user = unique("cached");
    assert_eq!(
        run(&["register", &user, "--password-stdin"], &inv, "cached-pw")
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        s.admin_flag(&user),
        Some(false),
        "looked up once: now cached"
    );
    assert_eq!(
        run(&["admin", &user, "--on"], &inv, "").status.code(),
        Some(0)
    );
    assert_eq!(sql_flag(&user), "1");
    assert_eq!(
        s.admin_flag(&user),
        Some(false),
        "the running server still answers from its cache"
    );
}

#[test]
fn sql_through_an_ssh_tunnel() {
    let s = pg_synapse();
    let pg = postgres();
    let d = sshd();
    let admin = format!(
        "admin_backend: sql\ndatabase_url: {{file: {}}}\nssh: {}",
        pg.url_file().display(),
        d.ssh_vars(COUNTED)
    );
    let inv = inventory("tunnelled", &host_vars(s, &admin));
    let user = unique("tunnel");
    assert_eq!(
        run(&["register", &user, "--password-stdin"], &inv, "tunnel-pw")
            .status
            .code(),
        Some(0)
    );
    let _counting = crate::fixtures::counted_lock();
    let before = d.connections(COUNTED);
    let out = run(&["admin", &user, "--on", "-vv"], &inv, "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        d.connections(COUNTED) - before,
        1,
        "the database was reached through the host's SSH"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("via ssh root@127.0.0.5"),
        "{}",
        text(&out)
    );
    assert_eq!(sql_flag(&user), "1");
    let password = pg.url.split(':').nth(2).unwrap().split('@').next().unwrap();
    assert!(
        !text(&out).contains(password),
        "the database password is never shown"
    );
}

#[test]
fn database_down_is_a_clear_failure_and_changes_nothing() {
    let s = pg_synapse();
    let dead = write_file("dead-db", "postgresql://synapse:x@127.0.0.1:1/synapse\n");
    let admin = format!(
        "admin_backend: sql\ndatabase_url: {{file: {}}}",
        dead.display()
    );
    let inv = inventory("deaddb", &host_vars(s, &admin));
    let user = unique("deaddb");
    assert_eq!(
        run(&["register", &user, "--password-stdin"], &inv, "pw-deaddb")
            .status
            .code(),
        Some(0)
    );
    let out = run(&["admin", &user, "--on"], &inv, "");
    // The database cannot be reached: exit 4, and the host is "unreachable", not "failed".
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert_eq!(json(&out)["hosts"][0]["status"], "unreachable");
    let msg = json(&out)["hosts"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(msg.contains("postgres 127.0.0.1:1/synapse"), "{msg}");
    assert_eq!(sql_flag(&user), "0");
}

#[test]
fn user_ids_built_to_break_sql_are_refused_before_any_backend() {
    let s = pg_synapse();
    let pg = postgres();
    let admin = format!(
        "admin_backend: sql\ndatabase_url: {{file: {}}}",
        pg.url_file().display()
    );
    let inv = inventory("pg", &host_vars(s, &admin));
    for bad in [
        "x'; UPDATE users SET admin = 1; --",
        "@a;b:test.local",
        "john\" OR 1=1",
    ] {
        let out = run(&["admin", bad, "--on"], &inv, "");
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", text(&out));
        assert!(
            text(&out).starts_with("error: invalid"),
            "{bad}: {}",
            text(&out)
        );
    }
    // Other tests share this database, so look only for traces of these names.
    let traces =
        "SELECT count(*) FROM users WHERE name LIKE '%;%' OR name LIKE '%''%' OR name LIKE '%\"%'";
    assert_eq!(pg.query(traces), "0", "nothing reached the database");
}

#[test]
fn synapse_api_toggles_and_is_read_back() {
    let s = synapse();
    let admin = format!(
        "admin_backend: synapse-api\nadmin_token: {{file: {}}}",
        s.admin_token_file().display()
    );
    let inv = inventory("api", &host_vars(s, &admin));
    let user = unique("api");
    assert_eq!(
        run(&["register", &user, "--password-stdin"], &inv, "api-pw")
            .status
            .code(),
        Some(0)
    );
    let out = run(&["admin", &user, "--on"], &inv, "");
    assert_eq!(
        outcome(&out),
        ("changed".into(), "admin_set".into()),
        "{}",
        text(&out)
    );
    assert_eq!(
        s.admin_flag(&user),
        Some(true),
        "no cache lag through the API"
    );
    let out = run(&["admin", &user, "--on"], &inv, "");
    assert_eq!(outcome(&out), ("ok".into(), "admin_unchanged".into()));
    let out = run(&["admin", &user, "--off"], &inv, "");
    assert_eq!(outcome(&out), ("changed".into(), "admin_set".into()));
    assert_eq!(s.admin_flag(&user), Some(false));

    let out = run(&["admin", &unique("nobody"), "--on"], &inv, "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("no such user"), "{}", text(&out));
    assert!(!text(&out).contains(&std::fs::read_to_string(s.admin_token_file()).unwrap()));
}

#[test]
fn register_with_admin_flags_converges_an_existing_user() {
    let s = synapse();
    let admin = format!(
        "admin_backend: synapse-api\nadmin_token: {{file: {}}}",
        s.admin_token_file().display()
    );
    let inv = inventory("api", &host_vars(s, &admin));
    let user = unique("converge");
    assert_eq!(
        run(&["register", &user, "--password-stdin"], &inv, "conv-pw")
            .status
            .code(),
        Some(0)
    );
    assert_eq!(s.admin_flag(&user), Some(false));

    let out = run(
        &["register", &user, "--admin", "--password-stdin"],
        &inv,
        "conv-pw",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc = json(&out);
    assert_eq!(doc["hosts"][0]["status"], "changed");
    assert_eq!(doc["hosts"][0]["outcome"], "exists");
    assert_eq!(doc["hosts"][0]["admin"], "admin_set");
    assert_eq!(s.admin_flag(&user), Some(true));

    let out = run(
        &["register", &user, "--admin", "--password-stdin"],
        &inv,
        "conv-pw",
    );
    assert_eq!(json(&out)["hosts"][0]["status"], "ok", "{}", text(&out));

    // Without a flag an existing user is left alone; --no-admin demotes only when asked.
    let out = run(&["register", &user, "--password-stdin"], &inv, "conv-pw");
    assert_eq!(json(&out)["hosts"][0]["status"], "ok");
    assert_eq!(s.admin_flag(&user), Some(true));
    let out = run(
        &["register", &user, "--no-admin", "--password-stdin"],
        &inv,
        "conv-pw",
    );
    assert_eq!(
        json(&out)["hosts"][0]["admin"],
        "admin_set",
        "{}",
        text(&out)
    );
    assert_eq!(s.admin_flag(&user), Some(false));
}

#[test]
fn mas_api_toggles_can_request_admin() {
    let s = synapse();
    let m = mas(s);
    let inv = inventory(
        "mas",
        &mas_vars(&m, "01JADMINCLIENT", "admin-client-secret"),
    );
    let user = unique("masapi");
    let out = run(
        &["register", &user, "--password-stdin"],
        &inv,
        "mas-api-password",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!mas_admin(&m, &user));

    let out = run(&["admin", &user, "--on"], &inv, "");
    assert_eq!(
        outcome(&out),
        ("changed".into(), "admin_set".into()),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("next logins"), "{}", text(&out));
    assert!(mas_admin(&m, &user));
    let out = run(&["admin", &user, "--on"], &inv, "");
    assert_eq!(outcome(&out), ("ok".into(), "admin_unchanged".into()));

    // register --no-admin on the existing user converges through the same API.
    let out = run(
        &["register", &user, "--no-admin", "--password-stdin"],
        &inv,
        "mas-api-password",
    );
    assert_eq!(
        json(&out)["hosts"][0]["admin"],
        "admin_set",
        "{}",
        text(&out)
    );
    assert!(!mas_admin(&m, &user));
}

#[test]
fn mas_api_refuses_clients_and_tokens_without_the_admin_scope() {
    let s = synapse();
    let m = mas(s);
    let inv = inventory("mas", &mas_vars(&m, "01JOTHERCLIENT", "other-secret"));
    let user = unique("masscope");
    assert_eq!(
        run(
            &["register", &user, "--password-stdin"],
            &inv,
            "mas-scope-pw"
        )
        .status
        .code(),
        Some(0)
    );
    let out = run(&["admin", &user, "--on"], &inv, "");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let msg = json(&out)["hosts"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        msg.contains("invalid_scope") && msg.contains("admin_clients"),
        "{msg}"
    );
    assert!(!text(&out).contains("other-secret"));
    assert!(!mas_admin(&m, &user));

    // The stand-in's API itself refuses a token without the scope, as MAS does.
    let client = crate::fixtures::client();
    let token: serde_json::Value = client
        .post(format!("{}/oauth2/token", m.url))
        .basic_auth("01JOTHERCLIENT", Some("other-secret"))
        .form(&[("grant_type", "client_credentials"), ("scope", "openid")])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let resp = client
        .get(format!("{}/api/admin/v1/users/by-username/{user}", m.url))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(
        resp.json::<serde_json::Value>().unwrap()["errors"][0]["title"],
        "Missing urn:mas:admin scope"
    );

    let inv = inventory("mas", &mas_vars(&m, "01JADMINCLIENT", "wrong-secret"));
    let out = run(&["admin", &user, "--on"], &inv, "");
    assert!(
        text(&out).contains("check mas.client_id and mas.client_secret"),
        "{}",
        text(&out)
    );
}

#[test]
fn admin_without_an_admin_backend_says_how_to_set_one() {
    let s = synapse();
    let inv = inventory("plain", &host_vars(s, ""));
    let user = unique("nobackend");
    assert_eq!(
        run(&["register", &user, "--password-stdin"], &inv, "nb-pw")
            .status
            .code(),
        Some(0)
    );
    let out = run(&["admin", &user, "--on"], &inv, "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("set admin_backend"), "{}", text(&out));
    let out = run(
        &["register", &user, "--admin", "--password-stdin"],
        &inv,
        "nb-pw",
    );
    // Asked for and not had: a failure of that host, with the reason.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("no admin_backend"), "{}", text(&out));
}

#[test]
fn psql_through_the_hosts_transport_with_the_statement_on_stdin() {
    let s = pg_synapse();
    let pg = postgres();
    let d = sshd();
    let cli = pg.cli_non_interactive();
    let (wrapper, argv) = crate::fixtures::argv_recorder(&scratch(), cli.to_str().unwrap());
    // A shared-secret host with `ssh`: the playbook-style psql wrapper runs on the SSH host,
    // connects by itself and reads the statement from stdin.
    let admin = format!(
        "admin_backend: sql\npsql: {{command: {}, database: synapse}}\nssh: {}",
        wrapper.display(),
        d.ssh_vars(crate::fixtures::FLEET[1])
    );
    let inv = inventory("psql", &host_vars(s, &admin));
    let user = unique("psql");
    assert_eq!(
        run(&["register", &user, "--password-stdin"], &inv, "psql-pw")
            .status
            .code(),
        Some(0)
    );
    let out = run(&["admin", &user, "--on"], &inv, "");
    assert_eq!(
        outcome(&out),
        ("changed".into(), "admin_set".into()),
        "{}",
        text(&out)
    );
    assert_eq!(sql_flag(&user), "1");
    let out = run(&["admin", &user, "--on"], &inv, "");
    assert_eq!(
        outcome(&out),
        ("ok".into(), "admin_unchanged".into()),
        "{}",
        text(&out)
    );
    // The statement went on stdin; only the values, as psql variables, on the command line.
    let recorded = crate::fixtures::assert_argv_clean(&argv, "UPDATE");
    assert!(
        recorded.contains(&format!("p2=@{user}:{SERVER_NAME}")),
        "{recorded}"
    );
    assert!(recorded.contains("--dbname=synapse"), "{recorded}");
}

#[test]
fn no_secret_appears_at_any_verbosity_in_any_output() {
    // Every secret provision handles on one host: the user's password, the shared secret, a
    // server admin's token and the database URL's password.
    let s = pg_synapse();
    let pg = postgres();
    let token = std::fs::read_to_string(s.admin_token_file())
        .unwrap()
        .trim()
        .to_owned();
    let shared = std::fs::read_to_string(s.secret_file())
        .unwrap()
        .trim()
        .to_owned();
    let db_password = pg
        .url
        .split(':')
        .nth(2)
        .unwrap()
        .split('@')
        .next()
        .unwrap()
        .to_owned();
    let password = "Unmistakable-User-Password-42";
    let sql = format!(
        "admin_backend: sql\ndatabase_url: {{file: {}}}",
        pg.url_file().display()
    );
    let api = format!(
        "admin_backend: synapse-api\nadmin_token: {{file: {}}}",
        s.admin_token_file().display()
    );
    let user = unique("leak");
    let mut shown = String::new();
    for admin in [&sql, &api] {
        let inv = inventory("leaky", &host_vars(s, admin));
        let inv = inv.to_str().unwrap();
        for v in ["-v", "-vv", "-vvv"] {
            for args in [
                vec![
                    v,
                    "register",
                    user.as_str(),
                    "--admin",
                    "--password-stdin",
                    "-i",
                    inv,
                ],
                vec![
                    v,
                    "register",
                    user.as_str(),
                    "--no-admin",
                    "--password-stdin",
                    "-i",
                    inv,
                    "--output",
                    "json",
                ],
                vec![
                    v,
                    "register",
                    user.as_str(),
                    "--admin",
                    "--check",
                    "-i",
                    inv,
                ],
                vec![
                    v,
                    "admin",
                    user.as_str(),
                    "--on",
                    "-i",
                    inv,
                    "--output",
                    "json",
                ],
                vec![v, "admin", user.as_str(), "--off", "--check", "-i", inv],
                vec![v, "admin", "nobody-at-all", "--on", "-i", inv],
                vec![v, "ping", "-i", inv, "--output", "json"],
                vec![v, "inventory", "-i", inv],
            ] {
                let out = provision(&args, password);
                assert!(out.status.code() != Some(101), "no panic: {args:?}");
                shown.push_str(&text(&out));
            }
        }
    }
    assert!(shown.contains("DEBUG"), "the verbose logs were produced");
    for (what, secret) in [
        ("password", password),
        ("shared secret", shared.as_str()),
        ("admin token", token.as_str()),
        ("database password", db_password.as_str()),
    ] {
        assert!(!shown.contains(secret), "the {what} leaked");
    }
    assert_eq!(s.login(&user, password).map(|_| ()), Ok(()));
}
