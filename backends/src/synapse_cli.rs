//! Synapse's own `register_new_matrix_user` (synapse/_scripts/register_new_matrix_user.py),
//! run on the host or in its container. `-c CONFIG` makes the tool read the shared secret on
//! the host; the password goes on stdin.
//!
//! Each run of the tool is a Python start-up (≈3 users/s), while the same Synapse answers the
//! shared-secret API the tool calls at hundreds a second. So when the host is reached over
//! SSH, provision does what the tool does itself: it reads the secret and the client
//! listener from the config on the host ([`crate::server_config`]) and registers through
//! the shared-secret API over a forward on the host's SSH connection ([`Ports::tunnel`]).
//! Without a secret in the config, or when the forward fails, the tool does it, and a
//! one-line warning says why; `via: tool` keeps the tool, `via: api` refuses to fall back.

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::OnceCell;

use crate::account::{Account, Op, Preview};
use crate::port::Ports;
use crate::port::exec::{Command, Exec, ExecPort, Output};
use crate::registration::Fields;
use crate::server_config::FoundEndpoint;
use crate::settings::{Backend, Config, Homeserver, Settings, refuse_mas};
use crate::tool::{FromTool, Tool, ToolConfig};
use crate::tunnelled::{Route, Tunnelled};
use crate::{Failure, Outcome, Registration};

pub const DEFAULT_COMMAND: &str = "register_new_matrix_user";

pub struct SynapseCli {
    tool: Tool,
    config: String,
    url: Option<String>,
    features: OnceCell<Features>,
    /// Which way registrations go, found out once per run.
    tunnelled: Tunnelled,
}

/// What the installed version supports; both arrived in Synapse 1.110.
#[derive(Debug, Clone, Copy)]
struct Features {
    password_file: bool,
    exists_ok: bool,
}

impl Backend for SynapseCli {
    const NAME: &'static str = "synapse-cli";
    const KEYS: &'static [&'static str] = &["config", "url", "command", "via"];
    const OPS: &'static [Op] = &[Op::Register];
    // `register_new_matrix_user` has no option for a display name or an email; it has one
    // for the user type.
    const FIELDS: Fields = Fields {
        user_type: true,
        ..Fields::NONE
    };
    const RUNS_PROGRAMS: bool = true;
    const HOMESERVER: Option<Homeserver> = Some(Homeserver::Synapse);

    fn configure<S: Settings>(s: &S) -> Result<Box<dyn Config>, S::Error> {
        refuse_mas(s, "register_new_matrix_user")?;
        ToolConfig::<Self>::read(s)
    }
}

/// `config`: homeserver.yaml's path on the target. `url`: where the tool reaches the server
/// from there (else it derives it from the config's listeners).
impl FromTool for SynapseCli {
    const CONFIG_REQUIRED: bool = true;

    fn from_tool(exec: ExecPort, c: &ToolConfig<Self>) -> Self {
        SynapseCli {
            tool: c.tool(exec, DEFAULT_COMMAND),
            config: c.config.clone().unwrap_or_default(),
            url: c.url.clone(),
            features: OnceCell::new(),
            tunnelled: Tunnelled::new(c.via),
        }
    }

    fn build(ports: &dyn Ports, c: &ToolConfig<Self>) -> Result<Self, String> {
        let mut backend = Self::from_tool(ports.exec()?, c);
        backend.tunnelled.tunnel = ports.tunnel();
        Ok(backend)
    }
}

#[async_trait]
impl Account for SynapseCli {
    fn via(&self) -> String {
        self.tunnelled.via(&self.tool)
    }

    /// Which way registrations go and why, and that it answers: the API, or the tool and
    /// what it supports.
    async fn ping(&self) -> Result<String, Failure> {
        let why = match self
            .tunnelled
            .ping(&self.tool, &self.config, self.find())
            .await?
        {
            Ok(said) => return Ok(said),
            Err(why) => why,
        };
        let f = self.features().await?;
        let yes = |b: bool| {
            if b {
                "yes"
            } else {
                "no (before Synapse 1.110)"
            }
        };
        Ok(format!(
            "{why}: registers with the tool; {} answers on {} (--password-file: {}, --exists-ok: {})",
            self.tool.command,
            self.tool.exec.describe(),
            yes(f.password_file),
            yes(f.exists_ok)
        ))
    }

    async fn register(&self, reg: &Registration<'_>) -> Result<Outcome, Failure> {
        if let Route::Api(api) = self.route().await? {
            return api.register(reg).await;
        }
        // Each run of the tool costs a Python start-up (about 0.45 s of CPU), so its features
        // are not asked for first: the current form is tried, and an older tool's argparse
        // refusal (exit 2, before it does anything) sends the old form instead.
        let modern = Features {
            password_file: true,
            exists_ok: true,
        };
        let features = self.features.get().copied().unwrap_or(modern);
        let out = self.tool.run(self.command(features, reg)).await?;
        if out.code == Some(2)
            && format!("{}{}", out.stdout, out.stderr).contains("unrecognized arguments")
        {
            let _ = self.features.set(Features {
                password_file: false,
                exists_ok: false,
            });
            let features = self.features().await?;
            let out = self.tool.run(self.command(features, reg)).await?;
            return interpret(&self.tool.command, &out, reg.admin);
        }
        if out.code != Some(127) && out.code != Some(126) {
            let _ = self.features.set(features);
        }
        interpret(&self.tool.command, &out, reg.admin)
    }

    /// Finds out what the installed tool supports (running `--help` changes nothing) and
    /// shows the command that would run.
    async fn preview(&self, reg: &Registration<'_>) -> Result<Preview, Failure> {
        if let Route::Api(api) = self.route().await? {
            return api.preview(reg).await;
        }
        let features = self.features().await?;
        Ok(self.tool.preview(self.command(features, reg)))
    }
}

impl SynapseCli {
    async fn route(&self) -> Result<&Route, Failure> {
        self.tunnelled
            .route(&self.tool, &self.config, self.find())
            .await
    }

    /// The secret and the address, from the config on the host.
    fn find(&self) -> impl Future<Output = FoundEndpoint> + '_ {
        crate::server_config::synapse(&self.tool.exec, &self.config, self.url.as_deref())
    }

    async fn features(&self) -> Result<Features, Failure> {
        let tool = &self.tool;
        self.features
            .get_or_try_init(|| async {
                let out = tool
                    .exec
                    .run(Command::new(&tool.command).arg("--help"))
                    .await?;
                if !out.success() {
                    return Err(out.failure(&tool.command, ""));
                }
                let help = format!("{}{}", out.stdout, out.stderr);
                let features = Features {
                    password_file: help.contains("--password-file"),
                    exists_ok: help.contains("--exists-ok"),
                };
                tracing::debug!(?features, "{} on {}", tool.command, tool.exec.describe());
                Ok(features)
            })
            .await
            .copied()
    }

    /// Values go as `--user=VALUE` and after `--`: argparse reads a separate `-u -h` as the
    /// option `-h` (help, or "expected one argument"), never as the user name `-h`.
    fn command(&self, features: Features, reg: &Registration<'_>) -> Command {
        let mut cmd = Command::new(&self.tool.command)
            .option("--config", &self.config)
            .option("--user", reg.user.localpart())
            .arg(if reg.admin { "--admin" } else { "--no-admin" });
        let password = reg.password.expose_secret();
        if features.password_file {
            cmd = cmd
                .arg("--password-file")
                .arg("/dev/stdin")
                .stdin(reg.password.clone());
        } else {
            // Before 1.110 the tool asks twice through getpass, which reads stdin when there
            // is no terminal: answering the prompts keeps the password off argv.
            cmd = cmd.stdin(SecretString::from(format!("{password}\n{password}\n")));
        }
        if features.exists_ok {
            cmd = cmd.arg("--exists-ok");
        }
        // `-t` / `--user_type` (synapse/_scripts/register_new_matrix_user.py), which the
        // tool signs into the shared-secret MAC.
        if let Some(user_type) = reg.user_type {
            cmd = cmd.option("--user_type", user_type);
        }
        if let Some(url) = &self.url {
            cmd = cmd.arg("--").arg(url);
        }
        cmd
    }
}

/// The tool prints everything, errors included, on stdout.
fn interpret(tool: &str, out: &Output, admin: bool) -> Result<Outcome, Failure> {
    let all = format!("{}\n{}", out.stdout, out.stderr);
    if all.contains("User already exists") || all.contains("User ID already taken") {
        return Ok(Outcome::Exists);
    }
    if out.success() {
        return Ok(Outcome::Created { admin });
    }
    if matches!(out.code, Some(126 | 127)) {
        return Err(not_runnable(tool, out));
    }
    let hint = if all.contains("HMAC incorrect") {
        " (the shared secret in the config does not match the server's)"
    } else if all.contains("No 'registration_shared_secret'") || all.contains("not enabled") {
        " (the config has no registration_shared_secret)"
    } else {
        ""
    };
    Err(Failure::Rejected(format!(
        "{tool} failed ({}): {}{hint}",
        out.describe_exit(),
        out.tail()
    )))
}

fn not_runnable(tool: &str, out: &Output) -> Failure {
    Failure::Rejected(format!(
        "cannot run {tool} ({}): {}; set `command` to its path on the host",
        out.describe_exit(),
        out.tail()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UserId;
    use crate::testing::Recorder;

    const HELP_NEW: &str = "usage: register_new_matrix_user [-u USER] [-p PASSWORD | --password-file PASSWORD_FILE] [--exists-ok] ...";
    const HELP_OLD: &str = "usage: register_new_matrix_user [-u USER] [-p PASSWORD] ...";

    /// The tool's answers: for a current tool, the registration only; for an old one, the
    /// argparse refusal of the current form, then the registration.
    fn run(help: &str, answer: Output, admin: bool) -> (Result<Outcome, Failure>, Vec<Command>) {
        run_typed(help, answer, admin, None)
    }

    fn run_typed(
        help: &str,
        answer: Output,
        admin: bool,
        user_type: Option<&str>,
    ) -> (Result<Outcome, Failure>, Vec<Command>) {
        let answers = if help == HELP_NEW {
            vec![answer]
        } else {
            let refusal = Output {
                code: Some(2),
                stdout: String::new(),
                stderr: "register_new_matrix_user: error: unrecognized arguments: --password-file --exists-ok".into(),
            };
            vec![refusal, answer]
        };
        let exec = Recorder::new(answers);
        let user = UserId::new("john", "example.com").unwrap();
        let password = SecretString::from("pw");
        let cli = SynapseCli::from_tool(
            exec.clone(),
            &ToolConfig::new(
                Some("/data/homeserver.yaml"),
                Some("http://localhost:8008"),
                None,
            ),
        );
        let mut reg = Registration::new(&user, &password, admin);
        reg.user_type = user_type;
        let out = crate::testing::block_on(cli.register(&reg));
        (out, exec.commands())
    }

    #[test]
    fn a_user_type_goes_as_user_type() {
        let (out, cmds) = run_typed(HELP_NEW, Recorder::ok("Success!\n"), false, Some("bot"));
        assert_eq!(out, Ok(Outcome::Created { admin: false }));
        assert!(
            cmds[0].to_string().contains(" --user_type=bot "),
            "{}",
            cmds[0]
        );
    }

    #[test]
    fn new_versions_get_the_password_on_stdin_and_exists_ok() {
        let (out, cmds) = run(
            HELP_NEW,
            Recorder::ok("Sending registration request...\nSuccess!\n"),
            true,
        );
        assert_eq!(out, Ok(Outcome::Created { admin: true }));
        assert_eq!(
            cmds.len(),
            1,
            "no --help first: one Python start-up, not two"
        );
        assert_eq!(
            cmds[0].to_string(),
            "register_new_matrix_user --config=/data/homeserver.yaml --user=john --admin --password-file /dev/stdin --exists-ok -- http://localhost:8008 <(secret on stdin)"
        );
        assert_eq!(cmds[0].stdin.as_ref().unwrap().expose_secret(), "pw");
        assert!(!cmds[0].has_secret_arg());
    }

    #[test]
    fn old_versions_answer_the_prompts_on_stdin() {
        let (out, cmds) = run(HELP_OLD, Recorder::ok("Success!\n"), false);
        assert_eq!(out, Ok(Outcome::Created { admin: false }));
        assert_eq!(cmds.len(), 2, "the refused current form, then the old one");
        assert!(!cmds[1].to_string().contains("--password-file"));
        assert!(!cmds[1].to_string().contains("--exists-ok"));
        assert_eq!(cmds[1].stdin.as_ref().unwrap().expose_secret(), "pw\npw\n");
    }

    #[test]
    fn what_the_tool_supports_is_learnt_once_per_host() {
        let exec = Recorder::new(vec![Recorder::ok("Success!\n"), Recorder::ok("Success!\n")]);
        let user = UserId::new("john", "example.com").unwrap();
        let password = SecretString::from("pw");
        let cli = SynapseCli::from_tool(exec.clone(), &ToolConfig::new(Some("/c"), None, None));
        let reg = Registration::new(&user, &password, false);
        crate::testing::block_on(async {
            cli.register(&reg).await.unwrap();
            cli.register(&reg).await.unwrap();
        });
        assert_eq!(exec.commands().len(), 2);
    }

    #[test]
    fn existing_users_are_exists_with_or_without_exists_ok() {
        let (out, _) = run(
            HELP_NEW,
            Recorder::ok("User already exists. Skipping.\n"),
            false,
        );
        assert_eq!(out, Ok(Outcome::Exists));
        let taken = Output {
            code: Some(1),
            stdout: "ERROR! Received 400 Bad Request\nUser ID already taken.\n".into(),
            ..Default::default()
        };
        let (out, _) = run(HELP_OLD, taken, false);
        assert_eq!(out, Ok(Outcome::Exists));
    }

    #[test]
    fn a_name_like_an_option_is_passed_as_the_value_of_user() {
        let exec = Recorder::new(vec![Recorder::ok("Success!\n")]);
        let user = UserId::new("-h", "example.com").unwrap();
        let password = SecretString::from("pw");
        let cli = SynapseCli::from_tool(
            exec.clone(),
            &ToolConfig::new(Some("/c"), Some("http://localhost:8008"), None),
        );
        crate::testing::block_on(cli.register(&Registration::new(&user, &password, false)))
            .unwrap();
        let args: Vec<String> = exec.commands()[0]
            .expose_args()
            .map(str::to_owned)
            .collect();
        assert!(args.contains(&"--user=-h".to_owned()), "{args:?}");
        assert!(!args.contains(&"-h".to_owned()), "{args:?}");
    }

    #[test]
    fn a_missing_tool_says_to_set_command() {
        let exec = Recorder::new(vec![Output {
            code: Some(127),
            stderr: "sh: register_new_matrix_user: not found".into(),
            ..Default::default()
        }]);
        let user = UserId::new("john", "example.com").unwrap();
        let password = SecretString::from("pw");
        let cli = SynapseCli::from_tool(exec.clone(), &ToolConfig::new(Some("/c"), None, None));
        let out =
            crate::testing::block_on(cli.register(&Registration::new(&user, &password, false)));
        assert!(matches!(out, Err(Failure::Rejected(m)) if m.contains("set `command`")));
    }

    #[test]
    fn failures_carry_the_tool_output() {
        let bad = Output {
            code: Some(1),
            stdout: "ERROR! Received 403 Forbidden\nHMAC incorrect\n".into(),
            ..Default::default()
        };
        let (out, _) = run(HELP_NEW, bad, false);
        assert!(
            matches!(out, Err(Failure::Rejected(m)) if m.contains("HMAC incorrect") && m.contains("does not match"))
        );
    }
}
