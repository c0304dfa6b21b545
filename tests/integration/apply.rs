//! `provision apply FILE` against a real Synapse: the users file made true on the server
//! (logins, admin flags, locks, deactivations as the server reports them), a second plan in
//! sync, the confirmation that guards it, and the generated passwords kept.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::fixtures::{
    SERVER_NAME, Synapse, json, password_rows, provision, scratch, synapse, text, unique,
    write_file,
};
use crate::lifecycle::inventory;

fn run(verb: &str, inv: &Path, file: &Path, extra: &[&str]) -> (Output, serde_json::Value) {
    let mut args = vec![verb, file.to_str().unwrap(), "-i", inv.to_str().unwrap()];
    args.extend(["--output", "json"]);
    args.extend(extra);
    let out = provision(&args, "");
    let doc = json(&out);
    (out, doc)
}

fn state(s: &Synapse, user: &str) -> serde_json::Value {
    let admin = std::fs::read_to_string(s.admin_token_file()).unwrap();
    crate::fixtures::client()
        .get(format!(
            "{}/_synapse/admin/v2/users/@{user}:{SERVER_NAME}",
            s.url
        ))
        .bearer_auth(admin.trim())
        .send()
        .unwrap()
        .json()
        .unwrap()
}

fn users_file(yaml: &str) -> PathBuf {
    write_file("apply-users.yaml", yaml)
}

#[test]
fn apply_makes_the_file_true_and_a_second_plan_is_in_sync() {
    let s = synapse();
    let inv = inventory(s, true);
    let [ann, ben, cat] = ["ann", "ben", "cat"].map(|p| unique(&format!("apply{p}")));
    let pw_file = write_file("apply-ben.pw", "ben-password-1\n");
    let file = users_file(&format!(
        "users:\n  - user: {ann}\n    admin: true\n  - user: {ben}\n    password_file: {}\n  - user: {cat}\n    state: locked\nhosts: syn\n",
        pw_file.display()
    ));
    let passwords = scratch().join(format!("{}.csv", unique("apply-pw")));

    // Without a terminal and without --yes: nothing is changed, exit 2.
    let out = provision(
        &["apply", file.to_str().unwrap(), "-i", inv.to_str().unwrap()],
        "",
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("add --yes"), "{}", text(&out));
    assert_eq!(s.admin_flag(&ann), None, "nothing was created");
    // --check is the plan.
    let (out, doc) = run("apply", &inv, &file, &["--check"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(doc["plan"]["create"], 3);

    let (out, doc) = run(
        "apply",
        &inv,
        &file,
        &["--yes", "--passwords-out", passwords.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(doc["command"], "apply");
    assert!(!text(&out).contains("ben-password-1"));
    // What the server now has: ann an admin who logs in with her generated password, ben
    // with his file's, cat created and locked.
    let rows = password_rows(&passwords);
    let ann_pw = &rows
        .iter()
        .find(|(u, _)| *u == ann)
        .expect("ann's password kept")
        .1;
    assert!(s.login(&ann, ann_pw).is_ok());
    assert_eq!(s.admin_flag(&ann), Some(true));
    assert!(s.login(&ben, "ben-password-1").is_ok());
    assert_eq!(s.admin_flag(&ben), Some(false));
    assert_eq!(state(s, &cat)["locked"], true);
    let (out, doc) = run("plan", &inv, &file, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(doc["hosts"][0]["outcome"], "in_sync");

    // The file changes: ben becomes an admin, ann is deactivated (not erased), cat unlocked.
    let file = users_file(&format!(
        "users:\n  - user: {ann}\n    state: deactivated\n  - user: {ben}\n    admin: true\n  - user: {cat}\nhosts: syn\n"
    ));
    let (out, doc) = run("apply", &inv, &file, &["--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(doc["users"]["changed"], 3, "{}", text(&out));
    assert_eq!(s.admin_flag(&ben), Some(true));
    assert!(s.login(&ann, ann_pw).is_err());
    let ann_state = state(s, &ann);
    assert_eq!(
        (
            ann_state["deactivated"].clone(),
            ann_state["erased"].clone()
        ),
        (true.into(), false.into())
    );
    assert_eq!(state(s, &cat)["locked"], false);
    // Nothing left: apply again changes nothing and says so.
    let (out, doc) = run("apply", &inv, &file, &["--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(doc["hosts"][0]["outcome"], "in_sync", "{}", text(&out));
}

#[test]
fn a_host_that_cannot_tell_creates_nothing_blindly_and_exits_3() {
    let s = synapse();
    // No admin_backend: the host can register but cannot tell who exists, so apply makes
    // nothing it could not check, and says so.
    let inv = inventory(s, false);
    let dan = unique("applydan");
    let file = users_file(&format!(
        "users:\n  - user: {dan}\n    password_file: {}\nhosts: syn\n",
        write_file("apply-dan.pw", "dan-password-1").display()
    ));
    let (out, doc) = run("apply", &inv, &file, &["--yes"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(doc["hosts"][0]["outcome"], "unknown", "{}", text(&out));
    assert!(text(&out).contains("cannot tell whether"), "{}", text(&out));
    assert!(
        s.login(&dan, "dan-password-1").is_err(),
        "nothing was created blindly"
    );
}

#[test]
fn a_fleet_with_an_unreachable_host_applies_the_others_and_says_so() {
    let s = synapse();
    let dead = crate::fixtures::free_port();
    let token = s.admin_token_file();
    let inv = write_file(
        "apply-fleet.yaml",
        &format!(
            "all:\n  vars:\n    server_name: {SERVER_NAME}\n    backend: shared-secret\n    shared_secret: {{file: {}}}\n    admin_backend: synapse-api\n    admin_token: {{file: {}}}\n  hosts:\n    syn:\n      url: {}\n    gone:\n      url: http://127.0.0.1:{dead}\n",
            s.secret_file().display(),
            token.display(),
            s.url
        ),
    );
    let eve = unique("applyeve");
    let file = users_file(&format!(
        "users:\n  - user: {eve}\n    password_file: {}\n",
        write_file("apply-eve.pw", "eve-password-1").display()
    ));
    let (out, doc) = run("apply", &inv, &file, &["--yes", "--timeout", "20"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let status = |host: &str| {
        doc["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["host"] == host)
            .map(|h| h["status"].as_str().unwrap_or("").to_owned())
    };
    assert_eq!(status("syn").as_deref(), Some("changed"), "{}", text(&out));
    assert_eq!(
        status("gone").as_deref(),
        Some("unreachable"),
        "{}",
        text(&out)
    );
    assert!(s.login(&eve, "eve-password-1").is_ok());
}

#[test]
fn an_interrupted_apply_is_finished_by_running_it_again_with_no_password_lost() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    // bcrypt's default cost makes each registration take a while: time to interrupt.
    let s = crate::fixtures::synapse_with_rounds("apply-sigint", 12);
    let inv = inventory(&s, true);
    let names: Vec<String> = (0..40).map(|_| unique("applyint")).collect();
    let mut yaml = String::from("users:\n");
    for (i, n) in names.iter().enumerate() {
        yaml.push_str(&format!("  - user: {n}\n    admin: {}\n", i % 5 == 0));
    }
    let file = users_file(&yaml);
    let passwords = scratch().join(format!("{}.csv", unique("apply-int-pw")));
    let args = [
        "apply",
        file.to_str().unwrap(),
        "-i",
        inv.to_str().unwrap(),
        "--yes",
        "--per-host",
        "2",
        "--passwords-out",
        passwords.to_str().unwrap(),
        "--output",
        "json",
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_provision"))
        .args(args)
        .env_remove("PROVISION_INVENTORY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let mut all = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut all)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut all)
        .unwrap();
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(130), "{all}");
    let created_before = names.iter().filter(|n| s.admin_flag(n).is_some()).count();
    assert!(created_before < names.len(), "interrupted midway: {all}");

    let out = provision(&args, "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (out, doc) = run("plan", &inv, &file, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(doc["hosts"][0]["outcome"], "in_sync");
    // Every user once in the passwords file, logging in with it, admin as the file says.
    let rows = password_rows(&passwords);
    assert_eq!(rows.len(), names.len(), "no duplicates, none lost");
    for (i, n) in names.iter().enumerate() {
        let pw = &rows.iter().find(|(u, _)| u == n).expect("kept").1;
        assert!(s.login(n, pw).is_ok(), "{n} logs in");
        assert_eq!(s.admin_flag(n), Some(i % 5 == 0), "{n}");
    }
}

/// A public room made by the fixture's admin, under a fresh alias.
fn public_room(s: &Synapse) -> (String, String) {
    let admin = std::fs::read_to_string(s.admin_token_file()).unwrap();
    let name = unique("applyroom");
    let made: serde_json::Value = crate::fixtures::client()
        .post(format!("{}/_matrix/client/v3/createRoom", s.url))
        .bearer_auth(admin.trim())
        .json(&serde_json::json!({"preset": "public_chat", "room_alias_name": name}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = made["room_id"].as_str().expect("room created").to_owned();
    (format!("#{name}:{SERVER_NAME}"), id)
}

fn joined_rooms(s: &Synapse, user: &str) -> Vec<String> {
    let admin = std::fs::read_to_string(s.admin_token_file()).unwrap();
    let doc: serde_json::Value = crate::fixtures::client()
        .get(format!(
            "{}/_synapse/admin/v1/users/@{user}:{SERVER_NAME}/joined_rooms",
            s.url
        ))
        .bearer_auth(admin.trim())
        .send()
        .unwrap()
        .json()
        .unwrap();
    serde_json::from_value(doc["joined_rooms"].clone()).unwrap()
}

fn emails(state: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = state["threepids"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["medium"] == "email")
        .map(|t| t["address"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

#[test]
fn display_names_emails_and_rooms_are_made_as_the_file_says_and_then_compared() {
    for s in [synapse(), crate::fixtures::pg_synapse()] {
        let inv = inventory(s, true);
        let (alias, room_id) = public_room(s);
        let (second, second_id) = public_room(s);
        let [dee, eve] = ["dee", "eve"].map(|p| unique(&format!("apply{p}")));
        let file = users_file(&format!(
            "users:\n  - user: {dee}\n    display_name: \"Doe, Dee\"\n    emails: [Dee@Example.COM, dee2@example.com]\n    rooms: ['{alias}']\n  - user: {eve}\n    rooms: ['{alias}', '{second_id}']\nhosts: syn\n"
        ));
        let (out, doc) = run("plan", &inv, &file, &[]);
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        let actions: Vec<String> = doc["hosts"][0]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| format!("{} {}", c["action"], c["field"]))
            .collect();
        // Shared-secret registration carries the display name; emails and rooms follow it.
        assert_eq!(
            actions,
            [
                "\"create\" null",
                "\"change\" \"emails\"",
                "\"join\" null",
                "\"create\" null",
                "\"join\" null",
                "\"join\" null"
            ],
            "{}",
            text(&out)
        );
        let passwords = scratch().join(format!("{}.csv", unique("apply-pw")));
        let (out, _) = run(
            "apply",
            &inv,
            &file,
            &["--yes", "--passwords-out", passwords.to_str().unwrap()],
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let dee_state = state(s, &dee);
        assert_eq!(dee_state["displayname"], "Doe, Dee");
        assert_eq!(emails(&dee_state), ["dee2@example.com", "dee@example.com"]);
        assert_eq!(joined_rooms(s, &dee), std::slice::from_ref(&room_id));
        let mut eve_rooms = joined_rooms(s, &eve);
        eve_rooms.sort();
        let mut want = vec![room_id.clone(), second_id.clone()];
        want.sort();
        assert_eq!(eve_rooms, want);
        let (out, doc) = run("plan", &inv, &file, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert_eq!(doc["hosts"][0]["outcome"], "in_sync", "{}", text(&out));

        // The file changes dee's name and emails and puts eve in a third room by alias: the
        // plan says exactly that, and apply makes it.
        let file = users_file(&format!(
            "users:\n  - user: {dee}\n    display_name: Dee\n    emails: [dee@example.com]\n    rooms: ['{alias}']\n  - user: {eve}\n    rooms: ['{alias}', '{second_id}', '{second}']\nhosts: syn\n"
        ));
        let (out, doc) = run("plan", &inv, &file, &[]);
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        let changes = &doc["hosts"][0]["changes"];
        assert_eq!(changes.as_array().unwrap().len(), 2, "{}", text(&out));
        assert_eq!(changes[0]["field"], "display_name");
        assert_eq!(changes[0]["from"], "Doe, Dee");
        assert_eq!(changes[1]["field"], "emails");
        // eve is in `second` already, under its ID: nothing to do for her.
        let (out, _) = run("apply", &inv, &file, &["--yes"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let dee_state = state(s, &dee);
        assert_eq!(dee_state["displayname"], "Dee");
        assert_eq!(emails(&dee_state), ["dee@example.com"]);
        let (out, _) = run("plan", &inv, &file, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));

        // A room the server does not know is said, and the plan is not in sync.
        let file = users_file(&format!(
            "users:\n  - user: {eve}\n    rooms: ['#nowhere-{eve}:{SERVER_NAME}']\nhosts: syn\n"
        ));
        let (out, doc) = run("plan", &inv, &file, &[]);
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        assert!(
            doc["hosts"][0]["warnings"][0]
                .as_str()
                .unwrap()
                .contains("no room #nowhere"),
            "{}",
            text(&out)
        );
    }
}

/// `user_type` in the users file: a new user is registered with it (shared-secret carries it),
/// an existing user's type is planned as a change and set through the admin API, `regular`
/// clears it, and the server reports each.
#[test]
fn user_types_are_registered_changed_and_cleared_as_the_file_says() {
    let s = synapse();
    let inv = inventory(s, true);
    let [bot, helper] = ["bot", "helper"].map(|p| unique(&format!("apply{p}")));
    let file = users_file(&format!(
        "users:\n  - user: {bot}\n    user_type: bot\n  - user: {helper}\nhosts: syn\n"
    ));
    let passwords = scratch().join(format!("{}.csv", unique("apply-pw")));
    let out_arg = ["--yes", "--passwords-out", passwords.to_str().unwrap()];
    let (out, _) = run("apply", &inv, &file, &out_arg);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(state(s, &bot)["user_type"], "bot");
    assert_eq!(state(s, &helper)["user_type"], serde_json::Value::Null);

    let file = users_file(&format!(
        "users:\n  - user: {bot}\n    user_type: regular\n  - user: {helper}\n    user_type: support\nhosts: syn\n"
    ));
    let (out, doc) = run("plan", &inv, &file, &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let changes = &doc["hosts"][0]["changes"];
    assert_eq!(changes.as_array().unwrap().len(), 2, "{}", text(&out));
    assert_eq!(changes[0]["field"], "user_type");
    assert_eq!(changes[0]["from"], "bot");
    assert_eq!(changes[0]["to"], serde_json::Value::Null);
    assert_eq!(changes[1]["from"], serde_json::Value::Null);
    assert_eq!(changes[1]["to"], "support");
    let (out, _) = run("apply", &inv, &file, &["--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(state(s, &bot)["user_type"], serde_json::Value::Null);
    assert_eq!(state(s, &helper)["user_type"], "support");
    let (out, doc) = run("plan", &inv, &file, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(doc["hosts"][0]["outcome"], "in_sync", "{}", text(&out));
}
