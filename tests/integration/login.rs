//! `admin_token: {login: …}` and `provision login` against a real Synapse, and
//! `register --user-type`: each asserted by what the server then says (the admin's devices,
//! the user's type), never by what provision says alone.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::fixtures::{
    SERVER_NAME, Synapse, argv_never_holds, client, json, provision, synapse, text, unique,
    write_file,
};
use crate::lifecycle::verb;

/// A secret file, mode 0600 as an operator keeps one.
fn secret_file(name: &str, content: &str) -> PathBuf {
    let path = write_file(name, content);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// A server admin of this test's own, with its password: (name, password, password file).
fn new_admin(s: &Synapse) -> (String, String, PathBuf) {
    let name = unique("loginadmin").to_lowercase();
    let password = format!("{}-Sekrit", unique("pw"));
    let inv = crate::lifecycle::inventory(s, false);
    let out = provision(
        &[
            "register",
            &name,
            "--admin",
            "--password-stdin",
            "-i",
            inv.to_str().unwrap(),
        ],
        &password,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let file = secret_file(&format!("{name}.pw"), &password);
    (name, password, file)
}

/// A host registering through the shared secret and administered through synapse-api with
/// `admin_token` as given.
fn inventory(s: &Synapse, admin_token: &str) -> PathBuf {
    write_file(
        "login.yaml",
        &format!(
            "all:\n  hosts:\n    syn:\n      server_name: {SERVER_NAME}\n      backend: shared-secret\n      url: {}\n      shared_secret: {{file: {}}}\n      admin_backend: synapse-api\n      admin_token: {admin_token}\n",
            s.url,
            s.secret_file().display()
        ),
    )
}

fn login_token(user: &str, password_file: &Path) -> String {
    format!(
        "{{login: {{user: {user}, password: {{file: {}}}}}}}",
        password_file.display()
    )
}

/// What Synapse's admin API says of a user, read with the fixture's own admin token.
fn admin_get(s: &Synapse, path: &str) -> serde_json::Value {
    let token = std::fs::read_to_string(s.admin_token_file()).unwrap();
    let resp = client()
        .get(format!("{}{path}", s.url))
        .bearer_auth(token.trim())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "GET {path}");
    resp.json().unwrap()
}

fn devices(s: &Synapse, localpart: &str) -> u64 {
    admin_get(
        s,
        &format!("/_synapse/admin/v2/users/@{localpart}:{SERVER_NAME}/devices"),
    )["total"]
        .as_u64()
        .unwrap()
}

#[test]
fn a_login_admin_token_works_and_leaves_no_device_behind() {
    let s = synapse();
    let (admin, password, password_file) = new_admin(s);
    let inv = inventory(s, &login_token(&admin, &password_file));
    let user = unique("loginuser").to_lowercase();
    let out = provision(
        &[
            "register",
            &user,
            "--password-stdin",
            "-i",
            inv.to_str().unwrap(),
        ],
        "user-pw-1",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let before = devices(s, &admin);

    let (status, outcome, out) = argv_never_holds(&password, || verb(&inv, &["show", &user], ""));
    assert_eq!(
        (status.as_str(), outcome.as_str()),
        ("ok", "exists"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains(&password));
    let (status, outcome, out) = argv_never_holds(&password, || verb(&inv, &["lock", &user], ""));
    assert_eq!(
        (status.as_str(), outcome.as_str()),
        ("changed", "locked"),
        "{}",
        text(&out)
    );
    assert_eq!(s.login(&user, "user-pw-1"), Err(401), "the lock took");
    assert!(!text(&out).contains(&password));

    assert_eq!(
        devices(s, &admin),
        before,
        "each run logs its device out at its end"
    );
}

#[test]
fn a_wrong_login_password_fails_once_and_clearly_without_showing_it() {
    let s = synapse();
    let (admin, _, _) = new_admin(s);
    let wrong = format!("{}-Wrong", unique("pw"));
    let inv = inventory(s, &login_token(&admin, &secret_file("wrong.pw", &wrong)));
    let out = argv_never_holds(&wrong, || {
        provision(
            &["show", "@nobody:test.local", "-i", inv.to_str().unwrap()],
            "",
        )
    });
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains(&format!(
            "admin_token login as {admin}: M_FORBIDDEN Invalid username or password"
        )),
        "{all}"
    );
    assert!(all.contains("syn"), "the host is named: {all}");
    assert!(!all.contains(&wrong), "{all}");
}

#[test]
fn provision_login_writes_a_private_token_file_the_inventory_then_uses() {
    let s = synapse();
    let (admin, password, _) = new_admin(s);
    let token_file = crate::fixtures::scratch().join(unique("admin-token"));
    let inv = inventory(s, &format!("{{file: {}}}", token_file.display()));
    let before = devices(s, &admin);
    let out = argv_never_holds(&password, || {
        provision(
            &[
                "login",
                "syn",
                "--user",
                &admin,
                "--password-stdin",
                "--token-out",
                token_file.to_str().unwrap(),
                "-i",
                inv.to_str().unwrap(),
                "--output",
                "json",
            ],
            &password,
        )
    });
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let token = std::fs::read_to_string(&token_file).unwrap();
    assert!(token.starts_with("syt_"), "an access token was written");
    let doc = json(&out);
    assert_eq!(doc["token_file"], token_file.to_str().unwrap());
    assert_eq!(doc["hosts"][0]["status"], "ok", "{doc}");
    assert!(!text(&out).contains(&token), "the token is never printed");
    assert!(!text(&out).contains(&password));
    assert_eq!(
        devices(s, &admin),
        before + 1,
        "its device is kept, for the token"
    );

    let (status, outcome, out) = verb(&inv, &["show", &admin], "");
    assert_eq!(
        (status.as_str(), outcome.as_str()),
        ("ok", "exists"),
        "{}",
        text(&out)
    );
    assert_eq!(json(&out)["hosts"][0]["state"]["admin"], true);
}

#[test]
fn register_user_type_bot_makes_a_bot_and_is_refused_where_it_cannot_be_passed() {
    let s = synapse();
    let inv = crate::lifecycle::inventory(s, false);
    let user = unique("bot").to_lowercase();
    let out = provision(
        &[
            "register",
            &user,
            "--user-type",
            "bot",
            "--password-stdin",
            "-i",
            inv.to_str().unwrap(),
        ],
        "bot-pw-1",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let record = admin_get(
        s,
        &format!("/_synapse/admin/v2/users/@{user}:{SERVER_NAME}"),
    );
    assert_eq!(record["user_type"], "bot", "{record}");

    // Dendrite has no user types: the shared-secret backend has nothing to send there.
    let dendrite = write_file(
        "dendrite.yaml",
        "all:\n  hosts:\n    den:\n      server_name: d.local\n      homeserver: dendrite\n      backend: shared-secret\n      url: http://127.0.0.1:9\n      shared_secret: {env: NOT_READ}\n",
    );
    let out = provision(
        &[
            "register",
            "someone",
            "--user-type",
            "support",
            "--password-stdin",
            "-i",
            dendrite.to_str().unwrap(),
        ],
        "pw",
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("den (backend shared-secret) cannot pass on --user-type"),
        "{}",
        text(&out)
    );
}
