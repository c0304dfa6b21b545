//! MAS's admin API (crates/handlers/src/admin/v1/ in element-hq/matrix-authentication-service):
//! a `client_credentials` token with scope `urn:mas:admin` from the token endpoint found
//! through OpenID discovery, then the user endpoints of `users/*.rs` and `user_emails/add.rs`.
//! MAS knows users by localpart (its `username`) and by its own id (a ULID), which every
//! change is addressed to: each reads the user by username first.

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tokio::sync::Mutex;

use crate::account::{
    Account, Change, ListFilter, Listed, Op, Page, Preview, RegistrationToken, TokenTerms,
    UserState,
};
use crate::matrix::MatrixAnswer;
use crate::outcome::Changed;
use crate::port::Ports;
use crate::port::http::{Auth, Http, HttpPort, Request, Response, encode};
use crate::registration::{Fields, SsoLink};
use crate::settings::{Backend, Config, Mas, Settings, reveal};
use crate::{Failure, Outcome, Registration, UserId};

const SCOPE: &str = "urn:mas:admin";

/// What MAS's flag means: it lets the user's future interactive logins ask for Synapse admin;
/// sessions that exist keep the rights they have.
pub const MAS_NOTE: &str =
    "MAS: applies to the user's next logins; existing sessions keep their rights";

pub struct MasAdminApi {
    http: HttpPort,
    /// MAS's public base URL, to check the discovered token endpoint against.
    base: String,
    client_id: String,
    client_secret: SecretString,
    /// One token for the whole run; fetched again once if MAS answers 401 to a kept one.
    token: Mutex<Option<SecretString>>,
    /// The host's server name: a listing gives usernames, the report wants user IDs.
    server_name: String,
    via: String,
}

/// The host's `mas: {url, client_id, client_secret}`, and its server name.
struct MasAdminApiConfig {
    mas: Mas,
    server_name: String,
}

impl Backend for MasAdminApi {
    const NAME: &'static str = "mas-api";
    const KEYS: &'static [&'static str] = &[];
    /// MAS's admin API does every account operation (crates/handlers/src/admin/v1/users/)
    /// but profiles and rooms, which are the homeserver's; and registration tokens
    /// (v1/user_registration_tokens/), which under MAS are MAS's, not the homeserver's.
    const OPS: &'static [Op] = &[
        Op::Register,
        Op::Read,
        Op::SetAdmin,
        Op::SetPassword,
        Op::Lock,
        Op::Deactivate,
        Op::Reactivate,
        Op::List,
        Op::Tokens,
    ];
    /// Emails through `POST /api/admin/v1/user-emails` (user_emails/add.rs), and
    /// `skip_password_check` of users/set_password.rs, and an upstream SSO link
    /// (upstream_oauth_links/add.rs). No display name: only the newest MAS
    /// has an endpoint for it (users/set_displayname.rs), which others answer with 404.
    const FIELDS: Fields = Fields {
        display_name: false,
        emails: true,
        ignore_password_complexity: true,
        user_type: false,
        sso: true,
    };
    const RUNS_PROGRAMS: bool = false;
    const THROUGH_MAS: bool = true;

    fn configure<S: Settings>(s: &S) -> Result<Box<dyn Config>, S::Error> {
        let mas = s.mas().ok_or_else(|| {
            s.missing(
                "mas",
                "mas-api calls MAS's admin API: it needs {url, client_id, client_secret}",
            )
        })?;
        Ok(Box::new(MasAdminApiConfig {
            mas: mas.clone(),
            server_name: s.server_name().to_owned(),
        }))
    }
}

impl Config for MasAdminApiConfig {
    fn show(&self) -> serde_json::Value {
        let mas = &self.mas;
        json!({
            "kind": MasAdminApi::NAME,
            "url": mas.url,
            "client_id": mas.client_id,
            "client_secret": mas.client_secret.to_string(),
        })
    }

    fn build(&self, ports: &dyn Ports) -> Result<Box<dyn Account>, String> {
        let mas = &self.mas;
        let mut api = MasAdminApi::new(
            ports.http(&mas.url)?,
            &mas.url,
            mas.client_id.clone(),
            reveal("mas.client_secret", &mas.client_secret)?,
            &self.server_name,
        );
        api.via = format!(
            "via the MAS admin API at {}, client {} (secret from {})",
            mas.url, mas.client_id, mas.client_secret
        );
        Ok(Box::new(api))
    }
}

#[async_trait]
impl Account for MasAdminApi {
    fn via(&self) -> String {
        self.via.clone()
    }

    /// Discovery works and MAS grants the client an admin token.
    async fn ping(&self) -> Result<String, Failure> {
        self.token(false).await?;
        Ok(format!(
            "MAS grants client {} the {SCOPE} scope",
            self.client_id
        ))
    }

    /// MAS's user resource (crates/handlers/src/admin/model.rs, `User`): `admin`,
    /// `deactivated_at`, `locked_at`.
    async fn read(&self, user: &UserId) -> Result<Option<UserState>, Failure> {
        Ok(self.find(user).await?.map(|(_, state)| state))
    }

    /// users/add.rs: `POST /api/admin/v1/users` `{"username"}` answers 200 with the user, or
    /// 409 "User already exists" (or "Username is reserved by the homeserver"); then its
    /// password, emails, admin flag and SSO link, one request each. A user that exists is left
    /// as it is (its password too) but for its SSO link, which is added when missing: a run
    /// that failed midway is completed by the next. A step that fails after the creation says
    /// what the user lacks.
    async fn register(&self, reg: &Registration<'_>) -> Result<Outcome, Failure> {
        let username = reg.user.localpart();
        let resp = self
            .send(|| Request::post("/api/admin/v1/users", json!({ "username": username })))
            .await?;
        let id = match resp.status {
            200 | 201 => resp.json()["data"]["id"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| {
                    Failure::Rejected("MAS admin API: a created user without data.id".into())
                })?,
            409 if title(&resp) == "User already exists" => {
                let Some(sso) = reg.sso else {
                    return Ok(Outcome::Exists);
                };
                let (id, _) = self.existing(reg.user).await?;
                return Ok(match self.link(&id, sso, false).await? {
                    true => Outcome::Done {
                        change: Changed::SsoLinked,
                        note: Some(format!(
                            "the user existed; linked to provider {}",
                            sso.provider
                        )),
                    },
                    false => Outcome::Exists,
                });
            }
            _ => return Err(mas_error(&resp)),
        };
        self.set_password(&id, reg.password, reg.ignore_password_complexity)
            .await
            .map_err(|e| {
                midway(
                    username,
                    "without a password",
                    e,
                    "`provision password` sets one",
                )
            })?;
        for email in reg.emails {
            let resp = self
                .send(|| {
                    Request::post(
                        "/api/admin/v1/user-emails",
                        json!({ "user_id": id, "email": email }),
                    )
                })
                .await?;
            if resp.status != 201 {
                return Err(midway(
                    username,
                    &format!("without the email {email}"),
                    mas_error(&resp),
                    "add it in MAS",
                ));
            }
        }
        if reg.admin {
            self.post(&id, "set-admin", json!({ "admin": true }), 200)
                .await
                .map_err(|e| {
                    midway(
                        username,
                        "without the admin flag",
                        e,
                        "`provision admin --on` sets it",
                    )
                })?;
        }
        if let Some(sso) = reg.sso {
            self.link(&id, sso, false).await.map_err(|e| {
                midway(
                    username,
                    "without its SSO link",
                    e,
                    "running the same command again adds it",
                )
            })?;
        }
        Ok(Outcome::Created { admin: reg.admin })
    }

    /// `--check` of `register`: MAS tells whether the user exists, and has its SSO link.
    async fn preview(&self, reg: &Registration<'_>) -> Result<Preview, Failure> {
        Ok(Preview::Known(
            match (self.find(reg.user).await?, reg.sso) {
                (Some((id, _)), Some(sso)) => match self.link(&id, sso, true).await? {
                    true => Outcome::WouldDo {
                        change: Changed::SsoLinked,
                    },
                    false => Outcome::Exists,
                },
                (Some(_), None) => Outcome::Exists,
                (None, _) => Outcome::WouldCreate { admin: reg.admin },
            },
        ))
    }

    /// Reads the user first: a state already reached is `ok`, a missing user an error.
    async fn change(
        &self,
        user: &UserId,
        change: &Change<'_>,
        check: bool,
    ) -> Result<Outcome, Failure> {
        let (id, now) = self.existing(user).await?;
        if let Some(settled) = change.settled(&now, check) {
            return Ok(settled);
        }
        self.apply(&id, change).await?;
        let note = match change {
            Change::Deactivate { .. } => {
                Some("MAS locks the user at once and deactivates it on the homeserver in a job")
            }
            // reactivate.rs schedules `ReactivateUserJob` with `unlock: false`: a user that
            // deactivate.rs locked stays locked.
            Change::Reactivate { .. } if now.locked == Some(true) => {
                Some("MAS keeps the user locked: `provision unlock` lets it log in")
            }
            _ => None,
        };
        Ok(Outcome::Done {
            change: change.kind(),
            note: note.map(str::to_owned),
        })
    }

    /// users/list.rs: `GET /api/admin/v1/users`, every user whatever its status, in pages
    /// of `page[first]` after the cursor `page[after]` (params.rs); `links.next` is there only
    /// when a next page is (response.rs).
    async fn list(&self, filter: &ListFilter, cursor: Option<&str>) -> Result<Page, Failure> {
        let mut query = format!("/api/admin/v1/users?page[first]={PAGE}");
        if let Some(after) = cursor {
            query.push_str(&format!("&page[after]={}", encode(after)));
        }
        if filter.admins {
            query.push_str("&filter[admin]=true");
        }
        let resp = self.send(|| Request::get(&query)).await?;
        if resp.status != 200 {
            return Err(mas_error(&resp));
        }
        let body = resp.json();
        let data = body["data"]
            .as_array()
            .ok_or_else(|| Failure::Rejected("MAS admin API: no data in the list".into()))?;
        let users = data
            .iter()
            .filter_map(|u| {
                let attributes = &u["attributes"];
                Some(Listed {
                    user_id: format!("@{}:{}", attributes["username"].as_str()?, self.server_name),
                    state: state(attributes),
                })
            })
            .collect();
        // The cursor of a user is its id; newer MAS also gives it as meta.page.cursor.
        let next = match (body["links"]["next"].is_string(), data.last()) {
            (true, Some(last)) => last["meta"]["page"]["cursor"]
                .as_str()
                .or(last["id"].as_str())
                .map(str::to_owned),
            _ => None,
        };
        Ok(Page { users, next })
    }

    /// user_registration_tokens/add.rs: `POST /api/admin/v1/user-registration-tokens`
    /// `{token, usage_limit, expires_at}`, 201 with the token. Every field is sent: MAS reads
    /// a missing `usage_limit` as unlimited, provision's `None` is sent as `null` only when
    /// unlimited was asked. MAS takes no length (it generates 12 alphanumerics when given no
    /// token), so provision generates the token itself, of `terms.length` alphanumerics: the
    /// same `--length` on every backend.
    async fn issue_token(&self, terms: &TokenTerms) -> Result<RegistrationToken, Failure> {
        let token = random_token(terms.length)?;
        let body = json!({
            "token": token.expose_secret(),
            "usage_limit": terms.uses_allowed,
            "expires_at": terms.expiry_ms.map(rfc3339),
        });
        let resp = self.send(|| Request::post(TOKENS, body.clone())).await?;
        if resp.status != 201 {
            return Err(mas_error(&resp));
        }
        registration_token(&resp.json()["data"]).ok_or_else(|| {
            Failure::Rejected("MAS admin API: no token in the answer to issuing one".into())
        })
    }

    /// user_registration_tokens/list.rs: `GET /api/admin/v1/user-registration-tokens`, every
    /// page; `filter[valid]` is MAS's own (not expired, not revoked, uses left).
    async fn list_tokens(&self, valid: Option<bool>) -> Result<Vec<RegistrationToken>, Failure> {
        Ok(self
            .token_resources(valid)
            .await?
            .iter()
            .filter_map(registration_token)
            .collect())
    }

    /// user_registration_tokens/revoke.rs: `POST .../{id}/revoke`, addressed by MAS's id, so
    /// the token is found in the list first (MAS has no lookup by token). A token MAS does not
    /// have, or has revoked already (revoke.rs answers 400 to that), is the state wanted.
    async fn revoke_token(&self, token: &SecretString, check: bool) -> Result<Outcome, Failure> {
        let change = Changed::TokenRevoked;
        let listed = self.token_resources(None).await?;
        let found = listed
            .iter()
            .find(|t| t["attributes"]["token"].as_str() == Some(token.expose_secret()));
        let id = match found {
            Some(t) if t["attributes"]["revoked_at"].is_null() => t["id"].as_str().unwrap_or(""),
            _ => return Ok(Outcome::Already { change }),
        };
        if check {
            return Ok(Outcome::WouldDo { change });
        }
        let path = format!("{TOKENS}/{}/revoke", encode(id));
        let resp = self.send(|| Request::post(&path, json!({}))).await?;
        match resp.status {
            200 => Ok(Outcome::Done { change, note: None }),
            // Revoked or gone in between.
            400 | 404 => Ok(Outcome::Already { change }),
            _ => Err(mas_error(&resp)),
        }
    }

    async fn set_admin(&self, user: &UserId, admin: bool, check: bool) -> Result<Outcome, Failure> {
        let (id, state) = self.existing(user).await?;
        if state.admin == Some(admin) {
            return Ok(Outcome::AdminAlready { admin });
        }
        if check {
            return Ok(Outcome::WouldSetAdmin { admin });
        }
        self.post(&id, "set-admin", json!({ "admin": admin }), 200)
            .await?;
        Ok(Outcome::AdminSet {
            admin,
            note: Some(MAS_NOTE.into()),
        })
    }
}

/// Users asked for per page (MAS's own default is 10).
const PAGE: u32 = 100;

/// The registration tokens (user_registration_tokens/mod.rs).
const TOKENS: &str = "/api/admin/v1/user-registration-tokens";

/// The links of users to upstream SSO accounts (upstream_oauth_links/mod.rs).
const LINKS: &str = "/api/admin/v1/upstream-oauth-links";

impl MasAdminApi {
    pub fn new(
        http: HttpPort,
        base: &str,
        client_id: String,
        client_secret: SecretString,
        server_name: &str,
    ) -> Self {
        MasAdminApi {
            http,
            base: base.trim_end_matches('/').to_owned(),
            client_id,
            client_secret,
            token: Mutex::new(None),
            server_name: server_name.to_owned(),
            via: String::new(),
        }
    }

    /// The user's id and state, a missing user being an error (no change creates one).
    async fn existing(&self, user: &UserId) -> Result<(String, UserState), Failure> {
        self.find(user)
            .await?
            .ok_or_else(|| Failure::Rejected(format!("no such user {} in MAS", user.localpart())))
    }

    /// Sends the change's requests for the user of MAS id `id`, as users/*.rs take them.
    async fn apply(&self, id: &str, change: &Change<'_>) -> Result<(), Failure> {
        let (action, body) = match change {
            Change::Password { password, logout } => {
                self.set_password(id, password, false).await?;
                if *logout {
                    // kill_sessions.rs ends the sessions that set_password.rs keeps.
                    self.post(id, "kill-sessions", json!({}), 200)
                        .await
                        .map_err(|e| {
                            Failure::Rejected(format!(
                                "the password was set, but the sessions were not ended ({e}); --keep-sessions keeps them"
                            ))
                        })?;
                }
                return Ok(());
            }
            // lock.rs takes no body; unlock.rs reactivates a deactivated user unless told
            // `skip_reactivate`, and reactivating is `provision reactivate`'s job.
            Change::Lock(true) => ("lock", json!({})),
            Change::Lock(false) => ("unlock", json!({ "skip_reactivate": true })),
            // deactivate.rs has the homeserver erase the user unless told `skip_erase` (older
            // MAS, without that field, always does): erasing is only when asked.
            Change::Deactivate { erase } => ("deactivate", json!({ "skip_erase": !erase })),
            // reactivate.rs takes no body.
            Change::Reactivate { .. } => ("reactivate", json!({})),
            // Not in OPS: the router never sends these here.
            Change::DisplayName(_) | Change::Emails(_) | Change::Join(_) | Change::UserType(_) => {
                return Err(crate::account::unsupported(Self::NAME, change.op()));
            }
        };
        self.post(id, action, body, 200).await?;
        if let Change::Reactivate {
            password: Some(password),
        } = change
        {
            self.set_password(id, password, false).await?;
        }
        Ok(())
    }

    /// users/set_password.rs: `{"password", "skip_password_check"}`, 204; 400 "Password is too
    /// weak" under MAS's policy.
    async fn set_password(
        &self,
        id: &str,
        password: &SecretString,
        skip_password_check: bool,
    ) -> Result<(), Failure> {
        let mut body = json!({ "password": password.expose_secret() });
        if skip_password_check {
            body["skip_password_check"] = true.into();
        }
        self.post(id, "set-password", body, 204).await
    }

    /// `POST /api/admin/v1/users/{id}/{action}`, which answers `ok` when done.
    async fn post(
        &self,
        id: &str,
        action: &str,
        body: serde_json::Value,
        ok: u16,
    ) -> Result<(), Failure> {
        let path = format!("/api/admin/v1/users/{}/{action}", encode(id));
        let resp = self.send(|| Request::post(&path, body.clone())).await?;
        match resp.status {
            status if status == ok => Ok(()),
            _ => Err(mas_error(&resp)),
        }
    }

    /// Links the user of MAS id `id` to `sso` unless it is linked already: `true` when it was
    /// (under `check`: would be). upstream_oauth_links/add.rs answers 409 when the user has a
    /// link to the provider whatever its subject, and does not check that the subject is
    /// free: the constraint upstream_oauth_links_subject_unique (crates/storage-pg/migrations/)
    /// refuses it as a 500. So the subject's link is looked up first (list.rs,
    /// `filter[provider]` and `filter[subject]`), and a 409 is explained from the user's links.
    async fn link(&self, id: &str, sso: &SsoLink, check: bool) -> Result<bool, Failure> {
        let query = format!(
            "{LINKS}?filter[provider]={}&filter[subject]={}",
            encode(&sso.provider),
            encode(&sso.subject)
        );
        let resp = self.send(|| Request::get(&query)).await?;
        match resp.status {
            200 => {}
            404 => {
                return Err(Failure::Rejected(format!(
                    "MAS has no upstream OAuth provider {} (its `upstream_oauth2.providers` ids)",
                    sso.provider
                )));
            }
            _ => return Err(mas_error(&resp)),
        }
        if let Some(linked) = resp.json()["data"].as_array().and_then(|d| d.first()) {
            return match linked["attributes"]["user_id"].as_str() {
                Some(user) if user == id => Ok(false),
                Some(user) => Err(Failure::Rejected(format!(
                    "the SSO subject is linked to another MAS user ({user}) for provider {}; unlink it in MAS first",
                    sso.provider
                ))),
                None => Err(Failure::Rejected(format!(
                    "the SSO subject has a link to provider {} that no user claimed yet; remove it in MAS first",
                    sso.provider
                ))),
            };
        }
        if check {
            return Ok(true);
        }
        let body = json!({ "user_id": id, "provider_id": sso.provider, "subject": sso.subject });
        let resp = self.send(|| Request::post(LINKS, body.clone())).await?;
        if resp.status == 201 {
            return Ok(true);
        }
        if resp.status != 409 {
            return Err(mas_error(&resp));
        }
        // The user's link to the provider (list.rs, `filter[user]` and `filter[provider]`): this
        // subject's if another run made it in between, else another subject's.
        let query = format!(
            "{LINKS}?filter[user]={}&filter[provider]={}",
            encode(id),
            encode(&sso.provider)
        );
        let resp = self.send(|| Request::get(&query)).await?;
        if resp.status != 200 {
            return Err(mas_error(&resp));
        }
        let body = resp.json();
        let subjects: Vec<&str> = body["data"]
            .as_array()
            .map(|d| {
                d.iter()
                    .filter_map(|l| l["attributes"]["subject"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        if subjects.contains(&sso.subject.as_str()) {
            return Ok(false);
        }
        Err(Failure::Rejected(format!(
            "the user is linked to provider {} with another subject (MAS links a user once per provider); unlink it in MAS to link this one",
            sso.provider
        )))
    }

    /// Every registration token resource, page after page (cursor `page[after]`, params.rs).
    async fn token_resources(
        &self,
        valid: Option<bool>,
    ) -> Result<Vec<serde_json::Value>, Failure> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = format!("{TOKENS}?page[first]={PAGE}");
            if let Some(valid) = valid {
                query.push_str(&format!("&filter[valid]={valid}"));
            }
            if let Some(after) = &cursor {
                query.push_str(&format!("&page[after]={}", encode(after)));
            }
            let resp = self.send(|| Request::get(&query)).await?;
            if resp.status != 200 {
                return Err(mas_error(&resp));
            }
            let body = resp.json();
            let Some(data) = body["data"].as_array() else {
                return Err(Failure::Rejected(
                    "MAS admin API: no data in the list of registration tokens".into(),
                ));
            };
            all.extend(data.iter().cloned());
            let next = match (body["links"]["next"].is_string(), data.last()) {
                (true, Some(last)) => last["meta"]["page"]["cursor"]
                    .as_str()
                    .or(last["id"].as_str())
                    .map(str::to_owned),
                _ => None,
            };
            // A cursor that does not move would page for ever.
            if next.is_none() || next == cursor {
                return Ok(all);
            }
            cursor = next;
        }
    }

    /// The user's MAS id (a ULID) and state; `None` when MAS has no such user.
    async fn find(&self, user: &UserId) -> Result<Option<(String, UserState)>, Failure> {
        let path = format!(
            "/api/admin/v1/users/by-username/{}",
            encode(user.localpart())
        );
        let resp = self.send(|| Request::get(&path)).await?;
        match resp.status {
            200 => {
                let data = &resp.json()["data"];
                let attributes = &data["attributes"];
                match (data["id"].as_str(), attributes["admin"].as_bool()) {
                    (Some(id), Some(_)) => Ok(Some((id.to_owned(), state(attributes)))),
                    _ => Err(Failure::Rejected(
                        "MAS admin API: unexpected answer (no data.id or data.attributes.admin)"
                            .into(),
                    )),
                }
            }
            404 => Ok(None),
            _ => Err(mas_error(&resp)),
        }
    }

    /// Sends with the run's token, fetching it first if needed. A 401 on a token kept from
    /// earlier in the run may mean it expired (MAS's access tokens live minutes): one fresh
    /// token, once. A 401 on a token just issued is MAS's answer, and is not asked again.
    async fn send(&self, request: impl Fn() -> Request + Send) -> Result<Response, Failure> {
        let kept = self.token.lock().await.is_some();
        let token = self.token(false).await?;
        let resp = self.http.send(request().auth(Auth::Bearer(token))).await?;
        if resp.status != 401 || !kept {
            return Ok(resp);
        }
        let token = self.token(true).await?;
        self.http.send(request().auth(Auth::Bearer(token))).await
    }

    async fn token(&self, renew: bool) -> Result<SecretString, Failure> {
        let mut cached = self.token.lock().await;
        if let (Some(token), false) = (cached.as_ref(), renew) {
            return Ok(token.clone());
        }
        let endpoint = self.token_endpoint().await?;
        let request = Request::post_form(
            endpoint,
            &[("grant_type", "client_credentials"), ("scope", SCOPE)],
        )
        .auth(Auth::Basic(
            self.client_id.clone(),
            self.client_secret.clone(),
        ));
        let resp = self.http.send(request).await?;
        let body = resp.json();
        if resp.status != 200 {
            let field = |k: &str| body[k].as_str().unwrap_or("").to_owned();
            let why = [field("error"), field("error_description")]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(": ");
            return Err(Failure::Rejected(format!(
                "MAS token endpoint: HTTP {}: {why} (check mas.client_id and mas.client_secret, and that the client is in policy.data.admin_clients)",
                resp.status
            )));
        }
        let scopes = body["scope"].as_str().unwrap_or("");
        if !scopes.split(' ').any(|s| s == SCOPE) {
            return Err(Failure::Rejected(format!(
                "MAS granted no {SCOPE} scope to client {}",
                self.client_id
            )));
        }
        let token = body["access_token"]
            .as_str()
            .map(|t| SecretString::from(t.to_owned()))
            .ok_or_else(|| Failure::Rejected("MAS token endpoint: no access_token".into()))?;
        *cached = Some(token.clone());
        Ok(token)
    }

    /// The token endpoint from OpenID discovery, as a path on MAS's own base URL: credentials
    /// are sent to no other origin.
    async fn token_endpoint(&self) -> Result<String, Failure> {
        let resp = self
            .http
            .send(Request::get("/.well-known/openid-configuration"))
            .await?;
        let endpoint = resp.json()["token_endpoint"].as_str().map(str::to_owned);
        match endpoint {
            Some(url) if resp.status == 200 => match url.strip_prefix(&self.base) {
                Some(path) if path.starts_with('/') => Ok(path.to_owned()),
                _ => Err(Failure::Rejected(format!(
                    "MAS advertises its token endpoint at {url}, outside mas.url {}: set mas.url to MAS's public base URL",
                    self.base
                ))),
            },
            _ => Err(Failure::Rejected(format!(
                "MAS discovery (/.well-known/openid-configuration): {}",
                resp.describe()
            ))),
        }
    }
}

/// A user's state from MAS's user resource (crates/handlers/src/admin/model.rs, `User`):
/// `admin`, `locked_at`, and `deactivated_at`, which older MAS does not give.
fn state(attributes: &serde_json::Value) -> UserState {
    UserState {
        admin: attributes["admin"].as_bool(),
        deactivated: attributes.get("deactivated_at").map(|v| !v.is_null()),
        locked: Some(!attributes["locked_at"].is_null()),
        ..UserState::default()
    }
}

/// A registration token from MAS's resource (admin/model.rs, `UserRegistrationToken`):
/// `usage_limit` (null: unlimited), `times_used`, `expires_at` and `revoked_at` (RFC 3339).
/// MAS counts a use when a registration completes, so nothing is pending.
fn registration_token(resource: &serde_json::Value) -> Option<RegistrationToken> {
    let a = &resource["attributes"];
    Some(RegistrationToken {
        token: a["token"].as_str().filter(|t| !t.is_empty())?.to_owned(),
        uses_allowed: a["usage_limit"].as_u64(),
        pending: 0,
        completed: a["times_used"].as_u64().unwrap_or(0),
        expiry_ms: match &a["expires_at"] {
            serde_json::Value::String(at) => Some(from_rfc3339(at)?),
            _ => None,
        },
        revoked: !a["revoked_at"].is_null(),
    })
}

/// Alphanumerics, as MAS generates its own tokens (user_registration_tokens/add.rs).
const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A token of `length` alphanumerics from the system's randomness, each equally likely.
fn random_token(length: u8) -> Result<SecretString, Failure> {
    let length = usize::from(length);
    let mut out = String::with_capacity(length);
    let mut buf = [0u8; 64];
    while out.len() < length {
        getrandom::fill(&mut buf)
            .map_err(|e| Failure::Rejected(format!("no randomness available: {e}")))?;
        // Bytes at or above 248 (= 4 * 62) are dropped so every character is equally likely.
        out.extend(
            buf.iter()
                .filter(|b| usize::from(**b) < 4 * ALPHANUMERIC.len())
                .map(|b| char::from(ALPHANUMERIC[usize::from(*b) % ALPHANUMERIC.len()]))
                .take(length - out.len()),
        );
    }
    Ok(SecretString::from(out))
}

/// Milliseconds since the epoch as RFC 3339 in UTC, as MAS's `DateTime<Utc>` reads it.
fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        ms % 1000
    )
}

/// RFC 3339 (`2026-01-01T00:00:00Z`, with or without fractions or an offset) to
/// milliseconds since the epoch; `None` for anything else or before 1970.
fn from_rfc3339(at: &str) -> Option<u64> {
    let num = |s: &str| -> Option<i64> {
        s.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse().ok())
            .flatten()
    };
    let (date, time) = at.split_once(['T', 't', ' '])?;
    let mut date = date.splitn(3, '-');
    let (y, m, d) = (num(date.next()?)?, num(date.next()?)?, num(date.next()?)?);
    let (time, offset) = match time.find(['Z', 'z', '+', '-']) {
        Some(i) => time.split_at(i),
        None => return None,
    };
    let offset_secs = match offset {
        "Z" | "z" => 0,
        _ => {
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            let (h, min) = offset[1..].split_once(':')?;
            sign * (num(h)? * 3600 + num(min)? * 60)
        }
    };
    let (hms, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut hms = hms.splitn(3, ':');
    let (h, min, s) = (num(hms.next()?)?, num(hms.next()?)?, num(hms.next()?)?);
    let ms = match fraction {
        "" => 0,
        f => num(&format!("{f:0<3}")[..3])?,
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || h > 23 || min > 59 || s > 60 {
        return None;
    }
    let secs = days_from_civil(y, m, d) * 86_400 + h * 3600 + min * 60 + s - offset_secs;
    u64::try_from(secs * 1000 + ms).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day since 1970-01-01 (Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A failure after the user was created: what the user lacks, and how to finish it (a re-run
/// finds the user existing and leaves it as it is).
fn midway(username: &str, lacking: &str, e: Failure, finish: &str) -> Failure {
    Failure::Rejected(format!(
        "user {username} was created in MAS {lacking}: {e}; {finish}"
    ))
}

/// The first error's title of MAS's `{"errors": [{"title": …}]}` (response.rs).
fn title(resp: &Response) -> String {
    resp.json()["errors"][0]["title"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

/// MAS errors are `{"errors": [{"title": …}]}`.
fn mas_error(resp: &Response) -> Failure {
    let title = title(resp);
    let hint = if resp.status == 401 || title.contains("scope") {
        " (the token lacks the urn:mas:admin scope)"
    } else if title == "Password is too weak" {
        " (MAS's password policy; --ignore-password-complexity skips it)"
    } else {
        ""
    };
    Failure::Rejected(format!(
        "MAS admin API: HTTP {}: {title}{hint}",
        resp.status
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Scripted, block_on};

    fn api(http: &std::sync::Arc<Scripted>) -> MasAdminApi {
        MasAdminApi::new(
            http.clone(),
            "https://mas.example.com/",
            "01JCLIENT".into(),
            SecretString::from("client-secret"),
            "example.com",
        )
    }

    fn discovery() -> (u16, serde_json::Value) {
        (
            200,
            json!({"token_endpoint": "https://mas.example.com/oauth2/token"}),
        )
    }

    fn token(t: &str) -> (u16, serde_json::Value) {
        (
            200,
            json!({"access_token": t, "token_type": "Bearer", "scope": "urn:mas:admin"}),
        )
    }

    fn user(admin: bool) -> (u16, serde_json::Value) {
        (
            200,
            json!({"data": {"type": "user", "id": "01JUSER", "attributes": {"username": "john", "admin": admin}}}),
        )
    }

    #[test]
    fn discovers_gets_a_token_finds_and_sets() {
        let http = Scripted::new(vec![discovery(), token("mat_1"), user(false), user(true)]);
        let john = UserId::new("john", "example.com").unwrap();
        let out = block_on(api(&http).set_admin(&john, true, false));
        assert!(matches!(out, Ok(Outcome::AdminSet { admin: true, .. })));
        assert_eq!(
            http.requests(),
            [
                "Get /.well-known/openid-configuration",
                "Post /oauth2/token",
                "Get /api/admin/v1/users/by-username/john",
                "Post /api/admin/v1/users/01JUSER/set-admin",
            ]
        );
        let seen = http.seen.lock().unwrap();
        assert_eq!(
            seen[1].1,
            Some(json!({"grant_type": "client_credentials", "scope": "urn:mas:admin"}))
        );
        assert_eq!(seen[3].1, Some(json!({"admin": true})));
        let auth = http.auth.lock().unwrap();
        assert_eq!(auth[1].as_deref(), Some("Basic 01JCLIENT"));
        assert_eq!(auth[2].as_deref(), Some("Bearer mat_1"));
    }

    #[test]
    fn a_401_renews_a_kept_token_once() {
        let http = Scripted::new(vec![
            discovery(),
            token("old"),
            user(false),
            (401, json!({"errors": [{"title": "Invalid token"}]})),
            discovery(),
            token("new"),
            user(true),
        ]);
        let john = UserId::new("john", "example.com").unwrap();
        let out = block_on(api(&http).set_admin(&john, true, false));
        assert!(matches!(out, Ok(Outcome::AdminSet { admin: true, .. })));
        assert_eq!(http.auth.lock().unwrap()[3].as_deref(), Some("Bearer old"));
        assert_eq!(http.auth.lock().unwrap()[6].as_deref(), Some("Bearer new"));
    }

    #[test]
    fn a_401_on_a_token_just_issued_is_not_asked_again() {
        let http = Scripted::new(vec![
            discovery(),
            token("t"),
            (401, json!({"errors": [{"title": "Invalid token"}]})),
        ]);
        let john = UserId::new("john", "example.com").unwrap();
        let out = block_on(api(&http).set_admin(&john, true, false));
        assert!(matches!(out, Err(Failure::Rejected(m)) if m.contains("HTTP 401")));
        assert_eq!(
            http.requests().len(),
            3,
            "no second token, no second request"
        );
    }

    #[test]
    fn a_token_endpoint_elsewhere_gets_no_credentials() {
        let http = Scripted::new(vec![(
            200,
            json!({"token_endpoint": "https://evil.example.org/token"}),
        )]);
        let john = UserId::new("john", "example.com").unwrap();
        let out = block_on(api(&http).set_admin(&john, true, false));
        assert!(matches!(out, Err(Failure::Rejected(m)) if m.contains("outside mas.url")));
        assert_eq!(http.requests().len(), 1);
    }

    #[test]
    fn missing_user_and_missing_scope_are_explained() {
        let http = Scripted::new(vec![
            discovery(),
            token("t"),
            (404, json!({"errors": [{"title": "User not found"}]})),
        ]);
        let john = UserId::new("john", "example.com").unwrap();
        let out = block_on(api(&http).set_admin(&john, true, false));
        assert!(matches!(out, Err(Failure::Rejected(m)) if m.contains("no such user john in MAS")));

        let http = Scripted::new(vec![
            discovery(),
            (200, json!({"access_token": "t", "scope": "openid"})),
        ]);
        let out = block_on(api(&http).set_admin(&john, true, false));
        assert!(matches!(out, Err(Failure::Rejected(m)) if m.contains("no urn:mas:admin scope")));
    }

    fn found(locked: bool, deactivated: bool) -> (u16, serde_json::Value) {
        let at = |b: bool| {
            if b {
                json!("2026-01-01T00:00:00Z")
            } else {
                json!(null)
            }
        };
        (
            200,
            json!({"data": {"type": "user", "id": "01JUSER", "attributes": {
                "username": "john", "admin": false,
                "locked_at": at(locked), "deactivated_at": at(deactivated)}}}),
        )
    }

    fn john() -> UserId {
        UserId::new("john", "example.com").unwrap()
    }

    #[test]
    fn registers_then_sets_the_password_emails_and_admin_flag() {
        let http = Scripted::new(vec![
            discovery(),
            token("t"),
            (200, json!({"data": {"type": "user", "id": "01JNEW"}})),
            (204, json!(null)),
            (
                201,
                json!({"data": {"type": "user-email", "id": "01JEMAIL"}}),
            ),
            user(true),
        ]);
        let user = john();
        let password = SecretString::from("pw-of-john");
        let emails = vec!["john@example.com".to_owned()];
        let mut reg = Registration::new(&user, &password, true);
        reg.emails = &emails;
        reg.ignore_password_complexity = true;
        let out = block_on(api(&http).register(&reg));
        assert_eq!(out, Ok(Outcome::Created { admin: true }));
        assert_eq!(
            http.requests()[2..],
            [
                "Post /api/admin/v1/users",
                "Post /api/admin/v1/users/01JNEW/set-password",
                "Post /api/admin/v1/user-emails",
                "Post /api/admin/v1/users/01JNEW/set-admin",
            ]
        );
        let seen = http.seen.lock().unwrap();
        assert_eq!(seen[2].1, Some(json!({"username": "john"})));
        assert_eq!(
            seen[3].1,
            Some(json!({"password": "pw-of-john", "skip_password_check": true}))
        );
        assert_eq!(
            seen[4].1,
            Some(json!({"user_id": "01JNEW", "email": "john@example.com"}))
        );
        assert_eq!(seen[5].1, Some(json!({"admin": true})));
    }

    #[test]
    fn an_existing_user_is_left_as_it_is_and_a_reserved_name_fails() {
        let user = john();
        let password = SecretString::from("pw");
        let reg = Registration::new(&user, &password, true);
        let http = Scripted::new(vec![
            discovery(),
            token("t"),
            (409, json!({"errors": [{"title": "User already exists"}]})),
        ]);
        assert_eq!(block_on(api(&http).register(&reg)), Ok(Outcome::Exists));
        assert_eq!(http.requests().len(), 3, "the password is not touched");

        let http = Scripted::new(vec![
            discovery(),
            token("t"),
            (
                409,
                json!({"errors": [{"title": "Username is reserved by the homeserver"}]}),
            ),
        ]);
        let out = block_on(api(&http).register(&reg));
        assert!(
            matches!(out, Err(Failure::Rejected(m)) if m.contains("reserved by the homeserver"))
        );
    }

    #[test]
    fn a_password_refused_after_the_creation_says_what_the_user_lacks() {
        let http = Scripted::new(vec![
            discovery(),
            token("t"),
            (200, json!({"data": {"type": "user", "id": "01JNEW"}})),
            (400, json!({"errors": [{"title": "Password is too weak"}]})),
        ]);
        let user = john();
        let password = SecretString::from("pw");
        let out = block_on(api(&http).register(&Registration::new(&user, &password, false)));
        let Err(Failure::Rejected(m)) = out else {
            panic!("a failure expected")
        };
        assert!(m.contains("created in MAS without a password"), "{m}");
        assert!(m.contains("--ignore-password-complexity"), "{m}");
        assert!(!m.contains("\"pw\""), "{m}");
    }

    fn change(
        answers: Vec<(u16, serde_json::Value)>,
        change: Change<'_>,
        check: bool,
    ) -> (Result<Outcome, Failure>, std::sync::Arc<Scripted>) {
        let mut all = vec![discovery(), token("t")];
        all.extend(answers);
        let http = Scripted::new(all);
        let out = block_on(api(&http).change(&john(), &change, check));
        (out, http)
    }

    #[test]
    fn deactivate_skips_erasure_unless_asked() {
        for (erase, skip_erase) in [(false, true), (true, false)] {
            let (out, http) = change(
                vec![found(false, false), found(true, false)],
                Change::Deactivate { erase },
                false,
            );
            assert!(matches!(out, Ok(Outcome::Done { .. })), "{out:?}");
            assert_eq!(
                http.requests()[3],
                "Post /api/admin/v1/users/01JUSER/deactivate"
            );
            assert_eq!(
                http.seen.lock().unwrap()[3].1,
                Some(json!({ "skip_erase": skip_erase }))
            );
        }
    }

    #[test]
    fn unlock_never_reactivates_and_reactivate_says_the_user_stays_locked() {
        let (out, http) = change(
            vec![found(true, true), found(false, true)],
            Change::Lock(false),
            false,
        );
        assert!(matches!(out, Ok(Outcome::Done { .. })), "{out:?}");
        assert_eq!(
            http.seen.lock().unwrap()[3].1,
            Some(json!({"skip_reactivate": true}))
        );

        let password = SecretString::from("back-pw");
        let (out, http) = change(
            vec![found(true, true), found(true, true), (204, json!(null))],
            Change::Reactivate {
                password: Some(&password),
            },
            false,
        );
        let Ok(Outcome::Done {
            note: Some(note), ..
        }) = out
        else {
            panic!("{out:?}")
        };
        assert!(note.contains("provision unlock"), "{note}");
        assert_eq!(
            http.requests()[3..],
            [
                "Post /api/admin/v1/users/01JUSER/reactivate",
                "Post /api/admin/v1/users/01JUSER/set-password"
            ]
        );
    }

    #[test]
    fn a_reached_state_is_ok_and_check_changes_nothing() {
        let (out, http) = change(vec![found(true, false)], Change::Lock(true), false);
        assert_eq!(
            out,
            Ok(Outcome::Already {
                change: crate::outcome::Changed::Locked
            })
        );
        assert_eq!(http.requests().len(), 3);
        let (out, http) = change(vec![found(false, false)], Change::Lock(true), true);
        assert_eq!(
            out,
            Ok(Outcome::WouldDo {
                change: crate::outcome::Changed::Locked
            })
        );
        assert_eq!(http.requests().len(), 3);
        let (out, _) = change(
            vec![(404, json!({"errors": [{"title": "User not found"}]}))],
            Change::Lock(true),
            false,
        );
        assert!(matches!(out, Err(Failure::Rejected(m)) if m == "no such user john in MAS"));
    }

    #[test]
    fn a_new_password_ends_the_sessions_unless_kept() {
        let password = SecretString::from("new-pw");
        for (logout, requests) in [(true, 5), (false, 4)] {
            let (out, http) = change(
                vec![found(false, false), (204, json!(null)), user(false)],
                Change::Password {
                    password: &password,
                    logout,
                },
                false,
            );
            assert!(matches!(out, Ok(Outcome::Done { .. })), "{out:?}");
            let seen = http.requests();
            assert_eq!(seen.len(), requests);
            assert_eq!(
                http.seen.lock().unwrap()[3].1,
                Some(json!({"password": "new-pw"}))
            );
            if logout {
                assert_eq!(seen[4], "Post /api/admin/v1/users/01JUSER/kill-sessions");
            }
        }
    }

    #[test]
    fn users_are_listed_by_cursor_with_their_user_ids() {
        let http = Scripted::new(vec![
            discovery(),
            token("t"),
            (
                200,
                json!({"meta": {"count": 3}, "data": [
                    {"type": "user", "id": "01JA", "attributes": {"username": "ann", "admin": true, "locked_at": null, "deactivated_at": null}},
                    {"type": "user", "id": "01JB", "attributes": {"username": "bob", "admin": false, "locked_at": "2026-01-01T00:00:00Z", "deactivated_at": null}, "meta": {"page": {"cursor": "01JB"}}}
                ], "links": {"self": "/api/admin/v1/users?page[first]=100", "next": "/api/admin/v1/users?page[after]=01JB&page[first]=100"}}),
            ),
            (
                200,
                json!({"meta": {"count": 3}, "data": [
                    {"type": "user", "id": "01JC", "attributes": {"username": "cy", "admin": true, "locked_at": null, "deactivated_at": null}}
                ], "links": {"self": "/api/admin/v1/users?page[after]=01JB&page[first]=100"}}),
            ),
        ]);
        let api = api(&http);
        let filter = ListFilter { admins: true };
        let first = block_on(api.list(&filter, None)).unwrap();
        assert_eq!(first.next.as_deref(), Some("01JB"));
        assert_eq!(first.users[0].user_id, "@ann:example.com");
        assert_eq!(first.users[1].state.locked, Some(true));
        let last = block_on(api.list(&filter, first.next.as_deref())).unwrap();
        assert_eq!(last.next, None);
        assert_eq!(
            http.requests()[2..],
            [
                "Get /api/admin/v1/users?page[first]=100&filter[admin]=true",
                "Get /api/admin/v1/users?page[first]=100&page[after]=01JB&filter[admin]=true",
            ]
        );
    }

    #[test]
    fn rfc3339_both_ways() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_900_000_000_123), "2030-03-17T17:46:40.123Z");
        assert_eq!(
            from_rfc3339("2030-03-17T17:46:40.123Z"),
            Some(1_900_000_000_123)
        );
        assert_eq!(
            from_rfc3339("2030-03-17T17:46:40Z"),
            Some(1_900_000_000_000)
        );
        assert_eq!(
            from_rfc3339("2030-03-17T19:46:40+02:00"),
            Some(1_900_000_000_000)
        );
        assert_eq!(
            from_rfc3339("2024-02-29T00:00:00.5Z"),
            Some(1_709_164_800_500)
        );
        assert_eq!(from_rfc3339("yesterday"), None);
        assert_eq!(from_rfc3339("2030-13-01T00:00:00Z"), None);
    }

    #[test]
    fn mas_does_tokens_as_well_as_accounts() {
        assert!(MasAdminApi::OPS.starts_with(Op::ACCOUNTS));
        assert!(MasAdminApi::OPS.contains(&Op::Tokens));
    }

    fn token_resource(id: &str, token: &str, revoked: bool) -> serde_json::Value {
        json!({"type": "user-registration_token", "id": id, "attributes": {
            "token": token, "valid": !revoked, "usage_limit": 1, "times_used": 0,
            "created_at": "2026-01-01T00:00:00Z", "last_used_at": null,
            "expires_at": "2030-03-17T17:46:40Z",
            "revoked_at": if revoked { json!("2026-01-02T00:00:00Z") } else { json!(null) }}})
    }

    #[test]
    fn a_token_is_issued_with_every_term_and_a_token_of_the_asked_length() {
        let http = Scripted::new(vec![
            discovery(),
            token("t"),
            (
                201,
                json!({"data": token_resource("01JTOKEN", "whatever", false)}),
            ),
        ]);
        let terms = TokenTerms {
            uses_allowed: Some(1),
            expiry_ms: Some(1_900_000_000_000),
            length: 20,
        };
        let issued = block_on(api(&http).issue_token(&terms)).unwrap();
        assert_eq!(issued.uses_allowed, Some(1));
        assert_eq!(issued.expiry_ms, Some(1_900_000_000_000));
        let seen = http.seen.lock().unwrap();
        let body = seen[2].1.as_ref().unwrap();
        assert_eq!(body["usage_limit"], 1);
        assert_eq!(body["expires_at"], "2030-03-17T17:46:40.000Z");
        let sent = body["token"].as_str().unwrap();
        assert_eq!(sent.len(), 20);
        assert!(sent.bytes().all(|b| b.is_ascii_alphanumeric()));
        drop(seen);

        // Unlimited is said, not left to MAS's default.
        let http = Scripted::new(vec![
            discovery(),
            token("t"),
            (201, json!({"data": token_resource("01JTOKEN", "x", false)})),
        ]);
        let terms = TokenTerms {
            uses_allowed: None,
            expiry_ms: None,
            length: 16,
        };
        block_on(api(&http).issue_token(&terms)).unwrap();
        let seen = http.seen.lock().unwrap();
        let body = seen[2].1.as_ref().unwrap().as_object().unwrap();
        assert!(body["usage_limit"].is_null() && body.contains_key("usage_limit"));
        assert!(body["expires_at"].is_null() && body.contains_key("expires_at"));
    }

    #[test]
    fn tokens_are_listed_page_after_page_and_a_revoked_one_is_not_valid() {
        let http = Scripted::new(vec![
            discovery(),
            token("t"),
            (
                200,
                json!({"meta": {"count": 2}, "data": [token_resource("01JA", "aaaa", false)],
                    "links": {"self": "x", "next": "y"}}),
            ),
            (
                200,
                json!({"meta": {"count": 2}, "data": [token_resource("01JB", "bbbb", true)],
                    "links": {"self": "y"}}),
            ),
        ]);
        let listed = block_on(api(&http).list_tokens(Some(false))).unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed[0].valid(0));
        assert!(!listed[1].valid(0));
        assert_eq!(
            http.requests()[2..],
            [
                "Get /api/admin/v1/user-registration-tokens?page[first]=100&filter[valid]=false",
                "Get /api/admin/v1/user-registration-tokens?page[first]=100&filter[valid]=false&page[after]=01JA",
            ]
        );
    }

    #[test]
    fn revoke_finds_the_token_by_listing_and_a_revoked_or_unknown_one_is_already() {
        let list = || {
            (
                200,
                json!({"data": [token_resource("01JA", "aaaa", false), token_resource("01JB", "bbbb", true)],
                    "links": {"self": "x"}}),
            )
        };
        let http = Scripted::new(vec![
            discovery(),
            token("t"),
            list(),
            (200, json!({"data": token_resource("01JA", "aaaa", true)})),
        ]);
        let out = block_on(api(&http).revoke_token(&SecretString::from("aaaa"), false));
        assert!(matches!(out, Ok(Outcome::Done { .. })), "{out:?}");
        assert_eq!(
            http.requests()[3],
            "Post /api/admin/v1/user-registration-tokens/01JA/revoke"
        );
        for gone in ["bbbb", "cccc"] {
            let http = Scripted::new(vec![discovery(), token("t"), list()]);
            let out = block_on(api(&http).revoke_token(&SecretString::from(gone), false));
            assert!(matches!(out, Ok(Outcome::Already { .. })), "{out:?}");
            assert_eq!(http.requests().len(), 3, "nothing revoked");
        }
        let http = Scripted::new(vec![discovery(), token("t"), list()]);
        let out = block_on(api(&http).revoke_token(&SecretString::from("aaaa"), true));
        assert!(matches!(out, Ok(Outcome::WouldDo { .. })), "{out:?}");
        assert_eq!(http.requests().len(), 3);
    }

    #[test]
    fn a_409_on_linking_is_ok_when_the_link_is_this_one_and_a_failure_else() {
        let link = SsoLink::new("01JCPRQVDXRS0000000000000A", "ann sub").unwrap();
        let none = (200, json!({"data": [], "links": {"self": "x"}}));
        let conflict = (
            409,
            json!({"errors": [{"title": "User ID 01JUSER already has an upstream link for Upstream Oauth 2.0 Provider ID 01JCPRQVDXRS0000000000000A"}]}),
        );
        let users_link = |subject: &str| {
            (
                200,
                json!({"data": [{"type": "upstream-oauth-link", "id": "01JLINK", "attributes": {
                    "provider_id": "01JCPRQVDXRS0000000000000A", "subject": subject,
                    "user_id": "01JUSER", "human_account_name": null}}], "links": {"self": "x"}}),
            )
        };
        let http = Scripted::new(vec![
            discovery(),
            token("t"),
            none.clone(),
            conflict.clone(),
            users_link("ann sub"),
        ]);
        assert_eq!(
            block_on(api(&http).link("01JUSER", &link, false)),
            Ok(false)
        );
        assert_eq!(
            http.requests()[2..],
            [
                "Get /api/admin/v1/upstream-oauth-links?filter[provider]=01JCPRQVDXRS0000000000000A&filter[subject]=ann%20sub",
                "Post /api/admin/v1/upstream-oauth-links",
                "Get /api/admin/v1/upstream-oauth-links?filter[user]=01JUSER&filter[provider]=01JCPRQVDXRS0000000000000A",
            ]
        );
        assert_eq!(
            http.seen.lock().unwrap()[3].1,
            Some(
                json!({"user_id": "01JUSER", "provider_id": "01JCPRQVDXRS0000000000000A", "subject": "ann sub"})
            )
        );
        let http = Scripted::new(vec![
            discovery(),
            token("t"),
            none,
            conflict,
            users_link("other"),
        ]);
        let out = block_on(api(&http).link("01JUSER", &link, false));
        assert!(
            matches!(&out, Err(Failure::Rejected(m)) if m.contains("with another subject")),
            "{out:?}"
        );
    }
}
