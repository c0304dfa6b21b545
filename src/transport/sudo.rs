//! Runs commands through `sudo -u USER` on whatever transport it wraps (Ansible's `become`).
//! The sudo password, when there is one, goes first on stdin (`-S`), never on argv; sudo
//! reads it up to the newline and passes the rest of stdin to the program.

use provision_backends::exec::{Arg, Command, Exec, Output};
use provision_backends::{ExposeSecret, Failure, SecretString};

pub struct Sudo<T> {
    inner: T,
    user: String,
    password: Option<SecretString>,
}

impl<T> Sudo<T> {
    pub fn new(inner: T, user: &str, password: Option<SecretString>) -> Self {
        Sudo {
            inner,
            user: user.to_owned(),
            password,
        }
    }

    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: Exec + Sync> Exec for Sudo<T> {
    async fn run(&self, command: Command) -> Result<Output, Failure> {
        let plain = |s: &str| Arg::Plain(s.to_owned());
        let (mut args, stdin) = match &self.password {
            // -p '' keeps sudo's prompt out of the output; -S reads the password from stdin.
            Some(pw) => {
                let rest = command
                    .stdin
                    .as_ref()
                    .map(|s| s.expose_secret().to_owned())
                    .unwrap_or_default();
                (
                    vec![
                        plain("-S"),
                        plain("-p"),
                        plain(""),
                        plain("-u"),
                        plain(&self.user),
                        plain("--"),
                    ],
                    Some(SecretString::from(format!(
                        "{}\n{rest}",
                        pw.expose_secret()
                    ))),
                )
            }
            // -n: fail instead of waiting for a password nobody will type.
            None => (
                vec![plain("-n"), plain("-u"), plain(&self.user), plain("--")],
                command.stdin,
            ),
        };
        args.push(Arg::Plain(command.program));
        args.extend(command.args);
        let out = self
            .inner
            .run(Command {
                program: "sudo".into(),
                args,
                stdin,
            })
            .await?;
        let err = out.stderr.to_lowercase();
        if out.code == Some(1)
            && (err.contains("a password is required")
                || err.contains("incorrect password")
                || err.contains("sorry, try again"))
        {
            return Err(Failure::Rejected(format!(
                "{}: sudo -u {} refused: {}",
                self.inner.describe(),
                self.user,
                out.tail()
            )));
        }
        Ok(out)
    }

    fn describe(&self) -> String {
        format!("{} (sudo -u {})", self.inner.describe(), self.user)
    }
}
