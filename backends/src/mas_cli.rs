//! MAS's `mas-cli manage register-user` (crates/cli/src/commands/manage.rs in
//! element-hq/matrix-authentication-service). The tool takes the password only on its command
//! line (`-p`) or at an interactive prompt, so with this backend the password is visible in
//! the host's process list while the tool runs: `--check` and the docs say so.

use async_trait::async_trait;

use crate::account::{Account, Op, Preview};
use crate::port::exec::{Command, ExecPort, Output};
use crate::registration::Fields;
use crate::settings::{Backend, Config, Settings};
use crate::tool::{FromTool, Tool, ToolConfig};
use crate::{Failure, Outcome, Registration};

pub const DEFAULT_COMMAND: &str = "mas-cli";

pub const ARGV_WARNING: &str = "mas-cli takes the password only on its command line: it is visible in the host's process list while the tool runs";

pub struct MasCli {
    tool: Tool,
    config: Option<String>,
}

impl Backend for MasCli {
    const NAME: &'static str = "mas-cli";
    const KEYS: &'static [&'static str] = &["config", "command"];
    const OPS: &'static [Op] = &[Op::Register];
    /// `mas-cli manage register-user` takes `--display-name`, `--email` and
    /// `--ignore-password-complexity` (crates/cli/src/commands/manage.rs).
    const FIELDS: Fields = Fields {
        display_name: true,
        emails: true,
        ignore_password_complexity: true,
        user_type: false,
        // SSO links are made through MAS's admin API (mas-api), which says whether one is
        // there already, so a re-run can complete a user.
        sso: false,
    };
    const RUNS_PROGRAMS: bool = true;

    fn configure<S: Settings>(s: &S) -> Result<Box<dyn Config>, S::Error> {
        ToolConfig::<Self>::read(s)
    }
}

/// `config`: MAS's config.yaml on the target, passed as `-c`; the tool's default otherwise.
impl FromTool for MasCli {
    const WARNING: Option<&'static str> = Some(ARGV_WARNING);

    fn from_tool(exec: ExecPort, c: &ToolConfig<Self>) -> Self {
        MasCli {
            tool: c.tool(exec, DEFAULT_COMMAND),
            config: c.config.clone(),
        }
    }
}

#[async_trait]
impl Account for MasCli {
    fn via(&self) -> String {
        self.tool.via()
    }

    /// The tool runs and knows `manage register-user`.
    async fn ping(&self) -> Result<String, Failure> {
        let probe = Command::new(&self.tool.command)
            .arg("manage")
            .arg("register-user")
            .arg("--help");
        self.tool.answers(probe).await
    }

    async fn register(&self, reg: &Registration<'_>) -> Result<Outcome, Failure> {
        let out = self.tool.run(self.command(reg)).await?;
        interpret(&self.tool.command, &out, reg.admin)
    }

    async fn preview(&self, reg: &Registration<'_>) -> Result<Preview, Failure> {
        Ok(self.tool.preview(self.command(reg)))
    }
}

impl MasCli {
    /// Every value goes in a form clap cannot read as an option: `--email=VALUE`, and the
    /// user name after `--`. A bare `--help` as USERNAME would print the help and exit 0,
    /// which reads as "created"; clap (like getopt) takes everything after `--` as positional.
    fn command(&self, reg: &Registration<'_>) -> Command {
        let mut cmd = Command::new(&self.tool.command);
        if let Some(config) = &self.config {
            cmd = cmd.option("--config", config);
        }
        cmd = cmd
            .arg("manage")
            .arg("register-user")
            .arg("--yes")
            .arg(if reg.admin { "--admin" } else { "--no-admin" });
        for email in reg.emails {
            cmd = cmd.option("--email", email);
        }
        if let Some(name) = reg.display_name {
            cmd = cmd.option("--display-name", name);
        }
        if reg.ignore_password_complexity {
            cmd = cmd.arg("--ignore-password-complexity");
        }
        cmd.secret_option("--password", reg.password)
            .arg("--")
            .arg(reg.user.localpart())
    }
}

/// Errors come from anyhow's main ("Error: User already exists", exit 1) or from tracing
/// ("That password is too weak.", exit 1).
fn interpret(tool: &str, out: &Output, admin: bool) -> Result<Outcome, Failure> {
    let all = format!("{}\n{}", out.stdout, out.stderr);
    if out.success() {
        return Ok(Outcome::Created { admin });
    }
    if all.contains("User already exists") {
        return Ok(Outcome::Exists);
    }
    let hint = if all.contains("too weak") {
        "MAS's password policy; --ignore-password-complexity skips it"
    } else if all.contains("Username not available on homeserver") {
        "the homeserver reserves this name"
    } else {
        ""
    };
    Err(out.failure(tool, hint))
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
        let password = SecretString::from("s3cret-pw");
        let emails = vec!["john@example.com".to_owned()];
        let mut reg = Registration::new(&user, &password, false);
        reg.emails = &emails;
        reg.display_name = Some("John Doe");
        let cli = MasCli::from_tool(
            exec.clone(),
            &ToolConfig::new(Some("/config.yaml"), None, None),
        );
        let out = block_on(cli.register(&reg));
        (out, exec.commands())
    }

    #[test]
    fn builds_the_upstream_command_with_the_password_masked() {
        let (out, cmds) = run(Recorder::ok(""));
        assert_eq!(out, Ok(Outcome::Created { admin: false }));
        let shown = cmds[0].to_string();
        assert_eq!(
            shown,
            "mas-cli --config=/config.yaml manage register-user --yes --no-admin --email=john@example.com '--display-name=John Doe' --password='********' -- john"
        );
        assert!(cmds[0].has_secret_arg());
        assert!(!shown.contains("s3cret-pw"));
        assert!(cmds[0].expose_args().any(|a| a == "--password=s3cret-pw"));
    }

    #[test]
    fn a_name_like_an_option_comes_after_the_end_of_options() {
        let exec = Recorder::new(vec![Recorder::ok("")]);
        let user = UserId::new("--help", "example.com").unwrap();
        let password = SecretString::from("-p-like-password");
        let reg = Registration::new(&user, &password, false);
        block_on(
            MasCli::from_tool(exec.clone(), &ToolConfig::new(None, None, None)).register(&reg),
        )
        .unwrap();
        let args: Vec<String> = exec.commands()[0]
            .expose_args()
            .map(str::to_owned)
            .collect();
        assert_eq!(&args[args.len() - 2..], ["--", "--help"], "{args:?}");
        assert!(args.contains(&"--password=-p-like-password".to_owned()));
    }

    #[test]
    fn existing_user_is_exists() {
        let (out, _) = run(Recorder::failed(1, "Error: User already exists\n"));
        assert_eq!(out, Ok(Outcome::Exists));
    }

    #[test]
    fn weak_password_gets_a_hint() {
        let (out, _) = run(Recorder::failed(1, "ERROR That password is too weak.\n"));
        assert!(
            matches!(out, Err(Failure::Rejected(m)) if m.contains("--ignore-password-complexity"))
        );
    }
}
