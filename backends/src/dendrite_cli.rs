//! Dendrite's `create-account` (cmd/create-account/main.go in element-hq/dendrite). It reads
//! the shared secret from `-config` on the host and registers through the shared-secret API at
//! `-url`; the password goes on stdin (`-passwordstdin`).

use crate::registration::Fields;
use secrecy::ExposeSecret;

use crate::exec::{Command, Exec, Output};
use crate::{Failure, Outcome, Registration};

pub const DEFAULT_COMMAND: &str = "create-account";

pub struct DendriteCli {
    command: String,
    config: String,
    url: Option<String>,
}

impl DendriteCli {
    /// `create-account` has no option for a display name or an email
    /// (cmd/create-account/main.go).
    pub const FIELDS: Fields = Fields {
        display_name: false,
        emails: false,
        ignore_password_complexity: false,
    };

    /// `url`: where the tool reaches Dendrite from the target (the tool's default is
    /// http://localhost:8008).
    pub fn new(command: Option<String>, config: String, url: Option<String>) -> Self {
        DendriteCli {
            command: command.unwrap_or_else(|| DEFAULT_COMMAND.to_owned()),
            config,
            url,
        }
    }

    pub async fn register(
        &self,
        exec: &impl Exec,
        reg: &Registration<'_>,
    ) -> Result<Outcome, Failure> {
        check_password(reg)?;
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
            warning: None,
        })
    }

    /// `provision ping`: Go's flag package answers `-help` with the usage and exit 0.
    pub async fn ping(&self, exec: &impl Exec) -> Result<String, Failure> {
        let out = exec.run(Command::new(&self.command).arg("-help")).await?;
        if !out.success() {
            return Err(out.failure(&self.command, ""));
        }
        Ok(format!("{} answers on {}", self.command, exec.describe()))
    }

    /// `-name=VALUE`, one argument per flag: Go's flag package (src/flag/flag.go,
    /// `parseOne`) already takes the word after a non-boolean flag as its value, whatever it
    /// starts with, but the joined form leaves nothing to the parser's goodwill, and a wrapper
    /// in between (a shell script, `docker exec`) cannot split it either.
    fn command(&self, reg: &Registration<'_>) -> Command {
        let mut cmd = Command::new(&self.command)
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
        let cli = DendriteCli::new(
            None,
            "/etc/dendrite/dendrite.yaml".into(),
            Some("http://localhost:8448".into()),
        );
        let out = block_on(cli.register(&exec, &Registration::new(&user, &password, true)));
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
