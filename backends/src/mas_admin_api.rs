//! MAS's admin API (crates/handlers/src/admin/v1/users/*.rs in
//! element-hq/matrix-authentication-service): a `client_credentials` token with scope
//! `urn:mas:admin` from the token endpoint found through OpenID discovery, then
//! `GET /api/admin/v1/users/by-username/{username}` and `POST …/users/{id}/set-admin`.

use async_trait::async_trait;
use secrecy::SecretString;
use serde_json::json;
use tokio::sync::Mutex;

use crate::account::{Account, Op, UserState};
use crate::matrix::MatrixAnswer;
use crate::port::Ports;
use crate::port::http::{Auth, Http, HttpPort, Request, Response, encode};
use crate::settings::{Backend, Config, Mas, Settings, reveal};
use crate::{Failure, Outcome, UserId};

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
    via: String,
}

/// The host's `mas: {url, client_id, client_secret}`.
struct MasAdminApiConfig(Mas);

impl Backend for MasAdminApi {
    const NAME: &'static str = "mas-api";
    const KEYS: &'static [&'static str] = &[];
    const OPS: &'static [Op] = &[Op::Read, Op::SetAdmin];
    const RUNS_PROGRAMS: bool = false;

    fn configure<S: Settings>(s: &S) -> Result<Box<dyn Config>, S::Error> {
        let mas = s.mas().ok_or_else(|| {
            s.missing(
                "mas",
                "admin_backend mas-api needs {url, client_id, client_secret}",
            )
        })?;
        Ok(Box::new(MasAdminApiConfig(mas.clone())))
    }
}

impl Config for MasAdminApiConfig {
    fn show(&self) -> serde_json::Value {
        let mas = &self.0;
        json!({
            "kind": MasAdminApi::NAME,
            "url": mas.url,
            "client_id": mas.client_id,
            "client_secret": mas.client_secret.to_string(),
        })
    }

    fn build(&self, ports: &dyn Ports) -> Result<Box<dyn Account>, String> {
        let mas = &self.0;
        let mut api = MasAdminApi::new(
            ports.http(&mas.url)?,
            &mas.url,
            mas.client_id.clone(),
            reveal("mas.client_secret", &mas.client_secret)?,
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

    async fn set_admin(&self, user: &UserId, admin: bool, check: bool) -> Result<Outcome, Failure> {
        let Some((id, state)) = self.find(user).await? else {
            return Err(Failure::Rejected(format!(
                "no such user {} in MAS",
                user.localpart()
            )));
        };
        if state.admin == Some(admin) {
            return Ok(Outcome::AdminAlready { admin });
        }
        if check {
            return Ok(Outcome::WouldSetAdmin { admin });
        }
        let path = format!("/api/admin/v1/users/{}/set-admin", encode(&id));
        let resp = self
            .send(|| Request::post(&path, json!({ "admin": admin })))
            .await?;
        match resp.status {
            200 => Ok(Outcome::AdminSet {
                admin,
                note: Some(MAS_NOTE.into()),
            }),
            _ => Err(mas_error(&resp)),
        }
    }
}

impl MasAdminApi {
    pub fn new(http: HttpPort, base: &str, client_id: String, client_secret: SecretString) -> Self {
        MasAdminApi {
            http,
            base: base.trim_end_matches('/').to_owned(),
            client_id,
            client_secret,
            token: Mutex::new(None),
            via: String::new(),
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
                    (Some(id), Some(admin)) => Ok(Some((
                        id.to_owned(),
                        UserState {
                            admin: Some(admin),
                            deactivated: Some(!attributes["deactivated_at"].is_null()),
                            locked: Some(!attributes["locked_at"].is_null()),
                            ..UserState::default()
                        },
                    ))),
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

/// MAS errors are `{"errors": [{"title": …}]}`.
fn mas_error(resp: &Response) -> Failure {
    let body = resp.json();
    let title = body["errors"][0]["title"].as_str().unwrap_or("");
    let hint = if resp.status == 401 || title.contains("scope") {
        " (the token lacks the urn:mas:admin scope)"
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
}
