//! The Dendrite stand-in itself (tests/standins/dendrite-api), through its fixture: what its
//! admin API, shared-secret registration and client API answer, and what they leave in
//! Dendrite's tables, as upstream's handlers do (see the stand-in's docstring for the files).

use reqwest::blocking::RequestBuilder;
use serde_json::{Value, json};

use crate::fixtures::{DENDRITE_SERVER_NAME, Dendrite, client, dendrite};

/// Sends and returns (status, JSON body).
fn call(req: RequestBuilder) -> (u16, Value) {
    let resp = req.send().unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, body)
}

fn whoami(d: &Dendrite, token: &str) -> (u16, Value) {
    call(
        client()
            .get(format!("{}/_matrix/client/v3/account/whoami", d.url))
            .bearer_auth(token),
    )
}

fn reset_password(
    d: &Dendrite,
    prefix: &str,
    user_id: &str,
    token: &str,
    body: Value,
) -> (u16, Value) {
    let encoded: String = user_id
        .bytes()
        .map(|b| match b {
            b'@' => "%40".to_owned(),
            b':' => "%3A".to_owned(),
            _ => (b as char).to_string(),
        })
        .collect();
    call(
        client()
            .post(format!("{}{prefix}/resetPassword/{encoded}", d.url))
            .bearer_auth(token)
            .json(&body),
    )
}

fn error(code: &str, message: &str) -> Value {
    json!({"errcode": code, "error": message})
}

#[test]
fn dendrite_standin_reset_password_with_logout_devices_ends_the_sessions() {
    let d = dendrite(false);
    let admin = d.admin_token();
    let old = d.register("alice", "alice-old-password", false);
    let (status, me) = whoami(&d, &old);
    assert_eq!((status, &me["user_id"]), (200, &json!(d.user_id("alice"))));
    let second = d.login("alice", "alice-old-password").unwrap();

    let answer = reset_password(
        &d,
        "/_dendrite/admin/v1",
        &d.user_id("alice"),
        &admin,
        json!({"password": "alice-new-password", "logout_devices": true}),
    );
    assert_eq!(answer, (200, json!({"password_updated": true})));

    for token in [&old, &second] {
        assert_eq!(
            whoami(&d, token),
            (401, error("M_UNKNOWN_TOKEN", "Unknown token"))
        );
    }
    assert_eq!(
        d.query("SELECT count(*) FROM userapi_devices WHERE localpart = 'alice'"),
        "0"
    );
    assert!(d.login("alice", "alice-new-password").is_ok());
    assert_eq!(d.login("alice", "alice-old-password"), Err(403));
    // The admin's own session is another user's: untouched.
    assert_eq!(whoami(&d, &admin).0, 200);
    let hash = d.query("SELECT password_hash FROM userapi_accounts WHERE localpart = 'alice'");
    assert!(
        hash.starts_with("$2a$04$"),
        "Go's bcrypt, at the fixture's cost: {hash}"
    );
}

#[test]
fn dendrite_standin_reset_password_keeps_the_sessions_by_default_on_the_unversioned_path() {
    let d = dendrite(false);
    let admin = d.admin_token();
    let token = d.register("bob", "bob-old-password", false);
    let answer = reset_password(
        &d,
        "/_dendrite/admin",
        &d.user_id("bob"),
        &admin,
        json!({"password": "bob-new-password"}),
    );
    assert_eq!(answer, (200, json!({"password_updated": true})));
    assert_eq!(
        whoami(&d, &token).0,
        200,
        "logout_devices defaults to false"
    );
    assert!(d.login("bob", "bob-new-password").is_ok());
    assert_eq!(d.login("bob", "bob-old-password"), Err(403));
}

#[test]
fn dendrite_standin_reset_password_refuses_as_upstream() {
    let d = dendrite(false);
    let admin = d.admin_token();
    let user = d.register("carol", "carol-password", false);
    let v1 = "/_dendrite/admin/v1";
    let body = json!({"password": "carol-new-password"});

    assert_eq!(
        reset_password(&d, v1, &d.user_id("carol"), &user, body.clone()),
        (
            403,
            error("M_FORBIDDEN", "This API can only be used by admin users.")
        ),
        "a non-admin's token"
    );
    assert_eq!(
        reset_password(&d, v1, &d.user_id("carol"), "no-such-token", body.clone()),
        (401, error("M_UNKNOWN_TOKEN", "Unknown token"))
    );
    let (status, answer) = call(
        client()
            .post(format!(
                "{}{v1}/resetPassword/%40carol%3A{DENDRITE_SERVER_NAME}",
                d.url
            ))
            .json(&body),
    );
    assert_eq!(
        (status, answer),
        (401, error("M_MISSING_TOKEN", "missing access token"))
    );
    assert_eq!(
        reset_password(&d, v1, &d.user_id("nobody"), &admin, body.clone()),
        (404, error("M_UNKNOWN", "User does not exist"))
    );
    assert_eq!(
        reset_password(&d, v1, "@carol:elsewhere.test", &admin, body.clone()),
        (
            400,
            error(
                "M_INVALID_PARAM",
                "server name \"elsewhere.test\" not known"
            )
        )
    );
    assert_eq!(
        reset_password(&d, v1, &d.user_id("carol"), &admin, json!({"password": ""})),
        (
            400,
            error("M_MISSING_PARAM", "Expecting non-empty password.")
        )
    );
    assert_eq!(
        reset_password(
            &d,
            v1,
            &d.user_id("carol"),
            &admin,
            json!({"password": "short"})
        ),
        (
            400,
            error("M_WEAK_PASSWORD", "password too weak: min 8 characters")
        )
    );
    assert_eq!(
        reset_password(
            &d,
            v1,
            &d.user_id("carol"),
            &admin,
            json!({"password": "x".repeat(513)})
        ),
        (
            400,
            error("M_BAD_JSON", "password too long: max 512 characters")
        )
    );
    assert!(
        d.login("carol", "carol-password").is_ok(),
        "nothing changed"
    );
}

fn tokens_call(
    d: &Dendrite,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client()
        .request(
            method,
            format!("{}/_dendrite/admin/v1/registrationTokens{path}", d.url),
        )
        .bearer_auth(d.admin_token());
    if let Some(body) = body {
        req = req.json(&body);
    }
    call(req)
}

#[test]
fn dendrite_standin_registration_tokens_new_list_delete() {
    use reqwest::Method;
    let d = dendrite(true);
    assert_eq!(
        tokens_call(&d, Method::GET, "", None),
        (200, json!({"registration_tokens": null})),
        "an empty list is Go's nil slice"
    );

    let (status, generated) = tokens_call(&d, Method::POST, "/new", Some(json!({})));
    assert_eq!(status, 200, "{generated}");
    let generated_token = generated["token"].as_str().unwrap().to_owned();
    assert_eq!(generated_token.len(), 16, "the default length");
    assert!(generated_token.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(
        generated,
        json!({"token": generated_token, "uses_allowed": null, "pending": 0, "completed": 0, "expiry_time": null})
    );
    let (status, named) = tokens_call(
        &d,
        Method::POST,
        "/new",
        Some(json!({"token": "invite-2026", "uses_allowed": 5})),
    );
    assert_eq!(
        (status, named),
        (
            200,
            json!({"token": "invite-2026", "uses_allowed": 5, "pending": 0, "completed": 0, "expiry_time": null})
        )
    );
    assert_eq!(
        tokens_call(
            &d,
            Method::POST,
            "/new",
            Some(json!({"token": "invite-2026"}))
        ),
        (409, json!({"error": "token: invite-2026 already exists"}))
    );
    assert_eq!(
        tokens_call(&d, Method::POST, "/new", Some(json!({"length": 65}))),
        (
            400,
            error(
                "M_BAD_JSON",
                "length must be greater than zero and not greater than 64"
            )
        )
    );

    let (status, list) = tokens_call(&d, Method::GET, "", None);
    assert_eq!(status, 200);
    let mut names: Vec<&str> = list["registration_tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["token"].as_str().unwrap())
        .collect();
    names.sort();
    let mut expected = vec![generated_token.as_str(), "invite-2026"];
    expected.sort();
    assert_eq!(names, expected);
    assert_eq!(
        tokens_call(&d, Method::GET, "/invite-2026", None),
        (
            200,
            json!({"token": "invite-2026", "uses_allowed": 5, "pending": 0, "completed": 0, "expiry_time": null})
        )
    );

    assert_eq!(
        tokens_call(&d, Method::DELETE, "/invite-2026", None),
        (200, json!({}))
    );
    assert_eq!(
        tokens_call(&d, Method::DELETE, "/invite-2026", None),
        (200, json!({})),
        "upstream's DELETE does not look at the rows it removed"
    );
    assert_eq!(
        tokens_call(&d, Method::GET, "/invite-2026", None),
        (404, error("M_NOT_FOUND", "token: invite-2026 not found"))
    );
    assert_eq!(
        d.query("SELECT string_agg(token, ',') FROM userapi_registration_tokens"),
        generated_token
    );
}

#[test]
fn dendrite_standin_registration_tokens_need_the_switch_and_an_admin() {
    use reqwest::Method;
    let d = dendrite(false);
    assert_eq!(
        tokens_call(&d, Method::POST, "/new", Some(json!({"token": "nope"}))),
        (
            403,
            error(
                "M_FORBIDDEN",
                "Registration via tokens is not enabled on this homeserver"
            )
        )
    );
    assert_eq!(
        tokens_call(&d, Method::GET, "", None),
        (200, json!({"registration_tokens": null})),
        "upstream checks the switch when creating only"
    );
    let user = d.register("dave", "dave-password", false);
    let (status, answer) = call(
        client()
            .get(format!("{}/_dendrite/admin/registrationTokens", d.url))
            .bearer_auth(&user),
    );
    assert_eq!(
        (status, answer),
        (
            403,
            error("M_FORBIDDEN", "This API can only be used by admin users.")
        )
    );
}

#[test]
fn dendrite_standin_shared_secret_registration_as_upstream() {
    let d = dendrite(false);
    d.register("erin", "erin-password", true);
    d.register("frank", "frank-password", false);
    assert_eq!(
        d.query(
            "SELECT localpart || ':' || server_name || ':' || account_type || ':' || is_deactivated \
             FROM userapi_accounts ORDER BY localpart"
        ),
        format!("erin:{DENDRITE_SERVER_NAME}:3:false\nfrank:{DENDRITE_SERVER_NAME}:1:false")
    );
    assert_eq!(
        d.query("SELECT display_name FROM userapi_profiles WHERE localpart = 'frank'"),
        "frank"
    );

    let endpoint = format!("{}/_synapse/admin/v1/register", d.url);
    let (status, bad_nonce) = call(client().post(&endpoint).json(&json!({
        "nonce": "not-a-nonce", "username": "gina", "password": "gina-password", "mac": "00"
    })));
    assert_eq!(
        (status, bad_nonce),
        (
            500,
            json!({"message": "incorrect or expired nonce: not-a-nonce"})
        ),
        "util.ErrorResponse, not a Matrix error"
    );
    let (_, nonce) = call(client().get(&endpoint));
    let (status, bad_mac) = call(client().post(&endpoint).json(&json!({
        "nonce": nonce["nonce"], "username": "gina", "password": "gina-password", "mac": "00"
    })));
    assert_eq!((status, bad_mac), (403, error("M_FORBIDDEN", "bad mac")));

    let available = |name: &str| {
        call(client().get(format!(
            "{}/_matrix/client/v3/register/available?username={name}",
            d.url
        )))
    };
    assert_eq!(
        available("frank"),
        (
            400,
            error("M_USER_IN_USE", "Desired User ID is already taken.")
        )
    );
    assert_eq!(available("gina"), (200, json!({"available": true})));
    assert_eq!(
        available("not%20valid"),
        (
            400,
            error(
                "M_INVALID_USERNAME",
                "username can only contain characters a-z, 0-9, or '_+-./='"
            )
        )
    );
    assert_eq!(d.login("frank", "wrong-password"), Err(403));
    assert_eq!(d.login("nobody", "whatever-password"), Err(403));

    // A nonce is not consumed: it registers again until it expires (go-cache, 5 minutes).
    for user in ["gina", "hal"] {
        let (status, answer) = call(client().post(&endpoint).json(&json!({
            "nonce": nonce["nonce"],
            "username": user,
            "password": "shared-nonce-password",
            "mac": mac(&d, nonce["nonce"].as_str().unwrap(), user, "shared-nonce-password"),
        })));
        assert_eq!(status, 200, "{user}: {answer}");
        assert_eq!(answer["device_id"], "shared_secret_registration");
    }

    // A deactivated account is refused as a wrong password is (selectPasswordHashSQL).
    d.query("UPDATE userapi_accounts SET is_deactivated = TRUE WHERE localpart = 'hal'");
    let (status, answer) = call(
        client()
            .post(format!("{}/_matrix/client/v3/login", d.url))
            .json(&json!({"type": "m.login.password", "user": "hal", "password": "shared-nonce-password"})),
    );
    assert_eq!(
        (status, answer),
        (
            403,
            error(
                "M_FORBIDDEN",
                "The username or password was incorrect or the account does not exist."
            )
        )
    );
}

/// The shared-secret MAC of a non-admin registration.
fn mac(d: &Dendrite, nonce: &str, user: &str, password: &str) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let secret = std::fs::read(&d.secret_file).unwrap();
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(&secret).unwrap();
    mac.update(format!("{nonce}\0{user}\0{password}\0notadmin").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Every command line naming this Dendrite's folder (the stand-in's, after its re-exec too).
fn command_lines_naming(dir: &std::path::Path) -> Vec<String> {
    let dir = dir.to_str().unwrap();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let line = String::from_utf8_lossy(&raw).replace('\0', " ");
        if line.contains(dir) {
            found.push(line);
        }
    }
    found
}

#[test]
fn dendrite_standin_keeps_secrets_off_its_command_line_and_out_of_its_log() {
    use std::os::unix::fs::PermissionsExt;
    let d = dendrite(true);
    for file in [&d.database_url_file, &d.secret_file, &d.admin_token_file()] {
        let mode = std::fs::metadata(file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", file.display());
    }
    let database_url = std::fs::read_to_string(&d.database_url_file).unwrap();
    assert!(
        database_url.ends_with(&format!("/{}", d.db)),
        "{database_url}"
    );
    let db_password = database_url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(creds, _)| creds.split_once(':'))
        .map(|(_, password)| password.to_owned())
        .expect("the URL carries a password");
    let secret = std::fs::read_to_string(&d.secret_file).unwrap();

    let user_token = d.register("henry", "henry-password-1", false);
    let admin = d.admin_token();
    let answer = reset_password(
        &d,
        "/_dendrite/admin/v1",
        &d.user_id("henry"),
        &admin,
        json!({"password": "henry-password-2"}),
    );
    assert_eq!(answer.0, 200);
    let (_, created) = tokens_call(
        &d,
        reqwest::Method::POST,
        "/new",
        Some(json!({"token": "secret-invite"})),
    );
    assert_eq!(created["token"], "secret-invite");
    assert_eq!(
        tokens_call(&d, reqwest::Method::GET, "/secret-invite", None).0,
        200
    );

    let lines = command_lines_naming(&d.dir);
    assert!(
        !lines.is_empty(),
        "the stand-in names its files on its command line"
    );
    let log = std::fs::read_to_string(d.dir.join("dendrite-api.log")).unwrap();
    assert!(
        log.contains("POST /_dendrite/admin/v1/resetPassword/{userID} -> 200"),
        "{log}"
    );
    for secret_value in [
        db_password.as_str(),
        secret.as_str(),
        admin.as_str(),
        user_token.as_str(),
        "henry-password-1",
        "henry-password-2",
        "secret-invite",
    ] {
        for line in &lines {
            assert!(!line.contains(secret_value), "on a command line: {line}");
        }
        assert!(!log.contains(secret_value), "in the log: {log}");
    }
}
