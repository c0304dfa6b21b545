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
        cli::Command::Ping(args) => commands::ping::run(&cli.global, args),
        cli::Command::Inventory(args) => commands::inventory::run(&cli.global, args),
        cli::Command::Completions { shell } => Ok(cli::completions(shell)),
        cli::Command::Man => cli::man(),
    };
    match result {
        Ok(code) => code.into(),
        Err(err) => {
            eprintln!("{err}");
            err.exit_code().into()
        }
    }
}
