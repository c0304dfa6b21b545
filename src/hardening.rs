//! What the process does to itself before it holds any secret.

/// No core dump, whatever limit the shell set: a crash must not write the shared secrets,
/// tokens and passwords in memory to disk. Setting the limit to 0 is always allowed (lowering
/// a limit needs no privilege), so this cannot fail in practice; if it does, a warning says so.
pub fn no_core_dumps() {
    let zero = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit reads the struct we pass and has no other preconditions.
    if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) } != 0 {
        tracing::warn!(
            "could not turn core dumps off: {}",
            std::io::Error::last_os_error()
        );
    }
}
