//! The wrapper scripts matrix-docker-ansible-deploy installs on its hosts:
//! `/matrix/synapse/bin/register-user USER PASSWORD 0|1` (and the Dendrite and MAS ones of the
//! same shape). They take the password on their command line, which is why the other exec
//! backends are preferred; this one exists for hosts where only the wrappers are known to work.
//! Contract notes: shared/contracts/playbook.md.

use crate::exec::{Command, Exec, Output};
use crate::registration::Fields;
use crate::{Failure, Outcome, Registration};

pub const DEFAULT_COMMAND: &str = "/matrix/synapse/bin/register-user";

pub const ARGV_WARNING: &str = "the playbook's wrapper takes the password on its command line: it is visible in the host's process list while it runs";

pub struct PlaybookWrapper {
    command: String,
}

impl PlaybookWrapper {
    /// The playbook's `register-user` scripts take only user, password and admin flag.
    pub const FIELDS: Fields = Fields {
        display_name: false,
        emails: false,
        ignore_password_complexity: false,
    };

    /// `command`: the wrapper's path, e.g. /matrix/dendrite/bin/create-account.
    pub fn new(command: Option<String>) -> Self {
        PlaybookWrapper {
            command: command.unwrap_or_else(|| DEFAULT_COMMAND.to_owned()),
        }
    }

    pub async fn register(
        &self,
        exec: &impl Exec,
        reg: &Registration<'_>,
    ) -> Result<Outcome, Failure> {
        tracing::warn!("{}: {ARGV_WARNING}", exec.describe());
        let out = exec.run(self.command(reg)).await?;
        interpret(&self.command, &out, reg.admin)
    }

    pub async fn plan(
        &self,
        _exec: &impl Exec,
        reg: &Registration<'_>,
    ) -> Result<Outcome, Failure> {
        Ok(Outcome::WouldRun {
            admin: reg.admin,
            command: self.command(reg).to_string(),
            warning: Some(ARGV_WARNING.into()),
        })
    }

    /// `provision ping`: the wrapper is there and executable (running it without arguments
    /// would only print its usage, with exit code 1).
    pub async fn ping(&self, exec: &impl Exec) -> Result<String, Failure> {
        let out = exec
            .run(Command::new("test").arg("-x").arg(&self.command))
            .await?;
        if !out.success() {
            return Err(Failure::Rejected(format!(
                "{} is not an executable on {}",
                self.command,
                exec.describe()
            )));
        }
        Ok(format!("{} is there on {}", self.command, exec.describe()))
    }

    fn command(&self, reg: &Registration<'_>) -> Command {
        Command::new(&self.command)
            .arg(reg.user.localpart())
            .secret_arg(reg.password.clone())
            .arg(if reg.admin { "1" } else { "0" })
    }
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
            PlaybookWrapper::new(None).register(&exec, &Registration::new(&user, &password, true)),
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
