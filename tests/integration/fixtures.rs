//! Real components the tests run against, each started once per test binary and stopped when
//! it exits, plus helpers to run the binary and read back what it did.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

pub const SERVER_NAME: &str = "test.local";

/// A Synapse on loopback with SQLite, configured by tests/support/synapse.py.
pub struct Synapse {
    pub url: String,
    pub dir: PathBuf,
    admin_token: String,
    // Held open: the script stops Synapse when this pipe closes, i.e. when the tests exit.
    _stdin: Mutex<ChildStdin>,
    _child: Mutex<Child>,
}

pub fn synapse() -> &'static Synapse {
    static SYNAPSE: OnceLock<Synapse> = OnceLock::new();
    SYNAPSE.get_or_init(|| start_synapse("synapse-sqlite"))
}

fn start_synapse(name: &str) -> Synapse {
    let dir = scratch().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/synapse.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args([
            "run",
            dir.to_str().unwrap(),
            &port.to_string(),
            "--server-name",
            SERVER_NAME,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs tests/support/synapse.py");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("ready ")
        .unwrap_or_else(|| {
            panic!(
                "Synapse did not start (see {}/synapse.out): {line:?}",
                dir.display()
            )
        })
        .to_owned();
    let admin_token = std::fs::read_to_string(dir.join("admin_token"))
        .unwrap()
        .trim()
        .to_owned();
    let stdin = child.stdin.take().unwrap();
    Synapse {
        url,
        dir,
        admin_token,
        _stdin: Mutex::new(stdin),
        _child: Mutex::new(child),
    }
}

impl Synapse {
    pub fn secret_file(&self) -> PathBuf {
        self.dir.join("shared_secret")
    }

    /// Logs in with a password; the user ID on success, the HTTP status otherwise.
    pub fn login(&self, user: &str, password: &str) -> Result<String, u16> {
        let resp = client()
            .post(format!("{}/_matrix/client/v3/login", self.url))
            .json(&serde_json::json!({
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": user},
                "password": password,
            }))
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(status);
        }
        let body: serde_json::Value = resp.json().unwrap();
        Ok(body["user_id"].as_str().unwrap().to_owned())
    }

    /// What Synapse's admin API says of a user: Some(admin flag), or None when it does not exist.
    pub fn admin_flag(&self, localpart: &str) -> Option<bool> {
        let resp = client()
            .get(format!(
                "{}/_synapse/admin/v2/users/@{localpart}:{SERVER_NAME}",
                self.url
            ))
            .bearer_auth(&self.admin_token)
            .send()
            .unwrap();
        match resp.status().as_u16() {
            404 => None,
            200 => resp.json::<serde_json::Value>().unwrap()["admin"].as_bool(),
            other => panic!("admin API answered {other}"),
        }
    }

    /// An inventory with this server as host `NAME`, plus any extra YAML host entries.
    pub fn inventory(&self, hosts: &[(&str, &str)]) -> PathBuf {
        let mut yaml = format!(
            "all:\n  vars:\n    backend: shared-secret\n    server_name: {SERVER_NAME}\n  hosts:\n"
        );
        for (name, extra) in hosts {
            yaml.push_str(&format!("    {name}:\n"));
            if extra.is_empty() {
                yaml.push_str(&format!(
                    "      url: {}\n      shared_secret: {{file: {}}}\n",
                    self.url,
                    self.secret_file().display()
                ));
            } else {
                for line in extra.lines() {
                    yaml.push_str(&format!("      {line}\n"));
                }
            }
        }
        write_file("inventory.yaml", &yaml)
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::new()
}

/// A per-run scratch folder under target/.
pub fn scratch() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("provision-tests");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes a file with a unique name and returns its path.
pub fn write_file(name: &str, content: &str) -> PathBuf {
    let path = scratch().join(format!("{}-{name}", unique("f")));
    std::fs::write(&path, content).unwrap();
    path
}

/// A name no other test of this run uses (the tests share one server).
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs the provision binary with `stdin` as its standard input.
pub fn provision(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_provision"))
        .args(args)
        .env_remove("PROVISION_INVENTORY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    // The binary may exit before reading (bad arguments): a broken pipe is fine.
    let _ = pipe.write_all(stdin.as_bytes());
    drop(pipe);
    child.wait_with_output().unwrap()
}

/// stdout and stderr together, for assertions about what the operator sees.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", text(out)))
}
