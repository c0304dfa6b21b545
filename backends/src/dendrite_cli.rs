//! Dendrite's `create-account` (cmd/create-account/main.go in element-hq/dendrite). It reads
//! the shared secret from `-config` on the host and registers through the shared-secret API at
//! `-url`; the password goes on stdin (`-passwordstdin`).

use async_trait::async_trait;
use secrecy::ExposeSecret;

use crate::account::{Account, Op, Preview};
use crate::port::Ports;
use crate::port::exec::{Command, ExecPort, Output};
use crate::server_config::FoundEndpoint;
use crate::settings::{Backend, Config, Homeserver, Settings};
use crate::tool::{FromTool, Tool, ToolConfig};
use crate::tunnelled::{Route, Tunnelled};
use crate::{Failure, Outcome, Registration};

pub const DEFAULT_COMMAND: &str = "create-account";

pub struct DendriteCli {
    tool: Tool,
    config: String,
    url: Option<String>,
    /// Over SSH, the shared-secret API the tool calls, called from here (see synapse_cli.rs).
    tunnelled: Tunnelled,
}

impl Backend for DendriteCli {
    const NAME: &'static str = "dendrite-cli";
    const KEYS: &'static [&'static str] = &["config", "url", "command", "via"];
    const OPS: &'static [Op] = &[Op::Register];
    // `create-account` has no option for a display name or an email.
    const RUNS_PROGRAMS: bool = true;
    const HOMESERVER: Option<Homeserver> = Some(Homeserver::Dendrite);

    fn configure<S: Settings>(s: &S) -> Result<Box<dyn Config>, S::Error> {
        ToolConfig::<Self>::read(s)
    }
}

/// `url`: where the tool reaches Dendrite from the target (the tool's default is
/// http://localhost:8008).
impl FromTool for DendriteCli {
    const CONFIG_REQUIRED: bool = true;

    fn from_tool(exec: ExecPort, c: &ToolConfig<Self>) -> Self {
        DendriteCli {
            tool: c.tool(exec, DEFAULT_COMMAND),
            config: c.config.clone().unwrap_or_default(),
            url: c.url.clone(),
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
impl Account for DendriteCli {
    fn via(&self) -> String {
        self.tunnelled.via(&self.tool)
    }

    /// Which way registrations go and why; Go's flag package answers `-help` with the usage
    /// and exit 0.
    async fn ping(&self) -> Result<String, Failure> {
        let why = match self
            .tunnelled
            .ping(&self.tool, &self.config, self.find())
            .await?
        {
            Ok(said) => return Ok(said),
            Err(why) => why,
        };
        let answers = self
            .tool
            .answers(Command::new(&self.tool.command).arg("-help"))
            .await?;
        Ok(format!("{why}: registers with the tool; {answers}"))
    }

    async fn register(&self, reg: &Registration<'_>) -> Result<Outcome, Failure> {
        if let Route::Api(api) = self.route().await? {
            return api.register(reg).await;
        }
        check_password(reg)?;
        let out = self.tool.run(self.command(reg)).await?;
        interpret(&self.tool.command, &out, reg.admin)
    }

    async fn preview(&self, reg: &Registration<'_>) -> Result<Preview, Failure> {
        if let Route::Api(api) = self.route().await? {
            return api.preview(reg).await;
        }
        Ok(self.tool.preview(self.command(reg)))
    }
}

impl DendriteCli {
    async fn route(&self) -> Result<&Route, Failure> {
        self.tunnelled
            .route(&self.tool, &self.config, self.find())
            .await
    }

    /// The secret and the address, from the config on the host.
    fn find(&self) -> impl Future<Output = FoundEndpoint> + '_ {
        crate::server_config::dendrite(&self.tool.exec, &self.config, self.url.as_deref())
    }

    /// `-name=VALUE`, one argument per flag: Go's flag package (src/flag/flag.go,
    /// `parseOne`) already takes the word after a non-boolean flag as its value, whatever it
    /// starts with, but the joined form leaves nothing to the parser's goodwill, and a wrapper
    /// in between (a shell script, `docker exec`) cannot split it either.
    fn command(&self, reg: &Registration<'_>) -> Command {
        let mut cmd = Command::new(&self.tool.command)
            .option("-config", &self.config)
            .option("-username", reg.user.localpart())
            .arg("-passwordstdin")
            .stdin(reg.password.clone());
        if reg.admin {
            cmd = cmd.arg("-admin");
        }
        if let Some(url) = &self.url {
            cmd = cmd.option("-url", url);
        }
        cmd
    }
}

/// create-account trims the password it reads: one with surrounding whitespace would be
/// changed without a word, so it is refused here instead.
fn check_password(reg: &Registration<'_>) -> Result<(), Failure> {
    let pw = reg.password.expose_secret();
    if pw.trim() != pw {
        return Err(Failure::Rejected(
            "the password starts or ends with whitespace, which Dendrite's create-account would silently strip".into(),
        ));
    }
    Ok(())
}

/// Success logs "Created account: USER (AccessToken: …)": the token is never looked at or
/// passed on. Failures are logrus fatals on stderr, exit 1.
fn interpret(tool: &str, out: &Output, admin: bool) -> Result<Outcome, Failure> {
    if out.success() {
        return Ok(Outcome::Created { admin });
    }
    let all = format!("{}\n{}", out.stdout, out.stderr);
    if all.contains("M_USER_IN_USE") || all.contains("Desired user ID is already taken") {
        return Ok(Outcome::Exists);
    }
    let hint = if all.contains("Shared secret registration is not enabled") {
        "set client_api.registration_shared_secret in the Dendrite config"
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

    fn run(password: &str, answer: Output) -> (Result<Outcome, Failure>, Vec<Command>) {
        let exec = Recorder::new(vec![answer]);
        let user = UserId::new("john", "example.com").unwrap();
        let password = SecretString::from(password);
        let cli = DendriteCli::from_tool(
            exec.clone(),
            &ToolConfig::new(
                Some("/etc/dendrite/dendrite.yaml"),
                Some("http://localhost:8448"),
                None,
            ),
        );
        let out = block_on(cli.register(&Registration::new(&user, &password, true)));
        (out, exec.commands())
    }

    #[test]
    fn password_goes_on_stdin() {
        let (out, cmds) = run(
            "long enough",
            Recorder::failed(
                0,
                "level=info msg=\"Created account: john (AccessToken: syt_x)\"",
            ),
        );
        assert_eq!(out, Ok(Outcome::Created { admin: true }));
        assert_eq!(
            cmds[0].to_string(),
            "create-account -config=/etc/dendrite/dendrite.yaml -username=john -passwordstdin -admin -url=http://localhost:8448 <(secret on stdin)"
        );
    }

    #[test]
    fn user_in_use_is_exists() {
        let stderr = r#"level=fatal msg="Failed to create the account: got HTTP 400 error from server: {\"errcode\":\"M_USER_IN_USE\",\"error\":\"Desired user ID is already taken.\"}""#;
        let (out, _) = run("long enough", Recorder::failed(1, stderr));
        assert_eq!(out, Ok(Outcome::Exists));
    }

    #[test]
    fn padded_passwords_are_refused_before_running() {
        let (out, cmds) = run(" padded ", Recorder::ok(""));
        assert!(matches!(out, Err(Failure::Rejected(m)) if m.contains("whitespace")));
        assert!(cmds.is_empty());
    }

    #[test]
    fn missing_secret_gets_a_hint() {
        let (out, _) = run(
            "long enough",
            Recorder::failed(
                1,
                "level=fatal msg=\"Shared secret registration is not enabled, enable it by setting a shared secret in the config: 'client_api.registration_shared_secret'\"",
            ),
        );
        assert!(
            matches!(out, Err(Failure::Rejected(m)) if m.contains("set client_api.registration_shared_secret"))
        );
    }
}
