//! Dendrite's admin API (element-hq/dendrite clientapi/routing/admin.go, routed in
//! clientapi/routing/routing.go): `POST /_dendrite/admin/resetPassword/{userID}` sets a
//! password, `/_dendrite/admin/registrationTokens` issues, lists and revokes registration
//! tokens. It takes an admin's access token (`account_type` 3; `MakeAdminAPI` in
//! internal/httputil/httpapi.go answers 403 to anyone else).
//!
//! That is all of the account lifecycle released Dendrite serves: there is no endpoint that
//! reads a user, locks, deactivates or reactivates one, and its admin flag is a database
//! column. So a Dendrite host pairs this backend with `sql`, which reads users and sets the
//! flag (`admin_backend: [sql, dendrite-api]`); the other verbs are refused as unsupported
//! rather than done behind Dendrite's back in its tables (deactivating must also remove the
//! user's devices, which only Dendrite does).
//!
//! The unversioned paths: every released Dendrite serves them. element-hq's newest code also
//! serves them under `/_dendrite/admin/v1/` and logs a deprecation warning for these.

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::account::{Account, Change, Op, RegistrationToken, TokenTerms, unsupported};
use crate::admin_api::{AdminApiConfig, AdminSession};
use crate::matrix::MatrixAnswer;
use crate::port::Ports;
use crate::port::http::{Http, Request, Response, encode};
use crate::registration_tokens::TokenApi;
use crate::settings::{Backend, Config, Homeserver, Settings};
use crate::{Failure, Outcome, UserId};

pub struct DendriteAdminApi {
    api: AdminSession,
    via: String,
}

struct DendriteAdminApiConfig(AdminApiConfig);

impl Backend for DendriteAdminApi {
    const NAME: &'static str = "dendrite-api";
    const KEYS: &'static [&'static str] = &["url", "url_on_host", "admin_token"];
    const OPS: &'static [Op] = &[Op::SetPassword, Op::Tokens];
    const RUNS_PROGRAMS: bool = false;
    const HOMESERVER: Option<Homeserver> = Some(Homeserver::Dendrite);

    fn configure<S: Settings>(s: &S) -> Result<Box<dyn Config>, S::Error> {
        Ok(Box::new(DendriteAdminApiConfig(AdminApiConfig::read(
            s,
            Self::NAME,
            "the access token of an admin account (account_type 3)",
        )?)))
    }
}

impl Config for DendriteAdminApiConfig {
    fn show(&self) -> serde_json::Value {
        self.0.show(DendriteAdminApi::NAME)
    }

    fn admin_api(&self) -> Option<&AdminApiConfig> {
        Some(&self.0)
    }

    fn build(&self, ports: &dyn Ports) -> Result<Box<dyn Account>, String> {
        let (api, via) = self.0.open(ports, "Dendrite's admin API")?;
        Ok(Box::new(DendriteAdminApi { api, via }))
    }
}

#[async_trait]
impl Account for DendriteAdminApi {
    fn via(&self) -> String {
        self.via.clone()
    }

    /// Logs out an `admin_token` login's device.
    async fn close(&self) {
        self.api.close().await;
    }

    /// Whose token it is, and that it is an admin's: the token list is an admin endpoint that
    /// changes nothing and is served whether or not registration takes tokens.
    async fn ping(&self) -> Result<String, Failure> {
        let me = self.api.whoami().await?.map_err(|resp| refused(&resp))?;
        self.tokens().list(None).await?;
        Ok(format!(
            "Dendrite admin API answers; admin_token is {me}'s, an admin"
        ))
    }

    /// `AdminResetPassword`: the user must exist (404 "User does not exist"), the password
    /// passes `internal.ValidatePassword`, and `logout_devices` (false when omitted, unlike
    /// Synapse) is always sent. A password cannot be read back, so a run always sets it.
    /// `--check` asks the client API whether the name is taken (`RegisterAvailable`), the one
    /// thing Dendrite tells of a user without changing it.
    async fn change(
        &self,
        user: &UserId,
        change: &Change<'_>,
        check: bool,
    ) -> Result<Outcome, Failure> {
        let Change::Password { password, logout } = change else {
            return Err(unsupported(Self::NAME, change.op()));
        };
        if check {
            let path = format!(
                "/_matrix/client/v3/register/available?username={}",
                encode(user.localpart())
            );
            let resp = self.api.http.send(Request::get(path)).await?;
            return match (resp.status, resp.matrix_error().0.as_str()) {
                (200, _) => Err(Failure::Rejected(format!("no such user {user}"))),
                (_, "M_USER_IN_USE") => Ok(Outcome::WouldDo {
                    change: change.kind(),
                }),
                _ => Err(Failure::Rejected(format!(
                    "Dendrite did not say whether {user} exists: {}",
                    resp.describe()
                ))),
            };
        }
        let request = Request::post(
            format!(
                "/_dendrite/admin/resetPassword/{}",
                encode(&user.to_string())
            ),
            json!({"password": password.expose_secret(), "logout_devices": logout}),
        );
        let resp = self.api.send(request).await?;
        match resp.status {
            200 if resp.json()["password_updated"] == json!(true) => Ok(Outcome::Done {
                change: change.kind(),
                note: None,
            }),
            200 => Err(Failure::Rejected(
                "Dendrite answered that it did not update the password".into(),
            )),
            404 => Err(Failure::Rejected(format!("no such user {user}"))),
            _ => Err(refused(&resp)),
        }
    }

    /// `AdminCreateNewRegistrationToken`: 403 unless `registration_requires_token` is on.
    async fn issue_token(&self, terms: &TokenTerms) -> Result<RegistrationToken, Failure> {
        self.tokens().issue(terms).await
    }

    /// `AdminListRegistrationTokens`.
    async fn list_tokens(&self, valid: Option<bool>) -> Result<Vec<RegistrationToken>, Failure> {
        self.tokens().list(valid).await
    }

    /// `AdminDeleteRegistrationToken` answers 200 whether or not it had the token: the list
    /// says which.
    async fn revoke_token(&self, token: &SecretString, check: bool) -> Result<Outcome, Failure> {
        self.tokens().revoke(token, check).await
    }
}

impl DendriteAdminApi {
    fn tokens(&self) -> TokenApi<'_> {
        TokenApi {
            api: &self.api,
            base: "/_dendrite/admin/registrationTokens",
            server: "Dendrite admin API",
            delete_says_absent: false,
            refused,
        }
    }
}

fn refused(resp: &Response) -> Failure {
    let hint = match resp.status {
        401 => " (admin_token is not a valid access token)",
        403 if resp.matrix_error().0 == "M_FORBIDDEN"
            && resp.matrix_error().1.contains("admin users") =>
        {
            " (admin_token is not an admin's: Dendrite's admin API needs account_type 3)"
        }
        _ => "",
    };
    Failure::Rejected(format!("Dendrite admin API: {}{hint}", resp.describe()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Changed;
    use crate::testing::{Scripted, block_on};

    fn scripted(
        answers: Vec<(u16, serde_json::Value)>,
    ) -> (DendriteAdminApi, std::sync::Arc<Scripted>) {
        let http = Scripted::new(answers);
        let api = DendriteAdminApi {
            api: AdminSession::given(http.clone(), "dendrite_admin_token"),
            via: String::new(),
        };
        (api, http)
    }

    fn user() -> UserId {
        UserId::new("john", "example.org").unwrap()
    }

    #[test]
    fn a_password_is_reset_with_logout_sent_and_the_user_id_in_the_path() {
        let (api, http) = scripted(vec![(200, json!({"password_updated": true}))]);
        let password = SecretString::from("new-password-1");
        let change = Change::Password {
            password: &password,
            logout: false,
        };
        let out = block_on(api.change(&user(), &change, false));
        assert_eq!(
            out,
            Ok(Outcome::Done {
                change: Changed::Password,
                note: None
            })
        );
        assert_eq!(
            http.requests(),
            ["Post /_dendrite/admin/resetPassword/%40john%3Aexample.org"]
        );
        assert_eq!(
            http.seen.lock().unwrap()[0].1,
            Some(json!({"password": "new-password-1", "logout_devices": false}))
        );
        assert_eq!(
            http.auth.lock().unwrap()[0].as_deref(),
            Some("Bearer dendrite_admin_token")
        );
    }

    #[test]
    fn a_missing_user_and_a_non_admin_token_are_explained() {
        let password = SecretString::from("new-password-1");
        let change = Change::Password {
            password: &password,
            logout: true,
        };
        let (api, _) = scripted(vec![(
            404,
            json!({"errcode": "M_UNKNOWN", "error": "User does not exist"}),
        )]);
        let out = block_on(api.change(&user(), &change, false));
        assert_eq!(
            out,
            Err(Failure::Rejected("no such user @john:example.org".into()))
        );
        let (api, _) = scripted(vec![(
            403,
            json!({"errcode": "M_FORBIDDEN", "error": "This API can only be used by admin users."}),
        )]);
        let Err(Failure::Rejected(e)) = block_on(api.change(&user(), &change, false)) else {
            panic!("a 403 fails");
        };
        assert!(e.contains("needs account_type 3"), "{e}");
        assert!(!e.contains("new-password-1"), "{e}");
    }

    #[test]
    fn check_asks_whether_the_name_is_taken_and_changes_nothing() {
        let password = SecretString::from("new-password-1");
        let change = Change::Password {
            password: &password,
            logout: true,
        };
        let (api, http) = scripted(vec![(
            400,
            json!({"errcode": "M_USER_IN_USE", "error": "Desired user ID is already taken."}),
        )]);
        let out = block_on(api.change(&user(), &change, true));
        assert_eq!(
            out,
            Ok(Outcome::WouldDo {
                change: Changed::Password
            })
        );
        assert_eq!(
            http.requests(),
            ["Get /_matrix/client/v3/register/available?username=john"]
        );
        let (api, _) = scripted(vec![(200, json!({"available": true}))]);
        assert!(block_on(api.change(&user(), &change, true)).is_err());
    }

    #[test]
    fn revoking_reads_the_list_first_since_a_delete_always_answers_200() {
        let (api, http) = scripted(vec![(200, json!({"registration_tokens": null}))]);
        let token = SecretString::from("abcdefgh");
        let out = block_on(api.revoke_token(&token, false));
        assert_eq!(
            out,
            Ok(Outcome::Already {
                change: Changed::TokenRevoked
            })
        );
        assert_eq!(http.requests(), ["Get /_dendrite/admin/registrationTokens"]);
        let listed = json!({"registration_tokens": [{"token": "abcdefgh", "uses_allowed": 1, "pending": 0, "completed": 0, "expiry_time": null}]});
        let (api, http) = scripted(vec![(200, listed), (200, json!({}))]);
        let out = block_on(api.revoke_token(&token, false));
        assert_eq!(
            out,
            Ok(Outcome::Done {
                change: Changed::TokenRevoked,
                note: None
            })
        );
        assert_eq!(
            http.requests()[1],
            "Delete /_dendrite/admin/registrationTokens/abcdefgh"
        );
    }
}
