//! What a backend reports back: an outcome the runner files as ok or changed, or a failure.

use std::fmt;

/// The result of one request on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The user did not exist and now does.
    Created { admin: bool },
    /// The user already existed; nothing was changed.
    Exists,
    /// `--check`: the user does not exist and would be created.
    WouldCreate { admin: bool },
    /// `--check` on a backend that runs a tool: the command that would run (secrets masked),
    /// and a warning when the tool can only take the password on its command line.
    WouldRun {
        admin: bool,
        command: String,
        warning: Option<String>,
    },
    /// The admin flag was changed. `note` tells what the operator should know (a cache that
    /// lags, sessions that keep their rights).
    AdminSet { admin: bool, note: Option<String> },
    /// The admin flag already had the wanted value.
    AdminAlready { admin: bool },
    /// `--check`: the admin flag would change.
    WouldSetAdmin { admin: bool },
    /// A lifecycle change was made. `note` tells what the operator should know.
    Done {
        change: Changed,
        note: Option<String>,
    },
    /// The account was in that state already.
    Already { change: Changed },
    /// `--check`: the change would be made.
    WouldDo { change: Changed },
    /// `--check`: nothing could tell whether the user exists (a tool that only registers
    /// and no backend of the host that reads users, or a server that keeps its users to
    /// itself); a real run would try to register it, by running `command` where a tool would.
    Unknown {
        admin: bool,
        why: String,
        command: Option<String>,
        warning: Option<String>,
    },
}

impl Outcome {
    /// A stable word for `--output json`.
    pub fn code(&self) -> &'static str {
        match self {
            Outcome::Created { .. } => "created",
            Outcome::Exists => "exists",
            Outcome::WouldCreate { .. } | Outcome::WouldRun { .. } => "would_create",
            Outcome::Unknown { .. } => "unknown",
            Outcome::Done { change, .. } => change.done(),
            Outcome::Already { change } => change.already(),
            Outcome::WouldDo { change } => change.would(),
            Outcome::AdminSet { .. } => "admin_set",
            Outcome::AdminAlready { .. } => "admin_unchanged",
            Outcome::WouldSetAdmin { .. } => "would_set_admin",
        }
    }

    /// Whether this outcome changes (or, under `--check`, would change) the server.
    pub fn changed(&self) -> bool {
        !matches!(
            self,
            Outcome::Exists | Outcome::AdminAlready { .. } | Outcome::Already { .. }
        )
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let role = |admin: &bool| if *admin { "admin" } else { "user" };
        match self {
            Outcome::Created { admin } => write!(f, "created ({})", role(admin)),
            Outcome::Exists => f.write_str("exists"),
            Outcome::WouldCreate { admin } => write!(f, "would create ({})", role(admin)),
            Outcome::WouldRun {
                admin,
                command,
                warning,
            } => {
                write!(f, "would create ({}) by running: {command}", role(admin))?;
                warned(f, warning)
            }
            Outcome::Unknown {
                admin,
                why,
                command,
                warning,
            } => {
                write!(
                    f,
                    "unknown: {why}; a run would try to create it ({})",
                    role(admin)
                )?;
                if let Some(command) = command {
                    write!(f, " by running: {command}")?;
                }
                warned(f, warning)
            }
            Outcome::AdminSet { admin, note } => {
                write!(f, "admin turned {}", on_off(*admin))?;
                match note {
                    Some(n) => write!(f, " ({n})"),
                    None => Ok(()),
                }
            }
            Outcome::Done { change, note } => {
                f.write_str(&change.done().replace('_', " "))?;
                match note {
                    Some(n) => write!(f, " ({n})"),
                    None => Ok(()),
                }
            }
            Outcome::Already { change } => f.write_str(&change.already().replace('_', " ")),
            Outcome::WouldDo { change } => f.write_str(&change.would().replace('_', " ")),
            Outcome::AdminAlready { admin } => write!(f, "admin already {}", on_off(*admin)),
            Outcome::WouldSetAdmin { admin } => write!(f, "would turn admin {}", on_off(*admin)),
        }
    }
}

/// A lifecycle change, as outcomes name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed {
    Password,
    Locked,
    Unlocked,
    Deactivated,
    /// Deactivated, its data erased.
    Erased,
    Reactivated,
    DisplayName,
    Emails,
    /// Synapse's user type (`bot`, `support`, or none).
    UserType,
    /// Joined to a room.
    Joined,
    /// A registration token issued.
    TokenIssued,
    /// A registration token revoked.
    TokenRevoked,
    /// An existing user linked to its account at an upstream SSO provider.
    SsoLinked,
}

impl Changed {
    /// The stable word for `--output json` once done.
    pub fn done(self) -> &'static str {
        match self {
            Changed::Password => "password_set",
            Changed::Locked => "locked",
            Changed::Unlocked => "unlocked",
            Changed::Deactivated => "deactivated",
            Changed::Erased => "deactivated_erased",
            Changed::Reactivated => "reactivated",
            Changed::DisplayName => "display_name_set",
            Changed::Emails => "emails_set",
            Changed::UserType => "user_type_set",
            Changed::Joined => "joined",
            Changed::TokenIssued => "issued",
            Changed::TokenRevoked => "revoked",
            Changed::SsoLinked => "sso_linked",
        }
    }

    /// The word when the account was in that state already.
    pub fn already(self) -> &'static str {
        match self {
            // A password cannot be compared: setting it is always a change.
            Changed::Password => "password_set",
            Changed::Locked => "already_locked",
            Changed::Unlocked => "already_unlocked",
            Changed::Deactivated | Changed::Erased => "already_deactivated",
            Changed::Reactivated => "already_active",
            Changed::DisplayName => "display_name_unchanged",
            Changed::Emails => "emails_unchanged",
            Changed::UserType => "user_type_unchanged",
            Changed::Joined => "already_joined",
            // Every issue makes a new token.
            Changed::TokenIssued => "issued",
            // The server has no such token: revoked before, or never issued there.
            Changed::TokenRevoked => "already_revoked",
            Changed::SsoLinked => "sso_already_linked",
        }
    }

    /// The word under `--check`.
    pub fn would(self) -> &'static str {
        match self {
            Changed::Password => "would_set_password",
            Changed::Locked => "would_lock",
            Changed::Unlocked => "would_unlock",
            Changed::Deactivated => "would_deactivate",
            Changed::Erased => "would_deactivate_and_erase",
            Changed::Reactivated => "would_reactivate",
            Changed::DisplayName => "would_set_display_name",
            Changed::Emails => "would_set_emails",
            Changed::UserType => "would_set_user_type",
            Changed::Joined => "would_join",
            Changed::TokenIssued => "would_issue",
            Changed::TokenRevoked => "would_revoke",
            Changed::SsoLinked => "would_link_sso",
        }
    }
}

fn warned(f: &mut fmt::Formatter<'_>, warning: &Option<String>) -> fmt::Result {
    match warning {
        Some(w) => write!(f, " (warning: {w})"),
        None => Ok(()),
    }
}

fn on_off(admin: bool) -> &'static str {
    if admin { "on" } else { "off" }
}
