//! One file per subcommand: each turns its arguments into jobs for the runner and prints the
//! results.

pub mod register;
