//! The seam: what a backend can do to a server's accounts. Every backend implements
//! [`Account`] for the operations its server offers and lists them in [`Account::ops`]; the
//! router (src/router.rs of the `provision` crate) sends each operation to the first backend of
//! the host that lists it. An operation a backend lacks answers "not supported by BACKEND".

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Serialize;

use crate::registration::Fields;
use crate::settings::Backend;
use crate::{Failure, Outcome, Registration, UserId};
use secrecy::SecretString;

/// The operations on accounts, as backends declare them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Create a user with a password (and optional fields, see [`Fields`]).
    Register,
    /// Read one user's state.
    Read,
    /// Turn a user's server-admin flag on or off.
    SetAdmin,
    /// Set a user's password.
    SetPassword,
    /// Lock or unlock a user (reversible: a locked user cannot log in or use its sessions).
    Lock,
    /// Deactivate a user for good (optionally erasing its data).
    Deactivate,
    /// Bring a deactivated user back.
    Reactivate,
    /// List the server's users, page by page.
    List,
    /// Set an existing user's display name and email addresses.
    Profile,
    /// Join a user to a room, and read the rooms it is in.
    Join,
    /// Issue, list and revoke registration tokens (the codes that let a new user register
    /// on a server whose registration requires one).
    Tokens,
}

impl Op {
    /// Every operation on accounts (registration tokens are the server's, not an account's).
    pub const ALL: &'static [Op] = &[
        Op::Register,
        Op::Read,
        Op::SetAdmin,
        Op::SetPassword,
        Op::Lock,
        Op::Deactivate,
        Op::Reactivate,
        Op::List,
        Op::Profile,
        Op::Join,
    ];

    /// What an identity provider that owns the accounts does: all but profiles and rooms,
    /// which stay the homeserver's.
    pub const ACCOUNTS: &'static [Op] = Op::ALL.split_at(8).0;

    /// What is done to users that exist: all but registering.
    pub const EXISTING: &'static [Op] = match Op::ALL.split_first() {
        Some((_, rest)) => rest,
        None => &[],
    };

    /// Its name in one word, for `provision ping`'s "which backend does what".
    pub fn word(self) -> &'static str {
        match self {
            Op::Register => "register",
            Op::Read => "read",
            Op::SetAdmin => "admin",
            Op::SetPassword => "password",
            Op::Lock => "lock",
            Op::Deactivate => "deactivate",
            Op::Reactivate => "reactivate",
            Op::List => "users",
            Op::Profile => "profile",
            Op::Join => "rooms",
            Op::Tokens => "tokens",
        }
    }

    /// For messages: "BACKEND cannot {what}".
    pub fn what(self) -> &'static str {
        match self {
            Op::Register => "register users",
            Op::Read => "read a user's state",
            Op::SetAdmin => "set the admin flag",
            Op::SetPassword => "set passwords",
            Op::Lock => "lock or unlock users",
            Op::Deactivate => "deactivate users",
            Op::Reactivate => "reactivate users",
            Op::List => "list users",
            Op::Profile => "set display names or email addresses",
            Op::Join => "join users to rooms",
            Op::Tokens => "issue, list or revoke registration tokens",
        }
    }
}

/// One user as a backend reads it. `None`: this backend cannot say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct UserState {
    pub admin: Option<bool>,
    pub deactivated: Option<bool>,
    /// Its data erased (GDPR) on deactivation.
    pub erased: Option<bool>,
    pub locked: Option<bool>,
    /// Its display name; null when it has none (`Some(None)`) or when the backend cannot say.
    pub display_name: Option<Option<String>>,
    /// Its email addresses, as the server canonicalised them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emails: Option<Vec<String>>,
    /// `bot`, `support`, … as the server types users; null for a regular user (`Some(None)`)
    /// or when the backend cannot say.
    pub user_type: Option<Option<String>>,
    /// Milliseconds since the epoch.
    pub created_ms: Option<u64>,
    pub last_seen_ms: Option<u64>,
}

/// One user of a listing, with the state the list endpoint gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Listed {
    pub user_id: String,
    #[serde(flatten)]
    pub state: UserState,
}

/// Which users a listing asks the server for; the server filters where it can, the caller
/// filters the rest.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListFilter {
    /// Only server admins.
    pub admins: bool,
}

/// One page of a listing, and the cursor of the next one.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub users: Vec<Listed>,
    pub next: Option<String>,
}

/// What a new registration token allows. provision always sends every field, so a token is
/// the same on every host whatever each server's defaults are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenTerms {
    /// How many registrations it allows; `None`: any number.
    pub uses_allowed: Option<u32>,
    /// When it stops working, in milliseconds since the epoch; `None`: never.
    pub expiry_ms: Option<u64>,
    /// How many characters the server generates.
    pub length: u8,
}

/// A registration token as the server tells it. `token` is a secret until it is used up:
/// `Debug` withholds it.
#[derive(Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct RegistrationToken {
    pub token: String,
    /// `None`: any number of registrations.
    pub uses_allowed: Option<u64>,
    /// Registrations that have begun with it and not finished.
    pub pending: u64,
    /// Registrations completed with it.
    pub completed: u64,
    /// Milliseconds since the epoch; `None`: never expires.
    pub expiry_ms: Option<u64>,
    /// Revoked by an admin: MAS revokes (user_registration_tokens/revoke.rs) where Synapse and
    /// Dendrite delete, so only MAS lists tokens that are revoked.
    pub revoked: bool,
}

impl RegistrationToken {
    /// Whether it is still valid at `now_ms`, as the admin API's `valid` filter decides
    /// (synapse/storage/databases/main/registration.py, `get_registration_tokens`): uses left
    /// (pending ones count) and not expired; and, as MAS's `valid` (admin/model.rs), not
    /// revoked.
    pub fn valid(&self, now_ms: u64) -> bool {
        !self.revoked
            && self
                .uses_allowed
                .is_none_or(|allowed| self.pending + self.completed < allowed)
            && self.expiry_ms.is_none_or(|expiry| expiry > now_ms)
    }
}

impl std::fmt::Debug for RegistrationToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrationToken")
            .field("token", &"[withheld]")
            .field("uses_allowed", &self.uses_allowed)
            .field("pending", &self.pending)
            .field("completed", &self.completed)
            .field("expiry_ms", &self.expiry_ms)
            .field("revoked", &self.revoked)
            .finish()
    }
}

/// A lifecycle change to one account.
#[derive(Clone, Copy)]
pub enum Change<'a> {
    /// A new password; `logout` ends the user's sessions (Synapse's default).
    Password {
        password: &'a secrecy::SecretString,
        logout: bool,
    },
    /// Lock (`true`) or unlock.
    Lock(bool),
    /// Deactivate; `erase` also erases the user's data, and only when asked.
    Deactivate { erase: bool },
    /// Reactivate, with a new password where one is given.
    Reactivate {
        password: Option<&'a secrecy::SecretString>,
    },
    /// Set the display name.
    DisplayName(&'a str),
    /// Make these the user's email addresses (canonical, see [`canonical_email`]): others
    /// are removed.
    Emails(&'a [String]),
    /// Join a room (an ID or an alias); a user in it already stays.
    Join(&'a str),
    /// Set Synapse's user type (`bot`, `support`); `None`: a regular user.
    UserType(Option<&'a str>),
}

impl Change<'_> {
    pub fn op(&self) -> Op {
        match self {
            Change::Password { .. } => Op::SetPassword,
            Change::Lock(_) => Op::Lock,
            Change::Deactivate { .. } => Op::Deactivate,
            Change::Reactivate { .. } => Op::Reactivate,
            Change::DisplayName(_) | Change::Emails(_) | Change::UserType(_) => Op::Profile,
            Change::Join(_) => Op::Join,
        }
    }

    /// What it is, for outcomes.
    pub fn kind(&self) -> crate::outcome::Changed {
        use crate::outcome::Changed;
        match self {
            Change::Password { .. } => Changed::Password,
            Change::Lock(true) => Changed::Locked,
            Change::Lock(false) => Changed::Unlocked,
            Change::Deactivate { erase: false } => Changed::Deactivated,
            Change::Deactivate { erase: true } => Changed::Erased,
            Change::Reactivate { .. } => Changed::Reactivated,
            Change::DisplayName(_) => Changed::DisplayName,
            Change::Emails(_) => Changed::Emails,
            Change::Join(_) => Changed::Joined,
            Change::UserType(_) => Changed::UserType,
        }
    }

    /// What reading the account first settles, for a backend that reads before it changes:
    /// [`Outcome::Already`] when `now` is the wanted state, else under `check`
    /// [`Outcome::WouldDo`]; `None`: make the change. A password cannot be compared, and
    /// erasure counts as reached only where the server says so.
    pub fn settled(&self, now: &UserState, check: bool) -> Option<Outcome> {
        let reached = match self {
            Change::Password { .. } => false,
            Change::Lock(lock) => now.locked == Some(*lock),
            Change::Deactivate { erase } => {
                now.deactivated == Some(true) && (!erase || now.erased == Some(true))
            }
            Change::Reactivate { .. } => now.deactivated == Some(false),
            Change::DisplayName(name) => now
                .display_name
                .as_ref()
                .is_some_and(|n| n.as_deref() == Some(*name)),
            Change::Emails(emails) => now.emails.as_ref().is_some_and(|now| same_set(now, emails)),
            Change::UserType(kind) => now
                .user_type
                .as_ref()
                .is_some_and(|t| t.as_deref() == *kind),
            // Memberships are not in a user's state: the server's join is idempotent.
            Change::Join(_) => false,
        };
        match (reached, check) {
            (true, _) => Some(Outcome::Already {
                change: self.kind(),
            }),
            (false, true) => Some(Outcome::WouldDo {
                change: self.kind(),
            }),
            (false, false) => None,
        }
    }
}

/// The answer to "register this user", under `--check`, from a backend that registers.
/// The router turns it into an [`Outcome`] with what the host's readers know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Preview {
    /// The backend found out itself (the shared-secret backend asks the client API).
    Known(Outcome),
    /// The backend cannot tell whether the user exists; this is what it would do if not:
    /// the command it would run (secrets masked), with a warning for argv-only tools.
    WouldRun {
        command: String,
        warning: Option<String>,
    },
    /// It cannot tell, and says why.
    Unknown(String),
}

/// What a backend says of itself: for every backend, its [`Backend`] constants.
pub trait Identity {
    /// The inventory's name for it (`synapse-cli`).
    fn name(&self) -> &'static str;
    /// What it can do; the router asks nothing else of it.
    fn ops(&self) -> &'static [Op];
    /// The optional registration fields it passes on to the server.
    fn fields(&self) -> Fields;
}

impl<B: Backend> Identity for B {
    fn name(&self) -> &'static str {
        B::NAME
    }

    fn ops(&self) -> &'static [Op] {
        B::OPS
    }

    fn fields(&self) -> Fields {
        B::FIELDS
    }
}

/// A backend: one way of doing things to one server's accounts, over the port it was built
/// with. Object-safe: a host holds its backends as `Box<dyn Account>`, in inventory order.
#[async_trait]
pub trait Account: Identity + Send + Sync {
    /// Where and how it works, for `--check` ("on ssh root@matrix1", "via the Synapse admin
    /// API at URL, token from env SYNAPSE_TOKEN").
    fn via(&self) -> String;

    /// `provision ping`: it answers, and what it found out about itself.
    async fn ping(&self) -> Result<String, Failure>;

    /// Ends what the run opened on the server (an `admin_token` login's device), once the
    /// run is done with this backend.
    async fn close(&self) {}

    async fn register(&self, _reg: &Registration<'_>) -> Result<Outcome, Failure> {
        Err(unsupported(self.name(), Op::Register))
    }

    /// `--check` of `register`: what it would do, changing nothing.
    async fn preview(&self, _reg: &Registration<'_>) -> Result<Preview, Failure> {
        Err(unsupported(self.name(), Op::Register))
    }

    /// The user's state, or `None` when there is no such user.
    async fn read(&self, _user: &UserId) -> Result<Option<UserState>, Failure> {
        Err(unsupported(self.name(), Op::Read))
    }

    /// Makes a lifecycle change to an existing user; a state already reached is
    /// [`Outcome::Already`]. With `check`, says what it would do and changes nothing.
    async fn change(
        &self,
        _user: &UserId,
        change: &Change<'_>,
        _check: bool,
    ) -> Result<Outcome, Failure> {
        Err(unsupported(self.name(), change.op()))
    }

    /// One page of the server's users, from `cursor` (the first page without one).
    async fn list(&self, _filter: &ListFilter, _cursor: Option<&str>) -> Result<Page, Failure> {
        Err(unsupported(self.name(), Op::List))
    }

    /// Issues a new registration token on these terms.
    async fn issue_token(&self, _terms: &TokenTerms) -> Result<RegistrationToken, Failure> {
        Err(unsupported(self.name(), Op::Tokens))
    }

    /// The server's registration tokens: all of them, or (`valid`) only those that can still
    /// be used, or only those that cannot.
    async fn list_tokens(&self, _valid: Option<bool>) -> Result<Vec<RegistrationToken>, Failure> {
        Err(unsupported(self.name(), Op::Tokens))
    }

    /// Revokes a registration token; one the server does not have is [`Outcome::Already`].
    /// With `check`, says whether it would, and changes nothing.
    async fn revoke_token(&self, _token: &SecretString, _check: bool) -> Result<Outcome, Failure> {
        Err(unsupported(self.name(), Op::Tokens))
    }

    /// The IDs of the rooms the user is in.
    async fn rooms(&self, _user: &UserId) -> Result<Vec<String>, Failure> {
        Err(unsupported(self.name(), Op::Join))
    }

    /// A room's ID from its ID or alias; `None`: the server knows no such room.
    async fn room_id(&self, _room: &str) -> Result<Option<String>, Failure> {
        Err(unsupported(self.name(), Op::Join))
    }

    /// Sets the admin flag of an existing user; one that has it already is
    /// [`Outcome::AdminAlready`]. With `check`, says what it would do and changes nothing.
    async fn set_admin(
        &self,
        _user: &UserId,
        _admin: bool,
        _check: bool,
    ) -> Result<Outcome, Failure> {
        Err(unsupported(self.name(), Op::SetAdmin))
    }
}

/// An email address as Synapse keeps it (synapse/util/threepids.py, `canonicalise_email`):
/// surrounding space dropped, the local part case-folded and the domain lowercased. `None`:
/// not one address with one `@`.
pub fn canonical_email(address: &str) -> Option<String> {
    let address = address.trim();
    let (local, domain) = address.split_once('@')?;
    if local.is_empty() || domain.is_empty() || domain.contains('@') {
        return None;
    }
    if address.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    Some(format!(
        "{}@{}",
        local.to_lowercase(),
        domain.to_lowercase()
    ))
}

/// The same addresses, in any order.
pub fn same_set(a: &[String], b: &[String]) -> bool {
    use std::collections::BTreeSet;
    a.iter().collect::<BTreeSet<_>>() == b.iter().collect::<BTreeSet<_>>()
}

/// The answer of an operation a backend does not have.
pub fn unsupported(backend: &str, op: Op) -> Failure {
    Failure::Rejected(format!(
        "not supported by {backend}: it cannot {}",
        op.what()
    ))
}

#[cfg(test)]
mod tests {
    use super::Op;

    #[test]
    fn accounts_are_all_but_profiles_and_rooms() {
        assert_eq!(Op::ACCOUNTS.last(), Some(&Op::List));
        assert!(Op::ALL.ends_with(&[Op::List, Op::Profile, Op::Join]));
    }
}
