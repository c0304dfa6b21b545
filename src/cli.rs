//! The command line, as clap sees it. Option names here are a contract: scripts rely on them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::engine::ArgValueCompleter;

const EXIT_CODES: &str = "\
Exit status:
  0    every selected host ended ok or changed
  1    at least one host (or one user of a bulk run) failed; the recap names them
  2    nothing was run: bad arguments, inventory, user ID or password source
  3    provision plan: no host failed, and some have changes pending (or cannot tell)
  4    no host failed, but at least one could not be reached; the recap names them
  130  interrupted (Ctrl-C, SIGTERM, SIGHUP): what was in flight finished and is in the recap
  141  the reader of the output went away (a closed pipe): what was in flight finished";

#[derive(Parser)]
#[command(
    name = "provision",
    version,
    about = "Provision Matrix user accounts across a fleet of homeservers",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// `--output csv` is for the one command that prints rows.
    pub fn check_output(&self) -> Result<(), crate::error::Error> {
        match (self.global.output, &self.command) {
            (Output::Csv, Command::Users(_))
            | (Output::Human | Output::Json | Output::Ansible, _) => Ok(()),
            (Output::Csv, _) => Err(crate::error::Error::Usage(
                "--output csv is for `provision users`; use human or json".into(),
            )),
        }
    }
}

/// Options accepted before or after the subcommand.
#[derive(Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// Inventory: provision's YAML (all / hosts / children / vars) or a playbook's INI hosts
    /// file, with the group_vars/ and host_vars/ beside it; a folder reads every inventory file
    /// in it. Give -i again to read several; they merge as in Ansible
    #[arg(
        short,
        long,
        global = true,
        action = clap::ArgAction::Append,
        env = "PROVISION_INVENTORY",
        default_value = "inventory.yaml",
        value_name = "PATH"
    )]
    pub inventory: Vec<PathBuf>,

    /// How results are printed: a table and recap, or one JSON document
    #[arg(long, global = true, value_enum, default_value_t = Output::Human)]
    pub output: Output,

    /// More logging on stderr (-v info, -vv debug, -vvv trace); secrets are never logged.
    /// Only provision's own lines are shown; RUST_LOG, when set, replaces this filter
    /// (e.g. RUST_LOG=provision=debug, or RUST_LOG=provision=info,openssh=debug to see a
    /// dependency's own lines, which provision does not vet for secrets)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Human,
    Json,
    /// Comma-separated rows with a header (`provision users` only)
    Csv,
    /// The result an Ansible module answers with (the module mode sets it; not an option).
    #[value(skip)]
    Ansible,
}

#[derive(Subcommand)]
pub enum Command {
    /// Register a user on every selected host (an existing user is "ok", not an error)
    #[command(after_help = REGISTER_EXAMPLES)]
    Register(RegisterArgs),
    /// Turn a user's admin flag on or off on every selected host (through its admin_backend)
    #[command(after_help = ADMIN_EXAMPLES)]
    Admin(AdminArgs),
    /// Set a user's password on every selected host (through its admin API); its sessions
    /// are logged out unless --keep-sessions
    #[command(after_help = PASSWORD_EXAMPLES)]
    Password(PasswordChangeArgs),
    /// Lock a user on every selected host: it cannot log in or use its sessions (reversible)
    #[command(after_help = LIFECYCLE_EXAMPLES)]
    Lock(UserArgs),
    /// Unlock a locked user on every selected host
    #[command(after_help = LIFECYCLE_EXAMPLES)]
    Unlock(UserArgs),
    /// Deactivate a user on every selected host: it can never log in again; --erase also
    /// erases its data
    #[command(after_help = LIFECYCLE_EXAMPLES)]
    Deactivate(DeactivateArgs),
    /// Reactivate a deactivated user on every selected host, optionally with a new password
    #[command(after_help = LIFECYCLE_EXAMPLES)]
    Reactivate(ReactivateArgs),
    /// Show one user's state on every selected host: exists, admin, deactivated, locked, …
    #[command(after_help = LIFECYCLE_EXAMPLES)]
    Show(UserArgs),
    /// List every user of every selected host, paged from the server (CSV with --output csv)
    #[command(after_help = USERS_EXAMPLES)]
    Users(UsersArgs),
    /// Registration tokens on every selected host: issue one (single-use and never expiring
    /// unless --uses / --expires say otherwise), list them, revoke one
    #[command(after_help = TOKEN_EXAMPLES)]
    Token(TokenArgs),
    /// Read every selected host's users and say what it would take to bring them to what a
    /// users file wants (created, admin or not, locked, deactivated). Changes nothing
    #[command(after_help = PLAN_EXAMPLES)]
    Plan(PlanArgs),
    /// Plan as `plan` does, show it, and on confirmation (or --yes) make every change: create,
    /// admin flag, unlock, reactivate, lock, deactivate. --check is plan
    #[command(after_help = APPLY_EXAMPLES)]
    Apply(ApplyArgs),
    /// Check every selected host: connection, the backend's tool or endpoint, the admin
    /// backend, the secret sources. Changes nothing
    #[command(after_help = PING_EXAMPLES)]
    Ping(PingArgs),
    /// Log in to one host's admin API as an admin and keep the access token in a file (mode
    /// 0600) for `admin_token: {file: PATH}`; the token is never printed
    #[command(after_help = LOGIN_EXAMPLES)]
    Login(LoginArgs),
    /// Print the resolved plan of every selected host: backend, transport, admin backend and
    /// where each secret comes from (never the secret)
    #[command(after_help = INVENTORY_EXAMPLES)]
    Inventory(InventoryArgs),
    /// Print a shell completion script
    #[command(
        after_help = "Examples:\n  provision completions bash > /etc/bash_completion.d/provision\n  provision completions zsh > ~/.zfunc/_provision\n  provision completions fish > ~/.config/fish/completions/provision.fish"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Run as an Ansible module: read the task's JSON arguments from FILE, answer with the JSON
    /// Ansible expects (see examples/ansible/)
    #[command(
        after_help = "Example (what Ansible runs):\n  provision ansible-module /tmp/ansible-args.json"
    )]
    AnsibleModule {
        #[arg(value_name = "FILE")]
        args_file: PathBuf,
    },
    /// Print the manual page (roff)
    #[command(
        after_help = "Example:\n  provision man | gzip > /usr/local/share/man/man1/provision.1.gz"
    )]
    Man,
}

const LOGIN_EXAMPLES: &str = "\
Examples:
  provision login matrix1 --user admin --token-out secrets/matrix1.token
  provision login matrix1 --user @admin:example.com --password-file admin.pw --token-out t

Logs in at the host's `url` (the client-server API's password login, a device named
\"provision\") and writes the access token to --token-out atomically, mode 0600; only where it
was written is printed. The host's inventory then says admin_token: {file: PATH}. To log in
at each run instead (and out at its end), say admin_token: {login: {user: NAME, password:
{file: PATH}}}.";

const PLAN_EXAMPLES: &str = "\
Examples:
  provision plan users.yaml
  provision plan users.csv --limit staging --output json

The file is register --from's (CSV, or YAML: a list of users, or a mapping with `users:` and
`hosts:`, the default --limit), with `state: present|locked|deactivated` and `erase: true`
(with deactivated) per user. Each host's users are read through its admin_backend (sql,
synapse-api or mas-api); a host without one cannot tell, and says so for each user. Nothing is
changed, --check or not.
Exit status: 0 every selected host is in sync; 3 changes are pending on some host (or it cannot
tell); 1 a host failed; 4 a host could not be reached; 2 nothing was run.";

const APPLY_EXAMPLES: &str = "\
Examples:
  provision apply users.yaml --passwords-out passwords.csv
  provision apply users.yaml --yes --limit staging      # in CI: no question asked

The plan is shown first, and nothing changes until it is confirmed: on a terminal, by typing
yes; elsewhere, --yes is required. Each user's changes are made in order (created, then its
admin flag, unlock or reactivate, lock, deactivate); users of one host --per-host at a time,
hosts --forks at a time. Users the file does not name are left alone. Re-running finishes an
interrupted apply: what is done is in sync and planned no more.
Exit status: 0 every selected host is now as the file says (or was); 1 a host or a user
failed; 4 a host could not be reached; 2 nothing was run (not confirmed); 3 (only with --check)
changes are pending.";

#[derive(Args)]
pub struct ApplyArgs {
    /// The users file: CSV with a header, or YAML (as `plan` reads it)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Where the passwords generated for the users created are kept (CSV user,password, mode
    /// 0600); an existing file is read first, so a re-run reuses what it generated
    #[arg(long, value_name = "PATH")]
    pub passwords_out: Option<PathBuf>,

    /// How many users of one host are worked on at once [default: 4]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub per_host: Option<u16>,

    /// Apply without asking (needed when stdin is not a terminal)
    #[arg(short, long)]
    pub yes: bool,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args)]
pub struct PlanArgs {
    /// The users file: CSV with a header, or YAML (see the examples)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    #[command(flatten)]
    pub run: RunArgs,
}

const PING_EXAMPLES: &str = "\
Examples:
  provision ping
  provision ping --limit 'staging*' --output json

Exit status: 0 every selected host answered; 1 a host failed; 4 a host could not be
reached; 2 nothing was run.";

const INVENTORY_EXAMPLES: &str = "\
Examples:
  provision inventory
  provision -i inventory/hosts inventory --output json   # a matrix-docker-ansible-deploy inventory";

#[derive(Args)]
pub struct PingArgs {
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args)]
pub struct InventoryArgs {
    /// Hosts to show (as for the other commands)
    #[arg(short, long, value_name = "PATTERN", add = ArgValueCompleter::new(crate::completion::limit))]
    pub limit: Option<String>,
}

const ADMIN_EXAMPLES: &str = "\
Examples:
  provision admin john --on
  provision admin @john:example.com --off --limit production --output json
  provision admin john --on --check

Each host needs admin_backend: sql (database_url), synapse-api (url, admin_token) or mas-api (mas);
a continuwuity host's backend: admin-room turns it on (continuwuity cannot turn it off).
Exit status: 0 every selected host ended ok or changed; 1 a host failed; 4 a host could not
be reached; 2 nothing was run.";

#[derive(Args)]
#[group(id = "flag", required = true, multiple = false, args = ["on", "off"])]
pub struct AdminArgs {
    /// A localpart (john) or a full user ID (@john:example.com)
    pub user: String,

    /// Make the user a server admin
    #[arg(long)]
    pub on: bool,

    /// Make the user a regular user
    #[arg(long)]
    pub off: bool,

    #[command(flatten)]
    pub run: RunArgs,
}

const PASSWORD_EXAMPLES: &str = "\
Examples:
  provision password john --password-file john.pw
  provision password @john:example.com --random-password --password-out john.pw --keep-sessions
  provision password john --check

Each host needs admin_backend: synapse-api (url, admin_token).
Exit status: 0 every selected host ended ok or changed; 1 a host failed; 4 a host could not
be reached; 2 nothing was run.";

const LIFECYCLE_EXAMPLES: &str = "\
Examples:
  provision lock john --limit production
  provision unlock @john:example.com
  provision deactivate john --check
  provision deactivate john --erase
  provision reactivate john --password-file john.pw
  provision show john --output json

A state already reached is ok, not changed. Each host needs a backend that can do it
(admin_backend: synapse-api; show also reads through sql and mas-api; on continuwuity,
backend: admin-room, whose commands leave passwords in the admin room's history).
Exit status: 0 every selected host ended ok or changed; 1 a host failed; 4 a host could not
be reached; 2 nothing was run.";

const USERS_EXAMPLES: &str = "\
Examples:
  provision users
  provision users --admins --output csv > admins.csv
  provision users --inactive-since 90d --limit production --output json

Exit status: 0 every selected host listed its users; 1 a host failed; 4 a host could not be
reached; 2 nothing was run.";

const TOKEN_EXAMPLES: &str = "\
Examples:
  provision token issue                      # one single-use token per host, shown once
  provision token issue --uses 5 --expires 7d --token-out tokens.csv
  provision token issue --uses unlimited --limit staging --check
  provision token list --valid --output json
  provision token revoke Ab3_kZ9x-q1W2e3R

Each host needs admin_backend: synapse-api (url, admin_token). The tokens a host issues or
lists are secrets until used: `token issue` shows each once (or only writes --token-out) and
never logs it; `token list` prints them, as the server lists them.
Exit status: 0 every selected host ended ok or changed; 1 a host failed; 4 a host could not
be reached; 2 nothing was run.";

#[derive(Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Issue one registration token on each selected host. Single-use unless --uses, never
    /// expiring unless --expires. Each token is shown once, after the recap (JSON: `tokens`),
    /// or written to --token-out and not shown
    #[command(after_help = TOKEN_EXAMPLES)]
    Issue(TokenIssueArgs),
    /// List every selected host's registration tokens with their uses and expiry. The output
    /// holds the tokens themselves, secrets until used: keep it as you keep them
    #[command(after_help = TOKEN_EXAMPLES)]
    List(TokenListArgs),
    /// Revoke a registration token on every selected host; a host that does not have it is ok
    #[command(after_help = TOKEN_EXAMPLES)]
    Revoke(TokenRevokeArgs),
}

#[derive(Args)]
pub struct TokenIssueArgs {
    /// How many registrations the token allows: a number, or `unlimited`. The default is 1: a
    /// single-use token
    #[arg(long, value_name = "N|unlimited", default_value = "1", value_parser = parse_uses)]
    pub uses: Uses,

    /// The token stops working this long from now (e.g. 7d, 12h, 2w). By default it never
    /// expires
    #[arg(long, value_name = "DURATION", value_parser = parse_lifetime)]
    pub expires: Option<std::time::Duration>,

    /// How many characters the server generates for the token (8 to 64; Synapse takes fewer,
    /// but a token that short is guessed, and too short for provision to redact it from logs).
    /// MAS takes no length: for MAS provision generates the token, of as many letters and digits
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u8).range(8..=64))]
    pub length: u8,

    /// Write the tokens to this new file (CSV host,token, mode 0600) instead of showing them.
    /// An existing file is refused, never replaced
    #[arg(long, value_name = "PATH")]
    pub token_out: Option<PathBuf>,

    #[command(flatten)]
    pub run: RunArgs,
}

/// How many registrations a token allows; `None`: any number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uses(pub Option<u32>);

/// `unlimited` or a number of at least 1 (a token of 0 uses lets no one in).
fn parse_uses(s: &str) -> Result<Uses, String> {
    if s == "unlimited" {
        return Ok(Uses(None));
    }
    match s.parse::<u32>() {
        Ok(0) => Err("0 uses would let no one register; give 1 or more, or `unlimited`".into()),
        Ok(n) => Ok(Uses(Some(n))),
        Err(_) => Err(format!("{s:?}: expected a number of uses or `unlimited`")),
    }
}

/// A duration that is not zero: a token that expires now lets no one in.
fn parse_lifetime(s: &str) -> Result<std::time::Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => Err(format!(
            "{s:?}: a token that expires at once lets no one register"
        )),
        d => Ok(d),
    }
}

#[derive(Args)]
pub struct TokenListArgs {
    /// Only the tokens that can still be used (uses left, not expired, not revoked)
    #[arg(long, conflicts_with = "invalid")]
    pub valid: bool,

    /// Only the tokens that can no longer be used (used up, expired, or revoked on MAS)
    #[arg(long)]
    pub invalid: bool,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args)]
pub struct TokenRevokeArgs {
    /// The token, as `provision token list` shows it
    #[arg(value_parser = parse_token)]
    pub token: String,

    #[command(flatten)]
    pub run: RunArgs,
}

/// What Synapse accepts as a token (synapse/rest/admin/registration_tokens.py,
/// `allowed_chars`: letters, digits and `._~-`, at most 64), so that nothing else reaches a
/// request's path.
fn parse_token(s: &str) -> Result<String, String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._~-".contains(c);
    if s.is_empty() || s.len() > 64 || !s.chars().all(allowed) {
        return Err("a registration token is 1 to 64 letters, digits, `.`, `_`, `~` or `-`".into());
    }
    Ok(s.to_owned())
}

/// A verb about one user.
#[derive(Args)]
pub struct UserArgs {
    /// A localpart (john) or a full user ID (@john:example.com)
    pub user: String,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args)]
pub struct DeactivateArgs {
    /// A localpart (john) or a full user ID (@john:example.com)
    pub user: String,

    /// Also erase the user's data (GDPR erasure: its messages are hidden from new members).
    /// Never the default
    #[arg(long)]
    pub erase: bool,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args)]
pub struct ReactivateArgs {
    /// A localpart (john) or a full user ID (@john:example.com)
    pub user: String,

    /// Where the user's new password comes from; without one, the user is reactivated with
    /// no password it can log in with until one is set
    #[command(flatten)]
    pub password: PasswordArgs,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args)]
pub struct PasswordChangeArgs {
    /// A localpart (john) or a full user ID (@john:example.com)
    pub user: String,

    #[command(flatten)]
    pub password: PasswordArgs,

    /// With --random-password: keep the password in this file (mode 0600) instead of printing
    /// it. An existing file is never replaced: its password is set again
    #[arg(long, value_name = "PATH", requires = "random_password")]
    pub password_out: Option<PathBuf>,

    /// Keep the user's devices logged in (by default they are logged out, as Synapse does)
    #[arg(long)]
    pub keep_sessions: bool,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args)]
pub struct UsersArgs {
    /// Only server admins
    #[arg(long)]
    pub admins: bool,

    /// Only deactivated users
    #[arg(long)]
    pub deactivated: bool,

    /// Only locked users
    #[arg(long)]
    pub locked: bool,

    /// Only users not seen for this long (e.g. 90d, 12h, 2w), or never seen
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub inactive_since: Option<std::time::Duration>,

    #[command(flatten)]
    pub run: RunArgs,
}

/// `90d`, `12h`, `30m`, `2w`, `45s`.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?}: expected a number and a unit, e.g. 90d"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(format!(
                "{s:?}: the unit is one of s, m, h, d, w (e.g. 90d)"
            ));
        }
    };
    Ok(std::time::Duration::from_secs(n.saturating_mul(secs)))
}

const REGISTER_EXAMPLES: &str = "\
Examples:
  provision register john --admin --password-file john.pw
  printf %s \"$PW\" | provision register @john:example.com --no-admin --password-stdin --output json
  provision register ci-bot --random-password --password-out bot.pw --limit 'staging,!staging-old'
  provision register john --check
  provision register --from users.csv --passwords-out passwords.csv --per-host 8

Exit status: 0 every selected host ended ok or changed; 1 a host failed; 4 a host could not
be reached; 2 nothing was run.";

#[derive(Args)]
pub struct RegisterArgs {
    /// A localpart (john), placed on each host's server, or a full user ID (@john:example.com),
    /// which selects the hosts serving that server name
    #[arg(required_unless_present = "from", conflicts_with = "from")]
    pub user: Option<String>,

    /// Register every user of a CSV (header user,admin,password_file[,display_name,email]) or
    /// YAML file (a list of mappings with those keys, or a mapping with `users:` and `hosts:`,
    /// the default --limit) on every selected host; users that exist are skipped, so an
    /// interrupted run is finished by running it again
    #[arg(long, value_name = "FILE", conflicts_with_all = ["password_file", "password_stdin", "random_password", "password", "password_out"])]
    pub from: Option<PathBuf>,

    /// With --from: where generated passwords are kept (CSV user,password, mode 0600). An
    /// existing file is read first, so a re-run reuses the passwords it already generated
    #[arg(long, value_name = "PATH", requires = "from")]
    pub passwords_out: Option<PathBuf>,

    /// With --from: how many users are registered at once on one host [default: 4]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub per_host: Option<u16>,

    /// Make the user a server admin; an existing user's flag is set through the host's
    /// admin_backend
    #[arg(long, conflicts_with = "no_admin")]
    pub admin: bool,

    /// Make the user a regular user; an existing admin is demoted through the host's
    /// admin_backend. Without --admin or --no-admin a new user is regular and an existing one
    /// is left as it is
    #[arg(long)]
    pub no_admin: bool,

    /// Display name for the new user (shared-secret API, mas-cli; refused for hosts whose
    /// backend cannot pass it on). With --from, each user's comes from the users file
    #[arg(long, value_name = "NAME", conflicts_with = "from")]
    pub display_name: Option<String>,

    /// Email address to attach to the new user (mas-cli; repeatable; refused elsewhere). With
    /// --from, each user's comes from the users file
    #[arg(long = "email", value_name = "ADDRESS", conflicts_with = "from")]
    pub emails: Vec<String>,

    /// Let MAS accept a password below its complexity policy (mas-cli; refused elsewhere)
    #[arg(long)]
    pub ignore_password_complexity: bool,

    /// Register the user as one of Synapse's user types (shared-secret on Synapse,
    /// synapse-cli; refused for hosts that cannot take one). With --from, every user's
    #[arg(long, value_enum, value_name = "TYPE")]
    pub user_type: Option<UserType>,
    /// Link the user to its account at this upstream SSO provider of MAS (the provider's id, a
    /// ULID), with --sso-subject (mas-api; refused elsewhere). A user that exists gets the link
    /// if it lacks it. With --from, the users file's sso_provider and sso_subject
    #[arg(
        long,
        value_name = "ULID",
        requires = "sso_subject",
        conflicts_with = "from"
    )]
    pub sso_provider: Option<String>,

    /// The user's subject (`sub` claim) at the --sso-provider
    #[arg(
        long,
        value_name = "SUBJECT",
        requires = "sso_provider",
        conflicts_with = "from"
    )]
    pub sso_subject: Option<String>,

    #[command(flatten)]
    pub password: PasswordArgs,

    /// With --random-password: keep the password in this file (mode 0600) instead of printing
    /// it. An existing file is never replaced: its password is used again (a re-run sets the
    /// same password where the user is still missing); a file no host used is removed
    #[arg(long, value_name = "PATH", requires = "random_password")]
    pub password_out: Option<PathBuf>,

    #[command(flatten)]
    pub run: RunArgs,
}

impl RegisterArgs {
    /// `--admin` / `--no-admin`; neither: a new user is regular, an existing one left as it is.
    pub fn admin_flag(&self) -> Option<bool> {
        match (self.admin, self.no_admin) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        }
    }
}

#[derive(Args)]
pub struct LoginArgs {
    /// The host, by its inventory name
    #[arg(value_name = "HOST")]
    pub host: String,

    /// The admin to log in as: a localpart (admin) or a full user ID
    #[arg(long, value_name = "NAME")]
    pub user: String,

    #[command(flatten)]
    pub password: LoginPasswordArgs,

    /// Where the access token is written (mode 0600; a file there is replaced)
    #[arg(long, value_name = "PATH")]
    pub token_out: PathBuf,

    /// How long the login may take
    #[arg(long, default_value_t = 120, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,

    /// Do not verify TLS certificates (for test servers only)
    #[arg(long)]
    pub insecure: bool,
}

/// Where an existing account's password comes from. Without either, it is asked for on the
/// terminal.
#[derive(Args)]
#[group(multiple = false)]
pub struct LoginPasswordArgs {
    /// Read the password from a file (a trailing newline is dropped)
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<PathBuf>,

    /// Read the password from standard input (a trailing newline is dropped)
    #[arg(long)]
    pub password_stdin: bool,
}

/// Synapse's user types (synapse/api/constants.py, `UserTypes.ALL_USER_TYPES`), as
/// `register_new_matrix_user -t` takes them.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UserType {
    Bot,
    Support,
}

impl UserType {
    /// Synapse's name for it.
    pub fn name(self) -> &'static str {
        match self {
            UserType::Bot => "bot",
            UserType::Support => "support",
        }
    }
}

/// Where the password comes from. Without any of these, it is asked for on the terminal.
#[derive(Args)]
#[group(multiple = false)]
pub struct PasswordArgs {
    /// Read the password from a file (a trailing newline is dropped)
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<PathBuf>,

    /// Read the password from standard input (a trailing newline is dropped)
    #[arg(long)]
    pub password_stdin: bool,

    /// Generate a strong password; it is printed once, or written to --password-out
    #[arg(long)]
    pub random_password: bool,

    /// The password itself. Discouraged: it shows in `ps` and shell history
    #[arg(long, value_name = "PASSWORD")]
    pub password: Option<String>,

    /// Handed over in-process (the Ansible module mode's `password`), never on any argv.
    #[arg(skip)]
    pub given: Option<provision_backends::SecretString>,
}

/// How a run fans out over the inventory.
#[derive(Args)]
pub struct RunArgs {
    /// Hosts to act on: host names, group names and globs, comma-separated; !pattern
    /// excludes, &pattern intersects (as Ansible's --limit)
    #[arg(short, long, value_name = "PATTERN", add = ArgValueCompleter::new(crate::completion::limit))]
    pub limit: Option<String>,

    /// How many hosts are worked on at once
    #[arg(short, long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
    pub forks: u16,

    /// Give up on a host after this many seconds
    #[arg(long, default_value_t = 120, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,

    /// Say what would be done, change nothing
    #[arg(short = 'C', long)]
    pub check: bool,

    /// Do not verify TLS certificates (for test servers only)
    #[arg(long)]
    pub insecure: bool,

    /// When hosts fail, could not be reached or were not started, write their names here, one
    /// per line, so that `--limit @PATH` runs only them next time (Ansible's retry file)
    #[arg(long, value_name = "PATH")]
    pub retry_file: Option<PathBuf>,
}

/// `provision completions SHELL`.
pub fn completions(shell: clap_complete::Shell) -> u8 {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "provision", &mut script);
    crate::output::bytes(&script);
    0
}

/// `provision man`: the page of the tool, then one section per subcommand.
pub fn man() -> Result<u8, crate::error::Error> {
    let cmd = <Cli as clap::CommandFactory>::command();
    let mut out = Vec::new();
    let fail = |e: std::io::Error| crate::error::Error::Usage(format!("writing the man page: {e}"));
    // The page of the tool, section by section: clap_mangen's own SUBCOMMANDS section would
    // cite provision-register(1) and other pages that do not exist; each command's section
    // is on this page instead.
    let page = clap_mangen::Man::new(cmd.clone());
    page.render_title(&mut out).map_err(fail)?;
    page.render_name_section(&mut out).map_err(fail)?;
    page.render_synopsis_section(&mut out).map_err(fail)?;
    page.render_description_section(&mut out).map_err(fail)?;
    page.render_options_section(&mut out).map_err(fail)?;
    out.extend_from_slice(b".SH COMMANDS\n");
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        let about = about.replace('\\', "\\\\").replace('-', "\\-");
        out.extend_from_slice(format!(".TP\n\\fB{}\\fR\n{about}\n", sub.get_name()).as_bytes());
    }
    page.render_extra_section(&mut out).map_err(fail)?;
    page.render_version_section(&mut out).map_err(fail)?;
    for sub in cmd
        .get_subcommands()
        .filter(|s| !matches!(s.get_name(), "help" | "man" | "completions"))
    {
        out.extend_from_slice(
            format!(".SH \"PROVISION {}\"\n", sub.get_name().to_uppercase()).as_bytes(),
        );
        clap_mangen::Man::new(sub.clone())
            .render_description_section(&mut out)
            .map_err(fail)?;
        clap_mangen::Man::new(sub.clone())
            .render_options_section(&mut out)
            .map_err(fail)?;
        clap_mangen::Man::new(sub.clone())
            .render_extra_section(&mut out)
            .map_err(fail)?;
    }
    crate::output::bytes(&out);
    Ok(0)
}
