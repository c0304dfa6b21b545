//! SQL through `psql` run by another transport, for hosts where the database is reachable only
//! from inside and psql connects by itself: matrix-docker-ansible-deploy's
//! `/matrix/postgres/bin/cli-non-interactive`, or `psql` as the `postgres` user through
//! `become` (peer authentication). No password is involved; the statement goes on stdin and
//! only the (validated, non-secret) values on the command line, as psql variables that psql
//! itself quotes.

use provision_backends::port::exec::{Command, Exec};
use provision_backends::port::sql::{Param, Sql};
use provision_backends::port::{Failure, SecretString};

pub struct Psql<E> {
    exec: E,
    command: String,
    database: Option<String>,
}

impl<E> Psql<E> {
    pub fn new(exec: E, command: String, database: Option<String>) -> Self {
        Psql {
            exec,
            command,
            database,
        }
    }

    pub fn into_inner(self) -> E {
        self.exec
    }

    /// `$1` becomes `:'p1'` (a text literal, quoted by psql) or `:p1` (an integer).
    fn command(&self, statement: &str, params: &[Param]) -> Command {
        let mut cmd = Command::new(&self.command)
            .arg("-X")
            .arg("-t")
            .arg("-A")
            .arg("-v")
            .arg("ON_ERROR_STOP=1");
        if let Some(db) = &self.database {
            cmd = cmd.arg(format!("--dbname={db}"));
        }
        let mut sql = statement.to_owned();
        // Highest first, so $1 does not match the start of $10.
        for (i, p) in params.iter().enumerate().rev() {
            let n = i + 1;
            let (value, reference) = match p {
                Param::Int(v) => (v.to_string(), format!(":p{n}")),
                Param::Text(t) => (t.clone(), format!(":'p{n}'")),
            };
            cmd = cmd.arg("-v").arg(format!("p{n}={value}"));
            sql = sql.replace(&format!("${n}"), &reference);
        }
        cmd.stdin(SecretString::from(format!("{sql};\n")))
    }

    async fn run(&self, statement: &str, params: &[Param]) -> Result<String, Failure>
    where
        E: Exec,
    {
        let out = self.exec.run(self.command(statement, params)).await?;
        if !out.success() {
            return Err(out.failure(&self.command, ""));
        }
        Ok(out.stdout)
    }
}

impl<E: Exec + Sync> Sql for Psql<E> {
    async fn query_int(&self, statement: &str, params: &[Param]) -> Result<Option<i64>, Failure> {
        let out = self.run(statement, params).await?;
        // -t -A: bare values, one row per line.
        match out.lines().map(str::trim).rfind(|l| !l.is_empty()) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                Failure::Rejected(format!("{}: unexpected answer {v:?}", self.describe()))
            }),
        }
    }

    async fn execute(&self, statement: &str, params: &[Param]) -> Result<u64, Failure> {
        let out = self.run(statement, params).await?;
        // The command tag: "UPDATE n".
        out.lines()
            .filter_map(|l| l.trim().strip_prefix("UPDATE "))
            .next_back()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| {
                Failure::Rejected(format!(
                    "{}: no row count in psql's answer",
                    self.describe()
                ))
            })
    }

    fn describe(&self) -> String {
        format!("{} on {}", self.command, self.exec.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Never;
    impl Exec for Never {
        async fn run(&self, _: Command) -> Result<provision_backends::port::exec::Output, Failure> {
            unreachable!()
        }
        fn describe(&self) -> String {
            "never".into()
        }
    }

    #[test]
    fn values_are_psql_variables_and_the_statement_is_on_stdin() {
        use provision_backends::port::ExposeSecret;
        let psql = Psql::new(Never, "psql".into(), Some("synapse".into()));
        let cmd = psql.command(
            "UPDATE users SET admin = $1 WHERE name = $2",
            &[Param::Int(1), Param::Text("@a:b".into())],
        );
        let shown = cmd.to_string();
        assert_eq!(
            shown,
            "psql -X -t -A -v ON_ERROR_STOP=1 --dbname=synapse -v p2=@a:b -v p1=1 <(secret on stdin)"
        );
        let stdin = cmd.stdin.unwrap();
        assert_eq!(
            stdin.expose_secret(),
            "UPDATE users SET admin = :p1 WHERE name = :'p2';\n"
        );
    }
}
