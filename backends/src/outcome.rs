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
    /// `--check`: the server could not tell whether the user exists (for example because
    /// public registration is disabled); a real run would try to register it.
    WouldTryCreate { admin: bool, why: String },
}

impl Outcome {
    /// A stable word for `--output json`.
    pub fn code(&self) -> &'static str {
        match self {
            Outcome::Created { .. } => "created",
            Outcome::Exists => "exists",
            Outcome::WouldCreate { .. } | Outcome::WouldRun { .. } => "would_create",
            Outcome::WouldTryCreate { .. } => "would_try_create",
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
                match warning {
                    Some(w) => write!(f, " (warning: {w})"),
                    None => Ok(()),
                }
            }
            Outcome::WouldTryCreate { admin, why } => {
                write!(f, "would try to create ({}); {why}", role(admin))
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

fn on_off(admin: bool) -> &'static str {
    if admin { "on" } else { "off" }
}

/// Why a request did not succeed. The message never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The request could not be delivered (connection refused, timeout, no route). Safe to
    /// retry: nothing reached the server.
    Unreachable(String),
    /// The request could not be delivered, and retrying cannot help: the SSH key or host key
    /// was refused, the TLS certificate does not verify, the name does not resolve. Never
    /// retried (a refused key tried again and again trips fail2ban).
    Permanent(String),
    /// The server (or tool) ran and said no. Retrying the same request will not help.
    Rejected(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Unreachable(m) | Failure::Permanent(m) => write!(f, "unreachable: {m}"),
            Failure::Rejected(m) => f.write_str(m),
        }
    }
}

impl Failure {
    /// Whether the request never reached the host (as opposed to the host saying no).
    pub fn unreachable(&self) -> bool {
        matches!(self, Failure::Unreachable(_) | Failure::Permanent(_))
    }
}
