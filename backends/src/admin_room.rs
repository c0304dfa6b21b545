//! continuwuity's admin room (`backend: admin-room`): the server has no shared-secret endpoint
//! and no admin API, so an admin's client sends `!admin users …` commands as messages to
//! `#admins:SERVER_NAME` and reads the admin bot's replies, as an operator would in Element.
//!
//! Followed from continuwuity/continuwuity:
//! - src/admin/user/mod.rs and src/admin/user/commands.rs: the commands (`create-user USERNAME
//!   [PASSWORD]`, `reset-password USERNAME [PASSWORD]`, `make-user-admin USER_ID`,
//!   `deactivate USER_ID`, `lock`/`unlock USER_ID`, `list-users`) and the exact text each
//!   writes on success, or returns as an error (`User {user_id} already exists`);
//! - src/admin/processor.rs: a command line is split at whitespace (`parse_line`) and parsed by
//!   clap; the answer is an `m.notice` (markdown) whose `m.relates_to.m.in_reply_to.event_id`
//!   is the command's event (`reply`); a failed command answers
//!   "Command failed with error:\n```\n{error}\n```", a line clap cannot parse its message;
//! - src/service/admin/mod.rs: the answer is sent by the server user (`handle_response`,
//!   `@conduit:SERVER_NAME`, src/service/globals/mod.rs), only senders joined to the admin room
//!   are obeyed (`is_admin_command`, `user_is_admin`): being in that room *is* being a server
//!   admin; an answer longer than 60,000 bytes is sent as a file (`text_or_file`);
//! - src/service/users/mod.rs: `list_local_users` lists the accounts with a password, so
//!   deactivated accounts and the server user are not in `list-users`; `deactivate_account`
//!   empties the password (for any ID: `users deactivate` of one that never existed makes
//!   it, deactivated, and answers as for any other), so an unlisted user is asked after with
//!   `query users password-hash` (src/admin/query/users.rs): empty is deactivated, not found
//!   absent;
//! - src/api/client/sync/v3.rs and src/api/client/message.rs: a sync's timeline holds the
//!   newest `limit` messages and is `limited` when there were more; the gap is read back with
//!   `/messages?dir=b` from its `prev_batch`, so an answer in a busy room is not missed.
//!
//! The commands carry passwords, and the bot echoes them (`Created user with user_id: … and
//! password: `…``): both stay in the room's history. provision says so in `ping`, `--check`
//! and its outcomes, and never logs a command's body or a reply holding a password.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use crate::account::{Account, Change, ListFilter, Listed, Op, Page, Preview, UserState};
use crate::admin_api::{AdminApiConfig, AdminSession};
use crate::matrix::MatrixAnswer;
use crate::port::Ports;
use crate::port::http::{Request, Response, encode};
use crate::settings::{Backend, Config, Homeserver, Settings};
use crate::user_id::UserArg;
use crate::{Failure, Outcome, Registration, UserId};

/// What the operator must know before using this backend, said by `ping`, `--check` and README.
pub const ROOM_HISTORY: &str = "the admin room's history keeps every password provision sends, and the admin bot echoes each one back into the room";

/// How long the bot has to answer a command when the inventory does not say.
const DEFAULT_REPLY_TIMEOUT: u64 = 30;

/// The longest one `/sync` long-poll waits: under the HTTP transport's 60 s request timeout.
const LONG_POLL: Duration = Duration::from_secs(20);

/// The most new messages one `/sync` returns; more make its timeline `limited`.
const TIMELINE: u32 = 50;

/// Messages per page, and pages at most, read back to fill a `limited` sync's gap: continuwuity
/// serves at most 100 a page (src/api/client/message.rs, `LIMIT_MAX`).
const GAP_PAGE: usize = 100;
const GAP_PAGES: usize = 20;

pub struct AdminRoom {
    api: AdminSession,
    via: String,
    server_name: String,
    reply_timeout: Duration,
    /// `#admins:SERVER_NAME`'s room ID, resolved once per run.
    room: OnceCell<Result<String, Failure>>,
}

struct AdminRoomConfig {
    api: AdminApiConfig,
    server_name: String,
    reply_timeout: u64,
}

impl Backend for AdminRoom {
    const NAME: &'static str = "admin-room";
    const KEYS: &'static [&'static str] = &["url", "url_on_host", "admin_token", "reply_timeout"];
    const OPS: &'static [Op] = &[
        Op::Register,
        Op::Read,
        Op::SetAdmin,
        Op::SetPassword,
        Op::Lock,
        Op::Deactivate,
        Op::List,
    ];
    const RUNS_PROGRAMS: bool = false;
    const HOMESERVER: Option<Homeserver> = Some(Homeserver::Continuwuity);

    fn configure<S: Settings>(s: &S) -> Result<Box<dyn Config>, S::Error> {
        let api = AdminApiConfig::read(
            s,
            Self::NAME,
            "the access token of a server admin (a member of #admins)",
        )?;
        let reply_timeout = s
            .mapping::<u64>("reply_timeout", "a number of seconds")?
            .unwrap_or(DEFAULT_REPLY_TIMEOUT);
        if !(1..=3600).contains(&reply_timeout) {
            return Err(s.wrong(
                "reply_timeout",
                "must be between 1 and 3600 seconds: how long the admin bot has to answer a command",
            ));
        }
        Ok(Box::new(AdminRoomConfig {
            api,
            server_name: s.server_name().to_owned(),
            reply_timeout,
        }))
    }
}

impl Config for AdminRoomConfig {
    fn show(&self) -> Value {
        let mut shown = self.api.show(AdminRoom::NAME);
        shown["reply_timeout"] = self.reply_timeout.into();
        shown["warning"] = ROOM_HISTORY.into();
        shown
    }

    fn admin_api(&self) -> Option<&AdminApiConfig> {
        Some(&self.api)
    }

    fn build(&self, ports: &dyn Ports) -> Result<Box<dyn Account>, String> {
        let (api, via) = self.api.open(ports, "continuwuity's admin room")?;
        Ok(Box::new(AdminRoom {
            api,
            via: format!("{via}, in #admins:{}", self.server_name),
            server_name: self.server_name.clone(),
            reply_timeout: Duration::from_secs(self.reply_timeout),
            room: OnceCell::new(),
        }))
    }
}

/// One command for the bot: its words, and the password among them (if any), which is never
/// shown.
struct Command {
    words: String,
    password: Option<SecretString>,
}

impl Command {
    fn plain(words: String) -> Self {
        Command {
            words,
            password: None,
        }
    }

    fn with_password(words: String, password: &SecretString) -> Result<Self, Failure> {
        check_password(password)?;
        Ok(Command {
            words,
            password: Some(password.clone()),
        })
    }

    /// The message body the bot reads.
    fn body(&self) -> String {
        match &self.password {
            Some(p) => format!("!admin {} {}", self.words, p.expose_secret()),
            None => format!("!admin {}", self.words),
        }
    }

    /// What logs, errors and `--check` show: the password masked.
    fn shown(&self) -> String {
        match &self.password {
            Some(_) => format!("!admin {} '********'", self.words),
            None => format!("!admin {}", self.words),
        }
    }

    /// `text` with the password (which the bot echoes) taken out.
    fn redact(&self, text: &str) -> String {
        match &self.password {
            Some(p) if !p.expose_secret().is_empty() => {
                text.replace(p.expose_secret(), "[redacted]")
            }
            _ => text.to_owned(),
        }
    }
}

/// The bot splits a command at whitespace and hands it to clap (src/admin/processor.rs,
/// `parse_line`): a password with whitespace would become several arguments, and one starting
/// with `-` an option. Both are refused before anything is sent.
fn check_password(password: &SecretString) -> Result<(), Failure> {
    let p = password.expose_secret();
    if p.is_empty() || p.chars().any(char::is_whitespace) || p.starts_with('-') {
        return Err(Failure::Rejected(
            "the admin bot splits its commands at whitespace and reads a word starting with `-` as an option: choose a password without whitespace that does not start with `-` (--random-password makes one)".into(),
        ));
    }
    Ok(())
}

/// What the bot answered: the text of a command that ran, or the message of one that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reply {
    Ran(String),
    Failed(String),
}

/// Reads an answer's body as src/admin/processor.rs writes it: a failed command is
/// "Command failed with error:\n```\n{error}\n```" (after any captured log lines), a line clap
/// cannot parse is clap's own message ("error: …").
fn reply(body: &str) -> Reply {
    if let Some((_, after)) = body.split_once("Command failed with error:") {
        let inner = after
            .trim()
            .trim_start_matches("```")
            .trim_end_matches("```");
        return Reply::Failed(inner.trim().to_owned());
    }
    if body.starts_with("error:") {
        return Reply::Failed(body.lines().next().unwrap_or("").trim().to_owned());
    }
    Reply::Ran(body.to_owned())
}

/// Whether one line of a successful answer is `want` (log lines may come before it).
fn has_line(text: &str, want: &str) -> bool {
    text.lines().any(|l| l.trim() == want)
}

/// A user `list-users` does not show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unlisted {
    Deactivated,
    Absent,
}

/// A user's password hash as `query users password-hash` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    /// `Ok("")`: deactivated.
    Empty,
    /// `Ok("$argon2id$…")`: active.
    Set,
    /// `Err(…not found…)`: no such user.
    Missing,
}

/// Reads `query users password-hash`' answer (src/admin/query/users.rs): "Query completed in
/// {time:?}:\n\n```rs\n{result:#?}\n```", the `Result<String>` of `password_hash` pretty-
/// printed: `Ok(\n    "",\n)`, or `Err(\n    …,\n)` with the error's message (src/core/error/
/// mod.rs, `Debug` is `message()`), which for a missing key is the database's "Not found in
/// database" (src/database/map/get.rs).
fn password_hash(text: &str) -> Option<Hash> {
    let (_, rest) = text.split_once("Query completed in ")?;
    let (_, rest) = rest.split_once("```rs")?;
    let (block, _) = rest.split_once("```")?;
    let block = block.trim();
    if let Some(inner) = block.strip_prefix("Ok(") {
        let value = inner.strip_suffix(')')?.trim().trim_end_matches(',').trim();
        let quoted = value.len() >= 2 && value.starts_with('"') && value.ends_with('"');
        return quoted.then_some(if value == "\"\"" {
            Hash::Empty
        } else {
            Hash::Set
        });
    }
    let err = block.strip_prefix("Err(")?;
    err.to_ascii_lowercase()
        .contains("not found")
        .then_some(Hash::Missing)
}

/// The user IDs of `list-users`' answer: "Found {n} local user account(s):\n```\n…\n```"
/// (src/admin/user/commands.rs, `list_users`). `None`: not that answer, or a count that does
/// not match the lines.
fn listed(text: &str) -> Option<Vec<String>> {
    let (_, rest) = text.split_once("Found ")?;
    let (count, rest) = rest.split_once(" local user account(s):")?;
    let count: usize = count.trim().parse().ok()?;
    let rest = rest.trim_start().strip_prefix("```")?;
    let (block, _) = rest.split_once("```")?;
    let users: Vec<String> = block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let valid = users
        .iter()
        .all(|u| matches!(UserArg::parse(u), Ok(UserArg::Full(_))));
    (users.len() == count && valid).then_some(users)
}

/// One `/sync` of the admin room: where it ends, its new messages, and, if it left some out
/// (`limited`), the token to read them back from (`prev_batch`).
struct Synced {
    next: String,
    events: Vec<Value>,
    gap: Option<String>,
}

/// A pagination token the server gave, before it goes back into a query: a plain printable
/// token only.
fn token(v: &Value) -> Option<String> {
    v.as_str()
        .filter(|t| !t.is_empty() && t.len() <= 1024 && t.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_owned)
}

/// A room ID the server gave, before it goes into a path: `!opaque` (or `!opaque:server`),
/// printable and without `/`, `?`, `#` or spaces.
fn room_id(id: &str) -> Option<&str> {
    let ok = id.starts_with('!')
        && id.len() <= 255
        && id[1..]
            .chars()
            .all(|c| c.is_ascii_graphic() && !"/?#%".contains(c))
        && id.len() > 1;
    ok.then_some(id)
}

/// A transaction ID unique within this run and across runs (the spec's idempotency key for
/// `PUT …/send`): a retried send with the same ID is not sent twice.
fn txn_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut random = [0u8; 8];
    let _ = getrandom::fill(&mut random);
    format!(
        "provision-{}-{}",
        hex::encode(random),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

#[async_trait]
impl Account for AdminRoom {
    fn via(&self) -> String {
        self.via.clone()
    }

    async fn close(&self) {
        self.api.close().await;
    }

    /// Whose token it is, that the admin room resolves, and that both the token's user and the
    /// bot are in it (so commands would be obeyed and answered). Sends no command.
    async fn ping(&self) -> Result<String, Failure> {
        let me = self
            .api
            .whoami()
            .await?
            .map_err(|resp| refused("whoami", &resp))?;
        let room = self.room().await?;
        let members = self.members(&room).await?;
        if !members.contains(&me) {
            return Err(Failure::Rejected(format!(
                "admin_token is {me}'s, who is not in {}: not a server admin, so the bot would ignore its commands",
                self.alias()
            )));
        }
        if !members.contains(&self.bot()) {
            return Err(Failure::Rejected(format!(
                "the admin bot {} is not in {}: nothing would answer",
                self.bot(),
                self.alias()
            )));
        }
        Ok(format!(
            "admin room {} ({room}) with {} in it; admin_token is {me}'s, a server admin; warning: {ROOM_HISTORY}",
            self.alias(),
            self.bot()
        ))
    }

    async fn register(&self, reg: &Registration<'_>) -> Result<Outcome, Failure> {
        let user = reg.user.to_string();
        let command = Command::with_password(format!("users create-user {user}"), reg.password)?;
        match self.run(&command).await? {
            Reply::Ran(text)
                if text.lines().any(|l| {
                    l.trim()
                        .starts_with(&format!("Created user with user_id: {user} and password: "))
                }) => {}
            Reply::Failed(e) if e == format!("User {user} already exists") => {
                return Ok(Outcome::Exists);
            }
            other => return Err(self.unexpected(&command, other)),
        }
        if reg.admin {
            let admin = Command::plain(format!("users make-user-admin {user}"));
            match self.run(&admin).await? {
                Reply::Ran(text) if has_line(&text, &granted(&user)) => {}
                other => {
                    return Err(Failure::Rejected(format!(
                        "{user} was created, but not made an admin: {}",
                        self.unexpected(&admin, other)
                    )));
                }
            }
        }
        Ok(Outcome::Created { admin: reg.admin })
    }

    /// The command a run would send (`--check` has no password to check: it is only shown
    /// masked); whether the user exists is read with `list-users` by the router first.
    async fn preview(&self, reg: &Registration<'_>) -> Result<Preview, Failure> {
        let command = Command {
            words: format!("users create-user {}", reg.user),
            password: Some(reg.password.clone()),
        };
        Ok(Preview::WouldRun {
            command: format!("{} in {}", command.shown(), self.alias()),
            warning: Some(ROOM_HISTORY.into()),
        })
    }

    /// Listed by `list-users` (so active), admin when in the admin room; locks are not shown
    /// by any command. `list-users` leaves deactivated accounts out, so a user it does not
    /// list is asked after with `query users password-hash` ([`AdminRoom::unlisted`]):
    /// deactivated, or absent.
    async fn read(&self, user: &UserId) -> Result<Option<UserState>, Failure> {
        let user = user.to_string();
        let listed = self.list_users().await?.contains(&user);
        if !listed && self.unlisted(&user).await? == Unlisted::Absent {
            return Ok(None);
        }
        let room = self.room().await?;
        let admin = self.members(&room).await?.contains(&user);
        Ok(Some(match listed {
            true => active(admin),
            false => UserState {
                admin: Some(admin),
                deactivated: Some(true),
                ..UserState::default()
            },
        }))
    }

    async fn change(
        &self,
        user: &UserId,
        change: &Change<'_>,
        check: bool,
    ) -> Result<Outcome, Failure> {
        let id = user.to_string();
        let (command, want, note) = match change {
            // `set_password` writes a hash for any ID, existing or not (src/service/users):
            // a password on a missing user would make half an account. Checked below.
            Change::Password { password, .. } => (
                Command::with_password(format!("users reset-password {id}"), password)?,
                format!("Successfully reset the password for user {id}: "),
                Some(format!("warning: {ROOM_HISTORY}")),
            ),
            Change::Lock(true) => (
                Command::plain(format!("users lock {id}")),
                format!("User {id} has been locked."),
                None,
            ),
            Change::Lock(false) => (
                Command::plain(format!("users unlock {id}")),
                format!("User {id} has been unlocked."),
                None,
            ),
            Change::Deactivate { erase: false } => (
                Command::plain(format!("users deactivate {id}")),
                format!("User {id} has been deactivated"),
                Some("continuwuity also made the user leave every room".to_owned()),
            ),
            Change::Deactivate { erase: true } => {
                return Err(Failure::Rejected(
                    "continuwuity's `users deactivate` does not erase a user's data: deactivate without --erase".into(),
                ));
            }
            other => return Err(crate::account::unsupported(Self::NAME, other.op())),
        };
        // `users deactivate` answers "has been deactivated" for any local ID, and for one that
        // never existed writes the empty password that marks a deactivated account, making
        // it (src/admin/user/commands.rs, `deactivate`; src/service/users/mod.rs,
        // `deactivate_account`, `set_password(user_id, None)`). So the user is read first: an
        // absent one is refused without a command, a deactivated one is `ok` (settled).
        let Some(now) = self.read(user).await? else {
            return Err(Failure::Rejected(format!("no such user {id}")));
        };
        if let Some(settled) = change.settled(&now, check) {
            return Ok(settled);
        }
        if now.deactivated == Some(true) {
            // `reset-password` would write a new password, which reactivates the account;
            // locking a deactivated account changes nothing a user could use.
            return Err(Failure::Rejected(format!(
                "{id} is deactivated (continuwuity has no reactivate command; `users reset-password` would reactivate it)"
            )));
        }
        match self.run(&command).await? {
            Reply::Ran(text) if text.lines().any(|l| l.trim().starts_with(&want)) => {}
            other => return Err(self.unexpected(&command, other)),
        }
        Ok(Outcome::Done {
            change: change.kind(),
            note,
        })
    }

    /// Every active local user in one page: `list-users` has no paging.
    async fn list(&self, filter: &ListFilter, _cursor: Option<&str>) -> Result<Page, Failure> {
        let users = self.list_users().await?;
        let room = self.room().await?;
        let admins = self.members(&room).await?;
        let users = users
            .into_iter()
            .map(|user_id| {
                let admin = admins.contains(&user_id);
                Listed {
                    user_id,
                    state: active(admin),
                }
            })
            .filter(|l| !filter.admins || l.state.admin == Some(true))
            .collect();
        Ok(Page { users, next: None })
    }

    /// continuwuity has `make-user-admin` and no command that takes the right back.
    async fn set_admin(&self, user: &UserId, admin: bool, check: bool) -> Result<Outcome, Failure> {
        let Some(now) = self.read(user).await? else {
            return Err(Failure::Rejected(format!("no such user {user}")));
        };
        if now.deactivated == Some(true) {
            return Err(Failure::Rejected(format!("{user} is deactivated")));
        }
        if now.admin == Some(admin) {
            return Ok(Outcome::AdminAlready { admin });
        }
        if !admin {
            return Err(Failure::Rejected(format!(
                "continuwuity has no command that revokes server admin (only `users make-user-admin`): remove {user} from {} by hand",
                self.alias()
            )));
        }
        if check {
            return Ok(Outcome::WouldSetAdmin { admin });
        }
        let id = user.to_string();
        let command = Command::plain(format!("users make-user-admin {id}"));
        match self.run(&command).await? {
            Reply::Ran(text) if has_line(&text, &granted(&id)) => {
                Ok(Outcome::AdminSet { admin, note: None })
            }
            other => Err(self.unexpected(&command, other)),
        }
    }
}

fn granted(user: &str) -> String {
    format!("{user} has been granted admin privileges.")
}

/// A user `list-users` shows: active, its lock unknown.
fn active(admin: bool) -> UserState {
    UserState {
        admin: Some(admin),
        deactivated: Some(false),
        ..UserState::default()
    }
}

impl AdminRoom {
    fn alias(&self) -> String {
        format!("#admins:{}", self.server_name)
    }

    /// The server user that answers (src/service/globals/mod.rs, `server_user`).
    fn bot(&self) -> String {
        format!("@conduit:{}", self.server_name)
    }

    /// `#admins:SERVER_NAME` resolved through the room directory, once per run.
    async fn room(&self) -> Result<String, Failure> {
        self.room
            .get_or_init(|| async {
                let alias = self.alias();
                let resp = self
                    .api
                    .send(Request::get(format!(
                        "/_matrix/client/v3/directory/room/{}",
                        encode(&alias)
                    )))
                    .await?;
                match resp.status {
                    200 => {}
                    404 => {
                        return Err(Failure::Rejected(format!(
                            "{alias} does not exist on this server: is it continuwuity, and server_name right?"
                        )));
                    }
                    _ => return Err(refused(&format!("resolving {alias}"), &resp)),
                }
                let id = resp.json()["room_id"].as_str().unwrap_or("").to_owned();
                room_id(&id).map(str::to_owned).ok_or_else(|| {
                    Failure::Rejected(format!("{alias} resolved to {id:?}, not a room ID"))
                })
            })
            .await
            .clone()
    }

    /// The users joined to the room: for the admin room, the server admins.
    async fn members(&self, room: &str) -> Result<Vec<String>, Failure> {
        let resp = self
            .api
            .send(Request::get(format!(
                "/_matrix/client/v3/rooms/{}/joined_members",
                encode(room)
            )))
            .await?;
        if resp.status != 200 {
            return Err(refused(&format!("the members of {}", self.alias()), &resp));
        }
        Ok(resp.json()["joined"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default())
    }

    async fn list_users(&self) -> Result<Vec<String>, Failure> {
        let command = Command::plain("users list-users".into());
        match self.run(&command).await? {
            Reply::Ran(text) => listed(&text).ok_or_else(|| {
                Failure::Rejected(format!(
                    "the admin bot's answer to `{}` is not a list of users: {}",
                    command.shown(),
                    first_lines(&text)
                ))
            }),
            failed => Err(self.unexpected(&command, failed)),
        }
    }

    /// Whether a user `list-users` does not show is deactivated or absent, by
    /// `!admin query users password-hash USER_ID` (src/admin/query/users.rs, `password_hash`):
    /// continuwuity marks a deactivated account with an empty password (src/service/users/
    /// mod.rs, `deactivate_account`; `is_deactivated` is `userid_password` empty), and
    /// `list-users` lists the non-empty ones. No `users` command tells the two apart:
    /// `deactivate` says the same for both (and makes the absent one), `lock` and `suspend`
    /// only check existence. Only asked for unlisted users, whose hash is empty or missing: an
    /// answer holding a hash (a user activated meanwhile) is never shown.
    async fn unlisted(&self, user: &str) -> Result<Unlisted, Failure> {
        let command = Command::plain(format!("query users password-hash {user}"));
        match self.run(&command).await? {
            Reply::Ran(text) => match password_hash(&text) {
                Some(Hash::Empty) => Ok(Unlisted::Deactivated),
                Some(Hash::Missing) => Ok(Unlisted::Absent),
                Some(Hash::Set) => Err(Failure::Rejected(format!(
                    "{user} is not in `list-users` but has a password: was it (re)activated meanwhile? Run again"
                ))),
                None => Err(Failure::Rejected(format!(
                    "the admin bot's answer to `{}` is not a query result provision recognises",
                    command.shown()
                ))),
            },
            failed => Err(self.unexpected(&command, failed)),
        }
    }

    /// Sends `command` to the admin room and waits, at most `reply_timeout`, for the bot's
    /// answer to it.
    async fn run(&self, command: &Command) -> Result<Reply, Failure> {
        let room = self.room().await?;
        // Where the room's timeline is now: the answer comes after it, and nothing older is
        // read again.
        let since = self.sync(&room, None, Duration::ZERO).await?.next;
        let path = format!(
            "/_matrix/client/v3/rooms/{}/send/m.room.message/{}",
            encode(&room),
            txn_id()
        );
        tracing::debug!("admin room {}: sending `{}`", self.alias(), command.shown());
        let resp = self
            .api
            .send(Request::put(
                path,
                json!({"msgtype": "m.text", "body": command.body()}),
            ))
            .await?;
        if resp.status != 200 {
            return Err(refused(&format!("sending to {}", self.alias()), &resp));
        }
        let event_id = resp.json()["event_id"].as_str().unwrap_or("").to_owned();
        if event_id.is_empty() {
            return Err(Failure::Rejected(format!(
                "sending to {}: HTTP 200 without an event_id",
                self.alias()
            )));
        }
        let deadline = Instant::now() + self.reply_timeout;
        let mut since = since;
        // The newest event looked at so far: a gap in a later sync ends there (the command's
        // own event first: the answer comes after it).
        let mut seen = event_id.clone();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Failure::Rejected(format!(
                    "the admin bot {} did not answer `{}` in {} within {} s (reply_timeout): is continuwuity's admin service running?",
                    self.bot(),
                    command.shown(),
                    self.alias(),
                    self.reply_timeout.as_secs()
                )));
            }
            // The long-poll is bounded by the deadline; a server that holds the request
            // longer is cut off by the same deadline.
            let polled = tokio::time::timeout(
                left + Duration::from_secs(1),
                self.sync(&room, Some(&since), left.min(LONG_POLL)),
            )
            .await;
            let Ok(polled) = polled else { continue };
            let synced = polled?;
            let mut events = synced.events;
            // A busy room: more new messages than the timeline limit, and the answer may be
            // among the ones left out. They are read back from the room's history.
            if let Some(prev_batch) = &synced.gap {
                let mut older = self
                    .gap(&room, prev_batch, &since, [&event_id, &seen], deadline)
                    .await?;
                older.append(&mut events);
                events = older;
            }
            since = synced.next;
            if let Some(last) = events.iter().rev().find_map(|e| e["event_id"].as_str()) {
                last.clone_into(&mut seen);
            }
            for event in events {
                if let Some(answer) = self.answer_to(&event, &event_id, command)? {
                    tracing::debug!(
                        "admin room {}: the bot answered `{}`",
                        self.alias(),
                        command.shown()
                    );
                    return Ok(answer);
                }
            }
        }
    }

    /// The messages a `limited` sync left out, oldest first: `GET /rooms/{roomId}/messages`
    /// backwards from the sync's `prev_batch` (the spec's way to fill a timeline gap), `to`
    /// the previous sync position, until an event already looked at (`stop`) is reached, the
    /// room's start, [`GAP_PAGES`] pages or the deadline. continuwuity serves at most 100
    /// events a page and gives `end` (the last event's position) while it returns any
    /// (src/api/client/message.rs, `get_message_events_route`). Its `to` stops only at an
    /// event of exactly that position, which a sync token (a server-wide count) need not be:
    /// the events already looked at are what bounds the paging here.
    async fn gap(
        &self,
        room: &str,
        prev_batch: &str,
        since: &str,
        stop: [&str; 2],
        deadline: Instant,
    ) -> Result<Vec<Value>, Failure> {
        let filter = json!({"types": ["m.room.message"]}).to_string();
        let mut from = prev_batch.to_owned();
        let mut found = Vec::new();
        for _ in 0..GAP_PAGES {
            if Instant::now() >= deadline {
                break;
            }
            let path = format!(
                "/_matrix/client/v3/rooms/{}/messages?dir=b&from={}&to={}&limit={GAP_PAGE}&filter={}",
                encode(room),
                encode(&from),
                encode(since),
                encode(&filter)
            );
            let resp = self.api.send(Request::get(path)).await?;
            if resp.status != 200 {
                return Err(refused(
                    &format!("reading {}'s history", self.alias()),
                    &resp,
                ));
            }
            let body = resp.json();
            let chunk = body["chunk"].as_array().cloned().unwrap_or_default();
            let empty = chunk.is_empty();
            for event in chunk {
                if event["event_id"]
                    .as_str()
                    .is_some_and(|id| stop.contains(&id))
                {
                    found.reverse();
                    return Ok(found);
                }
                found.push(event);
            }
            match token(&body["end"]) {
                Some(end) if !empty && end != from => from = end,
                // The start of the room, or the previous sync position (`to`).
                _ => {
                    found.reverse();
                    return Ok(found);
                }
            }
        }
        tracing::warn!(
            "admin room {}: more than {} messages arrived between two syncs; the older ones are not read",
            self.alias(),
            GAP_PAGES * GAP_PAGE
        );
        found.reverse();
        Ok(found)
    }

    /// The bot's answer to the event `command_id`, if `event` is it: sent by the server user,
    /// replying to the command (src/admin/processor.rs, `reply`).
    fn answer_to(
        &self,
        event: &Value,
        command_id: &str,
        command: &Command,
    ) -> Result<Option<Reply>, Failure> {
        let replies_to = event["content"]["m.relates_to"]["m.in_reply_to"]["event_id"].as_str();
        if event["sender"].as_str() != Some(&self.bot()) || replies_to != Some(command_id) {
            return Ok(None);
        }
        if event["type"] != "m.room.message" {
            return Ok(None);
        }
        if event["content"]["msgtype"] == "m.file" {
            return Err(Failure::Rejected(format!(
                "the admin bot answered `{}` with a file (an answer longer than 60,000 bytes), which provision does not read",
                command.shown()
            )));
        }
        let body = event["content"]["body"].as_str().unwrap_or("");
        Ok(Some(match reply(body) {
            Reply::Ran(t) => Reply::Ran(t),
            Reply::Failed(e) => Reply::Failed(command.redact(&e)),
        }))
    }

    /// `GET /sync` of the admin room only: its `next_batch`, new timeline events, and the
    /// timeline's `prev_batch` when it is `limited` (more new events than [`TIMELINE`]: a
    /// gap). Without `since`, only the position (one event at most is returned, and not looked
    /// at).
    async fn sync(
        &self,
        room: &str,
        since: Option<&str>,
        wait: Duration,
    ) -> Result<Synced, Failure> {
        let limit = if since.is_some() { TIMELINE } else { 1 };
        let filter = json!({
            "presence": {"types": []},
            "account_data": {"types": []},
            "room": {
                "rooms": [room],
                "timeline": {"limit": limit, "types": ["m.room.message"]},
                "state": {"types": []},
                "ephemeral": {"types": []},
                "account_data": {"types": []},
            },
        });
        let mut path = format!(
            "/_matrix/client/v3/sync?filter={}&timeout={}",
            encode(&filter.to_string()),
            wait.as_millis()
        );
        if let Some(since) = since {
            path.push_str(&format!("&since={}", encode(since)));
        }
        let resp = self.api.send(Request::get(path)).await?;
        if resp.status != 200 {
            return Err(refused("sync", &resp));
        }
        let body = resp.json();
        let next = token(&body["next_batch"])
            .ok_or_else(|| Failure::Rejected("sync: no usable next_batch in the answer".into()))?;
        let timeline = &body["rooms"]["join"][room]["timeline"];
        let (events, gap) = match since {
            None => (Vec::new(), None),
            Some(_) => {
                let gap = if timeline["limited"] == true {
                    Some(token(&timeline["prev_batch"]).ok_or_else(|| {
                        Failure::Rejected(
                            "sync: a limited timeline without a usable prev_batch".into(),
                        )
                    })?)
                } else {
                    None
                };
                let events = timeline["events"].as_array().cloned().unwrap_or_default();
                (events, gap)
            }
        };
        Ok(Synced { next, events, gap })
    }

    /// A failed command or an answer provision does not recognise, with the bot's words
    /// (the password taken out).
    fn unexpected(&self, command: &Command, reply: Reply) -> Failure {
        match reply {
            Reply::Failed(e) => Failure::Rejected(format!(
                "the admin bot refused `{}`: {}",
                command.shown(),
                command.redact(&e)
            )),
            Reply::Ran(text) => Failure::Rejected(format!(
                "the admin bot answered `{}` with something provision does not recognise: {}",
                command.shown(),
                command.redact(&first_lines(&text))
            )),
        }
    }
}

/// The start of a long answer, on one line, for an error message.
fn first_lines(text: &str) -> String {
    let one: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let joined = one.join(" / ");
    match joined.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &joined[..i]),
        None => joined,
    }
}

fn refused(what: &str, resp: &Response) -> Failure {
    let hint = match resp.status {
        401 => " (admin_token is not a valid access token)",
        403 => " (admin_token's user is not in the admin room, or may not do this)",
        _ => "",
    };
    Failure::Rejected(format!("{what}: {}{hint}", resp.describe()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_command_is_read_from_upstreams_error_block() {
        assert_eq!(
            reply("Command failed with error:\n```\nUser @a:x.org already exists\n```"),
            Reply::Failed("User @a:x.org already exists".into())
        );
        // Captured log lines come first (processor.rs, `process`).
        assert_eq!(
            reply(
                "| level | message |\n| --- | --- |\n| WARN | x |\nCommand failed with error:\n```\nAdmin users cannot be locked.\n```"
            ),
            Reply::Failed("Admin users cannot be locked.".into())
        );
        assert_eq!(
            reply("error: unrecognized subcommand 'create-usr'\n\nUsage: admin users <COMMAND>"),
            Reply::Failed("error: unrecognized subcommand 'create-usr'".into())
        );
        let created = "Created user with user_id: @a:x.org and password: `pw`";
        assert_eq!(reply(created), Reply::Ran(created.into()));
    }

    #[test]
    fn list_users_is_parsed_only_when_it_is_upstreams_answer() {
        let answer = "Found 2 local user account(s):\n```\n@a:x.org\n@b:x.org\n```";
        assert_eq!(
            listed(answer),
            Some(vec!["@a:x.org".to_owned(), "@b:x.org".to_owned()])
        );
        assert_eq!(
            listed("Found 0 local user account(s):\n```\n\n```"),
            Some(vec![])
        );
        // A count that does not match, a line that is no user ID, or another answer.
        assert_eq!(
            listed("Found 3 local user account(s):\n```\n@a:x.org\n```"),
            None
        );
        assert_eq!(
            listed("Found 1 local user account(s):\n```\nnot a user\n```"),
            None
        );
        assert_eq!(listed("User @a:x.org has been locked."), None);
    }

    #[test]
    fn a_password_the_bot_would_misread_is_refused_and_never_shown() {
        for bad in ["two words", "-flag", "", "tab\there", "line\nbreak"] {
            let p = SecretString::from(bad.to_owned());
            assert!(
                Command::with_password("users x".into(), &p).is_err(),
                "{bad:?}"
            );
        }
        let p = SecretString::from("s3cret-Pass".to_owned());
        let c = Command::with_password("users create-user @a:x.org".into(), &p).unwrap();
        assert_eq!(c.body(), "!admin users create-user @a:x.org s3cret-Pass");
        assert_eq!(c.shown(), "!admin users create-user @a:x.org '********'");
        assert_eq!(
            c.redact("Created user with user_id: @a:x.org and password: `s3cret-Pass`"),
            "Created user with user_id: @a:x.org and password: `[redacted]`"
        );
    }

    #[test]
    fn only_a_plain_room_id_reaches_a_path() {
        assert_eq!(room_id("!abc:x.org"), Some("!abc:x.org"));
        for bad in ["", "!", "#admins:x.org", "!a/../b", "!a b", "!a?x=1", "abc"] {
            assert_eq!(room_id(bad), None, "{bad:?}");
        }
    }

    fn backend(http: std::sync::Arc<crate::testing::Scripted>) -> AdminRoom {
        AdminRoom {
            api: AdminSession::given(http, "t"),
            via: String::new(),
            server_name: "x.org".into(),
            reply_timeout: Duration::from_secs(1),
            room: OnceCell::new(),
        }
    }

    /// A sync answer with these events in the admin room.
    fn synced(next: &str, events: Vec<Value>) -> (u16, Value) {
        (
            200,
            json!({"next_batch": next, "rooms": {"join": {"!r:x.org": {"timeline": {"events": events}}}}}),
        )
    }

    fn from_bot(to: &str, body: &str) -> Value {
        json!({"type": "m.room.message", "sender": "@conduit:x.org", "content": {
            "msgtype": "m.notice", "body": body,
            "m.relates_to": {"m.in_reply_to": {"event_id": to}}}})
    }

    #[test]
    fn register_sends_the_command_then_waits_for_the_bots_reply_to_it() {
        let http = crate::testing::Scripted::new(vec![
            (200, json!({"room_id": "!r:x.org", "servers": ["x.org"]})),
            synced("s1", vec![]),
            (200, json!({"event_id": "$cmd"})),
            // Something else first: the bot's answer to an older command, a stranger's line.
            synced(
                "s2",
                vec![from_bot(
                    "$old",
                    "Created user with user_id: @a:x.org and password: `x`",
                )],
            ),
            synced(
                "s3",
                vec![from_bot(
                    "$cmd",
                    "Created user with user_id: @a:x.org and password: `pw-1`",
                )],
            ),
        ]);
        let room = backend(http.clone());
        let user = UserId::new("a", "x.org").unwrap();
        let password = SecretString::from("pw-1".to_owned());
        let outcome =
            crate::testing::block_on(room.register(&Registration::new(&user, &password, false)));
        assert_eq!(outcome, Ok(Outcome::Created { admin: false }));
        let requests = http.requests();
        assert_eq!(
            requests[0],
            "Get /_matrix/client/v3/directory/room/%23admins%3Ax.org"
        );
        assert!(
            requests[1].starts_with("Get /_matrix/client/v3/sync?filter=%7B"),
            "{}",
            requests[1]
        );
        assert!(requests[1].ends_with("&timeout=0"), "{}", requests[1]);
        assert!(requests[2].starts_with(
            "Put /_matrix/client/v3/rooms/%21r%3Ax.org/send/m.room.message/provision-"
        ));
        assert!(requests[3].ends_with("&since=s1"), "{}", requests[3]);
        assert!(requests[4].ends_with("&since=s2"), "{}", requests[4]);
        let seen = http.seen.lock().unwrap();
        assert_eq!(
            seen[2].1,
            Some(json!({"msgtype": "m.text", "body": "!admin users create-user @a:x.org pw-1"}))
        );
    }

    #[test]
    fn an_existing_user_is_ok_and_a_refusal_is_the_bots_words_without_the_password() {
        let answers = |body: &str| {
            vec![
                (200, json!({"room_id": "!r:x.org"})),
                synced("s1", vec![]),
                (200, json!({"event_id": "$cmd"})),
                synced("s2", vec![from_bot("$cmd", body)]),
            ]
        };
        let user = UserId::new("a", "x.org").unwrap();
        let password = SecretString::from("pw-1".to_owned());
        let reg = Registration::new(&user, &password, false);
        let http = crate::testing::Scripted::new(answers(
            "Command failed with error:\n```\nUser @a:x.org already exists\n```",
        ));
        let outcome = crate::testing::block_on(backend(http).register(&reg));
        assert_eq!(outcome, Ok(Outcome::Exists));
        let http = crate::testing::Scripted::new(answers(
            "Command failed with error:\n```\nCould not hash pw-1\n```",
        ));
        let outcome = crate::testing::block_on(backend(http).register(&reg));
        assert_eq!(
            outcome,
            Err(Failure::Rejected(
                "the admin bot refused `!admin users create-user @a:x.org '********'`: Could not hash [redacted]".into()
            ))
        );
    }

    #[test]
    fn the_answer_is_the_bots_reply_to_the_command_and_nothing_else() {
        let room = backend(crate::testing::Scripted::new(vec![]));
        let command = Command::plain("users list-users".into());
        let event = |sender: &str, to: &str, body: &str| {
            json!({"type": "m.room.message", "sender": sender, "content": {
                "msgtype": "m.notice", "body": body,
                "m.relates_to": {"m.in_reply_to": {"event_id": to}}}})
        };
        let ok = event("@conduit:x.org", "$cmd", "User @a:x.org has been locked.");
        assert_eq!(
            room.answer_to(&ok, "$cmd", &command).unwrap(),
            Some(Reply::Ran("User @a:x.org has been locked.".into()))
        );
        // Another sender, or a reply to another command, is not the answer.
        let other = event("@mallory:x.org", "$cmd", "User @a:x.org has been locked.");
        assert_eq!(room.answer_to(&other, "$cmd", &command).unwrap(), None);
        let earlier = event("@conduit:x.org", "$old", "User @a:x.org has been locked.");
        assert_eq!(room.answer_to(&earlier, "$cmd", &command).unwrap(), None);
        let plain = json!({"type": "m.room.message", "sender": "@conduit:x.org",
            "content": {"msgtype": "m.text", "body": "Making @a:x.org leave all rooms after deactivation..."}});
        assert_eq!(room.answer_to(&plain, "$cmd", &command).unwrap(), None);
    }

    #[test]
    fn a_password_hash_query_tells_deactivated_from_absent() {
        let answer = |result: &str| format!("Query completed in 1.2ms:\n\n```rs\n{result}\n```");
        assert_eq!(
            password_hash(&answer("Ok(\n    \"\",\n)")),
            Some(Hash::Empty)
        );
        assert_eq!(
            password_hash(&answer(
                "Ok(\n    \"$argon2id$v=19$m=19456,t=2,p=1$x$y\",\n)"
            )),
            Some(Hash::Set)
        );
        assert_eq!(
            password_hash(&answer("Err(\n    M_NOT_FOUND: Not found in database,\n)")),
            Some(Hash::Missing)
        );
        // Another error, or not that answer at all.
        assert_eq!(
            password_hash(&answer("Err(\n    Database error: IO error,\n)")),
            None
        );
        assert_eq!(password_hash("User @a:x.org has been locked."), None);
        assert_eq!(password_hash(&answer("Ok(\n    42,\n)")), None);
    }

    /// The answers to one command: the sync position, the send, the bot's reply.
    fn command(event: &str, body: &str) -> Vec<(u16, Value)> {
        vec![
            synced("p", vec![]),
            (200, json!({"event_id": event})),
            synced("q", vec![from_bot(event, body)]),
        ]
    }

    fn query(result: &str) -> String {
        format!("Query completed in 3ms:\n\n```rs\n{result}\n```")
    }

    #[test]
    fn deactivating_a_deactivated_user_is_ok_and_an_absent_one_is_refused_unsent() {
        let user = UserId::new("gone", "x.org").unwrap();
        let change = Change::Deactivate { erase: false };
        // Not listed; its password hash is empty: deactivated. No deactivate is sent.
        let mut answers = vec![(200, json!({"room_id": "!r:x.org"}))];
        answers.extend(command(
            "$list",
            "Found 1 local user account(s):\n```\n@admin:x.org\n```",
        ));
        answers.extend(command("$q", &query("Ok(\n    \"\",\n)")));
        answers.push((
            200,
            json!({"joined": {"@admin:x.org": {}, "@conduit:x.org": {}}}),
        ));
        let http = crate::testing::Scripted::new(answers);
        let outcome = crate::testing::block_on(backend(http.clone()).change(&user, &change, false));
        assert_eq!(
            outcome,
            Ok(Outcome::Already {
                change: crate::outcome::Changed::Deactivated
            })
        );
        let seen = http.seen.lock().unwrap();
        let bodies: Vec<_> = seen
            .iter()
            .filter_map(|(_, b)| b.as_ref()?["body"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(
            bodies,
            [
                "!admin users list-users",
                "!admin query users password-hash @gone:x.org"
            ]
        );
        drop(seen);

        // No hash at all: no such user, and still no deactivate (it would make the account).
        let mut answers = vec![(200, json!({"room_id": "!r:x.org"}))];
        answers.extend(command(
            "$list",
            "Found 1 local user account(s):\n```\n@admin:x.org\n```",
        ));
        answers.extend(command(
            "$q",
            &query("Err(\n    M_NOT_FOUND: Not found in database,\n)"),
        ));
        let http = crate::testing::Scripted::new(answers);
        let outcome = crate::testing::block_on(backend(http.clone()).change(&user, &change, false));
        assert_eq!(
            outcome,
            Err(Failure::Rejected("no such user @gone:x.org".into()))
        );
        assert_eq!(http.requests().len(), 7);
    }

    #[test]
    fn an_answer_in_a_limited_syncs_gap_is_read_back_from_the_rooms_history() {
        let chatter = |n: u32| {
            json!({"type": "m.room.message", "sender": "@chatter:x.org", "event_id": format!("$c{n}"),
                "content": {"msgtype": "m.text", "body": format!("line {n}")}})
        };
        let mut answer = from_bot("$cmd", "User @a:x.org has been locked.");
        answer["event_id"] = "$answer".into();
        let mut cmd = json!({"type": "m.room.message", "sender": "@admin:x.org", "event_id": "$cmd",
            "content": {"msgtype": "m.text", "body": "!admin users lock @a:x.org"}});
        cmd["event_id"] = "$cmd".into();
        let http = crate::testing::Scripted::new(vec![
            (200, json!({"room_id": "!r:x.org"})),
            synced("s1", vec![]),
            (200, json!({"event_id": "$cmd"})),
            // The sync holds only the newest chatter: the answer is in the gap before it.
            (
                200,
                json!({"next_batch": "s9", "rooms": {"join": {"!r:x.org": {"timeline": {
                    "events": [chatter(5), chatter(6)], "limited": true, "prev_batch": "p5"}}}}}),
            ),
            // Newest first: chatter, the answer, more chatter, then the command: stop there.
            (
                200,
                json!({"start": "p5", "end": "p2", "chunk": [chatter(4), chatter(3)]}),
            ),
            (
                200,
                json!({"start": "p2", "end": "p0", "chunk": [answer, chatter(1), cmd, chatter(0)]}),
            ),
        ]);
        let room = backend(http.clone());
        let got = crate::testing::block_on(room.run(&Command::plain("users lock @a:x.org".into())));
        assert_eq!(got, Ok(Reply::Ran("User @a:x.org has been locked.".into())));
        let requests = http.requests();
        assert_eq!(requests.len(), 6, "{requests:#?}");
        assert!(
            requests[4].starts_with(
                "Get /_matrix/client/v3/rooms/%21r%3Ax.org/messages?dir=b&from=p5&to=s1&limit=100&filter="
            ),
            "{}",
            requests[4]
        );
        assert!(
            requests[5].contains("?dir=b&from=p2&to=s1&"),
            "{}",
            requests[5]
        );
        assert!(requests[3].contains("%22limit%22%3A50"), "{}", requests[3]);
    }
}
