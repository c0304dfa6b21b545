//! A Dendrite host managed through Dendrite's admin API and its database, against the Dendrite
//! stand-in (tests/standins/dendrite-api, which follows element-hq/dendrite's handlers over
//! PostgreSQL in Dendrite's schema): `admin_backend: [sql, dendrite-api]` reads users and sets
//! the flag in `userapi_accounts`, sets passwords and registration tokens through the API;
//! each asserted by what the server then does.

use std::path::PathBuf;

use crate::fixtures::{DENDRITE_SERVER_NAME, Dendrite, dendrite};
use crate::fixtures::{json, provision, text, unique, write_file};
use crate::lifecycle::verb;

fn inventory(d: &Dendrite) -> PathBuf {
    write_file(
        "dendrite-api.yaml",
        &format!(
            "all:\n  hosts:\n    den:\n      server_name: {DENDRITE_SERVER_NAME}\n      backend: shared-secret\n      url: {}\n      shared_secret: {{file: {}}}\n      admin_backend: [sql, dendrite-api]\n      database_url: {{file: {}}}\n      admin_token: {{file: {}}}\n",
            d.url,
            d.secret_file.display(),
            d.database_url_file.display(),
            d.admin_token_file().display()
        ),
    )
}

#[test]
fn passwords_flags_and_reads_go_to_the_backend_that_can() {
    let d = dendrite(false);
    let inv = inventory(&d);
    let user = unique("den").to_lowercase();
    let out = provision(
        &[
            "register",
            &user,
            "--password-stdin",
            "-i",
            inv.to_str().unwrap(),
        ],
        "dendrite-pw-1",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let session = d
        .login(&user, "dendrite-pw-1")
        .expect("the new user logs in");

    // Read and admin flag through SQL, in Dendrite's schema.
    let (status, outcome, out) = verb(&inv, &["show", &user], "");
    assert_eq!(
        (status.as_str(), outcome.as_str()),
        ("ok", "exists"),
        "{}",
        text(&out)
    );
    assert_eq!(json(&out)["hosts"][0]["state"]["admin"], false);
    let (status, _, out) = verb(&inv, &["admin", &user, "--on"], "");
    assert_eq!(status, "changed", "{}", text(&out));
    let row = d.query(&format!(
        "SELECT account_type FROM userapi_accounts WHERE localpart = '{user}'"
    ));
    assert_eq!(row.trim(), "3");

    // Password through the API: --check changes nothing, a run logs the sessions out.
    let (status, outcome, out) = verb(
        &inv,
        &["password", &user, "--password-stdin", "--check"],
        "dendrite-pw-2",
    );
    assert_eq!(
        (status.as_str(), outcome.as_str()),
        ("changed", "would_set_password"),
        "{}",
        text(&out)
    );
    assert!(d.login(&user, "dendrite-pw-1").is_ok());
    let (status, outcome, out) = verb(
        &inv,
        &["password", &user, "--password-stdin"],
        "dendrite-pw-2",
    );
    assert_eq!(
        (status.as_str(), outcome.as_str()),
        ("changed", "password_set"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("dendrite-pw-2"));
    assert_eq!(d.login(&user, "dendrite-pw-1"), Err(403));
    let kept = d
        .login(&user, "dendrite-pw-2")
        .expect("the new password logs in");
    assert_eq!(whoami(&d, &session), 401, "the old session is logged out");
    // --keep-sessions keeps them.
    let (status, _, out) = verb(
        &inv,
        &["password", &user, "--password-stdin", "--keep-sessions"],
        "dendrite-pw-3",
    );
    assert_eq!(status, "changed", "{}", text(&out));
    assert_eq!(whoami(&d, &kept), 200);
    assert!(d.login(&user, "dendrite-pw-3").is_ok());

    // A missing user, and a verb Dendrite has no endpoint for: failures that say why.
    let (status, _, out) = verb(
        &inv,
        &["password", "nobody-here", "--password-stdin"],
        "dendrite-pw-4",
    );
    assert_eq!(status, "failed");
    assert!(
        text(&out).contains("no such user @nobody-here:dendrite.test"),
        "{}",
        text(&out)
    );
    let (status, _, out) = verb(&inv, &["deactivate", &user], "");
    assert_eq!(status, "failed");
    assert!(
        text(&out).contains("no backend of this host can"),
        "{}",
        text(&out)
    );
    assert!(
        d.login(&user, "dendrite-pw-3").is_ok(),
        "nothing was deactivated"
    );

    let out = provision(&["ping", "-i", inv.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("dendrite-api for password, tokens"),
        "{}",
        text(&out)
    );
}

fn whoami(d: &Dendrite, token: &str) -> u16 {
    crate::fixtures::client()
        .get(format!("{}/_matrix/client/v3/account/whoami", d.url))
        .bearer_auth(token)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn registration_tokens_are_issued_listed_and_revoked_on_dendrite() {
    let d = dendrite(true);
    let inv = inventory(&d);
    let (status, outcome, out) = verb(&inv, &["token", "issue", "--uses", "2"], "");
    assert_eq!(
        (status.as_str(), outcome.as_str()),
        ("changed", "issued"),
        "{}",
        text(&out)
    );
    let token = json(&out)["tokens"]["den"].as_str().unwrap().to_owned();
    let row = d.query(&format!(
        "SELECT uses_allowed FROM userapi_registration_tokens WHERE token = '{token}'"
    ));
    assert_eq!(row.trim(), "2");
    let out = provision(
        &[
            "token",
            "list",
            "-i",
            inv.to_str().unwrap(),
            "--output",
            "json",
        ],
        "",
    );
    assert!(text(&out).contains(&token), "{}", text(&out));
    let (status, outcome, _) = verb(&inv, &["token", "revoke", &token], "");
    assert_eq!((status.as_str(), outcome.as_str()), ("changed", "revoked"));
    assert_eq!(
        d.query(&format!(
            "SELECT count(*) FROM userapi_registration_tokens WHERE token = '{token}'"
        ))
        .trim(),
        "0"
    );
    // Dendrite's DELETE answers 200 either way: the list tells that it is gone.
    let (status, outcome, _) = verb(&inv, &["token", "revoke", &token], "");
    assert_eq!(
        (status.as_str(), outcome.as_str()),
        ("ok", "already_revoked")
    );
}

#[test]
fn a_dendrite_without_token_registration_says_so() {
    let d = dendrite(false);
    let inv = inventory(&d);
    let (status, _, out) = verb(&inv, &["token", "issue"], "");
    assert_eq!(status, "failed");
    assert!(
        text(&out).contains("Registration via tokens is not enabled"),
        "{}",
        text(&out)
    );
}

#[test]
fn apply_on_dendrite_creates_and_sets_flags_and_names_what_it_cannot_do() {
    let d = dendrite(false);
    let inv = inventory(&d);
    let [ivy, jo] = ["ivy", "jo"].map(|p| unique(&format!("denapply{p}")).to_lowercase());
    let pw = write_file("den-apply.pw", "den-apply-password");
    let file = write_file(
        "den-apply.yaml",
        &format!(
            "users:\n  - user: {ivy}\n    admin: true\n    password_file: {}\n  - user: {jo}\n    password_file: {}\n",
            pw.display(),
            pw.display()
        ),
    );
    let args = |verb: &'static str, more: &[&'static str]| {
        let mut a = vec![
            verb,
            file.to_str().unwrap(),
            "-i",
            inv.to_str().unwrap(),
            "--output",
            "json",
        ];
        a.extend(more);
        a
    };
    let out = provision(&args("apply", &["--yes"]), "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(d.login(&ivy, "den-apply-password").is_ok());
    let row = d.query(&format!(
        "SELECT account_type FROM userapi_accounts WHERE localpart = '{ivy}'"
    ));
    assert_eq!(row.trim(), "3");
    // Dendrite cannot lock: the plan says so rather than skipping it.
    let file2 = write_file(
        "den-apply2.yaml",
        &format!("users:\n  - user: {jo}\n    state: locked\n"),
    );
    let out = provision(
        &[
            "plan",
            file2.to_str().unwrap(),
            "-i",
            inv.to_str().unwrap(),
            "--output",
            "json",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("cannot tell whether @"),
        "Dendrite's SQL does not say locked: {}",
        text(&out)
    );
}
