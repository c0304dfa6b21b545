//! Words split as Python's `shlex.split` splits them in POSIX mode, which is how Ansible reads
//! an INI inventory's host lines (`shlex_split(line, comments=True)` in
//! lib/ansible/plugins/inventory/ini.py) and the ssh arguments in `ansible_ssh_common_args`
//! (the ssh connection plugin's `_split_ssh_args`).

/// Why a line could not be split, in Python's words.
#[derive(Debug, PartialEq, Eq)]
pub enum SplitError {
    /// A quote that nothing closes (`No closing quotation`).
    NoClosingQuotation,
    /// A backslash at the end (`No escaped character`).
    NoEscapedCharacter,
}

impl std::fmt::Display for SplitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SplitError::NoClosingQuotation => "a quote is not closed",
            SplitError::NoEscapedCharacter => "it ends with a backslash that escapes nothing",
        })
    }
}

/// The words of `line`: split on whitespace; `'…'` keeps everything literally; `"…"` keeps
/// everything but `\"` and `\\`; outside quotes a backslash keeps the next character; with
/// `comments`, a `#` outside quotes ends the line, even inside a word (`a#b` is `a`).
pub fn split(line: &str, comments: bool) -> Result<Vec<String>, SplitError> {
    enum State {
        Between,
        Word,
        Quoted(char),
        Escaped { back_to: Option<char> },
    }
    let mut words = Vec::new();
    let mut word = String::new();
    // A word that was quoted is a word even when empty (`''`).
    let mut quoted = false;
    let mut state = State::Between;
    for c in line.chars() {
        state = match state {
            State::Between | State::Word if c.is_whitespace() => {
                if matches!(state, State::Word) {
                    words.push(std::mem::take(&mut word));
                    quoted = false;
                }
                State::Between
            }
            State::Between | State::Word if comments && c == '#' => {
                if matches!(state, State::Word) {
                    words.push(std::mem::take(&mut word));
                }
                return Ok(words);
            }
            State::Between | State::Word => match c {
                '\'' | '"' => {
                    quoted = true;
                    State::Quoted(c)
                }
                '\\' => State::Escaped { back_to: None },
                c => {
                    word.push(c);
                    State::Word
                }
            },
            State::Quoted(q) if c == q => State::Word,
            State::Quoted('"') if c == '\\' => State::Escaped { back_to: Some('"') },
            State::Quoted(q) => {
                word.push(c);
                State::Quoted(q)
            }
            State::Escaped { back_to } => {
                // Inside double quotes only `"` and `\` are escaped; other backslashes stay.
                if back_to.is_some() && c != '"' && c != '\\' {
                    word.push('\\');
                }
                word.push(c);
                back_to.map_or(State::Word, State::Quoted)
            }
        };
    }
    match state {
        State::Quoted(_) => Err(SplitError::NoClosingQuotation),
        State::Escaped { .. } => Err(SplitError::NoEscapedCharacter),
        State::Word => {
            words.push(word);
            Ok(words)
        }
        State::Between => {
            if quoted {
                words.push(word);
            }
            Ok(words)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_as_pythons_shlex_does() {
        let s = |l: &str| split(l, true).unwrap();
        assert_eq!(s("a b=c  d"), ["a", "b=c", "d"]);
        assert_eq!(
            s("h k='x y' j=\"a \\\"b\\\" \\n\""),
            ["h", "k=x y", "j=a \"b\" \\n"]
        );
        assert_eq!(s("h pw=\"'03#pa33'\""), ["h", "pw='03#pa33'"]);
        assert_eq!(s("h a=b # a comment"), ["h", "a=b"]);
        assert_eq!(s("h a=b#c d=e"), ["h", "a=b"]);
        assert_eq!(s("h e=''"), ["h", "e="]);
        assert_eq!(s("''"), [""]);
        assert_eq!(s("a\\ b"), ["a b"]);
        assert_eq!(
            split("-o 'A=b c' #x", false).unwrap(),
            ["-o", "A=b c", "#x"]
        );
        assert_eq!(
            split("h k=\"open", true),
            Err(SplitError::NoClosingQuotation)
        );
        assert_eq!(split("h k=x\\", true), Err(SplitError::NoEscapedCharacter));
    }
}
