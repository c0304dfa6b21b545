//! Every line provision prints goes through here. A reader that goes away (`provision ping |
//! head -1`, `| true`) is not a crash: the first failed write marks output as closed, the run
//! stops starting new work (as on Ctrl-C), what is in flight finishes, and the process exits
//! with 141, the status a shell shows for a command ended by a broken pipe.

use std::fmt::Display;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static CLOSED: AtomicBool = AtomicBool::new(false);

/// 128 + SIGPIPE (13).
pub const EXIT_BROKEN_PIPE: u8 = 141;

/// Whether stdout's reader went away.
pub fn closed() -> bool {
    CLOSED.load(Ordering::SeqCst)
}

/// One line on stdout.
pub fn line(text: impl Display) {
    bytes(format!("{text}\n").as_bytes());
}

/// Raw bytes on stdout (a completion script, a man page).
pub fn bytes(data: &[u8]) {
    if closed() {
        return;
    }
    let mut out = std::io::stdout().lock();
    if out.write_all(data).and_then(|()| out.flush()).is_err() {
        close();
    }
}

fn close() {
    if !CLOSED.swap(true, Ordering::SeqCst) {
        crate::runner::interrupt();
    }
}

/// One message on stderr (it may span lines); a closed stderr is ignored (there is no one
/// left to tell).
pub fn error_line(text: impl Display) {
    let shown: Vec<String> = text.to_string().lines().map(clean).collect();
    let _ = writeln!(std::io::stderr().lock(), "{}", shown.join("\n"));
}

/// Every secret this run resolved or was given (passwords, shared secrets, tokens, database
/// passwords): text from servers and tools is searched for them before it is shown, so a
/// server that echoes the request cannot make provision print a password.
static SECRETS: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

/// Shorter values would match ordinary words; provision never generates such short secrets.
const MIN_REDACTED: usize = 4;

pub fn keep_secret(secret: &str) {
    if secret.len() < MIN_REDACTED {
        return;
    }
    if let Ok(mut secrets) = SECRETS.write()
        && !secrets.iter().any(|s| s == secret)
    {
        secrets.push(secret.to_owned());
    }
}

fn redact(text: &str) -> String {
    let Ok(secrets) = SECRETS.read() else {
        return text.to_owned();
    };
    let mut text = text.to_owned();
    for secret in secrets.iter() {
        if text.contains(secret.as_str()) {
            text = text.replace(secret.as_str(), "[redacted]");
        }
    }
    text
}

/// A control character as its escape (`\u{1b}`), anything else as it is.
fn printable(c: char) -> String {
    if c.is_control() {
        c.escape_default().to_string()
    } else {
        c.to_string()
    }
}

/// Text that came from a server, a tool or a file, made safe to show on one line: control
/// characters (terminal escapes, newlines that would forge result lines) are escaped, and any
/// secret provision knows is replaced by `[redacted]`.
pub fn clean(text: &str) -> String {
    redact(text).chars().map(printable).collect()
}

/// The exit status once the run is over: a closed stdout wins, since nobody read the result.
pub fn exit_code(code: u8) -> u8 {
    if closed() { EXIT_BROKEN_PIPE } else { code }
}

/// `println!` through `output::line`.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}
