//! Errors that stop provision before (or instead of) a run, and the exit codes of the tool.
//! Per-host failures are not errors here: they end up in the recap.

use std::fmt;
use std::path::Path;

/// Exit codes, documented in `--help` (cli.rs).
pub const EXIT_HOST_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
/// `provision plan`: every host answered, and some have changes pending (or cannot tell).
pub const EXIT_CHANGES_PENDING: u8 = 3;
/// No host failed, but at least one could not be reached.
pub const EXIT_UNREACHABLE: u8 = 4;
/// Ctrl-C: what was in flight finished and is in the recap; the rest never started.
pub const EXIT_INTERRUPTED: u8 = 130;

#[derive(Debug)]
pub enum Error {
    /// Bad arguments, an unusable password source, an invalid user ID.
    Usage(String),
    /// A problem in the inventory, with the place it was found.
    Inventory(Located),
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::Inventory(_) => EXIT_USAGE,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg) => write!(f, "error: {msg}"),
            Error::Inventory(located) => located.fmt(f),
        }
    }
}

/// An error at a place in a file, shown the way rustc and just show them:
///
/// ```text
/// error: unknown key `urll` (did you mean `url`?); known: server_name, backend, url, …
///   --> inventory.yaml:7:9
///    |
///  7 |         urll: http://localhost:8008
///    |         ^
/// ```
#[derive(Debug)]
pub struct Located {
    pub message: String,
    pub file: String,
    pub line: u64,
    pub column: u64,
    pub source_line: Option<String>,
}

impl Located {
    /// `line` and `column` count from 1; 0 means unknown.
    pub fn new(
        message: impl Into<String>,
        file: &Path,
        source: &str,
        line: u64,
        column: u64,
    ) -> Self {
        let source_line = (line > 0)
            .then(|| source.lines().nth(line as usize - 1))
            .flatten()
            // Inventories may hold long inline values; the caret only needs the start.
            .map(|l| l.chars().take(160).collect());
        Located {
            message: message.into(),
            file: file.display().to_string(),
            line,
            column,
            source_line,
        }
    }
}

impl Located {
    /// A YAML reader's error in `text` (the file at `path`, a `what` such as "inventory"), shown
    /// at its place with a caret rather than the reader's own "at line L column C".
    pub fn from_yaml(err: &serde_saphyr::Error, what: &str, path: &Path, text: &str) -> Self {
        let loc = err.location().unwrap_or(serde_saphyr::Location::UNKNOWN);
        let msg = err.without_snippet().to_string();
        let mut msg = msg
            .split(" at line ")
            .next()
            .unwrap_or(&msg)
            .trim()
            .to_owned();
        if msg.contains("budget breached") {
            // The YAML reader's limits (nodes, depth, aliases) keep its memory bounded.
            msg = format!(
                "the {what} is too large or too deeply nested for provision to read ({msg}); split it"
            );
        }
        Located::new(msg, path, text, loc.line(), loc.column())
    }
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        if self.line == 0 {
            return write!(f, "  --> {}", self.file);
        }
        write!(f, "  --> {}:{}:{}", self.file, self.line, self.column)?;
        if let Some(src) = &self.source_line {
            let width = self.line.to_string().len();
            let pad = " ".repeat(width);
            let caret = " ".repeat(self.column.saturating_sub(1) as usize);
            write!(f, "\n{pad} |\n{} | {src}\n{pad} | {caret}^", self.line)?;
        }
        Ok(())
    }
}

/// "unknown {what} `{word}` (did you mean `{near}`?); known: a, b, c", the suggestion only
/// when a known name is close: the one wording for a name outside a closed set (an inventory
/// key, a backend, a transport, an admin backend, a key of `mas`).
pub fn unknown(what: &str, word: &str, known: &[&str]) -> String {
    let hint = suggest(word, known)
        .map(|k| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default();
    format!("unknown {what} `{word}`{hint}; known: {}", known.join(", "))
}

/// "a, b or c".
pub fn or_list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// The known name closest to `word`, if it is close enough to be a typo of it.
pub fn suggest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::normalized_damerau_levenshtein(word, k), *k))
        .filter(|(score, _)| *score >= 0.6)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    #[test]
    fn unknown_names_get_the_closest_known_one_and_the_list() {
        let known = ["ssh", "local", "docker"];
        assert_eq!(
            super::unknown("transport", "sssh", &known),
            "unknown transport `sssh` (did you mean `ssh`?); known: ssh, local, docker"
        );
        assert_eq!(
            super::unknown("transport", "carrier-pigeon", &known),
            "unknown transport `carrier-pigeon`; known: ssh, local, docker"
        );
    }
}
