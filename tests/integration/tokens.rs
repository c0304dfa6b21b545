//! `provision token issue|list|revoke` against a real Synapse whose registration requires a
//! token: each asserted by what the server then does (a client registers with the token, or
//! cannot; the admin API's list) and by where the token does and does not appear.

use serde_json::{Value, json};

use crate::fixtures::{Synapse, client, json, provision, text, token_synapse, unique};
use crate::lifecycle::{inventory, verb};

/// The server's own list of its tokens (`GET /_synapse/admin/v1/registration_tokens`).
fn server_tokens(s: &Synapse) -> Vec<Value> {
    let admin = std::fs::read_to_string(s.admin_token_file()).unwrap();
    let resp = client()
        .get(format!("{}/_synapse/admin/v1/registration_tokens", s.url))
        .bearer_auth(admin.trim())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    resp.json::<Value>().unwrap()["registration_tokens"]
        .as_array()
        .unwrap()
        .clone()
}

/// How many of the server's tokens allow `uses` registrations: the tests run at once on one
/// server, so each asserts about tokens of a number of uses no other test issues.
fn with_uses(s: &Synapse, uses: u64) -> usize {
    server_tokens(s)
        .iter()
        .filter(|t| t["uses_allowed"] == uses)
        .count()
}

fn server_token(s: &Synapse, token: &str) -> Option<Value> {
    server_tokens(s).into_iter().find(|t| t["token"] == token)
}

/// A client registering as `user` through the user-interactive authentication of
/// `POST /_matrix/client/v3/register` (synapse/rest/client/register.py): the first request
/// gets a 401 with a session, then `m.login.registration_token`, then `m.login.dummy` for the
/// rest of the flow. The user ID on success, else the last answer.
fn register_with(s: &Synapse, user: &str, token: &str) -> Result<String, Value> {
    let url = format!("{}/_matrix/client/v3/register", s.url);
    let post = |auth: Option<Value>| {
        let mut body = json!({"username": user, "password": "token-pw", "inhibit_login": true});
        if let Some(auth) = auth {
            body["auth"] = auth;
        }
        let resp = client().post(&url).json(&body).send().unwrap();
        (resp.status().as_u16(), resp.json::<Value>().unwrap())
    };
    let (status, first) = post(None);
    assert_eq!(status, 401, "{first}");
    let session = first["session"].as_str().unwrap().to_owned();
    let stages = [
        json!({"type": "m.login.registration_token", "token": token, "session": session}),
        json!({"type": "m.login.dummy", "session": session}),
    ];
    let mut last = first;
    for auth in stages {
        let (status, body) = post(Some(auth));
        if status == 200 {
            return Ok(body["user_id"].as_str().unwrap().to_owned());
        }
        let passed = body["completed"]
            .as_array()
            .is_some_and(|c| c.contains(&json!("m.login.registration_token")));
        if status != 401 || !passed {
            return Err(body);
        }
        last = body;
    }
    Err(last)
}

fn issued(out: &std::process::Output) -> String {
    json(out)["tokens"]["syn"]
        .as_str()
        .unwrap_or_else(|| panic!("no token for syn: {}", text(out)))
        .to_owned()
}

#[test]
fn a_single_use_token_lets_one_client_register_and_then_no_one() {
    let s = token_synapse();
    let inv = inventory(s, true);
    let (status, outcome, out) = verb(&inv, &["token", "issue", "--uses", "1"], "");
    assert_eq!(
        (status.as_str(), outcome.as_str()),
        ("changed", "issued"),
        "{}",
        text(&out)
    );
    let token = issued(&out);
    assert_eq!(json(&out)["uses"], 1);
    let listed = server_token(s, &token).expect("the server has the token");
    assert_eq!(listed["uses_allowed"], 1);
    assert_eq!(listed["expiry_time"], Value::Null);

    let first = unique("tok").to_lowercase();
    let user_id = register_with(s, &first, &token).expect("the token lets a client register");
    assert!(user_id.starts_with(&format!("@{first}:")), "{user_id}");

    // Used up: the server counts the registration, provision lists it as used.
    let listed = server_token(s, &token).unwrap();
    assert_eq!(
        (listed["completed"].clone(), listed["pending"].clone()),
        (json!(1), json!(0))
    );
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
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc = json(&out);
    let row = doc["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["token"] == token.as_str())
        .expect("token list shows it")
        .clone();
    assert_eq!(
        (
            row["host"].clone(),
            row["completed"].clone(),
            row["valid"].clone()
        ),
        (json!("syn"), json!(1), json!(false))
    );
    assert_eq!(doc["hosts"][0]["outcome"], "listed");

    let second = unique("tok").to_lowercase();
    assert!(
        register_with(s, &second, &token).is_err(),
        "a second registration"
    );
    assert!(s.login(&second, "token-pw").is_err());
}

#[test]
fn the_default_token_is_single_use_shown_once_and_never_logged() {
    let s = token_synapse();
    let inv = inventory(s, true);
    let out = provision(&["token", "issue", "-vv", "-i", inv.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    assert!(
        stdout.contains("issued (single-use, no expiry)"),
        "{stdout}"
    );
    // After the recap: "  syn: TOKEN".
    let (_, after) = stdout.split_once("RECAP").unwrap();
    let token = after
        .lines()
        .find_map(|l| l.trim().strip_prefix("syn: "))
        .unwrap_or_else(|| panic!("no token after the recap: {stdout}"))
        .to_owned();
    assert_eq!(stdout.matches(token.as_str()).count(), 1, "{stdout}");
    assert!(!stderr.is_empty(), "-vv logs something");
    assert!(
        !stderr.contains(&token),
        "the token is in the logs: {stderr}"
    );
    assert_eq!(server_token(s, &token).unwrap()["uses_allowed"], 1);
}

#[test]
fn revoke_takes_the_token_off_the_list_and_again_is_ok() {
    let s = token_synapse();
    let inv = inventory(s, true);
    let (_, _, out) = verb(
        &inv,
        &["token", "issue", "--uses", "unlimited", "--expires", "7d"],
        "",
    );
    let token = issued(&out);
    let listed = server_token(s, &token).unwrap();
    assert_eq!(listed["uses_allowed"], Value::Null);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let week_ms = 7 * 86_400_000;
    let expiry = listed["expiry_time"].as_i64().unwrap();
    assert!((expiry - (now_ms + week_ms)).abs() < 120_000, "{expiry}");

    let (status, outcome, out) = verb(&inv, &["token", "revoke", &token, "--check", "-vv"], "");
    assert_eq!(
        (status.as_str(), outcome.as_str()),
        ("changed", "would_revoke"),
        "{}",
        text(&out)
    );
    assert!(server_token(s, &token).is_some(), "--check changed nothing");
    let (status, outcome, out) = verb(&inv, &["token", "revoke", &token, "-vv"], "");
    assert_eq!(
        (status.as_str(), outcome.as_str()),
        ("changed", "revoked"),
        "{}",
        text(&out)
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains(&token),
        "the token is in the logs: {}",
        text(&out)
    );
    assert!(server_token(s, &token).is_none());
    let out = provision(&["token", "list", "-i", inv.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains(&token), "{}", text(&out));

    // Gone already: ok, under --check too.
    let (status, outcome, out) = verb(&inv, &["token", "revoke", &token], "");
    assert_eq!(
        (status.as_str(), outcome.as_str()),
        ("ok", "already_revoked"),
        "{}",
        text(&out)
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        verb(&inv, &["token", "revoke", &token, "--check"], "").1,
        "already_revoked"
    );
}

#[test]
fn token_out_keeps_the_token_in_a_new_private_file_and_off_stdout() {
    use std::os::unix::fs::PermissionsExt;
    let s = token_synapse();
    let inv = inventory(s, true);
    let dir = crate::fixtures::scratch().join(unique("tokens"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tokens.csv");
    let path_arg = path.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["token", "issue", "--token-out", path_arg, "-vv", "-i"];
        all.push(inv.to_str().unwrap());
        all.extend(args);
        provision(&all, "")
    };
    let out = run(&["--uses", "3"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let written = std::fs::read_to_string(&path).unwrap();
    let token = written
        .strip_prefix("host,token\nsyn,")
        .and_then(|t| t.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("{written}"))
        .to_owned();
    assert!(!text(&out).contains(&token), "{}", text(&out));
    assert!(text(&out).contains(path_arg), "{}", text(&out));
    assert_eq!(server_token(s, &token).unwrap()["uses_allowed"], 3);

    // An existing file is refused before anything is issued.
    let out = run(&["--uses", "4"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("it exists"), "{}", text(&out));
    assert_eq!(with_uses(s, 4), 0);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), written);
}

#[test]
fn check_issues_nothing_and_a_host_without_the_backend_says_which_can() {
    let s = token_synapse();
    let inv = inventory(s, true);
    let (status, outcome, out) = verb(&inv, &["token", "issue", "--uses", "2", "--check"], "");
    assert_eq!(
        (status.as_str(), outcome.as_str()),
        ("changed", "would_issue"),
        "{}",
        text(&out)
    );
    let message = json(&out)["hosts"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("(2 uses, no expiry) via the Synapse admin API"),
        "{message}"
    );
    assert!(json(&out).get("tokens").is_none());
    assert_eq!(with_uses(s, 2), 0);

    let (status, _, out) = verb(&inventory(s, false), &["token", "list"], "");
    assert_eq!(status, "failed");
    assert!(
        text(&out).contains(
            "no backend of this host can issue, list or revoke registration tokens (those that can: synapse-api, mas-api, dendrite-api)"
        ),
        "{}",
        text(&out)
    );
}
