//! The exec port: a program for a transport to run on a host, with its arguments and standard
//! input. Commands are data: a backend builds one, a transport runs it, and its `Display` (what
//! logs and `--check` print) masks every secret.

use std::fmt;
use std::future::Future;

use secrecy::{ExposeSecret, SecretString};

use std::sync::Arc;

use super::{BoxFuture, Failure};

/// One argument. `Secret` exists only for tools that take a password nowhere but argv
/// (mas-cli, the playbook's wrappers); backends use stdin wherever the tool allows.
#[derive(Clone)]
pub enum Arg {
    Plain(String),
    Secret(SecretString),
    /// `--password=SECRET` as one argument: the form a parser cannot mistake for an option,
    /// whatever the secret starts with. `option` (`--password`) is what `Display` shows.
    SecretOption {
        option: String,
        joined: SecretString,
    },
}

#[derive(Clone)]
pub struct Command {
    pub program: String,
    pub args: Vec<Arg>,
    /// Bytes for the program's standard input (a password, usually); empty stdin otherwise.
    pub stdin: Option<SecretString>,
}

impl Command {
    pub fn new(program: impl Into<String>) -> Self {
        Command {
            program: program.into(),
            args: Vec::new(),
            stdin: None,
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(Arg::Plain(arg.into()));
        self
    }

    pub fn secret_arg(mut self, secret: SecretString) -> Self {
        self.args.push(Arg::Secret(secret));
        self
    }

    /// `OPTION=SECRET` in one argument (clap's and argparse's `--long=value`).
    pub fn secret_option(mut self, option: &str, secret: &SecretString) -> Self {
        let joined = SecretString::from(format!("{option}={}", secret.expose_secret()));
        self.args.push(Arg::SecretOption {
            option: option.to_owned(),
            joined,
        });
        self
    }

    /// `OPTION=VALUE` in one argument: a value that starts with `-` stays a value.
    pub fn option(self, option: &str, value: &str) -> Self {
        self.arg(format!("{option}={value}"))
    }

    pub fn stdin(mut self, input: SecretString) -> Self {
        self.stdin = Some(input);
        self
    }

    /// The arguments as the program must receive them, secrets included: for transports only.
    pub fn expose_args(&self) -> impl Iterator<Item = &str> {
        self.args.iter().map(|a| match a {
            Arg::Plain(a) => a.as_str(),
            Arg::Secret(s) => s.expose_secret(),
            Arg::SecretOption { joined, .. } => joined.expose_secret(),
        })
    }

    /// Whether a secret would be visible in the process list of the host.
    pub fn has_secret_arg(&self) -> bool {
        self.args
            .iter()
            .any(|a| matches!(a, Arg::Secret(_) | Arg::SecretOption { .. }))
    }
}

/// Shell-like, with secrets masked: `mas-cli manage register-user john -p '********'`.
impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&quote(&self.program))?;
        for arg in &self.args {
            match arg {
                Arg::Plain(a) => write!(f, " {}", quote(a))?,
                Arg::Secret(_) => f.write_str(" '********'")?,
                Arg::SecretOption { option, .. } => write!(f, " {}='********'", quote(option))?,
            }
        }
        if self.stdin.is_some() {
            f.write_str(" <(secret on stdin)")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Quotes for display only: the transports pass arguments without a local shell, and the SSH
/// transport escapes each one itself.
fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@+%,".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// How a program ended.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// The exit code; `None` when the program was killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The last non-empty lines of stdout and stderr, for an error message.
    pub fn tail(&self) -> String {
        let lines: Vec<&str> = self
            .stdout
            .lines()
            .chain(self.stderr.lines())
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let start = lines.len().saturating_sub(3);
        lines[start..].join(" / ")
    }

    pub fn describe_exit(&self) -> String {
        match self.code {
            Some(c) => format!("exit code {c}"),
            None => "killed by a signal".into(),
        }
    }

    /// A tool that ran and did not succeed: its exit and last lines, with `hint` when the
    /// backend knows the cause; exit 126/127 (a shell's "cannot run", "not found") says to
    /// set `command`.
    pub fn failure(&self, tool: &str, hint: &str) -> Failure {
        let hint = match (hint, self.code) {
            ("", Some(126 | 127)) => "; set `command` to its path on the host".to_owned(),
            ("", _) => String::new(),
            (h, _) => format!(" ({h})"),
        };
        Failure::Rejected(format!(
            "{tool} failed ({}): {}{hint}",
            self.describe_exit(),
            self.tail()
        ))
    }
}

/// Something that runs a program on one host. `Err` means it could not be run at all (no
/// connection, no such container): the command may be retried. A program that ran and
/// failed is an `Ok` with its exit code, for the backend to interpret.
pub trait Exec {
    fn run(&self, command: Command) -> impl Future<Output = Result<Output, Failure>> + Send;
    /// Where commands run, for messages and `--check` ("ssh root@matrix1", "docker matrix-synapse").
    fn describe(&self) -> String;
}

/// [`Exec`] as a trait object: every `Exec` is one.
pub trait DynExec: Send + Sync {
    fn run_boxed(&self, command: Command) -> BoxFuture<'_, Result<Output, Failure>>;
    fn describe_dyn(&self) -> String;
}

impl<T: Exec + Send + Sync> DynExec for T {
    fn run_boxed(&self, command: Command) -> BoxFuture<'_, Result<Output, Failure>> {
        Box::pin(self.run(command))
    }

    fn describe_dyn(&self) -> String {
        self.describe()
    }
}

/// A backend's handle on where its commands run.
pub type ExecPort = Arc<dyn DynExec>;

impl Exec for ExecPort {
    fn run(&self, command: Command) -> impl Future<Output = Result<Output, Failure>> + Send {
        // `**self`: the trait object's own method, not this impl's again.
        (**self).run_boxed(command)
    }

    fn describe(&self) -> String {
        (**self).describe_dyn()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_masks_secrets_and_quotes() {
        let c = Command::new("mas-cli")
            .arg("manage")
            .arg("display name")
            .secret_arg(SecretString::from("hunter2"))
            .secret_option("--password", &SecretString::from("--help"))
            .stdin(SecretString::from("pw"));
        let shown = c.to_string();
        assert_eq!(
            shown,
            "mas-cli manage 'display name' '********' --password='********' <(secret on stdin)"
        );
        assert_eq!(c.expose_args().last(), Some("--password=--help"));
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(c.has_secret_arg());
    }
}
