//! The SQL port: what an admin backend asks of a database connection. Statements are always
//! parameterized: a user ID never becomes part of SQL text.

use std::future::Future;

use std::sync::Arc;

use super::{BoxFuture, Failure};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    /// A `smallint` (Synapse's `users.admin`, Dendrite's `account_type`).
    Int(i16),
    Text(String),
}

pub trait Sql {
    /// The first column of the first row, as an integer; `None` when there is no row.
    fn query_int(
        &self,
        statement: &str,
        params: &[Param],
    ) -> impl Future<Output = Result<Option<i64>, Failure>> + Send;
    /// Runs a statement; the number of rows it changed.
    fn execute(
        &self,
        statement: &str,
        params: &[Param],
    ) -> impl Future<Output = Result<u64, Failure>> + Send;
    /// Where the database is, for messages ("postgres 127.0.0.1:5432/synapse via ssh host").
    fn describe(&self) -> String;
}

/// [`Sql`] as a trait object: every `Sql` is one.
pub trait DynSql: Send + Sync {
    fn query_int_boxed<'a>(
        &'a self,
        statement: &'a str,
        params: &'a [Param],
    ) -> BoxFuture<'a, Result<Option<i64>, Failure>>;
    fn execute_boxed<'a>(
        &'a self,
        statement: &'a str,
        params: &'a [Param],
    ) -> BoxFuture<'a, Result<u64, Failure>>;
    fn describe_dyn(&self) -> String;
}

impl<T: Sql + Send + Sync> DynSql for T {
    fn query_int_boxed<'a>(
        &'a self,
        statement: &'a str,
        params: &'a [Param],
    ) -> BoxFuture<'a, Result<Option<i64>, Failure>> {
        Box::pin(self.query_int(statement, params))
    }

    fn execute_boxed<'a>(
        &'a self,
        statement: &'a str,
        params: &'a [Param],
    ) -> BoxFuture<'a, Result<u64, Failure>> {
        Box::pin(self.execute(statement, params))
    }

    fn describe_dyn(&self) -> String {
        self.describe()
    }
}

/// A backend's handle on the server's database.
pub type SqlPort = Arc<dyn DynSql>;

impl Sql for SqlPort {
    async fn query_int(&self, statement: &str, params: &[Param]) -> Result<Option<i64>, Failure> {
        (**self).query_int_boxed(statement, params).await
    }

    async fn execute(&self, statement: &str, params: &[Param]) -> Result<u64, Failure> {
        (**self).execute_boxed(statement, params).await
    }

    fn describe(&self) -> String {
        (**self).describe_dyn()
    }
}
