//! What provision knows about Matrix: how each homeserver tool or API registers a user and
//! what its answers mean. Nothing here knows SSH, Docker or which machine a request goes to:
//! a backend builds requests (see [`http`]) and a transport from the `provision` crate sends them.

pub mod admin_sql;
pub mod dendrite_cli;
pub mod exec;
pub mod http;
pub mod mas_admin_api;
pub mod mas_cli;
pub mod outcome;
pub mod playbook_wrapper;
pub mod registration;
pub mod shared_secret;
pub mod sql;
pub mod synapse_admin_api;
pub mod synapse_cli;
#[cfg(test)]
mod testing;
pub mod user_id;

pub use outcome::{Failure, Outcome};
pub use registration::Registration;
pub use secrecy::{ExposeSecret, SecretString};
pub use user_id::UserId;
