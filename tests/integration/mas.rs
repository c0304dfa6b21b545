//! Hosts whose accounts MAS owns, through MAS's admin API (`backend: mas-api`) against the MAS
//! stand-in (tests/standins/mas-admin-api, which follows MAS's handlers): registration,
//! the lifecycle verbs and `users`, each asserted by what the stand-in's database then holds.

use std::path::{Path, PathBuf};

use sha1::Digest;

use crate::fixtures::{
    Helper, SERVER_NAME, Synapse, json, provision, scratch, start_helper, synapse, text, unique,
    write_file,
};

/// The MAS stand-in's HTTP side, sharing its database with the mas-cli stand-in.
pub struct Mas {
    pub url: String,
    pub db: PathBuf,
    pub config: PathBuf,
    _server: Helper,
}

pub fn mas(s: &Synapse) -> Mas {
    let db = scratch().join(unique("mas-db.json"));
    let clients = write_file(
        "mas-clients.json",
        r#"{"clients": {"01JADMINCLIENT": "admin-client-secret", "01JOTHERCLIENT": "other-secret"}, "admin_clients": ["01JADMINCLIENT"]}"#,
    );
    let port = crate::fixtures::free_port().to_string();
    let server = start_helper(
        "standins/mas-admin-api",
        &[db.to_str().unwrap(), &port, clients.to_str().unwrap()],
        &scratch(),
    );
    let url = server.ready.strip_prefix("ready ").unwrap().to_owned();
    let config = write_file(
        "mas-config.yaml",
        &serde_json::json!({
            "matrix": {"homeserver": SERVER_NAME, "endpoint": s.url},
            "standin": {"db": db, "shared_secret_path": s.secret_file()},
        })
        .to_string(),
    );
    Mas {
        url,
        db,
        config,
        _server: server,
    }
}

/// The `mas:` mapping of a host.
fn mas_key(m: &Mas, client: &str, secret: &str) -> String {
    let secret_file = write_file("mas-client-secret", secret);
    format!(
        "mas: {{url: {}, client_id: {client}, client_secret: {{file: {}}}}}",
        m.url,
        secret_file.display()
    )
}

/// A host registering through mas-cli, with mas-api as its admin backend.
pub fn mas_vars(m: &Mas, client: &str, secret: &str) -> String {
    format!(
        "backend: mas-cli\ntransport: local\nconfig: {}\ncommand: {}\nadmin_backend: mas-api\n{}",
        m.config.display(),
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/standins/mas-cli")
            .display(),
        mas_key(m, client, secret)
    )
}

/// One user's record in the stand-in's database.
fn record(m: &Mas, user: &str) -> serde_json::Value {
    let Ok(db) = std::fs::read_to_string(&m.db) else {
        return serde_json::Value::Null;
    };
    let db: serde_json::Value = serde_json::from_str(&db).unwrap();
    db["users"][user].clone()
}

pub fn mas_admin(m: &Mas, user: &str) -> bool {
    record(m, user)["admin"].as_bool().unwrap()
}

fn sha1_hex(password: &str) -> String {
    hex::encode(sha1::Sha1::digest(password.as_bytes()))
}

/// An inventory of one host, `backend: mas-api` and nothing else.
fn api_inventory(m: &Mas) -> PathBuf {
    write_file(
        "mas-api-inventory.yaml",
        &format!(
            "all:\n  hosts:\n    mas:\n      server_name: {SERVER_NAME}\n      backend: mas-api\n      {}\n",
            mas_key(m, "01JADMINCLIENT", "admin-client-secret")
        ),
    )
}

/// Runs with `--output json`: the host's (status, outcome) and the whole output.
fn run(inv: &Path, args: &[&str], stdin: &str) -> (String, String, std::process::Output) {
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

fn pair(r: &(String, String, std::process::Output)) -> (&str, &str) {
    (r.0.as_str(), r.1.as_str())
}

#[test]
fn mas_api_registers_with_its_email_and_admin_flag_and_a_rerun_is_ok() {
    let m = mas(synapse());
    let inv = api_inventory(&m);
    let user = unique("masreg").to_lowercase();
    let email = format!("{user}@example.org");

    let r = run(&inv, &["register", &user, "--admin", "--check"], "");
    assert_eq!(pair(&r), ("changed", "would_create"), "{}", text(&r.2));
    assert!(record(&m, &user).is_null(), "--check created nothing");

    let r = run(
        &inv,
        &[
            "register",
            &user,
            "--admin",
            "--email",
            &email,
            "--password-stdin",
        ],
        "mas-reg-password",
    );
    assert_eq!(pair(&r), ("changed", "created"), "{}", text(&r.2));
    let rec = record(&m, &user);
    assert_eq!(rec["admin"], true);
    assert_eq!(rec["emails"], serde_json::json!([email]));
    assert_eq!(rec["password_sha1"], sha1_hex("mas-reg-password"));

    // Again, with another password: the user exists, and its password is left as it is.
    let r = run(
        &inv,
        &["register", &user, "--password-stdin"],
        "another-password",
    );
    assert_eq!(pair(&r), ("ok", "exists"), "{}", text(&r.2));
    assert_eq!(
        record(&m, &user)["password_sha1"],
        sha1_hex("mas-reg-password")
    );
    let r = run(&inv, &["register", &user, "--check"], "");
    assert_eq!(pair(&r), ("ok", "exists"), "{}", text(&r.2));

    // MAS's password policy is MAS's; --ignore-password-complexity is skip_password_check.
    let weak = unique("masweak").to_lowercase();
    let r = run(&inv, &["register", &weak, "--password-stdin"], "short");
    assert_eq!(r.0, "failed", "{}", text(&r.2));
    assert!(
        text(&r.2).contains("created in MAS without a password"),
        "{}",
        text(&r.2)
    );
    let r = run(
        &inv,
        &[
            "register",
            &weak,
            "--ignore-password-complexity",
            "--password-stdin",
        ],
        "short",
    );
    assert_eq!(
        pair(&r),
        ("ok", "exists"),
        "a re-run leaves the password alone"
    );
    let other = unique("maslax").to_lowercase();
    let r = run(
        &inv,
        &[
            "register",
            &other,
            "--ignore-password-complexity",
            "--password-stdin",
        ],
        "short",
    );
    assert_eq!(pair(&r), ("changed", "created"), "{}", text(&r.2));
    assert_eq!(record(&m, &other)["password_sha1"], sha1_hex("short"));

    // MAS's admin API sets no display name: the run is refused before anything is sent.
    let out = provision(
        &[
            "register",
            "nameless",
            "--display-name",
            "No Name",
            "--password-stdin",
            "-i",
            inv.to_str().unwrap(),
        ],
        "mas-reg-password",
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--display-name"), "{}", text(&out));
}

#[test]
fn mas_api_locks_sets_passwords_deactivates_and_reactivates_and_converges() {
    let m = mas(synapse());
    let inv = api_inventory(&m);
    let user = unique("maslife").to_lowercase();
    let r = run(
        &inv,
        &["register", &user, "--password-stdin"],
        "first-password",
    );
    assert_eq!(pair(&r), ("changed", "created"), "{}", text(&r.2));

    let r = run(&inv, &["show", &user], "");
    assert_eq!(pair(&r), ("ok", "exists"), "{}", text(&r.2));
    let state = &json(&r.2)["hosts"][0]["state"];
    assert_eq!(
        (&state["admin"], &state["locked"], &state["deactivated"]),
        (&false.into(), &false.into(), &false.into())
    );

    // Lock and unlock.
    assert_eq!(run(&inv, &["lock", &user, "--check"], "").1, "would_lock");
    assert!(
        record(&m, &user)["locked_at"].is_null(),
        "--check changed nothing"
    );
    assert_eq!(
        pair(&run(&inv, &["lock", &user], "")),
        ("changed", "locked")
    );
    assert!(record(&m, &user)["locked_at"].is_string());
    assert_eq!(
        pair(&run(&inv, &["lock", &user], "")),
        ("ok", "already_locked")
    );
    assert_eq!(
        pair(&run(&inv, &["unlock", &user], "")),
        ("changed", "unlocked")
    );
    assert!(record(&m, &user)["locked_at"].is_null());

    // A new password ends the sessions, unless kept.
    let r = run(
        &inv,
        &["password", &user, "--password-stdin"],
        "second-password",
    );
    assert_eq!(pair(&r), ("changed", "password_set"), "{}", text(&r.2));
    let rec = record(&m, &user);
    assert_eq!(rec["password_sha1"], sha1_hex("second-password"));
    assert_eq!(rec["sessions_killed"], 1);
    let r = run(
        &inv,
        &["password", &user, "--keep-sessions", "--password-stdin"],
        "third-password",
    );
    assert_eq!(r.0, "changed", "{}", text(&r.2));
    let rec = record(&m, &user);
    assert_eq!(rec["password_sha1"], sha1_hex("third-password"));
    assert_eq!(rec["sessions_killed"], 1);

    // Deactivate: MAS is told not to erase unless --erase; MAS locks the user too.
    assert_eq!(
        run(&inv, &["deactivate", &user, "--check"], "").1,
        "would_deactivate"
    );
    assert!(record(&m, &user)["deactivated_at"].is_null());
    let r = run(&inv, &["deactivate", &user], "");
    assert_eq!(pair(&r), ("changed", "deactivated"), "{}", text(&r.2));
    let rec = record(&m, &user);
    assert_eq!(rec["deactivation"], serde_json::json!({"hs_erase": false}));
    assert!(rec["deactivated_at"].is_string() && rec["locked_at"].is_string());
    assert_eq!(
        pair(&run(&inv, &["deactivate", &user], "")),
        ("ok", "already_deactivated")
    );

    // Reactivate with a password: MAS keeps the user locked, and says so.
    let r = run(
        &inv,
        &["reactivate", &user, "--password-stdin"],
        "fourth-password",
    );
    assert_eq!(pair(&r), ("changed", "reactivated"), "{}", text(&r.2));
    assert!(text(&r.2).contains("provision unlock"), "{}", text(&r.2));
    let rec = record(&m, &user);
    assert!(rec["deactivated_at"].is_null() && rec["locked_at"].is_string());
    assert_eq!(rec["password_sha1"], sha1_hex("fourth-password"));
    assert_eq!(
        pair(&run(&inv, &["reactivate", &user], "")),
        ("ok", "already_active")
    );
    assert_eq!(
        pair(&run(&inv, &["unlock", &user], "")),
        ("changed", "unlocked")
    );
    assert!(record(&m, &user)["locked_at"].is_null());

    // --erase is sent only when typed.
    let r = run(&inv, &["deactivate", &user, "--erase"], "");
    assert_eq!(r.0, "changed", "{}", text(&r.2));
    assert_eq!(
        record(&m, &user)["deactivation"],
        serde_json::json!({"hs_erase": true})
    );

    // A user MAS does not know is an error, and nothing creates it.
    let nobody = unique("masnobody").to_lowercase();
    let r = run(&inv, &["lock", &nobody], "");
    assert_eq!(r.0, "failed");
    assert!(text(&r.2).contains("no such user"), "{}", text(&r.2));
    assert!(record(&m, &nobody).is_null());
}

#[test]
fn mas_api_lists_every_user_across_pages_with_user_ids() {
    let m = mas(synapse());
    let inv = api_inventory(&m);
    // More than one page of provision's (100 users), made straight through the stand-in's API.
    let client = crate::fixtures::client();
    let token: serde_json::Value = client
        .post(format!("{}/oauth2/token", m.url))
        .basic_auth("01JADMINCLIENT", Some("admin-client-secret"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "urn:mas:admin"),
        ])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = token["access_token"].as_str().unwrap();
    let mut expected = Vec::new();
    let prefix = unique("maslist").to_lowercase();
    for i in 0..103 {
        let user = format!("{prefix}-{i}");
        let created: serde_json::Value = client
            .post(format!("{}/api/admin/v1/users", m.url))
            .bearer_auth(token)
            .json(&serde_json::json!({ "username": user }))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let admin = i % 50 == 0;
        if admin {
            let id = created["data"]["id"].as_str().unwrap();
            let resp = client
                .post(format!("{}/api/admin/v1/users/{id}/set-admin", m.url))
                .bearer_auth(token)
                .json(&serde_json::json!({ "admin": true }))
                .send()
                .unwrap();
            assert_eq!(resp.status().as_u16(), 200);
        }
        expected.push((format!("@{user}:{SERVER_NAME}"), admin));
    }
    let out = provision(
        &["users", "-i", inv.to_str().unwrap(), "--output", "json"],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc = json(&out);
    let mut listed: Vec<(String, bool)> = doc["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["user_id"].as_str().unwrap().to_owned(),
                u["admin"].as_bool().unwrap(),
            )
        })
        .collect();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);

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
    let doc = json(&out);
    let admins = doc["users"].as_array().unwrap();
    assert_eq!(admins.len(), 3, "{}", text(&out));
    assert!(admins.iter().all(|u| u["admin"] == true));
}

#[test]
fn no_secret_of_a_mas_host_appears_in_any_output() {
    let m = mas(synapse());
    let inv = api_inventory(&m);
    let inv = inv.to_str().unwrap();
    let user = unique("masleak").to_lowercase();
    let password = "Unmistakable-Mas-Password-42";
    let mut shown = String::new();
    for v in ["-v", "-vvv"] {
        for args in [
            vec![
                v,
                "register",
                &user,
                "--admin",
                "--password-stdin",
                "-i",
                inv,
            ],
            vec![
                v, "register", &user, "--check", "-i", inv, "--output", "json",
            ],
            vec![v, "password", &user, "--password-stdin", "-i", inv],
            vec![v, "lock", &user, "-i", inv, "--output", "json"],
            vec![v, "deactivate", &user, "-i", inv],
            vec![v, "reactivate", &user, "--password-stdin", "-i", inv],
            vec![v, "show", &user, "-i", inv, "--output", "json"],
            vec![v, "users", "-i", inv, "--output", "csv"],
            vec![v, "ping", "-i", inv],
            vec![v, "inventory", "-i", inv],
        ] {
            let out = provision(&args, password);
            assert!(out.status.code() != Some(101), "no panic: {args:?}");
            shown.push_str(&text(&out));
        }
    }
    assert!(shown.contains("DEBUG"), "the verbose logs were produced");
    assert!(!shown.contains(password), "the password leaked");
    assert!(
        !shown.contains("admin-client-secret"),
        "the client secret leaked"
    );
    let tokens = std::fs::read_to_string(format!("{}.tokens", m.db.display())).unwrap();
    assert!(tokens.lines().count() >= 10, "{tokens}");
    for token in tokens.lines() {
        assert!(!shown.contains(token), "an access token leaked");
    }
}

#[test]
fn a_mas_host_is_refused_synapse_for_its_lifecycle() {
    let s = synapse();
    let m = mas(s);
    let inv = write_file(
        "mas-synapse-inventory.yaml",
        &format!(
            "all:\n  hosts:\n    mas:\n      server_name: {SERVER_NAME}\n      backend: mas-cli\n      transport: local\n      config: {}\n      {}\n      admin_backend: synapse-api\n      url: {}\n      admin_token: {{file: {}}}\n",
            m.config.display(),
            mas_key(&m, "01JADMINCLIENT", "admin-client-secret"),
            s.url,
            s.admin_token_file().display()
        ),
    );
    let out = provision(&["lock", "anyone", "-i", inv.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("managed by MAS") && text(&out).contains("admin_backend: mas-api"),
        "{}",
        text(&out)
    );
}

#[test]
fn apply_makes_a_mas_host_match_the_users_file() {
    let m = mas(synapse());
    let inv = api_inventory(&m);
    let [ada, bo] = ["ada", "bo"].map(|p| unique(&format!("masapply{p}")).to_lowercase());
    let pw = write_file("mas-apply.pw", "mas-apply-password");
    let file = write_file(
        "mas-apply.yaml",
        &format!(
            "users:\n  - user: {ada}\n    admin: true\n    password_file: {}\n  - user: {bo}\n    state: locked\n    password_file: {}\n",
            pw.display(),
            pw.display()
        ),
    );
    let args = |verb: &'static str| {
        vec![
            verb,
            file.to_str().unwrap(),
            "-i",
            inv.to_str().unwrap(),
            "--output",
            "json",
            "--yes",
        ]
    };
    let out = provision(&args("apply"), "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(mas_admin(&m, &ada));
    assert!(
        record(&m, &bo)["locked_at"].is_string(),
        "bo is locked in MAS"
    );
    let mut plan = args("plan");
    plan.pop();
    let out = provision(&plan, "");
    assert_eq!(out.status.code(), Some(0), "in sync: {}", text(&out));
}

/// The stand-in's registration tokens, by token (user_registration_tokens/ keeps them by id).
fn mas_tokens(m: &Mas) -> serde_json::Map<String, serde_json::Value> {
    let db: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&m.db).unwrap_or("{}".into())).unwrap();
    db["registration_tokens"]
        .as_object()
        .map(|tokens| {
            tokens
                .values()
                .map(|t| (t["token"].as_str().unwrap().to_owned(), t.clone()))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn tokens_on_mas_are_single_use_by_default_listed_and_revoked_once() {
    let m = mas(synapse());
    let inv = api_inventory(&m);

    // MAS makes a token without `usage_limit` unlimited; provision's default is single-use
    // there as on Synapse, and of `--length` characters, which MAS does not take.
    let out = provision(&["token", "issue", "-vv", "-i", inv.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(
        stdout.contains("issued (single-use, no expiry)"),
        "{stdout}"
    );
    let (_, after) = stdout.split_once("RECAP").unwrap();
    let token = after
        .lines()
        .find_map(|l| l.trim().strip_prefix("mas: "))
        .unwrap_or_else(|| panic!("no token after the recap: {stdout}"))
        .to_owned();
    assert_eq!(token.len(), 16, "{token}");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains(&token),
        "the token is in the logs"
    );
    let kept = &mas_tokens(&m)[&token];
    assert_eq!(kept["usage_limit"], 1);
    assert_eq!(kept["expires_at"], serde_json::Value::Null);

    // Unlimited is asked for in so many words, and an expiry is MAS's RFC 3339.
    let r = run(
        &inv,
        &[
            "token",
            "issue",
            "--uses",
            "unlimited",
            "--expires",
            "7d",
            "--length",
            "24",
        ],
        "",
    );
    assert_eq!(pair(&r), ("changed", "issued"), "{}", text(&r.2));
    let open = json(&r.2)["tokens"]["mas"].as_str().unwrap().to_owned();
    assert_eq!(open.len(), 24);
    let kept = &mas_tokens(&m)[&open];
    assert_eq!(kept["usage_limit"], serde_json::Value::Null);
    assert!(
        kept["expires_at"].as_str().unwrap().ends_with('Z'),
        "{kept}"
    );

    // Revoked: no longer valid, listed as revoked; again (MAS's 400) is ok.
    let r = run(&inv, &["token", "revoke", &open, "--check"], "");
    assert_eq!(pair(&r), ("changed", "would_revoke"), "{}", text(&r.2));
    assert!(mas_tokens(&m)[&open]["revoked_at"].is_null(), "--check");
    let r = run(&inv, &["token", "revoke", &open, "-vv"], "");
    assert_eq!(pair(&r), ("changed", "revoked"), "{}", text(&r.2));
    assert!(!String::from_utf8_lossy(&r.2.stderr).contains(&open));
    assert!(mas_tokens(&m)[&open]["revoked_at"].is_string());
    let r = run(&inv, &["token", "revoke", &open], "");
    assert_eq!(pair(&r), ("ok", "already_revoked"), "{}", text(&r.2));
    let r = run(&inv, &["token", "revoke", "neverissued"], "");
    assert_eq!(pair(&r), ("ok", "already_revoked"), "{}", text(&r.2));

    let out = provision(
        &["token", "list", "--valid", "-i", inv.to_str().unwrap()],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains(&token) && !text(&out).contains(&open),
        "{}",
        text(&out)
    );
    let out = provision(&["token", "list", "-i", inv.to_str().unwrap()], "");
    let listed = text(&out);
    let line = listed
        .lines()
        .find(|l| l.contains(&open))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(line.contains("revoked"), "{line}");
}

/// The stand-in's upstream SSO links, as (user ID, provider, subject).
fn mas_links(m: &Mas) -> Vec<(String, String, String)> {
    let db: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&m.db).unwrap()).unwrap();
    let field = |l: &serde_json::Value, k: &str| l[k].as_str().unwrap_or("").to_owned();
    db["upstream_oauth_links"]
        .as_object()
        .map(|links| {
            links
                .values()
                .map(|l| {
                    (
                        field(l, "user_id"),
                        field(l, "provider_id"),
                        field(l, "subject"),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Adds an upstream OAuth provider to the stand-in's database (MAS's come from its config).
fn add_provider(m: &Mas, id: &str) {
    let mut db: serde_json::Value = std::fs::read_to_string(&m.db)
        .ok()
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or_else(|| serde_json::json!({"users": {}}));
    let providers = db["upstream_oauth_providers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    db["upstream_oauth_providers"] = providers
        .into_iter()
        .chain([serde_json::json!(id)])
        .collect();
    std::fs::write(&m.db, db.to_string()).unwrap();
}

#[test]
fn an_sso_link_is_made_completed_by_a_rerun_and_never_stolen() {
    let m = mas(synapse());
    let inv = api_inventory(&m);
    const ACME: &str = "01JACMEPR0V1DER00000000000";
    const LATER: &str = "01JKATERPR0V1DER0000000000";
    add_provider(&m, ACME);
    let [ann, bob, cy] = ["ann", "bob", "cy"].map(|p| unique(&format!("masso{p}")).to_lowercase());
    let sso = |user: &str, provider: &str, subject: &str| {
        vec![
            "register".to_owned(),
            user.to_owned(),
            "--sso-provider".into(),
            provider.into(),
            "--sso-subject".into(),
            subject.into(),
            "--password-stdin".into(),
        ]
    };
    let go = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&inv, &args, "mas-sso-password")
    };

    let r = go(sso(&ann, ACME, "ann at acme&x=1+2"));
    assert_eq!(pair(&r), ("changed", "created"), "{}", text(&r.2));
    let ann_id = record(&m, &ann)["id"].as_str().unwrap().to_owned();
    assert!(
        mas_links(&m).contains(&(ann_id.clone(), ACME.into(), "ann at acme&x=1+2".into())),
        "{:?}",
        mas_links(&m)
    );
    // Again: linked already, nothing sent.
    let r = go(sso(&ann, ACME, "ann at acme&x=1+2"));
    assert_eq!(pair(&r), ("ok", "exists"), "{}", text(&r.2));
    assert_eq!(mas_links(&m).len(), 1);

    // Midway: MAS has no such provider yet; the user is created, the run says what it lacks,
    // and once the provider is there the same command completes it.
    let r = go(sso(&bob, LATER, "bob-later"));
    assert_eq!(r.0, "failed", "{}", text(&r.2));
    assert!(
        text(&r.2).contains("created in MAS without its SSO link")
            && text(&r.2).contains(&format!("no upstream OAuth provider {LATER}")),
        "{}",
        text(&r.2)
    );
    assert!(record(&m, &bob)["id"].is_string());
    add_provider(&m, LATER);
    let mut check = sso(&bob, LATER, "bob-later");
    check.push("--check".into());
    let r = go(check);
    assert_eq!(pair(&r), ("changed", "would_link_sso"), "{}", text(&r.2));
    let r = go(sso(&bob, LATER, "bob-later"));
    assert_eq!(pair(&r), ("changed", "sso_linked"), "{}", text(&r.2));
    let bob_id = record(&m, &bob)["id"].as_str().unwrap().to_owned();
    assert!(mas_links(&m).contains(&(bob_id, LATER.into(), "bob-later".into())));
    let r = go(sso(&bob, LATER, "bob-later"));
    assert_eq!(pair(&r), ("ok", "exists"), "{}", text(&r.2));

    // Ann's subject for another user: refused, and nothing linked.
    let r = go(sso(&cy, ACME, "ann at acme&x=1+2"));
    assert_eq!(r.0, "failed", "{}", text(&r.2));
    assert!(
        text(&r.2).contains(&format!("linked to another MAS user ({ann_id})")),
        "{}",
        text(&r.2)
    );
    // Ann with another subject at the same provider: MAS links once per provider (409).
    let r = go(sso(&ann, ACME, "someone-else"));
    assert_eq!(r.0, "failed", "{}", text(&r.2));
    assert!(
        text(&r.2).contains("with another subject"),
        "{}",
        text(&r.2)
    );
    assert_eq!(mas_links(&m).len(), 2);

    // Checked before anything runs: a provider that is no ULID, a subject with a newline.
    let dan = unique("massodan").to_lowercase();
    for (provider, subject) in [("acme", "dan"), (ACME, "dan\nx")] {
        let out = provision(
            &[
                "register",
                &dan,
                "--sso-provider",
                provider,
                "--sso-subject",
                subject,
                "--password-stdin",
                "-i",
                inv.to_str().unwrap(),
            ],
            "mas-sso-password",
        );
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(record(&m, &dan).is_null());
    }

    // The users file's sso_provider/sso_subject, through register --from.
    let eve = unique("massoeve").to_lowercase();
    let file = write_file(
        "mas-sso-users.csv",
        &format!(
            "user,password_file,sso_provider,sso_subject\n{eve},{},{ACME},eve-at-acme\n",
            write_file("mas-sso-eve.pw", "mas-sso-password").display()
        ),
    );
    let out = provision(
        &[
            "register",
            "--from",
            file.to_str().unwrap(),
            "-i",
            inv.to_str().unwrap(),
            "--output",
            "json",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let eve_id = record(&m, &eve)["id"].as_str().unwrap().to_owned();
    assert!(mas_links(&m).contains(&(eve_id, ACME.into(), "eve-at-acme".into())));
}

#[test]
fn a_backend_that_cannot_link_sso_is_refused_before_anything_runs() {
    let m = mas(synapse());
    let inv = write_file(
        "mas-cli-sso-inventory.yaml",
        &format!(
            "all:\n  hosts:\n    mas:\n      server_name: {SERVER_NAME}\n      {}\n",
            mas_vars(&m, "01JADMINCLIENT", "admin-client-secret").replace('\n', "\n      ")
        ),
    );
    let user = unique("masclisso").to_lowercase();
    let out = provision(
        &[
            "register",
            &user,
            "--sso-provider",
            "01JACMEPR0V1DER00000000000",
            "--sso-subject",
            "x",
            "--password-stdin",
            "-i",
            inv.to_str().unwrap(),
        ],
        "mas-sso-password",
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("(backend mas-cli) cannot pass on --sso-provider"),
        "{}",
        text(&out)
    );
    assert!(record(&m, &user).is_null());
}
