//! The ssh_config options an inventory may give ssh (`ssh: {options: {Keyword: value}}`, or a
//! playbook inventory's `ansible_ssh_common_args` / `ansible_ssh_extra_args`), checked here
//! once for both readers before they reach ssh's command line as `-o Keyword=value`.

/// ssh_config keywords provision applies, as the canonical spelling ssh documents
/// (ssh_config(5)). They are given to ssh as `-o Keyword=value`, as Ansible gives them: for
/// the host, not for its jump hosts.
pub const SSH_OPTIONS: &[&str] = &[
    "AddressFamily",
    "BindAddress",
    "CertificateFile",
    "CheckHostIP",
    "Ciphers",
    "Compression",
    "ConnectTimeout",
    "ConnectionAttempts",
    "GlobalKnownHostsFile",
    "HostKeyAlgorithms",
    "HostKeyAlias",
    "HostName",
    "IdentitiesOnly",
    "IdentityAgent",
    "IdentityFile",
    "KexAlgorithms",
    "LogLevel",
    "MACs",
    "Port",
    "PreferredAuthentications",
    "ProxyCommand",
    "ProxyJump",
    "PubkeyAcceptedAlgorithms",
    "PubkeyAcceptedKeyTypes",
    "ServerAliveCountMax",
    "ServerAliveInterval",
    "TCPKeepAlive",
    "User",
    "VerifyHostKeyDNS",
];

/// Keywords provision refuses, and why: they would take over what provision does itself.
pub const REFUSED_SSH_OPTIONS: &[(&str, &str)] = &[
    (
        "ControlMaster",
        "provision keeps one connection of its own per host for the run",
    ),
    (
        "ControlPath",
        "provision keeps one connection of its own per host for the run",
    ),
    (
        "ControlPersist",
        "provision's connection ends with the run, by design",
    ),
    (
        "ForkAfterAuthentication",
        "provision's connection ends with the run, by design",
    ),
    ("RemoteCommand", "provision runs its own commands"),
    (
        "RequestTTY",
        "provision feeds passwords on stdin, which a terminal would echo",
    ),
    (
        "LocalCommand",
        "provision runs no local command on connecting",
    ),
    (
        "PermitLocalCommand",
        "provision runs no local command on connecting",
    ),
    ("SessionType", "provision runs its own commands"),
];

/// One option checked: `Some((keyword, value))` to give ssh (the keyword as ssh_config(5)
/// spells it), `None` for one provision always applies itself (`BatchMode yes`), or why it is
/// refused. ssh matches keywords case-insensitively; so does this. An option that is silently
/// dropped (a ProxyJump to a bastion) would connect somewhere the operator did not mean to,
/// so anything not known here is refused.
pub fn check(keyword: &str, value: &str) -> Result<Option<(&'static str, String)>, String> {
    check_value(keyword, value)?;
    let same = |k: &str| k.eq_ignore_ascii_case(keyword);
    if same("BatchMode") && matches!(value.to_ascii_lowercase().as_str(), "yes" | "true") {
        // Always on: provision never waits for a prompt.
        return Ok(None);
    }
    if let Some(name) = SSH_OPTIONS.iter().find(|k| same(k)) {
        return Ok(Some((name, value.to_owned())));
    }
    if let Some((name, why)) = REFUSED_SSH_OPTIONS.iter().find(|(k, _)| same(k)) {
        return Err(format!("ssh option `{name}` is refused: {why}"));
    }
    // provision sets these itself, from `known_hosts` and `accept_new_host_key` (a playbook
    // inventory's `-o UserKnownHostsFile=…` and `-o StrictHostKeyChecking=…` are read as those).
    for (name, key) in [
        ("UserKnownHostsFile", "known_hosts"),
        ("StrictHostKeyChecking", "accept_new_host_key"),
    ] {
        if same(name) {
            return Err(format!(
                "ssh option `{name}` is provision's own setting: give `{key}` instead"
            ));
        }
    }
    Err(format!(
        "provision does not apply the ssh option `{keyword}` (it applies {}, UserKnownHostsFile, StrictHostKeyChecking)",
        SSH_OPTIONS.join(", ")
    ))
}

/// An option's value, whatever its keyword: given, and one config line's word to ssh.
pub fn check_value(keyword: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("ssh option `{keyword}` has no value"));
    }
    // A value goes into one `-o Keyword=value` argument, which ssh parses as a config line.
    if value.chars().any(|c| c.is_control() || c == '"') {
        return Err(format!(
            "ssh option `{keyword}` has a value with a control character or a double quote"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn known_options_get_their_canonical_spelling_and_others_are_refused() {
        assert_eq!(
            check("proxyjump", "bastion"),
            Ok(Some(("ProxyJump", "bastion".into())))
        );
        assert_eq!(check("BatchMode", "yes"), Ok(None));
        for (keyword, value, says) in [
            ("BatchMode", "no", "does not apply"),
            ("ControlPath", "x", "is refused"),
            ("ForwardX11", "yes", "does not apply"),
            ("ProxyJump", "", "no value"),
            ("ProxyJump", "a\"b", "double quote"),
            ("UserKnownHostsFile", "/k", "`known_hosts`"),
        ] {
            let why = check(keyword, value).unwrap_err();
            assert!(why.contains(says), "{keyword}={value}: {why}");
        }
    }
}
