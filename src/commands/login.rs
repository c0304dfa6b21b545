//! `provision login HOST --user NAME --token-out PATH`: a password login at the host's admin
//! API, as synadm's `matrix login` does, whose access token is written to a file (mode 0600)
//! for `admin_token: {file: PATH}`. The token is never printed: only where it was written.

use std::sync::Arc;

use provision_backends::ExposeSecret;

use super::fan_out_with;
use crate::cli::{Global, LoginArgs, RunArgs};
use crate::error::Error;
use crate::inventory::Inventory;
use crate::password_store::write_private;
use crate::report::{HostError, HostReport, Report, Verdict};
use crate::router::Router;
use crate::runner::Finished;

pub fn run(global: &Global, args: LoginArgs) -> Result<Report, Error> {
    let inventory = Inventory::load(&global.inventory)?;
    let host = inventory
        .hosts
        .iter()
        .find(|h| h.name == args.host)
        .ok_or_else(|| Error::Usage(format!("no host {} in the inventory", args.host)))?;
    // Said before the password is asked for: there is nothing to log in to.
    if Router::admin_api(host).is_none() {
        return Err(Error::Usage(format!(
            "{}: {}",
            host.name,
            Router::no_admin_api()
        )));
    }
    let password = crate::password::existing(&args.password)?;
    let client = crate::transport::http_client(args.insecure).map_err(Error::Usage)?;
    let run = RunArgs {
        limit: None,
        forks: 1,
        timeout: args.timeout,
        check: false,
        insecure: args.insecure,
        retry_file: None,
    };
    let (user, out) = (
        Arc::new(args.user.clone()),
        Arc::new(args.token_out.clone()),
    );
    let fanned = fan_out_with(
        global,
        &run,
        &[host],
        |host, _| {
            let login = Router::login(host, &client, user.to_string(), password.clone());
            let out = out.clone();
            Box::pin(async move {
                let (url, token) = login.map_err(HostError::Setup)?.await?;
                // Nothing provision shows may hold it, should any message ever quote it.
                crate::output::keep_secret(token.expose_secret());
                write_private(&out, token.expose_secret().as_bytes(), true).map_err(|e| {
                    HostError::Failed(format!(
                        "logged in, but the token could not be written to {}: {e}",
                        out.display()
                    ))
                })?;
                Ok(url)
            })
        },
        |f: &Finished<String>| {
            let verdict = match &f.result {
                Ok(url) => Verdict::ok(
                    "logged_in",
                    &format!(
                        "logged in as {} at {url}; the access token is in {} (mode 0600)",
                        args.user,
                        args.token_out.display()
                    ),
                ),
                Err(e) => Verdict::from(e),
            };
            HostReport::new(&f.host, None, verdict, f.elapsed)
        },
    )?;
    Ok(
        Report::new("login", false, fanned.reports).with(&super::fields::Login {
            user: &args.user,
            token_file: args.token_out.display().to_string(),
        }),
    )
}
