//! The admin flag set in the homeserver's database: Synapse's `users.admin` (0/1, keyed by the
//! full user ID) or Dendrite's `userapi_accounts.account_type` (3 admin, 1 user, keyed by the
//! localpart); Dendrite has no API for it. Reads first, so an unchanged flag is reported "ok".

use crate::sql::{Param, Sql};
use crate::{Failure, Outcome, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    Synapse,
    Dendrite,
}

/// Synapse caches user info per process: found by test on 1.163.2 (and in
/// shared/contracts/synapse.md), the running server answers with the old flag for a user it
/// has looked up since it started, until it restarts.
pub const SYNAPSE_CACHE_NOTE: &str = "set in the database: a running Synapse may keep using the old flag for this user until it restarts";

const DENDRITE_ADMIN: i16 = 3;
const DENDRITE_USER: i16 = 1;

pub struct AdminSql {
    schema: Schema,
}

impl AdminSql {
    pub fn new(schema: Schema) -> Self {
        AdminSql { schema }
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
        let changed = match self.schema {
            Schema::Synapse => {
                db.execute(
                    "UPDATE users SET admin = $1 WHERE name = $2",
                    &[Param::Int(admin.into()), Param::Text(user.to_string())],
                )
                .await?
            }
            // Guests (2) and appservice users (4) are left alone: only users and admins swap.
            Schema::Dendrite => {
                db.execute(
                    "UPDATE userapi_accounts SET account_type = $1 WHERE localpart = $2 AND account_type IN (1, 3)",
                    &[
                        Param::Int(if admin { DENDRITE_ADMIN } else { DENDRITE_USER }),
                        Param::Text(user.localpart().to_owned()),
                    ],
                )
                .await?
            }
        };
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

    async fn current(&self, db: &impl Sql, user: &UserId) -> Result<bool, Failure> {
        let value = match self.schema {
            Schema::Synapse => {
                db.query_int(
                    "SELECT admin FROM users WHERE name = $1",
                    &[Param::Text(user.to_string())],
                )
                .await?
            }
            Schema::Dendrite => {
                db.query_int(
                    "SELECT account_type FROM userapi_accounts WHERE localpart = $1",
                    &[Param::Text(user.localpart().to_owned())],
                )
                .await?
            }
        };
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

    /// A database of one table, `name -> admin`, that records statements.
    struct Table {
        rows: Mutex<Vec<(String, i64)>>,
        log: Mutex<Vec<(String, Vec<Param>)>>,
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
            let Param::Text(key) = &params[0] else {
                panic!("text key")
            };
            Ok(self
                .rows
                .lock()
                .unwrap()
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| *v))
        }

        async fn execute(&self, statement: &str, params: &[Param]) -> Result<u64, Failure> {
            self.log
                .lock()
                .unwrap()
                .push((statement.into(), params.to_vec()));
            let (Param::Int(v), Param::Text(key)) = (&params[0], &params[1]) else {
                panic!("int, text")
            };
            let mut rows = self.rows.lock().unwrap();
            let mut n = 0;
            for row in rows.iter_mut().filter(|(k, _)| k == key) {
                row.1 = i64::from(*v);
                n += 1;
            }
            Ok(n)
        }

        fn describe(&self) -> String {
            "table".into()
        }
    }

    fn table(rows: &[(&str, i64)]) -> Table {
        Table {
            rows: Mutex::new(rows.iter().map(|(k, v)| (k.to_string(), *v)).collect()),
            log: Mutex::new(Vec::new()),
        }
    }

    #[test]
    fn synapse_sets_the_flag_by_full_user_id_with_parameters() {
        let db = table(&[("@john:example.com", 0)]);
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
        assert_eq!(log[1].0, "UPDATE users SET admin = $1 WHERE name = $2");
        assert_eq!(
            log[1].1,
            vec![Param::Int(1), Param::Text("@john:example.com".into())]
        );
    }

    #[test]
    fn unchanged_flag_is_not_written() {
        let db = table(&[("@john:example.com", 1)]);
        let user = UserId::new("john", "example.com").unwrap();
        let out = block_on(AdminSql::new(Schema::Synapse).set_admin(&db, &user, true));
        assert_eq!(out, Ok(Outcome::AdminAlready { admin: true }));
        assert_eq!(db.log.lock().unwrap().len(), 1);
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
    fn dendrite_uses_account_type_by_localpart() {
        let db = table(&[("john", 1)]);
        let user = UserId::new("john", "example.com").unwrap();
        let out = block_on(AdminSql::new(Schema::Dendrite).set_admin(&db, &user, true));
        assert!(matches!(
            out,
            Ok(Outcome::AdminSet {
                admin: true,
                note: None
            })
        ));
        assert_eq!(db.rows.lock().unwrap()[0].1, 3);
    }
}
