//! What is retried and what is not: a refused key, an unknown host key, a name that does not
//! resolve and an untrusted certificate are tried once (a refused key tried six times trips
//! fail2ban); a refused connection is retried, and a --timeout that ends the retries reports
//! their cause. Attempts are counted (sshd's log, provision's -v "retrying" lines), never
//! timed. RELIABILITY.md, "Permanent failures are not retried".

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use crate::fixtures::{
    SERVER_NAME, Sshd, free_port, json, scratch, self_signed_tls, sshd_fleet, text, unique,
    write_file,
};

/// sshd for these tests alone, so no other test's logins disturb the counts: one address for
/// the refused key, one for the unknown host key.
const REFUSES_KEY: &str = "127.0.0.60";
const UNKNOWN_KEY: &str = "127.0.0.61";

fn sshd() -> &'static Sshd {
    static SSHD: OnceLock<Sshd> = OnceLock::new();
    SSHD.get_or_init(|| {
        let d = sshd_fleet("retries-sshd", &[REFUSES_KEY, UNKNOWN_KEY]);
        // The fixture's readiness probe is a connection too: wait until sshd has logged it
        // (it is closed before the exchange of versions), so it is not counted as ours.
        for address in [REFUSES_KEY, UNKNOWN_KEY] {
            let probed = (0..100).any(|_| {
                let log = std::fs::read_to_string(d.dir.join(format!("{address}.log")));
                if log.is_ok_and(|l| l.contains("kex_exchange_identification")) {
                    return true;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
                false
            });
            assert!(probed, "sshd at {address} logged the fixture's probe");
        }
        d
    })
}

/// How many TCP connections sshd at `address` has seen (sshd logs "Connection from" for each
/// at LogLevel VERBOSE, before any authentication).
fn connections(d: &Sshd, address: &str) -> usize {
    std::fs::read_to_string(d.dir.join(format!("{address}.log")))
        .unwrap_or_default()
        .matches("Connection from")
        .count()
}

/// Runs provision with extra environment variables; stdin is empty.
fn provision_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_provision"));
    cmd.args(args)
        .env_remove("PROVISION_INVENTORY")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// The retry layer's -v lines: one per attempt that failed and is tried again.
fn retries(out: &Output) -> usize {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("retrying in"))
        .count()
}

fn message(out: &Output) -> String {
    json(out)["hosts"][0]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("a message: {}", text(out)))
        .to_owned()
}

/// A host registering through synapse-cli over SSH: the connection is what is under test.
fn ssh_inventory(address: &str, identity: &str, known_hosts: &str) -> std::path::PathBuf {
    let d = sshd();
    write_file(
        "retries-ssh.yaml",
        &format!(
            "all:\n  hosts:\n    h:\n      server_name: {SERVER_NAME}\n      backend: synapse-cli\n      via: tool\n      transport: ssh\n      config: /nonexistent/homeserver.yaml\n      url: http://127.0.0.1:8008\n      ssh: {{host: {address}, port: {}, user: root, identity_file: {identity}, known_hosts: {known_hosts}}}\n",
            d.port
        ),
    )
}

fn register(inv: &std::path::Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let secret_pw = write_file("retries-pw", "pw-retries");
    let mut args = vec![
        "register",
        "retried",
        "--password-file",
        secret_pw.to_str().unwrap(),
        "-v",
        "-i",
        inv.to_str().unwrap(),
        "--output",
        "json",
    ];
    args.extend(extra);
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    provision_env(&args, env)
}

fn secret_file() -> std::path::PathBuf {
    let secret = write_file("retries-secret", "s");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    secret
}

fn http_inventory(url: &str) -> std::path::PathBuf {
    write_file(
        "retries-http.yaml",
        &format!(
            "all:\n  hosts:\n    h:\n      server_name: {SERVER_NAME}\n      backend: shared-secret\n      url: {url}\n      shared_secret: {{file: {}}}\n",
            secret_file().display()
        ),
    )
}

#[test]
fn a_refused_ssh_key_is_tried_once_and_named() {
    let d = sshd();
    // A key of its own, authorized nowhere.
    let key = scratch().join(unique("unauthorized-key"));
    assert!(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .unwrap()
            .success()
    );
    let inv = ssh_inventory(
        REFUSES_KEY,
        key.to_str().unwrap(),
        d.dir.join("known_hosts").to_str().unwrap(),
    );
    let before = connections(d, REFUSES_KEY);
    let out = register(&inv, &[], &[]);
    let after = connections(d, REFUSES_KEY);
    assert_eq!(out.status.code(), Some(4), "unreachable: {}", text(&out));
    assert_eq!(after - before, 1, "one login attempt: {}", text(&out));
    assert_eq!(retries(&out), 0, "{}", text(&out));
    let message = message(&out);
    assert!(
        message.contains(&format!("root@{REFUSES_KEY}:{}", d.port))
            && message.contains("the server refused the key")
            && message.contains("Permission denied (publickey"),
        "{message}"
    );
}

#[test]
fn an_unknown_host_key_is_tried_once() {
    let d = sshd();
    let empty = write_file("empty-known-hosts", "");
    let inv = ssh_inventory(
        UNKNOWN_KEY,
        d.dir.join("id_ed25519").to_str().unwrap(),
        empty.to_str().unwrap(),
    );
    let before = connections(d, UNKNOWN_KEY);
    let out = register(&inv, &[], &[]);
    let after = connections(d, UNKNOWN_KEY);
    assert_eq!(out.status.code(), Some(4), "unreachable: {}", text(&out));
    assert_eq!(after - before, 1, "one connection: {}", text(&out));
    assert_eq!(retries(&out), 0, "{}", text(&out));
    let message = message(&out);
    assert!(
        message.contains(UNKNOWN_KEY) && message.contains("host key verification failed"),
        "{message}"
    );
    assert_eq!(
        std::fs::read_to_string(&empty).unwrap(),
        "",
        "strict checking: the key was not added"
    );
}

#[test]
fn a_name_that_does_not_resolve_is_tried_once() {
    // .invalid never resolves (RFC 2606). One try of the resolver, so a machine without DNS
    // answers "temporary failure" quickly: also a name that does not resolve.
    let inv = http_inventory("https://nohost.invalid");
    let out = register(&inv, &[], &[("RES_OPTIONS", "timeout:1 attempts:1")]);
    assert_eq!(out.status.code(), Some(4), "unreachable: {}", text(&out));
    assert_eq!(retries(&out), 0, "tried once: {}", text(&out));
    let message = message(&out);
    assert!(
        message.contains("https://nohost.invalid") && message.contains("does not resolve"),
        "{message}"
    );
}

#[test]
fn an_untrusted_certificate_is_tried_once_with_a_hint() {
    let server = self_signed_tls();
    let url = format!("https://127.0.0.1:{}", server.port);
    let out = register(&http_inventory(&url), &[], &[]);
    drop(server);
    assert_eq!(out.status.code(), Some(4), "unreachable: {}", text(&out));
    assert_eq!(retries(&out), 0, "tried once: {}", text(&out));
    let message = message(&out);
    assert!(
        message.contains(&format!(
            "{url}: the TLS certificate is not trusted (self-signed or unknown issuer)"
        )) && message.contains("pass --insecure"),
        "{message}"
    );
}

#[test]
fn a_timeout_shorter_than_the_retries_reports_their_cause() {
    // Nothing listens there: connection refused, which is retried until --timeout ends it.
    let url = format!("http://127.0.0.1:{}", free_port());
    let out = register(&http_inventory(&url), &["--timeout", "3"], &[]);
    assert_eq!(out.status.code(), Some(4), "unreachable: {}", text(&out));
    assert!(retries(&out) >= 1, "it was retried: {}", text(&out));
    let message = message(&out);
    assert!(
        message.contains("timed out after 3s (last error: ")
            && message.contains(&url)
            && message.to_lowercase().contains("connection refused"),
        "{message}"
    );
}

#[test]
fn a_refused_connection_is_retried_and_the_failure_says_how_often() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let out = register(&http_inventory(&url), &[], &[]);
    assert_eq!(out.status.code(), Some(4), "unreachable: {}", text(&out));
    assert_eq!(retries(&out), 5, "six attempts: {}", text(&out));
    let message = message(&out);
    assert!(message.contains("(tried 6 times over "), "{message}");
}

#[test]
fn ctrl_c_ends_the_wait_between_retries() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let inv = http_inventory(&url);
    let mut child = Command::new(env!("CARGO_BIN_EXE_provision"))
        .args(["register", "retried", "--password-stdin", "-v", "-i"])
        .arg(&inv)
        .args(["--output", "json"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"pw-ctrl-c").unwrap();
    }
    // Interrupt once the first retry wait has begun.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "{seen}");
        seen.push_str(&line);
        if line.contains("retrying in") {
            break;
        }
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    stderr.read_to_string(&mut seen).unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let code = child.wait().unwrap().code();
    let all = format!("{stdout}{seen}");
    assert_eq!(code, Some(130), "{all}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let message = doc["hosts"][0]["message"].as_str().unwrap();
    assert!(message.contains("not retried: interrupted"), "{all}");
    // The first wait ends on Ctrl-C; a second can only begin if the signal lost a race with
    // the 0.5 s wait. Either way the remaining four attempts never happen.
    let waits = seen.lines().filter(|l| l.contains("retrying in")).count();
    assert!(waits <= 2, "{all}");
}

#[test]
fn dependencies_are_quiet_unless_rust_log_asks() {
    // Each request goes through hyper and reqwest, which log at debug and trace.
    let url = format!("http://127.0.0.1:{}", free_port());
    let inv = http_inventory(&url);
    let args = [
        "register",
        "retried",
        "--check",
        "--timeout",
        "1",
        "-i",
        inv.to_str().unwrap(),
        "--output",
        "json",
    ];
    let stderr = |out: &Output| String::from_utf8_lossy(&out.stderr).into_owned();

    // Default verbosity: nothing for provision to say, and no dependency says anything.
    let out = provision_env(&args, &[]);
    assert_eq!(stderr(&out), "", "{}", text(&out));

    // -vvv shows provision's own lines with their targets, and still no other crate's.
    let mut loud = args.to_vec();
    loud.push("-vvv");
    let out = provision_env(&loud, &[]);
    let logged: Vec<String> = stderr(&out).lines().map(str::to_owned).collect();
    assert!(
        logged.iter().any(|l| l.contains(" provision::")),
        "{logged:?}"
    );
    for line in &logged {
        assert!(
            !line.contains("hyper") && !line.contains("reqwest::"),
            "a dependency's line at -vvv: {line}"
        );
    }

    // RUST_LOG replaces the filter: provision's debug lines at no -v at all...
    let out = provision_env(&args, &[("RUST_LOG", "provision=debug")]);
    let logged = stderr(&out);
    assert!(
        logged.contains("DEBUG provision::transport::http:"),
        "{logged}"
    );
    assert!(!logged.contains("hyper"), "{logged}");
    // ...and a dependency's, when it names one.
    let out = provision_env(&args, &[("RUST_LOG", "hyper_util=debug")]);
    let logged = stderr(&out);
    assert!(logged.contains("DEBUG hyper_util::"), "{logged}");
    assert!(!logged.contains("provision::"), "{logged}");
}
