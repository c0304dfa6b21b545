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
            Outcome::AdminSet { .. } => "admin_set",
            Outcome::AdminAlready { .. } => "admin_unchanged",
            Outcome::WouldSetAdmin { .. } => "would_set_admin",
        }
    }

    /// Whether this outcome changes (or, under `--check`, would change) the server.
    pub fn changed(&self) -> bool {
        !matches!(self, Outcome::Exists | Outcome::AdminAlready { .. })
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
            Outcome::AdminAlready { admin } => write!(f, "admin already {}", on_off(*admin)),
            Outcome::WouldSetAdmin { admin } => write!(f, "would turn admin {}", on_off(*admin)),
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
