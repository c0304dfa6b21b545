//! Registration through the shared-secret admin API, `/_synapse/admin/v1/register`, served by
//! Synapse (synapse/rest/admin/users.py, `UserRegisterServlet`) and by Dendrite
//! (clientapi/routing/admin_register.go). Synapse does not serve it when accounts are
//! delegated to MAS.

use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sha1::Sha1;

use crate::account::{Account, Op, Preview};
use crate::matrix::MatrixAnswer;
use crate::port::Ports;
use crate::port::http::{Http, HttpPort, Request, Response, encode};
use crate::registration::Fields;
use crate::settings::{Backend, Config, Secret, Settings, refuse_mas, reveal};
use crate::{Failure, Outcome, Registration, UserId};

const REGISTER: &str = "/_synapse/admin/v1/register";

/// How often a 429 is waited out before the host is reported failed.
const MAX_RATE_LIMIT_WAITS: u32 = 5;
/// The longest single wait a 429 may ask for; a server asking for more is reported instead.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

pub struct SharedSecret {
    http: HttpPort,
    secret: SecretString,
    /// "at URL, secret from SOURCE", for `--check`.
    via: String,
}

struct SharedSecretConfig {
    url: String,
    shared_secret: Secret,
}

impl Backend for SharedSecret {
    const NAME: &'static str = "shared-secret";
    const KEYS: &'static [&'static str] = &["url", "shared_secret"];
    const OPS: &'static [Op] = &[Op::Register];
    /// Synapse's `/_synapse/admin/v1/register` takes a `displayname` and a `user_type`
    /// (synapse/rest/admin/users.py, UserRegisterServlet, checks the type against
    /// `UserTypes.ALL_USER_TYPES`), nothing else of these.
    const FIELDS: Fields = Fields {
        display_name: true,
        user_type: true,
        ..Fields::NONE
    };
    const RUNS_PROGRAMS: bool = false;

    fn configure<S: Settings>(s: &S) -> Result<Box<dyn Config>, S::Error> {
        refuse_mas(s, Self::NAME)?;
        Ok(Box::new(SharedSecretConfig {
            url: s.url(
                "url",
                "the homeserver's base URL, e.g. https://matrix.example.com",
            )?,
            shared_secret: s.secret("shared_secret", "{file: PATH} or {env: NAME}")?,
        }))
    }
}

impl Config for SharedSecretConfig {
    fn show(&self) -> serde_json::Value {
        json!({"kind": SharedSecret::NAME, "url": self.url, "shared_secret": self.shared_secret.to_string()})
    }

    fn build(&self, ports: &dyn Ports) -> Result<Box<dyn Account>, String> {
        Ok(Box::new(SharedSecret {
            http: ports.http(&self.url)?,
            secret: reveal("shared_secret", &self.shared_secret)?,
            via: format!(
                "via the shared-secret API at {}, secret from {}",
                self.url, self.shared_secret
            ),
        }))
    }
}

#[async_trait]
impl Account for SharedSecret {
    fn via(&self) -> String {
        self.via.clone()
    }

    /// The endpoint is served (a nonce is handed out; nothing is registered).
    async fn ping(&self) -> Result<String, Failure> {
        self.nonce().await?;
        Ok("shared-secret registration answers".into())
    }

    /// An existing user is [`Outcome::Exists`], not an error.
    async fn register(&self, reg: &Registration<'_>) -> Result<Outcome, Failure> {
        let http = &self.http;
        let mut fresh_nonce_retried = false;
        let mut rate_limit_waits = 0;
        loop {
            let nonce = self.nonce().await?;
            let mut body = json!({
                "nonce": nonce,
                "username": reg.user.localpart(),
                "password": reg.password.expose_secret(),
                "admin": reg.admin,
                "mac": mac(&self.secret, &nonce, reg.user.localpart(), reg.password, reg.admin, reg.user_type),
                // No device or access token is needed: skipping them nearly doubles the
                // server's throughput (synapse/rest/admin/users.py skips the device and
                // token when `inhibit_login` is set).
                "inhibit_login": true,
            });
            if let Some(name) = reg.display_name {
                body["displayname"] = name.into();
            }
            if let Some(user_type) = reg.user_type {
                body["user_type"] = user_type.into();
            }
            let resp = http.send(Request::post(REGISTER, body)).await?;
            match classify(&resp) {
                Answer::Created => {
                    return check_user_id(&resp, reg.user)
                        .map(|()| Outcome::Created { admin: reg.admin });
                }
                Answer::Exists => return Ok(Outcome::Exists),
                Answer::BadNonce if !fresh_nonce_retried => fresh_nonce_retried = true,
                Answer::RateLimited(wait) if rate_limit_waits < MAX_RATE_LIMIT_WAITS => {
                    if wait > MAX_RATE_LIMIT_WAIT {
                        return Err(Failure::Rejected(format!(
                            "rate limited by the server for {}s",
                            wait.as_secs()
                        )));
                    }
                    rate_limit_waits += 1;
                    tokio::time::sleep(wait).await;
                }
                Answer::BadNonce | Answer::RateLimited(_) | Answer::Other => {
                    return Err(Failure::Rejected(explain(&resp)));
                }
            }
        }
    }

    /// The nonce request proves the endpoint is served; the public availability probe, or
    /// failing that the public profile, tells whether the user exists. The secret itself
    /// cannot be tested without registering.
    async fn preview(&self, reg: &Registration<'_>) -> Result<Preview, Failure> {
        let http = &self.http;
        self.nonce().await?;
        let path = format!(
            "/_matrix/client/v3/register/available?username={}",
            encode(reg.user.localpart())
        );
        let available = http.send(Request::get(path)).await?;
        if available.status == 200 {
            return Ok(Preview::Known(Outcome::WouldCreate { admin: reg.admin }));
        }
        if available.matrix_error().0 == "M_USER_IN_USE" {
            return Ok(Preview::Known(Outcome::Exists));
        }
        // Servers with public registration off answer the probe with 403; the profile of a
        // user is public unless `require_auth_for_profile_requests` is set.
        let path = format!(
            "/_matrix/client/v3/profile/{}",
            encode(&reg.user.to_string())
        );
        let profile = http.send(Request::get(path)).await?;
        Ok(match profile.status {
            200 => Preview::Known(Outcome::Exists),
            404 => Preview::Known(Outcome::WouldCreate { admin: reg.admin }),
            _ => Preview::Unknown(format!(
                "the server did not say whether the user exists ({})",
                available.describe()
            )),
        })
    }
}

impl SharedSecret {
    /// Over an HTTP port and a secret another backend found (synapse-cli, which reads them
    /// from the server's config on its host); `via` says where, for messages.
    pub(crate) fn new(http: HttpPort, secret: SecretString, via: String) -> Self {
        SharedSecret { http, secret, via }
    }

    async fn nonce(&self) -> Result<String, Failure> {
        let resp = self.http.send(Request::get(REGISTER)).await?;
        match resp.status {
            200 => resp.json()["nonce"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| {
                    Failure::Rejected(format!("no nonce in the answer to GET {REGISTER}"))
                }),
            404 => Err(Failure::Rejected(format!(
                "GET {REGISTER} answered 404: shared-secret registration is not served here \
                 (is this a Matrix homeserver, or does it delegate accounts to MAS? then use \
                 backend: mas-cli)"
            ))),
            _ => Err(Failure::Rejected(explain(&resp))),
        }
    }
}

enum Answer {
    Created,
    Exists,
    BadNonce,
    RateLimited(Duration),
    Other,
}

fn classify(resp: &Response) -> Answer {
    let (errcode, error) = resp.matrix_error();
    match resp.status {
        200 => Answer::Created,
        400 if errcode == "M_USER_IN_USE" => Answer::Exists,
        // Synapse: 400 "unrecognised nonce" (single use, 60 s). Dendrite: 500 with a message.
        400 | 500 if error.contains("nonce") => Answer::BadNonce,
        429 => {
            let ms = resp.json()["retry_after_ms"].as_u64().unwrap_or(1000);
            Answer::RateLimited(Duration::from_millis(ms))
        }
        _ => Answer::Other,
    }
}

/// A message for an answer that ends the attempt, with a hint where we know the cause.
fn explain(resp: &Response) -> String {
    let (_, error) = resp.matrix_error();
    let hint = if resp.status == 403 && error.contains("HMAC") {
        "the shared secret is wrong: check this host's shared_secret"
    } else if error.contains("not enabled") {
        "the server has no registration_shared_secret configured"
    } else {
        ""
    };
    if hint.is_empty() {
        format!("registration refused: {}", resp.describe())
    } else {
        format!("registration refused: {} ({hint})", resp.describe())
    }
}

/// The server answers with the ID it created; a different server name means the inventory's
/// `server_name` does not match the server, which the operator should hear about.
/// "Created" only on the answer the contract defines: a JSON body whose `user_id` is the user
/// asked for (synapse/rest/admin/users.py, UserRegisterServlet, returns it with or without
/// `inhibit_login`; Dendrite's clientapi/routing/register.go does the same). A proxy's HTML
/// page or an error JSON under a 200 is a failure, never an account.
fn check_user_id(resp: &Response, expected: &UserId) -> Result<(), Failure> {
    match resp.json()["user_id"].as_str() {
        Some(got) if got == expected.to_string() => Ok(()),
        Some(got) => Err(Failure::Rejected(format!(
            "the server created {got}, not {expected}: fix this host's server_name"
        ))),
        None => Err(Failure::Rejected(format!(
            "HTTP 200 without the user_id a registration returns, so no account is assumed; the answer began: {:?}",
            first_line(&resp.body)
        ))),
    }
}

/// The start of a body, for a message (the renderers strip control characters).
fn first_line(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    line.trim().chars().take(120).collect()
}

/// hex(HMAC-SHA1(secret, nonce NUL user NUL password NUL "admin"|"notadmin" [NUL user_type])),
/// over the user name exactly as sent (Synapse lower-cases it only after checking the MAC);
/// the user type is part of it only when one is sent (UserRegisterServlet, and
/// synapse/_scripts/register_new_matrix_user.py's `request_registration`).
fn mac(
    secret: &SecretString,
    nonce: &str,
    user: &str,
    password: &SecretString,
    admin: bool,
    user_type: Option<&str>,
) -> String {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(secret.expose_secret().as_bytes())
        .expect("HMAC takes a key of any length");
    for (i, part) in [
        nonce.as_bytes(),
        user.as_bytes(),
        password.expose_secret().as_bytes(),
        if admin {
            b"admin".as_slice()
        } else {
            b"notadmin"
        },
    ]
    .into_iter()
    .chain(user_type.map(str::as_bytes))
    .enumerate()
    {
        if i > 0 {
            mac.update(b"\0");
        }
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Scripted;
    use std::sync::Arc;

    fn run(answers: Vec<(u16, serde_json::Value)>) -> (Result<Outcome, Failure>, Arc<Scripted>) {
        let http = Scripted::new(answers);
        let user = UserId::new("john", "example.com").unwrap();
        let password = SecretString::from("pw");
        let backend = SharedSecret {
            http: http.clone(),
            secret: SecretString::from("s3cret"),
            via: String::new(),
        };
        let reg = Registration::new(&user, &password, true);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let out = rt.block_on(backend.register(&reg));
        (out, http)
    }

    #[test]
    fn mac_matches_synapse_reference() {
        // Computed with Python: hmac.new(b"s3cret", b"abc\x00john\x00pw\x00admin", sha1).hexdigest()
        let got = mac(
            &SecretString::from("s3cret"),
            "abc",
            "john",
            &SecretString::from("pw"),
            true,
            None,
        );
        assert_eq!(got, "09c755788f84cb0c17b767fba701c3b1945d39df");
        // hmac.new(b"s3cret", b"abc\x00john\x00pw\x00notadmin\x00bot", sha1).hexdigest()
        let got = mac(
            &SecretString::from("s3cret"),
            "abc",
            "john",
            &SecretString::from("pw"),
            false,
            Some("bot"),
        );
        assert_eq!(got, "56058be7302ee018df0f49e37bf029f732ea322f");
    }

    #[test]
    fn created_sends_mac_and_inhibits_login() {
        let (out, http) = run(vec![
            (200, json!({"nonce": "n1"})),
            (200, json!({"user_id": "@john:example.com"})),
        ]);
        assert_eq!(out, Ok(Outcome::Created { admin: true }));
        let seen = http.seen.lock().unwrap();
        let body = seen[1].1.as_ref().unwrap();
        assert_eq!(body["nonce"], "n1");
        assert_eq!(body["inhibit_login"], true);
        assert_eq!(body["admin"], true);
        assert_eq!(
            body["mac"],
            mac(
                &SecretString::from("s3cret"),
                "n1",
                "john",
                &SecretString::from("pw"),
                true,
                None
            )
        );
        assert!(body.get("user_type").is_none(), "only sent when asked for");
    }

    #[test]
    fn user_in_use_is_exists() {
        let (out, _) = run(vec![
            (200, json!({"nonce": "n1"})),
            (
                400,
                json!({"errcode": "M_USER_IN_USE", "error": "User ID already taken."}),
            ),
        ]);
        assert_eq!(out, Ok(Outcome::Exists));
    }

    #[test]
    fn expired_nonce_gets_one_fresh_attempt() {
        let stale = (
            400,
            json!({"errcode": "M_UNKNOWN", "error": "unrecognised nonce"}),
        );
        let (out, http) = run(vec![
            (200, json!({"nonce": "n1"})),
            stale.clone(),
            (200, json!({"nonce": "n2"})),
            (200, json!({"user_id": "@john:example.com"})),
        ]);
        assert_eq!(out, Ok(Outcome::Created { admin: true }));
        assert_eq!(http.seen.lock().unwrap().len(), 4);

        let (out, _) = run(vec![
            (200, json!({"nonce": "n1"})),
            stale.clone(),
            (200, json!({"nonce": "n2"})),
            stale,
        ]);
        assert!(matches!(out, Err(Failure::Rejected(m)) if m.contains("unrecognised nonce")));
    }

    #[test]
    fn rate_limit_waits_then_retries() {
        let (out, http) = run(vec![
            (200, json!({"nonce": "n1"})),
            (
                429,
                json!({"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 1500}),
            ),
            (200, json!({"nonce": "n2"})),
            (200, json!({"user_id": "@john:example.com"})),
        ]);
        assert_eq!(out, Ok(Outcome::Created { admin: true }));
        assert_eq!(http.seen.lock().unwrap().len(), 4);
    }

    #[test]
    fn wrong_secret_is_named_and_secret_free() {
        let (out, _) = run(vec![
            (200, json!({"nonce": "n1"})),
            (
                403,
                json!({"errcode": "M_UNKNOWN", "error": "HMAC incorrect"}),
            ),
        ]);
        let Err(Failure::Rejected(msg)) = out else {
            panic!("{out:?}")
        };
        assert!(msg.contains("shared secret is wrong"), "{msg}");
        assert!(!msg.contains("s3cret") && !msg.contains("pw"), "{msg}");
    }

    #[test]
    fn other_errors_are_reported_with_the_server_text() {
        let (out, http) = run(vec![
            (200, json!({"nonce": "n1"})),
            (
                500,
                json!({"errcode": "M_UNKNOWN", "error": "Internal server error"}),
            ),
        ]);
        assert_eq!(
            out,
            Err(Failure::Rejected(
                "registration refused: HTTP 500: M_UNKNOWN: Internal server error".into()
            ))
        );
        assert_eq!(http.requests().len(), 2, "an answer is not retried");
    }

    #[test]
    fn not_served_points_to_mas() {
        let (out, _) = run(vec![(404, json!({"errcode": "M_UNRECOGNIZED"}))]);
        assert!(matches!(out, Err(Failure::Rejected(m)) if m.contains("MAS")));
    }

    #[test]
    fn encode_escapes_user_ids() {
        assert_eq!(encode("@a/b+c:x.org"), "%40a%2Fb%2Bc%3Ax.org");
    }

    #[test]
    fn other_server_name_is_reported() {
        let (out, _) = run(vec![
            (200, json!({"nonce": "n1"})),
            (200, json!({"user_id": "@john:other.org"})),
        ]);
        assert!(
            matches!(out, Err(Failure::Rejected(m)) if m.contains("fix this host's server_name"))
        );
    }
}
