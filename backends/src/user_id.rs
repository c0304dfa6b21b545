//! Matrix user IDs (`@localpart:server_name`), checked against the grammar of the Matrix
//! specification before anything is sent, so a bad name fails here with a clear reason rather
//! than as an HTTP 400 from each server, or worse, as a quoting problem in a shell or SQL.

use std::fmt;

/// The longest user ID the specification allows, `@`, `:` and server name included.
pub const MAX_USER_ID_BYTES: usize = 255;

/// A validated, fully qualified Matrix user ID.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId {
    localpart: String,
    server_name: String,
}

/// What a user typed on the command line: a bare localpart (`john`), to be placed on each
/// host's server, or a full user ID (`@john:example.com`) that names its server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserArg {
    Localpart(String),
    Full(UserId),
}

impl UserArg {
    pub fn parse(input: &str) -> Result<Self, String> {
        if let Some(rest) = input.strip_prefix('@') {
            let Some((localpart, server_name)) = rest.split_once(':') else {
                return Err(format!(
                    "invalid user ID {input:?}: a full user ID looks like @name:example.com"
                ));
            };
            UserId::new(localpart, server_name).map(UserArg::Full)
        } else if input.contains(':') {
            Err(format!(
                "invalid user ID {input:?}: a full user ID starts with @ (@name:example.com)"
            ))
        } else {
            check_localpart(input)?;
            Ok(UserArg::Localpart(input.to_owned()))
        }
    }

    pub fn localpart(&self) -> &str {
        match self {
            UserArg::Localpart(l) => l,
            UserArg::Full(id) => id.localpart(),
        }
    }

    /// The user ID on a server, or an error when a full ID names another server.
    pub fn on_server(&self, server_name: &str) -> Result<UserId, String> {
        match self {
            UserArg::Localpart(l) => UserId::new(l, server_name),
            UserArg::Full(id) if id.server_name == server_name => Ok(id.clone()),
            UserArg::Full(id) => Err(format!(
                "{id} belongs to server {}, not {server_name}",
                id.server_name
            )),
        }
    }
}

impl UserId {
    pub fn new(localpart: &str, server_name: &str) -> Result<Self, String> {
        check_localpart(localpart)?;
        check_server_name(server_name)?;
        let id = UserId {
            localpart: localpart.to_owned(),
            server_name: server_name.to_owned(),
        };
        let len = id.to_string().len();
        if len > MAX_USER_ID_BYTES {
            return Err(format!(
                "invalid user ID: {len} bytes long, the limit is {MAX_USER_ID_BYTES}"
            ));
        }
        Ok(id)
    }

    pub fn localpart(&self) -> &str {
        &self.localpart
    }

    pub fn server_name(&self) -> &str {
        &self.server_name
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{}:{}", self.localpart, self.server_name)
    }
}

/// Localparts of new users may hold only `a-z 0-9 . _ = - / +` (spec: "User Identifiers"), and
/// Synapse and MAS refuse a leading `_`, which is kept for application services.
fn check_localpart(localpart: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("invalid user name {localpart:?}: {why}"));
    if localpart.is_empty() {
        return bad("it is empty");
    }
    if localpart.len() > MAX_USER_ID_BYTES {
        return bad(&format!(
            "{} bytes long, the limit for a user ID is {MAX_USER_ID_BYTES}",
            localpart.len()
        ));
    }
    if localpart.starts_with('_') {
        return bad("it may not start with _ (reserved for application services)");
    }
    if let Some(c) = localpart.chars().find(|c| !is_localpart_char(*c)) {
        if c.is_ascii_uppercase() {
            let lower = localpart.to_ascii_lowercase();
            if lower.chars().all(is_localpart_char) {
                return bad(&format!(
                    "Matrix user names are lower case (did you mean {lower:?}?)"
                ));
            }
        }
        return bad(&format!(
            "{c:?} is not allowed; use only a-z, 0-9 and . _ = - / +"
        ));
    }
    Ok(())
}

fn is_localpart_char(c: char) -> bool {
    matches!(c, 'a'..='z' | '0'..='9' | '.' | '_' | '=' | '-' | '/' | '+')
}

/// A server name is a DNS name, an IPv4 address or a bracketed IPv6 literal, with an
/// optional port (spec: "Server Name").
pub fn check_server_name(server_name: &str) -> Result<(), String> {
    split_server_name(server_name).map(|_| ())
}

/// A server name, checked as [`check_server_name`] does, as (host, port): an IPv6 literal
/// without its brackets, the port as written (1 to 5 digits).
pub fn split_server_name(server_name: &str) -> Result<(&str, Option<&str>), String> {
    let bad = |why: &str| Err(format!("invalid server name {server_name:?}: {why}"));
    let (host, port) = if let Some(rest) = server_name.strip_prefix('[') {
        let Some((ip6, after)) = rest.split_once(']') else {
            return bad("an IPv6 literal needs a closing ]");
        };
        // An IPv6 address (spec: "Server Name", `IPv6address` of RFC 3513), as the standard
        // library reads one: `[1.2.3.4]` or `[a]` are not.
        if ip6.parse::<std::net::Ipv6Addr>().is_err() {
            return bad("not an IPv6 literal");
        }
        match after {
            "" => (ip6, None),
            p if p.starts_with(':') => (ip6, Some(&p[1..])),
            _ => return bad("unexpected text after ]"),
        }
    } else {
        match server_name.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (server_name, None),
        }
    };
    if let Some(port) = port
        && (port.is_empty() || port.len() > 5 || !port.chars().all(|c| c.is_ascii_digit()))
    {
        return bad("the port must be 1 to 5 digits");
    }
    if host.is_empty() {
        return bad("it is empty");
    }
    if host.len() > MAX_USER_ID_BYTES {
        return bad("it is too long");
    }
    if !server_name.starts_with('[')
        && !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        return bad("use only letters, digits, - and . (and :port)");
    }
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_localparts_and_full_ids() {
        assert_eq!(
            UserArg::parse("john").unwrap(),
            UserArg::Localpart("john".into())
        );
        let full = UserArg::parse("@j.o_h=n-1/2+x:example.com:8448").unwrap();
        assert_eq!(full.localpart(), "j.o_h=n-1/2+x");
        assert_eq!(
            full.on_server("example.com:8448").unwrap().to_string(),
            "@j.o_h=n-1/2+x:example.com:8448"
        );
        assert!(UserArg::parse("@a:[::1]:8448").is_ok());
        assert!(UserArg::parse("@a:127.0.0.1").is_ok());
    }

    #[test]
    fn rejects_what_the_grammar_forbids() {
        for bad in [
            "",
            "John",
            "jo hn",
            "jo'hn",
            "a;b",
            "a\0b",
            "jöhn",
            "_bridge",
            "@john",
            "john:x",
            "@john:",
            "@:x",
            "@a:exa mple.com",
            "@a:x:port",
            "@a:[::1",
            "@a:x:123456",
        ] {
            assert!(UserArg::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn uppercase_gets_a_suggestion() {
        let err = UserArg::parse("John").unwrap_err();
        assert!(err.contains("did you mean \"john\""), "{err}");
    }

    #[test]
    fn nul_is_escaped_in_the_message() {
        let err = UserArg::parse("a\0b").unwrap_err();
        assert!(!err.contains('\0') && err.contains("\\0"), "{err}");
    }

    #[test]
    fn limits_length_to_255_bytes() {
        let long = "a".repeat(250);
        assert!(UserId::new(&long, "example.com").is_err());
        assert!(UserId::new(&"a".repeat(241), "example.com").is_ok()); // 1+241+1+11 = 254
    }

    #[test]
    fn full_id_must_match_the_server() {
        let id = UserArg::parse("@john:a.org").unwrap();
        assert!(
            id.on_server("b.org")
                .unwrap_err()
                .contains("belongs to server a.org")
        );
    }
}

#[cfg(test)]
mod fuzz_regressions {
    use super::*;

    /// Every input kept in fuzz/regressions/user_id is refused or accepted without a panic,
    /// and what is accepted stays within the grammar.
    #[test]
    fn fuzz_regressions_hold() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/user_id");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            if let Ok(user) = UserArg::parse(&text) {
                assert!(user.localpart().chars().all(is_localpart_char), "{text:?}");
            }
            seen += 1;
        }
        assert!(seen >= 4, "the regression corpus is there");
    }
}

/// Our grammar against ruma's (ruma-identifiers-validation, the identifier checks of the Rust
/// Matrix SDKs), kept as a dev-dependency for this comparison only. provision keeps its own:
/// it is the stricter of the two for what provision does (create and name users), and gives
/// reasons a person can act on. Every ID it accepts, ruma's strict check accepts too; the
/// reverse fails only where provision refuses on purpose.
#[cfg(test)]
mod against_ruma {
    use super::UserArg;
    use ruma_identifiers_validation::user_id::validate_strict;

    fn ours(id: &str) -> bool {
        matches!(UserArg::parse(id), Ok(UserArg::Full(_)))
    }

    /// Inputs around every rule of both grammars.
    const CORPUS: &[&str] = &[
        "@a:example.com",
        "@j.o_h=n-1/2+x:example.com:8448",
        "@a:[::1]",
        "@a:[::1]:80",
        "@a:127.0.0.1",
        "@a:1.2.3.4:65535",
        "@a:example.com:",
        "@a:example.com:123456",
        "@a:example.com:x",
        "@a:ex_ample.com",
        "@a:[1.2.3.4]",
        "@a:[::1",
        "@a:[]",
        "@a:",
        "@:example.com",
        "@A:example.com",
        "@_bridge:example.com",
        "@a b:example.com",
        "@ü:example.com",
        "@a:exämple.com",
        "@a\u{0}:example.com",
        "a:example.com",
        "@a",
        "@a:b:c:d",
        "@a:localhost",
        "@a:-example.com",
        "@a:example..com",
    ];

    /// ruma accepts, provision refuses, on purpose: a leading `_` is reserved for application
    /// services (Synapse and MAS refuse it for new users).
    const STRICTER: &[&str] = &["@_bridge:example.com"];

    #[test]
    fn what_provision_accepts_ruma_accepts() {
        for id in CORPUS {
            if ours(id) {
                assert!(
                    validate_strict(id).is_ok(),
                    "{id:?}: provision accepts it, ruma does not"
                );
            } else if validate_strict(id).is_ok() {
                assert!(
                    STRICTER.contains(id),
                    "{id:?}: ruma accepts it, provision does not"
                );
            }
        }
    }

    /// The same over a million generated IDs from an alphabet of the characters that matter.
    #[test]
    fn what_provision_accepts_ruma_accepts_generated() {
        const ALPHABET: &[u8] = b"@:a_Z9.-[]/+= ";
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut accepted = 0;
        for _ in 0..1_000_000 {
            let len = 3 + (next() % 12) as usize;
            let mut id = String::from("@");
            for _ in 0..len {
                id.push(ALPHABET[(next() % ALPHABET.len() as u64) as usize] as char);
            }
            if ours(&id) {
                accepted += 1;
                assert!(
                    validate_strict(&id).is_ok(),
                    "{id:?}: provision accepts it, ruma does not"
                );
            }
        }
        // The generator reaches valid IDs, so the implication above was exercised.
        assert!(accepted > 1_000, "only {accepted} generated IDs were valid");
    }
}
