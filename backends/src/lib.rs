//! What provision knows about Matrix: how each homeserver tool or API does things to accounts
//! and what its answers mean. Nothing here knows SSH, Docker or which machine a request goes
//! to: a backend holds the [`port`]s it was built with, and a transport of the `provision`
//! crate delivers what it sends through them.
//!
//! One file a backend, each holding its inventory keys ([`settings::Backend`]), its
//! constructor and its [`account::Account`] implementation.

pub mod account;
pub mod admin_api;
pub mod keys;
pub mod matrix;
pub mod outcome;
pub mod port;
pub mod registration;
mod registration_tokens;
pub mod settings;
mod tool;
pub mod user_id;

pub mod admin_room;
pub mod admin_sql;
pub mod dendrite_admin_api;
pub mod dendrite_cli;
pub mod mas_admin_api;
pub mod mas_cli;
pub mod playbook_wrapper;
mod server_config;
pub mod shared_secret;
pub mod synapse_admin_api;
pub mod synapse_cli;
mod tunnelled;

#[cfg(test)]
mod testing;

pub use account::{
    Account, Change, ListFilter, Listed, Op, Page, Preview, RegistrationToken, TokenTerms,
    UserState, canonical_email, same_set,
};
pub use outcome::Outcome;
pub use port::Failure;
pub use registration::Registration;
pub use secrecy::{ExposeSecret, SecretString};
pub use user_id::UserId;
