//! Exec backends over real transports: Synapse's register_new_matrix_user locally, over SSH
//! (three sshd hosts), in a Docker container (the Engine API) and in a container over SSH;
//! the Dendrite and MAS stand-ins; the playbook's wrapper. Every test logs in as the new user
//! and proves the password never reached a command line it should not have.

use std::path::Path;

use crate::fixtures::{
    SERVER_NAME, argv_recorder, assert_argv_clean, docker_synapse, json, provision, scratch, sshd,
    synapse, text, unique, write_file,
};

const FLEET: [&str; 3] = ["127.0.0.2", "127.0.0.3", "127.0.0.4"];

fn standin(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/standins")
        .join(name)
        .to_str()
        .unwrap()
        .to_owned()
}

/// An inventory of hosts, each given as (name, YAML lines of its vars).
fn inventory(hosts: &[(String, String)]) -> std::path::PathBuf {
    let mut yaml = format!("all:\n  vars:\n    server_name: {SERVER_NAME}\n  hosts:\n");
    for (name, vars) in hosts {
        yaml.push_str(&format!("    {name}:\n"));
        for line in vars.lines() {
            yaml.push_str(&format!("      {line}\n"));
        }
    }
    write_file("exec-inventory.yaml", &yaml)
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

#[test]
fn synapse_cli_locally_uses_stdin_and_converges_on_rerun() {
    let s = synapse();
    let (tool, argv) = argv_recorder(&scratch(), &s.register_tool());
    let vars = format!(
        "backend: synapse-cli\ntransport: local\nconfig: {}\nurl: {}\ncommand: {}",
        s.config().display(),
        s.url,
        tool.display()
    );
    let inv = inventory(&[("local".into(), vars)]);
    let user = unique("cli");
    let out = register(&inv, &user, "local-secret-pw", &["--admin"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(json(&out)["hosts"][0]["outcome"], "created");
    assert!(s.login(&user, "local-secret-pw").is_ok());
    assert_eq!(s.admin_flag(&user), Some(true));
    let recorded = assert_argv_clean(&argv, "local-secret-pw");
    assert!(
        recorded.contains("--password-file /dev/stdin"),
        "{recorded}"
    );

    let out = register(&inv, &user, "local-secret-pw", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(json(&out)["hosts"][0]["outcome"], "exists");
}

#[test]
fn synapse_cli_over_ssh_on_three_hosts() {
    let s = synapse();
    let d = sshd();
    let (tool, argv) = argv_recorder(&scratch(), &s.register_tool());
    let hosts: Vec<(String, String)> = FLEET
        .iter()
        .enumerate()
        .map(|(i, addr)| {
            (
                format!("ssh{i}"),
                format!(
                    "backend: synapse-cli\nvia: tool\ntransport: ssh\nssh: {}\nconfig: {}\nurl: {}\ncommand: {}",
                    d.ssh_vars(addr),
                    s.config().display(),
                    s.url,
                    tool.display()
                ),
            )
        })
        .collect();
    let inv = inventory(&hosts);
    // Three hosts serve one Synapse here: the first registers, the others find the user.
    let user = unique("ssh");
    let out = register(&inv, &user, "over-ssh-pw", &["--forks", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc = json(&out);
    let outcomes: Vec<&str> = (0..3)
        .map(|i| doc["hosts"][i]["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["created", "exists", "exists"]);
    assert!(s.login(&user, "over-ssh-pw").is_ok());
    let recorded = assert_argv_clean(&argv, "over-ssh-pw");
    // One run of the tool per host: its features are not asked for first.
    assert_eq!(recorded.lines().count(), 3, "{recorded}");
    assert!(!recorded.contains("--help"), "{recorded}");
}

#[test]
fn one_ssh_connection_per_host_per_run() {
    let s = synapse();
    let d = sshd();
    let vars = format!(
        "backend: synapse-cli\nvia: tool\ntransport: ssh\nssh: {}\nconfig: {}\nurl: {}\ncommand: {}",
        d.ssh_vars(crate::fixtures::COUNTED),
        s.config().display(),
        s.url,
        s.register_tool()
    );
    let inv = inventory(&[("counted".into(), vars)]);
    let _counting = crate::fixtures::counted_lock();
    let before = d.connections(crate::fixtures::COUNTED);
    let user = unique("count");
    let out = register(&inv, &user, "count-pw", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The registration ran over one connection, opened for this run.
    assert_eq!(d.connections(crate::fixtures::COUNTED) - before, 1);
    assert!(s.login(&user, "count-pw").is_ok());
}

#[test]
fn unknown_host_key_is_refused_unless_accepting_is_asked_for() {
    let s = synapse();
    let d = sshd();
    let empty = write_file("known_hosts", "");
    let ssh = format!(
        "{{host: {}, port: {}, user: root, identity_file: {}, known_hosts: {}}}",
        FLEET[0],
        d.port,
        d.dir.join("id_ed25519").display(),
        empty.display()
    );
    let vars = format!(
        "backend: synapse-cli\nvia: tool\ntransport: ssh\nssh: {ssh}\nconfig: {}\ncommand: {}",
        s.config().display(),
        s.register_tool()
    );
    let inv = inventory(&[("stranger".into(), vars.clone())]);
    let user = unique("hostkey");
    let out = register(&inv, &user, "hostkey-pw", &[]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert_eq!(json(&out)["hosts"][0]["status"], "unreachable");
    let msg = json(&out)["hosts"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        msg.contains("ssh root@127.0.0.2") && msg.contains("Host key verification failed"),
        "{msg}"
    );
    assert_eq!(s.admin_flag(&user), None);

    let accepting = vars.replace("known_hosts:", "accept_new_host_key: true, known_hosts:");
    let inv = inventory(&[("stranger".into(), accepting)]);
    let out = register(&inv, &user, "hostkey-pw", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // (ssh may hash the host name it records, so only the key type is visible.)
    assert!(
        std::fs::read_to_string(&empty)
            .unwrap()
            .contains("ssh-ed25519"),
        "the key was recorded"
    );
    assert!(s.login(&user, "hostkey-pw").is_ok());
}

#[test]
fn unreachable_ssh_host_fails_alone() {
    let s = synapse();
    let d = sshd();
    let good = format!(
        "backend: synapse-cli\nvia: tool\ntransport: ssh\nssh: {}\nconfig: {}\ncommand: {}",
        d.ssh_vars(FLEET[1]),
        s.config().display(),
        s.register_tool()
    );
    let dead = good.replace(&format!("port: {}", d.port), "port: 1");
    let inv = inventory(&[("dead".into(), dead), ("alive".into(), good)]);
    let user = unique("sshdead");
    let out = register(&inv, &user, "sshdead-pw", &[]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let doc = json(&out);
    assert_eq!(doc["hosts"][0]["status"], "unreachable");
    assert!(
        doc["hosts"][0]["message"]
            .as_str()
            .unwrap()
            .contains("ssh root@127.0.0.3:1"),
        "{doc}"
    );
    assert_eq!(doc["hosts"][1]["status"], "changed");
    assert!(s.login(&user, "sshdead-pw").is_ok());
}

#[test]
fn synapse_cli_in_a_container_through_the_docker_api() {
    let s = docker_synapse();
    let container = s.container.clone().unwrap();
    // The recorder must live where the container sees it: the Synapse folder is mounted.
    let (tool, argv) = argv_recorder(&s.dir, &s.register_tool());
    let vars = format!(
        "backend: synapse-cli\ntransport: docker\nvia: tool\ndocker: {{container: {container}}}\nconfig: {}\nurl: {}\ncommand: {}",
        s.config().display(),
        s.url,
        tool.display()
    );
    let inv = inventory(&[("engine".into(), vars)]);
    let user = unique("docker");
    let out = register(&inv, &user, "docker-pw", &["--admin"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(json(&out)["hosts"][0]["outcome"], "created");
    assert!(s.login(&user, "docker-pw").is_ok());
    assert_eq!(s.admin_flag(&user), Some(true));
    assert_argv_clean(&argv, "docker-pw");
}

/// Without `via`, a tool in a local container registers through the shared-secret API at the
/// listener its config names, reached in the container (its loopback; the fixture's
/// container is on the host's network): the tool never runs, the user logs in, and ping says
/// which way.
#[test]
fn synapse_cli_in_a_local_container_registers_through_the_api() {
    let s = docker_synapse();
    let container = s.container.clone().unwrap();
    let (tool, argv) = argv_recorder(&s.dir, &s.register_tool());
    let vars = format!(
        "backend: synapse-cli\ntransport: docker\ndocker: {{container: {container}}}\nconfig: {}\ncommand: {}",
        s.config().display(),
        tool.display()
    );
    let inv = inventory(&[("engine".into(), vars)]);
    let user = unique("dockerapi");
    let out = register(&inv, &user, "docker-api-pw", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(json(&out)["hosts"][0]["outcome"], "created");
    assert!(s.login(&user, "docker-api-pw").is_ok());
    assert!(!argv.exists(), "the tool ran: {}", text(&out));
    let out = provision(&["ping", "-i", inv.to_str().unwrap()], "");
    assert!(
        text(&out).contains(&format!(
            "in the container {container} of the local Docker Engine"
        )),
        "{}",
        text(&out)
    );
}

#[test]
fn stopped_or_missing_container_is_a_clear_failure() {
    let s = synapse();
    let vars = format!(
        "backend: synapse-cli\ntransport: docker\ndocker: {{container: provision-no-such-container}}\nconfig: {}",
        s.config().display()
    );
    let inv = inventory(&[("ghost".into(), vars)]);
    let out = register(&inv, &unique("ghost"), "ghost-pw", &[]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert_eq!(json(&out)["hosts"][0]["status"], "unreachable");
    let msg = json(&out)["hosts"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        msg.contains("provision-no-such-container") && msg.contains("no such container"),
        "{msg}"
    );
}

#[test]
fn synapse_cli_in_a_container_over_ssh() {
    let s = docker_synapse();
    let d = sshd();
    let container = s.container.clone().unwrap();
    let (tool, argv) = argv_recorder(&s.dir, &s.register_tool());
    let vars = format!(
        "backend: synapse-cli\nvia: tool\ntransport: ssh\nssh: {}\ndocker: {{container: {container}}}\nconfig: {}\nurl: {}\ncommand: {}",
        d.ssh_vars(FLEET[2]),
        s.config().display(),
        s.url,
        tool.display()
    );
    let inv = inventory(&[("dockerssh".into(), vars)]);
    let user = unique("dockerssh");
    let out = register(&inv, &user, "dockerssh-pw", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(s.login(&user, "dockerssh-pw").is_ok());
    assert_eq!(s.admin_flag(&user), Some(false));
    assert_argv_clean(&argv, "dockerssh-pw");
}

/// A Dendrite config for the stand-in, pointing at the Synapse fixture's shared secret.
fn dendrite_config(secret_file: &Path) -> std::path::PathBuf {
    let secret = std::fs::read_to_string(secret_file).unwrap();
    let config = serde_json::json!({
        "global": {"server_name": SERVER_NAME},
        "client_api": {"registration_shared_secret": secret.trim()},
    });
    write_file("dendrite.yaml", &config.to_string())
}

#[test]
fn dendrite_cli_standin_over_ssh() {
    let s = synapse();
    let d = sshd();
    let (tool, argv) = argv_recorder(&scratch(), &standin("create-account"));
    let vars = format!(
        "backend: dendrite-cli\nvia: tool\ntransport: ssh\nssh: {}\nconfig: {}\nurl: {}\ncommand: {}",
        d.ssh_vars(FLEET[0]),
        dendrite_config(&s.secret_file()).display(),
        s.url,
        tool.display()
    );
    let inv = inventory(&[("dendrite".into(), vars)]);
    let user = unique("dendrite");
    let out = register(&inv, &user, "dendrite-pw", &["--admin"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(json(&out)["hosts"][0]["outcome"], "created");
    assert!(
        !text(&out).contains("AccessToken"),
        "the tool's token is not passed on"
    );
    assert!(s.login(&user, "dendrite-pw").is_ok());
    assert_eq!(s.admin_flag(&user), Some(true));
    let recorded = assert_argv_clean(&argv, "dendrite-pw");
    assert!(recorded.contains("-passwordstdin"), "{recorded}");

    let out = register(&inv, &user, "dendrite-pw", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(json(&out)["hosts"][0]["outcome"], "exists");
}

#[test]
fn dendrite_cli_refuses_passwords_it_would_trim() {
    let s = synapse();
    let vars = format!(
        "backend: dendrite-cli\ntransport: local\nconfig: {}\nurl: {}\ncommand: {}",
        dendrite_config(&s.secret_file()).display(),
        s.url,
        standin("create-account")
    );
    let inv = inventory(&[("dendrite".into(), vars)]);
    let user = unique("trim");
    let out = register(&inv, &user, " padded password ", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("whitespace"), "{}", text(&out));
    assert_eq!(s.admin_flag(&user), None);
}

fn mas_config(s: &crate::fixtures::Synapse) -> std::path::PathBuf {
    let db = scratch().join(unique("mas-db.json"));
    let config = serde_json::json!({
        "matrix": {"homeserver": SERVER_NAME, "endpoint": s.url},
        "standin": {"db": db, "shared_secret_path": s.secret_file()},
    });
    write_file("mas-config.yaml", &config.to_string())
}

#[test]
fn mas_cli_standin_registers_and_warns_about_argv() {
    let s = synapse();
    let vars = format!(
        "backend: mas-cli\ntransport: local\nconfig: {}\ncommand: {}",
        mas_config(s).display(),
        standin("mas-cli")
    );
    let inv = inventory(&[("mas".into(), vars)]);
    let user = unique("mas");

    let out = provision(
        &["register", &user, "--check", "-i", inv.to_str().unwrap()],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("--password='********'") && shown.contains("process list"),
        "{shown}"
    );

    let out = register(
        &inv,
        &user,
        "mas-password",
        &["--email", "m@example.com", "--display-name", "M"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(json(&out)["hosts"][0]["outcome"], "created");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("process list"),
        "warned: {}",
        text(&out)
    );
    assert!(!text(&out).contains("mas-password"));
    assert!(s.login(&user, "mas-password").is_ok());

    let out = register(&inv, &user, "mas-password", &[]);
    assert_eq!(
        json(&out)["hosts"][0]["outcome"],
        "exists",
        "{}",
        text(&out)
    );

    let out = register(&inv, &unique("weak"), "short", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("--ignore-password-complexity"),
        "{}",
        text(&out)
    );
}

/// matrix-docker-ansible-deploy's /matrix/synapse/bin/register-user, rendered from its
/// template (roles/custom/matrix-synapse/templates/synapse/bin/register-user.j2) for the
/// Docker fixture's container, config and port.
fn playbook_wrapper(s: &crate::fixtures::Synapse) -> String {
    use std::os::unix::fs::PermissionsExt;
    let container = s.container.as_deref().unwrap();
    let port = s.url.rsplit(':').next().unwrap();
    let config = s.config();
    let tool = s.register_tool();
    let script = format!(
        "#!/bin/bash\n\nif [ $# -ne 3 ]; then\n\techo \"Usage: \"$0\" <username> <password> <admin access: 0 or 1>\"\n\texit 1\nfi\n\n\
user=$1\npassword=$2\nadmin=$3\n\nif [ \"$admin\" -eq \"1\" ]; then\n\
\tdocker exec {container} {tool} -u \"$user\" -p \"$password\" -c {config} --admin http://localhost:{port}\nelse\n\
\tdocker exec {container} {tool} -u \"$user\" -p \"$password\" -c {config} --no-admin http://localhost:{port}\nfi\n",
        config = config.display()
    );
    let path = scratch().join(unique("register-user"));
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn playbook_wrapper_over_ssh_registers_and_converges() {
    let s = docker_synapse();
    let d = sshd();
    let vars = format!(
        "backend: playbook-wrapper\ntransport: ssh\nssh: {}\ncommand: {}",
        d.ssh_vars(FLEET[1]),
        playbook_wrapper(s)
    );
    let inv = inventory(&[("playbook".into(), vars)]);
    let user = unique("playbook");
    let out = register(&inv, &user, "wrapper-pw", &["--admin"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("process list"),
        "warned: {}",
        text(&out)
    );
    assert!(!text(&out).contains("wrapper-pw"));
    assert!(s.login(&user, "wrapper-pw").is_ok());
    assert_eq!(s.admin_flag(&user), Some(true));
    let out = register(&inv, &user, "wrapper-pw", &["--admin"]);
    // The wrapper cannot read or set the flag of an existing user, and this host has no
    // admin_backend: asking for --admin is then a failure with the reason, never "ok".
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        json(&out)["hosts"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no admin_backend"),
        "{}",
        text(&out)
    );
}

#[test]
fn check_shows_the_command_without_running_it() {
    let s = synapse();
    let d = sshd();
    let vars = format!(
        "backend: synapse-cli\nvia: tool\ntransport: ssh\nssh: {}\nconfig: {}\ncommand: {}",
        d.ssh_vars(FLEET[2]),
        s.config().display(),
        s.register_tool()
    );
    let inv = inventory(&[("checked".into(), vars)]);
    let user = unique("cliCheck").to_lowercase();
    let out = provision(
        &[
            "register",
            &user,
            "--admin",
            "--check",
            "-i",
            inv.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let shown = text(&out);
    // register_new_matrix_user cannot say whether a user exists, and this host has no backend
    // that reads users: "unknown", with what a run would do, never "would create".
    assert!(
        shown.contains("unknown: synapse-cli cannot tell whether the user exists")
            && shown.contains("by running:")
            && shown.contains("--password-file /dev/stdin"),
        "{shown}"
    );
    assert!(!shown.contains("would create"), "{shown}");
    assert!(shown.contains("on ssh root@127.0.0.4"), "{shown}");
    assert_eq!(s.admin_flag(&user), None);
}

#[test]
fn check_asks_the_hosts_reader_whether_the_user_exists() {
    let s = synapse();
    let d = sshd();
    let vars = format!(
        "backend: synapse-cli\nvia: tool\ntransport: ssh\nssh: {}\nconfig: {}\ncommand: {}\nurl: {}\nadmin_backend: synapse-api\nadmin_token: {{file: {}}}",
        d.ssh_vars(FLEET[2]),
        s.config().display(),
        s.register_tool(),
        s.url,
        s.admin_token_file().display()
    );
    let inv = inventory(&[("read".into(), vars)]);
    let check = |user: &str| {
        let out = provision(
            &[
                "register",
                user,
                "--check",
                "--output",
                "json",
                "-i",
                inv.to_str().unwrap(),
            ],
            "",
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let host = json(&out)["hosts"][0].clone();
        (
            host["outcome"].as_str().unwrap_or("").to_owned(),
            host["message"].as_str().unwrap_or("").to_owned(),
        )
    };
    let user = unique("cliRead").to_lowercase();
    let (outcome, message) = check(&user);
    assert_eq!(outcome, "would_create", "{message}");
    assert!(message.contains("by running:"), "{message}");

    assert_eq!(register(&inv, &user, "read-pw", &[]).status.code(), Some(0));
    assert_eq!(s.login(&user, "read-pw").map(|_| ()), Ok(()));
    let (outcome, message) = check(&user);
    assert_eq!(outcome, "exists", "{message}");
}

#[test]
fn become_runs_the_tool_through_sudo_with_the_password_on_stdin() {
    let s = synapse();
    let d = sshd();
    let sudo_password = std::fs::read_to_string(d.dir.join("sudo_password")).unwrap();
    let (tool, argv) = argv_recorder(&scratch(), &s.register_tool());
    let ssh = |password_file: &Path| {
        format!(
            "{{host: {}, port: {}, user: provision-test, identity_file: {}, known_hosts: {}, become: true, become_password: {{file: {}}}}}",
            FLEET[0],
            d.port,
            d.dir.join("id_ed25519").display(),
            d.dir.join("known_hosts").display(),
            password_file.display()
        )
    };
    let vars = |password_file: &Path| {
        format!(
            "backend: synapse-cli\nvia: tool\ntransport: ssh\nssh: {}\nconfig: {}\nurl: {}\ncommand: {}",
            ssh(password_file),
            s.config().display(),
            s.url,
            tool.display()
        )
    };
    let inv = inventory(&[("sudoer".into(), vars(&d.dir.join("sudo_password")))]);
    let user = unique("become");
    let out = register(&inv, &user, "become-pw", &["-vv"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(s.login(&user, "become-pw").is_ok());
    assert!(
        !text(&out).contains(sudo_password.trim()),
        "the sudo password is never shown"
    );
    assert_argv_clean(&argv, "become-pw");
    assert_argv_clean(&argv, sudo_password.trim());

    let wrong = write_file("wrong-sudo", "not-the-password\n");
    let inv = inventory(&[("sudoer".into(), vars(&wrong))]);
    let out = register(&inv, &unique("become"), "become-pw", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let msg = json(&out)["hosts"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(msg.contains("sudo: wrong become_password"), "{msg}");
}
