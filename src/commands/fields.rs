//! Each command's own keys of its JSON document, beside the keys every document has
//! (src/render.rs, `Document`). The commands fill these structs (`Report::with`) and
//! src/schema.rs derives the published schemas (schemas/*.json) from the same types, so what is
//! printed and what is published cannot part.

use schemars::JsonSchema;
use serde::Serialize;

/// `register USER`.
#[derive(Serialize, JsonSchema)]
pub struct Register<'a> {
    /// The user as given (a name or a Matrix ID).
    pub user: &'a str,
    /// `--admin` (true) or `--no-admin` (false); null: neither was given.
    pub admin: Option<bool>,
    /// The password provision made up, when it was shown rather than written to a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_password: Option<&'a str>,
    /// Where a password provision made up (or kept) went.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<PasswordSet<'a>>,
}

/// Where a generated (or kept) password was set.
#[derive(Serialize, JsonSchema)]
pub struct PasswordSet<'a> {
    /// `generated` by this run, or `kept` from the --password-out file of an earlier run.
    pub source: &'static str,
    /// The file that holds it (mode 0600); absent when it was only shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The hosts that created the user with this password.
    pub set_on: Vec<&'a str>,
    /// The hosts where the user already existed: its password there is not this one (or not
    /// from this run).
    pub existed_on: Vec<&'a str>,
}

/// `register --from FILE`, `plan` and `apply`: the users file.
#[derive(Serialize, JsonSchema)]
pub struct From {
    /// The users file, as given.
    pub from: String,
}

/// `plan` and `apply`.
#[derive(Serialize, JsonSchema)]
pub struct Plan {
    /// The users file, as given.
    pub from: String,
    /// `--limit`, as given.
    pub limit: Option<String>,
    /// The file's users that no selected host serves (their server names match none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unserved: Option<Vec<String>>,
}

/// `show`, `lock`, `unlock`, `reactivate`.
#[derive(Serialize, JsonSchema)]
pub struct User<'a> {
    /// The user as given (a name or a Matrix ID).
    pub user: &'a str,
}

/// `admin`.
#[derive(Serialize, JsonSchema)]
pub struct Admin<'a> {
    /// The user as given.
    pub user: &'a str,
    /// The flag it was set to.
    pub admin: bool,
}

/// `deactivate`.
#[derive(Serialize, JsonSchema)]
pub struct Deactivate<'a> {
    /// The user as given.
    pub user: &'a str,
    /// `--erase`: its data erased too.
    pub erase: bool,
}

/// `password`.
#[derive(Serialize, JsonSchema)]
pub struct Password<'a> {
    /// The user as given.
    pub user: &'a str,
    /// `--keep-sessions`: its sessions were not logged out.
    pub keep_sessions: bool,
    /// The hosts that may now hold the new password.
    pub set_on: &'a [String],
    /// The password provision made up, when it was shown (never with --password-out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_password: Option<&'a str>,
}

/// `users`: the filters; the rows are `users`, each a user of a host.
#[derive(Serialize, JsonSchema)]
pub struct Users {
    /// `--admins`.
    pub admins: bool,
    /// `--deactivated`.
    pub deactivated: bool,
    /// `--locked`.
    pub locked: bool,
    /// `--inactive-since`, in seconds.
    pub inactive_since_s: Option<u64>,
}

/// `token issue`.
#[derive(Serialize, JsonSchema)]
pub struct TokenIssue<'a> {
    /// How many registrations each token allows.
    pub uses: Uses,
    /// When it expires, in milliseconds since the epoch; null: never.
    pub expiry_ms: Option<u64>,
    /// How many characters the server generates.
    pub length: u8,
    /// `--token-out`: the file that holds the tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_out: Option<&'a std::path::Path>,
    /// Without `--token-out`: each host's new token, by host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<&'a indexmap::IndexMap<String, String>>,
}

/// A number of uses, or `"unlimited"`.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Uses {
    Limited(u32),
    Unlimited(Unlimited),
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unlimited {
    Unlimited,
}

/// `token list`: the filter; the rows are `tokens`, each a token of a host.
#[derive(Serialize, JsonSchema)]
pub struct TokenList {
    /// `--valid` (true), `--invalid` (false); null: every token.
    pub valid: Option<bool>,
}

/// `login`.
#[derive(Serialize, JsonSchema)]
pub struct Login<'a> {
    /// The user that logged in.
    pub user: &'a str,
    /// The file that holds its access token (mode 0600).
    pub token_file: String,
}

/// `ping`, `token revoke`: no keys of their own.
#[derive(Serialize, JsonSchema)]
pub struct None {}
