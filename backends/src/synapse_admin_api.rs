//! The admin flag through Synapse's admin API (synapse/rest/admin/users.py, `UserRestServletV2`):
//! `GET /_synapse/admin/v2/users/{user_id}` to read it, `PUT` with `{"admin": bool}` to change
//! it. Takes effect at once, unlike a database update. Needs a server admin's access token.

use secrecy::SecretString;
use serde_json::json;

use crate::http::{Auth, Http, Request, Response, encode};
use crate::{Failure, Outcome, UserId};

pub struct SynapseAdminApi {
    token: SecretString,
}

impl SynapseAdminApi {
    pub fn new(token: SecretString) -> Self {
        SynapseAdminApi { token }
    }

    pub async fn set_admin(
        &self,
        http: &impl Http,
        user: &UserId,
        admin: bool,
    ) -> Result<Outcome, Failure> {
        if self.current(http, user).await? == admin {
            return Ok(Outcome::AdminAlready { admin });
        }
        // Only `admin` is sent: on an existing user nothing else changes.
        let resp = http
            .send(self.authed(Request::put(path(user), json!({ "admin": admin }))))
            .await?;
        match resp.status {
            200 | 201 => Ok(Outcome::AdminSet { admin, note: None }),
            _ => Err(refused(&resp)),
        }
    }

    pub async fn plan(
        &self,
        http: &impl Http,
        user: &UserId,
        admin: bool,
    ) -> Result<Outcome, Failure> {
        Ok(if self.current(http, user).await? == admin {
            Outcome::AdminAlready { admin }
        } else {
            Outcome::WouldSetAdmin { admin }
        })
    }

    /// `provision ping`: whose token it is, and that it is a server admin's.
    pub async fn ping(&self, http: &impl Http) -> Result<String, Failure> {
        let resp = http
            .send(self.authed(Request::get("/_matrix/client/v3/account/whoami")))
            .await?;
        if resp.status != 200 {
            return Err(refused(&resp));
        }
        let me = resp.json()["user_id"].as_str().unwrap_or("").to_owned();
        let resp = http
            .send(self.authed(Request::get(format!(
                "/_synapse/admin/v2/users/{}",
                encode(&me)
            ))))
            .await?;
        match resp.status {
            200 => Ok(format!(
                "Synapse admin API answers; admin_token is {me}'s, a server admin"
            )),
            _ => Err(refused(&resp)),
        }
    }

    async fn current(&self, http: &impl Http, user: &UserId) -> Result<bool, Failure> {
        let resp = http.send(self.authed(Request::get(path(user)))).await?;
        match resp.status {
            200 => resp.json()["admin"].as_bool().ok_or_else(|| {
                Failure::Rejected(format!("no admin flag in the answer for {user}"))
            }),
            // A PUT on a missing user would create it: a toggle never does.
            404 => Err(Failure::Rejected(format!("no such user {user}"))),
            _ => Err(refused(&resp)),
        }
    }

    fn authed(&self, request: Request) -> Request {
        request.auth(Auth::Bearer(self.token.clone()))
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
        _ => "",
    };
    Failure::Rejected(format!("Synapse admin API: {}{hint}", resp.describe()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Scripted, block_on};

    fn run(
        answers: Vec<(u16, serde_json::Value)>,
        admin: bool,
    ) -> (Result<Outcome, Failure>, Scripted) {
        let http = Scripted::new(answers);
        let user = UserId::new("john", "example.com").unwrap();
        let api = SynapseAdminApi::new(SecretString::from("syt_token"));
        let out = block_on(api.set_admin(&http, &user, admin));
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
}
