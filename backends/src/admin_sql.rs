//! The admin flag set in the homeserver's database: Synapse's `users.admin` (0/1) or Dendrite's
//! `userapi_accounts.account_type` (3 admin, 1 user); Dendrite has no API for it. Every
//! statement names the account by the full identity the server keys it on, and a write must
//! reach exactly one row. Reads first, so an unchanged flag is reported "ok".

use crate::sql::{Param, Sql};
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
    /// `$1` the new value, then the key.
    write: &'static str,
}

const SYNAPSE: Statements = Statements {
    count: "SELECT count(*) FROM users WHERE name = $1",
    read: "SELECT admin FROM users WHERE name = $1",
    write: "UPDATE users SET admin = $1 WHERE name = $2 \
            AND (SELECT count(*) FROM users WHERE name = $2) = 1",
};

// Guests (2) and appservice users (4) are left alone: only users and admins swap.
const DENDRITE: Statements = Statements {
    count: "SELECT count(*) FROM userapi_accounts WHERE localpart = $1 AND server_name = $2",
    read: "SELECT account_type FROM userapi_accounts WHERE localpart = $1 AND server_name = $2",
    write: "UPDATE userapi_accounts SET account_type = $1 \
            WHERE localpart = $2 AND server_name = $3 AND account_type IN (1, 3) \
            AND (SELECT count(*) FROM userapi_accounts WHERE localpart = $2 AND server_name = $3) = 1",
};

pub struct AdminSql {
    schema: Schema,
}

impl AdminSql {
    pub fn new(schema: Schema) -> Self {
        AdminSql { schema }
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

    pub async fn set_admin(
        &self,
        db: &impl Sql,
        user: &UserId,
        admin: bool,
    ) -> Result<Outcome, Failure> {
        if self.current(db, user).await? == admin {
            return Ok(Outcome::AdminAlready { admin });
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

    /// `--check`: reads the flag, changes nothing.
    pub async fn plan(
        &self,
        db: &impl Sql,
        user: &UserId,
        admin: bool,
    ) -> Result<Outcome, Failure> {
        Ok(if self.current(db, user).await? == admin {
            Outcome::AdminAlready { admin }
        } else {
            Outcome::WouldSetAdmin { admin }
        })
    }

    /// `provision ping`: the database answers.
    pub async fn ping(&self, db: &impl Sql) -> Result<String, Failure> {
        db.query_int("SELECT 1", &[]).await?;
        Ok(format!("{} answers", db.describe()))
    }

    /// The flag of the one account with this key: none is "no such user", several (a table
    /// without upstream's unique index) is refused rather than guessed at.
    async fn current(&self, db: &impl Sql, user: &UserId) -> Result<bool, Failure> {
        let key = self.key(user);
        let rows = db.query_int(self.statements().count, &key).await?;
        match rows {
            Some(1) => {}
            None | Some(0) => {
                return Err(Failure::Rejected(format!(
                    "no such user {user} ({})",
                    db.describe()
                )));
            }
            Some(n) => {
                return Err(Failure::Rejected(format!(
                    "{n} rows match {user}, expected one: nothing changed ({})",
                    db.describe()
                )));
            }
        }
        let value = db.query_int(self.statements().read, &key).await?;
        match (self.schema, value) {
            (_, None) => Err(Failure::Rejected(format!(
                "no such user {user} ({})",
                db.describe()
            ))),
            (Schema::Synapse, Some(v)) => Ok(v != 0),
            (Schema::Dendrite, Some(v)) => Ok(v == i64::from(DENDRITE_ADMIN)),
        }
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

    fn table(rows: &[(&[&str], i64)]) -> Table {
        Table {
            rows: Mutex::new(
                rows.iter()
                    .map(|(k, v)| (k.iter().map(|s| s.to_string()).collect(), *v))
                    .collect(),
            ),
            log: Mutex::new(Vec::new()),
        }
    }

    #[test]
    fn synapse_sets_the_flag_by_full_user_id_with_parameters() {
        let db = table(&[(&["@john:example.com"], 0)]);
        let user = UserId::new("john", "example.com").unwrap();
        let out = block_on(AdminSql::new(Schema::Synapse).set_admin(&db, &user, true));
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
        let out = block_on(AdminSql::new(Schema::Synapse).set_admin(&db, &user, true));
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
        let out = block_on(AdminSql::new(Schema::Synapse).set_admin(&db, &user, true));
        assert!(
            matches!(out, Err(Failure::Rejected(m)) if m.contains("no such user @john:example.com"))
        );
    }

    #[test]
    fn dendrite_keys_on_localpart_and_server_name() {
        let db = table(&[(&["john", "b.org"], 1), (&["john", "example.com"], 1)]);
        let user = UserId::new("john", "example.com").unwrap();
        let out = block_on(AdminSql::new(Schema::Dendrite).set_admin(&db, &user, true));
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
        let out = block_on(AdminSql::new(Schema::Dendrite).set_admin(&db, &user, true));
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
        let out = block_on(AdminSql::new(Schema::Dendrite).set_admin(&db, &user, true));
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
