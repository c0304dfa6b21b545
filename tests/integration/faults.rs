//! Faults injected into real servers mid-run, and what provision does about them: nothing is
//! lost, nothing is done twice, and a re-run finishes the job. RELIABILITY.md lists each case.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::fixtures::{
    SERVER_NAME, Synapse, docker_synapse, json, pg_synapse, provision, scratch, self_signed_tls,
    sshd_fleet, synapse, synapse_with_rounds, text, unique, write_file,
};

/// A users file of `n` users with generated passwords; returns (users file, passwords file).
fn users(n: usize) -> (std::path::PathBuf, std::path::PathBuf) {
    let prefix = unique("fault");
    let mut csv = String::from("user,admin,password_file\n");
    for i in 0..n {
        csv.push_str(&format!("{prefix}-{i},,\n"));
    }
    (
        write_file("fault-users.csv", &csv),
        scratch().join(unique("fault-passwords.csv")),
    )
}

use crate::fixtures::password_rows as passwords;

fn shared_secret_inventory(s: &Synapse) -> std::path::PathBuf {
    write_file(
        "fault-inventory.yaml",
        &format!(
            "all:\n  hosts:\n    syn:\n      server_name: {SERVER_NAME}\n      backend: shared-secret\n      url: {}\n      shared_secret: {{file: {}}}\n",
            s.url,
            s.secret_file().display()
        ),
    )
}

fn bulk(
    users: &std::path::Path,
    pw: &std::path::Path,
    inv: &std::path::Path,
    per_host: &str,
) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_provision"));
    cmd.args([
        "register",
        "--from",
        users.to_str().unwrap(),
        "--passwords-out",
        pw.to_str().unwrap(),
    ])
    .args([
        "--per-host",
        per_host,
        "-i",
        inv.to_str().unwrap(),
        "--output",
        "json",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    cmd
}

fn finish(mut child: Child) -> (Option<i32>, serde_json::Value, String) {
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let code = child.wait().unwrap().code();
    let doc = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (code, doc, format!("{stdout}{stderr}"))
}

#[test]
fn ctrl_c_finishes_what_is_in_flight_reports_the_rest_and_a_rerun_completes() {
    // bcrypt's default cost makes each registration take a while: time to interrupt.
    let s = synapse_with_rounds("fault-sigint", 12);
    let (users, pw) = users(40);
    let inv = shared_secret_inventory(&s);
    let child = bulk(&users, &pw, &inv, "2").spawn().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let (code, doc, all) = finish(child);
    assert_eq!(code, Some(130), "{all}");
    let user_results = doc["host_users"][0]["users"].as_array().unwrap();
    let done: Vec<&serde_json::Value> = user_results
        .iter()
        .filter(|u| u["status"] == "changed")
        .collect();
    let not_started = user_results
        .iter()
        .filter(|u| u["status"] == "not_started")
        .count();
    assert_eq!(doc["users"]["not_started"], not_started, "{all}");
    assert_eq!(
        doc["users"]["failed"], 0,
        "never-started users are not failures: {all}"
    );
    assert!(
        !done.is_empty() && not_started > 0,
        "some done, the rest reported: {all}"
    );
    assert_eq!(
        done.len() + not_started,
        40,
        "every user is either done or reported: {all}"
    );
    // What was reported done is done.
    let pws: std::collections::HashMap<String, String> = passwords(&pw).into_iter().collect();
    for u in &done {
        let name = u["user"].as_str().unwrap();
        assert!(
            s.login(name, &pws[name]).is_ok(),
            "{name} was reported created"
        );
    }
    // The same command again finishes the job, with the same passwords.
    let (code, doc, all) = finish(bulk(&users, &pw, &inv, "8").spawn().unwrap());
    assert_eq!(code, Some(0), "{all}");
    assert_eq!(doc["users"]["changed"], not_started, "{all}");
    assert_eq!(doc["users"]["ok"], done.len());
    for (name, password) in passwords(&pw) {
        assert!(s.login(&name, &password).is_ok(), "{name}");
    }
}

#[test]
fn synapse_restarted_mid_bulk_is_ridden_out() {
    let mut s = synapse_with_rounds("fault-restart", 12);
    let (users, pw) = users(40);
    let inv = shared_secret_inventory(&s);
    let child = bulk(&users, &pw, &inv, "2").spawn().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    s.restart();
    let (code, doc, all) = finish(child);
    assert_eq!(
        code,
        Some(0),
        "connection errors were retried until Synapse was back: {all}"
    );
    assert_eq!(doc["users"]["failed"], 0, "{all}");
    // Exactly the requested users, each with its password: none lost, none registered twice
    // (Synapse refuses a second registration, which provision reports as exists).
    let pws = passwords(&pw);
    assert_eq!(pws.len(), 40);
    for (name, password) in pws {
        assert!(s.login(&name, &password).is_ok(), "{name}");
    }
}

/// Kills a process and everything it started (sshd forks a process per connection).
fn kill_tree(pid: u32) {
    let children = Command::new("pgrep")
        .args(["-P", &pid.to_string()])
        .output()
        .unwrap();
    for child in String::from_utf8_lossy(&children.stdout).split_whitespace() {
        kill_tree(child.parse().unwrap());
    }
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
}

#[test]
fn sshd_killed_mid_bulk_fails_that_host_alone_and_a_rerun_completes() {
    // Three hosts over SSH, each in front of its own Synapse.
    let servers = [synapse(), pg_synapse(), docker_synapse()];
    let addresses = ["127.0.0.50", "127.0.0.51", "127.0.0.52"];
    let d = sshd_fleet(&unique("fault-sshd"), &addresses);
    let mut yaml = format!(
        "all:\n  vars:\n    server_name: {SERVER_NAME}\n    backend: synapse-cli\n    via: tool\n    transport: ssh\n  hosts:\n"
    );
    for (i, (s, a)) in servers.iter().zip(addresses).enumerate() {
        yaml.push_str(&format!(
            "    h{i}:\n      ssh: {}\n      config: {}\n      url: {}\n      command: {}\n",
            d.ssh_vars(a),
            s.config().display(),
            s.url,
            s.register_tool()
        ));
    }
    let inv = write_file("fault-ssh.yaml", &yaml);
    let (users, pw) = users(16);
    let child = bulk(&users, &pw, &inv, "2").spawn().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let pid_file = d.dir.join(format!("sshd-{}.pid", addresses[0]));
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    kill_tree(pid);
    let (code, doc, all) = finish(child);
    assert_eq!(code, Some(4), "{all}");
    let hosts = doc["host_users"].as_array().unwrap();
    assert_eq!(hosts[0]["status"], "unreachable", "{all}");
    let message = hosts[0]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("unreachable"),
        "the killed host's line says what could not be done: {message}"
    );
    assert!(
        hosts[0]["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["message"].as_str().unwrap().contains("ssh")),
        "the reason names SSH: {all}"
    );
    for h in &hosts[1..] {
        assert_eq!(h["status"], "changed", "the other hosts finish: {all}");
    }

    // The host comes back; the same command completes only what is missing.
    let config = d.dir.join(format!("sshd-{}.conf", addresses[0]));
    let mut sshd = Command::new("/usr/sbin/sshd")
        .args(["-D", "-f", config.to_str().unwrap(), "-E"])
        .arg(d.dir.join(format!("{}-again.log", addresses[0])))
        .spawn()
        .unwrap();
    let up = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        std::net::TcpStream::connect((addresses[0], d.port)).is_ok()
    });
    assert!(up, "sshd restarted");
    let (code, doc, all) = finish(bulk(&users, &pw, &inv, "4").spawn().unwrap());
    let _ = sshd.kill();
    let _ = sshd.wait();
    assert_eq!(code, Some(0), "{all}");
    let hosts = doc["host_users"].as_array().unwrap();
    assert_eq!(hosts[1]["status"], "ok");
    assert_eq!(hosts[2]["status"], "ok");
    for (s, host) in servers.iter().zip(hosts) {
        for (name, password) in passwords(&pw) {
            assert!(
                s.login(&name, &password).is_ok(),
                "{name} on {}",
                host["host"]
            );
        }
    }
}

#[test]
fn a_host_that_accepts_and_never_answers_is_bounded_by_the_timeout() {
    let port = crate::fixtures::silent_port();
    let s = synapse();
    let inv = write_file(
        "blackhole.yaml",
        &format!(
            "all:\n  vars:\n    server_name: {SERVER_NAME}\n    backend: shared-secret\n  hosts:\n    silent:\n      url: http://127.0.0.1:{port}\n      shared_secret: {{file: {}}}\n    fine:\n      url: {}\n      shared_secret: {{file: {}}}\n",
            s.secret_file().display(),
            s.url,
            s.secret_file().display()
        ),
    );
    let user = unique("blackhole");
    let out = provision(
        &[
            "register",
            &user,
            "--password-stdin",
            "--timeout",
            "3",
            "-i",
            inv.to_str().unwrap(),
            "--output",
            "json",
        ],
        "bh-pw",
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let doc = json(&out);
    assert_eq!(doc["hosts"][0]["status"], "failed");
    assert_eq!(doc["hosts"][0]["message"], "timed out after 3s");
    assert_eq!(
        doc["hosts"][1]["status"], "changed",
        "the other host was not held up"
    );
    assert!(s.login(&user, "bh-pw").is_ok());
}

#[test]
fn a_stopped_container_is_named() {
    let name = unique("provision-stopped");
    let created = Command::new("docker")
        .args([
            "create",
            "--name",
            &name,
            "provision-test-empty",
            "/bin/true",
        ])
        .output()
        .unwrap();
    if !created.status.success() {
        // The image is made by the Docker Synapse fixture; make sure it exists, then retry.
        let _ = docker_synapse();
        assert!(
            Command::new("docker")
                .args([
                    "create",
                    "--name",
                    &name,
                    "provision-test-empty",
                    "/bin/true"
                ])
                .status()
                .unwrap()
                .success()
        );
    }
    let s = synapse();
    let inv = write_file(
        "stopped.yaml",
        &format!(
            "all:\n  hosts:\n    stopped:\n      server_name: {SERVER_NAME}\n      backend: synapse-cli\n      transport: docker\n      docker: {{container: {name}}}\n      config: {}\n",
            s.config().display()
        ),
    );
    let out = provision(
        &[
            "register",
            &unique("stopped"),
            "--password-stdin",
            "-i",
            inv.to_str().unwrap(),
            "--output",
            "json",
        ],
        "pw-stopped",
    );
    let _ = Command::new("docker").args(["rm", "-f", &name]).output();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert_eq!(json(&out)["hosts"][0]["status"], "unreachable");
    let message = json(&out)["hosts"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains(&name) && message.contains("is not running"),
        "{message}"
    );
}

#[test]
fn loose_secret_file_permissions_are_warned_about() {
    let s = synapse();
    let loose = write_file(
        "loose-secret",
        &std::fs::read_to_string(s.secret_file()).unwrap(),
    );
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    let inv = write_file(
        "loose.yaml",
        &format!(
            "all:\n  hosts:\n    syn:\n      server_name: {SERVER_NAME}\n      backend: shared-secret\n      url: {}\n      shared_secret: {{file: {}}}\n",
            s.url,
            loose.display()
        ),
    );
    let out = provision(
        &[
            "register",
            &unique("loose"),
            "--password-stdin",
            "-i",
            inv.to_str().unwrap(),
        ],
        "pw-loose",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("readable by group or others (mode 644)"),
        "{stderr}"
    );
}

#[test]
fn tls_is_verified_unless_insecure_is_asked_for() {
    let server = self_signed_tls();
    let port = server.port;
    let secret = write_file("tls-secret", "s");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let inv = write_file(
        "tls.yaml",
        &format!(
            "all:\n  hosts:\n    selfsigned:\n      server_name: {SERVER_NAME}\n      backend: shared-secret\n      url: https://127.0.0.1:{port}\n      shared_secret: {{file: {}}}\n",
            secret.display()
        ),
    );
    let out = provision(
        &[
            "register",
            "tlsuser",
            "--check",
            "-i",
            inv.to_str().unwrap(),
            "--output",
            "json",
        ],
        "",
    );
    let verified = json(&out)["hosts"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = provision(
        &[
            "register",
            "tlsuser",
            "--check",
            "--insecure",
            "-i",
            inv.to_str().unwrap(),
            "--output",
            "json",
        ],
        "",
    );
    let insecure = json(&out)["hosts"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    drop(server);
    assert!(
        verified.to_lowercase().contains("certificate"),
        "refused for its certificate: {verified}"
    );
    assert!(
        !insecure.to_lowercase().contains("certificate"),
        "--insecure gets past TLS: {insecure}"
    );
}

#[test]
fn a_10_mb_inventory_is_refused_with_a_clear_message() {
    let mut yaml = String::from(
        "all:\n  vars:\n    server_name: example.com\n    backend: shared-secret\n    shared_secret: {env: UNUSED}\n  hosts:\n",
    );
    let mut i = 0;
    while yaml.len() < 10 * 1024 * 1024 {
        yaml.push_str(&format!(
            "    host-{i:07}:\n      url: https://matrix-{i:07}.example.com\n"
        ));
        i += 1;
    }
    let path = write_file("big-inventory.yaml", &yaml);
    let out = provision(
        &[
            "-i",
            path.to_str().unwrap(),
            "inventory",
            "--limit",
            "host-0000001",
            "--output",
            "json",
        ],
        "",
    );
    // About 125,000 hosts: past what the YAML reader is allowed to build, so the memory it
    // takes stays bounded; one message says so, at the place it stopped.
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("the inventory is too large") && shown.contains("big-inventory.yaml:"),
        "{shown}"
    );
    assert_eq!(
        shown.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{shown}"
    );
}

#[test]
fn a_bulk_host_out_of_time_keeps_what_it_finished() {
    // bcrypt's default cost: 60 users at two at a time take longer than the 4 s allowed.
    let s = synapse_with_rounds("fault-timeout", 12);
    let (users, pw) = users(60);
    let inv = shared_secret_inventory(&s);
    let mut cmd = bulk(&users, &pw, &inv, "2");
    cmd.args(["--timeout", "4"]);
    let (code, doc, all) = finish(cmd.spawn().unwrap());
    assert_eq!(code, Some(1), "{all}");
    let host = &doc["host_users"][0];
    let results = host["users"].as_array().unwrap();
    let done: Vec<&serde_json::Value> = results
        .iter()
        .filter(|u| u["status"] == "changed")
        .collect();
    let timed_out = results.iter().filter(|u| u["error"] == "timed_out").count();
    assert!(!done.is_empty(), "what finished is kept: {all}");
    assert!(timed_out > 0, "the rest is marked: {all}");
    assert_eq!(done.len() + timed_out, 60, "{all}");
    assert_eq!(
        doc["users"]["changed"],
        done.len(),
        "the totals count them: {all}"
    );
    let pws: std::collections::HashMap<String, String> = passwords(&pw).into_iter().collect();
    for u in &done {
        let name = u["user"].as_str().unwrap();
        assert!(
            s.login(name, &pws[name]).is_ok(),
            "{name} was reported created"
        );
    }
}
