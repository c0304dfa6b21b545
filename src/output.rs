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
    write_out(format_args!("{text}\n"));
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

fn write_out(args: std::fmt::Arguments<'_>) {
    if closed() {
        return;
    }
    let mut out = std::io::stdout().lock();
    if out.write_fmt(args).and_then(|()| out.flush()).is_err() {
        close();
    }
}

fn close() {
    if !CLOSED.swap(true, Ordering::SeqCst) {
        crate::runner::interrupt();
    }
}

/// One line on stderr; a closed stderr is ignored (there is no one left to tell).
pub fn error_line(text: impl Display) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
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
