//! One user to register, as every backend receives it.

use secrecy::SecretString;

use crate::UserId;

pub struct Registration<'a> {
    pub user: &'a UserId,
    pub password: &'a SecretString,
    pub admin: bool,
    /// Only for backends whose `FIELDS` say they pass it on (checked before a run).
    pub display_name: Option<&'a str>,
    /// Likewise.
    pub emails: &'a [String],
    /// Likewise: skip MAS's password complexity check.
    pub ignore_password_complexity: bool,
    /// Likewise: Synapse's user type (`bot`, `support`; synapse/api/constants.py `UserTypes`),
    /// `None` for a regular user.
    pub user_type: Option<&'a str>,
    /// Likewise: link the user to its account at an upstream SSO provider.
    pub sso: Option<&'a SsoLink>,
}

/// A user's account at an upstream OAuth 2.0 / OIDC provider of MAS: the provider's MAS id
/// and the `sub` claim the provider gives the user (upstream_oauth_links/add.rs in
/// element-hq/matrix-authentication-service). Both are checked before they reach a URL or
/// a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoLink {
    /// A ULID, upper case as MAS writes its ids.
    pub provider: String,
    pub subject: String,
}

impl SsoLink {
    pub fn new(provider: &str, subject: &str) -> Result<SsoLink, String> {
        // A ULID: 26 characters of Crockford's base32, the first at most 7 (128 bits).
        let crockford = |c: char| c.is_ascii_alphanumeric() && !"ILOUilou".contains(c);
        let ulid = provider.len() == 26
            && provider.chars().all(crockford)
            && provider.starts_with(|c: char| ('0'..='7').contains(&c));
        if !ulid {
            return Err(format!(
                "SSO provider {provider:?} is not a MAS provider id (a ULID, as `mas-cli config sync` and the admin API's upstream-oauth-providers list give it)"
            ));
        }
        if subject.is_empty() || subject.len() > 255 {
            return Err("the SSO subject must be 1 to 255 bytes".into());
        }
        if subject.chars().any(char::is_control) {
            return Err("the SSO subject holds a control character".into());
        }
        Ok(SsoLink {
            provider: provider.to_ascii_uppercase(),
            subject: subject.to_owned(),
        })
    }
}

/// The optional fields of a `Registration` a backend passes on to the server. A field asked for
/// on a host whose backend would drop it is refused before anything runs, never dropped.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fields {
    pub display_name: bool,
    pub emails: bool,
    pub ignore_password_complexity: bool,
    /// Synapse's user types: only a Synapse host can take one, whatever its backend.
    pub user_type: bool,
    /// An upstream SSO link (`SsoLink`).
    pub sso: bool,
}

impl Fields {
    pub const NONE: Fields = Fields {
        display_name: false,
        emails: false,
        ignore_password_complexity: false,
        user_type: false,
        sso: false,
    };

    /// The names of the fields `wanted` asks for that this backend cannot pass on, as the
    /// command-line options that set them.
    pub fn missing(&self, wanted: &Fields) -> Vec<&'static str> {
        let mut out = Vec::new();
        if wanted.display_name && !self.display_name {
            out.push("--display-name");
        }
        if wanted.emails && !self.emails {
            out.push("--email");
        }
        if wanted.ignore_password_complexity && !self.ignore_password_complexity {
            out.push("--ignore-password-complexity");
        }
        if wanted.user_type && !self.user_type {
            out.push("--user-type");
        }
        if wanted.sso && !self.sso {
            out.push("--sso-provider/--sso-subject (sso_provider/sso_subject)");
        }
        out
    }
}

impl<'a> Registration<'a> {
    pub fn new(user: &'a UserId, password: &'a SecretString, admin: bool) -> Self {
        Registration {
            user,
            password,
            admin,
            display_name: None,
            emails: &[],
            ignore_password_complexity: false,
            user_type: None,
            sso: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SsoLink;

    #[test]
    fn an_sso_link_is_a_ulid_and_a_plain_subject() {
        let link = SsoLink::new("01jcprqvdxrs0000000000000a", "alice").unwrap();
        assert_eq!(link.provider, "01JCPRQVDXRS0000000000000A");
        for bad in [
            "",
            "01JCPRQVDXRS",
            "81JCPRQVDXRS0000000000000A",
            "01JCPRQVDXRS000000000000/A",
            "01JCPRIVDXRS0000000000000A",
        ] {
            assert!(SsoLink::new(bad, "alice").is_err(), "{bad}");
        }
        for bad in ["", "a\nb", "a\u{7f}"] {
            assert!(
                SsoLink::new("01JCPRQVDXRS0000000000000A", bad).is_err(),
                "{bad:?}"
            );
        }
    }
}
