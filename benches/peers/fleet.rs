//! Parts 7 and 8 of the benchmarks: a `synapse-cli` host over SSH registering through the
//! shared-secret API over its own SSH connection (the tunnel, `via: api`) against the tool
//! (`via: tool`) and the shared-secret floor, on one host; then a fleet of 100 sshd hosts, each
//! behind a latency proxy 25 ms away, in front of a few shared Synapse servers, against
//! `ansible-playbook` and a shell loop of `ssh`.
//!
//! `PROVISION_BENCH_ONLY=tunnel` or `=fleet100` runs one of them alone;
//! `PROVISION_BENCH_FLEET_HOSTS`, `PROVISION_BENCH_FLEET_USERS` and
//! `PROVISION_BENCH_TUNNEL_USERS` set smaller sizes for a quick try.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::fixtures::{
    SERVER_NAME, Synapse, scratch, sshd_fleet, synapse_with_rounds, unique, write_file,
};
use super::proxy::LatencyProxy;
use super::{
    CONCURRENCY, PROVISION, Run, Sizes, floor_client, flush, rate, run_to, shell, users_csv,
};

/// Part 7: bulk registration on one `synapse-cli` host over SSH, through the tunnel, through the
/// tool, and from the floor client straight to the same Synapse.
pub fn tunnel(out: &mut String, sizes: &Sizes) {
    let s = synapse_with_rounds("bench-synapse-tunnel", 4);
    let address = "127.0.0.21";
    let d = sshd_fleet("bench-sshd-tunnel", &[address]);
    let inventory = |via: &str| {
        write_file(
            "bench-tunnel.yaml",
            &format!(
                "all:\n  hosts:\n    one:\n      server_name: {SERVER_NAME}\n      backend: synapse-cli\n      transport: ssh\n      via: {via}\n      ssh: {}\n      config: {}\n      url: {}\n      command: {}\n",
                d.ssh_vars(address),
                s.config().display(),
                s.url,
                s.register_tool()
            ),
        )
    };
    let (api, tool) = (inventory("api"), inventory("tool"));
    let out_file = scratch().join(unique("bench-tunnel.out"));
    // `register --from` of n fresh users on the host: its run and SSH connections.
    let bulk = |inv: &Path, n: usize, per_host: usize| {
        let prefix = unique("t");
        let users = users_csv(&prefix, n);
        let pw = scratch().join(unique("bench-tunnel-pw.csv"));
        let before = d.connections(address);
        let run = run_to(
            Command::new(PROVISION)
                .args(["register", "--from"])
                .arg(&users)
                .arg("--passwords-out")
                .arg(&pw)
                .args(["--per-host", &per_host.to_string(), "-i"])
                .arg(inv),
            &out_file,
            false,
        );
        (run, d.connections(address) - before, prefix, pw)
    };
    let n = sizes.tunnel_users;
    let m = sizes.tunnel_tool_users;
    // Warm: Synapse's first requests, the host's first login.
    floor_client(&s, 20, CONCURRENCY, &unique("w"));
    bulk(&api, 20, CONCURRENCY);
    let (mut tunnels, mut floors) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        tunnels.push(bulk(&api, n, CONCURRENCY));
        let prefix = unique("f");
        floors.push((floor_client(&s, n, CONCURRENCY, &prefix), prefix));
    }
    let tool_run = bulk(&tool, m, 4);
    // Every user of every run is on the server; a tunnel user logs in with its password.
    let listed: std::collections::HashSet<String> =
        s.all_users().into_iter().map(|(id, _)| id).collect();
    let present = |prefix: &str, count: usize| {
        (0..count)
            .filter(|i| listed.contains(&format!("@{prefix}-{i}:{SERVER_NAME}")))
            .count()
    };
    for (_, _, prefix, pw) in &tunnels {
        assert_eq!(
            present(prefix, n),
            n,
            "tunnel {prefix}: users on the server"
        );
        let rows = super::fixtures::password_rows(pw);
        let (user, password) = &rows[rows.len() / 2];
        assert!(s.login(user, password).is_ok(), "{user} cannot log in");
    }
    for (_, prefix) in &floors {
        assert_eq!(present(prefix, n), n, "floor {prefix}: users on the server");
    }
    assert_eq!(present(&tool_run.2, m), m, "tool: users on the server");

    let best = |runs: Vec<Run>| runs.into_iter().min_by_key(|r| r.wall).unwrap();
    let t = best(tunnels.iter().map(|r| r.0).collect());
    let f = best(floors.iter().map(|r| r.0).collect());
    let t_conn = tunnels.iter().map(|r| r.1).max().unwrap_or(0);
    let (t_rate, f_rate, o_rate) = (rate(n, t.wall), rate(n, f.wall), rate(m, tool_run.0.wall));
    let _ = writeln!(
        out,
        "## 7. Bulk through the tunnel on one SSH host\n\n`provision register --from FILE --per-host {CONCURRENCY}` on one `synapse-cli` host over SSH (sshd on 127.0.0.21, no added latency; Synapse on this machine, SQLite, bcrypt_rounds=4). `via: api`: provision reads the host's homeserver.yaml over the SSH connection (`cat`) and registers through the shared-secret API over a forward on that same connection; `via: tool`: one `register_new_matrix_user` per user on the host, `--per-host 4` (part 2's setting). The floor: the same registrations from a bare reqwest client straight to the Synapse, {CONCURRENCY} in flight. After a warm-up, the tunnel and the floor twice each, interleaved, best of two; the tool once, on {m} users. Afterwards checked: every user of every run is on the server; a sample tunnel user logs in with its generated password.\n"
    );
    let _ = writeln!(
        out,
        "| method | users | wall time (s) | users/s | client CPU (s) | SSH connections |\n| --- | ---: | ---: | ---: | ---: | ---: |"
    );
    let _ = writeln!(
        out,
        "| provision, tunnel (`via: api`) | {n} | {:.2} | {t_rate:.1} | {:.2} | {t_conn} |",
        t.wall.as_secs_f64(),
        t.cpu.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "| (floor) shared-secret client, straight to Synapse | {n} | {:.2} | {f_rate:.1} | {:.2} | — |",
        f.wall.as_secs_f64(),
        f.cpu.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "| provision, tool (`via: tool`, `--per-host 4`) | {m} | {:.2} | {o_rate:.2} | {:.2} | {} |",
        tool_run.0.wall.as_secs_f64(),
        tool_run.0.cpu.as_secs_f64(),
        tool_run.1
    );
    let _ = writeln!(
        out,
        "\ntunnel / floor = **{:.2}** (target ≥ 0.9); tunnel / tool = **{:.0}×** (target ≥ 30×; the tool's rate measured on {m} users)\n",
        t_rate / f_rate,
        t_rate / o_rate
    );
    flush(out);
}

/// Synapse servers the fleet's hosts share: host i is in front of server i mod FLEET_SYNAPSES.
const FLEET_SYNAPSES: usize = 2;
/// The latency proxy's delay, each way.
const DELAY: Duration = Duration::from_millis(25);
/// The key exchange of the fleet part's last two runs (ssh_config's KexAlgorithms).
const KEX: &str = "curve25519-sha256";
/// A measured run of the fleet part that takes longer than this is stopped and fails.
const RUN_LIMIT: Duration = Duration::from_secs(900);

/// The fleet's host i: 127.0.1.1, 127.0.1.2, … (the whole of 127/8 is loopback on Linux; the
/// tests keep to 127.0.0.x).
fn fleet_address(i: usize) -> String {
    format!("127.0.{}.{}", 1 + i / 250, 1 + i % 250)
}

/// What one measured run of the fleet part took.
#[derive(Clone, Copy, Default)]
struct Measure {
    wall: Duration,
    /// CPU of the client: every process it started and waited for (getrusage's children).
    cpu: Duration,
    /// CPU of the client's main process alone (provision, ansible-playbook, sh), without
    /// the processes it started (added up over several).
    main_cpu: Duration,
    /// CPU of the whole machine over the run (/proc/stat): servers, sshd, tools and client,
    /// and whatever else ran on the machine.
    machine: Duration,
    /// CPU of this benchmark's processes over the run: the same without the rest of the
    /// machine.
    own: Duration,
    /// Peak RSS of the client's main process (its VmHWM, KiB; the largest of several).
    peak_main: u64,
    /// Peak of the client's process tree, each process's RSS added up (KiB, sampled).
    peak_tree: u64,
    /// SSH connections the hosts accepted in the run: fewest and most on one host.
    conns: (usize, usize),
}

/// Busy CPU time of the whole machine so far, from the first line of /proc/stat.
fn machine_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap())
        .collect();
    // user nice system idle iowait irq softirq steal: all but idle and iowait.
    let busy: u64 = fields[..8]
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| v)
        .sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Duration::from_secs_f64(busy as f64 / hz)
}

/// VmHWM of a live process, KiB.
fn vm_hwm(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Every process of the machine: (pid, parent, CPU ticks of it and its reaped children, RSS
/// in KiB), from /proc/PID/stat.
fn processes() -> Vec<(u32, u32, u64, u64)> {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64 / 1024;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // After the command's closing parenthesis: state, ppid, … utime (11), stime,
            // cutime, cstime (14), … rss (21), in pages.
            let rest: Vec<u64> = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .skip(1)
                .map(|v| v.parse().unwrap_or(0))
                .collect();
            let field = |i: usize| rest.get(i - 1).copied().unwrap_or(0);
            Some((
                pid,
                field(1) as u32,
                (11..=14).map(field).sum(),
                field(21) * page,
            ))
        })
        .collect()
}

/// The processes of `all` that are `roots` or below them.
fn below(all: &[(u32, u32, u64, u64)], roots: &[u32]) -> Vec<usize> {
    let parent: std::collections::HashMap<u32, u32> =
        all.iter().map(|&(pid, ppid, _, _)| (pid, ppid)).collect();
    (0..all.len())
        .filter(|&i| {
            let mut p = all[i].0;
            for _ in 0..64 {
                if roots.contains(&p) {
                    return true;
                }
                match parent.get(&p) {
                    Some(&up) if up > 1 => p = up,
                    _ => return false,
                }
            }
            false
        })
        .collect()
}

/// The RSS of `roots` and every process below them, added up (KiB).
fn tree_rss(roots: &[u32]) -> u64 {
    let all = processes();
    below(&all, roots).iter().map(|&i| all[i].3).sum()
}

/// CPU time used so far by this benchmark's processes: the harness (the latency proxy is in
/// it), its servers (Synapse, sshd and what they run) and the clients, reaped ones included;
/// not the rest of the machine.
fn own_cpu() -> Duration {
    let all = processes();
    let ticks: u64 = below(&all, &[std::process::id()])
        .iter()
        .map(|&i| all[i].2)
        .sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Duration::from_secs_f64(ticks as f64 / hz)
}

/// Whether a child has exited, without reaping it (waitid's WNOWAIT): its /proc entry stays.
fn exited(pid: u32) -> bool {
    // SAFETY: waitid fills the siginfo it is given; WNOWAIT leaves the child unreaped.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        libc::waitid(
            libc::P_PID,
            pid,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        ) == 0
            && info.si_pid() != 0
    }
}

/// The CPU time (user and system) of a process itself, not its children's.
fn self_cpu(pid: u32) -> Duration {
    let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let rest: Vec<u64> = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .skip(1)
                .map(|v| v.parse().unwrap_or(0))
                .collect();
            Some(rest.get(10)? + rest.get(11)?)
        })
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Duration::from_secs_f64(ticks as f64 / hz)
}

/// Starts `commands` all at once and waits for them, each to exit 0 (else a panic naming its
/// output file), within RUN_LIMIT; what the run took. `hosts` are the indexes of the hosts
/// whose connections count.
fn measure(commands: Vec<Command>, proxy: &LatencyProxy, hosts: &[usize]) -> Measure {
    let before = proxy.connections();
    let (machine, own, cpu) = (
        machine_cpu(),
        own_cpu(),
        super::cpu_time(libc::RUSAGE_CHILDREN),
    );
    let start = Instant::now();
    let mut children: Vec<(Option<Child>, PathBuf, String)> = commands
        .into_iter()
        .map(|mut c| {
            let log = scratch().join(unique("bench-fleet-run.out"));
            let file = std::fs::File::create(&log).unwrap();
            let child = c
                .stdin(Stdio::null())
                .stdout(file.try_clone().unwrap())
                .stderr(file)
                .spawn()
                .unwrap_or_else(|e| panic!("{c:?}: {e}"));
            (Some(child), log, format!("{c:?}"))
        })
        .collect();
    let (mut peak_main, mut peak_tree, mut main_cpu) = (0, 0, Duration::ZERO);
    let mut last_tree = Instant::now() - Duration::from_secs(1);
    let poll = if children.len() > 4 {
        Duration::from_millis(100)
    } else {
        Duration::from_millis(10)
    };
    loop {
        let live: Vec<u32> = children
            .iter()
            .filter_map(|(c, _, _)| c.as_ref().map(Child::id))
            .collect();
        for &pid in &live {
            peak_main = peak_main.max(vm_hwm(pid));
        }
        if last_tree.elapsed() >= Duration::from_millis(250) {
            peak_tree = peak_tree.max(tree_rss(&live));
            last_tree = Instant::now();
        }
        for (slot, log, what) in &mut children {
            if let Some(child) = slot
                && exited(child.id())
            {
                // Read before it is reaped: the process's own CPU, apart from its children's.
                main_cpu += self_cpu(child.id());
                let status = child.wait().unwrap();
                assert!(
                    status.success(),
                    "{what} exited {status}; its output is in {}",
                    log.display()
                );
                *slot = None;
            }
        }
        if children.iter().all(|(c, _, _)| c.is_none()) {
            break;
        }
        if start.elapsed() > RUN_LIMIT {
            for (slot, _, _) in &mut children {
                if let Some(child) = slot {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
            panic!("a fleet run took more than {RUN_LIMIT:?}: stopped");
        }
        std::thread::sleep(poll);
    }
    let wall = start.elapsed();
    let after = proxy.connections();
    let per_host: Vec<usize> = hosts.iter().map(|&h| after[h] - before[h]).collect();
    Measure {
        wall,
        cpu: super::cpu_time(libc::RUSAGE_CHILDREN) - cpu,
        machine: machine_cpu() - machine,
        own: own_cpu() - own,
        main_cpu,
        peak_main,
        peak_tree,
        conns: (
            per_host.iter().copied().min().unwrap_or(0),
            per_host.iter().copied().max().unwrap_or(0),
        ),
    }
}

/// ansible-core's venv, as tests/support/ansible.py installs it once: its bin folder.
fn ansible_bin() -> PathBuf {
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/support/ansible.py"
        ))
        .arg("venv")
        .stderr(Stdio::inherit())
        .output()
        .expect("python3 runs tests/support/ansible.py");
    assert!(out.status.success(), "tests/support/ansible.py venv failed");
    String::from_utf8(out.stdout).unwrap().trim().into()
}

/// RLIMIT_NOFILE's soft limit raised to its hard limit: the proxy holds two sockets per
/// connection, and a hundred hosts' clients hold more.
fn raise_open_files() {
    // SAFETY: getrlimit/setrlimit fill and read a plain struct.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Ends the processes whose command line names `dir` (ansible's ControlPersist masters, which
/// outlive ansible-playbook by design), and waits until they are gone.
fn stop_naming(dir: &Path) {
    let needle = dir.to_str().unwrap();
    let find = || -> Vec<i32> {
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let pid: i32 = e.file_name().to_str()?.parse().ok()?;
                let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
                String::from_utf8_lossy(&cmdline)
                    .contains(needle)
                    .then_some(pid)
            })
            .collect()
    };
    for pid in find() {
        // SAFETY: kill(2) with a pid read just now from /proc.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !find().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Part 8: the fleet at scale.
pub fn fleet(out: &mut String, sizes: &Sizes) {
    raise_open_files();
    let n = sizes.fleet_hosts;
    let addresses: Vec<String> = (0..n).map(fleet_address).collect();
    let synapses: Vec<Synapse> = std::thread::scope(|scope| {
        let started: Vec<_> = (0..FLEET_SYNAPSES)
            .map(|j| {
                scope.spawn(move || synapse_with_rounds(&format!("bench-synapse-fleet100-{j}"), 4))
            })
            .collect();
        started.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let refs: Vec<&str> = addresses.iter().map(String::as_str).collect();
    let d = sshd_fleet("bench-sshd-fleet100", &refs);
    let proxy = LatencyProxy::start(&addresses, d.port, DELAY);
    // The hosts' keys as seen through the proxy: the same keys, at the proxy's port.
    let known = write_file(
        "bench-fleet100-known_hosts",
        &std::fs::read_to_string(d.dir.join("known_hosts"))
            .unwrap()
            .replace(&format!("]:{} ", d.port), &format!("]:{} ", proxy.port)),
    );
    let key = d.dir.join("id_ed25519");
    let tool = synapses[0].register_tool();
    let synapse_of = |i: usize| &synapses[i % FLEET_SYNAPSES];
    // The user is on the server of each of `hosts`.
    let on_their_servers = |user: &str, hosts: &[usize]| {
        let mut servers: Vec<usize> = hosts.iter().map(|h| h % FLEET_SYNAPSES).collect();
        servers.sort_unstable();
        servers.dedup();
        for j in servers {
            assert!(
                synapses[j].record(user).is_some(),
                "{user} is not on Synapse {j}"
            );
        }
    };
    let inventory = |via: &str, options: &str| {
        let mut yaml = format!(
            "all:\n  vars:\n    server_name: {SERVER_NAME}\n    backend: synapse-cli\n    transport: ssh\n    via: {via}\n    command: {tool}\n  hosts:\n"
        );
        for (i, a) in addresses.iter().enumerate() {
            let s = synapse_of(i);
            let _ = write!(
                yaml,
                "    h{i}:\n      ssh: {{host: {a}, port: {}, user: root, identity_file: {}, known_hosts: {}{options}}}\n      config: {}\n      url: {}\n",
                proxy.port,
                key.display(),
                known.display(),
                s.config().display(),
                s.url
            );
        }
        write_file("bench-fleet100.yaml", &yaml)
    };
    let (api, via_tool) = (inventory("api", ""), inventory("tool", ""));
    let pw = write_file("bench-fleet100.pw", "fleet-password");
    let all: Vec<usize> = (0..n).collect();
    // provision register USER on every host (or `limit`): one process.
    let register = |inv: &Path, limit: Option<&str>, hosts: &[usize]| {
        let user = unique("fl");
        let mut c = Command::new(PROVISION);
        c.args(["register", &user, "--password-file"])
            .arg(&pw)
            .arg("-i")
            .arg(inv)
            .args(["--forks", &n.to_string()]);
        if let Some(limit) = limit {
            c.args(["--limit", limit]);
        }
        let m = measure(vec![c], &proxy, hosts);
        on_their_servers(&user, hosts);
        m
    };
    // Warm: the Synapses, each path once on a host of each Synapse.
    for s in &synapses {
        floor_client(s, 10, CONCURRENCY, &unique("w"));
    }
    let warm: Vec<usize> = (0..FLEET_SYNAPSES.min(n)).collect();
    let warm_limit = warm
        .iter()
        .map(|i| format!("h{i}"))
        .collect::<Vec<_>>()
        .join(",");
    register(&api, Some(&warm_limit), &warm);
    register(&via_tool, Some(&warm_limit), &warm);

    let load_before = shell("cat /proc/loadavg");
    // The slowest single host alone, on a sample of hosts, for each path.
    let sample: Vec<usize> = {
        let mut s = vec![0, n / 2, n - 1];
        s.dedup();
        s
    };
    let single = |inv: &Path| {
        sample
            .iter()
            .map(|&i| register(inv, Some(&format!("h{i}")), &[i]).wall)
            .max()
            .unwrap_or_default()
    };
    let single_api = single(&api);
    let single_tool = single(&via_tool);

    // ansible-playbook: what matrix-docker-ansible-deploy's `register-user` tag does on each
    // host (its `register-user` script runs `register_new_matrix_user -u USER -p PASSWORD
    // -a|--no-admin -c CONFIG URL`), with -f the fleet's size, through the same proxies.
    let bin = ansible_bin();
    let dir = scratch().join(unique("bench-ansible"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("play.yml"),
        format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: register user\n      ansible.builtin.command:\n        argv: [{tool}, -u, \"{{{{ username }}}}\", -p, \"{{{{ password }}}}\", --no-admin, --exists-ok, -c, \"{{{{ synapse_config }}}}\", \"{{{{ synapse_url }}}}\"]\n      no_log: true\n"
        ),
    )
    .unwrap();
    // One run of the play, with `ssh_args` added to ansible's ssh command lines.
    let playbook = |ssh_args: &str| {
        let mut hosts = String::from("all:\n  hosts:\n");
        for (i, a) in addresses.iter().enumerate() {
            let s = synapse_of(i);
            let _ = writeln!(
                hosts,
                "    h{i}:\n      ansible_host: {a}\n      synapse_config: {}\n      synapse_url: {}",
                s.config().display(),
                s.url
            );
        }
        let _ = write!(
            hosts,
            "  vars:\n    ansible_user: root\n    ansible_port: {}\n    ansible_ssh_private_key_file: {}\n    ansible_ssh_common_args: -o UserKnownHostsFile={}{ssh_args}\n    ansible_python_interpreter: /usr/bin/python3\n",
            proxy.port,
            key.display(),
            known.display()
        );
        std::fs::write(dir.join("hosts.yml"), hosts).unwrap();
        // A short folder of ours for ansible's control sockets (a Unix socket path is at most
        // 107 bytes): its masters are found by it and ended after the run.
        let control = PathBuf::from(format!("/tmp/pfa-{}", unique("")));
        std::fs::create_dir_all(&control).unwrap();
        let user = unique("fla");
        std::fs::write(
            dir.join("vars.json"),
            serde_json::json!({"username": user, "password": "fleet-password"}).to_string(),
        )
        .unwrap();
        let mut play = Command::new(bin.join("ansible-playbook"));
        play.args([
            "-i",
            "hosts.yml",
            "play.yml",
            "-e",
            "@vars.json",
            "-f",
            &n.to_string(),
        ])
        .current_dir(&dir)
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_PIPELINING", "True")
        .env("ANSIBLE_SSH_CONTROL_PATH_DIR", &control)
        .env("ANSIBLE_LOCAL_TEMP", dir.join("tmp"));
        let m = measure(vec![play], &proxy, &all);
        stop_naming(&control);
        let _ = std::fs::remove_dir_all(&control);
        on_their_servers(&user, &all);
        m
    };
    // The three twice each, interleaved, the faster run of each kept whole (its CPU, RSS and
    // connections with it): the machine is shared, and other load comes in bursts.
    let (mut tunnels, mut tools, mut ansibles) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..2 {
        tunnels.push(register(&api, None, &all));
        tools.push(register(&via_tool, None, &all));
        ansibles.push(playbook(""));
    }
    let fastest = |runs: Vec<Measure>| runs.into_iter().min_by_key(|m| m.wall).unwrap();
    let (tunnel, tool_run, ansible) = (fastest(tunnels), fastest(tools), fastest(ansibles));
    // "ansible-playbook [core 2.19.14]": the version of ansible-core.
    let ansible_version = shell(&format!(
        "{} --version | head -1 | sed 's/.*core \\([^]]*\\)].*/ansible-core \\1/'",
        bin.join("ansible-playbook").display()
    ));

    // The operator's loop: one `ssh host register_new_matrix_user …` after another, on a
    // sample of the hosts, multiplied out.
    let looped = sizes.loop_sample.min(n);
    let user = unique("fll");
    let mut list = String::new();
    for (i, a) in addresses.iter().enumerate().take(looped) {
        let s = synapse_of(i);
        let _ = writeln!(list, "{a} {} {}", s.config().display(), s.url);
    }
    let list = write_file("bench-fleet100-loop.txt", &list);
    let script = r#"while read -r host config url; do ssh -n -i "$KEY" -o UserKnownHostsFile="$KNOWN" -o BatchMode=yes -p "$PORT" "root@$host" "$TOOL" -u "$NAME" -p fleet-password --no-admin --exists-ok -c "$config" "$url" || exit 1; done < "$1""#;
    let mut sh = Command::new("sh");
    sh.args(["-c", script, "sh"])
        .arg(&list)
        .env("KEY", &key)
        .env("KNOWN", &known)
        .env("PORT", proxy.port.to_string())
        .env("TOOL", &tool)
        .env("NAME", &user);
    let sampled: Vec<usize> = (0..looped).collect();
    let shell_loop = measure(vec![sh], &proxy, &sampled);
    on_their_servers(&user, &sampled);
    let scale = n as f64 / looped as f64;
    let shell_loop = Measure {
        wall: shell_loop.wall.mul_f64(scale),
        cpu: shell_loop.cpu.mul_f64(scale),
        main_cpu: shell_loop.main_cpu.mul_f64(scale),
        machine: shell_loop.machine.mul_f64(scale),
        own: shell_loop.own.mul_f64(scale),
        ..shell_loop
    };

    // Bulk: users spread over the hosts, each host's own share in its own users file (every
    // user of a file goes to every host a run selects), one `register --from` per host, all
    // started at once.
    let total = sizes.fleet_users;
    let prefix = unique("fls");
    let mut runs = Vec::new();
    let mut shares = Vec::new();
    for i in 0..n {
        let share = total / n + usize::from(i < total % n);
        let users = users_csv(&format!("{prefix}-h{i}"), share);
        shares.push(share);
        let passwords = scratch().join(unique("bench-fleet100-pw.csv"));
        let mut c = Command::new(PROVISION);
        c.args(["register", "--from"])
            .arg(&users)
            .arg("--passwords-out")
            .arg(&passwords)
            .args(["--limit", &format!("h{i}"), "-i"])
            .arg(&api);
        runs.push(c);
    }
    let spread = measure(runs, &proxy, &all);
    let listed: std::collections::HashSet<String> = synapses
        .iter()
        .flat_map(|s| s.all_users())
        .map(|(id, _)| id)
        .collect();
    for (i, share) in shares.iter().enumerate() {
        for j in 0..*share {
            let id = format!("@{prefix}-h{i}-{j}:{SERVER_NAME}");
            assert!(listed.contains(&id), "spread: {id} is not on its Synapse");
        }
    }
    // The same two clients with the classic key exchange, cheaper than OpenSSH 9.2's
    // default (sntrup761x25519-sha512) for the client: what the SSH handshakes cost of each.
    let tunnel_kex = register(
        &inventory("api", &format!(", options: {{KexAlgorithms: {KEX}}}")),
        None,
        &all,
    );
    let ansible_kex = playbook(&format!(" -o KexAlgorithms={KEX}"));
    let load_after = shell("cat /proc/loadavg");

    // The table.
    let (fewest, most) = (
        shares.iter().min().unwrap_or(&0),
        shares.iter().max().unwrap_or(&0),
    );
    let shares_text = if fewest == most {
        fewest.to_string()
    } else {
        format!("{fewest}–{most}")
    };
    let _ = writeln!(
        out,
        "## 8. A fleet of {n} SSH hosts, 50 ms away\n\n{n} hosts, each a real sshd (Debian's openssh-server, as the fixtures start it) on its own loopback address (127.0.1.1 …), each reached through a latency proxy of the harness that delays every chunk 25 ms each way (50 ms round trip; the chunks' delays overlap, order kept), all in front of {FLEET_SYNAPSES} Synapse servers (SQLite, bcrypt_rounds=4; host i uses server i mod {FLEET_SYNAPSES}; `register_new_matrix_user` from the fixtures' venv). provision through the tunnel, through the tool, and ansible-playbook ran twice each, interleaved, and the faster run of each is shown; the others once. Every method registers the same user on every host (a new user per method: the first host of each server creates it, the others find it there); `register --from` registers {total} users, each host its own {shares_text} (one users file and one provision process per host, all started at once: a users file's users go to every host a run selects). ansible-playbook ({ansible_version}) runs a play doing what matrix-docker-ansible-deploy's `register-user` does on each host (`register_new_matrix_user -u USER -p PASSWORD --no-admin -c CONFIG URL`, here with `--exists-ok`), `gather_facts: false`, pipelining on, `-f {n}`, its ControlPersist masters ended after the run. The shell loop is `while read host; do ssh host register_new_matrix_user …; done`, one host after another, timed on the first {looped} hosts and multiplied by {scale:.1} (extrapolated). The last two rows repeat the tunnel and ansible-playbook with the client's key exchange set to {KEX} (the inventory's `ssh: {{options: {{KexAlgorithms: …}}}}`, ansible's `ansible_ssh_common_args`) instead of OpenSSH's default. Client CPU is the main process's own (read before it is reaped) and getrusage's children, all it started included (provision's ssh masters; not ansible's ControlPersist masters, which outlive it); the benchmark's CPU is that of the harness (the latency proxy is in it) and everything below it: servers, sshd, tools and clients; machine CPU is /proc/stat's busy time over the run (servers, sshd, tools and client; other load on the machine included); client peak RSS is the main process's VmHWM (the largest of the {n} for `--from`); tree RSS adds up the RSS of every process of the client (sampled every 250 ms, shared pages counted in each process). Connections per host are counted by the proxy (fewest–most on one host). Load average before and after: `{load_before}`, `{load_after}`.\n",
    );
    let _ = writeln!(
        out,
        "| method | wall time (s) | registrations/s | client CPU: main process / all (s) | benchmark's CPU (s) | machine CPU (s) | client peak RSS (MB) | client tree peak RSS (MB) | SSH connections per host |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    let rows: [(String, &Measure, usize); 7] = [
        (
            format!("provision `register USER --forks {n}`, tunnel (`via: api`)"),
            &tunnel,
            n,
        ),
        (
            format!("provision `register USER --forks {n}`, tool (`via: tool`)"),
            &tool_run,
            n,
        ),
        (format!("ansible-playbook `-f {n}`"), &ansible, n),
        (
            format!(
                "shell loop of `ssh host register_new_matrix_user …`: {looped} timed, × {scale:.1}"
            ),
            &shell_loop,
            n,
        ),
        (
            format!("provision `register --from` (tunnel), {total} users, one process per host"),
            &spread,
            total,
        ),
        (
            format!("provision `register USER --forks {n}`, tunnel, `KexAlgorithms {KEX}`"),
            &tunnel_kex,
            n,
        ),
        (
            format!("ansible-playbook `-f {n}`, `-o KexAlgorithms={KEX}`"),
            &ansible_kex,
            n,
        ),
    ];
    for (label, m, count) in &rows {
        let conns = if m.conns.0 == m.conns.1 {
            m.conns.0.to_string()
        } else {
            format!("{}–{}", m.conns.0, m.conns.1)
        };
        let _ = writeln!(
            out,
            "| {label} | {:.2} | {:.1} | {:.2} / {:.2} | {:.2} | {:.2} | {:.1} | {:.1} | {conns} |",
            m.wall.as_secs_f64(),
            rate(*count, m.wall),
            m.main_cpu.as_secs_f64(),
            m.cpu.as_secs_f64(),
            m.own.as_secs_f64(),
            m.machine.as_secs_f64(),
            m.peak_main as f64 / 1024.0,
            m.peak_tree as f64 / 1024.0,
        );
    }
    let cores = std::thread::available_parallelism().map_or(2, |c| c.get()) as f64;
    let floor =
        |single: Duration, m: &Measure| single.as_secs_f64().max(m.machine.as_secs_f64() / cores);
    let (floor_api, floor_tool) = (floor(single_api, &tunnel), floor(single_tool, &tool_run));
    let own_floor =
        |single: Duration, m: &Measure| single.as_secs_f64().max(m.own.as_secs_f64() / cores);
    let _ = writeln!(
        out,
        "\n| provision's physical floor | tunnel | tool |\n| --- | ---: | ---: |\n| slowest single host alone (hosts {}) (s) | {:.2} | {:.2} |\n| machine CPU of the run ÷ {cores:.0} cores (s) | {:.2} | {:.2} |\n| wall time / floor (target ≤ 1.5) | **{:.2}** | **{:.2}** |\n| the benchmark's own CPU of the run ÷ {cores:.0} cores (s) | {:.2} | {:.2} |\n| wall time / floor without the machine's other load | {:.2} | {:.2} |\n",
        sample
            .iter()
            .map(|i| format!("h{i}"))
            .collect::<Vec<_>>()
            .join(", "),
        single_api.as_secs_f64(),
        single_tool.as_secs_f64(),
        tunnel.machine.as_secs_f64() / cores,
        tool_run.machine.as_secs_f64() / cores,
        tunnel.wall.as_secs_f64() / floor_api,
        tool_run.wall.as_secs_f64() / floor_tool,
        tunnel.own.as_secs_f64() / cores,
        tool_run.own.as_secs_f64() / cores,
        tunnel.wall.as_secs_f64() / own_floor(single_api, &tunnel),
        tool_run.wall.as_secs_f64() / own_floor(single_tool, &tool_run),
    );
    let secs = |m: &Measure| m.wall.as_secs_f64();
    let _ = writeln!(
        out,
        "ansible-playbook / provision (tunnel) = **{:.1}×** (target ≥ 10×; {:.1}× both with `KexAlgorithms {KEX}`); ansible-playbook / provision (tool) = **{:.1}×**; tool / tunnel = **{:.1}×**; shell loop / provision (tunnel) = **{:.0}×** (extrapolated); connections per host: tunnel {}, tool {} (target: exactly 1); provision's peak RSS {:.1} MB (tunnel), {:.1} MB (tool) (target < 50 MB)\n",
        secs(&ansible) / secs(&tunnel),
        secs(&ansible_kex) / secs(&tunnel_kex),
        secs(&ansible) / secs(&tool_run),
        secs(&tool_run) / secs(&tunnel),
        secs(&shell_loop) / secs(&tunnel),
        tunnel.conns.1,
        tool_run.conns.1,
        tunnel.peak_main as f64 / 1024.0,
        tool_run.peak_main as f64 / 1024.0,
    );
    flush(out);
    drop(proxy);
}
