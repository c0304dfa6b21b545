//! TLS to PostgreSQL with libpq's sslmode values, through `provision admin` on a host with
//! `admin_backend: sql`, against a real PostgreSQL offering TLS with a certificate for
//! `localhost` signed by a CA made for the run (fixtures/postgres.rs, `tls_postgres`). Each
//! test has a database of its own holding Synapse's `users` columns the sql backend reads.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use crate::fixtures::{
    FLEET, SERVER_NAME, json, postgres, provision, sshd, text, tls_postgres, unique, write_file,
};

/// A database with one user, not an admin; its name and the user's ID.
fn database() -> (String, String) {
    let t = tls_postgres();
    let db = unique("tls").replace('-', "_");
    t.pg.create_database(&db);
    let user = unique("u");
    t.pg.query_as_superuser(
        &db,
        &format!(
            "CREATE TABLE users (name text UNIQUE NOT NULL, admin smallint DEFAULT 0 NOT NULL, \
             deactivated smallint DEFAULT 0 NOT NULL, locked boolean DEFAULT false NOT NULL, \
             creation_ts bigint); GRANT ALL ON users TO synapse; \
             INSERT INTO users (name) VALUES ('@{user}:{SERVER_NAME}')"
        ),
    );
    (db, user)
}

fn password() -> String {
    let url = &tls_postgres().pg.url;
    let creds = url.split("//").nth(1).unwrap().split('@').next().unwrap();
    creds.split_once(':').unwrap().1.to_owned()
}

/// `database_url` for `host` and database `db`, with `params` as its query.
fn url(host: &str, db: &str, params: &str) -> String {
    let t = tls_postgres();
    format!(
        "postgresql://synapse:{}@{host}:{}/{db}?{params}",
        password(),
        t.pg.port()
    )
}

/// `provision admin USER --on` on a host whose admin backend is sql at `url`.
fn admin_on(user: &str, url: &str) -> Output {
    admin_on_host(user, url, "")
}

/// The same, with more of the host's settings (one `key: value` line).
fn admin_on_host(user: &str, url: &str, more: &str) -> Output {
    use std::os::unix::fs::PermissionsExt;
    let url_file = write_file("tls-database_url", url);
    std::fs::set_permissions(&url_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let secret = write_file("tls-shared-secret", "unused");
    // The registration backend is never asked: the admin flag goes through admin_backend.
    let inv = write_file(
        "tls-inventory.yaml",
        &format!(
            "all:\n  hosts:\n    tlsdb:\n      server_name: {SERVER_NAME}\n      \
             backend: shared-secret\n      url: http://127.0.0.1:9\n      \
             shared_secret: {{file: {}}}\n      admin_backend: sql\n      \
             database_url: {{file: {}}}\n      {more}\n",
            secret.display(),
            url_file.display()
        ),
    );
    provision(
        &[
            "admin",
            user,
            "--on",
            "-i",
            inv.to_str().unwrap(),
            "--output",
            "json",
            // The database's label (and whether the password stays out of the debug lines).
            "-vv",
        ],
        "",
    )
}

fn flag(db: &str, user: &str) -> String {
    tls_postgres().pg.query_as_superuser(
        db,
        &format!("SELECT admin FROM users WHERE name = '@{user}:{SERVER_NAME}'"),
    )
}

/// Whether the server logged provision's connection to `db` as TLS (PostgreSQL 15's
/// log_connections line: "connection authorized: user=… database=… SSL enabled (…)").
fn used_tls(db: &str) -> bool {
    let log = std::fs::read_to_string(&tls_postgres().log).unwrap();
    let database = format!("database={db}");
    let line = log
        .lines()
        .find(|l| {
            l.contains("connection authorized: user=synapse ")
                && l.split_whitespace().any(|w| w == database)
        })
        .unwrap_or_else(|| panic!("no connection to {db} in the server's log"));
    line.contains("SSL enabled")
}

fn assert_set(out: &Output, db: &str, user: &str) {
    assert_eq!(out.status.code(), Some(0), "{}", text(out));
    assert_eq!(flag(db, user), "1");
    assert!(!text(out).contains(&password()), "{}", text(out));
}

/// Refused before anything was changed: a clear message naming the database, exit non-zero,
/// at once (a retried failure would take the retry layer's 15 s), no password.
fn assert_refused(out: &Output, took: Duration, db: &str, user: &str, what: &str) -> String {
    assert_ne!(out.status.code(), Some(0), "{}", text(out));
    let msg = json(out)["hosts"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(msg.contains(&format!("/{db}")), "{msg}");
    assert!(msg.contains(what), "{msg}");
    assert!(took < Duration::from_secs(5), "took {took:?}: retried?");
    assert!(!text(out).contains(&password()), "{}", text(out));
    assert_eq!(flag(db, user), "0");
    msg
}

fn ca(which: &Path) -> String {
    format!("sslrootcert={}", which.display())
}

#[test]
fn verify_full_with_the_ca_connects_over_tls() {
    let t = tls_postgres();
    let (db, user) = database();
    let out = admin_on(
        &user,
        &url(
            "localhost",
            &db,
            &format!("sslmode=verify-full&{}", ca(&t.ca)),
        ),
    );
    assert_set(&out, &db, &user);
    assert!(used_tls(&db));
}

#[test]
fn verify_full_with_another_ca_is_refused_as_untrusted() {
    let t = tls_postgres();
    let (db, user) = database();
    let started = Instant::now();
    let out = admin_on(
        &user,
        &url(
            "localhost",
            &db,
            &format!("sslmode=verify-full&{}", ca(&t.other_ca)),
        ),
    );
    let msg = assert_refused(
        &out,
        started.elapsed(),
        &db,
        &user,
        "the TLS certificate is not trusted",
    );
    assert!(
        msg.contains("postgres localhost:") && msg.contains("sslmode=verify-full"),
        "{msg}"
    );
}

#[test]
fn a_name_the_certificate_lacks_fails_verify_full_and_passes_verify_ca() {
    let t = tls_postgres();
    let (db, user) = database();
    let started = Instant::now();
    let out = admin_on(
        &user,
        &url(
            "127.0.0.1",
            &db,
            &format!("sslmode=verify-full&{}", ca(&t.ca)),
        ),
    );
    let msg = assert_refused(
        &out,
        started.elapsed(),
        &db,
        &user,
        "is not valid for this host name",
    );
    assert!(msg.contains("postgres 127.0.0.1:"), "{msg}");
    // The chain is the CA's: verify-ca does not look at the name.
    let out = admin_on(
        &user,
        &url(
            "127.0.0.1",
            &db,
            &format!("sslmode=verify-ca&{}", ca(&t.ca)),
        ),
    );
    assert_set(&out, &db, &user);
    // verify-ca still checks the chain.
    let (db, user) = database();
    let started = Instant::now();
    let out = admin_on(
        &user,
        &url(
            "127.0.0.1",
            &db,
            &format!("sslmode=verify-ca&{}", ca(&t.other_ca)),
        ),
    );
    assert_refused(&out, started.elapsed(), &db, &user, "is not trusted");
}

#[test]
fn require_encrypts_without_a_root_certificate() {
    let (db, user) = database();
    let out = admin_on(&user, &url("127.0.0.1", &db, "sslmode=require"));
    assert_set(&out, &db, &user);
    assert!(used_tls(&db));
}

#[test]
fn disable_stays_plaintext() {
    let (db, user) = database();
    let out = admin_on(&user, &url("127.0.0.1", &db, "sslmode=disable"));
    assert_set(&out, &db, &user);
    assert!(!used_tls(&db));
}

#[test]
fn verify_full_runs_inside_the_ssh_tunnel_under_the_urls_host_name() {
    let t = tls_postgres();
    let ssh = format!("ssh: {}", sshd().ssh_vars(FLEET[0]));
    let (db, user) = database();
    let out = admin_on_host(
        &user,
        &url(
            "localhost",
            &db,
            &format!("sslmode=verify-full&{}", ca(&t.ca)),
        ),
        &ssh,
    );
    assert_set(&out, &db, &user);
    assert!(used_tls(&db));
    let via = format!("via ssh root@{}", FLEET[0]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&via),
        "{}",
        text(&out)
    );
    // The name checked is the URL's, not the tunnel's socket.
    let (db, user) = database();
    let started = Instant::now();
    let out = admin_on_host(
        &user,
        &url(
            "127.0.0.1",
            &db,
            &format!("sslmode=verify-full&{}", ca(&t.ca)),
        ),
        &ssh,
    );
    assert_refused(
        &out,
        started.elapsed(),
        &db,
        &user,
        "is not valid for this host name",
    );
}

#[test]
fn require_against_a_server_without_tls_is_refused_at_once() {
    // The suite's other cluster offers no TLS; no table is needed, nothing gets that far.
    let pg = postgres();
    let url = format!("{}?sslmode=require", pg.url);
    let started = Instant::now();
    let out = admin_on(&unique("u"), &url);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    let msg = json(&out)["hosts"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        msg.contains("the server does not offer TLS, and sslmode=require requires it")
            && msg.contains("postgres 127.0.0.1:"),
        "{msg}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let password = pg.url.split(':').nth(2).unwrap().split('@').next().unwrap();
    assert!(!text(&out).contains(password), "{}", text(&out));
}
