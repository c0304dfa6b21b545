//! `provision`: parses the command line and hands it to the command that does the work.

mod cli;
mod commands;
mod error;
mod inventory;
mod logging;
mod password;
mod report;
mod runner;
mod secret_source;
mod target;
mod transport;
mod users;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    logging::init(cli.global.verbose);
    let result = match cli.command {
        cli::Command::Register(args) => commands::register::run(&cli.global, args),
        cli::Command::Admin(args) => commands::admin::run(&cli.global, args),
    };
    match result {
        Ok(code) => code.into(),
        Err(err) => {
            eprintln!("{err}");
            err.exit_code().into()
        }
    }
}
