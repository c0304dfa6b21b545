//! `provision plan FILE` against a real Synapse: what it plans is checked against what the
//! server then has, and a plan after registering has nothing left to do.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::fixtures::{
    SERVER_NAME, json, pg_synapse, postgres, provision, scratch, synapse, text, unique, write_file,
};
use crate::lifecycle::inventory;

/// Runs `provision plan FILE` with `--output json`.
fn plan(inv: &Path, file: &Path) -> (Output, serde_json::Value) {
    let out = provision(
        &[
            "plan",
            file.to_str().unwrap(),
            "-i",
            inv.to_str().unwrap(),
            "--output",
            "json",
        ],
        "",
    );
    let doc = json(&out);
    (out, doc)
}

/// The host's changes, as (user, action, field).
fn changes(doc: &serde_json::Value) -> Vec<(String, String, String)> {
    doc["hosts"][0]["changes"]
        .as_array()
        .unwrap_or_else(|| panic!("no changes in {doc}"))
        .iter()
        .map(|c| {
            let word = |k: &str| c[k].as_str().unwrap_or("").to_owned();
            (word("user"), word("action"), word("field"))
        })
        .collect()
}

fn id(user: &str) -> String {
    format!("@{user}:{SERVER_NAME}")
}

fn users_file(yaml: &str) -> PathBuf {
    write_file("plan-users.yaml", yaml)
}

#[test]
fn plan_lists_creates_then_nothing_after_register_then_exactly_the_changed_wishes() {
    let s = synapse();
    let inv = inventory(s, true);
    let [ann, ben, cat] = ["ann", "ben", "cat"].map(|p| unique(&format!("plan{p}")));
    let file = users_file(&format!(
        "users:\n  - user: {ann}\n    admin: true\n  - user: {ben}\n    admin: false\n  - user: {cat}\nhosts: syn\n"
    ));

    // Three fresh users: three creates, exit 3.
    let (out, doc) = plan(&inv, &file);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let host = &doc["hosts"][0];
    assert_eq!(
        (host["status"].as_str(), host["outcome"].as_str()),
        (Some("ok"), Some("changes"))
    );
    assert_eq!(host["message"], "3 to create");
    assert_eq!(
        changes(&doc),
        [&ann, &ben, &cat].map(|u| (id(u), "create".into(), String::new()))
    );
    assert_eq!(host["changes"][0]["admin"], true);
    assert_eq!(host["changes"][1]["admin"], false);
    assert_eq!(doc["plan"]["create"], 3);
    assert_eq!(s.admin_flag(&ann), None, "plan created nothing");

    // Registered from the same file (ann as admin): nothing left to do, exit 0.
    let passwords = scratch().join(format!("{}.csv", unique("plan-pw")));
    let out = provision(
        &[
            "register",
            "--from",
            file.to_str().unwrap(),
            "--passwords-out",
            passwords.to_str().unwrap(),
            "-i",
            inv.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(s.admin_flag(&ann), Some(true));
    let (out, doc) = plan(&inv, &file);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(doc["hosts"][0]["outcome"], "in_sync");
    assert_eq!(doc["hosts"][0]["message"], "in sync (3 users)");
    assert!(changes(&doc).is_empty());

    // ben wanted admin, cat locked: exactly those two changes, exit 3; ann is in sync.
    let file = users_file(&format!(
        "users:\n  - user: {ann}\n    admin: true\n  - user: {ben}\n    admin: true\n  - user: {cat}\n    state: locked\n"
    ));
    let (out, doc) = plan(&inv, &file);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(
        changes(&doc),
        [
            (id(&ben), "change".into(), "admin".into()),
            (id(&cat), "lock".into(), String::new()),
        ]
    );
    let admin = &doc["hosts"][0]["changes"][0];
    assert_eq!(
        (&admin["from"], &admin["to"]),
        (&false.into(), &true.into())
    );
    assert_eq!(doc["hosts"][0]["message"], "2 to change");

    // As a person reads it: the lines under the host's, then the total.
    let out = provision(
        &["plan", file.to_str().unwrap(), "-i", inv.to_str().unwrap()],
        "",
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains(&format!("    ~ {} admin: false → true\n", id(&ben)))
            && shown.contains(&format!("    ~ {} lock\n", id(&cat)))
            && shown.contains("PLAN  0 to create, 2 to change, 0 to deactivate, on 1 of 1 host"),
        "{shown}"
    );
    assert_eq!(s.admin_flag(&ben), Some(false), "plan changed nothing");
}

#[test]
fn a_host_without_a_reader_says_for_each_user_that_it_cannot_tell() {
    let s = synapse();
    let inv = inventory(s, false);
    let [ann, ben] = ["ann", "ben"].map(|p| unique(&format!("blind{p}")));
    let file = users_file(&format!("- user: {ann}\n- user: {ben}\n  state: locked\n"));
    let (out, doc) = plan(&inv, &file);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let host = &doc["hosts"][0];
    assert_eq!(
        (host["status"].as_str(), host["outcome"].as_str()),
        (Some("ok"), Some("unknown"))
    );
    assert!(changes(&doc).is_empty());
    let warnings: Vec<&str> = host["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(
        warnings,
        [&ann, &ben].map(|u| format!(
            "cannot tell whether {} exists: no backend of this host reads users (admin_backend: sql, synapse-api, mas-api or admin-room can)",
            id(u)
        ))
    );
    assert_eq!(doc["plan"]["hosts_uncertain"], 1);
}

/// Where the host cannot list users (`sql` reads one user at a time), each is read.
#[test]
fn a_host_that_reads_users_one_at_a_time_plans_the_same() {
    let s = pg_synapse();
    let inv = write_file(
        "plan-sql.yaml",
        &format!(
            "all:\n  hosts:\n    pg:\n      server_name: {SERVER_NAME}\n      backend: shared-secret\n      url: {}\n      shared_secret: {{file: {}}}\n      admin_backend: sql\n      database_url: {{file: {}}}\n",
            s.url,
            s.secret_file().display(),
            postgres().url_file().display()
        ),
    );
    let [ann, ben, cat] = ["ann", "ben", "cat"].map(|p| unique(&format!("sqlplan{p}")));
    for (user, admin) in [(&ann, "--admin"), (&ben, "--no-admin")] {
        let out = provision(
            &[
                "register",
                user,
                admin,
                "--password-stdin",
                "-i",
                inv.to_str().unwrap(),
            ],
            "plan-sql-pw",
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    let file = users_file(&format!(
        "- user: {ann}\n  admin: false\n- user: {ben}\n  state: deactivated\n  erase: true\n- user: {cat}\n  state: deactivated\n"
    ));
    let (out, doc) = plan(&inv, &file);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(
        changes(&doc),
        [
            (id(&ann), "change".into(), "admin".into()),
            (id(&ben), "deactivate".into(), String::new()),
        ],
        "cat, absent and wanted deactivated, is in sync"
    );
    assert_eq!(doc["hosts"][0]["changes"][1]["erase"], true);
    // sql cannot deactivate: the change is listed, and what the host lacks is said.
    let warnings = doc["hosts"][0]["warnings"].to_string();
    assert!(
        warnings.contains(
            "1 change cannot be made on this host: no backend of this host can deactivate users (those that can: synapse-api, mas-api, admin-room)"
        ),
        "{warnings}"
    );
}

#[test]
fn register_from_refuses_a_file_that_wants_another_state_at_its_line() {
    let s = synapse();
    let inv = inventory(s, true);
    let user = unique("refused");
    let file = users_file(&format!(
        "- user: {user}\n- user: {user}b\n  state: locked\n"
    ));
    let out = provision(
        &[
            "register",
            "--from",
            file.to_str().unwrap(),
            "-i",
            inv.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("state: locked is for provision plan/apply")
            && said.contains(&format!("{}:3:3", file.display())),
        "{said}"
    );
    assert_eq!(s.admin_flag(&user), None, "nothing was registered");
}
