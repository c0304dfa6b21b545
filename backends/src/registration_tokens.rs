//! Registration tokens through a homeserver's admin API. Synapse
//! (synapse/rest/admin/registration_tokens.py) and Dendrite (clientapi/routing/admin.go,
//! `AdminCreateNewRegistrationToken` and the three after it) take and give the same JSON at
//! different paths; they differ in one answer: Synapse's `DELETE` of a token it does not have
//! is a 404, Dendrite's is a 200 (its SQL `DELETE` removes nothing and says nothing).

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::account::{RegistrationToken, TokenTerms};
use crate::admin_api::AdminSession;
use crate::outcome::Changed;
use crate::port::http::{Request, Response, encode};
use crate::{Failure, Outcome};

/// One server's token endpoints, with the admin token that calls them.
pub struct TokenApi<'a> {
    pub api: &'a AdminSession,
    /// The list's path; issuing is `{base}/new`, one token `{base}/{token}`.
    pub base: &'static str,
    /// "Synapse admin API", for messages.
    pub server: &'static str,
    /// Whether a `DELETE` of an unknown token says so (404), or must be told by the list.
    pub delete_says_absent: bool,
    pub refused: fn(&Response) -> Failure,
}

impl TokenApi<'_> {
    /// Every field is sent, so no server default decides (an omitted `uses_allowed` means
    /// unlimited on both).
    pub async fn issue(&self, terms: &TokenTerms) -> Result<RegistrationToken, Failure> {
        let body = json!({
            "uses_allowed": terms.uses_allowed,
            "expiry_time": terms.expiry_ms,
            "length": terms.length,
        });
        let request = Request::post(format!("{}/new", self.base), body);
        let resp = self.api.send(request).await?;
        if resp.status != 200 {
            return Err((self.refused)(&resp));
        }
        registration_token(&resp.json()).ok_or_else(|| {
            Failure::Rejected(format!(
                "{}: no token in the answer to issuing one",
                self.server
            ))
        })
    }

    /// One answer, no paging; `valid` filters on whether a token can still be used.
    pub async fn list(&self, valid: Option<bool>) -> Result<Vec<RegistrationToken>, Failure> {
        let query = match valid {
            Some(valid) => format!("{}?valid={valid}", self.base),
            None => self.base.to_owned(),
        };
        let resp = self.api.send(Request::get(query)).await?;
        if resp.status != 200 {
            return Err((self.refused)(&resp));
        }
        let body = resp.json();
        // Dendrite answers an empty list as `null` (a nil Go slice).
        let listed = match &body["registration_tokens"] {
            serde_json::Value::Array(listed) => listed.as_slice(),
            serde_json::Value::Null if body.get("registration_tokens").is_some() => &[],
            _ => {
                return Err(Failure::Rejected(format!(
                    "{}: no registration_tokens in the list",
                    self.server
                )));
            }
        };
        Ok(listed.iter().filter_map(registration_token).collect())
    }

    /// A token the server does not have is the state wanted. `--check` reads the list rather
    /// than `GET {base}/{token}`, so the token is in no request's path but the one that
    /// revokes it.
    pub async fn revoke(&self, token: &SecretString, check: bool) -> Result<Outcome, Failure> {
        let change = Changed::TokenRevoked;
        if check || !self.delete_says_absent {
            let listed = self.list(None).await?;
            let there = listed.iter().any(|t| t.token == token.expose_secret());
            match (there, check) {
                (false, _) => return Ok(Outcome::Already { change }),
                (true, true) => return Ok(Outcome::WouldDo { change }),
                (true, false) => {}
            }
        }
        let path = format!("{}/{}", self.base, encode(token.expose_secret()));
        let request = Request::delete(path).hiding(token);
        let resp = self.api.send(request).await?;
        match resp.status {
            200 => Ok(Outcome::Done { change, note: None }),
            404 => Ok(Outcome::Already { change }),
            _ => Err((self.refused)(&resp)),
        }
    }
}

/// A token of the list or of an issue's answer: `{token, uses_allowed, pending, completed,
/// expiry_time}`, `expiry_time` in milliseconds.
fn registration_token(t: &serde_json::Value) -> Option<RegistrationToken> {
    Some(RegistrationToken {
        token: t["token"].as_str().filter(|t| !t.is_empty())?.to_owned(),
        uses_allowed: t["uses_allowed"].as_u64(),
        pending: t["pending"].as_u64().unwrap_or(0),
        completed: t["completed"].as_u64().unwrap_or(0),
        expiry_ms: t["expiry_time"].as_u64(),
        revoked: false,
    })
}
