//! `provision`: parses the command line and hands it to the command that does the work.

use std::process::ExitCode;

use clap::Parser;
use provision::{cli, commands, hardening, logging, output, render};

fn main() -> ExitCode {
    hardening::no_core_dumps();
    // COMPLETE=bash|zsh|fish: the shell asks for completions (host names after --limit), or
    // for the script that will ask; nothing else runs.
    clap_complete::CompleteEnv::with_factory(<cli::Cli as clap::CommandFactory>::command)
        .complete();
    // Copied into a playbook's library/ as `provision_user`, or into the collection as its
    // module `user` (ansible/collection/), the binary is the module itself: Ansible runs it
    // with the arguments file as its only argument.
    let mut argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if commands::ansible::started_as_module(&argv) {
        argv.insert(1, "ansible-module".into());
    }
    let cli = cli::Cli::parse_from(argv);
    logging::init(cli.global.verbose);
    let global = &cli.global;
    if let Err(err) = cli.check_output() {
        output::error_line(&err);
        return output::exit_code(err.exit_code()).into();
    }
    let shown = |report: provision::report::Report| render::finish(global.output, &report);
    let result = match cli.command {
        cli::Command::Register(args) => commands::register::run(global, args).map(shown),
        cli::Command::Admin(args) => commands::admin::run(global, args).map(shown),
        cli::Command::Password(args) => commands::password::run(global, args).map(shown),
        cli::Command::Lock(args) => commands::lifecycle::lock(global, args, true).map(shown),
        cli::Command::Unlock(args) => commands::lifecycle::lock(global, args, false).map(shown),
        cli::Command::Deactivate(args) => commands::lifecycle::deactivate(global, args).map(shown),
        cli::Command::Reactivate(args) => commands::lifecycle::reactivate(global, args).map(shown),
        cli::Command::Show(args) => commands::show::run(global, args).map(shown),
        cli::Command::Users(args) => commands::users::run(global, args).map(shown),
        cli::Command::Token(args) => commands::token::run(global, args).map(shown),
        cli::Command::Plan(args) => commands::plan::run(global, args).map(shown),
        cli::Command::Apply(args) => commands::apply::run(global, args).map(shown),
        cli::Command::Ping(args) => commands::ping::run(global, args).map(shown),
        cli::Command::Login(args) => commands::login::run(global, args).map(shown),
        cli::Command::Inventory(args) => commands::inventory::run(global, args)
            .map(|plans| render::inventory(global.output, &global.inventory, &plans)),
        cli::Command::Completions { shell } => Ok(cli::completions(shell)),
        cli::Command::Man => cli::man(),
        cli::Command::AnsibleModule { args_file } => Ok(commands::ansible::run(&args_file)),
    };
    // The SSH masters have ended with their targets; their sockets and files go now.
    provision::transport::rundir::remove();
    let code = match result {
        Ok(code) => code,
        Err(err) => {
            output::error_line(&err);
            err.exit_code()
        }
    };
    output::exit_code(code).into()
}
