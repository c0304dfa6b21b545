//! The run's private directory: SSH control sockets, the masters' logs and ssh_config files,
//! PostgreSQL tunnel sockets. One per run, made on first use under `$TMPDIR` with mode 0700,
//! so no other user can reach a socket that speaks for the operator's SSH key or the
//! database. Removed by [`remove`] on every exit path that runs
//! code: the end of `main`, and the second Ctrl-C (or SIGTERM, SIGHUP) that exits at once.
//! Socket paths must fit in `sun_path` (108 bytes on Linux): the names inside are short.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

static DIR: Mutex<Option<tempfile::TempDir>> = Mutex::new(None);
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A fresh path in the run's directory, `PREFIX` and a number: for one socket or file.
pub fn entry(prefix: &str) -> std::io::Result<PathBuf> {
    let mut dir = DIR.lock().unwrap_or_else(|e| e.into_inner());
    if dir.is_none() {
        use std::os::unix::fs::PermissionsExt;
        // Made with this mode, not chmod-ed after: there is no moment when others may enter.
        *dir = Some(
            tempfile::Builder::new()
                .prefix("provision-")
                .permissions(std::fs::Permissions::from_mode(0o700))
                .tempdir()?,
        );
    }
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Ok(dir
        .as_ref()
        .map(|d| d.path().join(format!("{prefix}{n}")))
        .unwrap_or_default())
}

/// Removes the directory and everything in it. Whatever still listens on a socket there
/// (an SSH master being stopped) keeps working on its open descriptors; nothing new can
/// connect.
pub fn remove() {
    let dir = DIR.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(dir) = dir
        && let Err(e) = dir.close()
    {
        tracing::warn!("could not remove the run's private directory: {e}");
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_directory_is_private_and_removed() {
        let path = super::entry("t").unwrap();
        let dir = path.parent().unwrap().to_owned();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        std::fs::write(&path, "x").unwrap();
        super::remove();
        assert!(!dir.exists());
    }
}
