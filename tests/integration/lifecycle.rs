//! The lifecycle verbs (`show`, `lock`, `unlock`, `password`, `deactivate`, `reactivate`) and
//! `users`, against a real Synapse through its admin API: each asserted by what the server
//! then does (the user logs in or not, its listing) rather than by what provision says.

use std::path::{Path, PathBuf};

use crate::fixtures::{SERVER_NAME, Synapse, json, provision, synapse, text, unique, write_file};

pub(crate) fn inventory(s: &Synapse, admin: bool) -> PathBuf {
    let pg = s.dir.to_string_lossy().contains("pg");
    let admin = if admin {
        format!(
            "      admin_backend: synapse-api\n      admin_token: {{file: {}}}\n",
            s.admin_token_file().display()
        )
    } else {
        String::new()
    };
    write_file(
        &format!("lifecycle-{}-{pg}.yaml", !admin.is_empty()),
        &format!(
            "all:\n  hosts:\n    syn:\n      server_name: {SERVER_NAME}\n      backend: shared-secret\n      url: {}\n      shared_secret: {{file: {}}}\n{admin}",
            s.url,
            s.secret_file().display()
        ),
    )
}

/// Runs a verb with `--output json`; the host's (status, outcome) and the whole output.
pub(crate) fn verb(
    inv: &Path,
    args: &[&str],
    stdin: &str,
) -> (String, String, std::process::Output) {
    let mut all = args.to_vec();
    all.extend(["-i", inv.to_str().unwrap(), "--output", "json"]);
    let out = provision(&all, stdin);
    let doc = json(&out);
    let host = &doc["hosts"][0];
    (
        host["status"].as_str().unwrap_or("").to_owned(),
        host["outcome"].as_str().unwrap_or("").to_owned(),
        out,
    )
}

#[test]
fn lock_password_deactivate_and_reactivate_change_what_the_server_lets_in() {
    let s = synapse();
    let inv = inventory(s, true);
    let user = unique("life").to_lowercase();
    let out = provision(
        &[
            "register",
            &user,
            "--password-stdin",
            "-i",
            inv.to_str().unwrap(),
        ],
        "first-pw",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(s.login(&user, "first-pw").is_ok());

    let (status, outcome, out) = verb(&inv, &["show", &user], "");
    assert_eq!(
        (status.as_str(), outcome.as_str()),
        ("ok", "exists"),
        "{}",
        text(&out)
    );
    let state = &json(&out)["hosts"][0]["state"];
    assert_eq!(state["exists"], true);
    assert_eq!(
        (state["locked"].clone(), state["deactivated"].clone()),
        (false.into(), false.into())
    );

    // Lock: Synapse refuses the login; again is ok; unlock lets it in again.
    assert_eq!(verb(&inv, &["lock", &user, "--check"], "").1, "would_lock");
    assert!(
        s.login(&user, "first-pw").is_ok(),
        "--check changed nothing"
    );
    let (status, outcome, out) = verb(&inv, &["lock", &user], "");
    assert_eq!(
        (status.as_str(), outcome.as_str()),
        ("changed", "locked"),
        "{}",
        text(&out)
    );
    assert_eq!(s.login(&user, "first-pw"), Err(401));
    let (status, outcome, _) = verb(&inv, &["lock", &user], "");
    assert_eq!(
        (status.as_str(), outcome.as_str()),
        ("ok", "already_locked")
    );
    assert_eq!(verb(&inv, &["unlock", &user], "").1, "unlocked");
    assert!(s.login(&user, "first-pw").is_ok());

    // A new password: the old one no longer logs in, the new one does; it is never shown.
    let (status, outcome, out) = verb(&inv, &["password", &user, "--password-stdin"], "second-pw");
    assert_eq!(
        (status.as_str(), outcome.as_str()),
        ("changed", "password_set"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("second-pw"));
    assert!(s.login(&user, "first-pw").is_err());
    assert!(s.login(&user, "second-pw").is_ok());

    // Deactivate: never erased unless asked; again is ok; show says so.
    assert_eq!(
        verb(&inv, &["deactivate", &user, "--check"], "").1,
        "would_deactivate"
    );
    assert!(s.login(&user, "second-pw").is_ok());
    let (status, outcome, out) = verb(&inv, &["deactivate", &user], "");
    assert_eq!(
        (status.as_str(), outcome.as_str()),
        ("changed", "deactivated"),
        "{}",
        text(&out)
    );
    assert!(s.login(&user, "second-pw").is_err());
    assert_eq!(
        verb(&inv, &["deactivate", &user], "").1,
        "already_deactivated"
    );
    let (_, _, out) = verb(&inv, &["show", &user], "");
    let state = &json(&out)["hosts"][0]["state"];
    assert_eq!(
        (state["deactivated"].clone(), state["erased"].clone()),
        (true.into(), false.into())
    );
}

/// Synapse reactivates through an upsert on `profiles(full_user_id)` whose unique index a
/// background update of its own creates (synapse/storage/databases/main/profile.py,
/// `profiles_full_user_id_key_idx`); until that update has run, Synapse answers a reactivation
/// with HTTP 500. On PostgreSQL, wait for the index, as an operator's long-running server has.
#[test]
fn reactivate_with_a_password_lets_the_user_back_in() {
    let s = crate::fixtures::pg_synapse();
    let index = "SELECT count(*) FROM pg_indexes WHERE indexname = 'profiles_full_user_id_key'";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    while crate::fixtures::postgres().query(index) != "1" {
        assert!(
            std::time::Instant::now() < deadline,
            "Synapse never created profiles_full_user_id_key"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let inv = inventory(s, true);
    let user = unique("back").to_lowercase();
    let out = provision(
        &[
            "register",
            &user,
            "--password-stdin",
            "-i",
            inv.to_str().unwrap(),
        ],
        "old-pw",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(verb(&inv, &["reactivate", &user], "").1, "already_active");
    assert_eq!(verb(&inv, &["deactivate", &user], "").1, "deactivated");
    assert!(s.login(&user, "old-pw").is_err());
    let (status, outcome, out) = verb(&inv, &["reactivate", &user, "--password-stdin"], "new-pw");
    assert_eq!(
        (status.as_str(), outcome.as_str()),
        ("changed", "reactivated"),
        "{}",
        text(&out)
    );
    assert!(s.login(&user, "new-pw").is_ok());
    let (_, _, out) = verb(&inv, &["show", &user], "");
    assert_eq!(json(&out)["hosts"][0]["state"]["deactivated"], false);
}

#[test]
fn a_missing_user_is_absent_to_show_and_an_error_to_the_verbs() {
    let s = synapse();
    let inv = inventory(s, true);
    let user = unique("nobody").to_lowercase();
    let (status, outcome, _) = verb(&inv, &["show", &user], "");
    assert_eq!((status.as_str(), outcome.as_str()), ("ok", "absent"));
    let (status, _, out) = verb(&inv, &["lock", &user], "");
    assert_eq!(status, "failed");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("no such user"), "{}", text(&out));
    assert_eq!(s.admin_flag(&user), None, "a lock never creates the user");
}

#[test]
fn a_host_without_a_backend_that_can_says_which_would() {
    let s = synapse();
    let inv = inventory(s, false);
    let (status, _, out) = verb(&inv, &["deactivate", "john"], "");
    assert_eq!(status, "failed");
    assert!(
        text(&out).contains(
            "no backend of this host can deactivate users (those that can: synapse-api, mas-api, admin-room)"
        ),
        "{}",
        text(&out)
    );
}

#[test]
fn users_lists_exactly_the_servers_users_with_their_admin_flags() {
    let s = synapse();
    let inv = inventory(s, true);
    let admin = unique("listAdmin").to_lowercase();
    let out = provision(
        &[
            "register",
            &admin,
            "--admin",
            "--password-stdin",
            "-i",
            inv.to_str().unwrap(),
        ],
        "list-pw",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let out = provision(
        &["users", "-i", inv.to_str().unwrap(), "--output", "csv"],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let csv = String::from_utf8(out.stdout).unwrap();
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("host,user_id,admin,"));
    let mut listed: Vec<(String, bool)> = lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            assert_eq!(cells[0], "syn", "{l}");
            (cells[1].to_owned(), cells[2] == "true")
        })
        .collect();
    let mut expected = s.all_users();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);
    assert!(listed.contains(&(format!("@{admin}:{SERVER_NAME}"), true)));

    // --admins in JSON: one valid document, only admins.
    let out = provision(
        &[
            "users",
            "--admins",
            "-i",
            inv.to_str().unwrap(),
            "--output",
            "json",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc = json(&out);
    let users = doc["users"].as_array().unwrap();
    assert!(!users.is_empty());
    assert!(
        users
            .iter()
            .all(|u| u["admin"] == true && u["host"] == "syn")
    );
    assert_eq!(doc["command"], "users");
    assert_eq!(doc["hosts"][0]["status"], "ok");
}

#[test]
fn a_generated_password_is_kept_0600_and_logs_in() {
    use std::os::unix::fs::PermissionsExt;
    let s = synapse();
    let inv = inventory(s, true);
    let user = unique("genpw").to_lowercase();
    let out = provision(
        &[
            "register",
            &user,
            "--password-stdin",
            "-i",
            inv.to_str().unwrap(),
        ],
        "before-pw",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let file = crate::fixtures::scratch().join(format!("{user}.pw"));
    let (status, _, out) = verb(
        &inv,
        &[
            "password",
            &user,
            "--random-password",
            "--password-out",
            file.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(status, "changed", "{}", text(&out));
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let password = std::fs::read_to_string(&file).unwrap();
    let password = password.trim();
    assert!(!text(&out).contains(password), "the password is not shown");
    assert!(s.login(&user, password).is_ok());
    assert!(s.login(&user, "before-pw").is_err());
}

#[test]
fn ping_says_which_backend_serves_what_and_that_each_answers() {
    let s = synapse();
    let inv = inventory(s, true);
    let out = provision(
        &["ping", "-i", inv.to_str().unwrap(), "--output", "json"],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let said = json(&out)["hosts"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        said.starts_with("shared-secret for register: shared-secret registration answers; ")
            && said.contains(
                "synapse-api for read, admin, password, lock, deactivate, reactivate, users, profile, rooms, tokens: Synapse admin API answers"
            ),
        "{said}"
    );
}

/// tuwunel serves Synapse's shared-secret registration and admin API, so a `homeserver:
/// tuwunel` host is driven by the Synapse-compatible backends; here they talk to a real
/// Synapse, the API they follow.
#[test]
fn a_tuwunel_host_goes_through_the_synapse_compatible_backends() {
    let s = synapse();
    let inv = write_file(
        "tuwunel.yaml",
        &format!(
            "all:\n  hosts:\n    tuw:\n      homeserver: tuwunel\n      server_name: {SERVER_NAME}\n      backend: shared-secret\n      url: {}\n      shared_secret: {{file: {}}}\n      admin_backend: synapse-api\n      admin_token: {{file: {}}}\n",
            s.url,
            s.secret_file().display(),
            s.admin_token_file().display()
        ),
    );
    let shown = provision(
        &["inventory", "-i", inv.to_str().unwrap(), "--output", "json"],
        "",
    );
    assert_eq!(
        json(&shown)["hosts"][0]["homeserver"],
        "tuwunel",
        "{}",
        text(&shown)
    );
    let user = unique("tuw").to_lowercase();
    let out = provision(
        &[
            "register",
            &user,
            "--password-stdin",
            "-i",
            inv.to_str().unwrap(),
        ],
        "tuwunel-pw-1",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (status, outcome, out) = verb(
        &inv,
        &["password", &user, "--password-stdin"],
        "tuwunel-pw-2",
    );
    assert_eq!(
        (status.as_str(), outcome.as_str()),
        ("changed", "password_set"),
        "{}",
        text(&out)
    );
    assert!(s.login(&user, "tuwunel-pw-2").is_ok());
    assert!(s.login(&user, "tuwunel-pw-1").is_err());
}
