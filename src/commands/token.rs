//! `provision token issue|list|revoke`: registration tokens on every selected host, through the
//! first backend of each that manages them (`Op::Tokens`: Synapse's admin API,
//! synapse/rest/admin/registration_tokens.py; Dendrite's; MAS's,
//! crates/handlers/src/admin/v1/user_registration_tokens/).
//!
//! An issued token is a secret until it is used. Each host issues one; it is registered with
//! `output::keep_secret` the moment it arrives, so no other line (a server's error, a log
//! line) can show it, and it is shown once after the recap (JSON: `tokens`), or only written
//! to `--token-out`. provision's terms are the same on every host whatever the server's
//! defaults (MAS's and Synapse's are unlimited): single-use unless `--uses`, no expiry unless
//! `--expires`, `--length` characters.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use indexmap::IndexMap;
use provision_backends::outcome::Changed;
use provision_backends::{Failure, Op, Outcome, RegistrationToken, SecretString, TokenTerms};

use super::{fan_out_with, fields};
use crate::cli::{
    Global, Output, RunArgs, TokenArgs, TokenCommand, TokenIssueArgs, TokenListArgs,
    TokenRevokeArgs,
};
use crate::error::Error;
use crate::inventory::Inventory;
use crate::render;
use crate::report::{HostError, HostReport, Recap, Report, Verdict};
use crate::router::Router;
use crate::runner::Finished;

pub fn run(global: &Global, args: TokenArgs) -> Result<Report, Error> {
    match args.command {
        TokenCommand::Issue(args) => issue(global, args),
        TokenCommand::List(args) => list(global, args),
        TokenCommand::Revoke(args) => revoke(global, args),
    }
}

/// What each host is asked.
enum Job {
    Issue(TokenTerms),
    List { valid: Option<bool>, output: Output },
    Revoke(SecretString),
}

/// What a host answered.
enum Answer {
    /// Issued or revoked (or under `--check`, would be): `plan` says how, `token` is the one
    /// issued.
    Changed {
        outcome: Outcome,
        plan: Option<String>,
        token: Option<RegistrationToken>,
    },
    /// How many tokens were listed (their rows are printed already).
    Listed(usize),
}

impl Job {
    async fn on(
        &self,
        router: &Router,
        host: &str,
        check: bool,
        now_ms: u64,
    ) -> Result<Answer, Failure> {
        let plan = check.then(|| router.via(Op::Tokens));
        match self {
            Job::Issue(terms) => {
                let issued = router.issue_token(terms, check).await?;
                if let Some(issued) = &issued {
                    crate::output::keep_secret(&issued.token);
                }
                let change = Changed::TokenIssued;
                let outcome = match &issued {
                    Some(_) => Outcome::Done {
                        change,
                        note: Some(describe(terms)),
                    },
                    None => Outcome::WouldDo { change },
                };
                Ok(Answer::Changed {
                    outcome,
                    plan: plan.map(|via| format!("({}) {via}", describe(terms))),
                    token: issued,
                })
            }
            Job::List { valid, output } => {
                let tokens = router.list_tokens(*valid).await?;
                for token in &tokens {
                    render::token_row(*output, host, token, now_ms);
                }
                Ok(Answer::Listed(tokens.len()))
            }
            Job::Revoke(token) => Ok(Answer::Changed {
                outcome: router.revoke_token(token, check).await?,
                plan,
                token: None,
            }),
        }
    }
}

/// Runs `job` on every selected host, each through its router for `Op::Tokens`.
fn fan_out(global: &Global, run: &RunArgs, job: Job) -> Result<super::Fanned<Answer>, Error> {
    let inventory = Inventory::load(&global.inventory)?;
    let hosts = inventory.select(run.limit.as_deref())?;
    let client = crate::transport::http_client(run.insecure).map_err(Error::Usage)?;
    let (job, check, now_ms) = (Arc::new(job), run.check, now_ms());
    fan_out_with(
        global,
        run,
        &hosts,
        |host, _| {
            let router = Router::new(host, &client, &[Op::Tokens]);
            let (job, name) = (job.clone(), host.name.clone());
            Box::pin(async move {
                let router = router.map_err(HostError::Setup)?;
                let answer = job.on(&router, &name, check, now_ms).await;
                router.close().await;
                Ok(answer?)
            })
        },
        to_report,
    )
}

fn to_report(f: &Finished<Answer>) -> HostReport {
    let verdict = match &f.result {
        Ok(Answer::Changed { outcome, plan, .. }) => {
            Verdict::answered(outcome, None, plan.as_deref(), None)
        }
        Ok(Answer::Listed(n)) => Verdict::ok("listed", &format!("{n} tokens")),
        Err(e) => Verdict::from(e),
    };
    HostReport::new(&f.host, None, verdict, f.elapsed)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as u64
}

/// "single-use, no expiry", "5 uses, expires 2026-11-29 09:21 UTC".
fn describe(terms: &TokenTerms) -> String {
    let uses = match terms.uses_allowed {
        Some(1) => "single-use".to_owned(),
        Some(n) => format!("{n} uses"),
        None => "unlimited uses".to_owned(),
    };
    let expiry = match terms.expiry_ms {
        Some(ms) => format!("expires {}", super::show::date(ms)),
        None => "no expiry".to_owned(),
    };
    format!("{uses}, {expiry}")
}

fn issue(global: &Global, args: TokenIssueArgs) -> Result<Report, Error> {
    let check = args.run.check;
    if let Some(path) = &args.token_out {
        must_be_new(path)?;
    }
    // One expiry for the whole fleet, from when the command started.
    let terms = TokenTerms {
        uses_allowed: args.uses.0,
        expiry_ms: args
            .expires
            .map(|d| now_ms().saturating_add(d.as_millis() as u64)),
        length: args.length,
    };
    let fanned = fan_out(global, &args.run, Job::Issue(terms))?;
    // In inventory order, as the hosts' lines and the recap.
    let issued: IndexMap<String, String> = fanned
        .finished
        .iter()
        .filter_map(|f| match &f.result {
            Ok(Answer::Changed { token: Some(t), .. }) => Some((f.host.clone(), t.token.clone())),
            _ => None,
        })
        .collect();
    let token_out = args.token_out.as_deref().filter(|_| !issued.is_empty());
    let mut report = Report::new("token issue", check, fanned.reports).with(&fields::TokenIssue {
        uses: terms
            .uses_allowed
            .map_or(fields::Uses::Unlimited(fields::Unlimited::Unlimited), |n| {
                fields::Uses::Limited(n)
            }),
        expiry_ms: terms.expiry_ms,
        length: terms.length,
        token_out,
        tokens: Some(&issued).filter(|t| token_out.is_none() && !t.is_empty()),
    });
    match (&args.token_out, issued.is_empty()) {
        (_, true) => {}
        (Some(path), false) => match write_tokens(path, &issued) {
            Ok(()) => report.notes.push(format!(
                "The registration tokens of {} are in {} (mode 0600); they were not shown.",
                hosts(&issued),
                path.display()
            )),
            Err(e) => unwritten(&mut report, &issued, path, &e),
        },
        (None, false) => {
            report
                .notes
                .push("Registration tokens (shown once; secrets until used):".to_owned());
            for (host, token) in &issued {
                report.notes.push(format!("  {host}: {token}"));
            }
        }
    }
    Ok(super::retry_file(&args.run, report))
}

/// `--token-out` is checked before any token is issued: an existing file (a link included,
/// even one that points nowhere) is refused, and so is a folder that is not there.
fn must_be_new(path: &Path) -> Result<(), Error> {
    let fail = |why: &str| Error::Usage(format!("--token-out {}: {why}", path.display()));
    if std::fs::symlink_metadata(path).is_ok() {
        return Err(fail(
            "it exists; provision never replaces a file of secrets (choose a new path)",
        ));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(fail("its folder does not exist"));
    }
    Ok(())
}

/// CSV `host,token`, atomically into a new file of mode 0600. Tokens are written as they are:
/// a `'` before one starting with `-` (a spreadsheet's formula guard) would change the token.
fn write_tokens(path: &Path, issued: &IndexMap<String, String>) -> Result<(), String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut rows = vec![["host".to_owned(), "token".to_owned()]];
    rows.extend(
        issued
            .iter()
            .map(|(host, token)| [crate::password_store::safe_cell(host), token.clone()]),
    );
    for row in rows {
        writer.write_record(row).map_err(|e| e.to_string())?;
    }
    let data = writer.into_inner().map_err(|e| e.to_string())?;
    crate::password_store::write_private(path, &data, false)
}

/// The file could not be written after the tokens were issued: they are live and shown
/// nowhere, so each host that issued one fails, saying so (the recap and the exit status tell).
fn unwritten(report: &mut Report, issued: &IndexMap<String, String>, path: &Path, why: &str) {
    let failed = format!(
        "--token-out {} could not be written ({why}): the token is live and shown nowhere; `provision token list` shows it, `provision token revoke` ends it",
        path.display()
    );
    for host in report
        .hosts
        .iter_mut()
        .filter(|h| issued.contains_key(&h.host))
    {
        let outcome = Outcome::Done {
            change: Changed::TokenIssued,
            note: None,
        };
        host.verdict = Verdict::answered(&outcome, None, None, Some(&failed));
        host.counts = Recap::of([host.verdict.status]);
    }
    report.notes.push(format!(
        "The registration tokens of {} were issued but could not be written to {}.",
        hosts(issued),
        path.display()
    ));
}

fn hosts(issued: &IndexMap<String, String>) -> String {
    issued.keys().cloned().collect::<Vec<_>>().join(", ")
}

fn list(global: &Global, args: TokenListArgs) -> Result<Report, Error> {
    let valid = match (args.valid, args.invalid) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    let output = global.output;
    render::tokens_start(output);
    let fanned = fan_out(global, &args.run, Job::List { valid, output })?;
    let mut report =
        Report::new("token list", false, fanned.reports).with(&super::fields::TokenList { valid });
    report.streamed = true;
    Ok(super::retry_file(&args.run, report))
}

fn revoke(global: &Global, args: TokenRevokeArgs) -> Result<Report, Error> {
    // Still live until revoked (and under --check, after): redacted from whatever a server
    // says back, and withheld from logs (`Request::hiding`).
    crate::output::keep_secret(&args.token);
    let token = SecretString::from(args.token);
    let fanned = fan_out(global, &args.run, Job::Revoke(token))?;
    let report = Report::new("token revoke", args.run.check, fanned.reports);
    Ok(super::retry_file(&args.run, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_terms_are_said_as_an_operator_reads_them() {
        let terms = |uses_allowed, expiry_ms| TokenTerms {
            uses_allowed,
            expiry_ms,
            length: 16,
        };
        assert_eq!(describe(&terms(Some(1), None)), "single-use, no expiry");
        assert_eq!(
            describe(&terms(Some(5), Some(1_795_944_060_000))),
            "5 uses, expires 2026-11-29 09:21 UTC"
        );
        assert_eq!(describe(&terms(None, None)), "unlimited uses, no expiry");
    }

    #[test]
    fn the_tokens_file_is_new_private_and_never_replaced() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.csv");
        assert!(must_be_new(&path).is_ok());
        let issued = IndexMap::from([
            ("matrix1".to_owned(), "-abc".to_owned()),
            ("matrix2".to_owned(), "xyz".to_owned()),
        ]);
        write_tokens(&path, &issued).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "host,token\nmatrix1,-abc\nmatrix2,xyz\n"
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let e = must_be_new(&path).unwrap_err().to_string();
        assert!(e.contains("it exists"), "{e}");
        assert!(write_tokens(&path, &issued).is_err());
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &link).unwrap();
        assert!(must_be_new(&link).is_err());
        assert!(must_be_new(&dir.path().join("no/such/tokens.csv")).is_err());
    }
}
