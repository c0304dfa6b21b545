//! provision against the real peers, side by side, in one run: `cargo bench --bench peers`
//! (about ten minutes), or `cargo bench --bench peers -- --quick` (about two). It starts its
//! own Synapse servers and sshd hosts with the test fixtures, prints a table of rates and
//! ratios, and writes it to target/bench/results.md. Absolute figures are noisy on a shared
//! 2-core machine; the ratios, measured minutes apart in one run, are what to compare.

#[allow(dead_code, unused_imports)]
#[path = "../tests/integration/fixtures/mod.rs"]
mod fixtures;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fixtures::{
    SERVER_NAME, Synapse, scratch, sshd_fleet, synapse_with_rounds, unique, write_file,
};
use hmac::{Hmac, KeyInit, Mac};

const PROVISION: &str = env!("CARGO_BIN_EXE_provision");
/// Requests in flight at once, for provision (`--per-host`) and the floor client alike.
const CONCURRENCY: usize = 8;

struct Sizes {
    bulk: usize,
    tool_loop: usize,
    ssh_users: usize,
    fleet: usize,
    footprint_users: usize,
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let sizes = if quick {
        Sizes {
            bulk: 30,
            tool_loop: 8,
            ssh_users: 8,
            fleet: 8,
            footprint_users: 200,
        }
    } else {
        Sizes {
            bulk: 200,
            tool_loop: 40,
            ssh_users: 40,
            fleet: 8,
            footprint_users: 1000,
        }
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# provision benchmarks{}\n",
        if quick { " (quick)" } else { "" }
    );
    let _ = writeln!(out, "- date: {}", shell("date -u '+%Y-%m-%d %H:%M UTC'"));
    let _ = writeln!(
        out,
        "- machine: {} cores, {}",
        shell("nproc"),
        shell("free -h | awk '/Mem:/ {print $2}'")
    );
    let _ = writeln!(
        out,
        "- provision: {} (release build)",
        shell(&format!("{PROVISION} --version"))
    );
    let _ = writeln!(
        out,
        "- command: `cargo bench --bench peers{}`\n",
        if quick { " -- --quick" } else { "" }
    );
    flush(&out);

    // PROVISION_BENCH_ONLY=http|ssh|fleet|footprint runs one part, for working on it.
    let only = std::env::var("PROVISION_BENCH_ONLY").unwrap_or_default();
    let part = |name: &str| only.is_empty() || only == name;
    if part("http") {
        for rounds in [4, 12] {
            bulk_http(&mut out, &sizes, rounds);
        }
    }
    if part("ssh") {
        bulk_ssh(&mut out, &sizes);
    }
    if part("fleet") {
        fan_out(&mut out, &sizes);
    }
    if part("footprint") {
        footprint(&mut out, &sizes);
    }

    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("results.md"), &out).unwrap();
    println!("\n{out}\n(written to target/bench/results.md)");
}

fn shell(cmd: &str) -> String {
    let out = Command::new("sh").args(["-c", cmd]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn flush(s: &str) {
    eprintln!("{}", s.lines().last().unwrap_or(""));
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn users_csv(prefix: &str, n: usize) -> std::path::PathBuf {
    let mut csv = String::from("user,admin,password_file\n");
    for i in 0..n {
        csv.push_str(&format!("{prefix}-{i},,\n"));
    }
    write_file("bench-users.csv", &csv)
}

fn shared_secret_inventory(s: &Synapse) -> std::path::PathBuf {
    write_file(
        "bench-http.yaml",
        &format!(
            "all:\n  hosts:\n    bench:\n      server_name: {SERVER_NAME}\n      backend: shared-secret\n      url: {}\n      shared_secret: {{file: {}}}\n",
            s.url,
            s.secret_file().display()
        ),
    )
}

/// Runs provision; its wall time. Panics with its output if it failed.
fn provision(args: &[&str]) -> Duration {
    let start = Instant::now();
    let out = Command::new(PROVISION)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let elapsed = start.elapsed();
    assert!(
        out.status.success(),
        "provision {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

fn bulk_provision(s: &Synapse, n: usize) -> Duration {
    let users = users_csv(&unique("p"), n);
    let pw = scratch().join(unique("bench-pw.csv"));
    let inv = shared_secret_inventory(s);
    let per_host = CONCURRENCY.to_string();
    provision(&[
        "register",
        "--from",
        users.to_str().unwrap(),
        "--passwords-out",
        pw.to_str().unwrap(),
        "--per-host",
        &per_host,
        "-i",
        inv.to_str().unwrap(),
    ])
}

/// The floor: the same requests (nonce, then the HMAC-signed registration with
/// `inhibit_login`) sent by the simplest client at the same concurrency.
fn floor_client(s: &Synapse, n: usize) -> Duration {
    let secret = std::fs::read_to_string(s.secret_file())
        .unwrap()
        .trim()
        .to_owned();
    let prefix = unique("f");
    let url = format!("{}/_synapse/admin/v1/register", s.url);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let client = reqwest::Client::new();
        let next = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let mut workers = Vec::new();
        for _ in 0..CONCURRENCY {
            let (client, next, url, secret, prefix) =
                (client.clone(), next.clone(), url.clone(), secret.clone(), prefix.clone());
            workers.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let user = format!("{prefix}-{i}");
                    let nonce: serde_json::Value = client.get(&url).send().await.unwrap().json().await.unwrap();
                    let nonce = nonce["nonce"].as_str().unwrap().to_owned();
                    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
                    mac.update(format!("{nonce}\0{user}\0floor-password\0notadmin").as_bytes());
                    let body = serde_json::json!({
                        "nonce": nonce, "username": user, "password": "floor-password", "admin": false,
                        "mac": hex::encode(mac.finalize().into_bytes()), "inhibit_login": true,
                    });
                    let resp = client.post(&url).json(&body).send().await.unwrap();
                    assert!(resp.status().is_success(), "floor client: {}", resp.status());
                }
            }));
        }
        for w in workers {
            w.await.unwrap();
        }
        start.elapsed()
    })
}

/// What operators do today: one `register_new_matrix_user` process per user, one after another.
fn tool_loop(s: &Synapse, n: usize, via_ssh: Option<(&fixtures::Sshd, &str)>) -> Duration {
    let prefix = unique("l");
    let tool = s.register_tool();
    let config = s.config();
    let start = Instant::now();
    for i in 0..n {
        let user = format!("{prefix}-{i}");
        let args = [
            tool.as_str(),
            "-c",
            config.to_str().unwrap(),
            "-u",
            &user,
            "--password-file",
            "/dev/stdin",
            "--no-admin",
            &s.url,
        ];
        let mut cmd = match via_ssh {
            None => {
                let mut c = Command::new(args[0]);
                c.args(&args[1..]);
                c
            }
            Some((d, address)) => {
                let mut c = Command::new("ssh");
                c.args(["-i", d.dir.join("id_ed25519").to_str().unwrap()])
                    .args([
                        "-o",
                        &format!("UserKnownHostsFile={}", d.dir.join("known_hosts").display()),
                    ])
                    .args([
                        "-o",
                        "BatchMode=yes",
                        "-p",
                        &d.port.to_string(),
                        &format!("root@{address}"),
                    ])
                    .args(args);
                c
            }
        };
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"loop-password")
            .unwrap();
        assert!(
            child.wait().unwrap().success(),
            "register_new_matrix_user failed for {user}"
        );
    }
    start.elapsed()
}

fn bulk_http(out: &mut String, sizes: &Sizes, rounds: u32) {
    let s = synapse_with_rounds(&format!("bench-synapse-{rounds}"), rounds);
    let n = sizes.bulk;
    let _ = writeln!(
        out,
        "## 1. Bulk on one server, shared-secret HTTP, bcrypt_rounds={rounds}\n\nSynapse {} (SQLite), `rc_registration` 1000/s burst 1000; {n} users, {CONCURRENCY} requests in flight for provision and the floor client (after a warm-up, interleaved, best of two runs each); the `register_new_matrix_user` loop registers {} users one after another.\n",
        shell(&format!(
            "{} -c 'import synapse; print(synapse.__version__)'",
            s.register_tool()
                .replace("register_new_matrix_user", "python")
        )),
        sizes.tool_loop
    );
    // A warm server first (Synapse's first requests pay for lazy imports and cold caches),
    // then each method twice, interleaved, best of two: order effects cancel out.
    floor_client(&s, 20);
    let (mut p, mut f) = (0f64, 0f64);
    for _ in 0..2 {
        p = p.max(rate(n, bulk_provision(&s, n)));
        f = f.max(rate(n, floor_client(&s, n)));
    }
    let l = rate(sizes.tool_loop, tool_loop(&s, sizes.tool_loop, None));
    let _ = writeln!(out, "| method | users/s |\n| --- | ---: |");
    let _ = writeln!(out, "| provision `register --from` | {p:.1} |");
    let _ = writeln!(
        out,
        "| (b) floor client, same requests and concurrency | {f:.1} |"
    );
    let _ = writeln!(out, "| (a) `register_new_matrix_user` loop | {l:.1} |");
    let _ = writeln!(
        out,
        "\nprovision / floor = **{:.2}** (target ≥ 0.9); provision / loop = **{:.1}×** (target ≥ 10×)\n",
        p / f,
        p / l
    );
    flush(out);
}

fn bulk_ssh(out: &mut String, sizes: &Sizes) {
    let s = synapse_with_rounds("bench-synapse-ssh", 4);
    let address = "127.0.0.20";
    let d = sshd_fleet("bench-sshd-one", &[address]);
    let n = sizes.ssh_users;
    let inv = write_file(
        "bench-ssh.yaml",
        &format!(
            "all:\n  hosts:\n    one:\n      server_name: {SERVER_NAME}\n      backend: synapse-cli\n      transport: ssh\n      ssh: {}\n      config: {}\n      url: {}\n      command: {}\n",
            d.ssh_vars(address),
            s.config().display(),
            s.url,
            s.register_tool()
        ),
    );
    let users = users_csv(&unique("s"), n);
    let pw = scratch().join(unique("bench-ssh-pw.csv"));
    let before = d.connections(address);
    let p = rate(
        n,
        provision(&[
            "register",
            "--from",
            users.to_str().unwrap(),
            "--passwords-out",
            pw.to_str().unwrap(),
            "--per-host",
            "4",
            "-i",
            inv.to_str().unwrap(),
        ]),
    );
    let p_conn = d.connections(address) - before;
    let before = d.connections(address);
    let l = rate(n, tool_loop(&s, n, Some((&d, address))));
    let l_conn = d.connections(address) - before;
    let _ = writeln!(
        out,
        "## 2. Bulk through an exec backend over SSH\n\n{n} users through `register_new_matrix_user` on one sshd host (bcrypt_rounds=4).\n\n| method | users/s | SSH connections |\n| --- | ---: | ---: |\n| provision (`--per-host 4`, one multiplexed connection) | {p:.2} | {p_conn} |\n| loop of `ssh host register_new_matrix_user …` | {l:.2} | {l_conn} |\n\nprovision / loop = **{:.1}×** (target ≥ 5×); connections per host: {p_conn} (target: exactly 1)\n",
        p / l
    );
    flush(out);
}

fn fan_out(out: &mut String, sizes: &Sizes) {
    let s = synapse_with_rounds("bench-synapse-fleet", 4);
    let addresses: Vec<String> = (0..sizes.fleet)
        .map(|i| format!("127.0.0.{}", 30 + i))
        .collect();
    let refs: Vec<&str> = addresses.iter().map(String::as_str).collect();
    let d = sshd_fleet("bench-sshd-fleet", &refs);
    let mut yaml = format!(
        "all:\n  vars:\n    server_name: {SERVER_NAME}\n    backend: synapse-cli\n    transport: ssh\n    config: {}\n    url: {}\n    command: {}\n  hosts:\n",
        s.config().display(),
        s.url,
        s.register_tool()
    );
    for (i, a) in addresses.iter().enumerate() {
        yaml.push_str(&format!("    h{i}:\n      ssh: {}\n", d.ssh_vars(a)));
    }
    let inv = write_file("bench-fleet.yaml", &yaml);
    let inv = inv.to_str().unwrap();
    let pw = write_file("bench-fleet.pw", "fleet-password");
    let pw = pw.to_str().unwrap();
    // No --admin: every host is in front of the same Synapse, so all but the first find the
    // user existing, and --admin on an existing user needs an admin_backend.
    let run = |extra: &[&str]| {
        let user = unique("fleet");
        let mut args = vec!["register", &user, "--password-file", pw, "-i", inv];
        args.extend(extra);
        provision(&args)
    };
    let fleet = run(&["--forks", "10"]);
    let singles: Vec<Duration> = (0..sizes.fleet)
        .map(|i| run(&["--limit", &format!("h{i}")]))
        .collect();
    let slowest = singles.iter().max().copied().unwrap_or_default();
    let sequential = run(&["--forks", "1"]);
    let _ = writeln!(
        out,
        "## 3. Fleet fan-out\n\n`provision register USER` through `register_new_matrix_user` on {} sshd hosts (all on this machine, all in front of one Synapse).\n\n| run | wall time (s) |\n| --- | ---: |\n| all hosts at once (`--forks 10`) | {:.2} |\n| slowest single host alone | {:.2} |\n| hosts one after another (`--forks 1`) | {:.2} |\n\nfleet / slowest single = **{:.2}** (target ≤ 1.5); one after another / fleet = {:.1}×\n",
        sizes.fleet,
        fleet.as_secs_f64(),
        slowest.as_secs_f64(),
        sequential.as_secs_f64(),
        fleet.as_secs_f64() / slowest.as_secs_f64(),
        sequential.as_secs_f64() / fleet.as_secs_f64()
    );
    // The same fan-out where each host's work is a request, not a Python process on this
    // machine's two cores: what provision's own fan-out costs.
    let mut yaml = format!(
        "all:\n  vars:\n    server_name: {SERVER_NAME}\n    backend: shared-secret\n  hosts:\n"
    );
    for i in 0..sizes.fleet {
        yaml.push_str(&format!(
            "    h{i}:\n      url: {}\n      shared_secret: {{file: {}}}\n",
            s.url,
            s.secret_file().display()
        ));
    }
    let http_inv = write_file("bench-fleet-http.yaml", &yaml);
    let http_inv = http_inv.to_str().unwrap();
    let run = |extra: &[&str]| {
        let user = unique("fleeth");
        let mut args = vec!["register", &user, "--password-file", pw, "-i", http_inv];
        args.extend(extra);
        provision(&args)
    };
    let (fleet, slowest, sequential) = fleet_times(&run, sizes.fleet);
    let _ = writeln!(
        out,
        "The same over the shared-secret API ({} hosts, each a request to the one Synapse):\n\n| run | wall time (s) |\n| --- | ---: |\n| all hosts at once | {:.3} |\n| slowest single host alone | {:.3} |\n| one after another | {:.3} |\n\nfleet / slowest single = **{:.2}**; one after another / fleet = {:.1}×\n",
        sizes.fleet,
        fleet.as_secs_f64(),
        slowest.as_secs_f64(),
        sequential.as_secs_f64(),
        fleet.as_secs_f64() / slowest.as_secs_f64(),
        sequential.as_secs_f64() / fleet.as_secs_f64()
    );
    flush(out);
}

/// (all hosts at once, the slowest host alone, one host after another).
fn fleet_times(run: &dyn Fn(&[&str]) -> Duration, hosts: usize) -> (Duration, Duration, Duration) {
    let fleet = run(&["--forks", "10"]);
    let singles: Vec<Duration> = (0..hosts)
        .map(|i| run(&["--limit", &format!("h{i}")]))
        .collect();
    let slowest = singles.iter().max().copied().unwrap_or_default();
    let sequential = run(&["--forks", "1"]);
    (fleet, slowest, sequential)
}

/// The peak resident set of a process, from the kernel's high-water mark, polled until it ends.
fn peak_rss_kib(mut child: std::process::Child) -> (u64, bool) {
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_path)
            && let Some(line) = status.lines().find(|l| l.starts_with("VmHWM:"))
        {
            peak = peak.max(
                line.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            );
        }
        if let Ok(Some(status)) = child.try_wait() {
            return (peak, status.success());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn footprint(out: &mut String, sizes: &Sizes) {
    let time = |args: &[&str]| {
        let mut runs: Vec<Duration> = (0..30)
            .map(|_| {
                let start = Instant::now();
                Command::new(PROVISION)
                    .args(args)
                    .stdout(Stdio::null())
                    .status()
                    .unwrap();
                start.elapsed()
            })
            .collect();
        runs.sort();
        runs[runs.len() / 2]
    };
    let version = time(&["--version"]);
    let help = time(&["--help"]);
    let s = synapse_with_rounds("bench-synapse-footprint", 4);
    let n = sizes.footprint_users;
    let users = users_csv(&unique("m"), n);
    let pw = scratch().join(unique("bench-m-pw.csv"));
    let inv = shared_secret_inventory(&s);
    let child = Command::new(PROVISION)
        .args([
            "register",
            "--from",
            users.to_str().unwrap(),
            "--passwords-out",
            pw.to_str().unwrap(),
        ])
        .args(["--per-host", "8", "-i", inv.to_str().unwrap()])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let (peak, ok) = peak_rss_kib(child);
    assert!(ok, "the {n}-user run failed");
    let _ = writeln!(
        out,
        "## 4. Footprint\n\n| measure | value | target |\n| --- | ---: | ---: |\n| `provision --version`, median of 30 (fork+exec included) | {:.1} ms | < 20 ms |\n| `provision --help`, median of 30 | {:.1} ms | < 20 ms |\n| peak RSS, {n}-user bulk run (VmHWM) | {:.1} MB | < 30 MB |\n",
        version.as_secs_f64() * 1000.0,
        help.as_secs_f64() * 1000.0,
        peak as f64 / 1024.0
    );
    flush(out);
}
