//! Runs commands through `sudo -u USER` on whatever transport it wraps (Ansible's `become`).
//!
//! The sudo password never shares a stream with the program's input. sudo -S reads its
//! password from the same stdin it then hands to the program, and asks only when it needs
//! to: with NOPASSWD, as root, or with a cached timestamp it does not ask, and a password
//! written ahead would be the program's first line of input (the Matrix password would become
//! "SUDO_PASSWORD\nPASSWORD", the sudo password would go to the homeserver); with a wrong
//! password sudo would read the program's input as its next attempt. So provision talks to
//! sudo: `-p MARKER` makes sudo's prompt a random marker on stderr, and the password is
//! written only once that marker shows; the program is started through
//! `sh -c 'printf %s "$0" >&2; exec "$@"' READY PROGRAM ARGS...`, whose READY marker on
//! stderr says sudo is done, and only then is the program's input written. A second prompt
//! means the password was wrong: stdin is closed, so sudo gets nothing more (its
//! `passwd_tries` cannot be set from the command line; sudoers(5)).

use provision_backends::port::exec::{Arg, Command, Exec, Output};
use provision_backends::port::{ExposeSecret, Failure, SecretString};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Process, Spawn};

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

/// How the conversation with sudo ended.
enum Said {
    /// The program is running: what it wrote to stderr so far.
    Started(Vec<u8>),
    /// sudo asked a second time: the password is wrong.
    AskedAgain,
    /// sudo ended without starting the program (not in sudoers, no such user...).
    Ended,
}

impl<T: Exec + Spawn + Sync> Sudo<T> {
    /// The command through `sudo -n` (no password: never wait for one).
    async fn without_password(&self, command: Command) -> Result<Output, Failure> {
        let plain = |s: &str| Arg::Plain(s.to_owned());
        let mut args = vec![plain("-n"), plain("-u"), plain(&self.user), plain("--")];
        args.push(Arg::Plain(command.program));
        args.extend(command.args);
        let out = self
            .inner
            .run(Command {
                program: "sudo".into(),
                args,
                stdin: command.stdin,
            })
            .await?;
        let err = out.stderr.to_lowercase();
        if out.code == Some(1) && err.contains("a password is required") {
            return Err(self.refused(&out.tail()));
        }
        Ok(out)
    }

    async fn with_password(
        &self,
        password: &SecretString,
        command: Command,
    ) -> Result<Output, Failure> {
        let prompt = marker("prompt");
        let ready = marker("ready");
        let mut args: Vec<String> = [
            "-S",
            "-p",
            &prompt,
            "-u",
            &self.user,
            "--",
            "sh",
            "-c",
            r#"printf %s "$0" >&2; exec "$@""#,
            &ready,
            &command.program,
        ]
        .map(str::to_owned)
        .into();
        args.extend(command.expose_args().map(str::to_owned));
        let Process {
            mut stdin,
            mut stdout,
            mut stderr,
            wait,
        } = self.inner.spawn("sudo", args).await?;
        // stdout is read meanwhile, so a chatty program never blocks on a full pipe.
        let reading = tokio::spawn(async move {
            let mut out = Vec::new();
            let _ = stdout.read_to_end(&mut out).await;
            out
        });
        let talk = async {
            let mut seen: Vec<u8> = Vec::new();
            let mut answered = false;
            let mut buf = [0u8; 4096];
            loop {
                let n = stderr.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    return Said::Ended;
                }
                seen.extend_from_slice(&buf[..n]);
                if let Some(at) = find(&seen, ready.as_bytes()) {
                    return Said::Started(seen.split_off(at + ready.len()));
                }
                match count(&seen, prompt.as_bytes()) {
                    0 => {}
                    1 if !answered => {
                        answered = true;
                        let line = format!("{}\n", password.expose_secret());
                        if stdin.write_all(line.as_bytes()).await.is_err() {
                            return Said::Ended;
                        }
                        let _ = stdin.flush().await;
                    }
                    1 => {}
                    _ => return Said::AskedAgain,
                }
            }
        };
        let said = match talk.await {
            Said::Started(mut err) => {
                let input = command.stdin.as_ref().map(|s| s.expose_secret().as_bytes());
                let ((), _) = tokio::join!(
                    super::local::feed(Some(stdin), input),
                    stderr.read_to_end(&mut err),
                );
                let out = reading.await.unwrap_or_default();
                return Ok(Output {
                    code: wait.await?,
                    stdout: String::from_utf8_lossy(&out).into_owned(),
                    stderr: String::from_utf8_lossy(&err).into_owned(),
                });
            }
            said => said,
        };
        // sudo did not start the program: nothing more goes to it (closing stdin ends a
        // second prompt with "no password was provided"), and what it said is the reason.
        drop(stdin);
        let mut err = Vec::new();
        let _ = stderr.read_to_end(&mut err).await;
        let code = wait.await?;
        let text = String::from_utf8_lossy(&err).replace(&prompt, "");
        let tail = Output {
            code,
            stdout: String::new(),
            stderr: text,
        }
        .tail();
        Err(match said {
            Said::AskedAgain => Failure::Rejected(format!(
                "{}: sudo: wrong become_password for sudo -u {} (sudo asked again; nothing more was sent: {tail})",
                self.inner.describe(),
                self.user
            )),
            _ => self.refused(&tail),
        })
    }

    fn refused(&self, why: &str) -> Failure {
        Failure::Rejected(format!(
            "{}: sudo -u {} refused: {why}",
            self.inner.describe(),
            self.user
        ))
    }
}

impl<T: Exec + Spawn + Sync> Exec for Sudo<T> {
    async fn run(&self, command: Command) -> Result<Output, Failure> {
        match &self.password {
            Some(password) => self.with_password(password, command).await,
            None => self.without_password(command).await,
        }
    }

    fn describe(&self) -> String {
        format!("{} (sudo -u {})", self.inner.describe(), self.user)
    }
}

/// A marker no program prints by chance: random, without the `%` sudo expands in prompts.
fn marker(what: &str) -> String {
    let mut n = [0u8; 8];
    // Without randomness a fixed marker still works; only a program printing it would confuse it.
    let _ = getrandom::fill(&mut n);
    format!("[provision-sudo-{what}-{:016x}]", u64::from_le_bytes(n))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}
