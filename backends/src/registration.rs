//! One user to register, as every backend receives it.

use secrecy::SecretString;

use crate::UserId;

pub struct Registration<'a> {
    pub user: &'a UserId,
    pub password: &'a SecretString,
    pub admin: bool,
    /// Only for backends whose `FIELDS` say they pass it on (checked before a run).
    pub display_name: Option<&'a str>,
    /// Likewise.
    pub emails: &'a [String],
    /// Likewise: skip MAS's password complexity check.
    pub ignore_password_complexity: bool,
    /// Likewise: Synapse's user type (`bot`, `support`; synapse/api/constants.py `UserTypes`),
    /// `None` for a regular user.
    pub user_type: Option<&'a str>,
}

/// The optional fields of a `Registration` a backend passes on to the server. A field asked for
/// on a host whose backend would drop it is refused before anything runs, never dropped.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fields {
    pub display_name: bool,
    pub emails: bool,
    pub ignore_password_complexity: bool,
    /// Synapse's user types: only a Synapse host can take one, whatever its backend.
    pub user_type: bool,
}

impl Fields {
    pub const NONE: Fields = Fields {
        display_name: false,
        emails: false,
        ignore_password_complexity: false,
        user_type: false,
    };

    /// The names of the fields `wanted` asks for that this backend cannot pass on, as the
    /// command-line options that set them.
    pub fn missing(&self, wanted: &Fields) -> Vec<&'static str> {
        let mut out = Vec::new();
        if wanted.display_name && !self.display_name {
            out.push("--display-name");
        }
        if wanted.emails && !self.emails {
            out.push("--email");
        }
        if wanted.ignore_password_complexity && !self.ignore_password_complexity {
            out.push("--ignore-password-complexity");
        }
        if wanted.user_type && !self.user_type {
            out.push("--user-type");
        }
        out
    }
}

impl<'a> Registration<'a> {
    pub fn new(user: &'a UserId, password: &'a SecretString, admin: bool) -> Self {
        Registration {
            user,
            password,
            admin,
            display_name: None,
            emails: &[],
            ignore_password_complexity: false,
            user_type: None,
        }
    }
}
