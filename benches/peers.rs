//! provision against the real peers, side by side, in one run: `cargo bench --bench peers`
//! (about fifteen minutes), or `cargo bench --bench peers -- --quick` (about three). It starts
//! its own Synapse servers and sshd hosts with the test fixtures (and installs synadm), prints a
//! table of rates and ratios, and writes it to target/bench/results.md. Absolute figures are noisy on a shared
//! 2-core machine; the ratios, measured minutes apart in one run, are what to compare.

#[allow(dead_code, unused_imports)]
#[path = "../tests/integration/fixtures/mod.rs"]
mod fixtures;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
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
    listed_users: usize,
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
            listed_users: 1_000,
        }
    } else {
        Sizes {
            bulk: 200,
            tool_loop: 40,
            ssh_users: 40,
            fleet: 8,
            footprint_users: 1000,
            listed_users: 10_000,
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

    // PROVISION_BENCH_ONLY=http|ssh|fleet|footprint|users runs one part, for working on it.
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
    if part("users") {
        user_listing(&mut out, &sizes);
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

/// synadm's version, pinned as the fixtures pin Synapse's (`SYNADM_VERSION` overrides it).
const SYNADM_VERSION: &str = "0.49.2";
/// Every this-many-th user of the listing part is a server admin.
const ADMIN_EVERY: usize = 100;

/// Where the fixtures keep their venvs, as tests/support/synapse.py finds it:
/// `$PROVISION_CACHE`, else `$XDG_CACHE_HOME/provision`, else `~/.cache/provision`.
fn provision_cache() -> PathBuf {
    let set = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(cache) = set("PROVISION_CACHE") {
        return cache.into();
    }
    set("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(set("HOME").expect("HOME is set")).join(".cache"))
        .join("provision")
}

/// synadm (`pip install synadm`), installed once into a venv of its own beside the fixtures'
/// Synapse, under a lock so that two runs do not install it at once; its path.
fn synadm() -> PathBuf {
    let version = std::env::var("SYNADM_VERSION")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| SYNADM_VERSION.to_owned());
    let cache = provision_cache();
    std::fs::create_dir_all(&cache).unwrap();
    let venv = cache.join(format!("synadm-{version}"));
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(cache.join(".synadm.lock"))
        .unwrap();
    lock.lock().unwrap();
    let marker = venv.join(".installed");
    if !marker.exists() {
        eprintln!(
            "installing synadm=={version} into {} (once)",
            venv.display()
        );
        let run = |c: &mut Command| assert!(c.status().unwrap().success(), "{c:?} failed");
        run(Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&venv));
        run(Command::new(venv.join("bin/python"))
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
            .arg(format!("synadm=={version}"))
            .stdout(Stdio::from(std::io::stderr())));
        std::fs::write(&marker, "").unwrap();
    }
    venv.join("bin/synadm")
}

/// CPU time (user and system) used so far by this process (`libc::RUSAGE_SELF`) or by its
/// children that have been waited for (`libc::RUSAGE_CHILDREN`).
fn cpu_time(who: libc::c_int) -> Duration {
    // SAFETY: getrusage fills the struct it is given, which is plain old data.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(who, &mut usage) }, 0);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// What one run of a listing method took.
#[derive(Clone, Copy)]
struct Run {
    wall: Duration,
    /// CPU time of the client, user and system: the rest of the wall time is the server's.
    cpu: Duration,
    /// Peak RSS (KiB) when polled for it, else 0.
    peak: u64,
}

/// A run of a listing method and the (rows, admins) it listed.
type Counted = (Run, (usize, usize));

/// Runs `cmd` to its end with its stdout in `path`, and panics if it failed. With `rss`, the
/// run is polled for its peak RSS and its wall time is not worth reading; without, it is timed
/// exactly and the peak is 0.
fn run_to(cmd: &mut Command, path: &Path, rss: bool) -> Run {
    cmd.stdin(Stdio::null())
        .stdout(std::fs::File::create(path).unwrap());
    let cpu = cpu_time(libc::RUSAGE_CHILDREN);
    let start = Instant::now();
    let (peak, ok) = if rss {
        peak_rss_kib(cmd.spawn().unwrap())
    } else {
        (0, cmd.status().unwrap().success())
    };
    let wall = start.elapsed();
    assert!(ok, "{cmd:?} failed");
    Run {
        wall,
        cpu: cpu_time(libc::RUSAGE_CHILDREN) - cpu,
        peak,
    }
}

/// (user ID, admin) per row of `provision users --output csv`.
fn provision_rows(path: &Path) -> Vec<(String, bool)> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let column = |name| headers.iter().position(|h| h == name).unwrap();
    let (id, admin) = (column("user_id"), column("admin"));
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[id].to_owned(), &r[admin] == "true")
        })
        .collect()
}

/// A user of the admin API's answers: (name, admin), the flag a bool or, in older Synapse, 0/1.
fn api_user(u: &serde_json::Value) -> (String, bool) {
    let admin = &u["admin"];
    (
        u["name"].as_str().unwrap().to_owned(),
        admin
            .as_bool()
            .or_else(|| admin.as_i64().map(|a| a != 0))
            .unwrap(),
    )
}

/// One page of `synadm user list -o minified`: its users and its next_token.
fn synadm_page(path: &Path) -> (Vec<(String, bool)>, Option<String>) {
    let body: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("synadm's output is not JSON ({e}): {}", path.display()));
    let users = body["users"]
        .as_array()
        .unwrap_or_else(|| panic!("no users in synadm's output: {}", path.display()));
    let next = match &body["next_token"] {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    };
    (users.iter().map(api_user).collect(), next)
}

/// The rows listed by a method against the users the server has: the same user IDs, once each,
/// with the same admin flags. (rows, admins).
fn check_listing(
    method: &str,
    mut listed: Vec<(String, bool)>,
    expected: &[(String, bool)],
) -> (usize, usize) {
    listed.sort();
    assert_eq!(
        listed.len(),
        expected.len(),
        "{method}: {} rows, {} users on the server",
        listed.len(),
        expected.len()
    );
    assert!(
        listed == expected,
        "{method}: the rows are not the server's users with their admin flags"
    );
    (listed.len(), listed.iter().filter(|(_, a)| *a).count())
}

/// What a script does without a listing API: `GET /_synapse/admin/v2/users/{user_id}` for every
/// user ID it knows, CONCURRENCY in flight. Its wall time and (user ID, admin) per answer.
fn per_user_gets(url: &str, token: &str, ids: &[String]) -> (Run, Vec<(String, bool)>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let ids: Arc<Vec<String>> = Arc::new(ids.to_vec());
    let (url, token) = (url.to_owned(), token.to_owned());
    rt.block_on(async move {
        let client = reqwest::Client::new();
        let next = Arc::new(AtomicUsize::new(0));
        let cpu = cpu_time(libc::RUSAGE_SELF);
        let start = Instant::now();
        let mut workers = Vec::new();
        for _ in 0..CONCURRENCY {
            let (client, next, ids, url, token) = (
                client.clone(),
                next.clone(),
                ids.clone(),
                url.clone(),
                token.clone(),
            );
            workers.push(tokio::spawn(async move {
                let mut seen = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(id) = ids.get(i) else { break };
                    let user = percent_encoding::utf8_percent_encode(
                        id,
                        percent_encoding::NON_ALPHANUMERIC,
                    );
                    let resp = client
                        .get(format!("{url}/_synapse/admin/v2/users/{user}"))
                        .bearer_auth(&token)
                        .send()
                        .await
                        .unwrap();
                    assert!(resp.status().is_success(), "GET {id}: {}", resp.status());
                    let body: serde_json::Value = resp.json().await.unwrap();
                    seen.push(api_user(&body));
                }
                seen
            }));
        }
        let mut seen = Vec::new();
        for w in workers {
            seen.extend(w.await.unwrap());
        }
        let run = Run {
            wall: start.elapsed(),
            cpu: cpu_time(libc::RUSAGE_SELF) - cpu,
            peak: 0,
        };
        (run, seen)
    })
}

/// The floor: provision's requests (`GET /_synapse/admin/v2/users`, `page` a page, following
/// next_token) from the simplest client, each page parsed and dropped.
fn paged_floor(url: &str, token: &str, page: usize) -> (Run, Vec<(String, bool)>) {
    let client = fixtures::client();
    let cpu = cpu_time(libc::RUSAGE_SELF);
    let start = Instant::now();
    let (mut from, mut seen) = ("0".to_owned(), Vec::new());
    loop {
        let resp = client
            .get(format!(
                "{url}/_synapse/admin/v2/users?from={from}&limit={page}&deactivated=true&locked=true&guests=false"
            ))
            .bearer_auth(token)
            .send()
            .unwrap();
        assert!(
            resp.status().is_success(),
            "page from {from}: {}",
            resp.status()
        );
        let body: serde_json::Value = resp.json().unwrap();
        seen.extend(body["users"].as_array().unwrap().iter().map(api_user));
        match body["next_token"].as_str() {
            Some(next) => from = next.to_owned(),
            None => break,
        }
    }
    let run = Run {
        wall: start.elapsed(),
        cpu: cpu_time(libc::RUSAGE_SELF) - cpu,
        peak: 0,
    };
    (run, seen)
}

fn user_listing(out: &mut String, sizes: &Sizes) {
    let n = sizes.listed_users;
    let setup = Instant::now();
    let synadm = synadm();
    let installed = setup.elapsed();
    let s = synapse_with_rounds("bench-synapse-users", 4);
    let started = setup.elapsed();
    let prefix = unique("u");
    let mut csv = String::from("user,admin,password_file\n");
    for i in 0..n {
        let admin = if i % ADMIN_EVERY == 0 { "yes" } else { "no" };
        csv.push_str(&format!("{prefix}-{i},{admin},\n"));
    }
    let users = write_file("bench-listed.csv", &csv);
    let pw = scratch().join(unique("bench-listed-pw.csv"));
    let inv = write_file(
        "bench-users.yaml",
        &format!(
            "all:\n  hosts:\n    bench:\n      server_name: {SERVER_NAME}\n      backend: shared-secret\n      url: {}\n      shared_secret: {{file: {}}}\n      admin_backend: synapse-api\n      admin_token: {{file: {}}}\n",
            s.url,
            s.secret_file().display(),
            s.admin_token_file().display()
        ),
    );
    let inv = inv.to_str().unwrap();
    provision(&[
        "register",
        "--from",
        users.to_str().unwrap(),
        "--passwords-out",
        pw.to_str().unwrap(),
        "--per-host",
        &CONCURRENCY.to_string(),
        // The whole host is one job: 10,000 registrations outlast the default 120 s.
        "--timeout",
        "3600",
        "-i",
        inv,
    ]);
    let registered = setup.elapsed() - started;
    eprintln!(
        "users: setup took {:.1} s (synadm ready {:.1} s, Synapse started {:.1} s, {n} users registered {:.1} s, {:.0}/s)",
        setup.elapsed().as_secs_f64(),
        installed.as_secs_f64(),
        (started - installed).as_secs_f64(),
        registered.as_secs_f64(),
        rate(n, registered)
    );

    // What the server holds: the fixture's own admin and ours.
    let mut expected: Vec<(String, bool)> = (0..n)
        .map(|i| (format!("@{prefix}-{i}:{SERVER_NAME}"), i % ADMIN_EVERY == 0))
        .chain([(format!("@fixture-admin:{SERVER_NAME}"), true)])
        .collect();
    expected.sort();
    let ids: Vec<String> = expected.iter().map(|(id, _)| id.clone()).collect();
    let token = std::fs::read_to_string(s.admin_token_file())
        .unwrap()
        .trim()
        .to_owned();

    // synadm's configuration, written as its `synadm config` would (YAML; JSON strings are YAML),
    // and a HOME of its own for the debug log it keeps in ~/.local/share/synadm.
    let q = |v: &str| serde_json::to_string(v).unwrap();
    let config = write_file(
        "synadm.yaml",
        &format!(
            "user: fixture-admin\ntoken: {}\nprotocol: http\nbase_url: {}\nadmin_path: /_synapse/admin\nmatrix_path: /_matrix\ntimeout: 600\nserver_discovery: well-known\nhomeserver: {}\nssl_verify: true\nformat: json\n",
            q(&token),
            q(&s.url),
            q(SERVER_NAME)
        ),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let home = scratch().join(unique("synadm-home"));
    std::fs::create_dir_all(&home).unwrap();
    // The query provision sends: deactivated and locked users included, guests not.
    let synadm_list = |from: &str, limit: usize| {
        let mut c = Command::new(&synadm);
        c.env("HOME", &home)
            .args(["--batch", "-o", "minified", "-c", config.to_str().unwrap()])
            .args(["user", "list", "--deactivated", "--locked", "--no-guests"])
            .args(["--from", from, "--limit", &limit.to_string()]);
        c
    };
    // provision's own page size (backends/src/synapse_admin_api.rs, `PAGE`).
    let page_size = 2000;
    let out_file = scratch().join(unique("bench-listing.out"));

    // Each method's runs return (Run, (rows, admins)), the rows checked every time.
    let provision_run = |rss: bool| {
        let run = run_to(
            Command::new(PROVISION)
                .args(["users", "-i", inv, "--output", "csv"])
                .env_remove("PROVISION_INVENTORY"),
            &out_file,
            rss,
        );
        let rows = provision_rows(&out_file);
        (run, check_listing("provision users", rows, &expected))
    };
    // All users in one request: the limit above the server's count (no next_token comes back).
    let synadm_one = |rss: bool| {
        let run = run_to(&mut synadm_list("0", n + 1), &out_file, rss);
        let (users, next) = synadm_page(&out_file);
        assert_eq!(next, None, "synadm --limit {}: more pages", n + 1);
        (run, check_listing("synadm user list", users, &expected))
    };
    // As a user pages with it: provision's page size, `--from` the last page's next_token, one
    // process per page (synadm's `user list` fetches one page a call).
    let synadm_paged = |rss: bool| {
        let start = Instant::now();
        let (mut from, mut users, mut total) = (
            "0".to_owned(),
            Vec::new(),
            Run {
                wall: Duration::ZERO,
                cpu: Duration::ZERO,
                peak: 0,
            },
        );
        loop {
            let run = run_to(&mut synadm_list(&from, page_size), &out_file, rss);
            let (page, next) = synadm_page(&out_file);
            users.extend(page);
            total.cpu += run.cpu;
            total.peak = total.peak.max(run.peak);
            match next {
                Some(next) => from = next,
                None => break,
            }
        }
        total.wall = start.elapsed();
        (
            total,
            check_listing("synadm user list, paged", users, &expected),
        )
    };
    let gets = |_rss: bool| {
        let (run, seen) = per_user_gets(&s.url, &token, &ids);
        (run, check_listing("one GET per user", seen, &expected))
    };
    let floor = |_rss: bool| {
        let (run, seen) = paged_floor(&s.url, &token, page_size);
        (run, check_listing("paged floor", seen, &expected))
    };
    let methods: [&dyn Fn(bool) -> Counted; 5] =
        [&provision_run, &floor, &synadm_one, &synadm_paged, &gets];

    // A first run of each, polled for its peak RSS, warms the server up (its caches, the
    // pages' queries); then each method is timed twice, interleaved, best of two (wall and CPU
    // apart).
    let first: Vec<Counted> = methods.iter().map(|m| m(true)).collect();
    let mut best: Vec<Run> = first.iter().map(|(r, _)| *r).collect();
    for _ in 0..2 {
        for (m, best) in methods.iter().zip(&mut best) {
            let (run, _) = m(false);
            best.wall = best.wall.min(run.wall);
            best.cpu = best.cpu.min(run.cpu);
        }
    }
    let (rows, admins) = first[0].1;
    let pages = rows.div_ceil(page_size);
    let version = shell(&format!("{} --version", synadm.display()));
    let _ = writeln!(
        out,
        "## 5. Listing every user\n\n`provision users --output csv` (Synapse's `GET /_synapse/admin/v2/users`, {page_size} a page, rows streamed) on a Synapse (SQLite) holding {n} users and the fixture's admin, every {ADMIN_EVERY}th user an admin: {rows} rows, {admins} admins; every method's rows checked against the server's users and their admin flags, at every run. synadm {} as `synadm --batch -o minified -c CONFIG user list --deactivated --locked --no-guests` (provision's query), one Python process per call: its `user list` fetches one page a call (`--from`, `--limit`; Synapse caps no limit), so a user either asks for more than the server holds or loops on `next_token`. Output to a file; a first run of each, polled for peak RSS (VmHWM), warms the server up, then each is timed twice, interleaved, best of two. CPU is the client's (user + system); the rest of the wall time is the server's.\n",
        version.rsplit(' ').next().unwrap_or("")
    );
    let labels = [
        format!("provision `users --output csv` ({pages} requests)"),
        format!("(floor) the same {pages} requests, one after another (reqwest)"),
        format!("synadm `user list --limit {}` (all in one request)", n + 1),
        format!(
            "synadm `user list --limit {page_size} --from NEXT_TOKEN`, looped ({pages} processes)"
        ),
        format!(
            "one `GET /_synapse/admin/v2/users/{{user_id}}` per user, {CONCURRENCY} in flight (reqwest)"
        ),
    ];
    let _ = writeln!(
        out,
        "| method | wall time (s) | / provision | client CPU (s) | peak RSS (MB) | rows / admins |\n| --- | ---: | ---: | ---: | ---: | ---: |"
    );
    let t_provision = best[0].wall.as_secs_f64();
    for (i, label) in labels.iter().enumerate() {
        let run = best[i];
        // Only the separate processes' peaks are theirs; the in-process clients' would be the
        // harness's own.
        let peak = match i {
            0 | 2 => format!("{:.1}", run.peak as f64 / 1024.0),
            3 => format!("{:.1} (largest)", run.peak as f64 / 1024.0),
            _ => "—".to_owned(),
        };
        let (r, a) = first[i].1;
        let _ = writeln!(
            out,
            "| {label} | {:.3} | {:.1}× | {:.3} | {peak} | {r} / {a} |",
            run.wall.as_secs_f64(),
            run.wall.as_secs_f64() / t_provision,
            run.cpu.as_secs_f64(),
        );
    }
    let ratio = |i: usize| best[i].wall.as_secs_f64() / t_provision;
    let _ = writeln!(
        out,
        "\nsynadm / provision = **{:.2}×** (one request), **{:.1}×** (paged as provision pages); one GET per user / provision = **{:.1}×**; provision takes {:.2}× the floor's time\n",
        ratio(2),
        ratio(3),
        ratio(4),
        1.0 / ratio(1)
    );
    flush(out);
}
