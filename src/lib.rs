//! provision's library: everything the binary (src/main.rs) dispatches to, and what the fuzz
//! targets (fuzz/) exercise. Modules are named for what they hold; see README.md's layout.

pub mod cli;
pub mod commands;
pub mod completion;
pub mod desired;
pub mod error;
pub mod hardening;
pub mod inventory;
pub mod local_file;
pub mod logging;
pub mod output;
pub mod password;
pub mod password_store;
pub mod registry;
pub mod render;
pub mod report;
pub mod router;
pub mod runner;
pub mod schema;
pub mod secret_source;
pub mod transport;
pub mod users;
