//! provision against the real peers, side by side, in one run: `cargo bench --bench peers`
//! (about twenty-five minutes), or `cargo bench --bench peers -- --quick` (about six). It starts
//! its own Synapse servers and sshd hosts with the test fixtures (and installs synadm and
//! ansible-core), prints a
//! table of rates and ratios, and writes it to target/bench/results.md. Absolute figures are noisy on a shared
//! 2-core machine; the ratios, measured minutes apart in one run, are what to compare.

#[allow(dead_code, unused_imports)]
#[path = "../tests/integration/fixtures/mod.rs"]
mod fixtures;
#[path = "peers/fleet.rs"]
mod fleet;
#[path = "peers/proxy.rs"]
mod proxy;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fixtures::{
    SERVER_NAME, Synapse, password_rows, scratch, sshd_fleet, synapse_with_rounds, unique,
    write_file,
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
    /// Part 6: users created by one apply, users of the `provision register` loop, and users
    /// read one synadm process each.
    applied_users: usize,
    register_loop: usize,
    synadm_details: usize,
    /// Part 7: users of the tunnel and floor runs, and of the tool's run.
    tunnel_users: usize,
    tunnel_tool_users: usize,
    /// Part 8: hosts of the fleet, users of its `register --from`, hosts the shell loop is
    /// timed on.
    fleet_hosts: usize,
    fleet_users: usize,
    loop_sample: usize,
}

/// A size from the environment (`PROVISION_BENCH_FLEET_HOSTS=10`, for a quick try), else `default`.
fn size(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v}: not a number"))
        })
        .unwrap_or(default)
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
            applied_users: 100,
            register_loop: 20,
            synadm_details: 10,
            tunnel_users: size("PROVISION_BENCH_TUNNEL_USERS", 200),
            tunnel_tool_users: 8,
            fleet_hosts: size("PROVISION_BENCH_FLEET_HOSTS", 20),
            fleet_users: size("PROVISION_BENCH_FLEET_USERS", 200),
            loop_sample: 5,
        }
    } else {
        Sizes {
            bulk: 200,
            tool_loop: 40,
            ssh_users: 40,
            fleet: 8,
            footprint_users: 1000,
            listed_users: 10_000,
            applied_users: 1_000,
            register_loop: 1_000,
            synadm_details: 100,
            tunnel_users: size("PROVISION_BENCH_TUNNEL_USERS", 1_000),
            tunnel_tool_users: 20,
            fleet_hosts: size("PROVISION_BENCH_FLEET_HOSTS", 100),
            fleet_users: size("PROVISION_BENCH_FLEET_USERS", 1_000),
            loop_sample: 20,
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

    // PROVISION_BENCH_ONLY=http|ssh|fleet|footprint|users|apply|tunnel|fleet100 runs one part (or a few, comma-separated),
    // for working on it.
    let only = std::env::var("PROVISION_BENCH_ONLY").unwrap_or_default();
    let part = |name: &str| only.is_empty() || only.split(',').any(|o| o == name);
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
    // Parts 5 and 6 share their 10,000-user server: set up once, by the first that runs.
    let mut populated: Option<Populated> = None;
    if part("users") {
        let p = populated.get_or_insert_with(|| Populated::new(sizes.listed_users));
        user_listing(&mut out, p);
    }
    if part("apply") {
        let p = populated.get_or_insert_with(|| Populated::new(sizes.listed_users));
        plan_and_apply(&mut out, &sizes, p);
    }
    if part("tunnel") {
        fleet::tunnel(&mut out, &sizes);
    }
    if part("fleet100") {
        fleet::fleet(&mut out, &sizes);
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
/// `inhibit_login`) sent by the simplest client, `in_flight` at once. Registers `{prefix}-0`
/// up to `{prefix}-{n-1}`, none an admin; its wall time and its CPU time (this process's: the
/// client is in it).
fn floor_client(s: &Synapse, n: usize, in_flight: usize, prefix: &str) -> Run {
    let secret = std::fs::read_to_string(s.secret_file())
        .unwrap()
        .trim()
        .to_owned();
    let prefix = prefix.to_owned();
    let url = format!("{}/_synapse/admin/v1/register", s.url);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let client = reqwest::Client::new();
        let next = Arc::new(AtomicUsize::new(0));
        let cpu = cpu_time(libc::RUSAGE_SELF);
        let start = Instant::now();
        let mut workers = Vec::new();
        for _ in 0..in_flight {
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
        Run {
            wall: start.elapsed(),
            cpu: cpu_time(libc::RUSAGE_SELF) - cpu,
            peak: 0,
        }
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
    floor_client(&s, 20, CONCURRENCY, &unique("w"));
    let (mut p, mut f) = (0f64, 0f64);
    for _ in 0..2 {
        p = p.max(rate(n, bulk_provision(&s, n)));
        f = f.max(rate(n, floor_client(&s, n, CONCURRENCY, &unique("f")).wall));
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
fn peak_rss_kib(mut child: std::process::Child) -> (u64, std::process::ExitStatus) {
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
            return (peak, status);
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
    let (peak, status) = peak_rss_kib(child);
    assert!(status.success(), "the {n}-user run failed");
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
/// Whether the setup's user `i` is an admin.
fn is_admin(i: usize) -> bool {
    i.is_multiple_of(ADMIN_EVERY)
}
/// provision's own page size for Synapse's user list (backends/src/synapse_admin_api.rs,
/// `PAGE`): the floor clients page as provision does.
const PAGE_SIZE: usize = 2000;

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

/// A first run of each method, polled for its peak RSS, warms the server up (its caches, the
/// pages' queries); then each method is timed twice, interleaved so that order effects cancel
/// out, and the best of all three runs kept (wall and CPU apart). Each method's first run
/// (with what it checked) and its best.
fn interleaved<T>(methods: &[&dyn Fn(bool) -> (Run, T)]) -> (Vec<(Run, T)>, Vec<Run>) {
    let first: Vec<(Run, T)> = methods.iter().map(|m| m(true)).collect();
    let mut best: Vec<Run> = first.iter().map(|(r, _)| *r).collect();
    for _ in 0..2 {
        for (m, best) in methods.iter().zip(&mut best) {
            let (run, _) = m(false);
            best.wall = best.wall.min(run.wall);
            best.cpu = best.cpu.min(run.cpu);
        }
    }
    (first, best)
}

/// Runs `cmd` to its end with its stdout in `path`, and panics if it failed. With `rss`, the
/// run is polled for its peak RSS and its wall time is not worth reading; without, it is timed
/// exactly and the peak is 0.
fn run_to(cmd: &mut Command, path: &Path, rss: bool) -> Run {
    run_exiting(cmd, path, rss, 0)
}

/// [`run_to`] for a command that must exit with `code` (`provision plan` exits 3 when changes
/// are pending).
fn run_exiting(cmd: &mut Command, path: &Path, rss: bool, code: i32) -> Run {
    cmd.stdin(Stdio::null())
        .stdout(std::fs::File::create(path).unwrap());
    let cpu = cpu_time(libc::RUSAGE_CHILDREN);
    let start = Instant::now();
    let (peak, status) = if rss {
        peak_rss_kib(cmd.spawn().unwrap())
    } else {
        (0, cmd.status().unwrap())
    };
    let wall = start.elapsed();
    assert_eq!(
        status.code(),
        Some(code),
        "{cmd:?} exited {status}, not {code}; its output is in {}",
        path.display()
    );
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

/// A Synapse (SQLite, bcrypt_rounds=4) holding `n` users `{prefix}-{i}`, every
/// ADMIN_EVERY-th an admin, beside the fixture's own admin; an inventory reaching it through
/// `shared-secret` and `synapse-api`; synadm configured for it. Registering 10,000 users takes
/// a minute, so parts 5 and 6 share one: part 5 first, since part 6 adds users.
struct Populated {
    s: Synapse,
    n: usize,
    prefix: String,
    /// The inventory: host `bench`, `backend: shared-secret`, `admin_backend: synapse-api`.
    inv: PathBuf,
    /// The fixture admin's access token, for the in-process clients (never on an argv).
    token: String,
    synadm: PathBuf,
    /// synadm's configuration (mode 0600: it holds the token) and a HOME of its own.
    synadm_config: PathBuf,
    synadm_home: PathBuf,
}

impl Populated {
    fn new(n: usize) -> Self {
        let setup = Instant::now();
        let synadm = synadm();
        let installed = setup.elapsed();
        let s = synapse_with_rounds("bench-synapse-users", 4);
        let started = setup.elapsed();
        let prefix = unique("u");
        let mut csv = String::from("user,admin,password_file\n");
        for i in 0..n {
            let admin = if is_admin(i) { "yes" } else { "no" };
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
            inv.to_str().unwrap(),
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
        let token = std::fs::read_to_string(s.admin_token_file())
            .unwrap()
            .trim()
            .to_owned();
        // synadm's configuration, written as its `synadm config` would (YAML; JSON strings are
        // YAML), and a HOME of its own for the debug log it keeps in ~/.local/share/synadm.
        let q = |v: &str| serde_json::to_string(v).unwrap();
        let synadm_config = write_file(
            "synadm.yaml",
            &format!(
                "user: fixture-admin\ntoken: {}\nprotocol: http\nbase_url: {}\nadmin_path: /_synapse/admin\nmatrix_path: /_matrix\ntimeout: 600\nserver_discovery: well-known\nhomeserver: {}\nssl_verify: true\nformat: json\n",
                q(&token),
                q(&s.url),
                q(SERVER_NAME)
            ),
        );
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&synadm_config, std::fs::Permissions::from_mode(0o600)).unwrap();
        let synadm_home = scratch().join(unique("synadm-home"));
        std::fs::create_dir_all(&synadm_home).unwrap();
        Populated {
            s,
            n,
            prefix,
            inv,
            token,
            synadm,
            synadm_config,
            synadm_home,
        }
    }

    /// The users registered at setup, (user ID, admin), sorted as the checks compare them.
    fn registered(&self) -> Vec<(String, bool)> {
        let mut users: Vec<(String, bool)> = (0..self.n)
            .map(|i| (format!("@{}-{i}:{SERVER_NAME}", self.prefix), is_admin(i)))
            .collect();
        users.sort();
        users
    }

    /// What the server held after setup: those users and the fixture's own admin.
    fn all_users(&self) -> Vec<(String, bool)> {
        let mut users = self.registered();
        users.push((format!("@fixture-admin:{SERVER_NAME}"), true));
        users.sort();
        users
    }

    /// `synadm --batch -o minified -c CONFIG`, ready for its subcommand.
    fn synadm(&self) -> Command {
        let mut c = Command::new(&self.synadm);
        c.env("HOME", &self.synadm_home).args([
            "--batch",
            "-o",
            "minified",
            "-c",
            self.synadm_config.to_str().unwrap(),
        ]);
        c
    }

    /// `synadm user list` as provision queries: deactivated and locked users included, guests
    /// not; `limit` users from offset `from`.
    fn synadm_list(&self, from: &str, limit: usize) -> Command {
        let mut c = self.synadm();
        c.args(["user", "list", "--deactivated", "--locked", "--no-guests"])
            .args(["--from", from, "--limit", &limit.to_string()]);
        c
    }

    /// synadm's version, as `synadm --version` ends.
    fn synadm_version(&self) -> String {
        let version = shell(&format!("{} --version", self.synadm.display()));
        version.rsplit(' ').next().unwrap_or("").to_owned()
    }
}

fn user_listing(out: &mut String, p: &Populated) {
    let (s, n, inv, token) = (&p.s, p.n, p.inv.to_str().unwrap(), &p.token);
    let expected = p.all_users();
    let ids: Vec<String> = expected.iter().map(|(id, _)| id.clone()).collect();
    let synadm_list = |from: &str, limit: usize| p.synadm_list(from, limit);
    let page_size = PAGE_SIZE;
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
        let (run, seen) = per_user_gets(&s.url, token, &ids);
        (run, check_listing("one GET per user", seen, &expected))
    };
    let floor = |_rss: bool| {
        let (run, seen) = paged_floor(&s.url, token, page_size);
        (run, check_listing("paged floor", seen, &expected))
    };
    let methods: [&dyn Fn(bool) -> Counted; 5] =
        [&provision_run, &floor, &synadm_one, &synadm_paged, &gets];

    let (first, best) = interleaved(&methods);
    let (rows, admins) = first[0].1;
    let pages = rows.div_ceil(page_size);
    let _ = writeln!(
        out,
        "## 5. Listing every user\n\n`provision users --output csv` (Synapse's `GET /_synapse/admin/v2/users`, {page_size} a page, rows streamed) on a Synapse (SQLite) holding {n} users and the fixture's admin, every {ADMIN_EVERY}th user an admin: {rows} rows, {admins} admins; every method's rows checked against the server's users and their admin flags, at every run. synadm {} as `synadm --batch -o minified -c CONFIG user list --deactivated --locked --no-guests` (provision's query), one Python process per call: its `user list` fetches one page a call (`--from`, `--limit`; Synapse caps no limit), so a user either asks for more than the server holds or loops on `next_token`. Output to a file; a first run of each, polled for peak RSS (VmHWM), warms the server up, then each is timed twice, interleaved, best of two. CPU is the client's (user + system); the rest of the wall time is the server's.\n",
        p.synadm_version()
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

/// apply's default `--per-host` (src/commands/apply.rs), passed explicitly: the floor client
/// keeps as many registrations in flight as apply does, whatever the default becomes.
const APPLY_PER_HOST: usize = 4;

/// A users file in YAML's mapping form: `{prefix}-{i}` for i in 0..n, each `state: present`
/// with the admin flag `admin(i)`.
fn users_yaml(prefix: &str, n: usize, admin: impl Fn(usize) -> bool) -> PathBuf {
    let mut yaml = String::from("users:\n");
    for i in 0..n {
        let _ = writeln!(
            yaml,
            "  - user: {prefix}-{i}\n    admin: {}\n    state: present",
            admin(i)
        );
    }
    write_file("bench-wanted.yaml", &yaml)
}

/// `provision plan FILE --output json`, which must exit with `code`: its document.
fn plan_json(inv: &str, file: &Path, code: i32) -> serde_json::Value {
    let out = Command::new(PROVISION)
        .args([
            "plan",
            file.to_str().unwrap(),
            "-i",
            inv,
            "--output",
            "json",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "provision plan {}:\n{}{}",
        file.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The sum of runs one after another: their wall and CPU times added, the largest peak.
fn total(runs: impl IntoIterator<Item = Run>) -> Run {
    runs.into_iter().fold(
        Run {
            wall: Duration::ZERO,
            cpu: Duration::ZERO,
            peak: 0,
        },
        |t, r| Run {
            wall: t.wall + r.wall,
            cpu: t.cpu + r.cpu,
            peak: t.peak.max(r.peak),
        },
    )
}

/// The best of runs of one method: the least wall and the least CPU time, apart.
fn best_run(runs: impl Iterator<Item = Run>) -> Run {
    runs.reduce(|a, b| Run {
        wall: a.wall.min(b.wall),
        cpu: a.cpu.min(b.cpu),
        peak: a.peak.max(b.peak),
    })
    .expect("at least one run")
}

/// Part 6: `provision plan` on the 10,000 users of `p`, in sync, against what the peers do to
/// know the same (one request per user; synadm); then `provision apply` creating fresh users
/// against the shared-secret floor and a loop of `provision register`.
fn plan_and_apply(out: &mut String, sizes: &Sizes, p: &Populated) {
    let (s, n, inv, token) = (&p.s, p.n, p.inv.to_str().unwrap(), p.token.as_str());
    let out_file = scratch().join(unique("bench-apply.out"));
    let registered = p.registered();

    // The file says what the server holds: plan must find it in sync (exit 0) for all n users,
    // and with one admin flag changed, that change and no other (exit 3). Timing a plan that
    // reads the server wrong would be worth nothing.
    let in_sync = users_yaml(&p.prefix, n, is_admin);
    let doc = plan_json(inv, &in_sync, 0);
    assert_eq!(doc["hosts"][0]["outcome"], "in_sync", "{doc}");
    assert_eq!(
        doc["hosts"][0]["message"],
        format!("in sync ({n} users)"),
        "{doc}"
    );
    let flipped = users_yaml(&p.prefix, n, |i| is_admin(i) != (i == 1));
    let doc = plan_json(inv, &flipped, 3);
    assert_eq!(
        doc["hosts"][0]["changes"],
        serde_json::json!([{
            "user": format!("@{}-1:{SERVER_NAME}", p.prefix),
            "action": "change", "field": "admin", "from": false, "to": true,
        }]),
        "{doc}"
    );

    // The methods timed alike. The server holds the setup's users and no others yet.
    let all = p.all_users();
    let plan_run = |rss: bool| {
        let run = run_to(
            Command::new(PROVISION).args(["plan", in_sync.to_str().unwrap(), "-i", inv]),
            &out_file,
            rss,
        );
        // Exit 0 is "every host in sync": the check that holds at every run.
        (run, ())
    };
    let floor = |_rss: bool| {
        let (run, seen) = paged_floor(&s.url, token, PAGE_SIZE);
        check_listing("paged floor", seen, &all);
        (run, ())
    };
    let synadm_one = |rss: bool| {
        let run = run_to(&mut p.synadm_list("0", n + 1), &out_file, rss);
        let (users, next) = synadm_page(&out_file);
        assert_eq!(next, None, "synadm --limit {}: more pages", n + 1);
        check_listing("synadm user list", users, &all);
        (run, ())
    };
    let methods: [&dyn Fn(bool) -> (Run, ()); 3] = [&plan_run, &floor, &synadm_one];
    let (first, mut best) = interleaved(&methods);
    // The slow ones once, after the warm-up above: one GET per user of the file (what a script
    // without a list endpoint does, and what a plan reading user by user would send), and
    // synadm's `user details`, a Python process per user, on a sample.
    let ids: Vec<String> = registered.iter().map(|(id, _)| id.clone()).collect();
    let (gets, seen) = per_user_gets(&s.url, token, &ids);
    check_listing("one GET per user", seen, &registered);
    let sample = sizes.synadm_details.min(n);
    let details = total(registered.iter().take(sample).map(|(id, admin)| {
        let run = run_to(p.synadm().args(["user", "details", id]), &out_file, false);
        let body: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
        assert_eq!(api_user(&body), (id.clone(), *admin), "synadm user details");
        run
    }));
    let scale = n as f64 / sample as f64;
    best.push(gets);
    best.push(Run {
        wall: details.wall.mul_f64(scale),
        cpu: details.cpu.mul_f64(scale),
        peak: details.peak,
    });
    let pages = all.len().div_ceil(PAGE_SIZE);
    let requests = if pages == 1 { "request" } else { "requests" };
    let _ = writeln!(
        out,
        "## 6. Plan and apply\n\n### Planning {n} users that are in sync\n\n`provision plan FILE` on a Synapse set up as part 5's (the same server in a full run; SQLite, bcrypt_rounds=4; {n} users and the fixture's admin, every {ADMIN_EVERY}th user an admin), the inventory's host `backend: shared-secret`, `admin_backend: synapse-api`; FILE lists the {n} users in YAML's mapping form (`user`, `admin`, `state: present`), as the server has them. Before timing, plan was checked to exit 0 with `in sync ({n} users)`, and to exit 3 with exactly one change when one user's `admin` is flipped in the file; every timed plan exits 0. provision reads the host's users in {pages} {requests} of up to {PAGE_SIZE} users (`GET /_synapse/admin/v2/users`: the admin flag, locked and deactivated are in the listing, so the diff needs no other request). The peers: one `GET /_synapse/admin/v2/users/{{user_id}}` per user of the file, {CONCURRENCY} in flight (reqwest; what a script without a diff does, timed once: it takes the longest), and synadm {}, which has no plan or diff: its one-request `user list` gives the data and leaves the comparison to the user, and its per-user `user details` (one Python process per user) was timed on the first {sample} users and multiplied by {scale:.0}. Every method's answers were checked against the server's users and flags. A first run of provision, the floor and synadm's list (polled for peak RSS) warms up, then each is timed twice, interleaved, best of three. CPU is the client's (user + system).\n",
        p.synadm_version()
    );
    let labels = [
        format!("provision `plan FILE` ({pages} {requests}, diff of {n} users; exit 0)"),
        format!("(floor) the same {pages} {requests}, one after another (reqwest)"),
        format!(
            "synadm `user list --limit {}` (one request; a listing, no diff)",
            n + 1
        ),
        format!(
            "one `GET /_synapse/admin/v2/users/{{user_id}}` per user, {CONCURRENCY} in flight (reqwest)"
        ),
        format!("synadm `user details USER` per user: {sample} timed, × {scale:.0} (extrapolated)"),
    ];
    let _ = writeln!(
        out,
        "| method | wall time (s) | / provision | client CPU (s) | peak RSS (MB) |\n| --- | ---: | ---: | ---: | ---: |"
    );
    let t_plan = best[0].wall.as_secs_f64();
    for (i, label) in labels.iter().enumerate() {
        let run = best[i];
        let peak = match i {
            // Only the separate processes' peaks are theirs, and only when polled for.
            0 | 2 => format!("{:.1}", first[i].0.peak as f64 / 1024.0),
            _ => "—".to_owned(),
        };
        let _ = writeln!(
            out,
            "| {label} | {:.3} | {:.1}× | {:.3} | {peak} |",
            run.wall.as_secs_f64(),
            run.wall.as_secs_f64() / t_plan,
            run.cpu.as_secs_f64(),
        );
    }
    let ratio = |i: usize| best[i].wall.as_secs_f64() / t_plan;
    let _ = writeln!(
        out,
        "\none GET per user / provision plan = **{:.1}×**; synadm `user details` per user / provision plan = **{:.0}×** (extrapolated); synadm's one-request list, which diffs nothing, / provision plan = **{:.2}×**; provision plan takes {:.2}× the floor's time\n",
        ratio(3),
        ratio(4),
        ratio(2),
        1.0 / ratio(1)
    );
    flush(out);

    apply_creates(out, sizes, p);
}

/// Part 6, second half: `provision apply` creating fresh users on the server of `p`, against
/// the shared-secret floor and a loop of `provision register`; then everything checked on the
/// server.
fn apply_creates(out: &mut String, sizes: &Sizes, p: &Populated) {
    let (s, inv, token) = (&p.s, p.inv.to_str().unwrap(), p.token.as_str());
    let m = sizes.applied_users;
    let out_file = scratch().join(unique("bench-apply.out"));
    let per_host = APPLY_PER_HOST.to_string();
    // One apply of m new users: the users file, the passwords file, and the time of the plan
    // alone (the same listing and diff apply starts with; exit 3, creates pending) before it.
    let apply_once = || {
        let prefix = unique("a");
        let file = users_yaml(&prefix, m, |_| false);
        let file = file.to_str().unwrap();
        let pw = scratch().join(unique("bench-apply-pw.csv"));
        let planning = run_exiting(
            Command::new(PROVISION).args(["plan", file, "-i", inv]),
            &out_file,
            false,
            3,
        );
        let run = run_to(
            Command::new(PROVISION)
                .args(["apply", file, "--yes", "--passwords-out"])
                .arg(&pw)
                .args(["--per-host", &per_host, "-i", inv]),
            &out_file,
            false,
        );
        (run, planning, prefix, pw)
    };
    let floor_once = || {
        let prefix = unique("g");
        (floor_client(s, m, APPLY_PER_HOST, &prefix), prefix)
    };
    // The server is warm from the plans; each method twice, interleaved, best of two.
    let (mut applies, mut floors) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        applies.push(apply_once());
        floors.push(floor_once());
    }
    let apply = best_run(applies.iter().map(|a| a.0));
    let planning = best_run(applies.iter().map(|a| a.1));
    let floor = best_run(floors.iter().map(|f| f.0));

    // The peer's way with provision itself: a shell loop of `provision register`, a process
    // and a generated password file per user (the password never on an argv).
    let k = sizes.register_loop.min(m);
    let loop_prefix = unique("r");
    let loop_dir = scratch().join(unique("bench-register-loop"));
    std::fs::create_dir_all(&loop_dir).unwrap();
    let names: String = (0..k).map(|i| format!("{loop_prefix}-{i}\n")).collect();
    let names_file = write_file("bench-loop-users.txt", &names);
    let script = r#"while read -r u; do "$0" register "$u" --random-password --password-out "$1/$u.pw" -i "$2" || exit 1; done < "$3""#;
    let register_loop = run_to(
        Command::new("sh")
            .args(["-c", script, PROVISION])
            .arg(&loop_dir)
            .arg(inv)
            .arg(&names_file),
        &out_file,
        false,
    );
    let loop_scale = m as f64 / k as f64;
    let register_loop = Run {
        wall: register_loop.wall.mul_f64(loop_scale),
        cpu: register_loop.cpu.mul_f64(loop_scale),
        peak: 0,
    };

    // What the server holds now: every user of every method, none an admin, and nothing else
    // new; each apply's passwords file has its m users, and their passwords log in.
    let (_, listed) = paged_floor(&s.url, token, PAGE_SIZE);
    let listed: std::collections::HashMap<String, bool> = listed.into_iter().collect();
    let present = |prefix: &str, count: usize| {
        (0..count)
            .filter(|i| listed.get(&format!("@{prefix}-{i}:{SERVER_NAME}")) == Some(&false))
            .count()
    };
    for (_, _, prefix, pw) in &applies {
        assert_eq!(present(prefix, m), m, "apply {prefix}: users on the server");
        let rows = password_rows(pw);
        let mut users: Vec<&str> = rows.iter().map(|(u, _)| u.as_str()).collect();
        users.sort_unstable();
        let mut wanted: Vec<String> = (0..m).map(|i| format!("{prefix}-{i}")).collect();
        wanted.sort_unstable();
        assert_eq!(users, wanted, "apply {prefix}: {}", pw.display());
        let (user, password) = &rows[rows.len() / 2];
        assert_eq!(
            s.login(user, password),
            Ok(format!("@{user}:{SERVER_NAME}")),
            "apply {prefix}: {user} logs in with its generated password"
        );
        // Applied, the file is in sync.
        let file = users_yaml(prefix, m, |_| false);
        run_to(
            Command::new(PROVISION).args(["plan", file.to_str().unwrap(), "-i", inv]),
            &out_file,
            false,
        );
    }
    for (_, prefix) in &floors {
        assert_eq!(present(prefix, m), m, "floor {prefix}: users on the server");
    }
    assert_eq!(
        present(&loop_prefix, k),
        k,
        "register loop: users on the server"
    );
    let user = format!("{loop_prefix}-{}", k / 2);
    let password = std::fs::read_to_string(loop_dir.join(format!("{user}.pw"))).unwrap();
    assert_eq!(
        s.login(&user, password.trim_end_matches('\n')),
        Ok(format!("@{user}:{SERVER_NAME}")),
        "register loop: {user} logs in"
    );
    assert_eq!(
        listed.len(),
        p.n + 1 + 4 * m + k,
        "the server holds users no method created"
    );

    let loop_label = if k == m {
        format!(
            "shell loop of `provision register USER --random-password --password-out FILE` ({m} processes)"
        )
    } else {
        format!(
            "shell loop of `provision register USER --random-password --password-out FILE`: {k} timed, × {loop_scale:.0} (extrapolated)"
        )
    };
    let _ = writeln!(
        out,
        "### Applying {m} creates\n\n`provision apply FILE --yes --passwords-out PATH --per-host {APPLY_PER_HOST}` (apply's default `--per-host`) on the same server, now holding {} users: FILE lists {m} new users (YAML, `admin: false`, `state: present`), so apply plans (one listing, as above) and then registers each through the shared-secret API (a nonce, then the HMAC-signed registration with `inhibit_login`) with a generated password kept in PATH. The floor: the same {m} registrations from a bare reqwest client, {APPLY_PER_HOST} in flight. Each run creates fresh users; apply and the floor twice each, interleaved, best of two; `provision plan FILE` alone (exit 3, {m} to create) timed before each apply to show what planning costs. Afterwards, checked: the server lists every user of every run and no other, none an admin; each passwords file holds its {m} users; a sample user of each apply logs in (`POST /_matrix/client/v3/login`) with its generated password; each applied file plans in sync (exit 0).\n",
        p.n + 1
    );
    let _ = writeln!(
        out,
        "| method | wall time (s) | users/s | floor / method (rate) | client CPU (s) |\n| --- | ---: | ---: | ---: | ---: |"
    );
    let t_floor = floor.wall.as_secs_f64();
    let rows = [
        (
            format!("provision `apply FILE --yes` ({m} creates, {APPLY_PER_HOST} in flight)"),
            apply,
        ),
        (
            "of which: `provision plan FILE` alone (listing and diff)".to_owned(),
            planning,
        ),
        (
            format!(
                "(floor) {m} shared-secret registrations, {APPLY_PER_HOST} in flight (reqwest)"
            ),
            floor,
        ),
        (loop_label, register_loop),
    ];
    for (i, (label, run)) in rows.iter().enumerate() {
        let wall = run.wall.as_secs_f64();
        let (users_s, vs_floor) = if i == 1 {
            ("—".to_owned(), "—".to_owned())
        } else {
            (
                format!("{:.1}", m as f64 / wall),
                format!("{:.2}", t_floor / wall),
            )
        };
        let _ = writeln!(
            out,
            "| {label} | {wall:.3} | {users_s} | {vs_floor} | {:.3} |",
            run.cpu.as_secs_f64()
        );
    }
    let _ = writeln!(
        out,
        "\napply / floor = **{:.2}×** the floor's rate (target ≥ 0.9); apply / `provision register` loop = **{:.1}×**\n",
        t_floor / apply.wall.as_secs_f64(),
        register_loop.wall.as_secs_f64() / apply.wall.as_secs_f64()
    );
    flush(out);
}
