//! The SQL port: what an admin backend asks of a database connection. Statements are always
//! parameterized: a user ID never becomes part of SQL text.

use std::future::Future;

use crate::Failure;

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
