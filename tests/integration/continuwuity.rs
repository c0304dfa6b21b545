//! continuwuity hosts (`backend: admin-room`) against the continuwuity stand-in
//! (tests/standins/continuwuity, which follows continuwuity's admin service and client API):
//! accounts made and changed by messages to the admin bot in #admins, each asserted by what
//! the stand-in then holds and by logging in as the user.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::fixtures::{
    Helper, argv_never_holds, client, json, provision, scratch, start_helper, text, unique,
};

const SERVER: &str = "continuwuity.test";
const ADMIN_PASSWORD: &str = "admin-room-admin-password";

/// One continuwuity stand-in: its URL and the file it keeps its accounts in.
struct Continuwuity {
    url: String,
    state: PathBuf,
    _server: Helper,
}

/// A stand-in of its own, with the bot in one of its test modes (`--silent-bot`, …).
fn start(modes: &[&str]) -> Continuwuity {
    let state = scratch().join(unique("continuwuity-state.json"));
    std::fs::write(
        &state,
        serde_json::json!({"users": {format!("@admin:{SERVER}"): {"password": ADMIN_PASSWORD}}})
            .to_string(),
    )
    .unwrap();
    let port = crate::fixtures::free_port().to_string();
    let mut args = vec![state.to_str().unwrap(), port.as_str(), SERVER];
    args.extend(modes);
    let server = start_helper("standins/continuwuity", &args, &scratch());
    Continuwuity {
        url: server.ready.strip_prefix("ready ").unwrap().to_owned(),
        state,
        _server: server,
    }
}

/// The stand-in whose bot answers, shared by the tests.
fn continuwuity() -> &'static Continuwuity {
    static ONE: OnceLock<Continuwuity> = OnceLock::new();
    ONE.get_or_init(|| start(&[]))
}

impl Continuwuity {
    /// An inventory of one host, `cw1`, logging in as the admin.
    fn inventory(&self, extra: &str) -> PathBuf {
        let password = scratch().join(unique("cw-admin-password"));
        std::fs::write(&password, ADMIN_PASSWORD).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o600)).unwrap();
        let inv = scratch().join(unique("cw-inventory.yaml"));
        std::fs::write(
            &inv,
            format!(
                "all:\n  hosts:\n    cw1:\n      server_name: {SERVER}\n      backend: admin-room\n      url: {}\n      admin_token: {{login: {{user: admin, password: {{file: {}}}}}}}\n{extra}",
                self.url,
                password.display()
            ),
        )
        .unwrap();
        inv
    }

    /// One account as the stand-in holds it (Null: none).
    fn record(&self, user: &str) -> serde_json::Value {
        let state: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&self.state).unwrap()).unwrap();
        state["users"][format!("@{user}:{SERVER}")].clone()
    }

    /// Logs in through the stand-in's client API: Ok, or the HTTP status and errcode.
    fn login(&self, user: &str, password: &str) -> Result<(), (u16, String)> {
        let resp = client()
            .post(format!("{}/_matrix/client/v3/login", self.url))
            .json(&serde_json::json!({"type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": user}, "password": password}))
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().unwrap();
        match status {
            200 => Ok(()),
            _ => Err((status, body["errcode"].as_str().unwrap_or("").to_owned())),
        }
    }
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
fn admin_room_registers_a_user_who_logs_in_and_a_rerun_is_ok() {
    let c = continuwuity();
    let inv = c.inventory("");
    let user = unique("cwreg");

    let r = run(&inv, &["register", &user, "--check"], "");
    assert_eq!(pair(&r), ("changed", "would_create"), "{}", text(&r.2));
    assert!(c.record(&user).is_null(), "--check created nothing");

    let r = run(
        &inv,
        &["register", &user, "--password-stdin"],
        "first-Pass-1",
    );
    assert_eq!(pair(&r), ("changed", "created"), "{}", text(&r.2));
    assert_eq!(c.record(&user)["admin"], false);
    assert_eq!(c.login(&user, "first-Pass-1"), Ok(()));
    assert_eq!(
        c.login(&user, "not-the-password"),
        Err((403, "M_FORBIDDEN".into()))
    );

    // Again, with another password: the bot says the user exists; that is `ok`, and the
    // password stays.
    let r = run(
        &inv,
        &["register", &user, "--password-stdin"],
        "second-Pass-2",
    );
    assert_eq!(pair(&r), ("ok", "exists"), "{}", text(&r.2));
    assert_eq!(r.2.status.code(), Some(0));
    assert_eq!(c.login(&user, "first-Pass-1"), Ok(()));
    let r = run(&inv, &["register", &user, "--check"], "");
    assert_eq!(pair(&r), ("ok", "exists"), "{}", text(&r.2));

    // --admin on a new user: created, then made an admin by the bot.
    let boss = unique("cwboss");
    let r = run(
        &inv,
        &["register", &boss, "--admin", "--password-stdin"],
        "boss-Pass-1",
    );
    assert_eq!(pair(&r), ("changed", "created"), "{}", text(&r.2));
    assert_eq!(c.record(&boss)["admin"], true);

    // A password the bot would split or read as an option is refused before anything is sent.
    let odd = unique("cwodd");
    let r = run(&inv, &["register", &odd, "--password-stdin"], "two words");
    assert_eq!(r.0, "failed", "{}", text(&r.2));
    assert!(text(&r.2).contains("without whitespace"), "{}", text(&r.2));
    assert!(c.record(&odd).is_null());
}

#[test]
fn admin_room_sets_admin_password_lock_and_deactivates() {
    let c = continuwuity();
    let inv = c.inventory("");
    let user = unique("cwlife");
    let r = run(&inv, &["register", &user, "--password-stdin"], "old-Pass-1");
    assert_eq!(pair(&r), ("changed", "created"), "{}", text(&r.2));

    // The admin flag: on through make-user-admin, read back from the admin room's members.
    let r = run(&inv, &["admin", &user, "--on", "--check"], "");
    assert_eq!(pair(&r), ("changed", "would_set_admin"), "{}", text(&r.2));
    assert_eq!(c.record(&user)["admin"], false);
    let r = run(&inv, &["admin", &user, "--on"], "");
    assert_eq!(pair(&r), ("changed", "admin_set"), "{}", text(&r.2));
    assert_eq!(c.record(&user)["admin"], true);
    let r = run(&inv, &["admin", &user, "--on"], "");
    assert_eq!(pair(&r), ("ok", "admin_unchanged"), "{}", text(&r.2));
    // continuwuity has no command that revokes it: said, not faked.
    let r = run(&inv, &["admin", &user, "--off"], "");
    assert_eq!(r.0, "failed", "{}", text(&r.2));
    assert!(
        text(&r.2).contains("no command that revokes server admin"),
        "{}",
        text(&r.2)
    );
    assert_eq!(c.record(&user)["admin"], true);

    // The password: the new one logs in, the old one no longer does.
    let r = run(&inv, &["password", &user, "--password-stdin"], "new-Pass-2");
    assert_eq!(pair(&r), ("changed", "password_set"), "{}", text(&r.2));
    assert_eq!(c.login(&user, "new-Pass-2"), Ok(()));
    assert_eq!(
        c.login(&user, "old-Pass-1"),
        Err((403, "M_FORBIDDEN".into()))
    );
    // A user that does not exist gets no password (the bot would write one for any name).
    let ghost = unique("cwghost");
    let r = run(
        &inv,
        &["password", &ghost, "--password-stdin"],
        "ghost-Pass-1",
    );
    assert_eq!(r.0, "failed", "{}", text(&r.2));
    assert!(text(&r.2).contains("no such user"), "{}", text(&r.2));
    assert!(c.record(&ghost).is_null());

    // Locks: the bot refuses to lock an admin, and says so.
    let r = run(&inv, &["lock", &user], "");
    assert_eq!(r.0, "failed", "{}", text(&r.2));
    assert!(
        text(&r.2).contains("Admin users cannot be locked."),
        "{}",
        text(&r.2)
    );
    let plain = unique("cwlock");
    run(
        &inv,
        &["register", &plain, "--password-stdin"],
        "lock-Pass-1",
    );
    let r = run(&inv, &["lock", &plain], "");
    assert_eq!(pair(&r), ("changed", "locked"), "{}", text(&r.2));
    assert_eq!(c.record(&plain)["locked"], true);
    let r = run(&inv, &["unlock", &plain], "");
    assert_eq!(pair(&r), ("changed", "unlocked"), "{}", text(&r.2));
    assert_eq!(c.record(&plain)["locked"], false);

    // Deactivation: the account is gone from list-users and cannot log in.
    let r = run(&inv, &["deactivate", &plain, "--erase"], "");
    assert_eq!(r.0, "failed", "{}", text(&r.2));
    assert_eq!(c.record(&plain)["deactivated"], false);
    let r = run(&inv, &["deactivate", &plain], "");
    assert_eq!(pair(&r), ("changed", "deactivated"), "{}", text(&r.2));
    assert_eq!(c.record(&plain)["deactivated"], true);
    assert_eq!(
        c.login(&plain, "lock-Pass-1"),
        Err((403, "M_USER_DEACTIVATED".into()))
    );

    // `users` lists the active accounts, admins marked.
    let out = provision(
        &["users", "-i", inv.to_str().unwrap(), "--output", "csv"],
        "",
    );
    let csv = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        csv.contains(&format!("cw1,@{user}:{SERVER},true")),
        "{csv}{}",
        text(&out)
    );
    assert!(!csv.contains(&format!("@{plain}:")), "{csv}");
}

/// `list-users` leaves deactivated accounts out; provision asks `query users password-hash`
/// about an unlisted user, so deactivating twice is `ok` the second time, and a user that
/// never existed is refused without a `deactivate` (which would make it).
#[test]
fn deactivating_twice_is_ok_and_a_user_that_never_existed_is_refused_and_not_made() {
    let c = continuwuity();
    let inv = c.inventory("");
    let user = unique("cwtwice");
    let r = run(
        &inv,
        &["register", &user, "--password-stdin"],
        "twice-Pass-1",
    );
    assert_eq!(pair(&r), ("changed", "created"), "{}", text(&r.2));
    let r = run(&inv, &["deactivate", &user], "");
    assert_eq!(pair(&r), ("changed", "deactivated"), "{}", text(&r.2));
    assert_eq!(c.record(&user)["deactivated"], true);

    let r = run(&inv, &["deactivate", &user], "");
    assert_eq!(pair(&r), ("ok", "already_deactivated"), "{}", text(&r.2));
    assert_eq!(r.2.status.code(), Some(0), "{}", text(&r.2));
    let r = run(&inv, &["deactivate", &user, "--check"], "");
    assert_eq!(pair(&r), ("ok", "already_deactivated"), "{}", text(&r.2));
    // A new password would reactivate it: refused, and it stays deactivated.
    let r = run(
        &inv,
        &["password", &user, "--password-stdin"],
        "back-Pass-2",
    );
    assert_eq!(r.0, "failed", "{}", text(&r.2));
    assert!(text(&r.2).contains("is deactivated"), "{}", text(&r.2));
    assert_eq!(c.record(&user)["deactivated"], true);

    let ghost = unique("cwnever");
    let r = run(&inv, &["deactivate", &ghost], "");
    assert_eq!(r.0, "failed", "{}", text(&r.2));
    assert_ne!(r.2.status.code(), Some(0));
    assert!(
        text(&r.2).contains(&format!("no such user @{ghost}:{SERVER}")),
        "{}",
        text(&r.2)
    );
    assert!(c.record(&ghost).is_null(), "no account was made");
}

/// A busy admin room: 120 messages (more than a sync's timeline limit of 50) come between
/// each command and the bot's answer, and 120 after it. The answers are read back from the
/// room's history (`/messages`), so every command still gets its answer.
#[test]
fn answers_in_a_busy_room_are_found_behind_a_limited_sync() {
    let c = start(&["--flood", "120"]);
    let inv = c.inventory("      reply_timeout: 10\n");
    let user = unique("cwbusy");
    let r = run(
        &inv,
        &["register", &user, "--password-stdin"],
        "busy-Pass-1",
    );
    assert_eq!(pair(&r), ("changed", "created"), "{}", text(&r.2));
    assert_eq!(c.login(&user, "busy-Pass-1"), Ok(()));
    let r = run(&inv, &["deactivate", &user], "");
    assert_eq!(pair(&r), ("changed", "deactivated"), "{}", text(&r.2));
    let r = run(&inv, &["deactivate", &user], "");
    assert_eq!(pair(&r), ("ok", "already_deactivated"), "{}", text(&r.2));
}

#[test]
fn a_bot_that_never_answers_fails_the_host_within_reply_timeout() {
    let c = start(&["--silent-bot"]);
    let inv = c.inventory("      reply_timeout: 2\n");
    let user = unique("cwsilent");
    let started = Instant::now();
    let out = provision(
        &[
            "register",
            &user,
            "--password-stdin",
            "-i",
            inv.to_str().unwrap(),
        ],
        "silent-Pass-1",
    );
    let took = started.elapsed();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(took < Duration::from_secs(15), "took {took:?}: {said}");
    assert!(said.contains("cw1"), "{said}");
    assert!(
        said.contains(&format!(
            "the admin bot @conduit:{SERVER} did not answer `!admin users create-user @{user}:{SERVER} '********'` in #admins:{SERVER} within 2 s"
        )),
        "{said}"
    );
}

#[test]
fn an_error_reply_fails_the_host_with_the_bots_words() {
    let c = start(&["--bot-error", "Database is read-only"]);
    let inv = c.inventory("");
    let user = unique("cwerr");
    let r = run(&inv, &["register", &user, "--password-stdin"], "err-Pass-1");
    assert_eq!(r.0, "failed", "{}", text(&r.2));
    assert_ne!(r.2.status.code(), Some(0));
    assert!(
        text(&r.2).contains(&format!(
            "the admin bot refused `!admin users create-user @{user}:{SERVER} '********'`: Database is read-only"
        )),
        "{}",
        text(&r.2)
    );
}

/// Every command line on this machine is read while a -vvv run goes on: the password is on
/// none of them, nor in any log line, though the bot echoes it into the room.
#[test]
fn the_password_is_on_no_command_line_and_in_no_log_line() {
    let c = continuwuity();
    let inv = c.inventory("");
    let user = unique("cwsecret");
    let password = format!("Sekrit{}Pw", std::process::id());
    let args = [
        "register",
        &user,
        "--admin",
        "--password-stdin",
        "-vvv",
        "-i",
        inv.to_str().unwrap(),
    ];
    let out = argv_never_holds(&password, || provision(&args, &password));
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert_eq!(c.login(&user, &password), Ok(()), "{said}");
    // The run logged its commands, masked.
    assert!(
        said.contains(&format!(
            "sending `!admin users create-user @{user}:{SERVER} '********'`"
        )),
        "{said}"
    );
    assert!(!said.contains(&password), "{said}");
}

#[test]
fn ping_and_check_say_the_room_keeps_the_passwords() {
    let c = continuwuity();
    let inv = c.inventory("");
    let out = provision(&["ping", "-i", inv.to_str().unwrap()], "");
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("admin-room for register, read, admin, password, lock, deactivate, users"),
        "{said}"
    );
    assert!(
        said.contains("the admin room's history keeps every password provision sends"),
        "{said}"
    );
    let user = unique("cwcheck");
    let out = provision(
        &["register", &user, "--check", "-i", inv.to_str().unwrap()],
        "",
    );
    let said = text(&out);
    assert!(
        said.contains(&format!(
            "would create (user) by running: !admin users create-user @{user}:{SERVER} '********' in #admins:{SERVER}"
        )),
        "{said}"
    );
    assert!(
        said.contains("the admin bot echoes each one back into the room"),
        "{said}"
    );
}

#[test]
fn conduit_and_conduwuit_are_refused_with_the_reason() {
    let c = continuwuity();
    for name in ["conduit", "conduwuit"] {
        let inv = c.inventory(&format!("      homeserver: {name}\n"));
        let out = provision(&["ping", "-i", inv.to_str().unwrap()], "");
        let said = text(&out);
        assert_eq!(out.status.code(), Some(2), "{said}");
        assert!(said.contains(&format!("{name} is not supported")), "{said}");
    }
}
