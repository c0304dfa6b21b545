//! The admin flag set in the homeserver's database: Synapse's `users.admin` (0/1) or Dendrite's
//! `userapi_accounts.account_type` (3 admin, 1 user); Dendrite has no API for it. Every
//! statement names the account by the full identity the server keys it on, and a write must
//! reach exactly one row. Reads first, so an unchanged flag is reported "ok".

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use crate::account::{Account, Op, UserState};
use crate::keys;
use crate::port::Ports;
use crate::port::sql::{Param, Sql, SqlPort};
use crate::settings::{Backend, Config, Homeserver, Secret, Settings, reveal};
use crate::{Failure, Outcome, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    Synapse,
    Dendrite,
}

/// Synapse caches user info per process: found by test on 1.163.2, the running server answers
/// with the old flag for a user it has looked up since it started, until it restarts.
pub const SYNAPSE_CACHE_NOTE: &str = "set in the database: a running Synapse may keep using the old flag for this user until it restarts";

const DENDRITE_ADMIN: i16 = 3;
const DENDRITE_USER: i16 = 1;

/// The statements of one schema. Synapse's `users` is keyed by `name`, the full user ID
/// (`UNIQUE(name)`,
/// synapse/storage/schema/main/full_schemas/16/users.sql). Dendrite's
/// `userapi_accounts` is unique on `(localpart, server_name)`
/// (userapi/storage/postgres/accounts_table.go, `userapi_accounts_idx`): one database may
/// serve several server names, so the localpart alone would reach another server's user.
/// Every write also requires its key to match exactly one row, inside the one statement, so a
/// table without that unique index still never has two rows changed.
struct Statements {
    count: &'static str,
    read: &'static str,
    /// The rest of a user's state the database tells safely, one integer each (booleans as 0/1),
    /// the same key as `read`.
    deactivated: &'static str,
    locked: Option<&'static str>,
    created_ms: &'static str,
    /// `$1` the new value, then the key.
    write: &'static str,
}

const SYNAPSE: Statements = Statements {
    count: "SELECT count(*) FROM users WHERE name = $1",
    read: "SELECT admin FROM users WHERE name = $1",
    deactivated: "SELECT deactivated FROM users WHERE name = $1",
    // A boolean (synapse/storage/schema/main/delta/80/01_users_alter_locked.sql).
    locked: Some("SELECT CASE WHEN locked THEN 1 ELSE 0 END FROM users WHERE name = $1"),
    // Seconds in Synapse's table.
    created_ms: "SELECT creation_ts * 1000 FROM users WHERE name = $1",
    write: "UPDATE users SET admin = $1 WHERE name = $2 \
            AND (SELECT count(*) FROM users WHERE name = $2) = 1",
};

// Guests (2) and appservice users (4) are left alone: only users and admins swap.
const DENDRITE: Statements = Statements {
    count: "SELECT count(*) FROM userapi_accounts WHERE localpart = $1 AND server_name = $2",
    read: "SELECT account_type FROM userapi_accounts WHERE localpart = $1 AND server_name = $2",
    deactivated: "SELECT CASE WHEN is_deactivated THEN 1 ELSE 0 END FROM userapi_accounts \
                  WHERE localpart = $1 AND server_name = $2",
    locked: None,
    // Milliseconds in Dendrite's table (userapi/storage/postgres/accounts_table.go).
    created_ms: "SELECT created_ts FROM userapi_accounts WHERE localpart = $1 AND server_name = $2",
    write: "UPDATE userapi_accounts SET account_type = $1 \
            WHERE localpart = $2 AND server_name = $3 AND account_type IN (1, 3) \
            AND (SELECT count(*) FROM userapi_accounts WHERE localpart = $2 AND server_name = $3) = 1",
};

pub struct AdminSql {
    db: SqlPort,
    schema: Schema,
    /// For `--check`: the database, and where its URL comes from.
    via: String,
}

/// How provision reaches the database: a connection of its own, or psql on the host. One
/// or the other, never both.
enum Via {
    /// A libpq URL; tunnelled through the host's SSH when it has one.
    Url(Secret),
    /// psql (or a wrapper taking psql's arguments, like the playbook's cli-non-interactive)
    /// run on the host, which connects by itself.
    Psql(PsqlConfig),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PsqlConfig {
    #[serde(default = "default_psql")]
    command: String,
    database: Option<String>,
}

fn default_psql() -> String {
    "psql".into()
}

struct AdminSqlConfig {
    via: Via,
    schema: Schema,
}

impl Backend for AdminSql {
    const NAME: &'static str = "sql";
    const KEYS: &'static [&'static str] = &["database_url", "psql"];
    const MAPPINGS: &'static [keys::Mapping] = &[("psql", keys::of::<PsqlConfig>)];
    const OPS: &'static [Op] = &[Op::Read, Op::SetAdmin];
    const RUNS_PROGRAMS: bool = false;

    fn configure<S: Settings>(s: &S) -> Result<Box<dyn Config>, S::Error> {
        let psql = s.mapping::<PsqlConfig>("psql", "expected {command: PATH, database: NAME}")?;
        let via = match (s.line("database_url"), psql) {
            (Some(_), None) => Via::Url(s.secret("database_url", "")?),
            (Some(_), Some(_)) => {
                return Err(s.wrong(
                    "database_url",
                    "give database_url (provision connects) or psql (psql on the host connects by itself), not both",
                ));
            }
            (None, Some(psql)) => Via::Psql(psql),
            (None, None) => {
                return Err(s.missing(
                    "database_url",
                    "admin_backend sql needs a libpq URL as {file: PATH} or {env: NAME}, or `psql` to run psql on the host",
                ));
            }
        };
        let schema = match s.homeserver() {
            Homeserver::Dendrite => Schema::Dendrite,
            Homeserver::Synapse => Schema::Synapse,
            Homeserver::Tuwunel => {
                return Err(s.wrong(
                    "admin_backend",
                    "tuwunel keeps its accounts in RocksDB, not SQL: use admin_backend: synapse-api (tuwunel serves Synapse's admin API)",
                ));
            }
            Homeserver::Continuwuity => {
                return Err(s.wrong(
                    "admin_backend",
                    "continuwuity keeps its accounts in RocksDB, not SQL: use backend: admin-room (its admin bot)",
                ));
            }
        };
        Ok(Box::new(AdminSqlConfig { via, schema }))
    }
}

impl Config for AdminSqlConfig {
    fn show(&self) -> serde_json::Value {
        let (url, psql) = match &self.via {
            Via::Url(url) => (Some(url.to_string()), None),
            Via::Psql(p) => (
                None,
                Some(json!({"command": p.command, "database": p.database})),
            ),
        };
        let schema = match self.schema {
            Schema::Synapse => "synapse",
            Schema::Dendrite => "dendrite",
        };
        json!({"kind": AdminSql::NAME, "database_url": url, "psql": psql, "schema": schema})
    }

    fn build(&self, ports: &dyn Ports) -> Result<Box<dyn Account>, String> {
        let (db, via) = match &self.via {
            Via::Url(url) => {
                let db = ports.database(&reveal("database_url", url)?)?;
                let via = format!("in {} (database_url from {url})", db.describe());
                (db, via)
            }
            // On the host, never in the tool's container: psql or the playbook's wrapper
            // are installed there, and connect from there.
            Via::Psql(p) => {
                let db = ports.psql(&p.command, p.database.as_deref())?;
                let via = format!("by {}", db.describe());
                (db, via)
            }
        };
        let mut sql = AdminSql::new(db, self.schema);
        sql.via = via;
        Ok(Box::new(sql))
    }
}

#[async_trait]
impl Account for AdminSql {
    fn via(&self) -> String {
        self.via.clone()
    }

    /// The database answers.
    async fn ping(&self) -> Result<String, Failure> {
        self.db.query_int("SELECT 1", &[]).await?;
        Ok(format!("{} answers", self.db.describe()))
    }

    /// The admin flag, deactivation, the lock (Synapse) and the creation time: what the
    /// database tells safely. Changing more than the admin flag is not a job for SQL
    /// (devices must be logged out, passwords hashed): the API backends do it.
    async fn read(&self, user: &UserId) -> Result<Option<UserState>, Failure> {
        let Some(admin) = self.current(user).await? else {
            return Ok(None);
        };
        let (db, key, st) = (&self.db, self.key(user), self.statements());
        let deactivated = db.query_int(st.deactivated, &key).await?.map(|v| v != 0);
        let locked = match st.locked {
            // A Synapse from before the column (1.91) cannot say: unknown, not a failure.
            Some(statement) => db
                .query_int(statement, &key)
                .await
                .ok()
                .flatten()
                .map(|v| v != 0),
            None => None,
        };
        let created_ms = db
            .query_int(st.created_ms, &key)
            .await?
            .and_then(|v| u64::try_from(v).ok());
        Ok(Some(UserState {
            admin: Some(admin),
            deactivated,
            locked,
            created_ms,
            ..UserState::default()
        }))
    }

    async fn set_admin(&self, user: &UserId, admin: bool, check: bool) -> Result<Outcome, Failure> {
        let db = &self.db;
        let Some(current) = self.current(user).await? else {
            return Err(Failure::Rejected(format!(
                "no such user {user} ({})",
                db.describe()
            )));
        };
        if current == admin {
            return Ok(Outcome::AdminAlready { admin });
        }
        if check {
            return Ok(Outcome::WouldSetAdmin { admin });
        }
        let value = match self.schema {
            Schema::Synapse => Param::Int(admin.into()),
            Schema::Dendrite => Param::Int(if admin { DENDRITE_ADMIN } else { DENDRITE_USER }),
        };
        let mut params = vec![value];
        params.extend(self.key(user));
        let changed = db.execute(self.statements().write, &params).await?;
        if changed != 1 {
            return Err(Failure::Rejected(format!(
                "expected to change 1 row for {user}, changed {changed} ({})",
                db.describe()
            )));
        }
        let note = (self.schema == Schema::Synapse).then(|| SYNAPSE_CACHE_NOTE.to_owned());
        Ok(Outcome::AdminSet { admin, note })
    }
}

impl AdminSql {
    pub fn new(db: SqlPort, schema: Schema) -> Self {
        let via = format!("in {}", db.describe());
        AdminSql { db, schema, via }
    }

    fn statements(&self) -> &'static Statements {
        match self.schema {
            Schema::Synapse => &SYNAPSE,
            Schema::Dendrite => &DENDRITE,
        }
    }

    /// The account's key, as the schema stores it.
    fn key(&self, user: &UserId) -> Vec<Param> {
        match self.schema {
            Schema::Synapse => vec![Param::Text(user.to_string())],
            Schema::Dendrite => vec![
                Param::Text(user.localpart().to_owned()),
                Param::Text(user.server_name().to_owned()),
            ],
        }
    }

    /// The flag of the one account with this key; `None` when there is none. Several (a
    /// table without upstream's unique index) is refused rather than guessed at.
    async fn current(&self, user: &UserId) -> Result<Option<bool>, Failure> {
        let db = &self.db;
        let key = self.key(user);
        match db.query_int(self.statements().count, &key).await? {
            Some(1) => {}
            None | Some(0) => return Ok(None),
            Some(n) => {
                return Err(Failure::Rejected(format!(
                    "{n} rows match {user}, expected one: nothing changed ({})",
                    db.describe()
                )));
            }
        }
        let value = db.query_int(self.statements().read, &key).await?;
        Ok(match (self.schema, value) {
            (_, None) => None,
            (Schema::Synapse, Some(v)) => Some(v != 0),
            (Schema::Dendrite, Some(v)) => Some(v == i64::from(DENDRITE_ADMIN)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::block_on;
    use std::sync::Mutex;

    /// A table of `(key columns, flag)` that runs the three statement shapes and records them.
    /// The key is the statement's text parameters, in order.
    struct Table {
        rows: Mutex<Vec<(Vec<String>, i64)>>,
        log: Mutex<Vec<(String, Vec<Param>)>>,
    }

    fn texts(params: &[Param]) -> Vec<String> {
        params
            .iter()
            .filter_map(|p| match p {
                Param::Text(t) => Some(t.clone()),
                Param::Int(_) => None,
            })
            .collect()
    }

    impl Sql for Table {
        async fn query_int(
            &self,
            statement: &str,
            params: &[Param],
        ) -> Result<Option<i64>, Failure> {
            self.log
                .lock()
                .unwrap()
                .push((statement.into(), params.to_vec()));
            let key = texts(params);
            let rows = self.rows.lock().unwrap();
            let mut matching = rows.iter().filter(|(k, _)| *k == key);
            if statement.starts_with("SELECT count(*)") {
                return Ok(Some(matching.count() as i64));
            }
            Ok(matching.next().map(|(_, v)| *v))
        }

        async fn execute(&self, statement: &str, params: &[Param]) -> Result<u64, Failure> {
            self.log
                .lock()
                .unwrap()
                .push((statement.into(), params.to_vec()));
            let Param::Int(v) = &params[0] else {
                panic!("the value first")
            };
            let key = texts(&params[1..]);
            let mut rows = self.rows.lock().unwrap();
            // The statement's own guard: exactly one row has the key.
            if rows.iter().filter(|(k, _)| *k == key).count() != 1 {
                return Ok(0);
            }
            for row in rows.iter_mut().filter(|(k, _)| *k == key) {
                row.1 = i64::from(*v);
            }
            Ok(1)
        }

        fn describe(&self) -> String {
            "table".into()
        }
    }

    fn table(rows: &[(&[&str], i64)]) -> std::sync::Arc<Table> {
        std::sync::Arc::new(Table {
            rows: Mutex::new(
                rows.iter()
                    .map(|(k, v)| (k.iter().map(|s| s.to_string()).collect(), *v))
                    .collect(),
            ),
            log: Mutex::new(Vec::new()),
        })
    }

    #[test]
    fn synapse_sets_the_flag_by_full_user_id_with_parameters() {
        let db = table(&[(&["@john:example.com"], 0)]);
        let user = UserId::new("john", "example.com").unwrap();
        let out =
            block_on(AdminSql::new(db.clone(), Schema::Synapse).set_admin(&user, true, false));
        assert!(matches!(
            out,
            Ok(Outcome::AdminSet {
                admin: true,
                note: Some(_)
            })
        ));
        assert_eq!(db.rows.lock().unwrap()[0].1, 1);
        let log = db.log.lock().unwrap();
        let (statement, params) = log.last().unwrap();
        assert!(statement.starts_with("UPDATE users SET admin = $1 WHERE name = $2"));
        assert_eq!(
            params,
            &vec![Param::Int(1), Param::Text("@john:example.com".into())]
        );
    }

    #[test]
    fn unchanged_flag_is_not_written() {
        let db = table(&[(&["@john:example.com"], 1)]);
        let user = UserId::new("john", "example.com").unwrap();
        let out =
            block_on(AdminSql::new(db.clone(), Schema::Synapse).set_admin(&user, true, false));
        assert_eq!(out, Ok(Outcome::AdminAlready { admin: true }));
        assert!(
            db.log
                .lock()
                .unwrap()
                .iter()
                .all(|(s, _)| s.starts_with("SELECT"))
        );
    }

    #[test]
    fn missing_user_is_an_error() {
        let db = table(&[]);
        let user = UserId::new("john", "example.com").unwrap();
        let out =
            block_on(AdminSql::new(db.clone(), Schema::Synapse).set_admin(&user, true, false));
        assert!(
            matches!(out, Err(Failure::Rejected(m)) if m.contains("no such user @john:example.com"))
        );
    }

    #[test]
    fn dendrite_keys_on_localpart_and_server_name() {
        let db = table(&[(&["john", "b.org"], 1), (&["john", "example.com"], 1)]);
        let user = UserId::new("john", "example.com").unwrap();
        let out =
            block_on(AdminSql::new(db.clone(), Schema::Dendrite).set_admin(&user, true, false));
        assert!(matches!(
            out,
            Ok(Outcome::AdminSet {
                admin: true,
                note: None
            })
        ));
        let rows = db.rows.lock().unwrap();
        assert_eq!((rows[0].1, rows[1].1), (1, 3), "only example.com's john");
    }

    #[test]
    fn dendrite_user_of_another_server_is_no_such_user() {
        let db = table(&[(&["john", "b.org"], 1)]);
        let user = UserId::new("john", "example.com").unwrap();
        let out =
            block_on(AdminSql::new(db.clone(), Schema::Dendrite).set_admin(&user, true, false));
        assert!(
            matches!(&out, Err(Failure::Rejected(m)) if m.contains("no such user @john:example.com")),
            "{out:?}"
        );
        assert_eq!(db.rows.lock().unwrap()[0].1, 1);
    }

    #[test]
    fn two_rows_for_one_key_are_refused_and_nothing_is_written() {
        let db = table(&[(&["john", "example.com"], 1), (&["john", "example.com"], 1)]);
        let user = UserId::new("john", "example.com").unwrap();
        let out =
            block_on(AdminSql::new(db.clone(), Schema::Dendrite).set_admin(&user, true, false));
        assert!(
            matches!(&out, Err(Failure::Rejected(m)) if m.contains("2 rows match")),
            "{out:?}"
        );
        assert!(
            db.log
                .lock()
                .unwrap()
                .iter()
                .all(|(s, _)| s.starts_with("SELECT"))
        );
    }
}
