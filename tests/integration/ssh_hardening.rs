//! The SSH transport under attack and faults, against real sshd hosts, sudo and Synapse:
//! sudo never feeds the tool its password, the inventory's SSH options are applied or
//! refused, a dropped connection is re-established once, a missing tool fails at once, and the
//! SSH master never outlives provision. RELIABILITY.md has a section per class.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::fixtures::{
    FLEET, SERVER_NAME, Sshd, argv_recorder, docker_synapse, json, provision, scratch, sshd,
    sshd_fleet_logging, synapse, text, unique, write_file,
};

/// A fleet of this file's own: its connection counts and logs are disturbed by no other test.
/// JUMP is a bastion, BEHIND is reached through it, DROPS has its connections killed.
const JUMP: &str = "127.0.0.70";
const BEHIND: &str = "127.0.0.71";
const DROPS: &str = "127.0.0.72";
const STOPS: &str = "127.0.0.73";
/// A host whose admin API is reached over its own SSH connection (`url_on_host`).
const FORWARDS: &str = "127.0.0.74";

/// DEBUG1: sshd logs each connection a jump host forwards (`server_request_direct_tcpip`,
/// openssh-portable serverloop.c).
fn fleet() -> &'static Sshd {
    static FLEET: OnceLock<Sshd> = OnceLock::new();
    FLEET.get_or_init(|| {
        sshd_fleet_logging(
            "ssh-hardening",
            &[JUMP, BEHIND, DROPS, STOPS, FORWARDS],
            "DEBUG1",
        )
    })
}

/// Tests that count DROPS's connections hold this.
fn drops_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn inventory(name: &str, vars: &str) -> PathBuf {
    let mut yaml =
        format!("all:\n  vars:\n    server_name: {SERVER_NAME}\n  hosts:\n    {name}:\n");
    for line in vars.lines() {
        yaml.push_str(&format!("      {line}\n"));
    }
    write_file("ssh-hardening.yaml", &yaml)
}

fn executable(path: &Path, script: &str) {
    std::fs::write(path, script).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn register(inv: &Path, user: &str, password: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "register",
        user,
        "--password-stdin",
        "-i",
        inv.to_str().unwrap(),
        "--output",
        "json",
    ];
    args.extend(extra);
    provision(&args, password)
}

fn message(out: &std::process::Output) -> String {
    json(out)["hosts"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

// ---------------------------------------------------------------------------------------
// sudo never feeds the tool its password

/// A host reached as `user`, the tool through sudo with `become_password` from `password`.
fn become_vars(user: &str, password: &Path, tool: &Path) -> String {
    let s = synapse();
    let d = sshd();
    format!(
        "backend: synapse-cli\nvia: tool\ntransport: ssh\nssh: {{host: {}, port: {}, user: {user}, identity_file: {}, known_hosts: {}, become: true, become_password: {{file: {}}}}}\nconfig: {}\nurl: {}\ncommand: {}",
        FLEET[0],
        d.port,
        d.dir.join("id_ed25519").display(),
        d.dir.join("known_hosts").display(),
        password.display(),
        s.config().display(),
        s.url,
        tool.display()
    )
}

#[test]
fn become_gives_the_tool_exactly_its_password_whether_sudo_asks_or_not() {
    let s = synapse();
    let d = sshd();
    let sudo_password = d.dir.join("sudo_password");
    // The sudo of provision-nopw never asks (NOPASSWD): the become_password given anyway
    // used to be the tool's first line of input.
    let unasked = write_file("unasked-sudo-pw", "never-asked-for\n");
    for (sudoer, password_file) in [
        ("provision-test", &sudo_password),
        ("provision-nopw", &unasked),
    ] {
        let (tool, argv) = argv_recorder(&scratch(), &s.register_tool());
        let inv = inventory("sudoer", &become_vars(sudoer, password_file, &tool));
        let user = unique("sudo");
        let out = register(&inv, &user, "exactly-this-pw", &["-vv"]);
        assert_eq!(out.status.code(), Some(0), "{sudoer}: {}", text(&out));
        assert_eq!(json(&out)["hosts"][0]["outcome"], "created", "{sudoer}");
        assert!(
            s.login(&user, "exactly-this-pw").is_ok(),
            "{sudoer}: the user logs in with exactly the password given"
        );
        let given = std::fs::read_to_string(password_file).unwrap();
        assert!(
            s.login(&user, &format!("{}\nexactly-this-pw", given.trim()))
                .is_err()
        );
        assert!(!text(&out).contains(given.trim()), "{sudoer}");
        crate::fixtures::assert_argv_clean(&argv, "exactly-this-pw");
        crate::fixtures::assert_argv_clean(&argv, given.trim());
    }
}

#[test]
fn a_wrong_become_password_fails_once_and_the_matrix_password_never_reaches_sudo() {
    let s = synapse();
    let (tool, argv) = argv_recorder(&scratch(), &s.register_tool());
    let wrong = write_file("wrong-sudo-pw", "not-the-sudo-password\n");
    let inv = inventory("sudoer", &become_vars("provision-test", &wrong, &tool));
    let user = unique("wrongsudo");
    let out = register(&inv, &user, "matrix-pw-not-for-sudo", &["-v"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(json(&out)["hosts"][0]["status"], "failed");
    let msg = message(&out);
    assert!(msg.contains("sudo: wrong become_password"), "{msg}");
    // sudo's own count: the one password provision gave. Before, sudo read the Matrix
    // password as its second attempt and said "2 incorrect password attempts".
    assert!(msg.contains("1 incorrect password attempt"), "{msg}");
    assert!(!text(&out).contains("retrying"), "{}", text(&out));
    assert!(!argv.exists(), "the tool never ran");
    assert_eq!(s.admin_flag(&user), None);
}

// ---------------------------------------------------------------------------------------
// SSH options are applied or refused

/// A playbook inventory (INI hosts and host_vars) for one host with these
/// `ansible_ssh_common_args`.
fn playbook(host: &str, port: u16, common_args: &str, client_port: &str) -> PathBuf {
    let d = fleet();
    let dir = scratch().join(unique("pb-ssh"));
    std::fs::create_dir_all(dir.join("host_vars/matrix.test")).unwrap();
    std::fs::write(
        dir.join("hosts"),
        format!(
            "[matrix_servers]\nmatrix.test ansible_host={host} ansible_port={port} ansible_ssh_user=root ansible_ssh_private_key_file={} ansible_ssh_common_args='-o UserKnownHostsFile={} {common_args}'\n",
            d.dir.join("id_ed25519").display(),
            d.dir.join("known_hosts").display(),
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("host_vars/matrix.test/vars.yml"),
        format!(
            "matrix_domain: {SERVER_NAME}\nmatrix_synapse_container_client_api_port: {client_port}\ndevture_postgres_enabled: false\n"
        ),
    )
    .unwrap();
    dir.join("hosts")
}

fn log(d: &Sshd, address: &str) -> String {
    std::fs::read_to_string(d.dir.join(format!("{address}.log"))).unwrap_or_default()
}

#[test]
fn a_proxyjump_in_a_playbook_inventory_is_taken_through_the_bastion() {
    let s = docker_synapse();
    let d = fleet();
    let client_port = s.url.rsplit(':').next().unwrap();
    let hosts = playbook(
        BEHIND,
        d.port,
        &format!("-o ProxyJump=root@{JUMP}:{}", d.port),
        client_port,
    );
    let forwarded = format!("target {BEHIND} port {}", d.port);
    let (jump_before, behind_before) = (d.connections(JUMP), d.connections(BEHIND));
    let via_before = log(d, JUMP).matches(&forwarded).count();
    let user = unique("jump");
    let out = provision(
        &[
            "register",
            &user,
            "--password-stdin",
            "-i",
            hosts.to_str().unwrap(),
            "--output",
            "json",
        ],
        "jump-pw",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(s.login(&user, "jump-pw").is_ok());
    // One login on the bastion, one on the host, and the bastion forwarded the connection
    // to the host (before, provision went straight to the host: no login on the bastion).
    assert_eq!(d.connections(JUMP) - jump_before, 1, "{}", log(d, JUMP));
    assert_eq!(d.connections(BEHIND) - behind_before, 1);
    assert_eq!(
        log(d, JUMP).matches(&forwarded).count() - via_before,
        1,
        "the bastion forwarded the connection: {}",
        log(d, JUMP)
    );
}

#[test]
fn ssh_options_provision_does_not_apply_are_refused_at_their_line() {
    let d = fleet();
    for (args, says) in [
        (
            "-o ForwardX11=yes",
            "does not apply the ssh option `ForwardX11`",
        ),
        (
            "-o ControlPersist=60s",
            "ssh option `ControlPersist` is refused",
        ),
        ("-C", "does not apply the ssh argument `-C`"),
    ] {
        let hosts = playbook(BEHIND, d.port, args, "8008");
        let before = d.connections(BEHIND);
        let out = provision(
            &[
                "register",
                &unique("refused"),
                "--password-stdin",
                "-i",
                hosts.to_str().unwrap(),
            ],
            "pw",
        );
        assert_eq!(out.status.code(), Some(2), "{args}: {}", text(&out));
        let shown = text(&out);
        assert!(shown.contains(says), "{args}: {shown}");
        assert!(shown.contains("ansible_ssh_common_args"), "{shown}");
        assert!(shown.contains("hosts:2"), "file and line: {shown}");
        assert_eq!(d.connections(BEHIND), before, "nothing connected");
    }
}

// ---------------------------------------------------------------------------------------
// A dropped connection is re-established once; a missing tool fails at once

/// A wrapper around the real tool that, while `drops` says so, kills the sshd process of its
/// own connection instead of running: the server drops provision's master connection in the
/// middle of the run. `drops` holds how many more times to do it.
fn dropping_tool(drops: &Path, real: &str) -> PathBuf {
    let wrapper = scratch().join(unique("drops"));
    executable(
        &wrapper,
        &format!(
            r#"#!/bin/sh
n=$(cat '{drops}')
if [ "$n" -gt 0 ]; then
  echo $((n - 1)) > '{drops}'
  pid=$$
  while [ "$pid" -gt 1 ]; do
    pid=$(cut -d' ' -f4 /proc/$pid/stat)
    # The connection's own process ("sshd: root@notty"), never the listener (sshd -D ...).
    case "$(tr '\0' ' ' < /proc/$pid/cmdline)" in
      "sshd: "*) kill -KILL "$pid"; exit 1 ;;
    esac
  done
  exit 1
fi
exec '{real}' "$@"
"#,
            drops = drops.display()
        ),
    );
    wrapper
}

fn drops_inventory(tool: &Path) -> PathBuf {
    let s = synapse();
    let d = fleet();
    inventory(
        "drops",
        &format!(
            "backend: synapse-cli\nvia: tool\ntransport: ssh\nssh: {}\nconfig: {}\nurl: {}\ncommand: {}",
            d.ssh_vars(DROPS),
            s.config().display(),
            s.url,
            tool.display()
        ),
    )
}

#[test]
fn a_dropped_connection_is_re_established_once_and_the_command_succeeds() {
    let s = synapse();
    let d = fleet();
    let _counting = drops_lock();
    let drops = write_file("drops", "1\n");
    let inv = drops_inventory(&dropping_tool(&drops, &s.register_tool()));
    let before = d.connections(DROPS);
    let user = unique("redial");
    let out = register(&inv, &user, "redial-pw", &["-v"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(json(&out)["hosts"][0]["outcome"], "created");
    assert!(s.login(&user, "redial-pw").is_ok());
    // Before, the dead master was kept: every retry failed on it, no new login, exit 4.
    assert_eq!(d.connections(DROPS) - before, 2, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let again = format!("connecting to root@{DROPS}:{} again", d.port);
    assert_eq!(stderr.matches(&again).count(), 1, "{stderr}");
}

#[test]
fn a_connection_dropped_twice_is_not_re_established_again() {
    let s = synapse();
    let d = fleet();
    let _counting = drops_lock();
    let drops = write_file("drops", "100\n");
    let inv = drops_inventory(&dropping_tool(&drops, &s.register_tool()));
    let before = d.connections(DROPS);
    let user = unique("redial");
    let out = register(&inv, &user, "redial-pw", &["-v"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let msg = message(&out);
    assert!(
        msg.contains("lost again, after it had been re-established once"),
        "{msg}"
    );
    assert_eq!(d.connections(DROPS) - before, 2, "{}", text(&out));
    assert_eq!(s.admin_flag(&user), None);
}

#[test]
fn a_tool_missing_on_the_host_fails_at_once_naming_its_path() {
    let s = synapse();
    let d = sshd();
    let missing = "/nonexistent/provision-no-such-tool";
    let inv = inventory(
        "missing",
        &format!(
            "backend: synapse-cli\nvia: tool\ntransport: ssh\nssh: {}\nconfig: {}\ncommand: {missing}",
            d.ssh_vars(FLEET[1]),
            s.config().display()
        ),
    );
    let out = register(&inv, &unique("missing"), "missing-pw", &["-v"]);
    // Before: "unreachable" after six attempts over about 15 s, exit 4.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(json(&out)["hosts"][0]["status"], "failed");
    let msg = message(&out);
    assert!(msg.contains(missing), "{msg}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("retrying").count(), 0, "{stderr}");
}

// ---------------------------------------------------------------------------------------
// The SSH master and its sockets never outlive provision

/// A bulk run over SSH whose first registration holds until `release` exists, with TMPDIR
/// a folder of its own (short: socket paths must fit in 108 bytes) where provision's
/// private directory goes.
struct HeldRun {
    child: Child,
    work: PathBuf,
    prefix: String,
    tmp: tempfile::TempDir,
    release: PathBuf,
}

fn held_run() -> HeldRun {
    let s = synapse();
    let d = fleet();
    let work = scratch().join(unique("held"));
    std::fs::create_dir_all(&work).unwrap();
    let started = work.join("started");
    let release = work.join("release");
    let tool = work.join("tool");
    executable(
        &tool,
        &format!(
            "#!/bin/sh\n: > '{started}'\ni=0\nwhile [ ! -e '{release}' ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\nexec '{}' \"$@\"\n",
            s.register_tool(),
            started = started.display(),
            release = release.display()
        ),
    );
    let inv = inventory(
        "held",
        &format!(
            "backend: synapse-cli\nvia: tool\ntransport: ssh\nssh: {}\nconfig: {}\nurl: {}\ncommand: {}",
            d.ssh_vars(STOPS),
            s.config().display(),
            s.url,
            tool.display()
        ),
    );
    let prefix = unique("held");
    let users = work.join("users.csv");
    let mut csv = String::from("user\n");
    for i in 0..6 {
        csv.push_str(&format!("{prefix}-{i}\n"));
    }
    std::fs::write(&users, csv).unwrap();
    let tmp = tempfile::Builder::new()
        .prefix("pv")
        .tempdir_in("/tmp")
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_provision"))
        .args(["register", "--from"])
        .arg(&users)
        .arg("--passwords-out")
        .arg(work.join("passwords.csv"))
        .args(["--per-host", "1", "-i"])
        .arg(&inv)
        .args(["--output", "json"])
        .env("TMPDIR", tmp.path())
        .env_remove("PROVISION_INVENTORY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    eventually("the first registration starts", || started.exists());
    HeldRun {
        child,
        work,
        prefix,
        tmp,
        release,
    }
}

/// Polls `done` every 50 ms for up to a minute: a bound for a slow machine, not a claim
/// about speed.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what}: not after a minute"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The ssh processes whose command line names `dir` (the masters of the run whose TMPDIR
/// it is).
fn ssh_processes(dir: &Path) -> Vec<u32> {
    let dir = dir.to_str().unwrap();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            let is_ssh = args
                .first()
                .is_some_and(|a| a.ends_with(b"ssh") && !a.ends_with(b"sshd"));
            is_ssh && String::from_utf8_lossy(&cmdline).contains(dir)
        })
        .collect()
}

/// Every file under `dir`, sockets included.
fn everything_in(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(everything_in(&path));
        }
        found.push(path);
    }
    found
}

fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn sigterm_stops_a_bulk_run_in_order_and_leaves_no_master_or_socket() {
    let s = synapse();
    let run = held_run();
    let masters = ssh_processes(run.tmp.path());
    assert_eq!(masters.len(), 1, "one master for the host");
    assert!(
        everything_in(run.tmp.path())
            .iter()
            .any(|p| p.file_name().unwrap() == "s0"),
        "the control socket is in the private directory: {:?}",
        everything_in(run.tmp.path())
    );
    signal(run.child.id(), "TERM");
    std::fs::write(&run.release, "").unwrap();
    let out = run.child.wait_with_output().unwrap();
    // 130, as for Ctrl-C: the same orderly stop, and the same "run it again to finish".
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    let doc = json(&out);
    assert_eq!(
        doc["users"]["changed"], 1,
        "the one in flight finished: {doc}"
    );
    assert_eq!(doc["users"]["not_started"], 5, "{doc}");
    for pid in masters {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "the master {pid} ended with the run"
        );
    }
    assert_eq!(
        everything_in(run.tmp.path()),
        Vec::<PathBuf>::new(),
        "nothing left in TMPDIR"
    );
    // The one in flight was created with the password kept for it.
    let kept = std::fs::read_to_string(run.work.join("passwords.csv")).unwrap();
    let first = format!("{}-0,", run.prefix);
    let password = kept
        .lines()
        .find_map(|l| l.strip_prefix(&first))
        .unwrap_or_else(|| panic!("{kept}"));
    assert!(s.login(&format!("{}-0", run.prefix), password).is_ok());
}

#[test]
fn after_sigkill_the_master_ends_by_itself() {
    let mut run = held_run();
    let masters = ssh_processes(run.tmp.path());
    assert_eq!(masters.len(), 1, "one master for the host");
    signal(run.child.id(), "KILL");
    let _ = run.child.wait();
    // Before, the master (ControlPersist=yes, in the background) stayed, its socket open.
    eventually("the master ends after provision was killed", || {
        masters
            .iter()
            .all(|pid| !Path::new(&format!("/proc/{pid}")).exists())
    });
    let sockets: Vec<PathBuf> = everything_in(run.tmp.path())
        .into_iter()
        .filter(|p| {
            use std::os::unix::fs::FileTypeExt;
            std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_socket())
        })
        .collect();
    assert_eq!(
        sockets,
        Vec::<PathBuf>::new(),
        "the master removed its socket"
    );
    std::fs::write(&run.release, "").unwrap();
}

/// `url_on_host`: the admin API as the host sees it, over the host's own SSH connection. The
/// lock is made (the server says so), and sshd logged the forward to the API's port: the
/// requests did not go straight to it.
#[test]
fn url_on_host_reaches_the_admin_api_over_the_hosts_ssh() {
    let s = synapse();
    let d = fleet();
    let port = s.url.rsplit(':').next().unwrap();
    let inv = inventory(
        "fwd",
        &format!(
            "transport: ssh\nssh: {}\nbackend: shared-secret\nurl: {}\nshared_secret: {{file: {}}}\nadmin_backend: synapse-api\nadmin_token: {{file: {}}}\nurl_on_host: http://127.0.0.1:{port}/",
            d.ssh_vars(FORWARDS),
            s.url,
            s.secret_file().display(),
            s.admin_token_file().display(),
        ),
    );
    let user = unique("fwd");
    let out = register(&inv, &user, "forwarded-pw", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let forwarded = format!("target 127.0.0.1 port {port}");
    let before = log(d, FORWARDS).matches(&forwarded).count();
    let out = provision(
        &[
            "lock",
            &user,
            "-i",
            inv.to_str().unwrap(),
            "--output",
            "json",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        json(&out)["hosts"][0]["outcome"],
        "locked",
        "{}",
        text(&out)
    );
    assert_eq!(s.record(&user).unwrap()["locked"], true);
    assert!(
        log(d, FORWARDS).matches(&forwarded).count() > before,
        "sshd forwarded to the API: {}",
        log(d, FORWARDS)
    );
    let out = provision(
        &["unlock", &user, "--check", "-i", inv.to_str().unwrap()],
        "",
    );
    assert!(
        text(&out).contains(&format!("on the host, over ssh root@{FORWARDS}")),
        "{}",
        text(&out)
    );
}
