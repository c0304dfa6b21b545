//! PostgreSQL, for the SQL admin backend: directly, or through an SSH tunnel when the database
//! listens only on its host (the usual case). One connection per host for the run; statements
//! are parameterized by the backend, so values never become SQL text.

use std::sync::Arc;

use provision_backends::port::sql::{Param, Sql};
use provision_backends::port::{ExposeSecret, Failure, SecretString};
use tokio::sync::OnceCell;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::Ssh;

pub struct Postgres {
    config: Config,
    /// libpq's sslmode, for messages.
    mode: super::pg_tls::Mode,
    /// rustls, with the verifier the sslmode asks for.
    tls: MakeRustlsConnect,
    /// `host:port/dbname`, for messages: never the password.
    label: String,
    via: Option<Arc<Ssh>>,
    client: OnceCell<Client>,
    /// The tunnel's socket's folder, in the run's private directory (removed with it).
    tunnel_dir: OnceCell<std::path::PathBuf>,
}

impl Postgres {
    /// `url`: a libpq URL or key=value string, with libpq's `sslmode` and `sslrootcert`
    /// (pg_tls.rs). With `via`, its host is resolved on the SSH host, and TLS, when asked
    /// for, runs inside the tunnel to that host, under that name.
    pub fn new(url: &SecretString, via: Option<Arc<Ssh>>) -> Result<Self, String> {
        let super::pg_tls::Parsed { config, mode, tls } =
            super::pg_tls::parse(url.expose_secret())?;
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let label = format!(
            "postgres {host}:{port}/{}",
            config.get_dbname().unwrap_or("")
        );
        let label = match &via {
            Some(ssh) => format!(
                "{label} via {}",
                provision_backends::port::exec::Exec::describe(&**ssh)
            ),
            None => label,
        };
        Ok(Postgres {
            config,
            mode,
            tls,
            label,
            via,
            client: OnceCell::new(),
            tunnel_dir: OnceCell::new(),
        })
    }

    async fn client(&self) -> Result<&Client, Failure> {
        self.client
            .get_or_try_init(|| async {
                let client = match &self.via {
                    None => {
                        let (client, connection) = self
                            .config
                            .connect(self.tls.clone())
                            .await
                            .map_err(|e| self.failed(e))?;
                        tokio::spawn(watch(connection));
                        client
                    }
                    Some(ssh) => {
                        let (socket, host) = self.tunnel(ssh).await?;
                        let stream =
                            tokio::net::UnixStream::connect(&socket)
                                .await
                                .map_err(|e| {
                                    Failure::Unreachable(format!(
                                        "{}: the tunnel's socket: {e}",
                                        self.label
                                    ))
                                })?;
                        // The TLS name is the database's host as the URL gives it: the tunnel
                        // only carries the bytes (tokio-postgres's own connect uses `host`
                        // the same way, src/connect.rs).
                        let tls = MakeTlsConnect::<tokio::net::UnixStream>::make_tls_connect(
                            &mut self.tls.clone(),
                            &host,
                        )
                        .unwrap_or_else(|never| match never {});
                        let (client, connection) = self
                            .config
                            .connect_raw(stream, tls)
                            .await
                            .map_err(|e| self.failed(e))?;
                        tokio::spawn(watch(connection));
                        client
                    }
                };
                Ok(client)
            })
            .await
    }

    /// Forwards a private Unix socket to the database's address on the SSH host; returns the
    /// socket (libpq's name for it: DIR/.s.PGSQL.PORT) and the database's host name.
    async fn tunnel(&self, ssh: &Ssh) -> Result<(std::path::PathBuf, String), Failure> {
        let host = match self.config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            _ => "127.0.0.1".into(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        let dir = self
            .tunnel_dir
            .get_or_try_init(|| async {
                let dir = super::rundir::entry("p")?;
                std::fs::create_dir(&dir)?;
                Ok::<_, std::io::Error>(dir)
            })
            .await
            .map_err(|e| {
                Failure::Unreachable(format!(
                    "{}: cannot make the tunnel's socket: {e}",
                    self.label
                ))
            })?;
        let socket = dir.join(format!(".s.PGSQL.{port}"));
        ssh.forward(&socket, &host, port).await?;
        Ok((socket, host))
    }

    fn failed(&self, e: tokio_postgres::Error) -> Failure {
        use std::error::Error as _;
        use tokio_postgres::error::SqlState;
        let cause = e
            .source()
            .map(|s| s.to_string())
            .unwrap_or_else(|| e.to_string());
        match e.as_db_error().map(|db| db.code()) {
            // The server refused the login: the same password will be refused again
            // (PostgreSQL's src/backend/libpq/auth.c, `auth_failed`).
            Some(&SqlState::INVALID_PASSWORD | &SqlState::INVALID_AUTHORIZATION_SPECIFICATION) => {
                Failure::Permanent(format!("{}: {cause}", self.label))
            }
            Some(_) => Failure::Rejected(format!("{}: {cause}", self.label)),
            // A certificate that does not verify will not verify on the next try either.
            None if super::cause::tls_failure(&e).is_some() => {
                Failure::Permanent(self.tls_failed(&e))
            }
            // sslmode asks for TLS and the server offers none (tokio-postgres
            // src/connect_tls.rs): a setting of the server's, not a passing state.
            None if cause == "server does not support TLS" => Failure::Permanent(format!(
                "{}: the server does not offer TLS, and sslmode={} requires it",
                self.label,
                self.mode.name()
            )),
            None if super::cause::is_dns(&e) => Failure::Permanent(format!(
                "{}: the host name does not resolve ({cause})",
                self.label
            )),
            // No connection, or it broke: nothing was changed.
            None => Failure::Unreachable(format!("{}: {cause}", self.label)),
        }
    }
}

impl Postgres {
    /// A certificate or handshake failure, named with the host and the sslmode that asked
    /// for the check, and what to change.
    fn tls_failed(&self, e: &tokio_postgres::Error) -> String {
        let (label, mode) = (&self.label, self.mode.name());
        match super::cause::tls_failure(e) {
            Some(super::cause::TlsFailure::Certificate(what)) => {
                let advice = if what.contains("host name") {
                    "connect by a name the certificate holds, or use sslmode=verify-ca to check \
                     the chain only"
                } else {
                    "set sslrootcert to the CA file that signed the server's certificate"
                };
                format!("{label}: sslmode={mode}: the TLS certificate {what}; {advice}")
            }
            Some(super::cause::TlsFailure::Handshake(why)) => {
                format!("{label}: sslmode={mode}: the TLS handshake failed: {why}")
            }
            None => format!("{label}: {e}"),
        }
    }
}

/// Drives the connection until the client is dropped.
async fn watch<F: std::future::Future<Output = Result<(), tokio_postgres::Error>>>(connection: F) {
    if let Err(e) = connection.await {
        tracing::debug!("postgres connection ended: {e}");
    }
}

fn params(params: &[Param]) -> Vec<Box<dyn ToSql + Sync + Send>> {
    params
        .iter()
        .map(|p| -> Box<dyn ToSql + Sync + Send> {
            match p {
                Param::Int(i) => Box::new(*i),
                Param::Text(t) => Box::new(t.clone()),
            }
        })
        .collect()
}

impl Sql for Postgres {
    async fn query_int(&self, statement: &str, values: &[Param]) -> Result<Option<i64>, Failure> {
        let client = self.client().await?;
        let values = params(values);
        let refs: Vec<&(dyn ToSql + Sync)> =
            values.iter().map(|b| &**b as &(dyn ToSql + Sync)).collect();
        tracing::debug!(statement, "{}", self.label);
        let row = client
            .query_opt(statement, &refs)
            .await
            .map_err(|e| self.failed(e))?;
        row.map(|row| {
            // smallint in Synapse and Dendrite; accept the wider integer types too.
            row.try_get::<_, i16>(0)
                .map(i64::from)
                .or_else(|_| row.try_get::<_, i32>(0).map(i64::from))
                .or_else(|_| row.try_get::<_, i64>(0))
                .map_err(|e| Failure::Rejected(format!("{}: {e}", self.label)))
        })
        .transpose()
    }

    async fn execute(&self, statement: &str, values: &[Param]) -> Result<u64, Failure> {
        let client = self.client().await?;
        let values = params(values);
        let refs: Vec<&(dyn ToSql + Sync)> =
            values.iter().map(|b| &**b as &(dyn ToSql + Sync)).collect();
        tracing::debug!(statement, "{}", self.label);
        client
            .execute(statement, &refs)
            .await
            .map_err(|e| self.failed(e))
    }

    fn describe(&self) -> String {
        self.label.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    /// Statements built to break out of a quoted value stay values. The user-ID validator
    /// would refuse these names first; this test calls the database layer directly to show
    /// the second line of defence holds on its own, against a real PostgreSQL.
    #[test]
    fn parameters_never_become_sql() {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut helper = Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/support/postgres.py"
            ))
            .args(["run", dir.path().to_str().unwrap(), &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs tests/support/postgres.py");
        let mut line = String::new();
        BufReader::new(helper.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("ready ")
            .expect("postgres started")
            .to_owned();

        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let db = Postgres::new(&SecretString::from(url), None).unwrap();
            db.execute(
                "CREATE TABLE users (name text PRIMARY KEY, admin smallint)",
                &[],
            )
            .await
            .unwrap();
            db.execute("INSERT INTO users VALUES ('@alice:x', 0)", &[])
                .await
                .unwrap();
            for evil in [
                "@alice:x'; UPDATE users SET admin = 1; --",
                "' OR '1'='1",
                "@alice:x\"; DROP TABLE users; --",
                "@alice:x'); DROP TABLE users; --",
            ] {
                let changed = db
                    .execute(
                        "UPDATE users SET admin = $1 WHERE name = $2",
                        &[Param::Int(1), Param::Text(evil.into())],
                    )
                    .await
                    .unwrap();
                assert_eq!(changed, 0, "{evil:?} matched a row");
                let found = db
                    .query_int(
                        "SELECT admin FROM users WHERE name = $1",
                        &[Param::Text(evil.into())],
                    )
                    .await;
                assert_eq!(found, Ok(None), "{evil:?}");
            }
            let alice = db
                .query_int(
                    "SELECT admin FROM users WHERE name = $1",
                    &[Param::Text("@alice:x".into())],
                )
                .await;
            assert_eq!(
                alice,
                Ok(Some(0)),
                "the table is intact and alice untouched"
            );
        });
        drop(helper.stdin.take());
        let _ = helper.wait();
    }
}
