//! Logs go to stderr, quiet by default. Only provision's own crates log: what a dependency
//! logs (openssh, hyper, rustls) is not ours to vouch for, secrets included, and at the
//! default verbosity an operator should see provision's lines alone. `RUST_LOG`, when set,
//! replaces the whole filter (tracing-subscriber's `EnvFilter` syntax), for debugging a
//! dependency on purpose.

use tracing_subscriber::EnvFilter;

pub fn init(verbose: u8) {
    let set = std::env::var_os(EnvFilter::DEFAULT_ENV).is_some_and(|v| !v.is_empty());
    let (filter, unusable) = match EnvFilter::try_from_default_env() {
        Ok(filter) if set => (filter, None),
        Err(e) if set => (default_filter(verbose), Some(e)),
        _ => (default_filter(verbose), None),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        // A filter from RUST_LOG may let other crates in: say whose line each is.
        .with_target(verbose >= 2 || set)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Some(e) = unusable {
        tracing::warn!("RUST_LOG is not a filter provision can use ({e}); ignored");
    }
}

/// provision's crates at warn, or the level -v asks for; every other crate off.
fn default_filter(verbose: u8) -> EnvFilter {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    EnvFilter::new(format!("off,provision={level},provision_backends={level}"))
}
