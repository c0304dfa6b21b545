//! `provision register USER`: create the user on every selected host.

use std::sync::Arc;
use std::time::Duration;

use provision_backends::user_id::UserArg;
use provision_backends::{ExposeSecret, Outcome, Registration, SecretString, UserId};
use serde::Serialize;

use crate::cli::{Global, Output, RegisterArgs};
use crate::error::{EXIT_HOST_FAILED, Error};
use crate::inventory::{Host, Inventory};
use crate::password::{self, Generated};
use crate::report::{self, HostReport, Recap, Status};
use crate::runner::{self, Finished, Job};
use crate::target::Target;

pub fn run(global: &Global, args: RegisterArgs) -> Result<u8, Error> {
    let user = UserArg::parse(&args.user).map_err(Error::Usage)?;
    let inventory = Inventory::load(&global.inventory)?;
    let hosts = select(&inventory, args.run.limit.as_deref(), &user)?;
    let check = args.run.check;
    // --check changes nothing, so it needs no password (and must not consume stdin or prompt).
    let password = if check {
        None
    } else {
        Some(password::obtain(
            &args.password,
            args.password_out.as_deref(),
        )?)
    };
    let secret = password
        .as_ref()
        .map(|p| p.secret.clone())
        .unwrap_or_else(|| SecretString::from(""));

    let client = crate::transport::http_client(args.run.insecure).map_err(Error::Usage)?;
    let admin = args.admin;
    let request = Arc::new(Request {
        password: secret,
        admin,
        display_name: args.display_name.clone(),
        emails: args.emails.clone(),
        ignore_password_complexity: args.ignore_password_complexity,
        check,
    });
    let jobs: Vec<(String, Job<Done>)> = hosts
        .iter()
        .map(|host| {
            let job = register_on(host, &user, request.clone(), &client);
            (host.name.clone(), job)
        })
        .collect();

    let width = hosts.iter().map(|h| h.name.len()).max().unwrap_or(0);
    let human = global.output == Output::Human;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(format!("cannot start the async runtime: {e}")))?;
    let finished = runtime.block_on(runner::run(
        jobs,
        usize::from(args.run.forks),
        Duration::from_secs(args.run.timeout),
        |f| {
            if human {
                println!("{}", report::human_line(&to_report(f), width));
            }
        },
    ));
    let reports: Vec<HostReport> = finished.iter().map(to_report).collect();
    let recap = Recap::of(&reports);
    let created_somewhere = finished.iter().any(|f| {
        matches!(
            f.result,
            Ok(Done {
                outcome: Outcome::Created { .. },
                ..
            })
        )
    });
    let generated = password.as_ref().and_then(|p| p.generated.as_ref());
    let shown_password = match generated {
        Some(Generated::Show) if created_somewhere => password.as_ref().map(|p| p.secret.clone()),
        _ => None,
    };

    match global.output {
        Output::Human => {
            println!("{}", report::human_recap(&recap, check));
            match generated {
                Some(Generated::Show) if created_somewhere => {
                    println!(
                        "Generated password (shown once): {}",
                        password
                            .as_ref()
                            .map(|p| p.secret.expose_secret())
                            .unwrap_or("")
                    );
                }
                Some(Generated::Written(path)) if created_somewhere => {
                    println!("Generated password written to {}", path.display());
                }
                Some(_) => println!("The generated password was not used: no user was created."),
                None => {}
            }
        }
        Output::Json => {
            #[derive(Serialize)]
            struct Extra<'a> {
                user: &'a str,
                admin: bool,
                #[serde(skip_serializing_if = "Option::is_none")]
                generated_password: Option<&'a str>,
            }
            let doc = report::Document {
                command: "register",
                check,
                hosts: &reports,
                recap,
                extra: Extra {
                    user: &args.user,
                    admin,
                    generated_password: shown_password.as_ref().map(|s| s.expose_secret()),
                },
            };
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
    }
    Ok(if recap.failed > 0 {
        EXIT_HOST_FAILED
    } else {
        0
    })
}

/// The hosts of the `--limit`; a full user ID keeps only the hosts serving its server.
fn select<'a>(
    inventory: &'a Inventory,
    limit: Option<&str>,
    user: &UserArg,
) -> Result<Vec<&'a Host>, Error> {
    let hosts = inventory.select(limit)?;
    let UserArg::Full(id) = user else {
        return Ok(hosts);
    };
    let serving: Vec<&Host> = hosts
        .iter()
        .copied()
        .filter(|h| h.server_name == id.server_name())
        .collect();
    if serving.is_empty() {
        let names: Vec<&str> = hosts.iter().map(|h| h.server_name.as_str()).collect();
        return Err(Error::Usage(format!(
            "no selected host serves {} (their server names: {})",
            id.server_name(),
            names.join(", ")
        )));
    }
    Ok(serving)
}

/// What one host reports back.
struct Done {
    user: UserId,
    outcome: Outcome,
    /// Under --check: how the change would be made.
    plan: Option<String>,
}

/// What every host is asked to do.
struct Request {
    password: SecretString,
    admin: bool,
    display_name: Option<String>,
    emails: Vec<String>,
    ignore_password_complexity: bool,
    check: bool,
}

fn register_on(
    host: &Host,
    user: &UserArg,
    request: Arc<Request>,
    client: &reqwest::Client,
) -> Job<Done> {
    let user = user.on_server(&host.server_name);
    let target = Target::new(host, client);
    let via = target.as_ref().map(|t| t.via(host)).unwrap_or_default();
    Box::pin(async move {
        let user = user?;
        let target = target?;
        let mut reg = Registration::new(&user, &request.password, request.admin);
        reg.display_name = request.display_name.as_deref();
        reg.emails = &request.emails;
        reg.ignore_password_complexity = request.ignore_password_complexity;
        let outcome = if request.check {
            target.plan(&reg).await
        } else {
            target.register(&reg).await
        };
        target.close().await;
        let outcome = outcome.map_err(|f| f.to_string())?;
        // --check says how the change would be made.
        let plan = request.check.then_some(via);
        Ok(Done {
            user,
            outcome,
            plan,
        })
    })
}

fn to_report(f: &Finished<Done>) -> HostReport {
    let elapsed_ms = f.elapsed.as_millis() as u64;
    match &f.result {
        Ok(Done {
            user,
            outcome,
            plan,
        }) => HostReport {
            host: f.host.clone(),
            user_id: Some(user.to_string()),
            status: if outcome.changed() {
                Status::Changed
            } else {
                Status::Ok
            },
            outcome: Some(match outcome {
                Outcome::Created { .. } => "created",
                Outcome::Exists => "exists",
                Outcome::WouldCreate { .. } => "would_create",
                Outcome::WouldTryCreate { .. } => "would_try_create",
                Outcome::WouldRun { .. } => "would_create",
            }),
            message: match plan {
                Some(plan) if outcome.changed() => format!("{outcome} {plan}"),
                _ => outcome.to_string(),
            },
            elapsed_ms,
        },
        Err(msg) => HostReport {
            host: f.host.clone(),
            user_id: None,
            status: Status::Failed,
            outcome: None,
            message: msg.clone(),
            elapsed_ms,
        },
    }
}
