//! The wrapper scripts matrix-docker-ansible-deploy installs on its hosts:
//! `/matrix/synapse/bin/register-user USER PASSWORD 0|1` (and the Dendrite and MAS ones of the
//! same shape). They take the password on their command line, which is why the other exec
//! backends are preferred; this one exists for hosts where only the wrappers are known to work.

use async_trait::async_trait;

use crate::account::{Account, Op, Preview};
use crate::port::exec::{Command, Exec, ExecPort, Output};
use crate::settings::{Backend, Config, Settings};
use crate::tool::{FromTool, Tool, ToolConfig};
use crate::{Failure, Outcome, Registration};

pub const DEFAULT_COMMAND: &str = "/matrix/synapse/bin/register-user";

pub const ARGV_WARNING: &str = "the playbook's wrapper takes the password on its command line: it is visible in the host's process list while it runs";

pub struct PlaybookWrapper {
    tool: Tool,
}

impl Backend for PlaybookWrapper {
    const NAME: &'static str = "playbook-wrapper";
    const KEYS: &'static [&'static str] = &["command"];
    const OPS: &'static [Op] = &[Op::Register];
    // The playbook's `register-user` scripts take only user, password and admin flag.
    const RUNS_PROGRAMS: bool = true;

    fn configure<S: Settings>(s: &S) -> Result<Box<dyn Config>, S::Error> {
        ToolConfig::<Self>::read(s)
    }
}

/// `command`: the wrapper's path, e.g. /matrix/dendrite/bin/create-account.
impl FromTool for PlaybookWrapper {
    const WARNING: Option<&'static str> = Some(ARGV_WARNING);

    fn from_tool(exec: ExecPort, c: &ToolConfig<Self>) -> Self {
        PlaybookWrapper {
            tool: c.tool(exec, DEFAULT_COMMAND),
        }
    }
}

#[async_trait]
impl Account for PlaybookWrapper {
    fn via(&self) -> String {
        self.tool.via()
    }

    /// The wrapper is there and executable (running it without arguments would only print
    /// its usage, with exit code 1).
    async fn ping(&self) -> Result<String, Failure> {
        let (command, exec) = (&self.tool.command, &self.tool.exec);
        let out = exec
            .run(Command::new("test").arg("-x").arg(command))
            .await?;
        if !out.success() {
            return Err(Failure::Rejected(format!(
                "{command} is not an executable on {}",
                exec.describe()
            )));
        }
        Ok(format!("{command} is there on {}", exec.describe()))
    }

    async fn register(&self, reg: &Registration<'_>) -> Result<Outcome, Failure> {
        refuse_option_like(reg)?;
        let out = self.tool.run(self.command(reg)).await?;
        interpret(&self.tool.command, &out, reg.admin)
    }

    async fn preview(&self, reg: &Registration<'_>) -> Result<Preview, Failure> {
        refuse_option_like(reg)?;
        Ok(self.tool.preview(self.command(reg)))
    }
}

impl PlaybookWrapper {
    fn command(&self, reg: &Registration<'_>) -> Command {
        Command::new(&self.tool.command)
            .arg(reg.user.localpart())
            .secret_arg(reg.password.clone())
            .arg(if reg.admin { "1" } else { "0" })
    }
}

/// The wrappers hand USER and PASSWORD to the tool as separate words after its options:
/// Synapse's runs `register_new_matrix_user -u "$user" -p "$password"`
/// (roles/custom/matrix-synapse/templates/synapse/bin/register-user.j2; earlier
/// usr-local-bin/matrix-synapse-register-user.j2),
/// where argparse takes `-u -h` as the option `-h` (help); MAS's ends with the bare `USER`,
/// where clap takes `--help` as help and exits 0, which would read as "created". The
/// wrapper cannot be given `--` or `--user=VALUE`, so such values are refused for it.
fn refuse_option_like(reg: &Registration<'_>) -> Result<(), Failure> {
    use secrecy::ExposeSecret;
    if reg.user.localpart().starts_with('-') {
        return Err(Failure::Rejected(format!(
            "the playbook's wrapper cannot register {}: it passes a name starting with '-' to the tool as an option; use the synapse-cli, dendrite-cli or mas-cli backend for it",
            reg.user
        )));
    }
    if reg.password.expose_secret().starts_with('-') {
        return Err(Failure::Rejected(
            "the playbook's wrapper cannot take a password starting with '-': it passes it to the tool as an option; use another backend or another password".into(),
        ));
    }
    Ok(())
}

/// The wrappers pass the tool's output through. The playbook's own idempotent role
/// (matrix-user-creator) recognises existing users by these texts.
fn interpret(tool: &str, out: &Output, admin: bool) -> Result<Outcome, Failure> {
    let all = format!("{}\n{}", out.stdout, out.stderr);
    let exists = [
        "User ID already taken",
        "User already exists",
        "Desired user ID is already taken",
        "M_USER_IN_USE",
    ];
    if exists.iter().any(|t| all.contains(t)) {
        return Ok(Outcome::Exists);
    }
    if out.success() {
        return Ok(Outcome::Created { admin });
    }
    Err(out.failure(tool, ""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UserId;
    use crate::testing::{Recorder, block_on};
    use secrecy::SecretString;

    fn run(answer: Output) -> (Result<Outcome, Failure>, Vec<Command>) {
        let exec = Recorder::new(vec![answer]);
        let user = UserId::new("john", "example.com").unwrap();
        let password = SecretString::from("pw");
        let out = block_on(
            PlaybookWrapper::from_tool(exec.clone(), &ToolConfig::new(None, None, None))
                .register(&Registration::new(&user, &password, true)),
        );
        (out, exec.commands())
    }

    #[test]
    fn calls_the_wrapper_like_the_playbook() {
        let (out, cmds) = run(Recorder::ok("Success!"));
        assert_eq!(out, Ok(Outcome::Created { admin: true }));
        assert_eq!(
            cmds[0].to_string(),
            "/matrix/synapse/bin/register-user john '********' 1"
        );
    }

    #[test]
    fn names_and_passwords_like_options_are_refused_before_running() {
        for (name, password) in [("-h", "pw"), ("--help", "pw"), ("john", "--help")] {
            let exec = Recorder::new(vec![Recorder::ok("Success!")]);
            let user = UserId::new(name, "example.com").unwrap();
            let password = SecretString::from(password);
            let out = block_on(
                PlaybookWrapper::from_tool(exec.clone(), &ToolConfig::new(None, None, None))
                    .register(&Registration::new(&user, &password, false)),
            );
            assert!(
                matches!(&out, Err(Failure::Rejected(m)) if m.contains("starting with '-'")),
                "{name}: {out:?}"
            );
            assert!(exec.commands().is_empty(), "{name}: nothing ran");
        }
    }

    #[test]
    fn each_implementations_exists_text_is_exists() {
        for text in [
            "User ID already taken.",
            "Error: User already exists",
            "Desired user ID is already taken.",
        ] {
            let (out, _) = run(Recorder::failed(1, text));
            assert_eq!(out, Ok(Outcome::Exists), "{text}");
        }
    }
}
