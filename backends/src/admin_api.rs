//! What the homeserver admin-API backends (`synapse-api`, `dendrite-api`) read from the
//! inventory: the server's `url` and an admin's `admin_token`, sent as a bearer token. The
//! token is a secret source, or `{login: {user: NAME, password: SOURCE}}`: a password login
//! (the client-server API's `m.login.password`, which Synapse and Dendrite both serve) made
//! once per host per run, whose device is logged out when the run ends.
//!
//! `url_on_host` instead of `url`: the API as the host itself sees it (its loopback, where a
//! homeserver behind a firewall listens), reached over the connection provision already
//! holds to the host (its SSH; [`Ports::tunnel`]), so an admin API the operator's machine
//! cannot reach needs no port opened.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tokio::sync::OnceCell;

use crate::matrix::MatrixAnswer;
use crate::port::http::{Auth, Http, HttpPort, Request, Response};
use crate::port::{Failure, Ports};
use crate::settings::{Login, Secret, Settings, reveal};

pub struct AdminApiConfig {
    url: String,
    /// `url_on_host`: `url` is the host's own address, (host, port) through its connection.
    on_host: Option<(String, u16)>,
    admin_token: Credential,
}

/// `url_on_host`: `http://HOST[:PORT][/]`, HOST a name, an IPv4 address or a bracketed IPv6
/// literal, as a server name is written (spec: "Server Name"); the (host, port) to forward to.
fn on_host(url: &str) -> Result<(String, u16), String> {
    let rest = url.strip_prefix("http://").ok_or(
        "plain http:// only: the forward reaches the host's own listener, where TLS is not needed",
    )?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) =
        crate::user_id::split_server_name(rest).map_err(|e| e.replace("server name", "address"))?;
    let port = match port {
        Some(p) => p.parse::<u16>().map_err(|_| format!("{p} is not a port"))?,
        None => 80,
    };
    Ok((host.to_owned(), port))
}

/// Where the admin's token comes from.
enum Credential {
    Token(Secret),
    Login(Login),
}

impl fmt::Display for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Token(source) => write!(f, "{source}"),
            Credential::Login(login) => write!(
                f,
                "a login as {} (password from {})",
                login.user, login.password
            ),
        }
    }
}

impl AdminApiConfig {
    /// `backend`: the backend's name; `token_is`: whose token it must be, for the "missing"
    /// message.
    pub fn read<S: Settings>(s: &S, backend: &str, token_is: &str) -> Result<Self, S::Error> {
        let admin_token = match s.login("admin_token")? {
            Some(login) => Credential::Login(login),
            None => Credential::Token(s.secret(
                "admin_token",
                &format!(
                    "{backend} needs {token_is} ({{file: PATH}} or {{env: NAME}}), or {{login: {{user: NAME, password: {{file: PATH}}}}}}"
                ),
            )?),
        };
        if let Some(url) = s.optional_url("url_on_host")? {
            let at = on_host(&url).map_err(|why| s.wrong("url_on_host", &why))?;
            return Ok(AdminApiConfig {
                url,
                on_host: Some(at),
                admin_token,
            });
        }
        Ok(AdminApiConfig {
            url: s.url(
                "url",
                &format!("{backend} calls the homeserver's API at this URL (or url_on_host)"),
            )?,
            on_host: None,
            admin_token,
        })
    }

    /// For `provision inventory`: the token by its source only.
    pub fn show(&self, kind: &str) -> serde_json::Value {
        let key = if self.on_host.is_some() {
            "url_on_host"
        } else {
            "url"
        };
        json!({"kind": kind, key: self.url, "admin_token": self.admin_token.to_string()})
    }

    /// The session with the server, and where requests go ("via `api` at URL, token from
    /// SOURCE"), for `--check`. A token source is read now, as every backend's secrets are
    /// when it is built; a login's password only when the first request needs the token.
    pub(crate) fn open(
        &self,
        ports: &dyn Ports,
        api: &str,
    ) -> Result<(AdminSession, String), String> {
        let token = match &self.admin_token {
            Credential::Token(source) => AdminToken::Given(reveal("admin_token", source)?),
            Credential::Login(login) => AdminToken::Login {
                login: login.clone(),
                session: OnceCell::new(),
            },
        };
        let (http, at) = self.port(ports)?;
        Ok((
            AdminSession { http, token },
            format!("via {api} at {at}, token from {}", self.admin_token),
        ))
    }

    /// Requests to the API, and where they go, for messages.
    fn port(&self, ports: &dyn Ports) -> Result<(HttpPort, String), String> {
        match &self.on_host {
            None => Ok((ports.http(&self.url)?, self.url.clone())),
            Some((host, port)) => {
                let tunnel = ports
                    .tunnel()
                    .map_err(|why| format!("url_on_host needs the host's own connection: {why}"))?;
                let at = format!("{} on the host, {}", self.url, tunnel.describe());
                Ok((tunnel.http(host, *port).http, at))
            }
        }
    }

    /// `provision login`: a password login at this server, whose token the operator keeps
    /// (its device stays: the token is for later runs). The port is made now; the future
    /// logs in and answers the URL it logged in at and the token.
    pub fn login(
        &self,
        ports: &dyn Ports,
        user: String,
        password: SecretString,
    ) -> Result<impl Future<Output = Result<(String, SecretString), Failure>> + Send + use<>, String>
    {
        let (http, url) = (self.port(ports)?.0, self.url.clone());
        Ok(async move { login(&http, &user, &password).await.map(|t| (url, t)) })
    }
}

/// `POST /_matrix/client/v3/login` with `m.login.password` (the spec's "Login"; Synapse's
/// synapse/rest/client/login.py, Dendrite's clientapi/routing/login.go). The device is named
/// `provision`, so an admin can tell it among their sessions.
async fn login(
    http: &HttpPort,
    user: &str,
    password: &SecretString,
) -> Result<SecretString, Failure> {
    let body = json!({
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user},
        "password": password.expose_secret(),
        "initial_device_display_name": "provision",
    });
    let resp = http
        .send(Request::post("/_matrix/client/v3/login", body))
        .await?;
    if resp.status != 200 {
        return Err(login_failed(user, &resp));
    }
    resp.json()["access_token"]
        .as_str()
        .map(|t| SecretString::from(t.to_owned()))
        .ok_or_else(|| {
            Failure::Rejected(format!(
                "admin_token login as {user}: HTTP 200 without an access_token"
            ))
        })
}

/// "admin_token login as NAME: M_FORBIDDEN Invalid username or password" (the server's
/// words; a password is never in them).
fn login_failed(user: &str, resp: &Response) -> Failure {
    let (errcode, error) = resp.matrix_error();
    let said = match errcode.is_empty() {
        true => resp.describe(),
        false => format!("{errcode} {error}"),
    };
    Failure::Rejected(format!("admin_token login as {user}: {said}"))
}

/// One run's connection to an admin API, with the admin's token: given, or logged in for.
pub(crate) struct AdminSession {
    pub http: HttpPort,
    token: AdminToken,
}

enum AdminToken {
    Given(SecretString),
    /// Logged in on first use; every request of the run (concurrent ones too) waits for that
    /// one login and shares its answer, a failed one included: a wrong password is tried
    /// once, not once per user.
    Login {
        login: Login,
        session: OnceCell<Result<SecretString, Failure>>,
    },
}

impl AdminSession {
    /// A session with a token given as it is (for tests).
    #[cfg(test)]
    pub fn given(http: HttpPort, token: &str) -> Self {
        AdminSession {
            http,
            token: AdminToken::Given(SecretString::from(token.to_owned())),
        }
    }

    /// The admin's token, logging in first where the inventory says `login`. The password is
    /// read from its source here, not before: a run that sends nothing never reads it.
    pub async fn token(&self) -> Result<SecretString, Failure> {
        match &self.token {
            AdminToken::Given(token) => Ok(token.clone()),
            AdminToken::Login { login: l, session } => session
                .get_or_init(|| async {
                    let password = reveal("admin_token login password", &l.password)
                        .map_err(Failure::Rejected)?;
                    login(&self.http, &l.user, &password).await
                })
                .await
                .clone(),
        }
    }

    /// Sends `request` with the admin's token.
    pub async fn send(&self, request: Request) -> Result<Response, Failure> {
        let token = self.token().await?;
        self.http.send(request.auth(Auth::Bearer(token))).await
    }

    /// Whose token it is (`GET /_matrix/client/v3/account/whoami`, the spec's): its user ID,
    /// or the answer when it is not 200, for the backend to say why in its own words.
    pub async fn whoami(&self) -> Result<Result<String, Response>, Failure> {
        let resp = self
            .send(Request::get("/_matrix/client/v3/account/whoami"))
            .await?;
        if resp.status != 200 {
            return Ok(Err(resp));
        }
        Ok(Ok(resp.json()["user_id"].as_str().unwrap_or("").to_owned()))
    }

    /// Logs out the device this run's login made (`POST /_matrix/client/v3/logout`), so that
    /// runs do not pile devices up on the admin's account. A failure is a warning: the run's
    /// work is done by then.
    pub async fn close(&self) {
        let AdminToken::Login { login, session } = &self.token else {
            return;
        };
        let Some(Ok(token)) = session.get() else {
            return;
        };
        let request =
            Request::post("/_matrix/client/v3/logout", json!({})).auth(Auth::Bearer(token.clone()));
        let problem = match self.http.send(request).await {
            Ok(resp) if resp.status == 200 => return,
            Ok(resp) => resp.describe(),
            Err(e) => e.to_string(),
        };
        tracing::warn!(
            "admin_token login as {}: its device (\"provision\") could not be logged out: {problem}",
            login.user
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Scripted, block_on};
    use std::sync::Arc;

    struct Fixed(&'static str);
    impl fmt::Display for Fixed {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("test source")
        }
    }
    impl crate::settings::SecretSource for Fixed {
        fn resolve(&self) -> Result<SecretString, String> {
            Ok(SecretString::from(self.0.to_owned()))
        }
    }

    fn session(http: Arc<Scripted>) -> AdminSession {
        AdminSession {
            http,
            token: AdminToken::Login {
                login: Login {
                    user: "admin".into(),
                    password: Arc::new(Fixed("hunter2")),
                },
                session: OnceCell::new(),
            },
        }
    }

    #[test]
    fn logs_in_once_for_every_request_and_out_at_the_end() {
        let http = Scripted::new(vec![
            (200, json!({"access_token": "syt_login", "device_id": "D"})),
            (200, json!({})),
            (200, json!({})),
            (200, json!({})),
        ]);
        let api = session(http.clone());
        block_on(async {
            api.send(Request::get("/a")).await.unwrap();
            api.send(Request::get("/b")).await.unwrap();
            api.close().await;
        });
        assert_eq!(
            http.requests(),
            [
                "Post /_matrix/client/v3/login",
                "Get /a",
                "Get /b",
                "Post /_matrix/client/v3/logout"
            ]
        );
        let seen = http.seen.lock().unwrap();
        assert_eq!(
            seen[0].1,
            Some(json!({"type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": "admin"},
                "password": "hunter2", "initial_device_display_name": "provision"}))
        );
        let auth = http.auth.lock().unwrap();
        assert_eq!(auth[0], None);
        assert!(
            auth[1..]
                .iter()
                .all(|a| a.as_deref() == Some("Bearer syt_login"))
        );
    }

    #[test]
    fn a_refused_login_is_tried_once_said_plainly_and_nothing_is_logged_out() {
        let http = Scripted::new(vec![(
            403,
            json!({"errcode": "M_FORBIDDEN", "error": "Invalid username or password"}),
        )]);
        let api = session(http.clone());
        let (first, second) = block_on(async {
            let first = api.send(Request::get("/a")).await;
            let second = api.send(Request::get("/b")).await;
            api.close().await;
            (first, second)
        });
        let want = Failure::Rejected(
            "admin_token login as admin: M_FORBIDDEN Invalid username or password".into(),
        );
        assert_eq!(first.err(), Some(want.clone()));
        assert_eq!(second.err(), Some(want));
        assert_eq!(http.requests(), ["Post /_matrix/client/v3/login"]);
    }
}

#[cfg(test)]
mod url_on_host {
    use super::on_host;

    #[test]
    fn url_on_host_is_a_plain_http_address_on_the_host() {
        assert_eq!(
            on_host("http://127.0.0.1:8008/"),
            Ok(("127.0.0.1".into(), 8008))
        );
        assert_eq!(on_host("http://[::1]:8008"), Ok(("::1".into(), 8008)));
        assert_eq!(on_host("http://synapse"), Ok(("synapse".into(), 80)));
        for bad in [
            "https://127.0.0.1:8008",
            "http://127.0.0.1:8008/_matrix",
            "http://127.0.0.1:99999",
            "http://a b:80",
            "http://[1.2.3.4]:80",
        ] {
            assert!(on_host(bad).is_err(), "{bad}");
        }
    }
}
