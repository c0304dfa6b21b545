//! One user to register, as every backend receives it.

use secrecy::SecretString;

use crate::UserId;

pub struct Registration<'a> {
    pub user: &'a UserId,
    pub password: &'a SecretString,
    pub admin: bool,
    /// Set where the backend supports it (shared-secret API, mas-cli); ignored elsewhere.
    pub display_name: Option<&'a str>,
    /// mas-cli only.
    pub emails: &'a [String],
    /// mas-cli only: skip MAS's password complexity check.
    pub ignore_password_complexity: bool,
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
        }
    }
}
