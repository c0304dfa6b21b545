//! Reading a file named by the inventory, a users file or the command line, when another local
//! user may have put something else at that path. A FIFO blocks `read` until someone writes
//! (every host past `--timeout`); `/dev/zero` or a huge file is read until memory runs out; a
//! secret file someone else can write is a secret someone else chose. So: open without
//! blocking, look at what was opened (not at the path again), accept only a regular file of a
//! bounded size, and read at most one byte past the limit.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Secret files and password files: a shared secret, a token or a database URL fits many
/// times over.
pub const SECRET_LIMIT: u64 = 64 * 1024;

/// Users files and inventories: 16 MiB, as the inventory reader's own limit.
pub const DATA_LIMIT: u64 = 16 * 1024 * 1024;

/// Who may have written the file.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// Owned by the user provision runs as, or by root, and writable by no one else.
    Trusted,
    /// Not checked (a users file, an inventory: the operator's own data, not a secret).
    Any,
}

/// A regular file of at most `limit` bytes, as UTF-8. The error says what is wrong with it;
/// the caller names the file and what it is for.
pub fn read(path: &Path, limit: u64, owner: Owner) -> Result<String, String> {
    let (meta, mut file) = open(path)?;
    if owner == Owner::Trusted {
        check_owner(&meta)?;
    }
    if meta.len() > limit {
        return Err(format!(
            "it is {} bytes, more than the {limit} bytes allowed",
            meta.len()
        ));
    }
    let mut bytes = Vec::new();
    (&mut file)
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read it: {e}"))?;
    // It grew between fstat and read.
    if bytes.len() as u64 > limit {
        return Err(format!("it is more than the {limit} bytes allowed"));
    }
    String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_owned())
}

/// Whether `path` is a regular file of at most `limit` bytes, without reading it: for files
/// that are read later but should fail early (a users file's `password_file` entries are
/// checked when the file loads, so `--check`, which reads no password, reports them too).
pub fn check(path: &Path, limit: u64) -> Result<(), String> {
    let (meta, _) = open(path)?;
    if meta.len() > limit {
        return Err(format!(
            "it is {} bytes, more than the {limit} bytes allowed",
            meta.len()
        ));
    }
    Ok(())
}

/// Opens without blocking (a FIFO with no writer opens at once with O_NONBLOCK) and without
/// taking a terminal, then fstat's what was opened: only a regular file passes.
fn open(path: &Path) -> Result<(std::fs::Metadata, File), String> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| format!("cannot read it: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read it: {e}"))?;
    if !meta.is_file() {
        return Err(format!(
            "it is {}, not a regular file",
            kind(meta.file_type())
        ));
    }
    Ok((meta, file))
}

fn kind(t: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

/// OpenSSH's rule for its own keys and config (`safe_path` in misc.c): owned by the user or
/// root, writable by nobody else. A file others can only *read* is warned about, not refused:
/// the operator may share it with a group of admins on purpose.
fn check_owner(meta: &std::fs::Metadata) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me && meta.uid() != 0 {
        return Err(format!(
            "it is owned by uid {}, not by the user provision runs as (uid {me}) or root; chown it",
            meta.uid()
        ));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o022 != 0 {
        return Err(format!(
            "it is writable by group or others (mode {mode:o}); chmod 600 it"
        ));
    }
    Ok(())
}

/// A secret file others can read: the warning, once per read.
pub fn warn_if_readable_by_others(path: &Path) {
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o044 != 0
    {
        tracing::warn!(
            "secret file {} is readable by group or others (mode {:o}); chmod 600 it",
            path.display(),
            meta.permissions().mode() & 0o777
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, content: &[u8], mode: u32) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn a_private_regular_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(dir.path(), "s", b"secret\n", 0o600);
        assert_eq!(read(&path, 64, Owner::Trusted).unwrap(), "secret\n");
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo");
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read(&path, 64, Owner::Trusted).unwrap_err();
        assert!(e.contains("a FIFO, not a regular file"), "{e}");
        assert!(check(&path, 64).unwrap_err().contains("FIFO"));
    }

    #[test]
    fn devices_and_directories_are_refused() {
        let e = read(Path::new("/dev/zero"), 64, Owner::Any).unwrap_err();
        assert!(e.contains("a character device"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let e = read(dir.path(), 64, Owner::Any).unwrap_err();
        assert!(e.contains("directory") || e.contains("cannot read"), "{e}");
    }

    #[test]
    fn files_over_the_limit_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(dir.path(), "big", &[b'a'; 65], 0o600);
        let e = read(&path, 64, Owner::Trusted).unwrap_err();
        assert!(e.contains("65 bytes"), "{e}");
        assert!(check(&path, 64).is_err());
        assert!(check(&path, 65).is_ok());
    }

    #[test]
    fn files_others_can_write_are_refused_readable_ones_are_not() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o666, 0o620, 0o602] {
            let path = file(dir.path(), &format!("w{mode:o}"), b"x", mode);
            let e = read(&path, 64, Owner::Trusted).unwrap_err();
            assert!(e.contains("writable by group or others"), "{mode:o}: {e}");
            assert!(read(&path, 64, Owner::Any).is_ok());
        }
        let path = file(dir.path(), "r", b"x", 0o644);
        assert_eq!(read(&path, 64, Owner::Trusted).unwrap(), "x");
    }
}
