//! The Synapse admin API (synapse/rest/admin/users.py, `UserRestServletV2`):
//! `GET /_synapse/admin/v2/users/{user_id}` reads a user, `PUT` with `{"admin": bool}` changes
//! the flag. Takes effect at once, unlike a database update. Needs a server admin's access
//! token. Registration tokens through synapse/rest/admin/registration_tokens.py; rooms
//! through synapse/rest/admin/rooms.py (`JoinRoomAliasServlet`) and users.py
//! (`UserMembershipRestServlet`).

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::account::{
    Account, Change, ListFilter, Listed, Op, Page, RegistrationToken, TokenTerms, UserState,
};
use crate::admin_api::{AdminApiConfig, AdminSession};
use crate::matrix::MatrixAnswer;
use crate::port::Ports;
use crate::port::http::{Request, Response, encode};
use crate::registration_tokens::TokenApi;
use crate::settings::{Backend, Config, Settings};
use crate::{Failure, Outcome, UserId};

pub struct SynapseAdminApi {
    api: AdminSession,
    via: String,
}

struct SynapseAdminApiConfig(AdminApiConfig);

impl Backend for SynapseAdminApi {
    const NAME: &'static str = "synapse-api";
    const KEYS: &'static [&'static str] = &["url", "url_on_host", "admin_token"];
    const OPS: &'static [Op] = &[
        Op::Read,
        Op::SetAdmin,
        Op::SetPassword,
        Op::Lock,
        Op::Deactivate,
        Op::Reactivate,
        Op::List,
        Op::Profile,
        Op::Join,
        Op::Tokens,
    ];
    const RUNS_PROGRAMS: bool = false;

    fn configure<S: Settings>(s: &S) -> Result<Box<dyn Config>, S::Error> {
        Ok(Box::new(SynapseAdminApiConfig(AdminApiConfig::read(
            s,
            Self::NAME,
            "a server admin's access token",
        )?)))
    }
}

impl Config for SynapseAdminApiConfig {
    fn show(&self) -> serde_json::Value {
        self.0.show(SynapseAdminApi::NAME)
    }

    fn admin_api(&self) -> Option<&AdminApiConfig> {
        Some(&self.0)
    }

    fn build(&self, ports: &dyn Ports) -> Result<Box<dyn Account>, String> {
        let (api, via) = self.0.open(ports, "the Synapse admin API")?;
        Ok(Box::new(SynapseAdminApi { api, via }))
    }
}

#[async_trait]
impl Account for SynapseAdminApi {
    fn via(&self) -> String {
        self.via.clone()
    }

    /// Logs out an `admin_token` login's device.
    async fn close(&self) {
        self.api.close().await;
    }

    /// Whose token it is, and that it is a server admin's.
    async fn ping(&self) -> Result<String, Failure> {
        let me = self.api.whoami().await?.map_err(|resp| refused(&resp))?;
        let resp = self
            .api
            .send(Request::get(format!(
                "/_synapse/admin/v2/users/{}",
                encode(&me)
            )))
            .await?;
        match resp.status {
            200 => Ok(format!(
                "Synapse admin API answers; admin_token is {me}'s, a server admin"
            )),
            _ => Err(refused(&resp)),
        }
    }

    /// The user's record (synapse/handlers/admin.py, `get_user`): `creation_ts` there is in
    /// seconds.
    async fn read(&self, user: &UserId) -> Result<Option<UserState>, Failure> {
        Ok(self.record(user).await?.map(|body| state(&body, 1000)))
    }

    /// Reads the user first: a state already reached is `ok`, and a missing user is an error
    /// (a `PUT` on one would create it).
    async fn change(
        &self,
        user: &UserId,
        change: &Change<'_>,
        check: bool,
    ) -> Result<Outcome, Failure> {
        let Some(record) = self.record(user).await? else {
            return Err(Failure::Rejected(format!("no such user {user}")));
        };
        let now = state(&record, 1000);
        if let Some(settled) = change.settled(&now, check) {
            return Ok(settled);
        }
        let request = match change {
            // synapse/rest/admin/users.py, `ResetPasswordRestServlet`.
            Change::Password { password, logout } => Request::post(
                format!(
                    "/_synapse/admin/v1/reset_password/{}",
                    encode(&user.to_string())
                ),
                json!({"new_password": password.expose_secret(), "logout_devices": logout}),
            ),
            // `UserRestServletV2.on_PUT` changes only the keys it is given.
            Change::Lock(lock) => Request::put(path(user), json!({ "locked": lock })),
            // `DeactivateAccountRestServlet`: `erase` only when asked.
            Change::Deactivate { erase } => Request::post(
                format!(
                    "/_synapse/admin/v1/deactivate/{}",
                    encode(&user.to_string())
                ),
                json!({ "erase": erase }),
            ),
            Change::Reactivate { password } => {
                let mut body = json!({ "deactivated": false });
                if let Some(p) = password {
                    body["password"] = p.expose_secret().into();
                }
                Request::put(path(user), body)
            }
            Change::DisplayName(name) => Request::put(path(user), json!({ "displayname": name })),
            // null clears it (synapse/rest/admin/users.py, `UserRestServletV2.on_PUT`: the type
            // is set whenever the body has the key).
            Change::UserType(kind) => Request::put(path(user), json!({ "user_type": kind })),
            // `threepids` replaces every third-party ID the user has: its phone numbers go
            // back as they are.
            Change::Emails(emails) => {
                let mut threepids: Vec<serde_json::Value> = record["threepids"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|t| t["medium"] != "email")
                    .map(|t| json!({"medium": t["medium"], "address": t["address"]}))
                    .collect();
                threepids.extend(
                    emails
                        .iter()
                        .map(|a| json!({"medium": "email", "address": a})),
                );
                Request::put(path(user), json!({ "threepids": threepids }))
            }
            // `JoinRoomAliasServlet`: the admin invites first where the room is not public.
            Change::Join(room) => Request::post(
                format!("/_synapse/admin/v1/join/{}", encode(room)),
                json!({ "user_id": user.to_string() }),
            ),
        };
        let resp = self.api.send(request).await?;
        let note = match change {
            Change::Reactivate { password: None } => {
                Some("no password was set: the user can log in once one is".to_owned())
            }
            _ => None,
        };
        if !matches!(resp.status, 200 | 201) {
            return Err(refused(&resp));
        }
        // A server that serves this API without Synapse's `locked` (tuwunel lists `PUT
        // /v2/users` without it) answers 200 and leaves the user as it was: only a read
        // tells.
        if let Change::Lock(lock) = change {
            let after = self.read(user).await?.and_then(|s| s.locked);
            if after != Some(*lock) {
                return Err(Failure::Rejected(format!(
                    "the server accepted the request but the user is {}: it does not implement Synapse's `locked`",
                    if *lock { "not locked" } else { "still locked" }
                )));
            }
        }
        Ok(Outcome::Done {
            change: change.kind(),
            note,
        })
    }

    /// `GET /_synapse/admin/v2/users` (`UsersRestServletV2`), deactivated and locked users
    /// included, guests not (a server whose accounts MAS owns refuses `guests=true`, the
    /// default). `creation_ts` is in milliseconds there; the cursor is the next offset.
    async fn list(&self, filter: &ListFilter, cursor: Option<&str>) -> Result<Page, Failure> {
        let from = cursor.unwrap_or("0");
        if from.is_empty() || !from.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Failure::Rejected(format!(
                "Synapse admin API: unexpected next_token {from:?}"
            )));
        }
        let mut query = format!(
            "/_synapse/admin/v2/users?from={from}&limit={PAGE}&deactivated=true&locked=true&guests=false"
        );
        if filter.admins {
            query.push_str("&admins=true");
        }
        let resp = self.api.send(Request::get(query)).await?;
        if resp.status != 200 {
            return Err(refused(&resp));
        }
        let body = resp.json();
        let users = body["users"]
            .as_array()
            .ok_or_else(|| Failure::Rejected("Synapse admin API: no users in the list".into()))?
            .iter()
            .filter_map(|u| {
                Some(Listed {
                    user_id: u["name"].as_str()?.to_owned(),
                    state: state(u, 1),
                })
            })
            .collect();
        let next = body["next_token"].as_str().map(str::to_owned);
        Ok(Page { users, next })
    }

    /// `UserMembershipRestServlet`.
    async fn rooms(&self, user: &UserId) -> Result<Vec<String>, Failure> {
        let resp = self
            .api
            .send(Request::get(format!(
                "/_synapse/admin/v1/users/{}/joined_rooms",
                encode(&user.to_string())
            )))
            .await?;
        if resp.status != 200 {
            return Err(refused(&resp));
        }
        let rooms = resp.json()["joined_rooms"]
            .as_array()
            .ok_or_else(|| Failure::Rejected("Synapse admin API: no joined_rooms".into()))?
            .iter()
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect();
        Ok(rooms)
    }

    /// An ID is its own; an alias is asked of the room directory
    /// (synapse/rest/client/directory.py, `ClientDirectoryServer.on_GET`).
    async fn room_id(&self, room: &str) -> Result<Option<String>, Failure> {
        if room.starts_with('!') {
            return Ok(Some(room.to_owned()));
        }
        let resp = self
            .api
            .send(Request::get(format!(
                "/_matrix/client/v3/directory/room/{}",
                encode(room)
            )))
            .await?;
        match resp.status {
            200 => Ok(resp.json()["room_id"].as_str().map(str::to_owned)),
            404 => Ok(None),
            _ => Err(refused(&resp)),
        }
    }

    /// `NewRegistrationTokenRestServlet`.
    async fn issue_token(&self, terms: &TokenTerms) -> Result<RegistrationToken, Failure> {
        self.tokens().issue(terms).await
    }

    /// `ListRegistrationTokensRestServlet`.
    async fn list_tokens(&self, valid: Option<bool>) -> Result<Vec<RegistrationToken>, Failure> {
        self.tokens().list(valid).await
    }

    /// `RegistrationTokenRestServlet.on_DELETE`: a token it does not have is a 404.
    async fn revoke_token(&self, token: &SecretString, check: bool) -> Result<Outcome, Failure> {
        self.tokens().revoke(token, check).await
    }

    async fn set_admin(&self, user: &UserId, admin: bool, check: bool) -> Result<Outcome, Failure> {
        if self.current(user).await? == admin {
            return Ok(Outcome::AdminAlready { admin });
        }
        if check {
            return Ok(Outcome::WouldSetAdmin { admin });
        }
        // Only `admin` is sent: on an existing user nothing else changes.
        let resp = self
            .api
            .send(Request::put(path(user), json!({ "admin": admin })))
            .await?;
        match resp.status {
            200 | 201 => Ok(Outcome::AdminSet { admin, note: None }),
            _ => Err(refused(&resp)),
        }
    }
}

impl SynapseAdminApi {
    /// The user's record as Synapse answers it, `None` when there is no such user.
    async fn record(&self, user: &UserId) -> Result<Option<serde_json::Value>, Failure> {
        let resp = self.api.send(Request::get(path(user))).await?;
        match resp.status {
            200 => Ok(Some(resp.json())),
            404 => Ok(None),
            _ => Err(refused(&resp)),
        }
    }

    async fn current(&self, user: &UserId) -> Result<bool, Failure> {
        match self.read(user).await? {
            Some(UserState {
                admin: Some(admin), ..
            }) => Ok(admin),
            Some(_) => Err(Failure::Rejected(format!(
                "no admin flag in the answer for {user}"
            ))),
            // A PUT on a missing user would create it: a toggle never does.
            None => Err(Failure::Rejected(format!("no such user {user}"))),
        }
    }

    fn tokens(&self) -> TokenApi<'_> {
        TokenApi {
            api: &self.api,
            base: "/_synapse/admin/v1/registration_tokens",
            server: "Synapse admin API",
            delete_says_absent: true,
            refused,
        }
    }
}

/// Users asked for per page. Synapse pages by offset, so each page costs more the further in
/// it is: a full listing of 10,000 users took 2.2 s in pages of 100 (its default), 0.58 s in
/// pages of 500 and 0.36 s in pages of 2,000 (benches/peers.rs, part 5). A page of 2,000 is at
/// most about 1.5 MB (display names are capped at 256 characters), under the HTTP transport's
/// 4 MiB body limit.
const PAGE: u32 = 2000;

/// A user's state from a record of Synapse's; `created_scale` turns its `creation_ts` into
/// milliseconds.
fn state(body: &serde_json::Value, created_scale: u64) -> UserState {
    // Older Synapse versions answer 0/1 where newer ones answer booleans.
    let flag = |k: &str| {
        body[k]
            .as_bool()
            .or_else(|| body[k].as_u64().map(|v| v != 0))
    };
    UserState {
        admin: flag("admin"),
        deactivated: flag("deactivated"),
        erased: flag("erased"),
        locked: flag("locked"),
        // A listing's records have no `threepids`; a record without `displayname` says
        // nothing of it.
        display_name: body
            .get("displayname")
            .map(|n| n.as_str().map(str::to_owned)),
        emails: body["threepids"].as_array().map(|t| {
            t.iter()
                .filter(|t| t["medium"] == "email")
                .filter_map(|t| t["address"].as_str().map(str::to_owned))
                .collect()
        }),
        // A record without `user_type` says nothing of it; null is a regular user.
        user_type: body.get("user_type").map(|t| t.as_str().map(str::to_owned)),
        created_ms: body["creation_ts"].as_u64().map(|t| t * created_scale),
        last_seen_ms: body["last_seen_ts"].as_u64(),
    }
}

fn path(user: &UserId) -> String {
    format!("/_synapse/admin/v2/users/{}", encode(&user.to_string()))
}

fn refused(resp: &Response) -> Failure {
    let hint = match resp.status {
        401 => " (admin_token is not a valid access token)",
        403 => " (admin_token does not belong to a server admin)",
        400 if resp.matrix_error().1.contains("demote yourself") => {
            " (admin_token belongs to this very user)"
        }
        _ if resp.matrix_error().1.contains("MAS") => {
            " (this host's accounts are managed by MAS: use admin_backend: mas-api)"
        }
        _ => "",
    };
    Failure::Rejected(format!("Synapse admin API: {}{hint}", resp.describe()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Changed;
    use crate::testing::{Scripted, block_on};

    fn run(
        answers: Vec<(u16, serde_json::Value)>,
        admin: bool,
    ) -> (Result<Outcome, Failure>, std::sync::Arc<Scripted>) {
        let http = Scripted::new(answers);
        let user = UserId::new("john", "example.com").unwrap();
        let api = SynapseAdminApi {
            api: AdminSession::given(http.clone(), "syt_token"),
            via: String::new(),
        };
        let out = block_on(api.set_admin(&user, admin, false));
        (out, http)
    }

    #[test]
    fn reads_then_puts_only_the_admin_key() {
        let (out, http) = run(
            vec![
                (200, json!({"admin": false})),
                (200, json!({"admin": true})),
            ],
            true,
        );
        assert_eq!(
            out,
            Ok(Outcome::AdminSet {
                admin: true,
                note: None
            })
        );
        assert_eq!(
            http.requests(),
            [
                "Get /_synapse/admin/v2/users/%40john%3Aexample.com",
                "Put /_synapse/admin/v2/users/%40john%3Aexample.com"
            ]
        );
        assert_eq!(http.seen.lock().unwrap()[1].1, Some(json!({"admin": true})));
        assert_eq!(
            http.auth.lock().unwrap()[1].as_deref(),
            Some("Bearer syt_token")
        );
    }

    #[test]
    fn unchanged_is_ok_and_missing_is_an_error() {
        let (out, http) = run(vec![(200, json!({"admin": true}))], true);
        assert_eq!(out, Ok(Outcome::AdminAlready { admin: true }));
        assert_eq!(http.requests().len(), 1);
        let (out, _) = run(vec![(404, json!({"errcode": "M_NOT_FOUND"}))], true);
        assert!(matches!(out, Err(Failure::Rejected(m)) if m.contains("no such user")));
    }

    #[test]
    fn a_non_admin_token_is_explained() {
        let (out, _) = run(
            vec![(
                403,
                json!({"errcode": "M_FORBIDDEN", "error": "You are not a server admin"}),
            )],
            true,
        );
        assert!(
            matches!(out, Err(Failure::Rejected(m)) if m.contains("does not belong to a server admin"))
        );
    }

    fn tokens_api(
        answers: Vec<(u16, serde_json::Value)>,
    ) -> (SynapseAdminApi, std::sync::Arc<Scripted>) {
        let http = Scripted::new(answers);
        let api = SynapseAdminApi {
            api: AdminSession::given(http.clone(), "syt_token"),
            via: String::new(),
        };
        (api, http)
    }

    #[test]
    fn a_token_is_issued_with_every_term_sent_and_never_debug_printed() {
        let answer = json!({"token": "abcDEF123-_.~xyz", "uses_allowed": null, "pending": 0,
            "completed": 0, "expiry_time": 1_900_000_000_000u64});
        let (api, http) = tokens_api(vec![(200, answer)]);
        let terms = TokenTerms {
            uses_allowed: None,
            expiry_ms: Some(1_900_000_000_000),
            length: 16,
        };
        let issued = block_on(api.issue_token(&terms)).unwrap();
        assert_eq!(issued.token, "abcDEF123-_.~xyz");
        assert_eq!(issued.expiry_ms, Some(1_900_000_000_000));
        assert!(!format!("{issued:?}").contains("abcDEF"));
        assert_eq!(
            http.requests(),
            ["Post /_synapse/admin/v1/registration_tokens/new"]
        );
        // `uses_allowed: null` is sent, not left out: unlimited on purpose.
        assert_eq!(
            http.seen.lock().unwrap()[0].1,
            Some(json!({"uses_allowed": null, "expiry_time": 1_900_000_000_000u64, "length": 16}))
        );
    }

    #[test]
    fn revoking_an_unknown_token_is_already_done_and_check_only_reads_the_list() {
        let secret = SecretString::from("abc-123".to_owned());
        let (api, http) = tokens_api(vec![
            (200, json!({})),
            (404, json!({"errcode": "M_NOT_FOUND"})),
            (
                200,
                json!({"registration_tokens": [{"token": "abc-123", "pending": 0, "completed": 0}]}),
            ),
            (200, json!({"registration_tokens": []})),
        ]);
        let change = Changed::TokenRevoked;
        let done = block_on(api.revoke_token(&secret, false)).unwrap();
        assert_eq!(done, Outcome::Done { change, note: None });
        let again = block_on(api.revoke_token(&secret, false)).unwrap();
        assert_eq!(again, Outcome::Already { change });
        assert_eq!(
            block_on(api.revoke_token(&secret, true)).unwrap(),
            Outcome::WouldDo { change }
        );
        assert_eq!(
            block_on(api.revoke_token(&secret, true)).unwrap(),
            Outcome::Already { change }
        );
        assert_eq!(
            http.requests()[..],
            [
                "Delete /_synapse/admin/v1/registration_tokens/abc-123",
                "Delete /_synapse/admin/v1/registration_tokens/abc-123",
                "Get /_synapse/admin/v1/registration_tokens",
                "Get /_synapse/admin/v1/registration_tokens",
            ]
        );
    }

    #[test]
    fn listed_tokens_say_whether_they_are_still_valid() {
        let (api, http) = tokens_api(vec![(
            200,
            json!({"registration_tokens": [
                {"token": "used", "uses_allowed": 1, "pending": 0, "completed": 1, "expiry_time": null},
                {"token": "open", "uses_allowed": null, "pending": 3, "completed": 9, "expiry_time": null},
                {"token": "old", "uses_allowed": 5, "pending": 0, "completed": 0, "expiry_time": 1000},
            ]}),
        )]);
        let listed = block_on(api.list_tokens(Some(false))).unwrap();
        let valid: Vec<(&str, bool)> = listed
            .iter()
            .map(|t| (t.token.as_str(), t.valid(2000)))
            .collect();
        assert_eq!(valid, [("used", false), ("open", true), ("old", false)]);
        assert_eq!(
            http.requests(),
            ["Get /_synapse/admin/v1/registration_tokens?valid=false"]
        );
    }

    #[test]
    fn a_lock_the_server_ignores_is_a_failure_not_a_change() {
        let http = Scripted::new(vec![
            (200, json!({"locked": false})),
            (200, json!({})),
            (200, json!({"locked": false})),
        ]);
        let api = SynapseAdminApi {
            api: AdminSession::given(http.clone(), "syt_token"),
            via: String::new(),
        };
        let user = UserId::new("john", "example.com").unwrap();
        let Err(Failure::Rejected(e)) = block_on(api.change(&user, &Change::Lock(true), false))
        else {
            panic!("an ignored lock fails");
        };
        assert!(e.contains("does not implement Synapse's `locked`"), "{e}");
        assert_eq!(http.requests().len(), 3, "read, put, read back");
    }

    #[test]
    fn emails_replace_the_users_emails_and_keep_its_phone_numbers() {
        let http = Scripted::new(vec![
            (
                200,
                json!({"threepids": [
                    {"medium": "email", "address": "old@example.com", "added_at": 1},
                    {"medium": "msisdn", "address": "447700900000", "added_at": 2},
                ]}),
            ),
            (200, json!({})),
            (200, json!({"displayname": "Old"})),
            (200, json!({"room_id": "!g:example.com"})),
        ]);
        let api = SynapseAdminApi {
            api: AdminSession::given(http.clone(), "syt_token"),
            via: String::new(),
        };
        let user = UserId::new("john", "example.com").unwrap();
        let emails = ["new@example.com".to_owned()];
        let done = block_on(api.change(&user, &Change::Emails(&emails), false)).unwrap();
        assert_eq!(done.code(), "emails_set");
        assert_eq!(
            http.seen.lock().unwrap()[1].1,
            Some(json!({"threepids": [
                {"medium": "msisdn", "address": "447700900000"},
                {"medium": "email", "address": "new@example.com"},
            ]}))
        );
        // The same name is already there: nothing is sent.
        let same = block_on(api.change(&user, &Change::DisplayName("Old"), false)).unwrap();
        assert_eq!(same.code(), "display_name_unchanged");
        assert_eq!(
            block_on(api.room_id("#general:example.com"))
                .unwrap()
                .as_deref(),
            Some("!g:example.com")
        );
        assert_eq!(
            http.requests()[3],
            "Get /_matrix/client/v3/directory/room/%23general%3Aexample.com"
        );
        // An ID needs no asking.
        assert_eq!(
            block_on(api.room_id("!x:example.com")).unwrap().as_deref(),
            Some("!x:example.com")
        );
        assert_eq!(http.requests().len(), 4);
    }
}
